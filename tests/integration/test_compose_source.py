"""Compositions around the certificate's source (issue 11, defects 2 and 8).

An early %{X509_*} look-up (SetEnvIfExpr in a virtual host, <If> on
%{X509_CLIENT_S_DN_O}) runs under the virtual host's settings, before the
directory's X509AuthnSource is known.  It must never decide for
authentication: each directory's source picks, every time.

After a password fallback (X509Authn On under AuthType Basic), %{X509_*}
describes the login that happened: nothing, when the certificate was refused.

Virtual hosts here:
    main     TLS, SSLVerifyClient optional, trusts 127.0.0.1 by address;
             SetEnvIfExpr on %{X509_CLIENT_S_DN_CN} (server scope, so it runs
             in post_read_request under the default source "any")
    require  TLS, SSLVerifyClient require, trusts only the proxy certificate
             (X509AuthnProxyRequire, as conf-examples/proxy-mtls-lb.conf), the
             same SetEnvIfExpr and an <If "%{X509_CLIENT_S_DN_O} == ..."> at virtual-host scope
    mixed    TLS, trusts 127.0.0.1 by address, no early look-up: the control
Untrusted peers connect from 127.0.0.2.
"""

import pytest

from clients import curl
from expect import ALICE_DN, A_DN, BOB_DN, ok, denied
import forwarded as F
from httpd import new_httpd, quote

UNTRUSTED = "127.0.0.2"
HDR = "X-SSL-Client-Cert"

LOCS = """
<Location /t/hdr>
    AuthType X509
    X509AuthnSource header
    Require valid-user
</Location>
<Location /t/tls>
    AuthType X509
    X509AuthnSource tls
    Require valid-user
</Location>
<Location /t/any>
    AuthType X509
    Require valid-user
</Location>
"""


def _fallback(h):
    basic = ('AuthType Basic\nAuthName "fallback"\nAuthBasicProvider file\n'
             'AuthUserFile %s\n' % quote(h.passwd))
    return """
<Location /t/fb-a>
    %s
    X509Authn On
    X509AuthnRequireIssuer %s
    Require valid-user
    RequestHeader set X-Expr-DN "expr=%%{X509_CLIENT_S_DN}"
    RequestHeader set X-Expr-Src "expr=%%{X509_AUTHN_SOURCE}"
</Location>
<Location /t/fb-a-tls-only>
    %s
    X509Authn On
    X509AuthnRequireIssuer %s
    AuthzSendForbiddenOnFailure On
    <RequireAll>
        Require valid-user
        Require expr "%%{X509_AUTHN_SOURCE} == 'tls'"
    </RequireAll>
</Location>
""" % (basic, quote(A_DN), basic, quote(A_DN))


@pytest.fixture(scope="module")
def h(request, workroot, pki, module_so, loopback_aliases):
    srv = new_httpd(request, workroot, pki, module_so, name="compose-source")
    proxy = pki["proxy"]
    early = 'SetEnvIfExpr "-n %{X509_CLIENT_S_DN_CN}" X509_EARLY_CN=1\n'
    vif = ("<If \"%{X509_CLIENT_S_DN_O} == 'Example Corp'\">\n"
           "    Header set X-Early-O yes\n</If>\n")
    locs = LOCS + _fallback(srv)
    vhost_extra = {
        "main": F.trust("127.0.0.1", ca=pki.ca_bundle) + early + locs,
        "require": F.trust(None, ca=pki.ca_bundle,
                           require=[("subject", proxy.subject),
                                    ("issuer", proxy.issuer)])
        + early + vif + locs,
        "mixed": F.trust("127.0.0.1", ca=pki.ca_bundle) + locs,
    }
    srv.start(vhost_extra=vhost_extra)
    return srv


def get(h, vhost, loc, cert=None, headers=None, source=None):
    extra = ["--interface", source] if source else None
    return curl(h.url("/t/%s/env" % loc, vhost), cert=cert, headers=headers,
                extra=extra)


@pytest.mark.parametrize("vhost", ["main", "mixed"])
def test_untrusted_tls_client_never_logs_in_at_a_header_location(h, pki, vhost):
    """Before the fix, the early look-up under "any" resolved alice's own
    TLS certificate and /t/hdr reused it: 200."""
    r = get(h, vhost, "hdr", cert=pki["alice"], source=UNTRUSTED)
    denied(r)
    # the control: the same client at a tls location logs in
    ok(get(h, vhost, "tls", cert=pki["alice"], source=UNTRUSTED), ALICE_DN)


