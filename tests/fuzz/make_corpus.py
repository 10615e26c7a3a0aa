#!/usr/bin/python3
# Licensed under the Apache License, Version 2.0 (see COPYING).
"""Regenerate the fuzzing seed corpora and the fixed PKI of the targets.

    tests/fuzz/make_corpus.py

Writes tests/fuzz/corpus/<target>/* and tests/fuzz/fixtures.h (the fixed
root CA, issuing CA, leaf and CRLs that fuzz_map, fuzz_cert and fuzz_verify
compare against).  Both are committed: rerun this only to change them, and
commit them together (seeds of fuzz_map and fuzz_cert name the fixed leaf's
fingerprints, serial and issuer).  Needs only python3 and the openssl CLI.
Keys are new on every run, so the output differs from run to run.
"""

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
TARGETS = ["fuzz_decode_leaf", "fuzz_decode_chain", "fuzz_dn", "fuzz_numbers",
           "fuzz_map", "fuzz_cert", "fuzz_verify", "fuzz_files", "fuzz_record"]

# x509a_format values (first byte of a fuzz_decode_leaf input)
FMT = {"auto": 0, "pem": 1, "der-base64": 2, "list": 3, "rfc9440": 4,
       "xfcc": 5, "xfcc-append": 6}

W = None  # work directory


def openssl(*args, stdin=None):
    r = subprocess.run(["openssl"] + list(args), cwd=W, input=stdin,
                       capture_output=True)
    if r.returncode != 0:
        sys.exit("openssl %s failed:\n%s" % (" ".join(args),
                                             r.stderr.decode(errors="replace")))
    return r.stdout


def wfile(name, data):
    path = os.path.join(W, name)
    with open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    return path


def rfile(name):
    with open(os.path.join(W, name), "rb") as f:
        return f.read()


# --------------------------------------------------------------------------
# Certificates with the openssl CLI
# --------------------------------------------------------------------------

REQ_CNF = """[req]
distinguished_name = dn
prompt = no
utf8 = yes
string_mask = %s
[dn]
"""

CA_CNF = """[ca]
default_ca = ca
[ca]
dir = %(dir)s
database = %(dir)s/index.txt
new_certs_dir = %(dir)s/new
serial = %(dir)s/serial
crlnumber = %(dir)s/crlnumber
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
email_in_dn = yes
[any]
"""


def key(name, kind="ec"):
    if kind == "ec":
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt",
                "ec_paramgen_curve:P-256", "-out", name + ".key")
    elif kind == "rsa":
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt",
                "rsa_keygen_bits:2048", "-out", name + ".key")
    else:
        openssl("genpkey", "-algorithm", kind, "-out", name + ".key")


def csr(name, subj, kind="ec", mask="utf8only", multivalue=False):
    """A CSR; @subj is the -subj slash form."""
    key(name, kind)
    args = ["req", "-new", "-key", name + ".key", "-out", name + ".csr",
            "-utf8", "-subj", subj,
            "-config", wfile(name + ".req.cnf", REQ_CNF % mask + "CN=x\n")]
    if multivalue:
        args.append("-multivalue-rdn")
    openssl(*args)


def sign(name, issuer, serial, ext=None, days=9000, v1=False):
    """Sign name.csr with issuer (self-signed when issuer is None)."""
    args = ["x509", "-req", "-in", name + ".csr", "-out", name + ".pem",
            "-days", str(days), "-sha256", "-set_serial", serial]
    if issuer:
        args += ["-CA", issuer + ".pem", "-CAkey", issuer + ".key"]
    else:
        args += ["-key", name + ".key"]
    if not v1:
        args += ["-extfile", wfile(name + ".ext", "[v3]\n" + (ext or "")),
                 "-extensions", "v3"]
    openssl(*args)
    return pem_to_der(rfile(name + ".pem"))


def pem_to_der(pem):
    body = b"".join(l for l in pem.strip().splitlines()
                    if not l.startswith(b"-----"))
    return base64.b64decode(body)


def der_to_pem(der):
    b = base64.b64encode(der).decode()
    return ("-----BEGIN CERTIFICATE-----\n"
            + "\n".join(b[i:i + 64] for i in range(0, len(b), 64))
            + "\n-----END CERTIFICATE-----\n")


CA_EXT = ("basicConstraints=critical,CA:TRUE\n"
          "keyUsage=critical,keyCertSign,cRLSign\n"
          "subjectKeyIdentifier=hash\n"
          "authorityKeyIdentifier=keyid:always\n")
LEAF_EXT = ("basicConstraints=CA:FALSE\n"
            "keyUsage=critical,digitalSignature\n"
            "extendedKeyUsage=clientAuth\n"
            "subjectKeyIdentifier=hash\n"
            "authorityKeyIdentifier=keyid\n")


