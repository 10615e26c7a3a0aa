"""Resumed TLS sessions (TLS 1.2 and 1.3, openssl s_client -sess_out/-sess_in).

On a resumed session OpenSSL has the peer certificate but no verified chain,
so chain-based rules (X509AuthnRequireIssuingCA) must still be decided
correctly, by certificate and not by name: the lookalike CA must still fail.
"""

import pytest

from clients import s_client
from expect import A_DN, ALICE_DN, ok, denied, assert_rejection_logged
from httpd import start_httpd, locations, quote

TLS = ["1.2", "1.3"]


def _locs(pki):
    body = {
        "x509": "",
        "iss-a": "X509AuthnRequireIssuer " + quote(A_DN),
        "ica-a": "X509AuthnRequireIssuingCA " + quote(pki["issuing-a"].cert),
        "ica-b": "X509AuthnRequireIssuingCA " + quote(pki["issuing-b"].cert),
        "ica-root": "X509AuthnRequireIssuingCA " + quote(pki["root"].cert),
        "ica-lookalike-a": "X509AuthnRequireIssuingCA " + quote(pki["lookalike-a"].cert),
        "ica-lookalike-root": "X509AuthnRequireIssuingCA " +
                              quote(pki["lookalike-root"].cert),
        "export": "X509AuthnExportCert On",
    }
    return {k: "AuthType X509\n%s\nRequire valid-user" % v for k, v in body.items()}


@pytest.fixture(scope="module")
def h(request, workroot, pki, module_so):
    return start_httpd(request, workroot, pki, module_so, locations(_locs(pki)),
                       name="resume")


def session(h, tmp_path, cert, tls, vhost="main", first="x509"):
    """Full handshake with `cert` (checked to succeed on `first`), then return
    a function doing requests on resumed sessions."""
    sess = str(tmp_path / ("sess-%s-%s.pem" % (cert.name, tls)))
    r = s_client(h.port(vhost), "/t/%s/env" % first, cert=cert, tls=tls, sess_out=sess)
    assert r.protocol == "TLSv" + tls, r.raw
    assert not r.reused
    ok(r, cert.subject)

    def resumed(loc):
        r = s_client(h.port(vhost), "/t/%s/env" % loc, tls=tls, sess_in=sess)
        assert r.reused, "session not resumed:\n" + r.raw
        assert r.protocol == "TLSv" + tls
        return r
    return resumed


@pytest.mark.parametrize("tls", TLS)
def test_resumed_alice(h, pki, tmp_path, tls):
    resumed = session(h, tmp_path, pki["alice"], tls)
    r = resumed("x509")
    env = ok(r, ALICE_DN)
    assert env["SSL_SESSION_RESUMED"] == "Resumed"
    assert env["X509_CLIENT_S_DN"] == ALICE_DN
    assert env["X509_CLIENT_I_DN"] == A_DN
    assert env["X509_AUTHN_SOURCE"] == "tls"
    for loc in ("iss-a", "ica-a", "ica-root"):
        ok(resumed(loc), ALICE_DN)
    for loc in ("ica-b", "ica-lookalike-a", "ica-lookalike-root"):
        denied(resumed(loc))


@pytest.mark.parametrize("tls", TLS)
def test_resumed_alice_rules_decided_fresh(h, pki, tmp_path, tls):
    """The first request on the full handshake is rejected; the session
    resumed later is still alice's and passes where alice may pass."""
    a = pki["alice"]
    sess = str(tmp_path / "s.pem")
    r = s_client(h.port(), "/t/ica-b/env", cert=a, tls=tls, sess_out=sess)
    assert not r.reused
    denied(r)
    r = s_client(h.port(), "/t/ica-a/env", tls=tls, sess_in=sess)
    assert r.reused
    ok(r, ALICE_DN)


@pytest.mark.parametrize("tls", TLS)
def test_resumed_bob(h, pki, tmp_path, tls):
    b = pki["bob"]
    resumed = session(h, tmp_path, b, tls)
    ok(resumed("ica-b"), b.subject)
    ok(resumed("ica-root"), b.subject)
    denied(resumed("ica-a"))
    denied(resumed("iss-a"))


@pytest.mark.parametrize("tls", TLS)
def test_resumed_lookalike_fails_issuing_ca(h, pki, tmp_path, tls):
    """The lookalike-issued alice on the vhost that trusts both hierarchies."""
    lk = pki["lookalike"]
    sess = str(tmp_path / "lk.pem")
    r = s_client(h.port("mixed"), "/t/ica-a/env", cert=lk, tls=tls, sess_out=sess)
    assert not r.reused
    denied(r)
    mark = h.log_mark()
    r = s_client(h.port("mixed"), "/t/ica-a/env", tls=tls, sess_in=sess)
    assert r.reused, r.raw
    denied(r)
    assert_rejection_logged(h, mark, lk)
    for loc in ("ica-root", "ica-b"):
        denied(s_client(h.port("mixed"), "/t/%s/env" % loc, tls=tls, sess_in=sess))
    # the session itself is fine: name-based rules and its own CA pass
    for loc in ("x509", "iss-a", "ica-lookalike-a", "ica-lookalike-root"):
        r = s_client(h.port("mixed"), "/t/%s/env" % loc, tls=tls, sess_in=sess)
        assert r.reused
        env = ok(r, ALICE_DN)
        assert env["X509_CLIENT_FINGERPRINT_SHA256"] == lk.sha256


@pytest.mark.parametrize("tls", TLS)
def test_resumed_alice_on_mixed_vhost(h, pki, tmp_path, tls):
    """Both Issuing CA A certificates are trusted here: the chain must be
    rebuilt to the one that really issued alice."""
    resumed = session(h, tmp_path, pki["alice"], tls, vhost="mixed", first="ica-a")
    ok(resumed("ica-a"), ALICE_DN)
    ok(resumed("ica-root"), ALICE_DN)
    denied(resumed("ica-lookalike-a"))
    denied(resumed("ica-lookalike-root"))


@pytest.mark.parametrize("tls", TLS)
def test_resumed_export_chain(h, pki, tmp_path, tls):
    resumed = session(h, tmp_path, pki["alice"], tls)
    env = ok(resumed("export"), ALICE_DN)
    assert env["X509_CLIENT_CERT"].split() == pki["alice"].pem.split()
    # the peer's chain is not kept in a TLS session; if the module exports a
    # rebuilt one, it must be the real issuer
    if "X509_CLIENT_CERT_CHAIN_0" in env:
        assert env["X509_CLIENT_CERT_CHAIN_0"].split() == pki["issuing-a"].pem.split()


@pytest.mark.parametrize("tls", TLS)
def test_resumed_without_cert_is_403(h, pki, tmp_path, tls):
    sess = str(tmp_path / "nocert.pem")
    r = s_client(h.port(), "/t/x509/env", tls=tls, sess_out=sess)
    denied(r)
    r = s_client(h.port(), "/t/x509/env", tls=tls, sess_in=sess)
    assert r.reused
    denied(r)
