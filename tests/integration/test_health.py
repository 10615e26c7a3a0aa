"""Trust-file health and expiring client certificates (issue 14, items 5
and 6): the status page's tables, ?auto lines and metrics gauges for the
CA and CRL files in use, the parent's once-a-day CRL warnings
(X509AuthnCRLWarn), and the list of client certificates that log in and
expire soon (X509AuthnExpiryWarn).

A purpose-made PKI: root R and issuing CA I; leaves that expire in 5, 10
and 20 days and one in ten years.  Two trust stores:
    fwd    CA file R+I, CRL file "near": R's CRL (nextUpdate in 40 days)
           and I's (nextUpdate in 3 days: within the default 7-day warning)
    stale  the same CA file, CRL file "stale": R's CRL past its nextUpdate
           (every certificate under R is refused, "CRL has expired")
"""

import datetime
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

import forwarded as F
from clients import curl, http_request
from httpd import locations, new_httpd
from minipki import MiniPKI

HDR = "X-SSL-Client-Cert"
LOCS = """
<Location /t/hdr>
    AuthType X509
    X509AuthnSource header
    Require valid-user
</Location>
"""
D = datetime.timedelta


@pytest.fixture(scope="module")
def mp(workroot):
    m = MiniPKI(os.path.join(workroot, "healthpki-%d" % os.getpid()))
    now = m.now
    m.ca("hr", "/O=Health Test/CN=Health Root")
    m.ca("hi", "/O=Health Test/CN=Health Issuing", issuer="hr")
    m.leaf("soon5", "/O=Health Test/CN=expires in 5 days", issuer="hi",
           dates=(now - D(days=360), now + D(days=5)))
    m.leaf("soon10", "/O=Health Test/CN=expires in 10 days", issuer="hi",
           dates=(now - D(days=1), now + D(days=10)))
    m.leaf("soon20", "/O=Health Test/CN=expires in 20 days", issuer="hi",
           dates=(now - D(days=1), now + D(days=20)))
    m.leaf("later", "/O=Health Test/CN=valid for years", issuer="hi")
    m.cat("ca.pem", "hr", "hi")
    root_crl = m.crl("hr", "hr.crl.pem", 1, next_update=now + D(days=40))
    inter_crl = m.crl("hi", "hi.crl.pem", 1, next_update=now + D(days=3))
    stale_crl = m.crl("hr", "hr-stale.crl.pem", 2, last_update=now - D(days=3),
                      next_update=now - D(days=1))
    m.cat("near.pem", root_crl, inter_crl)
    m.cat("stale.pem", stale_crl, inter_crl)
    return m


def conf(h, mp, crl_warn=None, expiry=None):
    server_extra = ("StartServers 2\nMinSpareThreads 32\nMaxSpareThreads 64\n"
                    'CustomLog "%s" "%%P %%{X-Test-Tag}i"\n' % h.path("logs/pid.log"))
    if crl_warn is not None:
        server_extra += "X509AuthnCRLWarn %s\n" % crl_warn
    if expiry is not None:
        server_extra += "X509AuthnExpiryWarn %s\n" % expiry
    locs = {
        "status": "SetHandler server-status\nRequire local",
        "metrics": "SetHandler x509authn-metrics\nRequire local",
    }
    vh = {
        "fwd": F.trust("127.0.0.1", ca=mp.path("ca.pem"), crl=mp.path("near.pem")) + LOCS,
        "stale": F.trust("127.0.0.1", ca=mp.path("ca.pem"), crl=mp.path("stale.pem")) + LOCS,
    }
    return dict(locations=locations(locs), extra_vhosts=vh, server_extra=server_extra,
                extra_modules=[("status_module", "mod_status.so")])


@pytest.fixture(scope="module")
def h(request, workroot, pki, module_so, mp):
    srv = new_httpd(request, workroot, pki, module_so, name="health")
    srv.kw = conf(srv, mp)
    srv.start(**srv.kw)
    assert srv.wait_log(0, "resuming normal operations", timeout=20)
    return srv


def login(h, cert, vhost="fwd", tag=""):
    return http_request(h.port(vhost), "/t/hdr/env",
                        [(HDR, F.der_b64(cert)), ("X-Test-Tag", tag)])


def status_html(h):
    r = curl(h.url("/t/status", "plain"))
    assert r.status == 200, r
    return r.text


def auto(h):
    r = curl(h.url("/t/status?auto", "plain"))
    assert r.status == 200, r
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r"^(X509Authn\w+): (\d+)$", r.text, re.M)}


