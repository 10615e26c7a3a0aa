/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/* x509a_decode: certificates forwarded by proxies in header values, in
 * every dialect the module accepts, and the values it must refuse. */

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <check.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/x509.h>

#include "x509a_decode.h"
#include "x509a_cert.h"
#include "testcert.h"
#include "suites.h"

#define MAX_LEN 65536

static tc_pki pki;

static void decode_setup(void)
{
    tc_setup();
    tc_pki_make(tc_pool, &pki, 1);
}

/* ---------------------------------------------------------------------- */
/* Building header values                                                  */
/* ---------------------------------------------------------------------- */

/* Percent-encode every byte outside the RFC 3986 unreserved characters
 * and @a safe: nginx $ssl_client_escaped_cert with safe NULL, AWS ALB and
 * Cloudflare with safe "+=/". */
static char *pct(const char *s, const char *safe, int lower)
{
    const char *hex = lower ? "0123456789abcdef" : "0123456789ABCDEF";
    char *out = apr_palloc(tc_pool, 3 * strlen(s) + 1), *o = out;

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (apr_isalnum(c) || strchr("-._~", c) || (safe && strchr(safe, c))) {
            *o++ = (char)c;
        }
        else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o = '\0';
    return out;
}

/* @a s with every @a from replaced by @a to. */
static char *replace(const char *s, const char *from, const char *to)
{
    char *out = "";
    const char *hit;

    while ((hit = strstr(s, from)) != NULL) {
        out = apr_pstrcat(tc_pool, out, apr_pstrndup(tc_pool, s, hit - s), to,
                          NULL);
        s = hit + strlen(from);
    }
    return apr_pstrcat(tc_pool, out, s, NULL);
}

static char *pem(X509 *x)
{
    return tc_cert_pem(tc_pool, x);
}

static char *b64(X509 *x)
{
    return tc_cert_base64(tc_pool, x);
}

/* The base64 lines between the armour lines of a PEM text. */
static char *pem_body(const char *text)
{
    const char *b = strchr(text, '\n') + 1, *e = strstr(text, "-----END");

    return apr_pstrndup(tc_pool, b, e - b);
}

/* PEM armour around base64 text. */
static char *armour(const char *base64)
{
    return apr_pstrcat(tc_pool, "-----BEGIN CERTIFICATE-----\n", base64,
                       "\n-----END CERTIFICATE-----\n", NULL);
}

/* Base64 of the DER of @a x, with @a cut bytes removed from its end and
 * @a extra_len bytes of @a extra appended. */
static char *b64_der_edit(X509 *x, size_t cut, const char *extra,
                          size_t extra_len)
{
    size_t len;
    unsigned char *der = tc_cert_der(tc_pool, x, &len);
    unsigned char *buf = apr_palloc(tc_pool, len + extra_len + 1);

    memcpy(buf, der, len - cut);
    memcpy(buf + len - cut, extra, extra_len);
    return tc_base64(tc_pool, buf, len - cut + extra_len);
}

/* A certificate issued by pki.inter whose base64 holds '+', '/' and '='
 * padding (to show that a literal '+' of a URL-encoded value stays '+'). */
static X509 *cert_with_specials(void)
{
    static const tc_attr dn[] = { { "CN", "plus" }, { NULL } };
    tc_spec s = { 0 };
    int i;

    s.subject = dn;
    s.issuer = pki.inter;
    s.issuer_key = pki.inter_key;
    for (i = 0; i < 50; i++) {
        X509 *x = tc_cert(tc_pool, &s, NULL);
        const char *text = b64(x);

        if (strchr(text, '+') && strchr(text, '/') && strchr(text, '=')) {
            return x;
        }
    }
    ck_abort_msg("no certificate with '+', '/' and '=' in its base64");
    return NULL;
}

/* ---------------------------------------------------------------------- */
/* Checking results                                                        */
/* ---------------------------------------------------------------------- */

static int nchain(STACK_OF(X509) *sk)
{
    return sk ? sk_X509_num(sk) : 0;
}

/* x509a_decode_leaf_der() agrees with x509a_decode_leaf() on @a value:
 * accepted by the full decoder, the DER step finds the bytes of the same
 * certificates in the same order; refused by it, the DER step refuses too
 * or one of the bytes it found is refused by x509a_decode_der().  XFCC
 * values are declined (unsupported).  Returns the DER step's answer. */
static const char *der_agrees(const char *what, const char *value,
                              x509a_format fmt, const char *err,
                              const x509a_forwarded *full)
{
    x509a_forwarded_der d;
    const char *derr;
    int i, n, bad = 0;

    memset(&d, 0x5a, sizeof(d));
    derr = x509a_decode_leaf_der(tc_pool, value, fmt, MAX_LEN, &d);
    if (!derr && d.unsupported) {
        ck_assert_msg(fmt == X509A_FMT_XFCC || fmt == X509A_FMT_XFCC_APPEND
                      || fmt == X509A_FMT_AUTO,
                      "%s (%s): DER step declines", what,
                      x509a_format_name(fmt));
        return NULL;
    }
    ck_assert_msg((fmt != X509A_FMT_XFCC && fmt != X509A_FMT_XFCC_APPEND)
                  || derr || !d.leaf.der,
                  "%s (%s): DER step does not decline XFCC", what,
                  x509a_format_name(fmt));
    if (derr) {
        ck_assert_msg(err != NULL, "%s (%s): DER step refuses (%s) what the "
                      "decoder accepts", what, x509a_format_name(fmt), derr);
        return derr;
    }
    n = d.leaf.der ? 1 + (d.chain ? d.chain->nelts : 0) : 0;
    for (i = 0; i < n; i++) {
        const x509a_der *b = i == 0 ? &d.leaf
                                    : &APR_ARRAY_IDX(d.chain, i - 1,
                                                     x509a_der);
        X509 *x = NULL;

        if (x509a_decode_der(b->der, b->len, &x)) {
            bad = 1;
            continue;
        }
        if (!err) {
            X509 *want = i == 0 ? full->leaf
                                : sk_X509_value(full->chain, i - 1);
            ck_assert_msg(want && X509_cmp(x, want) == 0,
                          "%s (%s): certificate %d differs", what,
                          x509a_format_name(fmt), i);
        }
        X509_free(x);
    }
    if (!err) {
        ck_assert_msg(!bad && n == (full->leaf ? 1 + nchain(full->chain) : 0),
                      "%s (%s): DER step found %d certificates", what,
                      x509a_format_name(fmt), n);
    }
    else {
        ck_assert_msg(bad, "%s (%s): decoder refuses (%s) what the DER step "
                      "and x509a_decode_der() accept", what,
                      x509a_format_name(fmt), err);
    }
    return NULL;
}

/* @a value decodes (format @a fmt) to @a leaf with @a n intermediates. */
static x509a_forwarded expect_leaf(const char *what, const char *value,
                                   x509a_format fmt, X509 *leaf, int n)
{
    x509a_forwarded f;
    const char *err;

    memset(&f, 0x5a, sizeof(f));
    err = x509a_decode_leaf(tc_pool, value, fmt, MAX_LEN, &f);
    ck_assert_msg(err == NULL, "%s (%s): refused: %s\nvalue: [%s]", what,
                  x509a_format_name(fmt), err, value);
    ck_assert_msg(f.leaf != NULL, "%s (%s): no certificate", what,
                  x509a_format_name(fmt));
    ck_assert_msg(X509_cmp(f.leaf, leaf) == 0, "%s (%s): another certificate",
                  what, x509a_format_name(fmt));
    ck_assert_msg(nchain(f.chain) == n, "%s (%s): %d intermediates, expected %d",
                  what, x509a_format_name(fmt), nchain(f.chain), n);
    der_agrees(what, value, fmt, err, &f);
    return f;
}

/* @a value is refused (format @a fmt), for a reason containing @a reason
 * (unless NULL). */
static const char *expect_refused(const char *what, const char *value,
                                  x509a_format fmt, const char *reason)
{
    x509a_forwarded f;
    const char *err;

    memset(&f, 0x5a, sizeof(f));
    err = x509a_decode_leaf(tc_pool, value, fmt, MAX_LEN, &f);
    ck_assert_msg(err != NULL, "%s (%s): accepted\nvalue: [%s]", what,
                  x509a_format_name(fmt), value);
    ck_assert_msg(f.leaf == NULL, "%s (%s): refused but a leaf is set", what,
                  x509a_format_name(fmt));
    der_agrees(what, value, fmt, err, &f);
    if (reason) {
        ck_assert_msg(tc_contains(err, reason),
                      "%s (%s): reason '%s' does not say '%s'", what,
                      x509a_format_name(fmt), err, reason);
    }
    return err;
}

/* @a value means "no certificate" in format @a fmt. */
static void expect_none(const char *value, x509a_format fmt)
{
    x509a_forwarded f;
    const char *err;

    memset(&f, 0x5a, sizeof(f));
    err = x509a_decode_leaf(tc_pool, value, fmt, MAX_LEN, &f);
    ck_assert_msg(err == NULL, "[%s] (%s): refused: %s", value,
                  x509a_format_name(fmt), err);
    ck_assert_msg(f.leaf == NULL && f.chain == NULL,
                  "[%s] (%s): not \"no certificate\"", value,
                  x509a_format_name(fmt));
    der_agrees(value, value, fmt, err, &f);
    {
        x509a_forwarded_der d;

        ck_assert(x509a_decode_leaf_der(tc_pool, value, fmt, MAX_LEN, &d)
                  == NULL);
        ck_assert(d.leaf.der == NULL && d.chain == NULL);
    }
}

/* x509a_decode_chain of @a value appends @a n certificates (the
 * NULL-terminated @a expected, in order) to a new stack. */
static STACK_OF(X509) *expect_chain(const char *what, const char *value,
                                    X509 *const *expected)
{
    STACK_OF(X509) *sk = tc_stack(tc_pool, NULL);
    const char *err = x509a_decode_chain(tc_pool, value, MAX_LEN, sk);
    int i;

    ck_assert_msg(err == NULL, "%s: refused: %s\nvalue: [%s]", what, err,
                  value);
    for (i = 0; expected[i]; i++) {
        ck_assert_msg(i < sk_X509_num(sk), "%s: %d certificates, expected more",
                      what, sk_X509_num(sk));
        ck_assert_msg(X509_cmp(sk_X509_value(sk, i), expected[i]) == 0,
                      "%s: certificate %d differs", what, i);
    }
    ck_assert_msg(sk_X509_num(sk) == i, "%s: %d certificates, expected %d",
                  what, sk_X509_num(sk), i);
    {
        /* the DER step finds the bytes of the same certificates */
        apr_array_header_t *d = apr_array_make(tc_pool, 2, sizeof(x509a_der));

        ck_assert_msg(x509a_decode_chain_der(tc_pool, value, MAX_LEN, d)
                      == NULL, "%s: DER step refuses", what);
        ck_assert_int_eq(d->nelts, i);
        for (i = 0; i < d->nelts; i++) {
            X509 *x = NULL;

            ck_assert_ptr_null(x509a_decode_der(
                APR_ARRAY_IDX(d, i, x509a_der).der,
                APR_ARRAY_IDX(d, i, x509a_der).len, &x));
            ck_assert_int_eq(X509_cmp(x, expected[i]), 0);
            X509_free(x);
        }
    }
    return sk;
}

static const char *expect_chain_refused(const char *what, const char *value,
                                        const char *reason)
{
    STACK_OF(X509) *sk = tc_stack(tc_pool, NULL);
    const char *err = x509a_decode_chain(tc_pool, value, MAX_LEN, sk);

    ck_assert_msg(err != NULL, "%s: accepted\nvalue: [%s]", what, value);
    if (reason) {
        ck_assert_msg(tc_contains(err, reason),
                      "%s: reason '%s' does not say '%s'", what, err, reason);
    }
    {
        /* the DER step refuses it, or finds bytes that do not decode */
        apr_array_header_t *d = apr_array_make(tc_pool, 2, sizeof(x509a_der));
        int i, bad = 0;

        if (!x509a_decode_chain_der(tc_pool, value, MAX_LEN, d)) {
            for (i = 0; i < d->nelts; i++) {
                X509 *x = NULL;

                if (x509a_decode_der(APR_ARRAY_IDX(d, i, x509a_der).der,
                                     APR_ARRAY_IDX(d, i, x509a_der).len,
                                     &x)) {
                    bad = 1;
                }
                X509_free(x);
            }
            ck_assert_msg(bad, "%s: the DER step accepts it", what);
        }
    }
    return err;
}

static const x509a_format all_formats[] = {
    X509A_FMT_AUTO, X509A_FMT_PEM, X509A_FMT_DER_BASE64, X509A_FMT_LIST,
    X509A_FMT_RFC9440, X509A_FMT_XFCC, X509A_FMT_XFCC_APPEND
};
#define N_FORMATS ((int)(sizeof(all_formats) / sizeof(all_formats[0])))

/* ---------------------------------------------------------------------- */
/* Format names                                                            */
/* ---------------------------------------------------------------------- */

START_TEST(decode_format_names)
{
    static const struct {
        const char *name;
        x509a_format fmt;
    } names[] = {
        { "auto", X509A_FMT_AUTO }, { "AUTO", X509A_FMT_AUTO },
        { "pem", X509A_FMT_PEM }, { "Pem", X509A_FMT_PEM },
        { "der-base64", X509A_FMT_DER_BASE64 },
        { "DER-Base64", X509A_FMT_DER_BASE64 },
        { "list", X509A_FMT_LIST }, { "LIST", X509A_FMT_LIST },
        { "rfc9440", X509A_FMT_RFC9440 }, { "RFC9440", X509A_FMT_RFC9440 },
        { "xfcc", X509A_FMT_XFCC }, { "XfCc", X509A_FMT_XFCC },
        { "xfcc-append", X509A_FMT_XFCC_APPEND },
        { "XFCC-Append", X509A_FMT_XFCC_APPEND },
    };
    static const char *const bad[] = {
        "", "base64", "der", "der_base64", "derbase64", "pem ", " pem",
        "rfc-9440", "rfc8941", "x-forwarded-client-cert", "lists", "autos",
        "xfcc_append", "xfcc-last", "append", NULL
    };
    x509a_format fmt;
    int i;

    for (i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++) {
        const char *err;

        fmt = (x509a_format)-1;
        err = x509a_format_parse(names[i].name, &fmt);
        ck_assert_msg(err == NULL, "'%s' refused: %s", names[i].name, err);
        ck_assert_msg(fmt == names[i].fmt, "'%s' parsed as %d", names[i].name,
                      (int)fmt);
    }
    for (i = 0; bad[i]; i++) {
        const char *err = x509a_format_parse(bad[i], &fmt);
        ck_assert_msg(err != NULL, "'%s' accepted as a format", bad[i]);
        ck_assert_msg(tc_contains(err, "not a header format"),
                      "'%s': reason '%s'", bad[i], err);
    }
    ck_assert_str_eq(x509a_format_name(X509A_FMT_AUTO), "auto");
    ck_assert_str_eq(x509a_format_name(X509A_FMT_PEM), "pem");
    ck_assert_str_eq(x509a_format_name(X509A_FMT_DER_BASE64), "der-base64");
    ck_assert_str_eq(x509a_format_name(X509A_FMT_LIST), "list");
    ck_assert_str_eq(x509a_format_name(X509A_FMT_RFC9440), "rfc9440");
    ck_assert_str_eq(x509a_format_name(X509A_FMT_XFCC), "xfcc");
    ck_assert_str_eq(x509a_format_name(X509A_FMT_XFCC_APPEND), "xfcc-append");
    for (i = 0; i < N_FORMATS; i++) {
        const char *err = x509a_format_parse(
            x509a_format_name(all_formats[i]), &fmt);
        ck_assert_ptr_null(err);
        ck_assert_int_eq(fmt, all_formats[i]);
    }
}
END_TEST

