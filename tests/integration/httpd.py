"""A real apache2 for the integration tests.

``Httpd`` writes a complete configuration into its own directory (readable by
www-data, since httpd runs as root and its children drop to www-data), starts
``/usr/sbin/apache2 -DFOREGROUND`` in the background on free loopback ports,
waits until every port listens, and stops it again.

Virtual hosts (one port each, all sharing the same ``<Location>`` blocks):

    main      SSLVerifyClient optional, CA root+A+B, CRLs (SSLCARevocationCheck chain)
    mixed     SSLVerifyClient optional, CA root+A+B+lookalike root+A, no CRLs
    noca      SSLVerifyClient optional_no_ca, CA root+A+B
    require   SSLVerifyClient require, CA root+A+B, CRLs
    perloc    SSLVerifyClient none (Locations may say require), CA root+A+B, CRLs
    plain     no TLS at all

Every URL under ``/t/`` runs ``cgi/env.py``, which answers the request's CGI
environment as JSON.  Responses carry ``X-User`` (REMOTE_USER),
``X-Auth-Type``, ``X-Src`` (%{X509_AUTHN_SOURCE}e) and ``X-CN``
(%{X509_CLIENT_S_DN_CN}e) from mod_headers.
"""

import os
import re
import signal
import socket
import subprocess
import time
import uuid

APACHE2 = os.environ.get("APACHE2", "/usr/sbin/apache2")
MODDIR = os.environ.get("APACHE_MODULES", "/usr/lib/apache2/modules")
_TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# in-tree build first, then the out-of-tree build scripts/test-all.sh makes
MODULE_SO_CANDIDATES = [os.path.join(_TOP, ".libs", "mod_x509authn.so"),
                        os.path.join(_TOP, "build", "ci", ".libs", "mod_x509authn.so")]


def httpd_env():
    """The environment apache2 runs in.  For a module built with
    AddressSanitizer, X509A_HTTPD_PRELOAD names the sanitizer runtime to
    preload (it must come first); reports go to X509A_SANITIZER_LOG.*,
    which conftest checks at the end of the session."""
    env = dict(os.environ)
    preload = os.environ.get("X509A_HTTPD_PRELOAD")
    if preload:
        log = os.environ.get("X509A_SANITIZER_LOG", "/tmp/x509authn-sanitizer")
        env["LD_PRELOAD"] = preload
        # httpd frees its pools, not every global, at exit: no leak check
        env["ASAN_OPTIONS"] = ("detect_leaks=0:abort_on_error=1:use_sigaltstack=0:"
                              "log_path=%s" % log)
        env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1:log_path=%s" % log
    return env


def default_module_so():
    for p in MODULE_SO_CANDIDATES:
        if os.path.exists(p):
            return p
    return MODULE_SO_CANDIDATES[0]

# Debian builds log_config, logio, unixd, version, so, watchdog in.
MODULES = [
    ("mpm_event_module", "mod_mpm_event.so"),
    ("authn_core_module", "mod_authn_core.so"),
    ("authn_file_module", "mod_authn_file.so"),
    ("authz_core_module", "mod_authz_core.so"),
    ("authz_user_module", "mod_authz_user.so"),
    ("authz_host_module", "mod_authz_host.so"),
    ("auth_basic_module", "mod_auth_basic.so"),
    ("alias_module", "mod_alias.so"),
    ("mime_module", "mod_mime.so"),
    ("env_module", "mod_env.so"),
    ("setenvif_module", "mod_setenvif.so"),
    ("headers_module", "mod_headers.so"),
    ("cgid_module", "mod_cgid.so"),
    ("socache_shmcb_module", "mod_socache_shmcb.so"),
    ("ssl_module", "mod_ssl.so"),
    ("http2_module", "mod_http2.so"),
]

