"""Every forwarded-certificate header dialect end to end, sent directly by a
trusted peer (127.0.0.1) over plain HTTP: what each proxy writes, the
"no certificate" values, and malformed values (403 and exactly one info line).

Virtual hosts (all trust 127.0.0.1):
    auto     X-SSL-Client-Cert auto         CA root+A+B, CRLs
    small    X-SSL-Client-Cert auto, X509AuthnHeaderMaxSize 2048
    pem      X-SSL-Client-Cert pem           CA root only (bundles carry A)
    der      X-SSL-Client-Cert der-base64    CA root+A+B
    list     X-Forwarded-Tls-Client-Cert list              CA root only
    rfc      Client-Cert rfc9440 + Client-Cert-Chain       CA root only
    xfcc     X-Forwarded-Client-Cert xfcc                  CA root only
    numbered SSL_CLIENT_CERT + CERT_CHAIN_* (Keycloak)     CA root only
    numdash  X-SSL-Client-Cert + X-Client-Cert-Chain-*     CA root only
"""

import base64
import re
import urllib.parse

import pytest

from clients import http_request
from expect import ok, denied, INFO_RX
import forwarded as F
from httpd import new_httpd

HDR = "X-SSL-Client-Cert"


@pytest.fixture(scope="module")
def h(request, workroot, pki, module_so):
    srv = new_httpd(request, workroot, pki, module_so, name="dialects")
    root = pki["root"].cert
    locs = F.proxy_locations()
    vh = {
        "auto": F.trust(ca=pki.ca_bundle, crl=pki.crl_bundle) + locs,
        "small": F.trust(ca=pki.ca_bundle, max_size=2048) + locs,
        "pem": F.trust(header="X-SSL-Client-Cert pem", ca=root) + locs,
        "der": F.trust(header="X-SSL-Client-Cert der-base64", ca=pki.ca_bundle) + locs,
        "list": F.trust(header="X-Forwarded-Tls-Client-Cert list", ca=root) + locs,
        "rfc": F.trust(header="Client-Cert rfc9440", chain="Client-Cert-Chain",
                       ca=root) + locs,
        "xfcc": F.trust(header="X-Forwarded-Client-Cert xfcc", ca=root) + locs,
        "numbered": F.trust(header="SSL_CLIENT_CERT", chain="CERT_CHAIN_*", ca=root) + locs,
        "numdash": F.trust(chain="X-Client-Cert-Chain-*", ca=root) + locs,
    }
    # room for values over the module's 16384-byte default
    srv.start(extra_vhosts=vh, server_extra="LimitRequestFieldSize 65536\n")
    return srv


def get(h, vhost, fields, loc="hdr"):
    return http_request(h.port(vhost), "/t/%s/env" % loc, fields)


def accepted(h, vhost, fields, cert, user=None):
    """200 as `cert`, in header mode, with no info line."""
    mark = h.log_mark()
    env = ok(get(h, vhost, fields), user or cert.subject)
    assert env["X509_AUTHN_SOURCE"] == "header"
    assert env["X509_PROXY_ADDR"] == "127.0.0.1"
    assert env["X509_CLIENT_FINGERPRINT_SHA256"] == cert.sha256
    lines = h.log_lines(mark, INFO_RX)
    assert not lines, lines
    return env


def refused(h, vhost, fields, reason_rx, tag="X509A0110"):
    """403 and exactly one info line, with the tag and the reason."""
    mark = h.log_mark()
    denied(get(h, vhost, fields))
    lines = h.log_lines(mark, INFO_RX)
    assert len(lines) == 1, "expected one info line, got:\n" + "\n".join(lines)
    assert tag in lines[0], lines[0]
    assert re.search(reason_rx, lines[0], re.I), "reason %r not in %s" % (reason_rx, lines[0])
    assert "client 127.0.0.1" in lines[0], lines[0]
    return lines[0]


# -- auto ------------------------------------------------------------------------------

