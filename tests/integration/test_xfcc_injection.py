"""Envoy x-forwarded-client-cert: elements forged through SAN text (issue 12,
defect 1), against real apache2.

Envoy writes URI= and DNS= values raw: a certificate from the trusted CA
whose URI SAN is `spiffe://example/ns/w,Cert=<bob's PEM, percent-encoded>`
makes Envoy's own SANITIZE_SET header carry a second element holding bob's
(public) certificate.  `xfcc` takes exactly one element, `xfcc-append` the
last one but checks every element (an element whose certificate's URI/DNS
SANs hold , ; = or " is refused where the element lists them).

The certificates are made here with the openssl CLI, issued by the test
PKI's Issuing CA A (trusted by every virtual host); the header values are
formed as Envoy's ConnectionManagerUtility::mutateXfccRequestHeader writes
them: By (its own URI SAN), Hash (hex SHA-256 of the DER), then Cert and
Chain (quoted, URL-encoded PEM), Subject (quoted, RFC 2253), URI (one per
URI SAN, empty when none), DNS (one per DNS SAN).

Virtual hosts (trust 127.0.0.1, CA root+A+B):
    xfcc    X-Forwarded-Client-Cert xfcc         (SANITIZE_SET; shipped example)
    auto    X-Forwarded-Client-Cert auto
    append  X-Forwarded-Client-Cert xfcc-append  (APPEND_FORWARD; own server)
"""

import hashlib
import os
import re
import subprocess
import urllib.parse

import pytest

from clients import http_request
from expect import ok, denied, INFO_RX
import forwarded as F
from httpd import new_httpd
from pki import pem_to_der

XFCC = "X-Forwarded-Client-Cert"
BY = "By=spiffe://proxy.test/envoy"


class Made:
    """A client certificate made here, with what the header needs."""

    def __init__(self, crt, key):
        self.cert = crt
        self.key = key
        with open(crt) as f:
            self.pem = f.read()
        self.der = pem_to_der(self.pem)
        self.sha256 = hashlib.sha256(self.der).hexdigest().upper()
        out = subprocess.run(["openssl", "x509", "-in", crt, "-noout", "-subject",
                              "-nameopt", "RFC2253"], stdout=subprocess.PIPE,
                             check=True).stdout.decode().strip()
        self.subject = out[len("subject="):]


def conf_escape(value):
    """A value for an OpenSSL config file: its parser strips quotes and
    reads backslashes as escapes."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


def make_client(d, pki, name, serial, uris=(), dnss=()):
    """A client certificate issued by Issuing CA A with the given URI and
    DNS SANs (in that order), bytes as given."""
    key, csr, crt, ext = (os.path.join(d, name + s) for s in (".key", ".csr", ".crt", ".ext"))
    quiet = dict(check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-out", key], **quiet)
    subprocess.run(["openssl", "req", "-new", "-key", key, "-subj",
                    "/C=US/O=X509Authn Test/CN=%s" % name, "-out", csr], **quiet)
    lines = ["basicConstraints = critical, CA:FALSE",
             "keyUsage = critical, digitalSignature",
             "extendedKeyUsage = clientAuth"]
    if uris or dnss:
        lines += ["subjectAltName = @alt", "[alt]"]
        lines += ["URI.%d = %s" % (i, conf_escape(u)) for i, u in enumerate(uris)]
        lines += ["DNS.%d = %s" % (i, conf_escape(n)) for i, n in enumerate(dnss)]
    with open(ext, "w") as f:
        f.write("\n".join(lines) + "\n")
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", pki["issuing-a"].cert,
                    "-CAkey", pki["issuing-a"].key, "-set_serial", serial, "-days", "365",
                    "-extfile", ext, "-out", crt], **quiet)
    for p in (key, crt):
        os.chmod(p, 0o644)
    made = Made(crt, key)
    # the SANs hold exactly the bytes asked for (the config parser did not
    # eat quotes, commas or percent signs)
    for v in list(uris) + list(dnss):
        assert v.encode() in made.der, (name, v[:80])
    made.uris, made.dnss = list(uris), list(dnss)
    return made


def enc(cert):
    """Envoy's URL-encoded PEM (urlEncodedPemEncodedPeerCertificate)."""
    return urllib.parse.quote(F.pem(cert), safe="")


