"""X509_AUTHN_ERROR: why the certificate was not taken, as a short stable token
(docs/directives.md, "Refusal reasons"), for every refusal the module decides.

Each token is produced at least once against the real apache2 and read back
where an operator reads it: the access log (%{X509_AUTHN_ERROR}e), the CGI
environment of a password login under "X509Authn On", an ErrorDocument CGI
(REDIRECT_X509_AUTHN_ERROR, which httpd copies into the redirected request),
an ErrorDocument text made from ap_expr (%{X509_AUTHN_ERROR}), and mod_headers
(expr=%{X509_AUTHN_ERROR}).  A login leaves no X509_AUTHN_ERROR.

Servers (one httpd):
    main      direct TLS (SSLVerifyClient optional, CRLs): no-certificate,
              the rule:* tokens, unmapped, no-user-name, fallback
    noca      SSLVerifyClient optional_no_ca: not-verified
    fwd       plain HTTP, trusts 127.0.0.1 (127.0.0.2 is untrusted), CA
              root+A+B and their CRLs: untrusted-peer, decode-error,
              no-certificate, chain-invalid, expired, not-yet-valid, revoked,
              not-a-client-certificate; the shared cache (shmcb, no
              per-process entries) answers the second time: same token
    fwdcrl    as fwd with its own CRL file, made unusable while running:
              revocation-unknown
    preq      TLS, trusts 127.0.0.1 whose certificate must be the load
              balancer's (X509AuthnProxyRequire): proxy-refused
"""

import base64
import os
import re
import subprocess
import time

import pytest

import forwarded as F
from clients import curl, curl_multi, http_request
from expect import ALICE_DN, B_DN, ok
from httpd import location, locations, new_httpd, quote

UNTRUSTED = "127.0.0.2"
HDR = "X-SSL-Client-Cert"
ERRDOC = "/t/errdoc/env"
HIT_RX = r"X509A0303"

HEADER_LOCS = """
<Location /t/hdr>
    AuthType X509
    X509AuthnSource header
    Require valid-user
</Location>
<Location /t/hdr-ed>
    AuthType X509
    X509AuthnSource header
    ErrorDocument 403 %s
    Require valid-user
</Location>
""" % ERRDOC


def _locs(h, pki):
    a, b = pki["alice"], pki["bob"]
    basic = ('AuthType Basic\nAuthName "fallback"\nAuthBasicProvider file\n'
             'AuthUserFile %s\n' % quote(h.passwd))
    x509 = "AuthType X509\nRequire valid-user\n"
    return {
        "x": x509,
        "x-ed": x509 + "ErrorDocument 403 %s\n" % ERRDOC,
        "x-expr": x509 + 'ErrorDocument 403 "refused: [%{X509_AUTHN_ERROR}] '
                         '[%{ENV:X509_AUTHN_ERROR}]"\n',
        "errdoc": "Require all granted",
        # one rule kind each, which alice fails
        "r-subj": x509 + "X509AuthnRequireSubject %s\n" % quote("CN=nobody,O=Nowhere,C=US"),
        "r-iss": x509 + "X509AuthnRequireIssuer %s\n" % quote(B_DN),
        "r-iss-ed": x509 + "X509AuthnRequireIssuer %s\nErrorDocument 403 %s\n"
                    % (quote(B_DN), ERRDOC),
        "r-ser": x509 + "X509AuthnRequireSerial 0x9999\n",
        "r-fp": x509 + "X509AuthnRequireFingerprint sha256:%s\n" % b.sha256,
        "r-spki": x509 + "X509AuthnRequireSPKI sha256:%s\n" % b.spki_sha256,
        "r-eku": x509 + "X509AuthnRequireEKU emailProtection\n",
        "r-pol": x509 + "X509AuthnRequirePolicy 1.3.6.1.4.1.55555.1.9\n",
        "r-ica": x509 + "X509AuthnRequireIssuingCA %s\n" % quote(pki["issuing-b"].cert),
        "r-depth": x509 + "X509AuthnMaxDepth 1\n",
        # the user map knows bob only
        "map": x509 + "X509AuthnUserMap %s\nX509AuthnUserMapRequired On\n"
               % quote(h.path("conf/bob.map")),
        # bob has no UPN
        "upn": x509 + "X509AuthnUser upn\n",
        # X509Authn On: the password prompt and the password login see why
        "fb": basic + "X509Authn On\nErrorDocument 401 %s\nRequire valid-user" % ERRDOC,
        "fb-iss": basic + "X509Authn On\nX509AuthnRequireIssuer %s\n"
                  "ErrorDocument 401 %s\nRequire valid-user" % (quote(B_DN), ERRDOC),
    }


