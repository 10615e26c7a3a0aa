"""Shared-cache records are authenticated, and no cached verdict outlives
the CRLs it was decided with (issue 11, defects 3 and 7).

With a real redis-server: whoever can write to the cache server can make a
server verify locally, never accept a certificate it would refuse.

- a record forged for a self-signed CN=admin (in the format the module used
  to write, and in the current one with a made-up MAC) is ignored: refused,
  and a warning logged at most once a minute per process;
- a revoked certificate's failure record overwritten with a good record of
  another certificate (or of the same certificate under other settings) is
  ignored: still refused;
- a networked provider without X509AuthnCacheSecret fails configtest, and a
  bad secret file is refused with what is wrong;
- rotation: a server with `X509AuthnCacheSecret K2 K1` takes records written
  under K1; servers that only know one of the keys verify locally;
- failure records live at most 300 s, even under a longer X509AuthnCache
  lifetime;
- a CRL whose nextUpdate passes: a certificate verified before is refused
  ("CRL has expired") by the server that cached it per process and by a
  server that finds its record in redis.
"""

import base64
import datetime
import hashlib
import os
import re
import shutil
import socket
import struct
import subprocess
import time
import uuid

import pytest

from clients import http_request
from expect import ALICE_DN, ok, denied, INFO_RX, check_rejection_line
import forwarded as F
from httpd import new_httpd, quote
import pki as pkimod
from services import Redis

HDR = "X-SSL-Client-Cert"
REDIS_MODULE = ("socache_redis_module", "mod_socache_redis.so")
MEMCACHE_MODULE = ("socache_memcache_module", "mod_socache_memcache.so")
HIT = r"X509A0303: verification result taken from the shared cache \(redis\)"
WARN = r"\[x509authn:warn\].*X509A0311"
KEY_HEX = 128   # the cache key (64 bytes) as the provider's key: hex


# -- redis, spoken to directly (as an attacker with write access would) -------------

def _resp(port, *args):
    """One command; the parsed reply (bytes, int, list or None)."""
    req = b"*%d\r\n" % len(args) + b"".join(
        b"$%d\r\n%s\r\n" % (len(a), a) for a in
        (x.encode() if isinstance(x, str) else x for x in args))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(req)
        f = s.makefile("rb")

        def read():
            line = f.readline()
            kind, rest = line[:1], line[1:-2]
            if kind == b"+":
                return rest
            if kind == b"-":
                raise AssertionError("redis: %r" % rest)
            if kind == b":":
                return int(rest)
            if kind == b"$":
                n = int(rest)
                if n < 0:
                    return None
                data = f.read(n + 2)
                return data[:-2]
            if kind == b"*":
                return [read() for _ in range(int(rest))]
            raise AssertionError("redis reply %r" % line)
        return read()


class Kv:
    def __init__(self, svc):
        self.port = svc.port

    def keys(self):
        return sorted(k.decode() for k in _resp(self.port, "KEYS", "*"))

    def get(self, key):
        return _resp(self.port, "GET", key)

    def set(self, key, value):
        assert _resp(self.port, "SET", key, value) == b"OK"

    def ttl(self, key):
        return _resp(self.port, "TTL", key)

    def flush(self):
        _resp(self.port, "FLUSHALL")


def split_key(name):
    """The provider's key name: a tag, then the cache key in hex."""
    tag, hexkey = name[:-KEY_HEX], name[-KEY_HEX:]
    key = bytes.fromhex(hexkey)
    assert key_name(tag, key, name) == name, name
    return tag, key


def key_name(tag, key, like):
    """The name of `key` in the provider, written as `like` is."""
    hexkey = key.hex()
    return tag + (hexkey.upper() if like[-KEY_HEX:].isupper() else hexkey)


def new_key(kv, before, timeout=5.0):
    """The one record stored since `before`.  Stores to a networked cache
    are made by the child's cache thread after the response (requests do
    not wait for them): wait for it a little."""
    deadline = time.time() + timeout
    while True:
        new = [k for k in kv.keys() if k not in before]
        if new or time.time() > deadline:
            break
        time.sleep(0.05)
    assert len(new) == 1, (before, kv.keys())
    return new[0]


