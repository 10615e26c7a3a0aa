"""X509AuthnRequire* rules: every kind, positive and negative; OR within a
directive, AND across directives; DN syntaxes; rejection log lines."""

import time

import pytest

from clients import curl_multi
from expect import (A_DN, B_DN, ROOT_DN, A_DN_SLASH, B_DN_SLASH, ALICE_DN,
                    ALICE_DN_SLASH, BOB_DN, ok, denied, rejection_lines,
                    check_rejection_line, assert_rejection_logged)
from httpd import start_httpd, locations, quote


def _locs(pki):
    a, b = pki["alice"], pki["bob"]
    q = quote
    rules = {
        # -- subject ---------------------------------------------------------
        "subj-rfc": "X509AuthnRequireSubject " + q(ALICE_DN),
        "subj-slash": "X509AuthnRequireSubject " + q(ALICE_DN_SLASH),
        "subj-case": "X509AuthnRequireSubject " +
                     q("Uid=ALICE01, cn=Alice , ou=engineering,o=example   CORP,c=us"),
        "subj-case-slash": "X509AuthnRequireSubject " +
                           q("/c=us/O=EXAMPLE CORP/ou=Engineering/CN=ALICE/USERID=Alice01"),
        "subj-oid": "X509AuthnRequireSubject " +
                    q("0.9.2342.19200300.100.1.1=alice01,2.5.4.3=alice,"
                      "organizationalUnitName=Engineering,O=Example Corp,"
                      "countryName=US"),
        # RFC 4514 lists the most specific RDN first: this is another DN
        "subj-reversed": "X509AuthnRequireSubject " +
                         q("C=US,O=Example Corp,OU=Engineering,CN=alice,UID=alice01"),
        "subj-prefix": "X509AuthnRequireSubject " +
                       q("CN=alice,OU=Engineering,O=Example Corp,C=US"),
        "subj-or": "X509AuthnRequireSubject %s %s" % (q("CN=nobody,O=Nowhere,C=US"),
                                                      q(BOB_DN)),
        "subj-bob-slash": "X509AuthnRequireSubject " +
                          q("/C=US/O=Example Corp/CN=bob/emailAddress=bob@example.com"),
        "subj-bob-email-lower": "X509AuthnRequireSubject " +
                                q("emailaddress=bob@example.com,cn=bob,o=Example Corp,c=US"),
        "subj-utf8": "X509AuthnRequireSubject " +
                     q("CN=J\u00fcrgen M\u00fcller,O=B\u00fccher GmbH,C=DE"),
        "subj-utf8-case": "X509AuthnRequireSubject " +
                          q("cn=J\u00fcRGEN m\u00fcLLER,o=B\u00fcCHER gmbh,c=de"),
        "subj-utf8-slash": "X509AuthnRequireSubject " +
                           q("/C=DE/O=B\u00fccher GmbH/CN=J\u00fcrgen M\u00fcller"),
        "subj-utf8-legacy": "X509AuthnRequireSubject " +
                            q("/C=DE/O=B\\xC3\\xBCcher GmbH/CN=J\\xC3\\xBCrgen M\\xC3\\xBCller"),
        "subj-esc": "X509AuthnRequireSubject " +
                    q('CN=Smith\\, John+UID=jsmith,O=ACME \\"Quotes\\" \\\\ Inc,C=US'),
        "subj-esc-modssl": "X509AuthnRequireSubject " + q(pki["escaped"].subject),
        "subj-esc-hex": "X509AuthnRequireSubject " +
                        q('UID=jsmith+CN=Smith\\2C John,O=ACME \\22Quotes\\22 \\5C Inc,C=US'),
        "subj-esc-slash": "X509AuthnRequireSubject " +
                          q('/C=US/O=ACME "Quotes" \\\\ Inc/CN=Smith, John+UID=jsmith'),
        "subj-esc-partial": "X509AuthnRequireSubject " +
                            q('CN=Smith\\, John,O=ACME \\"Quotes\\" \\\\ Inc,C=US'),
        "subj-multiou": "X509AuthnRequireSubject " + q(pki["multiou"].subject),
        "subj-multiou-swapped": "X509AuthnRequireSubject " +
                                q("CN=carol,CN=Users,OU=Corp,OU=Staff,O=Example Corp,C=US"),
        # -- issuer ----------------------------------------------------------
        "iss-a": "X509AuthnRequireIssuer " + q(A_DN),
        "iss-b-slash": "X509AuthnRequireIssuer " + q(B_DN_SLASH),
        "iss-a-slash-case": "X509AuthnRequireIssuer " + q(A_DN_SLASH.lower()),
        "iss-or": "X509AuthnRequireIssuer %s %s" % (q(A_DN), q(B_DN)),
        "iss-root": "X509AuthnRequireIssuer " + q(ROOT_DN),
        # -- serial ----------------------------------------------------------
        "ser-dec": "X509AuthnRequireSerial 4097",
        "ser-hex": "X509AuthnRequireSerial 0x1001",
        "ser-hex-lead": "X509AuthnRequireSerial 0x0000001001",
        "ser-hex-lower": "X509AuthnRequireSerial 0xabcd 0x2002",
        "ser-colon": "X509AuthnRequireSerial 10:01",
        "ser-colon-lead": "X509AuthnRequireSerial 00:10:01",
        "ser-or": "X509AuthnRequireSerial 1 0x2002",
        "ser-other": "X509AuthnRequireSerial 4098 0x1000 10:02",
        # -- fingerprint -----------------------------------------------------
        "fp-plain": "X509AuthnRequireFingerprint " + a.sha256,
        "fp-sha256-colons": "X509AuthnRequireFingerprint sha256:" + a.sha256_colons.lower(),
        "fp-spaces": "X509AuthnRequireFingerprint " +
                     q("SHA256:" + " ".join(a.sha256[i:i + 4] for i in range(0, 64, 4))),
        "fp-sha1": "X509AuthnRequireFingerprint sha1:" + a.sha1,
        "fp-sha1-bare": "X509AuthnRequireFingerprint " + a.sha1.lower(),
        "fp-or": "X509AuthnRequireFingerprint sha256:%s sha1:%s" % (b.sha256, a.sha1),
        "fp-bob": "X509AuthnRequireFingerprint sha256:" + b.sha256,
        # -- issuing CA ------------------------------------------------------
        "ica-a": "X509AuthnRequireIssuingCA " + q(pki["issuing-a"].cert),
        "ica-b": "X509AuthnRequireIssuingCA " + q(pki["issuing-b"].cert),
        "ica-root": "X509AuthnRequireIssuingCA " + q(pki["root"].cert),
        "ica-ab": "X509AuthnRequireIssuingCA " + q(pki.issuing_ab),
        "ica-lookalike-a": "X509AuthnRequireIssuingCA " + q(pki["lookalike-a"].cert),
        "ica-lookalike-root": "X509AuthnRequireIssuingCA " + q(pki["lookalike-root"].cert),
        # -- EKU -------------------------------------------------------------
        "eku-client": "X509AuthnRequireEKU clientAuth",
        "eku-email": "X509AuthnRequireEKU emailProtection",
        "eku-email-oid": "X509AuthnRequireEKU 1.3.6.1.5.5.7.3.4",
        "eku-private": "X509AuthnRequireEKU 1.3.6.1.4.1.55555.3.1",
        "eku-or": "X509AuthnRequireEKU codeSigning clientAuth",
        "eku-server": "X509AuthnRequireEKU serverAuth",
        # -- policy ----------------------------------------------------------
        "pol-alice": "X509AuthnRequirePolicy 1.3.6.1.4.1.55555.1.1",
        "pol-smime": "X509AuthnRequirePolicy 1.3.6.1.4.1.55555.1.3",
        "pol-or": "X509AuthnRequirePolicy 1.3.6.1.4.1.55555.1.9 1.3.6.1.4.1.55555.1.1",
        "pol-none": "X509AuthnRequirePolicy 1.3.6.1.4.1.55555.1",
        # -- SPKI ------------------------------------------------------------
        "spki-hex": "X509AuthnRequireSPKI sha256:" + a.spki_sha256,
        "spki-b64": "X509AuthnRequireSPKI sha256:" + a.spki_sha256_b64,
        "spki-b64-bare": "X509AuthnRequireSPKI " + a.spki_sha256_b64,
        "spki-or": "X509AuthnRequireSPKI sha256:%s sha256:%s" % (b.spki_sha256,
                                                                 a.spki_sha256_b64),
        "spki-bob": "X509AuthnRequireSPKI sha256:" + b.spki_sha256,
        # -- AND across directives -------------------------------------------
        "and-ok": "X509AuthnRequireIssuer %s\nX509AuthnRequireSerial 0x1001\n"
                  "X509AuthnRequireEKU clientAuth\nX509AuthnRequirePolicy "
                  "1.3.6.1.4.1.55555.1.1\nX509AuthnRequireSubject %s\n"
                  "X509AuthnRequireIssuingCA %s\nX509AuthnRequireSPKI sha256:%s\n"
                  "X509AuthnRequireFingerprint %s" % (
                      q(A_DN), q(ALICE_DN), q(pki["issuing-a"].cert), a.spki_sha256,
                      a.sha256),
        "and-fail": "X509AuthnRequireIssuer %s\nX509AuthnRequireSerial 0x2002" % q(A_DN),
    }
    locs = {k: "AuthType X509\n%s\nRequire valid-user" % v for k, v in rules.items()}
    locs["x509"] = "AuthType X509\nRequire valid-user"
    return locs


