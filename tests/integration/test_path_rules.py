"""Rules about the certification path are decided on a verified path, as
RFC 5280 decides it (issue 12, defects 2, 3, 4 and 6).

A purpose-made PKI (minipki.py):

    r1, r2            two roots
      a1x             "Path Issuing A" under r1, EXPIRED, key K
      a2              "Path Issuing A" under r2, valid, the same key K
        alice-p       signed with K: verifies only through a2
      pq              policies {Q}, requireExplicitPolicy:0      (under r1)
        pol-explicit  asserts P;   pol-q asserts Q
      q0              policies {Q}, no constraints               (under r1)
        pol-noexplicit asserts P
      pp              anyPolicy                                  (under r1)
        pol-good      asserts P
        s2            a CA under pp
          d3          depth 3 (d3, s2, pp, r1)
      d1              a client certificate issued by r1 itself (depth 1)
      dca             a CA with a base CRL (freshestCRL) and a delta CRL
        dok, drev     drev is revoked by the delta CRL only

- X509AuthnRequireIssuingCA on a resumed TLS session (no chain is resent)
  used to rebuild a path by signatures alone: alice-p passed "through"
  the expired a1x and r1.  Now the certificate is verified again with the
  virtual host's store and settings, or refused.
- X509AuthnHeaderVerify Off verifies no path: path rules refuse.
- X509AuthnRequirePolicy P follows RFC 5280 6.1 with an explicit policy:
  a {Q} sub-CA cannot issue a P leaf, with or without requireExplicitPolicy.
- Delta CRLs in X509AuthnCARevocationFile revoke.
- X509AuthnMaxDepth, for every request of TLS 1.2 renegotiation, a TLS 1.3
  connection's later requests, HTTP/2 streams, and forwarded chains (mod_ssl
  does not apply a per-directory SSLVerifyDepth on those).
"""

import os
import subprocess

import pytest

from clients import curl_multi, s_client
from expect import denied
from forwarded import pem_bundle_escaped, pem_escaped
from httpd import locations, new_httpd, quote
from minipki import MiniPKI

P = "1.3.6.1.4.1.55555.9.1"
Q = "1.3.6.1.4.1.55555.9.2"
FRESHEST = "http://crl.example/dca-delta.crl"


