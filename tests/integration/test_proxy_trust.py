"""Who may forward a certificate: X509AuthnTrustedProxy (the real TCP peer,
never what mod_remoteip makes of it), X509AuthnProxyRequire (the proxy's own
mod_ssl-verified certificate), and header stripping for everybody else: no
handler, CGI or mod_proxy backend ever sees a certificate header from an
untrusted peer; trailers and MergeTrailers; Vary and mod_cache.

Untrusted requests come from 127.0.0.2 (curl --interface / a bound socket)
while the virtual hosts trust 127.0.0.1.

Virtual hosts of the httpd here:
    auto     plain HTTP, trusts 127.0.0.1, chain headers X-SSL-Client-Chain-N,
             /p/ -> Python backend, /c/ under mod_cache
    rip      mod_remoteip: RemoteIPTrustedProxy 127.0.0.2
    ripi     mod_remoteip: RemoteIPInternalProxy 127.0.0.1 127.0.0.2
    main     TLS (SSLVerifyClient optional), trusts 127.0.0.1 by address only
    require  TLS (SSLVerifyClient require), trusts 127.0.0.1 AND the proxy
             certificate (subject, issuer, sha256)
    mixed    TLS (SSLVerifyClient optional), trusts the proxy certificate by
             serial and sha1 only (any address)
    plain    no forwarded certificates configured at all (control)
"""

import os
import re
import time

import pytest

from clients import curl, http_request
from expect import ALICE_DN, BOB_DN, ok, denied, INFO_RX
import forwarded as F
from httpd import new_httpd
from services import Backend

UNTRUSTED = "127.0.0.2"
HDR = "X-SSL-Client-Cert"
CACHED = "<html>cached page</html>\n"

MODULES = [("remoteip_module", "mod_remoteip.so"),
           ("proxy_module", "mod_proxy.so"),
           ("proxy_http_module", "mod_proxy_http.so"),
           ("cache_module", "mod_cache.so"),
           ("cache_socache_module", "mod_cache_socache.so")]


@pytest.fixture(scope="module")
def backend(request):
    b = Backend().start()
    request.addfinalizer(b.stop)
    return b


@pytest.fixture(scope="module")
def h(request, workroot, pki, module_so, backend, loopback_aliases):
    srv = new_httpd(request, workroot, pki, module_so, name="trust")
    for d in ("c", "c/open", "c/hdr"):
        os.makedirs(srv.path("htdocs/" + d), exist_ok=True)
        os.chmod(srv.path("htdocs/" + d), 0o755)
    srv.write_file("htdocs/c/open/page.html", CACHED)
    srv.write_file("htdocs/c/hdr/page.html", CACHED)
    proxy = pki["proxy"]
    cache = """
CacheEnable socache /c/
CacheSocache shmcb
CacheQuickHandler On
CacheHeader On
<Location /c/>
    Header set Cache-Control "public, max-age=600"
</Location>
<Location /c/hdr/>
    AuthType X509
    X509AuthnSource header
    Require valid-user
</Location>
"""
    locs = F.proxy_locations(backend_port=backend.port)
    vh = {
        "auto": F.trust(chain="X-SSL-Client-Chain-*", ca=pki.ca_bundle, crl=pki.crl_bundle)
        + locs + cache,
        "rip": F.trust(ca=pki.ca_bundle) + "RemoteIPHeader X-Forwarded-For\n"
        "RemoteIPTrustedProxy %s\n" % UNTRUSTED + locs,
        "ripi": F.trust(ca=pki.ca_bundle) + "RemoteIPHeader X-Forwarded-For\n"
        "RemoteIPInternalProxy 127.0.0.1 %s\n" % UNTRUSTED + locs,
    }
    vhost_extra = {
        "main": F.trust("127.0.0.1", ca=pki.ca_bundle) + locs,
        "require": F.trust("127.0.0.1", ca=pki.ca_bundle, crl=pki.crl_bundle,
                           require=[("subject", proxy.subject),
                                    ("issuer", proxy.issuer),
                                    ("sha256", proxy.sha256_colons)]) + locs,
        "mixed": F.trust(None, ca=pki.ca_bundle,
                         require=[("serial", "0x%s" % proxy.serial_hex),
                                  ("sha1", proxy.sha1)]) + locs,
        "plain": "<Location /p/>\n    ProxyPass http://127.0.0.1:%d/\n</Location>\n"
                 % backend.port,
    }
    trailers_log = srv.path("logs/trailers.log")
    server_extra = (
        "MergeTrailers On\n"
        'CustomLog "%s" "%%{X-Test-Tag}i cert=[%%{X-SSL-Client-Cert}i] '
        'chain=[%%{X-SSL-Client-Chain-0}i] other=[%%{X-Other-Trailer}i]"\n' % trailers_log)
    srv.start(extra_vhosts=vh, vhost_extra=vhost_extra, extra_modules=MODULES,
              server_extra=server_extra)
    srv.trailers_log = trailers_log
    return srv