@pytest.mark.parametrize("vhost", ["main", "mixed"])
def test_trusted_proxy_header_is_not_taken_at_a_tls_location(h, pki, vhost):
    """A trusted proxy (127.0.0.1) that forwards alice: /t/tls must not take
    the header (nor the proxy's own certificate)."""
    hdrs = ["%s: %s" % (HDR, F.der_b64(pki["alice"]))]
    denied(get(h, vhost, "tls", cert=pki["bob"], headers=hdrs))
    r = get(h, vhost, "hdr", cert=pki["bob"], headers=hdrs)
    assert ok(r, ALICE_DN)["X509_AUTHN_SOURCE"] == "header"


def test_early_lookup_still_sees_the_certificate(h, pki):
    """The early look-up itself keeps working (under the virtual host's
    settings): SetEnvIfExpr saw alice's CN."""
    r = get(h, "main", "tls", cert=pki["alice"], source=UNTRUSTED)
    env = ok(r, ALICE_DN)
    assert env.get("X509_EARLY_CN") == "1"


def test_mtls_lb_second_lb_failing_proxy_require(h, pki):
    """conf-examples/proxy-mtls-lb.conf plus an <If> on %{X509_*}: a second
    LB whose certificate fails X509AuthnProxyRequire, and a client that
    connects directly, must not log in with their own certificates."""
    hdrs = ["%s: %s" % (HDR, F.der_b64(pki["alice"]))]
    denied(get(h, "require", "hdr", cert=pki["bob"], headers=hdrs))
    denied(get(h, "require", "hdr", cert=pki["alice"]))
    # the real LB logs in its user
    r = get(h, "require", "hdr", cert=pki["proxy"], headers=hdrs)
    assert ok(r, ALICE_DN)["X509_AUTHN_SOURCE"] == "header"
    # the <If> ran: it saw bob directly (source any, not from a proxy)
    r = get(h, "require", "tls", cert=pki["bob"])
    ok(r, BOB_DN)
    assert r.headers.get("x-early-o") == "yes", r.headers


@pytest.mark.parametrize("http2", [False, True], ids=["http1.1", "h2"])
def test_refused_certificate_then_password_exports_nothing(h, pki, http2):
    """bob's certificate (CA B) is refused by X509AuthnRequireIssuer; his
    request logs in with basicuser's password.  %{X509_*} must not describe
    bob's certificate afterwards: before the fix X-Expr-DN carried his DN."""
    # from an untrusted address: the vhost trusts 127.0.0.1 as a proxy
    src = ["--interface", UNTRUSTED]
    r = curl(h.url("/t/fb-a/env", "mixed"), cert=pki["bob"],
             user="basicuser:s3cret", http2=http2, extra=src)
    assert r.status == 200, r
    env = r.env
    assert env["REMOTE_USER"] == "basicuser"
    assert env["AUTH_TYPE"] == "Basic"
    assert env.get("HTTP_X_EXPR_DN", "") == "", env.get("HTTP_X_EXPR_DN")
    assert env.get("HTTP_X_EXPR_SRC", "") == "", env.get("HTTP_X_EXPR_SRC")
    assert "X509_CLIENT_S_DN" not in env
    # an accepted certificate still describes itself
    r = curl(h.url("/t/fb-a/env", "mixed"), cert=pki["alice"], http2=http2,
             extra=src)
    env = ok(r, ALICE_DN)
    assert env["HTTP_X_EXPR_DN"] == ALICE_DN
    assert env["HTTP_X_EXPR_SRC"] == "tls"


def test_certificate_only_require_expr_refuses_password_login(h, pki):
    """Require expr "%{X509_AUTHN_SOURCE} == 'tls'" is meant for certificate
    logins: bob (refused certificate) with a valid password must not pass."""
    src = ["--interface", UNTRUSTED]
    r = curl(h.url("/t/fb-a-tls-only/env", "mixed"), cert=pki["bob"],
             user="basicuser:s3cret", extra=src)
    assert r.status == 403, r
    ok(curl(h.url("/t/fb-a-tls-only/env", "mixed"), cert=pki["alice"],
            extra=src), ALICE_DN)
