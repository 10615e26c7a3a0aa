"""Local verification of forwarded certificates (X509AuthnHeaderVerify On):
trust anchors, dates, clientAuth purpose, CRLs reloaded while running, the
missing-intermediate cases, X509AuthnHeaderVerify Off, X509AuthnVerifyDepth,
X509AuthnExportSSLVars, Require expr and rules in header mode, and the
startup errors of a header mode without trust or without CA.

All requests come straight from the trusted peer 127.0.0.1.

Virtual hosts:
    auto      CA root+A+B, CRLs of root, A, B
    rootonly  CA root only, X509AuthnChainHeader X-SSL-Client-Cert-Chain
    withint   CA root + Issuing CA A (not B)
    capath    X509AuthnCACertificatePath (hashed directory with root, A, B)
    crl       CRL file replaced while running (starts with nothing revoked)
    crlbad    CRL file made unreadable / garbage while running
    crlnoroot CRL file without the root's CRL
    depth0    X509AuthnVerifyDepth 0
    noverify  X509AuthnHeaderVerify Off, no CA at all
"""

import os
import re
import shutil
import subprocess
import time

import pytest

from clients import http_request, curl
from expect import ALICE_DN, BOB_DN, ok, denied, INFO_RX, check_rejection_line
import forwarded as F
from httpd import new_httpd, HttpdError, quote

HDR = "X-SSL-Client-Cert"
CHAIN = "X-SSL-Client-Cert-Chain"


@pytest.fixture(scope="module")
def h(request, workroot, pki, module_so):
    srv = new_httpd(request, workroot, pki, module_so, name="verify")
    srv.write_file("conf/root-a.pem", open(pki["root"].cert).read()
                   + open(pki["issuing-a"].cert).read())
    srv.write_file("conf/crl.pem", open(pki.crl_bundle_unrevoked).read())
    srv.write_file("conf/crl-bad.pem", open(pki.crl_bundle).read())
    srv.write_file("conf/crl-noroot.pem", open(pki.crl["issuing-a"]).read()
                   + open(pki.crl["issuing-b"]).read())
    capath = srv.path("conf/capath")
    os.makedirs(capath, exist_ok=True)
    os.chmod(capath, 0o755)
    for n in ("root", "issuing-a", "issuing-b"):
        shutil.copy(pki[n].cert, os.path.join(capath, n + ".pem"))
        os.chmod(os.path.join(capath, n + ".pem"), 0o644)
    subprocess.run(["openssl", "rehash", capath], check=True)
    for f in os.listdir(capath):
        os.chmod(os.path.join(capath, f), 0o644)

    locs = F.proxy_locations({
        "ica": "AuthType X509\nX509AuthnSource header\n"
               "X509AuthnRequireIssuingCA %s\nRequire valid-user" % quote(pki["issuing-a"].cert),
        "export": "AuthType X509\nX509AuthnSource header\nX509AuthnExportCert On\n"
                  "Require valid-user",
    })
    vh = {
        "auto": F.trust(ca=pki.ca_bundle, crl=pki.crl_bundle) + locs,
        "rootonly": F.trust(chain=CHAIN, ca=pki["root"].cert) + locs,
        "withint": F.trust(ca=srv.path("conf/root-a.pem")) + locs,
        "capath": F.trust() + "X509AuthnCACertificatePath %s\n" % quote(capath) + locs,
        "crl": F.trust(ca=pki.ca_bundle, crl=srv.path("conf/crl.pem")) + locs,
        "crlbad": F.trust(ca=pki.ca_bundle, crl=srv.path("conf/crl-bad.pem")) + locs,
        "crlnoroot": F.trust(ca=pki.ca_bundle, crl=srv.path("conf/crl-noroot.pem")) + locs,
        "depth0": F.trust(ca=pki.ca_bundle, depth=0) + locs,
        "noverify": F.trust(verify=False) + locs,
    }
    srv.start(extra_vhosts=vh, vhost_extra={"main": "SSLOptions +StdEnvVars +ExportCertData"})
    return srv


