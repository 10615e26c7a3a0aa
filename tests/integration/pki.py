#!/usr/bin/python3
"""Test PKI for the mod_x509authn integration tests.

Everything is generated with the ``openssl`` command line tool (EC P-256
keys), so the certificates are what a real CA would produce.  Generation is
idempotent: a directory that already holds a complete PKI of the current
layout (and not too old, since some validity windows are relative to "now")
is reused as is.

    PKI(directory)            generate if needed, then describe
    pki.cert("alice").bundle  PEM leaf + intermediate, for curl --cert
    pki.cert("alice").sha256  uppercase hex fingerprint, no colons

Run ``/usr/bin/python3 pki.py DIR`` to generate into DIR and print a summary.

Layout (names used by the tests; see CAS and CERTS below for the details):

    root                      CN=X509Authn Test Root CA,O=X509Authn Test,C=US
      issuing-a               CN=X509Authn Test Issuing CA A,O=X509Authn Test,C=US
        alice expired notyet revoked serveronly smime
        utf8 escaped multiou server
      issuing-b               CN=X509Authn Test Issuing CA B,O=X509Authn Test,C=US
        bob
        proxy proxy-other     load balancers' client certificates
                              (CN=lb1.proxy.test / lb2.proxy.test, OU=Proxies)
      root-direct             a client issued by the root itself
    lookalike-root            same DN as root, other key
      lookalike-a             same DN as issuing-a, other key
        lookalike             same subject and serial as alice
    selfsigned                a self-signed client certificate

Files: NAME.crt, NAME.key, NAME.bundle.pem (leaf + intermediates, for curl
--cert), NAME.crl.pem for each CA (issuing-a's revokes "revoked"),
ca-bundle.pem (root+A+B), ca-bundle-lookalike.pem (+ lookalike root and A),
ca-issuing-ab.pem (A+B), crl-bundle.pem (CRLs of root, A and B),
crl-bundle-unrevoked.pem (the same with A's CRL from before "revoked" was
revoked), pki.json.
"""

import base64
import datetime
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time

OPENSSL = os.environ.get("OPENSSL", "openssl")

# Bump when the layout or contents change, so old directories are rebuilt.
LAYOUT_VERSION = "11"
# Rebuild a PKI older than this (relative validity windows drift).
MAX_AGE_SECONDS = 20 * 24 * 3600

ROOT_SUBJ = "/C=US/O=X509Authn Test/CN=X509Authn Test Root CA"
A_SUBJ = "/C=US/O=X509Authn Test/CN=X509Authn Test Issuing CA A"
B_SUBJ = "/C=US/O=X509Authn Test/CN=X509Authn Test Issuing CA B"
ALICE_SUBJ = "/C=US/O=Example Corp/OU=Engineering/CN=alice/UID=alice01"

# Certificate authorities: name -> (subject, issuer name or None, serial)
CAS = [
    ("root", ROOT_SUBJ, None, 0x01),
    ("issuing-a", A_SUBJ, "root", 0x0A01),
    ("issuing-b", B_SUBJ, "root", 0x0B01),
    ("lookalike-root", ROOT_SUBJ, None, 0x7701),
    ("lookalike-a", A_SUBJ, "lookalike-root", 0x77A1),
]

CLIENT_EKU = "extendedKeyUsage = clientAuth"

