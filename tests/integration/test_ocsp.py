"""OCSP for forwarded certificates (issue 15: X509AuthnOCSP and friends).

A PKI made here (minipki, openssl CLI) whose certificates name OCSP
responders on loopback in their Authority Information Access:

    root "OCSP Test Root"
      CA "OCSP Test CA"      AIA -> scripted /root-good/   (good)
        leaves (one per case), AIA -> the case's responder
        responder certificates for delegated signing (with and without
        id-kp-OCSPSigning)
      CA "OCSP Test CA 2"    AIA -> scripted /root-revoked/ (revoked)
        leaf "chainleaf"     AIA -> scripted /good/
    "Unrelated" self-signed CA: signs the "unrelated" answers

Responders, started here:
    a real `openssl ocsp -index` of "OCSP Test CA" (good, revoked, unknown)
    a scripted one (python3-cryptography) whose URL path says what to answer:
    good, root-good, root-revoked, trylater, slow (longer than the 2 s
    X509AuthnOCSPTimeout), unrelated (signed by an unrelated key), other
    (answers about another certificate), stale (nextUpdate past),
    badnonce, delegated / delegated-noeku (delegated responder with and
    without OCSPSigning); it counts the queries it gets per path and
    serial.
    a port nobody listens on (responder down)

Servers (one httpd, plain HTTP from the trusted peer 127.0.0.1):
    leaf     X509AuthnOCSP leaf, soft-fail off
    leafsoft X509AuthnOCSP leaf, X509AuthnRevocationSoftFail On
    chain    X509AuthnOCSP on (= chain), soft-fail off
    chainsoft
    nonce    X509AuthnOCSP leaf, X509AuthnOCSPUseNonce Off
    dflt     X509AuthnOCSP leaf, X509AuthnOCSPDefaultResponder and
             X509AuthnOCSPOverrideResponder On (the scripted /good/)
    off      no OCSP (the revoked certificate is accepted: the CA file only)

A fleet (test_fleet_*): servers A and B sharing a redis
(X509AuthnCacheSecret): the OCSP response and the verification result are
shared; queries are counted under load.

Refusals are 403 with X509_AUTHN_ERROR (as X-Err), and log lines:
X509A0955 for a revoked certificate, X509A0830 (once per cause per minute)
when the status cannot be determined, saying "refused" or "accepted".
"""

import datetime
import os
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

import forwarded as F
from clients import http_request
from expect import ok
from httpd import free_listen_port, free_port, new_httpd
from minipki import MiniPKI
from services import Redis

HDR = "X-SSL-Client-Cert"
SLOW_SECONDS = 6

# scripted cases: leaf name -> URL path of its responder
SCRIPTED = {
    "py-good": "good",
    "trylater": "trylater",
    "slow": "slow",
    "unrelated": "unrelated",
    "other": "other",
    "stale": "stale",
    "badnonce": "badnonce",
    "nonext": "nonext",
    "delegated": "delegated",
    "delegated-noeku": "delegated-noeku",
    "redirect": "redirect",
    "old": "old",
    "huge": "huge",
}
LOAD_CERTS = ["load%d" % i for i in range(4)]
FLEET_CERTS = ["fleet%d" % i for i in range(5)]


# -- the scripted responder ------------------------------------------------------

