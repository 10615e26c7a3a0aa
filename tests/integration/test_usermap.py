"""X509AuthnUserMap and X509AuthnUserMapRequired: explicit certificate-to-user
maps (fingerprint, issuer-serial, issuer-subject), first match wins, syntax
errors at startup, graceful restart re-reads the map, a map of 100,000 lines.

The map files live in the server's conf/ directory; LogLevel x509authn:trace1
makes the module log which map line matched (X509A0103), so the tests can
tell which rule won, not only which name came out.
"""

import os
import random
import re
import time

import pytest

from expect import (A_DN, A_DN_SLASH, B_DN, B_DN_SLASH, INFO_RX,
                    ok, denied, check_rejection_line, rejection_lines)
from httpd import new_httpd, locations, quote

NOT_MAPPED_RX = (r"X509A0111: certificate rejected: not mapped by "
                 r"X509AuthnUserMap")


def colons(hexstr):
    return ":".join(hexstr[i:i + 2] for i in range(0, len(hexstr), 2))


def maps(pki):
    """name -> map file text."""
    alice, bob, utf8, carol, esc = (pki[n] for n in
                                    ("alice", "bob", "utf8", "multiou", "escaped"))
    return {
        # -- one kind per file ------------------------------------------------
        "fp.map": "\n".join([
            "# fingerprints, in every spelling the rules accept",
            "fingerprint sha256:%s alice-sha256" % colons(alice.sha256).lower(),
            "fingerprint   SHA1:%s\tbob-sha1   # trailing comment" % bob.sha1,
            "fingerprint %s utf8-sha1-noprefix" % colons(utf8.sha1),
            "fingerprint %s carol-sha256-noprefix" % carol.sha256.lower(),
            '"fingerprint" "sha256:%s" "smith, john"' % " ".join(
                esc.sha256[i:i + 8] for i in range(0, 64, 8)),
            "",
        ]),
        "is.map": "\n".join([
            "# issuer-serial: DN in slash or RFC 4514 form; decimal, 0x, colons",
            'issuer-serial "%s" %d alice-is-dec' % (A_DN_SLASH, alice.serial),
            'issuer-serial "%s" 0x%X bob-is-hex' % (B_DN, bob.serial),
            'issuer-serial "%s" %s carol-is-colon' % (A_DN_SLASH,
                                                      colons(carol.serial_hex)),
            # letter case, spaces after commas, leading zeros
            'issuer-serial "cn=x509authn test issuing ca a, o=X509AUTHN TEST, c=us" '
            '0x0000%X utf8-is-case' % utf8.serial,
            # the right serial under the wrong issuer maps nothing
            'issuer-serial "%s" %d escaped-wrong-issuer' % (B_DN, esc.serial),
            "",
        ]),
        "subj.map": "\n".join([
            "# issuer-subject: regular expressions, captures, quoting",
            'issuer-subject "%s" "^UID=([^,]+),CN=([^,]+),OU=Engineering," '
            'eng-$2-$1' % A_DN_SLASH,
            'issuer-subject "%s" "^CN=([^,#]+),CN=Users,OU=Staff," staff-$1' % A_DN,
            'issuer-subject "%s" "^CN=([^,]+),O=B" "de $1"' % A_DN,
            'issuer-subject "%s" "^emailAddress=([^@]+)@example\\.com," '
            'cost$$center-$1' % B_DN_SLASH,
            # inside quotes \" is a quote and a backslash is itself: the
            # regex is  O=ACME \\"Quotes\\"  and matches  O=ACME \"Quotes\"
            'issuer-subject "%s" "O=ACME \\\\\\"Quotes\\\\\\" " '
            '"acme \\"quoted\\""' % A_DN,
            # another issuer's rule never applies to CA A's certificates
            'issuer-subject "%s" "^CN=smime," wrong-issuer' % B_DN,
            "",
        ]),
        # -- first match wins, across kinds -----------------------------------
        "order.map": "\n".join([
            "# line 1",
            'issuer-subject "%s" "^UID=alice01," alice-by-subject' % A_DN,   # 2
            "fingerprint sha256:%s alice-by-fp" % alice.sha256,              # 3
            'issuer-serial "%s" 0x1001 alice-by-is' % A_DN,                  # 4
            'issuer-serial "%s" 0x2002 bob-by-is' % B_DN,                    # 5
            "fingerprint sha1:%s bob-by-fp" % bob.sha1,                      # 6
            'issuer-subject "%s" ".*" bob-by-subject' % B_DN,                # 7
            "fingerprint sha256:%s carol-by-fp" % carol.sha256,              # 8
            'issuer-subject "%s" "^CN=carol," carol-by-subject' % A_DN,      # 9
            'issuer-serial "%s" 0x3008 carol-by-is' % A_DN,                  # 10
            "fingerprint sha256:%s alice-dup" % alice.sha256,                # 11
            'issuer-subject "%s" "^CN=smime," smime-first' % A_DN,           # 12
            'issuer-subject "%s" "smime" smime-second' % A_DN,               # 13
            "",
        ]),
        # -- first match wins within a kind, and with non-matching lines ----
        "order2.map": "\n".join([
            "fingerprint sha1:%s bob-sha1-first" % bob.sha1,                      # 1
            "fingerprint sha256:%s bob-sha256" % bob.sha256,                      # 2
            "fingerprint sha256:%s alice-first" % alice.sha256,                   # 3
            "fingerprint %s alice-second" % colons(alice.sha256),                 # 4
            'issuer-serial "%s" 0x3008 carol-is-first' % A_DN,                    # 5
            'issuer-serial "%s" %d carol-is-second' % (A_DN_SLASH, carol.serial), # 6
            'issuer-subject "%s" "^CN=carol," carol-subj' % A_DN,                 # 7
            'issuer-subject "%s" "^CN=nomatch," nobody' % A_DN,                   # 8
            "fingerprint sha256:%s utf8-fp" % utf8.sha256,                        # 9
            'issuer-subject "%s" "^CN=J" utf8-subj' % A_DN,                       # 10
            "",
        ]),
    }


