"""OCSP and fetched CRLs composed with the caches, .htaccess rules, keep-alive
and HTTP/2 (issue 15, compared with a server whose caches are off).

Verdicts decided with OCSP or fetched CRLs are kept by the process and in
the shared cache, bounded by the revocation data they were decided with and
keyed by its settings.  A verdict must never answer for another virtual host
(other revocation settings), another directory (other rules) or after an
.htaccess edit.  Two servers answer the same seeded random sequence: one with
every cache on (two children, a shmcb shared cache, the per-process cache),
one with `X509AuthnCache none` and `X509AuthnCacheEntries 0`.  Each decision
is compared between them and with the expectation from the table below.

A PKI of its own (MiniPKI): root R, CA "rc" below it (its CRL distribution
point: r.crl), eight leaves u0..u7 of rc, each naming both an OCSP
responder (a real `openssl ocsp` over rc's database) and rc.crl:

    u0..u3, u7   good everywhere
    u4           revoked (the responder and rc.crl say so)
    u5           not in the responder's index (OCSP "unknown"), good in rc.crl
    u6           good for the responder, revoked in rc.crl

Virtual hosts (TLS without client certificates, HTTP/2 by ALPN, the
trusted proxy 127.0.0.1 forwarding X-SSL-Client-Cert), one
<Directory> tree htdocs/rc/d0..d2 whose .htaccess files hold
`X509AuthnRequireSerial` lists, rewritten between phases:

    ocsp    X509AuthnOCSP leaf
    fetch   X509AuthnCRLFetch On
    cafile  neither (the CA file alone)

Requests go one per connection, several on one HTTP/1.1 keep-alive
connection, or as several HTTP/2 streams on one
connection, each with its own certificate and directory, as a proxy's
pooled connection carries them.
"""

import http.client
import os
import random
import re
import ssl
import subprocess
import time

import pytest
from cryptography import x509

import forwarded as F
from clients import CURL
from httpd import free_listen_port, free_port, new_httpd, quote
from minipki import MiniPKI
from test_crl_fetch import CrlServer, DAY, make_crl, now
from test_ocsp import wait_text

HDR = "X-SSL-Client-Cert"
LEAVES = ["u%d" % i for i in range(8)]
VHOSTS = ("ocsp", "fetch", "cafile")
DIRS = ("d0", "d1", "d2")
PHASES = 3
BATCHES_PER_PHASE = 24

# revocation as each virtual host sees it (the table in the docstring)
REFUSED = {
    "ocsp": {"u4": "revoked", "u5": "revocation-unknown"},
    "fetch": {"u4": "revoked", "u6": "revoked"},
    "cafile": {},
}


@pytest.fixture(scope="module")
def crls():
    s = CrlServer(free_port())
    s.start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def m(request, workroot, crls):
    ocsp_port = free_listen_port({crls.port})
    # one per test module that uses this fixture (test_revocation_tls.py)
    m = MiniPKI(os.path.join(workroot, "revcompose-pki-%s-%d"
                             % (request.module.__name__, os.getpid())))
    m.ca("r", "/O=Revocation Compose/CN=Compose Root")
    m.ca("rc", "/O=Revocation Compose/CN=Compose CA", issuer="r",
         ext=["crlDistributionPoints = URI:" + crls.url("r.crl")])
    for name in LEAVES:
        m.leaf(name, "/O=Revocation Compose/CN=" + name, issuer="rc",
               ext=["authorityInfoAccess = OCSP;URI:http://127.0.0.1:%d/" % ocsp_port,
                    "crlDistributionPoints = URI:" + crls.url("rc.crl")])
    # for test_revocation_tls.py: neither its responder nor its CRL answers
    dead = free_port({crls.port, ocsp_port})
    m.leaf("ux", "/O=Revocation Compose/CN=ux", issuer="rc",
           ext=["authorityInfoAccess = OCSP;URI:http://127.0.0.1:%d/" % dead,
                "crlDistributionPoints = URI:" + crls.url("none.crl")])
    m.cat("trust.pem", "r", "rc")
    t = now()
    crls.files["r.crl"] = make_crl(m, "r", "r", t - DAY, t + 30 * DAY)
    # rc's CRL revokes u4 and u6; the responder's index knows u6 as good
    cadir = m._cadir("rc")
    m.revoke("rc", "u4")
    with open(os.path.join(cadir, "index.txt")) as f:
        index_lines = [ln for ln in f if "CN=u5" not in ln]
    m.revoke("rc", "u6")
    crls.files["rc.crl"] = make_crl(m, "rc", "rc", t - DAY, t + 30 * DAY)
    index = m.path("ocsp-index.txt")
    with open(index, "w") as f:
        f.writelines(index_lines)
    log = open(m.path("openssl-ocsp.log"), "w")
    proc = subprocess.Popen(
        ["openssl", "ocsp", "-index", index, "-port", str(ocsp_port),
         "-rsigner", os.path.join(cadir, "ca.crt"), "-rkey", os.path.join(cadir, "ca.key"),
         "-CA", os.path.join(cadir, "ca.crt"), "-nmin", "60", "-ignore_err"],
        stdout=log, stderr=subprocess.STDOUT)

    def fin():
        proc.terminate()
        proc.wait()
        log.close()
    request.addfinalizer(fin)
    wait_text(log.name, "waiting for OCSP client connections")
    m.serials = {n: x509.load_pem_x509_certificate(m[n].pem.encode()).serial_number
                 for n in LEAVES}
    return m


