"""mod_x509authn with mod_ldap + mod_authnz_ldap against a real slapd.

1. Certificate login (AuthType X509), LDAP authorization: Require ldap-group,
   ldap-user, ldap-dn, ldap-filter, ldap-attribute on the name the module
   chose (subject:UID, email, cn, or an X509AuthnUserMap name), anonymous and
   with AuthLDAPBindDN.
2. Certificate or LDAP password: AuthType Basic + AuthBasicProvider ldap +
   X509Authn On.

slapd is started by the tests (ldap_server.py) with its own configuration
and data on a free loopback port, and stopped at the end.

mod_authnz_ldap facts these tests pin down (the pitfalls in docs/ldap.md):
* its Require ldap-* providers look the user up with AuthLDAPURL's
  attribute = r->user, whatever module logged the user in;
* an authorization denial after a certificate login is 401 (without a
  WWW-Authenticate challenge under AuthType X509) unless
  AuthzSendForbiddenOnFailure On, then 403;
* Require ldap-filter takes the filter without outer parentheses;
* the search must find exactly one entry;
* the LDAP check trusts the name: a certificate from another CA with the
  same UID passes unless the X509AuthnRequire* rules pin the issuer.
"""

import re

import pytest

from expect import A_DN, ALICE_DN, ok, denied, rejection_lines
from httpd import new_httpd, locations, quote
from ldap_server import (start_slapd, ldap_modules, PEOPLE, PARTNERS, ALICE,
                         ENGINEERS, SALES, STAFF, PARTNER_GROUP,
                         BIND_DN, BIND_PW)


@pytest.fixture(scope="module")
def slapd(request, workroot):
    return start_slapd(request, workroot, name="slapd-ldap")


NO_LDAP_CACHE = "LDAPCacheEntries 0\nLDAPOpCacheEntries 0\n"


def _url(slapd, attrs="uid", base=PEOPLE, filt="(objectClass=inetOrgPerson)"):
    return quote("%s/%s?%s?sub?%s" % (slapd.url, base, attrs, filt))


