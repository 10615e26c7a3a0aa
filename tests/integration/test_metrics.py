"""Status counters (issue 14): mod_status's "mod_x509authn" section and
?auto lines, and the x509authn-metrics handler (Prometheus text format).

A scripted mix of accepted and refused requests, both sources, several
refusal reasons, sent concurrently over many connections to a server with
two children; every counter then equals what was sent, on the HTML page, in
?auto and in the metrics; graceful restarts keep the counts, a full restart
(SIGHUP, or a stop and start) starts again from zero.  promtool checks the exposition, and a real
Prometheus server scrapes it and answers a query with the counts.

Servers (one httpd):
    main      direct TLS (SSLVerifyClient optional)
    noca      SSLVerifyClient optional_no_ca: not-verified
    fwd       plain HTTP, trusts 127.0.0.1 (127.0.0.2 is not): forwarded
              certificates
    preq      TLS, trusts 127.0.0.1 whose certificate must be the load
              balancer's: proxy-refused
    plain     /t/status (mod_status), /t/metrics (x509authn-metrics)
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

import forwarded as F
from clients import curl, curl_multi, http_request
from expect import B_DN
from httpd import free_port, locations, new_httpd, quote

HDR = "X-SSL-Client-Cert"
UNTRUSTED = "127.0.0.2"

HEADER_LOCS = """
<Location /t/hdr>
    AuthType X509
    X509AuthnSource header
    Require valid-user