@pytest.fixture(scope="module")
def m(workroot):
    m = MiniPKI(os.path.join(workroot, "pathpki-%d" % os.getpid()))
    m.ca("r1", "/O=Path Test/CN=Path Root 1")
    m.ca("r2", "/O=Path Test/CN=Path Root 2")
    m.ca("a1x", "/O=Path Test/CN=Path Issuing A", issuer="r1", dates="expired")
    m.ca("a2", "/O=Path Test/CN=Path Issuing A", issuer="r2", key="a1x")
    m.leaf("alice-p", "/O=Path Test/CN=alice-p", issuer="a2")
    m.ca("pq", "/O=Path Test/CN=Policy Q explicit", issuer="r1",
         ext=["certificatePolicies = " + Q,
              "policyConstraints = requireExplicitPolicy:0"])
    m.ca("q0", "/O=Path Test/CN=Policy Q", issuer="r1",
         ext=["certificatePolicies = " + Q])
    m.ca("pp", "/O=Path Test/CN=Policy any", issuer="r1",
         ext=["certificatePolicies = 2.5.29.32.0"])
    m.leaf("pol-explicit", "/O=Path Test/CN=pol-explicit", issuer="pq",
           ext=["certificatePolicies = " + P])
    m.leaf("pol-q", "/O=Path Test/CN=pol-q", issuer="pq",
           ext=["certificatePolicies = " + Q])
    m.leaf("pol-noexplicit", "/O=Path Test/CN=pol-noexplicit", issuer="q0",
           ext=["certificatePolicies = " + P])
    m.leaf("pol-good", "/O=Path Test/CN=pol-good", issuer="pp",
           ext=["certificatePolicies = " + P])
    m.ca("s2", "/O=Path Test/CN=Sub 2", issuer="pp",
         ext=["certificatePolicies = 2.5.29.32.0"])
    m.leaf("d3", "/O=Path Test/CN=d3", issuer="s2")
    m.leaf("d1", "/O=Path Test/CN=d1", issuer="r1")
    m.ca("dca", "/O=Path Test/CN=Delta CA", issuer="r1")
    m.leaf("dok", "/O=Path Test/CN=dok", issuer="dca")
    m.leaf("drev", "/O=Path Test/CN=drev", issuer="dca")
    base = m.crl("dca", "dca-base.crl.pem", 0x10,
                 ["freshestCRL = URI:" + FRESHEST])
    m.revoke("dca", "drev")
    delta = m.crl("dca", "dca-delta.crl.pem", 0x11,
                  ["2.5.29.27 = critical,DER:02:01:10"])
    # a CA whose delta CRL (made before anything was revoked) lists nothing,
    # and whose base CRL revokes drev2: the delta must not stand in for it
    m.ca("dca2", "/O=Path Test/CN=Delta CA 2", issuer="r1")
    m.leaf("drev2", "/O=Path Test/CN=drev2", issuer="dca2")
    delta2 = m.crl("dca2", "dca2-delta.crl.pem", 0x11,
                   ["2.5.29.27 = critical,DER:02:01:10"])
    m.revoke("dca2", "drev2")
    base2 = m.crl("dca2", "dca2-base.crl.pem", 0x10,
                  ["freshestCRL = URI:" + FRESHEST])
    r1crl = m.crl("r1", "r1.crl.pem", 1)
    m.cat("roots.pem", "r1", "r2")
    m.cat("roots-and-a.pem", "r1", "r2", "a1x", "a2")
    m.cat("reneg-ca.pem", "r1", "r2", "a2", "pp", "s2")
    m.cat("crls.pem", r1crl, base, delta, delta2, base2)
    m.cat("crls-base.pem", r1crl, base)
    return m


def _locs(m, depth):
    user = "AuthType X509\nX509AuthnUser cn\nRequire valid-user\n"
    body = {
        "x509": "",
        "ica-a1x": "X509AuthnRequireIssuingCA " + quote(m["a1x"].cert),
        "ica-a2": "X509AuthnRequireIssuingCA " + quote(m["a2"].cert),
        "ica-r1": "X509AuthnRequireIssuingCA " + quote(m["r1"].cert),
        "ica-r2": "X509AuthnRequireIssuingCA " + quote(m["r2"].cert),
        "pol-p": "X509AuthnRequirePolicy " + P,
        "pol-q": "X509AuthnRequirePolicy " + Q,
        "pol-pq": "X509AuthnRequirePolicy %s %s" % (Q, P),
        "rn-x509": "SSLVerifyClient require",
    }
    if depth:
        body.update({
            "depth1": "X509AuthnMaxDepth 1",
            "depth2": "X509AuthnMaxDepth 2",
            "depth3": "X509AuthnMaxDepth 3",
            "rn-depth2": "SSLVerifyClient require\nX509AuthnMaxDepth 2",
        })
    return locations({k: user + v for k, v in body.items()})


def _vhosts(m):
    fwd = ("X509AuthnTrustedProxy 127.0.0.1\n"
           "X509AuthnHeader X-SSL-Client-Cert\n"
           "X509AuthnChainHeader X-SSL-Client-Chain\n")
    return {
        "pr1": dict(verify="optional", ca=m.path("roots.pem")),
        "pr2": dict(verify="optional", ca=m.path("roots-and-a.pem")),
        "reneg": dict(verify="none", ca=m.path("reneg-ca.pem")),
        "hdr": fwd + "X509AuthnCACertificateFile %s\n" % quote(m.path("roots.pem")),
        "hdr-off": fwd + "X509AuthnHeaderVerify Off\n",
        "hdr-crl": fwd + ("X509AuthnCACertificateFile %s\n"
                          "X509AuthnCARevocationFile %s\n"
                          % (quote(m["r1"].cert), quote(m.path("crls.pem")))),
        "hdr-base": fwd + ("X509AuthnCACertificateFile %s\n"
                           "X509AuthnCARevocationFile %s\n"
                           % (quote(m["r1"].cert), quote(m.path("crls-base.pem")))),
    }


