/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/* x509a_num: serial numbers, fingerprints, SubjectPublicKeyInfo pins. */

#include <string.h>
#include <check.h>
#include <apr_strings.h>
#include <openssl/bn.h>
#include <openssl/asn1.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "x509a_num.h"
#include "testcert.h"
#include "suites.h"

/* 20 bytes, high bit set: DER needs a leading 0x00 */
#define BIG_HEX "8F0102030405060708090A0B0C0D0E0F10111213"

static x509a_serial serial_ok(const char *text)
{
    x509a_serial s;
    const char *err;

    memset(&s, 0xa5, sizeof(s));
    err = x509a_serial_parse(tc_pool, text, &s);
    ck_assert_msg(err == NULL, "serial '%s' rejected: %s", text, err);
    return s;
}

static int serial_eq(const char *a, const char *b)
{
    x509a_serial x = serial_ok(a), y = serial_ok(b);

    return x509a_serial_equal(&x, &y);
}

#define ASSERT_SERIAL_EQ(a, b) \
    ck_assert_msg(serial_eq((a), (b)), "serial '%s' should equal '%s'", (a), (b))
#define ASSERT_SERIAL_NE(a, b) \
    ck_assert_msg(!serial_eq((a), (b)), "serial '%s' should differ from '%s'", \
                  (a), (b))

static void assert_serial_bytes(const char *text, int negative,
                                const unsigned char *mag, apr_size_t len)
{
    x509a_serial s = serial_ok(text);

    ck_assert_msg(s.negative == negative, "'%s': negative is %d", text,
                  s.negative);
    ck_assert_msg(s.len == len, "'%s': length %d, expected %d", text,
                  (int)s.len, (int)len);
    if (len) {
        ck_assert_mem_eq(s.mag, mag, len);
    }
}

static const char *serial_err(const char *text)
{
    x509a_serial s;
    const char *err = x509a_serial_parse(tc_pool, text, &s);

    ck_assert_msg(err != NULL, "serial '%s' should be rejected", text);
    return err;
}

/* ---------------------------------------------------------------------- */
/* Serial numbers                                                          */
/* ---------------------------------------------------------------------- */

START_TEST(num_serial_forms)
{
    static const unsigned char m4097[] = { 0x10, 0x01 };
    static const unsigned char m258[] = { 0x01, 0x02 };
    static const unsigned char mabc[] = { 0x0a, 0xbc };

    assert_serial_bytes("4097", 0, m4097, 2);
    assert_serial_bytes("0x1001", 0, m4097, 2);
    assert_serial_bytes("0X1001", 0, m4097, 2);
    assert_serial_bytes("10:01", 0, m4097, 2);
    assert_serial_bytes("1:2", 0, m258, 2);
    assert_serial_bytes("01:02", 0, m258, 2);
    assert_serial_bytes("258", 0, m258, 2);
    assert_serial_bytes("0xabc", 0, mabc, 2);
    assert_serial_bytes("0xABC", 0, mabc, 2);
    assert_serial_bytes("a:bc", 0, mabc, 2);
    assert_serial_bytes("0A:BC", 0, mabc, 2);
    assert_serial_bytes("0a:bc", 0, mabc, 2);

    ASSERT_SERIAL_EQ("4097", "0x1001");
    ASSERT_SERIAL_EQ("4097", "10:01");
    ASSERT_SERIAL_EQ("1:2", "0x102");
    ASSERT_SERIAL_EQ("1:2:3", "0x010203");
    ASSERT_SERIAL_EQ("255", "0xff");
}
END_TEST

START_TEST(num_serial_leading_zeros)
{
    static const unsigned char one[] = { 0x01 };

    assert_serial_bytes("1", 0, one, 1);
    assert_serial_bytes("0001", 0, one, 1);
    assert_serial_bytes("0x0001", 0, one, 1);
    assert_serial_bytes("0x00000001", 0, one, 1);
    assert_serial_bytes("00:01", 0, one, 1);
    assert_serial_bytes("00:00:01", 0, one, 1);
    assert_serial_bytes("0:1", 0, one, 1);
    ASSERT_SERIAL_EQ("0001", "0x0001");
    ASSERT_SERIAL_EQ("0x00001001", "4097");
    /* zero */
    assert_serial_bytes("0", 0, NULL, 0);
    assert_serial_bytes("0x0", 0, NULL, 0);
    assert_serial_bytes("00", 0, NULL, 0);
    assert_serial_bytes("00:00", 0, NULL, 0);
    ASSERT_SERIAL_EQ("0", "0x00");
    ASSERT_SERIAL_NE("0", "1");
    ASSERT_SERIAL_NE("1", "0x0100");
    ASSERT_SERIAL_NE("0x1001", "0x100100");
    ASSERT_SERIAL_NE("4097", "4098");
}
END_TEST