def _locs(h, slapd, pki):
    url_uid = _url(slapd, "uid,cn,mail,departmentNumber")
    url_mail = _url(slapd, "mail,uid")
    url_cn = _url(slapd, "cn,uid")
    url_partners = _url(slapd, "uid,cn", base=PARTNERS)
    # the user: UID from the subject, else the local part of an
    # @example.com e-mail (bob has no UID)
    uid = ("AuthType X509\nX509AuthnUser subject:UID\n"
           "X509AuthnUser email ^([^@]+)@example\\.com$\n"
           "AuthLDAPURL %s\n" % url_uid)
    by_mail = "AuthType X509\nX509AuthnUser email\nAuthLDAPURL %s\n" % url_mail
    by_cn = "AuthType X509\nX509AuthnUser cn\nAuthLDAPURL %s\n" % url_cn
    issuing_a = pki.cert("issuing-a").cert

    partner_map = h.write_file("conf/partners.map", "\n".join([
        "# bob's certificate is the ACME partner gateway",
        "fingerprint sha256:%s partner-acme" % pki["bob"].sha256,
        # a name with LDAP filter metacharacters: must be escaped
        'issuer-subject "%s" "^CN=carol," alice0*' % A_DN,
        ""]))
    partner = ("AuthType X509\nX509AuthnUserMap %s\nX509AuthnUserMapRequired On\n"
               "AuthLDAPURL %s\n" % (quote(partner_map), url_partners))
    bind = "AuthLDAPBindDN %s\nAuthLDAPBindPassword %s\n" % (quote(BIND_DN),
                                                             quote(BIND_PW))
    fallback = ('AuthType Basic\nAuthName "ldap"\nAuthBasicProvider ldap\n'
                'AuthLDAPURL %s\nX509Authn On\nX509AuthnUser subject:UID\n'
                'X509AuthnUser email ^([^@]+)@example\\.com$\n' % url_uid)
    return {
        # -- 1. certificate login, LDAP authorization --------------------------
        "grp": uid + "Require ldap-group %s" % ENGINEERS,
        "grp-403": uid + "AuthzSendForbiddenOnFailure On\n"
                         "Require ldap-group %s" % ENGINEERS,
        "grp-sales": uid + "Require ldap-group %s" % SALES,
        "grp-any": uid + "<RequireAny>\nRequire ldap-group %s\n"
                         "Require ldap-group %s\n</RequireAny>" % (ENGINEERS, SALES),
        "grp-nested": uid + "AuthLDAPMaxSubGroupDepth 3\n"
                            "Require ldap-group %s" % STAFF,
        "grp-nested-default": uid + "Require ldap-group %s" % STAFF,
        "grp-nested-off": uid + "AuthLDAPMaxSubGroupDepth 0\n"
                                "Require ldap-group %s" % STAFF,
        "grp-pinned": uid + "X509AuthnRequireIssuingCA %s\n"
                            "AuthzSendForbiddenOnFailure On\n"
                            "Require ldap-group %s" % (quote(issuing_a), ENGINEERS),
        "grp-expr": uid + "AuthzSendForbiddenOnFailure On\n<RequireAll>\n"
                          "Require ldap-group %s\n"
                          "Require expr \"%%{X509_CLIENT_S_DN_OU} == 'Engineering'\"\n"
                          "</RequireAll>" % ENGINEERS,
        "remote-attr": uid + "AuthLDAPRemoteUserAttribute mail\n"
                             "Require ldap-group %s" % ENGINEERS,
        "user": uid + "Require ldap-user alice01",
        "user-list": uid + "Require ldap-user carol bob",
        "dn": uid + "Require ldap-dn %s" % ALICE,
        "filter": uid + "Require ldap-filter departmentNumber=4711",
        "filter-mail": uid + "Require ldap-filter mail=alice@example.com",
        "filter-and": uid + "Require ldap-filter &(employeeType=staff)(mail=alice@example.com)",
        "filter-parens": uid + "Require ldap-filter (departmentNumber=4711)",
        "attr": uid + "Require ldap-attribute employeeType=staff",
        "exists": uid + "AuthzSendForbiddenOnFailure On\n"
                        "Require ldap-filter objectClass=inetOrgPerson",
        "mail-grp": by_mail + "Require ldap-group %s" % ENGINEERS,
        "mail-sales": by_mail + "AuthzSendForbiddenOnFailure On\n"
                                "Require ldap-group %s" % SALES,
        "mail-user": by_mail + "Require ldap-user alice@example.com",
        "cn-exists": by_cn + "AuthzSendForbiddenOnFailure On\n"
                             "Require ldap-filter objectClass=inetOrgPerson",
        "cn-grp": by_cn + "AuthzSendForbiddenOnFailure On\n"
                          "Require ldap-group %s" % ENGINEERS,
        "partner-bind": partner + bind + "AuthzSendForbiddenOnFailure On\n"
                                         "Require ldap-group %s" % PARTNER_GROUP,
        "partner-anon": partner + "AuthzSendForbiddenOnFailure On\n"
                                  "Require ldap-group %s" % PARTNER_GROUP,
        "partner-badbind": partner + "AuthLDAPBindDN %s\nAuthLDAPBindPassword wrong\n"
                                     "AuthzSendForbiddenOnFailure On\n"
                                     "Require ldap-group %s" % (quote(BIND_DN),
                                                                PARTNER_GROUP),
        "escape": ("AuthType X509\nX509AuthnUserMap %s\nX509AuthnUser subject:UID\n"
                   "AuthLDAPURL %s\nAuthzSendForbiddenOnFailure On\n"
                   "Require ldap-group %s" % (quote(partner_map), url_uid,
                                              ENGINEERS)),
        # -- 2. certificate or LDAP password ------------------------------------
        "fb": fallback + "Require valid-user",
        "fb-issuer-a": fallback + "X509AuthnRequireIssuer %s\nRequire valid-user"
                                  % quote(A_DN),
        "fb-grp": fallback + "Require ldap-group %s" % ENGINEERS,
        "basic-ldap": ('AuthType Basic\nAuthName "ldap"\nAuthBasicProvider ldap\n'
                       'AuthLDAPURL %s\nRequire valid-user' % url_uid),
    }