# Leaf certificates: name -> dict(subj, issuer, serial, ext lines, dates)
# dates: None = normal (yesterday .. +10 years); "expired"; "notyet".
CERTS = {
    "server": dict(
        subj="/C=US/O=X509Authn Test/CN=localhost", issuer="issuing-a",
        serial=0x5E01,
        ext=["subjectAltName = DNS:localhost, IP:127.0.0.1",
             "extendedKeyUsage = serverAuth"]),
    "alice": dict(
        subj=ALICE_SUBJ, issuer="issuing-a", serial=0x1001,
        ext=["subjectAltName = email:alice@example.com, "
             "otherName:1.3.6.1.4.1.311.20.2.3;UTF8:alice@corp.example.com, "
             "URI:spiffe://example.com/alice, DNS:alice.example.com",
             "certificatePolicies = 1.3.6.1.4.1.55555.1.1",
             CLIENT_EKU]),
    "bob": dict(
        subj="/C=US/O=Example Corp/CN=bob/emailAddress=bob@example.com",
        issuer="issuing-b", serial=0x2002,
        ext=[CLIENT_EKU]),
    "lookalike": dict(
        subj=ALICE_SUBJ, issuer="lookalike-a", serial=0x1001,
        ext=["subjectAltName = email:alice@example.com, "
             "otherName:1.3.6.1.4.1.311.20.2.3;UTF8:alice@corp.example.com, "
             "URI:spiffe://example.com/alice, DNS:alice.example.com",
             "certificatePolicies = 1.3.6.1.4.1.55555.1.1",
             CLIENT_EKU]),
    "expired": dict(
        subj="/C=US/O=Example Corp/CN=expired", issuer="issuing-a",
        serial=0x3001, ext=[CLIENT_EKU], dates="expired"),
    "notyet": dict(
        subj="/C=US/O=Example Corp/CN=notyet", issuer="issuing-a",
        serial=0x3002, ext=[CLIENT_EKU], dates="notyet"),
    "revoked": dict(
        subj="/C=US/O=Example Corp/CN=revoked", issuer="issuing-a",
        serial=0x3003, ext=[CLIENT_EKU]),
    "serveronly": dict(
        subj="/C=US/O=Example Corp/CN=serveronly", issuer="issuing-a",
        serial=0x3004, ext=["extendedKeyUsage = serverAuth"]),
    "smime": dict(
        # clientAuth plus emailProtection and a private EKU OID, and two
        # policies: for the OR forms of RequireEKU / RequirePolicy.
        subj="/C=US/O=Example Corp/CN=smime", issuer="issuing-a",
        serial=0x3005,
        ext=["extendedKeyUsage = clientAuth, emailProtection, "
             "1.3.6.1.4.1.55555.3.1",
             "certificatePolicies = 1.3.6.1.4.1.55555.1.2, "
             "1.3.6.1.4.1.55555.1.3"]),
    "utf8": dict(
        subj="/C=DE/O=B\u00fccher GmbH/CN=J\u00fcrgen M\u00fcller",
        issuer="issuing-a", serial=0x3006, ext=[CLIENT_EKU]),
    "escaped": dict(
        # RFC 4514: CN=Smith\, John+UID=jsmith,O=ACME \"Quotes\" \\ Inc,C=US
        subj='/C=US/O=ACME "Quotes" \\\\ Inc/CN=Smith, John+UID=jsmith',
        issuer="issuing-a", serial=0x3007, ext=[CLIENT_EKU]),
    "multiou": dict(
        subj="/C=US/O=Example Corp/OU=Corp/OU=Staff/CN=Users/CN=carol",
        issuer="issuing-a", serial=0x3008, ext=[CLIENT_EKU]),
    "root-direct": dict(
        subj="/C=US/O=Example Corp/CN=rootdirect", issuer="root",
        serial=0x3009, ext=[CLIENT_EKU]),
    "selfsigned": dict(
        subj="/C=US/O=Example Corp/CN=selfsigned", issuer=None,
        serial=0x300A, ext=[CLIENT_EKU]),
    # load balancers' own client certificates (trusted-proxy mode)
    "proxy": dict(
        subj="/C=US/O=X509Authn Test/OU=Proxies/CN=lb1.proxy.test",
        issuer="issuing-b", serial=0x4001, ext=[CLIENT_EKU]),
    "proxy-other": dict(
        subj="/C=US/O=X509Authn Test/OU=Proxies/CN=lb2.proxy.test",
        issuer="issuing-b", serial=0x4002, ext=[CLIENT_EKU]),
}

REVOKED = {"issuing-a": ["revoked"]}


def _run(args, cwd=None, input=None):
    p = subprocess.run([OPENSSL] + list(args), cwd=cwd, input=input,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        raise RuntimeError("openssl %s failed (%d):\n%s\n%s" % (
            " ".join(args), p.returncode,
            p.stdout.decode(errors="replace"),
            p.stderr.decode(errors="replace")))
    return p.stdout.decode("utf-8", errors="surrogateescape")


def _gentime(dt):
    return dt.strftime("%Y%m%d%H%M%SZ")


def _pem_blocks(text):
    return re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n?",
                      text, re.S)


