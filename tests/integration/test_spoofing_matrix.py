"""Spoofing matrix: every way a client might smuggle a forwarded certificate
past mod_x509authn, one table row each (CASES, at least 40 rows).

Every row asserts the same four things:

 1. refused  - the protected URL (AuthType X509, X509AuthnSource header)
               answers 403 with no user; where the row is about header
               stripping, the open URLs (Require all granted) are served
               *anonymously* (200, no REMOTE_USER, no header); a request
               with broken framing (NUL, bare CR/LF, white space before
               the colon, a field over LimitRequestFieldSize) is refused
               by httpd itself with 400 on every URL, before any module
               runs - that is a refusal too.
 2. logged   - the exact module line of the row: X509A0201 (header removed
               from an untrusted peer), X509A0202 (proxy certificate fails
               X509AuthnProxyRequire), X509A0203 (trailer removed),
               X509A0110 / X509A0111 (refusal, with the reason; X509A0111
               lines also carry subject, issuer, serial, SHA-256 and the
               client address); for httpd's own 400s, httpd's line (and no
               module line: the module never saw the request).
 3. unseen   - neither the CGI (its environment: HTTP_X_SSL_CLIENT_* and
               every other spelling, and no value holding a piece of the
               spoofed certificate) nor a real Python backend behind
               mod_proxy (the header fields it received, any spelling, any
               value) sees the header.  Behind the protected URLs the CGI
               and the backend never run at all.
 4. serving  - right after the row a good forwarded request on the same
               virtual host logs alice in, httpd is still running, and no
               "exit signal"/segfault line was logged (checked again over
               the whole log at the end).

Rows whose header comes *from the trusted proxy* (bad certificates,
duplicates, malformed values) have no "open URL" part: a trusted proxy's
header is passed on to unauthenticated URLs by design; what matters there
is that the protected URL refuses and nothing behind it runs.

Virtual hosts (all trust 127.0.0.1 only; CA root+A+B, CRLs of root, A, B):
    fwd     plain HTTP + h2c, X-SSL-Client-Cert auto, chain X-SSL-Client-Chain-*
    big     as fwd, LimitRequestFieldSize 70000 (the module's 16384 limit is tested)
    strict  as fwd, httpd defaults (LimitRequestFieldSize 8190,
            HttpProtocolOptions Strict), LogLevel core:debug for httpd's 400 lines
    trl     as fwd, MergeTrailers On, a CustomLog of the merged header fields
    trlh2   as trl with h2c, but trusts 127.0.0.3 only (nghttp, which sends
            HTTP/2 request trailers, cannot bind 127.0.0.2: 127.0.0.1 is the
            untrusted peer there)
    xf      X-Forwarded-Client-Cert xfcc, LimitRequestFieldSize 70000
    h2a     TLS (SSLVerifyClient optional), h2, trusted by address only
    mtls    TLS (SSLVerifyClient optional), h2, TrustedProxy 127.0.0.1 AND
            X509AuthnProxyRequire subject+issuer of pki "proxy", MergeTrailers On
    early   as h2a, plus an early %{X509_*} look-up at virtual-host scope
            (SetEnvIfExpr on %{X509_CLIENT_S_DN_CN} and an <If> on
            %{X509_CLIENT_S_DN_O}; X-Early-CN answers whether it saw one)
    mtlse   as mtls (conf-examples/proxy-mtls-lb.conf), plus the early look-up
    hta     as fwd, plus two .htaccess directories (AllowOverride AuthConfig):
            /t/hta-a/ and /p/hta-a/ require Issuing CA A, /t/hta-b/ and
            /p/hta-b/ Issuing CA B (the backend behind a handler, so that the
            directory's .htaccess applies)
    plain   (control) nothing configured: proves the leak detectors detect
Locations in each: /t/hdr, /t/ica (X509AuthnRequireIssuingCA = Issuing CA B),
/t/tls (X509AuthnSource tls), /t/open (CGI), /p/ -> recording backend,
/p/hdr/, /p/ica/ and /p/tls/ protected.
Untrusted requests come from 127.0.0.2.

Composition rows (issue 11): a value computed in one context must not
decide in another.  An early %{X509_*} look-up (made before the directory's
X509AuthnSource is known) never decides for authentication ("early-lookup-"
rows); an .htaccess IssuingCA rule answers for its own directory on the
proxy's keep-alive connection, after requests the other directory accepted
("htaccess-" rows).  The matrix's virtual hosts have no mod_cache: logins
served from a cache have tests of their own.
"""

import hashlib
import os
import re
import socket
import subprocess
import time
import urllib.parse
import uuid

import pytest

from clients import curl, http_request, Response, _parse_headers
from expect import ALICE_DN, BOB_DN, ok, check_rejection_line
import forwarded as F
from httpd import ENV_CGI, new_httpd, quote
from pki import PKI, pem_to_der
from services import Backend

UNTRUSTED = "127.0.0.2"
TRLH2_PROXY = "127.0.0.3"      # the only trusted proxy of vhost trlh2
NGHTTP = os.environ.get("NGHTTP", "nghttp")
HDR = "X-SSL-Client-Cert"
XFCC = "X-Forwarded-Client-Cert"
KIB64 = 64 * 1024

MODULES = [("proxy_module", "mod_proxy.so"),
           ("proxy_http_module", "mod_proxy_http.so")]

# lines that mean a child died (mpm_event's parent logs AH00052)
CRASH_RX = re.compile(r"exit signal|Segmentation fault|segfault|SIGSEGV|SIGABRT|SIGBUS|"
                      r"AH00052|AH00051|double free|stack smashing|AddressSanitizer|"
                      r"runtime error:|corrupted", re.I)


# -- certificates the PKI does not have ----------------------------------------------

class ExtraCert:
    """A certificate made here with the openssl CLI, with what
    expect.check_rejection_line needs."""

    def __init__(self, name, cert, key):
        self.name = name
        self.cert = cert
        self.key = key
        self.bundle = cert
        with open(cert) as f:
            self.pem = f.read()
        self.der = pem_to_der(self.pem)
        self.sha256 = hashlib.sha256(self.der).hexdigest().upper()
        info = PKI._describe(cert)
        self.subject = info["subject"]
        self.issuer = info["issuer"]
        self.serial_hex = info["serial"]
        self.serial = int(self.serial_hex, 16)
        self.serial_dec = str(self.serial)


