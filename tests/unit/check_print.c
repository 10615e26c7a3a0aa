/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/* x509a_print must print byte for byte what OpenSSL prints (mod_ssl's
 * SSL_CLIENT_S_DN and DN attribute variables): compared on thousands of
 * generated names with every string type and awkward content. */

#include <string.h>
#include <check.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "x509a_print.h"
#include "suites.h"

static apr_pool_t *pool;

static void setup(void)
{
    apr_pool_create(&pool, NULL);
}

static void teardown(void)
{
    apr_pool_destroy(pool);
}

/* A small deterministic generator (xorshift), so failures reproduce. */
static unsigned long long rng_state = 0x9E3779B97F4A7C15ULL;

static unsigned int rnd(unsigned int n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (unsigned int)(rng_state % n);
}

static char *bio_text(BIO *bio)
{
    char *data;
    long len = BIO_get_mem_data(bio, &data);
    char *s = apr_pstrmemdup(pool, len > 0 ? data : "", len > 0 ? (apr_size_t)len : 0);

    BIO_free(bio);
    return s;
}

static char *openssl_name(const X509_NAME *n, unsigned long flags)
{
    BIO *bio = BIO_new(BIO_s_mem());

    X509_NAME_print_ex(bio, n, 0, flags);
    return bio_text(bio);
}

static char *openssl_string(const ASN1_STRING *s)
{
    BIO *bio = BIO_new(BIO_s_mem());

    ASN1_STRING_print_ex(bio, s, ASN1_STRFLGS_ESC_CTRL | ASN1_STRFLGS_UTF8_CONVERT);
    return bio_text(bio);
}

static const int types[] = {
    V_ASN1_UTF8STRING, V_ASN1_PRINTABLESTRING, V_ASN1_T61STRING,
    V_ASN1_IA5STRING, V_ASN1_BMPSTRING, V_ASN1_UNIVERSALSTRING,
    V_ASN1_VISIBLESTRING, V_ASN1_NUMERICSTRING, V_ASN1_GRAPHICSTRING,
    V_ASN1_GENERALSTRING
};

static const char *const fields[] = {
    "CN", "O", "OU", "C", "ST", "L", "DC", "UID", "emailAddress",
    "serialNumber", "1.2.3.4.5"
};

/* Content bytes: specials, spaces, control characters, high bytes. */
static int make_value(unsigned char *buf, int type)
{
    static const char special[] = ",+\"\\<>;#= =\x01\x1f\x7f";
    int n = (int)rnd(6), i, unit;

    unit = type == V_ASN1_BMPSTRING ? 2 : type == V_ASN1_UNIVERSALSTRING ? 4 : 1;
    if (rnd(8) == 0 && unit > 1) {
        n = n * unit + 1;               /* a malformed length now and then */
        for (i = 0; i < n; i++) {
            buf[i] = (unsigned char)rnd(256);
        }
        return n;
    }
    for (i = 0; i < n; i++) {
        unsigned long c;
        switch (rnd(4)) {
        case 0:
            c = (unsigned char)special[rnd(sizeof(special) - 1)];
            break;
        case 1:
            c = 'a' + rnd(26);
            break;
        case 2:
            c = 0x80 + rnd(0x80);
            break;
        default:
            c = unit == 1 ? rnd(256) : unit == 2 ? rnd(0x10000) : rnd(0x120000);
            break;
        }
        if (unit == 4) {
            buf[4 * i] = (unsigned char)(c >> 24);
            buf[4 * i + 1] = (unsigned char)(c >> 16);
            buf[4 * i + 2] = (unsigned char)(c >> 8);
            buf[4 * i + 3] = (unsigned char)c;
        }
        else if (unit == 2) {
            buf[2 * i] = (unsigned char)(c >> 8);
            buf[2 * i + 1] = (unsigned char)c;
        }
        else {
            buf[i] = (unsigned char)c;
        }
    }
    return n * unit;
}

START_TEST(print_matches_openssl)
{
    int round;

    for (round = 0; round < 3000; round++) {
        X509_NAME *name = X509_NAME_new();
        int entries = (int)rnd(5), e;

        for (e = 0; e < entries; e++) {
            unsigned char buf[64];
            int type = types[rnd(sizeof(types) / sizeof(types[0]))];
            int len = make_value(buf, type);
            ASN1_OBJECT *obj = OBJ_txt2obj(fields[rnd(sizeof(fields) / sizeof(fields[0]))], 0);
            X509_NAME_ENTRY *ne = X509_NAME_ENTRY_create_by_OBJ(NULL, obj, type, buf, len);

            ck_assert_ptr_nonnull(ne);
            /* a name entry cannot hold every type (VisibleString): then the
             * string alone is compared */
            if (!X509_NAME_add_entry(name, ne, -1, e > 0 && rnd(3) == 0 ? -1 : 0)) {
                ERR_clear_error();
            }
            {
                const ASN1_STRING *v = X509_NAME_ENTRY_get_data(ne);
                const char *mine = x509a_print_string(pool, v);
                const char *theirs = openssl_string(v);
                ck_assert_msg(strcmp(mine, theirs) == 0,
                              "string type %d: [%s] != OpenSSL [%s]", type, mine, theirs);
            }
            X509_NAME_ENTRY_free(ne);
            ASN1_OBJECT_free(obj);
        }
        {
            const char *mine = x509a_print_name(pool, name, 0);
            const char *theirs = openssl_name(name, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
            ck_assert_msg(strcmp(mine, theirs) == 0, "name [%s] != OpenSSL [%s]", mine, theirs);
            mine = x509a_print_name(pool, name, 1);
            theirs = openssl_name(name, XN_FLAG_RFC2253);
            ck_assert_msg(strcmp(mine, theirs) == 0, "name (MSB) [%s] != OpenSSL [%s]",
                          mine, theirs);
        }
        X509_NAME_free(name);
    }
}
END_TEST

Suite *x509a_print_suite(void)
{
    Suite *s = suite_create("x509a_print");
    TCase *tc = tcase_create("differential");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, print_matches_openssl);
    suite_add_tcase(s, tc);
    return s;
}