def make_pki():
    """The fixed PKI, and a zoo of other certificates; returns dicts."""
    certs = {}
    csr("root", "/C=US/O=Example Corp/CN=Fuzz Root CA")
    certs["root"] = sign("root", None, "1", CA_EXT, days=9500)
    csr("inter", "/C=US/O=Example Corp/CN=Fuzz Issuing CA")
    certs["inter"] = sign("inter", "root", "0x10", CA_EXT + "basicConstraints"
                          "=critical,CA:TRUE,pathlen:0\n", days=9400)
    csr("leaf", "/DC=org/DC=example/C=US/O=Example Corp/OU=Engineering+"
        "UID=alice/CN=alice/emailAddress=alice@example.org", multivalue=True)
    certs["leaf"] = sign("leaf", "inter", "0x1001", LEAF_EXT
                         + "certificatePolicies=1.3.6.1.4.1.99999.1,2.23.140.1.2.1\n"
                         "subjectAltName=email:alice@example.org,"
                         "DNS:alice.example.org,URI:spiffe://example.org/alice,"
                         "otherName:1.3.6.1.4.1.311.20.2.3;UTF8:alice@corp.example.org\n")

    # a lookalike issuing CA (same DN, other key) and a leaf it signed
    csr("fakeinter", "/C=US/O=Example Corp/CN=Fuzz Issuing CA")
    certs["fakeinter"] = sign("fakeinter", "root", "0x11", CA_EXT)
    csr("fakeleaf", "/DC=org/DC=example/C=US/O=Example Corp/OU=Engineering+"
        "UID=alice/CN=alice/emailAddress=alice@example.org", multivalue=True)
    certs["fakeleaf"] = sign("fakeleaf", "fakeinter", "0x1001", LEAF_EXT)

    # revoked by the issuing CA's CRL
    csr("revoked", "/C=US/O=Example Corp/CN=mallory")
    certs["revoked"] = sign("revoked", "inter", "0x2002", LEAF_EXT)

    # T61String and BMPString values (string_mask = default)
    csr("bmp", "/C=DE/O=Überstraße GmbH/OU=Ωmega Ünit/CN=Jürgen Ωmega",
        mask="default")
    certs["bmp"] = sign("bmp", "inter", "0x3003", LEAF_EXT
                        + "subjectAltName=email:j\u00fcrgen@example.de\n")
    # characters RFC 4514 escapes, control characters, spaces
    csr("special", "/O= lead and trail /OU=a\\,b\\+c\\\"d\\\\e<f>g;h=i #j"
        "/OU=\x01ctrl\x7f/CN=#hash/CN=C\\+\\+ /O=AT\\/T")
    certs["special"] = sign("special", "inter", "0x00", LEAF_EXT
                            + "subjectAltName=DNS:a.example,DNS:b.example,"
                            "IP:192.0.2.1,dirName:dirsect,RID:1.2.3.4,"
                            "otherName:1.3.6.1.4.1.311.20.2.3;IA5:notutf8,"
                            "otherName:1.2.3.4;UTF8:other\n"
                            "[dirsect]\nCN=dir name\n")
    # every attribute type of the alias table, repeated ones
    csr("attrs", "/1.2.3.4.5=custom/serialNumber=123/title=Dr/GN=Al/SN=Ice"
        "/street=Main St/postalCode=12345/pseudonym=p/ST=CA/L=SF/initials=A"
        "/description=desc/organizationIdentifier=VATDE-123"
        "/businessCategory=x/dnQualifier=q/OU=a/OU=b/OU=c/CN=x/CN=y/UID=u1"
        "/DC=com")
    certs["attrs"] = sign("attrs", "inter",
                          "0x7F112233445566778899AABBCCDDEEFF00112233",
                          LEAF_EXT + "certificatePolicies=2.5.29.32.0\n"
                          "extendedKeyUsage=serverAuth,emailProtection,"
                          "1.3.6.1.4.1.311.20.2.2\n")
    # other key algorithms
    csr("rsa", "/C=US/O=Example Corp/CN=rsa user", kind="rsa")
    certs["rsa"] = sign("rsa", "inter", "4660", LEAF_EXT)
    csr("ed", "/CN=ed25519 user", kind="ED25519")
    certs["ed"] = sign("ed", "inter", "-5", LEAF_EXT)
    # version 1, self-signed non-CA, far-future GeneralizedTime
    csr("v1", "/CN=version one/O=Example Corp")
    certs["v1"] = sign("v1", "inter", "0x01", v1=True)
    csr("self", "/CN=self signed")
    certs["self"] = sign("self", None, "0x5E1F", LEAF_EXT, days=40000)

    # CRLs of the two CAs; the issuing CA's revokes "revoked"
    crls = []
    for ca, revoke in (("root", None), ("inter", "revoked")):
        d = os.path.join(W, "ca-" + ca)
        os.makedirs(os.path.join(d, "new"))
        open(os.path.join(d, "index.txt"), "w").close()
        with open(os.path.join(d, "crlnumber"), "w") as f:
            f.write("01\n")
        cnf = wfile("ca-%s.cnf" % ca, CA_CNF % {"dir": d})
        if revoke:
            openssl("ca", "-config", cnf, "-revoke", revoke + ".pem",
                    "-keyfile", ca + ".key", "-cert", ca + ".pem",
                    "-crl_reason", "keyCompromise")
        openssl("ca", "-config", cnf, "-gencrl", "-keyfile", ca + ".key",
                "-cert", ca + ".pem", "-crldays", "9000",
                "-out", "crl-%s.pem" % ca)
        crls.append(rfile("crl-%s.pem" % ca).decode())
    return certs, crls


