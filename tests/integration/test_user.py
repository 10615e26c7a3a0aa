"""X509AuthnUser: every identity field, regex captures, fall-through."""

import pytest

from expect import ALICE_DN, ALICE_DN_SLASH, ALICE_CEA, ok, denied, rejection_lines
from httpd import start_httpd, locations

USERS = {
    "u-default": "",
    "u-subject": "X509AuthnUser subject",
    "u-legacy": "X509AuthnUser subject-legacy",
    "u-cn": "X509AuthnUser cn",
    "u-uid": "X509AuthnUser subject:UID",
    "u-ou": "X509AuthnUser subject:OU",
    "u-o": "X509AuthnUser subject:O",
    "u-email-attr": "X509AuthnUser subject:emailAddress",
    "u-email": "X509AuthnUser email",
    "u-upn": "X509AuthnUser upn",
    "u-uri": "X509AuthnUser uri",
    "u-dns": "X509AuthnUser dns",
    "u-serial": "X509AuthnUser serial",
    "u-issuer-serial": "X509AuthnUser issuer+serial",
    "u-sha256": "X509AuthnUser sha256",
    "u-email-re": r"X509AuthnUser email ^([^@]+)@example\.com$",
    "u-uri-re": r"X509AuthnUser uri ^spiffe://example\.com/(.+)$",
    "u-subject-re": r'X509AuthnUser subject "^UID=([^,]+),"',
    "u-chain": "\n".join([
        r"X509AuthnUser upn ^([^@]+)@corp\.example\.com$",
        "X509AuthnUser subject:UID",
        "X509AuthnUser cn",
    ]),
    "u-re-nomatch-next": "\n".join([
        r"X509AuthnUser email ^([^@]+)@corp\.example$",
        "X509AuthnUser cn",
    ]),
    "u-missing-next": "\n".join([
        "X509AuthnUser upn",
        "X509AuthnUser email",
    ]),
    "u-re-none": r"X509AuthnUser cn ^(zzz.*)$",
    "u-none": "\n".join([
        "X509AuthnUser upn",
        "X509AuthnUser subject:UID",
    ]),
    "u-cn-require": "X509AuthnUser cn\nRequire user alice Users",
    "u-cn-require-last": "X509AuthnUser cn\nRequire user carol",
}


def _body(v):
    if "Require" in v:
        return "AuthType X509\n" + v
    return "AuthType X509\n%s\nRequire valid-user" % v


@pytest.fixture(scope="module")
def h(request, workroot, pki, module_so):
    locs = {k: _body(v) for k, v in USERS.items()}
    return start_httpd(request, workroot, pki, module_so, locations(locs), name="user")


@pytest.mark.parametrize("loc,cert,user", [
    ("u-default", "alice", ALICE_DN),
    ("u-subject", "alice", ALICE_DN),
    ("u-subject", "utf8", "CN=J\u00fcrgen M\u00fcller,O=B\u00fccher GmbH,C=DE"),
    ("u-subject", "escaped", 'UID=jsmith+CN=Smith\\, John,O=ACME \\"Quotes\\" \\\\ Inc,C=US'),
    ("u-legacy", "alice", ALICE_DN_SLASH),
    ("u-legacy", "bob", "/C=US/O=Example Corp/CN=bob/emailAddress=bob@example.com"),
    ("u-cn", "alice", "alice"),
    ("u-cn", "multiou", "Users"),          # the first CN, as SSL_CLIENT_S_DN_CN
    ("u-cn", "utf8", "J\u00fcrgen M\u00fcller"),
    ("u-cn", "escaped", "Smith, John"),
    ("u-uid", "alice", "alice01"),
    ("u-uid", "escaped", "jsmith"),
    ("u-ou", "alice", "Engineering"),
    ("u-ou", "multiou", "Corp"),           # the first OU, as SSL_CLIENT_S_DN_OU
    ("u-email-attr", "bob", "bob@example.com"),
    ("u-email", "alice", "alice@example.com"),
    ("u-email", "bob", "bob@example.com"),  # no SAN e-mail: subject emailAddress
    ("u-upn", "alice", "alice@corp.example.com"),
    ("u-uri", "alice", "spiffe://example.com/alice"),
    ("u-dns", "alice", "alice.example.com"),
    ("u-serial", "alice", "1001"),
    ("u-serial", "bob", "2002"),
    ("u-issuer-serial", "alice", ALICE_CEA),
    ("u-email-re", "alice", "alice"),
    ("u-email-re", "bob", "bob"),
    ("u-uri-re", "alice", "alice"),
    ("u-subject-re", "alice", "alice01"),
    ("u-chain", "alice", "alice"),          # 1st line: upn with capture
    ("u-chain", "escaped", "jsmith"),       # no upn: 2nd line subject:UID
    ("u-chain", "bob", "bob"),              # no upn, no UID: 3rd line cn
    ("u-chain", "multiou", "Users"),
    ("u-re-nomatch-next", "alice", "alice"),
    ("u-missing-next", "alice", "alice@corp.example.com"),
    ("u-missing-next", "bob", "bob@example.com"),
    ("u-none", "alice", "alice@corp.example.com"),
    ("u-cn-require", "alice", "alice"),
    ("u-cn-require", "multiou", "Users"),
])
def test_user_field(h, loc, cert, user):
    env = ok(h.get(loc, cert), user)
    # the identity field does not change what is exported
    assert env["X509_CLIENT_S_DN"] == h.pki[cert].subject