def canon(name):
    return name.lower().replace("_", "-")


def cert_fields(fields):
    """The certificate header fields among (name, value) pairs, any spelling."""
    return [(k, v) for k, v in fields
            if canon(k) == "x-ssl-client-cert" or canon(k).startswith("x-ssl-client-chain-")]


def no_cert_vars(env):
    leaked = {k: v for k, v in env.items() if k.startswith("HTTP_X_SSL_CLIENT")}
    assert not leaked, "the CGI sees certificate headers: %r" % leaked


# -- trusted and untrusted peers ---------------------------------------------------

def test_untrusted_source_address_is_what_httpd_sees(h):
    r = curl(h.url("/t/open/env", "auto"), extra=["--interface", UNTRUSTED])
    assert r.status == 200, r
    assert r.env["REMOTE_ADDR"] == UNTRUSTED
    r = http_request(h.port("auto"), "/t/open/env", source=UNTRUSTED)
    assert r.env["REMOTE_ADDR"] == UNTRUSTED


def test_trusted_peer_forwards(h, pki):
    a = pki["alice"]
    mark = h.log_mark()
    r = http_request(h.port("auto"), "/t/hdr/env", [(HDR, F.der_b64(a))])
    env = ok(r, ALICE_DN)
    assert env["X509_AUTHN_SOURCE"] == "header"
    assert env["X509_PROXY_ADDR"] == "127.0.0.1"
    assert "X509_PROXY_S_DN" not in env
    assert env["HTTP_X_SSL_CLIENT_CERT"] == F.der_b64(a)
    assert [v for k, v in r.header_list if k.lower() == "vary"] and \
        HDR.lower() in r.headers["vary"].lower(), r.header_list
    log = h.log_since(mark)
    assert "X509A0101: Attempting to extract certificate from X-SSL-Client-Cert header" in log
    assert ("X509A0102: User %s has been preauthenticated from 127.0.0.1" % ALICE_DN) in log
    assert not h.log_lines(mark, INFO_RX)


def test_untrusted_peer_with_curl_interface(h, pki):
    value = F.der_b64(pki["alice"])
    mark = h.log_mark()
    r = curl(h.url("/t/hdr/env", "auto"), headers=["%s: %s" % (HDR, value)],
             extra=["--interface", UNTRUSTED])
    denied(r)
    lines = h.log_lines(mark, INFO_RX)
    assert any("X509A0201: removed X-SSL-Client-Cert header from a request of 127.0.0.2, "
               "which is not a trusted proxy" in ln for ln in lines), lines
    assert any("X509A0110" in ln and "not a trusted proxy" in ln and "client 127.0.0.2" in ln
               for ln in lines), lines
    # X509AuthnSource any: the header is not even considered; no TLS -> 403
    denied(curl(h.url("/t/any/env", "auto"), headers=["%s: %s" % (HDR, value)],
                extra=["--interface", UNTRUSTED]))
    r = curl(h.url("/t/open/env", "auto"), headers=["%s: %s" % (HDR, value)],
             extra=["--interface", UNTRUSTED])
    assert r.status == 200 and r.env["REMOTE_ADDR"] == UNTRUSTED
    no_cert_vars(r.env)