def metrics(h):
    r = curl(h.url("/t/metrics", "plain"))
    assert r.status == 200, r
    out = {}
    for line in r.text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        m = re.match(r'^(x509authn_\w+)(?:\{(.*)\})? (\d+)$', line)
        assert m, line
        labels = tuple(sorted(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or "")))
        out[(m.group(1), labels)] = int(m.group(3))
    return out, r.text


def table(html, table_id):
    m = re.search(r'<table[^>]*id="%s">(.*?)</table>' % table_id, html, re.S)
    assert m, (table_id, html)
    rows = re.findall(r"<tr>(.*?)</tr>", m.group(1), re.S)
    return [re.findall(r"<td>(.*?)</td>", r) for r in rows[1:]]


def epoch(dt):
    return int(dt.timestamp())


# -- trust files -----------------------------------------------------------------

def test_trust_files_on_the_status_page(h, mp):
    html = status_html(h)
    files = {(r[0], r[1]): r for r in table(html, "x509authn-trust-files")}
    assert files[(mp.path("ca.pem"), "ca")][3] == "2"
    assert files[(mp.path("near.pem"), "crl")][3] == "2"
    assert files[(mp.path("near.pem"), "crl")][4] == "ok"
    assert files[(mp.path("stale.pem"), "crl")][3] == "2"
    # the CA file shared by both trust stores is listed once
    assert sum(1 for r in table(html, "x509authn-trust-files")
               if r[0] == mp.path("ca.pem")) == 1
    crls = {(r[0], r[1]): r for r in table(html, "x509authn-crls")}
    root_dn = "CN=Health Root,O=Health Test"
    inter_dn = "CN=Health Issuing,O=Health Test"
    near_root = crls[(mp.path("near.pem"), root_dn)]
    near_inter = crls[(mp.path("near.pem"), inter_dn)]
    stale_root = crls[(mp.path("stale.pem"), root_dn)]
    assert near_root[2] == "base" and near_root[6] == "ok", near_root
    assert near_inter[6].startswith("due in "), near_inter
    assert 60 <= int(near_inter[6].split()[2]) <= 72, near_inter
    assert stale_root[6] == "PASSED", stale_root
    stamp = (mp.now + D(days=3)).strftime("%Y-%m-%d %H:%M:%S GMT")
    assert near_inter[4] == stamp, near_inter
    a = auto(h)
    assert a["X509AuthnTrustFiles"] == 3, a
    assert a["X509AuthnCRLs"] == 4, a
    assert a["X509AuthnCRLsPassed"] == 1, a
    assert a["X509AuthnCRLsDueSoon"] == 2, a     # I's CRL, in both files
    assert a["X509AuthnCRLNextUpdateEarliest"] == epoch(mp.now - D(days=1)), a


def test_crl_gauges(h, mp):
    m, text = metrics(h)
    root_dn = "CN=Health Root,O=Health Test"
    inter_dn = "CN=Health Issuing,O=Health Test"

    def key(name, issuer, f):
        return (name, (("crl", "base"), ("file", mp.path(f)), ("issuer", issuer)))
    assert m[key("x509authn_crl_next_update_timestamp_seconds", inter_dn, "near.pem")] \
        == epoch(mp.now + D(days=3))
    assert m[key("x509authn_crl_next_update_timestamp_seconds", root_dn, "near.pem")] \
        == epoch(mp.now + D(days=40))
    assert m[key("x509authn_crl_next_update_timestamp_seconds", root_dn, "stale.pem")] \
        == epoch(mp.now - D(days=1))
    assert m[key("x509authn_crl_this_update_timestamp_seconds", root_dn, "stale.pem")] \
        == epoch(mp.now - D(days=3))
    assert m[key("x509authn_crl_revoked_entries", inter_dn, "near.pem")] == 0
    assert m[("x509authn_trust_file_entries",
              (("file", mp.path("ca.pem")), ("kind", "ca")))] == 2
    assert m[("x509authn_trust_file_usable",
              (("file", mp.path("near.pem")), ("kind", "crl")))] == 1
    promtool = shutil.which("promtool")
    if promtool:
        p = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        assert p.returncode == 0 and p.stdout.decode().strip() == "", p.stdout.decode()