/* ---------------------------------------------------------------------- */
/* PEM and its encodings                                                   */
/* ---------------------------------------------------------------------- */

START_TEST(decode_pem_plain)
{
    const char *text = pem(pki.leaf);

    ck_assert_msg(strncmp(text, "-----BEGIN CERTIFICATE-----\n", 28) == 0,
                  "PEM helper: %s", text);
    expect_leaf("PEM", text, X509A_FMT_AUTO, pki.leaf, 0);
    expect_leaf("PEM", text, X509A_FMT_PEM, pki.leaf, 0);
    expect_leaf("PEM without final newline",
                apr_pstrndup(tc_pool, text, strlen(text) - 1), X509A_FMT_AUTO,
                pki.leaf, 0);
    expect_leaf("PEM with CRLF", replace(text, "\n", "\r\n"), X509A_FMT_AUTO,
                pki.leaf, 0);
    expect_leaf("PEM with OWS around",
                apr_pstrcat(tc_pool, " \t ", text, " \t", NULL),
                X509A_FMT_AUTO, pki.leaf, 0);
    expect_leaf("PEM of the root", pem(pki.root), X509A_FMT_PEM, pki.root, 0);
}
END_TEST

START_TEST(decode_pem_url_nginx)
{
    X509 *x = cert_with_specials();
    const char *text = pem(x), *enc = pct(text, NULL, 0);

    /* what nginx $ssl_client_escaped_cert looks like */
    ck_assert_msg(strncmp(enc, "-----BEGIN%20CERTIFICATE-----%0A", 32) == 0,
                  "encoding: %s", enc);
    ck_assert(tc_contains(enc, "%2B"));
    ck_assert(tc_contains(enc, "%2F"));
    ck_assert(tc_contains(enc, "%3D%0A-----END"));
    ck_assert(!strchr(enc, '+') && !strchr(enc, '/') && !strchr(enc, ' ')
              && !strchr(enc, '\n'));
    ck_assert(tc_contains(enc, "-----END%20CERTIFICATE-----%0A"));
    expect_leaf("nginx escaped PEM", enc, X509A_FMT_AUTO, x, 0);
    expect_leaf("nginx escaped PEM", enc, X509A_FMT_PEM, x, 0);
    expect_leaf("escaped PEM, lowercase hex", pct(text, NULL, 1),
                X509A_FMT_AUTO, x, 0);
    enc = pct(pem(pki.leaf), NULL, 0);
    expect_leaf("nginx escaped PEM (alice)", enc, X509A_FMT_AUTO, pki.leaf, 0);
}
END_TEST

START_TEST(decode_pem_url_plus_stays)
{
    X509 *x = cert_with_specials();
    const char *text = pem(x), *enc = pct(text, "+=/", 0);

    /* AWS ALB X-Amzn-Mtls-Clientcert, Cloudflare: '+', '=' and '/' as they
     * are; a '+' is a '+', not a space */
    ck_assert(strchr(enc, '+') && strchr(enc, '/') && strchr(enc, '='));
    ck_assert(tc_contains(enc, "-----BEGIN%20CERTIFICATE-----%0A"));
    expect_leaf("ALB escaped PEM", enc, X509A_FMT_AUTO, x, 0);
    expect_leaf("ALB escaped PEM", enc, X509A_FMT_PEM, x, 0);
    /* the same with the '+' taken as a space is not that certificate */
    expect_refused("'+' as a space", replace(enc, "+", "%20"), X509A_FMT_AUTO,
                   NULL);
    /* '+' also stays in base64 DER that went through URL encoding */
    expect_leaf("escaped base64 DER with '+'", pct(b64(x), "+/=", 0),
                X509A_FMT_DER_BASE64, x, 0);
    expect_leaf("escaped base64 DER with '+'", pct(b64(x), "+/", 0),
                X509A_FMT_AUTO, x, 0);
}
END_TEST

START_TEST(decode_pem_spaces)
{
    const char *text = pem(pki.leaf);
    const char *spaced = replace(text, "\n", " ");

    /* mod_headers / proxies turning line breaks into spaces */
    ck_assert(!strchr(spaced, '\n'));
    expect_leaf("PEM with spaces", spaced, X509A_FMT_AUTO, pki.leaf, 0);
    expect_leaf("PEM with spaces", spaced, X509A_FMT_PEM, pki.leaf, 0);
    expect_leaf("PEM with double spaces", replace(text, "\n", "  "),
                X509A_FMT_AUTO, pki.leaf, 0);
    /* and URL-encoded afterwards */
    expect_leaf("escaped PEM with spaces", pct(spaced, NULL, 0),
                X509A_FMT_AUTO, pki.leaf, 0);
}
END_TEST

START_TEST(decode_pem_tabs)
{
    const char *text = pem(pki.leaf);
    /* old nginx $ssl_client_cert: every line but the first starts with a
     * TAB (obs-fold); httpd may hand it on as is, as space + TAB, or with
     * the line breaks dropped */
    const char *folded = replace(apr_pstrndup(tc_pool, text, strlen(text) - 1),
                                 "\n", "\n\t");

    ck_assert(tc_contains(folded, "\n\t-----END CERTIFICATE-----"));
    expect_leaf("tab-folded PEM", folded, X509A_FMT_AUTO, pki.leaf, 0);
    expect_leaf("tab-folded PEM", folded, X509A_FMT_PEM, pki.leaf, 0);
    expect_leaf("PEM with space+TAB", replace(folded, "\n\t", " \t"),
                X509A_FMT_AUTO, pki.leaf, 0);
    expect_leaf("PEM with space+TAB", replace(folded, "\n\t", " \t"),
                X509A_FMT_PEM, pki.leaf, 0);
    expect_leaf("PEM with TABs", replace(folded, "\n\t", "\t"),
                X509A_FMT_AUTO, pki.leaf, 0);
    expect_leaf("PEM with TABs", replace(text, "\n", "\t"), X509A_FMT_PEM,
                pki.leaf, 0);
}
END_TEST

START_TEST(decode_der_base64)
{
    const char *v = b64(pki.leaf);

    /* HAProxy ssl_c_der,base64; BIG-IP; Azure */
    ck_assert(strncmp(v, "MII", 3) == 0 && !strchr(v, '\n'));
    expect_leaf("base64 DER", v, X509A_FMT_AUTO, pki.leaf, 0);
    expect_leaf("base64 DER", v, X509A_FMT_DER_BASE64, pki.leaf, 0);
    expect_leaf("base64 DER with OWS",
                apr_pstrcat(tc_pool, "  ", v, "\t ", NULL),
                X509A_FMT_DER_BASE64, pki.leaf, 0);
    expect_leaf("base64 DER of the intermediate", b64(pki.inter),
                X509A_FMT_AUTO, pki.inter, 0);
    /* the DER-base64 format is not PEM */
    expect_refused("PEM given as der-base64", pem(pki.leaf),
                   X509A_FMT_DER_BASE64, "bad base64");
}
END_TEST

static int provider_is_plain(OSSL_PROVIDER *prov, void *arg)
{
    const char *name = OSSL_PROVIDER_get0_name(prov);

    (void)arg;
    return !strcmp(name, "default") || !strcmp(name, "base");
}

/* x509a_d2i_x509() decodes in a library context of its own; issuers
 * come from the default one (the trust store): signatures still check,
 * both ways, and a decode failure is NULL. */
START_TEST(decode_context_of_its_own)
{
    const OSSL_PROVIDER *prov = tc_check_d2i_x509(tc_pool, &pki);

    /* with OpenSSL's plain configuration (default provider, no FIPS) the
     * key really is another context's: providers belong to one context */
    if (!EVP_default_properties_is_fips_enabled(NULL)
        && OSSL_PROVIDER_do_all(NULL, provider_is_plain, NULL)) {
        ck_assert_ptr_ne(prov,
                         EVP_PKEY_get0_provider(X509_get0_pubkey(pki.leaf)));
    }
}
END_TEST

/* The reference x509a_base64_decode() must agree with: classify each
 * byte, drop white space, then EVP_DecodeBlock() (what the decoder did
 * before it decoded in one pass). */
static const char *b64_reference(apr_pool_t *p, const char *s, size_t len,
                                 unsigned char **out, size_t *out_len)
{
    char *clean = apr_palloc(p, len + 1);
    size_t i, n = 0, pad = 0;
    int got;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            continue;
        }
        if (c == '=') {
            pad++;
            clean[n++] = (char)c;
        }
        else if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
                 || (c >= '0' && c <= '9') || c == '+' || c == '/') {
            if (pad) {
                return "data after base64 padding";
            }
            clean[n++] = (char)c;
        }
        else {
            return pad ? "data after base64 padding" : "bad base64";
        }
    }
    if (n == 0 || n % 4 || pad > 2) {
        return "bad base64 length";
    }
    *out = apr_palloc(p, n / 4 * 3 + 1);
    got = EVP_DecodeBlock(*out, (const unsigned char *)clean, (int)n);
    if (got < 0) {
        return "bad base64";
    }
    *out_len = (size_t)got - pad;
    return NULL;
}

START_TEST(decode_base64_one_pass)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    static const char odd[] = " \t\r\n=-_.,:*\"\x80\xff";
    static const char *const refused[][2] = {
        {"QQ=A", "data after base64 padding"},
        {"QQ==\x01", "data after base64 padding"},
        {"Q===", "bad base64 length"},
        {"QUJ", "bad base64 length"},
        {"  ", "bad base64 length"},
        {"QU-D", "bad base64"}
    };
    unsigned int seed = 12345, round;
    unsigned char *b;
    apr_size_t alen;
    char s[64];

    for (round = 0; round < 200000; round++) {
        size_t len = 0, want = (seed = seed * 1103515245 + 12345) % 60, i;
        unsigned char *a = NULL;
        size_t blen = 0;
        const char *ea, *eb;

        for (i = 0; i < want; i++) {
            seed = seed * 1103515245 + 12345;
            s[len++] = (seed >> 8) % 5 ? alphabet[(seed >> 16) % 64]
                                       : odd[(seed >> 16) % (sizeof(odd) - 1)];
        }
        if (round & 1) {
            /* mostly well-formed: pad to a group of four */
            while (len % 4 && len < sizeof(s) - 1) {
                s[len++] = '=';
            }
        }
        b = NULL;
        alen = 0;
        ea = x509a_base64_decode(tc_pool, s, len, &a, &alen);
        eb = b64_reference(tc_pool, s, len, &b, &blen);
        if (ea || eb) {
            ck_assert_msg(ea && eb && !strcmp(ea, eb),
                          "round %u: \"%.*s\": %s, reference %s", round,
                          (int)len, s, ea ? ea : "ok", eb ? eb : "ok");
            continue;
        }
        ck_assert_uint_eq(alen, blen);
        ck_assert(memcmp(a, b, alen) == 0);
    }
    /* the edges by hand */
    ck_assert_ptr_null(x509a_base64_decode(tc_pool, "QQ==", 4, &b, &alen));
    ck_assert_uint_eq(alen, 1);
    ck_assert_int_eq(b[0], 'A');
    ck_assert_ptr_null(x509a_base64_decode(tc_pool, " QU\nJD ", 7, &b, &alen));
    ck_assert_uint_eq(alen, 3);
    ck_assert(memcmp(b, "ABC", 3) == 0);
    for (round = 0; round < sizeof(refused) / sizeof(refused[0]); round++) {
        const char *v = refused[round][0];

        ck_assert_str_eq(x509a_base64_decode(tc_pool, v, strlen(v), &b, &alen),
                         refused[round][1]);
    }
}
END_TEST

START_TEST(decode_body_without_armour)
{
    const char *body = pem_body(pem(pki.leaf));

    ck_assert(strchr(body, '\n') != NULL);
    expect_leaf("PEM body with newlines", body, X509A_FMT_AUTO, pki.leaf, 0);
    expect_leaf("PEM body with newlines", body, X509A_FMT_DER_BASE64,
                pki.leaf, 0);
    expect_leaf("PEM body, no newlines", replace(body, "\n", ""),
                X509A_FMT_AUTO, pki.leaf, 0);
    expect_leaf("PEM body, no newlines", replace(body, "\n", ""),
                X509A_FMT_DER_BASE64, pki.leaf, 0);
    expect_leaf("PEM body, spaces", replace(body, "\n", " "), X509A_FMT_AUTO,
                pki.leaf, 0);
    expect_leaf("escaped PEM body", pct(body, NULL, 0), X509A_FMT_AUTO,
                pki.leaf, 0);
}
END_TEST

