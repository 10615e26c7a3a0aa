"""A hung shared-cache server (redis-server / memcached stopped with SIGSTOP:
it accepts connections but never answers) must not stall authentication.

Under load (several client threads, X509AuthnCacheEntries 0 so that every
request asks the shared cache), the cache server is stopped mid-run and
continued a few seconds later:

  * every answer is the right one (the one given while the server was
    healthy: status and REMOTE_USER), no request fails;
  * the 99th percentile of the request latency stays under one second
    (a bound on hanging, not a speed measurement: before the bounded
    look-ups a request waited for the server as long as it was stopped);
  * the module says it stopped asking the server, and once the server
    answers again, the shared cache is used again (the module's
    "taken from the shared cache" line, and the server's own hit counter).

Also: X509AuthnCacheTimeout's syntax and scope (apache2 -t).
"""

import os
import signal
import threading
import time
import uuid

import pytest

from clients import http_request
from expect import ALICE_DN
import forwarded as F
from httpd import new_httpd
from services import Redis, Memcached

HDR = "X-SSL-Client-Cert"
THREADS = 6
STOPPED_SECONDS = 4.0
CLIENT_TIMEOUT = 15
P99_BOUND = 1.0

PROVIDERS = {
    "redis": (Redis, ("socache_redis_module", "mod_socache_redis.so")),
    "memcache": (Memcached, ("socache_memcache_module", "mod_socache_memcache.so")),
}

# good and bad certificates: each request is decided by the shared cache or
# by local verification, and must get the same answer either way
NAMES = ("alice", "bob", "smime", "utf8", "multiou", "revoked", "expired",
         "lookalike", "selfsigned")

STATIC = ("<Location /index.html>\nAuthType X509\nX509AuthnSource header\n"
          "Require valid-user\n</Location>\n")

HIT = r"X509A0303: verification result taken from the shared cache"
# the module stops asking a failing server (warn the first time, debug when
# the breaker was already open, e.g. after a slow answer under load)
OPENED = r"X509A033[12]: "
CLOSED = r"X509A0333: "     # ... and uses it again


def server_hits(provider, svc):
    """The cache server's own count of successful look-ups."""
    if provider == "redis":
        reply = svc.command("INFO", "stats").decode("latin-1")
        for line in reply.splitlines():
            if line.startswith("keyspace_hits:"):
                return int(line.split(":", 1)[1])
        raise AssertionError("no keyspace_hits in %r" % reply[:200])
    return int(svc.stats()["get_hits"])


def start_pair(request, workroot, pki, module_so, provider, extra=""):
    """A cache server and an httpd using it, without a per-process cache."""
    svc = PROVIDERS[provider][0](os.path.join(workroot, "hang-%s-%s" % (
        provider, uuid.uuid4().hex[:8])))
    request.addfinalizer(svc.stop)
    svc.start()
    h = new_httpd(request, workroot, pki, module_so, name="hang-" + provider)
    # networked caches need the fleet's secret
    secret = h.write_file("conf/cache-secret", os.urandom(32).hex() + "\n", 0o600)
    h.start(extra_vhosts={"fwd": F.trust(ca=pki.ca_bundle, crl=pki.crl_bundle)
                          + STATIC},
            extra_modules=[PROVIDERS[provider][1]],
            server_extra="X509AuthnCache %s:127.0.0.1:%d 300\n"
                         "X509AuthnCacheSecret %s\n"
                         "X509AuthnCacheEntries 0\n%s" % (provider, svc.port, secret,
                                                          extra))
    return provider, svc, h


@pytest.fixture(params=sorted(PROVIDERS))
def hung(request, workroot, pki, module_so):
    return start_pair(request, workroot, pki, module_so, request.param)


class Load:
    """THREADS client threads sending forwarded certificates round robin,
    each answer recorded with its latency."""

    def __init__(self, port, certs):
        self.port = port
        self.certs = certs
        self.results = []           # (start, latency, name, status, user, error)
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True)
                        for i in range(THREADS)]

    def one(self, name):
        t = time.time()
        try:
            r = http_request(self.port, "/index.html",
                             [(HDR, F.der_b64(self.certs[name]))],
                             timeout=CLIENT_TIMEOUT)
            out = (t, time.time() - t, name, r.status, r.user, None)
        except Exception as e:      # a hung or failed request is a result too
            out = (t, time.time() - t, name, None, None, repr(e))
        with self.lock:
            self.results.append(out)
        return out

    def run(self, i):
        names = list(self.certs)
        n = i
        while not self.stop.is_set():
            self.one(names[n % len(names)])
            n += 1

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(CLIENT_TIMEOUT + 5)

    def since(self, t0, t1=None):
        with self.lock:
            return [x for x in self.results if x[0] >= t0 and (t1 is None or x[0] < t1)]


def p99(latencies):
    s = sorted(latencies)
    return s[min(len(s) - 1, int(len(s) * 0.99))]


