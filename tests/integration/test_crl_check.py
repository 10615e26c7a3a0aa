"""X509AuthnCARevocationCheck chain|leaf|none [no_crl_for_cert_ok] for the
CRL file of forwarded certificates (X509AuthnCARevocationFile): which
certificates of the chain need a CRL, a revoked intermediate against a
revoked leaf, CAs without a CRL, the configuration test's warning for
"none" with a file, and the directive's errors.

A PKI of its own (MiniPKI): root R; issuing CAs A (revoked by R) and B;
leaves a-user (under A), b-user and b-revoked (under B, which revokes
b-revoked).  CRL files: all.pem (R's, A's, B's), noroot.pem (A's and B's),
noa.pem (R's and B's).

All requests come straight from the trusted peer 127.0.0.1.
"""

import os
import re

import pytest

from clients import http_request
from expect import INFO_RX, check_rejection_line
import forwarded as F
from httpd import new_httpd, quote
from minipki import MiniPKI

HDR = "X-SSL-Client-Cert"
CHAIN = "X-SSL-Client-Cert-Chain"

# X509_AUTHN_ERROR in the 403 body
LOC = """<Location /t/crl>
    AuthType X509
    X509AuthnSource header
    Require valid-user
    ErrorDocument 403 "refused: [%{X509_AUTHN_ERROR}]"
</Location>
"""

# vhost -> (X509AuthnCARevocationCheck arguments or None, CRL file)
VHOSTS = {
    "default": (None, "all.pem"),
    "chain": ("chain", "all.pem"),
    "leaf": ("leaf", "all.pem"),
    "none": ("none", "all.pem"),
    "chain-noroot": ("chain", "noroot.pem"),
    "chainok-noroot": ("chain no_crl_for_cert_ok", "noroot.pem"),
    "leaf-noa": ("leaf", "noa.pem"),
    "leafok-noa": ("leaf no_crl_for_cert_ok", "noa.pem"),
}


@pytest.fixture(scope="module")
def m(workroot):
    # under workroot: httpd's children (www-data) read the CRL files
    m = MiniPKI(os.path.join(workroot, "crlcheck-pki-%d" % os.getpid()))
    m.ca("r", "/O=CRL Check/CN=Check Root")
    m.ca("a", "/O=CRL Check/CN=Check CA A", issuer="r")
    m.ca("b", "/O=CRL Check/CN=Check CA B", issuer="r")
    m.leaf("a-user", "/O=CRL Check/CN=a-user", issuer="a")
    m.leaf("b-user", "/O=CRL Check/CN=b-user", issuer="b")
    m.leaf("b-revoked", "/O=CRL Check/CN=b-revoked", issuer="b")
    m.revoke("r", "a")
    m.revoke("b", "b-revoked")
    crl = {n: m.crl(n, n + ".crl.pem", number=5) for n in ("r", "a", "b")}
    m.cat("all.pem", crl["r"], crl["a"], crl["b"])
    m.cat("noroot.pem", crl["a"], crl["b"])
    m.cat("noa.pem", crl["r"], crl["b"])
    m.cat("cas.pem", "r")
    return m


@pytest.fixture(scope="module")
def h(request, workroot, pki, module_so, m):
    srv = new_httpd(request, workroot, pki, module_so, name="crlcheck")
    vh = {}
    for name, (mode, crl) in VHOSTS.items():
        conf = F.trust(chain=CHAIN, ca=m.path("cas.pem"), crl=m.path(crl))
        if mode:
            conf += "X509AuthnCARevocationCheck %s\n" % mode
        vh[name] = conf + LOC
    srv.start(extra_vhosts=vh)
    return srv


def get(h, vhost, m, name):
    c = m[name]
    chain = [m[m.issuer[name]]]
    return http_request(h.port(vhost), "/t/crl/env",
                        [(HDR, F.der_b64(c)),
                         (CHAIN, F.pem_bundle_escaped(chain))])


def accept(h, vhost, m, name):
    r = get(h, vhost, m, name)
    assert r.status == 200, (vhost, name, r, r.text)
    assert r.env["REMOTE_USER"] == "CN=%s,O=CRL Check" % name
    assert r.env["X509_CLIENT_S_DN_CN"] == name
    assert "X509_AUTHN_ERROR" not in r.env


