#!/usr/bin/python3
"""mod_x509authn benchmarks (see bench/BENCHMARKS.md).

Starts real apache2 instances with the module and drives them with
bench/x509a_load.  Every comparison is measured side by side in one run:
the variants of a scenario alternate, round after round (the order rotates
each round), and each round's ratio to the "no authentication" variant of
the same round is kept; the report gives the median rate and the median
ratio over the rounds.

    make bench                              # everything, default durations
    make bench BENCH_ARGS="--only direct,header --rounds 7 --duration 5"
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))

from pki import PKI  # noqa: E402

APACHE2 = "/usr/sbin/apache2"
MODDIR = "/usr/lib/apache2/modules"
BASE_MODULES = ["mpm_event", "authn_core", "authz_core", "authz_user", "ssl",
                "http2", "socache_shmcb", "mime"]
ISSUER_A = "CN=X509Authn Test Issuing CA A,O=X509Authn Test,C=US"


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


# ---------------------------------------------------------------------------
# httpd
# ---------------------------------------------------------------------------

class Httpd:
    def __init__(self, root, name, module, pki, body, server_extra="",
                 modules=(), threads=25, single=False):
        self.dir = os.path.join(root, name)
        os.makedirs(os.path.join(self.dir, "logs"), exist_ok=True)
        os.chmod(self.dir, 0o755)
        os.chmod(os.path.join(self.dir, "logs"), 0o755)
        # the same small file in every location
        for sub in ("", "noauth", "x509", "modssl-user", "modssl-env"):
            d = os.path.join(self.dir, "htdocs", sub)
            os.makedirs(d, exist_ok=True)
            os.chmod(d, 0o755)
            with open(os.path.join(d, "hello.txt"), "w") as f:
                f.write("hello from the benchmark\n")
        self.port = free_port()
        self.conf = os.path.join(self.dir, "httpd.conf")
        self.single = single
        mods = "\n".join("LoadModule %s_module %s/mod_%s.so" % (m, MODDIR, m)
                         for m in list(BASE_MODULES) + list(modules))
        text = """ServerRoot "{d}"
ServerName localhost
Listen 127.0.0.1:{port}
PidFile "{d}/httpd.pid"
DefaultRuntimeDir "{d}"
Mutex file:{d} default
{mods}
LoadModule x509authn_module "{module}"
User www-data
Group www-data
ErrorLog "{d}/logs/error.log"
LogLevel warn
StartServers 2
ServerLimit 2
ThreadsPerChild {threads}
MinSpareThreads {threads}
MaxSpareThreads {maxspare}
MaxRequestWorkers {workers}
MaxConnectionsPerChild 0
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 30
DocumentRoot "{d}/htdocs"
TypesConfig /dev/null
SSLSessionCache none
<Directory />
    Require all granted
</Directory>
{server_extra}
{body}
""".format(d=self.dir, port=self.port, mods=mods, module=module,
           threads=threads, maxspare=threads * 2, workers=threads * 2,
           server_extra=server_extra, body=body.replace("@PORT@", str(self.port)))
        with open(self.conf, "w") as f:
            f.write(text)
        self.proc = None

    def start(self):
        if self.single:
            return
        subprocess.run([APACHE2, "-f", self.conf, "-k", "start"], check=True)
        self._wait()

    def _wait(self, tries=200):
        import socket
        pid = os.path.join(self.dir, "httpd.pid")
        for _ in range(tries):
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                # the listener accepts before the parent writes its pid
                if os.path.exists(pid):
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("httpd on %d did not start: %s" % (self.port, self.tail()))

    def stop(self):
        if self.single:
            return
        subprocess.run([APACHE2, "-f", self.conf, "-k", "stop"],
                       stderr=subprocess.DEVNULL)
        for _ in range(100):
            if not os.path.exists(os.path.join(self.dir, "httpd.pid")):
                break
            time.sleep(0.05)

    def tail(self):
        try:
            with open(os.path.join(self.dir, "logs", "error.log")) as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def children(self):
        with open(os.path.join(self.dir, "httpd.pid")) as f:
            parent = int(f.read())
        out = subprocess.run(["pgrep", "-P", str(parent)], stdout=subprocess.PIPE)
        return [int(x) for x in out.stdout.split()]

    def private_kb(self):
        """Memory of each child that is its own: Private_Clean +
        Private_Dirty of its private mappings in /proc/PID/smaps.  Shared
        mappings (shmcb) are left out even where only this child touched a
        page (smaps counts such pages as private)."""
        total = {}
        for pid in self.children():
            try:
                kb, shared = 0, False
                with open("/proc/%d/smaps" % pid) as f:
                    for line in f:
                        fields = line.split()
                        if "-" in fields[0] and len(fields) >= 5 and len(fields[1]) == 4:
                            shared = fields[1][3] == "s"
                        elif not shared and fields[0] in ("Private_Clean:", "Private_Dirty:"):
                            kb += int(fields[1])
                total[pid] = kb
            except OSError:
                pass
        return total

    def rss_kb(self):
        total = {}
        for pid in self.children():
            try:
                with open("/proc/%d/status" % pid) as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            total[pid] = int(line.split()[1])
            except OSError:
                pass
        return total


def tls_vhost(pki, verify="require"):
    return """SSLEngine on
Protocols h2 http/1.1
SSLCertificateFile "{cert}"
SSLCertificateKeyFile "{key}"
SSLCACertificateFile "{ca}"
SSLVerifyClient {verify}
SSLVerifyDepth 3
SSLSessionTickets off
""".format(cert=pki["server"].bundle, key=pki["server"].key, ca=pki.ca_bundle,
           verify=verify)


DIRECT_LOCATIONS = """
<Location /noauth/>
</Location>
<Location /x509/>
    AuthType X509
    X509AuthnRequireIssuer "{issuer}"
    X509AuthnUser cn
    Require valid-user
</Location>
<Location /modssl-user/>
    SSLUserName SSL_CLIENT_S_DN_CN
    Require expr "%{{SSL_CLIENT_I_DN}} == '{issuer}'"
</Location>
<Location /modssl-env/>
    SSLOptions +StdEnvVars +ExportCertData
