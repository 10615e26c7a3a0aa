"""X509AuthnCacheMaxBytes: the per-process certificate caches are bounded in
(estimated) bytes as well as entries (issue 16, item 3).

One server process (StartServers 1; its threads serve one client easily),
header mode, shmcb off so that every miss of the process cache is a full
verification, counted by the status page's ?auto counters.  Six distinct
certificates, three passes in the same order: a process cache that holds
them all answers the second and third passes (12 hits); one bounded to
about two entries (40K; an entry is estimated at about 16 KiB) answers none
of a cyclic pattern of six.
"""

import os
import re

import pytest

import forwarded as F
from clients import curl, http_request
from httpd import locations, new_httpd
from minipki import MiniPKI

HDR = "X-SSL-Client-Cert"
NAMES = ["b%d" % i for i in range(6)]


@pytest.fixture(scope="module")
def mb(workroot):
    m = MiniPKI(os.path.join(workroot, "cachebytes-pki-%d" % os.getpid()))
    m.ca("r", "/O=Cache Bytes/CN=Bytes Root")
    for n in NAMES:
        m.leaf(n, "/O=Cache Bytes/CN=" + n, issuer="r")
    m.cat("ca.pem", "r")
    return m


def server(request, workroot, pki, module_so, mb, max_bytes):
    h = new_httpd(request, workroot, pki, module_so,
                  name="cachebytes-%s" % (max_bytes or "none"))
    extra = "X509AuthnCache none\nX509AuthnCacheEntries 100\n"
    if max_bytes is not None:
        extra += "X509AuthnCacheMaxBytes %s\n" % max_bytes
    h.start(server_extra=extra,
            locations=locations({"status": "SetHandler server-status\nRequire local"}),
            extra_modules=[("status_module", "mod_status.so")],
            extra_vhosts={"fwd": F.trust("127.0.0.1", ca=mb.path("ca.pem")) + """
<Location /t/hdr>
    AuthType X509
    X509AuthnSource header
    Require valid-user
</Location>
"""})
    return h


def counters(h):
    r = curl(h.url("/t/status?auto", "plain"))
    assert r.status == 200, r
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r"^(X509Authn\w+): (\d+)$", r.text, re.M)}


def passes(h, mb):
    before = counters(h)
    for _ in range(3):
        for n in NAMES:
            r = http_request(h.port("fwd"), "/t/hdr/env", [(HDR, F.der_b64(mb[n]))])
            assert r.status == 200 and r.user == "CN=%s,O=Cache Bytes" % n, r
    after = counters(h)
    return {k: after.get(k, 0) - before.get(k, 0)
            for k in ("X509AuthnCacheProcessHit", "X509AuthnCacheProcessMiss",
                      "X509AuthnVerificationsOk")}


@pytest.mark.parametrize("max_bytes,hits", [
    (None, 12),         # the default (64M) holds them all
    ("0", 12),          # no bound
    ("40K", 0),         # about two entries: a cycle of six never hits
])
def test_bound(request, workroot, pki, module_so, mb, max_bytes, hits):
    h = server(request, workroot, pki, module_so, mb, max_bytes)
    d = passes(h, mb)
    assert d["X509AuthnCacheProcessHit"] == hits, d
    assert d["X509AuthnCacheProcessMiss"] == 18 - hits, d
    # every miss verified the chain again (no shared cache)
    assert d["X509AuthnVerificationsOk"] == 18 - hits, d


@pytest.mark.parametrize("value", ["lots", "-1", "10T", "65G", "1.5M"])
def test_bad_values_fail_configtest(request, workroot, pki, module_so, value):
    h = new_httpd(request, workroot, pki, module_so, name="cachebytes-bad")
    rc, out = h.configtest(server_extra="X509AuthnCacheMaxBytes %s\n" % value)
    assert rc != 0, out
    assert "X509AuthnCacheMaxBytes" in out and "is not a number of bytes" in out, out