@pytest.fixture(scope="module")
def h(request, workroot, pki, module_so, m):
    """Defects 2-4: configuration that also loads before the fix."""
    srv = new_httpd(request, workroot, pki, module_so, name="pathrules")
    srv.start(locations=_locs(m, False), extra_vhosts=_vhosts(m))
    return srv


@pytest.fixture(scope="module")
def hd(request, workroot, pki, module_so, m):
    """X509AuthnMaxDepth."""
    srv = new_httpd(request, workroot, pki, module_so, name="maxdepth")
    srv.start(locations=_locs(m, True), extra_vhosts=_vhosts(m))
    return srv


def user_of(r):
    return r.headers.get("x-user", "")


def accepted(r, cert):
    assert r.status == 200, r
    assert user_of(r) == cert.cn, r
    assert r.env.get("REMOTE_USER") == cert.cn


def refused(r):
    denied(r)


def fwd_headers(cert, chain=()):
    hs = ["X-SSL-Client-Cert: " + pem_escaped(cert)]
    if chain:
        hs.append("X-SSL-Client-Chain: " + pem_bundle_escaped(chain))
    return hs


def fwd(h, vhost, loc, cert, chain=()):
    return h.get(loc, vhost=vhost, headers=fwd_headers(cert, chain))


# -- defect 2: IssuingCA on a verified path, resumed sessions included ----------

def test_full_handshake_issuing_ca(h, m):
    a = m["alice-p"]
    for vhost in ("pr1", "pr2"):
        accepted(h.get("x509", cert=a, vhost=vhost), a)
        accepted(h.get("ica-a2", cert=a, vhost=vhost), a)
        accepted(h.get("ica-r2", cert=a, vhost=vhost), a)
        refused(h.get("ica-a1x", cert=a, vhost=vhost))
        refused(h.get("ica-r1", cert=a, vhost=vhost))


def _session(h, tmp_path, cert, vhost, tls):
    sess = str(tmp_path / ("sess-%s-%s.pem" % (vhost, tls)))
    r = s_client(h.port(vhost), "/t/x509/env", cert=cert, tls=tls, sess_out=sess)
    assert not r.reused
    accepted(r, cert)

    def resumed(loc):
        r = s_client(h.port(vhost), "/t/%s/env" % loc, tls=tls, sess_in=sess)
        assert r.reused, "session not resumed:\n" + r.raw
        return r
    return resumed


@pytest.mark.parametrize("tls", ["1.2", "1.3"])
def test_resumed_session_does_not_pass_through_refused_ca(h, m, tmp_path, tls):
    """The virtual host trusts the roots only: on a resumed session the chain
    is not there to verify again, so path rules refuse (they used to pass
    through the expired a1x and r1, which share a2's name and key)."""
    a = m["alice-p"]
    resumed = _session(h, tmp_path, a, "pr1", tls)
    accepted(resumed("x509"), a)
    mark = h.log_mark()
    for loc in ("ica-a1x", "ica-r1", "ica-a2", "ica-r2"):
        refused(resumed(loc))
    assert h.wait_log(mark, r"X509AuthnRequireIssuingCA: verified again .*"
                            r"unable to get local issuer certificate", count=4)


