"""The migration guides' examples (docs/migrate-*.md, conf-examples/migrate-*)
run as written, with real clients, against the test PKI.

Each example is read from conf-examples/, its file names pointed at the test
PKI, its documentation DNs (Example Corp CAs) replaced by the test PKI's,
its `<VirtualHost *:N>` moved to a free 127.0.0.1 port and its proxy
addresses (192.0.2.x) replaced by 127.0.0.1; nothing else changes.

    mod_ssl   migrate-mod_ssl.before.conf (mod_ssl alone: SSLUserName,
              FakeBasicAuth, SSLRequire, Require expr on SSL_CLIENT_*) and
              migrate-mod_ssl.conf (mod_x509authn) in one server: the same
              status and REMOTE_USER for the same clients everywhere
    nginx     real nginx with migrate-nginx.before.nginx and httpd with
              migrate-nginx.conf in front of one backend: the same
              X-SSL-Client-* fields (UTF-8 DNs aside, see the guide)
    iis       migrate-iis.conf + migrate-iis.map: one-to-one by fingerprint
              and by issuer+serial, many-to-one, unmapped refused
    keycloak  migrate-keycloak.conf: SSL_CLIENT_CERT + CERT_CHAIN_0 from the
              trusted proxy, user from the SAN e-mail, revoked refused,
              missing chain refused
    bigip     migrate-bigip.conf: the load balancer's own client certificate
              (X509AuthnProxyRequire), DER and URL-encoded PEM values, the
              HACloud debug lines, another balancer refused; and the CRL
              trap: a CRL file with the issuing CA's CRL only refuses
"""

import os
import re
import socket
import time

import pytest

from clients import curl, http_request
import forwarded as F
from httpd import free_port, htpasswd_line, new_httpd
import services

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = os.path.join(TOP, "conf-examples")
A_DN = "CN=X509Authn Test Issuing CA A,O=X509Authn Test,C=US"
B_DN = "CN=X509Authn Test Issuing CA B,O=X509Authn Test,C=US"
ALICE_PLACEHOLDER = "5D7A1C093E448B21F06AD7901255C38EAA0142779BEF60135C0D2E887194B6C0"


def example(name):
    with open(os.path.join(EXAMPLES, name)) as f:
        return f.read()


def names(pki):
    """Documentation names -> the test PKI's."""
    return [
        ("CN=Example Issuing CA,O=Example Corp,C=US", A_DN),
        ("CN=Example Partner CA,O=Example Corp,C=US", B_DN),
        ("CN=Example Infrastructure CA,O=Example Corp,C=US", B_DN),
        ("CN=bigip1.example.com,OU=Proxies,O=Example Corp,C=US",
         pki["proxy"].subject),
        (ALICE_PLACEHOLDER, pki["alice"].sha256),
    ]


def files(pki, d, crl=None):
    """The examples' file names -> test files."""
    server = pki.cert("server")
    crl = crl or pki.crl_bundle
    return {
        "/etc/ssl/certs/www.example.com.pem": server.bundle,
        "/etc/ssl/private/www.example.com.key": server.key,
        "/etc/ssl/clients/ca-bundle.pem": pki.ca_bundle,
        "/etc/ssl/clients/crl-bundle.pem": crl,
        "/etc/ssl/infra/infra-ca-bundle.pem": pki.ca_bundle,
        "/etc/apache2/fakebasic.htpasswd": os.path.join(d, "fakebasic.htpasswd"),
        "/etc/apache2/x509/migrate-iis.map": os.path.join(d, "migrate-iis.map"),
        "/etc/apache2/x509/client-ca.pem": pki.ca_bundle,
        "/etc/apache2/x509/client-root-ca.pem": pki["root"].cert,
        "/etc/apache2/x509/client-crls.pem": crl,
        "/etc/nginx/certs/www.example.com.pem": server.bundle,
        "/etc/nginx/private/www.example.com.key": server.key,
        "/etc/nginx/certs/client-ca-bundle.pem": pki.ca_bundle,
        "/etc/nginx/certs/client-crls.pem": crl,
    }


def localize(text, pki, d, port, crl=None, backend=None):
    """The example as the test runs it (see the module docstring)."""
    for doc, test in names(pki):
        text = text.replace(doc, test)
    paths = files(pki, d, crl)
    text = re.sub(r"/etc/[A-Za-z0-9_./-]+", lambda m: paths[m.group(0)], text)
    text = re.sub(r"<VirtualHost \*:\d+>", "Listen 127.0.0.1:%d\n"
                  "<VirtualHost 127.0.0.1:%d>" % (port, port), text)
    text = re.sub(r"\blisten 443 ssl;", "listen 127.0.0.1:%d ssl;" % port, text)
    text = re.sub(r"\b192\.0\.2\.\d+\b", "127.0.0.1", text)
    if backend:
        text = text.replace("http://127.0.0.1:8080", "http://127.0.0.1:%d" % backend)
    assert "example.com.pem" not in text and "Example Issuing CA" not in text
    return text