</Location>
""".format(issuer=ISSUER_A)

DIRECT_VARIANTS = [
    ("noauth", "/noauth/hello.txt", "no authentication"),
    ("x509", "/x509/hello.txt", "AuthType X509, issuer rule, X509AuthnUser cn, all variables"),
    ("modssl_user", "/modssl-user/hello.txt", "mod_ssl SSLUserName + Require expr"),
    ("modssl_env", "/modssl-env/hello.txt", "mod_ssl SSLOptions +StdEnvVars +ExportCertData"),
]


# ---------------------------------------------------------------------------
# Load and rounds
# ---------------------------------------------------------------------------

def load(args, port, path, extra):
    cmd = [args.load, "-p", str(port), "-u", path, "-c", str(args.conns),
           "-d", str(args.duration), "-w", str(args.warmup)] + extra
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         timeout=args.duration + args.warmup + 60)
    if out.returncode != 0:
        raise RuntimeError("load failed: %s" % out.stderr.decode())
    r = json.loads(out.stdout)
    if r["bad_status"] or r["errors"] > 2 or r["requests"] == 0:
        raise RuntimeError("load %s%s: %s" % (port, path, r))
    return r


def rounds(args, variants):
    """variants: list of (name, callable returning a load result).
    Alternates them for args.rounds rounds (rotating the order)."""
    rates = {name: [] for name, _ in variants}
    ratios = {name: [] for name, _ in variants}
    base = variants[0][0]
    for i in range(args.rounds):
        order = variants[i % len(variants):] + variants[:i % len(variants)]
        this = {}
        for name, run in order:
            this[name] = run()["rps"]
            rates[name].append(this[name])
        for name in this:
            ratios[name].append(this[name] / this[base])
        log("  round %d: %s" % (i + 1, ", ".join("%s %.0f/s" % (n, this[n])
                                                   for n, _ in variants)))
    return {name: {"rps_median": statistics.median(rates[name]),
                   "ratio_median": statistics.median(ratios[name]),
                   "ratios": [round(x, 4) for x in ratios[name]],
                   "rps": [round(x, 1) for x in rates[name]]}
            for name, _ in variants}


# ---------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------

def client_args(pki, who="alice"):
    return ["--cert", pki[who].bundle, "--key", pki[who].key, "--ca", pki["root"].cert]


def scenario_direct(args, work, pki):
    log("direct TLS, HTTP/1.1 keep-alive, %d connections" % args.conns)
    h = Httpd(work, "direct", args.module, pki,
              "<VirtualHost 127.0.0.1:@PORT@>\n%s%s</VirtualHost>"
              % (tls_vhost(pki), DIRECT_LOCATIONS))
    h.start()
    try:
        res = rounds(args, [(n, (lambda p=p: load(args, h.port, p, client_args(pki))))
                            for n, p, _ in DIRECT_VARIANTS])
    finally:
        h.stop()
    return {"variants": {n: dict(res[n], what=w) for n, _, w in DIRECT_VARIANTS}}


def scenario_handshake(args, work, pki):
    log("new TLS connection per request (full handshakes), %d connections" % args.conns)
    h = Httpd(work, "handshake", args.module, pki,
              "<VirtualHost 127.0.0.1:@PORT@>\n%s%s</VirtualHost>"
              % (tls_vhost(pki), DIRECT_LOCATIONS))
    h.start()
    try:
        res = rounds(args, [(n, (lambda p=p: load(args, h.port, p,
                                                  client_args(pki) + ["--new-conn"])))
                            for n, p, _ in DIRECT_VARIANTS[:2]])
    finally:
        h.stop()
    return {"variants": {n: dict(res[n], what=w) for n, _, w in DIRECT_VARIANTS[:2]}}


def scenario_h2(args, work, pki):
    log("HTTP/2, %d connections x %d streams" % (args.conns, args.streams))
    h = Httpd(work, "h2", args.module, pki,
              "<VirtualHost 127.0.0.1:@PORT@>\n%s%s</VirtualHost>"
              % (tls_vhost(pki), DIRECT_LOCATIONS))
    h.start()
    try:
        res = rounds(args, [(n, (lambda p=p: load(args, h.port, p, client_args(pki)
                                                  + ["--h2", "-m", str(args.streams)])))
                            for n, p, _ in DIRECT_VARIANTS[:2]])
    finally:
        h.stop()
    return {"variants": {n: dict(res[n], what=w) for n, _, w in DIRECT_VARIANTS[:2]}}


def bulk_certs(pki, work, n):
    """n distinct client certificates of Issuing CA A (one shared key, so
    generation is quick), as 'X-SSL-Client-Cert: <base64 DER>' lines."""
    d = os.path.join(work, "bulk")
    out = os.path.join(d, "headers-%d.txt" % n)
    if os.path.exists(out):
        return out
    os.makedirs(d, exist_ok=True)
    key = os.path.join(d, "shared.key")
    pub = os.path.join(d, "shared.pub")
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-out", key], check=True,
                   stderr=subprocess.DEVNULL)
    subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-out", pub], check=True)
    ext = os.path.join(d, "ext.cnf")
    with open(ext, "w") as f:
        f.write("[v3]\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n"
                "extendedKeyUsage=clientAuth\nsubjectAltName=email:$ENV::BENCH_MAIL\n")

    def one(i):
        env = dict(os.environ, BENCH_MAIL="user%05d@example.com" % i)
        der = subprocess.run(
            ["openssl", "x509", "-new", "-force_pubkey", pub,
             "-subj", "/C=US/O=Example Corp/OU=Bench/CN=user%05d" % i,
             "-CA", pki["issuing-a"].cert, "-CAkey", pki["issuing-a"].key,
             "-set_serial", str(0x500000 + i), "-days", "365",
             "-extfile", ext, "-extensions", "v3", "-outform", "DER"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, check=True).stdout
        import base64
        return "X-SSL-Client-Cert: " + base64.b64encode(der).decode()

    with ThreadPoolExecutor(max_workers=4) as ex:
        lines = list(ex.map(one, range(n)))
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    return out


HEADER_LOCATIONS = """
X509AuthnTrustedProxy 127.0.0.1
X509AuthnCACertificateFile "{ca}"
X509AuthnCARevocationFile "{crl}"
<Location /noauth/>
</Location>
<Location /x509/>
    AuthType X509
    X509AuthnSource header
    X509AuthnRequireIssuer "{issuer}"
    X509AuthnUser cn
    Require valid-user
