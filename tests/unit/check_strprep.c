/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/* x509a_strprep: RFC 4518 caseIgnoreMatch preparation from the built-in
 * Unicode 3.2 tables, against the vectors Python computes
 * (scripts/gen-rfc4518-tables.py: unicodedata.ucd_3_2_0, stringprep). */

#include <string.h>
#include <stdio.h>
#include <check.h>
#include <apr_strings.h>

#include "x509a_strprep.h"
#include "testcert.h"
#include "suites.h"
#include "strprep_vectors.h"

/* The prepared form, or NULL when prohibited; invalid UTF-8 fails. */
static const char *prep(const char *in, apr_size_t len)
{
    char *out = NULL;
    apr_size_t olen = 0;
    unsigned long bad = 0;
    x509a_strprep_status st = x509a_strprep(tc_pool, in, len, &out, &olen,
                                            &bad);

    ck_assert_int_ne(st, X509A_STRPREP_BAD_UTF8);
    if (st == X509A_STRPREP_PROHIBITED) {
        return NULL;
    }
    ck_assert_uint_eq(strlen(out), olen);
    return out;
}

#define PREP(s) prep((s), strlen(s))

static const char *hex(const char *s, apr_size_t n)
{
    char *o = apr_palloc(tc_pool, 2 * n + 1);
    apr_size_t i;

    for (i = 0; i < n; i++) {
        apr_snprintf(o + 2 * i, 3, "%02x", (unsigned char)s[i]);
    }
    o[2 * n] = '\0';
    return o;
}

START_TEST(strprep_vectors_match_python)
{
    size_t i, n = sizeof(strprep_vectors) / sizeof(strprep_vectors[0]);

    for (i = 0; i < n; i++) {
        const char *in = strprep_vectors[i].in, *want = strprep_vectors[i].out;
        const char *got = prep(in, strprep_vectors[i].in_len);

        if (!want) {
            ck_assert_msg(got == NULL, "vector %u (%s): prohibited expected, "
                          "got %s", (unsigned)i,
                          hex(in, strprep_vectors[i].in_len),
                          hex(got, strlen(got)));
            continue;
        }
        ck_assert_msg(got != NULL, "vector %u (%s): refused as prohibited",
                      (unsigned)i, hex(in, strprep_vectors[i].in_len));
        ck_assert_msg(strcmp(got, want) == 0, "vector %u (%s): %s, expected %s",
                      (unsigned)i, hex(in, strprep_vectors[i].in_len),
                      hex(got, strlen(got)), hex(want, strlen(want)));
    }
}
END_TEST

START_TEST(strprep_named_cases)
{
    /* U+0130 is i + U+0307, not i */
    ck_assert_str_eq(PREP("adm\xc4\xb0n"), "admi\xcc\x87n");
    ck_assert_str_ne(PREP("adm\xc4\xb0n"), PREP("admin"));
    /* U+212A KELVIN SIGN, fullwidth letters */
    ck_assert_str_eq(PREP("\xe2\x84\xaa"), "k");
    ck_assert_str_eq(PREP("\xef\xbd\x81\xef\xbd\x84\xef\xbd\x8d\xef\xbd\x89"
                          "\xef\xbd\x8e"), "admin");
    ck_assert_str_eq(PREP("\xef\xbc\xa1\xef\xbc\xa4\xef\xbc\xad\xef\xbc\xa9"
                          "\xef\xbc\xae"), "admin");
    /* Cyrillic, Greek final sigma, sharp s */
    ck_assert_str_eq(PREP("\xd0\x90\xd0\x9b\xd0\x98\xd0\xa1\xd0\x90"),
                     "\xd0\xb0\xd0\xbb\xd0\xb8\xd1\x81\xd0\xb0");
    ck_assert_str_eq(PREP("\xcf\x82"), "\xcf\x83");
    ck_assert_str_eq(PREP("Gro\xc3\x9f"), "gross");
    /* NFKC composes */
    ck_assert_str_eq(PREP("CAFE\xcc\x81"), "caf\xc3\xa9");
    ck_assert_str_eq(PREP("\xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8"),
                     "\xea\xb0\x81");                   /* Hangul L V T */
    /* white space: NBSP, tabs, line breaks, ideographic space */
    ck_assert_str_eq(PREP("  Hello \t  World  "), "hello world");
    ck_assert_str_eq(PREP("\xc2\xa0x\xc2\xa0y\xc2\xa0"), "x y");
    ck_assert_str_eq(PREP("a\r\n\vb"), "a b");
    ck_assert_str_eq(PREP("a\xe3\x80\x80" "b"), "a b");
    ck_assert_str_eq(PREP(""), "");
    ck_assert_str_eq(PREP("   "), "");
    /* a space before a combining mark is not white space (2.6.1) */
    ck_assert_str_eq(PREP("a \xcc\x81"), "a \xcc\x81");
    ck_assert_str_eq(PREP("a\xc2\xb4"), "a \xcc\x81");    /* ACUTE ACCENT */
    /* mapped to nothing */
    ck_assert_str_eq(prep("a\0b\x01" "c\x7f", 6), "abc");
    ck_assert_str_eq(PREP("ad\xc2\xadmin"), "admin");
    ck_assert_str_eq(PREP("ad\xe2\x80\x8bmin"), "admin");
    /* only @a len bytes are read */
    ck_assert_str_eq(prep("ABCDEF", 3), "abc");
    ck_assert_str_eq(prep("\xc3\x84\xc3\x84", 2), "\xc3\xa4");
}
END_TEST