def envoy(cert, chain=None, with_cert=True, uri=True, dns=True):
    """The element Envoy writes for `cert` (set_current_client_cert_details
    cert/chain/subject/uri/dns; chain: the certificates after the leaf)."""
    parts = [BY, "Hash=" + cert.sha256.lower()]
    if with_cert:
        parts.append('Cert="%s"' % enc(cert))
    if chain is not None:
        parts.append('Chain="%s"' % "".join(enc(c) for c in [cert] + chain))
    parts.append('Subject="%s"' % cert.subject)
    if uri:
        parts += ["URI=" + u for u in getattr(cert, "uris", [])] or ["URI="]
    if dns:
        parts += ["DNS=" + n for n in getattr(cert, "dnss", [])]
    return ";".join(parts)


@pytest.fixture(scope="module")
def certs(workroot, pki):
    d = os.path.join(workroot, "xfcc-injection")
    os.makedirs(d, exist_ok=True)
    bob = enc(pki["bob"])
    forged = "%s;Hash=%s;Cert=\"%s\"" % (BY, pki["bob"].sha256.lower(), bob)
    return {
        # a SPIFFE workload, as such a CA would issue it
        "carol": make_client(d, pki, "carol", "0x7101", uris=["spiffe://example/ns/carol"],
                             dnss=["carol.example", "www.carol.example"]),
        # the reported shapes: ",Cert=<bob>" in a URI SAN, in a DNS SAN
        "uri-inj": make_client(d, pki, "mallory-uri", "0x7102",
                               uris=["spiffe://example/ns/w,Cert=" + bob]),
        "dns-inj": make_client(d, pki, "mallory-dns", "0x7103",
                               dnss=["w.example,Cert=" + bob]),
        # a whole forged element (By, bob's Hash, quoted Cert)
        "uri-forged": make_client(d, pki, "mallory-forged", "0x7104",
                                  uris=["spiffe://example/ns/w," + forged]),
        # for chain: true, cert: false, where an injected Cert is the only one
        "uri-semi": make_client(d, pki, "mallory-semi", "0x7105",
                                uris=['spiffe://example/ns/w;Cert="%s"' % bob]),
    }


def vhosts(pki, names):
    locs = F.proxy_locations()
    return {n: F.trust(header="%s %s" % (XFCC, fmt), ca=pki.ca_bundle) + locs
            for n, fmt in names.items()}


@pytest.fixture(scope="module")
def h(request, workroot, pki, module_so):
    srv = new_httpd(request, workroot, pki, module_so, name="xfcc-inj")
    srv.start(extra_vhosts=vhosts(pki, {"xfcc": "xfcc", "auto": "auto"}),
              server_extra="LimitRequestFieldSize 65536\n")
    return srv


@pytest.fixture(scope="module")
def ha(request, workroot, pki, module_so):
    """A server of its own: before xfcc-append existed, its configuration
    did not load, and the tests of h still ran."""
    srv = new_httpd(request, workroot, pki, module_so, name="xfcc-app")
    srv.start(extra_vhosts=vhosts(pki, {"append": "xfcc-append"}),
              server_extra="LimitRequestFieldSize 65536\n")
    return srv


def get(h, vhost, value, loc="hdr"):
    fields = value if isinstance(value, list) else [(XFCC, value)]
    return http_request(h.port(vhost), "/t/%s/env" % loc, fields)


def accepted(h, vhost, value, cert):
    mark = h.log_mark()
    env = ok(get(h, vhost, value))
    assert env["X509_AUTHN_SOURCE"] == "header"
    assert env["X509_CLIENT_FINGERPRINT_SHA256"] == cert.sha256, \
        "logged in as %s, not as %s" % (env.get("REMOTE_USER"), cert.subject)
    assert env["REMOTE_USER"] == cert.subject
    assert not h.log_lines(mark, INFO_RX)
    return env


def refused(h, vhost, value, reason_rx):
    """403, no user, and exactly one info line with the reason."""
    mark = h.log_mark()
    denied(get(h, vhost, value))
    lines = h.log_lines(mark, INFO_RX)
    assert len(lines) == 1, "expected one info line, got:\n" + "\n".join(lines)
    assert "X509A0110" in lines[0], lines[0]
    assert re.search(reason_rx, lines[0]), "reason %r not in %s" % (reason_rx, lines[0])
    assert "client 127.0.0.1" in lines[0], lines[0]
    return lines[0]


TWO = r"malformed X-Forwarded-Client-Cert header: XFCC with 2 elements"


def test_envoy_header_logs_in(h, pki, certs):
    a, carol, ca_a = pki["alice"], certs["carol"], pki["issuing-a"]
    for vhost in ("xfcc", "auto"):
        accepted(h, vhost, envoy(a), a)
        # URI and DNS SANs, one key each, as Envoy writes them
        v = envoy(carol)
        assert ";URI=spiffe://example/ns/carol;DNS=carol.example;DNS=www.carol.example" in v
        accepted(h, vhost, v, carol)
        # chain: true, cert: false, and both
        accepted(h, vhost, envoy(carol, chain=[ca_a], with_cert=False), carol)
        accepted(h, vhost, envoy(carol, chain=[ca_a]), carol)