</Location>
"""


class OCSPResponder:
    """`openssl ocsp` answering for Issuing CA A about the bulk
    certificates (all good), responses valid for an hour."""
    def __init__(self, pki, work, n):
        self.port = free_port()
        d = os.path.join(work, "ocsp-%d" % self.port)
        os.makedirs(d, exist_ok=True)
        index = os.path.join(d, "index.txt")
        expiry = time.strftime("%y%m%d%H%M%SZ", time.gmtime(time.time() + 364 * 86400))
        with open(index, "w") as f:
            for i in range(n):
                f.write("V\t%s\t\t%X\tunknown\t/C=US/O=Example Corp/OU=Bench/CN=user%05d\n"
                        % (expiry, 0x500000 + i, i))
        self.log = open(os.path.join(d, "ocsp.log"), "w")
        self.proc = subprocess.Popen(
            ["openssl", "ocsp", "-index", index, "-CA", pki["issuing-a"].cert,
             "-rsigner", pki["issuing-a"].cert, "-rkey", pki["issuing-a"].key,
             "-port", str(self.port), "-nmin", "60", "-ignore_err", "-multi", "4"],
            stdout=self.log, stderr=self.log)
        import socket
        for _ in range(400):
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("openssl ocsp did not start")

    def stop(self):
        # -multi: the workers first, then their parent
        subprocess.run(["pkill", "-KILL", "-P", str(self.proc.pid)])
        self.proc.kill()
        self.proc.wait(timeout=10)
        self.log.close()


def scenario_header(args, work, pki):
    log("header mode (plain HTTP from a trusted proxy, CA + CRL), %d distinct "
        "certificates interleaved on %d keep-alive connections"
        % (args.certs, args.conns))
    headers = bulk_certs(pki, work, args.certs)
    body = HEADER_LOCATIONS.format(ca=pki.ca_bundle, crl=pki.crl_bundle, issuer=ISSUER_A)
    caches = "X509AuthnCache shmcb 300\nX509AuthnCacheEntries %d\n" % max(2048, args.certs * 2)
    on = Httpd(work, "header-cache", args.module, pki, body, server_extra=caches)
    off = Httpd(work, "header-nocache", args.module, pki,
                body, server_extra="X509AuthnCache none\nX509AuthnCacheEntries 0")
    responder = OCSPResponder(pki, work, args.certs)
    ocsp = Httpd(work, "header-ocsp", args.module, pki, body, server_extra=caches + (
        "X509AuthnOCSP leaf\nX509AuthnOCSPDefaultResponder http://127.0.0.1:%d/\n"
        "X509AuthnOCSPOverrideResponder On\n" % responder.port))
    on.start()
    off.start()
    ocsp.start()
    extra = ["--plain", "--headers", headers]
    try:
        # every certificate once per child before the rounds: the answers are
        # then cached (each child asks the responder once per certificate)
        for _ in range(2):
            load(argparse.Namespace(**dict(vars(args), duration=600, warmup=0)), ocsp.port,
                 "/x509/hello.txt", ["--plain", "--headers", headers, "--sweep",
                                     "-n", str((args.certs + args.conns - 1) // args.conns)])
        res = rounds(args, [
            ("noauth", lambda: load(args, on.port, "/noauth/hello.txt", extra)),
            ("cache_on", lambda: load(args, on.port, "/x509/hello.txt", extra)),
            ("cache_off", lambda: load(args, off.port, "/x509/hello.txt", extra)),
            ("ocsp_on", lambda: load(args, ocsp.port, "/x509/hello.txt", extra)),
        ])
    finally:
        on.stop()
        off.stop()
        ocsp.stop()
        responder.stop()
    what = {"noauth": "no authentication (same headers sent)",
            "cache_on": "AuthType X509, header source, verified, caches on",
            "cache_off": "same, X509AuthnCache none and X509AuthnCacheEntries 0",
            "ocsp_on": "caches on, X509AuthnOCSP leaf (answers cached)"}
    return {"certificates": args.certs,
            "variants": {n: dict(res[n], what=what[n]) for n in res}}


def scenario_header_few(args, work, pki):
    """Header mode with only 5 distinct certificates in rotation (a small
    partner base): every certificate stays in the per-process cache."""
    return scenario_header(argparse.Namespace(**dict(vars(args), certs=5)), work, pki)


# ---------------------------------------------------------------------------
# Fleet scale (header mode, many distinct certificates, picked at random)
# ---------------------------------------------------------------------------

def fleet_certs(args, pki, work, n):
    """n distinct client certificates of Issuing CA A as header lines, made
    by bench/x509a_mkcerts (next to x509a_load)."""
    out = os.path.join(work, "bulk", "fleet-%d.txt" % n)
    if not os.path.exists(out):
        os.makedirs(os.path.dirname(out), exist_ok=True)
        mk = os.path.join(os.path.dirname(args.load), "x509a_mkcerts")
        with open(out + ".tmp", "w") as f:
            subprocess.run([mk, "--ca", pki["issuing-a"].cert, "--cakey",
                            pki["issuing-a"].key, "-n", str(n)], stdout=f, check=True)
        os.rename(out + ".tmp", out)
    return out


class Redis:
    """A redis-server on loopback for the shared-cache variants."""
    def __init__(self, work):
        self.port = free_port()
        self.dir = os.path.join(work, "redis-%d" % self.port)
        os.makedirs(self.dir, exist_ok=True)
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", self.dir,
             "--maxmemory", "2gb"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import socket
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


FLEET_STATUS = """
<Location /server-status>
    SetHandler server-status
    Require local
</Location>
"""


def status_counters(port):
    """The module's ?auto counters of a server."""
    import urllib.request
    with urllib.request.urlopen("http://127.0.0.1:%d/server-status?auto" % port,
                                timeout=10) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("X509Authn") and ": " in line:
            k, v = line.split(": ", 1)
            try:
                out[k] = int(v)
            except ValueError:
                pass
    return out


def delta(after, before):
    return {k: after.get(k, 0) - before.get(k, 0) for k in after}


def hit_summary(d):
    shared = d.get("X509AuthnCacheSharedHit", 0) + d.get("X509AuthnCacheSharedMiss", 0)
    proc = d.get("X509AuthnCacheProcessHit", 0) + d.get("X509AuthnCacheProcessMiss", 0)
    return {"process_hit_rate": round(d.get("X509AuthnCacheProcessHit", 0) / proc, 4)
            if proc else None,
            "shared_hit_rate": round(d.get("X509AuthnCacheSharedHit", 0) / shared, 4)
            if shared else None,
            "verifications": d.get("X509AuthnVerificationsOk", 0)
            + d.get("X509AuthnVerificationsFailed", 0)}


