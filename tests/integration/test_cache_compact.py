"""Shared-cache records carry the certificate's compact form (issue 16,
item 2): a shared-cache hit in header mode needs no d2i_X509 and no
formatting of the certificate's views.

Two servers with the same configuration but for their caches:

    subj  X509AuthnCache shmcb, X509AuthnCacheEntries 0: every request
          looks in the shared cache; the first verifies and writes the
          record (with the form), every later one is a shared hit served
          from the form (debug log: X509A0303 "... compact form (not
          decoded)"; X509A0863 says whether anything decoded the
          certificate while the request ran)
    ref   X509AuthnCache none, X509AuthnCacheEntries 0: every request
          decodes and verifies

Each certificate below goes to each location of both servers, and every
exported variable (X509_*, SSL_CLIENT_* through X509AuthnExportSSLVars,
X509_CLIENT_CERT and its chain through X509AuthnExportCert), the user, the
status and the refusal reason must be the same on subj's first request
(verified), its later ones (compact) and on ref.

The certificates come from a PKI made here (openssl CLI): an EC leaf, an
RSA leaf, a leaf with many subjectAltNames, a UTF-8 DN with repeated
attributes, a leaf under an intermediate the servers do not have, sent in
the chain header (X509AuthnChainHeader), and a revoked one.  A second test
does the same with two servers sharing redis (the second only ever serves
from records the first wrote).
"""

import base64
import hashlib
import os
import re
import time
import uuid

import pytest

from clients import http_request
import forwarded as F
from httpd import new_httpd, quote
from minipki import MiniPKI, CLIENT
from pki import _run
from services import Redis

HDR = "X-SSL-Client-Cert"
CHAIN = "X-SSL-Client-Chain"
POLICY = "1.3.6.1.4.1.55555.9.1"
COMPACT = r"X509A0303: verification result taken from the shared cache " \
          r"\((?:shmcb|default|redis)\), with the certificate's compact form"
NOT_DECODED = r"X509A0863: certificate from the compact form: not decoded"
DECODED = r"X509A0863: certificate from the compact form: decoded"

# locations that need nothing outside the compact form (path rules decode
# the certificate to find the path: see x509a_cert_path(); the exported
# chain's certificates are the forwarded ones' bytes and the CA file's)
FORM_ONLY = ("all", "pem", "email", "upn", "spki", "eku", "map", "o")


def _spki_sha256(cert_path):
    pub = _run(["x509", "-in", cert_path, "-noout", "-pubkey"])
    der = base64.b64decode("".join(l for l in pub.splitlines()
                                   if not l.startswith("-----")))
    return hashlib.sha256(der).hexdigest()


