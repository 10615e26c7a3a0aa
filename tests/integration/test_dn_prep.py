"""DN comparison by RFC 4518 caseIgnoreMatch from built-in Unicode 3.2 tables
(issue 12, defect 5), with certificates made here by the openssl CLI from the
test PKI's issuing CA A, UTF8String subjects:

    CN=admİn      (U+0130)  is NOT CN=admin: it prepares to i + U+0307
    CN=Kelvin     (U+212A)  IS CN=kelvin (NFKC)
    CN=ａｄｍｉｎ  (fullwidth) IS CN=admin (NFKC)
    CN=adm<U+E000>n (private use, prohibited): equals nothing

for X509AuthnRequireSubject, X509AuthnRequireIssuer and the user map's
issuer rules (issuer-subject, issuer-serial), which compare DNs the same way.
A configured DN holding a prohibited code point fails configtest.
"""

import os
import random
import subprocess

import pytest

from expect import A_DN, ok, denied, rejection_lines
from httpd import new_httpd, locations, quote

DOTTED_I = "\u0130"       # LATIN CAPITAL LETTER I WITH DOT ABOVE
KELVIN = "\u212a"         # KELVIN SIGN
FW_ADMIN = "\uff41\uff44\uff4d\uff49\uff4e"
PUA = "\ue000"

SUBJECTS = {
    "admin": "/C=US/O=Example Corp/CN=admin",
    "idot": "/C=US/O=Example Corp/CN=adm%sn" % DOTTED_I,
    "kelvin": "/C=US/O=Example Corp/CN=%selvin" % KELVIN,
    "fullwidth": "/C=US/O=Example Corp/CN=%s" % FW_ADMIN,
    "pua": "/C=US/O=Example Corp/CN=adm%sn" % PUA,
    "twocn": "/C=US/O=Example Corp/CN=first/CN=second",
}


class LocalCert:
    """What clients.curl needs of a certificate: bundle and key."""

    def __init__(self, name, bundle, key, serial):
        self.name, self.bundle, self.key, self.serial = name, bundle, key, serial


def _openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True,
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def make_certs(d, pki):
    ca = pki["issuing-a"]
    ext = os.path.join(d, "client.ext")
    with open(ext, "w") as f:
        f.write("basicConstraints = critical, CA:FALSE\n"
                "keyUsage = critical, digitalSignature\n"
                "extendedKeyUsage = clientAuth\n")
    out = {}
    for name, subj in SUBJECTS.items():
        key = os.path.join(d, name + ".key")
        csr = os.path.join(d, name + ".csr")
        crt = os.path.join(d, name + ".crt")
        serial = random.randrange(1 << 62, 1 << 63)
        _openssl("genpkey", "-algorithm", "EC", "-pkeyopt",
                 "ec_paramgen_curve:P-256", "-out", key)
        # -utf8 and the default string mask: UTF8String values
        _openssl("req", "-new", "-utf8", "-key", key, "-subj", subj, "-out", csr)
        _openssl("x509", "-req", "-in", csr, "-CA", ca.cert, "-CAkey", ca.key,
                 "-set_serial", str(serial), "-days", "30", "-extfile", ext,
                 "-out", crt)
        bundle = os.path.join(d, name + ".bundle.pem")
        with open(bundle, "w") as f:
            f.write(open(crt).read() + open(ca.cert).read())
        out[name] = LocalCert(name, bundle, key, serial)
    return out


def q(dn):
    return quote(dn)


# The issuer (CA A) spelled with fullwidth letters and other case: equal;
# with U+0130 for the I of "Issuing": not equal.
A_FULLWIDTH = ("CN=\uff38509\uff21uthn test issuing ca \uff21,"
               "O=X509AUTHN TEST,C=us")
A_DOTTED = "CN=X509Authn Test %sssuing CA A,O=X509Authn Test,C=US" % DOTTED_I


@pytest.fixture(scope="module")
def certs(tmp_path_factory, pki):
    return make_certs(str(tmp_path_factory.mktemp("dnprep")), pki)


@pytest.fixture(scope="module")
def h(request, workroot, pki, module_so, certs):
    srv = new_httpd(request, workroot, pki, module_so, name="dnprep")
    srv.write_file("conf/is.map", "\n".join([
        'issuer-subject "%s" "^CN=([^,]+),O=Example Corp,C=US$" fw-$1'
        % A_FULLWIDTH,
        "",
    ]))
    srv.write_file("conf/dotted.map", "\n".join([
        'issuer-subject "%s" "^CN=([^,]+)," dotted-$1' % A_DOTTED,
        'issuer-serial "%s" %d dotted-serial' % (A_DOTTED, certs["admin"].serial),
        "",
    ]))
    srv.write_file("conf/serial.map", "\n".join([
        'issuer-serial "%s" %d fw-serial' % (A_FULLWIDTH, certs["admin"].serial),
        "",
    ]))
    body = "AuthType X509\n%s\nX509AuthnUser cn\nRequire valid-user"
    mapped = ("AuthType X509\nX509AuthnUserMap %s\nX509AuthnUserMapRequired On\n"
              "Require valid-user")
    srv.start(locations=locations({
        "subj-admin": body % ("X509AuthnRequireSubject " +
                              q("CN=admin,O=Example Corp,C=US")),
        "subj-admin-slash": body % ("X509AuthnRequireSubject " +
                                    q("/C=US/O=Example Corp/CN=ADMIN")),
        "subj-kelvin": body % ("X509AuthnRequireSubject " +
                               q("CN=kelvin,O=Example Corp,C=US")),
        "subj-idot": body % ("X509AuthnRequireSubject " +
                             q("CN=ADMI\u0307N,O=Example Corp,C=US")),
        "iss-fw": body % ("X509AuthnRequireIssuer " + q(A_FULLWIDTH)),
        "iss-dotted": body % ("X509AuthnRequireIssuer " + q(A_DOTTED)),
        "map-is": mapped % q(srv.path("conf/is.map")),
        "map-dotted": mapped % q(srv.path("conf/dotted.map")),
        "map-serial": mapped % q(srv.path("conf/serial.map")),
        "cn": "AuthType X509\nX509AuthnUser cn\nRequire valid-user",
    }))
    return srv