def fleet_round(args, srv, headers, label, first="x509"):
    """One round: no authentication and the module, random picks, side by
    side (`first` runs first); returns the ratio and the cache counts."""
    extra = ["--plain", "--headers", headers, "--random"]
    before = status_counters(srv.port)
    order = [("x509", "/x509/hello.txt"), ("noauth", "/noauth/hello.txt")]
    if first != "x509":
        order.reverse()
    rates = {}
    for name, path in order:
        rates[name] = load(args, srv.port, path, extra)["rps"]
    d = delta(status_counters(srv.port), before)
    r = dict(label=label, noauth=round(rates["noauth"]), x509=round(rates["x509"]),
             ratio=round(rates["x509"] / rates["noauth"], 4), **hit_summary(d))
    log("  %s: noauth %.0f/s, x509 %.0f/s, ratio %.3f, process hits %s, shared "
        "hits %s, verifications %d" % (label, rates["noauth"], rates["x509"], r["ratio"],
                                       r["process_hit_rate"], r["shared_hit_rate"],
                                       r["verifications"]))
    return r


def fleet_sweep(args, srv, headers, n):
    """Every certificate once (fills the shared cache); its rate."""
    per_conn = (n + args.conns - 1) // args.conns
    t0 = time.time()
    r = load(argparse.Namespace(**dict(vars(args), duration=3600, warmup=0)), srv.port,
             "/x509/hello.txt", ["--plain", "--headers", headers, "--sweep",
                                 "-n", str(per_conn)])
    secs = time.time() - t0
    log("  sweep: %d requests in %.1f s (%.0f/s)" % (r["requests"], secs, r["requests"] / secs))
    return {"requests": r["requests"], "seconds": round(secs, 1),
            "rps": round(r["requests"] / secs)}


def restarted_rounds(args, srv, headers, label):
    """After a graceful restart, each variant's first seconds pay for the
    new processes (threads, allocators, pages), whichever runs first: so a
    round right after the restart (the module first), then, after another
    graceful restart and 2 s of requests without authentication (which warm
    the processes, not the module's caches), two rounds."""
    graceful(srv)
    cold = fleet_round(args, srv, headers, "%s after graceful (new processes, module first)"
                       % label)
    graceful(srv)
    load(argparse.Namespace(**dict(vars(args), duration=2, warmup=0)), srv.port,
         "/noauth/hello.txt", ["--plain", "--headers", headers, "--random"])
    after = [fleet_round(args, srv, headers, "%s after graceful and 2 s warm-up%s"
                         % (label, i)) for i in ("", ", 2")]
    return cold, after


def graceful(srv):
    before = set(srv.children())
    subprocess.run([APACHE2, "-f", srv.conf, "-k", "graceful"], check=True)
    for _ in range(200):
        now = set(srv.children())
        if now and not (now & before):
            break
        time.sleep(0.05)
    srv._wait()


# The reference of a redis hit: mod_cache serving /cached/ from the same
# redis through the same mod_socache_redis, one look-up per request, in the
# handler phase like everything else (CacheQuickHandler off)
REDIS_REFERENCE = """
CacheSocache redis:127.0.0.1:{port}
CacheQuickHandler off
CacheHeader on
<Location /cached/>
    CacheEnable socache
    ExpiresActive On
    ExpiresDefault "access plus 1 hour"
</Location>
"""
REDIS_REFERENCE_MODULES = ["cache", "cache_socache", "expires"]


def redis_reference_rounds(args, srv, headers, n=3):
    """No authentication, mod_cache's redis hit and the module side by side,
    n rounds in rotated order: what one look-up in redis costs a request on
    this machine, and the module against it."""
    import urllib.request
    d = os.path.join(srv.dir, "htdocs", "cached")
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o755)
    with open(os.path.join(d, "hello.txt"), "w") as f:
        f.write("hello from the benchmark\n")
    url = "http://127.0.0.1:%d/cached/hello.txt" % srv.port
    for _ in range(2):
        with urllib.request.urlopen(url, timeout=10) as resp:
            hit = resp.headers.get("X-Cache", "")
    if not hit.startswith("HIT"):
        raise RuntimeError("mod_cache did not answer from redis: X-Cache %r" % hit)
    extra = ["--plain", "--headers", headers, "--random"]
    paths = [("noauth", "/noauth/hello.txt"), ("cached", "/cached/hello.txt"),
             ("x509", "/x509/hello.txt")]
    out = []
    for i in range(n):
        rates = {}
        for name, path in paths[i % 3:] + paths[:i % 3]:
            rates[name] = load(args, srv.port, path, extra)["rps"]
        r = dict(label="redis reference %d" % (i + 1), noauth=round(rates["noauth"]),
                 cached=round(rates["cached"]), x509=round(rates["x509"]),
                 cached_ratio=round(rates["cached"] / rates["noauth"], 4),
                 ratio=round(rates["x509"] / rates["noauth"], 4),
                 x509_to_cached=round(rates["x509"] / rates["cached"], 4))
        log("  %s: noauth %.0f/s, mod_cache from redis %.0f/s (%.3f), x509 %.0f/s "
            "(%.3f; %.3f of mod_cache's)" % (r["label"], rates["noauth"], rates["cached"],
                                           r["cached_ratio"], rates["x509"], r["ratio"],
                                           r["x509_to_cached"]))
        out.append(r)
    return {"rounds": out,
            "cached_ratio_median": statistics.median(r["cached_ratio"] for r in out),
            "ratio_median": statistics.median(r["ratio"] for r in out),
            "x509_to_cached_median": statistics.median(r["x509_to_cached"] for r in out)}


