/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/* x509a_cert: accessors, identity fields, exported variables, memo. */

#include <string.h>
#include <check.h>
#include <apr_strings.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "x509a_cert.h"
#include "testcert.h"
#include "suites.h"

/* 2024-01-02 03:04:05 UTC */
#define FULL_NOT_BEFORE ((time_t)1704164645)
/* 2050-12-31 23:59:59 UTC (GeneralizedTime) */
#define Y2050_END ((time_t)2556143999)

#define BIG_HEX "8F0102030405060708090A0B0C0D0E0F10111213"

#define FULL_S_DN "emailAddress=alice@subject.example,UID=asmith," \
    "CN=Alice Smith,OU=Security,OU=Engineering,O=Example Corp,DC=example,DC=com"
#define FULL_S_DN_LEGACY "/DC=com/DC=example/O=Example Corp/OU=Engineering" \
    "/OU=Security/CN=Alice Smith/UID=asmith/emailAddress=alice@subject.example"

static const tc_attr full_subject[] = {
    { "DC", "com" }, { "DC", "example" }, { "O", "Example Corp" },
    { "OU", "Engineering" }, { "OU", "Security" }, { "CN", "Alice Smith" },
    { "UID", "asmith" }, { "emailAddress", "alice@subject.example" }, { NULL }
};

static const tc_san full_san[] = {
    { TC_SAN_EMAIL, "alice@example.com" },
    { TC_SAN_DNS, "alice.example.com" },
    { TC_SAN_URI, "spiffe://example.com/user/alice" },
    { TC_SAN_UPN, "alice@corp.example" },
    { TC_SAN_EMAIL, "alice.smith@example.com" },
    { TC_SAN_DNS, "evil\nname.example.com" },
    { TC_SAN_OTHER_UTF8, "not-a-upn", "1.3.6.1.4.1.99999.1" },
    { TC_SAN_UPN, "asmith@corp.example" },
    { TC_SAN_URI, "https://example.com/alice" },
    { TC_SAN_END }
};

/* A leaf issued by pki->inter with every kind of field. */
static X509 *full_x509(tc_pki *pki)
{
    tc_spec s = { 0 };

    tc_pki_make(tc_pool, pki, 1);
    s.subject = full_subject;
    s.issuer = pki->inter;
    s.issuer_key = pki->inter_key;
    s.serial = "1001";
    s.not_before = FULL_NOT_BEFORE;
    s.san = full_san;
    s.eku = "clientAuth";
    return tc_cert(tc_pool, &s, NULL);
}

/* A self-signed certificate with this subject and serial. */
static x509a_cert *simple_cert(const tc_attr *subject, const char *serial,
                               const tc_san *san)
{
    tc_spec s = { 0 };

    s.subject = subject;
    s.serial = serial;
    s.san = san;
    return x509a_cert_make(tc_pool, tc_cert(tc_pool, &s, NULL));
}

static const char *var_in(const apr_array_header_t *vars, const char *name)
{
    int i;

    for (i = 0; i < vars->nelts; i++) {
        const x509a_var *v = &APR_ARRAY_IDX(vars, i, x509a_var);
        if (strcmp(v->name, name) == 0) {
            return v->value;
        }
    }
    return NULL;
}

typedef struct {
    const char *name;
    const char *value;
} expected_var;

/* @a vars holds exactly @a exp (names unique). */
static void assert_vars(const apr_array_header_t *vars,
                        const expected_var *exp, int n)
{
    int i, j;

    for (i = 0; i < n; i++) {
        const char *v = var_in(vars, exp[i].name);
        ck_assert_msg(v != NULL, "variable %s missing", exp[i].name);
        ck_assert_msg(strcmp(v, exp[i].value) == 0,
                      "variable %s is '%s', expected '%s'", exp[i].name, v,
                      exp[i].value);
    }
    for (i = 0; i < vars->nelts; i++) {
        const x509a_var *v = &APR_ARRAY_IDX(vars, i, x509a_var);
        int known = 0;
        for (j = 0; j < n; j++) {
            known |= strcmp(v->name, exp[j].name) == 0;
        }
        ck_assert_msg(known, "unexpected variable %s='%s'", v->name, v->value);
        for (j = i + 1; j < vars->nelts; j++) {
            ck_assert_msg(strcmp(v->name, APR_ARRAY_IDX(vars, j,
                                                        x509a_var).name) != 0,
                          "variable %s set twice", v->name);
        }
    }
    ck_assert_int_eq(vars->nelts, n);
}

static const char *str_at(const apr_array_header_t *a, int i)
{
    ck_assert_int_lt(i, a->nelts);
    return APR_ARRAY_IDX(a, i, const char *);
}

static const char *field(x509a_cert *c, const char *name)
{
    x509a_field f;
    const char *err = x509a_field_parse(tc_pool, name, &f);

    ck_assert_msg(err == NULL, "field '%s' rejected: %s", name, err);
    return x509a_cert_field(c, &f);
}

/* ---------------------------------------------------------------------- */
/* Accessors                                                               */
/* ---------------------------------------------------------------------- */

START_TEST(cert_accessors)
{
    tc_pki pki;
    X509 *x = full_x509(&pki);
    x509a_cert *c = x509a_cert_make(tc_pool, x);
    x509a_dn *dn;

    ck_assert_ptr_eq(x509a_cert_x509(c), x);
    ck_assert_ptr_eq(x509a_cert_pool(c), tc_pool);
    ck_assert_ptr_null(x509a_cert_verified_chain(c));
    ck_assert_ptr_null(x509a_cert_untrusted(c));
    ck_assert_ptr_null(x509a_cert_store(c));

    ck_assert_str_eq(x509a_cert_subject(c), FULL_S_DN);
    ck_assert_str_eq(x509a_cert_subject_legacy(c), FULL_S_DN_LEGACY);
    ck_assert_str_eq(x509a_cert_issuer(c), TC_INTER_DN);
    /* computed once */
    ck_assert_ptr_eq(x509a_cert_subject(c), x509a_cert_subject(c));
    ck_assert_ptr_eq(x509a_cert_subject_dn(c), x509a_cert_subject_dn(c));

    ck_assert_ptr_null(x509a_dn_parse(tc_pool, FULL_S_DN, &dn));
    ck_assert(x509a_dn_equal(x509a_cert_subject_dn(c), dn));
    ck_assert_ptr_null(x509a_dn_parse(tc_pool, FULL_S_DN_LEGACY, &dn));
    ck_assert(x509a_dn_equal(x509a_cert_subject_dn(c), dn));
    ck_assert_ptr_null(x509a_dn_parse(tc_pool, TC_INTER_DN, &dn));
    ck_assert(x509a_dn_equal(x509a_cert_issuer_dn(c), dn));
    ck_assert(!x509a_dn_equal(x509a_cert_subject_dn(c), dn));
    ck_assert_ptr_null(x509a_dn_parse(tc_pool, TC_ROOT_DN, &dn));
    ck_assert(!x509a_dn_equal(x509a_cert_issuer_dn(c), dn));
}
END_TEST

START_TEST(cert_utf8_names)
{
    static const tc_attr subj[] = {
        { "C", "DE" }, { "O", "Müller GmbH" }, { "CN", "Jürgen" }, { NULL }
    };
    x509a_cert *c = simple_cert(subj, NULL, NULL);

    ck_assert_str_eq(x509a_cert_subject(c), "CN=Jürgen,O=Müller GmbH,C=DE");
    ck_assert_str_eq(x509a_cert_issuer(c), "CN=Jürgen,O=Müller GmbH,C=DE");
    ck_assert_str_eq(x509a_cert_subject_legacy(c),
                     "/C=DE/O=M\\xC3\\xBCller GmbH/CN=J\\xC3\\xBCrgen");
}
END_TEST

