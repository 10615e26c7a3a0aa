/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/* X509AuthnUserMap files: the parser (every rule kind, quoting, comments,
 * malformed lines reported with file:line) and lookups (first line wins
 * across kinds, $N captures, large maps). */

#include <regex.h>
#include <stdio.h>
#include <string.h>
#include <check.h>
#include <apr_strings.h>

#include "x509a_map.h"
#include "suites.h"
#include "testcert.h"

/* The regular expression engine: POSIX extended, as a stand-in for httpd's
 * PCRE (the module passes ap_regex). */
static apr_status_t posix_free(void *re)
{
    regfree(re);
    return APR_SUCCESS;
}

static void *posix_compile(apr_pool_t *p, const char *pattern, int *ncap,
                        const char **err)
{
    regex_t *re = apr_pcalloc(p, sizeof(*re));
    int rc = regcomp(re, pattern, REG_EXTENDED);

    if (rc) {
        char buf[128];
        regerror(rc, re, buf, sizeof(buf));
        *err = apr_pstrdup(p, buf);
        return NULL;
    }
    apr_pool_cleanup_register(p, re, posix_free, apr_pool_cleanup_null);
    *ncap = (int)re->re_nsub;
    return re;
}

static int posix_match(void *re, const char *subject, int nmatch, x509a_match *m)
{
    regmatch_t pm[10];
    int i;

    if (regexec(re, subject, (size_t)nmatch, pm, 0) != 0) {
        return 0;
    }
    for (i = 0; i < nmatch; i++) {
        m[i].so = pm[i].rm_so;
        m[i].eo = pm[i].rm_eo;
    }
    return 1;
}

static const x509a_regex_ops ops = { posix_compile, posix_match };

static tc_pki pki;
static x509a_cert *alice, *fake;

static void setup(void)
{
    tc_setup();
    tc_pki_make(tc_pool, &pki, 1);
    alice = x509a_cert_make(tc_pool, pki.leaf);
    fake = x509a_cert_make(tc_pool, pki.fake_leaf);
}

static x509a_map *parse_ok(const char *text)
{
    x509a_map *map = NULL;
    const char *err = x509a_map_parse(tc_pool, "t.map", text, strlen(text),
                                      &ops, &map);

    ck_assert_msg(err == NULL, "map refused: %s\n%s", err, text);
    return map;
}

/* @a text is refused with "t.map:LINE: ..." containing @a reason. */
static void parse_bad(const char *text, int line, const char *reason)
{
    x509a_map *map = NULL;
    const char *err = x509a_map_parse(tc_pool, "t.map", text, strlen(text),
                                      &ops, &map);
    char *where = apr_psprintf(tc_pool, "t.map:%d: ", line);

    ck_assert_msg(err != NULL, "map accepted:\n%s", text);
    ck_assert_msg(strncmp(err, where, strlen(where)) == 0,
                  "error '%s' does not start with '%s'", err, where);
    ck_assert_msg(strstr(err, reason) != NULL,
                  "error '%s' does not say '%s'", err, reason);
}

static const char *lookup(const x509a_map *map, x509a_cert *c, int *line)
{
    return x509a_map_lookup(map, c, tc_pool, line);
}

START_TEST(map_fingerprint_sha256_and_sha1)
{
    const char *sha256 = x509a_cert_digest_hex(alice, X509A_DIGEST_SHA256);
    const char *sha1 = x509a_cert_digest_hex(alice, X509A_DIGEST_SHA1);
    x509a_map *map;
    int line = 0;

    map = parse_ok(apr_psprintf(tc_pool, "fingerprint sha256:%s alice256\n",
                                sha256));
    ck_assert_int_eq(x509a_map_count(map), 1);
    ck_assert_str_eq(lookup(map, alice, &line), "alice256");
    ck_assert_int_eq(line, 1);
    ck_assert_ptr_null(lookup(map, fake, NULL));

    /* colons, lower case, no prefix: the length says SHA-1 */
    map = parse_ok(apr_psprintf(tc_pool, "# comment\n\nfingerprint %s alice1\n",
                                apr_pstrcat(tc_pool, "", sha1, NULL)));
    ck_assert_str_eq(lookup(map, alice, &line), "alice1");
    ck_assert_int_eq(line, 3);
}
END_TEST

