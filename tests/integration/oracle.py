"""Cache-off oracle: a differential test of every cache of mod_x509authn.

Two apache2 servers with the same configuration: the *subject* with every
cache on (per-process entries, the shmcb shared verification cache, mod_cache
on /c/) and the *oracle* with every cache off (``X509AuthnCache none``,
``X509AuthnCacheEntries 0``, no ``CacheEnable``).  A seeded random sequence
of requests (client certificate or forwarded header, trusted or untrusted
peer, URL) goes to the subject over connections that persist across requests
and paths (HTTP/1.1 keep-alive with TLS session resumption on reconnects,
HTTP/2 sessions through curl), and each request also goes to the oracle on a
new connection (full handshake, no resumption).  Every decision (status,
REMOTE_USER, X509_AUTHN_SOURCE, plus %{X509_AUTHN_SOURCE} as ap_expr sees it,
the variables an early SetEnvIfExpr / <If> saw, and the refusal reason
X509_AUTHN_ERROR) must be the same on
both, and must equal the expectation computed here from the rule table
(``Model``).  ``.htaccess`` files are rewritten and the forwarded
certificates' CRL file replaced at phase boundaries, identically on both.

The decision for a request is a function of the certificate (and chain),
the configuration in force for it (.htaccess included), the trust files and
the clock: whatever came before on the connection, in the process or in a
cache must not change it.

A difference is reduced to the shortest sequence that still shows it
(replayed on freshly started servers) and printed.

Used by test_oracle.py; `/usr/bin/python3 -m pytest tests/integration -k oracle`.
"""

import http.client
import json
import os
import random
import re
import shutil
import ssl
import subprocess
import tempfile
import time

from httpd import Httpd, quote
import forwarded as F

HDR = "X-SSL-Client-Cert"
P2, P3 = "127.0.0.2", "127.0.0.3"
PEERS = (P2, P3)
TLS_VHOSTS = ("main", "mixed", "noca")
VHOSTS = TLS_VHOSTS + ("plain",)
# who may forward certificates, per virtual host
TRUST = {"main": {P2}, "mixed": {P3}, "noca": {P2}, "plain": {P2}}
CACHE_MODULES = [("cache_module", "mod_cache.so"),
                 ("cache_socache_module", "mod_cache_socache.so"),
                 ("cache_disk_module", "mod_cache_disk.so")]
FIELDS = ("status", "user", "src", "esrc", "early", "ifo", "err")
# compared with the model: what a decision is
MODEL_FIELDS = ("status", "user", "src", "esrc")

# -- the certificates ------------------------------------------------------------

# ("escaped" is left out: its RFC 4514 escapes are test_user's business)
TLS_CERTS = [None, "alice", "bob", "multiou", "root-direct", "lookalike",
             "revoked", "selfsigned", "proxy", "expired", "utf8", "smime",
             "proxy-other"]
TLS_WEIGHTS = [14, 20, 14, 6, 5, 9, 8, 4, 4, 2, 2, 2, 1]
HDR_CERTS = [None, "alice", "bob", "multiou", "root-direct", "lookalike",
             "revoked", "selfsigned", "expired", "notyet", "serveronly", "proxy",
             "utf8", "smime", "proxy-other"]
HDR_WEIGHTS = [8, 20, 16, 6, 5, 8, 14, 4, 3, 2, 3, 3, 2, 2, 1]

EMAIL = {"alice": "alice@example.com", "bob": "bob@example.com"}
# certificatePolicies of the test PKI's leaves (pki.py)
POLICIES = {"alice": ["1.3.6.1.4.1.55555.1.1"],
            "lookalike": ["1.3.6.1.4.1.55555.1.1"],
            "smime": ["1.3.6.1.4.1.55555.1.2", "1.3.6.1.4.1.55555.1.3"]}


def rdn_value(dn, attr):
    """The value of `attr` that comes first in the certificate (as
    SSL_CLIENT_S_DN_CN): the last in an RFC 4514 string (the test PKI has no
    escaped separators in the names used here)."""
    for part in reversed(dn.split(",")):
        k, _, v = part.partition("=")
        if k == attr:
            return v
    return None


