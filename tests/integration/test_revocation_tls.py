"""X509AuthnRevocationTLS: OCSP and fetched CRLs for client certificates that
mod_ssl verified (direct TLS; mod_ssl never fetches CRLs), issue 15 item 8.

The PKI, the `openssl ocsp` responder and the CRL server of
test_revocation_compose.py (its fixtures): leaves u0..u7 and ux of CA "rc";
u4 revoked (responder and rc.crl), u5 unknown to the responder, u6 revoked
in rc.crl only, ux names a responder and a CRL that never answer.

TLS virtual hosts that require a client certificate of that PKI
(SSLCACertificateFile root + rc, no SSLCARevocationFile: mod_ssl accepts
every one of them):

    ocsp      X509AuthnRevocationTLS On, X509AuthnOCSP leaf
    fetch     X509AuthnRevocationTLS On, X509AuthnCRLFetch On
    soft      both, X509AuthnRevocationSoftFail On
    off       neither (mod_ssl alone)
    other     X509AuthnRevocationTLS On with an X509AuthnCACertificateFile of
              another PKI (a misconfiguration: refused, X509A0732)
"""

import os
import random
import re

import pytest

from clients import curl, curl_multi, s_client
from httpd import new_httpd, quote
from test_revocation_compose import crls, m, make_tree, write_rules  # noqa: F401  (fixtures)

LOC = """<Location /t/>
    AuthType X509
    Require valid-user
    Header always set X-Err "expr=%{X509_AUTHN_ERROR}"
</Location>
"""


@pytest.fixture(scope="module")
def h(request, workroot, pki, module_so, m, crls):  # noqa: F811
    srv = new_httpd(request, workroot, pki, module_so, name="revtls")
    ca = "X509AuthnCACertificateFile %s\n" % quote(m.path("trust.pem"))
    on = "X509AuthnRevocationTLS On\nX509AuthnOCSPTimeout 3\n"

    def vh(conf):
        return {"verify": "require", "ca": m.path("trust.pem"), "conf": conf}
    srv.start(locations=LOC, extra_vhosts={
        "ocsp": vh(on + ca + "X509AuthnOCSP leaf\n"),
        "fetch": vh(on + ca + "X509AuthnCRLFetch On\n"),
        "soft": vh(on + ca + "X509AuthnOCSP leaf\nX509AuthnCRLFetch On\n"
                   "X509AuthnRevocationSoftFail On\n"),
        "off": vh(ca),
        "other": vh(on + "X509AuthnCACertificateFile %s\nX509AuthnOCSP leaf\n"
                    % quote(pki.ca_bundle)),
    })
    return srv


def get(h, vhost, cert, path="/t/env"):
    return curl(h.url(path, vhost), cert=cert)


def accepted(h, vhost, m, name):  # noqa: F811
    r = get(h, vhost, m[name])
    assert r.status == 200, (vhost, name, r)
    assert r.user == "CN=%s,O=Revocation Compose" % name, r.user
    assert r.headers.get("x-err", "") == ""
    return r


def refused(h, vhost, m, name, token):  # noqa: F811
    r = get(h, vhost, m[name])
    assert r.status == 403, (vhost, name, r)
    assert r.user == ""
    assert r.headers.get("x-err") == token, r.headers
    return r


@pytest.mark.parametrize("vhost,name,token", [
    ("ocsp", "u0", ""), ("ocsp", "u4", "revoked"), ("ocsp", "u5", "revocation-unknown"),
    ("ocsp", "u6", ""),
    ("fetch", "u0", ""), ("fetch", "u4", "revoked"), ("fetch", "u5", ""),
    ("fetch", "u6", "revoked"),
    ("soft", "u0", ""), ("soft", "u4", "revoked"), ("soft", "u6", "revoked"),
    ("off", "u4", ""), ("off", "u6", ""),
])
def test_verdicts(h, m, vhost, name, token):  # noqa: F811
    """mod_ssl accepts them all; the module asks as each server says."""
    if token:
        mark = h.log_mark()
        refused(h, vhost, m, name, token)
        # one info line for the refusal, naming the certificate
        assert h.wait_log(mark, r"CN=%s" % name), h.log_since(mark)
    else:
        accepted(h, vhost, m, name)