def _locs(h):
    def m(name):
        return quote(h.path("conf/" + name))
    req = "AuthType X509\nX509AuthnUserMap %s\nX509AuthnUserMapRequired On\n"
    issuing_a = h.pki.cert("issuing-a").cert
    return {
        "m-fp": req % m("fp.map") + "Require valid-user",
        "m-is": req % m("is.map") + "Require valid-user",
        "m-subj": req % m("subj.map") + "Require valid-user",
        # a relative path is relative to ServerRoot
        "m-rel": req % "conf/fp.map" + "Require valid-user",
        "m-order2": req % m("order2.map") + "Require valid-user",
        "m-order": ("AuthType X509\nX509AuthnUserMap %s\nX509AuthnUser cn\n"
                    "Require valid-user" % m("order.map")),
        "m-off": ("AuthType X509\nX509AuthnUserMap %s\nX509AuthnUserMapRequired Off\n"
                  "X509AuthnUser subject:UID\nX509AuthnUser cn\nRequire valid-user"
                  % m("is.map")),
        "m-default": ("AuthType X509\nX509AuthnUserMap %s\nX509AuthnUser cn\n"
                      "Require valid-user" % m("fp.map")),
        "m-require-user": req % m("fp.map") + "Require user alice-sha256",
        "m-rule": req % m("fp.map") + "X509AuthnRequireIssuer %s\nRequire valid-user"
                                      % quote(B_DN),
        "m-pinned": req % m("is.map") + "X509AuthnRequireIssuingCA %s\n"
                                        "Require valid-user" % quote(issuing_a),
        # nested: the map is inherited, Required is overridden
        "m-fp/sub": "X509AuthnUserMapRequired Off\nX509AuthnUser cn",
        "m-fallback": ('AuthType Basic\nAuthName "map"\nAuthBasicProvider file\n'
                       'AuthUserFile %s\nX509Authn On\nX509AuthnUserMap %s\n'
                       'X509AuthnUserMapRequired On\nRequire valid-user'
                       % (quote(h.passwd), m("fp.map"))),
        "m-reload": req % m("reload.map") + "Require valid-user",
    }