@pytest.mark.parametrize("tls", ["1.2", "1.3"])
def test_resumed_session_decided_on_the_path_verified_again(h, m, tmp_path, tls):
    """The store holds r1, r2, the expired a1x and a2: verifying again takes
    the valid a2 and r2, never a1x or r1."""
    a = m["alice-p"]
    resumed = _session(h, tmp_path, a, "pr2", tls)
    for loc in ("ica-a2", "ica-r2", "x509"):
        accepted(resumed(loc), a)
    for loc in ("ica-a1x", "ica-r1"):
        refused(resumed(loc))


def test_header_verified_path(h, m):
    a = m["alice-p"]
    # the proxy forwards both Issuing A certificates: verification takes a2
    for loc, ok in (("x509", True), ("ica-a2", True), ("ica-r2", True),
                    ("ica-a1x", False), ("ica-r1", False)):
        r = fwd(h, "hdr", loc, a, [m["a1x"], m["a2"]])
        accepted(r, a) if ok else refused(r)


def test_header_verify_off_refuses_path_rules(h, m):
    """No path is verified: every path rule refuses, whatever was forwarded,
    and the server said so at startup."""
    a = m["alice-p"]
    accepted(fwd(h, "hdr-off", "x509", a, [m["a1x"], m["a2"]]), a)
    mark = h.log_mark()
    for chain in ([m["a1x"], m["a2"]], [m["a2"]]):
        for loc in ("ica-a1x", "ica-a2", "ica-r1", "ica-r2", "pol-p"):
            refused(fwd(h, "hdr-off", loc, a, chain))
    assert h.wait_log(mark, r"no verified chain \(X509AuthnHeaderVerify Off")
    log = open(os.path.join(h.dir, "logs", "error.log")).read()
    assert "X509AuthnRequireIssuingCA in <Location /t/ica-a1x> of " in log, log[-3000:]
    assert "X509AuthnHeaderVerify Off: no path is verified" in log


# -- defect 3: policies as RFC 5280 6.1 ------------------------------------------

POLICY_CASES = [
    # (leaf, its chain, location, accepted?)
    ("pol-good", ["pp"], "pol-p", True),
    ("pol-good", ["pp"], "pol-pq", True),
    ("pol-explicit", ["pq"], "pol-p", False),     # {Q} sub-CA, requireExplicitPolicy:0
    ("pol-noexplicit", ["q0"], "pol-p", False),   # {Q} sub-CA, no constraint
    ("pol-noexplicit", ["q0"], "pol-pq", False),
    ("pol-q", ["pq"], "pol-q", True),
    ("pol-q", ["pq"], "pol-p", False),
    ("d1", [], "pol-p", False),                   # no policies at all
]


@pytest.mark.parametrize("leaf,chain,loc,ok", POLICY_CASES)
def test_policy_tls(h, m, leaf, chain, loc, ok):
    c = m[leaf]
    r = h.get(loc, cert=c, vhost="pr1")
    accepted(r, c) if ok else refused(r)
    accepted(h.get("x509", cert=c, vhost="pr1"), c)


@pytest.mark.parametrize("leaf,chain,loc,ok", POLICY_CASES)
def test_policy_header(h, m, leaf, chain, loc, ok):
    c = m[leaf]
    # several times: the answer from a shared-cache record (verified digests,
    # whose certificates are looked up again) is the same as the first one
    for _ in range(4):
        r = fwd(h, "hdr", loc, c, [m[n] for n in chain])
        accepted(r, c) if ok else refused(r)


def test_policy_refusal_logged(h, m):
    mark = h.log_mark()
    refused(h.get("pol-p", cert=m["pol-explicit"], vhost="pr1"))
    assert h.wait_log(mark, r"verified path not valid for a policy of "
                            r"X509AuthnRequirePolicy")


# -- defect 4: delta CRLs ---------------------------------------------------------

