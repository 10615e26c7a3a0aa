"""The certificate can change on one connection: TLS 1.2 renegotiation and
TLS 1.3 post-handshake authentication.  The module keeps the parsed
certificate per connection; it must notice the change and decide every
request on the certificate presented now.

tests/tools/x509a_reneg (built by `make check`) sends several requests on one
TLS connection and presents a given certificate whenever the server asks
again; it prints "STATUS X-User" per request.
"""

import os
import subprocess

import pytest

from expect import A_DN
from httpd import new_httpd, locations, quote


def _tool():
    cands = []
    if os.environ.get("TOOLS_DIR"):
        cands.append(os.environ["TOOLS_DIR"])
    mod = os.environ.get("MODULE_SO")
    if mod:
        # MODULE_SO is BUILDDIR/.libs/mod_x509authn.so
        cands.append(os.path.join(os.path.dirname(os.path.dirname(mod)), "tests", "tools"))
    top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    cands += [os.path.join(top, "tests", "tools"),
              os.path.join(top, "build", "ci", "tests", "tools")]
    for d in cands:
        p = os.path.join(d, "x509a_reneg")
        if os.access(p, os.X_OK):
            return p
    pytest.fail("tests/tools/x509a_reneg not built (make check builds it; "
                "or set TOOLS_DIR)", pytrace=False)


LOCS = {
    # SSLVerifyClient none on the vhost: each Location asks for a certificate
    "rn-opt": "SSLVerifyClient optional\nAuthType X509\nX509AuthnUser cn\nRequire valid-user",
    "rn-req": "SSLVerifyClient require\nAuthType X509\nX509AuthnUser cn\nRequire valid-user",
    "rn-req-a": "SSLVerifyClient require\nAuthType X509\nX509AuthnUser cn\n"
                "X509AuthnRequireIssuer %s\nRequire valid-user" % quote(A_DN),
}


@pytest.fixture(scope="module")
def h(request, workroot, pki, module_so):
    srv = new_httpd(request, workroot, pki, module_so, name="reneg")
    srv.start(locations=locations(LOCS))
    return srv


def run(h, pki, steps, tls13=False):
    args = [_tool()] + (["-3"] if tls13 else []) + \
        ["127.0.0.1", str(h.port("perloc")), pki["root"].cert]
    for path, who in steps:
        if who is None:
            args += [path, "-", "-"]
        else:
            args += [path, pki[who].cert, pki[who].key]
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=30)
    assert p.returncode == 0, p.stderr.decode()
    return [tuple(line.split(" ", 1)) for line in p.stdout.decode().splitlines()]


def test_tls12_renegotiation_changes_certificate(h, pki):
    # none -> optional (renegotiation, alice) -> require (renegotiation, bob)
    # -> optional (no renegotiation: still bob) -> require (alice again)
    out = run(h, pki, [("/t/rn-opt/env", "alice"), ("/t/rn-req/env", "bob"),
                       ("/t/rn-opt/env", "bob"), ("/t/rn-req/env", "alice"),
                       ("/t/rn-opt/env", "alice")])
    assert out == [("200", "alice"), ("200", "bob"), ("200", "bob"),
                   ("200", "alice"), ("200", "alice")]


def test_tls12_rules_follow_the_new_certificate(h, pki):
    # alice (Issuing CA A) passes the issuer rule; after the renegotiation
    # bob (Issuing CA B) is presented and must be refused on the same
    # connection, then alice again accepted
    mark = h.log_mark()
    out = run(h, pki, [("/t/rn-opt/env", "alice"), ("/t/rn-req-a/env", "bob"),
                       ("/t/rn-opt/env", "bob"), ("/t/rn-req-a/env", "alice")])
    assert [s for s, _ in out] == ["200", "403", "200", "200"]
    assert out[0][1] == "alice" and out[3][1] == "alice"
    lines = h.wait_log(mark, r"X509A0111: certificate rejected: issuer DN not allowed")
    assert lines and 'CN=bob' in lines[0]


def test_tls13_post_handshake_authentication(h, pki):
    # no certificate at first (a public URL); the Location asks after the
    # handshake.  OpenSSL does one post-handshake authentication per
    # connection, so the certificate changes once: from none to alice.
    out = run(h, pki, [("/t/public/env", None), ("/t/rn-req/env", "alice"),
                       ("/t/rn-req/env", "alice")], tls13=True)
    assert out[0][0] == "200"
    assert out[1:] == [("200", "alice"), ("200", "alice")]
