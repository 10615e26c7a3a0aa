"""The test harness and PKI themselves, with mod_ssl alone (no mod_x509authn).

These pin down the facts the module tests rely on: the PKI's DNs print as
expected, mod_ssl's verdicts for each bad certificate, and that the clients
really do HTTP/2 and TLS session resumption.
"""

import os
import subprocess

import pytest

from clients import curl, s_client
from httpd import new_httpd, locations


@pytest.fixture(scope="module")
def plain_ssl(request, workroot, pki):
    """apache2 with mod_ssl and no mod_x509authn."""
    h = new_httpd(request, workroot, pki, None, name="harness")
    h.start(locations=locations({
        "open": "Require all granted",
        "basic": 'AuthType Basic\nAuthName "t"\nAuthBasicProvider file\n'
                 'AuthUserFile "%s"\nRequire valid-user' % h.passwd,
    }))
    return h


def test_pki_subjects(pki):
    assert pki["root"].subject == "CN=X509Authn Test Root CA,O=X509Authn Test,C=US"
    assert pki["issuing-a"].subject == \
        "CN=X509Authn Test Issuing CA A,O=X509Authn Test,C=US"
    assert pki["issuing-b"].subject == \
        "CN=X509Authn Test Issuing CA B,O=X509Authn Test,C=US"
    assert pki["lookalike-root"].subject == pki["root"].subject
    assert pki["lookalike-a"].subject == pki["issuing-a"].subject
    assert pki["lookalike-a"].spki_sha256 != pki["issuing-a"].spki_sha256
    a = pki["alice"]
    assert a.subject == "UID=alice01,CN=alice,OU=Engineering,O=Example Corp,C=US"
    assert a.subject_legacy == "/C=US/O=Example Corp/OU=Engineering/CN=alice/UID=alice01"
    assert a.issuer == pki["issuing-a"].subject
    assert a.serial_hex == "1001" and a.serial_dec == "4097"
    assert pki["lookalike"].subject == a.subject
    assert pki["bob"].subject == "emailAddress=bob@example.com,CN=bob,O=Example Corp,C=US"
    assert pki["bob"].issuer == pki["issuing-b"].subject
    assert pki["utf8"].subject == "CN=J\u00fcrgen M\u00fcller,O=B\u00fccher GmbH,C=DE"
    # OpenSSL sorts the AVAs of a multi-valued RDN by their DER encoding and
    # prints them reversed: UID first.
    assert pki["escaped"].subject == \
        'UID=jsmith+CN=Smith\\, John,O=ACME \\"Quotes\\" \\\\ Inc,C=US'
    assert pki["multiou"].subject == \
        "CN=carol,CN=Users,OU=Staff,OU=Corp,O=Example Corp,C=US"
    assert pki["root-direct"].issuer == pki["root"].subject


def test_pki_alice_extensions(pki):
    txt = subprocess.run(["openssl", "x509", "-in", pki["alice"].cert, "-noout",
                          "-text"], stdout=subprocess.PIPE, check=True).stdout.decode()
    assert "email:alice@example.com" in txt
    assert "UPN::alice@corp.example.com" in txt
    assert "URI:spiffe://example.com/alice" in txt
    assert "DNS:alice.example.com" in txt
    assert "1.3.6.1.4.1.55555.1.1" in txt
    assert "TLS Web Client Authentication" in txt


def test_pki_is_idempotent(pki):
    from pki import PKI
    before = pki["alice"].sha256
    again = PKI(pki.dir)
    assert again["alice"].sha256 == before


def test_modssl_success_vars(plain_ssl, pki):
    a = pki["alice"]
    r = curl(plain_ssl.url("/t/open/env"), cert=a)
    assert r.status == 200, r
    env = r.env
    assert env["SSL_CLIENT_VERIFY"] == "SUCCESS"
    assert env["SSL_CLIENT_S_DN"] == a.subject
    assert env["SSL_CLIENT_I_DN"] == a.issuer
    assert env["SSL_CLIENT_M_SERIAL"] == a.serial_hex
    assert env["SSL_CLIENT_V_START"] == a.not_before
    assert env["SSL_CLIENT_V_END"] == a.not_after
    assert env["SSL_CLIENT_S_DN_UID"] == "alice01"
    assert env["SSL_CLIENT_SAN_Email_0"] == "alice@example.com"
    assert env["SSL_CLIENT_SAN_OTHER_msUPN_0"] == "alice@corp.example.com"
    assert env["SSL_CLIENT_CERT_RFC4523_CEA"] == (
        '{ serialNumber 4097, issuer rdnSequence:"CN=X509Authn Test Issuing CA A,'
        'O=X509Authn Test,C=US" }')
    assert env["SSL_CLIENT_CERT"].split() == a.pem.split()


def test_modssl_multivalued_names(plain_ssl, pki):
    env = curl(plain_ssl.url("/t/open/env"), cert=pki["multiou"]).env
    assert env["SSL_CLIENT_S_DN_OU"] == "Corp"
    assert env["SSL_CLIENT_S_DN_OU_1"] == "Staff"
    assert env["SSL_CLIENT_S_DN_CN"] == "Users"
    assert env["SSL_CLIENT_S_DN_CN_1"] == "carol"
    env = curl(plain_ssl.url("/t/open/env"), cert=pki["escaped"]).env
    assert env["SSL_CLIENT_S_DN"] == pki["escaped"].subject
    env = curl(plain_ssl.url("/t/open/env"), cert=pki["utf8"]).env
    assert env["SSL_CLIENT_S_DN"] == pki["utf8"].subject
    env = curl(plain_ssl.url("/t/open/env"), cert=pki["bob"]).env
    assert env["SSL_CLIENT_S_DN_Email"] == "bob@example.com"


