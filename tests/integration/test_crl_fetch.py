"""X509AuthnCRLFetch: CRLs fetched from the distribution points of
forwarded certificates (header mode, verified locally), served by a Python
HTTP server on loopback started here; X509AuthnCRLCacheDir,
X509AuthnCRLMaxStale and X509AuthnRevocationSoftFail.

A PKI of its own (MiniPKI, openssl CLI).  Root R names no distribution
point; every CA below it names http://127.0.0.1:PORT/r.crl (R's CRL), and
their leaves name http://127.0.0.1:PORT/<ca>.crl:

    i     good, revoked (revoked by i's CRL), dgood, drev (revoked in the
          delta CRL only: the leaves name freshestCRL /i-delta.crl)
    dm    dm-user (names a delta CRL the server does not have)
    s     s-user (refresh: s's CRL has a short nextUpdate, then revokes it)
    t     t-user (stale: t's CRL expires while the server is down)
    u     u-user (u's CRL never reachable)
    b     b-user (b's CRL is signed by another key)
    k     k-user, k-revoked (the cache directory across a restart)
    evil  same name as i, another key, not trusted: its leaf names /x.crl

Cases: CRL fetched and used (revoked refused, good accepted, delta CRL);
kept (no second fetch); refreshed before nextUpdate in the background; the
server down with a fresh CRL kept (accepted) and with a stale one (refused;
accepted under soft fail and within X509AuthnCRLMaxStale); never reachable
(refused; accepted under soft fail); a CRL with a bad signature (refused
under soft fail too); the cache directory shared by a restart; an
unverified chain fetches nothing.
"""

import datetime
import http.server
import itertools
import os
import re
import threading
import time

import pytest

from clients import http_request
from expect import INFO_RX
import forwarded as F
from httpd import locations, new_httpd, free_port, quote
from minipki import MiniPKI
from pki import CA_CONF, _gentime, _run
from services import Redis

HDR = "X-SSL-Client-Cert"
CHAIN = "X-SSL-Client-Cert-Chain"

LOC = """<Location /t/crl>
    AuthType X509
    X509AuthnSource header
    Require valid-user
    ErrorDocument 403 "refused: [%{X509_AUTHN_ERROR}]"
</Location>
"""


# -- the CRL server ----------------------------------------------------------------

class CrlServer:
    """Serves self.files (path -> DER bytes) on a fixed loopback port;
    records every request path in self.log; stop() closes the port."""

    def __init__(self, port):
        self.port = port
        self.files = {}
        self.delay = {}     # path -> seconds to wait before answering
        self.log = []
        self.lock = threading.Lock()
        self.httpd = None

    def url(self, path):
        return "http://127.0.0.1:%d/%s" % (self.port, path)

    def start(self):
        srv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                with srv.lock:
                    srv.log.append(self.path)
                    body = srv.files.get(self.path.lstrip("/"))
                    delay = srv.delay.get(self.path.lstrip("/"), 0)
                time.sleep(delay)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/pkix-crl")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    def requests(self, path=None):
        with self.lock:
            return [p for p in self.log if path is None or p.lstrip("/") == path]


CRL_NUMBER = itertools.count(16)


def make_crl(m, ca, name, last, nxt, ext=(), signer=None):
    """DER CRL of `ca` (what it revoked so far), lastUpdate/nextUpdate as
    given (datetimes); `signer` signs it instead (same CA database)."""
    cd = m._cadir(ca)
    conf = m.path(name + ".cnf")
    text = CA_CONF.format(dir=cd) + "\n[ crl_x ]\nauthorityKeyIdentifier = keyid:always\n" \
        + "\n".join(ext) + "\n"
    if signer:
        text = text.replace("$dir/ca.crt", m.path(signer + ".crt")) \
                   .replace("$dir/ca.key", m.path(signer + ".key"))
    with open(conf, "w") as f:
        f.write(text)
    with open(os.path.join(cd, "crlnumber"), "w") as f:
        f.write("%04X\n" % next(CRL_NUMBER))
    pem = m.path(name + ".pem")
    _run(["ca", "-batch", "-config", conf, "-gencrl", "-crlexts", "crl_x",
          "-crl_lastupdate", _gentime(last), "-crl_nextupdate", _gentime(nxt),
          "-out", pem])
    der = m.path(name + ".der")
    _run(["crl", "-in", pem, "-outform", "DER", "-out", der])
    os.unlink(conf)
    with open(der, "rb") as f:
        return f.read()