START_TEST(map_issuer_serial)
{
    x509a_map *map;
    int line = 0;

    /* the same issuer and serial written three ways; the first wins */
    map = parse_ok("issuer-serial \"" TC_INTER_DN "\" 4097 first\n"
                   "issuer-serial \"/C=US/O=Example Corp/CN=Test Issuing CA\" "
                   "0x1001 second\n"
                   "issuer-serial \"cn=test issuing ca, o=EXAMPLE CORP, c=us\" "
                   "10:01 third\n");
    ck_assert_int_eq(x509a_map_count(map), 3);
    ck_assert_str_eq(lookup(map, alice, &line), "first");
    ck_assert_int_eq(line, 1);
    /* the lookalike has the same issuer DN and serial: by name, it maps
     * too (that is what issuer-serial means; pin the CA by certificate) */
    ck_assert_str_eq(lookup(map, fake, NULL), "first");

    map = parse_ok("issuer-serial \"" TC_INTER_DN "\" 4098 other\n");
    ck_assert_ptr_null(lookup(map, alice, NULL));
    map = parse_ok("issuer-serial \"" TC_ROOT_DN "\" 4097 other\n");
    ck_assert_ptr_null(lookup(map, alice, NULL));
}
END_TEST

START_TEST(map_issuer_subject_captures)
{
    x509a_map *map;
    int line = 0;

    map = parse_ok("issuer-subject \"" TC_INTER_DN "\" "
                   "\"^CN=([a-z]+),O=(Example) Corp\" user-$1@$2-$$\n");
    ck_assert_str_eq(lookup(map, alice, &line), "user-alice@Example-$");
    ck_assert_int_eq(line, 1);

    /* a non-matching expression, then one that matches: file order */
    map = parse_ok("issuer-subject \"" TC_INTER_DN "\" \"^CN=bob,\" bob\n"
                   "issuer-subject \"" TC_INTER_DN "\" \"CN=alice\" alice\n"
                   "issuer-subject \"" TC_INTER_DN "\" \"alice\" later\n");
    ck_assert_str_eq(lookup(map, alice, &line), "alice");
    ck_assert_int_eq(line, 2);

    /* another issuer's line never applies */
    map = parse_ok("issuer-subject \"" TC_ROOT_DN "\" \".*\" any\n");
    ck_assert_ptr_null(lookup(map, alice, NULL));
}
END_TEST

/* docs/directives.md: an expression that takes [^,]+ for a value is fooled
 * by an escaped comma; an anchored one with a narrow class is not. */
START_TEST(map_escaped_separator_in_subject)
{
    static const tc_attr subj[] = {
        { "C", "US" }, { "O", "Example Corp" }, { "OU", "Sales" },
        { "OU", "Billing" }, { "CN", "mallory,OU=Billing" }, { NULL }
    };
    tc_spec spec;
    x509a_cert *mallory;
    x509a_map *map;

    memset(&spec, 0, sizeof(spec));
    spec.subject = subj;
    spec.issuer = pki.inter;
    spec.issuer_key = pki.inter_key;
    mallory = x509a_cert_make(tc_pool, tc_cert(tc_pool, &spec, NULL));
    ck_assert_str_eq(x509a_cert_subject(mallory),
                     "CN=mallory\\,OU=Billing,OU=Billing,OU=Sales,"
                     "O=Example Corp,C=US");

    map = parse_ok("issuer-subject \"" TC_INTER_DN "\" "
                   "\"^CN=([^,]+),OU=Billing,\" billing-$1\n");
    ck_assert_str_eq(lookup(map, mallory, NULL), "billing-mallory\\");

    map = parse_ok("issuer-subject \"" TC_INTER_DN "\" "
                   "\"^CN=([a-z0-9.-]+),OU=Billing,O=Example Corp,C=US$\" "
                   "billing-$1\n");
    ck_assert_ptr_null(lookup(map, mallory, NULL));
}
END_TEST

