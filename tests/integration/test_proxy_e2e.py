"""End to end behind real TLS-terminating proxies: curl --cert -> nginx or
HAProxy (mutual TLS) -> apache2 with the module -> the env CGI.

nginx connects to httpd from 127.0.0.3 (proxy_bind), HAProxy from 127.0.0.4
(source); each httpd virtual host trusts exactly its proxy's address.

    nginx  /e/...  $ssl_client_escaped_cert  -> vhost ngx   (X509AuthnHeader ... pem)
    nginx  /f/...  $ssl_client_cert (old, tab-folded with bare LF)
                                              -> vhost fold  (HttpProtocolOptions Unsafe)
    nginx  /m/...  over mutual TLS with the LB's own certificate ("proxy")
                                              -> vhost require (X509AuthnProxyRequire)
    HAProxy /t/... %[ssl_c_der,base64]        -> vhost hap   (der-base64)
"""

import os
import uuid

import pytest

from clients import curl, http_request
from expect import ALICE_DN, BOB_DN, ok, denied, INFO_RX
import forwarded as F
from httpd import new_httpd
from services import Nginx, HAProxy

NGINX_ADDR = "127.0.0.3"
HAPROXY_ADDR = "127.0.0.4"


@pytest.fixture(scope="module")
def h(request, workroot, pki, module_so, loopback_aliases):
    srv = new_httpd(request, workroot, pki, module_so, name="e2e")
    proxy = pki["proxy"]
    vh = {
        "ngx": F.trust(NGINX_ADDR, header="X-SSL-Client-Cert pem", ca=pki.ca_bundle,
                       crl=pki.crl_bundle) + F.proxy_locations(),
        "fold": F.trust(NGINX_ADDR, ca=pki.ca_bundle, crl=pki.crl_bundle)
        + "HttpProtocolOptions Unsafe\n" + F.proxy_locations(),
        "hap": F.trust(HAPROXY_ADDR, header="X-SSL-Client-Cert der-base64",
                       ca=pki.ca_bundle, crl=pki.crl_bundle) + F.proxy_locations(),
    }
    # the LB authenticates with its own certificate on mutual TLS
    require = F.trust(None, ca=pki.ca_bundle, crl=pki.crl_bundle,
                      require=[("subject", proxy.subject),
                               ("issuer", proxy.issuer)]) + F.proxy_locations()
    srv.start(extra_vhosts=vh, vhost_extra={"require": require})
    return srv


def nginx_servers(h, pki):
    srv = pki["server"]
    proxy = pki["proxy"]
    return """
    server {{
        listen 127.0.0.1:{{port}} ssl;
        server_name localhost;
        ssl_certificate {srv_bundle};
        ssl_certificate_key {srv_key};
        ssl_client_certificate {ca};
        ssl_verify_client optional;
        ssl_verify_depth 3;
        proxy_bind {addr};
        location /e/ {{
            proxy_set_header X-SSL-Client-Cert $ssl_client_escaped_cert;
            proxy_pass http://127.0.0.1:{ngx}/t/;
        }}
        location /f/ {{
            proxy_set_header X-SSL-Client-Cert $ssl_client_cert;
            proxy_pass http://127.0.0.1:{fold}/t/;
        }}
        location /m/ {{
            proxy_set_header X-SSL-Client-Cert $ssl_client_escaped_cert;
            proxy_pass https://127.0.0.1:{req}/t/;
            proxy_ssl_certificate {proxy_bundle};
            proxy_ssl_certificate_key {proxy_key};
            proxy_ssl_trusted_certificate {root};
            proxy_ssl_verify on;
            proxy_ssl_name localhost;
            proxy_ssl_server_name on;
        }}
    }}
""".format(srv_bundle=srv.bundle, srv_key=srv.key, ca=pki.ca_bundle, addr=NGINX_ADDR,
           ngx=h.port("ngx"), fold=h.port("fold"), req=h.port("require"),
           proxy_bundle=proxy.bundle, proxy_key=proxy.key, root=pki["root"].cert)


@pytest.fixture(scope="module")
def nginx(request, workroot, pki, h):
    n = Nginx(os.path.join(workroot, "nginx-" + uuid.uuid4().hex[:8]), pki)
    request.addfinalizer(n.stop)
    return n.start(nginx_servers(h, pki))


@pytest.fixture(scope="module")
def haproxy(request, workroot, pki, h):
    hp = HAProxy(os.path.join(workroot, "haproxy-" + uuid.uuid4().hex[:8]), pki)
    request.addfinalizer(hp.stop)
    return hp.start("""
frontend fe
    bind 127.0.0.1:{{port}} ssl crt {{crt}} ca-file {ca} verify optional
    http-request set-header X-SSL-Client-Cert %[ssl_c_der,base64]
    default_backend be
backend be
    source {addr}
    server app 127.0.0.1:{hap}
""".format(ca=pki.ca_bundle, addr=HAPROXY_ADDR, hap=h.port("hap")))