@pytest.fixture(scope="module")
def h(request, workroot, pki, module_so, loopback_aliases):
    srv = new_httpd(request, workroot, pki, module_so, name="reason")
    srv.write_file("conf/bob.map", "fingerprint sha256:%s bob-mapped\n" % pki["bob"].sha256)
    with open(pki.crl_bundle) as f:
        srv.write_file("conf/crl.pem", f.read())
    proxy = pki["proxy"]
    vh = {
        "fwd": F.trust("127.0.0.1", ca=pki.ca_bundle, crl=pki.crl_bundle) + HEADER_LOCS,
        "fwdcrl": F.trust("127.0.0.1", ca=pki.ca_bundle, crl=srv.path("conf/crl.pem"))
        + HEADER_LOCS,
        "preq": dict(verify="optional", crl=True,
                     conf=F.trust("127.0.0.1", ca=pki.ca_bundle,
                                  require=[("subject", proxy.subject)]) + HEADER_LOCS),
    }
    server_extra = (
        # the shared cache answers forwarded chains seen before (no
        # per-process entries in between)
        "X509AuthnCache shmcb 300\nX509AuthnCacheEntries 0\n"
        'Header always set X-Err "expr=%{X509_AUTHN_ERROR}"\n')
    srv.start(locations=locations(_locs(srv, pki)), extra_vhosts=vh,
              server_extra=server_extra)
    return srv


def v1_cert_der_b64(srv, pki):
    """An X.509 v1 client certificate of Issuing CA A (no extensions:
    OpenSSL's verification accepts it for any purpose, the module's leaf
    check does not), base64 DER."""
    d = srv.path("conf")
    key, csr, crt = (os.path.join(d, "v1" + s) for s in (".key", ".csr", ".crt"))
    quiet = dict(check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-out", key], **quiet)
    subprocess.run(["openssl", "req", "-new", "-key", key, "-subj",
                    "/C=US/O=Example Corp/CN=v1cert", "-out", csr], **quiet)
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", pki["issuing-a"].cert,
                    "-CAkey", pki["issuing-a"].key, "-set_serial", "0x3191",
                    "-days", "30", "-out", crt], **quiet)
    der = subprocess.run(["openssl", "x509", "-in", crt, "-outform", "DER"],
                         stdout=subprocess.PIPE, check=True).stdout
    text = subprocess.run(["openssl", "x509", "-in", crt, "-noout", "-text"],
                          stdout=subprocess.PIPE, check=True).stdout.decode()
    assert "Version: 1 (0x0)" in text, text[:300]
    return base64.b64encode(der).decode()


# -- helpers ------------------------------------------------------------------------

def logged(h, r):
    """The err="..." of the request's access-log line."""
    lines = h.wait_log(0, 'tag="%s"' % r.tag, "access")
    assert len(lines) == 1, (r.tag, lines)
    m = re.search(r' err="([^"]*)"$', lines[0])
    assert m, lines[0]
    return m.group(1)


def refused(h, r, token, status=403):
    """A refusal with `token`: status, no user, the access log, mod_headers
    (ap_expr)."""
    assert r.status == status, r
    assert r.user == "", r
    assert logged(h, r) == token
    assert r.headers.get("x-err") == token, r.headers
    return r


def fwd(h, value=None, vhost="fwd", path="/t/hdr/env", source=None):
    fields = [(HDR, value)] if value is not None else []
    return http_request(h.port(vhost), path, fields, source=source)


# -- success: nothing ----------------------------------------------------------------

def test_login_has_no_error(h, pki):
    r = h.get("x", "alice")
    env = ok(r, ALICE_DN)
    assert "X509_AUTHN_ERROR" not in env
    assert logged(h, r) == "-"
    assert r.headers.get("x-err", "") == ""
    # forwarded
    r = fwd(h, F.der_b64(pki["alice"]))
    env = ok(r, ALICE_DN)
    assert "X509_AUTHN_ERROR" not in env
    assert logged(h, r) == "-"
    # X509Authn On with a good certificate
    r = h.get("fb", "alice")
    env = ok(r, ALICE_DN)
    assert "X509_AUTHN_ERROR" not in env
    assert logged(h, r) == "-"


# -- direct TLS ----------------------------------------------------------------------