START_TEST(cert_make_reference)
{
    tc_spec s = { 0 };
    X509 *mine;
    x509a_cert *c;
    apr_pool_t *sub;
    static const tc_attr subj[] = { { "CN", "ref" }, { NULL } };

    s.subject = subj;
    mine = X509_dup(tc_cert(tc_pool, &s, NULL));
    apr_pool_create(&sub, tc_pool);
    c = x509a_cert_make(sub, mine);
    X509_free(mine);   /* the object keeps its own reference */
    ck_assert_str_eq(x509a_cert_subject(c), "CN=ref");
    apr_pool_destroy(sub);
}
END_TEST

static void assert_serial(const char *serial, const char *hex, const char *dec)
{
    static const tc_attr subj[] = { { "CN", "s" }, { NULL } };
    x509a_cert *c = simple_cert(subj, serial, NULL);
    BIO *bio = BIO_new(BIO_s_mem());
    char *ref;
    long n;
    x509a_serial parsed;

    /* the reference: mod_ssl's i2a_ASN1_INTEGER */
    i2a_ASN1_INTEGER(bio, X509_get0_serialNumber(x509a_cert_x509(c)));
    n = BIO_get_mem_data(bio, &ref);
    ref = apr_pstrmemdup(tc_pool, ref, n);
    BIO_free(bio);

    ck_assert_str_eq(x509a_cert_serial_hex(c), hex);
    ck_assert_str_eq(x509a_cert_serial_hex(c), ref);
    ck_assert_str_eq(x509a_cert_serial_dec(c), dec);
    ck_assert_ptr_null(x509a_serial_parse(tc_pool, dec, &parsed));
    ck_assert(x509a_serial_equal(x509a_cert_serial(c), &parsed));
}

START_TEST(cert_serial)
{
    BIGNUM *bn = NULL;
    char *dec, *negdec;

    assert_serial("1001", "1001", "4097");
    assert_serial("1", "01", "1");
    assert_serial("0", "00", "0");
    assert_serial("FF", "FF", "255");
    assert_serial("ABCDEF", "ABCDEF", "11259375");
    assert_serial("-1001", "-1001", "-4097");
    BN_hex2bn(&bn, BIG_HEX);
    dec = BN_bn2dec(bn);
    negdec = apr_pstrcat(tc_pool, "-", dec, NULL);
    assert_serial(BIG_HEX, BIG_HEX, dec);
    assert_serial("-" BIG_HEX, "-" BIG_HEX, negdec);
    OPENSSL_free(dec);
    BN_free(bn);
}
END_TEST

START_TEST(cert_digests)
{
    tc_pki pki;
    X509 *x = full_x509(&pki);
    x509a_cert *c = x509a_cert_make(tc_pool, x);
    unsigned char s256[32], s1[20];
    unsigned int n;

    X509_digest(x, EVP_sha256(), s256, &n);
    X509_digest(x, EVP_sha1(), s1, &n);
    ck_assert_mem_eq(x509a_cert_digest(c, X509A_DIGEST_SHA256), s256, 32);
    ck_assert_mem_eq(x509a_cert_digest(c, X509A_DIGEST_SHA1), s1, 20);
    ck_assert_str_eq(x509a_cert_digest_hex(c, X509A_DIGEST_SHA256),
                     tc_digest_hex(tc_pool, x, EVP_sha256()));
    ck_assert_str_eq(x509a_cert_digest_hex(c, X509A_DIGEST_SHA1),
                     tc_digest_hex(tc_pool, x, EVP_sha1()));
    ck_assert_int_eq(strlen(x509a_cert_digest_hex(c, X509A_DIGEST_SHA256)), 64);
    ck_assert_int_eq(strlen(x509a_cert_digest_hex(c, X509A_DIGEST_SHA1)), 40);
    /* another certificate, another digest */
    {
        x509a_cert *d = x509a_cert_make(tc_pool, pki.leaf);
        ck_assert_str_ne(x509a_cert_digest_hex(c, X509A_DIGEST_SHA256),
                         x509a_cert_digest_hex(d, X509A_DIGEST_SHA256));
    }
}
END_TEST

START_TEST(cert_spki)
{
    tc_spec s = { 0 };
    EVP_PKEY *key = tc_key(tc_pool);
    X509 *a, *b, *other;
    unsigned char pin[32];
    x509a_cert *ca, *cb, *co;
    static const tc_attr subj[] = { { "CN", "k" }, { NULL } };

    s.subject = subj;
    s.key = key;
    s.serial = "01";
    a = tc_cert(tc_pool, &s, NULL);
    s.serial = "02";        /* renewal: same key, another certificate */
    b = tc_cert(tc_pool, &s, NULL);
    s.key = NULL;
    other = tc_cert(tc_pool, &s, NULL);
    ca = x509a_cert_make(tc_pool, a);
    cb = x509a_cert_make(tc_pool, b);
    co = x509a_cert_make(tc_pool, other);

    tc_spki_sha256(a, pin);
    ck_assert_ptr_nonnull(x509a_cert_spki_sha256(ca));
    ck_assert_mem_eq(x509a_cert_spki_sha256(ca), pin, 32);
    ck_assert_mem_eq(x509a_cert_spki_sha256(cb), pin, 32);
    ck_assert(memcmp(x509a_cert_spki_sha256(co), pin, 32) != 0);
    ck_assert(memcmp(x509a_cert_digest(ca, X509A_DIGEST_SHA256),
                     x509a_cert_digest(cb, X509A_DIGEST_SHA256), 32) != 0);
}
END_TEST

START_TEST(cert_san)
{
    tc_pki pki;
    x509a_cert *c = x509a_cert_make(tc_pool, full_x509(&pki));
    const apr_array_header_t *a;
    static const tc_attr subj[] = { { "CN", "nosan" }, { NULL } };
    x509a_cert *bare = simple_cert(subj, NULL, NULL);
    int k;

    a = x509a_cert_san(c, X509A_SAN_EMAIL);
    ck_assert_int_eq(a->nelts, 2);
    ck_assert_str_eq(str_at(a, 0), "alice@example.com");
    ck_assert_str_eq(str_at(a, 1), "alice.smith@example.com");
    a = x509a_cert_san(c, X509A_SAN_DNS);
    ck_assert_int_eq(a->nelts, 2);
    ck_assert_str_eq(str_at(a, 0), "alice.example.com");
    ck_assert_str_eq(str_at(a, 1), "evil\\0Aname.example.com");
    a = x509a_cert_san(c, X509A_SAN_URI);
    ck_assert_int_eq(a->nelts, 2);
    ck_assert_str_eq(str_at(a, 0), "spiffe://example.com/user/alice");
    ck_assert_str_eq(str_at(a, 1), "https://example.com/alice");
    a = x509a_cert_san(c, X509A_SAN_UPN);
    ck_assert_int_eq(a->nelts, 2);
    ck_assert_str_eq(str_at(a, 0), "alice@corp.example");
    ck_assert_str_eq(str_at(a, 1), "asmith@corp.example");

    for (k = 0; k < X509A_SAN_KINDS; k++) {
        a = x509a_cert_san(bare, (x509a_san_kind)k);
        ck_assert_ptr_nonnull(a);
        ck_assert_int_eq(a->nelts, 0);
    }
}
END_TEST

START_TEST(cert_san_utf8_upn)
{
    static const tc_attr subj[] = { { "CN", "u" }, { NULL } };
    static const tc_san san[] = {
        { TC_SAN_UPN, "jürgen@corp.example" },
        { TC_SAN_UPN, "tab\there@corp.example" },
        { TC_SAN_END }
    };
    x509a_cert *c = simple_cert(subj, NULL, san);
    const apr_array_header_t *a = x509a_cert_san(c, X509A_SAN_UPN);

    ck_assert_int_eq(a->nelts, 2);
    ck_assert_str_eq(str_at(a, 0), "jürgen@corp.example");
    ck_assert_str_eq(str_at(a, 1), "tab\\09here@corp.example");
}
END_TEST

