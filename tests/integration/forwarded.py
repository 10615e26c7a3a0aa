"""Forwarded-certificate header values, as the proxies of the field write them,
and the httpd configuration pieces of the trusted-proxy tests.

Every encoder takes pki.Cert objects (``pki["alice"]``)."""

import base64
import urllib.parse

from httpd import quote


# -- header values ---------------------------------------------------------------

def pem(cert):
    """PEM with its line breaks (only usable through obs-fold or encoding)."""
    return cert.pem.strip() + "\n"


def pem_lines(cert):
    return pem(cert).strip().split("\n")


def pem_escaped(cert, plus="literal"):
    """URL-encoded PEM: nginx $ssl_client_escaped_cert, AWS ALB, Cloudflare.
    plus="literal" leaves '+' (and '/', '=') as they are, as ALB does;
    plus="escaped" percent-encodes everything but unreserved characters."""
    safe = "+/=" if plus == "literal" else ""
    return urllib.parse.quote(pem(cert), safe=safe)


def pem_bundle_escaped(certs):
    return urllib.parse.quote("".join(pem(c) for c in certs), safe="+/=")


def pem_spaces(cert):
    """PEM with its line breaks turned into spaces (mod_headers)."""
    return " ".join(pem_lines(cert))


def pem_folded(cert, eol="\r\n"):
    """PEM whose lines after the first start with a tab: sent as a header
    field this is obs-fold (old nginx $ssl_client_cert uses a bare LF)."""
    return (eol + "\t").join(pem_lines(cert))


def pem_body(cert, sep=""):
    """The base64 body of the PEM without its armour."""
    return sep.join(pem_lines(cert)[1:-1])


def der_b64(cert):
    """base64 of the DER (HAProxy %[ssl_c_der,base64], BIG-IP, Azure)."""
    return base64.b64encode(cert.der).decode()


def rfc9440(cert, params=""):
    """RFC 9440 Client-Cert / Client-Cert-Chain element (sf-binary)."""
    return ":%s:%s" % (der_b64(cert), params)


def rfc9440_list(certs):
    return ", ".join(rfc9440(c) for c in certs)


def traefik_list(certs):
    """Traefik X-Forwarded-Tls-Client-Cert: base64 DER joined by commas."""
    return ",".join(der_b64(c) for c in certs)


def xfcc_element(cert=None, chain=None, by="spiffe://proxy.test/envoy",
                 subject=None, uri=None, dns=None, hash_=True):
    """One Envoy XFCC element.  `chain` is a list of certificates (the leaf
    first, as Envoy writes it).  Keys in Envoy's order; Hash (of the leaf)
    is always there, as Envoy always writes it."""
    parts = []
    if by:
        parts.append("By=" + by)
    leaf = cert if cert is not None else (chain[0] if chain else None)
    if hash_ and leaf is not None:
        parts.append("Hash=" + leaf.sha256.lower())
    if cert is not None:
        parts.append('Cert="%s"' % pem_escaped(cert, plus="escaped"))
    if chain is not None:
        parts.append('Chain="%s"' % urllib.parse.quote(
            "".join(pem(c) for c in chain), safe=""))
    if subject is not None:
        parts.append('Subject="%s"' % subject.replace("\\", "\\\\").replace('"', '\\"'))
    if uri:
        parts.append("URI=" + uri)
    if dns:
        parts.append("DNS=" + dns)
    return ";".join(parts)


def pad_pem(cert, total):
    """A PEM-with-spaces value of exactly `total` bytes: the padding is white
    space inside the base64 body, so the value is valid but for its size."""
    lines = pem_lines(cert)
    base = " ".join(lines)
    missing = total - len(base)
    assert missing >= 0, (total, len(base))
    return lines[0] + " " * (1 + missing) + " ".join(lines[1:])


# -- httpd configuration ---------------------------------------------------------

def trust(proxies="127.0.0.1", header=None, chain=None, ca=None, crl=None,
          verify=None, depth=None, max_size=None, require=()):
    """Server-scope directives of a trusted-proxy virtual host."""
    out = []
    if proxies:
        out.append("X509AuthnTrustedProxy " + proxies)
    for field, value in require:
        out.append("X509AuthnProxyRequire %s %s" % (field, quote(value)))
    if header:
        out.append("X509AuthnHeader " + header)
    if chain:
        out.append("X509AuthnChainHeader " + chain)
    if verify is not None:
        out.append("X509AuthnHeaderVerify " + ("On" if verify else "Off"))
    if ca:
        out.append("X509AuthnCACertificateFile " + quote(ca))
    if crl:
        out.append("X509AuthnCARevocationFile " + quote(crl))
    if depth is not None:
        out.append("X509AuthnVerifyDepth %d" % depth)
    if max_size is not None:
        out.append("X509AuthnHeaderMaxSize %d" % max_size)
    return "\n".join(out) + "\n"


# Locations of a trusted-proxy virtual host (all under /t/: the env CGI)
PROXY_LOCS = {
    "hdr": "AuthType X509\nX509AuthnSource header\nRequire valid-user",
    "any": "AuthType X509\nX509AuthnSource any\nRequire valid-user",
    "tls": "AuthType X509\nX509AuthnSource tls\nRequire valid-user",
    "cn": "AuthType X509\nX509AuthnSource header\nX509AuthnUser cn\nRequire valid-user",
    "ssl": "AuthType X509\nX509AuthnSource header\nX509AuthnExportSSLVars On\n"
           "Require valid-user",
    "expr-o": "AuthType X509\nX509AuthnSource header\nAuthzSendForbiddenOnFailure On\n"
              "Require expr \"%{X509_CLIENT_S_DN_O} == 'Example Corp'\"",
    "expr-cn": "AuthType X509\nX509AuthnSource header\nAuthzSendForbiddenOnFailure On\n"
               "Require expr \"%{X509_CLIENT_S_DN_CN} == 'bob' && "
               "%{X509_CLIENT_I_DN_CN} == 'X509Authn Test Issuing CA B'\"",
    "open": "Require all granted",
}


def proxy_locations(extra=None, backend_port=None):
    """<Location> blocks for a trusted-proxy vhost: PROXY_LOCS plus `extra`,
    and /p/ proxied to a Backend when `backend_port` is given."""
    locs = dict(PROXY_LOCS)
    locs.update(extra or {})
    out = "".join("<Location /t/%s>\n%s\n</Location>\n" % (k, v.strip("\n"))
                  for k, v in locs.items())
    if backend_port:
        out += ("<Location /p/>\n    ProxyPass http://127.0.0.1:%d/\n</Location>\n"
                "<Location /p/hdr/>\n    AuthType X509\n    X509AuthnSource header\n"
                "    Require valid-user\n</Location>\n" % backend_port)
    return out