@pytest.mark.parametrize("name,vhost,verdict", [
    ("lookalike", "mixed", "SUCCESS"),
    ("alice", "mixed", "SUCCESS"),
    ("root-direct", "main", "SUCCESS"),
    ("alice", "noca", "SUCCESS"),
    # optional_no_ca lets the handshake go on for "issuer unknown /
    # self-signed" errors (mod_ssl's "GENEROUS" mode), but with OpenSSL 3
    # SSL_get_verify_result() keeps the error, so mod_ssl reports FAILED:
    ("lookalike", "noca", "FAILED:unable to get local issuer certificate"),
    ("selfsigned", "noca", "FAILED:self-signed certificate"),
])
def test_modssl_verdicts(plain_ssl, pki, name, vhost, verdict):
    r = curl(plain_ssl.url("/t/open/env", vhost), cert=pki[name])
    assert r.status == 200, r
    assert r.env["SSL_CLIENT_VERIFY"] == verdict


@pytest.mark.parametrize("name,vhost,error", [
    ("expired", "main", "certificate has expired"),
    ("notyet", "main", "certificate is not yet valid"),
    ("revoked", "main", "certificate revoked"),
    ("lookalike", "main", "unable to get local issuer certificate"),
    ("selfsigned", "main", "self-signed certificate"),
    ("expired", "noca", "certificate has expired"),
    # OpenSSL verifies a client certificate with the "sslclient" purpose on
    # the server side: a leaf whose EKU lacks clientAuth fails in mod_ssl.
    ("serveronly", "main", "unsuitable certificate purpose"),
    ("serveronly", "noca", "unsuitable certificate purpose"),
])
def test_modssl_optional_aborts_handshake(plain_ssl, pki, name, vhost, error):
    """With SSLVerifyClient optional (and optional_no_ca, for errors other
    than an unknown issuer) mod_ssl's verify callback fails the handshake on
    a bad certificate: no request ever reaches an auth module.  Only
    optional_no_ca lets an unverified certificate through to the request
    (SSL_CLIENT_VERIFY=FAILED:..., see test_modssl_verdicts)."""
    mark = plain_ssl.log_mark()
    r = curl(plain_ssl.url("/t/open/env", vhost), cert=pki[name])
    assert r.status == 0 and r.rc != 0, r
    lines = plain_ssl.wait_log(mark, "Certificate Verification: Error")
    assert lines and error in lines[0], lines


def test_modssl_no_cert(plain_ssl):
    r = curl(plain_ssl.url("/t/open/env"))
    assert r.status == 200
    assert r.env["SSL_CLIENT_VERIFY"] == "NONE"


def test_modssl_require_rejects_bad_cert_in_handshake(plain_ssl, pki):
    r = curl(plain_ssl.url("/t/open/env", "require"), cert=pki["serveronly"])
    assert r.status == 0 and r.rc != 0
    r = curl(plain_ssl.url("/t/open/env", "require"), cert=pki["alice"])
    assert r.status == 200 and r.env["SSL_CLIENT_VERIFY"] == "SUCCESS"


def test_http2(plain_ssl, pki):
    r = curl(plain_ssl.url("/t/open/env"), cert=pki["alice"], http2=True)
    assert r.status == 200 and r.http_version == "2"
    assert r.env["SSL_CLIENT_S_DN_CN"] == "alice"
    assert r.env["SERVER_PROTOCOL"] == "HTTP/2.0"


def test_plain_http(plain_ssl):
    r = curl(plain_ssl.url("/t/open/env", "plain"))
    assert r.status == 200
    assert "SSL_CLIENT_VERIFY" not in r.env


def test_basic_auth(plain_ssl):
    assert curl(plain_ssl.url("/t/basic/env")).status == 401
    r = curl(plain_ssl.url("/t/basic/env"), user="basicuser:s3cret")
    assert r.status == 200 and r.user == "basicuser"
    assert curl(plain_ssl.url("/t/basic/env"), user="basicuser:nope").status == 401


def test_access_log_has_tag(plain_ssl, pki):
    mark = plain_ssl.log_mark("access")
    r = curl(plain_ssl.url("/t/open/env"), cert=pki["alice"])
    lines = plain_ssl.wait_log(mark, r.tag, "access")
    assert len(lines) == 1 and " 200 " in lines[0]


@pytest.mark.parametrize("tls", ["1.2", "1.3"])
def test_session_resumption(plain_ssl, pki, tmp_path, tls):
    sess = str(tmp_path / "sess.pem")
    port = plain_ssl.port("main")
    r1 = s_client(port, "/t/open/env", cert=pki["alice"], tls=tls, sess_out=sess)
    assert r1.status == 200, r1.raw
    assert not r1.reused
    assert r1.protocol == "TLSv" + tls
    assert os.path.getsize(sess) > 0
    r2 = s_client(port, "/t/open/env", tls=tls, sess_in=sess)
    assert r2.reused, r2.raw
    assert r2.status == 200
    env = r2.env
    assert env["SSL_SESSION_RESUMED"] == "Resumed"
    assert env["SSL_CLIENT_VERIFY"] == "SUCCESS"
    assert env["SSL_CLIENT_S_DN"] == pki["alice"].subject


def test_graceful_reload(plain_ssl):
    plain_ssl.reload(locations=plain_ssl.last_conf["locations"] +
                     '<Location /t/gone>\nRequire all denied\n</Location>\n')
    assert curl(plain_ssl.url("/t/gone/env")).status == 403
    assert curl(plain_ssl.url("/t/open/env")).status == 200