class CertModel:
    """What the rules and X509AuthnUser see of each test certificate."""

    def __init__(self, pki):
        self.pki = pki
        self.c = {}
        for n in set(TLS_CERTS + HDR_CERTS) - {None}:
            c = pki[n]
            cas, cur = [], c.issuer_name
            while cur is not None:
                cas.append(cur)
                cur = pki[cur].issuer_name
            self.c[n] = dict(
                subject=c.subject, issuer=c.issuer, serial=c.serial, cas=cas,
                fields={"subject": c.subject, "cn": rdn_value(c.subject, "CN"),
                        "email": EMAIL.get(n),
                        "subject:UID": rdn_value(c.subject, "UID"),
                        "serial": c.serial_hex.upper()},
                o=rdn_value(c.subject, "O"))

    def __getitem__(self, n):
        return self.c[n]

    @staticmethod
    def tls_verify(vhost, cert):
        """mod_ssl's verdict at the handshake: 'fail' (handshake refused),
        'SUCCESS' or 'FAILED' (optional_no_ca lets it through)."""
        if cert in ("expired", "notyet", "serveronly"):
            return "fail"
        if vhost == "main":
            return "fail" if cert in ("revoked", "lookalike", "selfsigned") else "SUCCESS"
        if vhost == "mixed":      # + lookalike hierarchy, no CRLs
            return "fail" if cert == "selfsigned" else "SUCCESS"
        if vhost == "noca":       # optional_no_ca, no CRLs
            return "FAILED" if cert in ("lookalike", "selfsigned") else "SUCCESS"
        raise ValueError(vhost)

    @staticmethod
    def header_verify(vhost, cert, revoked_listed):
        """Local verification of a forwarded certificate: CA root+A+B,
        clientAuth purpose, dates, CRLs (mixed: the static bundle that lists
        "revoked"; the others: the live file, replaced between phases)."""
        if cert in ("lookalike", "selfsigned", "expired", "notyet", "serveronly"):
            return False
        if cert == "revoked":
            return not (vhost == "mixed" or revoked_listed)
        return True


# -- the rule table ----------------------------------------------------------------

class Ctx:
    """A configuration context: AuthType, X509AuthnSource, rules, users,
    Require.  `parent` contexts are inherited as httpd merges them (a
    directive set in the child replaces that directive's values)."""

    KEYS = ("authtype", "source", "subject", "issuer", "serial", "ica", "users",
            "require", "policy", "maxdepth")

    def __init__(self, name, parent=None, **kw):
        self.name = name
        self.own = kw
        for k in kw:
            assert k in self.KEYS, k
        self.eff = dict(parent.eff) if parent else {}
        self.eff.update(kw)

    def __repr__(self):
        return "<Ctx %s %r>" % (self.name, self.eff)


def render_ctx(ctx, pki, passwd):
    """Directives of a context (its own, not the inherited ones)."""
    o = ctx.own
    out = []
    at = o.get("authtype")
    if at == "X509":
        out.append("AuthType X509")
    elif at == "fallback":
        out += ["AuthType Basic", 'AuthName "oracle"', "AuthBasicProvider file",
                "AuthUserFile %s" % quote(passwd), "X509Authn On"]
    elif at == "open":
        out.append("Require all granted")
    if "source" in o:
        out.append("X509AuthnSource %s" % o["source"])
    if "subject" in o:
        out.append("X509AuthnRequireSubject " + " ".join(
            quote(pki[n].subject) for n in o["subject"]))
    if "issuer" in o:
        out.append("X509AuthnRequireIssuer " + " ".join(
            quote(pki[n].subject) for n in o["issuer"]))
    if "serial" in o:
        out.append("X509AuthnRequireSerial " + " ".join("0x%X" % s for s in o["serial"]))
    for n in o.get("ica", ()):
        out.append("X509AuthnRequireIssuingCA %s" % quote(pki[n].cert))
    if "policy" in o:
        out.append("X509AuthnRequirePolicy " + " ".join(o["policy"]))
    if "maxdepth" in o:
        out.append("X509AuthnMaxDepth %d" % o["maxdepth"])
    for field, rx in o.get("users", ()):
        out.append("X509AuthnUser %s%s" % (field, " " + quote(rx) if rx else ""))
    req = o.get("require")
    if req == "valid-user":
        out.append("Require valid-user")
    elif req == "expr-o":
        out += ["AuthzSendForbiddenOnFailure On",
                "Require expr \"%{X509_CLIENT_S_DN_O} == 'Example Corp'\""]
    return "\n".join(out) + "\n"


X509 = dict(authtype="X509", require="valid-user")

# <Location> contexts, under /o/NAME/ (static page) and /t/NAME/ (CGI)
_par = Ctx("par", issuer=["issuing-a"], **X509)
_child = Ctx("par/child", _par, users=[("cn", None)])
LOCATIONS = [
    Ctx("tls", source="tls", **X509),
    Ctx("hdr", source="header", **X509),
    Ctx("any", source="any", users=[("email", r"^([^@]+)@example\.com$"), ("cn", None)],
        **X509),
    _par, _child,
    Ctx("par/child/tls", _child, source="tls", serial=[0x1001, 0x3008]),
    Ctx("ica-a", ica=["issuing-a"], **X509),
    Ctx("ica-b", ica=["issuing-b"], users=[("subject:UID", None), ("serial", None)], **X509),
    Ctx("ica-hdr", source="header", ica=["root"], serial=[0x2002, 0x4001], **X509),
    Ctx("subj", subject=["alice"], users=[("subject:UID", None)], **X509),
    Ctx("expr", authtype="X509", require="expr-o"),
    Ctx("pol", policy=["1.3.6.1.4.1.55555.1.1", "1.3.6.1.4.1.55555.1.3"], **X509),
    Ctx("depth1", source="any", maxdepth=1, users=[("cn", None)], **X509),
    Ctx("fb", authtype="fallback", issuer=["issuing-a"], require="valid-user"),
    Ctx("open", authtype="open"),
]

# <Directory> contexts (static pages /d/page.html, /d/sub/page.html)
_d = Ctx("d", ica=["issuing-a"], source="any", **X509)
DIRECTORIES = [_d, Ctx("d/sub", _d, users=[("cn", None)], serial=[0x1001, 0x3003])]

