"""Misconfiguration fails `apache2 -t` with the directive, the bad value and why."""

import pytest

from expect import ALICE_DN, A_DN
from httpd import new_httpd, locations, quote


@pytest.fixture(scope="module")
def h(request, workroot, pki, module_so):
    srv = new_httpd(request, workroot, pki, module_so, name="configtest")
    srv.write_file("conf/garbage.pem", "this is not a certificate\n")
    srv.write_file("conf/empty.pem", "")
    return srv


def configtest(h, body):
    return h.configtest(locations=locations({
        "bad": "AuthType X509\n%s\nRequire valid-user" % body}))


def test_good_configuration_passes(h, pki):
    body = "\n".join([
        "X509AuthnSource tls",
        "X509AuthnRequireSubject %s %s" % (quote(ALICE_DN), quote("/C=US/O=X/CN=y")),
        "X509AuthnRequireIssuer " + quote(A_DN),
        "X509AuthnRequireSerial 4097 0x1001 10:01",
        "X509AuthnRequireFingerprint %s sha1:%s sha256:%s" % (
            pki["alice"].sha256, pki["alice"].sha1, pki["alice"].sha256_colons),
        "X509AuthnRequireIssuingCA " + quote(pki["issuing-a"].cert),
        "X509AuthnRequireEKU clientAuth 1.3.6.1.5.5.7.3.4",
        "X509AuthnRequirePolicy 1.3.6.1.4.1.55555.1.1",
        "X509AuthnRequireSPKI sha256:%s %s" % (pki["alice"].spki_sha256,
                                               pki["alice"].spki_sha256_b64),
        r"X509AuthnUser email ^([^@]+)@example\.com$",
        "X509AuthnUser subject:UID",
        "X509AuthnUser cn",
        "X509AuthnExportCert On",
    ])
    rc, out = configtest(h, body)
    assert rc == 0, out
    assert "Syntax OK" in out


def test_good_fallback_configuration_passes(h):
    rc, out = h.configtest(locations=locations({
        "fb": 'AuthType Basic\nAuthName "x"\nAuthBasicProvider file\n'
              'AuthUserFile %s\nX509Authn On\nRequire valid-user' % quote(h.passwd)}))
    assert rc == 0, out


BAD = [
    # (directive, bad value as written in the config, value expected in the message)
    ("X509AuthnRequireSubject", quote("CN=alice,O"), "CN=alice,O"),
    ("X509AuthnRequireSubject", quote("FOOBAR=x,CN=alice"), "FOOBAR=x,CN=alice"),
    ("X509AuthnRequireIssuer", quote("CN=X509Authn Test Issuing CA A,=US"),
     "CN=X509Authn Test Issuing CA A,=US"),
    ("X509AuthnRequireSerial", "0xZZ", "0xZZ"),
    ("X509AuthnRequireSerial", "12abc", "12abc"),
    ("X509AuthnRequireFingerprint", "sha256:XYZ123", "XYZ123"),
    ("X509AuthnRequireFingerprint", "sha256:ABCD", "ABCD"),
    ("X509AuthnRequireFingerprint", "md5:00112233445566778899AABBCCDDEEFF", "md5"),
    ("X509AuthnRequireIssuingCA", "/nonexistent/x509authn-ca.pem",
     "/nonexistent/x509authn-ca.pem"),
    ("X509AuthnRequireIssuingCA", "@garbage", "garbage.pem"),
    ("X509AuthnRequireIssuingCA", "@empty", "empty.pem"),
    ("X509AuthnRequireEKU", "frobnicateAuth", "frobnicateAuth"),
    ("X509AuthnRequirePolicy", "1.3.6.x.1", "1.3.6.x.1"),
    ("X509AuthnRequirePolicy", "notAnOid", "notAnOid"),
    ("X509AuthnRequireSPKI", "sha256:nothex!", "nothex!"),
    ("X509AuthnRequireSPKI", "sha256:ABCDEF", "ABCDEF"),
    ("X509AuthnUser", "frobnicate", "frobnicate"),
    ("X509AuthnUser", "subject:NOSUCHATTRIBUTE", "NOSUCHATTRIBUTE"),
    ("X509AuthnUser", r"email ^[^@]+@example\.com$", r"^[^@]+@example\.com$"),
    ("X509AuthnUser", r'cn "(["', "(["),
    ("X509AuthnSource", "bogus", "bogus"),
]


@pytest.mark.parametrize("directive,value,shown", BAD,
                         ids=["%s-%d" % (d, i) for i, (d, _, _) in enumerate(BAD)])
def test_bad_value_fails_configtest(h, directive, value, shown):
    value = value.replace("@garbage", quote(h.path("conf/garbage.pem"))) \
                 .replace("@empty", quote(h.path("conf/empty.pem")))
    rc, out = configtest(h, "%s %s" % (directive, value))
    assert rc != 0, "apache2 -t accepted `%s %s`:\n%s" % (directive, value, out)
    assert "Syntax OK" not in out
    assert directive in out, out
    # the value as written, or quoted C-style (backslashes doubled)
    assert shown in out or shown.replace("\\", "\\\\") in out, out


def test_bad_value_among_good_ones(h, pki):
    rc, out = configtest(h, "X509AuthnRequireSerial 4097 0xZZ 10:01")
    assert rc != 0 and "X509AuthnRequireSerial" in out and "0xZZ" in out, out


def test_bad_x509authn_flag(h):
    rc, out = configtest(h, "X509Authn Maybe")
    assert rc != 0 and "X509Authn" in out, out
