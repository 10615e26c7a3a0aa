"""X509AuthnExportSSLVars on a TLS virtual host behind a load balancer
(issue 11, defect 5).  The LB connects with its own client certificate
(pki["proxy"]); the virtual hosts say SSLOptions +StdEnvVars +ExportCertData,
so mod_ssl's fixup puts the LB's certificate under SSL_CLIENT_*.  After a
forwarded-certificate login with X509AuthnExportSSLVars On, SSL_CLIENT_*
describe the forwarded user everywhere an application looks: the CGI and SSI
environment, mod_headers %{...}s, mod_rewrite %{SSL:...} and %{ENV:...};
the module's own trust decisions still use the LB's TLS state.

    require  SSLVerifyClient require; trusts 127.0.0.1 with the LB's
             certificate (X509AuthnProxyRequire subject and issuer)
    noca     SSLVerifyClient optional_no_ca; trusts 127.0.0.1 by address
             (an LB certificate mod_ssl did not verify: FAILED:...)
    main     direct TLS only (control: mod_ssl's own values stay)
"""

import os

import pytest

from clients import curl
from expect import ALICE_DN, BOB_DN, ok, denied
import forwarded as F
from httpd import new_httpd

HDR = "X-SSL-Client-Cert"
MODULES = [("rewrite_module", "mod_rewrite.so"),
           ("include_module", "mod_include.so")]

# what applications read, besides the CGI environment itself
PROBES = """
    RequestHeader set X-SSL-DN "%{SSL_CLIENT_S_DN}s"
    RequestHeader set X-SSL-VERIFY "%{SSL_CLIENT_VERIFY}s"
    RequestHeader set X-SSL-I-DN-CN "%{SSL_CLIENT_I_DN_CN}s"
    RewriteEngine On
    RewriteCond %{SSL:SSL_CLIENT_S_DN_CN} ^(.*)$
    RewriteRule ^ - [E=RW_SSL_CN:%1]
    RewriteCond %{ENV:SSL_CLIENT_S_DN_CN} ^(.*)$
    RewriteRule ^ - [E=RW_ENV_CN:%1]
"""

HEADER_LOCS = """
<Location /t/ssl/>
    AuthType X509
    X509AuthnSource header
    X509AuthnExportSSLVars On
    Require valid-user
{probes}
</Location>
<Location /t/hdr/>
    AuthType X509
    X509AuthnSource header
    Require valid-user
{probes}
</Location>
<Location /t/rw-alice/>
    AuthType X509
    X509AuthnSource header
    X509AuthnExportSSLVars On
    Require valid-user
    RewriteEngine On
    RewriteCond %{{SSL:SSL_CLIENT_S_DN_CN}} !=alice
    RewriteRule ^ - [F]
</Location>
<Location /s/ssl/>
    AuthType X509
    X509AuthnSource header
    X509AuthnExportSSLVars On
    Require valid-user
</Location>
""".format(probes=PROBES)

DIRECT_LOCS = """
<Location /t/dssl/>
    AuthType X509
    X509AuthnExportSSLVars On
    Require valid-user
{probes}
</Location>
""".format(probes=PROBES)

SHTML = ('DN=[<!--#echo var="SSL_CLIENT_S_DN" -->] '
         'CN=[<!--#echo var="SSL_CLIENT_S_DN_CN" -->] '
         'VERIFY=[<!--#echo var="SSL_CLIENT_VERIFY" -->]\n')


@pytest.fixture(scope="module")
def h(request, workroot, pki, module_so):
    srv = new_httpd(request, workroot, pki, module_so, name="sslvars")
    os.makedirs(srv.path("htdocs/s/ssl"), exist_ok=True)
    for d in ("htdocs/s", "htdocs/s/ssl"):
        os.chmod(srv.path(d), 0o755)
    srv.write_file("htdocs/s/ssl/page.shtml", SHTML)
    proxy = pki["proxy"]
    server_extra = ('<Directory "%s">\n    Options +Includes\n'
                    '    AddOutputFilter INCLUDES .shtml\n</Directory>\n'
                    % srv.path("htdocs/s"))
    vhost_extra = {
        "require": F.trust("127.0.0.1", ca=pki.ca_bundle, crl=pki.crl_bundle,
                           require=[("subject", proxy.subject),
                                    ("issuer", proxy.issuer)]) + HEADER_LOCS,
        "noca": F.trust("127.0.0.1", ca=pki.ca_bundle) + HEADER_LOCS,
        "main": DIRECT_LOCS,
    }
    srv.start(vhost_extra=vhost_extra, extra_modules=MODULES, server_extra=server_extra)
    return srv