def via_nginx(nginx, path, cert=None, **kw):
    return curl("https://localhost:%d%s" % (nginx.port, path), cert=cert, **kw)


def via_haproxy(hp, path, cert=None, **kw):
    return curl("https://localhost:%d%s" % (hp.port, path), cert=cert, **kw)


def header_mode_env(env, cert, proxy_addr):
    assert env["X509_AUTHN_SOURCE"] == "header"
    assert env["X509_PROXY_ADDR"] == proxy_addr
    assert env["REMOTE_ADDR"] == proxy_addr
    assert env["X509_CLIENT_S_DN"] == cert.subject
    assert env["X509_CLIENT_I_DN"] == cert.issuer
    assert env["X509_CLIENT_M_SERIAL"] == cert.serial_hex
    assert env["X509_CLIENT_SERIAL_DEC"] == cert.serial_dec
    assert env["X509_CLIENT_FINGERPRINT_SHA256"] == cert.sha256
    assert env["X509_CLIENT_FINGERPRINT_SHA1"] == cert.sha1
    assert env["X509_CLIENT_V_END"] == cert.not_after
    # not a TLS connection to httpd: nothing of mod_ssl's
    assert "SSL_CLIENT_S_DN" not in env and "HTTPS" not in env


# -- nginx ---------------------------------------------------------------------------

def test_nginx_forwards_the_client_certificate(h, nginx, pki):
    a = pki["alice"]
    mark = h.log_mark()
    r = via_nginx(nginx, "/e/hdr/env", pki["alice"])
    env = ok(r, ALICE_DN)
    header_mode_env(env, a, NGINX_ADDR)
    assert env["X509_CLIENT_S_DN_CN"] == "alice"
    assert env["X509_CLIENT_S_DN_UID"] == "alice01"
    assert env["X509_CLIENT_SAN_Email_0"] == "alice@example.com"
    assert "X509_PROXY_S_DN" not in env     # nginx spoke plain HTTP to httpd
    # what nginx sent: the URL-encoded PEM
    assert env["HTTP_X_SSL_CLIENT_CERT"].startswith("-----BEGIN%20CERTIFICATE-----%0A")
    # not storable for others (RFC 9440 section 4); nginx passes Vary on
    assert "x-ssl-client-cert" in r.headers.get("vary", "").lower()
    log = h.log_since(mark)
    assert "X509A0101: Attempting to extract certificate from X-SSL-Client-Cert header" in log
    assert "X509A0102: User %s has been preauthenticated from %s" % (ALICE_DN, NGINX_ADDR) \
        in log, log


def test_nginx_other_users_and_identity(nginx, pki):
    env = ok(via_nginx(nginx, "/e/hdr/env", pki["bob"]), BOB_DN)
    assert env["X509_CLIENT_I_DN_CN"] == "X509Authn Test Issuing CA B"
    ok(via_nginx(nginx, "/e/cn/env", pki["alice"]), "alice")
    ok(via_nginx(nginx, "/e/any/env", pki["bob"]), BOB_DN)
    ok(via_nginx(nginx, "/e/expr-cn/env", pki["bob"]), BOB_DN)
    denied(via_nginx(nginx, "/e/expr-cn/env", pki["alice"]))


def test_nginx_without_client_certificate(h, nginx):
    mark = h.log_mark()
    denied(via_nginx(nginx, "/e/hdr/env"))
    lines = h.log_lines(mark, INFO_RX)
    assert len(lines) == 1 and "X509A0110" in lines[0], lines
    assert "no X-SSL-Client-Cert header from the trusted proxy" in lines[0]
    assert "client %s" % NGINX_ADDR in lines[0]


def test_nginx_replaces_a_forged_header(nginx, pki):
    """A client without a certificate sends its own X-SSL-Client-Cert to
    nginx: proxy_set_header replaces it (with nothing), httpd refuses."""
    forged = F.pem_escaped(pki["alice"])
    denied(via_nginx(nginx, "/e/hdr/env", headers=["X-SSL-Client-Cert: " + forged]))
    r = via_nginx(nginx, "/e/open/env", headers=["X-SSL-Client-Cert: " + forged])
    assert r.status == 200 and "HTTP_X_SSL_CLIENT_CERT" not in r.env
    # with a certificate, the forged value is replaced by the real one
    env = ok(via_nginx(nginx, "/e/hdr/env", pki["bob"],
                       headers=["X-SSL-Client-Cert: " + forged]), BOB_DN)
    assert env["X509_CLIENT_S_DN_CN"] == "bob"