def test_crl_warnings_once(h, mp):
    """One warning per CRL due soon and one error per CRL past nextUpdate,
    from the parent (not per child or request), not repeated by a graceful
    restart; the stale store refuses with the reason."""
    assert login(h, mp["later"], "stale").status == 403
    assert login(h, mp["later"], "fwd").status == 200
    log = h.log_since(0)
    soon = [ln for ln in log.splitlines() if "X509A0711" in ln]
    passed = [ln for ln in log.splitlines() if "X509A0710" in ln]
    # I's CRL is in both files: one line per file
    assert len(soon) == 2, soon
    assert all("CN=Health Issuing,O=Health Test" in ln and "[x509authn:warn]" in ln for ln in soon), soon
    assert any(mp.path("near.pem") in ln for ln in soon), soon
    assert len(passed) == 1, passed
    assert "CN=Health Root,O=Health Test" in passed[0] and mp.path("stale.pem") in passed[0]
    assert "[x509authn:error]" in passed[0], passed[0]
    # naming the virtual host that refuses
    assert ":%d" % h.port("stale") in passed[0], passed[0]
    mark = h.log_mark()
    h.reload(**h.kw)
    for _ in range(4):
        assert login(h, mp["later"], "fwd").status == 200
    assert login(h, mp["later"], "stale").status == 403
    after = h.log_since(mark)
    assert "X509A0711" not in after and "X509A0710" not in after, after


def test_crl_replaced_checked_by_parent(h, mp):
    """A CRL file replaced while running is looked at by the parent process
    on its own (no request, no restart): a new CRL due in 2 days is
    warned about, once."""
    near = mp.path("near.pem")
    with open(near) as f:
        saved = f.read()
    new = mp.crl("hr", "hr-2d.crl.pem", 3, next_update=mp.now + D(days=2))
    mark = h.log_mark()
    try:
        # atomically, as an administrator's tooling should
        os.replace(mp.cat("near-new.pem", new, mp.path("hi.crl.pem")) or
                   mp.path("near-new.pem"), near)
        lines = h.wait_log(mark, r"X509A0711.*Health Root.*near\.pem", timeout=45)
        assert len(lines) == 1, h.log_since(mark)
        assert "[pid %d:tid %d]" % (h.proc.pid, h.proc.pid) in lines[0], lines[0]
        assert (mp.now + D(days=2)).strftime("%Y-%m-%d %H:%M:%S GMT") in lines[0]
        crls = {(r[0], r[1]): r for r in table(status_html(h), "x509authn-crls")}
        assert crls[(near, "CN=Health Root,O=Health Test")][6].startswith("due in ")
        h.wait_log(mark, "X509A0711", timeout=12, count=99)
        assert len(h.log_lines(mark, r"X509A0711.*Health Root")) == 1
    finally:
        with open(near + ".tmp", "w") as f:
            f.write(saved)
        os.replace(near + ".tmp", near)


def test_crl_file_broken_reported_by_parent(h, mp):
    """A CRL file replaced by something unusable while running: the parent
    says so on its own (X509A0713, once), the gauge says 0, and forwarded
    certificates are refused until the file is repaired."""
    near = mp.path("near.pem")
    with open(near) as f:
        saved = f.read()
    mark = h.log_mark()
    try:
        with open(near + ".tmp", "w") as f:
            f.write("-----BEGIN X509 CRL-----\nnot a CRL\n-----END X509 CRL-----\n")
        os.replace(near + ".tmp", near)
        lines = h.wait_log(mark, r"X509A0713.*near\.pem is unusable", timeout=45)
        assert len(lines) == 1, h.log_since(mark)
        assert "[pid %d:tid %d]" % (h.proc.pid, h.proc.pid) in lines[0], lines[0]
        g, _ = metrics(h)
        assert g[("x509authn_trust_file_usable",
                  (("file", near), ("kind", "crl")))] == 0, g
        r = login(h, mp["later"])
        assert r.status == 403 and r.user == "", r
        # once a day, not every ten seconds
        h.wait_log(mark, "X509A0713", timeout=12, count=99)
        assert len(h.log_lines(mark, "X509A0713")) == 1, h.log_since(mark)
    finally:
        with open(near + ".tmp", "w") as f:
            f.write(saved)
        os.replace(near + ".tmp", near)
    r = login(h, mp["later"])
    assert r.status == 200, r
    g, _ = metrics(h)
    assert g[("x509authn_trust_file_usable", (("file", near), ("kind", "crl")))] == 1