def test_certificates_are_utf8(certs):
    """The subjects are UTF8String (what the comparison transcodes)."""
    p = subprocess.run(["openssl", "asn1parse", "-in",
                        certs["kelvin"].bundle], stdout=subprocess.PIPE,
                       check=True, universal_newlines=True)
    assert "UTF8STRING" in p.stdout


def test_dotted_capital_i_is_not_i(h, certs):
    """CN=admİn does not pass X509AuthnRequireSubject "CN=admin,..." (it
    did: towlower_l() in C.UTF-8 made U+0130 an ASCII i)."""
    mark = h.log_mark()
    denied(h.get("subj-admin", certs["idot"]))
    assert rejection_lines(h, mark)
    denied(h.get("subj-admin-slash", certs["idot"]))
    ok(h.get("subj-admin", certs["admin"]), "admin")
    ok(h.get("subj-admin-slash", certs["admin"]), "admin")
    # by RFC 4518 it is i + U+0307 (COMBINING DOT ABOVE), any case
    ok(h.get("subj-idot", certs["idot"]), "adm\u0130n")
    denied(h.get("subj-idot", certs["admin"]))


def test_kelvin_sign_and_fullwidth_fold_to_ascii(h, certs):
    ok(h.get("subj-kelvin", certs["kelvin"]), KELVIN + "elvin")
    ok(h.get("subj-admin", certs["fullwidth"]), FW_ADMIN)
    ok(h.get("subj-admin-slash", certs["fullwidth"]), FW_ADMIN)
    denied(h.get("subj-kelvin", certs["admin"]))


def test_prohibited_code_point_matches_nothing(h, certs):
    """U+E000 (private use) is prohibited by RFC 4518 2.4: the subject
    equals no configured DN (and a DN with it cannot be configured)."""
    for loc in ("subj-admin", "subj-admin-slash", "subj-kelvin", "subj-idot"):
        denied(h.get(loc, certs["pua"]))
    # other rules and fields are not affected
    ok(h.get("cn", certs["pua"]), "adm\ue000n")
    ok(h.get("iss-fw", certs["pua"]), "adm\ue000n")


def test_issuer_rule(h, pki, certs):
    ok(h.get("iss-fw", "alice"), "alice")
    ok(h.get("iss-fw", certs["kelvin"]), KELVIN + "elvin")
    denied(h.get("iss-dotted", "alice"))
    denied(h.get("iss-dotted", certs["admin"]))
    denied(h.get("iss-fw", "bob"))           # issuing CA B


def test_user_map_issuer_rules(h, certs):
    """The user map finds its issuer by the same comparison: fullwidth and
    letter case match, U+0130 does not."""
    ok(h.get("map-is", certs["admin"]), "fw-admin")
    ok(h.get("map-is", certs["kelvin"]), "fw-" + KELVIN + "elvin")
    ok(h.get("map-serial", certs["admin"]), "fw-serial")
    denied(h.get("map-dotted", certs["admin"]))
    denied(h.get("map-dotted", certs["idot"]))


def test_cn_is_the_first_of_two(h, certs):
    """Two CNs (issue 12, defect 7): `cn` is the first in the certificate,
    as SSL_CLIENT_S_DN_CN and X509_CLIENT_S_DN_CN."""
    env = ok(h.get("cn", certs["twocn"]), "first")
    assert env["X509_CLIENT_S_DN_CN"] == "first"
    assert env["SSL_CLIENT_S_DN_CN"] == "first"
    assert env["X509_CLIENT_S_DN_CN_1"] == "second"


@pytest.mark.parametrize("directive,dn,code", [
    ("X509AuthnRequireSubject", "CN=adm\ue000n,O=Example Corp,C=US", "U+E000"),
    ("X509AuthnRequireSubject", "/C=US/CN=\ufffd", "U+FFFD"),
    ("X509AuthnRequireIssuer", "CN=\U0001f600,C=US", "U+1F600"),
])
def test_prohibited_code_point_fails_configtest(h, directive, dn, code):
    rc, out = h.configtest(locations=locations({
        "bad": "AuthType X509\n%s %s\nRequire valid-user" % (directive, q(dn))}))
    assert rc != 0, out
    assert directive in out and code in out and "RFC 4518" in out, out


def test_prohibited_code_point_in_user_map_fails_configtest(h):
    h.write_file("conf/bad.map", 'issuer-subject "CN=\ufffd" "^CN=x," x\n')
    rc, out = h.configtest(locations=locations({
        "bad": "AuthType X509\nX509AuthnUserMap %s\nRequire valid-user"
               % q(h.path("conf/bad.map"))}))
    assert rc != 0, out
    assert "bad.map" in out and "U+FFFD" in out, out