@pytest.fixture(scope="module")
def h(request, workroot, pki, module_so):
    return start_httpd(request, workroot, pki, module_so, locations(_locs(pki)),
                       name="rules")


def expect(h, loc, cases):
    """cases: list of (cert name, vhost, status)."""
    for cert, vhost, status in cases:
        r = h.get(loc, cert, vhost=vhost)
        if status == 200:
            ok(r, h.pki[cert].subject)
        else:
            assert r.status == status, "%s with %s on %s: %r" % (loc, cert, vhost, r)
            assert r.user == ""


ALL_MAIN = ["alice", "bob", "utf8", "escaped", "multiou", "root-direct", "smime"]


def only(*names, vhost="main"):
    """200 for `names`, 403 for every other usable client on `vhost`."""
    pool = ALL_MAIN if vhost == "main" else ALL_MAIN + ["lookalike"]
    return [(n, vhost, 200 if n in names else 403) for n in pool]


# -- subject -------------------------------------------------------------------------

@pytest.mark.parametrize("loc", ["subj-rfc", "subj-slash", "subj-case",
                                 "subj-case-slash", "subj-oid"])
def test_subject_alice(h, loc):
    expect(h, loc, only("alice"))
    # same DN from a lookalike CA: a subject rule alone cannot tell them apart
    expect(h, loc, [("lookalike", "mixed", 200)])
    denied(h.get(loc))


