"""Real servers around httpd for the trusted-proxy tests: nginx and HAProxy
(TLS-terminating proxies that forward the client certificate in a header),
redis-server and memcached (shared verification cache), and a tiny Python
HTTP backend behind mod_proxy that records the header fields it receives.

Every server runs on free 127.0.0.1 ports with its own configuration, pid and
log files in its own directory, in the foreground as a child of the test
process, and is stopped by the fixture that started it.  A missing binary is
an error (the tests fail, they do not skip).

    n = Nginx(dir, pki).start(conf_text)      # see nginx_conf()
    h = HAProxy(dir, pki).start(cfg_text)
    r = Redis(dir).start();  r.kill()
    m = Memcached(dir).start()
    b = Backend().start();   b.requests[tag] -> [(name, value), ...]

Proxies connect to httpd from their own loopback address (nginx
``proxy_bind``, HAProxy ``source``), so httpd can trust exactly them.
"""

import http.server
import json
import os
import signal
import socket
import subprocess
import threading
import time

from httpd import free_port

NGINX = os.environ.get("NGINX", "/usr/sbin/nginx")
HAPROXY = os.environ.get("HAPROXY", "/usr/sbin/haproxy")
REDIS = os.environ.get("REDIS_SERVER", "/usr/bin/redis-server")
MEMCACHED = os.environ.get("MEMCACHED", "/usr/bin/memcached")

REGISTRY = []   # running services, for the failure reports of conftest.py


class ServiceError(Exception):
    pass


def require_binary(path, package):
    """The binary must exist: a missing one fails the test (no skipping)."""
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise ServiceError("%s not found: install the Debian package %s"
                           % (path, package))
    return path


def wait_port(port, proc, what, log=None, timeout=15, host="127.0.0.1"):
    deadline = time.time() + timeout
    while True:
        if proc.poll() is not None:
            raise ServiceError("%s exited during startup (rc %s):\n%s" % (
                what, proc.returncode, tail(log) if log else ""))
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return
        except OSError:
            pass
        if time.time() > deadline:
            raise ServiceError("%s did not listen on %d in time:\n%s" % (
                what, port, tail(log) if log else ""))
        time.sleep(0.05)


def tail(path, n=40):
    try:
        with open(path, "rb") as f:
            return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-n:])
    except OSError:
        return "(no %s)" % path