# --------------------------------------------------------------------------
# DER editing (for certificates the CLI does not make)
# --------------------------------------------------------------------------

def der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def tlv(tag, content):
    return bytes([tag]) + der_len(len(content)) + content


def seq(*items):
    return tlv(0x30, b"".join(items))


def set_(*items):
    return tlv(0x31, b"".join(items))


def oid(dotted):
    arcs = [int(a) for a in dotted.split(".")]
    out = b""
    for a in [arcs[0] * 40 + arcs[1]] + arcs[2:]:
        chunk = [a & 0x7F]
        a >>= 7
        while a:
            chunk.insert(0, 0x80 | (a & 0x7F))
            a >>= 7
        out += bytes(chunk)
    return tlv(0x06, out)


def parse_tlv(buf, off=0):
    """(tag, start of content, end) of the TLV at off."""
    tag = buf[off]
    n = buf[off + 1]
    off += 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(buf[off:off + k], "big")
        off += k
    return tag, off, off + n


def children(buf):
    out, off = [], 0
    while off < len(buf):
        _, s, e = parse_tlv(buf, off)
        out.append(buf[off:e])
        off = e
    return out


def cert_parts(der):
    """[tbs fields], sigalg, signature of a certificate."""
    _, s, e = parse_tlv(der)
    tbs, alg, sig = children(der[s:e])
    _, ts, te = parse_tlv(tbs)
    return children(tbs[ts:te]), alg, sig


def cert_build(fields, alg, sig):
    return seq(seq(*fields), alg, sig)


def field_index(fields):
    """Indexes of serial, issuer, validity, subject in the tbs fields."""
    i = 1 if fields[0][0] == 0xA0 else 0
    return {"serial": i, "sigalg": i + 1, "issuer": i + 2, "validity": i + 3,
            "subject": i + 4, "spki": i + 5}


def edit(der, **repl):
    fields, alg, sig = cert_parts(der)
    ix = field_index(fields)
    for k, v in repl.items():
        if k == "extensions":
            if fields[-1][0] == 0xA3:
                fields = fields[:-1]
            if v is not None:
                fields.append(tlv(0xA3, seq(*v)))
        else:
            fields[ix[k]] = v
    return cert_build(fields, alg, sig)


def ava(type_oid, tag, value):
    return seq(oid(type_oid), tlv(tag, value))


CN = "2.5.4.3"
O = "2.5.4.10"


def name(*rdns):
    return seq(*[set_(*r) for r in rdns])


def ext(ext_oid, value, critical=False):
    return seq(oid(ext_oid), *( [tlv(0x01, b"\xff")] if critical else []),
               tlv(0x04, value))


SAN = "2.5.29.17"
EKU = "2.5.29.37"
POLICIES = "2.5.29.32"
UPN = "1.3.6.1.4.1.311.20.2.3"


def upn(tag, value):
    return tlv(0xA0, oid(UPN) + tlv(0xA0, tlv(tag, value)))