def _write_maps(h, pki):
    for name, text in maps(pki).items():
        h.write_file("conf/" + name, text)
    h.write_file("conf/reload.map", "fingerprint sha256:%s alice-v1\n"
                 % pki["alice"].sha256)


@pytest.fixture(scope="module")
def h(request, workroot, pki, module_so):
    srv = new_httpd(request, workroot, pki, module_so, name="usermap")
    srv.loglevel = "warn ssl:info x509authn:trace1"
    _write_maps(srv, pki)
    srv.start(locations=locations(_locs(srv)))
    return srv


def log_text(line):
    """An error log line as the module wrote it: httpd escapes bytes >= 0x80
    as \\xHH, and backslashes and double quotes with a backslash."""
    def repl(m):
        return m.group(1) if m.group(1) else bytes.fromhex(
            m.group(0).replace("\\x", "")).decode("utf-8", errors="replace")
    return re.sub(r'\\([\\"])|(?:\\x[0-9a-fA-F]{2})+', repl, line)


def mapped(h, loc, cert, user, map_name=None, line=None, **kw):
    """Assert a login as `user`; with map_name/line also that the module
    says which map line did it."""
    mark = h.log_mark()
    env = ok(h.get(loc, cert, **kw), user)
    if map_name:
        rx = r'X509A0103: mapped to "%s" by \S*%s line %s\b' % (
            re.escape(user), re.escape(map_name), line if line else r"\d+")
        found = [ln for ln in h.wait_log(mark, r"X509A0103", timeout=3)
                 if re.search(rx, log_text(ln))]
        assert found, "no %r in:\n%s" % (rx, h.log_since(mark))
    return env


def not_mapped(h, loc, cert, **kw):
    mark = h.log_mark()
    denied(h.get(loc, cert, **kw))
    lines = h.wait_log(mark, NOT_MAPPED_RX)
    assert lines, "no refusal line:\n" + h.log_since(mark)
    assert re.search(INFO_RX, lines[-1]), lines[-1]
    check_rejection_line(log_text(lines[-1]), h.pki[cert],
                         r"not mapped by X509AuthnUserMap")
    return lines


# -- fingerprint ------------------------------------------------------------------

@pytest.mark.parametrize("cert,user,line", [
    ("alice", "alice-sha256", 2),          # sha256:, lower case, colons
    ("bob", "bob-sha1", 3),                # SHA1: prefix, tab, comment
    ("utf8", "utf8-sha1-noprefix", 4),     # 40 hex digits: SHA-1
    ("multiou", "carol-sha256-noprefix", 5),  # 64 hex digits: SHA-256
    ("escaped", "smith, john", 6),         # quoted fields, spaces in the hex
])
def test_fingerprint(h, cert, user, line):
    env = mapped(h, "m-fp", cert, user, "fp.map", line)
    # the map changes the name only: the variables are the certificate's
    assert env["X509_CLIENT_S_DN"] == h.pki[cert].subject
    assert env["X509_CLIENT_FINGERPRINT_SHA256"] == h.pki[cert].sha256


def test_fingerprint_http2(h):
    r = h.get("m-fp", "alice", http2=True)
    assert r.http_version == "2"
    ok(r, "alice-sha256")


def test_relative_map_path(h):
    mapped(h, "m-rel", "alice", "alice-sha256", "fp.map", 2)


@pytest.mark.parametrize("cert", ["smime", "root-direct"])
def test_unmapped_required_on_is_403_and_logged(h, cert):
    not_mapped(h, "m-fp", cert)


def test_no_certificate_with_map(h):
    denied(h.get("m-fp"))


def test_lookalike_is_not_the_fingerprint(h):
    """Same subject, issuer DN and serial as alice, other key: a fingerprint
    names one certificate."""
    not_mapped(h, "m-fp", "lookalike", vhost="mixed")
    mapped(h, "m-fp", "alice", "alice-sha256", vhost="mixed")


# -- issuer-serial -----------------------------------------------------------------