def test_direct_request_bypassing_nginx_is_not_trusted(h, pki):
    """The same header sent straight to httpd (from 127.0.0.1, not nginx's
    127.0.0.3) is removed before the CGI sees it."""
    value = F.pem_escaped(pki["alice"])
    mark = h.log_mark()
    r = http_request(h.port("ngx"), "/t/open/env", [("X-SSL-Client-Cert", value)])
    assert r.status == 200
    assert "HTTP_X_SSL_CLIENT_CERT" not in r.env
    assert h.log_lines(mark, r"X509A0201: removed X-SSL-Client-Cert header from a "
                             r"request of 127\.0\.0\.1, which is not a trusted proxy")
    denied(http_request(h.port("ngx"), "/t/hdr/env", [("X-SSL-Client-Cert", value)]))


def test_nginx_old_tab_folded_cert(h, nginx, pki):
    """$ssl_client_cert: PEM whose lines after the first start with a tab,
    sent by nginx as obs-fold with bare LF line ends (httpd needs
    HttpProtocolOptions Unsafe to accept bare LF)."""
    mark = h.log_mark()
    env = ok(via_nginx(nginx, "/f/hdr/env", pki["alice"]), ALICE_DN)
    header_mode_env(env, pki["alice"], NGINX_ADDR)
    assert "X509A0102" in h.log_since(mark)


def test_nginx_mutual_tls_to_httpd(h, nginx, pki):
    """nginx authenticates to httpd with its own certificate; the user is the
    one in the header; the LB's certificate is never the user."""
    env = ok(via_nginx(nginx, "/m/hdr/env", pki["alice"]), ALICE_DN)
    assert env["X509_AUTHN_SOURCE"] == "header"
    assert env["X509_CLIENT_FINGERPRINT_SHA256"] == pki["alice"].sha256
    assert env["X509_PROXY_S_DN"] == pki["proxy"].subject
    assert env["X509_PROXY_ADDR"] == NGINX_ADDR
    # mod_ssl verified the LB's certificate on this connection
    assert env["SSL_CLIENT_S_DN"] == pki["proxy"].subject
    assert env["SSL_CLIENT_VERIFY"] == "SUCCESS"
    ok(via_nginx(nginx, "/m/any/env", pki["bob"]), BOB_DN)
    # no user certificate: the LB's own is not taken instead
    for loc in ("hdr", "any", "tls"):
        denied(via_nginx(nginx, "/m/%s/env" % loc))
    denied(via_nginx(nginx, "/m/tls/env", pki["alice"]))


# -- HAProxy ---------------------------------------------------------------------

def test_haproxy_forwards_the_client_certificate(h, haproxy, pki):
    a = pki["alice"]
    mark = h.log_mark()
    r = via_haproxy(haproxy, "/t/hdr/env", a)
    env = ok(r, ALICE_DN)
    header_mode_env(env, a, HAPROXY_ADDR)
    assert env["HTTP_X_SSL_CLIENT_CERT"] == F.der_b64(a)
    assert "x-ssl-client-cert" in r.headers.get("vary", "").lower()
    assert "X509A0102: User %s has been preauthenticated from %s" % (
        ALICE_DN, HAPROXY_ADDR) in h.log_since(mark)


def test_haproxy_bob_and_ssl_vars(haproxy, pki):
    b = pki["bob"]
    env = ok(via_haproxy(haproxy, "/t/ssl/env", b), BOB_DN)
    assert env["SSL_CLIENT_S_DN"] == b.subject
    assert env["SSL_CLIENT_I_DN"] == b.issuer
    assert env["SSL_CLIENT_VERIFY"] == "SUCCESS"
    assert env["SSL_CLIENT_M_SERIAL"] == b.serial_hex
    assert F.pem_body(b) == "".join(env["SSL_CLIENT_CERT"].strip().split("\n")[1:-1])


def test_haproxy_without_client_certificate(h, haproxy, pki):
    """verify optional and no certificate: HAProxy sets an empty header,
    which means "no certificate"."""
    mark = h.log_mark()
    denied(via_haproxy(haproxy, "/t/hdr/env"))
    lines = h.log_lines(mark, INFO_RX)
    assert len(lines) == 1 and "X509A0110" in lines[0], lines
    assert "forwarded no certificate" in lines[0], lines
    # a forged header is overwritten by set-header
    denied(via_haproxy(haproxy, "/t/hdr/env",
                       headers=["X-SSL-Client-Cert: " + F.der_b64(pki["alice"])]))