START_TEST(num_serial_big)
{
    BIGNUM *bn = NULL;
    char *dec;
    unsigned char mag[20];
    const char *colons;
    char hex64[2 + 128 + 1];

    ck_assert_int_eq(BN_hex2bn(&bn, BIG_HEX), 40);
    dec = BN_bn2dec(bn);
    BN_bn2bin(bn, mag);
    colons = tc_hex_colons_lower(tc_pool, mag, 20);

    assert_serial_bytes("0x" BIG_HEX, 0, mag, 20);
    assert_serial_bytes("0x00" BIG_HEX, 0, mag, 20);
    assert_serial_bytes(dec, 0, mag, 20);
    assert_serial_bytes(colons, 0, mag, 20);
    assert_serial_bytes(apr_pstrcat(tc_pool, "00:", colons, NULL), 0, mag, 20);
    ASSERT_SERIAL_EQ(dec, "0x" BIG_HEX);
    ASSERT_SERIAL_NE(dec, "0x" BIG_HEX "00");
    ASSERT_SERIAL_NE("0x" BIG_HEX, "0x0F0102030405060708090A0B0C0D0E0F10111213");
    OPENSSL_free(dec);
    BN_free(bn);

    /* 64 bytes is the most accepted */
    memset(hex64, 'f', sizeof(hex64));
    memcpy(hex64, "0x", 2);
    hex64[2 + 128] = '\0';
    ck_assert_int_eq(serial_ok(hex64).len, 64);
}
END_TEST

START_TEST(num_serial_negative)
{
    static const unsigned char five[] = { 0x05 };
    static const unsigned char m4097[] = { 0x10, 0x01 };

    assert_serial_bytes("-5", 1, five, 1);
    assert_serial_bytes("-0x5", 1, five, 1);
    assert_serial_bytes("-05", 1, five, 1);
    assert_serial_bytes("-0x1001", 1, m4097, 2);
    assert_serial_bytes("-10:01", 1, m4097, 2);
    ASSERT_SERIAL_EQ("-4097", "-0x1001");
    ASSERT_SERIAL_NE("-5", "5");
    ASSERT_SERIAL_NE("-4097", "0x1001");
    /* minus zero is zero */
    assert_serial_bytes("-0", 0, NULL, 0);
    ASSERT_SERIAL_EQ("-0", "0");
    ASSERT_SERIAL_EQ("-0x00", "0");
}
END_TEST

START_TEST(num_serial_errors)
{
    const char *err;
    char *longhex;

    err = serial_err("0xZZ");
    ck_assert_msg(tc_contains(err, "0xZZ"), "%s", err);
    err = serial_err("12ab");
    ck_assert_msg(tc_contains(err, "'12ab'"), "%s", err);
    ck_assert_msg(tc_contains(err, "0x12ab"), "should suggest 0x12ab: %s", err);
    err = serial_err("DEADBEEF");
    ck_assert_msg(tc_contains(err, "0xDEADBEEF"), "%s", err);
    serial_err("");
    serial_err("-");
    serial_err("0x");
    serial_err("-0x");
    err = serial_err("::");
    ck_assert_msg(tc_contains(err, "::"), "%s", err);
    serial_err(":");
    serial_err("1::2");
    serial_err(":12");
    serial_err("ff:");
    serial_err("12:34:");
    serial_err("123:4");
    serial_err("12:xy");
    serial_err("0x12:34");
    serial_err("12 34");
    serial_err(" 12");
    serial_err("1.5");
    serial_err("+5");
    serial_err("--5");
    serial_err("5-");
    serial_err("ghij");
    /* more than 64 bytes */
    longhex = apr_palloc(tc_pool, 2 + 130 + 1);
    memset(longhex, '1', 2 + 130);
    memcpy(longhex, "0x", 2);
    longhex[2 + 130] = '\0';
    err = serial_err(longhex);
    ck_assert_msg(tc_contains(err, "longer"), "%s", err);
    longhex = apr_palloc(tc_pool, 200 + 1);
    memset(longhex, '9', 200);
    longhex[200] = '\0';
    serial_err(longhex);
    /* 65 colon-hex bytes */
    {
        char *c = apr_palloc(tc_pool, 65 * 3);
        int i;
        for (i = 0; i < 65; i++) {
            memcpy(c + 3 * i, "ff:", 3);
        }
        c[65 * 3 - 1] = '\0';
        serial_err(c);
    }
}
END_TEST