def via_lb(h, path, user=None, lb="proxy", vhost="require", http2=False, pki=None):
    headers = [HDR + ": " + F.der_b64(user)] if user is not None else []
    return curl(h.url(path, vhost), cert=pki[lb] if lb else None, headers=headers,
                http2=http2)


def pem_body(text):
    return "".join(line for line in (text or "").split()
                   if not line.startswith("-----") and "CERTIFICATE" not in line)


def ssl_client_vars(env):
    return {k: v for k, v in env.items() if k.startswith("SSL_CLIENT_")}


@pytest.mark.parametrize("http2", [False, True], ids=["h1", "h2"])
def test_cgi_sees_the_forwarded_user_not_the_lb(h, pki, http2):
    a, lb = pki["alice"], pki["proxy"]
    r = via_lb(h, "/t/ssl/env", a, http2=http2, pki=pki)
    env = ok(r, ALICE_DN)
    assert r.http_version == ("2" if http2 else "1.1")
    assert env["X509_AUTHN_SOURCE"] == "header"
    assert env["SSL_CLIENT_S_DN"] == a.subject, env["SSL_CLIENT_S_DN"]
    assert env["SSL_CLIENT_S_DN_CN"] == "alice"
    assert env["SSL_CLIENT_I_DN"] == a.issuer
    assert env["SSL_CLIENT_M_SERIAL"] == a.serial_hex
    assert env["SSL_CLIENT_VERIFY"] == "SUCCESS"
    assert pem_body(env["SSL_CLIENT_CERT"]) == pem_body(a.pem)
    # nothing of the LB's certificate is left under mod_ssl's names
    for k, v in ssl_client_vars(env).items():
        assert lb.subject not in v, (k, v)
        assert pem_body(v) != pem_body(lb.pem) or not pem_body(v), k
    for k in env:
        assert not k.startswith("SSL_CLIENT_CERT_RFC4523"), k
    # mod_headers %{...}s and mod_rewrite %{SSL:...} / %{ENV:...}
    assert env["HTTP_X_SSL_DN"] == a.subject, env["HTTP_X_SSL_DN"]
    assert env["HTTP_X_SSL_VERIFY"] == "SUCCESS"
    assert env["HTTP_X_SSL_I_DN_CN"] == "X509Authn Test Issuing CA A", env["HTTP_X_SSL_I_DN_CN"]
    assert env["RW_SSL_CN"] == "alice", env.get("RW_SSL_CN")
    assert env["RW_ENV_CN"] == "alice", env.get("RW_ENV_CN")
    # the module's own view of the LB is the LB's TLS certificate
    assert env["X509_PROXY_S_DN"] == lb.subject
    # the TLS connection itself is still described by mod_ssl
    assert env["HTTPS"] == "on" and env.get("SSL_PROTOCOL", "").startswith("TLS")
    assert "SSL_SERVER_S_DN" in env


def test_same_values_as_direct_mtls(h, pki):
    """Every SSL_CLIENT_* the module exports has the value mod_ssl gives
    the same certificate on a direct connection."""
    a = pki["alice"]
    direct = ok(curl(h.url("/t/dssl/env", "main"), cert=a), ALICE_DN)
    env = ok(via_lb(h, "/t/ssl/env", a, pki=pki), ALICE_DN)
    got = ssl_client_vars(env)
    skip = ("SSL_CLIENT_CERT_CHAIN_", "SSL_CLIENT_CERT_RFC4523_CEA", "SSL_CLIENT_CERT",
            "SSL_CLIENT_V_REMAIN")
    want = {k: v for k, v in ssl_client_vars(direct).items() if not k.startswith(skip)}
    assert len(want) > 12, sorted(want)
    assert {k: got.get(k) for k in want} == want
    # (the chain is the verified one here, anchor included)
    extra = {k for k in set(got) - set(ssl_client_vars(direct))
             if not k.startswith("SSL_CLIENT_CERT_CHAIN_")}
    assert not extra, extra


