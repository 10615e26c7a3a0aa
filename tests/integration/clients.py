"""Real clients for the integration tests: curl and openssl s_client."""

import json
import os
import re
import subprocess
import tempfile
import uuid

CURL = os.environ.get("CURL", "curl")
OPENSSL = os.environ.get("OPENSSL", "openssl")


class Response:
    def __init__(self, status, headers, body, http_version="", rc=0, stderr="",
                 raw=""):
        self.status = status              # int, 0 when no HTTP response
        self.headers = headers            # dict lower-case name -> last value
        self.body = body                  # bytes
        self.http_version = http_version  # "1.1", "2"
        self.rc = rc                      # client exit code
        self.stderr = stderr
        self.raw = raw                    # s_client: its whole output
        self.reused = None                # s_client: TLS session resumed?
        self.tag = None

    @property
    def text(self):
        return self.body.decode("utf-8", errors="replace")

    @property
    def env(self):
        """The CGI environment answered by cgi/env.py (dict)."""
        try:
            return json.loads(self.body.decode("utf-8"))
        except ValueError:
            raise AssertionError("not a CGI env answer (status %s): %r" %
                                 (self.status, self.body[:500]))

    @property
    def user(self):
        """REMOTE_USER as seen by mod_headers (X-User), "" when none."""
        return self.headers.get("x-user", "")

    def __repr__(self):
        return "<Response %s HTTP/%s user=%r rc=%s %s>" % (
            self.status, self.http_version, self.user, self.rc,
            self.stderr.strip()[:200])


def _parse_headers(block):
    headers = {}
    status = 0
    version = ""
    for line in block.splitlines():
        m = re.match(r"HTTP/(\S+)\s+(\d{3})", line)
        if m:
            version, status = m.group(1), int(m.group(2))
            headers = {}
            continue
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return status, version, headers


def _dechunk(data):
    out = b""
    while data:
        line, _, data = data.partition(b"\r\n")
        try:
            n = int(line.split(b";")[0], 16)
        except ValueError:
            break
        if n == 0:
            break
        out += data[:n]
        data = data[n + 2:]
    return out


def curl(url, cert=None, key=None, cacert=None, http2=False, headers=None,
         user=None, extra=None, timeout=20, tag=None):
    """One request with curl.  `cert` may be a pki.Cert (its bundle and key
    are used) or a path."""
    if cert is not None and not isinstance(cert, str):
        key = key or cert.key
        cert = cert.bundle
    m = re.match(r"https?://([^:/]+):(\d+)", url)
    args = [CURL, "-sS", "--max-time", str(timeout),
            "--resolve", "%s:%s:127.0.0.1" % (m.group(1), m.group(2))]
    if url.startswith("https"):
        args += ["--cacert", cacert or os.environ["X509A_TEST_ROOT_CA"]]
    args += ["--http2"] if http2 else ["--http1.1"]
    if cert:
        args += ["--cert", cert]
    if key:
        args += ["--key", key]
    if user:
        args += ["--user", user]
    tag = tag or uuid.uuid4().hex[:12]
    args += ["-H", "X-Test-Tag: " + tag]
    for h in headers or ():
        args += ["-H", h]
    args += extra or []
    with tempfile.NamedTemporaryFile() as hf, tempfile.NamedTemporaryFile() as bf:
        args += ["-D", hf.name, "-o", bf.name, "-w", "%{http_code} %{http_version}",
                 url]
        p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout + 10)
        hdr = open(hf.name, "rb").read().decode("utf-8", errors="replace")
        body = open(bf.name, "rb").read()
    status, version, hs = _parse_headers(hdr)
    r = Response(status, hs, body, version, p.returncode,
                 p.stderr.decode(errors="replace"))
    r.tag = tag
    return r


