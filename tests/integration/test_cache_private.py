"""Responses to certificate logins are never stored by mod_cache nor by a
shared cache in front (issue 11, defect 4): every login, direct TLS and
forwarded header, sets r->no_cache and "Cache-Control: private" unless the
response has a Cache-Control of its own.

A real mod_cache with both providers (socache/shmcb and disk), the quick
handler (which answers from the cache before authentication) and heuristic
freshness: the static pages have an old modification time and no
Cache-Control, so mod_cache would store them on the strength of their
Last-Modified alone.  CacheHeader/CacheDetailHeader say HIT or MISS and why.

    /cs/...  CacheEnable socache     /cd/...  CacheEnable disk
      open/   no authentication (control: cached, served as HIT)
      tls/    AuthType X509
      own/    AuthType X509 + Header set Cache-Control "public, max-age=600"
    /cc      AuthType X509, a CGI that sets its own Cache-Control
"""

import os
import time

import pytest

from clients import curl, http_request
from expect import ALICE_DN, BOB_DN
import forwarded as F
from httpd import new_httpd

PAGE = "<html>page for %s</html>\n"
OLD = 946684800            # 2000-01-01: heuristically fresh for a day
MODULES = [("cache_module", "mod_cache.so"),
           ("cache_socache_module", "mod_cache_socache.so"),
           ("cache_disk_module", "mod_cache_disk.so")]
PROVIDERS = {"cs": "socache", "cd": "disk"}
HDR = "X-SSL-Client-Cert"

CC_CGI = """#!/usr/bin/python3
import sys
sys.stdin.buffer.read()
body = b"cgi page\\n"
sys.stdout.buffer.write(b"Content-Type: text/html\\r\\nCache-Control: max-age=300\\r\\n"
                        b"Content-Length: %d\\r\\n\\r\\n" % len(body) + body)
"""


@pytest.fixture(scope="module")
def h(request, workroot, pki, module_so, loopback_aliases):
    srv = new_httpd(request, workroot, pki, module_so, name="cache")
    cacheroot = srv.path("cacheroot")
    os.makedirs(cacheroot, exist_ok=True)
    os.chmod(cacheroot, 0o777)
    conf = ["CacheSocache shmcb", 'CacheRoot "%s"' % cacheroot, "CacheQuickHandler On",
            "CacheHeader On", "CacheDetailHeader On", "CacheIgnoreNoLastMod Off",
            'ScriptAlias /cc "%s"' % srv.path("cgi/cc.py")]
    hdr = []
    for top, provider in PROVIDERS.items():
        conf.append("CacheEnable %s /%s/" % (provider, top))
        for sub in ("open", "tls", "own", "hdr"):
            d = "htdocs/%s/%s" % (top, sub)
            os.makedirs(srv.path(d), exist_ok=True)
            os.chmod(srv.path(d), 0o755)
            for name in ("page.html", "p1.html", "p2.html", "p3.html", "p4.html"):
                path = srv.write_file("%s/%s" % (d, name), PAGE % d)
                os.utime(path, (OLD, OLD))
        conf.append("<Location /%s/tls/>\n    AuthType X509\n    Require valid-user\n"
                    "</Location>" % top)
        conf.append("<Location /%s/own/>\n    AuthType X509\n    Require valid-user\n"
                    '    Header set Cache-Control "public, max-age=600"\n</Location>' % top)
        hdr.append("<Location /%s/hdr/>\n    AuthType X509\n    X509AuthnSource header\n"
                   "    Require valid-user\n</Location>" % top)
    conf.append("<Location /cc>\n    AuthType X509\n    Require valid-user\n</Location>")
    conf.append("<Location /t/x/>\n    AuthType X509\n    Require valid-user\n</Location>")
    srv.write_file("cgi/cc.py", CC_CGI, 0o755)
    cache = "\n".join(conf) + "\n"
    # "hdr": plain HTTP, trusts 127.0.0.1 to forward certificates
    vh = {"hdr": F.trust(ca=pki.ca_bundle) + cache + "\n".join(hdr) + "\n"}
    srv.start(vhost_extra={"main": cache}, extra_vhosts=vh, extra_modules=MODULES)
    return srv


def get(h, path, cert=None, http2=False, vhost="main"):
    return curl(h.url(path, vhost), cert=cert, http2=http2)


def until_hit(fetch, tries=20):
    """The cache commits an entry when the response ends on the server's
    side, which over HTTP/2 can be after the client has it: ask again a
    few times (a bounded wait, no timing asserted)."""
    for _ in range(tries):
        r = fetch()
        if "HIT" in r.headers.get("x-cache", ""):
            return r
        time.sleep(0.1)
    return r


def never_hit(fetch, tries=3):
    """The anonymous request, asked a few times (a stored entry is
    committed by then): never from the cache, always refused."""
    for _ in range(tries):
        r = fetch()
        assert r.status == 403, (r, cache_says(r))
        assert "HIT" not in r.headers.get("x-cache", ""), cache_says(r)
        assert "page for" not in r.text
        time.sleep(0.1)
    return r


def cache_says(r):
    return "%s | %s" % (r.headers.get("x-cache", ""), r.headers.get("x-cache-detail", ""))


