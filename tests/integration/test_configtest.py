"""Misconfiguration fails `apache2 -t` with the directive, the bad value and why."""

import re

import pytest

from expect import ALICE_DN, A_DN, ok, denied
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


# -- what start-up refuses, refused by apache2 -t (issue 13 item 5) ------------
#
# Each case below was accepted ("Syntax OK") before check_config took these
# checks over from post_config: the server then failed to start.

HDR_LOC = "<Location /t/hdr>\nAuthType X509\nX509AuthnSource header\nRequire valid-user\n</Location>\n"


def line_of(h, text):
    """The line number of the only line of the configtest file holding `text`."""
    with open(h.path("conf/configtest.conf")) as f:
        found = [i + 1 for i, ln in enumerate(f.read().splitlines()) if text in ln]
    assert len(found) == 1, (text, found)
    return found[0]


def refused(h, tag, text, directive, **kw):
    """apache2 -t fails with `tag`, naming `directive` at the file and line of
    the configuration line holding `text`, and the virtual host x."""
    rc, out = h.configtest(**kw)
    assert rc != 0, "apache2 -t accepted it:\n" + out
    assert "Syntax OK" not in out, out
    conf = h.path("conf/configtest.conf")
    at = "%s on line %d of %s" % (directive, line_of(h, text), conf)
    lines = [ln for ln in out.splitlines() if tag + ":" in ln]
    assert lines, out
    assert at in lines[0], "%r not in %s" % (at, lines[0])
    assert "virtual host localhost:%d" % h.port("x") in lines[0], lines[0]
    assert "127.0.0.1:0" not in out and "*:0" not in out, out
    return lines[0]


def test_header_source_without_trusted_proxy_fails_configtest(h):
    refused(h, "X509A0010", "X509AuthnSource header", "X509AuthnSource header",
            extra_vhosts={"x": HDR_LOC})


def test_trusted_proxy_without_ca_fails_configtest(h):
    line = refused(h, "X509A0012", "192.0.2.77", "X509AuthnTrustedProxy",
                   extra_vhosts={"x": "X509AuthnTrustedProxy 192.0.2.77\n" + HDR_LOC})
    assert "X509AuthnCACertificateFile" in line, line


def test_proxy_require_without_ca_fails_configtest(h):
    refused(h, "X509A0012", "X509AuthnProxyRequire", "X509AuthnProxyRequire",
            extra_vhosts={"x": "X509AuthnProxyRequire subject %s\n" % quote("CN=proxy")})


def test_ca_file_holding_a_private_key_fails_configtest(h, pki):
    line = refused(h, "X509A0013", "X509AuthnCACertificateFile", "X509AuthnCACertificateFile",
                   extra_vhosts={"x": "X509AuthnTrustedProxy 192.0.2.77\n"
                                 "X509AuthnCACertificateFile %s\n" % quote(pki["alice"].key)})
    assert pki["alice"].key in line, line


def test_ca_file_of_garbage_fails_configtest(h):
    line = refused(h, "X509A0013", "X509AuthnCACertificateFile", "X509AuthnCACertificateFile",
                   extra_vhosts={"x": "X509AuthnTrustedProxy 192.0.2.77\n"
                                 "X509AuthnCACertificateFile %s\n"
                                 % quote(h.path("conf/garbage.pem"))})
    assert "garbage.pem" in line, line


def test_crl_file_that_is_no_crl_fails_configtest(h, pki):
    line = refused(h, "X509A0013", "X509AuthnCARevocationFile", "X509AuthnCARevocationFile",
                   extra_vhosts={"x": "X509AuthnTrustedProxy 192.0.2.77\n"
                                 "X509AuthnCACertificateFile %s\n"
                                 "X509AuthnCARevocationFile %s\n"
                                 % (quote(pki.ca_bundle), quote(pki["alice"].cert))})
    assert pki["alice"].cert in line and "CRL" in line, line


def test_bad_cache_arguments_fail_configtest(h, pki):
    rc, out = h.configtest(
        server_extra='X509AuthnCache "shmcb:%s(lots)"\n' % h.path("run/x509-cache"),
        extra_vhosts={"x": "X509AuthnTrustedProxy 192.0.2.77\n"
                      "X509AuthnCACertificateFile %s\n" % quote(pki.ca_bundle)})
    assert rc != 0 and "Syntax OK" not in out, out
    at = "X509AuthnCache on line %d of %s" % (line_of(h, "X509AuthnCache"),
                                               h.path("conf/configtest.conf"))
    assert re.search(r"X509A0014: %s: .*size" % re.escape(at), out), out