# -- fixtures ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def redis(request, workroot):
    svc = Redis(os.path.join(workroot, "redis-records-" + uuid.uuid4().hex[:8]))
    request.addfinalizer(svc.stop)
    svc.start()
    return svc


@pytest.fixture
def kv(redis):
    k = Kv(redis)
    k.flush()
    return k


@pytest.fixture(scope="module")
def admin(workroot):
    """A self-signed client certificate for CN=admin (DER)."""
    d = os.path.join(workroot, "admin-" + uuid.uuid4().hex[:8])
    os.makedirs(d)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                    os.path.join(d, "admin.key"), "-out", os.path.join(d, "admin.crt"),
                    "-subj", "/CN=admin", "-days", "30",
                    "-addext", "basicConstraints=critical,CA:FALSE",
                    "-addext", "extendedKeyUsage=clientAuth"],
                   check=True, capture_output=True)
    return pkimod.pem_to_der(open(os.path.join(d, "admin.crt")).read())


def hexsecret():
    return os.urandom(32).hex() + "\n"


def start(request, workroot, pki, module_so, name, redis, secrets, crl=None,
          extra="", ttl=300):
    """An httpd with two trusted-proxy hosts sharing `redis`:
        fwd     CA root+A+B, CRLs `crl` (default: root, A, B)
        strict  CA root+A only
    secrets: contents of the X509AuthnCacheSecret files, in order."""
    h = new_httpd(request, workroot, pki, module_so, name=name)
    files = []
    for i, data in enumerate(secrets):
        files.append(h.write_file("conf/secret%d" % i, data, 0o600))
    h.write_file("conf/root-a.pem", open(pki["root"].cert).read()
                 + open(pki["issuing-a"].cert).read())
    locs = F.proxy_locations()
    vhosts = {
        "fwd": F.trust(ca=pki.ca_bundle, crl=crl or pki.crl_bundle) + locs,
        "strict": F.trust(ca=h.path("conf/root-a.pem")) + locs,
    }
    line = ("X509AuthnCacheSecret %s\n" % " ".join(quote(f) for f in files)
            if files else "")
    h.start(extra_vhosts=vhosts, extra_modules=[REDIS_MODULE],
            server_extra="X509AuthnCache redis:127.0.0.1:%d %d\n%s%s"
                         % (redis.port, ttl, line, extra))
    return h


def get(h, cert, vhost="fwd"):
    der = cert if isinstance(cert, bytes) else cert.der
    return http_request(h.port(vhost), "/t/hdr/env",
                        [(HDR, base64.b64encode(der).decode())], timeout=10)


def warn_pids(h, mark):
    return [re.search(r"\[pid (\d+)", ln).group(1) for ln in h.log_lines(mark, WARN)]


def assert_warned_once_per_process(h, mark):
    pids = warn_pids(h, mark)
    assert pids, "no warning:\n" + h.log_since(mark)
    assert len(pids) == len(set(pids)), "more than one warning a minute:\n" + \
        "\n".join(h.log_lines(mark, WARN))


# -- (a) forged records --------------------------------------------------------------

