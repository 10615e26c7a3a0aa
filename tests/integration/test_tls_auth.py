"""Direct mTLS: AuthType X509, identity, exported variables, logs, HTTP/2."""

import time
import urllib.parse

import pytest

from clients import curl_multi
from expect import (A_DN, ALICE_DN, ok, denied, INFO_RX, TAG_RX)
from httpd import start_httpd, locations

LOCS = {
    "x509": "AuthType X509\nRequire valid-user",
    "export": "AuthType X509\nX509AuthnExportCert On\nRequire valid-user",
    "granted": "AuthType X509\nRequire all granted",
    "expr-ok": "AuthType X509\n"
               "Require expr \"%{X509_CLIENT_S_DN_O} == 'Example Corp'\"",
    "expr-no": "AuthType X509\nAuthzSendForbiddenOnFailure On\n"
               "Require expr \"%{X509_CLIENT_S_DN_O} == 'Other Corp'\"",
    "user-cn": "AuthType X509\nX509AuthnUser cn\nRequire user alice",
    "src-tls": "AuthType X509\nX509AuthnSource tls\nRequire valid-user",
    "src-any": "AuthType X509\nX509AuthnSource any\nRequire valid-user",
    "rej": "AuthType X509\nX509AuthnRequireSerial 1\nRequire valid-user",
    "noauth": "Require all granted",
}


@pytest.fixture(scope="module")
def h(request, workroot, pki, module_so):
    return start_httpd(request, workroot, pki, module_so, locations(LOCS), name="tls")


# -- authentication ------------------------------------------------------------

def test_no_certificate_is_403(h):
    r = denied(h.get("x509"))
    assert "X509_CLIENT_S_DN" not in r.text


def test_alice_is_authenticated(h, pki):
    env = ok(h.get("x509", "alice"), ALICE_DN)
    assert env["X509_AUTHN_SOURCE"] == "tls"


def test_auth_type_and_headers(h):
    r = h.get("x509", "alice")
    assert r.status == 200
    assert r.headers["x-auth-type"] == "X509"
    assert r.headers["x-user"] == ALICE_DN
    assert r.headers["x-src"] == "tls"          # %{X509_AUTHN_SOURCE}e
    assert r.headers["x-cn"] == "alice"         # %{X509_CLIENT_S_DN_CN}e


def test_rejected_request_has_no_variables(h):
    """r->subprocess_env gets the variables only after success: a certificate
    refused by a rule leaves nothing for mod_headers (or logs, CGI...)."""
    for r in (denied(h.get("x509")), denied(h.get("rej", "alice"))):
        assert r.headers.get("x-src") in ("(null)", "", None), r.headers
        assert r.headers.get("x-cn") in ("(null)", "", None), r.headers
    mark = h.log_mark("access")
    r = denied(h.get("rej", "alice"))
    line = h.wait_log(mark, 'tag="%s"' % r.tag, "access")[0]
    assert 'src="-"' in line and 'cn="-"' in line and 'sdn="-"' in line, line


@pytest.mark.parametrize("name", ["bob", "utf8", "escaped", "multiou", "root-direct",
                                  "smime"])
def test_other_clients_authenticate_as_their_subject(h, pki, name):
    c = pki[name]
    env = ok(h.get("x509", name), c.subject)
    # the default identity is the subject exactly as mod_ssl prints it
    assert env["REMOTE_USER"] == env["SSL_CLIENT_S_DN"]


def test_source_tls_and_any(h):
    ok(h.get("src-tls", "alice"), ALICE_DN)
    denied(h.get("src-tls"))
    ok(h.get("src-any", "alice"), ALICE_DN)
    denied(h.get("src-any"))


def test_sslverifyclient_require_vhost(h):
    ok(h.get("x509", "alice", vhost="require"), ALICE_DN)


def test_plain_http_is_403(h):
    denied(h.get("x509", vhost="plain"))
    assert h.get("noauth", vhost="plain").status == 200


def test_module_not_active_without_authtype(h):
    """A location without AuthType X509 / X509Authn On: nothing happens."""
    r = h.get("noauth", "alice")
    assert r.status == 200
    assert "REMOTE_USER" not in r.env
    assert "X509_CLIENT_S_DN" not in r.env


# -- Require variants ------------------------------------------------------------

def test_require_all_granted_still_authenticates(h):
    """force_authn: under AuthType X509 authentication runs even when the
    Require lines grant without a user."""
    env = ok(h.get("granted", "alice"), ALICE_DN)
    assert env["X509_CLIENT_S_DN_CN"] == "alice"
    denied(h.get("granted"))