def test_undetermined_hard_and_soft(h, m):  # noqa: F811
    """ux: neither the responder nor the CRL answers: refused under
    X509AuthnOCSP and X509AuthnCRLFetch, accepted under soft fail, logged
    (X509A0830) either way."""
    mark = h.log_mark()
    refused(h, "ocsp", m, "ux", "revocation-unknown")
    assert h.wait_log(mark, r"X509A0830.*refused"), h.log_since(mark)
    mark = h.log_mark()
    refused(h, "fetch", m, "ux", "revocation-unknown")
    assert h.wait_log(mark, r"X509A0830.*CRL .*none\.crl.*refused"), h.log_since(mark)
    mark = h.log_mark()
    accepted(h, "soft", m, "ux")
    assert h.wait_log(mark, r"X509A0830.*accepted"), h.log_since(mark)


def test_resumed_session(h, m, tmp_path):  # noqa: F811
    """A resumed session brings no peer chain: the intermediate comes from
    X509AuthnCACertificateFile, and the revoked certificate stays refused."""
    for name, status in (("u0", 200), ("u6", 403)):
        sess = str(tmp_path / ("%s.sess" % name))
        cafile = os.environ["X509A_TEST_ROOT_CA"]
        first = s_client(h.port("fetch"), "/t/env", cert=m[name], cafile=cafile,
                         tls="1.2", sess_out=sess)
        assert first.status == status, first
        again = s_client(h.port("fetch"), "/t/env", cert=m[name], cafile=cafile,
                         tls="1.2", sess_in=sess)
        assert again.reused, again.raw
        assert again.status == status, again
        if status == 403:
            assert again.headers.get("x-err") == "revoked", again.headers


def test_http2_streams(h, m):  # noqa: F811
    """Streams of one HTTP/2 connection: each refused (the revoked
    certificate), none accepted after the first."""
    res = curl_multi([h.url("/t/env", "fetch")] * 4, cert=m["u4"], http2=True,
                     show="x-err")
    assert [(r[0], r[1], r[3]) for r in res] == [(403, "2", "revoked")] * 4, res
    assert sum(r[2] for r in res) == 1, res
    res = curl_multi([h.url("/t/env", "fetch")] * 4, cert=m["u0"], http2=True)
    assert [(r[0], r[3]) for r in res] == [(200, "CN=u0,O=Revocation Compose")] * 4, res


def test_one_fetch_for_many_logins(h, m, crls):  # noqa: F811
    """Verdicts are kept: many logins of one certificate fetch rc.crl at
    most once per process."""
    before = len(crls.requests("rc.crl"))
    for _ in range(10):
        accepted(h, "fetch", m, "u1")
    assert len(crls.requests("rc.crl")) - before <= 2   # two children


def test_trust_store_mismatch(h, m):  # noqa: F811
    """X509AuthnCACertificateFile of another PKI: mod_ssl verified the
    certificate, ours cannot: refused, and the misconfiguration logged."""
    mark = h.log_mark()
    r = get(h, "other", m["u0"])
    assert r.status == 403 and r.user == "", r
    assert r.headers.get("x-err") == "chain-invalid", r.headers
    assert h.wait_log(mark, r"X509A0732.*SSLCACertificateFile"), h.log_since(mark)


@pytest.mark.parametrize("conf,shown", [
    ("X509AuthnRevocationTLS On\nX509AuthnCACertificateFile {ca}\n",
     "X509A0730"),
    ("X509AuthnRevocationTLS On\nX509AuthnOCSP leaf\n", "X509A0731"),
    ("X509AuthnRevocationTLS maybe\n", "X509AuthnRevocationTLS"),
])
def test_configtest(h, m, conf, shown):  # noqa: F811
    rc, out = h.configtest(locations=LOC, extra_vhosts={
        "bad": {"verify": "require", "ca": m.path("trust.pem"),
                "conf": conf.format(ca=quote(m.path("trust.pem")))}})
    assert rc != 0, out
    assert shown in out, out