@pytest.fixture(scope="module")
def mini(workroot):
    m = MiniPKI(os.path.join(workroot, "compact-pki-%s" % uuid.uuid4().hex[:8]))
    anypol = ["certificatePolicies = 2.5.29.32.0"]
    m.ca("root", "/C=US/O=Compact Test/CN=Compact Root", ext=anypol)
    m.ca("ia", "/C=US/O=Compact Test/CN=Compact Issuing A", issuer="root",
         ext=anypol)
    # not in the servers' CA file: comes with the request
    m.ca("ib", "/C=US/O=Compact Test/CN=Compact Issuing B", issuer="root",
         ext=anypol)
    pol = ["certificatePolicies = " + POLICY]
    m.leaf("ec", "/C=US/O=Example Corp/OU=Staff/CN=ec-user", "ia",
           ext=pol + ["subjectAltName = email:ec@example.com, DNS:ec.example.com"])
    # an RSA leaf: its key made first, the certificate issued for it
    _run(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
          "-out", m.path("rsakey.key")])
    m._issue("rsa", "/C=US/O=Example Corp/CN=rsa-user", "ia", "rsakey",
             CLIENT + pol + ["subjectAltName = email:rsa@example.com"], None)
    sans = ", ".join(["DNS:host%02d.example.com" % i for i in range(40)]
                     + ["email:user%d@example.com" % i for i in range(8)]
                     + ["URI:spiffe://example.com/svc/%d" % i for i in range(8)]
                     + ["otherName:1.3.6.1.4.1.311.20.2.3;UTF8:sans@corp.example.com",
                        "IP:192.0.2.7"])
    m.leaf("sans", "/C=US/O=Example Corp/CN=many-sans/emailAddress=sans@example.com",
           "ia", ext=["subjectAltName = " + sans,
                      "extendedKeyUsage = clientAuth, emailProtection"])
    m.leaf("utf8", "/C=DE/O=B\u00fccher GmbH/OU=Vertrieb/OU=S\u00fcd/"
           "CN=J\u00fcrgen M\u00fcller/CN=\u5f20\u4f1f", "ia", ext=pol)
    m.leaf("viab", "/C=US/O=Example Corp/CN=via-b", "ib", ext=pol)
    m.leaf("revoked", "/C=US/O=Example Corp/CN=revoked-user", "ia")
    m.revoke("ia", "revoked")
    m.cat("ca.pem", "root", "ia")
    crl_root = m.crl("root", "root.crl.pem", number=1)
    crl_ia = m.crl("ia", "ia.crl.pem", number=1)
    crl_ib = m.crl("ib", "ib.crl.pem", number=1)
    with open(m.path("crls.pem"), "w") as f:
        for p in (crl_root, crl_ia, crl_ib):
            with open(p) as g:
                f.write(g.read())
    os.chmod(m.path("crls.pem"), 0o644)
    return m


CERTS = ("ec", "rsa", "sans", "utf8", "viab", "revoked")


def _locs(m, h):
    h.write_file("conf/users.map",
                 "fingerprint sha256:%s mapped-ec\n" % m["ec"].sha256)
    base = "AuthType X509\nX509AuthnSource header\nX509AuthnExportSSLVars On\n"
    body = {
        "all": "",
        # the chain's PEM: the certificates of the record's digests
        "pem": "X509AuthnExportCert On\n",
        "email": "X509AuthnUser email\n",
        "upn": "X509AuthnUser upn\nX509AuthnUser cn\n",
        "iss-a": "X509AuthnRequireIssuingCA %s\n" % quote(m["ia"].cert),
        "iss-b": "X509AuthnRequireIssuingCA %s\n" % quote(m["ib"].cert),
        "depth1": "X509AuthnMaxDepth 1\n",
        "depth2": "X509AuthnMaxDepth 2\n",
        "pol": "X509AuthnRequirePolicy %s\n" % POLICY,
        "spki": "X509AuthnRequireSPKI sha256:%s\n" % _spki_sha256(m["ec"].cert),
        "eku": "X509AuthnRequireEKU emailProtection\n",
        "map": "X509AuthnUserMap %s\n" % quote(h.path("conf/users.map")),
        "o": "Require expr \"%{X509_CLIENT_S_DN_O} == 'Example Corp'\"\n",
    }
    out = ""
    for name, extra in body.items():
        req = "" if "Require" in extra else "Require valid-user\n"
        out += "<Location /t/%s/>\n%s%s%s</Location>\n" % (name, base, extra, req)
    return out, list(body)


def _start(h, m, caches, extra_modules=None, extra=""):
    locs, names = _locs(m, h)
    vh = {"fwd": F.trust(ca=m.path("ca.pem"), crl=m.path("crls.pem"),
                         chain=CHAIN) + locs}
    h.start(extra_vhosts=vh, extra_modules=extra_modules or [],
            server_extra=caches + extra
            + 'Header always set X-Err "expr=%{X509_AUTHN_ERROR}"\n')
    return names


def _fields(m, name):
    c = m[name]
    fields = [(HDR, F.der_b64(c))]
    if name == "viab":
        fields.append((CHAIN, F.der_b64(m["ib"])))
    return fields