SPELLINGS = ["X-SSL-Client-Cert", "x-ssl-client-cert", "X-SSL-CLIENT-CERT",
             "X_SSL_Client_Cert", "x_ssl_client_cert", "X-SSL_Client-Cert",
             "X-SSL-Client-Chain-0", "x_ssl_client_chain_7", "X-Ssl-Client-Chain-12"]


@pytest.mark.parametrize("name", SPELLINGS)
def test_untrusted_header_never_reaches_cgi_or_backend(h, pki, backend, name):
    value = F.der_b64(pki["alice"])
    mark = h.log_mark()
    r = http_request(h.port("auto"), "/t/open/env", [(name, value)], source=UNTRUSTED)
    assert r.status == 200
    no_cert_vars(r.env)
    lines = h.log_lines(mark, INFO_RX)
    assert len(lines) == 1, lines
    assert re.search(r"X509A0201: removed %s header from a request of 127\.0\.0\.2"
                     % re.escape(name), lines[0], re.I), lines
    r = http_request(h.port("auto"), "/p/x", [(name, value)], source=UNTRUSTED)
    assert r.status == 200, r
    assert cert_fields(backend.fields(r.tag)) == []


def test_untrusted_all_spellings_at_once(h, pki, backend):
    value = F.der_b64(pki["alice"])
    fields = [(n, value) for n in SPELLINGS]
    r = http_request(h.port("auto"), "/p/hdr/x", fields, source=UNTRUSTED)
    denied(r)
    r = http_request(h.port("auto"), "/p/x", fields, source=UNTRUSTED)
    assert r.status == 200
    assert cert_fields(backend.fields(r.tag)) == []
    r = http_request(h.port("auto"), "/t/open/env", fields, source=UNTRUSTED)
    no_cert_vars(r.env)


def test_untrusted_header_over_http2(h, pki, backend):
    """HTTP/2 streams (lower-case field names) are stripped alike."""
    value = F.der_b64(pki["alice"])
    headers = ["%s: %s" % (HDR, value), "X_SSL_Client_Cert: " + value,
               "x-ssl-client-CERT: " + value]
    r = h.get("open", "bob", vhost="main", headers=headers, http2=True,
              extra=["--interface", UNTRUSTED])
    assert r.status == 200 and r.http_version == "2", r
    no_cert_vars(r.env)
    r = curl(h.url("/p/x", "main"), cert=pki["bob"], headers=headers, http2=True,
             extra=["--interface", UNTRUSTED])
    assert r.status == 200 and r.http_version == "2", r
    assert cert_fields(backend.fields(r.tag)) == []
    # from the trusted address alice is forwarded (the '_' spelling dropped)
    r = h.get("hdr", "bob", vhost="main", headers=headers[:2], http2=True)
    ok(r, ALICE_DN)


def test_without_trusted_proxies_headers_pass(h, pki, backend):
    """Control: a server with no forwarded certificates configured leaves
    such headers alone (so the stripping above is the module's doing)."""
    value = F.der_b64(pki["alice"])
    r = http_request(h.port("plain"), "/t/noauth/env", [(HDR, value)], source=UNTRUSTED)
    assert r.env["HTTP_X_SSL_CLIENT_CERT"] == value
    # httpd itself keeps names with '_' out of the CGI environment...
    r = http_request(h.port("plain"), "/t/noauth/env", [("X_SSL_Client_Cert", value)],
                     source=UNTRUSTED)
    assert "HTTP_X_SSL_CLIENT_CERT" not in r.env
    # ...but mod_proxy forwards them
    r = http_request(h.port("plain"), "/p/x", [(HDR, value), ("X_SSL_Client_Cert", value)],
                     source=UNTRUSTED)
    assert sorted(k for k, v in cert_fields(backend.fields(r.tag))) == \
        ["X-SSL-Client-Cert", "X_SSL_Client_Cert"]