ENV_CGI = """#!/usr/bin/python3
import json, os, sys
# read the request body first: a CGI that exits without it makes mod_cgid's
# write fail and the response is lost (a race, not a module behaviour)
sys.stdin.buffer.read()
body = json.dumps(dict(os.environ), sort_keys=True, indent=1).encode()
sys.stdout.buffer.write(b"Content-Type: application/json\\r\\n"
                        b"Content-Length: %d\\r\\n\\r\\n" % len(body) + body)
"""

ACCESS_FORMAT = (
    '%a "%r" %>s user="%u" src="%{X509_AUTHN_SOURCE}e" '
    'cn="%{X509_CLIENT_S_DN_CN}e" sdn="%{X509_CLIENT_S_DN}e" '
    'serial="%{X509_CLIENT_M_SERIAL}e" sha256="%{X509_CLIENT_FINGERPRINT_SHA256}e" '
    'tag="%{X-Test-Tag}i" err="%{X509_AUTHN_ERROR}e"')


def free_port(taken=()):
    """A port free now, other than those in `taken` (the kernel can hand
    out a port again once its socket is closed)."""
    while True:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if port not in taken:
            return port


def free_listen_port(taken=()):
    """A free port below the kernel's ephemeral range, for a server whose
    port is written into certificates before it starts (an OCSP responder):
    a port from free_port() can be taken meanwhile by any outgoing
    connection, and the server then cannot listen."""
    import random
    rnd = random.Random()
    while True:
        port = rnd.randrange(20000, 32000)
        if port in taken:
            continue
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            pass
        finally:
            s.close()


def free_ports(names):
    ports = {}
    for name in names:
        ports[name] = free_port(set(ports.values()))
    return ports


def htpasswd_line(user, password):
    import base64
    import hashlib
    return "%s:{SHA}%s\n" % (user, base64.b64encode(
        hashlib.sha1(password.encode()).digest()).decode())


def quote(value):
    """An httpd configuration argument in double quotes."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class HttpdError(Exception):
    pass


class Httpd:
    VHOSTS = ("main", "mixed", "noca", "require", "perloc", "plain")

    def __init__(self, dir, pki, module_so=None, loglevel="warn ssl:info x509authn:debug"):
        self.dir = os.path.abspath(dir)
        self.pki = pki
        self.module_so = module_so
        self.loglevel = loglevel if module_so else re.sub(r"\s*x509authn:\S+", "", loglevel)
        self.proc = None
        self.ports = free_ports(self.VHOSTS)
        for sub in ("", "logs", "run", "cgi", "htdocs", "conf"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
            os.chmod(os.path.join(self.dir, sub), 0o755)
        os.chmod(self.dir, 0o755)
        self._write("cgi/env.py", ENV_CGI, 0o755)
        self._write("htdocs/index.html", "ok\n")
        self._write("conf/mime.types", "text/html html\napplication/json json\n")
        self.passwd = os.path.join(self.dir, "conf", "htpasswd")
        self._write("conf/htpasswd", htpasswd_line("basicuser", "s3cret")
                    + htpasswd_line("alice01", "alicepw"))
        self.conf = os.path.join(self.dir, "conf", "httpd.conf")
        self.error_log = os.path.join(self.dir, "logs", "error.log")
        self.access_log = os.path.join(self.dir, "logs", "access.log")
        self.stderr_path = os.path.join(self.dir, "logs", "stderr.log")

    # -- files -------------------------------------------------------------
    def _write(self, rel, text, mode=0o644):
        path = os.path.join(self.dir, rel)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def write_file(self, rel, text, mode=0o644):
        """Write a file in the server directory (e.g. a CA file for a rule)."""
        return self._write(rel, text, mode)

    def path(self, rel):
        return os.path.join(self.dir, rel)

    # -- configuration -------------------------------------------------------
    def render(self, locations="", server_extra="", vhost_extra=None, load_module=True,
               extra_vhosts=None, extra_modules=()):
        """The full httpd.conf text.

        locations: text with <Location> blocks, included in every vhost.
        server_extra: directives for the main server (outside vhosts).
        vhost_extra: dict vhost name -> extra directives in that vhost.
        extra_vhosts: dict name -> more virtual hosts on ports of their own:
            a string (directives of a plain HTTP vhost) or a dict with
            "conf" (directives) and, for TLS, "verify" (SSLVerifyClient) and
            optionally "ca" (SSLCACertificateFile, default root+A+B) and
            "crl" (True: CRLs of root, A, B).  They include `locations` too.
        extra_modules: more (module name, file in the modules dir) to load.
        """
        pki = self.pki
        d = self.dir
        vhost_extra = vhost_extra or {}
        extra_vhosts = extra_vhosts or {}
        for name in list(self.ports):
            if name not in self.VHOSTS and name not in extra_vhosts:
                del self.ports[name]
        for name in extra_vhosts:
            if name not in self.ports:
                self.ports[name] = free_port(set(self.ports.values()))
        self.plain_vhosts = {"plain"} | {
            n for n, v in extra_vhosts.items()
            if isinstance(v, str) or not v.get("verify")}
        out = []
        out.append('ServerRoot "%s"' % d)
        out.append('DefaultRuntimeDir "%s/run"' % d)
        out.append('PidFile "%s/run/httpd.pid"' % d)
        out.append('Mutex file:%s/run default' % d)
        out.append("ServerName localhost")
        out.append("User www-data\nGroup www-data")
        for name, so in MODULES:
            out.append("LoadModule %s %s/%s" % (name, MODDIR, so))
        for name, so in extra_modules:
            out.append("LoadModule %s %s/%s" % (name, MODDIR, so))
        if load_module and self.module_so:
            out.append('LoadModule x509authn_module "%s"' % self.module_so)
        out.append("""