</Location>
"""


@pytest.fixture(scope="module")
def h(request, workroot, pki, module_so, loopback_aliases):
    srv = new_httpd(request, workroot, pki, module_so, name="metrics")
    srv.write_file("conf/bob.map", "fingerprint sha256:%s bob-mapped\n" % pki["bob"].sha256)
    basic = ('AuthType Basic\nAuthName "fallback"\nAuthBasicProvider file\n'
             'AuthUserFile %s\n' % quote(srv.path("conf/htpasswd")))
    x509 = "AuthType X509\nRequire valid-user\n"
    locs = {
        "x": x509,
        "fb": basic + "X509Authn On\nRequire valid-user",
        "r-iss": x509 + "X509AuthnRequireIssuer %s\n" % quote(B_DN),
        "map": x509 + "X509AuthnUserMap %s\nX509AuthnUserMapRequired On\n"
               % quote(srv.path("conf/bob.map")),
        "status": "SetHandler server-status\nRequire ip 127.0.0.1",
        "metrics": "SetHandler x509authn-metrics\nRequire ip 127.0.0.1",
    }
    proxy = pki["proxy"]
    vh = {
        "fwd": F.trust("127.0.0.1", ca=pki.ca_bundle, crl=pki.crl_bundle) + HEADER_LOCS,
        "preq": dict(verify="optional", crl=True,
                     conf=F.trust("127.0.0.1", ca=pki.ca_bundle,
                                  require=[("subject", proxy.subject)]) + HEADER_LOCS),
    }
    server_extra = (
        # two children, both kept (MinSpareThreads = 2 x ThreadsPerChild)
        "StartServers 2\nMinSpareThreads 32\nMaxSpareThreads 64\n"
        'CustomLog "%s" "%%P %%{X-Test-Tag}i"\n' % srv.path("logs/pid.log"))
    srv.kw = dict(locations=locations(locs), extra_vhosts=vh, server_extra=server_extra,
                  extra_modules=[("status_module", "mod_status.so")])
    srv.start(**srv.kw)
    started(srv)
    return srv


# -- reading the counters --------------------------------------------------------

def auto(h):
    r = curl(h.url("/t/status?auto", "plain"))
    assert r.status == 200, r
    out = {}
    for line in r.text.splitlines():
        m = re.match(r"(X509Authn\w+): (\d+)$", line)
        if m:
            out[m.group(1)] = int(m.group(2))
    assert out, r.text
    return out


GAUGES = ("X509AuthnTrustFiles", "X509AuthnCRL", "X509AuthnExpiring")


def counters(a):
    """The ?auto lines that count (not the trust files' gauges)."""
    return {k: v for k, v in a.items() if not k.startswith(GAUGES)}


def html(h):
    r = curl(h.url("/t/status", "plain"))
    assert r.status == 200, r
    assert "<h2><a name=\"x509authn\">mod_x509authn</a></h2>" in r.text, r.text
    rows = {}
    for m in re.finditer(r"<tr><td>(\w+)</td><td>(\w+)</td><td>([^<]*)</td>"
                         r"<td>(\d+)</td></tr>", r.text):
        rows[(m.group(1), m.group(2), m.group(3))] = int(m.group(4))
    others = {m.group(1): int(m.group(2)) for m in
              re.finditer(r"<tr><td>(\w+)</td><td>(\d+)</td></tr>", r.text)}
    return rows, others


def metrics_text(h):
    r = curl(h.url("/t/metrics", "plain"))
    assert r.status == 200, r
    return r


LINE_RX = re.compile(r'^(x509authn_\w+)(?:\{([^}]*)\})? (\d+)$')


def metrics(h):
    r = metrics_text(h)
    out = {}
    for line in r.text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        m = LINE_RX.match(line)
        assert m, line
        labels = tuple(sorted(re.findall(r'(\w+)="([^"]*)"', m.group(2) or "")))
        out[(m.group(1), labels)] = int(m.group(3))
    return out


def req_metric(source, result, reason=""):
    return ("x509authn_requests_total",
            (("reason", reason), ("result", result), ("source", source)))


# -- the mix ---------------------------------------------------------------------

def fwd(h, value=None, source=None):
    fields = [(HDR, value)] if value is not None else []
    return http_request(h.port("fwd"), "/t/hdr/env", fields, source=source)


def mix(h, pki):
    """(callable, expected status) pairs, and the counts they make:
    (source, result, reason) -> n, and the other counters."""
    alice, bob = pki["alice"], pki["bob"]
    jobs = []
    want = {}
    other = {}

    def add(n, key, fn, status):
        for _ in range(n):
            jobs.append((fn, status))
        want[key] = want.get(key, 0) + n

    add(6, ("tls", "accepted", ""), lambda: h.get("x", "alice"), 200)
    add(2, ("tls", "accepted", ""), lambda: h.get("fb", "alice"), 200)
    add(2, ("tls", "accepted", ""), lambda: h.get("map", "bob"), 200)
    add(3, ("tls", "refused", "no-certificate"), lambda: h.get("x"), 403)
    add(2, ("tls", "refused", "rule:Issuer"), lambda: h.get("r-iss", "alice"), 403)
    add(1, ("tls", "refused", "unmapped"), lambda: h.get("map", "alice"), 403)
    add(2, ("tls", "refused", "not-verified"),
        lambda: h.get("x", "selfsigned", vhost="noca"), 403)
    add(3, ("tls", "fallback", "no-certificate"), lambda: h.get("fb"), 401)
    add(4, ("header", "accepted", ""), lambda: fwd(h, F.der_b64(alice)), 200)
    add(1, ("header", "refused", "revoked"), lambda: fwd(h, F.der_b64(pki["revoked"])), 403)
    add(1, ("header", "refused", "expired"), lambda: fwd(h, F.der_b64(pki["expired"])), 403)
    add(2, ("header", "refused", "decode-error"), lambda: fwd(h, "not*a*certificate"), 403)
    add(1, ("header", "refused", "no-certificate"), lambda: fwd(h), 403)
    add(2, ("header", "refused", "untrusted-peer"),
        lambda: fwd(h, F.der_b64(alice), source=UNTRUSTED), 403)
    hdr = ["%s: %s" % (HDR, F.der_b64(alice))]
    add(1, ("header", "refused", "proxy-refused"),
        lambda: curl(h.url("/t/hdr/env", "preq"), cert=bob, headers=hdr), 403)
    # the header leaves the untrusted peers' and the refused proxy's requests
    other["HeaderRemoved"] = 3
    other["ProxyRefused"] = 1
    other["MapLookupsMapped"] = 2
    other["MapLookupsUnmapped"] = 1
    return jobs, want, other


def run_mix(h, pki):
    jobs, want, other = mix(h, pki)
    pidlog = h.path("logs/pid.log")
    mark = os.path.getsize(pidlog) if os.path.exists(pidlog) else 0
    with ThreadPoolExecutor(max_workers=8) as ex:
        results = list(ex.map(lambda j: (j[0](), j[1]), jobs))
    for r, status in results:
        assert r.status == status, r
    return want, other, mark


def camel(token):
    return "".join(p[:1].upper() + p[1:] for p in re.split(r"[-:]", token))


def check_all(h, want, other):
    """Every counter, in all three reports, equals `want`/`other`."""
    a = auto(h)
    rows, others = html(h)
    m = metrics(h)
    for source in ("tls", "header"):
        for result in ("accepted", "refused", "fallback"):
            n = sum(v for (s, res, _), v in want.items() if s == source and res == result)
            assert a["X509AuthnRequests%s%s" % (source.title(), result.title())] == n, \
                (source, result, a)
    reasons = {rs for (_, res, rs) in want if res != "accepted"}
    for rs in reasons | {"revocation-unknown", "rule:Subject", "internal"}:
        n = sum(v for (_, res, r2), v in want.items() if r2 == rs and res != "accepted")
        assert a["X509AuthnReason" + camel(rs)] == n, (rs, a)
    for (source, result, reason), n in want.items():
        assert m[req_metric(source, result, reason)] == n, (source, result, reason)
        assert rows[(source, result, reason)] == n, (source, result, reason, rows)
    # every other series of x509authn_requests_total is 0
    for (name, labels), v in m.items():
        if name == "x509authn_requests_total":
            d = dict(labels)
            assert v == want.get((d["source"], d["result"], d["reason"]), 0), (labels, v)
    for name, n in other.items():
        assert a["X509Authn" + name] == n, (name, a)
        assert others[name] == n, (name, others)
    assert m[("x509authn_untrusted_headers_removed_total", ())] == other["HeaderRemoved"]
    assert m[("x509authn_proxy_certificates_refused_total", ())] == other["ProxyRefused"]
    assert m[("x509authn_map_lookups_total", (("result", "mapped"),))] == \
        other["MapLookupsMapped"]
    # caches: every verified TLS certificate is looked up on its connection
    # first, the process cache when the connection had none
    tls_cert = sum(v for (s, res, rs), v in want.items()
                   if s == "tls" and rs in ("", "rule:Issuer", "unmapped"))
    # and the refused proxy's own certificate, for X509AuthnProxyRequire
    tls_cert += other["ProxyRefused"]
    assert a["X509AuthnCacheConnectionHit"] + a["X509AuthnCacheConnectionMiss"] == tls_cert, a
    # (one connection per request here: each is a miss)
    assert a["X509AuthnCacheConnectionMiss"] == tls_cert, a
    fwd_decoded = sum(v for (s, res, rs), v in want.items()
                      if s == "header" and rs in ("", "revoked", "expired",
                                                  "decode-error"))
    assert a["X509AuthnCacheProcessHit"] + a["X509AuthnCacheProcessMiss"] == \
        tls_cert + fwd_decoded, a
    # the shared cache (the default shmcb) is asked for the decoded chains
    # the process caches did not know; a miss is verified locally
    shared = a["X509AuthnCacheSharedHit"] + a["X509AuthnCacheSharedMiss"]
    assert 3 <= shared <= fwd_decoded, a
    assert a["X509AuthnVerificationsOk"] + a["X509AuthnVerificationsFailed"] == \
        a["X509AuthnCacheSharedMiss"], a
    # verified locally, unless every chain came from the shmcb, which a
    # restart keeps (only a stop empties it)
    assert (a["X509AuthnVerificationsOk"] >= 1 and a["X509AuthnVerificationsFailed"] >= 1) \
        or a["X509AuthnCacheSharedHit"] == shared, a
    return a, m


def wait_counts(h, total):
    """The counts of the last requests can be written after their response
    went out: wait until the totals add up."""
    deadline = time.time() + 5
    while True:
        a = auto(h)
        n = sum(v for k, v in a.items() if k.startswith("X509AuthnRequests"))
        if n >= total or time.time() > deadline:
            return
        time.sleep(0.1)


def started(h, mark=0):
    """The MPM has its signal handlers (a SIGHUP before would end
    apache2)."""
    assert h.wait_log(mark, "resuming normal operations", timeout=20), h.log_since(mark)


def full_restart(h):
    """apachectl restart: SIGHUP."""
    mark = h.log_mark()
    os.kill(h.proc.pid, signal.SIGHUP)
    started(h, mark)
    time.sleep(0.3)


def stop_start(h):
    h.stop()
    mark = h.log_mark()
    h.start(**h.kw)
    started(h, mark)


# -- tests -----------------------------------------------------------------------

def test_counters_everywhere(h, pki):
    full_restart(h)
    want, other, mark = run_mix(h, pki)
    wait_counts(h, sum(want.values()))
    a, m = check_all(h, want, other)
    # the mix went over both children
    with open(h.path("logs/pid.log")) as f:
        f.seek(mark)
        pids = {line.split()[0] for line in f.read().splitlines() if line.strip()}
    print("children that served the mix:", sorted(pids))
    print(curl(h.url("/t/status?auto", "plain")).text)
    print(metrics_text(h).text)
    assert len(pids) == 2, pids


def test_graceful_keeps_full_restart_resets(h, pki):
    full_restart(h)
    want, other, _ = run_mix(h, pki)
    wait_counts(h, sum(want.values()))
    check_all(h, want, other)
    h.reload(**h.kw)
    check_all(h, want, other)
    # and the new generation adds to them
    assert h.get("x", "alice").status == 200
    want[("tls", "accepted", "")] += 1
    wait_counts(h, sum(want.values()))
    a = auto(h)
    assert a["X509AuthnRequestsTlsAccepted"] == want[("tls", "accepted", "")], a
    full_restart(h)
    a = counters(auto(h))
    assert a and all(v == 0 for v in a.values()), a
    assert all(v == 0 for (k, _), v in metrics(h).items() if k.endswith("_total"))
    # a stop and a start too
    assert h.get("x", "alice").status == 200
    wait_counts(h, 1)
    assert auto(h)["X509AuthnRequestsTlsAccepted"] == 1
    stop_start(h)
    assert all(v == 0 for v in counters(auto(h)).values())


def test_metrics_format(h, pki):
    r = metrics_text(h)
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4"), r.headers
    text = r.text
    for name in ("x509authn_requests_total", "x509authn_cache_lookups_total",
                 "x509authn_verifications_total", "x509authn_map_lookups_total",
                 "x509authn_untrusted_headers_removed_total",
                 "x509authn_proxy_certificates_refused_total"):
        assert "# HELP %s " % name in text and "# TYPE %s counter" % name in text, name
    # no personal data in the labels
    for s in (pki["alice"].subject, "alice", pki["alice"].sha256):
        assert s.lower() not in text.lower()
    # accepted requests have an empty reason
    assert re.search(r'result="accepted",reason=""\}', text)
    assert not re.search(r'result="accepted",reason="[^"]', text)


def test_promtool(h, pki):
    promtool = shutil.which("promtool")
    if not promtool:
        pytest.skip("promtool missing (Debian package prometheus, scripts/deps.sh test)")
    run_mix(h, pki)
    r = metrics_text(h)
    p = subprocess.run([promtool, "check", "metrics"], input=r.text.encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    assert p.returncode == 0 and p.stdout.decode().strip() == "", p.stdout.decode()


def test_prometheus_scrapes(h, pki, workroot):
    prom = shutil.which("prometheus")
    if not prom:
        pytest.skip("prometheus missing (Debian package prometheus, scripts/deps.sh test)")
    full_restart(h)
    want, other, _ = run_mix(h, pki)
    wait_counts(h, sum(want.values()))
    d = os.path.join(workroot, "prometheus-%d" % os.getpid())
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "data"))
    conf = os.path.join(d, "prometheus.yml")
    with open(conf, "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                "scrape_configs:\n  - job_name: x509authn\n"
                "    metrics_path: /t/metrics\n"
                "    static_configs:\n      - targets: ['127.0.0.1:%d']\n" % h.port("plain"))
    port = free_port()
    log = open(os.path.join(d, "prometheus.log"), "wb")
    p = subprocess.Popen([prom, "--config.file=" + conf, "--storage.tsdb.path=" + d + "/data",
                          "--web.listen-address=127.0.0.1:%d" % port],
                         stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                         start_new_session=True)
    try:
        def query(q):
            url = "http://127.0.0.1:%d/api/v1/query?%s" % (
                port, urllib.parse.urlencode({"query": q}))
            with urllib.request.urlopen(url, timeout=5) as resp:
                return json.load(resp)

        q = 'sum by (source, result, reason) (x509authn_requests_total)'
        got = None
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                res = query(q)
                if res["status"] == "success" and res["data"]["result"]:
                    got = {(x["metric"]["source"], x["metric"]["result"],
                            x["metric"].get("reason", "")): int(float(x["value"][1]))
                           for x in res["data"]["result"]}
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.5)
        assert got is not None, open(os.path.join(d, "prometheus.log")).read()[-3000:]
        for key, v in got.items():
            assert v == want.get(key, 0), (key, v)
        for key, n in want.items():
            assert got[key] == n, key
        res = query('x509authn_proxy_certificates_refused_total')
        assert int(float(res["data"]["result"][0]["value"][1])) == other["ProxyRefused"]
        # the CRL gauges, as the handler serves them
        want_crl = {(dict(labels)["issuer"], dict(labels)["file"]): v
                    for (name, labels), v in metrics(h).items()
                    if name == "x509authn_crl_next_update_timestamp_seconds"}
        assert want_crl
        res = query('x509authn_crl_next_update_timestamp_seconds')
        got_crl = {(x["metric"]["issuer"], x["metric"]["file"]): int(float(x["value"][1]))
                   for x in res["data"]["result"]}
        assert got_crl == want_crl, (got_crl, want_crl)
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        log.close()