START_TEST(map_first_line_wins_across_kinds)
{
    const char *sha256 = x509a_cert_digest_hex(alice, X509A_DIGEST_SHA256);
    x509a_map *map;
    int line = 0;

    map = parse_ok(apr_pstrcat(tc_pool,
        "issuer-subject \"" TC_INTER_DN "\" \"^CN=alice\" by-subject\n"
        "fingerprint sha256:", sha256, " by-fingerprint\n"
        "issuer-serial \"" TC_INTER_DN "\" 4097 by-serial\n", NULL));
    ck_assert_str_eq(lookup(map, alice, &line), "by-subject");
    ck_assert_int_eq(line, 1);

    map = parse_ok(apr_pstrcat(tc_pool,
        "issuer-serial \"" TC_INTER_DN "\" 4097 by-serial\n"
        "fingerprint sha256:", sha256, " by-fingerprint\n"
        "issuer-subject \"" TC_INTER_DN "\" \"^CN=alice\" by-subject\n", NULL));
    ck_assert_str_eq(lookup(map, alice, &line), "by-serial");
    ck_assert_int_eq(line, 1);

    map = parse_ok(apr_pstrcat(tc_pool,
        "fingerprint sha256:", sha256, " by-fingerprint\n"
        "issuer-serial \"" TC_INTER_DN "\" 4097 by-serial\n", NULL));
    ck_assert_str_eq(lookup(map, alice, &line), "by-fingerprint");
}
END_TEST

START_TEST(map_quoting_and_comments)
{
    x509a_map *map;

    /* \" inside quotes; other backslashes are kept (regex escapes) */
    map = parse_ok("  # indented comment\n"
                   "issuer-subject\t\"" TC_INTER_DN "\"\t\"^CN=al\\.ce\"  "
                   "\"quoted \\\"user\\\"\"   # trailing comment\n"
                   "\r\n");
    ck_assert_int_eq(x509a_map_count(map), 1);
    /* the backslash reached the expression: \. is a dot, not any char */
    ck_assert_ptr_null(lookup(map, alice, NULL));
    map = parse_ok("issuer-subject \"" TC_INTER_DN "\" \"^CN=ali\\w+\" "
                   "\"quoted \\\"user\\\"\"\r\n");
    ck_assert_str_eq(lookup(map, alice, NULL), "quoted \"user\"");
    /* an empty file, only comments */
    map = parse_ok("");
    ck_assert_int_eq(x509a_map_count(map), 0);
    map = parse_ok("# nothing\n\n   \n");
    ck_assert_int_eq(x509a_map_count(map), 0);
}
END_TEST

START_TEST(map_malformed_lines)
{
    parse_bad("bogus x y\n", 1, "unknown rule 'bogus'");
    parse_bad("# ok\nfingerprint zz user\n", 2, "not a fingerprint");
    parse_bad("fingerprint sha256:00 user\n", 1, "64");
    parse_bad("fingerprint\n", 1, "expected: fingerprint");
    parse_bad("fingerprint sha1:0000000000000000000000000000000000000000\n", 1,
              "expected: fingerprint");
    parse_bad("issuer-serial \"CN=x\" 12ab user\n", 1, "0x");
    parse_bad("issuer-serial \"FOO=x\" 1 user\n", 1, "unknown attribute type");
    parse_bad("issuer-serial \"CN=x\" 1\n", 1, "expected: issuer-serial");
    parse_bad("issuer-subject \"CN=x\" \"(\" user\n", 1, "bad regular expression");
    parse_bad("issuer-subject \"CN=x\" \"^(a)\" u-$2\n", 1, "$2");
    parse_bad("issuer-subject \"CN=x\" \"a\" u-$x\n", 1, "$ must be followed");
    parse_bad("issuer-subject \"CN=x\" \"a\n", 1, "unterminated quoted string");
    parse_bad("issuer-subject \"CN=x\"\"a\" u\n", 1, "after a closing quote");
    parse_bad("issuer-subject \"CN=x\" a\"b u\n", 1, "quote inside");
    parse_bad("fingerprint sha256:" "00000000000000000000000000000000"
              "00000000000000000000000000000000 a b c d\n", 1, "too many fields");
    parse_bad("fingerprint sha256:" "00000000000000000000000000000000"
              "00000000000000000000000000000000 \"\"\n", 1, "empty user name");
    parse_bad("fingerprint sha256:" "00000000000000000000000000000000"
              "00000000000000000000000000000000 \"a\tb\"\n", 1, "control character");
    {
        static const char nul[] = "# line one\nfingerprint \0 x\n";
        x509a_map *map;
        const char *err = x509a_map_parse(tc_pool, "t.map", nul, sizeof(nul) - 1,
                                          &ops, &map);
        ck_assert_ptr_nonnull(err);
        ck_assert_msg(strstr(err, "t.map:2: NUL byte") != NULL, "%s", err);
    }
}
END_TEST