def wait_listen(port, timeout=10):
    deadline = time.time() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.05)


@pytest.fixture(scope="module")
def site(request, workroot, pki, module_so):
    """One httpd with every httpd example on a port of its own."""
    h = new_httpd(request, workroot, pki, module_so, name="migrations")
    d = h.dir
    h.write_file("fakebasic.htpasswd",
                 htpasswd_line(pki["alice"].subject_legacy, "password"))
    h.write_file("migrate-iis.map", localize(example("migrate-iis.map"), pki, d, 0))
    for loc in ("app", "fakebasic", "engineering", "ops", "b2b"):
        os.makedirs(h.path("htdocs/" + loc), exist_ok=True)
        os.chmod(h.path("htdocs/" + loc), 0o755)
        h.write_file("htdocs/%s/index.html" % loc, "ok\n")
    backend = services.Backend().start()
    request.addfinalizer(backend.stop)
    ports = {}
    parts = []
    for key, name, kw in [
            ("modssl-before", "migrate-mod_ssl.before.conf", {}),
            ("modssl", "migrate-mod_ssl.conf", {}),
            ("nginx", "migrate-nginx.conf", {"backend": backend.port}),
            ("iis", "migrate-iis.conf", {}),
            ("keycloak", "migrate-keycloak.conf", {}),
            ("bigip", "migrate-bigip.conf", {}),
            # the trap: the issuing CA's CRL only
            ("bigip-one-crl", "migrate-bigip.conf",
             {"crl": pki.crl["issuing-a"]})]:
        ports[key] = free_port(set(ports.values()) | set(h.ports.values()))
        parts.append(localize(example(name), pki, d, ports[key], **kw))
    rc, out = h.configtest(server_extra="\n".join(parts), extra_modules=[
        ("proxy_module", "mod_proxy.so"), ("proxy_http_module", "mod_proxy_http.so")])
    assert rc == 0 and "Syntax OK" in out, out
    h.start(server_extra="\n".join(parts), extra_modules=[
        ("proxy_module", "mod_proxy.so"), ("proxy_http_module", "mod_proxy_http.so")])
    for p in ports.values():
        wait_listen(p)
    h.example_ports = ports
    h.backend = backend
    return h


def get(site, key, path, cert=None, **kw):
    port = site.example_ports[key]
    return curl("https://localhost:%d%s" % (port, path), cert=cert, **kw)


# -- mod_ssl ---------------------------------------------------------------------

@pytest.mark.parametrize("who", ["alice", "bob", "multiou", "utf8"])
@pytest.mark.parametrize("path", ["/app/index.html", "/fakebasic/index.html", "/engineering/index.html", "/ops/index.html"])
def test_mod_ssl_migration_same_answers(site, pki, who, path):
    """mod_ssl alone and mod_x509authn: same status, same REMOTE_USER,
    except (as the guide says) on a 403 from a Require that does not
    depend on the user: httpd refuses before authentication, so there is
    no REMOTE_USER, where SSLUserName had set one."""
    cert = pki[who]
    before = get(site, "modssl-before", path, cert=cert)
    after = get(site, "modssl", path, cert=cert)
    assert before.status in (200, 401, 403), before
    assert after.status == before.status, (before, after)
    if after.status == 403:
        # SSL_CLIENT_S_DN_CN: the first CN in the certificate, the last
        # one in the RFC 4514 string
        assert before.headers.get("x-user") == re.findall(
            r"(?:^|,)CN=([^,]+)", cert.subject)[-1]
        assert after.headers.get("x-user", "") == ""
    else:
        assert after.headers.get("x-user") == before.headers.get("x-user"), \
            (before, after)


def test_mod_ssl_migration_expected_users(site, pki):
    """What the guide says each location gives (so that the comparison
    above compares something)."""
    a, b = pki["alice"], pki["bob"]
    r = get(site, "modssl", "/app/index.html", cert=a)
    assert r.status == 200 and r.headers.get("x-user") == "alice"
    r = get(site, "modssl", "/fakebasic/index.html", cert=a)
    assert r.status == 200 and r.headers.get("x-user") == a.subject_legacy
    assert get(site, "modssl", "/fakebasic/index.html", cert=b).status == 401
    assert get(site, "modssl", "/engineering/index.html", cert=a).status == 200
    assert get(site, "modssl", "/engineering/index.html", cert=b).status == 403
    r = get(site, "modssl", "/ops/index.html", cert=b)
    assert r.status == 200 and r.headers.get("x-user") == "bob"
    assert get(site, "modssl", "/ops/index.html", cert=a).status == 403