@pytest.mark.parametrize("vhost", ["xfcc", "auto"])
@pytest.mark.parametrize("name", ["uri-inj", "dns-inj", "uri-forged"])
def test_san_injection_is_not_bob(h, pki, certs, vhost, name):
    """Envoy's SANITIZE_SET header for mallory's certificate carries a second
    element with bob's: refused, nobody logs in."""
    m = certs[name]
    v = envoy(m)
    assert "," in v and enc(pki["bob"]) in v
    refused(h, vhost, v, TWO)


def test_chain_only_injected_cert(h, pki, certs):
    """chain: true, cert: false: an injected Cert would be the only Cert; it
    comes after URI (and Hash names mallory's certificate)."""
    m, ca_a = certs["uri-semi"], pki["issuing-a"]
    v = envoy(m, chain=[ca_a], with_cert=False)
    assert v.count("Cert=") == 1
    for vhost in ("xfcc", "auto"):
        refused(h, vhost, v, r"XFCC key Cert after URI")
    # with cert: true too, it is a second Cert out of Envoy's order
    refused(h, "xfcc", envoy(m, chain=[ca_a]), r"XFCC key Cert after URI")


def test_shapes_envoy_never_writes(h, pki, certs):
    a = pki["alice"]
    refused(h, "xfcc", "%s;Hash=%s;Cert=%s" % (BY, a.sha256.lower(), enc(a)),
            r"unquoted XFCC Cert value")
    refused(h, "xfcc", '%s;Cert="%s"' % (BY, enc(a)), r"XFCC element without Hash")
    refused(h, "xfcc", envoy(a).replace(a.sha256.lower(), pki["bob"].sha256.lower()),
            r"XFCC Hash does not match")
    refused(h, "xfcc", envoy(a) + ";Hash=" + a.sha256.lower(), r"XFCC key Hash after")
    refused(h, "xfcc", envoy(a) + ';Cert="%s"' % enc(pki["bob"]), r"Cert after")
    refused(h, "auto", envoy(a) + ',' + envoy(certs["carol"]), TWO)


def test_append_takes_the_last_element(ha, pki, certs):
    a, carol = pki["alice"], certs["carol"]
    accepted(ha, "append", envoy(carol) + "," + envoy(a), a)
    accepted(ha, "append", envoy(a) + "," + envoy(carol), carol)
    # separate fields, joined by httpd with ", "
    accepted(ha, "append", [(XFCC, envoy(carol)), (XFCC, envoy(a))], a)
    # one element is fine too
    accepted(ha, "append", envoy(a), a)
    # an earlier element without Cert (Envoy's documentation example)
    accepted(ha, "append", "By=http://frontend.lyft.com;Hash=468ed33be74eee6556d90c0149c1"
             "309e9ba61d6425303443c0748a02dd8de688;URI=http://testclient.lyft.com,"
             + envoy(a), a)


def test_append_san_injection(ha, pki, certs):
    """APPEND_FORWARD: the forged element would be the last; the element
    Envoy wrote before it lists a URI / DNS SAN that cannot be written
    unambiguously: refused."""
    refused(ha, "append", envoy(certs["uri-inj"]),
            r"element 1: the certificate's URI SAN holds")
    refused(ha, "append", envoy(certs["dns-inj"]),
            r"element 1: the certificate's DNS SAN holds")
    refused(ha, "append", envoy(certs["uri-forged"]),
            r"element 1: the certificate's URI SAN holds")
    # also behind an earlier, good element
    refused(ha, "append", envoy(pki["alice"]) + "," + envoy(certs["uri-forged"]),
            r"element 2: the certificate's URI SAN holds")
    refused(ha, "append", envoy(certs["uri-semi"], chain=[pki["issuing-a"]],
                                with_cert=False), r"XFCC key Cert after URI")


def test_append_every_element_well_formed(ha, pki, certs):
    a, carol = pki["alice"], certs["carol"]
    unquoted = "%s;Hash=%s;Cert=%s" % (BY, carol.sha256.lower(), enc(carol))
    refused(ha, "append", unquoted + "," + envoy(a), r"element 1: unquoted XFCC Cert")
    refused(ha, "append", BY + ";URI=x," + envoy(a), r"element 1: XFCC element without Hash")
    refused(ha, "append", envoy(a) + "," + BY + ";Hash=" + a.sha256.lower(),
            r"XFCC element has no Cert or Chain")