@pytest.fixture(scope="module")
def h(request, workroot, pki, module_so, slapd):
    srv = new_httpd(request, workroot, pki, module_so, name="ldap")
    srv.loglevel = "warn ssl:info x509authn:debug authnz_ldap:debug ldap:info"
    # mod_ldap's caches off: every request asks slapd (see
    # test_ldap_cache_is_shared_across_bind_dns for why that matters)
    srv.start(locations=locations(_locs(srv, slapd, pki)),
              server_extra=ldap_modules() + NO_LDAP_CACHE)
    return srv


# -- helpers -------------------------------------------------------------------

def authz_denied(r, status, x509=True):
    """An authorization denial after a successful login: `status` as httpd
    gives it, no page content, and under AuthType X509 no challenge."""
    assert r.status == status, r
    assert b'"REMOTE_USER"' not in r.body, r.body[:300]
    if x509:
        # a certificate login has nothing to ask for
        assert "www-authenticate" not in r.headers, r.headers
    return r


def basic_prompt(r):
    assert r.status == 401, r
    assert r.headers.get("www-authenticate", "").startswith('Basic realm="ldap"'), \
        r.headers
    assert b'"REMOTE_USER"' not in r.body
    return r


def basic_ok(r, user):
    assert r.status == 200, r
    env = r.env
    assert env["REMOTE_USER"] == user
    assert env["AUTH_TYPE"] == "Basic"
    assert "X509_AUTHN_SOURCE" not in env and "X509_CLIENT_S_DN" not in env
    return env


def search_filters(slapd, mark, needle, timeout=3.0):
    """The SRCH filters slapd logged since `mark` (after `needle` appeared)."""
    text = slapd.wait_log(mark, needle, timeout)
    return re.findall(r'SRCH base="[^"]*" scope=\d deref=\d filter="([^"]*)"', text)


# -- the directory itself ------------------------------------------------------

def test_slapd_is_private_and_loaded(slapd):
    assert slapd.running()
    assert slapd.url.startswith("ldap://127.0.0.1:")
    rc, out = slapd.search(PEOPLE, "(uid=alice01)", attrs=["mail", "cn"])
    assert "mail: alice@example.com" in out and "cn: alice" in out
    rc, out = slapd.search("dc=example,dc=com", "(cn=engineers)", attrs=["member"])
    assert "member: " + ALICE in out
    # ou=partners is hidden from anonymous searches, visible to the bind DN
    assert "partner-acme" not in slapd.search(PARTNERS, "(uid=*)", check=False)[1]
    assert "partner-acme" in slapd.search(PARTNERS, "(uid=*)", binddn=BIND_DN,
                                          password=BIND_PW)[1]
    # carol is not in the directory
    assert "dn:" not in slapd.search("dc=example,dc=com", "(|(uid=carol)(cn=carol))",
                                    check=False)[1]


# -- 1. certificate login, LDAP authorization -----------------------------------

@pytest.mark.parametrize("http2", [False, True], ids=["http1.1", "h2"])
def test_group_member_is_allowed(h, slapd, http2):
    mark = slapd.log_mark()
    r = h.get("grp", "alice", http2=http2)
    assert r.http_version == ("2" if http2 else "1.1")
    env = ok(r, "alice01")
    assert env["X509_AUTHN_SOURCE"] == "tls"
    assert env["X509_CLIENT_S_DN"] == ALICE_DN
    # mod_authnz_ldap searched the directory for the module's user name
    filters = search_filters(slapd, mark, "uid=alice01")
    assert "(&(objectClass=inetOrgPerson)(uid=alice01))" in filters, \
        slapd.log_since(mark)


