"""The shared verification cache across servers (X509AuthnCache over
mod_socache_redis / mod_socache_memcache, with a real redis-server and a real
memcached), X509AuthnCacheEntries 0, and a cache server that dies while
httpd runs (requests are still decided by local verification, quickly).

Two httpd instances A and B share one cache server.  Each has:
    fwd     trusts 127.0.0.1, CA root+A+B, CRLs of root, A, B
    strict  trusts 127.0.0.1, CA root+A only (other settings: other keys)
"""

import os
import time
import uuid

import pytest

from clients import http_request
from expect import ALICE_DN, ok, denied, INFO_RX, check_rejection_line
import forwarded as F
from httpd import new_httpd
from services import Redis, Memcached

HDR = "X-SSL-Client-Cert"

PROVIDERS = {
    "redis": (Redis, ("socache_redis_module", "mod_socache_redis.so")),
    "memcache": (Memcached, ("socache_memcache_module", "mod_socache_memcache.so")),
}


def vhosts(h, pki):
    h.write_file("conf/root-a.pem", open(pki["root"].cert).read()
                 + open(pki["issuing-a"].cert).read())
    locs = F.proxy_locations()
    return {
        "fwd": F.trust(ca=pki.ca_bundle, crl=pki.crl_bundle) + locs,
        "strict": F.trust(ca=h.path("conf/root-a.pem")) + locs,
    }


# The fleet's X509AuthnCacheSecret (required for networked caches).
SECRET = os.urandom(32).hex() + "\n"


def start_instance(request, workroot, pki, module_so, name, provider, port, extra=""):
    h = new_httpd(request, workroot, pki, module_so, name=name)
    module = PROVIDERS[provider][1]
    secret = h.write_file("conf/cache-secret", SECRET, 0o600)
    h.start(extra_vhosts=vhosts(h, pki), extra_modules=[module],
            # a generous look-up timeout: this file is about sharing, and
            # a loaded test machine must not trip the circuit breaker
            server_extra="X509AuthnCache %s:127.0.0.1:%d 300\nX509AuthnCacheSecret %s\n"
                         "X509AuthnCacheTimeout 2000\n%s"
                         % (provider, port, secret, extra))
    return h


@pytest.fixture(scope="module", params=sorted(PROVIDERS))
def shared(request, workroot, pki, module_so):
    provider = request.param
    svc = PROVIDERS[provider][0](os.path.join(workroot, "%s-%s" % (
        provider, uuid.uuid4().hex[:8])))
    request.addfinalizer(svc.stop)
    svc.start()
    a = start_instance(request, workroot, pki, module_so, "cache-a-" + provider, provider,
                       svc.port)
    b = start_instance(request, workroot, pki, module_so, "cache-b-" + provider, provider,
                       svc.port)
    return provider, svc, a, b


def get(h, cert, vhost="fwd", loc="hdr"):
    fields = [(HDR, F.der_b64(cert))] if cert is not None else []
    return http_request(h.port(vhost), "/t/%s/env" % loc, fields, timeout=10)


def hit_line(provider):
    return r"X509A0303: verification result taken from the shared cache \(%s\)" % provider


def stored_items(provider, svc):
    if provider == "redis":
        return svc.dbsize()
    return int(svc.stats()["curr_items"])


def wait_stored(provider, svc, before, timeout=5.0):
    """Stores are made by the child's cache thread after the response:
    wait until the cache holds more than `before` items."""
    deadline = time.time() + timeout
    while stored_items(provider, svc) <= before and time.time() < deadline:
        time.sleep(0.05)
    return stored_items(provider, svc) > before


def test_second_server_uses_the_first_ones_result(shared, pki):
    provider, svc, a, b = shared
    alice = pki["alice"]
    before = stored_items(provider, svc)
    ma, mb = a.log_mark(), b.log_mark()
    ok(get(a, alice), ALICE_DN)
    assert not a.log_lines(ma, "X509A0303"), "A had nothing to take from the cache"
    assert wait_stored(provider, svc, before), "nothing stored in %s" % provider
    ok(get(b, alice), ALICE_DN)
    assert b.log_lines(mb, hit_line(provider)), b.log_since(mb)
    # B remembers it per process now; the result stays right
    ok(get(b, alice), ALICE_DN)


def test_refusals_are_shared_too(shared, pki):
    provider, svc, a, b = shared
    rv = pki["revoked"]
    ma = a.log_mark()
    before = stored_items(provider, svc)
    denied(get(a, rv))
    assert not a.log_lines(ma, "X509A0303")
    assert wait_stored(provider, svc, before), "nothing stored in %s" % provider
    mb = b.log_mark()
    denied(get(b, rv))
    assert b.log_lines(mb, hit_line(provider)), b.log_since(mb)
    lines = b.log_lines(mb, INFO_RX)
    assert len(lines) == 1, lines
    check_rejection_line(lines[0], rv, r"revoked")


def test_other_verification_settings_do_not_share(shared, pki):
    """bob verifies with root+A+B on A; B's "strict" host (root+A) must not
    take that result."""
    provider, svc, a, b = shared
    bob = pki["bob"]
    ok(get(a, bob), bob.subject)
    mb = b.log_mark()
    denied(get(b, bob, vhost="strict"))
    assert not b.log_lines(mb, "X509A0303"), b.log_since(mb)
    lines = b.log_lines(mb, INFO_RX)
    assert lines and "unable to get local issuer certificate" in lines[-1], lines
    ok(get(b, bob), bob.subject)


# -- the cache server goes away --------------------------------------------------------

@pytest.fixture(scope="module")
def lonely(request, workroot, pki, module_so):
    """One httpd without a per-process cache (X509AuthnCacheEntries 0) and its
    own redis-server."""
    r = Redis(os.path.join(workroot, "redis-kill-" + uuid.uuid4().hex[:8]))
    request.addfinalizer(r.stop)
    r.start()
    h = start_instance(request, workroot, pki, module_so, "cache-kill", "redis", r.port,
                       extra="X509AuthnCacheEntries 0\n")
    return r, h


def timed(h, cert, limit=3.0):
    t = time.time()
    r = get(h, cert)
    took = time.time() - t
    assert took < limit, "request took %.1f s" % took
    return r


def test_cache_entries_zero_asks_the_shared_cache(lonely, pki):
    r, h = lonely
    ok(get(h, pki["smime"]), pki["smime"].subject)
    mark = h.log_mark()
    ok(get(h, pki["smime"]), pki["smime"].subject)
    # no per-process copy: the second request went to redis
    assert h.log_lines(mark, hit_line("redis")), h.log_since(mark)


def test_redis_killed_mid_test(lonely, pki):
    r, h = lonely
    alice, bob = pki["alice"], pki["bob"]
    ok(timed(h, alice), ALICE_DN)
    assert r.dbsize() >= 1
    r.kill()
    assert not r.running()
    mark = h.log_mark()
    for _ in range(2):
        ok(timed(h, alice), ALICE_DN)
        ok(timed(h, bob), bob.subject)
        denied(timed(h, pki["revoked"]))
        denied(timed(h, pki["expired"]))
        denied(timed(h, pki["lookalike"]))
        denied(timed(h, None))
    assert not h.log_lines(mark, "X509A0303")
    lines = h.log_lines(mark, r"X509A0111.*revoked")
    assert lines, h.log_since(mark)
    check_rejection_line(lines[-1], pki["revoked"], r"revoked")
    # the server is still fine
    assert h.running()