def test_forged_record_for_self_signed_admin(request, workroot, pki, module_so,
                                             redis, kv, admin):
    h = start(request, workroot, pki, module_so, "records-forge", redis, [hexsecret()],
              extra="X509AuthnCacheEntries 0\n")
    # a legitimate record shows the key layout and the settings digest,
    # as it would to anyone who can read the cache server
    ok(get(h, pki["alice"]), ALICE_DN)
    name = new_key(kv, [])
    tag, key = split_key(name)
    legit = kv.get(name)
    settings = key[32:]
    leaf = hashlib.sha256(admin).digest()
    target = key_name(tag, hashlib.sha256(leaf).digest() + settings, name)
    now = int(time.time())

    # 1. in the format the module used to write: 'V', 1, the fingerprint,
    #    the validity window
    kv.set(target, b"V\x01" + leaf + struct.pack(">QQ", now - 3600, now + 86400))
    mark = h.log_mark()
    r = get(h, admin)
    denied(r)
    assert not h.log_lines(mark, HIT), h.log_since(mark)
    lines = h.wait_log(mark, INFO_RX)
    assert lines and "self-signed" in lines[-1], h.log_since(mark)

    # 2. in the current format, under the module's key id, with a made-up MAC
    forged = (bytes([legit[0]]) + legit[1:9] + b"V"
              + struct.pack(">qqq", now + 3600, now - 3600, now + 86400)
              + bytes([1, 0, 0]) + leaf + os.urandom(32))
    kv.set(target, forged)
    mark = h.log_mark()
    denied(get(h, admin))
    assert not h.log_lines(mark, HIT), h.log_since(mark)
    warn = h.wait_log(mark, WARN)
    assert warn and "not authentic" in warn[0], h.log_since(mark)
    assert "verified locally" in warn[0]

    # again and again: refused every time, warned at most once a minute
    for _ in range(6):
        kv.set(target, forged)
        denied(get(h, admin))
    time.sleep(0.3)
    assert_warned_once_per_process(h, mark)
    # the legitimate record still serves
    mark = h.log_mark()
    ok(get(h, pki["alice"]), ALICE_DN)
    assert h.log_lines(mark, HIT), h.log_since(mark)


# -- (b) transplanted records --------------------------------------------------------

def test_good_record_transplanted_onto_revoked(request, workroot, pki, module_so,
                                               redis, kv):
    h = start(request, workroot, pki, module_so, "records-transplant", redis,
              [hexsecret()], extra="X509AuthnCacheEntries 0\n")
    rv = pki["revoked"]
    ok(get(h, pki["alice"]), ALICE_DN)
    alice_key = new_key(kv, [])
    denied(get(h, rv))
    revoked_key = new_key(kv, [alice_key])
    assert kv.get(revoked_key) != kv.get(alice_key)

    kv.set(revoked_key, kv.get(alice_key))
    mark = h.log_mark()
    denied(get(h, rv))
    assert not h.log_lines(mark, HIT), h.log_since(mark)
    lines = h.wait_log(mark, INFO_RX)
    assert lines, h.log_since(mark)
    check_rejection_line(lines[-1], rv, r"revoked")
    assert_warned_once_per_process(h, mark)
    # verified locally, and the right record written back
    mark = h.log_mark()
    denied(get(h, rv))
    assert h.log_lines(mark, HIT), h.log_since(mark)


def test_record_transplanted_to_other_settings(request, workroot, pki, module_so,
                                               redis, kv):
    """bob verifies on "fwd" (root+A+B); "strict" (root+A) must refuse him
    even when his "fwd" record is copied to his "strict" key."""
    h = start(request, workroot, pki, module_so, "records-settings", redis,
              [hexsecret()], extra="X509AuthnCacheEntries 0\n")
    bob = pki["bob"]
    ok(get(h, bob), bob.subject)
    fwd_key = new_key(kv, [])
    denied(get(h, bob, vhost="strict"))
    strict_key = new_key(kv, [fwd_key])
    # same chain, other settings digest
    assert split_key(fwd_key)[1][:32] == split_key(strict_key)[1][:32]

    kv.set(strict_key, kv.get(fwd_key))
    mark = h.log_mark()
    denied(get(h, bob, vhost="strict"))
    assert not h.log_lines(mark, HIT), h.log_since(mark)
    lines = h.wait_log(mark, INFO_RX)
    assert lines and "unable to get local issuer certificate" in lines[-1], lines


# -- (c) configuration ---------------------------------------------------------------