def test_trusted_peer_loses_only_underscore_spellings(h, pki, backend):
    a, b, ca_a = pki["alice"], pki["bob"], pki["issuing-a"]
    fields = [(HDR, F.der_b64(a)), ("X_SSL_Client_Cert", F.der_b64(b)),
              ("X-SSL-Client-Chain-0", F.pem_escaped(ca_a)),
              ("X_SSL_Client_Chain_1", F.pem_escaped(b))]
    r = http_request(h.port("auto"), "/p/hdr/x", fields)
    assert r.status == 200 and r.user == ALICE_DN, r
    got = cert_fields(backend.fields(r.tag))
    assert got == [(HDR, F.der_b64(a)), ("X-SSL-Client-Chain-0", F.pem_escaped(ca_a))], got
    env = ok(http_request(h.port("auto"), "/t/hdr/env", fields), ALICE_DN)
    assert env["HTTP_X_SSL_CLIENT_CERT"] == F.der_b64(a)
    # the '_' spelling alone is no certificate
    mark = h.log_mark()
    denied(http_request(h.port("auto"), "/t/hdr/env", [("X_SSL_Client_Cert", F.der_b64(b))]))
    assert any("no X-SSL-Client-Cert header from the trusted proxy" in ln
               for ln in h.log_lines(mark, INFO_RX))


# -- mod_remoteip ----------------------------------------------------------------

def test_remoteip_does_not_make_an_untrusted_peer_trusted(h, pki):
    value = F.der_b64(pki["alice"])
    # RemoteIPTrustedProxy 127.0.0.2: REMOTE_ADDR becomes the XFF address
    r = http_request(h.port("rip"), "/t/open/env",
                     [(HDR, value), ("X-Forwarded-For", "198.51.100.7")], source=UNTRUSTED)
    assert r.env["REMOTE_ADDR"] == "198.51.100.7"      # mod_remoteip is at work
    no_cert_vars(r.env)
    # RemoteIPInternalProxy 127.0.0.2 and the trusted proxy's own address in XFF
    mark = h.log_mark()
    r = http_request(h.port("ripi"), "/t/open/env",
                     [(HDR, value), ("X-Forwarded-For", "127.0.0.1")], source=UNTRUSTED)
    assert r.env["REMOTE_ADDR"] == "127.0.0.1"
    no_cert_vars(r.env)
    assert h.log_lines(mark, r"X509A0201: removed X-SSL-Client-Cert header from a request "
                             r"of 127\.0\.0\.2,")
    for vhost, xff in (("rip", "198.51.100.7"), ("ripi", "127.0.0.1")):
        mark = h.log_mark()
        denied(http_request(h.port(vhost), "/t/hdr/env",
                            [(HDR, value), ("X-Forwarded-For", xff)], source=UNTRUSTED))
        lines = h.log_lines(mark, "X509A0110")
        assert lines and "client 127.0.0.2" in lines[0], lines


def test_remoteip_rewrite_keeps_a_trusted_peer_trusted(h, pki):
    """127.0.0.1 is also a mod_remoteip proxy in ripi: the user agent address
    changes, the trust decision (on the TCP peer) does not."""
    env = ok(http_request(h.port("ripi"), "/t/hdr/env",
                          [(HDR, F.der_b64(pki["alice"])), ("X-Forwarded-For", "10.9.9.9")]),
             ALICE_DN)
    assert env["REMOTE_ADDR"] == "10.9.9.9"
    assert env["X509_PROXY_ADDR"] == "127.0.0.1"


# -- mutual TLS between the proxy and httpd: X509AuthnProxyRequire -------------------

def lb(h, loc, cert, user_cert=None, vhost="require", source=None, http2=False):
    headers = ["%s: %s" % (HDR, F.der_b64(user_cert))] if user_cert else []
    extra = ["--interface", source] if source else []
    return h.get(loc, cert, vhost=vhost, headers=headers, extra=extra, http2=http2)