def test_require_expr_on_variables(h):
    """`Require expr` on X509_CLIENT_* works: the variables are readable in
    ap_expr even before authentication runs."""
    env = ok(h.get("expr-ok", "alice"), ALICE_DN)
    assert env["X509_CLIENT_S_DN_O"] == "Example Corp"
    ok(h.get("expr-ok", "bob"))
    # O=Bücher GmbH: a Require expr that does not involve the user denies in
    # httpd's access_checker_ex phase, before authentication: 403
    denied(h.get("expr-ok", "utf8"))
    denied(h.get("expr-no", "alice"))
    denied(h.get("expr-ok"))
    r = h.get("expr-ok", "alice", http2=True)
    assert r.http_version == "2"
    ok(r, ALICE_DN)


def test_require_user_with_cn_identity(h):
    ok(h.get("user-cn", "alice"), "alice")
    assert h.get("user-cn", "bob").status == 401
    denied(h.get("user-cn"))


# -- exported variables ----------------------------------------------------------

def test_variables_alice(h, pki):
    a = pki["alice"]
    env = ok(h.get("x509", "alice"))
    expected = {
        "X509_AUTHN_SOURCE": "tls",
        "X509_CLIENT_S_DN": a.subject,
        "X509_CLIENT_S_DN_CN": "alice",
        "X509_CLIENT_S_DN_OU": "Engineering",
        "X509_CLIENT_S_DN_O": "Example Corp",
        "X509_CLIENT_S_DN_C": "US",
        "X509_CLIENT_S_DN_UID": "alice01",
        "X509_CLIENT_I_DN": A_DN,
        "X509_CLIENT_I_DN_CN": "X509Authn Test Issuing CA A",
        "X509_CLIENT_I_DN_O": "X509Authn Test",
        "X509_CLIENT_M_SERIAL": "1001",
        "X509_CLIENT_SERIAL_DEC": "4097",
        "X509_CLIENT_FINGERPRINT_SHA256": a.sha256,
        "X509_CLIENT_FINGERPRINT_SHA1": a.sha1,
        "X509_CLIENT_V_START": a.not_before,
        "X509_CLIENT_V_END": a.not_after,
        "X509_CLIENT_SAN_Email_0": "alice@example.com",
        "X509_CLIENT_SAN_DNS_0": "alice.example.com",
        "X509_CLIENT_SAN_URI_0": "spiffe://example.com/alice",
        "X509_CLIENT_SAN_UPN_0": "alice@corp.example.com",
        "REMOTE_USER": ALICE_DN,
        "AUTH_TYPE": "X509",
    }
    got = {k: env.get(k) for k in expected}
    assert got == expected
    # one value each: no second SAN e-mail, no _1 of single attributes
    assert "X509_CLIENT_SAN_Email_1" not in env
    assert "X509_CLIENT_S_DN_CN_1" not in env
    # no PEM without X509AuthnExportCert
    assert "X509_CLIENT_CERT" not in env
    assert "X509_CLIENT_CERT_CHAIN_0" not in env


def test_variables_agree_with_mod_ssl(h, pki):
    """Same names, same formats as mod_ssl's SSL_CLIENT_* (StdEnvVars is on)."""
    for name in ("alice", "multiou", "escaped", "utf8", "bob"):
        env = ok(h.get("x509", name))
        for k, v in env.items():
            if not k.startswith("SSL_CLIENT_") or k.startswith("SSL_CLIENT_CERT") \
                    or k.startswith("SSL_CLIENT_A_") or k in ("SSL_CLIENT_VERIFY",
                                                              "SSL_CLIENT_M_VERSION"):
                continue
            if k.startswith("SSL_CLIENT_SAN_OTHER_msUPN_"):
                x = k.replace("SSL_CLIENT_SAN_OTHER_msUPN_", "X509_CLIENT_SAN_UPN_")
            else:
                x = "X509" + k[3:]
            assert env.get(x) == v, "%s: %s=%r but %s=%r" % (name, k, v, x, env.get(x))


def test_v_remain(h, pki):
    a = pki["alice"]
    env = ok(h.get("x509", "alice"))
    days = (a.not_after_epoch - time.time()) / 86400.0
    assert abs(int(env["X509_CLIENT_V_REMAIN"]) - days) <= 1.01