def write_rules(h, rules):
    """rules: dir -> list of leaf names its .htaccess admits (None: no
    serial rule there)."""
    for d, names in rules.items():
        text = ""
        if names is not None:
            text = "X509AuthnRequireSerial %s\n" % " ".join(
                str(h.m.serials[n]) for n in names) if names else \
                "X509AuthnRequireSerial 1\n"     # nobody here
        h.write_file("htdocs/rc/%s/.htaccess" % d, text)


def tls(conf):
    """A TLS virtual host that asks for no client certificate (the trusted
    proxy's connection; HTTP/2 by ALPN)."""
    return {"verify": "none", "conf": conf}


def make_tree(h, m, dirs=DIRS):
    """htdocs/rc/DIR/page.txt for each of `dirs` (their .htaccess files come
    from write_rules()); h.m = m, for write_rules()."""
    h.m = m
    for d in dirs:
        os.makedirs(h.path("htdocs/rc/" + d), exist_ok=True)
        os.chmod(h.path("htdocs/rc/" + d), 0o755)
        h.write_file("htdocs/rc/%s/page.txt" % d, "page %s\n" % d)
    os.chmod(h.path("htdocs/rc"), 0o755)


def server(request, workroot, pki, module_so, m, cached):
    h = new_httpd(request, workroot, pki, module_so,
                  name="revcompose-%s" % ("cached" if cached else "oracle"))
    make_tree(h, m)
    caches = ("X509AuthnCache shmcb 300\nX509AuthnCacheEntries 2048\n" if cached
              else "X509AuthnCache none\nX509AuthnCacheEntries 0\n")
    server_extra = caches + """
StartServers 2
MinSpareThreads 32
MaxSpareThreads 64
<Location /metrics>
    SetHandler x509authn-metrics
    Require local
</Location>
""".format(d=h.dir)
    # in each virtual host: header mode needs its trusted proxy in scope
    base = F.trust(ca=m.path("trust.pem")) + """
<Directory "{d}/htdocs/rc">
    AllowOverride AuthConfig
    AuthType X509
    X509AuthnSource header
    Require valid-user
    Header always set X-Err "expr=%{{X509_AUTHN_ERROR}}"
</Directory>
""".format(d=h.dir)
    h.start(server_extra=server_extra, extra_vhosts={
        "ocsp": tls(base + "X509AuthnOCSP leaf\nX509AuthnOCSPTimeout 5\n"),
        "fetch": tls(base + "X509AuthnCRLFetch On\n"),
        "cafile": tls(base),
    })
    return h


@pytest.fixture(scope="module")
def pair(request, workroot, pki, module_so, m, crls):
    return (server(request, workroot, pki, module_so, m, True),
            server(request, workroot, pki, module_so, m, False))


def header_value(m, name):
    return F.der_b64(m[name])


# -- the three ways a request travels ------------------------------------------

def root_ca():
    return os.environ["X509A_TEST_ROOT_CA"]     # set by conftest.py


def connection(h, vhost):
    ctx = ssl.create_default_context(cafile=root_ca())
    ctx.check_hostname = False
    return http.client.HTTPSConnection("127.0.0.1", h.port(vhost), timeout=20,
                                       context=ctx)

def one_per_connection(h, vhost, reqs):
    out = []
    for name, d in reqs:
        c = connection(h, vhost)
        try:
            c.request("GET", "/rc/%s/page.txt" % d, headers={HDR: header_value(h.m, name)})
            r = c.getresponse()
            r.read()
            out.append((r.status, r.getheader("X-User", ""), r.getheader("X-Err", "")))
        finally:
            c.close()
    return out