def test_user_attribute_with_special_characters(h):
    """subject:O of O=ACME "Quotes" \\ Inc.  The SPEC does not say whether an
    attribute used as a name keeps mod_ssl's escaping of the backslash (as
    X509_CLIENT_S_DN_O does): either form is accepted, nothing else."""
    env = ok(h.get("u-o", "escaped"))
    assert env["REMOTE_USER"] in ('ACME "Quotes" \\ Inc', env["SSL_CLIENT_S_DN_O"])


def test_user_sha256(h, pki):
    ok(h.get("u-sha256", "alice"), pki["alice"].sha256)
    ok(h.get("u-sha256", "bob"), pki["bob"].sha256)


def test_issuer_serial_matches_mod_ssl(h, pki):
    for name in ("alice", "bob", "multiou", "escaped"):
        env = ok(h.get("u-issuer-serial", name))
        assert env["REMOTE_USER"] == env["SSL_CLIENT_CERT_RFC4523_CEA"]


def test_user_http2(h):
    r = h.get("u-email-re", "alice", http2=True)
    assert r.http_version == "2"
    ok(r, "alice")


@pytest.mark.parametrize("loc,cert", [
    ("u-uid", "bob"),            # no UID attribute
    ("u-upn", "bob"),            # no SAN otherName
    ("u-uri", "multiou"),
    ("u-dns", "bob"),
    ("u-email-attr", "alice"),   # alice has a SAN e-mail, not a subject one
    ("u-email", "multiou"),
    ("u-email-re", "utf8"),      # no e-mail at all
    ("u-re-none", "alice"),      # the regex does not match
    ("u-none", "bob"),           # no line yields a name
    ("u-none", "multiou"),
])
def test_no_name_rejects(h, loc, cert):
    mark = h.log_mark()
    denied(h.get(loc, cert))
    lines = rejection_lines(h, mark)
    assert lines, "no [x509authn:info] line for a certificate without a name"


def test_require_user_on_mapped_name(h):
    r = h.get("u-cn-require", "bob")
    assert r.status == 401
    denied(h.get("u-cn-require"))


def test_cn_is_the_first_of_two(h):
    """multiou has CN=Users then CN=carol (certificate order): `cn` is the
    first, as mod_ssl's SSL_CLIENT_S_DN_CN and X509_CLIENT_S_DN_CN (issue 12,
    defect 7: it was the last, "carol")."""
    env = ok(h.get("u-cn", "multiou"), "Users")
    assert env["X509_CLIENT_S_DN_CN"] == env["SSL_CLIENT_S_DN_CN"] == "Users"
    assert env["X509_CLIENT_S_DN_CN_1"] == "carol"
    r = h.get("u-cn-require-last", "multiou")
    assert r.status == 401, r
    ok(h.get("u-ou", "multiou"), env["SSL_CLIENT_S_DN_OU"])