START_TEST(num_serial_from_asn1)
{
    static const unsigned char m4097[] = { 0x10, 0x01 };
    static const unsigned char padded[] = { 0x00, 0x00, 0x10, 0x01 };
    ASN1_INTEGER *ai = ASN1_INTEGER_new();
    BIGNUM *bn = NULL;
    x509a_serial s, t;

    ASN1_INTEGER_set(ai, 4097);
    x509a_serial_from_asn1(tc_pool, ai, &s);
    ck_assert_int_eq(s.negative, 0);
    ck_assert_int_eq(s.len, 2);
    ck_assert_mem_eq(s.mag, m4097, 2);
    t = serial_ok("4097");
    ck_assert(x509a_serial_equal(&s, &t));
    t = serial_ok("0x1001");
    ck_assert(x509a_serial_equal(&s, &t));
    t = serial_ok("4096");
    ck_assert(!x509a_serial_equal(&s, &t));

    /* non-minimal content octets: leading zero bytes are ignored */
    ASN1_STRING_set(ai, padded, sizeof(padded));
    x509a_serial_from_asn1(tc_pool, ai, &s);
    ck_assert_int_eq(s.len, 2);
    t = serial_ok("4097");
    ck_assert(x509a_serial_equal(&s, &t));

    /* negative */
    ASN1_INTEGER_set(ai, -5);
    ck_assert_int_eq(ASN1_STRING_type(ai), V_ASN1_NEG_INTEGER);
    x509a_serial_from_asn1(tc_pool, ai, &s);
    ck_assert_int_eq(s.negative, 1);
    t = serial_ok("-5");
    ck_assert(x509a_serial_equal(&s, &t));
    t = serial_ok("5");
    ck_assert(!x509a_serial_equal(&s, &t));

    /* zero */
    ASN1_INTEGER_set(ai, 0);
    x509a_serial_from_asn1(tc_pool, ai, &s);
    ck_assert_int_eq(s.len, 0);
    t = serial_ok("0");
    ck_assert(x509a_serial_equal(&s, &t));

    /* 20 bytes with the high bit set */
    ASN1_INTEGER_free(ai);
    BN_hex2bn(&bn, BIG_HEX);
    ai = BN_to_ASN1_INTEGER(bn, NULL);
    x509a_serial_from_asn1(tc_pool, ai, &s);
    ck_assert_int_eq(s.len, 20);
    t = serial_ok("0x00" BIG_HEX);
    ck_assert(x509a_serial_equal(&s, &t));
    ASN1_INTEGER_free(ai);
    BN_free(bn);

    /* from a certificate */
    {
        tc_spec spec = { .serial = "-" BIG_HEX };
        X509 *x = tc_cert(tc_pool, &spec, NULL);
        x509a_serial_from_asn1(tc_pool, X509_get0_serialNumber(x), &s);
        ck_assert_int_eq(s.negative, 1);
        ck_assert_int_eq(s.len, 20);
        t = serial_ok("-0x" BIG_HEX);
        ck_assert(x509a_serial_equal(&s, &t));
        t = serial_ok("0x" BIG_HEX);
        ck_assert(!x509a_serial_equal(&s, &t));
    }
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Fingerprints                                                            */
/* ---------------------------------------------------------------------- */

static void assert_fp(const char *text, x509a_digest_alg alg,
                      const unsigned char *md, apr_size_t len)
{
    x509a_fingerprint f;
    const char *err = x509a_fingerprint_parse(tc_pool, text, &f);

    ck_assert_msg(err == NULL, "fingerprint '%s' rejected: %s", text, err);
    ck_assert_msg(f.alg == alg, "'%s': algorithm %d", text, (int)f.alg);
    ck_assert_int_eq(f.len, len);
    ck_assert_mem_eq(f.md, md, len);
}

static const char *fp_err(const char *text)
{
    x509a_fingerprint f;
    const char *err = x509a_fingerprint_parse(tc_pool, text, &f);

    ck_assert_msg(err != NULL, "fingerprint '%s' should be rejected", text);
    ck_assert_msg(tc_contains(err, text), "error should quote '%s': %s", text,
                  err);
    return err;
}

static char *lower(char *s)
{
    char *p;

    for (p = s; *p; p++) {
        if (*p >= 'A' && *p <= 'Z') {
            *p += 'a' - 'A';
        }
    }
    return s;
}

/* "AB CD EF" */
static char *spaced(apr_pool_t *p, const char *hex)
{
    size_t n = strlen(hex), i;
    char *out = apr_palloc(p, n + n / 2 + 1), *o = out;

    for (i = 0; i < n; i += 2) {
        if (i) {
            *o++ = ' ';
        }
        *o++ = hex[i];
        *o++ = hex[i + 1];
    }
    *o = '\0';
    return out;
}

START_TEST(num_fingerprint)
{
    tc_spec spec = { 0 };
    X509 *x = tc_cert(tc_pool, &spec, NULL);
    unsigned char s256[32], s1[20];
    unsigned int n;
    const char *h256, *h1;

    X509_digest(x, EVP_sha256(), s256, &n);
    X509_digest(x, EVP_sha1(), s1, &n);
    h256 = tc_hex(tc_pool, s256, 32);
    h1 = tc_hex(tc_pool, s1, 20);

    assert_fp(apr_pstrcat(tc_pool, "sha256:", h256, NULL),
              X509A_DIGEST_SHA256, s256, 32);
    assert_fp(apr_pstrcat(tc_pool, "SHA256:", h256, NULL),
              X509A_DIGEST_SHA256, s256, 32);
    assert_fp(apr_pstrcat(tc_pool, "sha-256:", h256, NULL),
              X509A_DIGEST_SHA256, s256, 32);
    assert_fp(h256, X509A_DIGEST_SHA256, s256, 32);
    assert_fp(lower(apr_pstrdup(tc_pool, h256)), X509A_DIGEST_SHA256, s256, 32);
    assert_fp(tc_hex_colons_lower(tc_pool, s256, 32), X509A_DIGEST_SHA256,
              s256, 32);
    assert_fp(apr_pstrcat(tc_pool, "sha256:",
                          tc_hex_colons_lower(tc_pool, s256, 32), NULL),
              X509A_DIGEST_SHA256, s256, 32);
    assert_fp(spaced(tc_pool, h256), X509A_DIGEST_SHA256, s256, 32);

    assert_fp(apr_pstrcat(tc_pool, "sha1:", h1, NULL), X509A_DIGEST_SHA1, s1,
              20);
    assert_fp(apr_pstrcat(tc_pool, "SHA1:", lower(apr_pstrdup(tc_pool, h1)),
                          NULL), X509A_DIGEST_SHA1, s1, 20);
    assert_fp(h1, X509A_DIGEST_SHA1, s1, 20);
    assert_fp(tc_hex_colons_lower(tc_pool, s1, 20), X509A_DIGEST_SHA1, s1, 20);
    assert_fp(spaced(tc_pool, h1), X509A_DIGEST_SHA1, s1, 20);
}
END_TEST

START_TEST(num_fingerprint_errors)
{
    static const char h64[] =
        "00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF";
    static const char h40[] = "00112233445566778899AABBCCDDEEFF00112233";

    /* prefix and length disagree */
    fp_err(apr_pstrcat(tc_pool, "sha1:", h64, NULL));
    fp_err(apr_pstrcat(tc_pool, "sha256:", h40, NULL));
    /* neither length */
    fp_err(apr_pstrndup(tc_pool, h64, 38));
    fp_err(apr_pstrndup(tc_pool, h64, 62));
    fp_err(apr_pstrcat(tc_pool, h64, "00", NULL));
    fp_err(apr_pstrcat(tc_pool, h40, "00", NULL));
    fp_err(apr_pstrcat(tc_pool, "sha1:", h40, "00", NULL));
    /* odd number of digits */
    fp_err(apr_pstrndup(tc_pool, h64, 63));
    fp_err(apr_pstrcat(tc_pool, h40, "0", NULL));
    /* not hex */
    fp_err(apr_pstrcat(tc_pool, "sha256:", apr_pstrndup(tc_pool, h64, 62),
                       "GG", NULL));
    fp_err(apr_pstrcat(tc_pool, "md5:", apr_pstrndup(tc_pool, h64, 32), NULL));
    fp_err(apr_pstrcat(tc_pool, "sha512:", h64, NULL));
    fp_err("");
    fp_err("sha256:");
    fp_err("sha1:");
    fp_err("xyz");
}
END_TEST

/* ---------------------------------------------------------------------- */
/* SubjectPublicKeyInfo pins                                               */
/* ---------------------------------------------------------------------- */

static void assert_pin(const char *text, const unsigned char *expected)
{
    unsigned char out[32];
    const char *err;

    memset(out, 0, sizeof(out));
    err = x509a_spki_pin_parse(tc_pool, text, out);
    ck_assert_msg(err == NULL, "pin '%s' rejected: %s", text, err);
    ck_assert_mem_eq(out, expected, 32);
}

static void pin_err(const char *text)
{
    unsigned char out[32];
    const char *err = x509a_spki_pin_parse(tc_pool, text, out);

    ck_assert_msg(err != NULL, "pin '%s' should be rejected", text);
    ck_assert_msg(tc_contains(err, text), "error should quote '%s': %s", text,
                  err);
}

START_TEST(num_spki_pin)
{
    tc_spec spec = { 0 };
    X509 *x = tc_cert(tc_pool, &spec, NULL);
    unsigned char pin[32];
    const char *hex, *b64;

    tc_spki_sha256(x, pin);
    hex = tc_hex(tc_pool, pin, 32);
    b64 = tc_base64(tc_pool, pin, 32);
    ck_assert_int_eq(strlen(b64), 44);

    assert_pin(apr_pstrcat(tc_pool, "sha256:", hex, NULL), pin);
    assert_pin(apr_pstrcat(tc_pool, "SHA256:", hex, NULL), pin);
    assert_pin(hex, pin);
    assert_pin(lower(apr_pstrdup(tc_pool, hex)), pin);
    assert_pin(tc_hex_colons_lower(tc_pool, pin, 32), pin);
    assert_pin(apr_pstrcat(tc_pool, "sha256:", b64, NULL), pin);
    assert_pin(b64, pin);
    assert_pin(apr_pstrcat(tc_pool, "pin-sha256:\"", b64, "\"", NULL), pin);
    assert_pin(apr_pstrcat(tc_pool, "pin-sha256:", b64, NULL), pin);
}
END_TEST

START_TEST(num_spki_pin_errors)
{
    static const unsigned char bytes[33] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
    static const char h64[] =
        "00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF";
    const char *b32 = tc_base64(tc_pool, bytes, 32);
    char *bad;

    pin_err("");
    pin_err("sha256:");
    pin_err(apr_pstrndup(tc_pool, h64, 62));
    pin_err(apr_pstrcat(tc_pool, "sha256:", apr_pstrndup(tc_pool, h64, 62),
                        NULL));
    pin_err(apr_pstrcat(tc_pool, "sha256:", h64, "00", NULL));
    pin_err(apr_pstrcat(tc_pool, "sha256:", apr_pstrndup(tc_pool, h64, 63),
                        NULL));
    pin_err(apr_pstrcat(tc_pool, "sha1:", h64, NULL));
    /* base64 of 31 and 33 bytes */
    pin_err(tc_base64(tc_pool, bytes, 31));
    pin_err(tc_base64(tc_pool, bytes, 33));
    /* base64 with a character removed, or one that is not base64 */
    pin_err(apr_pstrndup(tc_pool, b32, 43));
    bad = apr_pstrdup(tc_pool, b32);
    bad[5] = '!';
    pin_err(bad);
    bad = apr_pstrdup(tc_pool, b32);
    bad[42] = '=';
    pin_err(bad);
    pin_err(apr_pstrcat(tc_pool, "sha256:\"", apr_pstrndup(tc_pool, b32, 43),
                        "\"", NULL));
}
END_TEST

START_TEST(num_hex)
{
    static const unsigned char d[] = { 0x00, 0x01, 0xab, 0xcd, 0xef, 0xff };

    ck_assert_str_eq(x509a_hex(tc_pool, d, sizeof(d)), "0001ABCDEFFF");
    ck_assert_str_eq(x509a_hex(tc_pool, d + 2, 1), "AB");
    ck_assert_str_eq(x509a_hex(tc_pool, d, 0), "");
}
END_TEST

Suite *x509a_num_suite(void)
{
    Suite *s = suite_create("x509a_num");
    TCase *tc = tcase_create("serial");

    tcase_add_checked_fixture(tc, tc_setup, tc_teardown);
    tcase_add_test(tc, num_serial_forms);
    tcase_add_test(tc, num_serial_leading_zeros);
    tcase_add_test(tc, num_serial_big);
    tcase_add_test(tc, num_serial_negative);
    tcase_add_test(tc, num_serial_errors);
    tcase_add_test(tc, num_serial_from_asn1);
    suite_add_tcase(s, tc);

    tc = tcase_create("digests");
    tcase_add_checked_fixture(tc, tc_setup, tc_teardown);
    tcase_add_test(tc, num_fingerprint);
    tcase_add_test(tc, num_fingerprint_errors);
    tcase_add_test(tc, num_spki_pin);
    tcase_add_test(tc, num_spki_pin_errors);
    tcase_add_test(tc, num_hex);
    suite_add_tcase(s, tc);
    return s;
}
