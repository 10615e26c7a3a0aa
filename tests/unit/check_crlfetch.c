/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/* x509a_crlfetch: the URLs a certificate names, and verifications with
 * CRLs from the cache directory (no network: the URLs point at a closed
 * loopback port) — used, revoked, a file for another URL, a CRL signed by
 * another key, soft fail, the held-CRL digest and generation, and no fetch
 * at all for a chain that does not verify. */

#include <string.h>
#include <time.h>
#include <check.h>
#include <apr_strings.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "x509a_crlfetch.h"
#include "x509a_reason.h"
#include "testcert.h"
#include "suites.h"

static tc_pki pki;
static const char *dir;

/* nobody listens on port 1 of loopback */
#define URL "http://127.0.0.1:1/inter.crl"

static void crlfetch_setup(void)
{
    tc_setup();
    tc_pki_make(tc_pool, &pki, 1);
    dir = tc_temp_dir(tc_pool);
}

static apr_status_t free_x509(void *data)
{
    X509_free(data);
    return APR_SUCCESS;
}

/* @a x with the extension @a nid = @a value added, signed again (freed
 * with tc_pool). */
static X509 *with_ext(X509 *x, int nid, const char *value, EVP_PKEY *key)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, nid, value);

    ck_assert_ptr_nonnull(ext);
    x = X509_dup(x);
    ck_assert_ptr_nonnull(x);
    apr_pool_cleanup_register(tc_pool, x, free_x509, apr_pool_cleanup_null);
    ck_assert(X509_add_ext(x, ext, -1));
    X509_EXTENSION_free(ext);
    ck_assert(X509_sign(x, key, EVP_sha256()) > 0);
    return x;
}

/* The leaf of the tc_pki naming URL as its distribution point. */
static X509 *leaf_with_dp(const char *url)
{
    return with_ext(pki.leaf, NID_crl_distribution_points,
                    apr_pstrcat(tc_pool, "URI:", url, NULL), pki.inter_key);
}

/* A cache-directory file for @a url holding @a crl (no trailing check). */
static void cache_file(const char *url, X509_CRL *crl)
{
    unsigned char md[32];
    unsigned int mdlen, i;
    char hex[65];
    const char *text;

    EVP_Digest(url, strlen(url), md, &mdlen, EVP_sha256(), NULL);
    for (i = 0; i < 32; i++) {
        apr_snprintf(hex + 2 * i, 3, "%02x", md[i]);
    }
    text = apr_pstrcat(tc_pool, "X509Authn-CRL-Cache: 1\nURL: ", url, "\n",
                       tc_crl_pem(tc_pool, crl), NULL);
    tc_write_file(apr_pstrcat(tc_pool, dir, "/", hex, ".crl", NULL), text,
                  strlen(text));
}

static x509a_verifier *verifier(void)
{
    x509a_verify_conf conf;
    x509a_verifier *v;
    const char *err;

    memset(&conf, 0, sizeof(conf));
    conf.ca_file = tc_pem_file(tc_pool, pki.root, NULL);
    conf.depth = -1;
    err = x509a_verifier_create(tc_pool, &conf, &v);
    ck_assert_msg(err == NULL, "%s", err);
    return v;
}

static x509a_crlstore *store(void)
{
    x509a_crlstore_conf conf;
    x509a_crlstore *st;
    const char *err;

    memset(&conf, 0, sizeof(conf));
    conf.cache_dir = dir;
    conf.timeout = 2;
    err = x509a_crlstore_create(tc_pool, &conf, &st);
    ck_assert_msg(err == NULL, "%s", err);
    return st;
}

static int check(x509a_verifier *v, x509a_crlstore *st, int soft, X509 *leaf,
                 X509 *inter, const char **why, x509a_verify_info *info,
                 x509a_crlfetch_info *finfo)
{
    x509a_crlfetch_policy pol;

    pol.max_stale = 0;
    pol.soft_fail = soft;
    *why = NULL;
    return x509a_crlfetch_check(v, st, &pol, tc_pool, leaf,
                                tc_stack(tc_pool, inter, NULL), NULL, why,
                                info, finfo);
}