@pytest.mark.parametrize("cert,user,line", [
    ("alice", "alice-is-dec", 2),      # slash DN, decimal serial
    ("bob", "bob-is-hex", 3),          # RFC 4514 DN, 0x serial
    ("multiou", "carol-is-colon", 4),  # colon-hex serial
    ("utf8", "utf8-is-case", 5),       # DN case and spacing, leading zeros
])
def test_issuer_serial(h, cert, user, line):
    mapped(h, "m-is", cert, user, "is.map", line)


def test_issuer_serial_wrong_issuer_does_not_map(h):
    not_mapped(h, "m-is", "escaped")   # its serial is listed under CA B
    not_mapped(h, "m-is", "smime")


def test_issuer_serial_trusts_the_issuer_name(h):
    """An issuer-serial line is by name: the lookalike CA (same DN as CA A)
    issued a certificate with alice's serial, and a server that trusts both
    hierarchies maps it to alice's name.  X509AuthnRequireIssuingCA (by
    certificate) keeps it out."""
    mapped(h, "m-is", "lookalike", "alice-is-dec", vhost="mixed")
    mark = h.log_mark()
    denied(h.get("m-pinned", "lookalike", vhost="mixed"))
    assert rejection_lines(h, mark), h.log_since(mark)
    mapped(h, "m-pinned", "alice", "alice-is-dec", vhost="mixed")


# -- issuer-subject ----------------------------------------------------------------

@pytest.mark.parametrize("cert,user,line", [
    ("alice", "eng-alice-alice01", 2),               # two captures, reordered
    ("multiou", "staff-carol", 3),                    # '#' inside quotes
    ("utf8", "de J\u00fcrgen M\u00fcller", 4),       # UTF-8 capture, space in USER
    ("bob", "cost$center-bob", 5),                    # $$, slash DN of CA B
    ("escaped", 'acme "quoted"', 6),                  # \" in regex and USER
])
def test_issuer_subject(h, cert, user, line):
    mapped(h, "m-subj", cert, user, "subj.map", line)


def test_issuer_subject_other_issuer_rules_do_not_apply(h):
    not_mapped(h, "m-subj", "smime")      # CN=smime is only listed for CA B
    not_mapped(h, "m-subj", "root-direct")


# -- first match wins, across kinds -----------------------------------------------

@pytest.mark.parametrize("cert,user,line", [
    ("alice", "alice-by-subject", 2),   # issuer-subject before fingerprint, issuer-serial
    ("bob", "bob-by-is", 5),            # issuer-serial before fingerprint, subject
    ("multiou", "carol-by-fp", 8),      # fingerprint before subject, issuer-serial
    ("smime", "smime-first", 12),       # two issuer-subject lines
])
def test_first_match_wins(h, cert, user, line):
    mapped(h, "m-order", cert, user, "order.map", line)


@pytest.mark.parametrize("cert,user,line", [
    ("bob", "bob-sha1-first", 1),       # sha1 line before the sha256 one
    ("alice", "alice-first", 3),        # the same fingerprint twice
    ("multiou", "carol-is-first", 5),   # the same issuer+serial, two spellings
    ("utf8", "utf8-fp", 9),             # an earlier non-matching subject line
])
def test_first_match_wins_within_a_kind(h, cert, user, line):
    mapped(h, "m-order2", cert, user, "order2.map", line)


def test_unmapped_falls_through_to_x509authnuser(h):
    """X509AuthnUserMapRequired unset (Off): not in the map -> X509AuthnUser."""
    ok(h.get("m-order", "utf8"), "J\u00fcrgen M\u00fcller")
    ok(h.get("m-default", "smime"), "smime")
    mapped(h, "m-default", "alice", "alice-sha256", "fp.map", 2)


def test_required_off_falls_through(h):
    ok(h.get("m-off", "escaped"), "jsmith")      # subject:UID
    ok(h.get("m-off", "smime"), "smime")         # no UID: cn
    mapped(h, "m-off", "alice", "alice-is-dec", "is.map", 2)