AUTO = {
    # nginx $ssl_client_escaped_cert / ALB / Cloudflare: '+' stays literal
    "pem-urlencoded-literal-plus": lambda c: F.pem_escaped(c, plus="literal"),
    "pem-urlencoded-all": lambda c: F.pem_escaped(c, plus="escaped"),
    # mod_headers: line breaks as spaces
    "pem-spaces": F.pem_spaces,
    # HAProxy ssl_c_der,base64 / BIG-IP / Azure
    "der-base64": F.der_b64,
    # the PEM body without its armour, lines separated by spaces
    "pem-body-no-armour": lambda c: F.pem_body(c, sep=" "),
    # RFC 9440 byte sequence, with and without a parameter
    "rfc9440": F.rfc9440,
    "rfc9440-param": lambda c: F.rfc9440(c, ";x=1"),
    # Envoy XFCC, detected by its keys
    "xfcc": lambda c: F.xfcc_element(c, subject=c.subject),
}


@pytest.mark.parametrize("dialect", sorted(AUTO))
def test_auto_dialects(h, pki, dialect):
    a = pki["alice"]
    value = AUTO[dialect](a)
    env = accepted(h, "auto", [(HDR, value)], a)
    assert env["X509_CLIENT_S_DN_CN"] == "alice"
    accepted(h, "auto", [(HDR, AUTO[dialect](pki["bob"]))], pki["bob"])


def plus_cert(pki):
    """A client certificate whose base64 has a '+' (the PKI is generated
    afresh: most of a certificate is the same every time, so one of them
    may happen to have none)."""
    for name in ("alice", "bob", "smime", "multiou", "root-direct", "utf8", "proxy",
                 "proxy-other"):
        if "+" in F.pem_body(pki[name]):
            return pki[name]
    raise AssertionError("no certificate of the test PKI has a '+' in its base64")


def test_urlencoded_pem_keeps_a_literal_plus(h, pki):
    """'+' is not a space in a header value (ALB, Cloudflare, nginx)."""
    c = plus_cert(pki)
    value = F.pem_escaped(c, plus="literal")
    assert "+" in value and "%0A" in value
    accepted(h, "auto", [(HDR, value)], c)
    # control: decoded as a form would be ('+' -> ' '), it is another value
    mark = h.log_mark()
    denied(get(h, "auto", [(HDR, value.replace("+", "%20"))]))
    assert len(h.log_lines(mark, INFO_RX)) == 1


def test_auto_obs_fold(h, pki):
    """A PEM whose lines continue as obs-fold (CRLF + tab): httpd 2.4 joins
    the continuation lines with spaces and the value decodes."""
    a = pki["alice"]
    value = F.pem_folded(a)
    assert "\r\n\t" in value
    r = get(h, "auto", [(HDR, value)])
    assert r.status == 200, r
    env = accepted(h, "auto", [(HDR, value)], a)
    assert env["X509_CLIENT_S_DN_UID"] == "alice01"


@pytest.mark.parametrize("value", ["(null)", "-", "", "   "])
def test_no_certificate_values(h, value):
    refused(h, "auto", [(HDR, value)], r"forwarded no certificate in X-SSL-Client-Cert")


def test_no_header_at_all(h):
    refused(h, "auto", [], r"no X-SSL-Client-Cert header from the trusted proxy")


def _b64(data):
    return base64.b64encode(data).decode()