def test_delta_crl_revokes(h, m):
    mark = h.log_mark()
    for _ in range(3):
        accepted(fwd(h, "hdr-crl", "x509", m["dok"], [m["dca"]]), m["dok"])
        refused(fwd(h, "hdr-crl", "x509", m["drev"], [m["dca"]]))
    assert h.wait_log(mark, r"certificate revoked")
    # the base CRL alone does not list it
    accepted(fwd(h, "hdr-base", "x509", m["drev"], [m["dca"]]), m["drev"])


def test_delta_crl_never_replaces_its_base(h, m):
    """dca2's delta (listing nothing) comes before its base (revoking drev2)
    in the file: OpenSSL without extended CRL support took the delta as
    the complete CRL and let drev2 in."""
    for _ in range(3):
        refused(fwd(h, "hdr-crl", "x509", m["drev2"], [m["dca2"]]))


# -- defect 6: X509AuthnMaxDepth ----------------------------------------------------

DEPTH_CASES = [
    # (leaf, depth of its verified path)
    ("d1", 1), ("alice-p", 2), ("d3", 3),
]


@pytest.mark.parametrize("http2", [False, True], ids=["tls13-keepalive", "h2-streams"])
def test_max_depth_later_requests(hd, m, http2):
    """One connection (TLS 1.3 keep-alive, or HTTP/2 streams): every request
    is checked against its own directory's X509AuthnMaxDepth."""
    for leaf, depth in DEPTH_CASES:
        c = m[leaf]
        locs = ["x509", "depth1", "depth2", "depth3", "x509"]
        out = curl_multi([hd.url("/t/%s/env" % l, "pr1") for l in locs], cert=c,
                         http2=http2)
        assert [o[0] for o in out] == [200, 200 if depth <= 1 else 403,
                                       200 if depth <= 2 else 403, 200, 200], (leaf, out)
        assert all(o[2] == (1 if i == 0 else 0) for i, o in enumerate(out)), out
        assert out[0][1] == ("2" if http2 else "1.1")


def test_max_depth_logged(hd, m):
    mark = hd.log_mark()
    refused(hd.get("depth2", cert=m["d3"], vhost="pr1"))
    assert hd.wait_log(mark, r"verified path of depth 3 deeper than "
                             r"X509AuthnMaxDepth 2 allows")


def _reneg_tool():
    from test_renegotiation import _tool
    return _tool()


def test_max_depth_tls12_renegotiation(hd, m, pki):
    """SSLVerifyClient require in the Location: a TLS 1.2 renegotiation asks
    for the certificate (the client sends the leaf only; the virtual host's
    CA file has the intermediates)."""
    for leaf, ok in (("d3", False), ("d1", True), ("alice-p", True)):
        c = m[leaf]
        args = [_reneg_tool(), "127.0.0.1", str(hd.port("reneg")),
                pki["root"].cert, "/t/public/env", "-", "-",
                "/t/rn-depth2/env", c.cert, c.key, "/t/rn-x509/env", c.cert,
                c.key]
        p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=30)
        assert p.returncode == 0, p.stderr.decode()
        out = [tuple(line.split(" ", 1)) for line in p.stdout.decode().splitlines()]
        assert out[0][0] == "200"
        assert out[1] == (("200", c.cn) if ok else ("403", "")), (leaf, out)
        assert out[2] == ("200", c.cn), (leaf, out)


def test_max_depth_header(hd, m):
    for leaf, depth in DEPTH_CASES:
        c = m[leaf]
        chain = {"d1": [], "alice-p": [m["a2"]], "d3": [m["s2"], m["pp"]]}[leaf]
        for loc, limit in (("depth1", 1), ("depth2", 2), ("depth3", 3)):
            r = fwd(hd, "hdr", loc, c, chain)
            accepted(r, c) if depth <= limit else refused(r)


def test_max_depth_header_verify_off(hd, m):
    refused(fwd(hd, "hdr-off", "depth3", m["d1"]))
    accepted(fwd(hd, "hdr-off", "x509", m["d1"]), m["d1"])