def test_map_is_tried_before_x509authnuser(h):
    # m-off says X509AuthnUser subject:UID, which would give alice01
    env = ok(h.get("m-off", "alice"), "alice-is-dec")
    assert env["X509_CLIENT_S_DN_UID"] == "alice01"


def test_rules_are_checked_before_the_map(h):
    mark = h.log_mark()
    denied(h.get("m-rule", "alice"))          # mapped, but from CA A
    lines = rejection_lines(h, mark)
    assert lines and not re.search(NOT_MAPPED_RX, lines[-1]), lines
    mapped(h, "m-rule", "bob", "bob-sha1")


def test_require_user_on_mapped_names(h):
    ok(h.get("m-require-user", "alice"), "alice-sha256")
    # logged in as "smith, john", who is not allowed: 401 after the login
    r = h.get("m-require-user", "escaped")
    assert r.status == 401, r
    r = h.get("m-require-user", "bob")
    assert r.status == 401, r


def test_nested_location_inherits_the_map(h):
    ok(h.get("m-fp/sub", "alice"), "alice-sha256")
    ok(h.get("m-fp/sub", "smime"), "smime")           # Required Off there
    not_mapped(h, "m-fp", "smime")


def test_map_under_x509authn_on_falls_back(h):
    """X509Authn On + Required On: an unmapped certificate is refused by
    the module and Basic asks for a password."""
    env = mapped(h, "m-fallback", "alice", "alice-sha256")
    assert env["AUTH_TYPE"] == "X509"
    r = h.get("m-fallback", "smime")
    assert r.status == 401 and r.headers.get("www-authenticate", "").startswith("Basic")
    r = h.get("m-fallback", "smime", user="basicuser:s3cret")
    assert r.status == 200 and r.env["REMOTE_USER"] == "basicuser"
    assert r.env["AUTH_TYPE"] == "Basic"


# -- graceful restart ---------------------------------------------------------------

def test_graceful_restart_rereads_the_map(h, pki):
    mapped(h, "m-reload", "alice", "alice-v1", "reload.map", 1)
    not_mapped(h, "m-reload", "bob")
    h.write_file("conf/reload.map", "# v2\nfingerprint sha256:%s alice-v2\n"
                 "fingerprint sha1:%s bob-v2\n" % (pki["alice"].sha256, pki["bob"].sha1))
    # read at startup only: no change before the restart
    mapped(h, "m-reload", "alice", "alice-v1", "reload.map", 1)
    h.reload(**h.last_conf)
    mapped(h, "m-reload", "alice", "alice-v2", "reload.map", 2)
    mapped(h, "m-reload", "bob", "bob-v2", "reload.map", 3)
    # and back
    h.write_file("conf/reload.map", "fingerprint sha256:%s alice-v1\n"
                 % pki["alice"].sha256)
    h.reload(**h.last_conf)
    mapped(h, "m-reload", "alice", "alice-v1", "reload.map", 1)
    not_mapped(h, "m-reload", "bob")


# -- .htaccess ----------------------------------------------------------------------

def test_map_in_htaccess(request, workroot, pki, module_so):
    """X509AuthnUserMap is allowed in .htaccess (AuthConfig).  httpd reads
    .htaccess files on every request, so such a map is read on every request:
    a change applies at once, and a broken map is a 500 for that directory."""
    from clients import curl
    from httpd import ENV_CGI
    srv = new_httpd(request, workroot, pki, module_so, name="usermap-hta")
    d = srv.path("htdocs/hta")
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o755)
    srv.write_file("htdocs/hta/env.py", ENV_CGI, 0o755)
    srv.write_file("htdocs/hta/.htaccess",
                   "AuthType X509\nX509AuthnUserMap conf/hta.map\n"
                   "X509AuthnUserMapRequired On\nRequire valid-user\n")
    srv.write_file("conf/hta.map", "fingerprint sha256:%s hta-v1\n" % pki["alice"].sha256)
    srv.start(server_extra='<Directory "%s">\nAllowOverride AuthConfig\n'
                           'Options +ExecCGI\nAddHandler cgi-script .py\n'
                           '</Directory>\n' % d)

    def get(cert):
        return curl(srv.url("/hta/env.py"), cert=pki[cert])
    ok(get("alice"), "hta-v1")
    denied(get("bob"))
    srv.write_file("conf/hta.map", "fingerprint sha256:%s hta-v2\n"
                   "fingerprint sha1:%s hta-bob\n" % (pki["alice"].sha256, pki["bob"].sha1))
    ok(get("alice"), "hta-v2")
    ok(get("bob"), "hta-bob")
    mark = srv.log_mark()
    srv.write_file("conf/hta.map", "fingerprint sha256:%s hta-v3\nbogus line\n"
                   % pki["alice"].sha256)
    r = get("alice")
    assert r.status == 500, r
    assert srv.wait_log(mark, r"hta\.map:2: unknown rule 'bogus'"), srv.log_since(mark)