def test_group_check_exports_ldap_attributes(h):
    """After a non-LDAP login mod_authnz_ldap exports the AuthLDAPURL
    attributes of the entry it found (AUTHENTICATE_* when it looked the user
    up, AUTHORIZE_* when a Require ldap-* granted)."""
    env = ok(h.get("grp", "alice"), "alice01")
    ldap_vars = {k: v for k, v in env.items()
                 if k.startswith(("AUTHENTICATE_", "AUTHORIZE_"))}
    assert ldap_vars.get("AUTHORIZE_MAIL") == "alice@example.com", ldap_vars
    assert ldap_vars.get("AUTHORIZE_CN") == "alice", ldap_vars
    assert ldap_vars.get("AUTHORIZE_DEPARTMENTNUMBER") == "4711", ldap_vars
    # httpd >= 2.4.5x also sets AUTHENTICATE_* on the lookup after a
    # non-LDAP login: the same values when they are there
    for k, v in ldap_vars.items():
        if k.startswith("AUTHENTICATE_"):
            assert ldap_vars.get("AUTHORIZE_" + k[len("AUTHENTICATE_"):]) == v, ldap_vars


def test_remote_user_attribute_renames_the_certificate_user(h):
    """AuthLDAPRemoteUserAttribute also applies after a certificate login:
    once the Require ldap-* lookup found the entry, r->user becomes that
    attribute's value (the module's name was only the search key)."""
    mark = h.log_mark()
    r = h.get("remote-attr", "alice")
    assert r.status == 200, r
    env = r.env
    assert env["REMOTE_USER"] == "alice@example.com", env.get("REMOTE_USER")
    assert env["AUTH_TYPE"] == "X509"
    assert h.wait_log(mark, r'preauthenticated.*user "alice01"'), h.log_since(mark)


def test_non_member_gets_401_by_default(h):
    """bob (no UID; name from his e-mail) exists in LDAP but is not an
    engineer: httpd's authorization failure after a login is 401, with no
    challenge since the login was a certificate."""
    mark = h.log_mark()
    amark = h.log_mark("access")
    r = authz_denied(h.get("grp", "bob"), 401)
    # the module did log bob in: the denial is mod_authz_core's
    assert h.wait_log(mark, r"preauthenticated.*user \"bob\""), h.log_since(mark)
    assert h.wait_log(mark, r'AH01631: user bob: authorization failure for '
                            r'"/t/grp/env"'), h.log_since(mark)
    line = h.wait_log(amark, 'tag="%s"' % r.tag, "access")
    assert line and '" 401 user="bob"' in line[0], line


def test_non_member_gets_403_with_forbidden_on_failure(h):
    authz_denied(h.get("grp-403", "bob"), 403)
    ok(h.get("grp-403", "alice"), "alice01")


def test_other_group(h):
    ok(h.get("grp-sales", "bob"), "bob")
    authz_denied(h.get("grp-sales", "alice"), 401)


def test_require_any_of_two_groups(h):
    ok(h.get("grp-any", "alice"), "alice01")
    ok(h.get("grp-any", "bob"), "bob")
    authz_denied(h.get("grp-any", "escaped"), 401)     # jsmith: two entries


def test_nested_group(h):
    """cn=staff has the group cn=engineers as member: with
    AuthLDAPMaxSubGroupDepth 3 alice is a member of staff, with 0 not."""
    ok(h.get("grp-nested", "alice"), "alice01")
    authz_denied(h.get("grp-nested", "bob"), 401)
    authz_denied(h.get("grp-nested-off", "alice"), 401)


def test_nested_group_default_depth(h):
    """What httpd does without AuthLDAPMaxSubGroupDepth (for the docs)."""
    ok(h.get("grp-nested-default", "alice"), "alice01")    # httpd's default: 10


def test_no_certificate_never_reaches_ldap(h, slapd):
    mark = slapd.log_mark()
    denied(h.get("grp"))                    # the module's 403
    denied(h.get("grp-403"))
    assert "SRCH" not in slapd.log_since(mark)


