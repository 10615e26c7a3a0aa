/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/* X509AuthnUserMap files: x509a_map_parse() on the raw input (not
 * NUL-terminated: the parser takes a length, so reading past it is an ASan
 * report), then x509a_map_lookup() of the fixed leaf and issuing CA.
 *
 * Regular expressions are POSIX <regex.h> (REG_EXTENDED), as ap_regex
 * stands in for httpd.  To keep the time spent in the C library's regex
 * engine (not the code under test) bounded, patterns longer than 128
 * bytes, bounds ({n,m}), back-references and more than four '+' (glibc
 * copies the operand of every '+': "b++++..." grows exponentially) are
 * refused as if invalid. */

#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>

#include "x509a_map.h"
#include "fuzz_common.h"

#define MAX_PATTERN 128

static apr_status_t fz_re_free(void *data)
{
    regfree(data);
    return APR_SUCCESS;
}

static void *fz_re_compile(apr_pool_t *p, const char *pattern, int *ncaptures,
                        const char **err)
{
    regex_t *re;
    const char *s;
    int rc, plus = 0;

    if (strlen(pattern) > MAX_PATTERN) {
        *err = "pattern too long (fuzzing limit)";
        return NULL;
    }
    for (s = pattern; *s; s++) {
        if (*s == '{' || (*s == '\\' && s[1] >= '0' && s[1] <= '9')
            || (*s == '+' && ++plus > 4)) {
            *err = "bounds, back-references or many + refused (fuzzing limit)";
            return NULL;
        }
        if (*s == '\\' && s[1]) {
            s++;
        }
    }
    re = apr_palloc(p, sizeof(*re));
    rc = regcomp(re, pattern, REG_EXTENDED);
    if (rc != 0) {
        char buf[128];
        regerror(rc, re, buf, sizeof(buf));
        *err = apr_pstrdup(p, buf);
        return NULL;
    }
    apr_pool_cleanup_register(p, re, fz_re_free, apr_pool_cleanup_null);
    *ncaptures = (int)re->re_nsub;
    return re;
}

static int fz_re_match(void *re, const char *subject, int nmatch, x509a_match *m)
{
    regmatch_t pm[10];
    int i;

    if (nmatch > 10) {
        fz_fail("x509a_map asked for %d captures", nmatch);
    }
    if (regexec(re, subject, (size_t)nmatch, pm, 0) != 0) {
        return 0;
    }
    for (i = 0; i < nmatch; i++) {
        m[i].so = (int)pm[i].rm_so;
        m[i].eo = (int)pm[i].rm_eo;
    }
    return 1;
}

static const x509a_regex_ops ops = { fz_re_compile, fz_re_match };

static x509a_cert *leaf, *inter;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const fz_pki *pki = fz_fixtures();
    apr_pool_t *gp = fz_init();

    (void)argc;
    (void)argv;
    /* long-lived: lookups read values these objects compute once */
    leaf = x509a_cert_make(gp, pki->leaf);
    inter = x509a_cert_make(gp, pki->inter);
    x509a_cert_describe(leaf);
    x509a_cert_describe(inter);
    x509a_cert_issuer_dn(leaf);
    x509a_cert_issuer_dn(inter);
    x509a_cert_digest(leaf, X509A_DIGEST_SHA1);
    x509a_cert_digest(inter, X509A_DIGEST_SHA1);
    fz_fixture_files_remove();
    return 0;
}

static void lookup(const x509a_map *map, x509a_cert *c, apr_pool_t *p)
{
    int line = -1;
    const char *user = x509a_map_lookup(map, c, p, &line);

    if (user) {
        fz_touch(user);
        if (line < 1) {
            fz_fail("user '%s' from line %d", user, line);
        }
    }
    fz_touch(x509a_map_lookup(map, c, p, NULL));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    x509a_map *map = NULL;
    const char *err;

    apr_pool_create(&p, fz_init());
    err = x509a_map_parse(p, "fuzz.map", (const char *)data, size, &ops, &map);
    if (err) {
        fz_touch(err);
    }
    else {
        fz_sink += (size_t)x509a_map_count(map);
        lookup(map, leaf, p);
        lookup(map, inter, p);
    }
    apr_pool_destroy(p);
    return 0;
}