def test_good_trusted_proxy_configuration_passes(h, pki):
    rc, out = h.configtest(extra_vhosts={"x": "\n".join([
        "X509AuthnTrustedProxy 192.0.2.77",
        "X509AuthnHeader X-Client-Cert pem",
        "X509AuthnChainHeader X-Client-Chain*",
        "X509AuthnCACertificateFile " + quote(pki.ca_bundle),
        "X509AuthnCARevocationFile " + quote(pki.crl_bundle),
        "X509AuthnVerifyDepth 4",
        HDR_LOC])})
    assert rc == 0 and "Syntax OK" in out, out
    assert "X509A0" not in out, out


# -- settings that do nothing: warnings -------------------------------------------

def test_forwarded_settings_without_trusted_proxy_warn(h, pki):
    rc, out = h.configtest(server_extra="X509AuthnHeader X-Client-Cert pem\n",
                           extra_vhosts={"x": "X509AuthnCACertificateFile %s\n"
                                         % quote(pki.ca_bundle)})
    assert rc == 0 and "Syntax OK" in out, out
    conf = h.path("conf/configtest.conf")
    for directive, text in (("X509AuthnHeader", "X509AuthnHeader X-Client-Cert"),
                            ("X509AuthnCACertificateFile", "X509AuthnCACertificateFile")):
        at = "%s on line %d of %s" % (directive, line_of(h, text), conf)
        assert re.search(r"\[x509authn:warn\].*X509A0801: %s does nothing" % re.escape(at),
                         out), out


def test_forwarded_settings_used_somewhere_do_not_warn(h, pki):
    # set in the main server, used by the virtual host that trusts a proxy
    rc, out = h.configtest(
        server_extra="X509AuthnHeader X-Client-Cert pem\nX509AuthnCACertificateFile %s\n"
                     % quote(pki.ca_bundle),
        extra_vhosts={"x": "X509AuthnTrustedProxy 192.0.2.77\n"})
    assert rc == 0 and "Syntax OK" in out, out
    assert "X509A0801" not in out, out


NOSSL_CONF = """ServerRoot "{d}"
DefaultRuntimeDir "{d}/run"
PidFile "{d}/run/nossl.pid"
ServerName localhost
LogLevel warn
ErrorLog "{d}/logs/nossl-error.log"
LoadModule mpm_event_module {m}/mod_mpm_event.so
LoadModule authn_core_module {m}/mod_authn_core.so
LoadModule authz_core_module {m}/mod_authz_core.so
LoadModule x509authn_module "{so}"
Listen 127.0.0.1:{port}
<Location /main>
    AuthType X509
    Require all granted
</Location>
<IfModule mod_ssl.c>
    <Location /ifssl>
        AuthType X509
    </Location>
</IfModule>
<VirtualHost 127.0.0.1:{port}>
    ServerName plain.example
    <Location /plain>
        AuthType X509
    </Location>
</VirtualHost>
<VirtualHost 127.0.0.1:{port}>
    ServerName proxied.example
    {trust}
    X509AuthnCACertificateFile "{ca}"
    <Location /proxied>
        X509Authn On
    </Location>
</VirtualHost>
"""


def nossl_configtest(h, pki, trust):
    from httpd import APACHE2, MODDIR, httpd_env
    import subprocess
    path = h.write_file("conf/nossl.conf", NOSSL_CONF.format(
        d=h.dir, m=MODDIR, so=h.module_so, port=h.port("plain"), ca=pki.ca_bundle,
        trust=trust))
    p = subprocess.run([APACHE2, "-t", "-f", path], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60, env=httpd_env())
    return p.returncode, p.stdout.decode("utf-8", errors="replace"), path


def test_authtype_x509_without_mod_ssl_or_trusted_proxy_warns(h, pki):
    rc, out, path = nossl_configtest(h, pki, "X509AuthnTrustedProxy 192.0.2.77")
    assert rc == 0 and "Syntax OK" in out, out
    warned = [ln for ln in out.splitlines() if "X509A0802" in ln]
    # /main applies to proxied.example too, which trusts a proxy; /ifssl is
    # not in force; proxied.example trusts a proxy
    assert len(warned) == 1, out
    assert ("AuthType X509 on line 24 of %s, in virtual host plain.example:%d"
            % (path, h.port("plain"))) in warned[0], warned
    assert "mod_ssl is not loaded" in warned[0], warned


def test_x509authn_on_without_mod_ssl_or_trusted_proxy_warns(h, pki):
    rc, out, path = nossl_configtest(h, pki, "")
    assert rc == 0 and "Syntax OK" in out, out
    warned = [ln for ln in out.splitlines() if "X509A0802" in ln]
    assert len(warned) == 3, out
    assert "AuthType X509 on line 13 of %s, in the main server" % path in warned[0], warned
    assert "X509Authn On on line 32 of %s, in virtual host proxied.example" % path \
        in warned[2], warned


