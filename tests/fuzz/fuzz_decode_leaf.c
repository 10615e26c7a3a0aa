/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/* x509a_decode_leaf() on arbitrary header values.
 *
 * Input: byte 0 selects the format (auto, pem, der-base64, list, rfc9440,
 * xfcc, xfcc-append; modulo 7), byte 1 the length limit (even: 1 MB; odd: (b >> 1) * 16
 * bytes, 0..2032), the rest is the header value (NUL-terminated copy).
 * A decoded leaf is wrapped in an x509a_cert (with the chain that came
 * along as untrusted certificates) and every accessor runs on it. */

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