# per request or per server, not the certificate's
VARYING = {"X509_AUTHN_REQUEST_ID"}


def decision(resp):
    """What a request decided and exported."""
    d = dict(status=resp.status, user=resp.headers.get("x-user", ""),
             err=resp.headers.get("x-err", ""))
    if resp.status == 200:
        env = resp.env
        d["env"] = {k: v for k, v in env.items()
                    if (k.startswith(("X509_", "SSL_CLIENT_"))
                        or k in ("REMOTE_USER", "AUTH_TYPE"))
                    and k not in VARYING}
    return d


def _get(h, m, name, loc):
    return decision(http_request(h.port("fwd"), "/t/%s/env" % loc,
                                 _fields(m, name), timeout=20))


def _compare(a, b, what):
    assert a["status"] == b["status"], (what, a, b)
    assert a["user"] == b["user"], (what, a["user"], b["user"])
    assert a["err"] == b["err"], (what, a["err"], b["err"])
    if "env" in a:
        ka, kb = set(a["env"]), set(b["env"])
        assert ka == kb, (what, sorted(ka ^ kb))
        diff = {k: (a["env"][k], b["env"][k]) for k in ka if a["env"][k] != b["env"][k]
                and not _remain_tick(k, a["env"][k], b["env"][k])}
        assert not diff, (what, diff)


def _remain_tick(name, x, y):
    """*_V_REMAIN (whole days until notAfter) drops by one when the two
    requests fall on either side of a day boundary: with notAfter 3650 days
    after the PKI was made, that is its first second."""
    return (name.endswith("_V_REMAIN") and x.isdigit() and y.isdigit()
            and abs(int(x) - int(y)) <= 1)


@pytest.fixture(scope="module")
def servers(request, workroot, pki, module_so, mini):
    subj = new_httpd(request, workroot, pki, module_so, name="compact-subj")
    ref = new_httpd(request, workroot, pki, module_so, name="compact-ref")
    names = _start(subj, mini, "X509AuthnCache shmcb 300\nX509AuthnCacheEntries 0\n")
    _start(ref, mini, "X509AuthnCache none\nX509AuthnCacheEntries 0\n")
    return subj, ref, names


def test_compact_hits_equal_full_verification(servers, mini):
    subj, ref, names = servers
    seen_compact = 0
    outcomes = set()
    for name in CERTS:
        for loc in names:
            what = "%s at /t/%s/" % (name, loc)
            want = _get(ref, mini, name, loc)
            outcomes.add((name, loc, want["status"]))
            mark = subj.log_mark()
            first = _get(subj, mini, name, loc)
            _compare(first, want, what + " (verified)")
            for i in range(2):
                mark = subj.log_mark()
                got = _get(subj, mini, name, loc)
                _compare(got, want, what + " (shared hit %d)" % (i + 1))
                compact = subj.log_lines(mark, COMPACT)
                if name == "revoked":
                    # a refusal record: decoded as before
                    assert not compact, (what, subj.log_since(mark))
                    continue
                assert compact, (what, subj.log_since(mark))
                seen_compact += 1
                if loc in FORM_ONLY:
                    assert subj.log_lines(mark, NOT_DECODED), \
                        (what, subj.log_since(mark))
                    assert not subj.log_lines(mark, DECODED), \
                        (what, subj.log_since(mark))
    assert seen_compact >= 2 * len(names) * (len(CERTS) - 1)
    # the locations decide differently for these certificates (the test
    # compares refusals as well as logins)
    st = {(n, l): s for n, l, s in outcomes}
    assert st[("ec", "all")] == 200 and st[("revoked", "all")] == 403
    assert st[("ec", "spki")] == 200 and st[("rsa", "spki")] == 403
    assert st[("sans", "eku")] == 200 and st[("ec", "eku")] == 403
    assert st[("viab", "iss-b")] == 200 and st[("ec", "iss-b")] == 403
    assert st[("ec", "depth1")] == 403 and st[("ec", "depth2")] == 200
    assert st[("ec", "pol")] == 200 and st[("sans", "pol")] == 403
    assert st[("ec", "map")] == 200
    assert st[("utf8", "o")] == 403 and st[("ec", "o")] == 200