def test_bob_is_bob(h, pki):
    b = pki["bob"]
    env = ok(via_lb(h, "/t/ssl/env", b, pki=pki), BOB_DN)
    assert env["SSL_CLIENT_S_DN"] == b.subject
    assert env["HTTP_X_SSL_DN"] == b.subject
    assert env["RW_SSL_CN"] == "bob"


def test_rewrite_condition_on_ssl_variable(h, pki):
    """RewriteCond %{SSL:SSL_CLIENT_S_DN_CN} !=alice -> [F]: alice passes,
    bob is refused; the LB's own CN would refuse both."""
    ok(via_lb(h, "/t/rw-alice/env", pki["alice"], pki=pki), ALICE_DN)
    r = via_lb(h, "/t/rw-alice/env", pki["bob"], pki=pki)
    assert r.status == 403, r


@pytest.mark.parametrize("http2", [False, True], ids=["h1", "h2"])
def test_ssi_sees_the_forwarded_user(h, pki, http2):
    a = pki["alice"]
    r = via_lb(h, "/s/ssl/page.shtml", a, http2=http2, pki=pki)
    assert r.status == 200 and r.user == ALICE_DN, r
    assert r.text == "DN=[%s] CN=[alice] VERIFY=[SUCCESS]\n" % a.subject, r.text


def test_without_the_option_mod_ssl_describes_the_lb(h, pki):
    """"never otherwise": without X509AuthnExportSSLVars, SSL_CLIENT_* are
    mod_ssl's, i.e. the LB's own certificate."""
    lb = pki["proxy"]
    env = ok(via_lb(h, "/t/hdr/env", pki["alice"], pki=pki), ALICE_DN)
    assert env["SSL_CLIENT_S_DN"] == lb.subject
    assert env["HTTP_X_SSL_DN"] == lb.subject
    assert env["RW_SSL_CN"] == lb.subject.split("CN=")[1].split(",")[0]
    assert "SSL_CLIENT_CERT_RFC4523_CEA" in env


def test_direct_tls_login_keeps_mod_ssl_values(h, pki):
    a = pki["alice"]
    env = ok(curl(h.url("/t/dssl/env", "main"), cert=a), ALICE_DN)
    assert env["X509_AUTHN_SOURCE"] == "tls"
    assert env["SSL_CLIENT_S_DN"] == a.subject
    assert env["HTTP_X_SSL_DN"] == a.subject
    assert env["RW_SSL_CN"] == "alice"
    # only mod_ssl sets this one: its values were left alone
    assert env.get("SSL_CLIENT_CERT_RFC4523_CEA"), sorted(ssl_client_vars(env))


def test_proxy_require_still_decides_on_the_lb_certificate(h, pki):
    """The module's own look-ups reach mod_ssl: a client whose certificate
    is not the LB's is no trusted proxy (its header is not taken), and the
    LB's own certificate is never a user."""
    denied(via_lb(h, "/t/ssl/env", pki["alice"], lb="bob", pki=pki))
    denied(via_lb(h, "/t/ssl/env", None, pki=pki))
    ok(via_lb(h, "/t/ssl/env", pki["alice"], pki=pki), ALICE_DN)


def test_unverified_lb_certificate_is_not_reported_verified(h, pki):
    """noca trusts the LB by address; its certificate is one mod_ssl did
    not verify (GENEROUS).  After alice's login with ExportSSLVars On, the
    module's question about the LB's certificate must still get mod_ssl's
    answer, not alice's SUCCESS: X509_PROXY_S_DN stays unset."""
    a = pki["alice"]
    env = ok(via_lb(h, "/t/ssl/env", a, lb="selfsigned", vhost="noca", pki=pki), ALICE_DN)
    assert env["SSL_CLIENT_S_DN"] == a.subject
    assert env["SSL_CLIENT_VERIFY"] == "SUCCESS"
    assert "X509_PROXY_S_DN" not in env, env.get("X509_PROXY_S_DN")