# mod_cache contexts: /c/s/ (socache) and /c/d/ (disk), static pages with an
# old Last-Modified (heuristic freshness)
CACHED = [
    Ctx("c/s/auth", source="any", **X509),
    Ctx("c/s/open", authtype="open"),
    Ctx("c/d/auth", source="tls", **X509),
    Ctx("c/d/hdr", source="header", **X509),
]

# .htaccess files (AllowOverride AuthConfig): versions, rewritten at phase
# boundaries (version = (phase + offset) % len)
HTACCESS = {
    # h1 and h2 hold only an IssuingCA rule, a different CA in every phase
    "h1": [dict(ica=["issuing-a"], **X509),
           dict(ica=["issuing-b"], **X509),
           dict(ica=["lookalike-a"], **X509),
           dict(ica=["root"], maxdepth=1, **X509)],
    "h2": [dict(ica=["issuing-b"], **X509),
           dict(ica=["issuing-a"], **X509),
           dict(ica=["root"], **X509),
           dict(ica=["lookalike-a"], **X509)],
    "h3": [dict(serial=[0x1001, 0x2002], users=[("email", r"^([^@]+)@"), ("cn", None)],
                **X509),
           dict(issuer=["issuing-b"], users=[("serial", None)], **X509),
           dict(ica=["issuing-a", "issuing-b"], **X509),
           dict(source="tls", subject=["alice"], **X509)],
    "h4": [dict(ica=["root"], users=[("subject:UID", None), ("cn", None)], **X509),
           dict(ica=["issuing-a"], source="any", **X509),
           dict(source="header", subject=["bob", "alice"],
                policy=["1.3.6.1.4.1.55555.1.1"], **X509),
           dict(ica=["issuing-b"], issuer=["issuing-b"], **X509)],
}
HT_OFFSET = {"h1": 0, "h2": 0, "h3": 2, "h4": 3}
# h2/sub has a .htaccess of its own (only the identity), h1/sub none
HT_SUB = {"h1/sub": None, "h2/sub": dict(users=[("cn", None)])}


def ht_ctx(name, phase):
    if name in HT_SUB:
        parent = ht_ctx(name.split("/")[0], phase)
        own = HT_SUB[name]
        return Ctx(name, parent, **own) if own else Ctx(name, parent)
    vs = HTACCESS[name]
    return Ctx(name, **vs[(phase + HT_OFFSET[name]) % len(vs)])


def paths():
    """Every URL of the test with its context name: (path, kind, ctx name)."""
    out = []
    for c in LOCATIONS:
        out.append(("/o/%s/page.html" % c.name, "loc", c.name))
        out.append(("/t/%s/env" % c.name, "cgi", c.name))
    for c in DIRECTORIES:
        out.append(("/%s/page.html" % c.name, "dir", c.name))
    for c in CACHED:
        out.append(("/%s/page.html" % c.name, "cache", c.name))
    for n in list(HTACCESS) + list(HT_SUB):
        out.append(("/h/%s/page.html" % n, "hta", n))
    return out


PATHS = paths()
PATH_KIND = {p: (k, n) for p, k, n in PATHS}
KIND_WEIGHT = {"loc": 50, "cgi": 6, "dir": 8, "cache": 12, "hta": 24}


def ctx_for(path, phase):
    kind, name = PATH_KIND[path]
    if kind in ("loc", "cgi"):
        return {c.name: c for c in LOCATIONS}[name]
    if kind == "dir":
        return {c.name: c for c in DIRECTORIES}[name]
    if kind == "cache":
        return {c.name: c for c in CACHED}[name]
    return ht_ctx(name, phase)


# -- the model ---------------------------------------------------------------------