@pytest.fixture(scope="module")
def cfg(request, workroot, pki, module_so):
    h = new_httpd(request, workroot, pki, module_so, name="records-config")
    h.write_file("conf/good.hex", hexsecret())
    h.write_file("conf/good2.hex", hexsecret())
    with open(h.path("conf/good.raw"), "wb") as f:
        f.write(os.urandom(48))
    h.write_file("conf/short.hex", os.urandom(31).hex() + "\n")
    h.write_file("conf/passphrase", "my very secret passphrase, nobody guesses it\n")
    h.write_file("conf/empty", "")
    return h


def configtest(h, provider="redis", secret=None, vhost_secret=None):
    extra = "X509AuthnCache %s\n" % provider
    if secret is not None:
        extra += "X509AuthnCacheSecret %s\n" % secret
    vhost_extra = {"main": "X509AuthnCacheSecret %s\n" % vhost_secret} \
        if vhost_secret else None
    return h.configtest(server_extra=extra, vhost_extra=vhost_extra,
                        extra_modules=[REDIS_MODULE, MEMCACHE_MODULE])


@pytest.mark.parametrize("provider", ["redis:127.0.0.1:6379",
                                      "memcache:127.0.0.1:11211"])
def test_networked_cache_without_secret_fails_configtest(cfg, provider):
    rc, out = configtest(cfg, provider)
    assert rc != 0, out
    assert "X509AuthnCacheSecret" in out, out
    assert provider.split(":")[0] in out, out
    assert "Syntax OK" not in out


@pytest.mark.parametrize("provider,secret", [
    ("redis:127.0.0.1:6379", "conf/good.hex"),
    ("redis:127.0.0.1:6379", "conf/good.raw"),
    ("memcache:127.0.0.1:11211", "conf/good.hex conf/good2.hex"),
    ("shmcb", None),
    ("none", None),
])
def test_good_cache_configurations_pass(cfg, provider, secret):
    rc, out = configtest(cfg, provider, secret)
    assert rc == 0, out
    assert "Syntax OK" in out


@pytest.mark.parametrize("secret,why", [
    ("conf/short.hex", r"only 62 hexadecimal digits, at least 64"),
    ("conf/passphrase", r"passphrase is not a key"),
    ("conf/empty", r"only 0 bytes"),
    ("conf/missing", r"cannot read"),
    ("conf/good.hex conf/short.hex", r"short\.hex.*only 62 hexadecimal"),
    ("conf/good.hex conf/good2.hex conf/good.raw", r"X509AuthnCacheSecret"),
])
def test_bad_secret_fails_configtest(cfg, secret, why):
    rc, out = configtest(cfg, secret=secret)
    assert rc != 0, out
    assert "X509AuthnCacheSecret" in out, out
    assert re.search(why, out), out


def test_secret_not_in_virtual_host(cfg):
    rc, out = configtest(cfg, secret="conf/good.hex", vhost_secret="conf/good.hex")
    assert rc != 0, out
    assert re.search(r"X509AuthnCacheSecret.*VirtualHost", out), out


# -- (d) rotation --------------------------------------------------------------------

def test_secret_rotation(request, workroot, pki, module_so, redis, kv):
    k1, k2 = hexsecret(), hexsecret()
    old = start(request, workroot, pki, module_so, "records-k1", redis, [k1],
                extra="X509AuthnCacheEntries 0\n")
    both = start(request, workroot, pki, module_so, "records-k2k1", redis, [k2, k1],
                 extra="X509AuthnCacheEntries 0\n")
    new = start(request, workroot, pki, module_so, "records-k2", redis, [k2],
                extra="X509AuthnCacheEntries 0\n")
    alice, bob = pki["alice"], pki["bob"]

    # written under K1, read by a server that has K1 as its previous key
    mark = old.log_mark()
    ok(get(old, alice), ALICE_DN)
    assert not old.log_lines(mark, HIT)
    alice_key = new_key(kv, [])
    mark = both.log_mark()
    ok(get(both, alice), ALICE_DN)
    assert both.log_lines(mark, HIT), both.log_since(mark)
    assert not both.log_lines(mark, WARN)

    # new records are written under K2
    ok(get(both, bob), bob.subject)
    bob_key = new_key(kv, [alice_key])
    assert kv.get(bob_key)[1:9] != kv.get(alice_key)[1:9], "same key id"
    mark = new.log_mark()
    ok(get(new, bob), bob.subject)
    assert new.log_lines(mark, HIT), new.log_since(mark)

    # a server without K1 does not take K1's records: it verifies locally
    mark = new.log_mark()
    ok(get(new, alice), ALICE_DN)
    assert not new.log_lines(mark, HIT), new.log_since(mark)
    warn = new.wait_log(mark, WARN)
    assert warn and "key id" in warn[0], new.log_since(mark)
    # nor does one without K2
    kv.set(bob_key, kv.get(bob_key))   # (still K2's)
    mark = old.log_mark()
    ok(get(old, bob), bob.subject)
    assert not old.log_lines(mark, HIT), old.log_since(mark)