def test_settings_it_uses_are_not_called_unused(h, m):  # noqa: F811
    """X509A0801 ("does nothing") is for settings no server uses: not for
    the CA file and X509AuthnCRLFetch of a server with
    X509AuthnRevocationTLS On."""
    rc, out = h.configtest(locations=LOC, extra_vhosts={
        "good": {"verify": "require", "ca": m.path("trust.pem"),
                 "conf": "X509AuthnRevocationTLS On\nX509AuthnCRLFetch On\n"
                         "X509AuthnCACertificateFile %s\n" % quote(m.path("trust.pem"))},
        "unused": {"verify": "require", "ca": m.path("trust.pem"),
                   "conf": "X509AuthnCRLFetch On\n"}})
    assert rc == 0, out
    unused = [ln for ln in out.splitlines() if "X509A0801" in ln]
    assert len(unused) == 1 and "X509AuthnCRLFetch" in unused[0], out


# -- composed with the memo, .htaccess rules, early ap_expr, keep-alive, HTTP/2 ---

COMPOSE_REFUSED = {
    "ocsp": {"u4": "revoked", "u5": "revocation-unknown"},
    "fetch": {"u4": "revoked", "u6": "revoked"},
    "off": {},
}
COMPOSE_LEAVES = ["u%d" % i for i in range(8)]
COMPOSE_DIRS = ("d0", "d1", "d2")


def compose_server(request, workroot, pki, module_so, m, cached):  # noqa: F811
    """Virtual hosts as in the fixture `h` (ocsp, fetch, off), a directory
    tree htdocs/rc/d0..d2 whose .htaccess files hold serial rules, and an
    ap_expr that reads the certificate before authentication
    (SetEnvIfExpr in the virtual host runs at post_read_request)."""
    srv = new_httpd(request, workroot, pki, module_so,
                    name="revtls-compose-%s" % ("cached" if cached else "oracle"))
    make_tree(srv, m, COMPOSE_DIRS)
    caches = ("X509AuthnCacheEntries 2048\n" if cached
              else "X509AuthnCache none\nX509AuthnCacheEntries 0\n")
    ca = "X509AuthnCACertificateFile %s\n" % quote(m.path("trust.pem"))
    on = "X509AuthnRevocationTLS On\nX509AuthnOCSPTimeout 5\n"
    tree = """SetEnvIfExpr "%{{X509_CLIENT_S_DN_CN}} == 'u1'" EARLY=u1
<Directory "{d}/htdocs/rc">
    AllowOverride AuthConfig
    AuthType X509
    Require valid-user
    Header always set X-Out "expr=%{{REMOTE_USER}}|%{{X509_AUTHN_ERROR}}|%{{reqenv:EARLY}}"
</Directory>
""".format(d=srv.dir)

    def vh(conf):
        return {"verify": "require", "ca": m.path("trust.pem"), "conf": conf + tree}
    srv.start(server_extra=caches + "StartServers 2\nMinSpareThreads 32\n"
              "MaxSpareThreads 64\n<Location /metrics>\n    SetHandler "
              "x509authn-metrics\n    Require local\n</Location>\n", extra_vhosts={
                  "ocsp": vh(on + ca + "X509AuthnOCSP leaf\n"),
                  "fetch": vh(on + ca + "X509AuthnCRLFetch On\n"),
                  "off": vh(ca)})
    return srv


@pytest.fixture(scope="module")
def compose_pair(request, workroot, pki, module_so, m, crls):  # noqa: F811
    return (compose_server(request, workroot, pki, module_so, m, True),
            compose_server(request, workroot, pki, module_so, m, False))