def check_loopback_source(addr):
    """Can we connect from `addr` (e.g. 127.0.0.2) and does the peer see that
    address?  Raises ServiceError otherwise."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    try:
        c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            c.bind((addr, 0))
            c.connect(srv.getsockname())
            conn, peer = srv.accept()
            conn.close()
        except OSError as e:
            raise ServiceError("cannot connect from %s to 127.0.0.1: %s" % (addr, e))
        finally:
            c.close()
    finally:
        srv.close()
    if peer[0] != addr:
        raise ServiceError("connected from %s but the peer saw %s" % (addr, peer[0]))


class Service:
    """A foreground server process with a directory and a log file."""

    name = "service"

    def __init__(self, dir):
        self.dir = os.path.abspath(dir)
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.proc = None
        self.log = os.path.join(self.dir, "stderr.log")
        self._out = None

    def _spawn(self, args, port, **kw):
        self._out = open(self.log, "ab")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self._out,
                                     stderr=self._out, start_new_session=True,
                                     cwd=self.dir, **kw)
        REGISTRY.append(self)
        try:
            wait_port(port, self.proc, self.name, self.log)
        except ServiceError:
            self.stop()
            raise
        return self

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM):
        if self.proc is None:
            return
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(sig)
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait(timeout=5)
        finally:
            self.proc = None
            if self._out:
                self._out.close()
                self._out = None
            if self in REGISTRY:
                REGISTRY.remove(self)

    def kill(self):
        """SIGKILL: the server dies without closing anything cleanly."""
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
            self.stop()

    # same interface as Httpd for the failure reports
    def log_files(self):
        return [self.log]

    def log_mark(self, which="error"):
        files = self.log_files()
        path = files[0] if which == "error" or len(files) == 1 else files[1]
        try:
            return os.path.getsize(path)
        except OSError:
            return 0

    def log_since(self, mark, which="error"):
        files = self.log_files()
        if which != "error" and len(files) == 1:
            return ""
        path = files[0] if which == "error" else files[1]
        try:
            with open(path, "rb") as f:
                f.seek(mark)
                return f.read().decode("utf-8", errors="replace")
        except OSError:
            return ""


# -- nginx -----------------------------------------------------------------------

class Nginx(Service):
    """nginx in the foreground (master + one worker running as www-data),
    everything it writes inside its directory."""

    name = "nginx"

    def __init__(self, dir, pki):
        Service.__init__(self, dir)
        self.pki = pki
        self.port = free_port()
        for sub in ("logs", "tmp"):
            p = os.path.join(self.dir, sub)
            os.makedirs(p, exist_ok=True)
            os.chmod(p, 0o777)
        self.conf = os.path.join(self.dir, "nginx.conf")
        self.error_log = os.path.join(self.dir, "logs", "error.log")
        self.access_log = os.path.join(self.dir, "logs", "access.log")

    def log_files(self):
        return [self.error_log, self.access_log]

    def render(self, servers):
        """A whole nginx.conf around `servers` (server { } blocks); in them
        {port} is this nginx's port."""
        d = self.dir
        return """
user www-data;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/logs/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {d}/logs/access.log;
    client_body_temp_path {d}/tmp/client_body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    proxy_http_version 1.1;
{servers}
}}
""".format(d=d, servers=servers.replace("{port}", str(self.port)))

    def start(self, servers):
        require_binary(NGINX, "nginx")
        with open(self.conf, "w") as f:
            f.write(self.render(servers))
        p = subprocess.run([NGINX, "-t", "-p", self.dir + "/", "-e", self.error_log,
                            "-c", self.conf], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        if p.returncode != 0:
            raise ServiceError("nginx -t failed:\n" + p.stdout.decode(errors="replace"))
        return self._spawn([NGINX, "-p", self.dir + "/", "-e", self.error_log,
                            "-c", self.conf, "-g", "daemon off;"], self.port)

    def stop(self, sig=signal.SIGQUIT):
        Service.stop(self, sig)


# -- HAProxy ---------------------------------------------------------------------

class HAProxy(Service):
    name = "haproxy"

    def __init__(self, dir, pki):
        Service.__init__(self, dir)
        self.pki = pki
        self.port = free_port()
        self.cfg = os.path.join(self.dir, "haproxy.cfg")
        # server certificate, its chain and its key in one file
        srv = pki.cert("server")
        self.crt = os.path.join(self.dir, "server.pem")
        with open(self.crt, "w") as f:
            f.write(open(srv.bundle).read() + open(srv.key).read())

    def render(self, body):
        return """
global
    maxconn 200
    log stderr format raw local0 info
defaults
    mode http
    log global
    option httplog
    timeout connect 5s
    timeout client 30s
    timeout server 30s
{body}
""".format(body=body.replace("{port}", str(self.port)).replace("{crt}", self.crt))

    def start(self, body):
        require_binary(HAPROXY, "haproxy")
        with open(self.cfg, "w") as f:
            f.write(self.render(body))
        p = subprocess.run([HAPROXY, "-c", "-f", self.cfg], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        if p.returncode != 0:
            raise ServiceError("haproxy -c failed:\n" + p.stdout.decode(errors="replace"))
        return self._spawn([HAPROXY, "-f", self.cfg, "-db"], self.port)


# -- redis and memcached ---------------------------------------------------------

class Redis(Service):
    name = "redis-server"

    def __init__(self, dir):
        Service.__init__(self, dir)
        self.port = free_port()

    def start(self):
        require_binary(REDIS, "redis-server")
        return self._spawn([REDIS, "--port", str(self.port), "--bind", "127.0.0.1",
                            "--save", "", "--appendonly", "no", "--daemonize", "no",
                            "--dir", self.dir, "--protected-mode", "no",
                            "--logfile", ""], self.port)

    def command(self, *args):
        """One RESP command; returns the raw reply (bytes)."""
        req = b"*%d\r\n" % len(args) + b"".join(
            b"$%d\r\n%s\r\n" % (len(a), a) for a in
            (x.encode() if isinstance(x, str) else x for x in args))
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(req)
            return s.recv(65536)

    def dbsize(self):
        reply = self.command("DBSIZE")
        assert reply.startswith(b":"), reply
        return int(reply[1:].strip())


class Memcached(Service):
    name = "memcached"

    def __init__(self, dir):
        Service.__init__(self, dir)
        self.port = free_port()

    def start(self):
        require_binary(MEMCACHED, "memcached")
        return self._spawn([MEMCACHED, "-l", "127.0.0.1", "-p", str(self.port),
                            "-U", "0", "-u", "nobody", "-m", "16", "-v"], self.port)

    def stats(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(b"stats\r\n")
            data = b""
            while not data.endswith(b"END\r\n"):
                b = s.recv(65536)
                if not b:
                    break
                data += b
        out = {}
        for line in data.decode().splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] == "STAT":
                out[parts[1]] = parts[2]
        return out


# -- a backend behind mod_proxy ----------------------------------------------------

class Backend:
    """A tiny HTTP server (a thread of the test process) that records, for
    each request, the header fields exactly as received, keyed by the
    X-Test-Tag field, and answers them as JSON."""

    def __init__(self):
        self.requests = {}
        self.port = None
        self.server = None

    def start(self):
        backend = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self):
                n = int(self.headers.get("Content-Length") or 0)
                if n:
                    self.rfile.read(n)
                fields = list(self.headers.items())
                tag = self.headers.get("X-Test-Tag", "")
                backend.requests.setdefault(tag, []).append(fields)
                body = json.dumps({"path": self.path, "headers": fields}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def fields(self, tag):
        """The header fields of the (last) request with this tag."""
        got = self.requests.get(tag)
        assert got, "the backend received no request tagged %s" % tag
        return got[-1]