# -- failure records -----------------------------------------------------------------

def test_failure_records_live_at_most_300s(request, workroot, pki, module_so, redis, kv):
    h = start(request, workroot, pki, module_so, "records-ttl", redis, [hexsecret()],
              ttl=7200, extra="X509AuthnCacheEntries 0\n")
    ok(get(h, pki["alice"]), ALICE_DN)
    alice_key = new_key(kv, [])
    denied(get(h, pki["revoked"]))
    revoked_key = new_key(kv, [alice_key])
    assert 7000 < kv.ttl(alice_key) <= 7200, kv.ttl(alice_key)
    assert 0 < kv.ttl(revoked_key) <= 300, kv.ttl(revoked_key)
    # the record's own expiry says the same (the MAC covers it)
    expires = struct.unpack(">q", kv.get(revoked_key)[10:18])[0]
    assert 0 < expires - time.time() <= 300


# -- (e) CRL nextUpdate --------------------------------------------------------------

def short_crl_bundle(pki, workroot, next_update):
    """CRLs of root, A and B, A's (revoking "revoked") with the given
    nextUpdate; made with `openssl ca -gencrl` on a copy of A's CA."""
    d = os.path.join(workroot, "crl-" + uuid.uuid4().hex[:8])
    shutil.copytree(os.path.join(pki.dir, "ca", "issuing-a"), d)
    conf = os.path.join(d, "openssl.cnf")
    with open(conf, "w") as f:
        f.write(pkimod.CA_CONF.format(dir=d))
    out = os.path.join(d, "issuing-a.crl.pem")
    now = datetime.datetime.now(datetime.timezone.utc)
    subprocess.run(["openssl", "ca", "-batch", "-config", conf, "-gencrl",
                    "-crl_lastupdate", (now - datetime.timedelta(days=1))
                    .strftime("%Y%m%d%H%M%SZ"),
                    "-crl_nextupdate", next_update.strftime("%Y%m%d%H%M%SZ"),
                    "-out", out], check=True, capture_output=True)
    bundle = os.path.join(d, "crl-bundle.pem")
    with open(bundle, "w") as f:
        for path in (pki.crl["root"], out, pki.crl["issuing-b"]):
            f.write(open(path).read())
    os.chmod(d, 0o755)
    return bundle