def test_variables_repeated_attributes(h, pki):
    env = ok(h.get("x509", "multiou"), pki["multiou"].subject)
    assert env["X509_CLIENT_S_DN_OU"] == "Corp"
    assert env["X509_CLIENT_S_DN_OU_1"] == "Staff"
    assert env["X509_CLIENT_S_DN_CN"] == "Users"
    assert env["X509_CLIENT_S_DN_CN_1"] == "carol"
    assert "X509_CLIENT_S_DN_OU_2" not in env


def test_variables_subject_email(h, pki):
    env = ok(h.get("x509", "bob"), pki["bob"].subject)
    assert env["X509_CLIENT_S_DN_Email"] == "bob@example.com"
    assert env["X509_CLIENT_S_DN_CN"] == "bob"
    assert env["X509_CLIENT_I_DN_CN"] == "X509Authn Test Issuing CA B"
    assert "X509_CLIENT_SAN_Email_0" not in env
    assert "X509_CLIENT_SAN_UPN_0" not in env


def test_variables_utf8(h, pki):
    env = ok(h.get("x509", "utf8"), "CN=J\u00fcrgen M\u00fcller,O=B\u00fccher GmbH,C=DE")
    assert env["X509_CLIENT_S_DN_CN"] == "J\u00fcrgen M\u00fcller"
    assert env["X509_CLIENT_S_DN_O"] == "B\u00fccher GmbH"


def test_variables_escaped_and_multivalued(h, pki):
    c = pki["escaped"]
    env = ok(h.get("x509", "escaped"), c.subject)
    assert env["X509_CLIENT_S_DN"] == 'UID=jsmith+CN=Smith\\, John,O=ACME \\"Quotes\\" \\\\ Inc,C=US'
    assert env["X509_CLIENT_S_DN_CN"] == "Smith, John"
    assert env["X509_CLIENT_S_DN_UID"] == "jsmith"
    # attribute values are printed as mod_ssl prints SSL_CLIENT_S_DN_O
    assert env["X509_CLIENT_S_DN_O"] == env["SSL_CLIENT_S_DN_O"]
    assert env["X509_CLIENT_S_DN_O"] in ('ACME "Quotes" \\ Inc', 'ACME "Quotes" \\\\ Inc')


def test_export_cert(h, pki):
    env = ok(h.get("export", "alice"), ALICE_DN)
    assert env["X509_CLIENT_CERT"].split() == pki["alice"].pem.split()
    assert env["X509_CLIENT_CERT_CHAIN_0"].split() == pki["issuing-a"].pem.split()
    assert env["X509_CLIENT_CERT"].startswith("-----BEGIN CERTIFICATE-----")


def test_ap_expr_reads_variables_in_headers(h):
    """mod_headers %{..}e sees the exported variables (set before the
    response); X-User comes from expr=%{REMOTE_USER}."""
    r = h.get("x509", "multiou")
    assert r.headers["x-cn"] == "Users"
    assert r.headers["x-user"] == "CN=carol,CN=Users,OU=Staff,OU=Corp,O=Example Corp,C=US"


# -- logs --------------------------------------------------------------------------

def test_access_log_has_user_and_variables(h, pki):
    mark = h.log_mark("access")
    r = h.get("x509", "alice")
    assert r.status == 200
    lines = h.wait_log(mark, "tag=\"%s\"" % r.tag, "access")
    assert len(lines) == 1, lines
    line = lines[0]
    assert 'user="%s"' % ALICE_DN in line
    assert 'src="tls"' in line
    assert 'cn="alice"' in line
    assert 'sdn="%s"' % ALICE_DN in line
    assert 'serial="1001"' in line
    assert 'sha256="%s"' % pki["alice"].sha256 in line


def test_access_log_rejected(h):
    mark = h.log_mark("access")
    r = h.get("x509")
    lines = h.wait_log(mark, "tag=\"%s\"" % r.tag, "access")
    assert len(lines) == 1 and " 403 " in lines[0] and 'user="-"' in lines[0], lines


def test_success_debug_log(h):
    mark = h.log_mark()
    ok(h.get("x509", "alice"))
    lines = h.wait_log(mark, r"has been preauthenticated")
    assert lines, h.log_since(mark)
    line = lines[0]
    assert "[x509authn:debug]" in line
    assert "User %s has been preauthenticated from 127.0.0.1" % ALICE_DN in line
    assert TAG_RX.search(line)