def get(h, vhost, cert, loc="hdr", chain=None, enc=F.der_b64):
    fields = [(HDR, enc(cert))] if cert is not None else []
    if chain:
        fields.append((CHAIN, F.pem_bundle_escaped(chain)))
    return http_request(h.port(vhost), "/t/%s/env" % loc, fields)


def accept(h, vhost, cert, **kw):
    env = ok(get(h, vhost, cert, **kw), cert.subject)
    assert env["X509_AUTHN_SOURCE"] == "header"
    return env


def reject(h, vhost, cert, reason_rx, one_line=True, **kw):
    """403, and a rejection line with the reason, subject, issuer, serial,
    SHA-256 and the client address."""
    mark = h.log_mark()
    denied(get(h, vhost, cert, **kw))
    lines = h.log_lines(mark, INFO_RX)
    rejections = [ln for ln in lines if "X509A0111" in ln]
    if one_line:
        assert len(lines) == 1, "expected one info line:\n" + "\n".join(lines)
    assert rejections, "no X509A0111 line:\n" + h.log_since(mark)
    check_rejection_line(rejections[-1], cert, reason_rx)
    return rejections[-1]


# -- anchors, dates, purpose --------------------------------------------------------

@pytest.mark.parametrize("name", ["alice", "bob", "root-direct", "smime", "utf8"])
def test_good_certificates(h, pki, name):
    accept(h, "auto", pki[name])


@pytest.mark.parametrize("name,reason", [
    ("lookalike", r"verification failed.*(issuer|signature)"),
    ("selfsigned", r"verification failed.*self.signed"),
    ("expired", r"verification failed.*expired"),
    ("notyet", r"verification failed.*not yet valid"),
    ("revoked", r"verification failed.*revoked"),
    ("serveronly", r"verification failed.*purpose"),
])
def test_bad_certificates(h, pki, name, reason):
    c = pki[name]
    reject(h, "auto", c, reason)
    # again (now the cached verdict): refused and logged the same way
    reject(h, "auto", c, reason)


def test_lookalike_with_its_own_chain(h, pki):
    """Forwarded intermediates (and a forwarded root) are untrusted helpers:
    the lookalike hierarchy does not become an anchor."""
    lk = pki["lookalike"]
    reject(h, "rootonly", lk, r"verification failed",
           chain=[pki["lookalike-a"], pki["lookalike-root"]])
    reject(h, "rootonly", lk, r"verification failed", chain=[pki["lookalike-a"]])


# -- missing intermediate ---------------------------------------------------------------

def test_missing_intermediate(h, pki):
    a = pki["alice"]
    reject(h, "rootonly", a, r"unable to get local issuer certificate")
    # the chain header brings it
    env = accept(h, "rootonly", a, chain=[pki["issuing-a"]])
    assert env["X509_CLIENT_I_DN"] == pki["issuing-a"].subject
    accept(h, "rootonly", pki["bob"], chain=[pki["issuing-b"]])
    # the wrong one does not
    reject(h, "rootonly", a, r"unable to get local issuer certificate",
           chain=[pki["issuing-b"]])


def test_intermediate_in_the_ca_file(h, pki):
    accept(h, "withint", pki["alice"])
    reject(h, "withint", pki["bob"], r"unable to get local issuer certificate")


def test_ca_certificate_path(h, pki):
    accept(h, "capath", pki["alice"])
    accept(h, "capath", pki["bob"])
    reject(h, "capath", pki["lookalike"], r"verification failed")
    reject(h, "capath", pki["expired"], r"expired")


def test_verify_depth_zero(h, pki):
    accept(h, "depth0", pki["root-direct"])
    reject(h, "depth0", pki["alice"], r"verification failed")


def test_crl_without_the_roots_crl(h, pki):
    """With CRLs configured, every CA of the chain needs one."""
    reject(h, "crlnoroot", pki["alice"], r"verification failed.*CRL")


def test_issuing_ca_rule_in_header_mode(h, pki):
    accept(h, "auto", pki["alice"], loc="ica")
    reject(h, "auto", pki["bob"], r"issuing", loc="ica")


# -- CRL file changes while running -------------------------------------------------------

def replace_atomically(path, text):
    tmp = path + ".new"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def settle():
    """The CRL file is looked at no more than once per second."""
    time.sleep(1.3)


