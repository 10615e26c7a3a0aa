"""Only a certificate mod_ssl verified (SSL_CLIENT_VERIFY=SUCCESS) logs in.

What mod_ssl 2.4 + OpenSSL 3 actually do with a bad client certificate
(pinned down in test_harness.py):

* ``SSLVerifyClient optional`` / ``require``: an expired, not-yet-valid,
  revoked (SSLCARevocationCheck chain), untrusted-CA or serverAuth-only
  certificate fails the TLS handshake itself; no request reaches the module.
  These tests check that nothing is ever authenticated for them.
* ``SSLVerifyClient optional_no_ca``: a certificate whose issuer is unknown,
  or a self-signed one, is let through ("GENEROUS" mode), and mod_ssl reports
  ``SSL_CLIENT_VERIFY=FAILED:unable to get local issuer certificate`` (the
  string "GENEROUS" is not reached with OpenSSL 3, whose verify result keeps
  the error).  The module must reject these with 403.
"""

import pytest

from expect import ALICE_DN, ok, denied, assert_rejection_logged
from httpd import start_httpd, locations

LOCS = {
    "x509": "AuthType X509\nRequire valid-user",
    "granted": "AuthType X509\nRequire all granted",
    "issuer": 'AuthType X509\nX509AuthnRequireIssuer '
              '"CN=X509Authn Test Issuing CA A,O=X509Authn Test,C=US"\nRequire valid-user',
    "noauth": "Require all granted",
}


@pytest.fixture(scope="module")
def h(request, workroot, pki, module_so):
    return start_httpd(request, workroot, pki, module_so, locations(LOCS), name="verify")


@pytest.mark.parametrize("name", ["lookalike", "selfsigned"])
def test_optional_no_ca_unverified_is_403(h, pki, name):
    # what mod_ssl says about this certificate on this vhost
    verdict = h.get("noauth", name, vhost="noca").env["SSL_CLIENT_VERIFY"]
    assert verdict == "GENEROUS" or verdict.startswith("FAILED:"), verdict
    for loc in ("x509", "granted", "issuer"):
        denied(h.get(loc, name, vhost="noca"))
        r = h.get(loc, name, vhost="noca", http2=True)
        assert r.http_version == "2"
        denied(r)


def test_optional_no_ca_unverified_rejection_logged(h, pki):
    mark = h.log_mark()
    denied(h.get("x509", "lookalike", vhost="noca"))
    assert_rejection_logged(h, mark, pki["lookalike"],
                            r"verif|FAILED|GENEROUS|trust|SSL_CLIENT_VERIFY")


def test_optional_no_ca_verified_is_ok(h):
    ok(h.get("x509", "alice", vhost="noca"), ALICE_DN)
    ok(h.get("issuer", "alice", vhost="noca"), ALICE_DN)
    denied(h.get("x509", vhost="noca"))


@pytest.mark.parametrize("vhost", ["main", "require"])
@pytest.mark.parametrize("name", ["expired", "notyet", "revoked", "lookalike",
                                  "selfsigned", "serveronly"])
def test_bad_certificate_never_authenticates(h, pki, vhost, name):
    for loc in ("x509", "granted"):
        mark = h.log_mark("access")
        r = h.get(loc, name, vhost=vhost)
        # mod_ssl aborts the handshake (status 0); were a request to get
        # through, the module would have to refuse it
        assert r.status in (0, 403), r
        assert r.user == ""
        logged = h.wait_log(mark, 'tag="%s"' % r.tag, "access", timeout=0.3)
        assert not [ln for ln in logged if " 200 " in ln], logged


@pytest.mark.parametrize("name", ["expired", "serveronly"])
def test_bad_certificate_on_optional_no_ca(h, name):
    r = h.get("granted", name, vhost="noca")
    assert r.status in (0, 403), r
    assert r.user == ""


def test_no_certificate(h):
    for vhost in ("main", "noca", "mixed"):
        denied(h.get("x509", vhost=vhost))
        denied(h.get("granted", vhost=vhost))