START_TEST(strprep_prohibited)
{
    unsigned long bad = 0;
    char *out = NULL;

    ck_assert_ptr_null(PREP("\xef\xbf\xbd"));                 /* U+FFFD */
    ck_assert_ptr_null(PREP("a\xee\x80\x80"));                /* private use */
    ck_assert_ptr_null(PREP("\xef\xb7\x90"));                 /* U+FDD0 */
    ck_assert_ptr_null(PREP("\xf0\x9f\x98\x80"));      /* not in Unicode 3.2 */
    ck_assert_ptr_null(PREP("\xe1\xba\x9e"));          /* U+1E9E, from 5.1 */
    /* U+202A is in C.8, but RFC 4518 maps it to nothing first */
    ck_assert_str_eq(PREP("\xe2\x80\xaa" "a"), "a");
    /* U+0340 (C.8) is U+0300 after NFKC: a + grave = U+00E0 */
    ck_assert_str_eq(PREP("a\xcd\x80"), "\xc3\xa0");
    ck_assert_int_eq(x509a_strprep(tc_pool, "x\xf3\xb0\x80\x80", 5, &out,
                                   NULL, &bad), X509A_STRPREP_PROHIBITED);
    ck_assert_uint_eq(bad, 0xF0000);
}
END_TEST

START_TEST(strprep_bad_utf8)
{
    static const struct {
        const char *s;
        apr_size_t n;
    } bad[] = {
        { "\xff", 1 }, { "a\x80", 2 }, { "\xc0\x80", 2 }, { "\xe0\x80\x80", 3 },
        { "\xed\xa0\x80", 3 }, { "\xf4\x90\x80\x80", 4 }, { "\xe2\x82", 2 },
        { "\xe2\x82x", 3 }, { "\xc3\xa4\xc3", 3 }
    };
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *out = NULL;
        ck_assert_int_eq(x509a_strprep(tc_pool, bad[i].s, bad[i].n, &out, NULL,
                                       NULL), X509A_STRPREP_BAD_UTF8);
        ck_assert_int_eq(x509a_utf8_valid(bad[i].s, bad[i].n), 0);
    }
    ck_assert_int_eq(x509a_utf8_valid("\xc3\xa4\xf0\xa0\x80\x80", 6), 1);
    ck_assert_int_eq(x509a_utf8_valid("", 0), 1);
}
END_TEST

Suite *x509a_strprep_suite(void)
{
    Suite *s = suite_create("x509a_strprep");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, tc_setup, tc_teardown);
    tcase_add_test(tc, strprep_vectors_match_python);
    tcase_add_test(tc, strprep_named_cases);
    tcase_add_test(tc, strprep_prohibited);
    tcase_add_test(tc, strprep_bad_utf8);
    suite_add_tcase(s, tc);
    return s;
}