def crafted(base):
    """Certificates with names, serials and extensions the CLI refuses."""
    utf8, bmp, univ, t61, ia5, prn = 0x0C, 0x1E, 0x1C, 0x14, 0x16, 0x13
    c = {}
    c["empty_subject_san"] = edit(
        base, subject=seq(), extensions=[
            ext(SAN, seq(tlv(0x81, b"nosubject@example.org")), critical=True)])
    c["cn_sequence"] = edit(base, subject=name(
        [ava(CN, 0x30, tlv(0x02, b"\x01\x00"))], [ava(O, utf8, b"Example")]))
    c["cn_bitstring"] = edit(base, subject=name(
        [ava(CN, 0x03, b"\x00bits"), ava(O, 0x07, b"objdesc")]),
        issuer=name([ava(CN, 0x12, b"123 45")]))
    c["cn_universal"] = edit(base, subject=name(
        [ava(CN, univ, "unį".encode("utf-32-be"))]))
    c["cn_bad_utf8"] = edit(base, subject=name(
        [ava(CN, utf8, b"bad\xc3\x28utf8")]), issuer=name(
        [ava(CN, utf8, b"\xff\xfe")]))
    c["cn_nul"] = edit(base, subject=name([ava(CN, utf8, b"nul\x00byte")]))
    c["bmp_odd"] = edit(base, subject=name([ava(CN, bmp, b"\x00A\x00")]))
    c["bmp_surrogate"] = edit(base, subject=name(
        [ava(CN, bmp, b"\xd8\x00\x00A")]))
    c["t61_high"] = edit(base, subject=name(
        [ava(CN, t61, b"caf\xe9 \xa0 \xff")]))
    c["ia5_high"] = edit(base, subject=name([ava(CN, ia5, b"h\xe9llo")]))
    c["printable_odd"] = edit(base, subject=name(
        [ava(CN, prn, b"a@b_c")]))
    c["empty_value"] = edit(base, subject=name(
        [ava(CN, utf8, b"")], [ava(O, utf8, b"  ")]))
    c["long_oid"] = edit(base, subject=name(
        [ava("1.2." + "9" * 60 + ".4", utf8, b"long oid")],
        [ava("2.999.1", utf8, b"two nine")]))
    c["multi_unsorted"] = edit(base, subject=name(
        [ava(O, utf8, b"Org"), ava(CN, utf8, b"alice"),
         ava("0.9.2342.19200300.100.1.1", utf8, b"uid")]))
    c["many_rdns"] = edit(base, subject=name(
        *[[ava("2.5.4.11", utf8, b"ou%d" % i)] for i in range(40)]))
    c["case_space"] = edit(base, subject=name(
        [ava(CN, utf8, "  ALICE   Ünd\tBÖB  İ Ⱥ ".encode())]))
    c["serial_zero"] = edit(base, serial=tlv(0x02, b"\x00"))
    c["serial_padded"] = edit(base, serial=tlv(0x02, b"\x00\x80"))
    c["serial_neg"] = edit(base, serial=tlv(0x02, b"\xff\x7f"))
    c["serial_long"] = edit(base, serial=tlv(0x02, b"\x01" + bytes(63)))
    c["gentime"] = edit(base, validity=seq(
        tlv(0x18, b"19500101000000Z"), tlv(0x18, b"99991231235959Z")))
    c["expired"] = edit(base, validity=seq(
        tlv(0x17, b"000101000000Z"), tlv(0x17, b"010101000000Z")))
    c["san_odd"] = edit(base, extensions=[ext(SAN, seq(
        tlv(0x81, b""), tlv(0x82, b"ctl\x01\x00dns"), tlv(0x86, b"uri:\xff"),
        upn(utf8, b"bad\xc3utf8"), upn(utf8, b""), upn(bmp, b"\x00u"),
        tlv(0x87, b"\x20\x01\x0d\xb8" + bytes(12))))])
    c["ext_malformed"] = edit(base, extensions=[
        ext(SAN, b"\x30\x03\x81"), ext(EKU, tlv(0x02, b"\x01")),
        ext(POLICIES, seq(seq(oid("1.3.6.1.4.1.99999.1"), seq(seq(
            oid("1.3.6.1.5.5.7.2.1"), tlv(ia5, b"http://cps"))))))])
    c["eku_any"] = edit(base, extensions=[
        ext(EKU, seq(oid("2.5.29.37.0"), oid("1.3.6.1.5.5.7.3.2"))),
        ext(POLICIES, seq(seq(oid("2.5.29.32.0"))))])
    c["no_extensions"] = edit(base, extensions=None)
    return c


# --------------------------------------------------------------------------
# Seeds
# --------------------------------------------------------------------------

def pct(s, safe=""):
    return urllib.parse.quote(s, safe=safe)


def seed(target, label, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, label), "wb") as f:
        f.write(data)


def b64(der):
    return base64.b64encode(der).decode()