def curl_multi(urls, cert=None, key=None, cacert=None, http2=False, timeout=20,
               headers=None, show="x-user"):
    """Several URLs in one curl run (one connection, keep-alive or HTTP/2
    streams), each sent with the request header fields `headers`.  Returns
    a list of (status, http_version, num_connects, value of the response
    header `show`)."""
    if cert is not None and not isinstance(cert, str):
        key = key or cert.key
        cert = cert.bundle
    m = re.match(r"https?://([^:/]+):(\d+)", urls[0])
    args = [CURL, "-sS", "--max-time", str(timeout),
            "--resolve", "%s:%s:127.0.0.1" % (m.group(1), m.group(2)),
            "--cacert", cacert or os.environ["X509A_TEST_ROOT_CA"],
            "--http2" if http2 else "--http1.1",
            "-w", "%{http_code} %{http_version} %{num_connects} "
                  "[%header{" + show + "}]\\n"]
    if cert:
        args += ["--cert", cert, "--key", key]
    for h in headers or ():
        args += ["-H", h]
    for u in urls:
        args += ["-o", "/dev/null", u]
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout + 10)
    out = []
    # split on \n only: an empty header value comes out as "\r"
    for line in p.stdout.decode("utf-8", errors="replace").split("\n"):
        m = re.match(r"(\d{3}) (\S+) (\d+) \[(.*)\]$", line, re.S)
        if m:
            out.append((int(m.group(1)), m.group(2), int(m.group(3)),
                        m.group(4).strip()))
    return out