StartServers 1
ServerLimit 2
ThreadsPerChild 16
MinSpareThreads 8
MaxSpareThreads 32
MaxRequestWorkers 32
Timeout 20
KeepAlive On
ErrorLog "{d}/logs/error.log"
LogLevel {loglevel}
LogFormat '{fmt}' x509
CustomLog "{d}/logs/access.log" x509
ScriptSock "{d}/run/cgisock"
TypesConfig "{d}/conf/mime.types"
DocumentRoot "{d}/htdocs"
<Directory />
    AllowOverride None
    Require all granted
</Directory>
ScriptAliasMatch "^/t/" "{d}/cgi/env.py"
<Directory "{d}/cgi">
    Options +ExecCGI
</Directory>
Header always set X-User "expr=%{{REMOTE_USER}}"
Header always set X-Auth-Type "expr=%{{AUTH_TYPE}}"
Header always set X-Src "%{{X509_AUTHN_SOURCE}}e"
Header always set X-CN "%{{X509_CLIENT_S_DN_CN}}e"
SSLSessionCache "shmcb:{d}/run/ssl_scache(512000)"
SSLSessionCacheTimeout 300
SSLRandomSeed startup builtin
SSLRandomSeed connect builtin
""".format(d=d, loglevel=self.loglevel,
           fmt=ACCESS_FORMAT.replace("'", "\\'")))
        out.append(server_extra)
        vhosts = {
            "main": dict(verify="optional", ca=pki.ca_bundle, crl=True),
            "mixed": dict(verify="optional", ca=pki.ca_bundle_lookalike, crl=False),
            "noca": dict(verify="optional_no_ca", ca=pki.ca_bundle, crl=False),
            "require": dict(verify="require", ca=pki.ca_bundle, crl=True),
            # no client certificate at connection level: Locations ask for one
            # (TLS 1.2 renegotiation / TLS 1.3 post-handshake auth)
            "perloc": dict(verify="none", ca=pki.ca_bundle, crl=True),
            "plain": None,
        }
        for name, v in extra_vhosts.items():
            if isinstance(v, str) or not v.get("verify"):
                vhosts[name] = None
            else:
                vhosts[name] = dict(verify=v["verify"], ca=v.get("ca", pki.ca_bundle),
                                    crl=v.get("crl", False))
            vhost_extra = dict(vhost_extra)
            vhost_extra[name] = (vhost_extra.get(name, "") + "\n"
                                 + (v if isinstance(v, str) else v.get("conf", "")))
        for name, v in vhosts.items():
            port = self.ports[name]
            out.append("Listen 127.0.0.1:%d" % port)
            out.append("<VirtualHost 127.0.0.1:%d>" % port)
            out.append("    ServerName localhost")
            if v is not None:
                out.append("""    SSLEngine on
    Protocols h2 http/1.1
    SSLProtocol -all +TLSv1.2 +TLSv1.3
    SSLCertificateFile "{cert}"
    SSLCertificateKeyFile "{key}"
    SSLCACertificateFile "{ca}"
    SSLVerifyClient {verify}
    SSLVerifyDepth 5
    SSLOptions +StdEnvVars +ExportCertData""".format(
                    cert=pki.cert("server").bundle, key=pki.cert("server").key,
                    ca=v["ca"], verify=v["verify"]))
                if v["crl"]:
                    out.append('    SSLCARevocationFile "%s"' % pki.crl_bundle)
                    out.append("    SSLCARevocationCheck chain")
            out.append(vhost_extra.get(name, ""))
            out.append(locations)
            out.append("</VirtualHost>")
        return "\n".join(out) + "\n"

    def write_conf(self, **kw):
        self.last_conf = dict(kw)
        self.last_conf.setdefault("locations", "")
        text = self.render(**kw)
        self._write("conf/httpd.conf", text)
        return text

    # -- process control -----------------------------------------------------
    def configtest(self, **kw):
        """Write a config to a separate file and run ``apache2 -t`` on it.
        Returns (returncode, combined output)."""
        path = self._write("conf/configtest.conf", self.render(**kw))
        p = subprocess.run([APACHE2, "-t", "-f", path], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60, env=httpd_env())
        return p.returncode, p.stdout.decode("utf-8", errors="replace")

    def start(self, timeout=20, **kw):
        """Start apache2; on a port taken meanwhile by someone else, retry
        with new ports."""
        for attempt in range(3):
            try:
                return self._start(timeout, **kw)
            except HttpdError as e:
                if "Address already in use" not in str(e) or attempt == 2:
                    raise
                self.ports = free_ports(self.ports)

    def _start(self, timeout=20, **kw):
        if self.proc is not None:
            raise HttpdError("already running")
        self.write_conf(**kw)
        self._stderr = open(self.stderr_path, "ab")
        mark = self.log_mark()
        self.proc = subprocess.Popen(
            [APACHE2, "-f", self.conf, "-DFOREGROUND"],
            stdin=subprocess.DEVNULL, stdout=self._stderr, stderr=self._stderr,
            start_new_session=True, env=httpd_env())
        deadline = time.time() + timeout
        pending = set(self.ports.values())
        while pending:
            if self.proc.poll() is not None:
                self.proc = None
                raise HttpdError("apache2 exited during startup:\n%s\n%s" % (
                    self._tail(self.stderr_path), self._tail(self.error_log)))
            if time.time() > deadline:
                self.stop()
                raise HttpdError("apache2 did not listen in time:\n%s" %
                                 self._tail(self.error_log))
            for port in list(pending):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    pending.discard(port)
                except OSError:
                    pass
            if pending:
                time.sleep(0.05)
        # the ports accept before the MPM runs (httpd reads its configuration
        # a second time in between): a signal sent then, such as a graceful
        # restart's SIGUSR1, would end the process.  Wait for the MPM (a
        # configuration that does not log the notice costs 5 s, not a failure).
        notice_deadline = min(deadline, time.time() + 5)
        while time.time() < notice_deadline and self.proc.poll() is None:
            if "resuming normal operations" in self.log_since(mark):
                break
            time.sleep(0.02)
        return self

    def reload(self, timeout=20, **kw):
        """Graceful restart with a new configuration."""
        if self.proc is None:
            return self.start(timeout=timeout, **kw)
        self.write_conf(**kw)
        mark = self.log_mark()
        os.kill(self.proc.pid, signal.SIGUSR1)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                self.proc = None
                raise HttpdError("apache2 exited on graceful restart:\n%s\n%s" % (
                    self._tail(self.stderr_path), self._tail(self.error_log)))
            if "resuming normal operations" in self.log_since(mark):
                time.sleep(0.3)
                return self
            time.sleep(0.05)
        raise HttpdError("graceful restart did not complete:\n%s" %
                         self._tail(self.error_log))

    def stop(self):
        if self.proc is None:
            return
        try:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        finally:
            self.proc = None
            self._stderr.close()

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    # -- addresses -----------------------------------------------------------
    def port(self, vhost="main"):
        return self.ports[vhost]

    def url(self, path, vhost="main"):
        scheme = "http" if vhost in getattr(self, "plain_vhosts", {"plain"}) else "https"
        return "%s://localhost:%d%s" % (scheme, self.ports[vhost], path)

    def get(self, loc, cert=None, vhost="main", path="env", **kw):
        """GET /t/<loc>/<path> with curl; `cert` is a PKI name or Cert."""
        from clients import curl
        if isinstance(cert, str):
            cert = self.pki.cert(cert)
        return curl(self.url("/t/%s/%s" % (loc, path), vhost), cert=cert, **kw)

    # -- logs ----------------------------------------------------------------
    @staticmethod
    def _tail(path, n=40):
        try:
            with open(path, "rb") as f:
                lines = f.read().decode("utf-8", errors="replace").splitlines()
        except OSError:
            return "(no %s)" % path
        return "\n".join(lines[-n:])

    def log_mark(self, which="error"):
        path = self.error_log if which == "error" else self.access_log
        try:
            return os.path.getsize(path)
        except OSError:
            return 0

    def log_since(self, mark, which="error"):
        path = self.error_log if which == "error" else self.access_log
        try:
            with open(path, "rb") as f:
                f.seek(mark)
                return f.read().decode("utf-8", errors="replace")
        except OSError:
            return ""

    def log_lines(self, mark, pattern=None, which="error"):
        lines = self.log_since(mark, which).splitlines()
        if pattern is None:
            return lines
        rx = re.compile(pattern)
        return [ln for ln in lines if rx.search(ln)]

    def wait_log(self, mark, pattern, which="error", timeout=5.0, count=1):
        """Wait until at least `count` new lines match `pattern`; return them."""
        deadline = time.time() + timeout
        while True:
            found = self.log_lines(mark, pattern, which)
            if len(found) >= count or time.time() > deadline:
                return found
            time.sleep(0.05)


# -- helpers for fixtures -----------------------------------------------------

REGISTRY = []  # running or runnable Httpd objects (for failure reports)


def new_httpd(request, workroot, pki, module_so, name="httpd"):
    """A stopped Httpd in a fresh directory, stopped again at the end of the
    requesting fixture's scope."""
    d = os.path.join(workroot, "%s-%s" % (name, uuid.uuid4().hex[:8]))
    h = Httpd(d, pki, module_so)
    REGISTRY.append(h)

    def fin():
        h.stop()
        REGISTRY.remove(h)
    request.addfinalizer(fin)
    return h


def start_httpd(request, workroot, pki, module_so, locations="", name="httpd", **kw):
    h = new_httpd(request, workroot, pki, module_so, name)
    h.start(locations=locations, **kw)
    return h


def location(path, body):
    """A <Location> block; `path` is relative to /t/."""
    return "<Location /t/%s>\n%s\n</Location>\n" % (path, body.strip("\n"))


def locations(mapping):
    return "".join(location(k, v) for k, v in mapping.items())