def test_no_info_line_on_success(h):
    mark = h.log_mark()
    ok(h.get("x509", "alice"))
    time.sleep(0.2)
    assert h.log_lines(mark, INFO_RX) == []


# -- HTTP/2 and connection reuse ----------------------------------------------------

def test_http2(h, pki):
    r = h.get("x509", "alice", http2=True)
    assert r.http_version == "2"
    env = ok(r, ALICE_DN)
    assert env["SERVER_PROTOCOL"] == "HTTP/2.0"
    assert env["X509_CLIENT_S_DN_CN"] == "alice"
    assert env["X509_CLIENT_FINGERPRINT_SHA256"] == pki["alice"].sha256
    assert env["X509_AUTHN_SOURCE"] == "tls"
    r = h.get("x509", http2=True)
    assert r.http_version == "2"
    denied(r)


def test_http2_export_and_expr(h, pki):
    r = h.get("export", "multiou", http2=True)
    assert r.http_version == "2"
    env = ok(r, pki["multiou"].subject)
    assert env["X509_CLIENT_CERT"].split() == pki["multiou"].pem.split()
    r = h.get("expr-no", "alice", http2=True)
    assert r.http_version == "2" and r.status == 403


@pytest.mark.parametrize("http2", [False, True], ids=["http1.1", "h2"])
def test_same_connection_many_requests(h, pki, http2):
    """Keep-alive requests / HTTP/2 streams on one connection each get their
    own answer."""
    urls = [h.url("/t/%s/env" % loc) for loc in
            ("x509", "user-cn", "expr-no", "x509", "noauth", "user-cn")]
    res = curl_multi(urls, cert=pki["alice"], http2=http2)
    assert [x[0] for x in res] == [200, 200, 403, 200, 200, 200]
    assert sum(x[2] for x in res) == 1          # one connection
    assert res[0][1] == ("2" if http2 else "1.1")
    assert [x[3] for x in res] == [ALICE_DN, "alice", "", ALICE_DN, "", "alice"]


def test_concurrent_clients_get_their_own_identity(h, pki):
    """Many connections at once, each with several requests: no mix-up of
    per-connection certificate data between threads or connections."""
    from concurrent.futures import ThreadPoolExecutor
    names = ["alice", "bob", "multiou", "utf8", "escaped", "root-direct"] * 2
    locs = ["x509", "user-cn", "x509", "granted", "user-cn"]

    def run(i):
        name = names[i]
        res = curl_multi([h.url("/t/%s/env" % l) for l in locs], cert=pki[name],
                         http2=bool(i % 2))
        return name, res

    with ThreadPoolExecutor(max_workers=len(names)) as ex:
        results = list(ex.map(run, range(len(names))))
    for name, res in results:
        subj = pki[name].subject
        cn_user = "alice" if name == "alice" else None
        assert len(res) == len(locs), (name, res)
        for loc, (status, _, _, user) in zip(locs, res):
            if loc == "user-cn":
                # Require user alice: everybody else is authenticated, then 401
                assert status == (200 if cn_user else 401), (name, loc, status)
                if cn_user:
                    assert user == cn_user
            else:
                assert status == 200 and user == subj, (name, loc, status, user)


# -- forwarded-certificate headers from a direct client -----------------------------

def _bob_header_values(pki):
    pem = pki["bob"].pem
    der_b64 = "".join(pem.strip().splitlines()[1:-1])
    return [urllib.parse.quote(pem, safe=""), der_b64]


def test_spoofed_header_with_tls_cert_is_ignored(h, pki):
    for v in _bob_header_values(pki):
        for hdr in ("X-SSL-Client-Cert", "X_SSL_Client_Cert", "Client-Cert"):
            for loc in ("x509", "src-any", "src-tls"):
                r = h.get(loc, "alice", headers=["%s: %s" % (hdr, v)])
                env = ok(r, ALICE_DN)
                assert env["X509_AUTHN_SOURCE"] == "tls"
                assert env["X509_CLIENT_S_DN_CN"] == "alice"


def test_spoofed_header_without_tls_cert_is_403(h, pki):
    for v in _bob_header_values(pki):
        for loc in ("x509", "src-any", "src-tls", "granted"):
            denied(h.get(loc, headers=["X-SSL-Client-Cert: " + v]))
            denied(h.get(loc, headers=["X-SSL-Client-Cert: " + v], http2=True))
        denied(h.get("x509", headers=["X-SSL-Client-Cert: " + v], vhost="plain"))