def test_compact_exports_what_the_certificate_says(servers, mini):
    """A few values checked against openssl's reading, on a shared hit."""
    subj, ref, names = servers
    for name in ("sans", "utf8", "rsa"):
        _get(subj, mini, name, "pem")
        mark = subj.log_mark()
        d = _get(subj, mini, name, "pem")
        assert subj.log_lines(mark, COMPACT), subj.log_since(mark)
        env = d["env"]
        c = mini[name]
        assert env["X509_CLIENT_M_SERIAL"] == _run(
            ["x509", "-in", c.cert, "-noout", "-serial"]).strip().split("=")[1]
        assert env["X509_CLIENT_CERT"].strip() == c.pem.strip()
        assert env["SSL_CLIENT_CERT"].strip() == c.pem.strip()
        assert env["SSL_CLIENT_A_KEY"] == ("rsaEncryption" if name == "rsa"
                                           else "id-ecPublicKey")
    d = _get(subj, mini, "sans", "all")["env"]
    assert d["X509_CLIENT_SAN_DNS_39"] == "host39.example.com"
    assert d["X509_CLIENT_SAN_Email_7"] == "user7@example.com"
    d = _get(subj, mini, "utf8", "all")["env"]
    assert d["X509_CLIENT_S_DN_CN"] == "J\u00fcrgen M\u00fcller"
    assert d["X509_CLIENT_S_DN_OU_1"] == "S\u00fcd"
    d = _get(subj, mini, "viab", "pem")["env"]
    assert d["X509_CLIENT_CERT_CHAIN_0"].strip() == mini["ib"].pem.strip()
    assert d["X509_CLIENT_CERT_CHAIN_1"].strip() == mini["root"].pem.strip()


# -- two servers sharing redis ---------------------------------------------------

SECRET = os.urandom(32).hex() + "\n"
REDIS_MODULE = ("socache_redis_module", "mod_socache_redis.so")


def test_second_server_serves_from_compact_records(request, workroot, pki,
                                                   module_so, mini):
    svc = Redis(os.path.join(workroot, "redis-compact-%s" % uuid.uuid4().hex[:8]))
    request.addfinalizer(svc.stop)
    svc.start()
    hs = []
    for n in ("compact-a", "compact-b"):
        h = new_httpd(request, workroot, pki, module_so, name=n)
        secret = h.write_file("conf/cache-secret", SECRET, 0o600)
        names = _start(h, mini, "X509AuthnCache redis:127.0.0.1:%d 300\n"
                       "X509AuthnCacheSecret %s\nX509AuthnCacheTimeout 2000\n"
                       "X509AuthnCacheEntries 0\n" % (svc.port, secret),
                       extra_modules=[REDIS_MODULE])
        hs.append(h)
    a, b = hs
    for name in CERTS:
        # A verifies and stores (its child's cache thread, after the
        # response); B then only ever finds A's records
        before = svc.dbsize()
        _get(a, mini, name, "all")
        deadline = time.time() + 5
        while svc.dbsize() <= before and time.time() < deadline:
            time.sleep(0.05)
        assert svc.dbsize() > before, "nothing stored for %s" % name
        for loc in ("all", "pem", "iss-b", "depth2", "spki", "map", "email"):
            what = "%s at /t/%s/" % (name, loc)
            want = _get(a, mini, name, loc)
            mark = b.log_mark()
            got = _get(b, mini, name, loc)
            _compare(got, want, what)
            if name != "revoked":
                assert b.log_lines(mark, COMPACT), (what, b.log_since(mark))
