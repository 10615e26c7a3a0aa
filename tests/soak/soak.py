#!/usr/bin/python3
"""Soak and faults: mixed good and bad traffic against a real apache2 for a
while, with `apache2 -k graceful` every PHASE seconds, the CRL file
replaced mid-run and the shared cache server (redis) killed and restarted
mid-run.

Traffic (bench/x509a_load, keep-alive, every response checked):
  - header mode from the trusted proxy 127.0.0.1: good certificates (alice,
    bob; the "revoked" one until its CRL arrives), bad ones (expired,
    not yet valid, lookalike CA, self-signed, garbage, none);
  - header mode from the untrusted 127.0.0.2: the same headers, all refused;
  - direct TLS: alice accepted, bob refused by an issuer rule.

Fails when: a decision is wrong; the error log has a line other than the
expected refusals and restart notices; a child's private resident memory
(RssAnon) grows by more than 1 MB; the server stops answering.  Requests lost to the restarts are
reported (graceful closes idle keep-alive connections).

    tests/soak/soak.py --module build/ci/.libs/mod_x509authn.so \\
        --load build/ci/bench/x509a_load [--seconds 600] [--phase 30]
"""

import argparse
import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))

from pki import PKI  # noqa: E402
from httpd import free_port, httpd_env  # noqa: E402
from services import Redis  # noqa: E402

APACHE2 = "/usr/sbin/apache2"
MODDIR = "/usr/lib/apache2/modules"
ISSUER_A = "CN=X509Authn Test Issuing CA A,O=X509Authn Test,C=US"
HEADER = "X-SSL-Client-Cert"

# error-log lines that are part of the test: refusals, reloads, restarts
EXPECTED = [
    r"\[x509authn:info\].* X509A01(10|11): ",     # refusals
    r"\[x509authn:info\].* X509A0201: ",          # headers of untrusted peers
    r"\[x509authn:info\].* X509A0305: ",          # CRLs reloaded
    r"\[mpm_event:notice\]", r"\[core:notice\]",
    r"\[socache_redis:",                           # while redis is down
    r"\[x509authn:(warn|info)\].* X509A033[13]: ",  # redis not asked, then again
    r"AH01882: Init: this version of mod_ssl",     # Debian's build notice
]


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def der_b64(cert_path):
    pem = open(cert_path).read()
    body = "".join(l for l in pem.splitlines() if l and not l.startswith("-----"))
    return body