def repair(h, path, good):
    """Put the good CRL file back and let the server see it (also when the
    test failed half way, so the next test starts clean)."""
    replace_atomically(path, good)
    settle()
    http_request(h.port("crlbad"), "/t/open/env")
    get(h, "crlbad", None)


def test_crl_replaced_while_running(h, pki):
    path = h.path("conf/crl.pem")
    rv, a = pki["revoked"], pki["alice"]
    accept(h, "crl", rv)
    accept(h, "crl", rv)
    accept(h, "crl", a)
    mark = h.log_mark()
    replace_atomically(path, open(pki.crl_bundle).read())
    settle()
    reject(h, "crl", rv, r"revoked", one_line=False)
    assert h.log_lines(mark, r"\[x509authn:info\].*X509A0305: reloaded CRLs from %s"
                       % re.escape(path)), h.log_since(mark)
    reject(h, "crl", rv, r"revoked")
    accept(h, "crl", a)
    # and back, written in place this time
    with open(path, "w") as f:
        f.write(open(pki.crl_bundle_unrevoked).read())
    settle()
    accept(h, "crl", rv)
    accept(h, "crl", a)


def test_crl_file_unreadable_refuses_everything(h, pki):
    """The CRL file replaced by one httpd's children (www-data) cannot read,
    then removed: every forwarded certificate is refused until it is back,
    also one verified (and cached) before."""
    path = h.path("conf/crl-bad.pem")
    good = open(path).read()
    a = pki["alice"]
    for _ in range(3):
        accept(h, "crlbad", a)
    reject(h, "crlbad", pki["revoked"], r"revoked")
    for breakage in ("unreadable", "removed"):
        mark = h.log_mark()
        if breakage == "unreadable":
            tmp = path + ".new"
            with open(tmp, "w") as f:
                f.write(good)
            os.chmod(tmp, 0o000)
            os.replace(tmp, path)
        else:
            os.unlink(path)
        try:
            settle()
            # never verified in this server before: verified now, against no
            # usable CRLs
            reject(h, "crlbad", pki["multiou" if breakage == "unreadable" else "proxy"],
                   r"CRL", one_line=False)
            assert h.log_lines(mark, r"\[x509authn:error\].*X509A0304"), h.log_since(mark)
            # verified before the file broke
            reject(h, "crlbad", a, r"CRL", one_line=False)
        finally:
            repair(h, path, good)
        accept(h, "crlbad", a)
        accept(h, "crlbad", pki["bob"])


def test_crl_file_garbage_refuses_everything(h, pki):
    path = h.path("conf/crl-bad.pem")
    a = pki["alice"]
    accept(h, "crlbad", a)
    good = open(path).read()
    mark = h.log_mark()
    replace_atomically(path, "this is not a CRL\n")
    try:
        settle()
        reject(h, "crlbad", pki["proxy-other"], r"CRL", one_line=False)
        assert h.log_lines(mark, r"X509A0304"), h.log_since(mark)
        reject(h, "crlbad", a, r"CRL", one_line=False)
    finally:
        repair(h, path, good)
    accept(h, "crlbad", a)


# -- X509AuthnHeaderVerify Off ---------------------------------------------------------

def test_header_verify_off(h, pki):
    with open(h.error_log) as f:
        log = f.read()
    assert re.search(r"\[x509authn:notice\].*X509A0011: X509AuthnHeaderVerify Off", log), \
        "no startup notice X509A0011"
    for name in ("selfsigned", "alice", "lookalike"):
        accept(h, "noverify", pki[name])
    # unverifiable there, refused where verification is on
    reject(h, "auto", pki["selfsigned"], r"verification failed")


# -- variables ---------------------------------------------------------------------------

EXPORTED_SSL_VARS = re.compile(
    r"^SSL_CLIENT_(S_DN.*|I_DN.*|M_SERIAL|M_VERSION|V_START|V_END|V_REMAIN|A_SIG|A_KEY|"
    r"SAN_Email_\d+|SAN_DNS_\d+|SAN_OTHER_msUPN_\d+|VERIFY|CERT)$")


