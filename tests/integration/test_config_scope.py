"""Where the directives live: .htaccess (AuthConfig), nested Locations,
per-location SSLVerifyClient (renegotiation / TLS 1.3 post-handshake auth),
and configuration changes on graceful restart."""

import os

import pytest

from expect import A_DN, ALICE_DN, ok, denied
from httpd import new_httpd, locations, quote, ENV_CGI

HTACCESS = {
    "hta/x509": "AuthType X509\nX509AuthnRequireIssuer %s\nX509AuthnUser cn\n"
                "Require valid-user\n" % quote(A_DN),
    "hta/rules": "AuthType X509\nX509AuthnRequireSerial 0x2002\n"
                 "X509AuthnRequireEKU clientAuth\nX509AuthnRequireSPKI sha256:@BOBSPKI\n"
                 "Require valid-user\n",
    "hta/fb": 'AuthType Basic\nAuthName "hta"\nAuthBasicProvider file\n'
              'AuthUserFile @PASSWD\nX509Authn On\nRequire valid-user\n',
}


def _server_extra(h):
    return """
<Directory "{d}/htdocs/hta">
    AllowOverride AuthConfig
    Options +ExecCGI
    AddHandler cgi-script .py
</Directory>
""".format(d=h.dir)


def _locs(pki):
    return locations({
        "par": "AuthType X509\nX509AuthnRequireIssuer %s\nRequire valid-user" % quote(A_DN),
        "par/child": "X509AuthnUser cn",
        "pl-require": "SSLVerifyClient require\nSSLVerifyDepth 5\nAuthType X509\n"
                      "Require valid-user",
        "pl-optional": "SSLVerifyClient optional\nSSLVerifyDepth 5\nAuthType X509\n"
                       "Require valid-user",
        "pl-ica": "SSLVerifyClient require\nSSLVerifyDepth 5\nAuthType X509\n"
                  "X509AuthnRequireIssuingCA %s\nRequire valid-user" %
                  quote(pki["issuing-a"].cert),
        "rl": "AuthType X509\nX509AuthnRequireSerial 0x1001\nRequire valid-user",
        "rl-ica": "AuthType X509\nX509AuthnRequireIssuingCA @ICA\nRequire valid-user",
    })


@pytest.fixture(scope="module")
def h(request, workroot, pki, module_so):
    srv = new_httpd(request, workroot, pki, module_so, name="scope")
    for d, text in HTACCESS.items():
        os.makedirs(srv.path("htdocs/" + d), exist_ok=True)
        os.chmod(srv.path("htdocs/" + d), 0o755)
        os.chmod(srv.path("htdocs/hta"), 0o755)
        srv.write_file("htdocs/%s/env.py" % d, ENV_CGI, 0o755)
        srv.write_file("htdocs/%s/.htaccess" % d,
                       text.replace("@BOBSPKI", pki["bob"].spki_sha256)
                           .replace("@PASSWD", quote(srv.passwd)))
    srv.write_file("conf/ica.pem", pki["issuing-a"].pem)
    srv.start(locations=_locs(pki).replace("@ICA", quote(srv.path("conf/ica.pem"))),
              server_extra=_server_extra(srv))
    return srv


def get_hta(h, d, cert=None, **kw):
    from clients import curl
    if isinstance(cert, str):
        cert = h.pki[cert]
    return curl(h.url("/hta/%s/env.py" % d), cert=cert, **kw)


# -- .htaccess -------------------------------------------------------------------

def test_htaccess_authtype_x509(h):
    ok(get_hta(h, "x509", "alice"), "alice")
    ok(get_hta(h, "x509", "multiou"), "Users")   # the first CN
    denied(get_hta(h, "x509", "bob"))
    denied(get_hta(h, "x509"))


def test_htaccess_rules(h, pki):
    ok(get_hta(h, "rules", "bob"), pki["bob"].subject)
    denied(get_hta(h, "rules", "alice"))


def test_htaccess_fallback(h):
    ok(get_hta(h, "fb", "alice"), ALICE_DN)
    r = get_hta(h, "fb")
    assert r.status == 401
    r = get_hta(h, "fb", user="basicuser:s3cret")
    assert r.status == 200 and r.env["REMOTE_USER"] == "basicuser"


# -- nested Locations ---------------------------------------------------------------

def test_nested_location_inherits_rules(h):
    ok(h.get("par", "alice"), ALICE_DN)
    denied(h.get("par", "bob"))
    # the child sets only the identity: AuthType and the issuer rule stay
    ok(h.get("par/child", "alice"), "alice")
    denied(h.get("par/child", "bob"))
    denied(h.get("par/child"))


# -- per-location SSLVerifyClient ----------------------------------------------------

TLS_MAX = {"1.3": [], "1.2": ["--tls-max", "1.2"]}


@pytest.mark.parametrize("tls", ["1.2", "1.3"])
def test_per_location_verify_require(h, pki, tls):
    """The vhost asks for no certificate; the Location does (TLS 1.2
    renegotiation, TLS 1.3 post-handshake authentication)."""
    env = ok(h.get("pl-require", "alice", vhost="perloc", extra=TLS_MAX[tls]), ALICE_DN)
    assert env["SSL_PROTOCOL"] == "TLSv" + tls
    assert env["X509_CLIENT_I_DN"] == A_DN
    r = h.get("pl-require", vhost="perloc", extra=TLS_MAX[tls])
    assert r.status in (0, 403) and r.user == ""


@pytest.mark.parametrize("tls", ["1.2", "1.3"])
def test_per_location_verify_optional(h, pki, tls):
    ok(h.get("pl-optional", "bob", vhost="perloc", extra=TLS_MAX[tls]), pki["bob"].subject)
    denied(h.get("pl-optional", vhost="perloc", extra=TLS_MAX[tls]))


@pytest.mark.parametrize("tls", ["1.2", "1.3"])
def test_per_location_verify_issuing_ca(h, tls):
    ok(h.get("pl-ica", "alice", vhost="perloc", extra=TLS_MAX[tls]), ALICE_DN)
    denied(h.get("pl-ica", "bob", vhost="perloc", extra=TLS_MAX[tls]))


def test_per_location_verify_http2_client(h):
    """HTTP/2 forbids renegotiation: mod_ssl/mod_http2 make curl retry the
    request over HTTP/1.1, where it succeeds."""
    r = h.get("pl-require", "alice", vhost="perloc", http2=True)
    ok(r, ALICE_DN)


# -- graceful restart -----------------------------------------------------------------

def test_graceful_restart_applies_new_rules(h, pki):
    ok(h.get("rl", "alice"), ALICE_DN)
    denied(h.get("rl", "bob"))
    ok(h.get("rl-ica", "alice"), ALICE_DN)
    denied(h.get("rl-ica", "bob"))
    conf = h.last_conf
    try:
        h.write_file("conf/ica.pem", pki["issuing-b"].pem)
        h.reload(locations=conf["locations"].replace(
            "X509AuthnRequireSerial 0x1001", "X509AuthnRequireSerial 0x2002"),
            server_extra=conf["server_extra"])
        denied(h.get("rl", "alice"))
        ok(h.get("rl", "bob"), pki["bob"].subject)
        denied(h.get("rl-ica", "alice"))
        ok(h.get("rl-ica", "bob"), pki["bob"].subject)
    finally:
        h.write_file("conf/ica.pem", pki["issuing-a"].pem)
        h.reload(**conf)
    ok(h.get("rl", "alice"), ALICE_DN)
