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
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/x509.h>
#include "testcert.h"

static tc_pki pki;

static void fallback_setup(void)
{
    tc_setup();
    tc_pki_make(tc_pool, &pki, 1);
}

START_TEST(decode_in_the_configured_context)
{
    /* the key is the default context's, as a certificate made there */
    ck_assert_ptr_eq(tc_check_d2i_x509(tc_pool, &pki),
                     EVP_PKEY_get0_provider(X509_get0_pubkey(pki.leaf)));
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
