/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/* x509a_rules: X509AuthnRequire* (OR within a kind, AND across kinds),
 * merging, and the issuing-CA check with and without a verified chain. */

#include <stdarg.h>
#include <time.h>
#include <string.h>
#include <check.h>
#include <apr_strings.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "x509a_rules.h"
#include "testcert.h"
#include "suites.h"

/* A rule set with the NULL-terminated values of one kind. */
static x509a_rules *rules_add(x509a_rules *r, x509a_rule_kind kind, ...)
{
    va_list ap;
    const char *v;

    if (!r) {
        r = x509a_rules_make(tc_pool);
    }
    va_start(ap, kind);
    while ((v = va_arg(ap, const char *)) != NULL) {
        const char *warning = "unset";
        const char *err = x509a_rules_add(r, tc_pool, kind, v, &warning);
        ck_assert_msg(err == NULL, "%s '%s' rejected: %s",
                      x509a_rule_name(kind), v, err);
    }
    va_end(ap);
    return r;
}

/* Check and, on failure, insist that the reason names @a kind's directive. */
static int passes(const x509a_rules *r, x509a_cert *c, int fail_kind)
{
    const char *why = NULL;
    x509a_rule_kind failed = X509A_RULE_KINDS;
    int ok = x509a_rules_check(r, c, time(NULL), tc_pool, &why);

    /* the variant that says which kind failed (X509_AUTHN_ERROR) agrees */
    ck_assert_int_eq(x509a_rules_check_kind(r, c, time(NULL), tc_pool, NULL,
                                            &failed), ok);
    if (!ok) {
        ck_assert_msg(why != NULL, "no reason given");
        if (fail_kind >= 0) {
            ck_assert_msg(tc_contains(why, x509a_rule_name(
                                               (x509a_rule_kind)fail_kind)),
                          "reason should name %s: %s",
                          x509a_rule_name((x509a_rule_kind)fail_kind), why);
            ck_assert_msg(failed == (x509a_rule_kind)fail_kind,
                          "failed kind %d (%s), expected %s", (int)failed,
                          x509a_rule_reason(failed),
                          x509a_rule_reason((x509a_rule_kind)fail_kind));
        }
    }
    else {
        ck_assert_int_eq(failed, X509A_RULE_KINDS);
    }
    return ok;
}