# -- syntax errors ---------------------------------------------------------------------

BAD_MAPS = [
    ("unknown kind", "fingerprnt sha256:%(fp)s x", r"unknown rule 'fingerprnt'"),
    ("short hex", "fingerprint sha256:ABCD x", r"not a fingerprint"),
    ("not hex", "fingerprint sha1:%(bad)s x", r"not a fingerprint"),
    ("no user", "fingerprint sha256:%(fp)s", r"expected: fingerprint"),
    ("extra field", "fingerprint sha256:%(fp)s x y", r"expected: fingerprint"),
    ("bad serial", 'issuer-serial "%(a)s" 12ab x', r"12ab"),
    ("bad dn", 'issuer-serial "no dn here" 1 x', r"no dn here|DN"),
    ("unterminated", 'issuer-subject "%(a)s" "^CN=x x', r"unterminated"),
    ("bad regex", 'issuer-subject "%(a)s" "^CN=(x" x', r"regular expression"),
    ("capture", 'issuer-subject "%(a)s" "^CN=(x)" u-$2', r"\$2"),
    ("dollar", 'issuer-subject "%(a)s" "^CN=(x)" u-$x', r"\$"),
    ("empty user", 'fingerprint sha256:%(fp)s ""', r"empty user"),
]


@pytest.fixture(scope="module")
def cfg(request, workroot, pki, module_so):
    """A server that is never started: for apache2 -t."""
    return new_httpd(request, workroot, pki, module_so, name="usermap-cfg")


def _configtest_map(cfg, name, text, extra=""):
    path = cfg.write_file("conf/" + name, text)
    t0 = time.time()
    rc, out = cfg.configtest(locations=locations({
        "m": "AuthType X509\nX509AuthnUserMap %s\n%sRequire valid-user"
             % (quote(path), extra)}))
    return rc, out, time.time() - t0


@pytest.mark.parametrize("what,line,reason", BAD_MAPS, ids=[b[0] for b in BAD_MAPS])
def test_syntax_error_names_file_and_line(cfg, pki, what, line, reason):
    text = "\n".join([
        "# a good map up to line 3",
        "fingerprint sha256:%s alice" % pki["alice"].sha256,
        line % {"fp": pki["alice"].sha256, "a": A_DN, "bad": "Z" * 40},
        "fingerprint sha1:%s bob" % pki["bob"].sha1,
        ""])
    rc, out, _ = _configtest_map(cfg, "users.map", text)
    assert rc != 0, out
    assert "users.map:3:" in out, out
    assert re.search(reason, out.split("users.map:3:", 1)[1]), out
    assert "X509AuthnUserMap" in out, out


def test_missing_map_file_is_a_startup_error(cfg):
    rc, out = cfg.configtest(locations=locations({
        "m": "AuthType X509\nX509AuthnUserMap %s\nRequire valid-user"
             % quote(cfg.path("conf/does-not-exist.map"))}))
    assert rc != 0, out
    assert "does-not-exist.map" in out and "X509AuthnUserMap" in out, out


