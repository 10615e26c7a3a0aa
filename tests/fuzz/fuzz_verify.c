/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/* x509a_verifier on arbitrary DER: the input is one or more concatenated
 * DER certificates, the first the leaf and the others the untrusted
 * helpers that came with it.  The verifier trusts the fixed root CA and
 * checks the CRLs of the fixed root and issuing CAs.  A verified
 * certificate gets its chain attached and every accessor runs, and the
 * chain must pass through the issuing CA or the root. */

#include <stdlib.h>
#include <string.h>
#include <apr_time.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "x509a_verify.h"
#include "x509a_rules.h"
#include "x509a_cert.h"
#include "fuzz_common.h"

static const fz_pki *pki;
static x509a_verifier *verifier;
static STACK_OF(X509) *cas;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    x509a_verify_conf conf;
    const char *err;
    unsigned char digest[32];
    int reloaded;

    (void)argc;
    (void)argv;
    pki = fz_fixtures();
    memset(&conf, 0, sizeof(conf));
    conf.ca_file = pki->root_file;
    conf.crl_file = pki->crl_file;
    conf.depth = 4;
    if ((err = x509a_verifier_create(fz_init(), &conf, &verifier)) != NULL) {
        fz_fail("verifier: %s", err);
    }
    if ((err = x509a_verifier_refresh(verifier, apr_time_now(), &reloaded))
        != NULL) {
        fz_fail("refresh: %s", err);
    }
    x509a_verifier_settings_digest(verifier, digest);
    if (x509a_verifier_generation(verifier) < 1) {
        fz_fail("generation");
    }
    cas = fz_stack(pki->inter, pki->root, NULL);
    /* x509a_verifier_refresh() is not called again: the files can go */
    fz_fixture_files_remove();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const unsigned char *q = data, *end = data + size;
    STACK_OF(X509) *untrusted, *verified = NULL;
    X509 *leaf;
    apr_pool_t *p;
    const char *why = NULL;
    int ok;

    leaf = d2i_X509(NULL, &q, (long)size);
    if (!leaf) {
        ERR_clear_error();
        return 0;
    }
    untrusted = sk_X509_new_null();
    while (q < end && sk_X509_num(untrusted) < 8) {
        X509 *x = d2i_X509(NULL, &q, (long)(end - q));
        if (!x) {
            break;
        }
        sk_X509_push(untrusted, x);
    }
    ERR_clear_error();
    apr_pool_create(&p, fz_init());

    ok = x509a_verifier_verify(verifier, p, leaf, untrusted, &verified, &why);
    if (ok) {
        x509a_cert *c = x509a_cert_make(p, leaf);
        if (!verified || sk_X509_num(verified) < 1
            || X509_cmp(sk_X509_value(verified, 0), leaf) != 0
            || X509_cmp(sk_X509_value(verified, sk_X509_num(verified) - 1),
                        pki->root) != 0) {
            fz_fail("verified without a chain from the leaf to the root");
        }
        x509a_cert_set_chain(c, verified, untrusted);
        fz_exercise_cert(c, p);
        /* (the root itself verifies as a chain of one) */
        if (sk_X509_num(verified) > 1 && !x509a_chain_passes_through(c, cas, time(NULL))) {
            fz_fail("a verified chain does not pass through the fixed CAs");
        }
    }
    else {
        fz_touch(why);
    }
    /* and without keeping the chain */
    fz_sink += (size_t)x509a_verifier_verify(verifier, p, leaf, untrusted,
                                             NULL, &why);

    apr_pool_destroy(p);
    sk_X509_pop_free(untrusted, X509_free);
    X509_free(leaf);
    return 0;
}