def refuse(h, vhost, m, name, token, reason_rx):
    mark = h.log_mark()
    r = get(h, vhost, m, name)
    assert r.status == 403, (vhost, name, r)
    assert "refused: [%s]" % token in r.text, r.text
    lines = [ln for ln in h.log_lines(mark, INFO_RX) if "X509A0111" in ln]
    assert lines, h.log_since(mark)
    assert re.search(reason_rx, lines[-1]), lines[-1]


REVOKED_A = r"verification failed at depth 1: certificate revoked"
REVOKED_LEAF = r"verification failed at depth 0: certificate revoked"
NO_CRL = r"unable to get certificate CRL"


@pytest.mark.parametrize("vhost", ["default", "chain"])
def test_chain_checks_every_certificate(h, m, vhost):
    """chain (and the default): the root's CRL revokes CA A, so A's users
    are refused; B's CRL revokes b-revoked."""
    refuse(h, vhost, m, "a-user", "revoked", REVOKED_A)
    accept(h, vhost, m, "b-user")
    refuse(h, vhost, m, "b-revoked", "revoked", REVOKED_LEAF)
    # again, from the per-process cache
    refuse(h, vhost, m, "a-user", "revoked", REVOKED_A)


def test_leaf_checks_the_leaf_only(h, m):
    """leaf: a revoked intermediate is not noticed, a revoked leaf is."""
    accept(h, "leaf", m, "a-user")
    accept(h, "leaf", m, "b-user")
    refuse(h, "leaf", m, "b-revoked", "revoked", REVOKED_LEAF)


def test_none_checks_nothing(h, m):
    accept(h, "none", m, "a-user")
    accept(h, "none", m, "b-user")
    accept(h, "none", m, "b-revoked")


def test_chain_needs_every_crl(h, m):
    """chain without the root's CRL: every chain lacks one."""
    refuse(h, "chain-noroot", m, "b-user", "revocation-unknown", NO_CRL)
    refuse(h, "chain-noroot", m, "a-user", "revocation-unknown", NO_CRL)


def test_no_crl_for_cert_ok_chain(h, m):
    """chain no_crl_for_cert_ok without the root's CRL: the CAs pass (A's
    revocation is in the missing CRL), the leaves' CRLs still count."""
    accept(h, "chainok-noroot", m, "b-user")
    accept(h, "chainok-noroot", m, "a-user")
    refuse(h, "chainok-noroot", m, "b-revoked", "revoked", REVOKED_LEAF)


def test_no_crl_for_cert_ok_leaf(h, m):
    """leaf without A's CRL: A's users lack one; with the flag they pass."""
    refuse(h, "leaf-noa", m, "a-user", "revocation-unknown", NO_CRL)
    accept(h, "leaf-noa", m, "b-user")
    accept(h, "leafok-noa", m, "a-user")
    refuse(h, "leafok-noa", m, "b-revoked", "revoked", REVOKED_LEAF)


def test_configtest(h, m):
    base = F.trust(ca=m.path("cas.pem"), crl=m.path("all.pem"))
    rc, out = h.configtest(server_extra=base + "X509AuthnCARevocationCheck none\n")
    assert rc == 0, out
    assert re.search(r"X509A0831: X509AuthnCARevocationCheck on line \d+ of .*: "
                     r"X509AuthnCARevocationFile on line \d+ of .* is not used "
                     r"\(no CRL checks\)", out), out
    rc, out = h.configtest(server_extra=base + "X509AuthnCARevocationCheck chain\n")
    assert rc == 0 and "X509A0831" not in out, out
    for bad, msg in (("sometimes", "'sometimes' is not a mode: use chain, leaf or none"),
                     ("chain no_crl", "'no_crl' is not a flag"),
                     ("", "takes 1-2 arguments")):
        rc, out = h.configtest(server_extra=base + "X509AuthnCARevocationCheck %s\n" % bad)
        assert rc != 0, out
        assert msg in out, out