@pytest.mark.parametrize("top", sorted(PROVIDERS))
@pytest.mark.parametrize("http2", [False, True], ids=["h1", "h2"])
def test_cache_control_stores_public_pages(h, top, http2):
    """Control: the heuristically fresh page without authentication is
    stored and served from the cache to the next client."""
    path = "/%s/open/p%d.html" % (top, 2 if http2 else 1)
    first = get(h, path, http2=http2)
    assert first.status == 200 and first.http_version == ("2" if http2 else "1.1"), first
    assert "MISS" in first.headers.get("x-cache", ""), cache_says(first)
    second = until_hit(lambda: get(h, path, http2=http2))
    assert second.status == 200
    assert "HIT" in second.headers.get("x-cache", ""), cache_says(second)
    assert "cache-control" not in first.headers, first.headers


@pytest.mark.parametrize("top", sorted(PROVIDERS))
@pytest.mark.parametrize("http2", [False, True], ids=["h1", "h2"])
def test_tls_login_is_not_cached(h, pki, top, http2):
    """alice's page is not stored: the next client without a certificate
    gets 403, not alice's page from the cache."""
    path = "/%s/tls/p%d.html" % (top, 2 if http2 else 1)
    r = get(h, path, pki["alice"], http2=http2)
    assert r.status == 200 and r.user == ALICE_DN, r
    assert r.text == PAGE % ("htdocs%s" % os.path.dirname(path)), r.text
    never_hit(lambda: get(h, path, http2=http2))
    assert r.headers.get("cache-control") == "private", r.headers
    assert "HIT" not in r.headers.get("x-cache", ""), cache_says(r)
    assert "no_cache" in r.headers.get("x-cache-detail", ""), cache_says(r)
    # and bob gets his own answer, not alice's
    r = get(h, path, pki["bob"], http2=http2)
    assert r.status == 200 and r.user == BOB_DN, r
    assert "HIT" not in r.headers.get("x-cache", ""), cache_says(r)


@pytest.mark.parametrize("top", sorted(PROVIDERS))
@pytest.mark.parametrize("http2", [False, True], ids=["h1", "h2"])
def test_own_cache_control_is_kept_and_still_not_cached(h, pki, top, http2):
    """A response with its own Cache-Control keeps it (documented), and
    r->no_cache still keeps mod_cache from storing it."""
    path = "/%s/own/p%d.html" % (top, 2 if http2 else 1)
    r = get(h, path, pki["alice"], http2=http2)
    assert r.status == 200 and r.user == ALICE_DN, r
    never_hit(lambda: get(h, path, http2=http2))
    assert r.headers.get("cache-control") == "public, max-age=600", r.headers
    assert "no_cache" in r.headers.get("x-cache-detail", ""), cache_says(r)


@pytest.mark.parametrize("http2", [False, True], ids=["h1", "h2"])
def test_handler_cache_control_is_final(h, pki, http2):
    """A CGI sets its Cache-Control after authentication: the response
    carries the CGI's only; without one of its own it would say private."""
    r = get(h, "/cc", pki["alice"], http2=http2)
    assert r.status == 200 and r.user == ALICE_DN, r
    assert r.text == "cgi page\n"
    assert r.headers.get("cache-control") == "max-age=300", r.headers
    r = get(h, "/t/x/env", pki["alice"], http2=http2)     # env CGI: no header of its own
    assert r.status == 200
    assert r.headers.get("cache-control") == "private", r.headers


@pytest.mark.parametrize("http2", [False, True], ids=["h1", "h2"])
def test_error_responses_after_login_are_private(h, pki, http2):
    """A 404 after a login is private too (error responses drop request
    filters; the module inserts its filter again)."""
    r = get(h, "/cs/tls/missing.html", pki["alice"], http2=http2)
    assert r.status == 404 and r.user == ALICE_DN, r
    assert r.headers.get("cache-control") == "private", r.headers
    # not after a refusal without login, nor on pages without authentication
    r = get(h, "/cs/tls/missing.html", http2=http2)
    assert r.status == 403
    assert "private" not in r.headers.get("cache-control", ""), r.headers
    r = get(h, "/cs/open/missing.html", pki["alice"], http2=http2)
    assert r.status == 404
    assert "cache-control" not in r.headers, r.headers


@pytest.mark.parametrize("top", sorted(PROVIDERS))
def test_forwarded_login_is_private_and_not_cached(h, pki, top):
    """The header source: Cache-Control private and Vary, not stored."""
    path = "/%s/hdr/p1.html" % top
    r = http_request(h.port("hdr"), path, [(HDR, F.der_b64(pki["alice"]))])
    assert r.status == 200 and r.user == ALICE_DN, r
    assert r.headers.get("cache-control") == "private", r.headers
    assert HDR.lower() in r.headers.get("vary", "").lower(), r.headers
    assert "no_cache" in r.headers.get("x-cache-detail", ""), r.headers
    never_hit(lambda: http_request(h.port("hdr"), path))
    # the control on this virtual host: a public page is cached
    http_request(h.port("hdr"), "/%s/open/p3.html" % top)
    again = until_hit(lambda: http_request(h.port("hdr"), "/%s/open/p3.html" % top))
    assert "HIT" in again.headers.get("x-cache", ""), again.headers