def test_verdict_does_not_outlive_the_crl(request, workroot, pki, module_so, redis, kv):
    alice = pki["alice"]
    next_update = (datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
                   + datetime.timedelta(seconds=8))
    crl = short_crl_bundle(pki, workroot, next_update)
    secret = hexsecret()
    # per-process cache on (the default), and redis
    a = start(request, workroot, pki, module_so, "records-crl-a", redis, [secret], crl=crl)
    b = start(request, workroot, pki, module_so, "records-crl-b", redis, [secret], crl=crl)
    assert time.time() < next_update.timestamp() - 1, "too slow to start"
    ok(get(a, alice), ALICE_DN)
    ok(get(a, alice), ALICE_DN)
    alice_key = new_key(kv, [])
    # the shared record ends with the CRL
    assert kv.ttl(alice_key) <= 9, kv.ttl(alice_key)
    expires = struct.unpack(">q", kv.get(alice_key)[10:18])[0]
    assert expires <= next_update.timestamp()
    record = kv.get(alice_key)

    time.sleep(max(0.0, next_update.timestamp() + 1.5 - time.time()))
    # the server that verified alice: its per-process entry is dropped
    mark = a.log_mark()
    denied(get(a, alice))
    lines = a.wait_log(mark, INFO_RX)
    assert lines, a.log_since(mark)
    check_rejection_line(lines[-1], alice, r"CRL has expired")

    # a server that finds alice's record in redis (put back as it was,
    # whatever redis did with its expiry) does not take it
    kv.set(alice_key, record)
    mark = b.log_mark()
    denied(get(b, alice))
    assert not b.log_lines(mark, HIT), b.log_since(mark)
    lines = b.wait_log(mark, INFO_RX)
    assert lines, b.log_since(mark)
    check_rejection_line(lines[-1], alice, r"CRL has expired")
    # and nothing was cached: the refusal stays until the CRL is replaced
    mark = b.log_mark()
    denied(get(b, alice))
    assert not b.log_lines(mark, HIT), b.log_since(mark)


# -- shmcb without a secret ----------------------------------------------------------

def test_shmcb_without_secret_across_graceful_restart(request, workroot, pki, module_so):
    """shmcb needs no secret: a random key is made at first start (and kept
    in the process pool across graceful restarts); its records are used."""
    h = new_httpd(request, workroot, pki, module_so, name="records-shmcb")
    kw = dict(extra_vhosts={"fwd": F.trust(ca=pki.ca_bundle, crl=pki.crl_bundle)
                            + F.proxy_locations()},
              server_extra="X509AuthnCacheEntries 0\n")
    h.start(**kw)
    hit = r"X509A0303: verification result taken from the shared cache"
    for _ in range(2):
        ok(get(h, pki["alice"]), ALICE_DN)
        mark = h.log_mark()
        ok(get(h, pki["alice"]), ALICE_DN)
        assert h.log_lines(mark, hit), h.log_since(mark)
        assert not h.log_lines(mark, WARN), h.log_since(mark)
        h.reload(**kw)


@pytest.mark.parametrize("size,parts", [(None, 8), (268435456, 32), (6000000, 1),
                                         (1000000, 1)])
def test_shmcb_parts(request, workroot, pki, module_so, size, parts):
    """A shmcb of 8 MiB or more is split into parts of at least 4 MiB (at
    most 32), picked by the record's key, each with its own index and lock
    (issue 16): the default 32 MiB in 8.  Both children find every record
    another wrote, whichever part holds it."""
    h = new_httpd(request, workroot, pki, module_so, name="records-parts-%s" % size)
    cache = ("X509AuthnCache shmcb 300\n" if size is None else
             "X509AuthnCache shmcb:%s(%d) 300\n" % (h.path("run/x509-parts"), size))
    h.start(extra_vhosts={"fwd": F.trust(ca=pki.ca_bundle, crl=pki.crl_bundle)
                          + F.proxy_locations()},
            server_extra=cache + "X509AuthnCacheEntries 0\n")
    names = ["alice", "bob", "utf8", "escaped", "multiou", "root-direct"]
    hit = r"X509A0303: verification result taken from the shared cache"
    for name in names:
        r = get(h, pki[name])
        assert r.status == 200, (name, r.status)
    mark = h.log_mark()
    # several connections, so that both children look
    for _ in range(3):
        for name in names:
            r = get(h, pki[name])
            assert r.status == 200, (name, r.status)
    assert len(h.log_lines(mark, hit)) == 3 * len(names), h.log_since(mark)
    assert not h.log_lines(mark, r"X509A030[12]|X509A0307"), h.log_since(mark)
    split = r"X509A0308: shared cache \(shmcb\) in (\d+) parts: \S+\.0\((\d+)\)"
    lines = h.log_lines(0, split)
    if parts == 1:
        assert not lines, "\n".join(lines)
    else:
        assert lines, h.log_since(0)
        m = re.search(split, lines[-1])
        assert int(m.group(1)) == parts, lines[-1]
        assert int(m.group(2)) == (size or 32 * 1024 * 1024) // parts