# -- nginx -----------------------------------------------------------------------

X_FIELDS = ("X-SSL-Client-S-DN", "X-SSL-Client-I-DN", "X-SSL-Client-Serial",
            "X-SSL-Client-Fingerprint", "X-SSL-Client-Verify")


@pytest.fixture(scope="module")
def nginx_before(request, workroot, pki, site):
    n = services.Nginx(os.path.join(workroot, "nginx-migration"), pki)
    services.REGISTRY.append(n)
    servers = localize(example("migrate-nginx.before.nginx"), pki, n.dir, n.port,
                       backend=site.backend.port)
    n.start(servers)

    def fin():
        n.stop()
        services.REGISTRY.remove(n)
    request.addfinalizer(fin)
    return n


def backend_fields(site, resp):
    assert resp.status == 200, resp
    got = dict((k.lower(), v.encode("latin-1").decode("utf-8"))
               for k, v in site.backend.fields(resp.tag))
    return {f: got.get(f.lower()) for f in X_FIELDS}


def test_nginx_migration_same_fields(site, pki, nginx_before):
    for who in ("alice", "bob", "multiou"):
        cert = pki[who]
        before = backend_fields(site, curl("https://localhost:%d/app/x"
                                           % nginx_before.port, cert=cert))
        after = backend_fields(site, get(site, "nginx", "/app/x", cert=cert))
        assert after == before, who
        assert after["X-SSL-Client-S-DN"] == cert.subject
        assert after["X-SSL-Client-Verify"] == "SUCCESS"
        assert after["X-SSL-Client-Fingerprint"] == cert.sha1.lower()


def test_nginx_migration_utf8_dn(site, pki, nginx_before):
    """nginx escapes non-ASCII bytes in $ssl_client_s_dn (\\C3\\BC);
    X509_CLIENT_S_DN is UTF-8, as mod_ssl's SSL_CLIENT_S_DN."""
    cert = pki["utf8"]
    before = backend_fields(site, curl("https://localhost:%d/app/x"
                                       % nginx_before.port, cert=cert))
    after = backend_fields(site, get(site, "nginx", "/app/x", cert=cert))
    assert after["X-SSL-Client-S-DN"] == "CN=J\u00fcrgen M\u00fcller,O=B\u00fccher GmbH,C=DE"
    assert before["X-SSL-Client-S-DN"] == "CN=J\\C3\\BCrgen M\\C3\\BCller,O=B\\C3\\BCcher GmbH,C=DE"
    for f in X_FIELDS[1:]:
        assert after[f] == before[f], f


def test_nginx_migration_refusals(site, pki, nginx_before):
    """Without a certificate both answer 403 and the backend sees nothing;
    a client's own X-SSL-Client-S-DN never reaches the backend."""
    for r in (curl("https://localhost:%d/app/x" % nginx_before.port),
              get(site, "nginx", "/app/x")):
        assert r.status == 403
        assert r.tag not in site.backend.requests
    fields = backend_fields(site, get(site, "nginx", "/app/x", cert=pki["alice"],
                                      headers=["X-SSL-Client-S-DN: CN=admin"]))
    assert fields["X-SSL-Client-S-DN"] == pki["alice"].subject


# -- IIS -------------------------------------------------------------------------

def test_iis_migration(site, pki):
    cases = [("alice", 200, "partner-acme"),        # one-to-one, fingerprint
             ("utf8", 200, "partner-globex"),       # one-to-one, issuer+serial
             ("bob", 200, "example-staff"),         # many-to-one
             ("multiou", 403, ""),                  # not mapped
             ("escaped", 403, "")]
    for who, status, user in cases:
        mark = site.log_mark()
        r = get(site, "iis", "/b2b/index.html", cert=pki[who])
        assert (r.status, r.headers.get("x-user", "")) == (status, user), who
        if status == 403:
            assert site.wait_log(mark, r"X509A0111: certificate rejected: not "
                                 r"mapped by X509AuthnUserMap")


# -- Keycloak --------------------------------------------------------------------

def kc(site, fields):
    return http_request(site.example_ports["keycloak"], "/t/kc/env", fields)