def compose_requests(srv, vhost, name, dirs, way):
    """(status, X-Out) of each request: one connection per request, several
    on one keep-alive connection, or several HTTP/2 streams of one
    connection, all with the client certificate of `name`."""
    urls = [srv.url("/rc/%s/page.txt" % d, vhost) for d in dirs]
    if way == "conn":
        out = []
        for u in urls:
            r = curl(u, cert=srv.m[name])
            out.append((r.status, r.headers.get("x-out", "")))
        return out
    res = curl_multi(urls, cert=srv.m[name], http2=(way == "h2"), show="x-out")
    assert len(res) == len(urls), res
    assert sum(r[2] for r in res) == 1, "not one connection: %r" % res
    return [(r[0], r[3]) for r in res]


def test_composed_with_memo_htaccess_early_expr(compose_pair, m):  # noqa: F811
    """X509AuthnRevocationTLS's verdicts kept per process (the memo) against
    a server without them (X509AuthnCacheEntries 0), on a seeded random
    sequence (X509A_COMPOSE_SEED replays one): virtual hosts with other
    revocation settings, .htaccess serial rules rewritten between phases,
    an early ap_expr, one request per connection, keep-alive and HTTP/2.
    Every decision is the same on both and as the table says."""
    cached, oracle = compose_pair
    seed = int(os.environ.get("X509A_COMPOSE_SEED", "0")) or random.randrange(1, 1 << 30)
    print("X509A_COMPOSE_SEED=%d" % seed)
    rnd = random.Random(seed)
    seen = {"err": set(), "way": set(), "early": 0}
    for phase in range(3):
        rules = {d: (None if rnd.random() < 0.25 else
                     sorted(rnd.sample(COMPOSE_LEAVES, rnd.randrange(0, 8))))
                 for d in COMPOSE_DIRS}
        for srv in compose_pair:
            write_rules(srv, rules)
        # every refusal of the table in each phase, then random picks
        forced = [("ocsp", "u5"), ("ocsp", "u4"), ("fetch", "u6")]
        rnd.shuffle(forced)
        for b in range(14):
            vhost, name = forced[b] if b < len(forced) else (
                rnd.choice(sorted(COMPOSE_REFUSED)), rnd.choice(COMPOSE_LEAVES))
            way = rnd.choice(("conn", "keepalive", "h2"))
            dirs = [rnd.choice(COMPOSE_DIRS) for _ in range(1 if way == "conn"
                                                            else rnd.randrange(2, 5))]
            got_cached = compose_requests(cached, vhost, name, dirs, way)
            got_oracle = compose_requests(oracle, vhost, name, dirs, way)
            for d, gc, go in zip(dirs, got_cached, got_oracle):
                where = "seed %d phase %d batch %d %s %s %s/%s rules %r" % (
                    seed, phase, b, way, vhost, name, d, rules[d])
                assert gc == go, "memo %r, no memo %r: %s" % (gc, go, where)
                token = COMPOSE_REFUSED[vhost].get(name, "")
                admitted = rules[d]
                if not token and admitted is not None and name not in admitted:
                    token = "rule:Serial"
                user, err, early = (gc[1].split("|") + ["", "", ""])[:3]
                assert err == token, (gc, where)
                assert gc[0] == (403 if token else 200), (gc, where)
                if token:
                    assert user == "", (gc, where)
                else:
                    assert user == "CN=%s,O=Revocation Compose" % name, (gc, where)
                # the early expression saw the connection's certificate
                assert early == ("u1" if name == "u1" else ""), (gc, where)
                seen["early"] += early == "u1"
                seen["err"].add(token)
                seen["way"].add(way)
    assert {"revoked", "revocation-unknown", "rule:Serial", ""} <= seen["err"], seen
    assert seen["way"] == {"conn", "keepalive", "h2"}, seen
    # the memo answered for the cached server; the other verified each time
    assert verifications(cached) < verifications(oracle) / 2, \
        (verifications(cached), verifications(oracle))


def verifications(srv):
    r = curl(srv.url("/metrics", "off"), cert=srv.m["u0"])
    assert r.status == 200, r
    return sum(int(v) for v in re.findall(
        r'^x509authn_verifications_total\{result="\w+"\} (\d+)', r.text, re.M))