START_TEST(cert_subject_attr)
{
    tc_pki pki;
    x509a_cert *c = x509a_cert_make(tc_pool, full_x509(&pki));
    static const tc_attr ctl[] = {
        { "CN", "line1\nline2" }, { "O", "\x00\xc4", V_ASN1_BMPSTRING, 2 },
        { NULL }
    };
    x509a_cert *d = simple_cert(ctl, NULL, NULL);

    ck_assert_str_eq(x509a_cert_subject_attr(c, "2.5.4.3", 0), "Alice Smith");
    ck_assert_ptr_null(x509a_cert_subject_attr(c, "2.5.4.3", 1));
    /* in certificate order, the first first (as SSL_CLIENT_S_DN_OU) */
    ck_assert_str_eq(x509a_cert_subject_attr(c, "2.5.4.11", 0), "Engineering");
    ck_assert_str_eq(x509a_cert_subject_attr(c, "2.5.4.11", 1), "Security");
    ck_assert_ptr_null(x509a_cert_subject_attr(c, "2.5.4.11", 2));
    ck_assert_str_eq(x509a_cert_subject_attr(c, "0.9.2342.19200300.100.1.25", 0),
                     "com");
    ck_assert_str_eq(x509a_cert_subject_attr(c, "0.9.2342.19200300.100.1.25", 1),
                     "example");
    ck_assert_str_eq(x509a_cert_subject_attr(c, "0.9.2342.19200300.100.1.1", 0),
                     "asmith");
    ck_assert_str_eq(x509a_cert_subject_attr(c, "1.2.840.113549.1.9.1", 0),
                     "alice@subject.example");
    ck_assert_ptr_null(x509a_cert_subject_attr(c, "2.5.4.6", 0));
    ck_assert_ptr_null(x509a_cert_subject_attr(c, "2.5.4", 0));

    ck_assert_str_eq(x509a_cert_subject_attr(d, "2.5.4.3", 0),
                     "line1\\0Aline2");
    ck_assert_str_eq(x509a_cert_subject_attr(d, "2.5.4.10", 0), "Ä");
}
END_TEST

/* The value of a variable of @a style, NULL when absent. */
static const char *style_var(x509a_cert *c, x509a_vars_style style,
                             const char *name)
{
    const apr_array_header_t *vars = x509a_cert_vars(c, style);
    int i;

    for (i = 0; i < vars->nelts; i++) {
        const x509a_var *v = &APR_ARRAY_IDX(vars, i, x509a_var);
        if (strcmp(v->name, name) == 0) {
            return v->value;
        }
    }
    return NULL;
}

/* Two CNs (and two OUs): every place that picks one value takes the first
 * in the certificate, as mod_ssl's SSL_CLIENT_S_DN_CN does (issue 12,
 * defect 7: X509AuthnUser cn took the last) */
START_TEST(cert_first_of_several)
{
    static const tc_attr two[] = {
        { "O", "Example Corp" }, { "OU", "ou-first" }, { "OU", "ou-second" },
        { "CN", "cn-first" }, { "CN", "cn-second" },
        { "emailAddress", "first@example.com" },
        { "emailAddress", "second@example.com" }, { NULL }
    };
    x509a_cert *c = simple_cert(two, NULL, NULL);

    ck_assert_str_eq(field(c, "cn"), "cn-first");
    ck_assert_str_eq(field(c, "subject:CN"), "cn-first");
    ck_assert_str_eq(field(c, "subject:2.5.4.3"), "cn-first");
    ck_assert_str_eq(field(c, "subject:OU"), "ou-first");
    ck_assert_str_eq(field(c, "email"), "first@example.com");
    ck_assert_str_eq(x509a_cert_var(c, tc_pool, "X509_CLIENT_S_DN_CN", 0),
                     "cn-first");
    ck_assert_str_eq(x509a_cert_var(c, tc_pool, "X509_CLIENT_S_DN_CN_1", 0),
                     "cn-second");
    ck_assert_str_eq(x509a_cert_var(c, tc_pool, "X509_CLIENT_S_DN_OU", 0),
                     "ou-first");
    ck_assert_str_eq(style_var(c, X509A_VARS_MODSSL, "SSL_CLIENT_S_DN_CN"),
                     "cn-first");
    ck_assert_str_eq(style_var(c, X509A_VARS_MODSSL, "SSL_CLIENT_S_DN_Email"),
                     "first@example.com");
    /* RFC 4514 prints the most specific first; that order is not used */
    ck_assert_str_eq(x509a_cert_subject(c),
                     "emailAddress=second@example.com,"
                     "emailAddress=first@example.com,CN=cn-second,"
                     "CN=cn-first,OU=ou-second,OU=ou-first,O=Example Corp");
}
END_TEST

START_TEST(cert_validity)
{
    tc_pki pki;
    x509a_cert *c = x509a_cert_make(tc_pool, full_x509(&pki));
    time_t nb = 0, na = 0;

    x509a_cert_validity(c, &nb, &na);
    ck_assert_int_eq((long)nb, (long)FULL_NOT_BEFORE);
    ck_assert_int_eq((long)na, (long)TC_NOT_AFTER);
    x509a_cert_validity(c, NULL, &na);
    x509a_cert_validity(c, &nb, NULL);

    ck_assert_int_eq(x509a_cert_days_remaining(c, TC_NOT_AFTER - 10 * 86400 - 5),
                     10);
    ck_assert_int_eq(x509a_cert_days_remaining(c, TC_NOT_AFTER - 10 * 86400), 10);
    ck_assert_int_eq(x509a_cert_days_remaining(c, TC_NOT_AFTER - 10 * 86400 + 1),
                     9);
    ck_assert_int_eq(x509a_cert_days_remaining(c, TC_NOT_AFTER - 86400), 1);
    ck_assert_int_eq(x509a_cert_days_remaining(c, TC_NOT_AFTER - 86399), 0);
    ck_assert_int_eq(x509a_cert_days_remaining(c, TC_NOT_AFTER), 0);
    ck_assert_int_eq(x509a_cert_days_remaining(c, TC_NOT_AFTER + 100 * 86400), 0);
    ck_assert_int_eq(x509a_cert_days_remaining(c, FULL_NOT_BEFORE),
                     (long)((TC_NOT_AFTER - FULL_NOT_BEFORE) / 86400));

    /* GeneralizedTime (2050 and later) */
    {
        tc_spec s = { 0 };
        static const tc_attr subj[] = { { "CN", "g" }, { NULL } };
        x509a_cert *g;
        s.subject = subj;
        s.not_after = Y2050_END;
        g = x509a_cert_make(tc_pool, tc_cert(tc_pool, &s, NULL));
        x509a_cert_validity(g, &nb, &na);
        ck_assert_int_eq((long)nb, (long)TC_NOT_BEFORE);
        ck_assert_int_eq((long)na, (long)Y2050_END);
        ck_assert_int_eq(x509a_cert_days_remaining(g, Y2050_END - 2 * 86400), 2);
        ck_assert_str_eq(x509a_cert_var(g, tc_pool, "X509_CLIENT_V_END", 0),
                         "Dec 31 23:59:59 2050 GMT");
    }
}
END_TEST

START_TEST(cert_pem)
{
    tc_pki pki;
    X509 *x = full_x509(&pki);
    x509a_cert *c = x509a_cert_make(tc_pool, x);
    const char *pem = x509a_cert_pem(c);
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509 *back = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    size_t n = strlen(pem);

    ck_assert_ptr_nonnull(back);
    ck_assert_int_eq(X509_cmp(back, x), 0);
    ck_assert(strncmp(pem, "-----BEGIN CERTIFICATE-----\n", 28) == 0);
    ck_assert(n > 26 && strcmp(pem + n - 26, "-----END CERTIFICATE-----\n") == 0);
    ck_assert_ptr_eq(x509a_cert_pem(c), pem);
    X509_free(back);
    BIO_free(bio);
}
END_TEST

static const char *pem_of(X509 *x)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *d;
    long n;
    const char *s;

    PEM_write_bio_X509(bio, x);
    n = BIO_get_mem_data(bio, &d);
    s = apr_pstrmemdup(tc_pool, d, n);
    BIO_free(bio);
    return s;
}