def decode_seeds(certs):
    leaf, inter = certs["leaf"], certs["inter"]
    pem, ipem = der_to_pem(leaf), der_to_pem(inter)
    large, small = b"\x00", b"\x07"  # second byte: even = large max_len

    def leafseed(label, fmt, value, size=large):
        seed("fuzz_decode_leaf", label, bytes([FMT[fmt]]) + size
             + value.encode())

    one_line = pem.replace("\n", " ").strip()
    tabbed = pem.strip().replace("\n", "\n\t")
    xfcc_cert = pct(pem)
    xfcc_chain = pct(pem + ipem)
    xfcc_hash = hashlib.sha256(leaf).hexdigest()
    values = {
        "pem": pem,
        "pem_spaces": one_line,
        "pem_tabfold": tabbed,
        "pem_crlf": pem.replace("\n", "\r\n"),
        "pem_nginx_escaped": pct(pem),
        "pem_alb_escaped": pct(pem, safe="+/="),
        "pem_lower_escaped": pct(pem).replace("%0A", "%0a"),
        "der_base64": b64(leaf),
        "der_base64_armour_only": "-----BEGIN CERTIFICATE-----"
                                  + b64(leaf) + "-----END CERTIFICATE-----",
        "rfc9440": ":%s:" % b64(leaf),
        "rfc9440_params": ':%s:;a=1;b="x\\"y";c;*d=?1' % b64(leaf),
        "rfc9440_unpadded": ":%s:" % b64(certs["ed"]).rstrip("="),
        "xfcc": 'By=spiffe://example.org/proxy;Hash=%s;Cert="%s";'
                'Subject="CN=alice,O=Example Corp";URI=spiffe://example.org/'
                'alice;DNS=alice.example.org'
                % (hashlib.sha256(leaf).hexdigest(), xfcc_cert),
        "xfcc_chain": 'Hash=%s;Cert="%s";Chain="%s"'
                      % (xfcc_hash, xfcc_cert, xfcc_chain),
        "xfcc_chain_only": 'By=x;Hash=%s;Chain="%s"' % (xfcc_hash, xfcc_chain),
        # issue 12: a URI SAN ",Cert=..." makes Envoy write two elements
        "xfcc_san_injection": 'By=x;Hash=%s;Cert="%s";URI=spiffe://w,Cert=%s'
                              % (xfcc_hash, xfcc_cert, xfcc_cert),
        "xfcc_two_elements": 'By=spiffe://a;Hash=1;Subject="CN=old,O=x",'
                             'By=spiffe://b;Cert=%s' % xfcc_cert,
        "xfcc_quoted_escapes": 'By="spi\\"ffe";Subject="\\\\x";Cert="%s"'
                               % xfcc_cert,
        "list": "%s,%s" % (b64(leaf), b64(inter)),
        "list_escaped": pct("%s, %s" % (b64(leaf), b64(inter))),
        "null": "(null)",
        "dash": "-",
        "empty": "   ",
    }
    auto = {"pem", "pem_spaces", "pem_tabfold", "pem_nginx_escaped",
            "pem_alb_escaped", "der_base64", "rfc9440", "rfc9440_params",
            "xfcc", "xfcc_two_elements", "null"}
    for label, v in values.items():
        fmt = label.split("_")[0] if label.split("_")[0] in FMT else None
        if label.startswith("der_base64"):
            fmt = "der-base64"
        if label.startswith("pem"):
            fmt = "pem"
        leafseed(label, fmt or "auto", v)
        if label in auto and fmt:
            leafseed(label + "_auto", "auto", v)
    leafseed("xfcc_append", "xfcc-append",
             values["xfcc_chain_only"] + ", " + values["xfcc"])
    leafseed("xfcc_append_san_injection", "xfcc-append",
             values["xfcc_san_injection"])
    leafseed("pem_bundle", "pem", pem + ipem)
    leafseed("pem_bundle_auto_refused", "auto", pem + ", " + ipem)
    leafseed("pem_small_limit", "pem", pem, small)
    leafseed("bmp_pem_auto", "auto", der_to_pem(certs["bmp"]))
    leafseed("special_rfc9440", "rfc9440", ":%s:" % b64(certs["special"]))
    leafseed("attrs_b64", "der-base64", b64(certs["attrs"]))
    leafseed("bad_b64", "der-base64", b64(leaf)[:-3] + "=A=")
    leafseed("trailing_data", "der-base64", b64(leaf + b"\x00"))
    leafseed("bad_percent", "pem", "%ZZ" + pct(pem))

    def chainseed(label, value):
        seed("fuzz_decode_chain", label, value)

    chainseed("rfc9440_list", ":%s:, :%s:" % (b64(inter), b64(certs["root"])))
    chainseed("rfc9440_one_params", ":%s:;sig=1" % b64(inter))
    chainseed("pem_bundle", ipem + der_to_pem(certs["root"]))
    chainseed("pem_escaped", pct(ipem + der_to_pem(certs["root"])))
    chainseed("pem_joined", ipem.strip() + ", " + der_to_pem(certs["root"]))
    chainseed("der_base64", b64(inter))
    chainseed("rfc9440_unpadded", ":%s:" % b64(certs["ed"]).rstrip("="))
    chainseed("none", "(null)")
    chainseed("bad_list", ":%s: x" % b64(inter))
    chainseed("two_b64", "%s,%s" % (b64(inter), b64(leaf)))