def now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


DAY = datetime.timedelta(days=1)
MINUTE = datetime.timedelta(minutes=1)


@pytest.fixture(scope="module")
def srv():
    s = CrlServer(free_port())
    s.start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def m(workroot, srv):
    m = MiniPKI(os.path.join(workroot, "crlfetch-pki-%d" % os.getpid()))
    dp = lambda path: ["crlDistributionPoints = URI:" + srv.url(path)]
    m.ca("r", "/O=CRL Fetch/CN=Fetch Root")
    for ca in ("i", "s", "t", "u", "b", "k"):
        m.ca(ca, "/O=CRL Fetch/CN=Fetch CA " + ca, issuer="r", ext=dp("r.crl"))
    m.ca("w", "/O=CRL Fetch/CN=Fetch CA w", issuer="r", ext=dp("r.crl"))
    m.ca("c", "/O=CRL Fetch/CN=Fetch CA c", issuer="r", ext=dp("r.crl"))
    for k in range(6):
        m.leaf("c-user%d" % k, "/O=CRL Fetch/CN=c-user%d" % k, issuer="c",
               ext=dp("c.crl"))
    for leaf, ca in (("w-user", "w"), ("w-user2", "w"), ("w-user3", "w"),
                     ("good", "i"), ("revoked", "i"), ("good2", "i"),
                     ("good3", "i"), ("s-user", "s"), ("t-user", "t"),
                     ("u-user", "u"), ("b-user", "b"), ("k-user", "k"),
                     ("k-revoked", "k")):
        m.leaf(leaf, "/O=CRL Fetch/CN=" + leaf, issuer=ca, ext=dp(ca + ".crl"))
    m.ca("dm", "/O=CRL Fetch/CN=Fetch CA dm", issuer="r", ext=dp("r.crl"))
    m.leaf("dm-user", "/O=CRL Fetch/CN=dm-user", issuer="dm",
           ext=dp("dm.crl") + ["freshestCRL = URI:" + srv.url("dm-delta.crl")])
    for leaf in ("dgood", "drev"):
        m.leaf(leaf, "/O=CRL Fetch/CN=" + leaf, issuer="i",
               ext=dp("i.crl") + ["freshestCRL = URI:" + srv.url("i-delta.crl")])
    # not trusted: a root with R's name and another key, and below it a CA
    # with i's name; a CA with b's name signs b's bad CRL
    m.ca("evil-root", "/O=CRL Fetch/CN=Fetch Root")
    m.ca("evil", "/O=CRL Fetch/CN=Fetch CA i", issuer="evil-root",
         ext=dp("r.crl"))
    m.ca("evil-b", "/O=CRL Fetch/CN=Fetch CA b", issuer="evil-root")
    m.leaf("evil-user", "/O=CRL Fetch/CN=evil-user", issuer="evil",
           ext=dp("x.crl") + ["freshestCRL = URI:" + srv.url("x-delta.crl")])
    m.cat("cas.pem", "r")

    n = now()
    m.revoke("i", "revoked")
    m.revoke("k", "k-revoked")
    srv.files["r.crl"] = make_crl(m, "r", "r", n - DAY, n + 30 * DAY)
    srv.files["i.crl"] = make_crl(m, "i", "i", n - DAY, n + 30 * DAY,
                                  ["freshestCRL = URI:" + srv.url("i-delta.crl")])
    m.revoke("i", "drev")
    srv.files["i-delta.crl"] = make_crl(m, "i", "i-delta", n - DAY, n + 30 * DAY,
                                        ["2.5.29.27 = critical,DER:02:01:01"])
    srv.files["t.crl"] = make_crl(m, "t", "t", n - DAY, n + 30 * DAY)
    srv.files["w.crl"] = make_crl(m, "w", "w1", n - DAY, n + 30 * DAY)
    srv.files["c.crl"] = make_crl(m, "c", "c", n - DAY, n + 30 * DAY)
    srv.delay["c.crl"] = 2
    # dm's base CRL is served, its delta (dm-delta.crl) is not
    srv.files["dm.crl"] = make_crl(m, "dm", "dm", n - DAY, n + 30 * DAY)
    srv.files["k.crl"] = make_crl(m, "k", "k", n - DAY, n + 30 * DAY)
    # b's CRL, signed by the untrusted lookalike's key
    srv.files["b.crl"] = make_crl(m, "b", "b", n - DAY, n + 30 * DAY, signer="evil-b")
    srv.files["x.crl"] = make_crl(m, "evil", "x", n - DAY, n + 30 * DAY)
    return m