def test_keycloak_migration(site, pki):
    a, ca_a = pki["alice"], pki["issuing-a"]
    # as httpd's mod_headers forwards %{SSL_CLIENT_CERT}s: line breaks as spaces
    r = kc(site, [("SSL_CLIENT_CERT", F.pem_spaces(a)),
                  ("CERT_CHAIN_0", F.pem_spaces(ca_a))])
    assert r.status == 200, r
    assert r.headers.get("x-user") == "alice@example.com"
    assert r.env["HTTP_X_REMOTE_USER"] == "alice@example.com"
    # bob has no SAN e-mail: the subject's emailAddress
    r = kc(site, [("SSL_CLIENT_CERT", F.pem_escaped(pki["bob"])),
                  ("CERT_CHAIN_0", F.pem_escaped(pki["issuing-b"]))])
    assert r.status == 200 and r.headers.get("x-user") == "bob@example.com"
    # Keycloak's example regular expression on the subject DN
    r = http_request(site.example_ports["keycloak"], "/dn-regex/t",
                     [("SSL_CLIENT_CERT", F.pem_escaped(pki["bob"])),
                      ("CERT_CHAIN_0", F.pem_escaped(pki["issuing-b"]))])
    assert r.headers.get("x-user") == "bob@example.com", r
    # alice's subject has no emailAddress: no name, refused
    r = http_request(site.example_ports["keycloak"], "/dn-regex/t",
                     [("SSL_CLIENT_CERT", F.pem_escaped(a)),
                      ("CERT_CHAIN_0", F.pem_escaped(ca_a))])
    assert r.status == 403 and not r.headers.get("x-user"), r


def test_keycloak_migration_refusals(site, pki):
    ca_a = pki["issuing-a"]
    for fields, why in [
            # the truststore holds the root only: the chain must come along
            ([("SSL_CLIENT_CERT", F.pem_spaces(pki["alice"]))],
             r"unable to get local issuer certificate"),
            ([("SSL_CLIENT_CERT", F.pem_spaces(pki["revoked"])),
              ("CERT_CHAIN_0", F.pem_spaces(ca_a))], r"certificate revoked"),
            # no clientAuth (refused by the verification's purpose check)
            ([("SSL_CLIENT_CERT", F.pem_spaces(pki["serveronly"])),
              ("CERT_CHAIN_0", F.pem_spaces(ca_a))],
             r"unsuitable certificate purpose"),
            # no e-mail address: Keycloak finds no identity either
            ([("SSL_CLIENT_CERT", F.pem_spaces(pki["smime"])),
              ("CERT_CHAIN_0", F.pem_spaces(ca_a))],
             r"no X509AuthnUser field yields a user name")]:
        mark = site.log_mark()
        r = kc(site, fields)
        assert r.status == 403, r
        assert site.wait_log(mark, r"X509A0111: certificate rejected: .*(%s)" % why), why


# -- BIG-IP / HACloud --------------------------------------------------------------

HDR = "X-SSL-Client-Cert"


def test_bigip_migration(site, pki):
    a = pki["alice"]
    for value in (F.der_b64(a), F.pem_escaped(a)):
        mark = site.log_mark()
        r = get(site, "bigip", "/t/bigip/env", cert=pki["proxy"],
                headers=["%s: %s" % (HDR, value)])
        assert r.status == 200, r
        assert r.headers.get("x-user") == a.subject
        env = r.env
        assert env["SSL_CLIENT_S_DN"] == a.subject
        assert env["SSL_CLIENT_VERIFY"] == "SUCCESS"
        assert site.wait_log(mark, r"X509A0101: Attempting to extract certificate "
                             r"from X-SSL-Client-Cert header")
        assert site.wait_log(mark, r"X509A0102: User %s has been preauthenticated "
                             r"from 127\.0\.0\.1" % re.escape(a.subject))


def test_bigip_migration_other_balancer(site, pki):
    """A TLS client whose certificate is not the BIG-IP's is no proxy: its
    header is removed and it is refused."""
    mark = site.log_mark()
    r = get(site, "bigip", "/t/bigip/env", cert=pki["proxy-other"],
            headers=["%s: %s" % (HDR, F.der_b64(pki["alice"]))])
    assert r.status == 403
    assert site.wait_log(mark, r"X509A0202: peer is not a trusted proxy: its "
                         r"certificate fails X509AuthnProxyRequire")


def test_bigip_migration_crl_trap(site, pki):
    """X509AuthnCARevocationFile with the issuing CA's CRL only: every
    forwarded certificate is refused (the root's CRL is missing)."""
    mark = site.log_mark()
    r = get(site, "bigip-one-crl", "/t/bigip/env", cert=pki["proxy"],
            headers=["%s: %s" % (HDR, F.der_b64(pki["alice"]))])
    assert r.status == 403
    assert site.wait_log(mark, r"X509A0111: certificate rejected: verification "
                         r"failed at depth 1: unable to get certificate CRL")
