/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/* Compact forms of a certificate (x509a_cert_make_compact()), as read
 * from a shared-cache record.  The input is a form for the fixed leaf:
 * its first 33 bytes (format version and the DER's SHA-256) are set to
 * the right values when the input is long enough, so that the parser
 * behind them is reached; shorter inputs go in as they are.  A form that
 * is accepted goes through every getter, rule kind that the form serves
 * and the variables, none of which may decode the DER; its form written
 * again must be accepted and write itself back byte for byte; and what
 * the form does not hold (x509a_cert_x509()) decodes the fixed leaf. */

#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "x509a_cert.h"
#include "x509a_rules.h"
#include "fuzz_common.h"

static const fz_pki *pki;
static unsigned char *der;
static apr_size_t der_len;
static unsigned char der_sha256[32];
static x509a_rules *rules[X509A_RULE_KINDS];

static const char *const field_names[] = {
    "subject", "subject-legacy", "cn", "subject:O", "subject:OU",
    "subject:UID", "email", "upn", "uri", "dns", "serial", "issuer+serial",
    "sha256", NULL
};

static const char *const attr_oids[] = {
    "2.5.4.3", "2.5.4.10", "2.5.4.11", "2.5.4.6", "1.2.840.113549.1.9.1",
    NULL
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    apr_pool_t *gp = fz_init();
    static const struct {
        x509a_rule_kind kind;
        const char *value;
    } defs[] = {
        { X509A_RULE_SUBJECT, "CN=alice,O=Example Corp,C=US" },
        { X509A_RULE_ISSUER, "CN=Test Issuing CA,O=Example Corp,C=US" },
        { X509A_RULE_SERIAL, "4097" },
        { X509A_RULE_FINGERPRINT,
          "sha256:0000000000000000000000000000000000000000000000000000000000000000" },
        { X509A_RULE_SPKI,
          "sha256:0000000000000000000000000000000000000000000000000000000000000000" },
        { X509A_RULE_EKU, "clientAuth" },
    };
    unsigned char *d = NULL;
    unsigned int len;
    size_t i;
    int n;

    (void)argc;
    (void)argv;
    pki = fz_fixtures();
    n = i2d_X509(pki->leaf, &d);
    if (n <= 0) {
        abort();
    }
    der = d;
    der_len = (apr_size_t)n;
    if (!EVP_Digest(der, der_len, der_sha256, &len, EVP_sha256(), NULL)) {
        abort();
    }
    for (i = 0; i < sizeof(defs) / sizeof(defs[0]); i++) {
        const char *warning;

        rules[defs[i].kind] = x509a_rules_make(gp);
        if (x509a_rules_add(rules[defs[i].kind], gp, defs[i].kind,
                            defs[i].value, &warning)) {
            abort();
        }
    }
    fz_fixture_files_remove();
    return 0;
}

static void touch_array(const apr_array_header_t *a)
{
    int i;

    for (i = 0; i < a->nelts; i++) {
        fz_touch(APR_ARRAY_IDX(a, i, const char *));
    }
}