def make_cert(srv, pki, name, subj, serial, ext=None):
    """A client certificate issued by Issuing CA A with the openssl CLI:
    without `ext` (extension lines) `openssl x509 -req` makes version 1."""
    d = srv.path("conf")
    key, csr, crt, extfile = (os.path.join(d, name + s)
                              for s in (".key", ".csr", ".crt", ".ext"))
    quiet = dict(check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-out", key], **quiet)
    subprocess.run(["openssl", "req", "-new", "-key", key, "-subj", subj, "-out", csr],
                   **quiet)
    args = ["openssl", "x509", "-req", "-in", csr, "-CA", pki["issuing-a"].cert,
            "-CAkey", pki["issuing-a"].key, "-set_serial", serial, "-days", "365",
            "-out", crt]
    if ext:
        with open(extfile, "w") as f:
            f.write("\n".join(ext) + "\n")
        args += ["-extfile", extfile]
    subprocess.run(args, **quiet)
    for p in (key, crt):
        os.chmod(p, 0o644)
    text = subprocess.run(["openssl", "x509", "-in", crt, "-noout", "-text"],
                          stdout=subprocess.PIPE, check=True).stdout.decode()
    # OpenSSL 3.0 (Debian 12) adds no extension of its own to `x509 -req`
    assert ("Version: 3 (0x2)" if ext else "Version: 1 (0x0)") in text, text[:400]
    return ExtraCert(name, crt, key)


def san_cert(srv, pki, name, serial, kind, value):
    """A client of Issuing CA A with one URI or DNS SAN holding `value`."""
    c = make_cert(srv, pki, name, "/C=US/O=Example Corp/CN=" + name, serial, [
        "keyUsage = critical, digitalSignature", "extendedKeyUsage = clientAuth",
        "subjectAltName = @alt", "[alt]", "%s.0 = %s" % (kind, value)])
    assert value.encode() in c.der
    c.san = (kind, value)
    return c


def extra_certs(srv, pki):
    bob_pem = urllib.parse.quote(F.pem(pki["bob"]), safe="")
    return {
        # X.509 v1: no extensions at all (no basicConstraints, KU, EKU), which
        # OpenSSL's verification accepts for any purpose
        "v1": make_cert(srv, pki, "v1", "/C=US/O=Example Corp/CN=v1cert", "0x3101"),
        # a CA certificate (a sub-CA of Issuing CA A) whose key usage and EKU
        # would also suit a client: OpenSSL's sslclient purpose check of the
        # leaf does not look at basicConstraints
        "ca-leaf": make_cert(srv, pki, "ca-leaf", "/C=US/O=Example Corp/CN=ca-as-leaf",
                             "0x3102", [
                                 "basicConstraints = critical, CA:TRUE",
                                 "keyUsage = critical, digitalSignature, keyCertSign, "
                                 "cRLSign",
                                 "extendedKeyUsage = clientAuth",
                                 "subjectKeyIdentifier = hash",
                                 "authorityKeyIdentifier = keyid:always"]),
        # issue 12: SAN text that Envoy copies raw into XFCC, forging a
        # second element with bob's (public) certificate
        "san-uri-inject": san_cert(srv, pki, "san-uri-inject", "0x3103", "URI",
                                   "spiffe://example/ns/w,Cert=" + bob_pem),
        "san-dns-inject": san_cert(srv, pki, "san-dns-inject", "0x3104", "DNS",
                                   "w.example,Cert=" + bob_pem),
    }


# -- the server ----------------------------------------------------------------------

class Ctx:
    """What a row needs: the server, the backend, certificates by name."""

    def __init__(self, h, backend, pki, extra):
        self.h = h
        self.backend = backend
        self.pki = pki
        self.extra = extra

    def cert(self, name):
        return self.extra[name] if name in self.extra else self.pki[name]


def locations(ica_file, backend_port):
    loc = {
        "hdr": "AuthType X509\nX509AuthnSource header\nRequire valid-user",
        "ica": "AuthType X509\nX509AuthnSource header\n"
               "X509AuthnRequireIssuingCA %s\nRequire valid-user" % quote(ica_file),
        "tls": "AuthType X509\nX509AuthnSource tls\nRequire valid-user",
        "open": "Require all granted",
    }
    out = "".join("<Location /t/%s>\n%s\n</Location>\n" % kv for kv in loc.items())
    out += "<Location /p/>\n    ProxyPass http://127.0.0.1:%d/\n</Location>\n" % backend_port
    for name in ("hdr", "ica", "tls"):
        out += "<Location /p/%s/>\n%s\n</Location>\n" % (name, loc[name])
    return out


# An early %{X509_*} look-up at virtual-host scope: SetEnvIfExpr runs in
# post_read_request and the <If> before authentication, both under the
# virtual host's settings (source "any"), before any directory's
# X509AuthnSource is known.  X-Early-CN (also on error answers) shows that
# the look-up ran in the request and saw a certificate.
EARLY = ('SetEnvIfExpr "-n %{X509_CLIENT_S_DN_CN}" X509_EARLY_CN=1\n'
         "<If \"%{X509_CLIENT_S_DN_O} == 'Example Corp'\">\n"
         "    Header always set X-Early-O yes\n</If>\n"
         'Header always set X-Early-CN "%{X509_EARLY_CN}e"\n')

# .htaccess directories (vhost "hta"): hta-a asks for Issuing CA A, hta-b for
# Issuing CA B, with .htaccess files of the same length (httpd rebuilds them
# in each request's pool: one directory's rules can land where the other's
# were a request before)
HTA_DIRS = {"hta-a": "issuing-a", "hta-b": "issuing-b"}
HTACCESS = ("AuthType X509\nX509AuthnSource header\nX509AuthnRequireIssuingCA %s\n"
            "Require valid-user\n")


def htaccess_dirs(srv, pki, backend_port):
    """The files of the .htaccess directories, and the virtual-host lines
    that map /t/hta-X/ (the CGI) and /p/hta-X/ (the backend, proxied by a
    handler once the directory's .htaccess has authenticated) to them."""
    root = srv.path("hta")
    os.makedirs(root, exist_ok=True)
    os.chmod(root, 0o755)
    for d, ca in HTA_DIRS.items():
        os.makedirs(os.path.join(root, d), exist_ok=True)
        os.chmod(os.path.join(root, d), 0o755)
        ca_file = srv.write_file("conf/%s.pem" % d, pki[ca].pem)
        srv.write_file("hta/%s/.htaccess" % d, HTACCESS % quote(ca_file))
        srv.write_file("hta/%s/env.py" % d, ENV_CGI, 0o755)
        srv.write_file("hta/%s/px" % d, "")
    out = 'ScriptAliasMatch "^/t/(hta-[ab])/" "%s/$1/env.py"\n' % root
    out += 'AliasMatch "^/p/(hta-[ab])/" "%s/$1/px"\n' % root
    for d in HTA_DIRS:
        out += '<Location /p/%s/>\n    ProxyPass "!"\n</Location>\n' % d
    out += ('<Directory "%s">\n    AllowOverride AuthConfig\n'
            '    <Files "px">\n        SetHandler "proxy:http://127.0.0.1:%d"\n'
            '    </Files>\n</Directory>\n' % (root, backend_port))
    return out


@pytest.fixture(scope="module")
def backend(request):
    b = Backend().start()
    request.addfinalizer(b.stop)
    return b


@pytest.fixture(scope="module")
def ctx(request, workroot, pki, module_so, backend, loopback_aliases):
    srv = new_httpd(request, workroot, pki, module_so, name="spoof")
    extra = extra_certs(srv, pki)
    ica = srv.write_file("conf/issuing-b-only.pem", open(pki["issuing-b"].cert).read())
    locs = locations(ica, backend.port)
    proxy = pki["proxy"]
    base = F.trust("127.0.0.1", chain="X-SSL-Client-Chain-*", ca=pki.ca_bundle,
                   crl=pki.crl_bundle)
    trailers_log = srv.path("logs/trailers.log")
    trailer_logs = ('CustomLog "%s" x509\n'
                    'CustomLog "%s" "%%{X-Test-Tag}i cert=[%%{X-SSL-Client-Cert}i] '
                    "us=[%%{X_SSL_Client_Cert}i] chain=[%%{X-SSL-Client-Chain-0}i] "
                    'other=[%%{X-Other-Trailer}i]"\n' % (srv.access_log, trailers_log))
    vh = {
        "fwd": base + "Protocols h2c http/1.1\n" + locs,
        "big": base + "LimitRequestFieldSize 70000\n" + locs,
        "strict": base + "LogLevel warn ssl:info x509authn:debug core:debug\n" + locs,
        "trl": base + "MergeTrailers On\n" + trailer_logs + locs,
        # h2c with trailers: nghttp cannot bind a source address, so here
        # 127.0.0.1 is the untrusted peer and 127.0.0.3 the proxy
        "trlh2": F.trust(TRLH2_PROXY, chain="X-SSL-Client-Chain-*", ca=pki.ca_bundle,
                         crl=pki.crl_bundle)
        + "MergeTrailers On\nProtocols h2c http/1.1\n" + trailer_logs + locs,
        "xf": F.trust("127.0.0.1", header="%s xfcc" % XFCC, ca=pki.ca_bundle,
                      crl=pki.crl_bundle) + "LimitRequestFieldSize 70000\n" + locs,
        "h2a": dict(verify="optional", crl=True,
                    conf=F.trust("127.0.0.1", ca=pki.ca_bundle, crl=pki.crl_bundle) + locs),
        "mtls": dict(verify="optional", crl=True,
                     conf=F.trust("127.0.0.1", ca=pki.ca_bundle, crl=pki.crl_bundle,
                                  require=[("subject", proxy.subject),
                                           ("issuer", proxy.issuer)])
                     + "MergeTrailers On\n" + trailer_logs + locs),
        # compositions (issue 11): h2a and mtls with an early look-up
        "early": dict(verify="optional", crl=True,
                      conf=F.trust("127.0.0.1", ca=pki.ca_bundle, crl=pki.crl_bundle)
                      + EARLY + locs),
        "mtlse": dict(verify="optional", crl=True,
                      conf=F.trust("127.0.0.1", ca=pki.ca_bundle, crl=pki.crl_bundle,
                                   require=[("subject", proxy.subject),
                                            ("issuer", proxy.issuer)])
                      + EARLY + locs),
        # fwd with two .htaccess directories of other IssuingCA rules
        "hta": base + locs + htaccess_dirs(srv, pki, backend.port),
    }
    # control: no forwarded certificates configured at all
    control = "<Location /p/>\n    ProxyPass http://127.0.0.1:%d/\n</Location>\n" % (
        backend.port)
    srv.start(extra_vhosts=vh, extra_modules=MODULES, vhost_extra={"plain": control})
    srv.trailers_log = trailers_log
    return Ctx(srv, backend, pki, extra)


# -- what "sees the header" means ----------------------------------------------------

def canon(name):
    return name.lower().replace("_", "-")


CERT_NAMES = ("x-ssl-client-cert", "x-forwarded-client-cert")


def is_cert_name(name):
    n = canon(name)
    return n in CERT_NAMES or n.startswith("x-ssl-client-chain")


def needle(cert, pki):
    """24 alphanumeric characters of the certificate's base64 that no other
    certificate of the PKI (the server's included) has: from its signature,
    read from the end of the PEM body, within one PEM line, so it is found
    in every encoding the rows use (URL-encoding keeps letters and digits)."""
    from pki import CAS, CERTS
    others = [F.der_b64(pki[n]) for n in [c[0] for c in CAS] + list(CERTS)
              if pki[n].sha256 != cert.sha256]
    for line in reversed(F.pem_lines(cert)[1:-1]):
        for m in re.finditer(r"(?=([A-Za-z0-9]{24}))", line):
            n = m.group(1)
            if not any(n in o for o in others):
                return n
    raise AssertionError("no needle in %s" % cert)


def assert_cgi_clean(env, needles, what):
    leaked = {k: v[:80] for k, v in env.items()
              if k.startswith("HTTP_") and is_cert_name(k[5:])}
    assert not leaked, "%s: the CGI sees certificate headers: %r" % (what, leaked)
    for k, v in env.items():
        for n in needles:
            assert n not in urllib.parse.unquote(v), \
                "%s: the CGI variable %s holds the spoofed certificate" % (what, k)
    assert not env.get("REMOTE_USER"), "%s: REMOTE_USER %r" % (what, env["REMOTE_USER"])


def assert_backend_clean(fields, needles, what):
    got = [(k, v[:80]) for k, v in fields if is_cert_name(k)]
    assert not got, "%s: the backend received certificate headers: %r" % (what, got)
    for k, v in fields:
        for n in needles:
            assert n not in urllib.parse.unquote(v), \
                "%s: the backend field %s holds the spoofed certificate" % (what, k)


def is_cgi_answer(r):
    return b'"GATEWAY_INTERFACE"' in r.body


# -- log lines -----------------------------------------------------------------------

def rx_name(name):
    """A header name as logged: any letter case (HTTP/2 lower-cases)."""
    return "(?i:%s)" % re.escape(name)


def L_strip(name, peer=UNTRUSTED):
    return (r"\[x509authn:info\] .*X509A0201: removed %s header from a request of %s, "
            r"which is not a trusted proxy" % (name if name.startswith("(?") else
                                               rx_name(name), re.escape(peer)))


def L_trailer(name, peer=UNTRUSTED):
    return (r"\[x509authn:info\] .*X509A0203: removed %s trailer from a request of %s"
            % (rx_name(name), re.escape(peer)))


def L_untrusted(peer=UNTRUSTED):
    return (r"\[x509authn:info\] .*X509A0110: no acceptable certificate: the peer is not "
            r"a trusted proxy; client %s" % re.escape(peer))


def L_refused(reason, peer="127.0.0.1"):
    """An X509A0110 line whose reason (before "; client") matches."""
    return (r"\[x509authn:info\] .*X509A0110: no acceptable certificate: (?:%s)[^;]*; "
            r"client %s" % (reason, re.escape(peer)))


def L_rejected(reason):
    """An X509A0111 line whose reason (before "; subject=") matches."""
    return (r"\[x509authn:info\] .*X509A0111: certificate rejected: (?:%s)[^;]*; "
            r"subject=" % reason)


def L_proxy_cert(subject):
    return (r"\[x509authn:info\] .*X509A0202: peer is not a trusted proxy: its "
            r"certificate fails X509AuthnProxyRequire \(.+\); subject=\"%s\", .*"
            r"client 127\.0\.0\.1" % re.escape(subject))


LB2_DN = "CN=lb2.proxy.test,OU=Proxies,O=X509Authn Test,C=US"
ICA_REFUSED = r"chain does not pass through a CA of X509AuthnRequireIssuingCA"
# X509AuthnSource tls, from a trusted proxy (with or without its own certificate)
TLS_FROM_PROXY = r"the peer is a trusted proxy, whose TLS certificate is not a user's"

ANY_MODULE_LINE = r"X509A0\d{3}:"
VF0 = "verification failed at depth 0: "


# -- the rows ------------------------------------------------------------------------

class Case:
    """One row.

    send(ctx, vhost, path, tag) -> Response sends the spoof to `path`.
    status: at the protected URLs (403, or httpd's 400 on every URL).
    open: also send to the open URLs (/t/open/env, /p/x), which must
          answer 200 anonymously without the header (rows about stripping).
    logs: regexes each request of the row must log (every URL);
    authn_logs: regexes only the protected URLs log (the refusal);
    served_logs: regexes only the open URLs log (HTTP/2 trailers: a 403
          stream is reset without its body being read, so only a served
          request reads, and must remove, the trailer);
    absent: regexes no request of the row may log.
    cert: the certificate of an X509A0111 line (check_rejection_line).
    spoofed: names of the certificates whose bytes must reach nobody.
    check(ctx, kind, r, tag): more assertions (HTTP version, trailers).
    """

    def __init__(self, id, vhost, send, status=403, open=True, logs=(), authn_logs=(),
                 served_logs=(), absent=(), loc="hdr", cert=None, spoofed=("alice",),
                 check=None, why=""):
        self.id = id
        self.vhost = vhost
        self.send = send
        self.status = status
        self.open = open
        self.logs = list(logs)
        self.authn_logs = list(authn_logs)
        self.served_logs = list(served_logs)
        self.absent = list(absent)
        self.loc = loc
        self.cert = cert
        self.spoofed = spoofed
        self.check = check
        self.why = why

    def __repr__(self):
        return "<Case %s>" % self.id


def raw(fields, source=UNTRUSTED, **kw):
    """HTTP/1.1 over a socket, fields exactly as given: fields(C) where
    C(name) is a certificate; a field is (name, value) or a ready line."""
    def send(ctx, vhost, path, tag):
        return http_request(ctx.h.port(vhost), path, fields(ctx.cert), source=source,
                            tag=tag, **kw)
    return send


def post_trailers(fields, trailers, source=UNTRUSTED):
    """A chunked POST whose trailer section holds `trailers(C)`."""
    def send(ctx, vhost, path, tag):
        return http_request(ctx.h.port(vhost), path, fields(ctx.cert), method="POST",
                            body=b"x=1", trailers=trailers(ctx.cert), source=source,
                            tag=tag)
    return send


def via_curl(fields, source=None, cert=None, http2=False, prior=False, upgrade=False):
    """curl: HTTP/2 over TLS (http2), h2c with prior knowledge (prior) or
    by Upgrade (upgrade); `cert` is curl's TLS client certificate."""
    def send(ctx, vhost, path, tag):
        extra = []
        if source:
            extra += ["--interface", source]
        if prior:
            extra += ["--http2-prior-knowledge"]
        elif upgrade:
            extra += ["--http2"]
        return curl(ctx.h.url(path, vhost), cert=ctx.cert(cert) if cert else None,
                    headers=["%s: %s" % f for f in fields(ctx.cert)], http2=http2,
                    extra=extra, tag=tag)
    return send


def nghttp(url, fields, trailers, cert=None, tag=None, content_length=True, timeout=20):
    """One HTTP/2 POST with request trailers (an HEADERS frame after the
    DATA) with nghttp (nghttp2-client): h2c with prior knowledge for http://,
    h2 over TLS (ALPN) for https://.  A Response like clients.curl()'s."""
    args = [NGHTTP, "-v", "-d", "-", "-t", str(timeout), "-H", "X-Test-Tag: " + tag]
    if not content_length:
        args.append("--no-content-length")
    for f in fields:
        args += ["-H", "%s: %s" % f]
    for t in trailers:
        args += ["--trailer", "%s: %s" % t]
    if cert is not None:
        args += ["--cert", cert.bundle, "--key", cert.key]
    args.append(url)
    p = subprocess.run(args, input=b"x=1", stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout + 10)
    out = p.stdout.decode("utf-8", "replace")
    status, headers = 0, {}
    for m in re.finditer(r"^\[\s*\d+\.\d+\] recv \(stream_id=\d+\) (:?[^:\s]+): ?(.*)$",
                         out, re.M):
        if m.group(1) == ":status":
            status = int(m.group(2))
        else:
            headers[m.group(1).lower()] = m.group(2).strip()
    # the body is what is left without nghttp's frame log
    # (DATA is written as it comes, so a log line may follow it on its line)
    body = re.sub(r"(?<!^)(?<!\n)(\[\s*\d+\.\d{3}\] )", "\n\\1", out)
    body = "\n".join(ln for ln in body.split("\n")
                     if not re.match(r"\[\s*\d+\.\d{3}\] |          |The negotiated "
                                     r"protocol: ", ln))
    r = Response(status, headers, body.strip().encode(), "2" if status else "", p.returncode,
                 p.stderr.decode("utf-8", "replace"), out)
    r.tag = tag
    return r


def via_nghttp(fields, trailers, cert=None, content_length=True):
    def send(ctx, vhost, path, tag):
        return nghttp(ctx.h.url(path, vhost).replace("localhost", "127.0.0.1"),
                      fields(ctx.cert), trailers(ctx.cert),
                      cert=ctx.cert(cert) if cert else None, tag=tag,
                      content_length=content_length)
    return send


def read_answer(f):
    """One HTTP/1.1 answer read from a connection's file (keep-alive)."""
    head = b""
    while True:
        line = f.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        head += line
    status, version, hs = _parse_headers(head.decode("latin-1"))
    body = b""
    if hs.get("transfer-encoding", "").lower() == "chunked":
        while True:
            n = int(f.readline().split(b";")[0], 16)
            body += f.read(n)
            if n == 0:
                while f.readline() not in (b"\r\n", b"\n", b""):
                    pass
                break
            f.readline()
    elif "content-length" in hs:
        body = f.read(int(hs["content-length"]))
    elif status:
        body = f.read()
    return Response(status, hs, body, version, 0, "", head.decode("latin-1"))


def after_on_one_connection(first_loc, fields, firsts=4):
    """HTTP/1.1 requests on ONE keep-alive connection from the trusted proxy,
    as its pooled connection carries them: first `firsts` requests to the
    same kind of URL in directory `first_loc` (answers in r.first, each with
    its own tag), then the row's URL (r).  Each answer's .connects counts
    the new connections its request made.

    httpd rebuilds .htaccess rules in each request's pool, whose memory the
    next requests of the connection reuse: with requests that allocate alike
    (same lengths everywhere), the other directory's rules were at this
    one's address a few requests before, and a result remembered by the
    rules' address answered for the wrong directory (with 4 first requests
    the module before the fix let 3 of the rows' 4 URLs through)."""
    def send(ctx, vhost, path, tag):
        first_path = re.sub(r"^/([tp])/[^/]+/", r"/\1/%s/" % first_loc, path)
        assert first_path != path, path
        # tags of one length: the requests allocate alike up to the rules
        todo = [(first_path, "first%d" % i + tag[6:]) for i in range(firsts)]
        todo.append((path, tag))
        out = _several_keepalive(ctx, vhost, todo, fields)
        r = out[-1]
        r.first = out[:-1]
        r.tag = tag
        return r
    return send


def _several_keepalive(ctx, vhost, todo, fields):
    port = ctx.h.port(vhost)
    out = []
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    f = s.makefile("rb")
    try:
        # every request alike (no "Connection: close" on the last one: the
        # client closes), so that they allocate alike up to the rules
        for i, (p, t) in enumerate(todo):
            lines = ["GET %s HTTP/1.1" % p, "Host: localhost:%d" % port,
                     "X-Test-Tag: " + t] + ["%s: %s" % kv for kv in fields(ctx.cert)]
            s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            r = read_answer(f)
            r.connects = 0 if i else 1
            out.append(r)
    finally:
        f.close()
        s.close()
    return out


def first_accepted(dn):
    """The first requests of after_on_one_connection() logged `dn` in (their
    directory's rule accepts the certificate), and all came on one
    connection."""
    def check(ctx, kind, r, tag):
        for i, f in enumerate(r.first):
            assert f.status == 200 and f.user == dn, \
                "%s: first request %d was not accepted: %r" % (kind, i + 1, f)
        connects = [f.connects for f in r.first] + [r.connects]
        assert connects == [1] + [0] * len(r.first), \
            "%s: not one connection: %r" % (kind, connects)
    return check


def early_ran(ctx, kind, r, tag):
    """The early look-up ran in this very request and saw a certificate."""
    assert r.headers.get("x-early-cn") == "1", \
        "%s: the early look-up saw no certificate: %r" % (kind, r.headers)


def both(*checks):
    def check(ctx, kind, r, tag):
        for c in checks:
            c(ctx, kind, r, tag)
    return check


def is_h2(ctx, kind, r, tag):
    assert r.http_version == "2", "%s: not HTTP/2: %r" % (kind, r)


def is_h2_when_served(ctx, kind, r, tag):
    """h2c by Upgrade: mod_http2 switches protocols when the request is
    handled, after authentication: a 403 still goes out as HTTP/1.1."""
    if r.status == 200:
        is_h2(ctx, kind, r, tag)


def trailers_merged_away(ctx, kind, r, tag):
    """The access log (written after the body, with MergeTrailers On) shows
    the merged header fields: no certificate among them."""
    deadline = time.time() + 5
    lines = []
    while time.time() < deadline:
        with open(ctx.h.trailers_log) as f:
            lines = [ln for ln in f.read().splitlines() if ln.startswith(tag + " ")]
        if lines:
            break
        time.sleep(0.05)
    assert lines, "%s: no line for %s in trailers.log" % (kind, tag)
    line = lines[-1]
    assert "cert=[-]" in line and "us=[-]" in line and "chain=[-]" in line, \
        "%s: a certificate trailer was merged into the request: %s" % (kind, line[:300])
    if kind.endswith("-open"):
        # MergeTrailers On is really at work: the harmless trailer is there
        assert "other=[visible]" in line, "%s: %s" % (kind, line[:300])


def alice_der(C):
    return F.der_b64(C("alice"))


def one(name, enc=F.der_b64, cert="alice"):
    return lambda C: [(name, enc(C(cert)))]


def xfcc_el(C, name, chain=True, **kw):
    c = C(name)
    ca = C(c.issuer_name) if hasattr(c, "issuer_name") and c.issuer_name else None
    return F.xfcc_element(c, chain=[c, ca] if chain and ca else None, **kw)


def xfcc_envoy(C, name):
    """Envoy's SANITIZE_SET element for `name` with cert, subject, uri and
    dns: its SAN written raw (uri: true writes an empty URI= without one)."""
    c = C(name)
    kind, value = c.san
    return F.xfcc_element(c, subject=c.subject, uri=value if kind == "URI" else None,
                          dns=value if kind == "DNS" else None) \
        + (";URI=" if kind == "DNS" else "")


def xfcc_pad(C, total):
    """Harmless By= elements in front of alice's, to `total` bytes."""
    good = xfcc_el(C, "alice")
    filler = "By=spiffe://proxy.test/" + "x" * 200
    parts, size = [], len(good)
    while size + len(filler) + 1 <= total:
        parts.append(filler)
        size += len(filler) + 1
    value = ",".join(parts + [good])
    value = "By=" + "y" * (total - len(value) - 4) + "," + value
    assert len(value) == total, (len(value), total)
    return value


SPELLINGS = ["X-SSL-Client-Cert", "x-ssl-client-cert", "X-SSL-CLIENT-CERT",
             "X_SSL_Client_Cert", "x_ssl_client_cert", "X-SSL_Client-Cert",
             "X-SSL-Client-Chain-0", "x_ssl_client_chain_7", "X-Ssl-Client-Chain-12"]

U = dict(source=UNTRUSTED)
T = dict(source=None)


def strip_row(id, vhost, fields, first, why="", **kw):
    """An untrusted HTTP/1.1 peer: stripped (X509A0201 naming the first
    field removed), 403 at the protected URLs, anonymous on open ones."""
    kw.setdefault("logs", [L_strip(first)])
    kw.setdefault("authn_logs", [L_untrusted()])
    return Case(id, vhost, raw(fields, **U), why=why, **kw)


def refuse_row(id, vhost, fields, authn_logs, why="", **kw):
    """From the trusted proxy: the protected URLs refuse; nothing stripped."""
    kw.setdefault("absent", [r"X509A0201:"])
    return Case(id, vhost, raw(fields, **T), open=False, authn_logs=authn_logs, why=why,
                **kw)


def verify_row(id, name, reason, fields=None, loc="hdr", vhost="fwd", why=""):
    """A bad certificate from the trusted proxy: X509A0111 with the reason
    and the certificate's description."""
    return refuse_row(id, vhost, fields or one(HDR, cert=name), [L_rejected(reason)],
                      cert=name, loc=loc, spoofed=(name,), why=why)


def bad_framing_row(id, fields, line_rx, source=UNTRUSTED, why=""):
    """httpd's own 400 while reading the header fields, before
    post_read_request: httpd's lines (LogLevel core:debug in "strict"),
    no module line - the module never saw the request."""
    return Case(id, "strict", raw(fields, source=source), status=400, open=True,
                logs=[line_rx, AH_HEADERS_FAILED], absent=[ANY_MODULE_LINE], why=why)


# httpd 2.4's lines for a request whose header section it refuses
AH_HEADERS_FAILED = (r"\[core:debug\] .*AH00567: request failed: error reading the "
                     r"headers")
AH_READ_FAILED = (r"\[core:debug\] .*\(22\)Invalid argument: .*Failed to read request "
                  r"header line (?i:X-SSL-Client-Cert)")
AH_BAD_VALUE = r"\[core:debug\] .*AH02427: Request header value is malformed: "
AH_BAD_NAME = (r"\[core:debug\] .*AH02426: Request header field name is malformed: "
               r"X-SSL-Client-Cert ")
AH_TOO_LONG = (r"\[core:info\] .*AH00561: Request header exceeds LimitRequestFieldSize: "
               r"X-SSL-Client-Cert")


CASES = [
    # -- header from an untrusted peer (HTTP/1.1) ---------------------------------
    strip_row("untrusted-der-base64", "fwd", one(HDR), HDR,
              why="HAProxy-style base64 DER from 127.0.0.2"),
    strip_row("untrusted-pem-urlencoded", "fwd", one(HDR, F.pem_escaped), HDR),
    strip_row("untrusted-rfc9440", "fwd", one(HDR, F.rfc9440), HDR),
    strip_row("untrusted-lowercase-name", "fwd", one("x-ssl-client-cert"),
              "x-ssl-client-cert"),
    strip_row("untrusted-uppercase-name", "fwd", one("X-SSL-CLIENT-CERT"),
              "X-SSL-CLIENT-CERT"),
    strip_row("untrusted-underscore-name", "fwd", one("X_SSL_Client_Cert"),
              "X_SSL_Client_Cert",
              why="backends that treat _ and - alike (mod_proxy forwards it as is)"),
    strip_row("untrusted-underscore-lowercase", "fwd", one("x_ssl_client_cert"),
              "x_ssl_client_cert"),
    strip_row("untrusted-mixed-dash-underscore", "fwd", one("X-SSL_Client-Cert"),
              "X-SSL_Client-Cert"),
    strip_row("untrusted-chain-header-only", "fwd",
              one("X-SSL-Client-Chain-0", F.pem_escaped, "issuing-a"),
              "X-SSL-Client-Chain-0", spoofed=("issuing-a",)),
    strip_row("untrusted-chain-underscore", "fwd",
              lambda C: [(HDR, alice_der(C)), ("x_ssl_client_chain_3",
                                               F.der_b64(C("issuing-a")))], HDR,
              spoofed=("alice", "issuing-a")),
    strip_row("untrusted-duplicate-conflicting", "fwd",
              lambda C: [(HDR, alice_der(C)), ("x-ssl-client-cert", F.der_b64(C("bob")))],
              HDR, spoofed=("alice", "bob")),
    strip_row("untrusted-every-spelling-at-once", "fwd",
              lambda C: [(n, alice_der(C)) for n in SPELLINGS], SPELLINGS[0]),
    strip_row("untrusted-forged-forwarding-headers", "fwd",
              lambda C: [("X-Forwarded-For", "127.0.0.1"), ("Forwarded", "for=127.0.0.1"),
                         ("X-Real-IP", "127.0.0.1"), ("Client-IP", "127.0.0.1"),
                         (HDR, alice_der(C))], HDR,
              why="claiming to be the trusted proxy in headers changes nothing"),
    strip_row("untrusted-obs-fold-pem", "fwd", one(HDR, F.pem_folded), HDR,
              why="PEM continued over obs-fold lines (CRLF + tab), accepted by httpd"),
    strip_row("untrusted-empty-value", "fwd", lambda C: [(HDR, "")], HDR, spoofed=()),

    # -- from the trusted address, but not a proxy credential the server accepts --
    Case("trusted-underscore-spelling-only", "fwd",
         raw(one("X_SSL_Client_Cert"), **T), open=True,
         authn_logs=[L_refused("no X-SSL-Client-Cert header from the trusted proxy")],
         absent=[r"X509A0201:"],
         why="from a trusted proxy the '_' spelling is removed silently (the spec "
             "logs removals from untrusted peers only) and is no certificate"),

    # -- duplicate / conflicting / smuggled values from the trusted proxy --------
    refuse_row("trusted-duplicate-conflicting-fields", "fwd",
               lambda C: [(HDR, alice_der(C)), (HDR, F.der_b64(C("bob")))],
               [L_refused(r"malformed X-SSL-Client-Cert header: more than one value "
                          r"\(repeated header field\?\)")], spoofed=("alice", "bob")),
    refuse_row("trusted-duplicate-rfc9440-fields", "fwd",
               lambda C: [(HDR, F.rfc9440(C("alice"))), (HDR, F.rfc9440(C("bob")))],
               [L_refused(r"malformed X-SSL-Client-Cert header: more than one "
                          r"Client-Cert field")], spoofed=("alice", "bob")),
    refuse_row("trusted-two-certificates-in-one-pem", "fwd",
               lambda C: [(HDR, urllib.parse.quote(F.pem(C("alice")) + F.pem(C("bob")),
                                                   safe="+/="))],
               [L_refused(r"malformed X-SSL-Client-Cert header: more than one "
                          r"certificate")], spoofed=("alice", "bob")),
    refuse_row("trusted-percent-encoded-nul", "fwd",
               lambda C: [(HDR, F.pem_escaped(C("alice")) + "%00")],
               [L_refused(r"malformed X-SSL-Client-Cert header: bad percent-encoding")]),
    refuse_row("trusted-percent-encoded-crlf-injection", "fwd",
               lambda C: [(HDR, F.pem_escaped(C("bob")) + "%0D%0AX-SSL-Client-Cert:%20"
                           + F.pem_escaped(C("alice")))],
               [L_refused(r"malformed X-SSL-Client-Cert header: data outside the PEM "
                          r"armour")],
               spoofed=("alice", "bob")),

    # -- certificates that must not verify -----------------------------------------
    verify_row("lookalike-ca", "lookalike", VF0 + "unable to get local issuer certificate",
               why="same subject/serial as alice, issued by a lookalike CA A"),
    verify_row("lookalike-ca-with-its-own-chain", "lookalike",
               r"verification failed at depth 2: self-signed certificate in certificate "
               r"chain",
               fields=lambda C: [(HDR, F.der_b64(C("lookalike"))),
                                 ("X-SSL-Client-Chain-0", F.pem_escaped(C("lookalike-a"))),
                                 ("X-SSL-Client-Chain-1",
                                  F.pem_escaped(C("lookalike-root")))],
               why="forwarded intermediates/roots are untrusted helpers only"),
    verify_row("issuing-ca-not-allowed", "alice",
               r"chain does not pass through a CA of X509AuthnRequireIssuingCA",
               fields=lambda C: [(HDR, alice_der(C)),
                                 ("X-SSL-Client-Chain-0", F.pem_escaped(C("issuing-a")))],
               loc="ica",
               why="verified chain via Issuing CA A, X509AuthnRequireIssuingCA allows B"),
    verify_row("expired", "expired", VF0 + "certificate has expired"),
    verify_row("not-yet-valid", "notyet", VF0 + "certificate is not yet valid"),
    verify_row("revoked", "revoked", VF0 + "certificate revoked"),
    verify_row("eku-serverauth-only", "serveronly", VF0 + "unsuitable certificate purpose"),
    verify_row("v1-certificate", "v1", r"[^;]*(v1|version 1|not (an X\.509 )?v3)",
               why="X.509 v1 leaf without any extension (no basicConstraints, no "
                   "keyUsage, no EKU); OpenSSL's chain verification alone accepts it"),
    verify_row("ca-certificate-as-leaf-issuing-a", "issuing-a",
               VF0 + "unsuitable certificate purpose"),
    verify_row("ca-certificate-as-leaf-root", "root",
               VF0 + "unsuitable certificate purpose"),
    verify_row("ca-certificate-as-leaf-client-key-usage", "ca-leaf",
               r"[^;]*(CA certificate|basicConstraints|CA:TRUE|is a CA)",
               why="basicConstraints CA:TRUE with digitalSignature and clientAuth: "
                   "OpenSSL's purpose check alone accepts it as a client"),
    verify_row("self-signed-leaf", "selfsigned", VF0 + "self-signed certificate"),

    # -- oversized values (64 KiB) ---------------------------------------------------
    refuse_row("oversized-64k-from-trusted", "big",
               lambda C: [(HDR, F.pad_pem(C("alice"), KIB64))],
               [L_refused(r"malformed X-SSL-Client-Cert header: value of 65536 bytes "
                          r"exceeds the limit of 16384")],
               why="LimitRequestFieldSize 70000 here: the module's 16384 refuses"),
    refuse_row("oversized-64k-chain-from-trusted", "big",
               lambda C: [(HDR, alice_der(C)),
                          ("X-SSL-Client-Chain-0", F.pad_pem(C("issuing-a"), KIB64))],
               [L_refused(r"malformed X-SSL-Client-Chain-\S* header: value of 65536 "
                          r"bytes exceeds the limit of 16384")]),
    strip_row("oversized-64k-from-untrusted", "big",
              lambda C: [(HDR, F.pad_pem(C("alice"), KIB64))], HDR),
    bad_framing_row("oversized-64k-httpd-limit",
                    lambda C: [(HDR, F.pad_pem(C("alice"), KIB64))],
                    AH_TOO_LONG,
                    why="httpd's own LimitRequestFieldSize 8190 answers 400 first"),

    # -- CRLF / NUL bytes: httpd refuses the framing -----------------------------------
    bad_framing_row("nul-in-value-untrusted",
                    lambda C: [(HDR, alice_der(C)[:40] + "\x00" + alice_der(C)[40:])],
                    AH_READ_FAILED, why="a NUL ends the line for httpd: EINVAL"),
    bad_framing_row("nul-in-value-trusted",
                    lambda C: [(HDR, alice_der(C) + "\x00" + F.der_b64(C("bob")))],
                    AH_READ_FAILED, source=None,
                    why="not even the trusted proxy gets a NUL through"),
    bad_framing_row("bare-cr-in-value",
                    lambda C: [(HDR, "x\rX-SSL-Client-Cert: " + alice_der(C))],
                    AH_BAD_VALUE + r"x\\rX-SSL-Client-Cert: ",
                    why="a bare CR that a lax parser would take as a line end"),
    bad_framing_row("bare-lf-folding",
                    lambda C: [(HDR, F.pem_folded(C("alice"), eol="\n"))],
                    AH_READ_FAILED,
                    why="old nginx $ssl_client_cert folds with a bare LF"),
    bad_framing_row("nul-in-header-name",
                    lambda C: ["X-SSL-Client-Cert\x00x: " + alice_der(C)],
                    AH_READ_FAILED),
    bad_framing_row("white-space-before-colon",
                    lambda C: ["X-SSL-Client-Cert : " + alice_der(C)],
                    AH_BAD_NAME,
                    why="'X-SSL-Client-Cert ' is another name to a lax backend"),

    # -- the header as a chunked-request trailer (MergeTrailers On) ------------------
    Case("trailer-untrusted", "trl",
         post_trailers(lambda C: [], lambda C: [(HDR, alice_der(C)),
                                                ("X-Other-Trailer", "visible")]),
         logs=[L_trailer(HDR)], authn_logs=[L_untrusted()], check=trailers_merged_away),
    Case("trailer-underscore-untrusted", "trl",
         post_trailers(lambda C: [], lambda C: [("X_SSL_Client_Cert", alice_der(C)),
                                                ("X-Other-Trailer", "visible")]),
         logs=[L_trailer("X_SSL_Client_Cert")], authn_logs=[L_untrusted()],
         check=trailers_merged_away),
    Case("trailer-and-header-untrusted", "trl",
         post_trailers(one(HDR, cert="bob"),
                       lambda C: [(HDR, alice_der(C)),
                                  ("X-SSL-Client-Chain-0", F.der_b64(C("issuing-a"))),
                                  ("X-Other-Trailer", "visible")]),
         logs=[L_strip(HDR), L_trailer(HDR)], authn_logs=[L_untrusted()],
         spoofed=("alice", "bob", "issuing-a"), check=trailers_merged_away),
    Case("trailer-only-from-trusted", "trl",
         post_trailers(lambda C: [], lambda C: [(HDR, alice_der(C)),
                                                ("X-Other-Trailer", "visible")],
                       source=None),
         logs=[L_trailer(HDR, "127.0.0.1")],
         authn_logs=[L_refused("no X-SSL-Client-Cert header from the trusted proxy")],
         absent=[r"X509A0201:"], check=trailers_merged_away,
         why="a certificate never comes as a trailer, not even from the proxy"),

    # -- HTTP/2 request trailers (MergeTrailers On) ------------------------------------
    Case("h2c-trailer-untrusted-content-length", "trlh2",
         via_nghttp(lambda C: [], lambda C: [(HDR, alice_der(C)),
                                             ("X-Other-Trailer", "visible")]),
         served_logs=[L_trailer(HDR, "127.0.0.1")], authn_logs=[L_untrusted("127.0.0.1")],
         check=both(is_h2, trailers_merged_away),
         why="an HTTP/2 request with content-length and a trailer HEADERS frame: "
             "no Transfer-Encoding in the request"),
    Case("h2c-trailer-untrusted-no-content-length", "trlh2",
         via_nghttp(lambda C: [], lambda C: [(HDR, alice_der(C)),
                                             ("X-Other-Trailer", "visible")],
                    content_length=False),
         served_logs=[L_trailer(HDR, "127.0.0.1")], authn_logs=[L_untrusted("127.0.0.1")],
         check=both(is_h2, trailers_merged_away)),
    Case("h2c-trailer-underscore-untrusted", "trlh2",
         via_nghttp(lambda C: [], lambda C: [("x_ssl_client_cert", alice_der(C)),
                                             ("X-Other-Trailer", "visible")]),
         served_logs=[L_trailer("x_ssl_client_cert", "127.0.0.1")],
         authn_logs=[L_untrusted("127.0.0.1")], check=both(is_h2, trailers_merged_away)),
    Case("h2c-header-and-trailer-untrusted", "trlh2",
         via_nghttp(one(HDR, cert="bob"), lambda C: [(HDR, alice_der(C)),
                                                     ("X-Other-Trailer", "visible")]),
         logs=[L_strip(HDR, "127.0.0.1")], served_logs=[L_trailer(HDR, "127.0.0.1")],
         authn_logs=[L_untrusted("127.0.0.1")], spoofed=("alice", "bob"),
         check=both(is_h2, trailers_merged_away)),
    Case("h2-tls-trailer-wrong-proxy-certificate", "mtls",
         via_nghttp(lambda C: [], lambda C: [(HDR, alice_der(C)),
                                             ("X-Other-Trailer", "visible")],
                    cert="proxy-other"),
         logs=[L_proxy_cert("CN=lb2.proxy.test,OU=Proxies,O=X509Authn Test,C=US")],
         served_logs=[L_trailer(HDR, "127.0.0.1")],
         authn_logs=[L_untrusted("127.0.0.1")], check=both(is_h2, trailers_merged_away)),

    # -- HTTP/2 from an untrusted peer ---------------------------------------------------
    Case("h2c-prior-knowledge-untrusted", "fwd",
         via_curl(one(HDR), source=UNTRUSTED, prior=True),
         logs=[L_strip(HDR)], authn_logs=[L_untrusted()], check=is_h2),
    Case("h2c-prior-knowledge-underscore", "fwd",
         via_curl(lambda C: [("X_SSL_Client_Cert", alice_der(C)),
                             ("x-ssl-client-chain-0", F.der_b64(C("issuing-a")))],
                  source=UNTRUSTED, prior=True),
         logs=[L_strip(r"(?i:x[-_]ssl[-_]client[-_](cert|chain-0))")],
         authn_logs=[L_untrusted()], check=is_h2, spoofed=("alice", "issuing-a")),
    Case("h2c-upgrade-untrusted", "fwd",
         via_curl(one(HDR), source=UNTRUSTED, upgrade=True),
         logs=[L_strip(HDR)], authn_logs=[L_untrusted()], check=is_h2_when_served,
         why="HTTP/1.1 Upgrade: h2c; the first request is served as stream 1"),
    Case("h2-tls-untrusted", "h2a",
         via_curl(lambda C: [(HDR, alice_der(C)), ("X_SSL_Client_Cert", alice_der(C)),
                             ("x-ssl-client-CERT", alice_der(C))],
                  source=UNTRUSTED, http2=True),
         logs=[L_strip(r"(?i:x[-_]ssl[-_]client[-_]cert)")], authn_logs=[L_untrusted()],
         check=is_h2),
    Case("h2-tls-untrusted-with-user-certificate", "h2a",
         via_curl(one(HDR), source=UNTRUSTED, cert="bob", http2=True),
         logs=[L_strip(HDR)], authn_logs=[L_untrusted()], check=is_h2,
         why="bob's own TLS certificate does not make alice's header count"),

    # -- the trusted address with the wrong proxy certificate (X509AuthnProxyRequire) --
    Case("proxy-require-wrong-proxy-certificate", "mtls",
         via_curl(one(HDR), cert="proxy-other"),
         logs=[L_proxy_cert("CN=lb2.proxy.test,OU=Proxies,O=X509Authn Test,C=US"),
               L_strip(HDR, "127.0.0.1")],
         authn_logs=[L_untrusted("127.0.0.1")]),
    Case("proxy-require-user-certificate-as-proxy", "mtls",
         via_curl(one(HDR, cert="bob"), cert="alice"),
         logs=[L_proxy_cert(ALICE_DN), L_strip(HDR, "127.0.0.1")],
         authn_logs=[L_untrusted("127.0.0.1")], spoofed=("bob",)),
    Case("proxy-require-no-proxy-certificate", "mtls",
         via_curl(one(HDR)),
         logs=[L_strip(HDR, "127.0.0.1")], authn_logs=[L_untrusted("127.0.0.1")],
         absent=[r"X509A0202:"],
         why="no TLS client certificate at all: not a proxy (nothing to match)"),
    Case("proxy-require-right-certificate-untrusted-address", "mtls",
         via_curl(one(HDR), cert="proxy", source=UNTRUSTED),
         logs=[L_strip(HDR)], authn_logs=[L_untrusted()], absent=[r"X509A0202:"],
         why="both conditions must hold; the address fails first"),
    Case("proxy-require-wrong-proxy-certificate-h2", "mtls",
         via_curl(lambda C: [(HDR, alice_der(C)), ("X_SSL_Client_Cert", alice_der(C))],
                  cert="proxy-other", http2=True),
         logs=[L_proxy_cert("CN=lb2.proxy.test,OU=Proxies,O=X509Authn Test,C=US"),
               L_strip(r"(?i:x[-_]ssl[-_]client[-_]cert)", "127.0.0.1")],
         authn_logs=[L_untrusted("127.0.0.1")], check=is_h2),
    Case("proxy-require-wrong-certificate-underscore", "mtls",
         via_curl(one("X_SSL_Client_Cert"), cert="proxy-other"),
         logs=[L_proxy_cert("CN=lb2.proxy.test,OU=Proxies,O=X509Authn Test,C=US"),
               L_strip("X_SSL_Client_Cert", "127.0.0.1")],
         authn_logs=[L_untrusted("127.0.0.1")]),

    # -- Envoy XFCC: several elements, hostile quoting --------------------------------
    strip_row("xfcc-untrusted-several-elements", "xf",
              lambda C: [(XFCC, xfcc_el(C, "bob") + "," + xfcc_el(C, "alice"))], XFCC,
              spoofed=("alice", "bob")),
    strip_row("xfcc-untrusted-underscore", "xf",
              lambda C: [("X_Forwarded_Client_Cert", xfcc_el(C, "alice"))],
              "X_Forwarded_Client_Cert"),
    refuse_row("xfcc-last-element-lookalike", "xf",
               lambda C: [(XFCC, xfcc_el(C, "alice") + "," + xfcc_el(C, "lookalike"))],
               [L_refused(r"malformed X-Forwarded-Client-Cert header: XFCC with 2 "
                          r"elements")],
               spoofed=("alice", "lookalike"),
               why="xfcc is SANITIZE_SET: one element; neither a good earlier one nor "
                   "the last counts"),
    refuse_row("xfcc-quoted-fake-cert-in-subject", "xf",
               lambda C: [(XFCC, 'By=spiffe://evil;Hash=%s;Subject="x\\",'
                           'Cert=\\"%s\\""' % (C("alice").sha256.lower(),
                                                F.pem_escaped(C("alice"), plus="escaped")))],
               [L_refused(r"malformed X-Forwarded-Client-Cert header: XFCC element has "
                          r"no Cert or Chain")], spoofed=("alice",),
               why="a Cert= inside a quoted Subject (escaped quotes) is no Cert"),
    refuse_row("xfcc-escaped-backslash-before-quote", "xf",
               lambda C: [(XFCC, xfcc_el(C, "alice") + ';Subject="x\\\\",Cert="%s"'
                           % F.pem_escaped(C("lookalike"), plus="escaped"))],
               [L_refused(r"malformed X-Forwarded-Client-Cert header: XFCC with 2 "
                          r"elements")],
               spoofed=("alice", "lookalike"),
               why='"x\\\\" ends the quoted string: the lookalike would be a second '
                   'element'),
    refuse_row("xfcc-two-cert-keys", "xf",
               lambda C: [(XFCC, 'By=spiffe://p;Cert="%s";Cert="%s"' % (
                   F.pem_escaped(C("alice"), plus="escaped"),
                   F.pem_escaped(C("bob"), plus="escaped")))],
               [L_refused(r"malformed X-Forwarded-Client-Cert header: XFCC element with "
                          r"two Cert keys")], spoofed=("alice", "bob")),
    refuse_row("xfcc-unterminated-quote", "xf",
               lambda C: [(XFCC, xfcc_el(C, "alice") + ',Cert="'
                           + F.pem_escaped(C("bob"), plus="escaped"))],
               [L_refused(r"malformed X-Forwarded-Client-Cert header: malformed XFCC")],
               spoofed=("alice", "bob")),
    refuse_row("xfcc-stray-quote", "xf",
               lambda C: [(XFCC, xfcc_el(C, "alice") + ';Subject="ab"cd"ef"')],
               [L_refused(r"malformed X-Forwarded-Client-Cert header: .*stray quote")]),
    refuse_row("xfcc-san-uri-injection", "xf",
               lambda C: [(XFCC, xfcc_envoy(C, "san-uri-inject"))],
               [L_refused(r"malformed X-Forwarded-Client-Cert header: XFCC with 2 "
                          r"elements")], spoofed=("bob",),
               why="issue 12: a URI SAN ',Cert=<bob>' from the trusted CA, in Envoy's "
                   "own SANITIZE_SET header"),
    refuse_row("xfcc-san-dns-injection", "xf",
               lambda C: [(XFCC, xfcc_envoy(C, "san-dns-inject"))],
               [L_refused(r"malformed X-Forwarded-Client-Cert header: XFCC with 2 "
                          r"elements")], spoofed=("bob",),
               why="issue 12: the DNS SAN variant"),
    refuse_row("xfcc-too-many-elements", "xf",
               lambda C: [(XFCC, ",".join(["By=spiffe://p%d" % i for i in range(70)]
                                          + [xfcc_el(C, "alice")]))],
               [L_refused(r"malformed X-Forwarded-Client-Cert header: malformed XFCC "
                          r"\(quoting or too many elements\)")]),
    refuse_row("xfcc-oversized-64k", "xf",
               lambda C: [(XFCC, xfcc_pad(C, KIB64))],
               [L_refused(r"malformed X-Forwarded-Client-Cert header: value of 65536 "
                          r"bytes exceeds the limit of 16384")]),

    # -- compositions (issue 11): an early %{X509_*} look-up never decides --------------
    Case("early-lookup-untrusted-tls-client-at-header-location", "early",
         via_curl(lambda C: [], source=UNTRUSTED, cert="alice"),
         authn_logs=[L_untrusted()], spoofed=(), check=early_ran,
         why="SetEnvIfExpr and <If> looked alice's own TLS certificate up under the "
             "virtual host's source (any) before /t/hdr's source (header) was known"),
    Case("early-lookup-untrusted-tls-client-with-header-h2", "early",
         via_curl(one(HDR), source=UNTRUSTED, cert="bob", http2=True),
         logs=[L_strip(HDR)], authn_logs=[L_untrusted()], check=both(is_h2, early_ran),
         why="neither the header nor bob's own certificate, looked up early"),
    Case("early-lookup-trusted-proxy-header-at-tls-location", "early",
         via_curl(one(HDR)), open=False, loc="tls",
         authn_logs=[L_refused(TLS_FROM_PROXY, "127.0.0.1")], absent=[r"X509A0201:"],
         check=early_ran,
         why="the early look-up took the proxy's header; /t/tls takes TLS only"),
    Case("early-lookup-trusted-proxy-with-certificate-at-tls-location-h2", "early",
         via_curl(one(HDR), cert="bob", http2=True), open=False, loc="tls",
         authn_logs=[L_refused(TLS_FROM_PROXY, "127.0.0.1")], absent=[r"X509A0201:"],
         check=both(is_h2, early_ran),
         why="nor the trusted proxy's own certificate"),
    Case("early-lookup-mtls-second-lb", "mtlse",
         via_curl(one(HDR), cert="proxy-other"),
         logs=[L_proxy_cert(LB2_DN), L_strip(HDR, "127.0.0.1")],
         authn_logs=[L_untrusted("127.0.0.1")], check=early_ran,
         why="conf-examples/proxy-mtls-lb.conf with an early look-up: a second LB "
             "failing X509AuthnProxyRequire must not log in as itself"),
    Case("early-lookup-mtls-second-lb-h2", "mtlse",
         via_curl(one(HDR), cert="proxy-other", http2=True),
         logs=[L_proxy_cert(LB2_DN), L_strip(HDR, "127.0.0.1")],
         authn_logs=[L_untrusted("127.0.0.1")], check=both(is_h2, early_ran)),
    Case("early-lookup-mtls-direct-client", "mtlse",
         via_curl(lambda C: [], cert="alice"),
         authn_logs=[L_untrusted("127.0.0.1")], spoofed=(), check=early_ran,
         why="a client connecting directly, past the LB, with its own certificate"),
    Case("early-lookup-mtls-direct-client-with-header", "mtlse",
         via_curl(one(HDR, cert="bob"), cert="alice"),
         logs=[L_proxy_cert(ALICE_DN), L_strip(HDR, "127.0.0.1")],
         authn_logs=[L_untrusted("127.0.0.1")], spoofed=("bob",), check=early_ran),
    Case("early-lookup-mtls-lb-header-at-tls-location", "mtlse",
         via_curl(one(HDR), cert="proxy"), open=False, loc="tls",
         authn_logs=[L_refused(TLS_FROM_PROXY, "127.0.0.1")], absent=[r"X509A0201:"],
         check=early_ran,
         why="the real LB's header (or the LB itself) at X509AuthnSource tls"),

    # -- compositions (issue 11): .htaccess IssuingCA rules on one connection -----------
    Case("htaccess-issuing-ca-b-after-a-keepalive", "hta",
         after_on_one_connection("hta-a", one(HDR)), open=False, loc="hta-b",
         authn_logs=[L_rejected(ICA_REFUSED)], cert="alice", absent=[r"X509A0201:"],
         check=first_accepted(ALICE_DN),
         why="alice (Issuing CA A) accepted by hta-a/.htaccess, then refused by "
             "hta-b/.htaccess on the proxy's same keep-alive connection"),
    Case("htaccess-issuing-ca-a-after-b-keepalive", "hta",
         after_on_one_connection("hta-b", one(HDR, cert="bob")), open=False,
         loc="hta-a", authn_logs=[L_rejected(ICA_REFUSED)], cert="bob",
         absent=[r"X509A0201:"], spoofed=("bob",), check=first_accepted(BOB_DN),
         why="bob (Issuing CA B): hta-b then hta-a"),
]


# -- the good request after each row ---------------------------------------------------

def good(ctx, vhost):
    """A proper forwarded certificate from the trusted proxy, on `vhost`."""
    C = ctx.cert
    if vhost == "xf":
        r = http_request(ctx.h.port(vhost), "/t/hdr/env", [(XFCC, xfcc_el(C, "alice"))])
    elif vhost in ("h2a", "early"):
        r = curl(ctx.h.url("/t/hdr/env", vhost), headers=["%s: %s" % (HDR, alice_der(C))],
                 http2=True)
    elif vhost in ("mtls", "mtlse"):
        r = curl(ctx.h.url("/t/hdr/env", vhost), cert=C("proxy"),
                 headers=["%s: %s" % (HDR, alice_der(C))], http2=True)
    elif vhost == "trlh2":
        r = http_request(ctx.h.port(vhost), "/t/hdr/env", [(HDR, alice_der(C))],
                         source=TRLH2_PROXY)
    elif vhost == "hta":
        # through the .htaccess of Issuing CA A
        r = http_request(ctx.h.port(vhost), "/t/hta-a/env", [(HDR, alice_der(C))])
    else:
        r = http_request(ctx.h.port(vhost), "/t/hdr/env", [(HDR, alice_der(C))])
    env = ok(r, ALICE_DN)
    assert env["X509_AUTHN_SOURCE"] == "header"
    return r


# -- the tests ---------------------------------------------------------------------------

def test_matrix_has_at_least_40_rows():
    ids = [c.id for c in CASES]
    assert len(CASES) >= 40, len(CASES)
    assert len(set(ids)) == len(ids), "duplicate row ids"
    for c in CASES:
        assert c.logs or c.authn_logs, "%s: no log line expected" % c.id
        assert c.open or not c.served_logs, c.id


def test_detectors_see_what_is_not_stripped(ctx):
    """Control for (3): on a virtual host without forwarded certificates the
    module strips nothing, and the checks of the matrix do see the header
    (any spelling at the backend, by name and by content in the CGI)."""
    h, backend, C = ctx.h, ctx.backend, ctx.cert
    needles = [needle(C("alice"), ctx.pki)]
    value = alice_der(C)
    r = http_request(h.port("plain"), "/t/open/env", [(HDR, value)], source=UNTRUSTED)
    assert r.status == 200, r
    with pytest.raises(AssertionError, match="sees certificate headers"):
        assert_cgi_clean(r.env, needles, "control")
    r = http_request(h.port("plain"), "/t/open/env", [("X-Innocent", value)],
                     source=UNTRUSTED)
    with pytest.raises(AssertionError, match="holds the spoofed certificate"):
        assert_cgi_clean(r.env, needles, "control")
    for name in ("X_SSL_Client_Cert", "x-forwarded-client-cert", "X-Ssl-Client-Chain-3"):
        r = http_request(h.port("plain"), "/p/x", [(name, value)], source=UNTRUSTED)
        assert r.status == 200, r
        with pytest.raises(AssertionError, match="received certificate headers"):
            assert_backend_clean(backend.fields(r.tag), needles, "control")


def targets(case):
    """(kind, path): the protected CGI and backend, and for stripping rows
    (and httpd's 400s) the open CGI and backend."""
    out = [("cgi-protected", "/t/%s/env" % case.loc),
           ("backend-protected", "/p/%s/x" % case.loc)]
    if case.open:
        out += [("cgi-open", "/t/open/env"), ("backend-open", "/p/x")]
    return out


def check_logs(h, mark, case, kind, r, cert):
    """(2) logged: every expected line is there, nothing forbidden."""
    want = list(case.logs)
    if kind.endswith("-protected") and case.status != 400:
        want += case.authn_logs
    if kind.endswith("-open"):
        want += case.served_logs
    for rx in want:
        found = h.wait_log(mark, rx, timeout=3.0)
        assert found, "%s %s: no log line /%s/ (%r); new lines:\n%s" % (
            case.id, kind, rx, r, "\n".join(ln[:600] for ln in h.log_lines(mark)
                                             if "[ssl:" not in ln)[-3000:])
    lines = h.log_lines(mark)
    for rx in case.absent:
        bad = [ln for ln in lines if re.search(rx, ln)]
        assert not bad, "%s %s: unexpected log line /%s/:\n%s" % (
            case.id, kind, rx, "\n".join(bad))
    if case.cert and kind.endswith("-protected"):
        rej = [ln for ln in lines if "X509A0111" in ln]
        assert len(rej) == 1, "%s %s: expected one X509A0111 line:\n%s" % (
            case.id, kind, "\n".join(lines))
        check_rejection_line(rej[0], cert, None)
    if kind.endswith("-protected") and case.status == 403:
        # one refusal per request (X509A0110 or X509A0111)
        ref = [ln for ln in lines if re.search(r"X509A011[01]:", ln)]
        assert len(ref) == 1, "%s %s: expected one refusal line:\n%s" % (
            case.id, kind, "\n".join(lines))
    return lines


class Failures:
    """Every failed check of a row, not just the first: a row's report says
    at once which of (1)-(4) failed for which URL."""

    def __init__(self):
        self.messages = []

    def check(self, step, fn, *args):
        try:
            return fn(*args)
        except AssertionError as e:
            self.messages.append("%s: %s" % (step, str(e).split("\nassert ")[0]))
        except Exception as e:     # e.g. a body that is not the CGI's JSON
            self.messages.append("%s: %s: %s" % (step, type(e).__name__, e))


def refused(case, kind, what, r):
    """(1)"""
    if case.status == 400:
        assert r.status == 400, "%s: expected httpd's 400: %r\n%s" % (
            what, r, r.raw[:300] if r.raw else "")
    elif kind.endswith("-protected"):
        assert r.status == case.status, "%s: %r" % (what, r)
        assert r.user == "", "%s: logged in as %r" % (what, r.user)
    else:
        assert r.status == 200, "%s: open URL not served: %r" % (what, r)
        assert r.user == "", "%s: open URL served as %r" % (what, r.user)


def unseen(ctx, case, kind, what, r, tag, needles):
    """(3)"""
    backend = ctx.backend
    if kind.startswith("cgi"):
        if r.status == 200:
            assert_cgi_clean(r.env, needles, what)
        else:
            assert not is_cgi_answer(r), "%s: the CGI ran: %r" % (what, r.body[:200])
    elif kind == "backend-open" and case.status != 400:
        assert_backend_clean(backend.fields(tag), needles, what)
    else:
        assert tag not in backend.requests, \
            "%s: the backend got the request: %r" % (what, backend.requests[tag])


def serving(ctx, case, row_mark):
    """(4)"""
    h = ctx.h
    good(ctx, case.vhost)
    assert h.running(), "httpd is gone after %s" % case.id
    crashes = [ln for ln in h.log_lines(row_mark) if CRASH_RX.search(ln)]
    assert not crashes, "%s: %s" % (case.id, "\n".join(crashes))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_spoofing_row(ctx, case):
    h = ctx.h
    needles = [needle(ctx.cert(n), ctx.pki) for n in case.spoofed]
    cert = ctx.cert(case.cert) if case.cert else None
    row_mark = h.log_mark()
    fail = Failures()
    for kind, path in targets(case):
        tag = "%s-%s-%s" % (case.id[:24], kind, uuid.uuid4().hex[:8])
        mark = h.log_mark()
        r = case.send(ctx, case.vhost, path, tag)
        what = "%s %s %s" % (case.id, kind, path)
        fail.check("(1) refused", refused, case, kind, what, r)
        fail.check("(2) logged", check_logs, h, mark, case, kind, r, cert)
        fail.check("(3) unseen", unseen, ctx, case, kind, what, r, tag, needles)
        if case.check:
            fail.check("row check", case.check, ctx, kind, r, tag)
    fail.check("(4) serving", serving, ctx, case, row_mark)
    assert not fail.messages, "row %s%s failed:\n%s" % (
        case.id, " (%s)" % case.why if case.why else "", "\n\n".join(fail.messages))


def test_no_crash_over_the_whole_matrix(ctx):
    """At the end: every virtual host still answers, and neither the error
    log nor httpd's stderr holds a crash (a dying child is reported by the
    parent a moment later, hence the pause)."""
    h = ctx.h
    time.sleep(1.5)
    for vhost in ("fwd", "big", "strict", "trl", "trlh2", "xf", "h2a", "mtls", "early",
                  "mtlse", "hta"):
        good(ctx, vhost)
    assert h.running()
    with open(h.error_log, "rb") as f:
        log = f.read().decode("utf-8", "replace")
    with open(h.stderr_path, "rb") as f:
        log += f.read().decode("utf-8", "replace")
    crashes = [ln for ln in log.splitlines() if CRASH_RX.search(ln)]
    assert not crashes, "\n".join(crashes[:20])
    # and nothing at error level from the module
    errors = [ln for ln in log.splitlines() if re.search(r"\[x509authn:(error|crit|alert|"
                                                         r"emerg)\]", ln)]
    assert not errors, "\n".join(errors[:20])