def test_proxy_certificate_right(h, pki):
    proxy = pki["proxy"]
    env = ok(lb(h, "hdr", "proxy", pki["alice"]), ALICE_DN)
    assert env["X509_AUTHN_SOURCE"] == "header"
    assert env["X509_PROXY_S_DN"] == proxy.subject
    assert env["X509_PROXY_ADDR"] == "127.0.0.1"
    assert env["SSL_CLIENT_S_DN"] == proxy.subject     # what mod_ssl verified
    ok(lb(h, "any", "proxy", pki["bob"]), BOB_DN)
    ok(lb(h, "cn", "proxy", pki["bob"]), "bob")
    r = lb(h, "hdr", "proxy", pki["alice"], http2=True)
    assert r.http_version == "2"
    ok(r, ALICE_DN)


def test_proxy_certificate_is_never_the_user(h, pki):
    proxy = pki["proxy"]
    for loc in ("hdr", "any", "tls"):
        r = denied(lb(h, loc, "proxy"))
        assert proxy.subject not in r.user
    mark = h.log_mark()
    denied(lb(h, "tls", "proxy", pki["alice"]))
    assert any("the peer is a trusted proxy, whose TLS certificate is not a user's" in ln
               for ln in h.log_lines(mark, INFO_RX)), h.log_since(mark)


def test_proxy_certificate_wrong(h, pki):
    other = pki["proxy-other"]
    mark = h.log_mark()
    denied(lb(h, "hdr", "proxy-other", pki["alice"]))
    lines = h.log_lines(mark, INFO_RX)
    assert any("X509A0202" in ln and "fails X509AuthnProxyRequire" in ln
               and other.subject in ln for ln in lines), lines
    assert any("X509A0201" in ln for ln in lines), lines
    r = lb(h, "open", "proxy-other", pki["alice"])
    assert r.status == 200
    no_cert_vars(r.env)
    # not a proxy, just a TLS client: under "any" it is itself, never alice
    env = ok(lb(h, "any", "proxy-other", pki["alice"]), other.subject)
    assert env["X509_AUTHN_SOURCE"] == "tls"
    # a user certificate of another issuer is no proxy certificate either
    denied(lb(h, "hdr", "alice", pki["bob"]))
    ok(lb(h, "any", "alice", pki["bob"]), ALICE_DN)


def test_proxy_certificate_from_untrusted_address(h, pki):
    """TrustedProxy 127.0.0.1 and ProxyRequire: both must hold."""
    denied(lb(h, "hdr", "proxy", pki["alice"], source=UNTRUSTED))
    r = lb(h, "open", "proxy", pki["alice"], source=UNTRUSTED)
    assert r.status == 200 and r.env["REMOTE_ADDR"] == UNTRUSTED
    no_cert_vars(r.env)


def test_proxy_require_serial_and_sha1_any_address(h, pki):
    for source in (None, UNTRUSTED):
        env = ok(lb(h, "hdr", "proxy", pki["alice"], vhost="mixed", source=source), ALICE_DN)
        assert env["X509_PROXY_S_DN"] == pki["proxy"].subject
    denied(lb(h, "hdr", "proxy-other", pki["alice"], vhost="mixed"))
    denied(lb(h, "hdr", None, pki["alice"], vhost="mixed"))


def test_trusted_address_over_tls_own_certificate_is_not_the_user(h, pki):
    """main trusts 127.0.0.1 by address: a TLS client certificate from there
    is the proxy's, under any source; from 127.0.0.2 it is a user's."""
    alice = pki["alice"]
    for loc in ("any", "tls", "hdr"):
        denied(h.get(loc, "alice", vhost="main"))
    env = ok(lb(h, "any", "alice", pki["bob"], vhost="main"), BOB_DN)
    assert env["X509_PROXY_S_DN"] == alice.subject
    for loc in ("any", "tls"):
        env = ok(h.get(loc, "alice", vhost="main", extra=["--interface", UNTRUSTED]),
                 ALICE_DN)
        assert env["X509_AUTHN_SOURCE"] == "tls"
    denied(lb(h, "hdr", "alice", pki["bob"], vhost="main", source=UNTRUSTED))


