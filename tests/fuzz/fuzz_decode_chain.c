/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/* x509a_decode_chain() on arbitrary intermediates-header values (RFC 9440
 * Client-Cert-Chain lists, PEM bundles, base64 DER).  The whole input is
 * the value (NUL-terminated copy). */

#include <stdlib.h>
#include <openssl/x509.h>

#include "x509a_decode.h"
#include "x509a_cert.h"
#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    STACK_OF(X509) *chain = sk_X509_new_null();
    char *value = fz_cstr(data, size);
    const char *err;
    int i;

    apr_pool_create(&p, fz_init());
    err = x509a_decode_chain(p, value, 1u << 20, chain);
    fz_touch(err);
    {
        /* the DER step agrees (see fuzz_decode_leaf.c) */
        apr_array_header_t *ders = apr_array_make(p, 2, sizeof(x509a_der));
        const char *derr = x509a_decode_chain_der(p, value, 1u << 20, ders);
        int bad = 0;

        if (!err && derr) {
            fz_fail("the DER step refuses ('%s') a chain the decoder takes",
                    derr);
        }
        for (i = 0; !derr && i < ders->nelts; i++) {
            const x509a_der *b = &APR_ARRAY_IDX(ders, i, x509a_der);
            X509 *x = NULL;

            if (x509a_decode_der(b->der, b->len, &x)) {
                bad = 1;
                continue;
            }
            if (!err && (i >= sk_X509_num(chain)
                         || X509_cmp(x, sk_X509_value(chain, i)) != 0)) {
                fz_fail("certificate %d differs between the DER step and "
                        "the decoder", i);
            }
            X509_free(x);
        }
        if (!derr && !err && (bad || ders->nelts != sk_X509_num(chain))) {
            fz_fail("the DER step found %d certificates, the decoder %d",
                    ders->nelts, sk_X509_num(chain));
        }
        if (!derr && err && !bad) {
            fz_fail("the decoder refuses ('%s') a chain whose certificates "
                    "all decode after the DER step", err);
        }
    }
    for (i = 0; i < sk_X509_num(chain); i++) {
        if (!sk_X509_value(chain, i)) {
            fz_fail("NULL in the chain");
        }
    }
    if (!err && sk_X509_num(chain) > 0) {
        x509a_cert *c = x509a_cert_make(p, sk_X509_value(chain, 0));
        const apr_array_header_t *pems;

        x509a_cert_set_chain(c, NULL, chain);
        pems = x509a_cert_chain_pem(c);
        for (i = 0; i < pems->nelts; i++) {
            fz_touch(APR_ARRAY_IDX(pems, i, const char *));
        }
        fz_touch(x509a_cert_describe(c));
    }
    /* the caller owns what was appended, also after an error */
    apr_pool_destroy(p);
    sk_X509_pop_free(chain, X509_free);
    free(value);
    return 0;
}