@pytest.mark.parametrize("loc", ["subj-reversed", "subj-prefix"])
def test_subject_other_dn_does_not_match(h, loc):
    expect(h, loc, only())


@pytest.mark.parametrize("loc", ["subj-or", "subj-bob-slash", "subj-bob-email-lower"])
def test_subject_bob(h, loc):
    expect(h, loc, only("bob"))


@pytest.mark.parametrize("loc", ["subj-utf8", "subj-utf8-case", "subj-utf8-slash",
                                 "subj-utf8-legacy"])
def test_subject_utf8(h, loc):
    expect(h, loc, only("utf8"))


@pytest.mark.parametrize("loc", ["subj-esc", "subj-esc-modssl", "subj-esc-hex",
                                 "subj-esc-slash"])
def test_subject_escaped_multivalued(h, loc):
    """Escaped , + " \\ and a multi-valued RDN, in either AVA order."""
    expect(h, loc, only("escaped"))


def test_subject_multivalued_rdn_needs_every_ava(h):
    expect(h, "subj-esc-partial", only())


def test_subject_repeated_attributes_order_matters(h):
    expect(h, "subj-multiou", only("multiou"))
    expect(h, "subj-multiou-swapped", only())


# -- issuer --------------------------------------------------------------------------

def test_issuer_a(h):
    expect(h, "iss-a", only("alice", "utf8", "escaped", "multiou", "smime"))
    # by name only: the lookalike Issuing CA A has the same DN
    expect(h, "iss-a", [("lookalike", "mixed", 200)])