START_TEST(crlfetch_urls)
{
    X509 *x = with_ext(pki.leaf, NID_crl_distribution_points,
                       "URI:ldap://ldap.example/cn=CA?certificateRevocationList,"
                       "URI:http://a.example/b.crl,URI:http://a.example/c.crl",
                       pki.inter_key);
    apr_array_header_t *urls = x509a_crl_urls(tc_pool, x, 0);

    /* (one distribution point per name in this syntax) ldap skipped */
    ck_assert_int_eq(urls->nelts, 2);
    ck_assert_str_eq(APR_ARRAY_IDX(urls, 0, const char *),
                     "http://a.example/b.crl");
    ck_assert_str_eq(APR_ARRAY_IDX(urls, 1, const char *),
                     "http://a.example/c.crl");
    ck_assert_int_eq(x509a_crl_urls(tc_pool, x, 1)->nelts, 0);
    x = with_ext(x, NID_freshest_crl, "URI:https://d.example/delta.crl",
                 pki.inter_key);
    urls = x509a_crl_urls(tc_pool, x, 1);
    ck_assert_int_eq(urls->nelts, 1);
    ck_assert_str_eq(APR_ARRAY_IDX(urls, 0, const char *),
                     "https://d.example/delta.crl");
    ck_assert_int_eq(x509a_crl_urls(tc_pool, pki.leaf, 0)->nelts, 0);
    x = with_ext(pki.leaf, NID_crl_distribution_points,
                 "URI:ftp://x.example/a.crl", pki.inter_key);
    ck_assert_int_eq(x509a_crl_urls(tc_pool, x, 0)->nelts, 0);
}
END_TEST

START_TEST(crlfetch_from_cache_dir)
{
    x509a_verifier *v = verifier();
    x509a_crlstore *st = store();
    X509 *leaf = leaf_with_dp(URL);
    x509a_verify_info info;
    x509a_crlfetch_info finfo;
    unsigned char d0[32], d1[32];
    const char *why;
    time_t now = time(NULL);
    unsigned int g0 = x509a_crlstore_generation(st);

    x509a_crlstore_digest(st, d0);
    cache_file(URL, tc_crl(tc_pool, pki.inter, pki.inter_key, 0,
                           now + 3600, "2000", (char *)NULL));
    ck_assert_msg(check(v, st, 0, leaf, pki.inter, &why, &info, &finfo),
                  "%s", why);
    ck_assert_int_eq(finfo.used, 1);
    ck_assert_int_eq(finfo.fetched, 1);
    ck_assert(!finfo.unknown);
    ck_assert(finfo.consistent);
    /* bounded by the CRL's nextUpdate */
    ck_assert(finfo.bound == apr_time_from_sec(now + 3600));
    x509a_crlstore_digest(st, d1);
    ck_assert(memcmp(d0, d1, 32) != 0);
    ck_assert(memcmp(finfo.digest, d1, 32) == 0);
    ck_assert_uint_eq(x509a_crlstore_generation(st), g0 + 1);
    /* kept: the second verification takes it from memory */
    ck_assert(check(v, st, 0, leaf, pki.inter, &why, &info, &finfo));
    ck_assert_int_eq(finfo.fetched, 0);
    ck_assert_int_eq(finfo.used, 1);

    /* a CRL revoking the leaf, in a new store */
    cache_file(URL, tc_crl(tc_pool, pki.inter, pki.inter_key, 0, 0, "1001",
                           (char *)NULL));
    st = store();
    ck_assert(!check(v, st, 1, leaf, pki.inter, &why, &info, &finfo));
    ck_assert_str_eq(info.reason, X509A_REASON_REVOKED);
    ck_assert(tc_contains(why, "certificate revoked"));
}
END_TEST