def write(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


class Server:
    def __init__(self, work, module, pki, redis_port, crl):
        self.dir = os.path.join(work, "httpd")
        os.makedirs(os.path.join(self.dir, "htdocs", "x509"), exist_ok=True)
        os.makedirs(os.path.join(self.dir, "htdocs", "x509-a"), exist_ok=True)
        for d in ("", "htdocs", "htdocs/x509", "htdocs/x509-a"):
            os.chmod(os.path.join(self.dir, d), 0o755)
        for d in ("x509", "x509-a"):
            write(os.path.join(self.dir, "htdocs", d, "hello.txt"), "hello\n")
        self.plain = free_port()
        self.tls = free_port()
        self.error_log = os.path.join(self.dir, "error.log")
        self.conf = os.path.join(self.dir, "httpd.conf")
        # records in redis are authenticated under this secret
        write(os.path.join(self.dir, "cache-secret"), os.urandom(32).hex() + "\n", 0o600)
        mods = "\n".join("LoadModule %s_module %s/mod_%s.so" % (m, MODDIR, m) for m in (
            "mpm_event", "authn_core", "authz_core", "authz_user", "ssl", "headers",
            "socache_shmcb", "socache_redis", "mime"))
        write(self.conf, """ServerRoot "{d}"
ServerName localhost
PidFile "{d}/httpd.pid"
DefaultRuntimeDir "{d}"
Mutex file:{d} default
{mods}
LoadModule x509authn_module "{module}"
User www-data
Group www-data
ErrorLog "{error_log}"
LogLevel warn x509authn:info
# Two children per generation, both serving from their start (no child
# spawned idle later, whose first requests would look like growth); room
# for the old generation while it finishes after a graceful restart.
StartServers 2
ServerLimit 4
ThreadsPerChild 16
MaxRequestWorkers 32
MinSpareThreads 1
MaxSpareThreads 32
KeepAlive On
# Not 0: httpd grows a TLS connection's pool by ~20 bytes per request until
# the connection closes (mod_ssl, with or without this module), which would
# hide a leak of ours in a slope of httpd's own.
MaxKeepAliveRequests 1000
DocumentRoot "{d}/htdocs"
TypesConfig /dev/null
SSLSessionCache "shmcb:{d}/ssl_scache(512000)"
X509AuthnCache redis:127.0.0.1:{redis} 300
X509AuthnCacheSecret "{d}/cache-secret"
Header always set X-User "expr=%{{REMOTE_USER}}"

Listen 127.0.0.1:{plain}
<VirtualHost 127.0.0.1:{plain}>
    ServerName localhost
    X509AuthnTrustedProxy 127.0.0.1
    X509AuthnCACertificateFile "{ca}"
    X509AuthnCARevocationFile "{crl}"
    <Location /x509/>
        AuthType X509
        X509AuthnUser cn
        Require valid-user
    </Location>
</VirtualHost>

Listen 127.0.0.1:{tls}
<VirtualHost 127.0.0.1:{tls}>
    ServerName localhost
    SSLEngine on
    SSLCertificateFile "{cert}"
    SSLCertificateKeyFile "{key}"
    SSLCACertificateFile "{ca}"
    SSLVerifyClient require
    SSLVerifyDepth 3
    <Location /x509/>
        AuthType X509
        X509AuthnUser cn
        Require valid-user
    </Location>
    <Location /x509-a/>
        AuthType X509
        X509AuthnRequireIssuer "{issuer}"
        X509AuthnUser cn
        Require valid-user
    </Location>
</VirtualHost>
""".format(d=self.dir, mods=mods, module=module, error_log=self.error_log,
           redis=redis_port, plain=self.plain, tls=self.tls, ca=pki.ca_bundle,
           crl=crl, cert=pki["server"].bundle, key=pki["server"].key,
           issuer=ISSUER_A))

    def ctl(self, what):
        subprocess.run([APACHE2, "-f", self.conf, "-k", what], check=True,
                       env=httpd_env())

    def children(self):
        try:
            parent = open(os.path.join(self.dir, "httpd.pid")).read().strip()
        except OSError:
            return []
        out = subprocess.run(["pgrep", "-P", parent], stdout=subprocess.PIPE)
        return [int(x) for x in out.stdout.split()]

    def rss(self):
        r = {}
        for pid in self.children():
            try:
                for line in open("/proc/%d/status" % pid):
                    if line.startswith("RssAnon:"):
                        r[pid] = int(line.split()[1])
            except OSError:
                pass
        return r


def expectations(work, pki, crl_revoking):
    """The header-mode request mix and its expected outcomes."""
    good = [("alice", "alice"), ("bob", "bob")]
    bad = ["expired", "notyet", "lookalike", "selfsigned"]
    lines = []
    for name, user in good * 3:
        lines.append("200 %s %s: %s" % (user, HEADER, der_b64(pki[name].cert)))
    lines.append(("403 - " if crl_revoking else "200 revoked ")
                 + "%s: %s" % (HEADER, der_b64(pki["revoked"].cert)))
    for name in bad:
        lines.append("403 - %s: %s" % (HEADER, der_b64(pki[name].cert)))
    lines.append("403 - %s: AAAAgarbage==" % HEADER)
    lines.append("403 - -")
    trusted = os.path.join(work, "trusted-%d.txt" % crl_revoking)
    write(trusted, "\n".join(lines) + "\n")
    # from an untrusted peer every one of them is refused (header removed)
    untrusted = os.path.join(work, "untrusted.txt")
    write(untrusted, "\n".join("403 - " + l.split(" ", 2)[2] for l in lines) + "\n")
    return trusted, untrusted


def run_phase(args, srv, pki, trusted, untrusted, seconds, event):
    """All load generators for one phase; `event` (a callable) runs halfway."""
    loads = {
        "header-trusted": ["-p", str(srv.plain), "-u", "/x509/hello.txt", "--plain",
                           "-c", "4", "--expect-file", trusted],
        "header-untrusted": ["-p", str(srv.plain), "-u", "/x509/hello.txt", "--plain",
                             "-b", "127.0.0.2", "-c", "1", "--expect-file", untrusted],
        "tls-good": ["-p", str(srv.tls), "-u", "/x509/hello.txt", "-c", "2",
                     "--cert", pki["alice"].bundle, "--key", pki["alice"].key,
                     "--expect", "200", "alice"],
        "tls-refused": ["-p", str(srv.tls), "-u", "/x509-a/hello.txt", "-c", "1",
                        "--cert", pki["bob"].bundle, "--key", pki["bob"].key,
                        "--expect", "403", "-"],
    }
    procs = {name: subprocess.Popen([args.load, "-d", str(seconds), "-w", "0"] + a,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for name, a in loads.items()}
    time.sleep(seconds / 2)
    rss_mid = srv.rss()
    if event:
        event()
    out = {}
    for name, p in procs.items():
        so, se = p.communicate(timeout=seconds + 120)
        if p.returncode != 0:
            raise RuntimeError("%s: %s" % (name, se.decode()))
        out[name] = json.loads(so)
        if se.strip():
            out[name]["stderr"] = se.decode()[-2000:]
    return out, rss_mid


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--module", required=True)
    ap.add_argument("--load", required=True)
    ap.add_argument("--seconds", type=int, default=600)
    ap.add_argument("--phase", type=int, default=30,
                    help="seconds per phase; a graceful restart halfway through each")
    ap.add_argument("--work", default=os.path.join(TOP, "build", "soak"))
    ap.add_argument("--rss-limit-kb", type=int, default=1024,
                    help="largest RSS growth allowed per child between its "
                    "first sample (half a phase old) and its last")
    args = ap.parse_args()

    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    os.chmod(args.work, 0o755)
    pki = PKI(os.path.join(TOP, "build", "soak-pki"))
    crl = os.path.join(args.work, "crl.pem")
    shutil.copy(pki.crl_bundle_unrevoked, crl)
    os.chmod(crl, 0o644)
    redis = Redis(os.path.join(args.work, "redis"))
    redis.start()
    srv = Server(args.work, os.path.abspath(args.module), pki, redis.port, crl)
    srv.ctl("start")
    time.sleep(1)

    phases = max(2, args.seconds // args.phase)
    crl_at, redis_down_at, redis_up_at = phases // 2, phases // 3, phases // 3 + 1
    totals = {}
    rss_first, rss_last = {}, {}
    events = []
    crl_revoking = False
    t0 = time.time()
    try:
        for ph in range(phases):
            if ph == crl_at:
                # between phases, so that expectations switch cleanly
                new = crl + ".new"
                shutil.copy(pki.crl_bundle, new)
                os.chmod(new, 0o644)
                os.rename(new, crl)
                crl_revoking = True
                time.sleep(1.5)
                events.append((round(time.time() - t0), "CRL replaced: 'revoked' revoked"))
            trusted, untrusted = expectations(args.work, pki, crl_revoking)

            def event(ph=ph):
                srv.ctl("graceful")
                events.append((round(time.time() - t0), "graceful"))
                if ph == redis_down_at:
                    redis.kill()
                    events.append((round(time.time() - t0), "redis killed"))
                if ph == redis_up_at:
                    redis.start()
                    events.append((round(time.time() - t0), "redis restarted"))
            out, rss_mid = run_phase(args, srv, pki, trusted, untrusted, args.phase, event)
            for pid, kb in rss_mid.items():
                rss_first.setdefault(pid, kb)
                rss_last[pid] = kb
            for pid, kb in srv.rss().items():
                rss_first.setdefault(pid, kb)
                rss_last[pid] = kb
            for name, r in out.items():
                t = totals.setdefault(name, {"requests": 0, "wrong": 0, "errors": 0})
                for k in ("requests", "wrong", "errors"):
                    t[k] += r.get(k, 0)
                if r.get("stderr"):
                    t.setdefault("stderr", []).append(r["stderr"])
            log("phase %d/%d: %s" % (ph + 1, phases, ", ".join(
                "%s %d ok %d wrong %d lost" % (n, r["requests"], r.get("wrong", 0), r["errors"])
                for n, r in out.items())))
        # still serving?
        alive = subprocess.run([args.load, "-p", str(srv.tls), "-u", "/x509/hello.txt",
                                "-c", "1", "-n", "10", "--cert", pki["alice"].bundle,
                                "--key", pki["alice"].key, "--expect", "200", "alice"],
                               stdout=subprocess.PIPE, timeout=60)
        alive = json.loads(alive.stdout)["requests"] == 10
    finally:
        srv.ctl("stop")
        redis.stop()

    unexpected = []
    with open(srv.error_log, errors="replace") as f:
        for line in f:
            if not any(re.search(p, line) for p in EXPECTED):
                unexpected.append(line.rstrip())
    growth = {pid: rss_last[pid] - rss_first[pid] for pid in rss_first}
    report = {
        "seconds": round(time.time() - t0),
        "phases": phases,
        "events": events,
        "totals": totals,
        "requests": sum(t["requests"] + t["wrong"] for t in totals.values()),
        "wrong_decisions": sum(t["wrong"] for t in totals.values()),
        "lost_to_restarts": sum(t["errors"] for t in totals.values()),
        "max_rss_growth_kb_per_child": max(growth.values()) if growth else 0,
        "rss_growth_kb_per_child": sorted(growth.values(), reverse=True),
        "children_seen": len(growth),
        "unexpected_log_lines": unexpected[:50],
        "still_serving": alive,
    }
    print(json.dumps(report, indent=1))
    ok = (report["wrong_decisions"] == 0 and not unexpected and alive
          and report["max_rss_growth_kb_per_child"] <= args.rss_limit_kb)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