def test_counters_http2_streams(h, pki):
    """Requests on the streams of one HTTP/2 connection are counted each
    once, whichever worker thread serves them; the connection's certificate
    is looked up on the (master) connection: one miss, then hits."""
    full_restart(h)
    locs = ["x", "r-iss", "x", "map", "x", "r-iss", "x"]
    res = curl_multi([h.url("/t/%s/env" % loc) for loc in locs], cert=pki["alice"],
                     http2=True)
    assert [r[1] for r in res] == ["2"] * len(locs), res
    assert sum(r[2] for r in res) == 1, res
    assert [r[0] for r in res] == [200, 403, 200, 403, 200, 403, 200], res
    wait_counts(h, len(locs))
    a = auto(h)
    assert a["X509AuthnRequestsTlsAccepted"] == 4, a
    assert a["X509AuthnRequestsTlsRefused"] == 3, a
    assert a["X509AuthnReasonRuleIssuer"] == 2, a
    assert a["X509AuthnReasonUnmapped"] == 1, a
    assert a["X509AuthnMapLookupsUnmapped"] == 1, a
    assert a["X509AuthnCacheConnectionMiss"] == 1, a
    assert a["X509AuthnCacheConnectionHit"] == len(locs) - 1, a
    m = metrics(h)
    assert m[req_metric("tls", "accepted")] == 4
    assert m[req_metric("tls", "refused", "rule:Issuer")] == 2