DNS = [
    "CN=alice,O=Example Corp,C=US",
    "cn = alice ; o = Example Corp ; c = US",
    "CN=\"quoted, value; +\",O=x",
    'CN=a\\,b\\+c\\"d\\\\e\\<f\\>g\\;h\\=i\\#j,O=x',
    "CN=\\ lead and trail\\ ,O=x  ",
    "CN=\\#hash,O=\\20",
    "CN=J\\C3\\BCrgen,O=\\E6\\97\\A5\\E6\\9C\\AC",
    "CN=Jürgen Ωmega,O=Überstraße",
    "CN=  ALICE   Ünd\tBÖB  İ Ⱥ ",
    "OU=Eng+UID=alice,CN=x",
    "UID=alice+OU=Eng,CN=x",
    "CN=#0C05616C696365",
    "1.2.3.4=#020105,CN=#1E0400410042",
    "CN=#1C0800000041000000E9",
    "CN=#0C03C328",
    "OID.2.5.4.3=alice,2.5.4.10=Org,oid.2.5.4.6=US",
    "E=a@b,emailAddress=c@d,Email=e@f,DC=example,DC=org",
    "T=t,SN=s,G=g,GN=gn,initials=i,serialNumber=1,street=s,postalCode=1,"
    "pseudonym=p,dnQualifier=q,description=d,businessCategory=b,"
    "organizationIdentifier=o,S=s,SP=sp,ST=st,L=l",
    "commonName=a,organizationName=b,organizationalUnitName=c,"
    "localityName=d,stateOrProvinceName=e,countryName=US,domainComponent=x,"
    "userId=u,title=t,surname=s,givenName=g,streetAddress=a",
    "C=US,O=Example Corp,CN=alice",
    "DC=org,DC=example,CN=alice",
    "/C=US/O=Example Corp/CN=alice",
    "/O=AT/T/CN=C++",
    "/CN=a\\/b\\+c\\=d\\,e\\\\f/CN=\\x41\\x42\\C3\\BC",
    "/CN=C:\\temp\\new",
    "/OU=Eng+UID=alice/CN=x",
    "/CN=\\xC3\\xBC/emailAddress=a@b",
    "/DC=org/DC=example/C=US/O=Example Corp/OU=Engineering+UID=alice/CN=alice"
    "/emailAddress=alice@example.org",
    "emailAddress=alice@example.org,CN=alice,OU=Engineering+UID=alice,"
    "O=Example Corp,C=US,DC=example,DC=org",
    "/",
    "CN",
    "CN=a,",
    "=x",
    "CN=\\zz",
    'CN="unterminated',
    "CN=#abc",
    "XX=1",
    'CN=a"b',
    "CN=\\00",
    "CN=a\xff",
    "CN=x;;O=y",
    "CN=a,O=b\x00ignored",
    ",".join("OU=u%d" % i for i in range(40)),
    "1.2." + "9" * 40 + "=x",
    "OID.=x",
    "CN=é+CN=e+CN=E",
]


def dn_seeds(certs):
    for i, d in enumerate(DNS):
        seed("fuzz_dn", "dn%02d" % i, d.encode("utf-8", "surrogateescape")
             if "\xff" not in d else d.encode("latin-1"))


def numbers_seeds(certs):
    leaf = certs["leaf"]
    sha256 = hashlib.sha256(leaf).hexdigest()
    sha1 = hashlib.sha1(leaf).hexdigest()
    vals = [
        "4660", "0x1234", "0X00001001", "12:34:AB", "A:B:C", "-5", "-0x1001",
        "00:10:01", "0", "0x", "1234567890123456789012345678901234567890",
        "0x" + "F" * 130, "1:234", "12::34", "DEADBEEF",
        "sha256:" + ":".join(sha256[i:i + 2] for i in range(0, 64, 2)),
        "SHA-256:" + sha256.upper(), "sha1:" + sha1, sha1, sha256,
        " ".join(sha256[i:i + 4] for i in range(0, 64, 4)),
        "sha1:" + sha256,
        "sha256:" + base64.b64encode(hashlib.sha256(b"x").digest()).decode(),
        'pin-sha256:"%s"' % base64.b64encode(hashlib.sha256(b"y").digest())
        .decode(),
        "sha256:" + "ab" * 32,
        "subject", "subject-legacy", "cn", "subject:OU", "subject:2.5.4.10",
        "subject:OID.0.9.2342.19200300.100.1.1", "email", "upn", "uri", "dns",
        "serial", "issuer+serial", "sha256", "SUBJECT:emailAddress",
        "subject:", "subject:bogus", "auto", "pem", "der-base64", "list",
        "rfc9440", "XFCC", "xfcc-append",
    ]
    for i, v in enumerate(vals):
        seed("fuzz_numbers", "n%02d" % i, v)