def s_client(port, path, cert=None, chain=None, key=None, cafile=None,
             tls="1.3", sess_out=None, sess_in=None, headers=None,
             servername="localhost", timeout=20):
    """One HTTP/1.1 request over `openssl s_client`, for session resumption.

    The request says ``Connection: close`` and stdin EOF is ignored, so the
    whole response is read before the connection closes (with TLS 1.3 the
    session ticket only arrives after the handshake: it is in by then).
    `cert` may be a pki.Cert: its leaf, key and issuer are used.
    """
    if cert is not None and not isinstance(cert, str):
        key = key or cert.key
        chain = chain or cert.bundle
        cert = cert.cert
    args = [OPENSSL, "s_client", "-connect", "127.0.0.1:%d" % port,
            "-servername", servername, "-ign_eof",
            "-CAfile", cafile or os.environ["X509A_TEST_ROOT_CA"],
            "-verify_return_error", "-tls1_3" if tls == "1.3" else "-tls1_2"]
    if cert:
        args += ["-cert", cert, "-key", key]
        if chain:
            args += ["-cert_chain", chain]
    if sess_out:
        args += ["-sess_out", sess_out]
    if sess_in:
        args += ["-sess_in", sess_in]
    req = "GET %s HTTP/1.1\r\nHost: localhost:%d\r\n" % (path, port)
    for h in headers or ():
        req += h + "\r\n"
    req += "Connection: close\r\n\r\n"
    p = subprocess.run(args, input=req.encode(), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    raw = p.stdout.decode("utf-8", errors="replace")
    status, version, hs, body = 0, "", {}, b""
    i = p.stdout.find(b"HTTP/1.1 ")
    if i >= 0:
        data = p.stdout[i:]
        head, _, rest = data.partition(b"\r\n\r\n")
        status, version, hs = _parse_headers(head.decode("latin-1"))
        if hs.get("transfer-encoding", "").lower() == "chunked":
            body = _dechunk(rest)
        else:
            n = int(hs.get("content-length", len(rest)))
            body = rest[:n]
    r = Response(status, hs, body, version, p.returncode,
                 p.stderr.decode(errors="replace"), raw)
    m = re.search(r"^(New|Reused), (TLSv[\d.]+)", raw, re.M)
    r.reused = bool(m and m.group(1) == "Reused")
    r.protocol = m.group(2) if m else None
    return r


# -- raw HTTP/1.1 over a socket --------------------------------------------------

def raw_http(port, data, source=None, host="127.0.0.1", timeout=20):
    """Send the bytes `data` (a whole HTTP/1.1 request that asks for
    ``Connection: close``) to host:port, from the local address `source`
    when given, and read the answer until the server closes."""
    import socket
    import time
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        if source:
            s.bind((source, 0))
        s.connect((host, port))
        s.sendall(data)
        chunks = []
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                b = s.recv(65536)
            except ConnectionResetError:
                break
            if not b:
                break
            chunks.append(b)
    finally:
        s.close()
    raw = b"".join(chunks)
    head, _, rest = raw.partition(b"\r\n\r\n")
    head = head.decode("utf-8", errors="replace")     # as curl() does
    status, version, hs = _parse_headers(head)
    if hs.get("transfer-encoding", "").lower() == "chunked":
        body = _dechunk(rest)
    elif "content-length" in hs:
        body = rest[:int(hs["content-length"])]
    else:
        body = rest
    r = Response(status, hs, body, version, 0, "", raw.decode("latin-1"))
    # every value of repeated response header fields
    r.header_list = [tuple(x.strip() for x in ln.split(":", 1))
                     for ln in head.split("\r\n")[1:] if ":" in ln]
    return r


def http_request(port, path, headers=(), method="GET", body=None, trailers=None,
                 source=None, tag=None, host_header=None, timeout=20):
    """One HTTP/1.1 request over a plain socket, header fields sent exactly as
    given (repeated fields, any letter case, obs-fold continuation lines:
    a value may contain "\\r\\n\\t").

    headers: (name, value) pairs or ready "Name: value" strings.
    body: bytes; with `trailers` ((name, value) pairs) it is sent chunked.
    source: local address to connect from (e.g. "127.0.0.2")."""
    tag = tag or uuid.uuid4().hex[:12]
    lines = ["%s %s HTTP/1.1" % (method, path),
             "Host: %s" % (host_header or "localhost:%d" % port),
             "X-Test-Tag: " + tag]
    for h in headers:
        lines.append(h if isinstance(h, str) else "%s: %s" % h)
    if body is not None and trailers is not None:
        lines.append("Transfer-Encoding: chunked")
    elif body is not None:
        lines.append("Content-Length: %d" % len(body))
    lines.append("Connection: close")
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    if body is not None and trailers is not None:
        if body:
            data += b"%x\r\n" % len(body) + body + b"\r\n"
        data += b"0\r\n" + b"".join(("%s: %s\r\n" % t).encode("latin-1")
                                    for t in trailers) + b"\r\n"
    elif body is not None:
        data += body
    r = raw_http(port, data, source=source, timeout=timeout)
    r.tag = tag
    return r


def http_keepalive(port, requests, host="127.0.0.1", timeout=20):
    """Several HTTP/1.1 GET requests, one after the other, on ONE plain TCP
    connection (as a proxy's pooled connection carries several users).
    requests: (path, headers) pairs, headers as for http_request(), or
    callables, called at that point (e.g. to edit a file between two
    requests of the connection).
    Returns a list of (status, user) where user is the X-User answer; the
    connection must stay open to the end (asserted)."""
    import socket
    out = []
    s = socket.create_connection((host, port), timeout=timeout)
    f = s.makefile("rb")
    try:
        for req in requests:
            if callable(req):
                req()
                continue
            path, headers = req
            lines = ["GET %s HTTP/1.1" % path, "Host: localhost:%d" % port,
                     "X-Test-Tag: " + uuid.uuid4().hex[:12]]
            for h in headers:
                lines.append(h if isinstance(h, str) else "%s: %s" % h)
            s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            head = b""
            while True:
                line = f.readline()
                assert line, "the server closed the connection after %d " \
                    "answers" % len(out)
                if line in (b"\r\n", b"\n"):
                    break
                head += line
            status, _, hs = _parse_headers(head.decode("latin-1"))
            if hs.get("transfer-encoding", "").lower() == "chunked":
                while True:
                    n = int(f.readline().split(b";")[0], 16)
                    f.read(n + 2)
                    if n == 0:
                        break
            else:
                f.read(int(hs.get("content-length", "0")))
            assert hs.get("connection", "").lower() != "close", \
                "the server closes the connection after answer %d" % (len(out) + 1)
            out.append((status, hs.get("x-user", "")))
    finally:
        f.close()
        s.close()
    return out
