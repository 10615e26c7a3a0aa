"""`X509Authn On` under AuthType Basic: a good certificate logs in without a
password; no certificate, or a rejected one, falls through to Basic."""

import pytest

from expect import ALICE_DN, B_DN, ok, rejection_lines
from httpd import locations, quote


def _locs(h):
    basic = ('AuthType Basic\nAuthName "fallback"\nAuthBasicProvider file\n'
             'AuthUserFile %s\n' % quote(h.passwd))
    return {
        "fb": basic + "X509Authn On\nRequire valid-user",
        "fb-issuer-b": basic + "X509Authn On\nX509AuthnRequireIssuer %s\n"
                               "Require valid-user" % quote(B_DN),
        "fb-cn": basic + "X509Authn On\nX509AuthnUser cn\nRequire user alice basicuser",
        "fb-upn": basic + "X509Authn On\nX509AuthnUser upn\nRequire valid-user",
        "basic-only": basic + "Require valid-user",
    }


@pytest.fixture(scope="module")
def h(request, workroot, pki, module_so):
    from httpd import new_httpd
    srv = new_httpd(request, workroot, pki, module_so, name="fallback")
    srv.start(locations=locations(_locs(srv)))
    return srv


def basic_ok(r, user):
    assert r.status == 200, r
    env = r.env
    assert env["REMOTE_USER"] == user
    assert env["AUTH_TYPE"] == "Basic"
    # no certificate was accepted: nothing exported
    assert "X509_CLIENT_S_DN" not in env and "X509_AUTHN_SOURCE" not in env
    return env


def prompt(r):
    assert r.status == 401, r
    assert r.headers.get("www-authenticate", "").startswith('Basic realm="fallback"'), \
        r.headers
    # (with a wrong password mod_auth_basic has already set r->user)
    assert r.headers.get("x-auth-type", "") in ("", "Basic"), r.headers


@pytest.mark.parametrize("http2", [False, True], ids=["http1.1", "h2"])
def test_certificate_logs_in_without_password(h, http2):
    r = h.get("fb", "alice", http2=http2)
    assert r.http_version == ("2" if http2 else "1.1")
    env = ok(r, ALICE_DN)
    assert env["X509_AUTHN_SOURCE"] == "tls"
    assert "www-authenticate" not in r.headers


@pytest.mark.parametrize("http2", [False, True], ids=["http1.1", "h2"])
def test_no_certificate_prompts(h, http2):
    prompt(h.get("fb", http2=http2))


def test_no_certificate_with_password(h):
    basic_ok(h.get("fb", user="basicuser:s3cret"), "basicuser")
    basic_ok(h.get("fb", user="basicuser:s3cret", http2=True), "basicuser")
    prompt(h.get("fb", user="basicuser:wrong"))


def test_certificate_wins_over_password(h):
    """The module runs first: an accepted certificate is the login even when
    the client also sends a password."""
    env = ok(h.get("fb", "alice", user="basicuser:s3cret"), ALICE_DN)
    assert env["AUTH_TYPE"] == "X509"


def test_rejected_certificate_prompts(h):
    mark = h.log_mark()
    prompt(h.get("fb-issuer-b", "alice"))
    assert rejection_lines(h, mark), "rejection not logged:\n" + h.log_since(mark)


def test_rejected_certificate_with_password(h):
    basic_ok(h.get("fb-issuer-b", "alice", user="basicuser:s3cret"), "basicuser")
    prompt(h.get("fb-issuer-b", "alice", user="basicuser:wrong"))


def test_accepted_by_rule(h, pki):
    ok(h.get("fb-issuer-b", "bob"), pki["bob"].subject)


def test_certificate_without_name_falls_back(h):
    prompt(h.get("fb-upn", "bob"))                    # bob has no UPN
    basic_ok(h.get("fb-upn", "bob", user="basicuser:s3cret"), "basicuser")
    ok(h.get("fb-upn", "alice"), "alice@corp.example.com")


def test_authz_on_certificate_user(h):
    ok(h.get("fb-cn", "alice"), "alice")
    # bob logs in by certificate as "bob", who is not allowed: 401 prompt
    r = h.get("fb-cn", "bob")
    assert r.status == 401
    basic_ok(h.get("fb-cn", user="basicuser:s3cret"), "basicuser")


def test_unverified_certificate_falls_back(h):
    """optional_no_ca lets an untrusted certificate through mod_ssl; the
    module must not accept it and Basic takes over."""
    prompt(h.get("fb", "lookalike", vhost="noca"))
    basic_ok(h.get("fb", "lookalike", vhost="noca", user="basicuser:s3cret"),
             "basicuser")
    ok(h.get("fb", "alice", vhost="noca"), ALICE_DN)


def test_plain_http_falls_back(h):
    prompt(h.get("fb", vhost="plain"))
    basic_ok(h.get("fb", vhost="plain", user="basicuser:s3cret"), "basicuser")


def test_basic_unaffected_without_x509authn_on(h):
    r = h.get("basic-only", "alice")
    prompt(r)
    basic_ok(h.get("basic-only", "alice", user="alice01:alicepw"), "alice01")


def test_spoofed_header_does_not_log_in(h, pki):
    der_b64 = "".join(pki["alice"].pem.strip().splitlines()[1:-1])
    prompt(h.get("fb", headers=["X-SSL-Client-Cert: " + der_b64]))