START_TEST(map_load_file)
{
    const char *dir = tc_temp_dir(tc_pool);
    const char *path = apr_pstrcat(tc_pool, dir, "/users.map", NULL);
    const char *err;
    x509a_map *map = NULL;

    tc_write_file(path, "issuer-subject \"" TC_INTER_DN "\" \"CN=alice\" a\n",
                  strlen("issuer-subject \"" TC_INTER_DN "\" \"CN=alice\" a\n"));
    err = x509a_map_load(tc_pool, path, &ops, &map);
    ck_assert_msg(err == NULL, "%s", err);
    ck_assert_str_eq(lookup(map, alice, NULL), "a");

    err = x509a_map_load(tc_pool, apr_pstrcat(tc_pool, dir, "/missing.map", NULL),
                         &ops, &map);
    ck_assert_ptr_nonnull(err);
    ck_assert_msg(strstr(err, "cannot read") && strstr(err, "missing.map"), "%s", err);
}
END_TEST

START_TEST(map_large)
{
    /* 100,000 one-to-one lines plus one that matches, last */
    apr_size_t cap = 100001 * 120, len = 0;
    char *text = apr_palloc(tc_pool, cap);
    const char *sha256 = x509a_cert_digest_hex(alice, X509A_DIGEST_SHA256);
    x509a_map *map;
    int i, line = 0;

    for (i = 0; i < 50000; i++) {
        len += (apr_size_t)snprintf(text + len, cap - len,
                                    "fingerprint sha256:%064x user%d\n", i, i);
    }
    for (i = 0; i < 50000; i++) {
        len += (apr_size_t)snprintf(text + len, cap - len,
                                    "issuer-serial \"" TC_INTER_DN "\" 0x%x s%d\n",
                                    0x100000 + i, i);
    }
    len += (apr_size_t)snprintf(text + len, cap - len,
                                "fingerprint sha256:%s alice\n", sha256);
    {
        x509a_map *m = NULL;
        const char *err = x509a_map_parse(tc_pool, "big.map", text, len, &ops, &m);
        ck_assert_msg(err == NULL, "%s", err);
        map = m;
    }
    ck_assert_int_eq(x509a_map_count(map), 100001);
    ck_assert_str_eq(lookup(map, alice, &line), "alice");
    ck_assert_int_eq(line, 100001);
    ck_assert_ptr_null(lookup(map, fake, NULL));
}
END_TEST

Suite *x509a_map_suite(void)
{
    Suite *s = suite_create("x509a_map");
    TCase *tc = tcase_create("map");

    tcase_add_checked_fixture(tc, setup, tc_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, map_fingerprint_sha256_and_sha1);
    tcase_add_test(tc, map_issuer_serial);
    tcase_add_test(tc, map_issuer_subject_captures);
    tcase_add_test(tc, map_escaped_separator_in_subject);
    tcase_add_test(tc, map_first_line_wins_across_kinds);
    tcase_add_test(tc, map_quoting_and_comments);
    tcase_add_test(tc, map_malformed_lines);
    tcase_add_test(tc, map_load_file);
    tcase_add_test(tc, map_large);
    suite_add_tcase(s, tc);
    return s;
}