def test_hung_cache_server_does_not_stall_requests(hung, pki):
    provider, svc, h = hung
    certs = {n: pki[n] for n in NAMES}
    port = h.port("fwd")

    # the right answers, from a healthy cache server (stored, then read back)
    expected = {}
    for name in NAMES:
        r = http_request(port, "/index.html", [(HDR, F.der_b64(certs[name]))])
        expected[name] = (r.status, r.user)
    assert expected["alice"] == (200, ALICE_DN), expected
    assert expected["bob"] == (200, pki["bob"].subject), expected
    for bad in ("revoked", "expired", "lookalike", "selfsigned"):
        assert expected[bad] == (403, ""), (bad, expected[bad])

    mark = h.log_mark()
    load = Load(port, certs).start()
    stopped_at = continued_at = None
    try:
        assert h.wait_log(mark, HIT, timeout=10), "the shared cache is not used"
        time.sleep(1.0)
        stop_mark = h.log_mark()
        svc.proc.send_signal(signal.SIGSTOP)
        stopped_at = time.time()
        time.sleep(STOPPED_SECONDS)
    finally:
        if svc.proc is not None:
            svc.proc.send_signal(signal.SIGCONT)
        continued_at = time.time()

    try:
        hits_before = server_hits(provider, svc)
        cont_mark = h.log_mark()
        # the cache is used again once it answers (at most the breaker's
        # current pause, which the few seconds above keep short)
        again = h.wait_log(cont_mark, HIT, timeout=45)
        # since the stop: the breaker may close while the hit count above
        # is read (before cont_mark), or log it just after another
        # thread's hit
        reopened = h.wait_log(stop_mark, CLOSED, timeout=10)
        time.sleep(0.5)
        hits_after = server_hits(provider, svc)
    finally:
        load.finish()

    results = load.since(0)
    failed = [x for x in results if x[5] is not None]
    wrong = [x for x in results if x[5] is None and (x[3], x[4]) != expected[x[2]]]
    stopped = load.since(stopped_at, continued_at)
    lat = [x[1] for x in results]
    slowest = sorted(results, key=lambda x: -x[1])[:5]
    assert not failed, "%d of %d requests failed, e.g. %r" % (len(failed), len(results),
                                                             failed[:3])
    assert not wrong, "%d wrong answers, e.g. %r" % (len(wrong), wrong[:3])
    assert len(stopped) >= 4 * THREADS, \
        "only %d requests were answered while the server was stopped" % len(stopped)
    assert p99(lat) < P99_BOUND, "p99 %.2f s over %d requests; slowest %r" % (
        p99(lat), len(lat), slowest)
    assert h.log_lines(stop_mark, OPENED), \
        "the module did not say it stopped asking the hung server"
    assert again, "the shared cache was not used again after SIGCONT"
    assert reopened, "the module did not say it uses the server again"
    assert hits_after > hits_before, (hits_before, hits_after)
    assert h.running()


# -- child exit with a call stuck on the hung server ---------------------------------

def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return out


def test_children_exit_with_a_call_stuck(hung, pki):
    """A child whose cache thread waits for a hung server still exits at
    once on graceful restart and on stop: httpd does not have to kill it."""
    provider, svc, h = hung
    port = h.port("fwd")

    def get(name):
        t = time.time()
        r = http_request(port, "/index.html", [(HDR, F.der_b64(pki[name]))],
                         timeout=CLIENT_TIMEOUT)
        assert time.time() - t < P99_BOUND, "request took %.1f s" % (time.time() - t)
        return r

    assert get("alice").user == ALICE_DN
    old = children(h.proc.pid)
    assert old
    mark = h.log_mark()
    svc.proc.send_signal(signal.SIGSTOP)
    try:
        for name in ("alice", "bob", "revoked") * 3:
            r = get(name)
            assert (r.status, r.user) == ((403, "") if name == "revoked"
                                          else (200, pki[name].subject)), r
        assert h.log_lines(mark, OPENED), h.log_since(mark)
        h.reload(**h.last_conf)
        deadline = time.time() + 10
        while time.time() < deadline and set(old) & set(children(h.proc.pid)):
            time.sleep(0.1)
        assert not set(old) & set(children(h.proc.pid)), \
            "the old children did not exit on graceful restart"
        # the new children: the server is still hung, answers still come
        assert get("bob").user == pki["bob"].subject
        assert get("revoked").status == 403
        t = time.time()
        h.stop()
        took = time.time() - t
    finally:
        svc.proc.send_signal(signal.SIGCONT)
    log = h.log_since(mark)
    assert "did not exit" not in log and "SIGKILL" not in log, log[-2000:]
    assert took < 5, "apache2 took %.1f s to stop" % took


# -- the directive -------------------------------------------------------------------