def test_no_certificate(h):
    refused(h, h.get("x"), "no-certificate")
    # plain HTTP: no TLS at all
    refused(h, h.get("x", vhost="plain"), "no-certificate")


def test_not_verified(h, pki):
    """optional_no_ca lets a self-signed certificate through mod_ssl, which
    says FAILED: mod_ssl's verdict, not the module's."""
    refused(h, h.get("x", "selfsigned", vhost="noca"), "not-verified")


@pytest.mark.parametrize("loc,token", [
    ("r-subj", "rule:Subject"), ("r-iss", "rule:Issuer"), ("r-ser", "rule:Serial"),
    ("r-fp", "rule:Fingerprint"), ("r-spki", "rule:SPKI"), ("r-eku", "rule:EKU"),
    ("r-pol", "rule:Policy"), ("r-ica", "rule:IssuingCA"), ("r-depth", "rule:MaxDepth"),
])
def test_rules(h, loc, token):
    mark = h.log_mark()
    refused(h, h.get(loc, "alice"), token)
    # the rule's own directive is in the log line, as before
    directive = {"rule:MaxDepth": "X509AuthnMaxDepth"}.get(
        token, "X509AuthnRequire" + token.split(":")[1])
    assert h.wait_log(mark, r"X509A0111: .*%s" % directive), h.log_since(mark)


def test_unmapped(h, pki):
    refused(h, h.get("map", "alice"), "unmapped")
    ok(h.get("map", "bob"), "bob-mapped")


def test_no_user_name(h):
    refused(h, h.get("upn", "bob"), "no-user-name")


# -- ErrorDocument -------------------------------------------------------------------

def test_error_document_cgi(h):
    """ErrorDocument 403 to a CGI: REDIRECT_X509_AUTHN_ERROR."""
    r = h.get("x-ed")
    assert r.status == 403, r
    env = r.env
    assert env["REDIRECT_STATUS"] == "403"
    assert env["REDIRECT_X509_AUTHN_ERROR"] == "no-certificate"
    assert logged(h, r) == "no-certificate"
    # mod_headers on the redirected request: the reason of the request it
    # came from
    assert r.headers.get("x-err") == "no-certificate", r.headers
    r = h.get("r-iss-ed", "alice")
    assert r.status == 403, r
    assert r.env["REDIRECT_X509_AUTHN_ERROR"] == "rule:Issuer"
    assert "REMOTE_USER" not in r.env


def test_error_document_expr(h):
    """ErrorDocument 403 "text" with ap_expr: %{X509_AUTHN_ERROR} and
    %{ENV:X509_AUTHN_ERROR}."""
    r = h.get("x-expr", "selfsigned", vhost="noca")
    assert r.status == 403, r
    assert "refused: [not-verified] [not-verified]" in r.text, r.text
    r = h.get("x-expr")
    assert "refused: [no-certificate] [no-certificate]" in r.text, r.text


def test_error_document_forwarded(h, pki):
    r = fwd(h, F.der_b64(pki["revoked"]), path="/t/hdr-ed/env")
    assert r.status == 403, r
    assert r.env["REDIRECT_X509_AUTHN_ERROR"] == "revoked"


# -- X509Authn On: the password prompt and the password login ------------------------

def test_fallback_prompt_says_why(h):
    """The 401 page (an ErrorDocument CGI) sees why the certificate was not
    taken."""
    r = h.get("fb")
    assert r.status == 401, r
    assert r.headers.get("www-authenticate", "").startswith("Basic"), r.headers
    assert r.env["REDIRECT_X509_AUTHN_ERROR"] == "no-certificate"
    assert logged(h, r) == "no-certificate"
    r = h.get("fb-iss", "alice")
    assert r.status == 401, r
    assert r.env["REDIRECT_X509_AUTHN_ERROR"] == "rule:Issuer"
    r = h.get("fb", "selfsigned", vhost="noca")
    assert r.status == 401, r
    assert r.env["REDIRECT_X509_AUTHN_ERROR"] == "not-verified"


def test_fallback_password_login_says_why(h):
    """The password login goes on, and the application can still see why the
    certificate was not taken."""
    r = h.get("fb-iss", "alice", user="basicuser:s3cret")
    assert r.status == 200, r
    env = r.env
    assert env["REMOTE_USER"] == "basicuser" and env["AUTH_TYPE"] == "Basic"
    assert "X509_CLIENT_S_DN" not in env and "X509_AUTHN_SOURCE" not in env
    assert env["X509_AUTHN_ERROR"] == "rule:Issuer"
    assert logged(h, r) == "rule:Issuer"
    assert r.headers.get("x-err") == "rule:Issuer"
    r = h.get("fb", user="basicuser:s3cret")
    assert r.status == 200, r
    assert r.env["X509_AUTHN_ERROR"] == "no-certificate"