# -- trailers --------------------------------------------------------------------

def trailer_line(h, tag, timeout=5.0):
    """The line of trailers.log for a request (written after the response)."""
    deadline = time.time() + timeout
    while True:
        with open(h.trailers_log) as f:
            lines = [ln for ln in f.read().splitlines() if ln.startswith(tag + " ")]
        if lines or time.time() > deadline:
            break
        time.sleep(0.05)
    assert lines, "no line for %s in %s" % (tag, h.trailers_log)
    return lines[-1]


def test_certificate_trailer_from_untrusted_peer(h, pki):
    value = F.der_b64(pki["alice"])
    mark = h.log_mark()
    r = http_request(h.port("auto"), "/t/open/env", method="POST", body=b"x=1",
                     trailers=[(HDR, value), ("X-SSL-Client-Chain-0", value),
                               ("X-Other-Trailer", "visible")], source=UNTRUSTED)
    assert r.status == 200, r
    no_cert_vars(r.env)
    line = trailer_line(h, r.tag)
    # MergeTrailers On is in effect, and did not bring the certificate back
    assert "other=[visible]" in line, line
    assert "cert=[-]" in line and "chain=[-]" in line, line
    assert h.log_lines(mark, r"\[x509authn:info\].*X509A0203: removed .* trailer from a "
                             r"request of 127\.0\.0\.2")


def test_certificate_trailer_from_trusted_peer(h, pki):
    """A certificate never comes as a trailer, from a trusted proxy neither:
    the header field stays what it was, the trailer is dropped."""
    a, b = pki["alice"], pki["bob"]
    mark = h.log_mark()
    r = http_request(h.port("auto"), "/t/hdr/env", [(HDR, F.der_b64(a))], method="POST",
                     body=b"x=1", trailers=[(HDR, F.der_b64(b)),
                                            ("X-SSL-Client-Chain-0", F.der_b64(b)),
                                            ("X-Other-Trailer", "visible")])
    ok(r, ALICE_DN)
    line = trailer_line(h, r.tag)
    assert "other=[visible]" in line, line
    assert "cert=[%s]" % F.der_b64(a) in line, line
    assert "chain=[-]" in line, line
    assert h.log_lines(mark, r"X509A0203")


# -- mod_cache -----------------------------------------------------------------------

def test_cache_works_for_public_pages(h):
    """Control: the cache stores and serves /c/open/ (quick handler)."""
    first = http_request(h.port("auto"), "/c/open/page.html")
    second = http_request(h.port("auto"), "/c/open/page.html", source=UNTRUSTED)
    assert first.status == second.status == 200
    assert second.body.decode() == CACHED
    assert "HIT" in second.headers.get("x-cache", ""), second.headers


def test_forwarded_certificate_responses_are_not_cached(h, pki):
    a = pki["alice"]
    r = http_request(h.port("auto"), "/c/hdr/page.html", [(HDR, F.der_b64(a))])
    assert r.status == 200 and r.user == ALICE_DN, r
    assert HDR.lower() in r.headers.get("vary", "").lower(), r.headers
    # another client, no certificate: not served from the cache
    r = http_request(h.port("auto"), "/c/hdr/page.html", source=UNTRUSTED)
    assert r.status == 403, (r, r.headers)
    assert "HIT" not in r.headers.get("x-cache", "")
    r = http_request(h.port("auto"), "/c/hdr/page.html")
    assert r.status == 403, (r, r.headers)
    r = http_request(h.port("auto"), "/c/hdr/page.html", [(HDR, F.der_b64(pki["bob"]))])
    assert r.status == 200 and r.user == BOB_DN, r