def test_configured_timeout_is_used(request, workroot, pki, module_so):
    provider, svc, h = start_pair(request, workroot, pki, module_so, "redis",
                                  "X509AuthnCacheTimeout 300\n")
    port = h.port("fwd")
    hdr = [(HDR, F.der_b64(pki["alice"]))]
    assert http_request(port, "/index.html", hdr).user == ALICE_DN
    mark = h.log_mark()
    svc.proc.send_signal(signal.SIGSTOP)
    try:
        t = time.time()
        r = http_request(port, "/index.html", hdr, timeout=CLIENT_TIMEOUT)
        took = time.time() - t
        # the next one does not wait at all, but is still right
        r2 = http_request(port, "/index.html", hdr, timeout=CLIENT_TIMEOUT)
    finally:
        svc.proc.send_signal(signal.SIGCONT)
    assert r.user == ALICE_DN and r2.user == ALICE_DN
    assert took >= 0.3, "did not wait the configured 300 ms (%.3f s)" % took
    lines = h.log_lines(mark, OPENED)
    assert len(lines) == 1 and "did not answer within 300 ms" in lines[0], lines
    assert h.log_lines(mark, r"X509A0330: .*not asked"), h.log_since(mark)


# -- its syntax -------------------------------------------------------------------

@pytest.fixture(scope="module")
def conf(request, workroot, pki, module_so):
    return new_httpd(request, workroot, pki, module_so, name="cache-timeout-conf")


@pytest.mark.parametrize("value", ["50", "1", "10000"])
def test_timeout_accepted(conf, value):
    rc, out = conf.configtest(server_extra="X509AuthnCacheTimeout %s\n" % value)
    assert rc == 0, out


@pytest.mark.parametrize("value", ["0", "-5", "10001", "50ms", "abc"])
def test_timeout_refused(conf, value):
    rc, out = conf.configtest(server_extra="X509AuthnCacheTimeout %s\n" % value)
    assert rc != 0, out
    assert "X509AuthnCacheTimeout" in out and value in out, out


def test_timeout_is_server_config_only(conf):
    rc, out = conf.configtest(vhost_extra={"main": "X509AuthnCacheTimeout 50\n"})
    assert rc != 0, out
    assert "X509AuthnCacheTimeout" in out, out


# -- a slow (distant) cache server ----------------------------------------------

class SlowProxy:
    """A TCP proxy in front of the cache server that holds every answer for
    `delay` seconds, as a cache server a few network hops away would: each
    connection is delayed on its own, so that look-ups on several
    connections overlap."""

    def __init__(self, upstream_port, delay):
        import socket
        self.upstream_port = upstream_port
        self.delay = delay
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        import socket
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            up = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=self.pipe, args=(client, up, 0), daemon=True).start()
            threading.Thread(target=self.pipe, args=(up, client, self.delay),
                             daemon=True).start()

    @staticmethod
    def pipe(src, dst, delay):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if delay:
                    time.sleep(delay)
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.close()
            except OSError:
                pass

    def close(self):
        self.sock.close()


def test_concurrent_lookups_overlap(request, workroot, pki, module_so):
    """Each child asks a networked cache server from several threads
    (X509AUTHN_CACHE_THREADS, 4), each on a connection of its own: four
    requests at once to one child, with a cache server 150 ms away, are
    all answered from it within X509AuthnCacheTimeout 450 ms.  One thread
    would answer them one after the other (150, 300, 450, 600 ms): the
    later ones would time out and open the circuit breaker."""
    svc = Redis(os.path.join(workroot, "slow-redis-%s" % uuid.uuid4().hex[:8]))
    request.addfinalizer(svc.stop)
    svc.start()
    proxy = SlowProxy(svc.port, 0.15)
    request.addfinalizer(proxy.close)
    h = new_httpd(request, workroot, pki, module_so, name="slow-redis")
    secret = h.write_file("conf/cache-secret", os.urandom(32).hex() + "\n", 0o600)
    h.start(extra_vhosts={"fwd": F.trust(ca=pki.ca_bundle, crl=pki.crl_bundle)
                          + STATIC},
            extra_modules=[PROVIDERS["redis"][1]],
            # one child: the four requests meet in one process
            server_extra="X509AuthnCache redis:127.0.0.1:%d 300\n"
                         "X509AuthnCacheSecret %s\nX509AuthnCacheEntries 0\n"
                         "X509AuthnCacheTimeout 450\nServerLimit 1\n"
                         "MaxRequestWorkers 16\n" % (proxy.port, secret))
    port = h.port("fwd")
    names = ("alice", "bob", "utf8", "multiou")
    for name in names:
        # the records, written by stores nobody waits for
        r = http_request(port, "/index.html", [(HDR, F.der_b64(pki[name]))],
                         timeout=CLIENT_TIMEOUT)
        assert r.status == 200, (name, r.status)
    deadline = time.time() + 10
    while time.time() < deadline and svc.dbsize() < len(names):
        time.sleep(0.1)
    for _ in range(2):
        # a warm-up round opens the connections of the threads
        mark = h.log_mark()
        load = Load(port, {n: pki[n] for n in names})
        threads = [threading.Thread(target=load.one, args=(n,)) for n in names]
        for t in threads:
            t.start()
        for t in threads:
            t.join(CLIENT_TIMEOUT + 5)
    results = load.since(0)[-len(names):]
    assert [(x[2], x[3]) for x in sorted(results, key=lambda x: x[2])] == \
        [(n, 200) for n in sorted(names)], results
    assert len(h.log_lines(mark, HIT)) == len(names), h.log_since(mark)
    assert not h.log_lines(mark, r"X509A033[0-4]"), h.log_since(mark)