def test_good_map_files_pass_configtest(cfg, pki):
    for name, text in maps(pki).items():
        rc, out, _ = _configtest_map(cfg, name, text)
        assert rc == 0, (name, out)
    rc, out, _ = _configtest_map(cfg, "empty.map", "# nothing\n\n")
    assert rc == 0, out
    # CRLF line ends, no newline at the end
    rc, out, _ = _configtest_map(cfg, "crlf.map", "# dos\r\nfingerprint sha256:%s alice\r\n"
                                 "fingerprint sha1:%s bob" % (pki["alice"].sha256,
                                                              pki["bob"].sha1))
    assert rc == 0, out


# -- a large map ------------------------------------------------------------------------

N_BIG = 100000


def big_map(pki, n=N_BIG, seed=4711):
    rnd = random.Random(seed)
    lines = ["# %d generated lines, then the real entries" % n]
    for i in range(n):
        if i % 2:
            lines.append("fingerprint sha256:%064X gen-%d" % (rnd.getrandbits(256), i))
        else:
            lines.append("fingerprint sha1:%040X gen-%d" % (rnd.getrandbits(160), i))
    for i in range(2000):
        lines.append('issuer-serial "%s" 0x%X serial-%d' % (A_DN, 0x100000 + i, i))
    for i in range(200):
        lines.append('issuer-subject "CN=Partner CA %d,O=Example Corp,C=US" '
                     '"^CN=([^,]+)," partner%d-$1' % (i, i))
    lines += [
        "fingerprint sha256:%s alice-big" % pki["alice"].sha256,
        "fingerprint sha1:%s bob-big" % pki["bob"].sha1,
        'issuer-serial "%s" 0x3008 carol-big' % A_DN_SLASH,
        'issuer-subject "%s" "^CN=([^,]+),O=Example Corp," big-$1' % A_DN,
        "",
    ]
    return "\n".join(lines)


def test_large_map_loads_quickly(cfg, pki):
    text = big_map(pki)
    assert text.count("\n") > N_BIG
    # baseline: the same configuration with a one-line map
    _, _, t_small = _configtest_map(cfg, "small.map",
                                    "fingerprint sha1:%s bob\n" % pki["bob"].sha1)
    rc, out, t_big = _configtest_map(cfg, "big.map", text)
    assert rc == 0, out
    print("configtest: one-line map %.2fs, %d-line map %.2fs"
          % (t_small, text.count("\n"), t_big))
    # the map is used in 6 virtual hosts (the Locations are in each): read once
    assert t_big < 10.0, "configtest with a %d-line map took %.1fs" % (
        text.count("\n"), t_big)
    assert t_big - t_small < 5.0, (t_small, t_big)


def test_large_map_lookups(request, workroot, pki, module_so):
    srv = new_httpd(request, workroot, pki, module_so, name="usermap-big")
    srv.loglevel = "warn ssl:info x509authn:trace1"
    path = srv.write_file("conf/big.map", big_map(pki))
    conf = dict(locations=locations({
        "big": "AuthType X509\nX509AuthnUserMap %s\nX509AuthnUserMapRequired On\n"
               "Require valid-user" % quote(path)}))
    t0 = time.time()
    srv.start(**conf)
    t_start = time.time() - t0
    n = N_BIG + 2200
    mapped(srv, "big", "alice", "alice-big", "big.map", n + 2)
    mapped(srv, "big", "bob", "bob-big", "big.map", n + 3)
    mapped(srv, "big", "multiou", "carol-big", "big.map", n + 4)
    mapped(srv, "big", "smime", "big-smime", "big.map", n + 5)
    not_mapped(srv, "big", "root-direct")
    # a graceful restart reads it again
    t0 = time.time()
    srv.reload(**conf)
    t_reload = time.time() - t0
    ok(srv.get("big", "alice"), "alice-big")
    # lookups cost nothing noticeable: 30 requests on one connection each
    t0 = time.time()
    for _ in range(30):
        ok(srv.get("big", "bob"), "bob-big")
    t_req = (time.time() - t0) / 30
    print("big map: start %.2fs, graceful %.2fs, %.1f ms per request (curl)"
          % (t_start, t_reload, t_req * 1000))
    assert t_start < 15 and t_reload < 15, (t_start, t_reload)
    assert t_req < 0.5, t_req