START_TEST(crlfetch_unusable_files)
{
    x509a_verifier *v = verifier();
    X509 *leaf = leaf_with_dp(URL);
    x509a_verify_info info;
    x509a_crlfetch_info finfo;
    const char *why;
    int i;

    for (i = 0; i < 3; i++) {
        x509a_crlstore *st;

        if (i == 0) {
            /* another URL's file under this URL's name: ignored */
            cache_file(URL, tc_crl(tc_pool, pki.inter, pki.inter_key, 0, 0,
                                   (char *)NULL));
            {
                /* rewrite it naming another URL */
                unsigned char md[32];
                unsigned int mdlen, k;
                char hex[65];
                const char *text = apr_pstrcat(
                    tc_pool, "X509Authn-CRL-Cache: 1\nURL: http://other/\n",
                    tc_crl_pem(tc_pool, tc_crl(tc_pool, pki.inter,
                                               pki.inter_key, 0, 0,
                                               (char *)NULL)), NULL);

                EVP_Digest(URL, strlen(URL), md, &mdlen, EVP_sha256(), NULL);
                for (k = 0; k < 32; k++) {
                    apr_snprintf(hex + 2 * k, 3, "%02x", md[k]);
                }
                tc_write_file(apr_pstrcat(tc_pool, dir, "/", hex, ".crl",
                                          NULL), text, strlen(text));
            }
        }
        else if (i == 1) {
            /* signed by another key with the issuer's name */
            EVP_PKEY *other = tc_key(tc_pool);

            cache_file(URL, tc_crl(tc_pool, pki.inter, other, 0, 0,
                                   (char *)NULL));
        }
        else {
            /* stale */
            cache_file(URL, tc_crl(tc_pool, pki.inter, pki.inter_key,
                                   time(NULL) - 7200, time(NULL) - 60,
                                   (char *)NULL));
        }
        st = store();
        ck_assert_msg(!check(v, st, 0, leaf, pki.inter, &why, &info, &finfo),
                      "file %d used", i);
        ck_assert_str_eq(info.reason, X509A_REASON_REVOCATION_UNKNOWN);
        ck_assert(finfo.unknown);
        ck_assert_str_eq(finfo.unknown_url, URL);
        ck_assert(finfo.retry_at > 0);
        ck_assert_int_eq(finfo.used, 0);
        ck_assert_msg(tc_contains(why, "revocation status unknown: CRL "
                                  URL), "%s", why);
        /* soft fail: accepted, and said so */
        st = store();
        ck_assert(check(v, st, 1, leaf, pki.inter, &why, &info, &finfo));
        ck_assert(finfo.unknown && finfo.soft_accepted);
    }
}
END_TEST

START_TEST(crlfetch_unverified_chain)
{
    x509a_verifier *v = verifier();
    x509a_crlstore *st = store();
    X509 *fake = with_ext(pki.fake_leaf, NID_crl_distribution_points,
                          "URI:" URL, pki.inter_key);
    x509a_verify_info info;
    x509a_crlfetch_info finfo;
    const char *why;

    ck_assert(!check(v, st, 1, fake, pki.fake_inter, &why, &info, &finfo));
    ck_assert_int_eq(finfo.fetched, 0);
    ck_assert(!finfo.unknown);
    ck_assert_str_eq(info.reason, X509A_REASON_CHAIN_INVALID);
}
END_TEST

START_TEST(crlfetch_no_distribution_point)
{
    /* nothing named, no CRL file: not checked */
    x509a_verifier *v = verifier();
    x509a_crlstore *st = store();
    x509a_verify_info info;
    x509a_crlfetch_info finfo;
    const char *why;

    ck_assert_msg(check(v, st, 0, pki.leaf, pki.inter, &why, &info, &finfo),
                  "%s", why);
    ck_assert_int_eq(finfo.used, 0);
    ck_assert_int_eq(finfo.fetched, 0);
    ck_assert(finfo.bound == APR_INT64_MAX);
}
END_TEST

Suite *x509a_crlfetch_suite(void)
{
    Suite *s = suite_create("x509a_crlfetch");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, crlfetch_setup, tc_teardown);
    tcase_add_test(tc, crlfetch_urls);
    tcase_add_test(tc, crlfetch_from_cache_dir);
    tcase_add_test(tc, crlfetch_unusable_files);
    tcase_add_test(tc, crlfetch_unverified_chain);
    tcase_add_test(tc, crlfetch_no_distribution_point);
    suite_add_tcase(s, tc);
    return s;
}