def pem_to_der(pem):
    body = re.search(r"-----BEGIN [A-Z ]+-----(.*?)-----END [A-Z ]+-----",
                     pem, re.S).group(1)
    return base64.b64decode("".join(body.split()))


CA_CONF = """\
[ ca ]
default_ca = CA_default

[ CA_default ]
dir              = {dir}
database         = $dir/index.txt
new_certs_dir    = $dir/newcerts
certificate      = $dir/ca.crt
private_key      = $dir/ca.key
serial           = $dir/serial
crlnumber        = $dir/crlnumber
default_md       = sha256
default_days     = 3650
default_crl_days = 3650
policy           = policy_any
unique_subject   = no
copy_extensions  = none
email_in_dn      = yes
preserve         = yes
string_mask      = utf8only
crl_extensions   = crl_ext

[ crl_ext ]
authorityKeyIdentifier = keyid:always

[ policy_any ]
commonName = optional

[ req ]
distinguished_name = req_dn
string_mask        = utf8only
utf8               = yes

[ req_dn ]
"""

EXT_HEAD = """\
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
"""


class Cert:
    """One certificate of the test PKI and what the tests need about it."""

    def __init__(self, pki, name):
        self.name = name
        d = pki.dir
        self.cert = os.path.join(d, name + ".crt")
        self.key = os.path.join(d, name + ".key")
        self.bundle = os.path.join(d, name + ".bundle.pem")
        with open(self.cert) as f:
            self.pem = f.read()
        self.der = pem_to_der(self.pem)
        self.sha256 = hashlib.sha256(self.der).hexdigest().upper()
        self.sha1 = hashlib.sha1(self.der).hexdigest().upper()
        info = pki._info[name]
        self.subject = info["subject"]          # RFC 4514 as mod_ssl prints
        self.issuer = info["issuer"]
        self.subject_legacy = info["subject_legacy"]
        self.issuer_legacy = info["issuer_legacy"]
        self.serial_hex = info["serial"]         # as SSL_CLIENT_M_SERIAL
        self.serial = int(self.serial_hex, 16)
        self.serial_dec = str(self.serial)
        self.not_before = info["not_before"]     # "Nov 26 15:42:06 2026 GMT"
        self.not_after = info["not_after"]
        self.not_after_epoch = info["not_after_epoch"]
        spki = pem_to_der(info["pubkey"])
        self.spki_sha256 = hashlib.sha256(spki).hexdigest().upper()
        self.spki_sha256_b64 = base64.b64encode(
            hashlib.sha256(spki).digest()).decode()
        self.issuer_name = info["issuer_name"]   # PKI name of the issuer

    @property
    def sha256_colons(self):
        return ":".join(self.sha256[i:i + 2] for i in range(0, 64, 2))

    def __repr__(self):
        return "<Cert %s %s>" % (self.name, self.subject)