class Scripted:
    """OCSP answers by URL path; counts queries per (path, serial)."""

    def __init__(self, m):
        self.lock = threading.Lock()
        self.counts = {}
        self.certs = {}         # serial -> cryptography certificate
        self.keys = {}          # name -> private key
        self.by_name = {}
        for name, c in m.certs.items():
            cert = x509.load_pem_x509_certificate(c.pem.encode())
            self.certs[cert.serial_number] = cert
            self.by_name[name] = cert
            with open(c.key, "rb") as f:
                self.keys[name] = serialization.load_pem_private_key(f.read(), None)
        self.name_of = {v.serial_number: k for k, v in self.by_name.items()}

    def count(self, path=None):
        with self.lock:
            return sum(n for (p, s), n in self.counts.items()
                       if path is None or p == path)

    def issuer_name(self, cert):
        for name, c in self.by_name.items():
            if c.subject == cert.issuer and name in ("root", "ca", "ca2"):
                return name
        raise KeyError(cert.issuer)

    def answer(self, path, body):
        req = ocsp.load_der_ocsp_request(body)
        with self.lock:
            k = (path, req.serial_number)
            self.counts[k] = self.counts.get(k, 0) + 1
        if path == "trylater":
            return ocsp.OCSPResponseBuilder.build_unsuccessful(
                ocsp.OCSPResponseStatus.TRY_LATER)
        if path == "slow":
            time.sleep(SLOW_SECONDS)
        if path == "load":
            # a window for concurrent requests to pile up in (not timed)
            time.sleep(0.5)
        cert = self.certs[req.serial_number]
        iname = self.issuer_name(cert)
        issuer = self.by_name[iname]
        signer, key, extra = issuer, self.keys[iname], []
        if path == "unrelated":
            signer, key, extra = (self.by_name["unrelated"],
                                  self.keys["unrelated"], [self.by_name["unrelated"]])
        elif path in ("delegated", "delegated-noeku"):
            n = "rsp" if path == "delegated" else "rsp-noeku"
            signer, key, extra = self.by_name[n], self.keys[n], [self.by_name[n]]
        about = self.by_name["py-good"] if path == "other" else cert
        now = datetime.datetime.utcnow()
        this, nxt = now - datetime.timedelta(minutes=1), now + datetime.timedelta(hours=1)
        if path == "stale":
            this, nxt = now - datetime.timedelta(hours=3), now - datetime.timedelta(hours=2)
        if path == "nonext":
            nxt = None
        if path == "old":
            this = now - datetime.timedelta(minutes=30)
        status, rtime, reason = ocsp.OCSPCertStatus.GOOD, None, None
        if path == "root-revoked":
            status, rtime = ocsp.OCSPCertStatus.REVOKED, now - datetime.timedelta(days=1)
            reason = x509.ReasonFlags.key_compromise
        b = ocsp.OCSPResponseBuilder().add_response(
            cert=about, issuer=issuer, algorithm=hashes.SHA1(), cert_status=status,
            this_update=this, next_update=nxt, revocation_time=rtime,
            revocation_reason=reason).responder_id(ocsp.OCSPResponderEncoding.HASH, signer)
        if extra:
            b = b.certificates(extra)
        try:
            nonce = req.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
        except x509.ExtensionNotFound:
            nonce = None
        if path == "badnonce":
            nonce = os.urandom(16)
        if nonce is not None:
            b = b.add_extension(x509.OCSPNonce(nonce), critical=False)
        return b.sign(key, hashes.SHA256())

    def serve(self, port):
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                path = self.path.strip("/")
                if path == "redirect":
                    # to a good answer: not followed (no redirects)
                    self.send_response(302)
                    self.send_header("Location", "/good/")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if path == "huge":
                    # over the 64 KiB cap (a DER SEQUENCE header saying so)
                    body = b"\x30\x83\x01\x20\x00" + b"\x00" * 0x12000
                    self.send_response(200)
                    self.send_header("Content-Type", "application/ocsp-response")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    try:
                        self.wfile.write(body)
                    except OSError:
                        pass
                    return
                try:
                    der = outer.answer(path, body).public_bytes(serialization.Encoding.DER)
                except Exception as e:  # noqa: BLE001  a test responder
                    self.send_error(500, str(e))
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/ocsp-response")
                self.send_header("Content-Length", str(len(der)))
                self.end_headers()
                try:
                    self.wfile.write(der)
                except OSError:
                    pass            # the slow case: the client gave up

            def log_message(self, *a):
                pass

        ThreadingHTTPServer.daemon_threads = True
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def wait_text(path, text, timeout=10):
    """`openssl ocsp` serves one connection at a time and hangs on one that
    closes without a request: it is not probed, its log is read."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        with open(path) as f:
            if text in f.read():
                return
        time.sleep(0.1)
    raise RuntimeError("no %r in %s" % (text, path))


def wait_port(port, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError("nothing listens on %d" % port)


# -- fixtures --------------------------------------------------------------------

@pytest.fixture(scope="module")
def env(request, workroot, pki, module_so):
    ports = set()
    p_ossl = free_listen_port(ports); ports.add(p_ossl)
    p_py = free_listen_port(ports); ports.add(p_py)
    p_down = free_port(ports); ports.add(p_down)

    def aia(port, path=""):
        return ["authorityInfoAccess = OCSP;URI:http://127.0.0.1:%d/%s" % (port, path)]

    m = MiniPKI(os.path.join(workroot, "ocsp-pki"))
    m.ca("root", "/CN=OCSP Test Root")
    m.ca("ca", "/CN=OCSP Test CA", issuer="root", ext=aia(p_py, "root-good/"))
    m.ca("ca2", "/CN=OCSP Test CA 2", issuer="root", ext=aia(p_py, "root-revoked/"))
    m.ca("unrelated", "/CN=OCSP Test CA")       # the issuer's name, not its key
    m._issue("rsp", "/CN=OCSP Responder", "ca", None,
             ["basicConstraints = critical, CA:FALSE",
              "keyUsage = critical, digitalSignature",
              "extendedKeyUsage = OCSPSigning"], None)
    m.leaf("rsp-noeku", "/CN=OCSP Responder without OCSPSigning", "ca")
    for name in ("good", "revoked", "revoked2", "unknown"):
        m.leaf(name, "/CN=ocsp-" + name, "ca", ext=aia(p_ossl))
    m.leaf("down", "/CN=ocsp-down", "ca", ext=aia(p_down))
    m.leaf("down2", "/CN=ocsp-down2", "ca", ext=aia(p_down))
    for name, path in SCRIPTED.items():
        m.leaf(name, "/CN=ocsp-" + name, "ca", ext=aia(p_py, path + "/"))
    for name in LOAD_CERTS + FLEET_CERTS:
        m.leaf(name, "/CN=ocsp-" + name, "ca", ext=aia(p_py, "load/"))
    m.leaf("noaia", "/CN=ocsp-noaia", "ca")
    m.leaf("chainleaf", "/CN=ocsp-chainleaf", "ca2", ext=aia(p_py, "good/"))
    m.revoke("ca", "revoked")
    m.revoke("ca", "revoked2")
    m.cat("trust.pem", "root", "ca", "ca2")
    m.cat("trust2.pem", "ca2", "ca", "root")   # same anchors, other bytes

    # the real responder; "unknown" is not in its index
    cadir = os.path.join(m.dir, "ca-ca")
    with open(os.path.join(cadir, "index.txt")) as f:
        lines = [ln for ln in f if "CN=ocsp-unknown" not in ln]
    index = os.path.join(m.dir, "ocsp-index.txt")
    with open(index, "w") as f:
        f.writelines(lines)
    log = open(os.path.join(m.dir, "openssl-ocsp.log"), "w")
    ossl = subprocess.Popen(
        ["openssl", "ocsp", "-index", index, "-port", str(p_ossl),
         "-rsigner", os.path.join(cadir, "ca.crt"), "-rkey", os.path.join(cadir, "ca.key"),
         "-CA", os.path.join(cadir, "ca.crt"), "-nmin", "60", "-ignore_err"],
        stdout=log, stderr=subprocess.STDOUT)
    scripted = Scripted(m)
    scripted.serve(p_py)

    def fin():
        ossl.terminate()
        ossl.wait()
        log.close()
        scripted.stop()
    request.addfinalizer(fin)
    wait_text(log.name, "waiting for OCSP client connections")
    wait_port(p_py)

    srv = new_httpd(request, workroot, pki, module_so, name="ocsp")
    locs = ('<Location /t/hdr>\nAuthType X509\nX509AuthnSource header\n'
            'Header always set X-Err "expr=%{X509_AUTHN_ERROR}"\n'
            'Require valid-user\n</Location>\n')
    base = F.trust(ca=m.path("trust.pem")) + "X509AuthnOCSPTimeout 2\n"
    soft = "X509AuthnRevocationSoftFail On\n"
    vh = {
        "leaf": base + "X509AuthnOCSP leaf\n" + locs,
        "leafsoft": base + "X509AuthnOCSP leaf\n" + soft + locs,
        "chain": base + "X509AuthnOCSP on\n" + locs,
        "chainsoft": base + "X509AuthnOCSP chain\n" + soft + locs,
        "nonce": base + "X509AuthnOCSP leaf\nX509AuthnOCSPUseNonce Off\n" + locs,
        "dflt": base + "X509AuthnOCSP leaf\nX509AuthnOCSPDefaultResponder "
                       "http://127.0.0.1:%d/good/\nX509AuthnOCSPOverrideResponder On\n"
                % p_py + locs,
        "off": base + locs,
        "maxage": base + "X509AuthnOCSP leaf\nX509AuthnOCSPMaxAge 600\n" + locs,
        "rspfile": base + "X509AuthnOCSP leaf\nX509AuthnOCSPResponderCertificateFile %s\n"
                   % m["unrelated"].cert + locs,
    }
    server_extra = (
        # two children, both kept (MinSpareThreads = 2 x ThreadsPerChild)
        "StartServers 2\nMinSpareThreads 32\nMaxSpareThreads 64\n"
        'CustomLog "%s" "%%P %%{X-Test-Tag}i %%{X-Err}o %%>s"\n'
        % srv.path("logs/pid.log"))
    srv.start(extra_vhosts=vh, server_extra=server_extra)

    class Env:
        pass
    e = Env()
    e.h, e.m, e.scripted, e.p_py = srv, m, scripted, p_py
    e.workroot, e.pki, e.module_so = workroot, pki, module_so
    return e


def get(env, vhost, name):
    c = env.m[name]
    return http_request(env.h.port(vhost), "/t/hdr/env", [(HDR, F.der_b64(c))])


def accepted(env, vhost, name):
    r = get(env, vhost, name)
    ok(r)
    assert r.env["X509_AUTHN_SOURCE"] == "header"
    assert r.env["REMOTE_USER"].endswith("CN=ocsp-" + name) or \
        "ocsp-" + name in r.env["REMOTE_USER"], r.env["REMOTE_USER"]
    return r


def refused(env, vhost, name, token):
    r = get(env, vhost, name)
    assert r.status == 403, r
    assert r.user == ""
    assert r.headers.get("x-err") == token, r.headers
    return r


def unknown_line(env, mark, name, verdict):
    lines = env.h.wait_log(mark, r"X509A0830.*%s" % verdict, timeout=5)
    assert lines, env.h.log_since(mark)
    return lines


# -- cases -----------------------------------------------------------------------

def test_good_real_responder(env):
    for vh in ("leaf", "leafsoft", "nonce"):
        accepted(env, vh, "good")


def test_revoked_real_responder(env):
    for vh in ("leaf", "leafsoft", "chain", "chainsoft"):
        mark = env.h.log_mark()
        refused(env, vh, "revoked", "revoked")
        lines = env.h.wait_log(mark, r"X509A0955.*revoked \(keyCompromise\)")
        assert lines and "ocsp-revoked" in lines[0], env.h.log_since(mark)
    # without OCSP the CA file alone accepts it: the check above is OCSP's
    accepted(env, "off", "revoked")


def test_unknown_real_responder(env):
    mark = env.h.log_mark()
    refused(env, "leaf", "unknown", "revocation-unknown")
    unknown_line(env, mark, "unknown", "does not know.*refused")
    mark = env.h.log_mark()
    accepted(env, "leafsoft", "unknown")
    unknown_line(env, mark, "unknown", "does not know.*accepted")


@pytest.mark.parametrize("name,why", [
    ("down", "no answer"),
    ("trylater", "[Tt]ry[Ll]ater"),
    ("slow", "no answer"),
    ("unrelated", "signature not acceptable"),
    ("other", "does not cover"),
    ("stale", "not current"),
    ("badnonce", "nonce"),
    ("delegated-noeku", "signature not acceptable"),
    ("redirect", "no answer.*redirection not enabled"),
    ("huge", "no answer.*max resp len exceeded"),
])
def test_undetermined(env, name, why):
    """Hard: refused (revocation-unknown); soft: accepted; both logged."""
    mark = env.h.log_mark()
    refused(env, "leaf", name, "revocation-unknown")
    unknown_line(env, mark, name, why + ".*refused")
    mark = env.h.log_mark()
    accepted(env, "leafsoft", name)
    unknown_line(env, mark, name, why + ".*accepted")


def test_scripted_good_answers(env):
    for name in ("py-good", "nonext", "delegated"):
        accepted(env, "leaf", name)


def test_max_age(env):
    """thisUpdate 30 minutes ago: good without X509AuthnOCSPMaxAge, too old
    with 600 s (+ the 300 s skew)."""
    accepted(env, "leaf", "old")
    mark = env.h.log_mark()
    refused(env, "maxage", "old", "revocation-unknown")
    unknown_line(env, mark, "old", "not current.*refused")


def test_responder_certificate_file(env):
    """A response signed by a certificate the issuer did not issue is
    refused, unless that certificate is configured as a responder."""
    accepted(env, "rspfile", "unrelated")
    refused(env, "leaf", "unrelated", "revocation-unknown")
    # the issuer's own answers are still taken there
    accepted(env, "rspfile", "good")


def test_nonce_off(env):
    """A responder that answers with another nonce is accepted when no
    nonce is sent (the caveat of X509AuthnOCSPUseNonce)."""
    accepted(env, "nonce", "badnonce")


def test_no_responder(env):
    mark = env.h.log_mark()
    refused(env, "leaf", "noaia", "revocation-unknown")
    unknown_line(env, mark, "noaia", "names no OCSP responder.*refused")
    # the default responder, overriding the certificate's
    accepted(env, "dflt", "noaia")
    before = env.scripted.count("good")
    accepted(env, "dflt", "down")
    assert env.scripted.count("good") == before + 1


def test_leaf_vs_chain(env):
    """chainleaf is good; its CA (OCSP Test CA 2) is revoked by the root's
    responder: only chain mode asks about the CA."""
    accepted(env, "leaf", "chainleaf")
    accepted(env, "leafsoft", "chainleaf")
    mark = env.h.log_mark()
    refused(env, "chain", "chainleaf", "revoked")
    assert env.h.wait_log(mark, r"X509A0955.*depth 1.*OCSP Test CA 2")
    refused(env, "chainsoft", "chainleaf", "revoked")
    # the good chain: the leaf (real responder) and its CA (scripted)
    before = env.scripted.count("root-good")
    accepted(env, "chain", "good")
    assert env.scripted.count("root-good") == before + 1


def test_verdicts_keyed_by_ocsp_settings(env):
    """The shared cache (shmcb here) holds verification results of every
    server with the same trust store: a result decided without OCSP, or
    accepted under soft-fail, must not answer for a server that checks
    OCSP, or refuses when it cannot."""
    # "off" verifies revoked2 first (CA file only: accepted, kept)
    accepted(env, "off", "revoked2")
    refused(env, "leaf", "revoked2", "revoked")
    # soft-fail accepts down2 first (kept 30 s at most), hard refuses
    accepted(env, "leafsoft", "down2")
    refused(env, "leaf", "down2", "revocation-unknown")


def test_load_one_query_per_certificate(env):
    """Many concurrent requests for fresh certificates over both children:
    the responder is asked at most once per certificate per process (the
    others wait for the answer, then the shared cache and the per-process
    entries answer)."""
    h = env.h
    before = env.scripted.count()
    mark = os.path.getsize(h.path("logs/pid.log"))
    names = LOAD_CERTS * 50

    def one(name):
        return get(env, "leaf", name).status

    with ThreadPoolExecutor(max_workers=24) as ex:
        statuses = list(ex.map(one, names))
    assert statuses == [200] * len(names)
    with open(h.path("logs/pid.log")) as f:
        f.seek(mark)
        pids = {ln.split()[0] for ln in f.read().splitlines() if ln.strip()}
    serials = {env.scripted.by_name[n].serial_number: n for n in LOAD_CERTS}
    with env.scripted.lock:
        per_cert = {serials[s]: c for (p, s), c in env.scripted.counts.items()
                    if p == "load" and s in serials}
    total = sum(per_cert.values())
    print("children:", sorted(pids), "queries per certificate:", per_cert,
          "total:", total, "requests:", len(names))
    assert set(per_cert) == set(LOAD_CERTS)
    # at most one per certificate per process (two children)
    assert all(1 <= c <= 2 for c in per_cert.values()), per_cert
    assert env.scripted.count() - before == total


# -- configuration errors ----------------------------------------------------------

@pytest.mark.parametrize("line,shown", [
    ("X509AuthnOCSP sometimes", "'sometimes' is not off, leaf, chain or on"),
    ("X509AuthnOCSPDefaultResponder ldap://dir.example/", "X509AuthnOCSPDefaultResponder"),
    ("X509AuthnOCSPDefaultResponder http://user:pw@ocsp.example/", "X509AuthnOCSPDefaultResponder"),
    ("X509AuthnOCSPDefaultResponder http:///x", "X509AuthnOCSPDefaultResponder"),
    ("X509AuthnOCSPResponderCertificateFile /nonexistent/rsp.pem", "cannot read"),
    ("X509AuthnOCSPResponderCertificateFile /etc/hostname", "holds no PEM certificate"),
    ("X509AuthnOCSPTimeout 0", "'0' is not a number of seconds from 1 to 300"),
    ("X509AuthnOCSPTimeout ten", "'ten' is not a number"),
    ("X509AuthnOCSPMaxAge -1", "'-1' is not a number"),
    ("X509AuthnOCSPTimeSkew 86401", "'86401' is not a number"),
])
def test_bad_values_fail_configtest(env, line, shown):
    rc, out = env.h.configtest(extra_vhosts={"bad": F.trust(ca=env.m.path("trust.pem"))
                                             + line + "\n"})
    assert rc != 0, out
    assert shown in out, out


def test_ocsp_needs_local_verification(env):
    rc, out = env.h.configtest(extra_vhosts={"bad": F.trust(verify=False)
                                             + "X509AuthnOCSP leaf\n"})
    assert rc != 0, out
    assert "X509A0950" in out and "X509AuthnHeaderVerify On" in out, out


def test_good_values_pass_configtest(env):
    rc, out = env.h.configtest(extra_vhosts={"good": F.trust(ca=env.m.path("trust.pem")) + (
        "X509AuthnOCSP chain\nX509AuthnOCSPDefaultResponder https://ocsp.example:8443/x\n"
        "X509AuthnOCSPOverrideResponder On\nX509AuthnOCSPResponderCertificateFile %s\n"
        "X509AuthnOCSPTimeout 300\nX509AuthnOCSPUseNonce Off\nX509AuthnOCSPMaxAge 0\n"
        "X509AuthnOCSPTimeSkew 0\nX509AuthnRevocationSoftFail On\n") % env.m["rsp"].cert})
    assert rc == 0, out


# -- a fleet: two servers sharing redis ------------------------------------------

@pytest.fixture(scope="module")
def fleet(request, env):
    """Servers A and B share a redis (X509AuthnCacheSecret).  Both have
    "leaf" (the same trust store: verification results shared); B also has
    "other", whose trust store is the same certificates in another file
    (other settings digest: no shared verification result), with the same
    OCSP settings (the OCSP response is shared)."""
    svc = Redis(os.path.join(env.workroot, "ocsp-redis"))
    request.addfinalizer(svc.stop)
    svc.start()
    secret = os.urandom(32).hex() + "\n"
    locs = ('<Location /t/hdr>\nAuthType X509\nX509AuthnSource header\n'
            'Header always set X-Err "expr=%{X509_AUTHN_ERROR}"\n'
            'Require valid-user\n</Location>\n')
    ocsp_on = "X509AuthnOCSPTimeout 5\nX509AuthnOCSP leaf\n"
    out = []
    for name in ("a", "b"):
        h = new_httpd(request, env.workroot, env.pki, env.module_so, name="ocsp-fleet-" + name)
        path = h.write_file("conf/cache-secret", secret, 0o600)
        vh = {"leaf": F.trust(ca=env.m.path("trust.pem")) + ocsp_on + locs}
        if name == "b":
            vh["other"] = F.trust(ca=env.m.path("trust2.pem")) + ocsp_on + locs
        h.start(extra_vhosts=vh,
                extra_modules=[("socache_redis_module", "mod_socache_redis.so")],
                server_extra="X509AuthnCache redis:127.0.0.1:%d 300\n"
                             "X509AuthnCacheSecret %s\nX509AuthnCacheTimeout 2000\n"
                             "StartServers 2\nMinSpareThreads 32\nMaxSpareThreads 64\n"
                             % (svc.port, path))
        out.append(h)
    return svc, out[0], out[1]


def wait_dbsize(svc, more_than, timeout=5.0):
    """Stores are made by each child's cache thread after the response."""
    deadline = time.time() + timeout
    while svc.dbsize() <= more_than and time.time() < deadline:
        time.sleep(0.05)
    return svc.dbsize()


