/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/*
 * Unit tests for lib/x509a_reason.c: OpenSSL's verification errors mapped
 * to the X509_AUTHN_ERROR tokens, the set of known tokens, and the tokens
 * of the rule kinds.  (check_verify.c checks the tokens real
 * verifications give.)
 */

#include <string.h>
#include <check.h>
#include <openssl/x509_vfy.h>

#include "suites.h"
#include "x509a_reason.h"
#include "x509a_rules.h"

START_TEST(reason_verify_errors)
{
    static const struct {
        int err, depth;
        const char *want;
    } cases[] = {
        { X509_V_ERR_CERT_HAS_EXPIRED, 0, "expired" },
        { X509_V_ERR_CERT_HAS_EXPIRED, 2, "expired" },
        { X509_V_ERR_CERT_NOT_YET_VALID, 0, "not-yet-valid" },
        { X509_V_ERR_CERT_NOT_YET_VALID, 1, "not-yet-valid" },
        { X509_V_ERR_CERT_REVOKED, 0, "revoked" },
        { X509_V_ERR_CERT_REVOKED, 1, "revoked" },
        { X509_V_ERR_UNABLE_TO_GET_CRL, 0, "revocation-unknown" },
        { X509_V_ERR_CRL_HAS_EXPIRED, 0, "revocation-unknown" },
        { X509_V_ERR_CRL_NOT_YET_VALID, 1, "revocation-unknown" },
        { X509_V_ERR_CRL_SIGNATURE_FAILURE, 0, "revocation-unknown" },
        { X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER, 0, "revocation-unknown" },
        { X509_V_ERR_DIFFERENT_CRL_SCOPE, 0, "revocation-unknown" },
        { X509_V_ERR_INVALID_PURPOSE, 0, "not-a-client-certificate" },
        { X509_V_ERR_INVALID_PURPOSE, 1, "chain-invalid" },
        { X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, 0, "chain-invalid" },
        { X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, 0, "chain-invalid" },
        { X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN, 2, "chain-invalid" },
        { X509_V_ERR_CERT_SIGNATURE_FAILURE, 0, "chain-invalid" },
        { X509_V_ERR_CERT_CHAIN_TOO_LONG, 1, "chain-invalid" },
        { X509_V_ERR_INVALID_CA, 1, "chain-invalid" },
        { X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD, 0, "chain-invalid" },
        { X509_V_ERR_OUT_OF_MEM, 0, "internal" },
        { X509_V_ERR_UNSPECIFIED, 0, "internal" },
        { X509_V_ERR_STORE_LOOKUP, 0, "internal" },
        { X509_V_OK, 0, "internal" },
        { 99999, 0, "chain-invalid" },
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *got = x509a_reason_of_verify_error(cases[i].err,
                                                       cases[i].depth);

        ck_assert_msg(got && !strcmp(got, cases[i].want),
                      "error %d at depth %d: %s, expected %s", cases[i].err,
                      cases[i].depth, got ? got : "(null)", cases[i].want);
        /* every answer is a known token, as the string itself */
        ck_assert_ptr_eq(x509a_reason_known(got, strlen(got)), got);
    }
}
END_TEST

START_TEST(reason_known)
{
    static const char *const tokens[] = {
        "no-certificate", "not-verified", "untrusted-peer", "proxy-refused",
        "decode-error", "chain-invalid", "expired", "not-yet-valid",
        "revoked", "revocation-unknown", "not-a-client-certificate",
        "unmapped", "no-user-name", "internal", "rule:Subject",
        "rule:Issuer", "rule:Serial", "rule:Fingerprint", "rule:SPKI",
        "rule:EKU", "rule:Policy", "rule:IssuingCA", "rule:MaxDepth"
    };
    char buf[64];
    size_t i;

    for (i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++) {
        const char *k;

        /* found from another copy of the bytes, without a NUL after them */
        memcpy(buf, tokens[i], strlen(tokens[i]));
        buf[strlen(tokens[i])] = 'x';
        k = x509a_reason_known(buf, strlen(tokens[i]));
        ck_assert_msg(k && !strcmp(k, tokens[i]), "%s not known", tokens[i]);
        ck_assert_ptr_ne(k, buf);
    }
    ck_assert_ptr_null(x509a_reason_known("", 0));
    ck_assert_ptr_null(x509a_reason_known("expire", 6));
    ck_assert_ptr_null(x509a_reason_known("expiredx", 8));
    ck_assert_ptr_null(x509a_reason_known("rule:", 5));
    ck_assert_ptr_null(x509a_reason_known("rule:subject", 12));
    ck_assert_ptr_null(x509a_reason_known("EXPIRED", 7));
}
END_TEST

START_TEST(reason_rule_kinds)
{
    static const char *const want[X509A_RULE_KINDS] = {
        "rule:Subject", "rule:Issuer", "rule:Serial", "rule:Fingerprint",
        "rule:SPKI", "rule:EKU", "rule:Policy", "rule:IssuingCA",
        "rule:MaxDepth"
    };
    int k;

    for (k = 0; k < X509A_RULE_KINDS; k++) {
        ck_assert_str_eq(x509a_rule_reason((x509a_rule_kind)k), want[k]);
    }
    ck_assert_str_eq(x509a_rule_reason(X509A_RULE_KINDS), "rule:?");
}
END_TEST

Suite *x509a_reason_suite(void)
{
    Suite *s = suite_create("x509a_reason");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, reason_verify_errors);
    tcase_add_test(tc, reason_known);
    tcase_add_test(tc, reason_rule_kinds);
    suite_add_tcase(s, tc);
    return s;
}