def test_certificate_without_a_name_never_reaches_ldap(h, slapd):
    """multiou (carol) has neither UID nor an @example.com e-mail: the
    module refuses it (403) before any LDAP lookup."""
    mark = h.log_mark()
    smark = slapd.log_mark()
    denied(h.get("grp", "multiou"))
    assert rejection_lines(h, mark), h.log_since(mark)
    assert "SRCH" not in slapd.log_since(smark)


def test_user_missing_from_ldap_is_denied(h):
    """carol's certificate (X509AuthnUser cn: its first CN) logs in as
    "Users", whom the directory does not know."""
    authz_denied(h.get("cn-exists", "multiou"), 403)
    authz_denied(h.get("cn-grp", "multiou"), 403)
    ok(h.get("cn-exists", "alice"), "alice")
    ok(h.get("cn-grp", "alice"), "alice")


def test_utf8_name_found_in_ldap(h):
    """CN=Juergen Mueller (with umlauts) as UTF-8 in the LDAP filter."""
    env = ok(h.get("cn-exists", "utf8"), "J\u00fcrgen M\u00fcller")
    assert env["AUTHORIZE_UID"] == "jmueller", env
    authz_denied(h.get("cn-grp", "utf8"), 403)


def test_ambiguous_name_is_denied(h):
    """uid=jsmith is in ou=people and in ou=contractors,ou=people: the
    subtree search finds two entries, and mod_authnz_ldap refuses."""
    mark = h.log_mark()
    authz_denied(h.get("exists", "escaped"), 403)
    assert h.wait_log(mark, r"User is not unique"), h.log_since(mark)
    assert h.wait_log(mark, r'AH01631: user jsmith: authorization failure'), \
        h.log_since(mark)
    ok(h.get("exists", "alice"), "alice01")
    ok(h.get("exists", "bob"), "bob")


def test_require_ldap_user(h):
    ok(h.get("user", "alice"), "alice01")
    authz_denied(h.get("user", "bob"), 401)
    # several names on one line: each is compared
    ok(h.get("user-list", "bob"), "bob")
    authz_denied(h.get("user-list", "alice"), 401)


def test_require_ldap_dn(h):
    ok(h.get("dn", "alice"), "alice01")
    authz_denied(h.get("dn", "bob"), 401)


@pytest.mark.parametrize("loc", ["filter", "filter-mail", "filter-and"])
def test_require_ldap_filter(h, slapd, loc):
    mark = slapd.log_mark()
    ok(h.get(loc, "alice"), "alice01")
    authz_denied(h.get(loc, "bob"), 401)
    # the Require filter is and-ed with the user's attribute
    filters = search_filters(slapd, mark, "uid=bob")
    assert any(re.match(r"^\(&\(.*\)\(uid=alice01\)\)$", f) and "objectClass" not in f
               for f in filters), filters


def test_require_ldap_filter_with_outer_parentheses_never_matches(h, slapd):
    """Pitfall: mod_authnz_ldap wraps the filter in parentheses itself;
    "(departmentNumber=4711)" becomes "(&((departmentNumber=4711))(uid=..))",
    a filter error, so nobody gets in."""
    mark = h.log_mark()
    authz_denied(h.get("filter-parens", "alice"), 401)
    assert h.wait_log(mark, r"\(&\(\(departmentNumber=4711\)\)\(uid=alice01\)\) "
                            r"authorization failed .*Bad search filter"), \
        h.log_since(mark)
    ok(h.get("filter", "alice"), "alice01")


def test_require_ldap_attribute(h):
    ok(h.get("attr", "alice"), "alice01")
    authz_denied(h.get("attr", "bob"), 401)