def test_crl_warn_days(h, mp):
    """X509AuthnCRLWarn 2: a CRL due in 3 days is fine."""
    kw = conf(h, mp, crl_warn=2)
    h.reload(**kw)
    try:
        crls = {(r[0], r[1]): r for r in table(status_html(h), "x509authn-crls")}
        assert crls[(mp.path("near.pem"), "CN=Health Issuing,O=Health Test")][6] == "ok"
        assert auto(h)["X509AuthnCRLsDueSoon"] == 0
    finally:
        h.reload(**h.kw)


# -- expiring client certificates --------------------------------------------------

def expiring(h):
    return {r[0]: r for r in table(status_html(h), "x509authn-expiring")}


def test_expiring_certificates_listed(h, mp):
    mark = h.log_mark()
    jobs = [mp["soon10"]] * 6 + [mp["later"]] * 4 + [mp["soon5"]] * 2
    with ThreadPoolExecutor(max_workers=6) as ex:
        results = list(ex.map(lambda c: login(h, c), jobs))
    assert all(r.status == 200 for r in results), results
    rows = expiring(h)
    s10 = "CN=expires in 10 days,O=Health Test"
    s5 = "CN=expires in 5 days,O=Health Test"
    assert set(rows) >= {s10, s5}, rows
    assert "CN=valid for years,O=Health Test" not in rows
    r10 = rows[s10]
    assert r10[1] == "CN=Health Issuing,O=Health Test", r10
    assert r10[2] == serial_hex(mp["soon10"]), r10
    assert r10[3] == (mp.now + D(days=10)).strftime("%Y-%m-%d %H:%M:%S GMT"), r10
    assert r10[4] in ("9", "10"), r10
    assert r10[5] == "header", r10
    assert int(r10[7]) >= 6, r10
    # soonest first
    order = [r[0] for r in table(status_html(h), "x509authn-expiring")]
    assert order.index(s5) < order.index(s10), order
    # one info line per certificate, whatever the requests and children
    lines = h.wait_log(mark, "X509A0712", count=2)
    mine = [ln for ln in h.log_lines(mark, "X509A0712")]
    assert len([ln for ln in mine if "expires in 10 days" in ln]) == 1, mine
    assert len([ln for ln in mine if "expires in 5 days" in ln]) == 1, mine
    assert all("[x509authn:info]" in ln for ln in mine), mine
    assert lines
    m, _ = metrics(h)
    assert m[("x509authn_expiring_client_certificates", ())] == len(rows)
    assert auto(h)["X509AuthnExpiringClientCertificates"] == len(rows)
    # kept across a graceful restart, and still not logged again
    before = int(r10[7])
    h.reload(**h.kw)
    assert login(h, mp["soon10"]).status == 200
    rows = expiring(h)
    assert int(rows[s10][7]) == before + 1, rows[s10]
    assert not h.log_lines(mark, "X509A0712.*expires in 10 days")[1:]


def serial_hex(c):
    out = subprocess.run(["openssl", "x509", "-noout", "-serial", "-in", c.cert],
                         stdout=subprocess.PIPE, check=True).stdout.decode()
    return out.strip().split("=", 1)[1].upper()


def test_expiry_list_bounded(h, mp):
    """X509AuthnExpiryWarn 30 2: the two that expire first are listed; a
    login of the third is counted as unlisted.  X509AuthnExpiryWarn 8: only those within
    8 days."""
    h.reload(**conf(h, mp, expiry="30 2"))
    try:
        for c in ("soon20", "soon10", "soon5", "soon20"):
            assert login(h, mp[c]).status == 200
        rows = expiring(h)
        assert sorted(rows) == ["CN=expires in 10 days,O=Health Test",
                                "CN=expires in 5 days,O=Health Test"], rows
        m, _ = metrics(h)
        assert m[("x509authn_expiring_client_certificates", ())] == 2
        # soon20 was listed, then gave its place to soon5; its next login
        # found the list full of certificates that expire sooner
        assert m[("x509authn_expiring_client_logins_unlisted_total", ())] == 1
        assert "were not listed" in status_html(h)
        h.reload(**conf(h, mp, expiry="8"))
        for c in ("soon20", "soon10", "soon5"):
            assert login(h, mp[c]).status == 200
        assert sorted(expiring(h)) == ["CN=expires in 5 days,O=Health Test"]
        h.reload(**conf(h, mp, expiry="0"))
        assert login(h, mp["soon5"]).status == 200
        assert 'id="x509authn-expiring"' not in status_html(h)
        assert "X509AuthnExpiringClientCertificates" not in auto(h)
    finally:
        h.reload(**h.kw)
