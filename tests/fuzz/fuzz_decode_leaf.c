/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/* x509a_decode_leaf() on arbitrary header values.
 *
 * Input: byte 0 selects the format (auto, pem, der-base64, list, rfc9440,
 * xfcc, xfcc-append; modulo 7), byte 1 the length limit (even: 1 MB; odd: (b >> 1) * 16
 * bytes, 0..2032), the rest is the header value (NUL-terminated copy).
 * A decoded leaf is wrapped in an x509a_cert (with the chain that came
 * along as untrusted certificates) and every accessor runs on it.
 *
 * x509a_decode_leaf_der() must agree: it accepts every value the full
 * decoder accepts, with the same certificates' bytes in the same order,
 * and a value it accepts that the full decoder refuses has one of them
 * refused by x509a_decode_der() (XFCC aside: it declines those). */

#include <stdlib.h>
#include <string.h>
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

/* The DER step agrees with the full decoder (see above). */
static void check_der_step(apr_pool_t *p, const char *value, x509a_format fmt,
                           apr_size_t max_len, const char *err,
                           const x509a_forwarded *full)
{
    x509a_forwarded_der d;
    const char *derr;
    int i, n, bad = 0;

    memset(&d, 0x5a, sizeof(d));
    derr = x509a_decode_leaf_der(p, value, fmt, max_len, &d);
    if (!derr && d.unsupported) {
        return;
    }
    if (!err && derr) {
        fz_fail("the DER step refuses ('%s') a value the decoder takes",
                derr);
    }
    if (derr) {
        fz_touch(derr);
        return;
    }
    n = d.leaf.der ? 1 + (d.chain ? d.chain->nelts : 0) : 0;
    for (i = 0; i < n; i++) {
        const x509a_der *b = i == 0 ? &d.leaf
                                    : &APR_ARRAY_IDX(d.chain, i - 1,
                                                     x509a_der);
        X509 *x = NULL;
        const char *xerr = x509a_decode_der(b->der, b->len, &x);

        if (xerr) {
            bad = 1;
            continue;
        }
        if (!err) {
            X509 *want = i == 0 ? full->leaf
                                : (full->chain && i - 1 < sk_X509_num(
                                       full->chain)
                                   ? sk_X509_value(full->chain, i - 1)
                                   : NULL);
            if (!want || X509_cmp(x, want) != 0) {
                fz_fail("certificate %d differs between the DER step and "
                        "the decoder", i);
            }
        }
        X509_free(x);
    }
    if (!err) {
        int full_n = full->leaf ? 1 + (full->chain ? sk_X509_num(full->chain)
                                                   : 0) : 0;
        if (n != full_n || bad) {
            fz_fail("the DER step found %d certificates, the decoder %d",
                    n, full_n);
        }
    }
    else if (!bad) {
        fz_fail("the decoder refuses ('%s') a value whose certificates all "
                "decode after the DER step", err);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    x509a_format fmt, back;
    apr_size_t max_len;
    x509a_forwarded out;
    const char *err;
    char *value;
    int i;

    if (size < 2) {
        return 0;
    }
    fmt = (x509a_format)(data[0] % 7);
    max_len = (data[1] & 1) ? (apr_size_t)(data[1] >> 1) * 16 : 1u << 20;
    value = fz_cstr(data + 2, size - 2);
    apr_pool_create(&p, fz_init());

    if (x509a_format_parse(x509a_format_name(fmt), &back) != NULL
        || back != fmt) {
        fz_fail("format name of %d does not parse back", (int)fmt);
    }
    memset(&out, 0x5a, sizeof(out));
    err = x509a_decode_leaf(p, value, fmt, max_len, &out);
    check_der_step(p, value, fmt, max_len, err, &out);
    if (err) {
        fz_touch(err);
        if (out.leaf || out.chain) {
            fz_fail("error '%s' with a certificate in the result", err);
        }
    }
    else {
        if (strlen(value) > max_len) {
            fz_fail("a value longer than max_len accepted");
        }
        if (!out.leaf && out.chain) {
            fz_fail("a chain without a leaf");
        }
        for (i = 0; out.chain && i < sk_X509_num(out.chain); i++) {
            if (!sk_X509_value(out.chain, i)) {
                fz_fail("NULL in the chain");
            }
        }
        if (out.leaf) {
            x509a_cert *c = x509a_cert_make(p, out.leaf);
            x509a_cert_set_chain(c, NULL, out.chain);
            fz_exercise_cert(c, p);
        }
    }
    apr_pool_destroy(p);
    free(value);
    return 0;
}