#define ASSERT_PASS(r, c) ck_assert_msg(passes((r), (c), -1), "rules should pass")
#define ASSERT_FAIL(r, c, kind) \
    ck_assert_msg(!passes((r), (c), (kind)), "rules should fail on " #kind)

static const char *add_err(x509a_rule_kind kind, const char *value)
{
    x509a_rules *r = x509a_rules_make(tc_pool);
    const char *warning = "unset";
    const char *err = x509a_rules_add(r, tc_pool, kind, value, &warning);

    ck_assert_msg(err != NULL, "%s '%s' should be rejected",
                  x509a_rule_name(kind), value);
    ck_assert_msg(!x509a_rules_has(r, kind), "a rejected value configured %s",
                  x509a_rule_name(kind));
    ck_assert(x509a_rules_empty(r));
    return err;
}

/* ---------------------------------------------------------------------- */
/* Rule set basics                                                         */
/* ---------------------------------------------------------------------- */

START_TEST(rules_names)
{
    static const char *const names[X509A_RULE_KINDS] = {
        "X509AuthnRequireSubject", "X509AuthnRequireIssuer",
        "X509AuthnRequireSerial", "X509AuthnRequireFingerprint",
        "X509AuthnRequireSPKI", "X509AuthnRequireEKU",
        "X509AuthnRequirePolicy", "X509AuthnRequireIssuingCA",
        "X509AuthnMaxDepth"
    };
    int k;

    for (k = 0; k < X509A_RULE_KINDS; k++) {
        ck_assert_str_eq(x509a_rule_name((x509a_rule_kind)k), names[k]);
    }
    ck_assert_str_eq(x509a_rule_name(X509A_RULE_KINDS), "?");
}
END_TEST

START_TEST(rules_empty_has)
{
    tc_pki pki;
    x509a_rules *r = x509a_rules_make(tc_pool);
    x509a_cert *c;
    const char *why = "untouched";
    int k;

    tc_pki_make(tc_pool, &pki, 1);
    c = x509a_cert_make(tc_pool, pki.leaf);
    ck_assert(x509a_rules_empty(r));
    for (k = 0; k < X509A_RULE_KINDS; k++) {
        ck_assert(!x509a_rules_has(r, (x509a_rule_kind)k));
    }
    ck_assert(x509a_rules_check(r, c, time(NULL), tc_pool, &why));
    ck_assert_str_eq(why, "untouched");
    ck_assert(x509a_rules_check(r, c, time(NULL), tc_pool, NULL));

    rules_add(r, X509A_RULE_SERIAL, "4097", NULL);
    ck_assert(!x509a_rules_empty(r));
    for (k = 0; k < X509A_RULE_KINDS; k++) {
        ck_assert_int_eq(!!x509a_rules_has(r, (x509a_rule_kind)k),
                         k == X509A_RULE_SERIAL);
    }
    rules_add(r, X509A_RULE_EKU, "clientAuth", NULL);
    ck_assert(x509a_rules_has(r, X509A_RULE_EKU));
    ck_assert(x509a_rules_has(r, X509A_RULE_SERIAL));
    ck_assert(!x509a_rules_has(r, X509A_RULE_SUBJECT));
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Each kind                                                               */
/* ---------------------------------------------------------------------- */

START_TEST(rules_subject)
{
    tc_pki pki;
    x509a_cert *c;
    x509a_rules *r;

    tc_pki_make(tc_pool, &pki, 1);
    c = x509a_cert_make(tc_pool, pki.leaf);

    r = rules_add(NULL, X509A_RULE_SUBJECT, TC_LEAF_DN, NULL);
    ASSERT_PASS(r, c);
    r = rules_add(NULL, X509A_RULE_SUBJECT, "/C=US/O=Example Corp/CN=alice", NULL);
    ASSERT_PASS(r, c);
    r = rules_add(NULL, X509A_RULE_SUBJECT, "cn=ALICE, o=example corp, c=us",
                  NULL);
    ASSERT_PASS(r, c);
    r = rules_add(NULL, X509A_RULE_SUBJECT, "CN=bob,O=Example Corp,C=US", NULL);
    ASSERT_FAIL(r, c, X509A_RULE_SUBJECT);
    r = rules_add(NULL, X509A_RULE_SUBJECT, "C=US,O=Example Corp,CN=alice", NULL);
    ASSERT_FAIL(r, c, X509A_RULE_SUBJECT);
    /* the issuer's DN is not the subject */
    r = rules_add(NULL, X509A_RULE_SUBJECT, TC_INTER_DN, NULL);
    ASSERT_FAIL(r, c, X509A_RULE_SUBJECT);
    /* OR */
    r = rules_add(NULL, X509A_RULE_SUBJECT, "CN=bob,O=Example Corp,C=US",
                  "/C=US/O=Example Corp/CN=alice", "CN=carol", NULL);
    ASSERT_PASS(r, c);
    r = rules_add(NULL, X509A_RULE_SUBJECT, "CN=bob,O=Example Corp,C=US",
                  "CN=carol", NULL);
    ASSERT_FAIL(r, c, X509A_RULE_SUBJECT);
}
END_TEST

START_TEST(rules_issuer)
{
    tc_pki pki;
    x509a_cert *c;
    x509a_rules *r;

    tc_pki_make(tc_pool, &pki, 1);
    c = x509a_cert_make(tc_pool, pki.leaf);

    r = rules_add(NULL, X509A_RULE_ISSUER, TC_INTER_DN, NULL);
    ASSERT_PASS(r, c);
    r = rules_add(NULL, X509A_RULE_ISSUER, "/C=US/O=Example Corp/CN=Test Issuing CA",
                  NULL);
    ASSERT_PASS(r, c);
    r = rules_add(NULL, X509A_RULE_ISSUER, TC_ROOT_DN, NULL);
    ASSERT_FAIL(r, c, X509A_RULE_ISSUER);
    r = rules_add(NULL, X509A_RULE_ISSUER, TC_LEAF_DN, NULL);
    ASSERT_FAIL(r, c, X509A_RULE_ISSUER);
    r = rules_add(NULL, X509A_RULE_ISSUER, TC_ROOT_DN, TC_INTER_DN, NULL);
    ASSERT_PASS(r, c);
    /* the intermediate's issuer is the root */
    ASSERT_PASS(r, x509a_cert_make(tc_pool, pki.inter));
    ASSERT_FAIL(rules_add(NULL, X509A_RULE_ISSUER, TC_INTER_DN, NULL),
                x509a_cert_make(tc_pool, pki.inter), X509A_RULE_ISSUER);
}
END_TEST

START_TEST(rules_serial)
{
    tc_pki pki;
    x509a_cert *c;
    static const char *const ok[] = {
        "4097", "0x1001", "0X1001", "10:01", "00:10:01", "0x00001001", "04097"
    };
    size_t i;

    tc_pki_make(tc_pool, &pki, 1);
    c = x509a_cert_make(tc_pool, pki.leaf);
    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        ck_assert_msg(passes(rules_add(NULL, X509A_RULE_SERIAL, ok[i], NULL), c,
                             -1), "serial %s should match 0x1001", ok[i]);
    }
    ASSERT_FAIL(rules_add(NULL, X509A_RULE_SERIAL, "4098", NULL), c,
                X509A_RULE_SERIAL);
    ASSERT_FAIL(rules_add(NULL, X509A_RULE_SERIAL, "0x100100", NULL), c,
                X509A_RULE_SERIAL);
    ASSERT_FAIL(rules_add(NULL, X509A_RULE_SERIAL, "-4097", NULL), c,
                X509A_RULE_SERIAL);
    ASSERT_FAIL(rules_add(NULL, X509A_RULE_SERIAL, "1001", NULL), c,
                X509A_RULE_SERIAL);
    ASSERT_PASS(rules_add(NULL, X509A_RULE_SERIAL, "1", "2", "4097", NULL), c);
    ASSERT_FAIL(rules_add(NULL, X509A_RULE_SERIAL, "1", "2", NULL), c,
                X509A_RULE_SERIAL);
}
END_TEST

START_TEST(rules_fingerprint)
{
    tc_pki pki;
    x509a_cert *c;
    const char *s256, *s1, *other;

    tc_pki_make(tc_pool, &pki, 1);
    c = x509a_cert_make(tc_pool, pki.leaf);
    s256 = tc_digest_hex(tc_pool, pki.leaf, EVP_sha256());
    s1 = tc_digest_hex(tc_pool, pki.leaf, EVP_sha1());
    other = tc_digest_hex(tc_pool, pki.fake_leaf, EVP_sha256());

    ASSERT_PASS(rules_add(NULL, X509A_RULE_FINGERPRINT,
                          apr_pstrcat(tc_pool, "sha256:", s256, NULL), NULL), c);
    ASSERT_PASS(rules_add(NULL, X509A_RULE_FINGERPRINT, s256, NULL), c);
    ASSERT_PASS(rules_add(NULL, X509A_RULE_FINGERPRINT,
                          apr_pstrcat(tc_pool, "sha1:", s1, NULL), NULL), c);
    ASSERT_PASS(rules_add(NULL, X509A_RULE_FINGERPRINT, s1, NULL), c);
    {
        unsigned char md[32];
        unsigned int n;
        X509_digest(pki.leaf, EVP_sha256(), md, &n);
        ASSERT_PASS(rules_add(NULL, X509A_RULE_FINGERPRINT,
                              tc_hex_colons_lower(tc_pool, md, 32), NULL), c);
    }
    ASSERT_FAIL(rules_add(NULL, X509A_RULE_FINGERPRINT, other, NULL), c,
                X509A_RULE_FINGERPRINT);
    ASSERT_FAIL(rules_add(NULL, X509A_RULE_FINGERPRINT,
                          tc_digest_hex(tc_pool, pki.inter, EVP_sha1()), NULL),
                c, X509A_RULE_FINGERPRINT);
    /* OR, mixing algorithms */
    ASSERT_PASS(rules_add(NULL, X509A_RULE_FINGERPRINT, other,
                          apr_pstrcat(tc_pool, "sha1:", s1, NULL), NULL), c);
    /* the fake leaf has the same subject and serial, not the same digest */
    ASSERT_FAIL(rules_add(NULL, X509A_RULE_FINGERPRINT, s256, s1, NULL),
                x509a_cert_make(tc_pool, pki.fake_leaf), X509A_RULE_FINGERPRINT);
}
END_TEST

START_TEST(rules_spki)
{
    tc_spec s = { 0 };
    static const tc_attr subj[] = { { "CN", "pinned" }, { NULL } };
    EVP_PKEY *key = tc_key(tc_pool);
    unsigned char pin[32], other_pin[32];
    x509a_cert *a, *renewed, *other;
    const char *hex, *b64;

    s.subject = subj;
    s.key = key;
    s.serial = "01";
    a = x509a_cert_make(tc_pool, tc_cert(tc_pool, &s, NULL));
    s.serial = "02";
    s.not_after = TC_NOT_AFTER - 86400;
    renewed = x509a_cert_make(tc_pool, tc_cert(tc_pool, &s, NULL));
    s.key = NULL;
    other = x509a_cert_make(tc_pool, tc_cert(tc_pool, &s, NULL));
    tc_spki_sha256(x509a_cert_x509(a), pin);
    tc_spki_sha256(x509a_cert_x509(other), other_pin);
    hex = tc_hex(tc_pool, pin, 32);
    b64 = tc_base64(tc_pool, pin, 32);

    ASSERT_PASS(rules_add(NULL, X509A_RULE_SPKI,
                          apr_pstrcat(tc_pool, "sha256:", hex, NULL), NULL), a);
    ASSERT_PASS(rules_add(NULL, X509A_RULE_SPKI,
                          apr_pstrcat(tc_pool, "sha256:", b64, NULL), NULL), a);
    ASSERT_PASS(rules_add(NULL, X509A_RULE_SPKI, b64, NULL), a);
    ASSERT_PASS(rules_add(NULL, X509A_RULE_SPKI, b64, NULL), renewed);
    ASSERT_FAIL(rules_add(NULL, X509A_RULE_SPKI, b64, NULL), other,
                X509A_RULE_SPKI);
    ASSERT_FAIL(rules_add(NULL, X509A_RULE_SPKI, tc_hex(tc_pool, other_pin, 32),
                          NULL), a, X509A_RULE_SPKI);
    ASSERT_PASS(rules_add(NULL, X509A_RULE_SPKI, tc_hex(tc_pool, other_pin, 32),
                          b64, NULL), a);
    ASSERT_PASS(rules_add(NULL, X509A_RULE_SPKI, tc_hex(tc_pool, other_pin, 32),
                          b64, NULL), other);
}
END_TEST

START_TEST(rules_eku)
{
    tc_spec s = { 0 };
    static const tc_attr subj[] = { { "CN", "eku" }, { NULL } };
    x509a_cert *both, *server, *none, *card;

    s.subject = subj;
    s.eku = "clientAuth,emailProtection";
    both = x509a_cert_make(tc_pool, tc_cert(tc_pool, &s, NULL));
    s.eku = "serverAuth";
    server = x509a_cert_make(tc_pool, tc_cert(tc_pool, &s, NULL));
    s.eku = "1.3.6.1.4.1.311.20.2.2,1.3.6.1.4.1.99999.3";
    card = x509a_cert_make(tc_pool, tc_cert(tc_pool, &s, NULL));
    s.eku = NULL;
    none = x509a_cert_make(tc_pool, tc_cert(tc_pool, &s, NULL));

    ASSERT_PASS(rules_add(NULL, X509A_RULE_EKU, "clientAuth", NULL), both);
    ASSERT_PASS(rules_add(NULL, X509A_RULE_EKU, "1.3.6.1.5.5.7.3.2", NULL), both);
    ASSERT_PASS(rules_add(NULL, X509A_RULE_EKU, "TLS Web Client Authentication",
                          NULL), both);
    ASSERT_PASS(rules_add(NULL, X509A_RULE_EKU, "emailProtection", NULL), both);
    ASSERT_FAIL(rules_add(NULL, X509A_RULE_EKU, "serverAuth", NULL), both,
                X509A_RULE_EKU);
    ASSERT_FAIL(rules_add(NULL, X509A_RULE_EKU, "clientAuth", NULL), server,
                X509A_RULE_EKU);
    ASSERT_PASS(rules_add(NULL, X509A_RULE_EKU, "clientAuth", "serverAuth", NULL),
                server);
    ASSERT_FAIL(rules_add(NULL, X509A_RULE_EKU, "clientAuth", NULL), none,
                X509A_RULE_EKU);
    ASSERT_PASS(rules_add(NULL, X509A_RULE_EKU, "msSmartcardLogin", NULL), card);
    ASSERT_PASS(rules_add(NULL, X509A_RULE_EKU, "1.3.6.1.4.1.99999.3", NULL),
                card);
    ASSERT_FAIL(rules_add(NULL, X509A_RULE_EKU, "1.3.6.1.4.1.99999", NULL), card,
                X509A_RULE_EKU);
    ASSERT_FAIL(rules_add(NULL, X509A_RULE_EKU, "clientAuth", NULL), card,
                X509A_RULE_EKU);
}
END_TEST

/* EKU names as OpenSSL spells them or in any case (OBJ_txt2obj() alone is
 * case-sensitive); a name two objects share without regard to case, or
 * no object has, is refused. */
START_TEST(rules_eku_case)
{
    tc_spec s = { 0 };
    static const tc_attr subj[] = { { "CN", "eku" }, { NULL } };
    x509a_cert *client, *server, *card;

    s.subject = subj;
    s.eku = "clientAuth";
    client = x509a_cert_make(tc_pool, tc_cert(tc_pool, &s, NULL));
    s.eku = "serverAuth";
    server = x509a_cert_make(tc_pool, tc_cert(tc_pool, &s, NULL));
    s.eku = "1.3.6.1.4.1.311.20.2.2";
    card = x509a_cert_make(tc_pool, tc_cert(tc_pool, &s, NULL));

    ASSERT_PASS(rules_add(NULL, X509A_RULE_EKU, "clientauth", NULL), client);
    ASSERT_PASS(rules_add(NULL, X509A_RULE_EKU, "CLIENTAUTH", NULL), client);
    ASSERT_PASS(rules_add(NULL, X509A_RULE_EKU, "tls web client authentication",
                          NULL), client);
    ASSERT_FAIL(rules_add(NULL, X509A_RULE_EKU, "clientauth", NULL), server,
                X509A_RULE_EKU);
    ASSERT_FAIL(rules_add(NULL, X509A_RULE_EKU, "serverauth", NULL), client,
                X509A_RULE_EKU);
    ASSERT_PASS(rules_add(NULL, X509A_RULE_EKU, "serverauth", NULL), server);
    ASSERT_PASS(rules_add(NULL, X509A_RULE_EKU, "mssmartcardlogin", NULL), card);
    ASSERT_FAIL(rules_add(NULL, X509A_RULE_EKU, "mssmartcardlogin", NULL), client,
                X509A_RULE_EKU);
    ck_assert(tc_contains(add_err(X509A_RULE_EKU, "clientauthx"), "clientauthx"));
    /* "mail" and "Mail" are two objects */
    ck_assert(tc_contains(add_err(X509A_RULE_EKU, "MAIL"), "MAIL"));
    ck_assert(tc_contains(add_err(X509A_RULE_EKU, ""), "extended key usage"));
}
END_TEST

/* A leaf under a sub-CA of the tc_pki root, verified: the sub-CA with
 * @a ca_policies (NULL: no certificatePolicies) and @a constraints, the
 * leaf with @a leaf_policies. */
static x509a_cert *policy_path(const tc_pki *pki, const char *ca_policies,
                               const char *constraints,
                               const char *leaf_policies)
{
    static const tc_attr ca_subj[] = { { "CN", "Policy CA" }, { NULL } };
    static const tc_attr leaf_subj[] = { { "CN", "pol" }, { NULL } };
    tc_spec s = { 0 };
    EVP_PKEY *ca_key;
    X509 *ca, *leaf;
    x509a_cert *c;

    s.subject = ca_subj;
    s.issuer = pki->root;
    s.issuer_key = pki->root_key;
    s.ca = 1;
    s.serial = "0C01";
    s.policies = ca_policies;
    s.policy_constraints = constraints;
    ca = tc_cert(tc_pool, &s, &ca_key);
    memset(&s, 0, sizeof(s));
    s.subject = leaf_subj;
    s.issuer = ca;
    s.issuer_key = ca_key;
    s.policies = leaf_policies;
    s.eku = "clientAuth";
    leaf = tc_cert(tc_pool, &s, NULL);
    c = x509a_cert_make(tc_pool, leaf);
    x509a_cert_set_chain(c, tc_verify(tc_pool, leaf,
                                      tc_store(tc_pool, pki->root, NULL),
                                      tc_stack(tc_pool, ca, NULL)), NULL);
    return c;
}

#define P1 "1.3.6.1.4.1.99999.1.2"
#define P2 "2.23.140.1.2.1"
#define PQ "1.3.6.1.4.1.99999.7"

START_TEST(rules_policy)
{
    tc_pki pki;
    tc_spec s = { 0 };
    static const tc_attr subj[] = { { "CN", "pol" }, { NULL } };
    x509a_cert *c, *none;
    X509 *leaf;

    tc_pki_make(tc_pool, &pki, 1);
    /* the CA allows any policy: the leaf's decide */
    c = policy_path(&pki, "2.5.29.32.0", NULL, P1 "," P2);
    ASSERT_PASS(rules_add(NULL, X509A_RULE_POLICY, P1, NULL), c);
    ASSERT_PASS(rules_add(NULL, X509A_RULE_POLICY, P2, NULL), c);
    ASSERT_FAIL(rules_add(NULL, X509A_RULE_POLICY, "1.3.6.1.4.1.99999.1", NULL),
                c, X509A_RULE_POLICY);
    ASSERT_FAIL(rules_add(NULL, X509A_RULE_POLICY, "1.3.6.1.4.1.99999.1.2.3",
                          NULL), c, X509A_RULE_POLICY);
    ASSERT_PASS(rules_add(NULL, X509A_RULE_POLICY, "1.2.3.4", P1, NULL), c);
    /* the CA lists the policy itself */
    c = policy_path(&pki, P1, NULL, P1);
    ASSERT_PASS(rules_add(NULL, X509A_RULE_POLICY, P1, NULL), c);
    /* a leaf without policies */
    none = policy_path(&pki, "2.5.29.32.0", NULL, NULL);
    ASSERT_FAIL(rules_add(NULL, X509A_RULE_POLICY, P1, NULL), none,
                X509A_RULE_POLICY);

    /* RFC 5280 6.1: the CA's policies bound the leaf's.  A sub-CA for
     * {Q} with requireExplicitPolicy:0 issuing a leaf that asserts P: no
     * valid policy ("no explicit policy"), and the same without the
     * constraint (the rule asks for an explicit policy) */
    c = policy_path(&pki, PQ, "requireExplicitPolicy:0", P1);
    ASSERT_FAIL(rules_add(NULL, X509A_RULE_POLICY, P1, NULL), c,
                X509A_RULE_POLICY);
    ASSERT_FAIL(rules_add(NULL, X509A_RULE_POLICY, PQ, NULL), c,
                X509A_RULE_POLICY);
    c = policy_path(&pki, PQ, NULL, P1);
    ASSERT_FAIL(rules_add(NULL, X509A_RULE_POLICY, P1, NULL), c,
                X509A_RULE_POLICY);
    c = policy_path(&pki, PQ, "requireExplicitPolicy:0", PQ);
    ASSERT_PASS(rules_add(NULL, X509A_RULE_POLICY, PQ, NULL), c);
    /* a sub-CA without certificatePolicies ends every policy */
    c = policy_path(&pki, NULL, NULL, P1);
    ASSERT_FAIL(rules_add(NULL, X509A_RULE_POLICY, P1, NULL), c,
                X509A_RULE_POLICY);

    /* a leaf issued by the anchor itself: the leaf's policies decide */
    s.subject = subj;
    s.issuer = pki.root;
    s.issuer_key = pki.root_key;
    s.policies = P1;
    leaf = tc_cert(tc_pool, &s, NULL);
    c = x509a_cert_make(tc_pool, leaf);
    x509a_cert_set_chain(c, tc_verify(tc_pool, leaf,
                                      tc_store(tc_pool, pki.root, NULL), NULL),
                         NULL);
    ASSERT_PASS(rules_add(NULL, X509A_RULE_POLICY, P1, NULL), c);
    /* without a verified path, the leaf's own list is not enough */
    c = x509a_cert_make(tc_pool, leaf);
    ASSERT_FAIL(rules_add(NULL, X509A_RULE_POLICY, P1, NULL), c,
                X509A_RULE_POLICY);
    x509a_cert_set_chain(c, NULL, tc_stack(tc_pool, pki.root, NULL));
    ASSERT_FAIL(rules_add(NULL, X509A_RULE_POLICY, P1, NULL), c,
                X509A_RULE_POLICY);
}
END_TEST

START_TEST(rules_and_across_kinds)
{
    tc_pki pki;
    x509a_cert *c;
    x509a_rules *r;
    const char *s256;

    tc_pki_make(tc_pool, &pki, 1);
    c = x509a_cert_make(tc_pool, pki.leaf);
    s256 = tc_digest_hex(tc_pool, pki.leaf, EVP_sha256());

    r = rules_add(NULL, X509A_RULE_SUBJECT, TC_LEAF_DN, NULL);
    rules_add(r, X509A_RULE_ISSUER, TC_INTER_DN, NULL);
    rules_add(r, X509A_RULE_SERIAL, "4097", NULL);
    rules_add(r, X509A_RULE_FINGERPRINT, s256, NULL);
    rules_add(r, X509A_RULE_EKU, "clientAuth", NULL);
    rules_add(r, X509A_RULE_ISSUING_CA, tc_pem_file(tc_pool, pki.root, NULL),
              NULL);
    rules_add(r, X509A_RULE_MAX_DEPTH, "2", NULL);
    x509a_cert_set_chain(c, tc_verify(tc_pool, pki.leaf,
                                      tc_store(tc_pool, pki.root, NULL),
                                      tc_stack(tc_pool, pki.inter, NULL)),
                         NULL);
    ASSERT_PASS(r, c);
    rules_add(r, X509A_RULE_MAX_DEPTH, "1", NULL);
    ASSERT_FAIL(r, c, X509A_RULE_MAX_DEPTH);

    /* one kind failing fails the whole */
    r = rules_add(NULL, X509A_RULE_SUBJECT, TC_LEAF_DN, NULL);
    rules_add(r, X509A_RULE_SERIAL, "4098", NULL);
    ASSERT_FAIL(r, c, X509A_RULE_SERIAL);

    r = rules_add(NULL, X509A_RULE_SERIAL, "4097", NULL);
    rules_add(r, X509A_RULE_EKU, "serverAuth", NULL);
    ASSERT_FAIL(r, c, X509A_RULE_EKU);

    r = rules_add(NULL, X509A_RULE_SUBJECT, "CN=bob", NULL);
    rules_add(r, X509A_RULE_SERIAL, "4097", NULL);
    ASSERT_FAIL(r, c, X509A_RULE_SUBJECT);

    r = rules_add(NULL, X509A_RULE_ISSUER, TC_ROOT_DN, NULL);
    rules_add(r, X509A_RULE_SUBJECT, TC_LEAF_DN, NULL);
    ASSERT_FAIL(r, c, X509A_RULE_ISSUER);

    r = rules_add(NULL, X509A_RULE_POLICY, "1.2.3.4", NULL);
    rules_add(r, X509A_RULE_SUBJECT, TC_LEAF_DN, NULL);
    ASSERT_FAIL(r, c, X509A_RULE_POLICY);

    r = rules_add(NULL, X509A_RULE_SUBJECT, TC_LEAF_DN, NULL);
    rules_add(r, X509A_RULE_ISSUING_CA, tc_pem_file(tc_pool, pki.fake_root, NULL),
              NULL);
    ASSERT_FAIL(r, c, X509A_RULE_ISSUING_CA);

    /* the lookalike leaf: same subject, issuer DN and serial */
    r = rules_add(NULL, X509A_RULE_SUBJECT, TC_LEAF_DN, NULL);
    rules_add(r, X509A_RULE_ISSUER, TC_INTER_DN, NULL);
    rules_add(r, X509A_RULE_SERIAL, "4097", NULL);
    ASSERT_PASS(r, x509a_cert_make(tc_pool, pki.fake_leaf));
    rules_add(r, X509A_RULE_FINGERPRINT, s256, NULL);
    ASSERT_FAIL(r, x509a_cert_make(tc_pool, pki.fake_leaf),
                X509A_RULE_FINGERPRINT);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Adding values                                                           */
/* ---------------------------------------------------------------------- */

START_TEST(rules_add_errors)
{
    tc_pki pki;
    const char *err, *f;

    tc_pki_make(tc_pool, &pki, 1);
    err = add_err(X509A_RULE_SUBJECT, "CN");
    ck_assert_msg(tc_contains(err, "CN"), "%s", err);
    err = add_err(X509A_RULE_SUBJECT, "FOO=bar");
    ck_assert_msg(tc_contains(err, "FOO"), "%s", err);
    add_err(X509A_RULE_SUBJECT, "");
    err = add_err(X509A_RULE_ISSUER, "CN=\"open");
    ck_assert_msg(tc_contains(err, "CN=\"open"), "%s", err);
    err = add_err(X509A_RULE_SERIAL, "12ab");
    ck_assert_msg(tc_contains(err, "0x12ab"), "%s", err);
    add_err(X509A_RULE_SERIAL, "");
    err = add_err(X509A_RULE_FINGERPRINT, "sha1:00");
    ck_assert_msg(tc_contains(err, "sha1:00"), "%s", err);
    add_err(X509A_RULE_FINGERPRINT,
            "sha256:00112233445566778899AABBCCDDEEFF00112233");
    err = add_err(X509A_RULE_SPKI, "sha256:zz");
    ck_assert_msg(tc_contains(err, "sha256:zz"), "%s", err);
    err = add_err(X509A_RULE_EKU, "notAnEKU");
    ck_assert_msg(tc_contains(err, "notAnEKU"), "%s", err);
    add_err(X509A_RULE_EKU, "");
    err = add_err(X509A_RULE_POLICY, "not an oid");
    ck_assert_msg(tc_contains(err, "not an oid"), "%s", err);
    add_err(X509A_RULE_POLICY, "1.2.x");

    /* IssuingCA files */
    f = "/nonexistent/x509a-unit/ca.pem";
    err = add_err(X509A_RULE_ISSUING_CA, f);
    ck_assert_msg(tc_contains(err, f), "%s", err);
    f = tc_text_file(tc_pool, "");
    err = add_err(X509A_RULE_ISSUING_CA, f);
    ck_assert_msg(tc_contains(err, f), "%s", err);
    f = tc_text_file(tc_pool, "this is not PEM\n");
    err = add_err(X509A_RULE_ISSUING_CA, f);
    ck_assert_msg(tc_contains(err, f), "%s", err);
    f = tc_pem_file(tc_pool, pki.leaf, NULL);
    err = add_err(X509A_RULE_ISSUING_CA, f);
    ck_assert_msg(tc_contains(err, f), "%s", err);
    ck_assert_msg(tc_contains(err, "CN=alice"), "should name the certificate: %s",
                  err);
    f = tc_pem_file(tc_pool, pki.root, pki.leaf, NULL);
    err = add_err(X509A_RULE_ISSUING_CA, f);
    ck_assert_msg(tc_contains(err, f), "%s", err);
}
END_TEST

START_TEST(rules_warning)
{
    x509a_rules *r = x509a_rules_make(tc_pool);
    const char *warning = "unset";

    ck_assert_ptr_null(x509a_rules_add(r, tc_pool, X509A_RULE_SUBJECT,
                                       "C=US,O=Example Corp,CN=alice",
                                       &warning));
    ck_assert_msg(tc_contains(warning, "C=US,O=Example Corp,CN=alice"),
                  "warning: %s", warning ? warning : "(null)");
    ck_assert_ptr_null(x509a_rules_add(r, tc_pool, X509A_RULE_SUBJECT,
                                       TC_LEAF_DN, &warning));
    ck_assert_ptr_null(warning);
    warning = "unset";
    ck_assert_ptr_null(x509a_rules_add(r, tc_pool, X509A_RULE_ISSUER,
                                       "DC=com,DC=example,CN=Issuing",
                                       &warning));
    ck_assert_msg(tc_contains(warning, "DC=com,DC=example,CN=Issuing"),
                  "warning: %s", warning ? warning : "(null)");
    warning = "unset";
    ck_assert_ptr_null(x509a_rules_add(r, tc_pool, X509A_RULE_ISSUER,
                                       "/C=US/O=Example Corp/CN=x", &warning));
    ck_assert_ptr_null(warning);
    warning = "unset";
    ck_assert_ptr_null(x509a_rules_add(r, tc_pool, X509A_RULE_SERIAL, "1",
                                       &warning));
    ck_assert_ptr_null(warning);
    /* no place for a warning */
    ck_assert_ptr_null(x509a_rules_add(r, tc_pool, X509A_RULE_SUBJECT,
                                       "C=US,CN=x", NULL));
    /* the reversed DN is still compared as written */
    {
        tc_pki pki;
        x509a_rules *rr = x509a_rules_make(tc_pool);
        tc_pki_make(tc_pool, &pki, 1);
        ck_assert_ptr_null(x509a_rules_add(rr, tc_pool, X509A_RULE_SUBJECT,
                                           "C=US,O=Example Corp,CN=alice",
                                           NULL));
        ASSERT_FAIL(rr, x509a_cert_make(tc_pool, pki.leaf), X509A_RULE_SUBJECT);
    }
}
END_TEST

START_TEST(rules_merge)
{
    tc_pki pki;
    x509a_cert *c;
    x509a_rules *base, *add, *m, *empty;
    STACK_OF(X509) *verified;

    tc_pki_make(tc_pool, &pki, 1);
    verified = tc_verify(tc_pool, pki.leaf, tc_store(tc_pool, pki.root, NULL),
                         tc_stack(tc_pool, pki.inter, NULL));
    c = x509a_cert_make(tc_pool, pki.leaf);
    x509a_cert_set_chain(c, verified, NULL);

    base = rules_add(NULL, X509A_RULE_SUBJECT, "CN=bob,O=Example Corp,C=US",
                     NULL);
    rules_add(base, X509A_RULE_SERIAL, "4098", NULL);
    add = rules_add(NULL, X509A_RULE_SUBJECT, TC_LEAF_DN, NULL);
    empty = x509a_rules_make(tc_pool);

    /* the child's subject replaces the parent's; serial is inherited */
    m = x509a_rules_merge(tc_pool, base, add);
    ck_assert(x509a_rules_has(m, X509A_RULE_SUBJECT));
    ck_assert(x509a_rules_has(m, X509A_RULE_SERIAL));
    ck_assert(!x509a_rules_has(m, X509A_RULE_ISSUER));
    ASSERT_FAIL(m, c, X509A_RULE_SERIAL);
    rules_add(add, X509A_RULE_SERIAL, "4097", NULL);
    m = x509a_rules_merge(tc_pool, base, add);
    ASSERT_PASS(m, c);
    /* the inputs are unchanged */
    ASSERT_FAIL(base, c, X509A_RULE_SUBJECT);
    ASSERT_PASS(add, c);

    /* nothing in the child: everything inherited */
    m = x509a_rules_merge(tc_pool, base, empty);
    ASSERT_FAIL(m, c, X509A_RULE_SUBJECT);
    m = x509a_rules_merge(tc_pool, empty, add);
    ASSERT_PASS(m, c);
    m = x509a_rules_merge(tc_pool, empty, empty);
    ck_assert(x509a_rules_empty(m));

    /* IssuingCA: inherited with its certificates, or replaced */
    base = rules_add(NULL, X509A_RULE_ISSUING_CA,
                     tc_pem_file(tc_pool, pki.root, NULL), NULL);
    add = rules_add(NULL, X509A_RULE_ISSUING_CA,
                    tc_pem_file(tc_pool, pki.fake_root, NULL), NULL);
    m = x509a_rules_merge(tc_pool, base, empty);
    ck_assert(x509a_rules_has(m, X509A_RULE_ISSUING_CA));
    ASSERT_PASS(m, c);
    m = x509a_rules_merge(tc_pool, base, add);
    {
        x509a_cert *fresh = x509a_cert_make(tc_pool, pki.leaf);
        x509a_cert_set_chain(fresh, verified, NULL);
        ASSERT_FAIL(m, fresh, X509A_RULE_ISSUING_CA);
    }
    m = x509a_rules_merge(tc_pool, add, base);
    {
        x509a_cert *fresh = x509a_cert_make(tc_pool, pki.leaf);
        x509a_cert_set_chain(fresh, verified, NULL);
        ASSERT_PASS(m, fresh);
    }
    /* a child with other kinds keeps the parent's IssuingCA */
    add = rules_add(NULL, X509A_RULE_SUBJECT, TC_LEAF_DN, NULL);
    m = x509a_rules_merge(tc_pool, base, add);
    {
        x509a_cert *fresh = x509a_cert_make(tc_pool, pki.leaf);
        x509a_cert_set_chain(fresh, verified, NULL);
        ASSERT_PASS(m, fresh);
        fresh = x509a_cert_make(tc_pool, pki.leaf);
        ASSERT_FAIL(m, fresh, X509A_RULE_ISSUING_CA);
    }

    /* MaxDepth: one value, the child's replaces the parent's */
    base = rules_add(NULL, X509A_RULE_MAX_DEPTH, "1", NULL);
    add = rules_add(NULL, X509A_RULE_MAX_DEPTH, "2", NULL);
    ASSERT_FAIL(x509a_rules_merge(tc_pool, add, base), c, X509A_RULE_MAX_DEPTH);
    ASSERT_PASS(x509a_rules_merge(tc_pool, base, add), c);
    ASSERT_FAIL(x509a_rules_merge(tc_pool, base, empty), c,
                X509A_RULE_MAX_DEPTH);
    /* a later directive in one section replaces the earlier value */
    rules_add(add, X509A_RULE_MAX_DEPTH, "1", NULL);
    ASSERT_FAIL(add, c, X509A_RULE_MAX_DEPTH);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* IssuingCA                                                               */
/* ---------------------------------------------------------------------- */

static int ca_rule(x509a_cert *c, const char *file)
{
    x509a_rules *r = rules_add(NULL, X509A_RULE_ISSUING_CA, file, NULL);

    return passes(r, c, X509A_RULE_ISSUING_CA);
}

START_TEST(issuing_ca_verified_chain)
{
    int key_ids;

    for (key_ids = 0; key_ids < 2; key_ids++) {
        tc_pki pki;
        STACK_OF(X509) *chain, *fake_chain;
        x509a_cert *c, *f;

        tc_pki_make(tc_pool, &pki, key_ids);
        chain = tc_verify(tc_pool, pki.leaf, tc_store(tc_pool, pki.root, NULL),
                          tc_stack(tc_pool, pki.inter, NULL));
        ck_assert_int_eq(sk_X509_num(chain), 3);
        /* the lookalike intermediate is signed by the real root, so the
         * lookalike leaf verifies too */
        fake_chain = tc_verify(tc_pool, pki.fake_leaf,
                               tc_store(tc_pool, pki.root, NULL),
                               tc_stack(tc_pool, pki.fake_inter, NULL));
        ck_assert_int_eq(sk_X509_num(fake_chain), 3);

        c = x509a_cert_make(tc_pool, pki.leaf);
        x509a_cert_set_chain(c, chain, NULL);
        ck_assert(ca_rule(c, tc_pem_file(tc_pool, pki.root, NULL)));
        ck_assert(ca_rule(c, tc_pem_file(tc_pool, pki.inter, NULL)));
        ck_assert(ca_rule(c, tc_pem_file(tc_pool, pki.fake_root, pki.root, NULL)));
        ck_assert(!ca_rule(c, tc_pem_file(tc_pool, pki.fake_root, NULL)));
        ck_assert(!ca_rule(c, tc_pem_file(tc_pool, pki.fake_inter, NULL)));
        ck_assert(!ca_rule(c, tc_pem_file(tc_pool, pki.fake_inter,
                                          pki.fake_root, NULL)));
        /* two IssuingCA lines: OR */
        {
            x509a_rules *r = rules_add(NULL, X509A_RULE_ISSUING_CA,
                                       tc_pem_file(tc_pool, pki.fake_root, NULL),
                                       tc_pem_file(tc_pool, pki.inter, NULL),
                                       NULL);
            ASSERT_PASS(r, c);
        }

        ck_assert(x509a_chain_passes_through(c, tc_stack(tc_pool, pki.root, NULL), 0));
        ck_assert(!x509a_chain_passes_through(c, tc_stack(tc_pool, pki.fake_root,
                                                          pki.fake_inter, NULL),
                                              0));
        ck_assert(!x509a_chain_passes_through(c, tc_stack(tc_pool, NULL), 0));
        ck_assert(!x509a_chain_passes_through(c, NULL, 0));
        /* the leaf itself is not "passed through" */
        ck_assert(!x509a_chain_passes_through(c, tc_stack(tc_pool, pki.leaf,
                                                          NULL), 0));

        /* the lookalike leaf, verified through the lookalike intermediate */
        f = x509a_cert_make(tc_pool, pki.fake_leaf);
        x509a_cert_set_chain(f, fake_chain, NULL);
        ck_assert(!ca_rule(f, tc_pem_file(tc_pool, pki.inter, NULL)));
        ck_assert(ca_rule(f, tc_pem_file(tc_pool, pki.fake_inter, NULL)));
        ck_assert(ca_rule(f, tc_pem_file(tc_pool, pki.root, NULL)));
    }
}
END_TEST

/* Rules about the path are decided on a verified path only: a path put
 * together by signatures alone may go through a CA that verification
 * refuses (expired, revoked, not the one verification chose). */
START_TEST(issuing_ca_untrusted_helpers)
{
    int key_ids;

    for (key_ids = 0; key_ids < 2; key_ids++) {
        tc_pki pki;
        x509a_cert *c;
        x509a_rules *r;

        tc_pki_make(tc_pool, &pki, key_ids);

        /* no chain at all, not even the CA that signed the leaf */
        c = x509a_cert_make(tc_pool, pki.leaf);
        ck_assert(!ca_rule(c, tc_pem_file(tc_pool, pki.inter, NULL)));
        ck_assert(!ca_rule(c, tc_pem_file(tc_pool, pki.root, NULL)));

        /* the peer's certificates alone do not make a verified path */
        c = x509a_cert_make(tc_pool, pki.leaf);
        x509a_cert_set_chain(c, NULL, tc_stack(tc_pool, pki.inter, pki.root,
                                               NULL));
        ck_assert(!ca_rule(c, tc_pem_file(tc_pool, pki.root, NULL)));
        ck_assert(!ca_rule(c, tc_pem_file(tc_pool, pki.inter, NULL)));
        r = rules_add(NULL, X509A_RULE_MAX_DEPTH, "5", NULL);
        ASSERT_FAIL(r, c, X509A_RULE_MAX_DEPTH);
        ck_assert_int_eq(x509a_cert_verified_length(c), 0);
    }
}
END_TEST

/* A resumed TLS session: no verified chain, the store and parameters of
 * the SSL_CTX.  The certificate is verified again and the rules are
 * decided on the path that verification finds. */
START_TEST(issuing_ca_verified_again)
{
    int key_ids;

    for (key_ids = 0; key_ids < 2; key_ids++) {
        tc_pki pki;
        x509a_cert *c;
        X509 *expired, *twin;
        X509_VERIFY_PARAM *param = X509_VERIFY_PARAM_new();
        const char *root_file, *expired_file, *twin_file;
        const char *why = NULL;

        tc_pki_make(tc_pool, &pki, key_ids);
        root_file = tc_pem_file(tc_pool, pki.root, NULL);
        /* the intermediate's name and key, expired; and valid again */
        expired = tc_pki_inter_twin(tc_pool, &pki, "0E", (time_t)1577836800,
                                    (time_t)1609459200);
        twin = tc_pki_inter_twin(tc_pool, &pki, "0F", 0, 0);
        expired_file = tc_pem_file(tc_pool, expired, NULL);
        twin_file = tc_pem_file(tc_pool, twin, NULL);

        c = x509a_cert_make(tc_pool, pki.leaf);
        x509a_cert_set_store(c, tc_store(tc_pool, pki.root, pki.inter, NULL),
                             param);
        ck_assert(ca_rule(c, root_file));
        ck_assert(ca_rule(c, tc_pem_file(tc_pool, pki.inter, NULL)));
        ck_assert(!ca_rule(c, tc_pem_file(tc_pool, pki.fake_root, NULL)));
        ck_assert(!ca_rule(c, twin_file));
        ck_assert_ptr_nonnull(x509a_cert_path(c, time(NULL), &why));
        ck_assert_int_eq(sk_X509_num(x509a_cert_path(c, time(NULL), &why)), 3);

        /* the store has the anchor; the client's intermediate helps */
        c = x509a_cert_make(tc_pool, pki.leaf);
        x509a_cert_set_chain(c, NULL, tc_stack(tc_pool, pki.inter, NULL));
        x509a_cert_set_store(c, tc_store(tc_pool, pki.root, NULL), param);
        ck_assert(ca_rule(c, root_file));

        /* no anchor, or no intermediate: nothing verifies, nothing passes */
        c = x509a_cert_make(tc_pool, pki.leaf);
        x509a_cert_set_store(c, tc_store(tc_pool, pki.inter, NULL), param);
        ck_assert(!ca_rule(c, root_file));
        ck_assert_ptr_null(x509a_cert_path(c, time(NULL), &why));
        ck_assert_ptr_nonnull(why);
        c = x509a_cert_make(tc_pool, pki.leaf);
        x509a_cert_set_store(c, tc_store(tc_pool, pki.root, NULL), param);
        ck_assert(!ca_rule(c, root_file));

        /* the expired twin signs the leaf too, but verification refuses
         * it: it is not on the path, and no path goes through it */
        c = x509a_cert_make(tc_pool, pki.leaf);
        x509a_cert_set_store(c, tc_store(tc_pool, pki.root, expired, NULL),
                             param);
        ck_assert(!ca_rule(c, expired_file));
        ck_assert(!ca_rule(c, root_file));
        c = x509a_cert_make(tc_pool, pki.leaf);
        x509a_cert_set_chain(c, NULL, tc_stack(tc_pool, expired, NULL));
        x509a_cert_set_store(c, tc_store(tc_pool, pki.root, NULL), param);
        ck_assert(!ca_rule(c, expired_file));
        ck_assert(!ca_rule(c, root_file));
        /* with the valid one there too, the path is through the valid one */
        c = x509a_cert_make(tc_pool, pki.leaf);
        x509a_cert_set_store(c, tc_store(tc_pool, pki.root, expired, twin,
                                         NULL), param);
        ck_assert(!ca_rule(c, expired_file));
        ck_assert(ca_rule(c, twin_file));
        ck_assert(ca_rule(c, root_file));

        /* the lookalike leaf does not verify with the real hierarchy */
        c = x509a_cert_make(tc_pool, pki.fake_leaf);
        x509a_cert_set_store(c, tc_store(tc_pool, pki.root, pki.inter, NULL),
                             param);
        ck_assert(!ca_rule(c, root_file));

        /* the store's own settings when no parameters are given */
        c = x509a_cert_make(tc_pool, pki.leaf);
        x509a_cert_set_store(c, tc_store(tc_pool, pki.root, pki.inter, NULL),
                             NULL);
        ck_assert(ca_rule(c, root_file));
        X509_VERIFY_PARAM_free(param);
    }
}
END_TEST

/* Verified digests (a shared-cache record): the certificates are found
 * among the peer's and in the store, by SHA-256. */
START_TEST(path_from_digests)
{
    tc_pki pki;
    STACK_OF(X509) *chain;
    unsigned char d[3 * 32];
    unsigned int len;
    x509a_cert *c;
    const char *why = NULL;
    int i;

    tc_pki_make(tc_pool, &pki, 1);
    chain = tc_verify(tc_pool, pki.leaf, tc_store(tc_pool, pki.root, NULL),
                      tc_stack(tc_pool, pki.inter, NULL));
    for (i = 0; i < 3; i++) {
        X509_digest(sk_X509_value(chain, i), EVP_sha256(), d + 32 * i, &len);
    }
    c = x509a_cert_make(tc_pool, pki.leaf);
    x509a_cert_set_chain(c, NULL, tc_stack(tc_pool, pki.inter, NULL));
    x509a_cert_set_store(c, tc_store(tc_pool, pki.root, NULL), NULL);
    x509a_cert_set_verified_digests(c, d, 3);
    ck_assert_int_eq(x509a_cert_verified_length(c), 3);
    ck_assert_ptr_nonnull(x509a_cert_path(c, time(NULL), &why));
    ck_assert_int_eq(sk_X509_num(x509a_cert_path(c, time(NULL), &why)), 3);
    ck_assert_int_eq(X509_cmp(sk_X509_value(x509a_cert_path(c, time(NULL),
                                                            &why), 2),
                              pki.root), 0);
    ck_assert(ca_rule(c, tc_pem_file(tc_pool, pki.root, NULL)));
    ASSERT_PASS(rules_add(NULL, X509A_RULE_MAX_DEPTH, "2", NULL), c);
    ASSERT_FAIL(rules_add(NULL, X509A_RULE_MAX_DEPTH, "1", NULL), c,
                X509A_RULE_MAX_DEPTH);
    ASSERT_FAIL(rules_add(NULL, X509A_RULE_MAX_DEPTH, "0", NULL), c,
                X509A_RULE_MAX_DEPTH);

    /* a digest that matches nothing available: no path for certificates */
    c = x509a_cert_make(tc_pool, pki.leaf);
    d[2 * 32] ^= 1;
    x509a_cert_set_verified_digests(c, d, 3);
    ck_assert_ptr_null(x509a_cert_path(c, time(NULL), &why));
    ck_assert_ptr_nonnull(why);
}
END_TEST

START_TEST(max_depth_values)
{
    ck_assert_ptr_nonnull(add_err(X509A_RULE_MAX_DEPTH, "-1"));
    add_err(X509A_RULE_MAX_DEPTH, "101");
    add_err(X509A_RULE_MAX_DEPTH, "two");
    add_err(X509A_RULE_MAX_DEPTH, "2x");
    add_err(X509A_RULE_MAX_DEPTH, "");
    add_err(X509A_RULE_MAX_DEPTH, " 2");
    ck_assert(x509a_rules_has(rules_add(NULL, X509A_RULE_MAX_DEPTH, "0", NULL),
                              X509A_RULE_MAX_DEPTH));
    ck_assert_str_eq(x509a_rule_name(X509A_RULE_MAX_DEPTH), "X509AuthnMaxDepth");
}
END_TEST


/* An IssuingCA rule set built in its own pool @a p. */
static x509a_rules *ca_rules_in(apr_pool_t *p, const char *file)
{
    x509a_rules *r = x509a_rules_make(p);
    const char *err = x509a_rules_add(r, p, X509A_RULE_ISSUING_CA, file, NULL);

    ck_assert_msg(err == NULL, "%s", err);
    return r;
}

START_TEST(issuing_ca_digest)
{
    tc_pki pki;
    const char *root_file, *inter_file, *both_file;
    x509a_rules *r1, *r2, *r3, *empty, *subj, *m;
    unsigned char d1[X509A_MEMO_KEY_LEN];

    tc_pki_make(tc_pool, &pki, 0);
    root_file = tc_pem_file(tc_pool, pki.root, NULL);
    inter_file = tc_pem_file(tc_pool, pki.inter, NULL);
    both_file = tc_pem_file(tc_pool, pki.root, pki.inter, NULL);
    empty = x509a_rules_make(tc_pool);
    ck_assert_ptr_null(x509a_rules_issuing_ca_digest(empty));
    subj = rules_add(NULL, X509A_RULE_SUBJECT, TC_LEAF_DN, NULL);
    ck_assert_ptr_null(x509a_rules_issuing_ca_digest(subj));

    /* the same content, another file and object: the same digest */
    r1 = rules_add(NULL, X509A_RULE_ISSUING_CA, root_file, NULL);
    ck_assert_ptr_nonnull(x509a_rules_issuing_ca_digest(r1));
    memcpy(d1, x509a_rules_issuing_ca_digest(r1), sizeof(d1));
    r2 = rules_add(NULL, X509A_RULE_ISSUING_CA,
                   tc_pem_file(tc_pool, pki.root, NULL), NULL);
    ck_assert_mem_eq(x509a_rules_issuing_ca_digest(r2), d1, sizeof(d1));
    /* other content: another digest */
    r2 = rules_add(NULL, X509A_RULE_ISSUING_CA, inter_file, NULL);
    ck_assert_mem_ne(x509a_rules_issuing_ca_digest(r2), d1, sizeof(d1));
    r2 = rules_add(NULL, X509A_RULE_ISSUING_CA,
                   tc_pem_file(tc_pool, pki.fake_root, NULL), NULL);
    ck_assert_mem_ne(x509a_rules_issuing_ca_digest(r2), d1, sizeof(d1));
    /* a second line extends the set: the digest follows; one file with
     * both certificates is the same set as two lines */
    r2 = rules_add(NULL, X509A_RULE_ISSUING_CA, root_file, inter_file, NULL);
    ck_assert_mem_ne(x509a_rules_issuing_ca_digest(r2), d1, sizeof(d1));
    r3 = rules_add(NULL, X509A_RULE_ISSUING_CA, both_file, NULL);
    ck_assert_mem_eq(x509a_rules_issuing_ca_digest(r3),
                     x509a_rules_issuing_ca_digest(r2), sizeof(d1));
    /* a rejected file leaves the set and its digest as they were */
    ck_assert_ptr_nonnull(x509a_rules_add(r1, tc_pool, X509A_RULE_ISSUING_CA,
                                          tc_pem_file(tc_pool, pki.root,
                                                      pki.leaf, NULL),
                                          NULL));
    ck_assert_mem_eq(x509a_rules_issuing_ca_digest(r1), d1, sizeof(d1));

    /* merging: the digest comes with the certificates */
    r3 = rules_add(NULL, X509A_RULE_ISSUING_CA, inter_file, NULL);
    m = x509a_rules_merge(tc_pool, r1, subj);
    ck_assert_mem_eq(x509a_rules_issuing_ca_digest(m), d1, sizeof(d1));
    m = x509a_rules_merge(tc_pool, subj, r3);
    ck_assert_mem_eq(x509a_rules_issuing_ca_digest(m),
                     x509a_rules_issuing_ca_digest(r3), sizeof(d1));
    m = x509a_rules_merge(tc_pool, r1, r3);
    ck_assert_mem_eq(x509a_rules_issuing_ca_digest(m),
                     x509a_rules_issuing_ca_digest(r3), sizeof(d1));
    m = x509a_rules_merge(tc_pool, r3, x509a_rules_merge(tc_pool, subj, r1));
    ck_assert_mem_eq(x509a_rules_issuing_ca_digest(m), d1, sizeof(d1));
    m = x509a_rules_merge(tc_pool, x509a_rules_merge(tc_pool, r1, subj), r3);
    ck_assert_mem_eq(x509a_rules_issuing_ca_digest(m),
                     x509a_rules_issuing_ca_digest(r3), sizeof(d1));
}
END_TEST

START_TEST(issuing_ca_memo)
{
    tc_pki pki;
    x509a_cert *c;
    x509a_rules *r, *same;
    const char *root_file;

    tc_pki_make(tc_pool, &pki, 0);
    root_file = tc_pem_file(tc_pool, pki.root, NULL);
    r = rules_add(NULL, X509A_RULE_ISSUING_CA, root_file, NULL);
    c = x509a_cert_make(tc_pool, pki.leaf);
    x509a_cert_set_store(c, tc_store(tc_pool, pki.root, pki.inter, NULL),
                         NULL);
    ASSERT_PASS(r, c);

    /* the answer is remembered under the CA set's digest: a rule set with
     * the same content, in another object and file, finds it (the memo is
     * made to say "no" to prove that it is the memo answering) */
    x509a_cert_memo_set(c, x509a_rules_issuing_ca_digest(r), 0);
    same = rules_add(NULL, X509A_RULE_ISSUING_CA,
                     tc_pem_file(tc_pool, pki.root, NULL), NULL);
    ck_assert_ptr_ne(same, r);
    ASSERT_FAIL(same, c, X509A_RULE_ISSUING_CA);
    ASSERT_FAIL(x509a_rules_merge(tc_pool, x509a_rules_make(tc_pool), r), c,
                X509A_RULE_ISSUING_CA);
    x509a_cert_memo_set(c, x509a_rules_issuing_ca_digest(r), 1);
    ASSERT_PASS(same, c);

    /* other content is never answered from it */
    ASSERT_FAIL(rules_add(NULL, X509A_RULE_ISSUING_CA,
                          tc_pem_file(tc_pool, pki.fake_root, NULL), NULL),
                c, X509A_RULE_ISSUING_CA);
    ASSERT_PASS(r, c);

    /* a new store: the object forgets, and answers anew */
    x509a_cert_set_store(c, NULL, NULL);
    ASSERT_FAIL(r, c, X509A_RULE_ISSUING_CA);
    ASSERT_FAIL(same, c, X509A_RULE_ISSUING_CA);
    x509a_cert_set_store(c, tc_store(tc_pool, pki.root, pki.inter, NULL),
                         NULL);
    ASSERT_PASS(r, c);

    /* more rule sets than memo slots: each still gets its own answer */
    {
        const char *files[6];
        int i, round;

        files[0] = root_file;
        files[1] = tc_pem_file(tc_pool, pki.fake_root, NULL);
        files[2] = tc_pem_file(tc_pool, pki.inter, NULL);
        files[3] = tc_pem_file(tc_pool, pki.fake_inter, NULL);
        files[4] = tc_pem_file(tc_pool, pki.fake_root, pki.inter, NULL);
        files[5] = tc_pem_file(tc_pool, pki.fake_root, pki.fake_inter, NULL);
        for (round = 0; round < 3; round++) {
            for (i = 0; i < 6; i++) {
                x509a_rules *ri = rules_add(NULL, X509A_RULE_ISSUING_CA,
                                            files[i], NULL);
                ck_assert_msg(passes(ri, c, X509A_RULE_ISSUING_CA)
                              == !(i & 1), "round %d, file %d", round, i);
            }
        }
    }
}
END_TEST

/* .htaccess rules are built in each request's pool: the next request's
 * rules, for another directory, are often at the same address.  The
 * certificate object outlives both and must answer each with its own
 * rule.  Both orders: a remembered "yes" must not pass the other
 * directory, a remembered "no" must not refuse it. */
START_TEST(issuing_ca_memo_address_reused)
{
    tc_pki pki;
    const char *files[2];
    int order, reused = 0;

    tc_pki_make(tc_pool, &pki, 0);
    files[0] = tc_pem_file(tc_pool, pki.inter, NULL);       /* passes */
    files[1] = tc_pem_file(tc_pool, pki.fake_inter, NULL);  /* fails */
    for (order = 0; order < 2; order++) {
        x509a_cert *c = x509a_cert_make(tc_pool, pki.leaf);
        apr_uintptr_t first_addr = 0;
        int step;

        x509a_cert_set_chain(c, tc_verify(tc_pool, pki.leaf,
                                          tc_store(tc_pool, pki.root, NULL),
                                          tc_stack(tc_pool, pki.inter, NULL)),
                             NULL);
        for (step = 0; step < 4; step++) {
            int which = (step + order) & 1;
            apr_pool_t *rp;
            x509a_rules *r;

            ck_assert_int_eq(apr_pool_create(&rp, tc_pool), APR_SUCCESS);
            r = ca_rules_in(rp, files[which]);
            if (step == 0) {
                first_addr = (apr_uintptr_t)r;
            }
            else if ((apr_uintptr_t)r == first_addr) {
                reused++;
            }
            ck_assert_msg(passes(r, c, X509A_RULE_ISSUING_CA) == !which,
                          "order %d step %d: the rule for %s answered %s",
                          order, step, which ? "another CA" : "its CA",
                          which ? "yes" : "no");
            apr_pool_destroy(rp);
        }
    }
    /* the case this test is about did happen */
    ck_assert_msg(reused > 0, "APR never reused the rules' address");
}
END_TEST

Suite *x509a_rules_suite(void)
{
    Suite *s = suite_create("x509a_rules");
    TCase *tc = tcase_create("kinds");

    tcase_add_checked_fixture(tc, tc_setup, tc_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, rules_names);
    tcase_add_test(tc, rules_empty_has);
    tcase_add_test(tc, rules_subject);
    tcase_add_test(tc, rules_issuer);
    tcase_add_test(tc, rules_serial);
    tcase_add_test(tc, rules_fingerprint);
    tcase_add_test(tc, rules_spki);
    tcase_add_test(tc, rules_eku);
    tcase_add_test(tc, rules_eku_case);
    tcase_add_test(tc, rules_policy);
    tcase_add_test(tc, rules_and_across_kinds);
    tcase_add_test(tc, rules_add_errors);
    tcase_add_test(tc, rules_warning);
    tcase_add_test(tc, rules_merge);
    suite_add_tcase(s, tc);

    tc = tcase_create("issuing CA");
    tcase_add_checked_fixture(tc, tc_setup, tc_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, issuing_ca_verified_chain);
    tcase_add_test(tc, issuing_ca_untrusted_helpers);
    tcase_add_test(tc, issuing_ca_verified_again);
    tcase_add_test(tc, path_from_digests);
    tcase_add_test(tc, max_depth_values);
    tcase_add_test(tc, issuing_ca_digest);
    tcase_add_test(tc, issuing_ca_memo);
    tcase_add_test(tc, issuing_ca_memo_address_reused);
    suite_add_tcase(s, tc);
    return s;
}