START_TEST(cert_chain_pem)
{
    tc_pki pki;
    x509a_cert *c;
    STACK_OF(X509) *verified, *untrusted;
    const apr_array_header_t *a;

    tc_pki_make(tc_pool, &pki, 1);
    untrusted = tc_stack(tc_pool, pki.inter, NULL);
    verified = tc_verify(tc_pool, pki.leaf, tc_store(tc_pool, pki.root, NULL),
                         untrusted);
    ck_assert_int_eq(sk_X509_num(verified), 3);

    /* no chain */
    c = x509a_cert_make(tc_pool, pki.leaf);
    ck_assert_int_eq(x509a_cert_chain_pem(c)->nelts, 0);

    /* what the peer sent */
    c = x509a_cert_make(tc_pool, pki.leaf);
    x509a_cert_set_chain(c, NULL, untrusted);
    ck_assert_ptr_null(x509a_cert_verified_chain(c));
    ck_assert_int_eq(sk_X509_num(x509a_cert_untrusted(c)), 1);
    a = x509a_cert_chain_pem(c);
    ck_assert_int_eq(a->nelts, 1);
    ck_assert_str_eq(str_at(a, 0), pem_of(pki.inter));

    /* the verified chain wins, without its leaf */
    x509a_cert_set_chain(c, verified, untrusted);
    ck_assert_int_eq(sk_X509_num(x509a_cert_verified_chain(c)), 3);
    a = x509a_cert_chain_pem(c);
    ck_assert_int_eq(a->nelts, 2);
    ck_assert_str_eq(str_at(a, 0), pem_of(pki.inter));
    ck_assert_str_eq(str_at(a, 1), pem_of(pki.root));

    /* verified only */
    c = x509a_cert_make(tc_pool, pki.leaf);
    x509a_cert_set_chain(c, verified, NULL);
    a = x509a_cert_chain_pem(c);
    ck_assert_int_eq(a->nelts, 2);
    ck_assert_str_eq(str_at(a, 1), pem_of(pki.root));

    /* replaced by nothing; empty stacks mean unknown */
    x509a_cert_set_chain(c, NULL, NULL);
    ck_assert_ptr_null(x509a_cert_verified_chain(c));
    ck_assert_int_eq(x509a_cert_chain_pem(c)->nelts, 0);
    x509a_cert_set_chain(c, tc_stack(tc_pool, NULL), tc_stack(tc_pool, NULL));
    ck_assert_ptr_null(x509a_cert_verified_chain(c));
    ck_assert_ptr_null(x509a_cert_untrusted(c));
    ck_assert_int_eq(x509a_cert_chain_pem(c)->nelts, 0);
}
END_TEST

START_TEST(cert_store)
{
    tc_pki pki;
    x509a_cert *c;
    X509_STORE *st;

    tc_pki_make(tc_pool, &pki, 1);
    st = tc_store(tc_pool, pki.root, NULL);
    c = x509a_cert_make(tc_pool, pki.leaf);
    x509a_cert_set_store(c, st, NULL);
    ck_assert_ptr_eq(x509a_cert_store(c), st);
    x509a_cert_set_store(c, st, NULL);    /* again: no double free, no leak */
    ck_assert_ptr_eq(x509a_cert_store(c), st);
    x509a_cert_set_store(c, NULL, NULL);
    ck_assert_ptr_null(x509a_cert_store(c));
    x509a_cert_set_store(c, st, NULL);
    ck_assert_ptr_eq(x509a_cert_store(c), st);
}
END_TEST

START_TEST(cert_describe)
{
    tc_pki pki;
    X509 *x = full_x509(&pki);
    x509a_cert *c = x509a_cert_make(tc_pool, x);
    const char *d = x509a_cert_describe(c);

    ck_assert_msg(tc_contains(d, FULL_S_DN), "%s", d);
    ck_assert_msg(tc_contains(d, TC_INTER_DN), "%s", d);
    ck_assert_msg(tc_contains(d, "1001"), "%s", d);
    ck_assert_msg(tc_contains(d, tc_digest_hex(tc_pool, x, EVP_sha256())), "%s",
                  d);
    ck_assert_msg(strchr(d, '\n') == NULL, "one line: %s", d);
}
END_TEST

static void assert_no_null_vars(x509a_cert *c)
{
    int st, i;

    for (st = 0; st < X509A_VARS_STYLES; st++) {
        const apr_array_header_t *vars = x509a_cert_vars(c, (x509a_vars_style)st);
        for (i = 0; i < vars->nelts; i++) {
            const x509a_var *v = &APR_ARRAY_IDX(vars, i, x509a_var);
            ck_assert_msg(v->value != NULL, "%s is NULL", v->name);
        }
    }
}

START_TEST(cert_empty_subject)
{
    /* an empty subject (RFC 5280 allows it with a subjectAltName): strings,
     * never NULL */
    static const tc_san san[] = {
        { TC_SAN_EMAIL, "e@example.com" }, { TC_SAN_END }
    };
    x509a_cert *c = simple_cert(NULL, NULL, san);

    ck_assert_pstr_eq(x509a_cert_subject(c), "");
    ck_assert_pstr_eq(x509a_cert_issuer(c), "");
    ck_assert_pstr_eq(x509a_cert_subject_legacy(c), "");
    ck_assert_msg(!tc_contains(x509a_cert_describe(c), "(null)"), "%s",
                  x509a_cert_describe(c));
    assert_no_null_vars(c);
}
END_TEST