def test_email_lookup(h, slapd):
    """X509AuthnUser email + AuthLDAPURL attribute mail: alice's SAN e-mail,
    bob's subject emailAddress."""
    mark = slapd.log_mark()
    env = ok(h.get("mail-grp", "alice"), "alice@example.com")
    assert env["AUTHORIZE_UID"] == "alice01", env
    assert "(&(objectClass=inetOrgPerson)(mail=alice@example.com))" in \
        search_filters(slapd, mark, "mail=alice@example.com")
    authz_denied(h.get("mail-grp", "bob"), 401)
    env = ok(h.get("mail-sales", "bob"), "bob@example.com")
    assert env["AUTHORIZE_UID"] == "bob", env
    authz_denied(h.get("mail-sales", "alice"), 403)
    ok(h.get("mail-user", "alice"), "alice@example.com")
    authz_denied(h.get("mail-user", "bob"), 401)
    # no e-mail at all: the module refuses, 403
    denied(h.get("mail-grp", "multiou"))


def test_ldap_and_expr_together(h):
    ok(h.get("grp-expr", "alice"), "alice01")
    authz_denied(h.get("grp-expr", "bob"), 403)


def test_lookalike_ca_passes_ldap_unless_issuer_pinned(h):
    """Pitfall: the LDAP check trusts the name.  On a virtual host that also
    trusts the lookalike hierarchy, a certificate with alice's UID from the
    lookalike CA is alice01 to LDAP.  X509AuthnRequireIssuingCA stops it in
    the module (403) before LDAP is asked."""
    ok(h.get("grp", "lookalike", vhost="mixed"), "alice01")
    mark = h.log_mark()
    denied(h.get("grp-pinned", "lookalike", vhost="mixed"))
    assert rejection_lines(h, mark), h.log_since(mark)
    ok(h.get("grp-pinned", "alice", vhost="mixed"), "alice01")


def test_mapped_name_with_bind_dn(h, slapd):
    """X509AuthnUserMap maps bob's certificate to partner-acme, who lives in
    ou=partners, readable only with AuthLDAPBindDN."""
    mark = slapd.log_mark()
    env = ok(h.get("partner-bind", "bob"), "partner-acme")
    assert env["AUTHORIZE_CN"] == "ACME partner gateway", env
    log = slapd.wait_log(mark, 'BIND dn="%s"' % BIND_DN)
    assert 'BIND dn="%s"' % BIND_DN in log, log
    # not mapped, and X509AuthnUserMapRequired On: the module refuses
    denied(h.get("partner-bind", "alice"))


def test_mapped_name_anonymous_bind_cannot_see_it(h):
    authz_denied(h.get("partner-anon", "bob"), 403)


def test_wrong_bind_password_denies(h):
    mark = h.log_mark()
    authz_denied(h.get("partner-badbind", "bob"), 403)
    assert h.wait_log(mark, r"User DN not found, LDAP: ldap_simple_bind\(\) failed"), \
        h.log_since(mark)


def test_ldap_filter_metacharacters_are_escaped(h, slapd):
    """carol's certificate is mapped to the name "alice0*": mod_authnz_ldap
    must search for that literal name (uid=alice0\\2a), not a wildcard that
    would find alice01."""
    mark = slapd.log_mark()
    authz_denied(h.get("escape", "multiou"), 403)
    text = slapd.wait_log(mark, "alice0")
    assert re.search(r"\(uid=alice0\\2[aA]\)", text), text
    ok(h.get("escape", "alice"), "alice01")     # not mapped: subject:UID


# -- 2. certificate or LDAP password ---------------------------------------------

@pytest.mark.parametrize("http2", [False, True], ids=["http1.1", "h2"])
def test_fallback_certificate_logs_in_without_password(h, http2):
    r = h.get("fb", "alice", http2=http2)
    env = ok(r, "alice01")
    assert env["AUTH_TYPE"] == "X509"
    assert "www-authenticate" not in r.headers


@pytest.mark.parametrize("http2", [False, True], ids=["http1.1", "h2"])
def test_fallback_no_certificate_prompts(h, http2):
    basic_prompt(h.get("fb", http2=http2))