def vhost(m, extra=""):
    return F.trust(chain=CHAIN, ca=m.path("cas.pem")) + "X509AuthnCRLFetch On\n" \
        + extra + LOC


@pytest.fixture(scope="module")
def h(request, workroot, pki, module_so, m, srv):
    s = new_httpd(request, workroot, pki, module_so, name="crlfetch")
    # a cache directory the children (www-data) cannot write
    ro = os.path.join(workroot, "crlfetch-ro-%d" % os.getpid())
    os.makedirs(ro, exist_ok=True)
    os.chmod(ro, 0o755)
    s.start(locations=locations({"metrics": "SetHandler x509authn-metrics\nRequire local"}),
            extra_vhosts={
        "rodir": vhost(m, "X509AuthnCRLCacheDir %s\n" % quote(ro)),
        "hard": vhost(m),
        "soft": vhost(m, "X509AuthnRevocationSoftFail On\n"),
        "stale": vhost(m, "X509AuthnCRLMaxStale 3600\n"),
        "leaf": vhost(m, "X509AuthnCARevocationCheck leaf\n"),
    })
    return s


def get(h, vhost, m, name):
    c = m[name]
    return http_request(h.port(vhost), "/t/crl/env",
                        [(HDR, F.der_b64(c)),
                         (CHAIN, F.pem_bundle_escaped([m[m.issuer[name]]]))])


def accept(h, vhost, m, name):
    r = get(h, vhost, m, name)
    assert r.status == 200, (vhost, name, r, r.text, h.log_since(0)[-3000:])
    assert r.env["REMOTE_USER"] == "CN=%s,O=CRL Fetch" % name
    assert "X509_AUTHN_ERROR" not in r.env
    return r


def refuse(h, vhost, m, name, token, reason_rx=None):
    mark = h.log_mark()
    r = get(h, vhost, m, name)
    assert r.status == 403, (vhost, name, r)
    assert "refused: [%s]" % token in r.text, r.text
    if reason_rx:
        lines = [ln for ln in h.log_lines(mark, INFO_RX) if "X509A0111" in ln]
        assert lines, h.log_since(mark)
        assert re.search(reason_rx, lines[-1]), lines[-1]
    return r