START_TEST(cert_empty_value)
{
    /* an empty attribute value (present, so "" and not NULL), after
     * another value and as the very first one a new object prints */
    static const tc_attr empty_last[] = {
        { "O", "Example Corp" }, { "CN", "", V_ASN1_UTF8STRING }, { NULL }
    };
    static const tc_attr empty_first[] = {
        { "CN", "", V_ASN1_UTF8STRING }, { "O", "Example Corp" }, { NULL }
    };
    static const tc_san empty_san[] = {
        { TC_SAN_DNS, "" }, { TC_SAN_DNS, "b.example.com" }, { TC_SAN_END }
    };
    static const tc_attr subj[] = { { "CN", "s" }, { NULL } };
    x509a_cert *e = simple_cert(empty_last, NULL, NULL);
    const apr_array_header_t *a;

    ck_assert_pstr_eq(x509a_cert_subject_attr(e, "2.5.4.3", 0), "");
    ck_assert_str_eq(x509a_cert_subject(e), "CN=,O=Example Corp");
    assert_no_null_vars(e);
    ck_assert_pstr_eq(x509a_cert_var(e, tc_pool, "X509_CLIENT_S_DN_CN", 0), "");

    e = simple_cert(empty_first, NULL, NULL);
    ck_assert_pstr_eq(x509a_cert_subject_attr(e, "2.5.4.3", 0), "");
    ck_assert_pstr_eq(x509a_cert_subject_attr(e, "2.5.4.10", 0), "Example Corp");
    assert_no_null_vars(e);

    e = simple_cert(subj, NULL, empty_san);
    a = x509a_cert_san(e, X509A_SAN_DNS);
    ck_assert_int_eq(a->nelts, 2);
    ck_assert_pstr_eq(str_at(a, 0), "");
    ck_assert_pstr_eq(str_at(a, 1), "b.example.com");
    assert_no_null_vars(e);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Identity fields                                                         */
/* ---------------------------------------------------------------------- */

START_TEST(field_parse)
{
    static const struct {
        const char *text;
        x509a_field_kind kind;
        const char *oid;
    } ok[] = {
        { "subject", X509A_FIELD_SUBJECT, NULL },
        { "SUBJECT", X509A_FIELD_SUBJECT, NULL },
        { "subject-legacy", X509A_FIELD_SUBJECT_LEGACY, NULL },
        { "Subject-Legacy", X509A_FIELD_SUBJECT_LEGACY, NULL },
        { "cn", X509A_FIELD_CN, NULL },
        { "CN", X509A_FIELD_CN, NULL },
        { "subject:UID", X509A_FIELD_SUBJECT_ATTR, "0.9.2342.19200300.100.1.1" },
        { "SUBJECT:Uid", X509A_FIELD_SUBJECT_ATTR, "0.9.2342.19200300.100.1.1" },
        { "subject:uid", X509A_FIELD_SUBJECT_ATTR, "0.9.2342.19200300.100.1.44" },
        { "subject:OU", X509A_FIELD_SUBJECT_ATTR, "2.5.4.11" },
        { "subject:CN", X509A_FIELD_SUBJECT_ATTR, "2.5.4.3" },
        { "subject:2.5.4.3", X509A_FIELD_SUBJECT_ATTR, "2.5.4.3" },
        { "subject:emailAddress", X509A_FIELD_SUBJECT_ATTR,
          "1.2.840.113549.1.9.1" },
        { "subject:E", X509A_FIELD_SUBJECT_ATTR, "1.2.840.113549.1.9.1" },
        { "subject:DC", X509A_FIELD_SUBJECT_ATTR, "0.9.2342.19200300.100.1.25" },
        { "email", X509A_FIELD_EMAIL, NULL },
        { "EMAIL", X509A_FIELD_EMAIL, NULL },
        { "upn", X509A_FIELD_UPN, NULL },
        { "UPN", X509A_FIELD_UPN, NULL },
        { "uri", X509A_FIELD_URI, NULL },
        { "Uri", X509A_FIELD_URI, NULL },
        { "dns", X509A_FIELD_DNS, NULL },
        { "DNS", X509A_FIELD_DNS, NULL },
        { "serial", X509A_FIELD_SERIAL, NULL },
        { "Serial", X509A_FIELD_SERIAL, NULL },
        { "issuer+serial", X509A_FIELD_ISSUER_SERIAL, NULL },
        { "Issuer+Serial", X509A_FIELD_ISSUER_SERIAL, NULL },
        { "sha256", X509A_FIELD_SHA256, NULL },
        { "SHA256", X509A_FIELD_SHA256, NULL },
    };
    static const struct {
        const char *text;
        const char *needle;
    } bad[] = {
        { "subject:FOO", "FOO" },
        { "subject:", "subject:" },
        { "bogus", "bogus" },
        { "", "is not a certificate field" },
        { "issuer", "issuer" },
        { "sha1", "sha1" },
        { "subject-legacy2", "subject-legacy2" },
        { "cn ", "cn " },
        { "subjectx", "subjectx" },
        { "issuer+serial+x", "issuer+serial+x" },
    };
    size_t i;

    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        x509a_field f;
        const char *err = x509a_field_parse(tc_pool, ok[i].text, &f);
        ck_assert_msg(err == NULL, "field '%s' rejected: %s", ok[i].text, err);
        ck_assert_msg(f.kind == ok[i].kind, "field '%s': kind %d", ok[i].text,
                      (int)f.kind);
        ck_assert_str_eq(f.name, ok[i].text);
        if (ok[i].oid) {
            ck_assert_str_eq(f.oid, ok[i].oid);
        }
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        x509a_field f;
        const char *err = x509a_field_parse(tc_pool, bad[i].text, &f);
        ck_assert_msg(err != NULL, "field '%s' should be rejected", bad[i].text);
        ck_assert_msg(tc_contains(err, bad[i].needle),
                      "error for '%s' should mention '%s': %s", bad[i].text,
                      bad[i].needle, err);
    }
}
END_TEST

START_TEST(field_values)
{
    tc_pki pki;
    X509 *x = full_x509(&pki);
    x509a_cert *c = x509a_cert_make(tc_pool, x);

    ck_assert_str_eq(field(c, "subject"), FULL_S_DN);
    ck_assert_str_eq(field(c, "subject-legacy"), FULL_S_DN_LEGACY);
    ck_assert_str_eq(field(c, "cn"), "Alice Smith");
    ck_assert_str_eq(field(c, "subject:CN"), "Alice Smith");
    ck_assert_str_eq(field(c, "subject:OU"), "Engineering");
    ck_assert_str_eq(field(c, "subject:UID"), "asmith");
    ck_assert_str_eq(field(c, "subject:DC"), "com");
    ck_assert_str_eq(field(c, "subject:emailAddress"), "alice@subject.example");
    ck_assert_str_eq(field(c, "email"), "alice@example.com");
    ck_assert_str_eq(field(c, "upn"), "alice@corp.example");
    ck_assert_str_eq(field(c, "uri"), "spiffe://example.com/user/alice");
    ck_assert_str_eq(field(c, "dns"), "alice.example.com");
    ck_assert_str_eq(field(c, "serial"), "1001");
    ck_assert_str_eq(field(c, "issuer+serial"),
                     "{ serialNumber 4097, issuer rdnSequence:"
                     "\"CN=Test Issuing CA,O=Example Corp,C=US\" }");
    ck_assert_str_eq(field(c, "sha256"),
                     tc_digest_hex(tc_pool, x, EVP_sha256()));
    ck_assert_ptr_null(field(c, "subject:C"));
    ck_assert_ptr_null(field(c, "subject:title"));
}
END_TEST

/* An Active Directory style subject: `cn` is the first CN in the
 * certificate ("Users"), as SSL_CLIENT_S_DN_CN; the most specific one
 * (first in the RFC 4514 string) is reached with a REGEX on `subject` */
START_TEST(field_cn_first)
{
    static const tc_attr carol[] = {
        { "DC", "com" }, { "DC", "example" }, { "CN", "Users" },
        { "CN", "carol" }, { NULL }
    };
    x509a_cert *c = simple_cert(carol, NULL, NULL);

    ck_assert_str_eq(x509a_cert_subject(c), "CN=carol,CN=Users,DC=example,DC=com");
    ck_assert_str_eq(field(c, "cn"), "Users");
    ck_assert_str_eq(field(c, "subject:CN"), "Users");
    ck_assert_str_eq(field(c, "subject:dc"), "com");
    ck_assert_str_eq(x509a_cert_var(c, tc_pool, "X509_CLIENT_S_DN_CN", 0),
                     "Users");
}
END_TEST

START_TEST(field_email_fallback)
{
    static const tc_attr with_e[] = {
        { "CN", "dave" }, { "emailAddress", "dave@subject.example" }, { NULL }
    };
    static const tc_attr plain[] = { { "CN", "erin" }, { NULL } };
    static const tc_san dns_only[] = {
        { TC_SAN_DNS, "dave.example.com" }, { TC_SAN_END }
    };
    static const tc_san email[] = {
        { TC_SAN_EMAIL, "dave@san.example" }, { TC_SAN_END }
    };

    /* SAN rfc822Name first */
    ck_assert_str_eq(field(simple_cert(with_e, NULL, email), "email"),
                     "dave@san.example");
    /* else the subject's emailAddress */
    ck_assert_str_eq(field(simple_cert(with_e, NULL, NULL), "email"),
                     "dave@subject.example");
    ck_assert_str_eq(field(simple_cert(with_e, NULL, dns_only), "email"),
                     "dave@subject.example");
    /* neither */
    ck_assert_ptr_null(field(simple_cert(plain, NULL, dns_only), "email"));
    ck_assert_str_eq(field(simple_cert(plain, NULL, email), "email"),
                     "dave@san.example");
}
END_TEST

START_TEST(field_missing)
{
    static const tc_attr no_cn[] = { { "O", "No CN Inc" }, { NULL } };
    static const tc_san other_only[] = {
        { TC_SAN_OTHER_UTF8, "x@y", "1.3.6.1.4.1.99999.1" }, { TC_SAN_END }
    };
    x509a_cert *c = simple_cert(no_cn, NULL, other_only);
    x509a_cert *empty = simple_cert(NULL, NULL, NULL);

    ck_assert_ptr_null(field(c, "cn"));
    ck_assert_ptr_null(field(c, "subject:UID"));
    ck_assert_ptr_null(field(c, "subject:OU"));
    ck_assert_ptr_null(field(c, "email"));
    ck_assert_ptr_null(field(c, "upn"));
    ck_assert_ptr_null(field(c, "uri"));
    ck_assert_ptr_null(field(c, "dns"));
    ck_assert_str_eq(field(c, "subject"), "O=No CN Inc");
    ck_assert_str_eq(field(c, "subject:O"), "No CN Inc");
    ck_assert_str_eq(field(c, "serial"), "1001");

    /* an empty subject is no name */
    ck_assert_ptr_null(field(empty, "subject"));
    ck_assert_ptr_null(field(empty, "subject-legacy"));
    ck_assert_ptr_null(field(empty, "cn"));
    ck_assert_ptr_nonnull(field(empty, "sha256"));
}
END_TEST