MALFORMED = {
    "bad-base64": (lambda p: "MIIC$$notbase64$$==", r"malformed.*base64"),
    "truncated-der": (lambda p: _b64(p["alice"].der[:-12]), r"malformed.*DER"),
    "trailing-bytes-after-der": (lambda p: _b64(p["alice"].der + b"\x00\x01\x02"),
                                 r"malformed.*data after the certificate"),
    "trailing-garbage-after-pem": (lambda p: F.pem_spaces(p["alice"]) + " trailing",
                                   r"malformed.*(outside|after|garbage|trailing)"),
    "pem-without-end": (lambda p: F.pem_spaces(p["alice"]).rsplit(" ", 1)[0],
                        r"malformed.*END"),
    "bad-percent-encoding": (lambda p: F.pem_escaped(p["alice"]).replace("%0A", "%ZZ", 1),
                             r"malformed.*percent"),
    "two-certs-in-one-pem": (lambda p: urllib.parse.quote(
        F.pem(p["alice"]) + F.pem(p["bob"]), safe="+/="), r"malformed.*more than one"),
    "rfc9440-trailing-garbage": (lambda p: F.rfc9440(p["alice"]) + " x",
                                 r"malformed.*data after"),
    "rfc9440-two-in-one-field": (lambda p: F.rfc9440_list([p["alice"], p["bob"]]),
                                 r"malformed.*more than one"),
    "xfcc-unterminated-quote": (lambda p: 'Hash=ab;Cert="%s' % F.pem_escaped(p["alice"]),
                                r"malformed.*(quot|XFCC)"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_values(h, pki, case):
    make, reason = MALFORMED[case]
    refused(h, "auto", [(HDR, make(pki))], reason)


@pytest.mark.parametrize("enc", ["pem", "der", "rfc9440"])
def test_two_header_fields_in_auto(h, pki, enc):
    """httpd joins repeated fields with ", ": auto refuses two certificates."""
    make = {"pem": F.pem_escaped, "der": F.der_b64, "rfc9440": F.rfc9440}[enc]
    refused(h, "auto", [(HDR, make(pki["alice"])), (HDR, make(pki["bob"]))],
            r"malformed.*(more than one|repeated)")
    # the same certificate twice is no better
    refused(h, "auto", [(HDR, make(pki["alice"])), (HDR, make(pki["alice"]))],
            r"malformed.*(more than one|repeated)")


def test_max_size_default(h, pki):
    """Default X509AuthnHeaderMaxSize 16384: a valid value (padded with
    white space inside the base64) of exactly 16384 bytes passes, 16385
    does not."""
    a = pki["alice"]
    accepted(h, "auto", [(HDR, F.pad_pem(a, 16384))], a)
    line = refused(h, "auto", [(HDR, F.pad_pem(a, 16385))], r"malformed")
    assert "16385" in line and "16384" in line, line


def test_max_size_configured(h, pki):
    a = pki["alice"]
    accepted(h, "small", [(HDR, F.pad_pem(a, 2048))], a)
    line = refused(h, "small", [(HDR, F.pad_pem(a, 2049))], r"malformed")
    assert "2049" in line and "2048" in line, line
    accepted(h, "auto", [(HDR, F.pad_pem(a, 2049))], a)


# -- explicit formats --------------------------------------------------------------

def test_pem_bundle(h, pki):
    """pem takes leaf + intermediates (ALB passthrough); the CA file holds
    only the root, so the intermediate must come from the bundle."""
    a, ca_a = pki["alice"], pki["issuing-a"]
    accepted(h, "pem", [(HDR, F.pem_bundle_escaped([a, ca_a]))], a)
    accepted(h, "pem", [(HDR, " ".join(F.pem_lines(a) + F.pem_lines(ca_a)))], a)
    b, ca_b = pki["bob"], pki["issuing-b"]
    accepted(h, "pem", [(HDR, F.pem_bundle_escaped([b, ca_b]))], b)


def test_pem_leaf_alone_misses_intermediate(h, pki):
    a = pki["alice"]
    refused(h, "pem", [(HDR, F.pem_escaped(a))], r"local issuer", tag="X509A0111")
    # the wrong intermediate does not help
    refused(h, "pem", [(HDR, F.pem_bundle_escaped([a, pki["issuing-b"]]))],
            r"local issuer", tag="X509A0111")


def test_der_base64(h, pki):
    a = pki["alice"]
    accepted(h, "der", [(HDR, F.der_b64(a))], a)
    accepted(h, "der", [(HDR, F.pem_body(a, sep=" "))], a)
    refused(h, "der", [(HDR, F.der_b64(a)), (HDR, F.der_b64(pki["bob"]))],
            r"malformed.*(more than one|repeated)")


def test_traefik_list(h, pki):
    a, ca_a = pki["alice"], pki["issuing-a"]
    name = "X-Forwarded-Tls-Client-Cert"
    accepted(h, "list", [(name, F.traefik_list([a, ca_a]))], a)
    # Traefik url.QueryEscape()s each certificate
    escaped = ",".join(urllib.parse.quote_plus(F.der_b64(c)) for c in (a, ca_a))
    assert "%2B" in escaped or "%2F" in escaped
    accepted(h, "list", [(name, escaped)], a)
    # two fields joined by httpd (", ") are the same list
    accepted(h, "list", [(name, F.der_b64(a)), (name, F.der_b64(ca_a))], a)
    refused(h, "list", [(name, F.der_b64(a))], r"local issuer", tag="X509A0111")
    refused(h, "list", [(name, F.der_b64(a) + ",,")], r"malformed")


def test_rfc9440_with_chain(h, pki):
    a, ca_a, root = pki["alice"], pki["issuing-a"], pki["root"]
    accepted(h, "rfc", [("Client-Cert", F.rfc9440(a)),
                        ("Client-Cert-Chain", F.rfc9440(ca_a))], a)
    accepted(h, "rfc", [("Client-Cert", F.rfc9440(a)),
                        ("Client-Cert-Chain", F.rfc9440_list([ca_a, root]))], a)
    # Client-Cert-Chain may repeat: the fields are one list
    accepted(h, "rfc", [("Client-Cert", F.rfc9440(a)),
                        ("Client-Cert-Chain", F.rfc9440(root)),
                        ("Client-Cert-Chain", F.rfc9440(ca_a))], a)
    b, ca_b = pki["bob"], pki["issuing-b"]
    accepted(h, "rfc", [("Client-Cert", F.rfc9440(b)),
                        ("Client-Cert-Chain", F.rfc9440(ca_a)),
                        ("Client-Cert-Chain", F.rfc9440(ca_b))], b)


def test_rfc9440_refusals(h, pki):
    a, ca_a = pki["alice"], pki["issuing-a"]
    refused(h, "rfc", [("Client-Cert", F.rfc9440(a))], r"local issuer", tag="X509A0111")
    # two Client-Cert fields conflict
    refused(h, "rfc", [("Client-Cert", F.rfc9440(a)), ("Client-Cert", F.rfc9440(pki["bob"])),
                       ("Client-Cert-Chain", F.rfc9440(ca_a))],
            r"malformed.*more than one Client-Cert")
    # not a byte sequence
    refused(h, "rfc", [("Client-Cert", F.der_b64(a)),
                       ("Client-Cert-Chain", F.rfc9440(ca_a))], r"malformed")
    # a broken chain element
    refused(h, "rfc", [("Client-Cert", F.rfc9440(a)),
                       ("Client-Cert-Chain", F.rfc9440(ca_a) + ", :bm90IGEgY2VydA==:")],
            r"malformed Client-Cert-Chain")
    refused(h, "rfc", [("Client-Cert", ":")], r"malformed")


def xfcc(h, value):
    return [("X-Forwarded-Client-Cert", value)]


def test_xfcc_cert_and_chain(h, pki):
    a, ca_a = pki["alice"], pki["issuing-a"]
    el = F.xfcc_element(a, chain=[a, ca_a], subject=a.subject,
                        uri="spiffe://example.com/alice", dns="alice.example.com")
    assert 'Subject="UID=alice01,CN=alice,OU=Engineering,O=Example Corp,C=US"' in el
    accepted(h, "xfcc", xfcc(h, el), a)
    # Chain alone: the leaf is its first certificate
    accepted(h, "xfcc", xfcc(h, F.xfcc_element(None, chain=[a, ca_a])), a)


def test_xfcc_several_elements_refused(h, pki):
    """`xfcc` is SANITIZE_SET: one element; the last of several is taken only
    by `xfcc-append` (test_xfcc_injection.py)."""
    a, ca_a, b, ca_b = pki["alice"], pki["issuing-a"], pki["bob"], pki["issuing-b"]
    ea = F.xfcc_element(a, chain=[a, ca_a], subject=a.subject)
    eb = F.xfcc_element(b, chain=[b, ca_b], subject=b.subject)
    refused(h, "xfcc", xfcc(h, eb + "," + ea), r"malformed.*2 elements")
    refused(h, "xfcc", xfcc(h, ea + "," + eb), r"malformed.*2 elements")
    # several elements in separate fields (httpd joins them with ", ")
    refused(h, "xfcc", [("X-Forwarded-Client-Cert", eb), ("X-Forwarded-Client-Cert", ea)],
            r"malformed.*2 elements")
    # quoted Subject with commas, semicolons, escaped quotes and '=' inside
    tricky = F.xfcc_element(a, chain=[a, ca_a],
                            subject='CN=Smith\\, John;x=1,O=ACME "Quotes" Inc,C=US')
    accepted(h, "xfcc", xfcc(h, tricky), a)


def test_xfcc_refusals(h, pki):
    a, ca_a = pki["alice"], pki["issuing-a"]
    # leaf without its intermediate (CA file: root only)
    refused(h, "xfcc", xfcc(h, F.xfcc_element(a)), r"local issuer", tag="X509A0111")
    refused(h, "xfcc", xfcc(h, 'By=x;Hash=%s;Subject="CN=alice"' % a.sha256.lower()),
            r"malformed.*no Cert")
    refused(h, "xfcc", xfcc(h, 'Cert="%s";Chain="%s' % (
        F.pem_escaped(a), F.pem_escaped(ca_a))), r"malformed")
    # the last element is broken: an earlier good one does not count
    good = F.xfcc_element(a, chain=[a, ca_a])
    refused(h, "xfcc", xfcc(h, good + ',Cert="%s' % F.pem_escaped(a)), r"malformed")
    # shapes Envoy never writes: no Hash, unquoted Cert
    refused(h, "xfcc", xfcc(h, F.xfcc_element(a, hash_=False)), r"malformed.*without Hash")
    refused(h, "xfcc", xfcc(h, "Hash=%s;Cert=%s" % (a.sha256.lower(), F.pem_escaped(a))),
            r"malformed.*unquoted XFCC Cert")


def test_numbered_chain_headers(h, pki):
    """Keycloak: SSL_CLIENT_CERT and CERT_CHAIN_0..n."""
    a, ca_a, root = pki["alice"], pki["issuing-a"], pki["root"]
    accepted(h, "numbered", [("SSL_CLIENT_CERT", F.pem_escaped(a)),
                             ("CERT_CHAIN_0", F.pem_escaped(ca_a))], a)
    accepted(h, "numbered", [("SSL_CLIENT_CERT", F.pem_escaped(a)),
                             ("CERT_CHAIN_0", F.pem_escaped(root)),
                             ("CERT_CHAIN_1", F.pem_escaped(ca_a))], a)
    b, ca_b = pki["bob"], pki["issuing-b"]
    accepted(h, "numbered", [("SSL_CLIENT_CERT", F.pem_spaces(b)),
                             ("CERT_CHAIN_0", F.pem_escaped(ca_a)),
                             ("CERT_CHAIN_1", F.pem_escaped(ca_b))], b)


def test_numbered_chain_headers_missing(h, pki):
    a = pki["alice"]
    refused(h, "numbered", [("SSL_CLIENT_CERT", F.pem_escaped(a))], r"local issuer",
            tag="X509A0111")
    refused(h, "numbered", [("SSL_CLIENT_CERT", F.pem_escaped(a)),
                            ("CERT_CHAIN_0", "not a certificate")],
            r"malformed CERT_CHAIN")


def test_numbered_chain_headers_with_dashes(h, pki):
    """The same with a prefix spelled with '-'."""
    a, ca_a, root = pki["alice"], pki["issuing-a"], pki["root"]
    accepted(h, "numdash", [(HDR, F.pem_escaped(a)),
                            ("X-Client-Cert-Chain-0", F.pem_escaped(ca_a))], a)
    accepted(h, "numdash", [(HDR, F.der_b64(a)),
                            ("X-Client-Cert-Chain-0", F.der_b64(root)),
                            ("X-Client-Cert-Chain-1", F.der_b64(ca_a))], a)
    refused(h, "numdash", [(HDR, F.pem_escaped(a))], r"local issuer", tag="X509A0111")
    # the '_' spelling of a chain header is not the proxy's
    refused(h, "numdash", [(HDR, F.pem_escaped(a)),
                           ("X_Client_Cert_Chain_0", F.pem_escaped(ca_a))],
            r"local issuer", tag="X509A0111")