class Model:
    """The expected decision, from the rule table and the documented
    semantics (docs/directives.md):
    - X509AuthnSource header, or any from a trusted proxy: the forwarded
      certificate, verified locally; from anybody else nothing (the header
      is stripped);
    - tls (or any from others): the certificate mod_ssl verified (SUCCESS
      only); a trusted proxy's own certificate is never a user;
    - every rule must match, the first X509AuthnUser line that yields a name
      wins (default: the subject DN);
    - %{X509_AUTHN_SOURCE} in ap_expr describes the login that happened
      (empty after a refusal or a password login); where no authentication
      runs, the verified certificate of the directory's source."""

    def __init__(self, certs):
        self.certs = certs

    def resolve(self, req, source):
        trusted = req.peer in TRUST[req.vhost]
        if source == "header" or (source == "any" and trusted):
            if not trusted or req.hdr is None:
                return "header", None
            ok = CertModel.header_verify(req.vhost, req.hdr, crl_revoked(req.phase))
            return "header", req.hdr if ok else None
        if trusted or req.vhost == "plain" or req.tls is None:
            return "tls", None
        if CertModel.tls_verify(req.vhost, req.tls) != "SUCCESS":
            return "tls", None
        return "tls", req.tls

    def rules_ok(self, eff, n):
        c = self.certs[n]
        if "subject" in eff and c["subject"] not in [self.certs.pki[x].subject
                                                     for x in eff["subject"]]:
            return False
        if "issuer" in eff and c["issuer"] not in [self.certs.pki[x].subject
                                                   for x in eff["issuer"]]:
            return False
        if "serial" in eff and c["serial"] not in eff["serial"]:
            return False
        if "ica" in eff and not set(eff["ica"]) & set(c["cas"]):
            return False
        # every CA of the test PKI allows anyPolicy: the leaf's list decides
        if "policy" in eff and not set(eff["policy"]) & set(POLICIES.get(n, ())):
            return False
        # depth as SSLVerifyDepth counts: the CAs above the leaf
        if "maxdepth" in eff and len(c["cas"]) > eff["maxdepth"]:
            return False
        return True

    def user(self, eff, n):
        users = eff.get("users")
        if not users:
            return self.certs[n]["subject"]
        for field, rx in users:
            v = self.certs[n]["fields"].get(field)
            if v is None:
                continue
            if rx is None:
                return v
            m = re.search(rx, v)
            if m and m.group(1):
                return m.group(1)
        return None

    def expect(self, req):
        """dict of MODEL_FIELDS."""
        if req.vhost != "plain" and req.tls is not None \
                and CertModel.tls_verify(req.vhost, req.tls) == "fail":
            return dict(status=0, user="", src="", esrc="")
        eff = ctx_for(req.path, req.phase).eff
        source = eff.get("source", "any")
        at = eff.get("authtype")
        src, cert = self.resolve(req, source)
        if at in (None, "open"):
            return dict(status=200, user="", src="", esrc=src if cert else "")
        if eff.get("require") == "expr-o" and (
                cert is None or self.certs[cert]["o"] != "Example Corp"):
            # mod_authz_core evaluates an expression without %{REMOTE_USER}
            # before authentication: denied, authentication never runs
            return dict(status=403, user="", src="", esrc=src if cert else "")
        ok = cert is not None and self.rules_ok(eff, cert)
        user = self.user(eff, cert) if ok else None
        if user:
            return dict(status=200, user=user, src=src, esrc=src)
        if at == "X509":
            return dict(status=403, user="", src="", esrc="")
        if req.creds:
            return dict(status=200, user="basicuser", src="", esrc="")
        return dict(status=401, user="", src="", esrc="")


def crl_revoked(phase):
    """Does the live CRL file list "revoked" in this phase?"""
    return phase % 2 == 1


# -- requests ------------------------------------------------------------------------

class Req:
    __slots__ = ("i", "seg", "vhost", "peer", "tls", "proto", "path", "hdr",
                 "creds", "phase", "reconnect")

    def __init__(self, **kw):
        for k in self.__slots__:
            setattr(self, k, kw.get(k))

    def key(self):
        return (self.vhost, self.peer, self.tls)

    def __repr__(self):
        return ("#%d seg%d phase%d %s %s from %s tls=%s hdr=%s%s %s" % (
            self.i, self.seg, self.phase, self.proto, self.vhost, self.peer,
            self.tls, self.hdr, " +basic" if self.creds else "", self.path))

    def as_dict(self):
        return {k: getattr(self, k) for k in self.__slots__}