def test_fallback_ldap_password(h):
    env = basic_ok(h.get("fb", user="alice01:alicepw"), "alice01")
    # mod_authnz_ldap's own login exports AUTHENTICATE_<attr>
    assert env.get("AUTHENTICATE_MAIL") == "alice@example.com", env
    basic_ok(h.get("fb", user="bob:bobpw", http2=True), "bob")


def test_fallback_wrong_or_unknown_password(h):
    basic_prompt(h.get("fb", user="alice01:wrong"))
    basic_prompt(h.get("fb", user="carol:carolpw"))
    basic_prompt(h.get("fb", user="alice01:"))


def test_fallback_certificate_wins_over_password(h):
    env = ok(h.get("fb", "alice", user="bob:bobpw"), "alice01")
    assert env["AUTH_TYPE"] == "X509"


def test_fallback_refused_certificate_prompts_then_password(h):
    """bob's certificate is from CA B; the location wants CA A."""
    mark = h.log_mark()
    basic_prompt(h.get("fb-issuer-a", "bob"))
    lines = rejection_lines(h, mark)
    assert lines, h.log_since(mark)
    basic_ok(h.get("fb-issuer-a", "bob", user="bob:bobpw"), "bob")
    basic_prompt(h.get("fb-issuer-a", "bob", user="bob:wrong"))
    ok(h.get("fb-issuer-a", "alice"), "alice01")


def test_fallback_unverified_certificate_prompts(h):
    """optional_no_ca: the lookalike certificate is not verified; the module
    does not take it and LDAP asks for a password."""
    basic_prompt(h.get("fb", "lookalike", vhost="noca"))
    basic_ok(h.get("fb", "lookalike", vhost="noca", user="alice01:alicepw"), "alice01")


def test_fallback_ldap_group_for_both_logins(h):
    ok(h.get("fb-grp", "alice"), "alice01")
    basic_ok(h.get("fb-grp", user="alice01:alicepw"), "alice01")
    # bob logs in (password or certificate) but is no engineer: 401 + prompt
    basic_prompt(h.get("fb-grp", user="bob:bobpw"))
    r = h.get("fb-grp", "bob")
    assert r.status == 401, r
    assert r.headers.get("www-authenticate", "").startswith("Basic"), r.headers


def test_fallback_certificate_that_fails_authz_cannot_use_password(h):
    """Pitfall: an accepted certificate is the login, so a password sent
    along does not replace it: bob's certificate + alice's password is still
    bob, and still denied."""
    r = h.get("fb-grp", "bob", user="alice01:alicepw")
    assert r.status == 401, r
    assert b'"REMOTE_USER"' not in r.body


def test_basic_ldap_unaffected_by_the_module(h):
    basic_prompt(h.get("basic-ldap", "alice"))
    basic_ok(h.get("basic-ldap", "alice", user="alice01:alicepw"), "alice01")
    basic_prompt(h.get("basic-ldap", user="alice01:nope"))


# -- mod_ldap's cache -------------------------------------------------------------

def test_ldap_cache_is_shared_across_bind_dns(request, workroot, pki, module_so,
                                              slapd):
    """Pitfall (mod_ldap, not this module): the search and compare caches are
    keyed by AuthLDAPURL and filter, not by the bind identity.  Once a
    location with AuthLDAPBindDN has looked partner-acme up, a location with
    the same AuthLDAPURL and an anonymous bind is answered from the cache,
    although the directory would not show it the entry.  Give locations with
    different bind DNs different AuthLDAPURLs (or turn the cache off)."""
    srv = new_httpd(request, workroot, pki, module_so, name="ldapcache")
    locs = _locs(srv, slapd, pki)
    srv.start(locations=locations({k: locs[k] for k in
                                   ("partner-bind", "partner-anon")}),
              server_extra=ldap_modules())         # default caches
    authz_denied(srv.get("partner-anon", "bob"), 403)   # nothing cached yet
    ok(srv.get("partner-bind", "bob"), "partner-acme")
    mark = slapd.log_mark()
    ok(srv.get("partner-anon", "bob"), "partner-acme")  # from the cache
    assert "SRCH" not in slapd.log_since(mark)