static void exercise(x509a_cert *c, apr_pool_t *p)
{
    const x509a_serial *serial;
    const unsigned char *spki;
    ASN1_OBJECT *o;
    time_t nb, na;
    int i, s;

    fz_touch(x509a_cert_subject(c));
    fz_touch(x509a_cert_subject_legacy(c));
    fz_touch(x509a_cert_issuer(c));
    fz_touch_dn(x509a_cert_subject_dn(c));
    fz_touch_dn(x509a_cert_issuer_dn(c));
    fz_sink += (size_t)x509a_dn_equal(x509a_cert_subject_dn(c),
                                      x509a_cert_issuer_dn(c));
    serial = x509a_cert_serial(c);
    for (i = 0; (apr_size_t)i < serial->len; i++) {
        fz_sink += serial->mag[i];
    }
    fz_touch(x509a_cert_serial_hex(c));
    fz_touch(x509a_cert_serial_dec(c));
    fz_touch(x509a_cert_digest_hex(c, X509A_DIGEST_SHA1));
    fz_touch(x509a_cert_digest_hex(c, X509A_DIGEST_SHA256));
    spki = x509a_cert_spki_sha256(c);
    fz_sink += spki ? spki[31] : 0;
    for (i = 0; i < X509A_SAN_KINDS; i++) {
        touch_array(x509a_cert_san(c, (x509a_san_kind)i));
    }
    for (i = 0; attr_oids[i]; i++) {
        fz_touch(x509a_cert_subject_attr(c, attr_oids[i], 0));
        fz_touch(x509a_cert_subject_attr(c, attr_oids[i], 2));
    }
    x509a_cert_validity(c, &nb, &na);
    fz_sink += (size_t)x509a_cert_days_remaining(c, 1800000000);
    fz_touch(x509a_cert_leaf_problem(c));
    fz_touch(x509a_cert_describe(c));
    fz_touch(x509a_cert_pem(c));
    for (i = 0; field_names[i]; i++) {
        x509a_field f;

        if (!x509a_field_parse(p, field_names[i], &f)) {
            fz_touch(x509a_cert_field(c, &f));
        }
    }
    for (s = 0; s < X509A_VARS_STYLES; s++) {
        const apr_array_header_t *v = x509a_cert_vars(c, s);

        for (i = 0; i < v->nelts; i++) {
            fz_touch(APR_ARRAY_IDX(v, i, x509a_var).name);
            fz_touch(APR_ARRAY_IDX(v, i, x509a_var).value);
        }
        fz_sink += (size_t)apr_table_elts(x509a_cert_vars_table(c, s))->nelts;
    }
    fz_touch(x509a_cert_var(c, p, "X509_CLIENT_S_DN_OU_0", 1800000000));
    fz_touch(x509a_cert_var(c, p, "X509_CLIENT_V_REMAIN", 1800000000));
    o = OBJ_txt2obj("clientAuth", 0);
    fz_sink += (size_t)x509a_cert_has_eku(c, o);
    ASN1_OBJECT_free(o);
    for (i = 0; i < X509A_RULE_KINDS; i++) {
        if (rules[i]) {
            const char *why = NULL;
            x509a_rule_kind failed;

            fz_sink += (size_t)x509a_rules_check_kind(rules[i], c, 1800000000,
                                                      p, &why, &failed);
            fz_touch(why);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    unsigned char *form = NULL, *again, *again2;
    apr_size_t again_len, again2_len;
    const char *why = NULL;
    x509a_cert *c, *c2;

    apr_pool_create(&p, fz_init());
    if (size) {
        form = apr_pmemdup(p, data, size);
    }
    if (size >= 33) {
        form[0] = 1;
        memcpy(form + 1, der_sha256, 32);
    }
    c = x509a_cert_make_compact(p, der, der_len, form, size, &why);
    if (!c) {
        if (!why) {
            fz_fail("refused without a reason");
        }
        fz_touch(why);
        apr_pool_destroy(p);
        return 0;
    }
    exercise(c, p);
    if (x509a_cert_x509_decoded(c)) {
        fz_fail("a getter served by the form decoded the DER");
    }
    if ((why = x509a_cert_compact(c, p, &again, &again_len)) != NULL) {
        fz_fail("an accepted form cannot be written again: %s", why);
    }
    c2 = x509a_cert_make_compact(p, der, der_len, again, again_len, &why);
    if (!c2) {
        fz_fail("a form written again is refused: %s", why);
    }
    if (x509a_cert_compact(c2, p, &again2, &again2_len) != NULL
        || again_len != again2_len || memcmp(again, again2, again_len) != 0) {
        fz_fail("a form written again does not write itself back");
    }
    if (X509_cmp(x509a_cert_x509(c), pki->leaf) != 0
        || !x509a_cert_x509_decoded(c)) {
        fz_fail("the DER decoded is not the fixed leaf");
    }
    apr_pool_destroy(p);
    return 0;
}