def keepalive(h, vhost, reqs):
    c = connection(h, vhost)
    out = []
    try:
        for name, d in reqs:
            c.request("GET", "/rc/%s/page.txt" % d, headers={HDR: header_value(h.m, name)})
            r = c.getresponse()
            r.read()
            assert not r.will_close, "the connection closed"
            out.append((r.status, r.getheader("X-User", ""), r.getheader("X-Err", "")))
    finally:
        c.close()
    return out


def h2_streams(h, vhost, reqs):
    """One curl run: each request an HTTP/2 stream of one connection
    (`--next` keeps the connection), with its own certificate."""
    args = [CURL, "-sS", "--max-time", "20"]
    port = h.port(vhost)
    for i, (name, d) in enumerate(reqs):
        if i:
            args.append("--next")
        args += ["--http2", "--cacert", root_ca(), "--resolve", "localhost:%d:127.0.0.1" % port,
                 "-H", "%s: %s" % (HDR, header_value(h.m, name)),
                 "-o", "/dev/null",
                 "-w", "%{http_code} %{http_version} %{num_connects} "
                       "[%header{x-user}] [%header{x-err}]\\n",
                 "https://localhost:%d/rc/%s/page.txt" % (port, d)]
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    out, connects = [], 0
    for line in p.stdout.decode("utf-8", errors="replace").split("\n"):
        mm = re.match(r"(\d{3}) (\S+) (\d+) \[(.*)\] \[(.*)\]$", line, re.S)
        if mm:
            assert mm.group(2) == "2", (line, p.stderr)
            connects += int(mm.group(3))
            out.append((int(mm.group(1)), mm.group(4).strip(), mm.group(5).strip()))
    assert len(out) == len(reqs), (p.stdout, p.stderr)
    assert connects == 1, "the streams did not share one connection: %r" % p.stdout
    return out


WAYS = {"conn": one_per_connection, "keepalive": keepalive, "h2": h2_streams}


def expected(vhost, name, d, rules):
    token = REFUSED[vhost].get(name)
    if token:
        return 403, token
    admitted = rules[d]
    if admitted is not None and name not in admitted:
        return 403, "rule:Serial"
    return 200, ""


def shared_hits(h):
    c = connection(h, "cafile")
    c.request("GET", "/metrics")
    text = c.getresponse().read().decode()
    c.close()
    mm = re.search(r'^x509authn_cache_lookups_total\{layer="shared",result="hit"\} (\d+)',
                   text, re.M)
    assert mm, text
    return int(mm.group(1))


def test_revocation_with_caches_htaccess_h2(pair, m):
    cached, oracle = pair
    seed = int(os.environ.get("X509A_COMPOSE_SEED", "0")) or random.randrange(1, 1 << 30)
    print("X509A_COMPOSE_SEED=%d" % seed)
    rnd = random.Random(seed)
    seen = {"status": set(), "way": set(), "vhost": set(), "err": set()}
    for phase in range(PHASES):
        rules = {d: (None if rnd.random() < 0.25 else
                     sorted(rnd.sample(LEAVES, rnd.randrange(0, len(LEAVES)))))
                 for d in DIRS}
        for h in pair:
            write_rules(h, rules)
        for b in range(BATCHES_PER_PHASE):
            vhost = rnd.choice(VHOSTS)
            way = rnd.choice(list(WAYS))
            n = 1 if way == "conn" else rnd.randrange(2, 7)
            reqs = [(rnd.choice(LEAVES), rnd.choice(DIRS)) for _ in range(n)]
            got_cached = WAYS[way](cached, vhost, reqs)
            got_oracle = WAYS[way](oracle, vhost, reqs)
            for (name, d), gc, go in zip(reqs, got_cached, got_oracle):
                where = "seed %d phase %d batch %d %s %s %s/%s rules %r" % (
                    seed, phase, b, way, vhost, name, d, rules[d])
                assert gc == go, "cached %r, caches off %r: %s" % (gc, go, where)
                status, token = expected(vhost, name, d, rules)
                assert (gc[0], gc[2]) == (status, token), "%r: %s" % (gc, where)
                if status == 200:
                    assert re.search(r"CN=%s\b" % name, gc[1]), (gc, where)
                else:
                    assert gc[1] == "", (gc, where)
                seen["status"].add(status)
                seen["way"].add(way)
                seen["vhost"].add(vhost)
                seen["err"].add(token)
    # the run exercised what it is about
    assert seen["way"] == set(WAYS) and seen["vhost"] == set(VHOSTS), seen
    assert {"revoked", "revocation-unknown", "rule:Serial", ""} <= seen["err"], seen
    # verdicts came from the shared cache too (the other child's, or the
    # process cache's after a rule change), not only from verifications
    assert shared_hits(cached) > 0
    assert shared_hits(oracle) == 0