def test_export_ssl_vars_like_mod_ssl(h, pki):
    """X509AuthnExportSSLVars On: the same SSL_CLIENT_* mod_ssl would set for
    this certificate on a direct mutual TLS connection."""
    a = pki["alice"]
    direct = curl(h.url("/t/open/env", "main"), cert=a).env
    assert direct["SSL_CLIENT_VERIFY"] == "SUCCESS"
    env = ok(get(h, "auto", a, loc="ssl"), ALICE_DN)
    assert env["SSL_CLIENT_S_DN"] == a.subject
    assert env["SSL_CLIENT_VERIFY"] == "SUCCESS"
    assert "BEGIN CERTIFICATE" in env["SSL_CLIENT_CERT"]
    want = {k: v for k, v in direct.items() if EXPORTED_SSL_VARS.match(k)}
    assert len(want) > 15, sorted(want)
    got = {k: env.get(k) for k in want}
    got["SSL_CLIENT_CERT"] = "".join((got["SSL_CLIENT_CERT"] or "").split())
    want["SSL_CLIENT_CERT"] = "".join(want["SSL_CLIENT_CERT"].split())
    assert got == want
    # and not without the option, nor on a direct TLS request
    env = ok(get(h, "auto", a, loc="hdr"), ALICE_DN)
    assert not [k for k in env if k.startswith("SSL_")]


def test_export_cert_in_header_mode(h, pki):
    a = pki["alice"]
    env = ok(get(h, "rootonly", a, loc="export", chain=[pki["issuing-a"]]), ALICE_DN)
    assert "".join(env["X509_CLIENT_CERT"].split()) == "".join(a.pem.split())
    assert "".join(env["X509_CLIENT_CERT_CHAIN_0"].split()) == \
        "".join(pki["issuing-a"].pem.split())


def test_require_expr_in_header_mode(h, pki):
    ok(get(h, "auto", pki["alice"], loc="expr-o"), ALICE_DN)
    ok(get(h, "auto", pki["bob"], loc="expr-o"), BOB_DN)
    denied(get(h, "auto", pki["utf8"], loc="expr-o"))     # O=Bücher GmbH
    denied(get(h, "auto", pki["alice"], loc="expr-cn"))
    ok(get(h, "auto", pki["bob"], loc="expr-cn"), BOB_DN)
    denied(get(h, "auto", None, loc="expr-o"))
    # the same header from an untrusted peer
    denied(http_request(h.port("auto"), "/t/expr-o/env", [(HDR, F.der_b64(pki["alice"]))],
                        source="127.0.0.2"))
    # a refused certificate shows nothing to Require expr either
    denied(get(h, "auto", pki["expired"], loc="expr-o"))


# -- startup errors ------------------------------------------------------------------

def start_fails(request, workroot, pki, module_so, name, **kw):
    """httpd must exit at startup.  It binds its ports before post_config
    runs, so Httpd.start() may see them listen for a moment: then wait for
    the exit (or for the line saying that it runs)."""
    srv = new_httpd(request, workroot, pki, module_so, name=name)
    try:
        srv.start(timeout=10, **kw)
    except HttpdError:
        pass
    else:
        deadline = time.time() + 10
        while srv.proc.poll() is None and time.time() < deadline:
            if "resuming normal operations" in srv.log_since(0):
                break
            time.sleep(0.05)
        assert srv.proc.poll() is not None, "httpd started:\n" + srv.log_since(0)
    # refused at check_config, before the error log is opened: stderr only
    log = srv.log_since(0)
    with open(srv.stderr_path) as f:
        log += f.read()
    return log


def test_header_source_without_trust_fails_to_start(request, workroot, pki, module_so):
    log = start_fails(request, workroot, pki, module_so, "notrust", extra_vhosts={
        "x": F.proxy_locations()})
    assert re.search(r"\[x509authn:emerg\].*X509A0010: X509AuthnSource header", log), log


def test_verify_without_ca_fails_to_start(request, workroot, pki, module_so):
    log = start_fails(request, workroot, pki, module_so, "noca", extra_vhosts={
        "x": F.trust() + F.proxy_locations()})
    assert re.search(r"\[x509authn:emerg\].*X509A0012: .*X509AuthnCACertificateFile", log), log