def scenario_fleet(args, work, pki):
    """Header mode at fleet scale (issue 16): args.fleet_certs distinct
    certificates, each request picking one at random, over both children.

    1. shmcb sized for them: cold rounds, a sweep that fills the cache,
       warm rounds, RSS per child, then a graceful restart (the module
       keeps a shmcb across generations).
    2. the default shmcb (32 MiB): warm rounds after a sweep.
    3. two servers sharing redis (authenticated records): the first warmed
       by a sweep, the second started afterwards and measured from its
       first round; then a graceful restart of the second; then the
       reference of a redis hit (mod_cache from the same redis).
    """
    n = args.fleet_certs
    log("fleet: %d distinct certificates, random picks, %d connections" % (n, args.conns))
    headers = fleet_certs(args, pki, work, n)
    body = HEADER_LOCATIONS.format(ca=pki.ca_bundle, crl=pki.crl_bundle,
                                   issuer=ISSUER_A) + FLEET_STATUS
    mods = ["status", "authz_host"]
    result = {"certificates": n, "shmcb_bytes": args.fleet_shmcb}
    ttl = 3600

    # 1. shmcb sized for the fleet
    srv = Httpd(work, "fleet-shmcb", args.module, pki, body, modules=mods,
                server_extra="X509AuthnCache shmcb:%s/fleet-shmcb(%d) %d\n"
                # as many entries as certificates: X509AuthnCacheMaxBytes
                # (default 64M) bounds the per-process caches (RSS below)
                "X509AuthnCacheEntries %d\n"
                % (os.path.join(work, "fleet-shmcb"), args.fleet_shmcb, ttl, n))
    os.makedirs(os.path.join(work, "fleet-shmcb"), exist_ok=True)
    srv.start()
    try:
        private0 = srv.private_kb()
        cold = [fleet_round(args, srv, headers, "cold %d" % (i + 1))
                for i in range(args.fleet_cold_rounds)]
        sweep = fleet_sweep(args, srv, headers, n)
        warm = [fleet_round(args, srv, headers, "warm %d" % (i + 1),
                            first="x509" if i % 2 == 0 else "noauth")
                for i in range(args.rounds)]
        rss = srv.rss_kb()
        private = srv.private_kb()
        log("  RSS per child (kB): %s, of which its own (not shmcb, not shared "
            "with the parent): %s" % (rss, private))
        cold_after, (after, after2) = restarted_rounds(args, srv, headers, "shmcb")
    finally:
        srv.stop()
    result["shmcb"] = {"cold": cold, "sweep": sweep, "warm": warm,
                       "warm_ratio_median": statistics.median(r["ratio"] for r in warm),
                       "rss_kb_per_child": {str(k): v for k, v in rss.items()},
                       "private_kb_per_child": {str(k): v for k, v in private.items()},
                       "private_kb_per_child_at_start": {str(k): v
                                                         for k, v in private0.items()},
                       "graceful": {"before": warm[-1], "after": [after, after2],
                                    "first_without_warmup": cold_after}}

    # 2. the default shmcb
    srv = Httpd(work, "fleet-default", args.module, pki, body, modules=mods,
                server_extra="X509AuthnCache shmcb %d\n" % ttl)
    srv.start()
    try:
        sweep = fleet_sweep(args, srv, headers, n)
        warm = [fleet_round(args, srv, headers, "default shmcb %d" % (i + 1))
                for i in range(max(2, args.rounds // 2))]
    finally:
        srv.stop()
    result["shmcb_default"] = {"sweep": sweep, "warm": warm,
                               "warm_ratio_median": statistics.median(r["ratio"] for r in warm)}

    # 3. two servers sharing redis
    red = Redis(work)
    secret = os.path.join(work, "fleet-secret.hex")
    with open(secret, "w") as f:
        f.write(os.urandom(32).hex() + "\n")
    os.chmod(secret, 0o644)
    extra = ("X509AuthnCache redis:127.0.0.1:%d %d\nX509AuthnCacheSecret %s\n"
             "X509AuthnCacheTimeout 200\n" % (red.port, ttl, secret))
    rbody = body + REDIS_REFERENCE.format(port=red.port)
    rmods = mods + ["socache_redis"] + REDIS_REFERENCE_MODULES
    a = Httpd(work, "fleet-redis-a", args.module, pki, rbody, modules=rmods,
              server_extra=extra)
    b = Httpd(work, "fleet-redis-b", args.module, pki, rbody, modules=rmods,
              server_extra=extra)
    try:
        a.start()
        sweep = fleet_sweep(args, a, headers, n)
        warm_a = [fleet_round(args, a, headers, "redis A warm %d" % (i + 1))
                  for i in range(2)]
        b.start()
        b_rounds = [fleet_round(args, b, headers, "redis B round %d" % (i + 1))
                    for i in range(args.rounds)]
        b_cold_after, (b_after, b_after2) = restarted_rounds(args, b, headers, "redis B")
        reference = redis_reference_rounds(args, b, headers)
    finally:
        a.stop()
        b.stop()
        red.stop()
    result["redis"] = {"sweep_a": sweep, "warm_a": warm_a, "b": b_rounds,
                       "b_first_round_ratio": b_rounds[0]["ratio"],
                       "graceful_b": {"before": b_rounds[-1], "after": b_after,
                                      "after2": b_after2,
                                      "first_without_warmup": b_cold_after},
                       "reference": reference}
    return result


def scenario_rss(args, work, pki):
    """RSS of the children over args.rss_requests keep-alive requests after a
    warm-up, for "no authentication" and the module side by side: httpd's
    own RSS creeps up slowly (allocators, threads first used late), so the
    module's share is the difference.  MaxMemFree 128 keeps the thread
    allocators from holding on to megabytes each; connections are recycled
    after 1,000 requests because httpd grows a TLS connection's pool by
    ~20 bytes per request until it closes (module or not)."""
    log("memory: RSS of the httpd children over %d requests" % args.rss_requests)
    result = {}
    for variant, path in (("noauth", "/noauth/hello.txt"), ("x509", "/x509/hello.txt")):
        h = Httpd(work, "rss-" + variant, args.module, pki,
                  "<VirtualHost 127.0.0.1:@PORT@>\n%s%s</VirtualHost>"
                  % (tls_vhost(pki), DIRECT_LOCATIONS),
                  server_extra="MaxMemFree 128\nMaxKeepAliveRequests 1000")
        h.start()
        samples = []
        try:
            chunk = argparse.Namespace(**dict(vars(args), duration=10, warmup=0))
            done = 0
            while done < args.rss_warmup:
                done += load(chunk, h.port, path, client_args(pki))["requests"]
            before, start = h.rss_kb(), done
            while done - start < args.rss_requests:
                done += load(chunk, h.port, path, client_args(pki))["requests"]
                samples.append((done, sorted(h.rss_kb().values())))
            after = h.rss_kb()
        finally:
            h.stop()
        growth = {str(pid): after.get(pid, 0) - kb for pid, kb in before.items()}
        result[variant] = {"warmup_requests": start, "requests": done - start,
                           "rss_kb_before": {str(k): v for k, v in before.items()},
                           "rss_kb_after": {str(k): v for k, v in after.items()},
                           "samples": samples,
                           "growth_kb_per_child": growth,
                           "max_growth_kb": max(growth.values()) if growth else None}
        log("  %s: %s" % (variant, growth))
    result["module_growth_kb"] = (result["x509"]["max_growth_kb"]
                                  - result["noauth"]["max_growth_kb"])
    return result


def callgrind_run(args, work, pki, name, body, path, extra, n=None):
    """Instructions of httpd -X (one process) under callgrind serving
    args.callgrind_requests requests on one keep-alive connection:
    (program total, inclusive cost of each module hook)."""
    n = n or args.callgrind_requests
    h = Httpd(work, "callgrind-" + name, args.module, pki, body, single=True)
    # the server drops to www-data before callgrind writes its output
    outdir = os.path.join(h.dir, "callgrind")
    os.makedirs(outdir, exist_ok=True)
    os.chmod(outdir, 0o777)
    out = os.path.join(outdir, "callgrind.out")
    if os.path.exists(out):
        os.unlink(out)
    proc = subprocess.Popen(["valgrind", "--tool=callgrind",
                             "--callgrind-out-file=" + out,
                             APACHE2, "-X", "-f", h.conf],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    h._wait(tries=3000)         # startup under valgrind is slow (and a busy machine)
    if os.path.exists(out):
        os.chmod(out, 0o666)    # created as root, written at exit by www-data
    try:
        cmd = [args.load, "-p", str(h.port), "-u", path, "-c", "1", "-n", str(n)] + extra
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=900)
        if r.returncode != 0 or json.loads(r.stdout)["requests"] != n:
            raise RuntimeError("callgrind load: %s %s" % (r.stdout, r.stderr))
    finally:
        proc.terminate()
        proc.wait(timeout=120)
    for _ in range(100):
        if os.path.exists(out) and os.path.getsize(out) > 0:
            break
        time.sleep(0.1)
    ann = subprocess.run(["callgrind_annotate", "--inclusive=yes", out],
                         stdout=subprocess.PIPE).stdout.decode(errors="replace")
    total, hooks = None, {}
    for line in ann.splitlines():
        parts = line.split()
        if not parts or not parts[0].replace(",", "").isdigit():
            continue
        ir = int(parts[0].replace(",", ""))
        if "PROGRAM TOTALS" in line:
            total = ir
        for fn in ("x509authn_check_authn", "x509authn_post_read_request",
                   "x509authn_pre_handshake"):
            if line.rstrip().endswith(":" + fn) and fn not in hooks:
                hooks[fn] = ir
        # the reference functions of a new certificate, inside the server
        for fn in REFERENCE_FUNCTIONS:
            if len(parts) > 2 and parts[-2].endswith(":" + fn) \
                    and "ref:" + fn not in hooks:
                hooks["ref:" + fn] = ir
    return total, hooks


REFERENCE_FUNCTIONS = ("d2i_X509", "X509_verify")


def scenario_callgrind(args, work, pki):
    """Instructions per request: each variant minus "no authentication",
    same server configuration otherwise; each measured as the difference of
    two runs, so startup, the first connection and cache fills drop out."""
    n = args.callgrind_requests
    log("callgrind: instructions per request, %d requests per variant" % n)
    tls_body = "<VirtualHost 127.0.0.1:@PORT@>\n%s%s</VirtualHost>" % (
        tls_vhost(pki), DIRECT_LOCATIONS)
    hdr_body = HEADER_LOCATIONS.format(ca=pki.ca_bundle, crl=pki.crl_bundle,
                                       issuer=ISSUER_A)
    hdr_extra = ["--plain", "--headers", bulk_certs(pki, work, 5)]
    nc = max(50, n // 20)       # full handshakes are slow under valgrind
    runs = [("tls", v, tls_body, p, client_args(pki), n) for v, p, _ in DIRECT_VARIANTS]
    runs += [("tls-newconn", v, tls_body, p, client_args(pki) + ["--new-conn"], nc)
             for v, p, _ in DIRECT_VARIANTS[:2]]
    hdr_nocache = "X509AuthnCache none\nX509AuthnCacheEntries 0\n" + hdr_body
    # no per-process cache: every request is a shared-cache (shmcb) hit
    hdr_shared = "X509AuthnCacheEntries 0\n" + hdr_body
    runs += [("header", "noauth", hdr_body, "/noauth/hello.txt", hdr_extra, n),
             ("header", "cache_on", hdr_body, "/x509/hello.txt", hdr_extra, n),
             ("header", "shared_hit", hdr_shared, "/x509/hello.txt", hdr_extra, nc),
             ("header", "cache_off", hdr_nocache, "/x509/hello.txt", hdr_extra, nc)]
    # cold: caches on, but every request a certificate never seen (issue 16:
    # a new leaf under a known intermediate): an EC leaf of Issuing CA A
    # (EC), an RSA leaf of an RSA issuing CA (in the CA and CRL files too)
    rsa = rsa_issuer(pki, work)
    issuers = {"ec": (pki["issuing-a"].cert, pki["issuing-a"].key, hdr_body),
               "rsa": (rsa["cert"], rsa["key"],
                       HEADER_LOCATIONS.format(ca=rsa["ca_file"], crl=rsa["crl_file"],
                                               issuer=rsa["issuer"]))}
    cold = {kind: cold_certs(args, work, kind, issuers[kind][0], issuers[kind][1],
                             3 * nc) for kind in issuers}
    runs += [("header", "cold_" + kind, issuers[kind][2], "/x509/hello.txt",
              ["--plain", "--headers", f], nc) for kind, f in cold.items()]
    if args.callgrind_variants:
        # only these (GROUP:VARIANT), each with its group's "noauth"
        want = set(args.callgrind_variants.split(","))
        groups = {w.split(":")[0] for w in want}
        runs = [r for r in runs if "%s:%s" % (r[0], r[1]) in want
                or (r[0] in groups and r[1] == "noauth")]
    results = {}
    for group, variant, body, path, extra, count in runs:
        # two runs, `count` and 3 x `count` requests: the difference leaves
        # out startup, the first connection and cache fills
        t1, h1 = callgrind_run(args, work, pki, "%s-%s-1" % (group, variant),
                               body, path, extra, count)
        t3, h3 = callgrind_run(args, work, pki, "%s-%s-3" % (group, variant),
                               body, path, extra, 3 * count)
        results.setdefault(group, {})[variant] = {
            "requests": 2 * count,
            "per_request": round((t3 - t1) / (2 * count)),
            "hooks_per_request": {k: round((h3.get(k, 0) - h1.get(k, 0)) / (2 * count))
                                  for k in h3 if not k.startswith("ref:")},
            "functions_per_request": {k[4:]: round((h3.get(k, 0) - h1.get(k, 0))
                                                   / (2 * count))
                                      for k in h3 if k.startswith("ref:")}}
    for group, vs in results.items():
        base = vs["noauth"]["per_request"]
        for v in vs.values():
            v["extra_per_request"] = v["per_request"] - base
    # the reference of a new certificate, measured here too: one d2i_X509
    # of such a leaf and one X509_verify under its issuer's key
    for kind, f in cold.items():
        v = results.get("header", {}).get("cold_" + kind)
        if v is None:
            continue
        ref = refcost(args, work, issuers[kind][0], kind, f, nc)
        limit = 1.5 * (ref["d2i_X509"] + ref["X509_verify"])
        v["reference"] = dict(ref, limit=round(limit),
                              ratio=round(v["extra_per_request"] / limit, 3))
        # the same functions as the server ran them for each request (its
        # libcrypto has more providers and decoders to look through); every
        # call counts, so this is the reference only while the server
        # checks one signature per new leaf (intermediates' cached)
        fpr = v["functions_per_request"]
        if fpr.get("d2i_X509") and fpr.get("X509_verify"):
            limit = 1.5 * (fpr["d2i_X509"] + fpr["X509_verify"])
            v["reference_in_run"] = dict(fpr, limit=round(limit),
                                         ratio=round(v["extra_per_request"] / limit, 3))
    return results


def cold_certs(args, work, kind, ca, cakey, n):
    """n new client certificates of the CA @ca, with an EC P-256 or an RSA
    2048 key, as header lines (x509a_mkcerts)."""
    import hashlib
    with open(ca, "rb") as f:
        tag = hashlib.sha256(f.read()).hexdigest()[:16]
    # named by the CA: a PKI made again (or another issuer) makes new ones
    out = os.path.join(work, "bulk", "cold-%s-%s-%d.txt" % (kind, tag, n))
    if not os.path.exists(out):
        os.makedirs(os.path.dirname(out), exist_ok=True)
        mk = os.path.join(os.path.dirname(args.load), "x509a_mkcerts")
        with open(out + ".tmp", "w") as f:
            subprocess.run([mk, "--ca", ca, "--cakey", cakey, "-n", str(n),
                            "--first", "9000000"]
                           + (["--rsa", "2048"] if kind == "rsa" else []),
                           stdout=f, check=True)
        os.rename(out + ".tmp", out)
    return out


def rsa_issuer(pki, work):
    """An RSA 2048 issuing CA under the test root, and CA and CRL files
    with it and its (empty) CRL added to the test PKI's."""
    d = os.path.join(work, "rsa-ca")
    r = {"cert": os.path.join(d, "ca.pem"), "key": os.path.join(d, "ca.key"),
         "ca_file": os.path.join(d, "ca-bundle.pem"),
         "crl_file": os.path.join(d, "crl-bundle.pem"),
         "issuer": "CN=X509Authn Bench RSA Issuing CA,O=X509Authn Test,C=US"}
    if os.path.exists(r["crl_file"]):
        return r
    os.makedirs(d, exist_ok=True)
    ext = os.path.join(d, "ext.cnf")
    with open(ext, "w") as f:
        f.write("[v3]\nbasicConstraints=critical,CA:TRUE,pathlen:0\n"
                "keyUsage=critical,keyCertSign,cRLSign\n"
                "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
    subprocess.run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", r["key"], "-subj",
                    "/C=US/O=X509Authn Test/CN=X509Authn Bench RSA Issuing CA",
                    "-out", os.path.join(d, "ca.csr")], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(["openssl", "x509", "-req", "-in", os.path.join(d, "ca.csr"),
                    "-CA", pki["root"].cert, "-CAkey", pki["root"].key,
                    "-set_serial", "0x5201", "-days", "365", "-sha256",
                    "-extfile", ext, "-extensions", "v3", "-out", r["cert"]],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(os.path.join(d, "index.txt"), "w"):
        pass
    with open(os.path.join(d, "crlnumber"), "w") as f:
        f.write("01\n")
    cnf = os.path.join(d, "ca.cnf")
    with open(cnf, "w") as f:
        f.write("[ca]\ndefault_ca = d\n[d]\ndatabase = %s\ncrlnumber = %s\n"
                "default_md = sha256\ndefault_crl_days = 30\n[crl_ext]\n"
                "authorityKeyIdentifier = keyid:always\n"
                % (os.path.join(d, "index.txt"), os.path.join(d, "crlnumber")))
    crl = os.path.join(d, "ca.crl.pem")
    subprocess.run(["openssl", "ca", "-config", cnf, "-gencrl", "-keyfile", r["key"],
                    "-cert", r["cert"], "-crlexts", "crl_ext", "-out", crl],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for out, base, extra in ((r["ca_file"], pki.ca_bundle, r["cert"]),
                             (r["crl_file"], pki.crl_bundle, crl)):
        with open(out + ".tmp", "w") as f:
            for src in (base, extra):
                with open(src) as g:
                    f.write(g.read())
        os.rename(out + ".tmp", out)
    return r


def refcost(args, work, issuer, kind, headers, n):
    """Inclusive instructions per certificate of d2i_X509 and X509_verify
    under @issuer's key (bench/x509a_refcost under callgrind, runs of n and
    3 n certificates: the difference leaves out the first call's set-up)."""
    prog = os.path.join(os.path.dirname(args.load), "x509a_refcost")
    d = os.path.join(work, "refcost")
    os.makedirs(d, exist_ok=True)
    costs = {}
    for count in (n, 3 * n):
        out = os.path.join(d, "callgrind-%s-%d.out" % (kind, count))
        subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
                        prog, "--issuer", issuer, "--headers", headers,
                        "-n", str(count)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ann = subprocess.run(["callgrind_annotate", "--inclusive=yes", out],
                             stdout=subprocess.PIPE).stdout.decode(errors="replace")
        got = {}
        for line in ann.splitlines():
            parts = line.split()
            if len(parts) < 2 or not parts[0].replace(",", "").isdigit():
                continue
            for fn in ("d2i_X509", "X509_verify"):
                if parts[-2].endswith(":" + fn) and fn not in got:
                    got[fn] = int(parts[0].replace(",", ""))
        costs[count] = got
    return {fn: round((costs[3 * n].get(fn, 0) - costs[n].get(fn, 0)) / (2 * n))
            for fn in ("d2i_X509", "X509_verify")}


SCENARIOS = {
    "direct": scenario_direct,
    "header": scenario_header,
    "header5": scenario_header_few,
    "handshake": scenario_handshake,
    "h2": scenario_h2,
    "rss": scenario_rss,
    "callgrind": scenario_callgrind,
    "fleet": scenario_fleet,
}
# "make bench" runs these; fleet (minutes, 100,000 certificates) on demand
DEFAULT_ONLY = "direct,header,header5,handshake,h2,rss,callgrind"


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--module", required=True)
    ap.add_argument("--load", required=True)
    ap.add_argument("--only", default=DEFAULT_ONLY,
                    help="scenarios, of: %s" % ", ".join(SCENARIOS))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--duration", type=float, default=4.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--conns", type=int, default=8)
    ap.add_argument("--streams", type=int, default=10)
    ap.add_argument("--certs", type=int, default=1000)
    ap.add_argument("--fleet-certs", type=int, default=100000)
    ap.add_argument("--fleet-shmcb", type=int, default=256 * 1024 * 1024,
                    help="bytes of the shmcb sized for the fleet")
    ap.add_argument("--fleet-cold-rounds", type=int, default=2)
    ap.add_argument("--rss-requests", type=int, default=1000000)
    ap.add_argument("--rss-warmup", type=int, default=300000)
    ap.add_argument("--callgrind-requests", type=int, default=2000)
    ap.add_argument("--callgrind-variants", default="",
                    help="only these GROUP:VARIANT of the callgrind scenario "
                         "(e.g. tls-newconn:x509), each with its group's noauth")
    ap.add_argument("--work", default=os.path.join(TOP, "build", "bench"))
    ap.add_argument("--out", default=None, help="JSON results file")
    args = ap.parse_args()
    # httpd resolves a relative LoadModule path against its ServerRoot
    args.module = os.path.abspath(args.module)
    args.load = os.path.abspath(args.load)

    os.makedirs(args.work, exist_ok=True)
    os.chmod(args.work, 0o755)
    pki = PKI(os.path.join(args.work, "pki"))
    results = {"machine": {"cpus": os.cpu_count(), "kernel": platform.release(),
                           "apache2": subprocess.run([APACHE2, "-v"], stdout=subprocess.PIPE)
                           .stdout.decode().splitlines()[0]},
               "settings": {k: v for k, v in vars(args).items()
                            if k not in ("module", "load", "work", "out")}}
    for name in args.only.split(","):
        results[name] = SCENARIOS[name](args, args.work, pki)
        log(json.dumps(results[name], indent=1))
    out = args.out or os.path.join(args.work, "results.json")
    with open(out, "w") as f:
        json.dump(results, f, indent=1)
    report(results)
    log("results: %s" % out)


def report(results):
    print("\n%-10s %-14s %12s %10s  %s" % ("scenario", "variant", "req/s", "ratio", "what"))
    for sc in ("direct", "header", "header5", "handshake", "h2"):
        if sc not in results:
            continue
        for name, v in results[sc]["variants"].items():
            print("%-10s %-14s %12.0f %10.3f  %s" % (sc, name, v["rps_median"],
                                                    v["ratio_median"], v["what"]))
    if "rss" in results:
        r = results["rss"]
        for v in ("noauth", "x509"):
            print("rss %-7s %d requests after %d of warm-up: max growth per child %s kB"
                  % (v, r[v]["requests"], r[v]["warmup_requests"], r[v]["max_growth_kb"]))
        print("rss: the module's share %+d kB" % r["module_growth_kb"])
    if "fleet" in results:
        f = results["fleet"]
        print("fleet %d certificates, random picks: shmcb %d MB warm ratio %.3f "
              "(cold %s); default shmcb warm %.3f; redis B first round %.3f; "
              "graceful (shmcb, kept) %.3f -> %.3f; graceful (redis) %.3f -> %.3f"
              % (f["certificates"], f["shmcb_bytes"] >> 20, f["shmcb"]["warm_ratio_median"],
                 ", ".join("%.3f" % r["ratio"] for r in f["shmcb"]["cold"]),
                 f["shmcb_default"]["warm_ratio_median"], f["redis"]["b_first_round_ratio"],
                 f["shmcb"]["graceful"]["before"]["ratio"],
                 f["shmcb"]["graceful"]["after"][0]["ratio"],
                 f["redis"]["graceful_b"]["before"]["ratio"],
                 f["redis"]["graceful_b"]["after"]["ratio"]))
        ref = f["redis"]["reference"]
        print("fleet redis reference, medians of %d rounds: mod_cache from redis %.3f, "
              "the module from redis %.3f (%.3f of mod_cache's rate)"
              % (len(ref["rounds"]), ref["cached_ratio_median"], ref["ratio_median"],
                 ref["x509_to_cached_median"]))
    if "callgrind" in results:
        for group, vs in results["callgrind"].items():
            for v, d in vs.items():
                print("callgrind %-11s %-12s %9d instructions/request (%+d vs noauth); "
                      "hooks %s" % (group, v, d["per_request"], d["extra_per_request"],
                                    d["hooks_per_request"]))
                for ref, what in (("reference", "reference"),
                                  ("reference_in_run", "in the server")):
                    if ref in d:
                        r = d[ref]
                        print("callgrind %-11s %-12s %s d2i_X509 %d + X509_verify %d; "
                              "limit 1.5 x = %d; new certificate %+d = %.3f of the limit"
                              % (group, v, what, r["d2i_X509"], r["X509_verify"],
                                 r["limit"], d["extra_per_request"], r["ratio"]))


if __name__ == "__main__":
    main()