@pytest.mark.parametrize("size", [None, 1000000])
def test_shmcb_kept_across_graceful_restart(request, workroot, pki, module_so, size):
    """A graceful restart keeps the shmcb and its records (issue 16, item 4):
    the first request after it is a shared hit, not a verification.  Other
    arguments make a new one."""
    h = new_httpd(request, workroot, pki, module_so, name="records-kept-%s" % size)
    cache = ("X509AuthnCache shmcb 300\n" if size is None else
             "X509AuthnCache shmcb:%s(%d) 300\n" % (h.path("run/x509-kept"), size))
    vhosts = {"fwd": F.trust(ca=pki.ca_bundle, crl=pki.crl_bundle) + F.proxy_locations()}
    kw = dict(extra_vhosts=vhosts, server_extra=cache + "X509AuthnCacheEntries 0\n")
    h.start(**kw)
    hit = r"X509A0303: verification result taken from the shared cache"
    kept = r"X509A0309: shared cache \(shmcb, \d+ parts?\) kept from before the restart"
    ok(get(h, pki["alice"]), ALICE_DN)
    for _ in range(2):
        mark = h.log_mark()
        h.reload(**kw)
        assert h.log_lines(mark, kept), h.log_since(mark)
        mark = h.log_mark()
        ok(get(h, pki["alice"]), ALICE_DN)
        assert h.log_lines(mark, hit), h.log_since(mark)
    # other arguments: a new cache, which has no record yet
    other = "X509AuthnCache shmcb:%s(%d) 300\n" % (h.path("run/x509-other"), 2000000)
    mark = h.log_mark()
    h.reload(extra_vhosts=vhosts, server_extra=other + "X509AuthnCacheEntries 0\n")
    assert not h.log_lines(mark, kept), h.log_since(mark)
    mark = h.log_mark()
    ok(get(h, pki["alice"]), ALICE_DN)
    assert not h.log_lines(mark, hit), h.log_since(mark)
    mark = h.log_mark()
    ok(get(h, pki["alice"]), ALICE_DN)
    assert h.log_lines(mark, hit), h.log_since(mark)


def _semaphore_sets():
    out = subprocess.run(["ipcs", "-s"], stdout=subprocess.PIPE, check=True).stdout.decode()
    return {ln.split()[1] for ln in out.splitlines() if re.match(r"0x[0-9a-f]+\s+\d+", ln)}


def test_kept_shmcb_released_at_stop(request, workroot, pki, module_so):
    """The kept shmcb's mutexes are released when httpd stops (not at a
    graceful restart): with `Mutex sysvsem`, no semaphore set is left."""
    before = _semaphore_sets()
    h = new_httpd(request, workroot, pki, module_so, name="records-kept-sem")
    kw = dict(extra_vhosts={"fwd": F.trust(ca=pki.ca_bundle, crl=pki.crl_bundle)
                            + F.proxy_locations()},
              server_extra="X509AuthnCache shmcb 300\nX509AuthnCacheEntries 0\n"
                           "Mutex sysvsem x509authn-cache\n")
    h.start(**kw)
    ok(get(h, pki["alice"]), ALICE_DN)
    during = _semaphore_sets() - before
    assert len(during) >= 8, during         # one per part (8), maybe others
    h.reload(**kw)
    mark = h.log_mark()
    ok(get(h, pki["alice"]), ALICE_DN)
    assert h.log_lines(mark, r"X509A0303"), h.log_since(mark)
    assert during <= _semaphore_sets(), "released at the restart"
    h.stop()
    assert not (during & _semaphore_sets()), during & _semaphore_sets()
    # and when a restart leaves nothing that needs the shared cache
    h.start(**kw)
    during = _semaphore_sets() - before
    assert len(during) >= 8, during
    h.reload(server_extra=kw["server_extra"])
    assert not (during & _semaphore_sets()), during & _semaphore_sets()
    h.stop()