def map_seeds(certs):
    leaf = certs["leaf"]
    sha256 = hashlib.sha256(leaf).hexdigest().upper()
    sha1 = hashlib.sha1(leaf).hexdigest()
    inter_dn = "CN=Fuzz Issuing CA,O=Example Corp,C=US"
    maps = {
        "fingerprint": "fingerprint sha256:%s alice\n" % sha256,
        "fingerprint_sha1": "# comment\n\nfingerprint sha1:%s bob\n" % sha1,
        "fingerprint_bare": "fingerprint %s carol  # trailing\n" % sha1,
        "issuer_serial": 'issuer-serial "%s" 0x1001 alice\n' % inter_dn,
        "issuer_serial_forms": 'issuer-serial "%s" 4096 zero\n'
                               'issuer-serial "/C=US/O=Example Corp/CN=Fuzz '
                               'Issuing CA" 10:01 alice\n'
                               'issuer-serial "%s" -0x1001 neg\n'
                               % (inter_dn, inter_dn),
        "issuer_subject": 'issuer-subject "%s" "^CN=([^,]+),.*O=Example '
                          'Corp" user-$1\n' % inter_dn,
        "issuer_subject_dollars": 'issuer-subject "%s" "(.*)(alice)" '
                                  '"$$-$2-$1$9"\n' % inter_dn,
        "issuer_subject_bad_ref": 'issuer-subject "%s" "alice" $1\n' % inter_dn,
        "all_kinds": ('issuer-subject "%s" "^CN=(bob)" $1\n'
                      'fingerprint sha256:%s fp-user\n'
                      'issuer-serial "%s" 0x1001 is-user\n'
                      'issuer-subject "%s" "alice" "many to one"\n'
                      'FINGERPRINT SHA1:%s\tfp1\r\n'
                      % (inter_dn, sha256, inter_dn, inter_dn, sha1)),
        "root_issuer": 'issuer-subject "CN=Fuzz Root CA,O=Example Corp,C=US" '
                       '"Issuing" "ca-$$"\n',
        "quotes": 'issuer-serial "CN=a \\"quoted\\" \\\\ dn" 1 "user name"\n',
        "errors_unknown": "whatever x y\n",
        "errors_fields": "fingerprint a b c d e f\n",
        "errors_quote": 'fingerprint "abc\n',
        "errors_after_quote": 'fingerprint "abc"def x\n',
        "errors_ctrl_user": "fingerprint %s a\x01b\n" % sha1,
        "errors_regex": 'issuer-subject "%s" "(" x\n' % inter_dn,
        "errors_dn": 'issuer-serial "CN" 1 x\n',
    }
    for k, v in maps.items():
        seed("fuzz_map", k, v)


def cert_seeds(certs, crafted_certs):
    for k, der in list(certs.items()) + list(crafted_certs.items()):
        seed("fuzz_cert", k + ".der", der)
    seed("fuzz_verify", "leaf_inter.der", certs["leaf"] + certs["inter"])
    seed("fuzz_verify", "leaf_only.der", certs["leaf"])
    seed("fuzz_verify", "leaf_fakeinter.der",
         certs["leaf"] + certs["fakeinter"] + certs["inter"])
    seed("fuzz_verify", "fakeleaf.der", certs["fakeleaf"] + certs["fakeinter"])
    seed("fuzz_verify", "revoked.der", certs["revoked"] + certs["inter"])
    seed("fuzz_verify", "rsa.der", certs["rsa"] + certs["inter"])
    seed("fuzz_verify", "ed.der", certs["ed"] + certs["inter"])
    seed("fuzz_verify", "v1.der", certs["v1"] + certs["inter"])
    seed("fuzz_verify", "inter.der", certs["inter"] + certs["root"])
    seed("fuzz_verify", "self.der", certs["self"])
    seed("fuzz_verify", "root.der", certs["root"])
    seed("fuzz_verify", "expired.der", crafted_certs["expired"]
         + certs["inter"])