def fleet_get(h, vhost, env, name):
    return http_request(h.port(vhost), "/t/hdr/env", [(HDR, F.der_b64(env.m[name]))])


def load_queries(env, name):
    serial = env.scripted.by_name[name].serial_number
    with env.scripted.lock:
        return env.scripted.counts.get(("load", serial), 0)


def test_fleet_shares_responses(env, fleet):
    svc, a, b = fleet
    before = svc.dbsize()
    ok(fleet_get(a, "leaf", env, "fleet0"))
    assert load_queries(env, "fleet0") == 1
    # the OCSP response and the verification result
    assert wait_dbsize(svc, before + 1) >= before + 2
    # B, another trust store: verifies here, takes the response from redis
    mark = b.log_mark()
    ok(fleet_get(b, "other", env, "fleet0"))
    assert b.wait_log(mark, r"X509A0951: OCSP response for .* taken from the shared cache"), \
        b.log_since(mark)
    assert not b.log_lines(mark, r"X509A0953")
    # B, A's trust store: the verification result itself
    mark = b.log_mark()
    ok(fleet_get(b, "leaf", env, "fleet0"))
    assert b.wait_log(mark, r"X509A0303"), b.log_since(mark)
    assert load_queries(env, "fleet0") == 1


def test_fleet_load(env, fleet):
    """Concurrent requests for fresh certificates on both servers: at most
    one query per certificate per process."""
    svc, a, b = fleet
    names = FLEET_CERTS[1:] * 40
    jobs = [(h, n) for n in names for h in (a, b)]

    def one(job):
        return fleet_get(job[0], "leaf", env, job[1]).status

    with ThreadPoolExecutor(max_workers=32) as ex:
        statuses = list(ex.map(one, jobs))
    assert statuses == [200] * len(jobs)
    per_cert = {n: load_queries(env, n) for n in FLEET_CERTS[1:]}
    print("fleet: queries per certificate:", per_cert, "total:",
          sum(per_cert.values()), "requests:", len(jobs))
    # two servers of at most two children each
    assert all(1 <= c <= 4 for c in per_cert.values()), per_cert