class PKI:
    """The test PKI in directory ``dir`` (generated when missing/stale)."""

    def __init__(self, dir, force=False):
        self.dir = os.path.abspath(dir)
        stamp = os.path.join(self.dir, "pki.json")
        if force or not self._fresh(stamp):
            self._generate()
        with open(stamp) as f:
            data = json.load(f)
        self._info = data["info"]
        self._certs = {}
        # CA bundles and CRLs
        j = lambda n: os.path.join(self.dir, n)
        self.ca_bundle = j("ca-bundle.pem")                 # root + A + B
        self.ca_bundle_lookalike = j("ca-bundle-lookalike.pem")  # + lookalike root + A
        self.crl_bundle = j("crl-bundle.pem")               # CRLs of root, A, B
        self.issuing_ab = j("ca-issuing-ab.pem")            # A + B (no root)
        # CRLs of root, A (revoking nothing yet) and B
        self.crl_bundle_unrevoked = j("crl-bundle-unrevoked.pem")
        self.crl = {n: j(n + ".crl.pem") for n in
                    ("root", "issuing-a", "issuing-b",
                     "lookalike-root", "lookalike-a")}

    # -- access ------------------------------------------------------------
    def cert(self, name):
        if name not in self._certs:
            self._certs[name] = Cert(self, name)
        return self._certs[name]

    __getitem__ = cert

    def path(self, name):
        return os.path.join(self.dir, name)

    # -- generation --------------------------------------------------------
    def _fresh(self, stamp):
        try:
            with open(stamp) as f:
                data = json.load(f)
        except (OSError, ValueError):
            return False
        if data.get("version") != LAYOUT_VERSION:
            return False
        if time.time() - data.get("created", 0) > MAX_AGE_SECONDS:
            return False
        names = [c[0] for c in CAS] + list(CERTS)
        return all(os.path.exists(os.path.join(self.dir, n + ".crt"))
                   for n in names)

    def _generate(self):
        d = self.dir
        if os.path.isdir(d):
            for n in os.listdir(d):
                p = os.path.join(d, n)
                if os.path.isdir(p):
                    shutil.rmtree(p)
                else:
                    os.unlink(p)
        os.makedirs(d, exist_ok=True)
        now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        dates = {
            "ca": (now - datetime.timedelta(days=2),
                   now + datetime.timedelta(days=7300)),
            None: (now - datetime.timedelta(days=1),
                   now + datetime.timedelta(days=3650)),
            "expired": (now - datetime.timedelta(days=730),
                        now - datetime.timedelta(days=365)),
            "notyet": (now + datetime.timedelta(days=365),
                       now + datetime.timedelta(days=730)),
        }

        def key(name):
            path = os.path.join(d, name + ".key")
            _run(["genpkey", "-algorithm", "EC",
                  "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path])
            return path

        def cadir(name):
            cd = os.path.join(d, "ca", name)
            os.makedirs(os.path.join(cd, "newcerts"), exist_ok=True)
            open(os.path.join(cd, "index.txt"), "w").close()
            with open(os.path.join(cd, "crlnumber"), "w") as f:
                f.write("1000\n")
            with open(os.path.join(cd, "openssl.cnf"), "w") as f:
                f.write(CA_CONF.format(dir=cd))
            return cd

        def issue(name, subj, issuer, serial, ext_lines, span):
            """CSR for `name`, signed by `issuer` (None = self-signed)."""
            k = key(name)
            csr = os.path.join(d, name + ".csr")
            signer = issuer or name
            cd = os.path.join(d, "ca", signer)
            if issuer is None and not os.path.isdir(cd):
                cd = cadir(signer)
            conf = os.path.join(cd, "openssl.cnf")
            _run(["req", "-new", "-config", conf, "-utf8", "-key", k,
                  "-subj", subj, "-out", csr])
            with open(os.path.join(cd, "serial"), "w") as f:
                f.write("%04X\n" % serial)
            extfile = os.path.join(d, name + ".ext")
            with open(extfile, "w") as f:
                f.write("[ ext ]\n" + EXT_HEAD + "\n".join(ext_lines) + "\n")
            out = os.path.join(d, name + ".crt")
            args = ["ca", "-batch", "-config", conf, "-notext",
                    "-preserveDN", "-in", csr, "-out", out,
                    "-extfile", extfile, "-extensions", "ext",
                    "-startdate", _gentime(span[0]),
                    "-enddate", _gentime(span[1])]
            if issuer is None:
                args += ["-selfsign", "-keyfile", k]
            _run(args)
            os.unlink(csr)
            os.unlink(extfile)
            return out

        issuers = {}
        for name, subj, issuer, serial in CAS:
            cd = cadir(name)
            # anyPolicy: RFC 5280 policy processing (X509AuthnRequirePolicy)
            # passes the leaves' own policies through the CAs
            issue(name, subj, issuer, serial,
                  ["basicConstraints = critical, CA:TRUE",
                   "keyUsage = critical, keyCertSign, cRLSign",
                   "certificatePolicies = 2.5.29.32.0"], dates["ca"])
            shutil.copy(os.path.join(d, name + ".crt"), os.path.join(cd, "ca.crt"))
            shutil.copy(os.path.join(d, name + ".key"), os.path.join(cd, "ca.key"))
            issuers[name] = issuer

        for name, spec in CERTS.items():
            ext = ["basicConstraints = critical, CA:FALSE",
                   "keyUsage = critical, digitalSignature"] + spec["ext"]
            issue(name, spec["subj"], spec["issuer"], spec["serial"], ext,
                  dates[spec.get("dates")])
            issuers[name] = spec["issuer"]

        # issuing-a's CRL before anything is revoked (CRL reload tests)
        _run(["ca", "-batch", "-config",
              os.path.join(d, "ca", "issuing-a", "openssl.cnf"), "-gencrl",
              "-crl_lastupdate", _gentime(now - datetime.timedelta(days=1)),
              "-crl_nextupdate", _gentime(now + datetime.timedelta(days=3650)),
              "-out", os.path.join(d, "issuing-a.unrevoked.crl.pem")])

        for ca, victims in REVOKED.items():
            conf = os.path.join(d, "ca", ca, "openssl.cnf")
            for v in victims:
                _run(["ca", "-batch", "-config", conf, "-revoke",
                      os.path.join(d, v + ".crt"), "-crl_reason", "keyCompromise"])

        for name, _, _, _ in CAS:
            conf = os.path.join(d, "ca", name, "openssl.cnf")
            _run(["ca", "-batch", "-config", conf, "-gencrl",
                  "-crl_lastupdate", _gentime(now - datetime.timedelta(days=1)),
                  "-crl_nextupdate", _gentime(now + datetime.timedelta(days=3650)),
                  "-out", os.path.join(d, name + ".crl.pem")])

        def read(n):
            with open(os.path.join(d, n)) as f:
                return f.read()

        def write(n, text):
            with open(os.path.join(d, n), "w") as f:
                f.write(text)

        # chains (leaf + intermediates up to, not including, the root)
        def chain(name):
            out, cur = [], issuers.get(name)
            while cur is not None and issuers.get(cur) is not None:
                out.append(cur)
                cur = issuers[cur]
            return out

        for name in list(CERTS) + [c[0] for c in CAS]:
            write(name + ".bundle.pem",
                  read(name + ".crt") + "".join(read(c + ".crt") for c in chain(name)))

        write("ca-bundle.pem", "".join(read(n + ".crt") for n in
                                       ("root", "issuing-a", "issuing-b")))
        write("ca-bundle-lookalike.pem", "".join(read(n + ".crt") for n in
                                                 ("root", "issuing-a", "issuing-b",
                                                  "lookalike-root", "lookalike-a")))
        write("ca-issuing-ab.pem", "".join(read(n + ".crt") for n in
                                           ("issuing-a", "issuing-b")))
        write("crl-bundle.pem", "".join(read(n + ".crl.pem") for n in
                                        ("root", "issuing-a", "issuing-b")))
        write("crl-bundle-unrevoked.pem", read("root.crl.pem")
              + read("issuing-a.unrevoked.crl.pem") + read("issuing-b.crl.pem"))

        info = {}
        for name in list(CERTS) + [c[0] for c in CAS]:
            info[name] = self._describe(os.path.join(d, name + ".crt"))
            info[name]["issuer_name"] = issuers[name]

        for root, dirs, files in os.walk(d):
            os.chmod(root, 0o755)
            for f in files:
                os.chmod(os.path.join(root, f), 0o644)

        write("pki.json", json.dumps({"version": LAYOUT_VERSION,
                                      "created": time.time(),
                                      "info": info}, indent=1))

    @staticmethod
    def _describe(path):
        out = {}
        # mod_ssl prints DNs with XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB
        for what in ("subject", "issuer"):
            line = _run(["x509", "-in", path, "-noout", "-" + what,
                         "-nameopt", "RFC2253,-esc_msb"]).strip()
            out[what] = line.split("=", 1)[1]
            line = _run(["x509", "-in", path, "-noout", "-" + what,
                         "-nameopt", "compat"]).strip()
            out[what + "_legacy"] = line.split("=", 1)[1]
        txt = _run(["x509", "-in", path, "-noout", "-serial", "-startdate",
                    "-enddate"])
        for line in txt.splitlines():
            k, v = line.split("=", 1)
            out[{"serial": "serial", "notBefore": "not_before",
                 "notAfter": "not_after"}[k]] = v
        out["not_after_epoch"] = datetime.datetime.strptime(
            out["not_after"], "%b %d %H:%M:%S %Y GMT").replace(
                tzinfo=datetime.timezone.utc).timestamp()
        out["pubkey"] = _run(["x509", "-in", path, "-noout", "-pubkey"])
        return out


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: %s DIR\n" % argv[0])
        return 2
    pki = PKI(argv[1])
    for name in [c[0] for c in CAS] + list(CERTS):
        c = pki.cert(name)
        print("%-15s serial=%-5s %s" % (name, c.serial_hex, c.subject))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