# -- forwarded certificates ----------------------------------------------------------

def test_untrusted_peer(h, pki):
    refused(h, fwd(h, F.der_b64(pki["alice"]), source=UNTRUSTED), "untrusted-peer")
    refused(h, fwd(h, source=UNTRUSTED), "untrusted-peer")


def test_forwarded_no_certificate(h):
    refused(h, fwd(h), "no-certificate")


def test_decode_error(h):
    refused(h, fwd(h, "not%20a%20certificate"), "decode-error")


@pytest.mark.parametrize("name,token", [
    ("lookalike", "chain-invalid"), ("selfsigned", "chain-invalid"),
    ("expired", "expired"), ("notyet", "not-yet-valid"), ("revoked", "revoked"),
    ("serveronly", "not-a-client-certificate"),
])
def test_forwarded_verification(h, pki, name, token):
    """Local verification: the token comes from OpenSSL's error code.  The
    second time the shared cache (shmcb) answers, with the same token."""
    value = F.der_b64(pki[name])
    refused(h, fwd(h, value), token)
    mark = h.log_mark()
    r = refused(h, fwd(h, value), token)
    assert h.wait_log(mark, HIT_RX), "not answered by the shared cache:\n" + \
        h.log_since(mark)
    assert r.status == 403


def test_not_a_client_certificate_leaf_check(h, pki):
    """A v1 certificate verifies; the module's own leaf check refuses it."""
    mark = h.log_mark()
    refused(h, fwd(h, v1_cert_der_b64(h, pki)), "not-a-client-certificate")
    assert h.wait_log(mark, r"X509A0111: certificate rejected: not an X\.509 v3"), h.log_since(mark)


def test_revocation_unknown(h, pki):
    value = F.der_b64(pki["alice"])
    ok(fwd(h, value, vhost="fwdcrl"), ALICE_DN)
    good = open(h.path("conf/crl.pem")).read()
    h.write_file("conf/crl.pem", "not a CRL\n")
    try:
        time.sleep(1.2)       # the module looks at the file once a second
        refused(h, fwd(h, value, vhost="fwdcrl"), "revocation-unknown")
        refused(h, fwd(h, F.der_b64(pki["bob"]), vhost="fwdcrl"), "revocation-unknown")
    finally:
        h.write_file("conf/crl.pem", good)
    time.sleep(1.2)
    ok(fwd(h, value, vhost="fwdcrl"), ALICE_DN)


def test_proxy_refused(h, pki):
    """The peer's address is trusted, but its certificate is not the load
    balancer's (X509AuthnProxyRequire)."""
    url = h.url("/t/hdr/env", "preq")
    hdr = ["%s: %s" % (HDR, F.der_b64(pki["alice"]))]
    r = curl(url, cert=pki["bob"], headers=hdr)
    refused(h, r, "proxy-refused")
    # without a certificate it is merely not a trusted proxy
    refused(h, curl(url, headers=hdr), "untrusted-peer")
    # the load balancer itself forwards
    ok(curl(url, cert=pki["proxy"], headers=hdr), ALICE_DN)


# -- HTTP/2: streams of one connection --------------------------------------------

def test_http2_streams(h, pki):
    """Streams of one HTTP/2 connection share its verified certificate (the
    connection's entry); each stream's refusal reason is its own: a login
    after a refusal on the same connection carries none, and the reason of
    one stream never shows in another."""
    locs = ["x", "r-subj", "x", "r-iss", "map", "r-ser", "x", "r-fp", "x"]
    want = ["", "rule:Subject", "", "rule:Issuer", "unmapped", "rule:Serial", "",
            "rule:Fingerprint", ""]
    res = curl_multi([h.url("/t/%s/env" % loc) for loc in locs], cert=pki["alice"],
                     http2=True, show="x-err")
    assert len(res) == len(locs), res
    assert [r[1] for r in res] == ["2"] * len(locs), res
    assert sum(r[2] for r in res) == 1, res          # one connection
    assert [r[3] for r in res] == want, res
    assert [r[0] for r in res] == [200 if not w else 403 for w in want], res