START_TEST(field_issuer_serial)
{
    static const tc_attr jca[] = {
        { "C", "DE" }, { "O", "Müller, GmbH" }, { "CN", "Jürgen CA" }, { NULL }
    };
    BIGNUM *bn = NULL;
    char *dec;
    x509a_cert *c;

    c = simple_cert(jca, "-1001", NULL);
    /* as mod_ssl's SSL_CLIENT_CERT_RFC4523_CEA: RFC 2253 escaping of the
     * issuer (non-ASCII escaped), serial in decimal */
    ck_assert_str_eq(field(c, "issuer+serial"),
                     "{ serialNumber -4097, issuer rdnSequence:"
                     "\"CN=J\\C3\\BCrgen CA,O=M\\C3\\BCller\\, GmbH,C=DE\" }");

    BN_hex2bn(&bn, BIG_HEX);
    dec = BN_bn2dec(bn);
    c = simple_cert(jca, BIG_HEX, NULL);
    ck_assert_str_eq(field(c, "issuer+serial"),
                     apr_psprintf(tc_pool, "{ serialNumber %s, issuer rdnSequence:"
                                  "\"CN=J\\C3\\BCrgen CA,O=M\\C3\\BCller\\, GmbH,"
                                  "C=DE\" }", dec));
    OPENSSL_free(dec);
    BN_free(bn);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Variables                                                               */
/* ---------------------------------------------------------------------- */

START_TEST(vars_x509)
{
    tc_pki pki;
    X509 *x = full_x509(&pki);
    x509a_cert *c = x509a_cert_make(tc_pool, x);
    const expected_var exp[] = {
        { "X509_CLIENT_S_DN", FULL_S_DN },
        { "X509_CLIENT_S_DN_DC", "com" },
        { "X509_CLIENT_S_DN_DC_1", "example" },
        { "X509_CLIENT_S_DN_O", "Example Corp" },
        { "X509_CLIENT_S_DN_OU", "Engineering" },
        { "X509_CLIENT_S_DN_OU_1", "Security" },
        { "X509_CLIENT_S_DN_CN", "Alice Smith" },
        { "X509_CLIENT_S_DN_UID", "asmith" },
        { "X509_CLIENT_S_DN_Email", "alice@subject.example" },
        { "X509_CLIENT_I_DN", TC_INTER_DN },
        { "X509_CLIENT_I_DN_C", "US" },
        { "X509_CLIENT_I_DN_O", "Example Corp" },
        { "X509_CLIENT_I_DN_CN", "Test Issuing CA" },
        { "X509_CLIENT_M_SERIAL", "1001" },
        { "X509_CLIENT_SERIAL_DEC", "4097" },
        { "X509_CLIENT_FINGERPRINT_SHA256",
          tc_digest_hex(tc_pool, x, EVP_sha256()) },
        { "X509_CLIENT_FINGERPRINT_SHA1", tc_digest_hex(tc_pool, x, EVP_sha1()) },
        { "X509_CLIENT_V_START", "Jan  2 03:04:05 2024 GMT" },
        { "X509_CLIENT_V_END", "Dec 31 23:59:59 2049 GMT" },
        { "X509_CLIENT_SAN_Email_0", "alice@example.com" },
        { "X509_CLIENT_SAN_Email_1", "alice.smith@example.com" },
        { "X509_CLIENT_SAN_DNS_0", "alice.example.com" },
        { "X509_CLIENT_SAN_DNS_1", "evil\\0Aname.example.com" },
        { "X509_CLIENT_SAN_URI_0", "spiffe://example.com/user/alice" },
        { "X509_CLIENT_SAN_URI_1", "https://example.com/alice" },
        { "X509_CLIENT_SAN_UPN_0", "alice@corp.example" },
        { "X509_CLIENT_SAN_UPN_1", "asmith@corp.example" },
    };
    const apr_array_header_t *vars = x509a_cert_vars(c, X509A_VARS_X509);

    assert_vars(vars, exp, (int)(sizeof(exp) / sizeof(exp[0])));
    ck_assert_ptr_eq(x509a_cert_vars(c, X509A_VARS_X509), vars);
}
END_TEST

START_TEST(vars_attr_tags)
{
    static const tc_attr subj[] = {
        { "C", "US" }, { "ST", "California" }, { "L", "San Francisco" },
        { "O", "Example Corp" }, { "OU", "Eng" }, { "title", "Engineer" },
        { "GN", "Bob" }, { "SN", "Builder" }, { "initials", "BB" },
        { "description", "desc" }, { "serialNumber", "12345" },
        { "street", "1 Main St" }, { "postalCode", "94000" },
        { "pseudonym", "bobby" }, { "organizationIdentifier", "VATUS-123" },
        { "CN", "bob" }, { "CN", "bob2" }, { "CN", "bob3" },
        { "1.3.6.1.4.1.99999.7", "unknown" },
        { NULL }
    };
    x509a_cert *c = simple_cert(subj, "01", NULL);
    const char *dn = x509a_cert_subject(c);
    const expected_var exp[] = {
        { "X509_CLIENT_S_DN", dn },
        { "X509_CLIENT_S_DN_C", "US" },
        { "X509_CLIENT_S_DN_ST", "California" },
        { "X509_CLIENT_S_DN_L", "San Francisco" },
        { "X509_CLIENT_S_DN_O", "Example Corp" },
        { "X509_CLIENT_S_DN_OU", "Eng" },
        { "X509_CLIENT_S_DN_T", "Engineer" },
        { "X509_CLIENT_S_DN_G", "Bob" },
        { "X509_CLIENT_S_DN_S", "Builder" },
        { "X509_CLIENT_S_DN_I", "BB" },
        { "X509_CLIENT_S_DN_D", "desc" },
        { "X509_CLIENT_S_DN_serialNumber", "12345" },
        { "X509_CLIENT_S_DN_street", "1 Main St" },
        { "X509_CLIENT_S_DN_postalCode", "94000" },
        { "X509_CLIENT_S_DN_pseudonym", "bobby" },
        { "X509_CLIENT_S_DN_organizationIdentifier", "VATUS-123" },
        { "X509_CLIENT_S_DN_CN", "bob" },
        { "X509_CLIENT_S_DN_CN_1", "bob2" },
        { "X509_CLIENT_S_DN_CN_2", "bob3" },
        { "X509_CLIENT_I_DN", dn },
        { "X509_CLIENT_I_DN_C", "US" },
        { "X509_CLIENT_I_DN_ST", "California" },
        { "X509_CLIENT_I_DN_L", "San Francisco" },
        { "X509_CLIENT_I_DN_O", "Example Corp" },
        { "X509_CLIENT_I_DN_OU", "Eng" },
        { "X509_CLIENT_I_DN_T", "Engineer" },
        { "X509_CLIENT_I_DN_G", "Bob" },
        { "X509_CLIENT_I_DN_S", "Builder" },
        { "X509_CLIENT_I_DN_I", "BB" },
        { "X509_CLIENT_I_DN_D", "desc" },
        { "X509_CLIENT_I_DN_serialNumber", "12345" },
        { "X509_CLIENT_I_DN_street", "1 Main St" },
        { "X509_CLIENT_I_DN_postalCode", "94000" },
        { "X509_CLIENT_I_DN_pseudonym", "bobby" },
        { "X509_CLIENT_I_DN_organizationIdentifier", "VATUS-123" },
        { "X509_CLIENT_I_DN_CN", "bob" },
        { "X509_CLIENT_I_DN_CN_1", "bob2" },
        { "X509_CLIENT_I_DN_CN_2", "bob3" },
        { "X509_CLIENT_M_SERIAL", "01" },
        { "X509_CLIENT_SERIAL_DEC", "1" },
        { "X509_CLIENT_FINGERPRINT_SHA256",
          x509a_cert_digest_hex(c, X509A_DIGEST_SHA256) },
        { "X509_CLIENT_FINGERPRINT_SHA1",
          x509a_cert_digest_hex(c, X509A_DIGEST_SHA1) },
        { "X509_CLIENT_V_START", "Jan  1 00:00:00 2024 GMT" },
        { "X509_CLIENT_V_END", "Dec 31 23:59:59 2049 GMT" },
    };
    const expected_var exp_modssl[] = {
        { "SSL_CLIENT_S_DN", dn },
        { "SSL_CLIENT_S_DN_C", "US" },
        { "SSL_CLIENT_S_DN_ST", "California" },
        { "SSL_CLIENT_S_DN_L", "San Francisco" },
        { "SSL_CLIENT_S_DN_O", "Example Corp" },
        { "SSL_CLIENT_S_DN_OU", "Eng" },
        { "SSL_CLIENT_S_DN_T", "Engineer" },
        { "SSL_CLIENT_S_DN_G", "Bob" },
        { "SSL_CLIENT_S_DN_S", "Builder" },
        { "SSL_CLIENT_S_DN_I", "BB" },
        { "SSL_CLIENT_S_DN_D", "desc" },
        { "SSL_CLIENT_S_DN_CN", "bob" },
        { "SSL_CLIENT_S_DN_CN_1", "bob2" },
        { "SSL_CLIENT_S_DN_CN_2", "bob3" },
        { "SSL_CLIENT_I_DN", dn },
        { "SSL_CLIENT_I_DN_C", "US" },
        { "SSL_CLIENT_I_DN_ST", "California" },
        { "SSL_CLIENT_I_DN_L", "San Francisco" },
        { "SSL_CLIENT_I_DN_O", "Example Corp" },
        { "SSL_CLIENT_I_DN_OU", "Eng" },
        { "SSL_CLIENT_I_DN_T", "Engineer" },
        { "SSL_CLIENT_I_DN_G", "Bob" },
        { "SSL_CLIENT_I_DN_S", "Builder" },
        { "SSL_CLIENT_I_DN_I", "BB" },
        { "SSL_CLIENT_I_DN_D", "desc" },
        { "SSL_CLIENT_I_DN_CN", "bob" },
        { "SSL_CLIENT_I_DN_CN_1", "bob2" },
        { "SSL_CLIENT_I_DN_CN_2", "bob3" },
        { "SSL_CLIENT_M_VERSION", "3" },
        { "SSL_CLIENT_M_SERIAL", "01" },
        { "SSL_CLIENT_V_START", "Jan  1 00:00:00 2024 GMT" },
        { "SSL_CLIENT_V_END", "Dec 31 23:59:59 2049 GMT" },
        { "SSL_CLIENT_A_SIG", "ecdsa-with-SHA256" },
        { "SSL_CLIENT_A_KEY", "id-ecPublicKey" },
    };

    assert_vars(x509a_cert_vars(c, X509A_VARS_X509), exp,
                (int)(sizeof(exp) / sizeof(exp[0])));
    assert_vars(x509a_cert_vars(c, X509A_VARS_MODSSL), exp_modssl,
                (int)(sizeof(exp_modssl) / sizeof(exp_modssl[0])));
}
END_TEST

START_TEST(vars_modssl)
{
    tc_pki pki;
    X509 *x = full_x509(&pki);
    x509a_cert *c = x509a_cert_make(tc_pool, x);
    const expected_var exp[] = {
        { "SSL_CLIENT_S_DN", FULL_S_DN },
        { "SSL_CLIENT_S_DN_O", "Example Corp" },
        { "SSL_CLIENT_S_DN_OU", "Engineering" },
        { "SSL_CLIENT_S_DN_OU_1", "Security" },
        { "SSL_CLIENT_S_DN_CN", "Alice Smith" },
        { "SSL_CLIENT_S_DN_UID", "asmith" },
        { "SSL_CLIENT_S_DN_Email", "alice@subject.example" },
        { "SSL_CLIENT_I_DN", TC_INTER_DN },
        { "SSL_CLIENT_I_DN_C", "US" },
        { "SSL_CLIENT_I_DN_O", "Example Corp" },
        { "SSL_CLIENT_I_DN_CN", "Test Issuing CA" },
        { "SSL_CLIENT_M_VERSION", "3" },
        { "SSL_CLIENT_M_SERIAL", "1001" },
        { "SSL_CLIENT_V_START", "Jan  2 03:04:05 2024 GMT" },
        { "SSL_CLIENT_V_END", "Dec 31 23:59:59 2049 GMT" },
        { "SSL_CLIENT_A_SIG", "ecdsa-with-SHA256" },
        { "SSL_CLIENT_A_KEY", "id-ecPublicKey" },
        { "SSL_CLIENT_SAN_Email_0", "alice@example.com" },
        { "SSL_CLIENT_SAN_Email_1", "alice.smith@example.com" },
        { "SSL_CLIENT_SAN_DNS_0", "alice.example.com" },
        { "SSL_CLIENT_SAN_DNS_1", "evil\\0Aname.example.com" },
        { "SSL_CLIENT_SAN_OTHER_msUPN_0", "alice@corp.example" },
        { "SSL_CLIENT_SAN_OTHER_msUPN_1", "asmith@corp.example" },
    };
    const apr_array_header_t *vars = x509a_cert_vars(c, X509A_VARS_MODSSL);

    assert_vars(vars, exp, (int)(sizeof(exp) / sizeof(exp[0])));
    ck_assert_ptr_eq(x509a_cert_vars(c, X509A_VARS_MODSSL), vars);
    /* the other style is separate */
    ck_assert_ptr_null(var_in(vars, "X509_CLIENT_S_DN"));
    ck_assert_ptr_null(var_in(x509a_cert_vars(c, X509A_VARS_X509),
                              "SSL_CLIENT_S_DN"));
}
END_TEST

START_TEST(var_lookup)
{
    tc_pki pki;
    X509 *x = full_x509(&pki);
    x509a_cert *c = x509a_cert_make(tc_pool, x);
    time_t now = TC_NOT_AFTER - 30 * 86400 - 60;
    static const char *const absent[] = {
        "X509_CLIENT_NOPE", "", "X509_CLIENT_S_DN_", "X509_CLIENT_S_DN_OU_2",
        "X509_CLIENT_S_DN_C", "X509_CLIENT_S_DN_C_0", "X509_CLIENT_SAN_DNS_2",
        "X509_CLIENT_SAN_Email_", "SSL_CLIENT_S_DN", "X509_CLIENT_S_DN_OU_01",
        "X509_CLIENT_S_DN_0", "X509_CLIENT_I_DN_0", "X509_CLIENT_M_SERIAL_0",
        "X509_CLIENT_S_DN_CN_1",
    };
    const char *wrong = NULL;
    size_t i;

    ck_assert_str_eq(x509a_cert_var(c, tc_pool, "X509_CLIENT_S_DN", now),
                     FULL_S_DN);
    ck_assert_str_eq(x509a_cert_var(c, tc_pool, "X509_CLIENT_S_DN_OU", now),
                     "Engineering");
    ck_assert_str_eq(x509a_cert_var(c, tc_pool, "X509_CLIENT_S_DN_OU_0", now),
                     "Engineering");
    ck_assert_str_eq(x509a_cert_var(c, tc_pool, "X509_CLIENT_S_DN_OU_1", now),
                     "Security");
    ck_assert_str_eq(x509a_cert_var(c, tc_pool, "X509_CLIENT_S_DN_CN_0", now),
                     "Alice Smith");
    ck_assert_str_eq(x509a_cert_var(c, tc_pool, "X509_CLIENT_I_DN_CN_0", now),
                     "Test Issuing CA");
    ck_assert_str_eq(x509a_cert_var(c, tc_pool, "X509_CLIENT_SAN_DNS_0", now),
                     "alice.example.com");
    ck_assert_str_eq(x509a_cert_var(c, tc_pool, "X509_CLIENT_SAN_UPN_1", now),
                     "asmith@corp.example");
    ck_assert_str_eq(x509a_cert_var(c, tc_pool, "X509_CLIENT_M_SERIAL", now),
                     "1001");
    ck_assert_str_eq(x509a_cert_var(c, tc_pool, "X509_CLIENT_SERIAL_DEC", now),
                     "4097");
    ck_assert_str_eq(x509a_cert_var(c, tc_pool,
                                    "X509_CLIENT_FINGERPRINT_SHA256", now),
                     tc_digest_hex(tc_pool, x, EVP_sha256()));
    ck_assert_str_eq(x509a_cert_var(c, tc_pool, "X509_CLIENT_V_REMAIN", now),
                     "30");
    ck_assert_str_eq(x509a_cert_var(c, tc_pool, "X509_CLIENT_V_REMAIN",
                                    TC_NOT_AFTER + 1), "0");
    ck_assert_str_eq(x509a_cert_var(c, tc_pool, "X509_CLIENT_V_REMAIN",
                                    TC_NOT_AFTER - 86400), "1");
    for (i = 0; i < sizeof(absent) / sizeof(absent[0]); i++) {
        const char *v = x509a_cert_var(c, tc_pool, absent[i], now);
        if (v) {
            wrong = apr_psprintf(tc_pool, "%s%s%s='%s'", wrong ? wrong : "",
                                 wrong ? ", " : "", absent[i], v);
        }
    }
    ck_assert_msg(wrong == NULL, "these variables should be NULL: %s", wrong);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Memo                                                                    */
/* ---------------------------------------------------------------------- */

START_TEST(memo)
{
    static const tc_attr subj[] = { { "CN", "m" }, { NULL } };
    x509a_cert *c = simple_cert(subj, NULL, NULL);
    unsigned char keys[6][X509A_MEMO_KEY_LEN], copy[X509A_MEMO_KEY_LEN];
    int v = -1, i;

    /* keys differing in their last byte only */
    for (i = 0; i < 6; i++) {
        memset(keys[i], 0xA5, X509A_MEMO_KEY_LEN);
        keys[i][X509A_MEMO_KEY_LEN - 1] = (unsigned char)i;
    }
    ck_assert_int_eq(x509a_cert_memo_get(c, keys[0], &v), 0);
    x509a_cert_memo_set(c, keys[0], 0);
    ck_assert_int_eq(x509a_cert_memo_get(c, keys[0], &v), 1);
    ck_assert_int_eq(v, 0);
    ck_assert_int_eq(x509a_cert_memo_get(c, keys[1], &v), 0);
    for (i = 1; i < 4; i++) {
        x509a_cert_memo_set(c, keys[i], 10 + i);
    }
    for (i = 0; i < 4; i++) {
        ck_assert_int_eq(x509a_cert_memo_get(c, keys[i], &v), 1);
        ck_assert_int_eq(v, i ? 10 + i : 0);
    }
    /* keys compare by value: a copy elsewhere finds the entry, and a key
     * reused (same buffer, new content) does not find the old one */
    memcpy(copy, keys[3], sizeof(copy));
    v = -1;
    ck_assert_int_eq(x509a_cert_memo_get(c, copy, &v), 1);
    ck_assert_int_eq(v, 13);
    copy[0] ^= 1;
    ck_assert_int_eq(x509a_cert_memo_get(c, copy, &v), 0);
    /* updating a key does not use a slot */
    x509a_cert_memo_set(c, keys[2], 99);
    for (i = 0; i < 4; i++) {
        ck_assert_int_eq(x509a_cert_memo_get(c, keys[i], &v), 1);
        ck_assert_int_eq(v, i == 2 ? 99 : (i ? 10 + i : 0));
    }
    /* a fifth key forgets the oldest */
    x509a_cert_memo_set(c, keys[4], 44);
    ck_assert_int_eq(x509a_cert_memo_get(c, keys[0], &v), 0);
    for (i = 1; i < 5; i++) {
        ck_assert_msg(x509a_cert_memo_get(c, keys[i], &v), "key %d lost", i);
    }
    ck_assert_int_eq(x509a_cert_memo_get(c, keys[4], &v), 1);
    ck_assert_int_eq(v, 44);
    x509a_cert_memo_set(c, keys[5], 55);
    ck_assert_int_eq(x509a_cert_memo_get(c, keys[1], &v), 0);
    ck_assert_int_eq(x509a_cert_memo_get(c, keys[5], &v), 1);
    ck_assert_int_eq(v, 55);
    ck_assert_int_eq(x509a_cert_memo_get(c, keys[2], &v), 1);
    ck_assert_int_eq(v, 99);
}
END_TEST

/* The remembered results depend on the chain, the store and the verified
 * digests: setting any of them forgets every result. */
START_TEST(memo_forgotten_on_new_inputs)
{
    static const tc_attr subj[] = { { "CN", "m" }, { NULL } };
    unsigned char key[X509A_MEMO_KEY_LEN], digests[64];
    x509a_cert *c = simple_cert(subj, NULL, NULL);
    X509_STORE *store = X509_STORE_new();
    int v, step;

    memset(key, 7, sizeof(key));
    memset(digests, 1, sizeof(digests));
    for (step = 0; step < 3; step++) {
        x509a_cert_memo_set(c, key, 1);
        ck_assert_int_eq(x509a_cert_memo_get(c, key, &v), 1);
        switch (step) {
        case 0:
            x509a_cert_set_chain(c, NULL, NULL);
            break;
        case 1:
            x509a_cert_set_store(c, store, NULL);
            break;
        default:
            x509a_cert_set_verified_digests(c, digests, 2);
            break;
        }
        ck_assert_msg(!x509a_cert_memo_get(c, key, &v),
                      "result kept across a new input (step %d)", step);
    }
    X509_STORE_free(store);
}
END_TEST

Suite *x509a_cert_suite(void)
{
    Suite *s = suite_create("x509a_cert");
    TCase *tc = tcase_create("accessors");

    tcase_add_checked_fixture(tc, tc_setup, tc_teardown);
    tcase_add_test(tc, cert_accessors);
    tcase_add_test(tc, cert_utf8_names);
    tcase_add_test(tc, cert_make_reference);
    tcase_add_test(tc, cert_serial);
    tcase_add_test(tc, cert_digests);
    tcase_add_test(tc, cert_spki);
    tcase_add_test(tc, cert_san);
    tcase_add_test(tc, cert_san_utf8_upn);
    tcase_add_test(tc, cert_subject_attr);
    tcase_add_test(tc, cert_first_of_several);
    tcase_add_test(tc, cert_validity);
    tcase_add_test(tc, cert_pem);
    tcase_add_test(tc, cert_chain_pem);
    tcase_add_test(tc, cert_store);
    tcase_add_test(tc, cert_describe);
    tcase_add_test(tc, cert_empty_subject);
    tcase_add_test(tc, cert_empty_value);
    suite_add_tcase(s, tc);

    tc = tcase_create("fields");
    tcase_add_checked_fixture(tc, tc_setup, tc_teardown);
    tcase_add_test(tc, field_parse);
    tcase_add_test(tc, field_values);
    tcase_add_test(tc, field_cn_first);
    tcase_add_test(tc, field_email_fallback);
    tcase_add_test(tc, field_missing);
    tcase_add_test(tc, field_issuer_serial);
    suite_add_tcase(s, tc);

    tc = tcase_create("variables");
    tcase_add_checked_fixture(tc, tc_setup, tc_teardown);
    tcase_add_test(tc, vars_x509);
    tcase_add_test(tc, vars_attr_tags);
    tcase_add_test(tc, vars_modssl);
    tcase_add_test(tc, var_lookup);
    tcase_add_test(tc, memo);
    tcase_add_test(tc, memo_forgotten_on_new_inputs);
    suite_add_tcase(s, tc);
    return s;
}