def generate(seed, n, phase_len):
    """Segments of 1..8 requests sharing a connection key (virtual host,
    source address, TLS client certificate, protocol)."""
    rnd = random.Random(seed)
    reqs, seg = [], 0
    pw = [KIND_WEIGHT[k] / sum(1 for _, kk, _ in PATHS if kk == k) for _, k, _ in PATHS]
    while len(reqs) < n:
        vhost = rnd.choices(VHOSTS, [35, 22, 15, 28])[0]
        trusted = rnd.random() < 0.4
        peer = next(p for p in PEERS if (p in TRUST[vhost]) == trusted)
        if vhost == "plain":
            tls, proto = None, "h1"
        else:
            if trusted:
                tls = rnd.choice([None, "proxy", "alice"])
            else:
                tls = rnd.choices(TLS_CERTS, TLS_WEIGHTS)[0]
            proto = "h2" if rnd.random() < 0.25 else "h1"
        # a segment may start on a new connection (HTTP/1.1: resuming the
        # previous TLS session of its key)
        reconnect = rnd.random() < 0.15
        for k in range(rnd.randint(1, 8)):
            if len(reqs) >= n:
                break
            path = rnd.choices(PATHS, pw)[0][0]
            if trusted or rnd.random() < 0.3:
                hdr = rnd.choices(HDR_CERTS, HDR_WEIGHTS)[0]
            else:
                hdr = None
            creds = PATH_KIND[path][1] == "fb" and rnd.random() < 0.5
            reqs.append(Req(i=len(reqs), seg=seg, vhost=vhost, peer=peer, tls=tls,
                            proto=proto, path=path, hdr=hdr, creds=creds,
                            phase=len(reqs) // phase_len, reconnect=reconnect and k == 0))
        seg += 1
    return reqs


# -- clients ---------------------------------------------------------------------------

class Contexts:
    """One SSLContext per client certificate (sessions resume only when a
    session object is passed explicitly)."""

    def __init__(self, pki):
        self.pki = pki
        self.ctx = {}

    def get(self, cert):
        if cert not in self.ctx:
            c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            c.load_verify_locations(self.pki["root"].cert)
            c.check_hostname = True
            if cert:
                c.load_cert_chain(self.pki[cert].bundle, self.pki[cert].key)
            self.ctx[cert] = c
        return self.ctx[cert]


class Conn(http.client.HTTPConnection):
    """HTTP/1.1 over TLS (or not) from a chosen source address; resumes the
    TLS session it is given."""

    def __init__(self, port, source, ctx=None, session=None, timeout=20):
        super().__init__("127.0.0.1", port, timeout=timeout,
                         source_address=(source, 0))
        self.ctx = ctx
        self.session = session
        self.resumed = False

    def connect(self):
        super().connect()
        if self.ctx is not None:
            self.sock = self.ctx.wrap_socket(self.sock, server_hostname="localhost",
                                             session=self.session)
            self.resumed = self.sock.session_reused


def header_fields(pki, req):
    h = {"Host": "localhost", "X-Test-Tag": "oracle-%d" % req.i}
    if req.hdr:
        h[HDR] = F.der_b64(pki[req.hdr])
    if req.creds:
        import base64
        h["Authorization"] = "Basic " + base64.b64encode(b"basicuser:s3cret").decode()
    return h


def decision(status, headers, body, path):
    """The observed decision; for the CGI, REMOTE_USER and X509_AUTHN_SOURCE
    of its environment must agree with what mod_headers saw."""
    def get(name):
        v = headers.get(name, "")
        return "" if v == "(null)" else v   # mod_headers' %{VAR}e when unset

    d = dict(status=status, user=get("x-user"), src=get("x-src"), esrc=get("x-esrc"),
             early=get("x-early"), ifo=get("x-if-o"), err=get("x-err"))
    if status == 200 and PATH_KIND[path][0] == "cgi":
        try:
            env = json.loads(body.decode("utf-8"))
            d["env"] = "ok" if (env.get("REMOTE_USER", "") == d["user"] and
                                env.get("X509_AUTHN_SOURCE", "") == d["src"]) else \
                "env REMOTE_USER=%r X509_AUTHN_SOURCE=%r" % (
                    env.get("REMOTE_USER"), env.get("X509_AUTHN_SOURCE"))
        except ValueError:
            d["env"] = "not json: %r" % body[:200]
    return d


def _fix_latin1(v):
    # http.client decodes header fields as latin-1; the names are UTF-8
    try:
        return v.encode("latin-1").decode("utf-8")
    except (UnicodeError, AttributeError):
        return v


def h1_request(conn, pki, req):
    conn.request("GET", req.path, headers=header_fields(pki, req))
    resp = conn.getresponse()
    body = resp.read()
    hs = {k.lower(): _fix_latin1(v) for k, v in resp.getheaders()}
    return decision(resp.status, hs, body, req.path), resp


NET_ERRORS = (OSError, http.client.HTTPException, ssl.SSLError)


class Subject:
    """Sends requests over persistent connections: HTTP/1.1 keep-alive
    connections per (virtual host, peer, TLS certificate), reconnecting with
    the previous TLS session (resumption), and HTTP/2 segments through one
    curl run each (one connection, several streams)."""

    MAX_CONNS = 24

    def __init__(self, server, pki, contexts, tmpdir):
        self.h = server
        self.pki = pki
        self.ctxs = contexts
        self.tmp = tmpdir
        self.pool = {}          # key -> Conn (insertion order = LRU)
        self.sessions = {}      # key -> ssl.SSLSession
        self.stats = {"h1": 0, "h2": 0, "reused": 0, "connects": 0, "resumed": 0,
                      "h2 streams reused": 0}

    def close(self):
        for c in self.pool.values():
            c.close()
        self.pool.clear()

    def _conn(self, req, first=True):
        k = req.key()
        c = self.pool.pop(k, None)
        if c is not None and req.reconnect and first:
            c.close()       # the next request connects again (resumes)
        if c is None:
            while len(self.pool) >= self.MAX_CONNS:
                old = next(iter(self.pool))
                self.pool.pop(old).close()
            tls = req.vhost != "plain"
            c = Conn(self.h.port(req.vhost), req.peer,
                     self.ctxs.get(req.tls) if tls else None,
                     self.sessions.get(k) if tls else None)
        elif c.ctx is not None:
            c.session = self.sessions.get(k)     # for a reconnection
        self.pool[k] = c
        return c

    def h1(self, req):
        self.stats["h1"] += 1
        for attempt in (0, 1):
            c = self._conn(req, attempt == 0)
            was_open = c.sock is not None
            try:
                d, resp = h1_request(c, self.pki, req)
            except NET_ERRORS:
                c.close()
                self.pool.pop(req.key(), None)
                if was_open and attempt == 0:
                    continue        # the server closed an idle connection
                return dict(status=0, user="", src="", esrc="", early="", ifo="", err="")
            if was_open:
                self.stats["reused"] += 1
            else:
                self.stats["connects"] += 1
                self.stats["resumed"] += int(c.resumed)
            if isinstance(c.sock, ssl.SSLSocket):
                self.sessions[req.key()] = c.sock.session
            if resp.will_close:
                c.close()
            return d

    def h2(self, reqs):
        """One curl run: every request of the segment on one HTTP/2
        connection (curl reuses it across --next)."""
        self.stats["h2"] += len(reqs)
        args = ["curl"]
        fmt = ("##%{http_code}\x1f%{num_connects}\x1f%header{x-user}\x1f%header{x-src}\x1f"
               "%header{x-esrc}\x1f%header{x-early}\x1f%header{x-if-o}\x1f"
               "%header{x-err}\\n")
        outs = []
        for n, req in enumerate(reqs):
            port = self.h.port(req.vhost)
            if n:
                args.append("--next")
            args += ["-sS", "--http2", "--max-time", "20",
                     "--resolve", "localhost:%d:127.0.0.1" % port,
                     "--cacert", self.pki["root"].cert,
                     "--interface", req.peer, "-w", fmt]
            if req.tls:
                args += ["--cert", self.pki[req.tls].bundle, "--key", self.pki[req.tls].key]
            for k, v in header_fields(self.pki, req).items():
                if k != "Host":
                    args += ["-H", "%s: %s" % (k, v)]
            out = os.path.join(self.tmp, "h2-%d.body" % n)
            outs.append(out)
            args += ["-o", out, "https://localhost:%d%s" % (port, req.path)]
        p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=60 + 5 * len(reqs))
        lines = [ln for ln in p.stdout.decode("utf-8", errors="replace").split("\n")
                 if ln.startswith("##")]
        res = []
        for n, req in enumerate(reqs):
            if n >= len(lines):
                res.append(dict(status=0, user="", src="", esrc="", early="", ifo="",
                                err=""))
                continue
            parts = (lines[n][2:].split("\x1f") + [""] * 8)[:8]
            if parts[1] == "0":
                self.stats["h2 streams reused"] += 1
            hs = dict(zip(("x-user", "x-src", "x-esrc", "x-early", "x-if-o", "x-err"),
                          [x.strip() for x in parts[2:]]))
            try:
                body = open(outs[n], "rb").read()
            except OSError:
                body = b""
            res.append(decision(int(parts[0] or 0), hs, body, req.path))
        for o in outs:
            try:
                os.unlink(o)
            except OSError:
                pass
        return res


class Oracle:
    """Each request on a new connection: full handshake, no resumption."""

    def __init__(self, server, pki, contexts):
        self.h = server
        self.pki = pki
        self.ctxs = contexts

    def send(self, req):
        tls = req.vhost != "plain"
        c = Conn(self.h.port(req.vhost), req.peer, self.ctxs.get(req.tls) if tls else None)
        try:
            d, _ = h1_request(c, self.pki, req)
            if tls:
                assert not c.resumed
            return d
        except NET_ERRORS:
            return dict(status=0, user="", src="", esrc="", early="", ifo="", err="")
        finally:
            c.close()


# -- the two servers ------------------------------------------------------------------

OLD = time.time() - 30 * 86400     # Last-Modified of the cached pages


class Pair:
    """The subject and the oracle, identical but for the caches."""

    def __init__(self, workroot, pki, module_so, registry=None, subject_caches="all"):
        # "all": every cache on; "shared": the shared cache only
        # (X509AuthnCacheEntries 0: every forwarded certificate is looked
        # up in it, and served from its records' compact forms)
        self.subject_caches = subject_caches
        self.pki = pki
        self.module_so = module_so
        self.workroot = workroot
        self.shared = os.path.join(workroot, "oracle-shared")
        os.makedirs(self.shared, exist_ok=True)
        os.chmod(self.shared, 0o755)
        self.crl = os.path.join(self.shared, "crl-live.pem")
        self.registry = registry
        self.subject = self._make("subject")
        self.oracle = self._make("oracle")
        self.phase = None
        self.crl_state = None

    def _make(self, name):
        d = tempfile.mkdtemp(prefix="oracle-%s-" % name, dir=self.workroot)
        level = "debug" if name == "subject" and self.subject_caches == "shared" else "info"
        h = Httpd(d, self.pki, self.module_so, loglevel="warn ssl:warn x509authn:" + level)
        h.name = name
        if self.registry is not None:
            self.registry.append(h)
        return h

    def servers(self):
        return (self.subject, self.oracle)

    # files
    def _layout(self, h):
        pages = ["o/%s" % c.name for c in LOCATIONS] + [c.name for c in DIRECTORIES] \
            + [c.name for c in CACHED] + ["h/%s" % n for n in list(HTACCESS) + list(HT_SUB)]
        for p in pages:
            os.makedirs(h.path("htdocs/" + p), exist_ok=True)
            path = h.write_file("htdocs/%s/page.html" % p, "<p>%s</p>\n" % p)
            if p.startswith("c/"):
                os.utime(path, (OLD, OLD))
        for root, dirs, _ in os.walk(h.path("htdocs")):
            os.chmod(root, 0o755)
        os.makedirs(h.path("cache"), exist_ok=True)
        shutil.chown(h.path("cache"), "www-data", "www-data")

    def write_phase(self, phase):
        """.htaccess versions and the live CRL of `phase`, on both servers.
        Returns True when the CRL file changed (the module looks at it at
        most once a second)."""
        for h in self.servers():
            for n in HTACCESS:
                h.write_file("htdocs/h/%s/.htaccess" % n,
                             render_ctx(ht_ctx(n, phase), self.pki, h.passwd))
            for n, own in HT_SUB.items():
                if own:
                    h.write_file("htdocs/h/%s/.htaccess" % n,
                                 render_ctx(Ctx(n, **own), self.pki, h.passwd))
        self.phase = phase
        want = crl_revoked(phase)
        if want == self.crl_state:
            return False
        src = self.pki.crl_bundle if want else self.pki.crl_bundle_unrevoked
        tmp = self.crl + ".new"
        with open(src) as f, open(tmp, "w") as g:
            g.write(f.read())
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.crl)
        self.crl_state = want
        return True

    def render_args(self, h, cached):
        pki = self.pki
        d = h.dir
        locs = []
        for c in LOCATIONS:
            for prefix in ("o", "t"):
                locs.append("<Location /%s/%s/>\n%s</Location>\n" % (
                    prefix, c.name, render_ctx(c, pki, h.passwd)))
        for c in CACHED:
            locs.append("<Location /%s/>\n%s</Location>\n" % (
                c.name, render_ctx(c, pki, h.passwd)))
        dirs = "".join('<Directory "%s/htdocs/%s">\n%s</Directory>\n' % (
            d, c.name, render_ctx(c, pki, h.passwd)) for c in DIRECTORIES)
        caches = ("X509AuthnCache shmcb 300\nX509AuthnCacheEntries 2048\n" if cached else
                  "X509AuthnCache none\nX509AuthnCacheEntries 0\n")
        if cached and self.subject_caches == "shared":
            caches = "X509AuthnCache shmcb 300\nX509AuthnCacheEntries 0\n"
        mod_cache = """
CacheSocache shmcb
CacheRoot "{d}/cache"
CacheHeader On
CacheQuickHandler On
""".format(d=d)
        if cached:
            mod_cache += "CacheEnable socache /c/s/\nCacheEnable disk /c/d/\n"
        server_extra = """
{caches}
X509AuthnTrustedProxy {p2}
X509AuthnCACertificateFile {ca}
X509AuthnCARevocationFile {crl}
Header always set X-ESrc "expr=%{{X509_AUTHN_SOURCE}}"
Header always set X-Early "%{{X509A_EARLY}}e"
Header always set X-Err "expr=%{{X509_AUTHN_ERROR}}"
<Directory "{d}/htdocs/h">
    AllowOverride AuthConfig
</Directory>
{dirs}
{mod_cache}
""".format(caches=caches, p2=P2, ca=quote(pki.ca_bundle), crl=quote(self.crl),
           d=d, dirs=dirs, mod_cache=mod_cache)
        early = 'SetEnvIfExpr "-n %{X509_CLIENT_S_DN_CN}" X509A_EARLY=1\n'
        vhost_extra = {
            "main": early,
            "plain": early,
            "mixed": "X509AuthnTrustedProxy %s\nX509AuthnCARevocationFile %s\n"
                     "<If \"%%{X509_CLIENT_S_DN_O} == 'Example Corp'\">\n"
                     "    Header always set X-If-O yes\n</If>\n"
                     % (P3, quote(pki.crl_bundle)),
        }
        return dict(locations="".join(locs), server_extra=server_extra,
                    vhost_extra=vhost_extra, extra_modules=CACHE_MODULES)

    def start(self, phase=0):
        for h in self.servers():
            self._layout(h)
        self.crl_state = None
        self.write_phase(phase)
        for h, cached in ((self.subject, True), (self.oracle, False)):
            h.start(**self.render_args(h, cached))

    def stop(self):
        for h in self.servers():
            h.stop()

    def restart_fresh(self, phase):
        """Both servers stopped and started again with empty caches (the
        disk cache's files removed), in `phase`."""
        self.stop()
        for h in self.servers():
            shutil.rmtree(h.path("cache"), ignore_errors=True)
        self.start(phase)