START_TEST(decode_pem_bundle)
{
    const char *two = apr_pstrcat(tc_pool, pem(pki.leaf), pem(pki.inter), NULL);
    const char *three = apr_pstrcat(tc_pool, two, pem(pki.root), NULL);
    x509a_forwarded f;

    /* explicit pem: the leaf, then its intermediates (AWS ALB
     * passthrough) */
    f = expect_leaf("PEM bundle", two, X509A_FMT_PEM, pki.leaf, 1);
    ck_assert(X509_cmp(sk_X509_value(f.chain, 0), pki.inter) == 0);
    f = expect_leaf("PEM bundle of three", three, X509A_FMT_PEM, pki.leaf, 2);
    ck_assert(X509_cmp(sk_X509_value(f.chain, 0), pki.inter) == 0);
    ck_assert(X509_cmp(sk_X509_value(f.chain, 1), pki.root) == 0);
    f = expect_leaf("escaped PEM bundle", pct(three, "+=/", 0), X509A_FMT_PEM,
                    pki.leaf, 2);
    ck_assert(X509_cmp(sk_X509_value(f.chain, 1), pki.root) == 0);
    expect_leaf("PEM bundle, spaces", replace(two, "\n", " "), X509A_FMT_PEM,
                pki.leaf, 1);
    /* auto refuses several certificates: httpd joins repeated fields */
    expect_refused("two PEM certificates", two, X509A_FMT_AUTO,
                   "more than one certificate");
    expect_refused("two PEM fields joined",
                   apr_pstrcat(tc_pool, pem(pki.leaf), ", ", pem(pki.leaf),
                               NULL),
                   X509A_FMT_AUTO, "more than one certificate");
    expect_refused("two escaped PEM fields joined",
                   apr_pstrcat(tc_pool, pct(pem(pki.leaf), NULL, 0), ", ",
                               pct(pem(pki.fake_leaf), NULL, 0), NULL),
                   X509A_FMT_AUTO, "more than one certificate");
    expect_refused("two base64 fields joined",
                   apr_pstrcat(tc_pool, b64(pki.leaf), ", ", b64(pki.leaf),
                               NULL),
                   X509A_FMT_AUTO, "more than one value");
    expect_refused("two base64 fields joined",
                   apr_pstrcat(tc_pool, b64(pki.leaf), ", ", b64(pki.leaf),
                               NULL),
                   X509A_FMT_DER_BASE64, "more than one value");
    /* a bundle whose second certificate is broken */
    expect_refused("bundle with a bad second certificate",
                   apr_pstrcat(tc_pool, pem(pki.leaf),
                               armour(b64_der_edit(pki.inter, 5, "", 0)), NULL),
                   X509A_FMT_PEM, "not a DER certificate");
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Traefik list                                                            */
/* ---------------------------------------------------------------------- */

START_TEST(decode_list)
{
    const char *l = b64(pki.leaf), *i = b64(pki.inter), *r = b64(pki.root);
    x509a_forwarded f;

    f = expect_leaf("list", apr_pstrcat(tc_pool, l, ",", i, NULL),
                    X509A_FMT_LIST, pki.leaf, 1);
    ck_assert(X509_cmp(sk_X509_value(f.chain, 0), pki.inter) == 0);
    f = expect_leaf("list of three",
                    apr_pstrcat(tc_pool, l, ",", i, ",", r, NULL),
                    X509A_FMT_LIST, pki.leaf, 2);
    ck_assert(X509_cmp(sk_X509_value(f.chain, 0), pki.inter) == 0);
    ck_assert(X509_cmp(sk_X509_value(f.chain, 1), pki.root) == 0);
    expect_leaf("list with OWS",
                apr_pstrcat(tc_pool, " ", l, " , ", i, "\t", NULL),
                X509A_FMT_LIST, pki.leaf, 1);
    expect_leaf("list of one", l, X509A_FMT_LIST, pki.leaf, 0);
    /* Traefik URL-escapes the certificates (QueryEscape) */
    f = expect_leaf("escaped list",
                    apr_pstrcat(tc_pool, pct(l, NULL, 0), ",", pct(i, NULL, 0),
                                NULL),
                    X509A_FMT_LIST, pki.leaf, 1);
    ck_assert(X509_cmp(sk_X509_value(f.chain, 0), pki.inter) == 0);
    expect_leaf("escaped list, commas too",
                pct(apr_pstrcat(tc_pool, l, ",", i, NULL), NULL, 0),
                X509A_FMT_LIST, pki.leaf, 1);
    expect_leaf("list with PEM bodies",
                apr_pstrcat(tc_pool, pem_body(pem(pki.leaf)), ",",
                            pem_body(pem(pki.inter)), NULL),
                X509A_FMT_LIST, pki.leaf, 1);

    expect_refused("list with a trailing comma",
                   apr_pstrcat(tc_pool, l, ",", i, ",", NULL), X509A_FMT_LIST,
                   NULL);
    expect_refused("list with a leading comma",
                   apr_pstrcat(tc_pool, ",", l, ",", i, NULL), X509A_FMT_LIST,
                   NULL);
    expect_refused("list with an empty item",
                   apr_pstrcat(tc_pool, l, ",,", i, NULL), X509A_FMT_LIST,
                   NULL);
    expect_refused("list with a bad item",
                   apr_pstrcat(tc_pool, l, ",", b64_der_edit(pki.inter, 0,
                                                              "\0", 1), NULL),
                   X509A_FMT_LIST, "data after the certificate");
    expect_refused("list of PEM", apr_pstrcat(tc_pool, pem(pki.leaf), ",",
                                              pem(pki.inter), NULL),
                   X509A_FMT_LIST, NULL);
    expect_refused("list with %00",
                   apr_pstrcat(tc_pool, pct(l, NULL, 0), "%00,", i, NULL),
                   X509A_FMT_LIST, "percent");
    /* auto does not detect lists */
    expect_refused("list given to auto",
                   apr_pstrcat(tc_pool, l, ",", i, NULL), X509A_FMT_AUTO,
                   "more than one value");
}
END_TEST

/* ---------------------------------------------------------------------- */
/* RFC 9440                                                                */
/* ---------------------------------------------------------------------- */

START_TEST(decode_rfc9440)
{
    const char *sf = apr_pstrcat(tc_pool, ":", b64(pki.leaf), ":", NULL);
    static const char *const params[] = {
        ";a=1", ";a", ";a=1;b=?0", ";a=\"x;y, z\\\"\"", ";key-1.x*=tok/en:x",
        ";a=-12.5", ";*a=:AAAA:", ";a=1;b", NULL
    };
    int i;

    expect_leaf("RFC 9440", sf, X509A_FMT_AUTO, pki.leaf, 0);
    expect_leaf("RFC 9440", sf, X509A_FMT_RFC9440, pki.leaf, 0);
    expect_leaf("RFC 9440 with OWS", apr_pstrcat(tc_pool, " \t", sf, " \t", NULL),
                X509A_FMT_RFC9440, pki.leaf, 0);
    for (i = 0; params[i]; i++) {
        const char *v = apr_pstrcat(tc_pool, sf, params[i], NULL);
        expect_leaf(params[i], v, X509A_FMT_RFC9440, pki.leaf, 0);
        expect_leaf(params[i], v, X509A_FMT_AUTO, pki.leaf, 0);
    }

    expect_refused("two Client-Cert fields",
                   apr_pstrcat(tc_pool, sf, ", ", sf, NULL), X509A_FMT_RFC9440,
                   "more than one Client-Cert field");
    expect_refused("two Client-Cert fields",
                   apr_pstrcat(tc_pool, sf, ", :", b64(pki.inter), ":", NULL),
                   X509A_FMT_AUTO, "more than one Client-Cert field");
    expect_refused("two Client-Cert fields, no space",
                   apr_pstrcat(tc_pool, sf, ",", sf, NULL), X509A_FMT_AUTO,
                   "more than one Client-Cert field");
    expect_refused("no closing colon",
                   apr_pstrcat(tc_pool, ":", b64(pki.leaf), NULL),
                   X509A_FMT_RFC9440, "unterminated");
    expect_refused("no opening colon",
                   apr_pstrcat(tc_pool, b64(pki.leaf), ":", NULL),
                   X509A_FMT_RFC9440, "byte sequence");
    expect_refused("base64 without colons", b64(pki.leaf), X509A_FMT_RFC9440,
                   "byte sequence");
    expect_refused("space inside",
                   apr_pstrcat(tc_pool, ":", replace(pem_body(pem(pki.leaf)),
                                                     "\n", " "), ":", NULL),
                   X509A_FMT_RFC9440, "white space");
    expect_refused("data after", apr_pstrcat(tc_pool, sf, " x", NULL),
                   X509A_FMT_RFC9440, "data after");
    expect_refused("data after", apr_pstrcat(tc_pool, sf, "x", NULL),
                   X509A_FMT_RFC9440, NULL);
    expect_refused("uppercase parameter key",
                   apr_pstrcat(tc_pool, sf, ";A=1", NULL), X509A_FMT_RFC9440,
                   "parameter");
    expect_refused("empty parameter key",
                   apr_pstrcat(tc_pool, sf, ";=1", NULL), X509A_FMT_RFC9440,
                   "parameter");
    expect_refused("empty parameter value",
                   apr_pstrcat(tc_pool, sf, ";a=", NULL), X509A_FMT_RFC9440,
                   "parameter");
    expect_refused("unterminated parameter string",
                   apr_pstrcat(tc_pool, sf, ";a=\"x", NULL), X509A_FMT_RFC9440,
                   "unterminated");
    expect_refused("bad base64 in a byte sequence",
                   apr_pstrcat(tc_pool, ":", replace(b64(pki.leaf), "M", "-"),
                               ":", NULL),
                   X509A_FMT_RFC9440, "bad base64");
    expect_refused("PEM given as rfc9440", pem(pki.leaf), X509A_FMT_RFC9440,
                   NULL);
    expect_refused("empty byte sequence", "::", X509A_FMT_RFC9440, NULL);
}
END_TEST

START_TEST(decode_rfc9440_newline_inside)
{
    const char *v = b64(pki.leaf);
    /* four line breaks: the length stays a multiple of 4 */
    const char *lf = apr_pstrcat(tc_pool, ":", apr_pstrndup(tc_pool, v, 64),
                                 "\n\n\n\n", v + 64, ":", NULL);
    const char *crlf = apr_pstrcat(tc_pool, ":", apr_pstrndup(tc_pool, v, 64),
                                   "\r\n\r\n", v + 64, ":", NULL);

    /* RFC 8941 sf-binary holds base64 characters only: line breaks inside
     * are as wrong as the spaces refused above */
    expect_refused("line breaks inside", lf, X509A_FMT_RFC9440, NULL);
    expect_refused("CRLF inside", crlf, X509A_FMT_AUTO, NULL);
    expect_chain_refused("line breaks inside", lf, NULL);
}
END_TEST

START_TEST(decode_rfc9440_unpadded)
{
    X509 *x = cert_with_specials();
    const char *v;

    /* RFC 8941 4.2.7: parsers SHOULD NOT fail when "=" padding is not
     * present */
    v = apr_pstrcat(tc_pool, ":", replace(b64(x), "=", ""), ":", NULL);
    expect_leaf("unpadded byte sequence", v, X509A_FMT_RFC9440, x, 0);
    expect_leaf("unpadded byte sequence", v, X509A_FMT_AUTO, x, 0);
}
END_TEST

START_TEST(decode_rfc9440_param_ows)
{
    const char *sf = apr_pstrcat(tc_pool, ":", b64(pki.leaf), ":", NULL);

    /* RFC 8941 3.1.2: parameters = *( ";" *SP parameter ) */
    expect_leaf("space after ';'", apr_pstrcat(tc_pool, sf, "; a=1", NULL),
                X509A_FMT_RFC9440, pki.leaf, 0);
    expect_leaf("spaces after ';'", apr_pstrcat(tc_pool, sf, ";  a;  b=2", NULL),
                X509A_FMT_RFC9440, pki.leaf, 0);
}
END_TEST

/* RFC 9440 Appendix A.  The values are those of the Appendix (Figures 1, 2
 * and 3; they were taken from the text of draft-ietf-httpbis-client-cert-
 * field, whose example the RFC kept), with the line breaks and white
 * space that the RFC added "for display and formatting purposes only"
 * removed from the field values. */
static const char rfc9440_fig1[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBqDCCAU6gAwIBAgIBBzAKBggqhkjOPQQDAjA6MRswGQYDVQQKDBJMZXQncyBB\n"
    "dXRoZW50aWNhdGUxGzAZBgNVBAMMEkxBIEludGVybWVkaWF0ZSBDQTAeFw0yMDAx\n"
    "MTQyMjU1MzNaFw0yMTAxMjMyMjU1MzNaMA0xCzAJBgNVBAMMAkJDMFkwEwYHKoZI\n"
    "zj0CAQYIKoZIzj0DAQcDQgAE8YnXXfaUgmnMtOXU/IncWalRhebrXmckC8vdgJ1p\n"
    "5Be5F/3YC8OthxM4+k1M6aEAEFcGzkJiNy6J84y7uzo9M6NyMHAwCQYDVR0TBAIw\n"
    "ADAfBgNVHSMEGDAWgBRm3WjLa38lbEYCuiCPct0ZaSED2DAOBgNVHQ8BAf8EBAMC\n"
    "BsAwEwYDVR0lBAwwCgYIKwYBBQUHAwIwHQYDVR0RAQH/BBMwEYEPYmRjQGV4YW1w\n"
    "bGUuY29tMAoGCCqGSM49BAMCA0gAMEUCIBHda/r1vaL6G3VliL4/Di6YK0Q6bMje\n"
    "SkC3dFCOOB8TAiEAx/kHSB4urmiZ0NX5r5XarmPk0wmuydBVoU4hBVZ1yhk=\n"
    "-----END CERTIFICATE-----\n"
    "-----BEGIN CERTIFICATE-----\n"
    "MIIB5jCCAYugAwIBAgIBFjAKBggqhkjOPQQDAjBWMQswCQYDVQQGEwJVUzEbMBkG\n"
    "A1UECgwSTGV0J3MgQXV0aGVudGljYXRlMSowKAYDVQQDDCFMZXQncyBBdXRoZW50\n"
    "aWNhdGUgUm9vdCBBdXRob3JpdHkwHhcNMjAwMTE0MjEzMjMwWhcNMzAwMTExMjEz\n"
    "MjMwWjA6MRswGQYDVQQKDBJMZXQncyBBdXRoZW50aWNhdGUxGzAZBgNVBAMMEkxB\n"
    "IEludGVybWVkaWF0ZSBDQTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABJf+aA54\n"
    "RC5pyLAR5yfXVYmNpgd+CGUTDp2KOGhc0gK91zxhHesEYkdXkpS2UN8Kati+yHtW\n"
    "CV3kkhCngGyv7RqjZjBkMB0GA1UdDgQWBBRm3WjLa38lbEYCuiCPct0ZaSED2DAf\n"
    "BgNVHSMEGDAWgBTEA2Q6eecKu9g9yb5glbkhhVINGDASBgNVHRMBAf8ECDAGAQH/\n"
    "AgEAMA4GA1UdDwEB/wQEAwIBhjAKBggqhkjOPQQDAgNJADBGAiEA5pLvaFwRRkxo\n"
    "mIAtDIwg9D7gC1xzxBl4r28EzmSO1pcCIQCJUShpSXO9HDIQMUgH69fNDEMHXD3R\n"
    "RX5gP7kuu2KGMg==\n"
    "-----END CERTIFICATE-----\n"
    "-----BEGIN CERTIFICATE-----\n"
    "MIICBjCCAaygAwIBAgIJAKS0yiqKtlhoMAoGCCqGSM49BAMCMFYxCzAJBgNVBAYT\n"
    "AlVTMRswGQYDVQQKDBJMZXQncyBBdXRoZW50aWNhdGUxKjAoBgNVBAMMIUxldCdz\n"
    "IEF1dGhlbnRpY2F0ZSBSb290IEF1dGhvcml0eTAeFw0yMDAxMTQyMTI1NDVaFw00\n"
    "MDAxMDkyMTI1NDVaMFYxCzAJBgNVBAYTAlVTMRswGQYDVQQKDBJMZXQncyBBdXRo\n"
    "ZW50aWNhdGUxKjAoBgNVBAMMIUxldCdzIEF1dGhlbnRpY2F0ZSBSb290IEF1dGhv\n"
    "cml0eTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABFoaHU+Z5bPKmGzlYXtCf+E6\n"
    "HYj62fORaHDOrt+yyh3H/rTcs7ynFfGn+gyFsrSP3Ez88rajv+U2NfD0o0uZ4Pmj\n"
    "YzBhMB0GA1UdDgQWBBTEA2Q6eecKu9g9yb5glbkhhVINGDAfBgNVHSMEGDAWgBTE\n"
    "A2Q6eecKu9g9yb5glbkhhVINGDAPBgNVHRMBAf8EBTADAQH/MA4GA1UdDwEB/wQE\n"
    "AwIBhjAKBggqhkjOPQQDAgNIADBFAiEAmAeg1ycKHriqHnaD4M/UDBpQRpkmdcRF\n"
    "YGMg1Qyrkx4CIB4ivz3wQcQkGhcsUZ1SOImd/lq1Q0FLf09rGfLQPWDc\n"
    "-----END CERTIFICATE-----\n";

/* Figure 2: the Client-Cert field value */
static const char rfc9440_client_cert[] =
    ":MIIBqDCCAU6gAwIBAgIBBzAKBggqhkjOPQQDAjA6MRswGQYDVQQKDBJ"
    "MZXQncyBBdXRoZW50aWNhdGUxGzAZBgNVBAMMEkxBIEludGVybWVkaWF0ZSBDQTAeFw0"
    "yMDAxMTQyMjU1MzNaFw0yMTAxMjMyMjU1MzNaMA0xCzAJBgNVBAMMAkJDMFkwEwYHKoZ"
    "Izj0CAQYIKoZIzj0DAQcDQgAE8YnXXfaUgmnMtOXU/IncWalRhebrXmckC8vdgJ1p5Be"
    "5F/3YC8OthxM4+k1M6aEAEFcGzkJiNy6J84y7uzo9M6NyMHAwCQYDVR0TBAIwADAfBgN"
    "VHSMEGDAWgBRm3WjLa38lbEYCuiCPct0ZaSED2DAOBgNVHQ8BAf8EBAMCBsAwEwYDVR0"
    "lBAwwCgYIKwYBBQUHAwIwHQYDVR0RAQH/BBMwEYEPYmRjQGV4YW1wbGUuY29tMAoGCCq"
    "GSM49BAMCA0gAMEUCIBHda/r1vaL6G3VliL4/Di6YK0Q6bMjeSkC3dFCOOB8TAiEAx/k"
    "HSB4urmiZ0NX5r5XarmPk0wmuydBVoU4hBVZ1yhk=:";

/* Figure 3: the Client-Cert-Chain field value */
static const char rfc9440_client_cert_chain[] =
    ":MIIB5jCCAYugAwIBAgIBFjAKBggqhkjOPQQDAjBWMQsw"
    "CQYDVQQGEwJVUzEbMBkGA1UECgwSTGV0J3MgQXV0aGVudGljYXRlMSowKAYDVQQ"
    "DDCFMZXQncyBBdXRoZW50aWNhdGUgUm9vdCBBdXRob3JpdHkwHhcNMjAwMTE0Mj"
    "EzMjMwWhcNMzAwMTExMjEzMjMwWjA6MRswGQYDVQQKDBJMZXQncyBBdXRoZW50a"
    "WNhdGUxGzAZBgNVBAMMEkxBIEludGVybWVkaWF0ZSBDQTBZMBMGByqGSM49AgEG"
    "CCqGSM49AwEHA0IABJf+aA54RC5pyLAR5yfXVYmNpgd+CGUTDp2KOGhc0gK91zx"
    "hHesEYkdXkpS2UN8Kati+yHtWCV3kkhCngGyv7RqjZjBkMB0GA1UdDgQWBBRm3W"
    "jLa38lbEYCuiCPct0ZaSED2DAfBgNVHSMEGDAWgBTEA2Q6eecKu9g9yb5glbkhh"
    "VINGDASBgNVHRMBAf8ECDAGAQH/AgEAMA4GA1UdDwEB/wQEAwIBhjAKBggqhkjO"
    "PQQDAgNJADBGAiEA5pLvaFwRRkxomIAtDIwg9D7gC1xzxBl4r28EzmSO1pcCIQC"
    "JUShpSXO9HDIQMUgH69fNDEMHXD3RRX5gP7kuu2KGMg==:, :MIICBjCCAaygAw"
    "IBAgIJAKS0yiqKtlhoMAoGCCqGSM49BAMCMFYxCzAJBgNVBAYTAlVTMRswGQYDV"
    "QQKDBJMZXQncyBBdXRoZW50aWNhdGUxKjAoBgNVBAMMIUxldCdzIEF1dGhlbnRp"
    "Y2F0ZSBSb290IEF1dGhvcml0eTAeFw0yMDAxMTQyMTI1NDVaFw00MDAxMDkyMTI"
    "1NDVaMFYxCzAJBgNVBAYTAlVTMRswGQYDVQQKDBJMZXQncyBBdXRoZW50aWNhdG"
    "UxKjAoBgNVBAMMIUxldCdzIEF1dGhlbnRpY2F0ZSBSb290IEF1dGhvcml0eTBZM"
    "BMGByqGSM49AgEGCCqGSM49AwEHA0IABFoaHU+Z5bPKmGzlYXtCf+E6HYj62fOR"
    "aHDOrt+yyh3H/rTcs7ynFfGn+gyFsrSP3Ez88rajv+U2NfD0o0uZ4PmjYzBhMB0"
    "GA1UdDgQWBBTEA2Q6eecKu9g9yb5glbkhhVINGDAfBgNVHSMEGDAWgBTEA2Q6ee"
    "cKu9g9yb5glbkhhVINGDAPBgNVHRMBAf8EBTADAQH/MA4GA1UdDwEB/wQEAwIBh"
    "jAKBggqhkjOPQQDAgNIADBFAiEAmAeg1ycKHriqHnaD4M/UDBpQRpkmdcRFYGMg"
    "1Qyrkx4CIB4ivz3wQcQkGhcsUZ1SOImd/lq1Q0FLf09rGfLQPWDc:";

static char *cn_of(X509 *x)
{
    char buf[256];

    ck_assert_int_gt(X509_NAME_get_text_by_NID(X509_get_subject_name(x),
                                               NID_commonName, buf,
                                               sizeof(buf)), 0);
    return apr_pstrdup(tc_pool, buf);
}

static char *serial_hex(X509 *x)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    char *hex = BN_bn2hex(bn);
    char *s = apr_pstrdup(tc_pool, hex);

    OPENSSL_free(hex);
    BN_free(bn);
    return s;
}

START_TEST(decode_rfc9440_appendix_a)
{
    x509a_forwarded fig1;
    const char *err, *p;
    char *folded = "";
    X509 *leaf;

    /* Figure 1 with the explicit pem format: the client certificate and
     * the two CA certificates */
    memset(&fig1, 0, sizeof(fig1));
    err = x509a_decode_leaf(tc_pool, rfc9440_fig1, X509A_FMT_PEM, MAX_LEN,
                            &fig1);
    ck_assert_msg(err == NULL, "Figure 1 refused: %s", err);
    leaf = fig1.leaf;
    ck_assert_int_eq(nchain(fig1.chain), 2);
    ck_assert_str_eq(cn_of(leaf), "BC");
    ck_assert_str_eq(serial_hex(leaf), "07");
    ck_assert_str_eq(cn_of(sk_X509_value(fig1.chain, 0)), "LA Intermediate CA");
    expect_refused("Figure 1", rfc9440_fig1, X509A_FMT_AUTO,
                   "more than one certificate");

    /* Figure 2: the Client-Cert field is that client certificate */
    expect_leaf("Figure 2", rfc9440_client_cert, X509A_FMT_RFC9440, leaf, 0);
    expect_leaf("Figure 2", rfc9440_client_cert, X509A_FMT_AUTO, leaf, 0);
    expect_leaf("Figure 2 with a parameter",
                apr_pstrcat(tc_pool, rfc9440_client_cert, ";a=1", NULL),
                X509A_FMT_AUTO, leaf, 0);
    expect_refused("Figure 2 twice",
                   apr_pstrcat(tc_pool, rfc9440_client_cert, ", ",
                               rfc9440_client_cert, NULL),
                   X509A_FMT_AUTO, "more than one Client-Cert field");
    /* as the RFC displays it, with white space inside: not a field value */
    for (p = rfc9440_client_cert; strlen(p) > 68; p += 68) {
        folded = apr_pstrcat(tc_pool, folded, apr_pstrndup(tc_pool, p, 68),
                             " ", NULL);
    }
    folded = apr_pstrcat(tc_pool, folded, p, NULL);
    expect_refused("Figure 2 as displayed", folded, X509A_FMT_AUTO,
                   "white space inside a byte sequence");
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Envoy XFCC                                                              */
/* ---------------------------------------------------------------------- */

/* Values from the Envoy documentation (x-forwarded-client-cert) */
#define ENVOY_BY "By=http://frontend.lyft.com"
#define ENVOY_HASH \
    "Hash=468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8de688"
#define ENVOY_SUBJECT \
    "Subject=\"/C=US/ST=CA/L=San Francisco/OU=Lyft/CN=Test Client\""
#define ENVOY_URI "URI=spiffe://lyft.com/test-team"

/* Envoy's Cert / Chain value: URL-encoded PEM, quoted */
static char *xfcc_pem(const char *text)
{
    return apr_pstrcat(tc_pool, "\"", pct(text, NULL, 1), "\"", NULL);
}

/* Envoy's Hash: hex SHA-256 of the DER, lower case */
static char *xfcc_hash(X509 *x)
{
    char *h = tc_digest_hex(tc_pool, x, EVP_sha256()), *c;

    for (c = h; *c; c++) {
        *c = (char)apr_tolower(*c);
    }
    return apr_pstrcat(tc_pool, "Hash=", h, NULL);
}

/* An element as Envoy writes it with cert: true: By, Hash, Cert, then
 * @a tail (";..." or "") */
static char *xfcc_el(X509 *x, const char *tail)
{
    return apr_pstrcat(tc_pool, ENVOY_BY, ";", xfcc_hash(x), ";Cert=",
                       xfcc_pem(pem(x)), tail, NULL);
}

/* A client certificate from pki.inter with the given SANs (two at most;
 * NULL values are left out) */
static X509 *leaf_with_sans(tc_san_type t1, const char *v1, tc_san_type t2,
                            const char *v2)
{
    static const tc_attr dn[] = { { "CN", "mallory" }, { NULL } };
    tc_san san[3];
    tc_spec s = { 0 };
    int n = 0;

    if (v1) {
        san[n].type = t1;
        san[n].value = v1;
        san[n++].oid = NULL;
    }
    if (v2) {
        san[n].type = t2;
        san[n].value = v2;
        san[n++].oid = NULL;
    }
    san[n].type = TC_SAN_END;
    s.subject = dn;
    s.issuer = pki.inter;
    s.issuer_key = pki.inter_key;
    s.san = san;
    return tc_cert(tc_pool, &s, NULL);
}

START_TEST(decode_xfcc)
{
    const char *cert = xfcc_pem(pem(pki.leaf));
    const char *bundle = xfcc_pem(apr_pstrcat(tc_pool, pem(pki.leaf),
                                              pem(pki.inter), NULL));
    const char *hash = xfcc_hash(pki.leaf), *v;
    X509 *sans;
    x509a_forwarded f;

    ck_assert(strncmp(cert, "\"-----BEGIN%20CERTIFICATE-----%0a", 33) == 0);
    v = apr_pstrcat(tc_pool, ENVOY_BY, ";", hash, ";Cert=", cert, ";",
                    ENVOY_SUBJECT, ";", ENVOY_URI, NULL);
    expect_leaf("Envoy example with Cert", v, X509A_FMT_XFCC, pki.leaf, 0);
    expect_leaf("Envoy example with Cert", v, X509A_FMT_XFCC_APPEND, pki.leaf,
                0);
    expect_leaf("Envoy example with Cert", v, X509A_FMT_AUTO, pki.leaf, 0);
    expect_leaf("Hash in upper case", replace(v, hash + 5,
                                              tc_digest_hex(tc_pool, pki.leaf,
                                                            EVP_sha256())),
                X509A_FMT_XFCC, pki.leaf, 0);

    /* Envoy's certificate has no URI SAN: no By */
    v = apr_pstrcat(tc_pool, hash, ";Cert=", cert, NULL);
    expect_leaf("no By", v, X509A_FMT_XFCC, pki.leaf, 0);

    /* By, URI and DNS once per SAN; URI empty when there is none */
    v = apr_pstrcat(tc_pool, ENVOY_BY, ";By=spiffe://lyft.com/front;", hash,
                    ";Cert=", cert, ";", ENVOY_SUBJECT, ";URI=", NULL);
    expect_leaf("two By, empty URI", v, X509A_FMT_XFCC, pki.leaf, 0);
    sans = leaf_with_sans(TC_SAN_URI, "spiffe://example/ns/w", TC_SAN_DNS,
                          "w.example");
    v = xfcc_el(sans, ";Subject=\"CN=mallory\";URI=spiffe://example/ns/w;"
                "DNS=w.example");
    expect_leaf("URI and DNS of the certificate", v, X509A_FMT_XFCC, sans, 0);
    v = apr_pstrcat(tc_pool, ENVOY_BY, ";", hash, ";Cert=", cert, ";",
                    ENVOY_URI, ";URI=spiffe://lyft.com/b;DNS=lyft.com;"
                    "DNS=www.lyft.com", NULL);
    expect_leaf("two URI, two DNS", v, X509A_FMT_AUTO, pki.leaf, 0);

    /* Subject as Envoy writes it: RFC 2253, its escapes, quoted */
    v = apr_pstrcat(tc_pool, ENVOY_BY, ";", hash, ";Cert=", cert,
                    ";Subject=\"CN=\\\"Test\\, Client\\\",O=Lyft\\; Inc.,"
                    "OU=a\\=b\\\\\";", ENVOY_URI, NULL);
    expect_leaf("Subject with escapes", v, X509A_FMT_XFCC, pki.leaf, 0);
    v = apr_pstrcat(tc_pool, hash, ";Cert=", cert, ";Subject=\"\"", NULL);
    expect_leaf("empty Subject", v, X509A_FMT_XFCC, pki.leaf, 0);

    /* Chain only: the leaf is its first certificate */
    v = apr_pstrcat(tc_pool, ENVOY_BY, ";", hash, ";Chain=", bundle, ";",
                    ENVOY_SUBJECT, NULL);
    f = expect_leaf("Chain only", v, X509A_FMT_XFCC, pki.leaf, 1);
    ck_assert(X509_cmp(sk_X509_value(f.chain, 0), pki.inter) == 0);
    expect_leaf("Chain only", v, X509A_FMT_AUTO, pki.leaf, 1);
    v = apr_pstrcat(tc_pool, hash, ";Chain=", xfcc_pem(pem(pki.leaf)), NULL);
    expect_leaf("Chain of one", v, X509A_FMT_AUTO, pki.leaf, 0);

    /* Cert and Chain: Chain starts with the leaf, which is not repeated */
    v = apr_pstrcat(tc_pool, ENVOY_BY, ";", hash, ";Cert=", cert,
                    ";Chain=", bundle, ";", ENVOY_SUBJECT, ";", ENVOY_URI,
                    NULL);
    f = expect_leaf("Cert and Chain", v, X509A_FMT_XFCC, pki.leaf, 1);
    ck_assert(X509_cmp(sk_X509_value(f.chain, 0), pki.inter) == 0);
    v = apr_pstrcat(tc_pool, hash, ";Cert=", cert, ";Chain=",
                    xfcc_pem(apr_pstrcat(tc_pool, pem(pki.leaf), pem(pki.inter),
                                         pem(pki.root), NULL)), NULL);
    f = expect_leaf("Chain to the root", v, X509A_FMT_AUTO, pki.leaf, 2);
    ck_assert(X509_cmp(sk_X509_value(f.chain, 0), pki.inter) == 0);
    ck_assert(X509_cmp(sk_X509_value(f.chain, 1), pki.root) == 0);

    /* keys in other cases, white space */
    v = apr_pstrcat(tc_pool, "by=http://frontend.lyft.com;hash", hash + 4,
                    ";cert=", cert, NULL);
    expect_leaf("lowercase keys", v, X509A_FMT_AUTO, pki.leaf, 0);
    v = apr_pstrcat(tc_pool, "HASH", hash + 4, ";CERT=", cert, NULL);
    expect_leaf("uppercase keys", v, X509A_FMT_AUTO, pki.leaf, 0);
    v = apr_pstrcat(tc_pool, " ", ENVOY_BY, " ; ", hash, " ;Cert=", cert, " ",
                    NULL);
    expect_leaf("OWS around parts", v, X509A_FMT_XFCC, pki.leaf, 0);
}
END_TEST

/* APPEND_FORWARD: every element as Envoy writes it, the last one used */
START_TEST(decode_xfcc_append)
{
    const char *v, *mine = xfcc_el(pki.leaf, ";" ENVOY_URI),
               *other = xfcc_el(pki.fake_leaf, ";" ENVOY_URI);

    v = apr_pstrcat(tc_pool, other, ",", mine, NULL);
    expect_leaf("two elements", v, X509A_FMT_XFCC_APPEND, pki.leaf, 0);
    v = apr_pstrcat(tc_pool, mine, ",", other, NULL);
    expect_leaf("two elements, other order", v, X509A_FMT_XFCC_APPEND,
                pki.fake_leaf, 0);
    v = apr_pstrcat(tc_pool, other, ", ", mine, NULL);
    expect_leaf("fields joined by httpd", v, X509A_FMT_XFCC_APPEND, pki.leaf,
                0);
    v = apr_pstrcat(tc_pool, ENVOY_BY, ";", ENVOY_HASH, ";", ENVOY_SUBJECT,
                    ";", ENVOY_URI, ",", mine, NULL);
    expect_leaf("first element without Cert (Envoy's example)", v,
                X509A_FMT_XFCC_APPEND, pki.leaf, 0);

    /* the same values are refused by xfcc (SANITIZE_SET writes one) and
     * by auto */
    v = apr_pstrcat(tc_pool, other, ",", mine, NULL);
    expect_refused("two elements", v, X509A_FMT_XFCC, "2 elements");
    expect_refused("two elements", v, X509A_FMT_AUTO, "2 elements");

    /* every element is checked */
    v = apr_pstrcat(tc_pool, ENVOY_BY, ";", ENVOY_URI, ",", mine, NULL);
    expect_refused("earlier element without Hash", v, X509A_FMT_XFCC_APPEND,
                   "element 1: XFCC element without Hash");
    v = apr_pstrcat(tc_pool, replace(other, xfcc_hash(pki.fake_leaf),
                                     xfcc_hash(pki.leaf)), ",", mine, NULL);
    expect_refused("earlier element with a wrong Hash", v,
                   X509A_FMT_XFCC_APPEND, "element 1: XFCC Hash does not");
    v = apr_pstrcat(tc_pool, ENVOY_BY, ";", xfcc_hash(pki.fake_leaf),
                    ";Cert=", pct(pem(pki.fake_leaf), NULL, 0), ",", mine,
                    NULL);
    expect_refused("earlier element with an unquoted Cert", v,
                   X509A_FMT_XFCC_APPEND, "element 1: unquoted XFCC Cert");
    v = apr_pstrcat(tc_pool, mine, ",", ENVOY_BY, ";", ENVOY_HASH, ";",
                    ENVOY_URI, NULL);
    expect_refused("last element without Cert", v, X509A_FMT_XFCC_APPEND,
                   "no Cert or Chain");
}
END_TEST

/* A CA that puts requested text into URI or DNS SANs: Envoy copies them
 * raw into the element, where ',' starts a new element and ';' a new key
 * (issue 12).  bob's certificate is public; mallory's SAN pastes it. */
START_TEST(decode_xfcc_san_injection)
{
    X509 *bob = pki.leaf, *m;
    const char *bob_pem = pct(pem(bob), NULL, 0), *inj, *v;
    const char *chain_only;

    /* the reported shape: ",Cert=<PEM>" in a URI SAN, SANITIZE_SET */
    inj = apr_pstrcat(tc_pool, "spiffe://example/ns/w,Cert=", bob_pem, NULL);
    m = leaf_with_sans(TC_SAN_URI, inj, 0, NULL);
    v = xfcc_el(m, apr_pstrcat(tc_pool, ";Subject=\"CN=mallory\";URI=", inj,
                               NULL));
    expect_refused("URI SAN ',Cert='", v, X509A_FMT_XFCC, "2 elements");
    expect_refused("URI SAN ',Cert='", v, X509A_FMT_AUTO, "2 elements");
    expect_refused("URI SAN ',Cert='", v, X509A_FMT_XFCC_APPEND,
                   "element 1: the certificate's URI SAN holds");
    /* the DNS variant */
    inj = apr_pstrcat(tc_pool, "w.example,Cert=", bob_pem, NULL);
    m = leaf_with_sans(TC_SAN_DNS, inj, 0, NULL);
    v = xfcc_el(m, apr_pstrcat(tc_pool, ";Subject=\"CN=mallory\";URI=;DNS=",
                               inj, NULL));
    expect_refused("DNS SAN ',Cert='", v, X509A_FMT_XFCC, "2 elements");
    expect_refused("DNS SAN ',Cert='", v, X509A_FMT_XFCC_APPEND,
                   "element 1: the certificate's DNS SAN holds");

    /* a complete forged element, quoted and with bob's Hash: only the
     * SAN check tells it from a real second element */
    inj = apr_pstrcat(tc_pool, "spiffe://example/ns/w,", ENVOY_BY, ";",
                      xfcc_hash(bob), ";Cert=\"", bob_pem, "\"", NULL);
    m = leaf_with_sans(TC_SAN_URI, inj, 0, NULL);
    v = xfcc_el(m, apr_pstrcat(tc_pool, ";URI=", inj, NULL));
    expect_refused("forged element", v, X509A_FMT_XFCC, "2 elements");
    expect_refused("forged element", v, X509A_FMT_XFCC_APPEND,
                   "element 1: the certificate's URI SAN holds");
    v = xfcc_el(m, apr_pstrcat(tc_pool, ";URI=", inj, ";DNS=x.example",
                               NULL));
    expect_refused("forged element, DNS after it", v, X509A_FMT_XFCC_APPEND,
                   "element 1: the certificate's URI SAN holds");

    /* chain: true, cert: false: an injected Cert would be the only one;
     * in the same element it comes after URI, and Hash names mallory */
    inj = apr_pstrcat(tc_pool, "spiffe://example/ns/w;Cert=\"", bob_pem, "\"",
                      NULL);
    m = leaf_with_sans(TC_SAN_URI, inj, 0, NULL);
    chain_only = apr_pstrcat(tc_pool, ENVOY_BY, ";", xfcc_hash(m), ";Chain=",
                             xfcc_pem(apr_pstrcat(tc_pool, pem(m),
                                                  pem(pki.inter), NULL)),
                             ";Subject=\"CN=mallory\";URI=", inj, NULL);
    expect_refused("';Cert=' in a URI SAN, chain only", chain_only,
                   X509A_FMT_XFCC, "Cert after URI");
    expect_refused("';Cert=' in a URI SAN, chain only", chain_only,
                   X509A_FMT_XFCC_APPEND, "Cert after URI");
    inj = apr_pstrcat(tc_pool, "w.example;Cert=\"", bob_pem, "\"", NULL);
    m = leaf_with_sans(TC_SAN_DNS, inj, 0, NULL);
    v = apr_pstrcat(tc_pool, xfcc_hash(m), ";Chain=", xfcc_pem(pem(m)),
                    ";DNS=", inj, NULL);
    expect_refused("';Cert=' in a DNS SAN, chain only", v, X509A_FMT_XFCC,
                   "Cert after DNS");
    /* ... and where Cert is written too, it is a second Cert */
    v = xfcc_el(m, apr_pstrcat(tc_pool, ";DNS=", inj, NULL));
    expect_refused("';Cert=' in a DNS SAN", v, X509A_FMT_XFCC, "Cert after");

    /* keys Envoy writes after URI, forged in a URI SAN */
    m = leaf_with_sans(TC_SAN_URI, "spiffe://w;DNS=x.example", 0, NULL);
    v = xfcc_el(m, ";URI=spiffe://w;DNS=x.example");
    expect_refused("';DNS=' in a URI SAN", v, X509A_FMT_XFCC,
                   "the certificate's URI SAN holds");
    /* '=' and '"' survive the split: refused in the value itself */
    m = leaf_with_sans(TC_SAN_URI, "spiffe://w?a=b", 0, NULL);
    v = xfcc_el(m, ";URI=spiffe://w?a=b");
    expect_refused("'=' in a URI value", v, X509A_FMT_XFCC,
                   "URI value holds");
    m = leaf_with_sans(TC_SAN_DNS, "w\"x\".example", 0, NULL);
    v = xfcc_el(m, ";URI=;DNS=w\"x\".example");
    expect_refused("'\"' in a DNS value", v, X509A_FMT_XFCC, "DNS value holds");
    v = xfcc_el(m, ";URI=;DNS=w\"x\".example;DNS=\"");
    expect_refused("unbalanced '\"'", v, X509A_FMT_XFCC, "malformed XFCC");
    /* such a SAN is harmless where Envoy does not write it (uri: false) */
    m = leaf_with_sans(TC_SAN_URI, "spiffe://w?a=b;c,d", 0, NULL);
    expect_leaf("unsafe URI SAN not written", xfcc_el(m, ""), X509A_FMT_XFCC,
                m, 0);
    expect_refused("unsafe URI SAN written", xfcc_el(m, ";URI=spiffe://w?a=b"),
                   X509A_FMT_XFCC, NULL);
}
END_TEST

START_TEST(decode_xfcc_malformed)
{
    const char *cert = xfcc_pem(pem(pki.leaf)), *hash = xfcc_hash(pki.leaf),
               *v, *body;
    int i;

    v = apr_pstrcat(tc_pool, ENVOY_BY, ";", ENVOY_HASH, ";", ENVOY_SUBJECT,
                    ";", ENVOY_URI, NULL);
    expect_refused("Envoy example without Cert or Chain", v, X509A_FMT_XFCC,
                   "no Cert or Chain");
    expect_refused("Envoy example without Cert or Chain", v, X509A_FMT_AUTO,
                   "no Cert or Chain");
    v = apr_pstrcat(tc_pool, hash, ";Chain=\"\"", NULL);
    expect_refused("empty Chain", v, X509A_FMT_XFCC, "no certificate");

    /* Hash */
    v = apr_pstrcat(tc_pool, ENVOY_BY, ";Cert=", cert, NULL);
    expect_refused("no Hash", v, X509A_FMT_XFCC, "without Hash");
    expect_refused("no Hash", v, X509A_FMT_AUTO, "without Hash");
    v = apr_pstrcat(tc_pool, "Chain=", cert, NULL);
    expect_refused("Chain, no Hash", v, X509A_FMT_XFCC, "without Hash");
    v = apr_pstrcat(tc_pool, ENVOY_HASH, ";Cert=", cert, NULL);
    expect_refused("Hash of another certificate", v, X509A_FMT_XFCC,
                   "Hash does not match");
    v = apr_pstrcat(tc_pool, xfcc_hash(pki.fake_leaf), ";Cert=", cert, NULL);
    expect_refused("Hash of the lookalike", v, X509A_FMT_XFCC,
                   "Hash does not match");
    v = apr_pstrcat(tc_pool, xfcc_hash(pki.fake_leaf), ";Chain=",
                    xfcc_pem(apr_pstrcat(tc_pool, pem(pki.leaf),
                                         pem(pki.fake_leaf), NULL)), NULL);
    expect_refused("Hash of a later Chain certificate", v, X509A_FMT_XFCC,
                   "Hash does not match");
    v = apr_pstrcat(tc_pool, "Hash=", tc_digest_hex(tc_pool, pki.leaf,
                                                     EVP_sha1()),
                    ";Cert=", cert, NULL);
    expect_refused("SHA-1 as Hash", v, X509A_FMT_XFCC, "hex SHA-256");
    v = apr_pstrcat(tc_pool, replace(hash, "Hash=", "Hash=0x"), ";Cert=", cert,
                    NULL);
    v = apr_pstrcat(tc_pool, apr_pstrndup(tc_pool, hash, strlen(hash) - 1),
                    "g;Cert=", cert, NULL);
    expect_refused("Hash not hex", v, X509A_FMT_XFCC, "hex SHA-256");
    v = apr_pstrcat(tc_pool, "Hash=;Cert=", cert, NULL);
    expect_refused("empty Hash", v, X509A_FMT_XFCC, "hex SHA-256");

    /* quoting as Envoy quotes */
    v = apr_pstrcat(tc_pool, ENVOY_BY, ";", hash, ";Cert=",
                    pct(pem(pki.leaf), NULL, 0), NULL);
    expect_refused("unquoted Cert", v, X509A_FMT_XFCC, "unquoted XFCC Cert");
    expect_refused("unquoted Cert", v, X509A_FMT_AUTO, "unquoted XFCC Cert");
    v = apr_pstrcat(tc_pool, hash, ";Chain=", pct(pem(pki.leaf), NULL, 0),
                    NULL);
    expect_refused("unquoted Chain", v, X509A_FMT_XFCC, "unquoted XFCC Chain");
    v = apr_pstrcat(tc_pool, hash, ";Cert=", cert, ";Subject=CN=alice", NULL);
    expect_refused("unquoted Subject", v, X509A_FMT_XFCC,
                   "unquoted XFCC Subject");
    v = apr_pstrcat(tc_pool, "By=\"spiffe://p\";", hash, ";Cert=", cert, NULL);
    expect_refused("quoted By", v, X509A_FMT_XFCC, "By value holds");
    v = apr_pstrcat(tc_pool, "Hash=\"", hash + 5, "\";Cert=", cert, NULL);
    expect_refused("quoted Hash", v, X509A_FMT_XFCC, "Hash value holds");
    v = apr_pstrcat(tc_pool, hash, ";Cert=", cert,
                    ";URI=\"spiffe://lyft.com/a,b;c\"", NULL);
    expect_refused("quoted URI", v, X509A_FMT_XFCC, "URI value holds");
    v = apr_pstrcat(tc_pool, hash, ";Cert=", cert, ";DNS=\"a.example\"", NULL);
    expect_refused("quoted DNS", v, X509A_FMT_XFCC, "DNS value holds");
    body = apr_pstrcat(tc_pool, "\"", pct(pem(pki.leaf), NULL, 0), NULL);
    v = apr_pstrcat(tc_pool, hash, ";Cert=", body, NULL);
    expect_refused("unterminated quote", v, X509A_FMT_XFCC, NULL);
    v = apr_pstrcat(tc_pool, hash, ";Cert=", body, ";", ENVOY_URI, NULL);
    expect_refused("unterminated quote, more keys", v, X509A_FMT_AUTO, NULL);
    v = apr_pstrcat(tc_pool, "By=http://a\"b;", hash, ";Cert=", cert, NULL);
    expect_refused("stray quote", v, X509A_FMT_XFCC, NULL);
    v = apr_pstrcat(tc_pool, hash, ";Cert=", cert, ";URI=a\"b\"", NULL);
    expect_refused("quote inside an unquoted value", v, X509A_FMT_XFCC,
                   "URI value holds");
    v = apr_pstrcat(tc_pool, hash, ";Cert=", cert, "x", NULL);
    expect_refused("data after a quoted value", v, X509A_FMT_XFCC, NULL);
    v = apr_pstrcat(tc_pool, hash, ";Cert=", cert, ";Subject=\"a\"b\"c\"",
                    NULL);
    expect_refused("quote inside a quoted value", v, X509A_FMT_XFCC, NULL);
    v = apr_pstrcat(tc_pool, hash, ";Cert=", cert, ";Subject=\"a\\\"", NULL);
    expect_refused("escaped closing quote", v, X509A_FMT_XFCC, NULL);
    v = apr_pstrcat(tc_pool, "By=\"x;", hash, ";Cert=", cert, NULL);
    expect_refused("quote opened in an earlier key", v, X509A_FMT_XFCC, NULL);

    /* keys: known ones, each once (By, URI, DNS once per SAN), in order */
    v = apr_pstrcat(tc_pool, hash, ";Cert=", cert, ";Cert=", cert, NULL);
    expect_refused("two Cert keys", v, X509A_FMT_XFCC, "two Cert keys");
    v = apr_pstrcat(tc_pool, hash, ";Cert=", cert, ";cert=", cert, NULL);
    expect_refused("Cert and cert", v, X509A_FMT_XFCC, "two Cert keys");
    v = apr_pstrcat(tc_pool, hash, ";Chain=", cert, ";CHAIN=", cert, NULL);
    expect_refused("two Chain keys", v, X509A_FMT_AUTO, "two Chain keys");
    v = apr_pstrcat(tc_pool, hash, ";", hash, ";Cert=", cert, NULL);
    expect_refused("two Hash keys", v, X509A_FMT_XFCC, "two Hash keys");
    v = apr_pstrcat(tc_pool, hash, ";Cert=", cert, ";", ENVOY_SUBJECT, ";",
                    ENVOY_SUBJECT, NULL);
    expect_refused("two Subject keys", v, X509A_FMT_XFCC, "two Subject keys");
    v = apr_pstrcat(tc_pool, hash, ";Cert=", cert, ";", ENVOY_URI, ";DNS=a;",
                    ENVOY_URI, NULL);
    expect_refused("URI after DNS", v, X509A_FMT_XFCC, "URI after DNS");
    v = apr_pstrcat(tc_pool, "Cert=", cert, ";", hash, NULL);
    expect_refused("Hash after Cert", v, X509A_FMT_XFCC, "Hash after Cert");
    v = apr_pstrcat(tc_pool, hash, ";", ENVOY_BY, ";Cert=", cert, NULL);
    expect_refused("By after Hash", v, X509A_FMT_XFCC, "By after Hash");
    v = apr_pstrcat(tc_pool, hash, ";Chain=", cert, ";Cert=", cert, NULL);
    expect_refused("Cert after Chain", v, X509A_FMT_XFCC, "Cert after Chain");
    v = apr_pstrcat(tc_pool, hash, ";Cert=", cert, ";", ENVOY_URI, ";",
                    ENVOY_SUBJECT, NULL);
    expect_refused("Subject after URI", v, X509A_FMT_XFCC,
                   "Subject after URI");
    v = apr_pstrcat(tc_pool, hash, ";Cert=", cert, ";SAN=spiffe://a", NULL);
    expect_refused("SAN key", v, X509A_FMT_XFCC, "SAN is not one Envoy");
    v = apr_pstrcat(tc_pool, hash, ";X-Cert=", cert, NULL);
    expect_refused("unknown key", v, X509A_FMT_XFCC, "not one Envoy writes");
    v = apr_pstrcat(tc_pool, hash, ";junk;Cert=", cert, NULL);
    expect_refused("part without '='", v, X509A_FMT_XFCC, "key=value");
    v = apr_pstrcat(tc_pool, hash, ";=x;Cert=", cert, NULL);
    expect_refused("empty key", v, X509A_FMT_XFCC, "key=value");
    v = apr_pstrcat(tc_pool, hash, ";Cert=", cert, ";", NULL);
    expect_refused("trailing ';'", v, X509A_FMT_XFCC, NULL);
    v = apr_pstrcat(tc_pool, hash, ";Cert=", cert, ",", NULL);
    expect_refused("trailing ','", v, X509A_FMT_XFCC_APPEND, NULL);
    v = apr_pstrcat(tc_pool, ",", hash, ";Cert=", cert, NULL);
    expect_refused("leading ','", v, X509A_FMT_XFCC_APPEND, NULL);
    v = "";
    for (i = 0; i < 70; i++) {
        v = apr_pstrcat(tc_pool, v, ENVOY_HASH, ",", NULL);
    }
    v = apr_pstrcat(tc_pool, v, hash, ";Cert=", cert, NULL);
    expect_refused("70 elements", v, X509A_FMT_XFCC_APPEND, NULL);

    /* certificates */
    v = apr_pstrcat(tc_pool, hash, ";Cert=", xfcc_pem(apr_pstrcat(
                        tc_pool, pem(pki.leaf), pem(pki.inter), NULL)), NULL);
    expect_refused("Cert with two certificates", v, X509A_FMT_XFCC,
                   "several");
    v = apr_pstrcat(tc_pool, hash, ";Cert=\"", b64(pki.leaf), "\"", NULL);
    expect_refused("Cert as base64 DER", v, X509A_FMT_XFCC, "Cert");
    v = apr_pstrcat(tc_pool, hash, ";Cert=",
                    xfcc_pem(armour(b64_der_edit(pki.leaf, 3, "", 0))), NULL);
    expect_refused("Cert with a cut DER", v, X509A_FMT_XFCC,
                   "not a DER certificate");
    v = apr_pstrcat(tc_pool, hash, ";Cert=", cert, ";Chain=\"junk\"", NULL);
    expect_refused("bad Chain", v, X509A_FMT_XFCC, "Chain");
    v = apr_pstrcat(tc_pool, hash, ";Cert=", cert, ";Chain=",
                    xfcc_pem(pem(pki.inter)), NULL);
    expect_refused("Chain without the leaf", v, X509A_FMT_XFCC,
                   "Chain does not start with the Cert");
    v = apr_pstrcat(tc_pool, hash, ";Cert=", cert, ";Chain=",
                    xfcc_pem(apr_pstrcat(tc_pool, pem(pki.fake_leaf),
                                         pem(pki.inter), NULL)), NULL);
    expect_refused("Chain of another leaf", v, X509A_FMT_XFCC,
                   "Chain does not start with the Cert");
    v = apr_pstrcat(tc_pool, hash, ";Cert=\"", pct(pem(pki.leaf), NULL, 0),
                    "%ZZ\"", NULL);
    expect_refused("%ZZ in Cert", v, X509A_FMT_XFCC, "percent");
    v = apr_pstrcat(tc_pool, hash, ";Cert=\"", pct(pem(pki.leaf), NULL, 0),
                    "%00\"", NULL);
    expect_refused("%00 in Cert", v, X509A_FMT_XFCC, "percent");
    expect_refused("PEM given as xfcc", pem(pki.leaf), X509A_FMT_XFCC, NULL);
    expect_refused("base64 given as xfcc", b64(pki.leaf), X509A_FMT_XFCC,
                   NULL);
    expect_refused("PEM given as xfcc-append", pem(pki.leaf),
                   X509A_FMT_XFCC_APPEND, NULL);
}
END_TEST

START_TEST(decode_xfcc_quoted_escape_at_end)
{
    /* A quoted Cert whose percent-encoding is cut short ("...%0" at its
     * end) must be refused.  xfcc_value() copies the unquoted value into a
     * buffer without a terminating NUL, and APR's unescaper looks at the
     * two bytes after a '%', so it reads the byte after that copy.  To
     * make the outcome reproducible, the memory the pool will hand out is
     * first filled with 'A' at even addresses and NUL at odd ones (the node
     * of a destroyed pool is reused by the next pool created). */
    const char *enc = pct(pem(pki.leaf), NULL, 0);
    apr_pool_t *sub;
    char *fill, *probe;
    const char *quoted, *v, *err;
    apr_size_t i, n;
    x509a_forwarded f;

    ck_assert(strlen(enc) > 3 && strcmp(enc + strlen(enc) - 3, "%0A") == 0);
    quoted = apr_pstrcat(tc_pool, apr_pstrndup(tc_pool, enc, strlen(enc) - 3),
                         "%0", NULL);
    if (strlen(quoted) % 2) {
        quoted = apr_pstrcat(tc_pool, "%0A", quoted, NULL);
    }
    v = apr_pstrcat(tc_pool, xfcc_hash(pki.leaf), ";Cert=\"", quoted, "\"",
                    NULL);
    n = strlen(v) + 64;

    ck_assert_int_eq(apr_pool_create(&sub, tc_pool), APR_SUCCESS);
    fill = apr_palloc(sub, 4 * n);
    for (i = 0; i < 4 * n; i++) {
        fill[i] = ((uintptr_t)(fill + i) & 1) ? '\0' : 'A';
    }
    apr_pool_destroy(sub);
    ck_assert_int_eq(apr_pool_create(&sub, tc_pool), APR_SUCCESS);
    probe = apr_palloc(sub, 8);
    if (probe != fill) {
        /* the premise does not hold here: just decode */
        fprintf(stderr, "decode_xfcc_quoted_escape_at_end: pool memory not "
                "reused, test is not deterministic\n");
    }
    apr_pool_destroy(sub);
    ck_assert_int_eq(apr_pool_create(&sub, tc_pool), APR_SUCCESS);
    memset(&f, 0, sizeof(f));
    err = x509a_decode_leaf(sub, v, X509A_FMT_XFCC, MAX_LEN, &f);
    ck_assert_msg(err != NULL, "quoted Cert ending in \"%%0\" accepted (the "
                  "byte after the unquoted copy completed the escape)");
    ck_assert_msg(tc_contains(err, "percent"), "reason: %s", err);
    apr_pool_destroy(sub);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* auto, none, strictness                                                  */
/* ---------------------------------------------------------------------- */

START_TEST(decode_auto_detection)
{
    X509 *x = cert_with_specials();
    const char *text = pem(x);
    const struct {
        const char *what, *value;
    } cases[] = {
        { "PEM", text },
        { "nginx escaped PEM", pct(text, NULL, 0) },
        { "ALB escaped PEM", pct(text, "+=/", 0) },
        { "PEM with spaces", replace(text, "\n", " ") },
        { "tab-folded PEM", replace(text, "\n", "\n\t") },
        { "PEM with space+TAB", replace(text, "\n", " \t") },
        { "base64 DER", b64(x) },
        { "PEM body", pem_body(text) },
        { "escaped base64 DER", pct(b64(x), NULL, 0) },
        { "RFC 9440", apr_pstrcat(tc_pool, ":", b64(x), ":", NULL) },
        { "RFC 9440 with parameters",
          apr_pstrcat(tc_pool, ":", b64(x), ":;a=1;b", NULL) },
        { "XFCC Cert", apr_pstrcat(tc_pool, ENVOY_BY, ";", xfcc_hash(x),
                                   ";Cert=", xfcc_pem(text), NULL) },
        { "XFCC Hash first", apr_pstrcat(tc_pool, xfcc_hash(x), ";Cert=",
                                         xfcc_pem(text), NULL) },
        { "XFCC Chain", apr_pstrcat(tc_pool, xfcc_hash(x), ";Chain=",
                                    xfcc_pem(text), NULL) },
    };
    int i;

    for (i = 0; i < (int)(sizeof(cases) / sizeof(cases[0])); i++) {
        expect_leaf(cases[i].what, cases[i].value, X509A_FMT_AUTO, x, 0);
    }
}
END_TEST

START_TEST(decode_none)
{
    static const char *const none[] = {
        "", "(null)", "-", " ", "\t", " \t \t", " (null) ", "\t-\t", NULL
    };
    int i, j;

    for (i = 0; i < N_FORMATS; i++) {
        for (j = 0; none[j]; j++) {
            expect_none(none[j], all_formats[i]);
        }
    }
    /* not "none" */
    expect_refused("(null) twice", "(null), (null)", X509A_FMT_AUTO, NULL);
    expect_refused("--", "--", X509A_FMT_AUTO, NULL);
    expect_refused("null", "null", X509A_FMT_AUTO, NULL);
}
END_TEST

START_TEST(decode_strict_base64)
{
    const char *v = b64(pki.leaf), *bad, *padded;
    static const char badc[] = "!-_.*\"%";
    int i;

    for (i = 0; badc[i]; i++) {
        char *w = apr_pstrdup(tc_pool, v);
        char what[64];

        w[10] = badc[i];
        snprintf(what, sizeof(what), "base64 with '%c'", badc[i]);
        if (badc[i] != '%') {
            expect_refused(what, w, X509A_FMT_AUTO, NULL);
            expect_refused(what, w, X509A_FMT_DER_BASE64, NULL);
        }
        expect_refused(what, armour(w), X509A_FMT_AUTO, NULL);
        expect_refused(what, apr_pstrcat(tc_pool, ":", w, ":", NULL),
                       X509A_FMT_RFC9440, NULL);
        expect_refused(what, apr_pstrcat(tc_pool, w, ",", b64(pki.inter), NULL),
                       X509A_FMT_LIST, NULL);
    }
    bad = apr_pstrcat(tc_pool, apr_pstrndup(tc_pool, v, 10), "!",
                      v + 11, NULL);
    expect_refused("bad char", bad, X509A_FMT_AUTO, "bad base64");
    expect_refused("bad char in PEM", armour(bad), X509A_FMT_PEM, "bad base64");

    /* length */
    bad = apr_pstrndup(tc_pool, v, strlen(v) - 1);
    expect_refused("one char less", bad, X509A_FMT_AUTO, "bad base64 length");
    expect_refused("one char less", armour(bad), X509A_FMT_PEM, "length");
    {
        size_t len;

        /* unpadded base64 and one more character: 4n+1 characters, which
         * no padding can make base64 */
        tc_cert_der(tc_pool, pki.leaf, &len);
        bad = apr_pstrcat(tc_pool, b64_der_edit(pki.leaf, len % 3, "", 0), "A",
                          NULL);
    }
    ck_assert_int_eq(strlen(bad) % 4, 1);
    expect_refused("one char more", bad, X509A_FMT_DER_BASE64,
                   "bad base64 length");
    expect_refused("4n+1 characters", apr_pstrcat(tc_pool, ":", bad, ":", NULL),
                   X509A_FMT_RFC9440, "length");
    expect_refused("4n+1 characters", apr_pstrcat(tc_pool, bad, ",", v, NULL),
                   X509A_FMT_LIST, "length");
    expect_refused("three pads", "A===", X509A_FMT_DER_BASE64, "length");
    expect_refused("only pads", "====", X509A_FMT_DER_BASE64, NULL);

    /* data after the padding */
    padded = b64_der_edit(pki.leaf, 0, "", 0);
    if (!strchr(padded, '=')) {
        padded = b64_der_edit(pki.leaf, 1, "", 0);
    }
    ck_assert(strchr(padded, '=') != NULL);
    bad = apr_pstrcat(tc_pool, padded, "AAAA", NULL);
    expect_refused("data after padding", bad, X509A_FMT_AUTO,
                   "data after base64 padding");
    expect_refused("data after padding", armour(bad), X509A_FMT_PEM,
                   "data after base64 padding");
    expect_refused("data after padding",
                   apr_pstrcat(tc_pool, ":", bad, ":", NULL),
                   X509A_FMT_RFC9440, "data after base64 padding");
    expect_refused("'=' inside",
                   apr_pstrcat(tc_pool, apr_pstrndup(tc_pool, v, 8), "=",
                               v + 9, NULL),
                   X509A_FMT_AUTO, "padding");
    bad = apr_pstrcat(tc_pool, padded, " ", padded, NULL);
    expect_refused("two base64 values", bad, X509A_FMT_AUTO, "padding");
}
END_TEST

START_TEST(decode_strict_der)
{
    const char *trail = b64_der_edit(pki.leaf, 0, "\0\0", 2);
    const char *trail2 = b64_der_edit(pki.leaf, 0, "xyz", 3);
    const char *cut = b64_der_edit(pki.leaf, 10, "", 0);
    size_t len;
    unsigned char *inter_der = tc_cert_der(tc_pool, pki.inter, &len);
    const char *two = b64_der_edit(pki.leaf, 0, (const char *)inter_der, len);
    const char *hello = tc_base64(tc_pool, (const unsigned char *)"hello world",
                                  11);

    expect_refused("DER + 2 NULs", trail, X509A_FMT_AUTO,
                   "data after the certificate");
    expect_refused("DER + 2 NULs", trail, X509A_FMT_DER_BASE64,
                   "data after the certificate");
    expect_refused("DER + 'xyz'", trail2, X509A_FMT_AUTO,
                   "data after the certificate");
    expect_refused("DER + 'xyz' in PEM", armour(trail2), X509A_FMT_AUTO,
                   "data after the certificate");
    expect_refused("DER + 'xyz' in PEM", armour(trail2), X509A_FMT_PEM,
                   "data after the certificate");
    expect_refused("DER + 'xyz'", apr_pstrcat(tc_pool, ":", trail2, ":", NULL),
                   X509A_FMT_RFC9440, "data after the certificate");
    expect_refused("DER + 'xyz'", apr_pstrcat(tc_pool, trail2, ",",
                                              b64(pki.inter), NULL),
                   X509A_FMT_LIST, "data after the certificate");
    expect_refused("DER + 'xyz'",
                   apr_pstrcat(tc_pool, xfcc_hash(pki.leaf), ";Cert=",
                               xfcc_pem(armour(trail2)), NULL),
                   X509A_FMT_XFCC, "data after the certificate");
    expect_refused("two DER certificates in one base64", two, X509A_FMT_AUTO,
                   "data after the certificate");
    expect_refused("cut DER", cut, X509A_FMT_AUTO, "not a DER certificate");
    expect_refused("cut DER", armour(cut), X509A_FMT_AUTO,
                   "not a DER certificate");
    expect_refused("cut DER", apr_pstrcat(tc_pool, ":", cut, ":", NULL),
                   X509A_FMT_AUTO, "not a DER certificate");
    expect_refused("DER cut by one byte", b64_der_edit(pki.leaf, 1, "", 0),
                   X509A_FMT_DER_BASE64, "not a DER certificate");
    expect_refused("not a certificate", hello, X509A_FMT_AUTO,
                   "not a DER certificate");
}
END_TEST

START_TEST(decode_strict_pem)
{
    const char *text = pem(pki.leaf), *v;

    expect_refused("text before the armour",
                   apr_pstrcat(tc_pool, "cert: ", text, NULL), X509A_FMT_PEM,
                   "data outside the PEM armour");
    expect_refused("text before the armour",
                   apr_pstrcat(tc_pool, "cert: ", text, NULL), X509A_FMT_AUTO,
                   NULL);
    expect_refused("text after the armour",
                   apr_pstrcat(tc_pool, text, "junk", NULL), X509A_FMT_AUTO,
                   "data outside the PEM armour");
    expect_refused("text after the armour",
                   apr_pstrcat(tc_pool, text, "junk\n", NULL), X509A_FMT_PEM,
                   "data outside the PEM armour");
    expect_refused("escaped text after the armour",
                   pct(apr_pstrcat(tc_pool, text, "x", NULL), NULL, 0),
                   X509A_FMT_AUTO, "data outside the PEM armour");
    v = apr_pstrndup(tc_pool, text, strstr(text, "-----END") - text);
    expect_refused("no END line", v, X509A_FMT_AUTO, "without END line");
    expect_refused("no END line", v, X509A_FMT_PEM, "without END line");
    expect_refused("no END line, escaped", pct(v, NULL, 0), X509A_FMT_AUTO,
                   "without END line");
    expect_refused("END cut", apr_pstrndup(tc_pool, text, strlen(text) - 3),
                   X509A_FMT_AUTO, "without END line");
    expect_refused("second certificate without END",
                   apr_pstrcat(tc_pool, text, v, NULL), X509A_FMT_PEM,
                   "without END line");
    expect_refused("BEGIN inside a body",
                   apr_pstrcat(tc_pool, v, text, NULL), X509A_FMT_PEM, NULL);
    expect_refused("CRL label", replace(text, "CERTIFICATE", "X509 CRL"),
                   X509A_FMT_PEM, "data outside the PEM armour");
    expect_refused("CRL label", replace(text, "CERTIFICATE", "X509 CRL"),
                   X509A_FMT_AUTO, "data outside the PEM armour");
    expect_refused("TRUSTED CERTIFICATE label",
                   replace(text, "CERTIFICATE", "TRUSTED CERTIFICATE"),
                   X509A_FMT_AUTO, NULL);
    expect_refused("empty body",
                   "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
                   X509A_FMT_AUTO, NULL);
    expect_refused("armour only", "-----BEGIN CERTIFICATE-----",
                   X509A_FMT_PEM, "without END line");
    expect_refused("base64 DER given as pem", b64(pki.leaf), X509A_FMT_PEM,
                   "data outside the PEM armour");
    expect_refused("list given as pem",
                   apr_pstrcat(tc_pool, b64(pki.leaf), ",", b64(pki.inter),
                               NULL),
                   X509A_FMT_PEM, NULL);
}
END_TEST

START_TEST(decode_max_len)
{
    const char *v = b64(pki.leaf), *spaced, *err;
    apr_size_t len = strlen(v);
    x509a_forwarded f;
    int i;

    err = x509a_decode_leaf(tc_pool, v, X509A_FMT_AUTO, len, &f);
    ck_assert_msg(err == NULL, "length == limit refused: %s", err);
    ck_assert(X509_cmp(f.leaf, pki.leaf) == 0);
    err = x509a_decode_leaf(tc_pool, v, X509A_FMT_AUTO, len - 1, &f);
    ck_assert_ptr_nonnull(err);
    ck_assert_ptr_null(f.leaf);
    ck_assert_str_eq(err, apr_psprintf(tc_pool, "value of %d bytes exceeds "
                                       "the limit of %d", (int)len,
                                       (int)len - 1));
    /* the limit is on the value as it came, white space included */
    spaced = apr_pstrcat(tc_pool, "  ", v, "  ", NULL);
    err = x509a_decode_leaf(tc_pool, spaced, X509A_FMT_AUTO, len + 4, &f);
    ck_assert_msg(err == NULL, "length == limit refused: %s", err);
    err = x509a_decode_leaf(tc_pool, spaced, X509A_FMT_AUTO, len + 3, &f);
    ck_assert_ptr_nonnull(err);
    ck_assert(tc_contains(err, "exceeds the limit"));
    /* every format */
    v = apr_pstrcat(tc_pool, xfcc_hash(pki.leaf), ";Cert=",
                    xfcc_pem(pem(pki.leaf)), NULL);
    for (i = 0; i < N_FORMATS; i++) {
        err = x509a_decode_leaf(tc_pool, v, all_formats[i], strlen(v) - 1, &f);
        ck_assert_msg(err && tc_contains(err, "exceeds the limit"),
                      "%s: over the limit: %s",
                      x509a_format_name(all_formats[i]), err);
    }
    err = x509a_decode_leaf(tc_pool, v, X509A_FMT_XFCC, strlen(v), &f);
    ck_assert_msg(err == NULL, "xfcc at the limit: %s", err);
    err = x509a_decode_leaf(tc_pool, v, X509A_FMT_XFCC_APPEND, strlen(v), &f);
    ck_assert_msg(err == NULL, "xfcc-append at the limit: %s", err);
}
END_TEST

START_TEST(decode_percent_errors)
{
    const char *enc = pct(pem(pki.leaf), NULL, 0);
    apr_size_t mid = strlen(enc) / 2;
    static const char *const bad[] = { "%00", "%ZZ", "%G1", "%1G", "%%41", NULL };
    int i;

    /* a valid escape first, so that the value is known to be decoded */
    while (enc[mid] == '%' || enc[mid - 1] == '%' || enc[mid - 2] == '%') {
        mid++;
    }
    for (i = 0; bad[i]; i++) {
        const char *at_start = apr_pstrcat(tc_pool, bad[i], enc, NULL);
        const char *inside = apr_pstrcat(tc_pool, apr_pstrndup(tc_pool, enc,
                                                              mid),
                                         bad[i], enc + mid, NULL);
        const char *at_end = apr_pstrcat(tc_pool, enc, bad[i], NULL);

        expect_refused(bad[i], at_start, X509A_FMT_AUTO, "percent");
        expect_refused(bad[i], inside, X509A_FMT_AUTO, "percent");
        expect_refused(bad[i], inside, X509A_FMT_PEM, "percent");
        expect_refused(bad[i], at_end, X509A_FMT_AUTO, "percent");
        expect_refused(bad[i], at_end, X509A_FMT_PEM, "percent");
        expect_chain_refused(bad[i], inside, "percent");
        expect_refused(bad[i], apr_pstrcat(tc_pool, pct(b64(pki.leaf), NULL, 0),
                                           bad[i], NULL),
                       X509A_FMT_DER_BASE64, "percent");
    }
    /* an escape cut short at the end */
    expect_refused("%4 at the end", apr_pstrcat(tc_pool, enc, "%4", NULL),
                   X509A_FMT_AUTO, "percent");
    expect_refused("% at the end", apr_pstrcat(tc_pool, enc, "%", NULL),
                   X509A_FMT_PEM, "percent");
    expect_refused("%4 then OWS", apr_pstrcat(tc_pool, enc, "%4 ", NULL),
                   X509A_FMT_AUTO, "percent");
    expect_refused("%4 in a list",
                   apr_pstrcat(tc_pool, b64(pki.leaf), ",", b64(pki.inter),
                               "%4", NULL),
                   X509A_FMT_LIST, "percent");
    expect_chain_refused("%4 at the end", apr_pstrcat(tc_pool, enc, "%4", NULL),
                         "percent");
    /* NUL spelt in the middle of the base64 */
    expect_refused("%00 in base64",
                   apr_pstrcat(tc_pool, "MII%00", b64(pki.leaf) + 3, NULL),
                   X509A_FMT_AUTO, "percent");
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Intermediates                                                           */
/* ---------------------------------------------------------------------- */

START_TEST(decode_chain_rfc9440)
{
    const char *i = apr_pstrcat(tc_pool, ":", b64(pki.inter), ":", NULL);
    const char *r = apr_pstrcat(tc_pool, ":", b64(pki.root), ":", NULL);
    X509 *ir[] = { pki.inter, pki.root, NULL };
    X509 *one[] = { pki.inter, NULL };
    X509 *three[] = { pki.inter, pki.root, pki.inter, NULL };

    expect_chain("one item", i, one);
    expect_chain("two items", apr_pstrcat(tc_pool, i, ", ", r, NULL), ir);
    expect_chain("two items, no space", apr_pstrcat(tc_pool, i, ",", r, NULL),
                 ir);
    expect_chain("two items, OWS",
                 apr_pstrcat(tc_pool, " ", i, " \t,\t  ", r, "\t ", NULL), ir);
    expect_chain("three items", apr_pstrcat(tc_pool, i, ", ", r, ", ", i, NULL),
                 three);
    expect_chain("parameters",
                 apr_pstrcat(tc_pool, i, ";a=1;b, ", r, ";c=\"x, y\"", NULL),
                 ir);

    expect_chain_refused("trailing comma", apr_pstrcat(tc_pool, i, ",", NULL),
                         NULL);
    expect_chain_refused("trailing comma and OWS",
                         apr_pstrcat(tc_pool, i, ", ", NULL), NULL);
    expect_chain_refused("empty item", apr_pstrcat(tc_pool, i, ",,", r, NULL),
                         NULL);
    expect_chain_refused("no comma", apr_pstrcat(tc_pool, i, " ", r, NULL),
                         "data after a byte sequence");
    expect_chain_refused("unterminated",
                         apr_pstrcat(tc_pool, i, ", :", b64(pki.root), NULL),
                         "unterminated");
    expect_chain_refused("token item", apr_pstrcat(tc_pool, i, ", abc", NULL),
                         NULL);
    expect_chain_refused("bad base64 item",
                         apr_pstrcat(tc_pool, i, ", :abc!:", NULL), NULL);
    expect_chain_refused("cut DER item",
                         apr_pstrcat(tc_pool, i, ", :",
                                     b64_der_edit(pki.root, 4, "", 0), ":",
                                     NULL),
                         "not a DER certificate");
    expect_chain_refused("bad parameter",
                         apr_pstrcat(tc_pool, i, ";A, ", r, NULL), "parameter");
    expect_chain_refused("space inside",
                         apr_pstrcat(tc_pool, ":", replace(pem_body(
                             pem(pki.inter)), "\n", " "), ":", NULL),
                         "white space");
}
END_TEST

START_TEST(decode_chain_appendix_a)
{
    STACK_OF(X509) *sk;
    x509a_forwarded f;
    const char *err;
    X509 *want[3];

    /* decoded with the leaf decoder's pem format, Figure 1 gives the
     * reference certificates */
    memset(&f, 0, sizeof(f));
    err = x509a_decode_leaf(tc_pool, rfc9440_fig1, X509A_FMT_PEM, MAX_LEN, &f);
    ck_assert_msg(err == NULL, "Figure 1 refused: %s", err);
    ck_assert_int_eq(nchain(f.chain), 2);
    want[0] = sk_X509_value(f.chain, 0);
    want[1] = sk_X509_value(f.chain, 1);
    want[2] = NULL;
    sk = expect_chain("Figure 3", rfc9440_client_cert_chain, want);
    ck_assert_str_eq(cn_of(sk_X509_value(sk, 0)), "LA Intermediate CA");
    ck_assert_str_eq(serial_hex(sk_X509_value(sk, 0)), "16");
    ck_assert_str_eq(cn_of(sk_X509_value(sk, 1)),
                     "Let's Authenticate Root Authority");
    ck_assert_str_eq(serial_hex(sk_X509_value(sk, 1)), "A4B4CA2A8AB65868");
    /* the leaf does not belong in Client-Cert-Chain but decodes */
    want[0] = f.leaf;
    want[1] = NULL;
    expect_chain("Figure 2 as a chain", rfc9440_client_cert, want);
}
END_TEST

START_TEST(decode_chain_pem_base64)
{
    const char *bundle = apr_pstrcat(tc_pool, pem(pki.inter), pem(pki.root),
                                     NULL);
    X509 *ir[] = { pki.inter, pki.root, NULL };
    X509 *one[] = { pki.inter, NULL };
    X509 *none[] = { NULL };
    static const char *const nothing[] = {
        "", "(null)", "-", " ", "\t \t", " (null)\t", NULL
    };
    STACK_OF(X509) *sk;
    const char *err;
    int i;

    expect_chain("PEM bundle", bundle, ir);
    expect_chain("escaped PEM bundle", pct(bundle, NULL, 0), ir);
    expect_chain("ALB escaped PEM bundle", pct(bundle, "+=/", 0), ir);
    expect_chain("PEM bundle, spaces", replace(bundle, "\n", " "), ir);
    expect_chain("PEM bundle, tab-folded", replace(bundle, "\n", "\n\t"), ir);
    expect_chain("PEM fields joined by httpd",
                 apr_pstrcat(tc_pool, pem(pki.inter), ", ", pem(pki.root),
                             NULL), ir);
    expect_chain("one PEM", pem(pki.inter), one);
    expect_chain("base64 DER", b64(pki.inter), one);
    expect_chain("PEM body", pem_body(pem(pki.inter)), one);
    expect_chain("escaped base64 DER", pct(b64(pki.inter), NULL, 0), one);
    for (i = 0; nothing[i]; i++) {
        expect_chain(nothing[i], nothing[i], none);
    }

    /* appended to what the stack holds */
    sk = tc_stack(tc_pool, pki.leaf, NULL);
    err = x509a_decode_chain(tc_pool, bundle, MAX_LEN, sk);
    ck_assert_ptr_null(err);
    ck_assert_int_eq(sk_X509_num(sk), 3);
    ck_assert(X509_cmp(sk_X509_value(sk, 0), pki.leaf) == 0);
    ck_assert(X509_cmp(sk_X509_value(sk, 1), pki.inter) == 0);
    ck_assert(X509_cmp(sk_X509_value(sk, 2), pki.root) == 0);
    err = x509a_decode_chain(tc_pool, "(null)", MAX_LEN, sk);
    ck_assert_ptr_null(err);
    ck_assert_int_eq(sk_X509_num(sk), 3);

    /* malformed */
    expect_chain_refused("two base64 values",
                         apr_pstrcat(tc_pool, b64(pki.inter), ", ",
                                     b64(pki.root), NULL),
                         "more than one value");
    expect_chain_refused("bad base64", replace(b64(pki.inter), "M", "!"),
                         "bad base64");
    expect_chain_refused("trailing bytes",
                         b64_der_edit(pki.inter, 0, "\0", 1),
                         "data after the certificate");
    expect_chain_refused("text after the armour",
                         apr_pstrcat(tc_pool, bundle, "x", NULL),
                         "data outside the PEM armour");
    expect_chain_refused("no END line",
                         apr_pstrndup(tc_pool, bundle, strlen(bundle) - 5),
                         "without END line");
    expect_chain_refused("cut DER in PEM",
                         apr_pstrcat(tc_pool, pem(pki.inter),
                                     armour(b64_der_edit(pki.root, 9, "", 0)),
                                     NULL),
                         "not a DER certificate");
    expect_chain_refused("junk", "junk", NULL);
    expect_chain_refused("XFCC", apr_pstrcat(tc_pool, "Chain=",
                                             xfcc_pem(bundle), NULL), NULL);

    /* the limit */
    sk = tc_stack(tc_pool, NULL);
    err = x509a_decode_chain(tc_pool, bundle, strlen(bundle), sk);
    ck_assert_msg(err == NULL, "chain at the limit: %s", err);
    ck_assert_int_eq(sk_X509_num(sk), 2);
    sk = tc_stack(tc_pool, NULL);
    err = x509a_decode_chain(tc_pool, bundle, strlen(bundle) - 1, sk);
    ck_assert_ptr_nonnull(err);
    ck_assert_str_eq(err, apr_psprintf(tc_pool, "value of %d bytes exceeds "
                                       "the limit of %d", (int)strlen(bundle),
                                       (int)strlen(bundle) - 1));
    ck_assert_int_eq(sk_X509_num(sk), 0);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Memory                                                                  */
/* ---------------------------------------------------------------------- */

/* Decoding in a pool of its own, successes and refusals that fail after
 * certificates were made: everything is released with the pool (run under
 * valgrind to see it). */
/* The DER step stops before d2i_X509(): it takes values whose bytes are
 * not a certificate, or have bytes after one, which x509a_decode_der()
 * (and so the full decoder) refuses; and declines XFCC. */
START_TEST(decode_der_step)
{
    const char *trail = b64_der_edit(pki.leaf, 0, "xyz", 3);
    const char *hello = tc_base64(tc_pool, (const unsigned char *)"hello", 5);
    x509a_forwarded_der d;
    size_t len;
    unsigned char *der = tc_cert_der(tc_pool, pki.leaf, &len);
    X509 *x = NULL;

    ck_assert_ptr_null(x509a_decode_leaf_der(tc_pool, trail,
                                             X509A_FMT_DER_BASE64, MAX_LEN,
                                             &d));
    ck_assert_uint_eq(d.leaf.len, len + 3);
    ck_assert_int_eq(memcmp(d.leaf.der, der, len), 0);
    ck_assert_str_eq(x509a_decode_der(d.leaf.der, d.leaf.len, &x),
                     "data after the certificate");
    ck_assert_ptr_null(x);
    ck_assert_ptr_null(x509a_decode_leaf_der(tc_pool, hello, X509A_FMT_AUTO,
                                             MAX_LEN, &d));
    ck_assert_str_eq(x509a_decode_der(d.leaf.der, d.leaf.len, &x),
                     "not a DER certificate");
    /* the leaf's bytes exactly, the bundle's intermediates after it */
    ck_assert_ptr_null(x509a_decode_leaf_der(
        tc_pool, apr_pstrcat(tc_pool, pem(pki.leaf), pem(pki.inter), NULL),
        X509A_FMT_PEM, MAX_LEN, &d));
    ck_assert_uint_eq(d.leaf.len, len);
    ck_assert_int_eq(memcmp(d.leaf.der, der, len), 0);
    ck_assert_int_eq(d.chain->nelts, 1);
    ck_assert_ptr_null(x509a_decode_der(d.leaf.der, d.leaf.len, &x));
    ck_assert_int_eq(X509_cmp(x, pki.leaf), 0);
    X509_free(x);
    /* framing refusals are the full decoder's */
    ck_assert_str_eq(x509a_decode_leaf_der(
        tc_pool, apr_pstrcat(tc_pool, pem(pki.leaf), pem(pki.inter), NULL),
        X509A_FMT_AUTO, MAX_LEN, &d),
        "more than one certificate (repeated header field?)");
    ck_assert_ptr_nonnull(x509a_decode_leaf_der(
        tc_pool, apr_pstrcat(tc_pool, b64(pki.leaf), "x", NULL),
        X509A_FMT_DER_BASE64, MAX_LEN, &d));
    ck_assert_ptr_nonnull(x509a_decode_leaf_der(tc_pool, b64(pki.leaf),
                                                X509A_FMT_DER_BASE64, 10,
                                                &d));
    /* XFCC: declined */
    ck_assert_ptr_null(x509a_decode_leaf_der(
        tc_pool, apr_pstrcat(tc_pool, xfcc_hash(pki.leaf), ";Cert=",
                             xfcc_pem(pem(pki.leaf)), NULL),
        X509A_FMT_AUTO, MAX_LEN, &d));
    ck_assert(d.unsupported);
    ck_assert_ptr_null(d.leaf.der);
    ck_assert_ptr_null(x509a_decode_leaf_der(tc_pool, "Hash=00",
                                             X509A_FMT_XFCC, MAX_LEN, &d));
    ck_assert(d.unsupported);
}
END_TEST

START_TEST(decode_pool_owns_everything)
{
    const char *two = apr_pstrcat(tc_pool, pem(pki.leaf), pem(pki.inter), NULL);
    const char *cert = xfcc_pem(pem(pki.leaf)), *h = xfcc_hash(pki.leaf);
    const char *sf = apr_pstrcat(tc_pool, ":", b64(pki.leaf), ":", NULL);
    X509 *san = leaf_with_sans(TC_SAN_URI, "a,b", 0, NULL);
    const struct {
        const char *value;
        x509a_format fmt;
        int ok;
    } cases[] = {
        { pem(pki.leaf), X509A_FMT_AUTO, 1 },
        { two, X509A_FMT_PEM, 1 },
        { two, X509A_FMT_AUTO, 0 },
        { apr_pstrcat(tc_pool, two, "x", NULL), X509A_FMT_PEM, 0 },
        { apr_pstrcat(tc_pool, pem(pki.leaf), armour("AAAA"), NULL),
          X509A_FMT_PEM, 0 },
        { b64(pki.leaf), X509A_FMT_DER_BASE64, 1 },
        { b64_der_edit(pki.leaf, 0, "x", 1), X509A_FMT_DER_BASE64, 0 },
        { apr_pstrcat(tc_pool, b64(pki.leaf), ",", b64(pki.inter), NULL),
          X509A_FMT_LIST, 1 },
        { apr_pstrcat(tc_pool, b64(pki.leaf), ",", b64(pki.inter), ",x", NULL),
          X509A_FMT_LIST, 0 },
        { sf, X509A_FMT_RFC9440, 1 },
        { apr_pstrcat(tc_pool, sf, ";a=1", NULL), X509A_FMT_RFC9440, 1 },
        { apr_pstrcat(tc_pool, sf, ";A", NULL), X509A_FMT_RFC9440, 0 },
        { apr_pstrcat(tc_pool, sf, ";a=", NULL), X509A_FMT_RFC9440, 0 },
        { apr_pstrcat(tc_pool, sf, ";a=\"x", NULL), X509A_FMT_RFC9440, 0 },
        { apr_pstrcat(tc_pool, sf, ", ", sf, NULL), X509A_FMT_RFC9440, 0 },
        { apr_pstrcat(tc_pool, sf, " x", NULL), X509A_FMT_RFC9440, 0 },
        { apr_pstrcat(tc_pool, h, ";Cert=", cert, NULL), X509A_FMT_XFCC, 1 },
        { apr_pstrcat(tc_pool, h, ";Cert=", cert, ";Chain=", xfcc_pem(two),
                      NULL), X509A_FMT_XFCC, 1 },
        { apr_pstrcat(tc_pool, h, ";Chain=", xfcc_pem(two), NULL),
          X509A_FMT_XFCC, 1 },
        { apr_pstrcat(tc_pool, h, ";Cert=", xfcc_pem(two), NULL),
          X509A_FMT_XFCC, 0 },
        { apr_pstrcat(tc_pool, h, ";Cert=\"x\";Chain=", xfcc_pem(two), NULL),
          X509A_FMT_XFCC, 0 },
        { apr_pstrcat(tc_pool, h, ";Cert=", cert, ";Chain=",
                      xfcc_pem(apr_pstrcat(tc_pool, two, "x", NULL)), NULL),
          X509A_FMT_XFCC, 0 },
        { apr_pstrcat(tc_pool, h, ";Cert=", cert, ";Chain=",
                      xfcc_pem(pem(pki.inter)), NULL), X509A_FMT_XFCC, 0 },
        { apr_pstrcat(tc_pool, xfcc_hash(pki.inter), ";Cert=", cert, NULL),
          X509A_FMT_XFCC, 0 },
        { apr_pstrcat(tc_pool, h, ";Cert=", cert, ",", h, ";Cert=", cert,
                      NULL), X509A_FMT_XFCC_APPEND, 1 },
        { apr_pstrcat(tc_pool, h, ";Cert=", cert, ",", h, ";Cert=", cert,
                      NULL), X509A_FMT_XFCC, 0 },
        { apr_pstrcat(tc_pool, h, ";Cert=", cert, ",", h, ";Chain=",
                      xfcc_pem(two), ";Cert=", cert, NULL),
          X509A_FMT_XFCC_APPEND, 0 },
        { xfcc_el(san, ";URI=a,b"), X509A_FMT_XFCC_APPEND, 0 },
    };
    const char *chains[] = {
        two, apr_pstrcat(tc_pool, sf, ", ", sf, NULL),
        apr_pstrcat(tc_pool, sf, ", ", sf, ";A", NULL),
        apr_pstrcat(tc_pool, sf, ", ", sf, " x", NULL),
        apr_pstrcat(tc_pool, two, "junk", NULL), NULL
    };
    int i, round;

    for (round = 0; round < 2; round++) {
        for (i = 0; i < (int)(sizeof(cases) / sizeof(cases[0])); i++) {
            apr_pool_t *sub;
            x509a_forwarded f;
            const char *err;

            ck_assert_int_eq(apr_pool_create(&sub, tc_pool), APR_SUCCESS);
            err = x509a_decode_leaf(sub, cases[i].value, cases[i].fmt, MAX_LEN,
                                    &f);
            ck_assert_msg(cases[i].ok ? err == NULL : err != NULL,
                          "case %d (%s): %s", i,
                          x509a_format_name(cases[i].fmt),
                          err ? err : "accepted");
            if (cases[i].ok) {
                ck_assert(X509_cmp(f.leaf, pki.leaf) == 0);
            }
            apr_pool_destroy(sub);
        }
        for (i = 0; chains[i]; i++) {
            apr_pool_t *sub;
            STACK_OF(X509) *sk;

            ck_assert_int_eq(apr_pool_create(&sub, tc_pool), APR_SUCCESS);
            sk = tc_stack(sub, NULL);
            x509a_decode_chain(sub, chains[i], MAX_LEN, sk);
            apr_pool_destroy(sub);
        }
    }
}
END_TEST

Suite *x509a_decode_suite(void)
{
    Suite *s = suite_create("x509a_decode");
    TCase *tc = tcase_create("leaf");

    tcase_add_checked_fixture(tc, decode_setup, tc_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, decode_format_names);
    tcase_add_test(tc, decode_pem_plain);
    tcase_add_test(tc, decode_context_of_its_own);
    tcase_add_test(tc, decode_base64_one_pass);
    tcase_add_test(tc, decode_pem_url_nginx);
    tcase_add_test(tc, decode_pem_url_plus_stays);
    tcase_add_test(tc, decode_pem_spaces);
    tcase_add_test(tc, decode_pem_tabs);
    tcase_add_test(tc, decode_der_base64);
    tcase_add_test(tc, decode_body_without_armour);
    tcase_add_test(tc, decode_pem_bundle);
    tcase_add_test(tc, decode_list);
    tcase_add_test(tc, decode_rfc9440);
    tcase_add_test(tc, decode_rfc9440_newline_inside);
    tcase_add_test(tc, decode_rfc9440_param_ows);
    tcase_add_test(tc, decode_rfc9440_unpadded);
    tcase_add_test(tc, decode_rfc9440_appendix_a);
    tcase_add_test(tc, decode_xfcc);
    tcase_add_test(tc, decode_xfcc_append);
    tcase_add_test(tc, decode_xfcc_san_injection);
    tcase_add_test(tc, decode_xfcc_malformed);
    tcase_add_test(tc, decode_xfcc_quoted_escape_at_end);
    tcase_add_test(tc, decode_auto_detection);
    tcase_add_test(tc, decode_none);
    suite_add_tcase(s, tc);

    tc = tcase_create("strict");
    tcase_add_checked_fixture(tc, decode_setup, tc_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, decode_strict_base64);
    tcase_add_test(tc, decode_strict_der);
    tcase_add_test(tc, decode_strict_pem);
    tcase_add_test(tc, decode_max_len);
    tcase_add_test(tc, decode_percent_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("chain");
    tcase_add_checked_fixture(tc, decode_setup, tc_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, decode_chain_rfc9440);
    tcase_add_test(tc, decode_chain_appendix_a);
    tcase_add_test(tc, decode_chain_pem_base64);
    tcase_add_test(tc, decode_der_step);
    tcase_add_test(tc, decode_pool_owns_everything);
    suite_add_tcase(s, tc);
    return s;
}
