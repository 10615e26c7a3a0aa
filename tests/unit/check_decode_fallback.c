/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/* x509a_d2i_x509() when OpenSSL's default library context runs a provider
 * besides default and base (here: legacy, as an openssl.cnf that activates
 * it would): certificates must then be decoded in the default context, as
 * the administrator configured it, and still verify.  A program of its own:
 * the choice is made once per process, by the first decode, and loading a
 * provider changes the default context for every test after it. */

#include <stdio.h>
#include <stdlib.h>
#include <check.h>
#include <apr_general.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/x509.h>
#include "x509a_cert.h"
#include "testcert.h"

static tc_pki pki;

static void fallback_setup(void)
{
    tc_setup();
    tc_pki_make(tc_pool, &pki, 1);
}

START_TEST(decode_in_the_configured_context)
{
    size_t len;
    const unsigned char *der = tc_cert_der(tc_pool, pki.leaf, &len);
    const unsigned char *q = der;
    X509 *x = x509a_d2i_x509(&q, (long)len), *fake;
    X509_STORE *store = tc_store(tc_pool, pki.root, NULL);
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    STACK_OF(X509) *untrusted = tc_stack(tc_pool, pki.inter, NULL);

    ck_assert_ptr_nonnull(x);
    ck_assert(q == der + len);
    ck_assert_int_eq(X509_cmp(x, pki.leaf), 0);
    /* the key is the default context's, as a certificate made there */
    ck_assert_ptr_eq(EVP_PKEY_get0_provider(X509_get0_pubkey(x)),
                     EVP_PKEY_get0_provider(X509_get0_pubkey(pki.leaf)));
    ck_assert_int_eq(X509_verify(x, X509_get0_pubkey(pki.inter)), 1);
    ck_assert_int_le(X509_verify(x, X509_get0_pubkey(pki.root)), 0);
    ck_assert_int_le(X509_verify(x, X509_get0_pubkey(pki.fake_inter)), 0);
    ck_assert(X509_STORE_CTX_init(ctx, store, x, untrusted) == 1);
    ck_assert_int_eq(X509_verify_cert(ctx), 1);
    X509_STORE_CTX_free(ctx);
    /* a lookalike leaf decodes, and does not verify */
    der = tc_cert_der(tc_pool, pki.fake_leaf, &len);
    q = der;
    fake = x509a_d2i_x509(&q, (long)len);
    ck_assert_ptr_nonnull(fake);
    ck_assert_int_le(X509_verify(fake, X509_get0_pubkey(pki.inter)), 0);
    X509_free(fake);
    X509_free(x);
    q = der;
    ck_assert_ptr_null(x509a_d2i_x509(&q, (long)len - 1));
    ERR_clear_error();
}
END_TEST

int main(void)
{
    OSSL_PROVIDER *deflt, *legacy;
    SRunner *sr;
    Suite *s;
    TCase *tc;
    int failed;

    if (apr_initialize() != APR_SUCCESS) {
        return EXIT_FAILURE;
    }
    /* loading one provider explicitly stops the default one's automatic
     * loading: both, as an openssl.cnf activating legacy has them */
    deflt = OSSL_PROVIDER_load(NULL, "default");
    legacy = OSSL_PROVIDER_load(NULL, "legacy");
    if (!deflt || !legacy) {
        fprintf(stderr, "check_decode_fallback: OpenSSL's %s provider "
                "cannot be loaded\n", deflt ? "legacy" : "default");
        return EXIT_FAILURE;
    }
    s = suite_create("decode_fallback");
    tc = tcase_create("core");
    tcase_add_checked_fixture(tc, fallback_setup, tc_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, decode_in_the_configured_context);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    OSSL_PROVIDER_unload(legacy);
    OSSL_PROVIDER_unload(deflt);
    apr_terminate();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