# -- running ------------------------------------------------------------------------

def compare_a(req, s, o):
    """Fields where the subject's decision differs from the oracle's."""
    fields = FIELDS if not req.path.startswith("/c/") else ("status", "user", "src")
    diff = [f for f in fields if s.get(f) != o.get(f)]
    if s.get("env", "ok") != "ok":
        diff.append("env")
    return diff


def compare_b(req, s, m):
    fields = MODEL_FIELDS if not req.path.startswith("/c/") else ("status", "user", "src")
    return [f for f in fields if s.get(f) != m.get(f)]


class Runner:
    def __init__(self, pair, pki, log=print):
        self.pair = pair
        self.pki = pki
        self.ctxs = Contexts(pki)
        self.model = Model(CertModel(pki))
        self.log = log
        self.tmp = tempfile.mkdtemp(prefix="oracle-h2-", dir=pair.workroot)

    def run(self, reqs, oracle_for=None, stop_at=None):
        """Send `reqs` (in phase order) to the subject, and to the oracle
        those in `oracle_for` (all when None).  Returns a list of
        (req, subject decision, oracle decision or None, model decision)."""
        subj = Subject(self.pair.subject, self.pki, self.ctxs, self.tmp)
        orc = Oracle(self.pair.oracle, self.pki, self.ctxs)
        out = []
        i = 0
        try:
            while i < len(reqs):
                req = reqs[i]
                if req.phase != self.pair.phase:
                    if self.pair.write_phase(req.phase):
                        time.sleep(1.3)
                if req.proto == "h2":
                    j = i
                    while j < len(reqs) and reqs[j].proto == "h2" \
                            and reqs[j].seg == req.seg and reqs[j].phase == req.phase:
                        j += 1
                    batch = reqs[i:j]
                    sres = subj.h2(batch)
                else:
                    batch = [req]
                    sres = [subj.h1(req)]
                for r, s in zip(batch, sres):
                    o = orc.send(r) if oracle_for is None or r.i in oracle_for else None
                    out.append((r, s, o, self.model.expect(r)))
                i += len(batch)
                if stop_at is not None and i > stop_at:
                    break
        finally:
            subj.close()
        self.stats = subj.stats
        return out

    # -- differences
    @staticmethod
    def differences(results):
        """[(kind, req, fields, subject, oracle, model)]: kind "a" (subject vs
        oracle: a cache changed the decision) or "b" (vs the model)."""
        out = []
        for r, s, o, m in results:
            if o is not None:
                fa = compare_a(r, s, o)
                if fa:
                    out.append(("a", r, fa, s, o, m))
            fb = compare_b(r, s, m)
            if fb:
                out.append(("b", r, fb, s, o, m))
        return out

    @staticmethod
    def signature(d):
        """A class of differences: oracle or model, the kind of context
        (Location, CGI, Directory, mod_cache, .htaccess), the fields."""
        kind, r, fields, s, o, m = d
        return ("subject vs oracle" if kind == "a" else "subject vs model",
                PATH_KIND[r.path][0], ",".join(fields))

    def reproduces(self, seq, target, kind, fields):
        """Replay `seq` (ending with `target`) on fresh servers: does the
        target request still differ in the same way?"""
        self.pair.restart_fresh(seq[0].phase)
        res = self.run(seq, oracle_for={target.i})
        r, s, o, m = res[-1]
        assert r.i == target.i
        got = compare_a(r, s, o) if kind == "a" else compare_b(r, s, m)
        self.replays += 1
        return bool(got) and set(got) >= set(f for f in fields if f != "env")

    def minimize(self, reqs, diff, budget=30, deadline=None):
        """The shortest subsequence of the requests before the differing one
        that, replayed on fresh servers, still shows the difference (delta
        debugging, ddmin).  Returns (sequence, reproduced?)."""
        kind, target, fields = diff[0], diff[1], diff[2]
        prefix = [r for r in reqs if r.i < target.i]
        self.replays = 0
        deadline = deadline or time.time() + 90

        def test(sub):
            if self.replays >= budget or time.time() > deadline:
                return False
            return self.reproduces(sub + [target], target, kind, fields)

        if test([]):
            return [target], True
        start = None
        for n in (4, 16, 64, 256, len(prefix)):
            cand = prefix[-n:]
            if test(cand):
                start = cand
                break
            if n >= len(prefix):
                break
        if start is None:
            # not reproduced (process or memory layout): the requests before
            # it with the same certificate(s) on the same virtual host
            same = [r for r in prefix if r.vhost == target.vhost
                    and (r.tls, r.hdr) == (target.tls, target.hdr)
                    or r.key() == target.key()]
            return same[-12:] + [target], False
        cur, n = start, 2
        while len(cur) >= 2:
            chunk = max(1, len(cur) // n)
            parts = [cur[k:k + chunk] for k in range(0, len(cur), chunk)]
            reduced = False
            for k, part in enumerate(parts):
                if test(part):
                    cur, n, reduced = part, 2, True
                    break
                rest = [x for p in parts[:k] + parts[k + 1:] for x in p]
                if len(parts) > 2 and test(rest):
                    cur, n, reduced = rest, max(n - 1, 2), True
                    break
            if not reduced:
                if n >= len(cur):
                    break
                n = min(len(cur), 2 * n)
            if self.replays >= budget or time.time() > deadline:
                break
        return cur + [target], True


def describe(d):
    kind, r, fields, s, o, m = d
    lines = ["%s %r" % ("subject vs oracle:" if kind == "a" else "subject vs model:", r),
             "    differs in %s" % ", ".join(fields)]
    for name, v in (("subject", s), ("oracle", o), ("model", m)):
        if v is not None:
            lines.append("    %-8s %s" % (name, " ".join("%s=%r" % (f, v.get(f)) for f in
                                                         FIELDS + ("env",) if f in v)))
    return "\n".join(lines)


def context_count():
    """Distinct (virtual host, configuration context) pairs exercised."""
    n = len(LOCATIONS) + len(DIRECTORIES) + len(CACHED) \
        + sum(len(v) for v in HTACCESS.values()) + len(HT_SUB)
    return n, n * len(VHOSTS)
