/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/* Distinguished names as administrators write them.
 *
 * The input is parsed with x509a_dn_parse() as it is and with a '/'
 * prefix (slash form).  A parsed DN must equal itself and a second parse
 * of the same text, and must equal the DN read back from a certificate
 * name built from its AVAs (UTF8String values, DER round trip): the
 * canonical form of a rule and of a certificate agree.  The raw bytes also
 * go to x509a_strprep() (without a terminator, so an over-read is an
 * ASan report; its output is checked to be a fixed point) and the text, and its part before '=', to
 * x509a_attr_type(). */

#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "x509a_dn.h"
#include "x509a_strprep.h"
#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_init();
    return 0;
}

static void dump(const char *what, const x509a_dn *dn)
{
    apr_size_t i;

    fprintf(stderr, "%s: ", what);
    for (i = 0; i < dn->canon_len; i++) {
        fprintf(stderr, "%02x", (unsigned char)dn->canon[i]);
    }
    fputc('\n', stderr);
}

/* Build an X509_NAME holding the AVAs of @a dn, through DER, and compare
 * the DN x509a_dn_from_name() reads from it. */
static void check_as_certificate_name(apr_pool_t *p, const char *text,
                                      const x509a_dn *dn)
{
    X509_NAME *name = X509_NAME_new(), *back = NULL;
    unsigned char *der = NULL;
    const unsigned char *q;
    int i, j, len;

    for (i = 0; i < dn->rdns->nelts; i++) {
        const apr_array_header_t *rdn =
            APR_ARRAY_IDX(dn->rdns, i, apr_array_header_t *);
        for (j = 0; j < rdn->nelts; j++) {
            const x509a_ava *a = &APR_ARRAY_IDX(rdn, j, x509a_ava);
            ASN1_OBJECT *obj;
            int ok;

            if (a->is_hex || a->value_len > 1000) {
                /* #hex values keep their DER; long ones exceed ub-name */
                goto done;
            }
            obj = OBJ_txt2obj(a->oid, 1);
            if (!obj) {
                goto done;
            }
            ok = X509_NAME_add_entry_by_OBJ(name, obj, V_ASN1_UTF8STRING,
                                            (const unsigned char *)a->value,
                                            (int)a->value_len, -1,
                                            j == 0 ? 0 : -1);
            ASN1_OBJECT_free(obj);
            if (!ok) {
                fz_fail("cannot build a name from '%s'", text);
            }
        }
    }
    len = i2d_X509_NAME(name, &der);
    q = der;
    if (len <= 0 || !(back = d2i_X509_NAME(NULL, &q, len))) {
        /* OpenSSL refuses some values (e.g. invalid UTF-8 it checks more
         * strictly); such a DN cannot come from a certificate */
        goto done;
    }
    {
        x509a_dn *from_cert = x509a_dn_from_name(p, back);
        fz_touch_dn(from_cert);
        if (!x509a_dn_equal(dn, from_cert)) {
            fprintf(stderr, "DN text: %s\n", text);
            dump("parsed     ", dn);
            dump("certificate", from_cert);
            fz_fail("a parsed DN differs from the same DN in a certificate");
        }
        /* and what mod_ssl prints for that name parses back to it */
        fz_check_print_roundtrip(p, x509a_name_to_string(p, back, 0),
                                 from_cert);
        fz_touch(x509a_name_to_string(p, back, 1));
    }
done:
    ERR_clear_error();
    OPENSSL_free(der);
    X509_NAME_free(name);
    X509_NAME_free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    char *text = fz_cstr(data, size), *slash, *eq;
    x509a_dn *dn = NULL, *again = NULL, *sdn = NULL;
    const char *err;
    ASN1_OBJECT *obj;
    apr_size_t flen = 0;
    char *folded;

    apr_pool_create(&p, fz_init());

    err = x509a_dn_parse(p, text, &dn);
    if (err) {
        fz_touch(err);
    }
    else {
        fz_touch_dn(dn);
        fz_sink += x509a_dn_looks_reversed(dn);
        if ((err = x509a_dn_parse(p, text, &again)) != NULL
            || !x509a_dn_equal(dn, again)) {
            fz_fail("a DN parses differently the second time");
        }
        check_as_certificate_name(p, text, dn);
    }

    slash = malloc(size + 2);
    slash[0] = '/';
    memcpy(slash + 1, text, size + 1);
    if (x509a_dn_parse(p, slash, &sdn) == NULL) {
        fz_touch_dn(sdn);
        fz_sink += x509a_dn_looks_reversed(sdn);
        check_as_certificate_name(p, slash, sdn);
    }
    free(slash);

    if (x509a_strprep(p, (const char *)data, size, &folded, &flen, NULL)
        == X509A_STRPREP_OK) {
        char *again = NULL;
        apr_size_t alen = 0;

        if (folded[flen] != '\0' || strlen(folded) > flen) {
            fz_fail("prepared output of %lu bytes for %lu",
                    (unsigned long)flen, (unsigned long)size);
        }
        /* a prepared string prepares to itself (NFKC, B.2 with NFKC and
         * the space rule are idempotent) */
        if (x509a_strprep(p, folded, flen, &again, &alen, NULL)
            != X509A_STRPREP_OK || alen != flen
            || memcmp(again, folded, flen) != 0) {
            fz_fail("a prepared string prepares to something else");
        }
        fz_touch(folded);
    }

    obj = x509a_attr_type(text);
    ASN1_OBJECT_free(obj);
    if ((eq = strchr(text, '=')) != NULL) {
        *eq = '\0';
        obj = x509a_attr_type(text);
        ASN1_OBJECT_free(obj);
    }

    apr_pool_destroy(p);
    free(text);
    return 0;
}