def test_issuer_b_slash(h):
    expect(h, "iss-b-slash", only("bob"))


def test_issuer_slash_case_insensitive(h):
    expect(h, "iss-a-slash-case", [("alice", "main", 200), ("bob", "main", 403)])


def test_issuer_or(h):
    expect(h, "iss-or", only("alice", "bob", "utf8", "escaped", "multiou", "smime"))


def test_issuer_root(h):
    expect(h, "iss-root", only("root-direct"))


# -- serial --------------------------------------------------------------------------

@pytest.mark.parametrize("loc", ["ser-dec", "ser-hex", "ser-hex-lead", "ser-colon",
                                 "ser-colon-lead"])
def test_serial_alice(h, loc):
    expect(h, loc, only("alice"))


def test_serial_or(h):
    expect(h, "ser-or", only("bob"))
    expect(h, "ser-hex-lower", only("bob"))


def test_serial_other(h):
    expect(h, "ser-other", only())


# -- fingerprint --------------------------------------------------------------------

@pytest.mark.parametrize("loc", ["fp-plain", "fp-sha256-colons", "fp-spaces", "fp-sha1",
                                 "fp-sha1-bare"])
def test_fingerprint_alice(h, loc):
    expect(h, loc, only("alice"))
    # same subject and serial, other certificate
    expect(h, loc, [("lookalike", "mixed", 403)])


def test_fingerprint_or(h):
    expect(h, "fp-or", only("alice", "bob"))


def test_fingerprint_bob(h):
    expect(h, "fp-bob", only("bob"))


# -- issuing CA ----------------------------------------------------------------------

def test_issuing_ca_a(h):
    expect(h, "ica-a", only("alice", "utf8", "escaped", "multiou", "smime"))
    # compared by certificate: the lookalike CA with the same DN fails...
    expect(h, "ica-a", [("lookalike", "mixed", 403), ("alice", "mixed", 200)])


def test_issuing_ca_lookalike(h):
    # ... and the lookalike CA file accepts only the lookalike-issued client
    expect(h, "ica-lookalike-a", only("lookalike", vhost="mixed"))
    expect(h, "ica-lookalike-root", only("lookalike", vhost="mixed"))


def test_issuing_ca_b(h):
    expect(h, "ica-b", only("bob"))


def test_issuing_ca_root_covers_whole_tree(h):
    expect(h, "ica-root", only(*ALL_MAIN))
    expect(h, "ica-root", [("lookalike", "mixed", 403), ("bob", "mixed", 200)])


def test_issuing_ca_file_with_two_cas(h):
    expect(h, "ica-ab", only("alice", "bob", "utf8", "escaped", "multiou", "smime"))


# -- EKU -------------------------------------------------------------------------------

def test_eku_client_auth(h):
    expect(h, "eku-client", only(*ALL_MAIN))


@pytest.mark.parametrize("loc", ["eku-email", "eku-email-oid", "eku-private"])
def test_eku_other(h, loc):
    expect(h, loc, only("smime"))