def wait_for(pred, timeout=60.0, step=0.5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


# -- fetched and used ---------------------------------------------------------------

def test_fetched_and_used(h, m, srv):
    before = len(srv.requests())
    accept(h, "hard", m, "good")
    # the leaf's CRL and the intermediate's (the root names none)
    assert srv.requests("i.crl") and srv.requests("r.crl"), srv.requests()
    refuse(h, "hard", m, "revoked", "revoked",
           r"verification failed at depth 0: certificate revoked")
    # kept: nothing fetched again for another leaf of the same CA
    n = len(srv.requests())
    accept(h, "hard", m, "good2")
    accept(h, "soft", m, "good2")
    assert len(srv.requests()) == n, srv.requests()[before:]


def test_fetched_crls_in_metrics(h, m, srv):
    """The status view lists the CRLs a child fetched: its URL as the file,
    the CRL's issuer and nextUpdate (issue 14's trust-file health)."""
    url = srv.url("i.crl")

    def listed():
        accept(h, "hard", m, "good")
        r = http_request(h.port("hard"), "/t/metrics")
        return r.status == 200 and ('file="%s"' % url) in r.text and r
    assert wait_for(listed, timeout=30, step=0.2)
    text = http_request(h.port("hard"), "/t/metrics").text
    lines = [ln for ln in text.splitlines()
             if ln.startswith("x509authn_crl_next_update_timestamp_seconds")
             and 'file="%s"' % url in ln]
    if not lines:       # the other child served this one: ask again
        text = listed().text
        lines = [ln for ln in text.splitlines()
                 if ln.startswith("x509authn_crl_next_update_timestamp_seconds")
                 and 'file="%s"' % url in ln]
    assert lines and 'crl="base"' in lines[0], text
    assert 'issuer="CN=' in lines[0], lines[0]
    assert int(lines[0].rsplit(" ", 1)[1]) > time.time(), lines[0]
    assert ('x509authn_trust_file_usable{file="%s",kind="crl-fetched"} 1' % url) in text


def test_one_fetch_per_url(h, m, srv):
    """Six requests needing the same CRL, which takes 2 s to come: one
    fetch; the others wait for it and are all answered with it."""
    import concurrent.futures
    accept(h, "hard", m, "good")      # r.crl is there already
    with concurrent.futures.ThreadPoolExecutor(6) as ex:
        res = list(ex.map(lambda k: get(h, "hard", m, "c-user%d" % k), range(6)))
    assert [r.status for r in res] == [200] * 6, res
    assert len(srv.requests("c.crl")) == 1, srv.requests()


def test_delta_crl(h, m, srv):
    """freshestCRL: drev is revoked in the delta CRL only."""
    accept(h, "hard", m, "dgood")
    assert srv.requests("i-delta.crl")
    refuse(h, "hard", m, "drev", "revoked", r"certificate revoked")


def test_delta_crl_unreachable(h, m, srv):
    """A delta CRL that cannot be had leaves what was revoked since the base
    unknown: refused, accepted under soft fail."""
    refuse(h, "hard", m, "dm-user", "revocation-unknown",
           r"revocation status unknown: delta CRL http://\S+/dm-delta\.crl: .*404")
    assert srv.requests("dm.crl") and srv.requests("dm-delta.crl")
    accept(h, "soft", m, "dm-user")


def test_leaf_mode_fetches_the_leafs_crl_only(h, m, srv):
    """X509AuthnCARevocationCheck leaf: the leaf's CRL decides."""
    accept(h, "leaf", m, "good3")
    refuse(h, "leaf", m, "revoked", "revoked", r"depth 0: certificate revoked")


def test_unverified_chain_fetches_nothing(h, m, srv):
    """A chain that does not verify to a trust anchor (a lookalike CA) is
    refused before any of its URLs is fetched."""
    before = list(srv.requests())
    refuse(h, "hard", m, "evil-user", "chain-invalid", r"verification failed")
    refuse(h, "soft", m, "evil-user", "chain-invalid", r"verification failed")
    assert not srv.requests("x.crl") and not srv.requests("x-delta.crl")
    assert srv.requests() == before


def test_bad_signature(h, m, srv):
    """b's CRL is signed by another key: never used, refused under soft
    fail too, and said at warn."""
    for vh in ("hard", "soft"):
        mark = h.log_mark()
        refuse(h, vh, m, "b-user", "revocation-unknown",
               r"revocation status unknown: CRL http://\S+/b\.crl: the CRL's "
               r"signature does not verify")
        assert srv.requests("b.crl")
    lines = h.log_lines(0, r"X509A0839: CRL http://\S+/b\.crl is not valid: the "
                           r"CRL's signature does not verify")
    assert lines, h.log_since(0)[-2000:]


def test_never_reachable(h, m, srv):
    """u's CRL is not on the server (404): refused; accepted under soft
    fail, with one warn line per minute."""
    mark = h.log_mark()
    refuse(h, "hard", m, "u-user", "revocation-unknown",
           r"revocation status unknown: CRL http://\S+/u\.crl: .*404")
    accept(h, "soft", m, "u-user")
    accept(h, "soft", m, "u-user")
    hard = h.log_lines(mark, r"\[x509authn:warn\].*X509A0830: revocation status unknown "
                             r"\(CRL http://\S+/u\.crl\): .*refused "
                             r"\(X509AuthnRevocationSoftFail Off")
    soft = h.log_lines(mark, r"\[x509authn:warn\].*X509A0830: revocation status unknown "
                             r"\(CRL http://\S+/u\.crl\): .*accepted "
                             r"\(X509AuthnRevocationSoftFail On")
    assert len(hard) == 1 and len(soft) == 1, h.log_since(mark)


# -- the server down -------------------------------------------------------------------

def test_server_down_fresh_crl_kept(h, m, srv):
    """With the CRLs fetched and fresh, the server going away changes
    nothing."""
    accept(h, "hard", m, "good")
    srv.stop()
    try:
        # a leaf this process has not verified yet: verified with the kept CRLs
        accept(h, "hard", m, "dgood")
        refuse(h, "hard", m, "revoked", "revoked", r"certificate revoked")
    finally:
        srv.start()


def test_refreshed_before_next_update(h, m, srv):
    """s's CRL is near its nextUpdate: the background refresh fetches it
    again (a request does not wait for it), and the new CRL, which revokes
    s-user, is used as soon as it is there."""
    n = now()
    srv.files["s.crl"] = make_crl(m, "s", "s1", n - datetime.timedelta(minutes=10),
                                  n + datetime.timedelta(seconds=60))
    accept(h, "hard", m, "s-user")
    fetched = len(srv.requests("s.crl"))
    assert fetched >= 1
    m.revoke("s", "s-user")
    mark = h.log_mark()
    # a newer CRL (later lastUpdate: an older one would not replace it)
    srv.files["s.crl"] = make_crl(m, "s", "s2", now() - MINUTE, now() + 30 * DAY)
    # the refresh comes from the watchdog: no request needed to trigger it
    assert wait_for(lambda: len(srv.requests("s.crl")) > fetched, timeout=45), \
        "no refresh"
    assert h.wait_log(mark, r"\[x509authn:info\].*X509A0833: CRL http://\S+/s\.crl "
                            r"refreshed: new CRL", timeout=30), h.log_since(mark)
    refuse(h, "hard", m, "s-user", "revoked", r"certificate revoked")
    refuse(h, "soft", m, "s-user", "revoked", r"certificate revoked")


def test_server_down_stale_crl(h, m, srv):
    """t's CRL reaches its nextUpdate while the server is down: refused,
    accepted under soft fail, and within X509AuthnCRLMaxStale."""
    n = now()
    srv.files["t.crl"] = make_crl(m, "t", "t1", n - datetime.timedelta(minutes=10),
                                  n + datetime.timedelta(seconds=15))
    accept(h, "hard", m, "t-user")
    accept(h, "stale", m, "t-user")
    srv.stop()
    try:
        # until nextUpdate the kept CRL answers; then revocation is unknown
        assert wait_for(lambda: get(h, "hard", m, "t-user").status == 403,
                        timeout=40), "still accepted past nextUpdate"
        refuse(h, "hard", m, "t-user", "revocation-unknown",
               r"revocation status unknown: CRL http://\S+/t\.crl")
        accept(h, "soft", m, "t-user")
        accept(h, "stale", m, "t-user")
    finally:
        srv.start()
    # the server back: fetched again (the next retry) and accepted
    srv.files["t.crl"] = make_crl(m, "t", "t2", now() - MINUTE, now() + 30 * DAY)
    assert wait_for(lambda: get(h, "hard", m, "t-user").status == 200, timeout=40)


# -- the cache directory across a restart ------------------------------------------------

def test_cache_dir_shared_by_a_restart(request, workroot, pki, module_so, m, srv):
    d = os.path.join(workroot, "crlfetch-cache-%d" % os.getpid())
    os.makedirs(d, exist_ok=True)
    # the children (www-data) write there
    os.chmod(d, 0o777)
    s = new_httpd(request, workroot, pki, module_so, name="crlfetch-dir")
    conf = {"dir": vhost(m, "X509AuthnCRLCacheDir %s\n" % quote(d))}
    s.start(extra_vhosts=conf)
    accept(s, "dir", m, "k-user")
    refuse(s, "dir", m, "k-revoked", "revoked", r"certificate revoked")
    files = {f: open(os.path.join(d, f), "rb").read() for f in os.listdir(d)
             if f.endswith(".crl")}
    urls = sorted(re.search(rb"^URL: (\S+)$", v, re.M).group(1).decode()
                  for v in files.values())
    assert urls == sorted([srv.url("k.crl"), srv.url("r.crl")]), urls
    for f in files:
        st = os.stat(os.path.join(d, f))
        assert st.st_mode & 0o044 == 0o044, oct(st.st_mode)
    s.stop()
    srv.stop()
    try:
        before = len(srv.requests())
        s.start(extra_vhosts=conf)
        accept(s, "dir", m, "k-user")
        refuse(s, "dir", m, "k-revoked", "revoked", r"certificate revoked")
        assert len(srv.requests()) == before
    finally:
        srv.start()
        s.stop()


def test_cache_dir_not_writable(h, m, srv):
    """The CRL is used; the directory's problem is said at warn."""
    mark = h.log_mark()
    accept(h, "rodir", m, "good")
    refuse(h, "rodir", m, "revoked", "revoked", r"certificate revoked")
    assert h.log_lines(mark, r"\[x509authn:warn\].*X509A0840: X509AuthnCRLCacheDir: "
                             r"cannot write .*crlfetch-ro-\d+/[0-9a-f]{64}\.crl: "
                             r"Permission denied"), h.log_since(mark)


# -- the shared cache ------------------------------------------------------------------

def test_shared_cache_keyed_by_the_crls_held(request, workroot, pki, module_so, m, srv):
    """Verdicts in the shared cache (redis) are keyed by the fetched CRLs the
    deciding process held: a server holding the same CRLs takes them, one
    holding a newer CRL does not take a verdict decided before it."""
    redis = Redis(os.path.join(workroot, "crlfetch-redis-%d" % os.getpid()))
    request.addfinalizer(redis.stop)
    redis.start()
    secret = os.urandom(32).hex() + "\n"
    hit = r"X509A0303: verification result taken from the shared cache \(redis\)"

    def server(name):
        s = new_httpd(request, workroot, pki, module_so, name=name)
        f = s.write_file("conf/secret", secret, 0o600)
        s.start(extra_vhosts={"c": vhost(m)},
                extra_modules=[("socache_redis_module", "mod_socache_redis.so")],
                server_extra="X509AuthnCache redis:127.0.0.1:%d 300\n"
                             "X509AuthnCacheSecret %s\n" % (redis.port, quote(f)))
        return s

    a = server("crlfetch-shared-a")
    accept(a, "c", m, "w-user")
    assert wait_for(lambda: redis.dbsize() >= 1, timeout=10), "no record stored"
    # b holds the same CRLs once it verified another of w's users: w-user's
    # verdict is a's
    b = server("crlfetch-shared-b")
    accept(b, "c", m, "w-user2")
    mark = b.log_mark()
    accept(b, "c", m, "w-user")
    assert b.log_lines(mark, hit), b.log_since(mark)
    # w's next CRL revokes w-user: c, which holds it, decides anew
    m.revoke("w", "w-user")
    srv.files["w.crl"] = make_crl(m, "w", "w2", now() - MINUTE, now() + 30 * DAY)
    c = server("crlfetch-shared-c")
    accept(c, "c", m, "w-user3")
    mark = c.log_mark()
    refuse(c, "c", m, "w-user", "revoked", r"certificate revoked")
    assert not c.log_lines(mark, hit), c.log_since(mark)