def test_authtype_x509_with_mod_ssl_does_not_warn(h):
    rc, out = configtest(h, "X509AuthnSource tls")
    assert rc == 0 and "Syntax OK" in out, out
    assert "X509A0802" not in out and "X509A0801" not in out, out


# -- regular expressions: reason, offset, the pattern as written -----------------

@pytest.mark.parametrize("pattern,why", [
    (r"^(\w+@example\.com$", r"at offset 19, the end of the pattern"),
    (r"^[\d+$", r"at offset 6, the end of the pattern"),
    (r"^(\w+)\k$", r"at offset \d+, before '"),
])
def test_bad_user_regex_shows_pattern_and_offset(h, pattern, why):
    rc, out = configtest(h, "X509AuthnUser email %s" % quote(pattern))
    assert rc != 0 and "Syntax OK" not in out, out
    lines = [ln for ln in out.splitlines() if "X509A0805:" in ln]
    assert lines, out
    line = lines[0]
    at = "X509AuthnUser on line %d of %s" % (
        line_of_first(h, "X509AuthnUser email"), h.path("conf/configtest.conf"))
    assert at in line, line
    # as written: one backslash where the configuration has one
    assert "'%s' is not a valid regular expression" % pattern in line, line
    assert "\\\\" not in line, line
    assert re.search(why, line), line


def test_regex_capture_count_shows_pattern_as_written(h):
    rc, out = configtest(h, r"X509AuthnUser email ^\w+@example\.com$")
    assert rc != 0, out
    assert r"'^\w+@example\.com$' must have exactly one capture group" in out, out
    assert "\\\\" not in out, out


def test_bad_user_map_regex_shows_pattern_and_offset(h):
    path = h.write_file("conf/re.map", 'issuer-subject "%s" "^CN=(\\w+\\.x" $1\n' % A_DN)
    rc, out = configtest(h, "X509AuthnUserMap %s" % quote(path))
    assert rc != 0 and "Syntax OK" not in out, out
    lines = [ln for ln in out.splitlines() if "X509A0805:" in ln]
    assert lines, out
    assert "X509AuthnUserMap on line" in lines[0], lines[0]
    assert "re.map:1:" in lines[0], lines[0]
    assert r"'^CN=(\w+\.x'" in lines[0] and "offset 11" in lines[0], lines[0]
    assert "\\\\" not in lines[0], lines[0]


def line_of_first(h, text):
    with open(h.path("conf/configtest.conf")) as f:
        for i, ln in enumerate(f.read().splitlines()):
            if text in ln:
                return i + 1
    raise AssertionError(text)


# -- EKU names in any case ------------------------------------------------------

@pytest.mark.parametrize("name", ["clientauth", "CLIENTAUTH", "ClientAuth",
                                  "msSmartCardLogin", "tls web client authentication"])
def test_eku_names_in_any_case_pass(h, name):
    rc, out = configtest(h, "X509AuthnRequireEKU %s" % quote(name))
    assert rc == 0 and "Syntax OK" in out, out


def test_warnings_reach_the_error_log_once_per_start(h):
    """At start-up the warnings go to the error log (not only to stderr),
    once although httpd reads the configuration twice; again on a graceful
    restart."""
    try:
        h.start(server_extra="X509AuthnHeader X-Client-Cert pem\n")
        rx = r"\[x509authn:warn\].*X509A0801: X509AuthnHeader on line \d+ of %s does nothing" \
            % re.escape(h.conf)
        assert h.wait_log(0, "resuming normal operations"), h.log_since(0)
        assert len(h.log_lines(0, rx)) == 1, h.log_since(0)
        mark = h.log_mark()
        h.reload(server_extra="X509AuthnHeader X-Client-Cert pem\n")
        assert len(h.wait_log(mark, rx)) == 1, h.log_since(mark)
        assert len(h.log_lines(0, rx)) == 2, h.log_since(0)
    finally:
        h.stop()


def test_eku_names_in_any_case_decide_requests(h):
    """clientauth is clientAuth, emailprotection is emailProtection, at
    request time too (not only accepted by the configuration)."""
    try:
        h.start(locations=locations({
            "client": "AuthType X509\nX509AuthnRequireEKU clientauth\nRequire valid-user",
            "email": "AuthType X509\nX509AuthnRequireEKU EMAILPROTECTION\n"
                     "Require valid-user"}))
        ok(h.get("client", "alice"))
        ok(h.get("email", "smime"))
        denied(h.get("email", "alice"))
    finally:
        h.stop()