def test_eku_or(h):
    expect(h, "eku-or", only(*ALL_MAIN))


def test_eku_server_auth(h):
    """No usable client has serverAuth.  A serverAuth-only leaf (pki
    "serveronly") cannot reach the module over direct TLS at all: OpenSSL
    verifies client certificates with the sslclient purpose and mod_ssl aborts
    the handshake ("unsuitable certificate purpose", see test_harness and
    test_verify), so RequireEKU is exercised with other EKUs here."""
    expect(h, "eku-server", only())


# -- policy ----------------------------------------------------------------------------

def test_policy(h):
    expect(h, "pol-alice", only("alice"))
    expect(h, "pol-smime", only("smime"))
    expect(h, "pol-or", only("alice"))
    # a policy OID is matched exactly, not as a prefix
    expect(h, "pol-none", only())


# -- SPKI ------------------------------------------------------------------------------

@pytest.mark.parametrize("loc", ["spki-hex", "spki-b64", "spki-b64-bare"])
def test_spki_alice(h, loc):
    expect(h, loc, only("alice"))
    expect(h, loc, [("lookalike", "mixed", 403)])


def test_spki_or_and_bob(h):
    expect(h, "spki-or", only("alice", "bob"))
    expect(h, "spki-bob", only("bob"))


# -- AND ------------------------------------------------------------------------------

def test_all_rules_together(h):
    expect(h, "and-ok", only("alice"))
    expect(h, "and-ok", [("lookalike", "mixed", 403)])


def test_every_rule_must_match(h):
    expect(h, "and-fail", only())


# -- connection reuse ------------------------------------------------------------------

@pytest.mark.parametrize("http2", [False, True], ids=["http1.1", "h2"])
def test_rules_evaluated_per_location_on_one_connection(h, pki, http2):
    locs = ["subj-rfc", "ser-or", "ica-a", "ica-b", "x509", "fp-bob", "eku-client",
            "pol-smime", "subj-rfc"]
    res = curl_multi([h.url("/t/%s/env" % l) for l in locs], cert=pki["alice"],
                     http2=http2)
    assert [x[0] for x in res] == [200, 403, 200, 403, 200, 403, 200, 403, 200]
    assert sum(x[2] for x in res) == 1


# -- rejection log -----------------------------------------------------------------------

@pytest.mark.parametrize("loc,reason", [
    ("subj-rfc", r"subject|X509AuthnRequireSubject"),
    ("iss-b-slash", r"issuer|X509AuthnRequireIssuer"),
    ("ser-or", r"serial|X509AuthnRequireSerial"),
    ("fp-bob", r"fingerprint|X509AuthnRequireFingerprint"),
    ("ica-b", r"issuing|issued|\bCA\b|chain"),
    ("eku-email", r"EKU|extended ?key ?usage|extKeyUsage"),
    ("pol-smime", r"polic"),
    ("spki-bob", r"SPKI|public ?key|pin|\bkey\b"),
])
def test_rejection_logged_once_with_reason(h, pki, loc, reason):
    who = "bob" if loc in ("subj-rfc",) else "alice"
    cert = pki[who]
    mark = h.log_mark()
    denied(h.get(loc, who))
    rejection_lines(h, mark, timeout=2)
    time.sleep(0.3)          # anything logged late for the same request
    lines = rejection_lines(h, mark, count=2, timeout=0)
    assert len(lines) == 1, "want exactly one info line:\n" + h.log_since(mark)
    check_rejection_line(lines[0], cert, reason)


def test_rejection_log_utf8_subject(h, pki):
    mark = h.log_mark()
    denied(h.get("subj-rfc", "utf8"))
    assert_rejection_logged(h, mark, pki["utf8"])


def test_rejection_not_sent_to_client(h, pki):
    r = denied(h.get("ser-or", "alice"))
    body = r.text
    for secret in ("serial", "X509Authn", "alice", "4097", pki["alice"].sha256):
        assert secret not in body
