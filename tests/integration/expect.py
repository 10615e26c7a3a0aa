"""Expected values and assertion helpers shared by the module tests."""

import re

ROOT_DN = "CN=X509Authn Test Root CA,O=X509Authn Test,C=US"
A_DN = "CN=X509Authn Test Issuing CA A,O=X509Authn Test,C=US"
B_DN = "CN=X509Authn Test Issuing CA B,O=X509Authn Test,C=US"
A_DN_SLASH = "/C=US/O=X509Authn Test/CN=X509Authn Test Issuing CA A"
B_DN_SLASH = "/C=US/O=X509Authn Test/CN=X509Authn Test Issuing CA B"
ALICE_DN = "UID=alice01,CN=alice,OU=Engineering,O=Example Corp,C=US"
ALICE_DN_SLASH = "/C=US/O=Example Corp/OU=Engineering/CN=alice/UID=alice01"
BOB_DN = "emailAddress=bob@example.com,CN=bob,O=Example Corp,C=US"
ALICE_CEA = ('{ serialNumber 4097, issuer rdnSequence:"CN=X509Authn Test Issuing '
             'CA A,O=X509Authn Test,C=US" }')

TAG_RX = re.compile(r"X509A\d{4}:")
INFO_RX = r"\[x509authn:info\]"


def ok(r, user=None):
    """Assert a successful, authenticated answer (optionally as `user`)."""
    assert r.status == 200, r
    env = r.env
    assert env.get("AUTH_TYPE") == "X509", env.get("AUTH_TYPE")
    assert env.get("REMOTE_USER"), "no REMOTE_USER"
    assert r.user == env["REMOTE_USER"]
    if user is not None:
        assert env["REMOTE_USER"] == user
    return env


def denied(r, status=403):
    assert r.status == status, r
    assert r.user == "", "a rejected request has REMOTE_USER %r" % r.user
    return r


def rejection_lines(h, mark, count=1, timeout=3.0):
    return h.wait_log(mark, INFO_RX, count=count, timeout=timeout)


def unescape_log(line):
    """httpd's error log writes bytes >= 0x80 as \\xHH: undo that."""
    def repl(m):
        return bytes.fromhex("".join(m.group(0).split("\\x")[1:])).decode(
            "utf-8", errors="replace")
    return re.sub(r"(?:\\x[0-9a-fA-F]{2})+", repl, line)


def check_rejection_line(line, cert, reason_rx=None):
    """One rejection line: tagged, with the reason, subject, issuer, serial,
    SHA-256 and the client address."""
    line = unescape_log(line)
    assert TAG_RX.search(line), line
    assert 'subject="%s"' % cert.subject in line, line
    assert 'issuer="%s"' % cert.issuer in line, line
    assert re.search(r"serial=(0x)?(%s|%s|%s)\b" % (
        cert.serial_hex, cert.serial_dec,
        ":".join(cert.serial_hex[i:i + 2] for i in range(0, len(cert.serial_hex), 2))),
        line, re.I), line
    m = re.search(r"sha256=([0-9A-Fa-f:]+)", line)
    assert m and m.group(1).replace(":", "").upper() == cert.sha256, line
    assert "127.0.0.1" in line, line
    if reason_rx:
        # the reason must be said outside the certificate description
        rest = line.replace('subject="%s"' % cert.subject, "")
        rest = rest.replace('issuer="%s"' % cert.issuer, "")
        rest = re.sub(r"\b(serial|sha256)=\S+", "", rest)
        rest = re.sub(r"^(\[[^]]*\] ?)+", "", rest)   # time, module, pid, client
        assert re.search(reason_rx, rest, re.I), "reason %r not in %s" % (reason_rx, line)


def assert_rejection_logged(h, mark, cert, reason_rx=None):
    lines = rejection_lines(h, mark)
    assert lines, "no [x509authn:info] rejection line:\n" + h.log_since(mark)
    check_rejection_line(lines[-1], cert, reason_rx)
    return lines