def files_seeds(certs, crls):
    root, inter, leaf = (der_to_pem(certs[k]) for k in ("root", "inter", "leaf"))
    allcrl = "".join(crls)
    garbage = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    seeds = {
        0: {"root": root, "root_inter": root + inter, "with_crls": root + allcrl,
            "garbage": garbage, "empty": "", "leaf_only": leaf},
        1: {"crls": allcrl, "crls_and_cert": allcrl + inter, "no_crl": root,
            "inter_crl_only": crls[1], "garbage": garbage},
        2: {"crls": allcrl, "root_crl_only": crls[0], "empty": "",
            "crls_and_cert": inter + allcrl},
        3: {"inter": inter, "root_inter": root + inter, "leaf": leaf,
            "crls": allcrl, "fake": der_to_pem(certs["fakeinter"])},
        4: {"map": "fingerprint sha256:%s alice\nissuer-serial "
                   "\"CN=Fuzz Issuing CA,O=Example Corp,C=US\" 0x1001 bob\n"
                   % hashlib.sha256(certs["leaf"]).hexdigest()},
    }
    for mode, items in seeds.items():
        for label, text in items.items():
            seed("fuzz_files", "%d_%s" % (mode, label),
                 bytes([mode]) + text.encode())


def record_seeds():
    """fuzz_record: secret files (mode 0), records as read from a cache
    (mode 1) and record bodies the target signs (mode 2), laid out as
    lib/x509a_record.h says."""
    import struct
    seed("fuzz_record", "0_hex", b"\0" + b"00112233445566778899aabbccddeeff" * 2 + b"\n")
    seed("fuzz_record", "0_raw", b"\0" + bytes(range(200, 240)))
    seed("fuzz_record", "0_text", b"\0correct horse battery staple and more\n")
    head = bytes([1]) + b"\xaa" * 8
    v = (head + b"V" + struct.pack(">qqq", 2000000000, 1704067200, 2524607999)
         + bytes([2, 0, 0]) + bytes(range(64)))
    why = b"verification failed at depth 0: certificate revoked"
    f = (head + b"F" + struct.pack(">qqq", 2000000000, 0, 0)
         + bytes([0]) + struct.pack(">H", len(why)) + why)
    seed("fuzz_record", "1_verified", b"\1" + v + b"\0" * 16)
    seed("fuzz_record", "1_refused", b"\1" + f + b"\0" * 16)
    seed("fuzz_record", "1_old_format", b"\1V\1" + bytes(32) + bytes(16))
    seed("fuzz_record", "2_verified", b"\2" + v)
    seed("fuzz_record", "2_refused", b"\2" + f)


def c_string(text):
    out = []
    for line in text.splitlines(True):
        out.append('    "%s"' % line.replace("\\", "\\\\").replace('"', '\\"')
                   .replace("\n", "\\n"))
    return "\n".join(out)


def write_fixtures(certs, crls):
    parts = ["/* Generated by tests/fuzz/make_corpus.py: do not edit. */\n",
             "/* The fixed PKI the fuzz targets compare against: a root CA, "
             "an issuing CA,\n * a lookalike issuing CA (same DN, other key),"
             " the leaf (alice, serial\n * 0x1001, issued by the issuing CA) "
             "and the CRLs of both CAs. */\n",
             "#ifndef FUZZ_FIXTURES_H\n#define FUZZ_FIXTURES_H\n"]
    for n in ("root", "inter", "fakeinter", "leaf"):
        parts.append("\nstatic const char fx_%s_pem[] =\n%s;\n"
                     % (n, c_string(der_to_pem(certs[n]))))
    parts.append("\nstatic const char fx_crls_pem[] =\n%s;\n"
                 % c_string("".join(crls)))
    parts.append("\n#endif\n")
    with open(os.path.join(HERE, "fixtures.h"), "w") as f:
        f.write("".join(parts))


def main():
    global W
    W = tempfile.mkdtemp(prefix="x509a-corpus-")
    try:
        certs, crls = make_pki()
        crafted_certs = crafted(certs["leaf"])
        for t in TARGETS:
            shutil.rmtree(os.path.join(CORPUS, t), ignore_errors=True)
        decode_seeds(certs)
        dn_seeds(certs)
        numbers_seeds(certs)
        map_seeds(certs)
        cert_seeds(certs, crafted_certs)
        files_seeds(certs, crls)
        record_seeds()
        write_fixtures(certs, crls)
    finally:
        shutil.rmtree(W, ignore_errors=True)
    total = 0
    for t in TARGETS:
        d = os.path.join(CORPUS, t)
        files = os.listdir(d)
        size = sum(os.path.getsize(os.path.join(d, f)) for f in files)
        total += size
        print("%-20s %3d seeds %7d bytes" % (t, len(files), size))
    print("%-20s     total %7d bytes" % ("", total))


if __name__ == "__main__":
    main()
