/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/* x509a_cert compact forms: a certificate made from its DER and compact
 * form answers every getter, rule and map lookup exactly as the one made
 * from the decoded X509, without decoding it; malformed forms, forms of
 * another certificate and other versions are refused without a crash. */

#include <regex.h>
#include <string.h>
#include <check.h>
#include <apr_strings.h>
#include <openssl/asn1.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "x509a_cert.h"
#include "x509a_map.h"
#include "x509a_rules.h"
#include "testcert.h"
#include "suites.h"

/* ---------------------------------------------------------------------- */
/* Certificates                                                            */
/* ---------------------------------------------------------------------- */

static apr_status_t free_x509(void *x)
{
    X509_free(x);
    return APR_SUCCESS;
}

/* A self-signed certificate of @a version without extensions (tc_cert()
 * always adds some). */
static X509 *plain_cert(long version, const tc_attr *subject)
{
    X509 *x = X509_new(), *rt;
    EVP_PKEY *key = tc_key(tc_pool);
    X509_NAME *n = tc_name(tc_pool, subject);
    unsigned char *der = NULL;
    const unsigned char *q;
    int len;

    ck_assert_ptr_nonnull(x);
    X509_set_version(x, version);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
    X509_set_subject_name(x, n);
    X509_set_issuer_name(x, n);
    ASN1_TIME_set(X509_getm_notBefore(x), TC_NOT_BEFORE);
    ASN1_TIME_set(X509_getm_notAfter(x), TC_NOT_AFTER);
    X509_set_pubkey(x, key);
    ck_assert(X509_sign(x, key, EVP_sha256()));
    len = i2d_X509(x, &der);
    X509_free(x);
    q = der;
    rt = d2i_X509(NULL, &q, len);
    OPENSSL_free(der);
    ck_assert_ptr_nonnull(rt);
    apr_pool_cleanup_register(tc_pool, rt, free_x509, apr_pool_cleanup_null);
    return rt;
}

static const tc_attr full_subject[] = {
    { "DC", "com" }, { "DC", "example" }, { "O", "Example Corp" },
    { "OU", "Engineering" }, { "OU", "Security" }, { "OU", "Third" },
    { "CN", "Alice Smith" }, { "UID", "asmith" },
    { "emailAddress", "alice@subject.example" }, { NULL }
};

static const tc_attr tricky_subject[] = {
    { "C", "DE" }, { "ST", "Baden-W\xc3\xbcrttemberg" }, { "L", "  Spaces  " },
    { "O", "Comma, Plus+ \"Quote\" Back\\slash <lt> >gt ;semi =eq #hash" },
    { "OU", "multi" }, { "UID", "m1", 0, 0, 1 }, { "CN", "m2", 0, 0, 1 },
    { "CN", "\xe6\x97\xa5\xe6\x9c\xac \xc3\x9c" "n\xc3\xaf" "c\xc3\xb8" "d\xc3\xa9" },
    { "CN", "Ctl\x01\x1f\x7f" }, { "serialNumber", "12345" },
    { "title", "T" }, { "givenName", "G" }, { "surname", "S" },
    { "initials", "I" }, { "description", "D" }, { "street", "St" },
    { "postalCode", "12" }, { "pseudonym", "P" },
    { "organizationIdentifier", "VATDE-1" }, { "1.2.3.4.5.6.7", "unknown" },
    { NULL }
};

/* "Bob" as UCS-2BE, "caf\xe9" as T.61, bits as a BIT STRING (printed and
 * compared as '#' hex), U+E000 (prohibited by RFC 4518: unmatchable) */
static const tc_attr typed_subject[] = {
    { "CN", "\0B\0o\0b", V_ASN1_BMPSTRING, 6 },
    { "O", "caf\xe9", V_ASN1_T61STRING, 4 },
    { "OU", "\x01\x02", V_ASN1_BIT_STRING, 2 },
    { "emailAddress", "ia5@example.com", V_ASN1_IA5STRING },
    { "C", "US", V_ASN1_PRINTABLESTRING },
    { NULL }
};

static const tc_attr prohibited_subject[] = {
    { "CN", "priv\xee\x80\x80" }, { NULL }
};

static const tc_san all_sans[] = {
    { TC_SAN_EMAIL, "alice@example.com" },
    { TC_SAN_DNS, "alice.example.com" },
    { TC_SAN_URI, "spiffe://example.com/user/alice" },
    { TC_SAN_UPN, "alice@corp.example" },
    { TC_SAN_EMAIL, "alice.smith@example.com" },
    { TC_SAN_DNS, "evil\nname.example.com" },
    { TC_SAN_OTHER_UTF8, "not-a-upn", "1.3.6.1.4.1.99999.1" },
    { TC_SAN_UPN, "asmith@corp.\xc3\xa9xample" },
    { TC_SAN_URI, "https://example.com/alice" },
    { TC_SAN_END }
};

static const tc_san one_upn[] = {
    { TC_SAN_UPN, "only@upn" }, { TC_SAN_END }
};

/* The certificates compared: everything testcert.c can make. */
static apr_array_header_t *corpus(tc_pki *pki)
{
    apr_array_header_t *a = apr_array_make(tc_pool, 32, sizeof(X509 *));
    static const tc_attr cn_only[] = { { "CN", "s" }, { NULL } };
    static const char *const serials[] = {
        "0", "-1234", "80", "7F", "-80",
        "8F0102030405060708090A0B0C0D0E0F10111213",
        /* 60 bytes: i2a_ASN1_INTEGER's line breaks in M_SERIAL */
        "0102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F"
        "202122232425262728292A2B2C2D2E2F303132333435363738393A3B3C",
        NULL
    };
    static const char *const ekus[] = {
        "clientAuth", "serverAuth", "clientAuth,serverAuth,1.2.3.4.5.6",
        "critical,emailProtection", NULL
    };
    tc_spec s;
    int i;

    tc_pki_make(tc_pool, pki, 1);
    APR_ARRAY_PUSH(a, X509 *) = pki->leaf;
    APR_ARRAY_PUSH(a, X509 *) = pki->inter;      /* a CA: leaf_problem */
    APR_ARRAY_PUSH(a, X509 *) = pki->root;
    APR_ARRAY_PUSH(a, X509 *) = pki->fake_leaf;

    memset(&s, 0, sizeof(s));
    s.subject = full_subject;
    s.issuer = pki->inter;
    s.issuer_key = pki->inter_key;
    s.san = all_sans;
    s.eku = "clientAuth,emailProtection";
    s.not_before = (time_t)1704164645;
    APR_ARRAY_PUSH(a, X509 *) = tc_cert(tc_pool, &s, NULL);

    memset(&s, 0, sizeof(s));
    s.subject = tricky_subject;
    s.issuer = pki->inter;
    s.issuer_key = pki->inter_key;
    s.san = one_upn;
    s.not_before = (time_t)946684799;             /* UTCTime, 1999 */
    s.not_after = (time_t)2556143999;             /* GeneralizedTime, 2050 */
    APR_ARRAY_PUSH(a, X509 *) = tc_cert(tc_pool, &s, NULL);

    memset(&s, 0, sizeof(s));
    s.subject = typed_subject;
    s.no_key_ids = 1;
    APR_ARRAY_PUSH(a, X509 *) = tc_cert(tc_pool, &s, NULL);

    memset(&s, 0, sizeof(s));
    s.subject = prohibited_subject;
    s.issuer = pki->inter;
    s.issuer_key = pki->inter_key;
    APR_ARRAY_PUSH(a, X509 *) = tc_cert(tc_pool, &s, NULL);

    memset(&s, 0, sizeof(s));              /* empty subject, expired */
    s.issuer = pki->root;
    s.issuer_key = pki->root_key;
    s.not_before = (time_t)1000000000;
    s.not_after = (time_t)1100000000;
    APR_ARRAY_PUSH(a, X509 *) = tc_cert(tc_pool, &s, NULL);

    for (i = 0; serials[i]; i++) {
        memset(&s, 0, sizeof(s));
        s.subject = cn_only;
        s.serial = serials[i];
        s.issuer = pki->inter;
        s.issuer_key = pki->inter_key;
        APR_ARRAY_PUSH(a, X509 *) = tc_cert(tc_pool, &s, NULL);
    }
    for (i = 0; ekus[i]; i++) {
        memset(&s, 0, sizeof(s));
        s.subject = cn_only;
        s.eku = ekus[i];
        s.issuer = pki->inter;
        s.issuer_key = pki->inter_key;
        APR_ARRAY_PUSH(a, X509 *) = tc_cert(tc_pool, &s, NULL);
    }
    memset(&s, 0, sizeof(s));              /* a CA issued as a leaf */
    s.subject = cn_only;
    s.ca = 1;
    s.issuer = pki->inter;
    s.issuer_key = pki->inter_key;
    APR_ARRAY_PUSH(a, X509 *) = tc_cert(tc_pool, &s, NULL);

    APR_ARRAY_PUSH(a, X509 *) = plain_cert(X509_VERSION_1, cn_only);
    APR_ARRAY_PUSH(a, X509 *) = plain_cert(X509_VERSION_3, full_subject);
    APR_ARRAY_PUSH(a, X509 *) = plain_cert(X509_VERSION_2, NULL);
    return a;
}

/* The DER of @a x and its compact form. */
static void der_and_form(X509 *x, unsigned char **der, apr_size_t *der_len,
                         unsigned char **form, apr_size_t *form_len)
{
    size_t len;
    x509a_cert *c = x509a_cert_make(tc_pool, x);
    const char *err = x509a_cert_compact(c, tc_pool, form, form_len);

    ck_assert_msg(err == NULL, "compact: %s", err);
    *der = tc_cert_der(tc_pool, x, &len);
    *der_len = len;
}

/* ---------------------------------------------------------------------- */
/* Comparing every getter                                                  */
/* ---------------------------------------------------------------------- */

#define STR_SAME(a, b, what) \
    do { \
        const char *a_ = (a), *b_ = (b); \
        ck_assert_msg((a_ == NULL) == (b_ == NULL) \
                      && (!a_ || strcmp(a_, b_) == 0), \
                      "%s: '%s' != '%s' (cert %d)", what, \
                      a_ ? a_ : "(null)", b_ ? b_ : "(null)", n); \
    } while (0)

static void dn_same(const x509a_dn *a, const x509a_dn *b, int n)
{
    int i, j;

    ck_assert_int_eq(a->canon_len, b->canon_len);
    ck_assert(memcmp(a->canon, b->canon, a->canon_len) == 0);
    ck_assert_int_eq(a->unmatchable, b->unmatchable);
    ck_assert_int_eq(a->rfc4514, b->rfc4514);
    ck_assert_int_eq(x509a_dn_equal(a, b), !a->unmatchable);
    ck_assert_int_eq(x509a_dn_equal(b, a), !a->unmatchable);
    ck_assert_int_eq(a->rdns->nelts, b->rdns->nelts);
    for (i = 0; i < a->rdns->nelts; i++) {
        const apr_array_header_t *ra = APR_ARRAY_IDX(a->rdns, i,
                                                     apr_array_header_t *);
        const apr_array_header_t *rb = APR_ARRAY_IDX(b->rdns, i,
                                                     apr_array_header_t *);

        ck_assert_int_eq(ra->nelts, rb->nelts);
        for (j = 0; j < ra->nelts; j++) {
            const x509a_ava *x = &APR_ARRAY_IDX(ra, j, x509a_ava);
            const x509a_ava *y = &APR_ARRAY_IDX(rb, j, x509a_ava);

            STR_SAME(x->oid, y->oid, "ava oid");
            ck_assert_int_eq(x->nid, y->nid);
            ck_assert_int_eq(x->is_hex, y->is_hex);
            ck_assert_int_eq(x->value_len, y->value_len);
            ck_assert(memcmp(x->value, y->value, x->value_len) == 0);
            ck_assert_int_eq(y->value[y->value_len], '\0');
        }
    }
}

static void array_same(const apr_array_header_t *a,
                       const apr_array_header_t *b, int n)
{
    int i;

    ck_assert_int_eq(a->nelts, b->nelts);
    for (i = 0; i < a->nelts; i++) {
        STR_SAME(APR_ARRAY_IDX(a, i, const char *),
                 APR_ARRAY_IDX(b, i, const char *), "array");
    }
}

static void vars_same(x509a_cert *a, x509a_cert *b, int n)
{
    int s, i;

    for (s = 0; s < X509A_VARS_STYLES; s++) {
        const apr_array_header_t *va = x509a_cert_vars(a, s);
        const apr_array_header_t *vb = x509a_cert_vars(b, s);
        const apr_array_header_t *ta = apr_table_elts(
            x509a_cert_vars_table(a, s));
        const apr_array_header_t *tb = apr_table_elts(
            x509a_cert_vars_table(b, s));

        ck_assert_int_eq(va->nelts, vb->nelts);
        for (i = 0; i < va->nelts; i++) {
            STR_SAME(APR_ARRAY_IDX(va, i, x509a_var).name,
                     APR_ARRAY_IDX(vb, i, x509a_var).name, "var name");
            STR_SAME(APR_ARRAY_IDX(va, i, x509a_var).value,
                     APR_ARRAY_IDX(vb, i, x509a_var).value, "var value");
        }
        ck_assert_int_eq(ta->nelts, tb->nelts);
        for (i = 0; i < ta->nelts; i++) {
            STR_SAME(APR_ARRAY_IDX(ta, i, apr_table_entry_t).key,
                     APR_ARRAY_IDX(tb, i, apr_table_entry_t).key, "key");
            STR_SAME(APR_ARRAY_IDX(ta, i, apr_table_entry_t).val,
                     APR_ARRAY_IDX(tb, i, apr_table_entry_t).val, "val");
        }
        /* every variable of either style, by name */
        for (i = 0; i < va->nelts; i++) {
            const char *name = APR_ARRAY_IDX(va, i, x509a_var).name;

            STR_SAME(x509a_cert_var(a, tc_pool, name, 1800000000),
                     x509a_cert_var(b, tc_pool, name, 1800000000), name);
        }
    }
}

static const char *const var_names[] = {
    "X509_CLIENT_V_REMAIN", "X509_CLIENT_S_DN_OU_0", "X509_CLIENT_S_DN_OU_1",
    "X509_CLIENT_S_DN_OU_2", "X509_CLIENT_I_DN_CN_0", "X509_CLIENT_S_DN_CN",
    "X509_CLIENT_S_DN_Email", "X509_CLIENT_SAN_UPN_0", "X509_CLIENT_NOPE",
    NULL
};

static const char *const field_names[] = {
    "subject", "subject-legacy", "cn", "subject:O", "subject:OU",
    "subject:UID", "subject:1.2.3.4.5.6.7", "subject:serialNumber", "email",
    "upn", "uri", "dns", "serial", "issuer+serial", "sha256", NULL
};

static const char *const attr_oids[] = {
    "2.5.4.3", "2.5.4.10", "2.5.4.11", "2.5.4.6", "0.9.2342.19200300.100.1.25",
    "0.9.2342.19200300.100.1.1", "1.2.840.113549.1.9.1", "2.5.4.5",
    "1.2.3.4.5.6.7", "2.5.4.8", "1.2.3", NULL
};

static const char *const purposes[] = {
    "clientAuth", "serverAuth", "emailProtection", "1.2.3.4.5.6",
    "codeSigning", NULL
};

/* POSIX regular expressions stand in for ap_regex in map lookups. */
static apr_status_t cc_re_free(void *re)
{
    regfree(re);
    return APR_SUCCESS;
}

static void *cc_re_compile(apr_pool_t *p, const char *pattern, int *ncap,
                        const char **err)
{
    regex_t *re = apr_pcalloc(p, sizeof(*re));

    if (regcomp(re, pattern, REG_EXTENDED)) {
        *err = "bad regex";
        return NULL;
    }
    apr_pool_cleanup_register(p, re, cc_re_free, apr_pool_cleanup_null);
    *ncap = (int)re->re_nsub;
    return re;
}

static int cc_re_match(void *re, const char *subject, int nmatch, x509a_match *m)
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

static const x509a_regex_ops cc_re_ops = { cc_re_compile, cc_re_match };

/* Rules, built from what @a ref (another certificate, for failures) and
 * @a full say, with the answer and failing kind of each compared. */
static void rules_same(x509a_cert *full, x509a_cert *cmp, x509a_cert *ref,
                       int n)
{
    x509a_cert *src[2];
    int k, s;

    src[0] = full;
    src[1] = ref;
    for (s = 0; s < 2; s++) {
        const char *vals[X509A_RULE_KINDS];
        const unsigned char *spki = x509a_cert_spki_sha256(src[s]);

        memset(vals, 0, sizeof(vals));
        vals[X509A_RULE_SUBJECT] = x509a_cert_subject(src[s]);
        vals[X509A_RULE_ISSUER] = x509a_cert_issuer(src[s]);
        vals[X509A_RULE_SERIAL] = x509a_cert_serial_dec(src[s]);
        vals[X509A_RULE_FINGERPRINT] = apr_pstrcat(
            tc_pool, "sha256:",
            x509a_cert_digest_hex(src[s], X509A_DIGEST_SHA256), NULL);
        vals[X509A_RULE_SPKI] = spki ? apr_pstrcat(tc_pool, "sha256:",
                                                   tc_hex(tc_pool, spki, 32),
                                                   NULL) : NULL;
        vals[X509A_RULE_EKU] = s ? "serverAuth" : "clientAuth";
        for (k = 0; k < X509A_RULE_KINDS; k++) {
            x509a_rules *r = x509a_rules_make(tc_pool);
            const char *warning = NULL, *wa = NULL, *wb = NULL;
            x509a_rule_kind fa = X509A_RULE_KINDS, fb = X509A_RULE_KINDS;
            int oka, okb;

            if (!vals[k] || x509a_rules_add(r, tc_pool, (x509a_rule_kind)k,
                                            vals[k], &warning) != NULL) {
                continue;
            }
            oka = x509a_rules_check_kind(r, full, 1800000000, tc_pool, &wa,
                                         &fa);
            okb = x509a_rules_check_kind(r, cmp, 1800000000, tc_pool, &wb,
                                         &fb);
            ck_assert_msg(oka == okb, "rule %s '%s': %d != %d (cert %d)",
                          x509a_rule_name(k), vals[k], oka, okb, n);
            ck_assert_int_eq(fa, fb);
            STR_SAME(wa, wb, "rule why");
        }
    }
}

static void maps_same(x509a_cert *full, x509a_cert *cmp, int n)
{
    const char *issuer = x509a_cert_issuer(full);
    const char *texts[4];
    int i;

    texts[0] = apr_psprintf(tc_pool, "fingerprint sha256:%s fp256\n",
                            x509a_cert_digest_hex(full, X509A_DIGEST_SHA256));
    texts[1] = apr_psprintf(tc_pool, "fingerprint sha1:%s fp1\n",
                            x509a_cert_digest_hex(full, X509A_DIGEST_SHA1));
    texts[2] = apr_psprintf(tc_pool, "issuer-serial \"%s\" %s is\n", issuer,
                            x509a_cert_serial_dec(full));
    texts[3] = apr_psprintf(tc_pool, "issuer-subject \"%s\" \"^(.*)$\" "
                            "u-$1\n", issuer);
    for (i = 0; i < 4; i++) {
        x509a_map *map = NULL;
        int la = -1, lb = -1;

        if (x509a_map_parse(tc_pool, "t.map", texts[i], strlen(texts[i]),
                            &cc_re_ops, &map) != NULL) {
            continue;       /* a DN the map syntax cannot quote */
        }
        STR_SAME(x509a_map_lookup(map, full, tc_pool, &la),
                 x509a_map_lookup(map, cmp, tc_pool, &lb), texts[i]);
        ck_assert_int_eq(la, lb);
    }
}

/* Every getter of @a full and @a cmp agrees; @a cmp decodes nothing. */
static void all_same(x509a_cert *full, x509a_cert *cmp, x509a_cert *ref,
                     int n)
{
    const x509a_serial *sa, *sb;
    const unsigned char *pa, *pb;
    time_t a1, a2, b1, b2;
    int i, j;

    STR_SAME(x509a_cert_subject(full), x509a_cert_subject(cmp), "subject");
    STR_SAME(x509a_cert_subject_legacy(full), x509a_cert_subject_legacy(cmp),
             "legacy");
    STR_SAME(x509a_cert_issuer(full), x509a_cert_issuer(cmp), "issuer");
    dn_same(x509a_cert_subject_dn(full), x509a_cert_subject_dn(cmp), n);
    dn_same(x509a_cert_issuer_dn(full), x509a_cert_issuer_dn(cmp), n);
    sa = x509a_cert_serial(full);
    sb = x509a_cert_serial(cmp);
    ck_assert_int_eq(sa->negative, sb->negative);
    ck_assert_int_eq(sa->len, sb->len);
    ck_assert(sa->len == 0 || memcmp(sa->mag, sb->mag, sa->len) == 0);
    ck_assert(x509a_serial_equal(sa, sb));
    STR_SAME(x509a_cert_serial_hex(full), x509a_cert_serial_hex(cmp), "hex");
    STR_SAME(x509a_cert_serial_dec(full), x509a_cert_serial_dec(cmp), "dec");
    ck_assert(memcmp(x509a_cert_digest(full, X509A_DIGEST_SHA256),
                     x509a_cert_digest(cmp, X509A_DIGEST_SHA256), 32) == 0);
    ck_assert(memcmp(x509a_cert_digest(full, X509A_DIGEST_SHA1),
                     x509a_cert_digest(cmp, X509A_DIGEST_SHA1), 20) == 0);
    STR_SAME(x509a_cert_digest_hex(full, X509A_DIGEST_SHA256),
             x509a_cert_digest_hex(cmp, X509A_DIGEST_SHA256), "sha256");
    STR_SAME(x509a_cert_digest_hex(full, X509A_DIGEST_SHA1),
             x509a_cert_digest_hex(cmp, X509A_DIGEST_SHA1), "sha1");
    pa = x509a_cert_spki_sha256(full);
    pb = x509a_cert_spki_sha256(cmp);
    ck_assert((pa == NULL) == (pb == NULL));
    ck_assert(!pa || memcmp(pa, pb, 32) == 0);
    for (i = 0; i < X509A_SAN_KINDS; i++) {
        array_same(x509a_cert_san(full, i), x509a_cert_san(cmp, i), n);
    }
    for (i = 0; attr_oids[i]; i++) {
        for (j = 0; j < 4; j++) {
            STR_SAME(x509a_cert_subject_attr(full, attr_oids[i], j),
                     x509a_cert_subject_attr(cmp, attr_oids[i], j),
                     attr_oids[i]);
        }
    }
    x509a_cert_validity(full, &a1, &a2);
    x509a_cert_validity(cmp, &b1, &b2);
    ck_assert(a1 == b1 && a2 == b2);
    x509a_cert_validity(cmp, NULL, NULL);
    for (i = 0; i < 5; i++) {
        time_t now = (time_t)900000000 + (time_t)i * 400000000;

        ck_assert_int_eq(x509a_cert_days_remaining(full, now),
                         x509a_cert_days_remaining(cmp, now));
    }
    STR_SAME(x509a_cert_leaf_problem(full), x509a_cert_leaf_problem(cmp),
             "leaf_problem");
    STR_SAME(x509a_cert_describe(full), x509a_cert_describe(cmp), "describe");
    for (i = 0; field_names[i]; i++) {
        x509a_field f;

        ck_assert_ptr_null(x509a_field_parse(tc_pool, field_names[i], &f));
        STR_SAME(x509a_cert_field(full, &f), x509a_cert_field(cmp, &f),
                 field_names[i]);
    }
    vars_same(full, cmp, n);
    for (i = 0; var_names[i]; i++) {
        STR_SAME(x509a_cert_var(full, tc_pool, var_names[i], 1800000000),
                 x509a_cert_var(cmp, tc_pool, var_names[i], 1800000000),
                 var_names[i]);
    }
    for (i = 0; purposes[i]; i++) {
        ASN1_OBJECT *o = OBJ_txt2obj(purposes[i], 0);

        ck_assert_ptr_nonnull(o);
        ck_assert_int_eq(x509a_cert_has_eku(full, o),
                         x509a_cert_has_eku(cmp, o));
        ASN1_OBJECT_free(o);
    }
    rules_same(full, cmp, ref, n);
    maps_same(full, cmp, n);
    STR_SAME(x509a_cert_pem(full), x509a_cert_pem(cmp), "pem");
    ck_assert_int_eq(x509a_cert_chain_pem(cmp)->nelts, 0);
    ck_assert_msg(!x509a_cert_x509_decoded(cmp),
                  "certificate %d was decoded by a common getter", n);

    /* what the form does not hold decodes the DER, once */
    ck_assert_int_eq(X509_cmp(x509a_cert_x509(full), x509a_cert_x509(cmp)), 0);
    ck_assert(x509a_cert_x509_decoded(cmp));
    ck_assert_ptr_eq(x509a_cert_x509(cmp), x509a_cert_x509(cmp));
}

START_TEST(compact_same_answers)
{
    tc_pki pki;
    apr_array_header_t *certs = corpus(&pki);
    x509a_cert *ref = x509a_cert_make(tc_pool, pki.fake_leaf);
    int n;

    for (n = 0; n < certs->nelts; n++) {
        X509 *x = APR_ARRAY_IDX(certs, n, X509 *);
        unsigned char *der, *form, *form2;
        apr_size_t der_len, form_len, form2_len;
        const char *why = "unset";
        x509a_cert *cmp;

        der_and_form(x, &der, &der_len, &form, &form_len);
        ck_assert_int_eq(form[0], 1);
        /* compact: a plain leaf in well under 1 KB, the most
         * crowded DN of the corpus in a few */
        ck_assert_msg(form_len < (n == 0 ? 700u : 2400u),
                      "form of cert %d: %d bytes", n, (int)form_len);
        cmp = x509a_cert_make_compact(tc_pool, der, der_len, form, form_len,
                                      &why);
        ck_assert_msg(cmp != NULL, "cert %d refused: %s", n, why);
        ck_assert(!x509a_cert_x509_decoded(cmp));
        /* the form of a compact certificate is the same form */
        ck_assert_ptr_null(x509a_cert_compact(cmp, tc_pool, &form2,
                                              &form2_len));
        ck_assert_int_eq(form_len, form2_len);
        ck_assert(memcmp(form, form2, form_len) == 0);
        ck_assert(!x509a_cert_x509_decoded(cmp));
        all_same(x509a_cert_make(tc_pool, x), cmp, ref, n);
    }
}
END_TEST

/* Rules on the path (the chain is attached as for any certificate) decode
 * the DER and agree. */
START_TEST(compact_path_rules)
{
    tc_pki pki;
    unsigned char *der, *form;
    apr_size_t der_len, form_len;
    const char *why = NULL, *wa = NULL, *wb = NULL;
    x509a_cert *full, *cmp;
    x509a_rules *r = x509a_rules_make(tc_pool);
    x509a_rule_kind fa, fb;
    STACK_OF(X509) *chain;
    unsigned char digests[3 * 32];
    unsigned int len;
    int i;

    tc_pki_make(tc_pool, &pki, 1);
    chain = tc_stack(tc_pool, pki.leaf, pki.inter, pki.root, NULL);
    der_and_form(pki.leaf, &der, &der_len, &form, &form_len);
    full = x509a_cert_make(tc_pool, pki.leaf);
    cmp = x509a_cert_make_compact(tc_pool, der, der_len, form, form_len, &why);
    ck_assert_ptr_nonnull(cmp);
    for (i = 0; i < 3; i++) {
        X509_digest(sk_X509_value(chain, i), EVP_sha256(), digests + 32 * i,
                    &len);
    }
    x509a_cert_set_verified_digests(full, digests, 3);
    x509a_cert_set_verified_digests(cmp, digests, 3);
    x509a_cert_set_chain(full, NULL, tc_stack(tc_pool, pki.inter, NULL));
    x509a_cert_set_chain(cmp, NULL, tc_stack(tc_pool, pki.inter, NULL));
    x509a_cert_set_verified_digests(full, digests, 3);
    x509a_cert_set_verified_digests(cmp, digests, 3);
    x509a_cert_set_store(full, tc_store(tc_pool, pki.root, NULL), NULL);
    x509a_cert_set_store(cmp, tc_store(tc_pool, pki.root, NULL), NULL);
    ck_assert_ptr_null(x509a_rules_add(r, tc_pool, X509A_RULE_MAX_DEPTH, "1",
                                       &why));
    ck_assert_int_eq(x509a_rules_check_kind(r, full, 1800000000, tc_pool, &wa,
                                            &fa),
                     x509a_rules_check_kind(r, cmp, 1800000000, tc_pool, &wb,
                                            &fb));
    ck_assert((wa == NULL) == (wb == NULL) && (!wa || !strcmp(wa, wb)));
    ck_assert(!x509a_cert_x509_decoded(cmp));     /* digests told the depth */
    ck_assert_int_eq(sk_X509_num(x509a_cert_path(cmp, 1800000000, &why)), 3);
    ck_assert(x509a_cert_x509_decoded(cmp));
    ck_assert_int_eq(X509_cmp(sk_X509_value(x509a_cert_path(full, 1800000000,
                                                            &why), 2),
                              sk_X509_value(x509a_cert_path(cmp, 1800000000,
                                                            &why), 2)), 0);
}
END_TEST

/* With only the verified digests known (a shared-cache record), the
 * exported chain is the verified chain's certificates above the leaf, as
 * when it was verified here, found without decoding the leaf when they came
 * with it or are the store's; else by the path (which decodes it). */
START_TEST(compact_chain_pem_from_digests)
{
    tc_pki pki;
    unsigned char *der, *form;
    apr_size_t der_len, form_len;
    const char *why = NULL;
    x509a_cert *cmp, *full;
    const apr_array_header_t *pems;
    STACK_OF(X509) *chain;
    unsigned char digests[3 * 32];
    unsigned int len;
    int i;

    tc_pki_make(tc_pool, &pki, 1);
    chain = tc_stack(tc_pool, pki.leaf, pki.inter, pki.root, NULL);
    for (i = 0; i < 3; i++) {
        X509_digest(sk_X509_value(chain, i), EVP_sha256(), digests + 32 * i,
                    &len);
    }
    der_and_form(pki.leaf, &der, &der_len, &form, &form_len);
    /* the verified chain itself, as the full path exports it */
    full = x509a_cert_make(tc_pool, pki.leaf);
    x509a_cert_set_chain(full, chain, NULL);

    /* intermediate sent along, root in the store */
    cmp = x509a_cert_make_compact(tc_pool, der, der_len, form, form_len, &why);
    ck_assert_ptr_nonnull(cmp);
    x509a_cert_set_chain(cmp, NULL, tc_stack(tc_pool, pki.inter, NULL));
    x509a_cert_set_store(cmp, tc_store(tc_pool, pki.root, NULL), NULL);
    x509a_cert_set_verified_digests(cmp, digests, 3);
    pems = x509a_cert_chain_pem(cmp);
    ck_assert_int_eq(pems->nelts, 2);
    ck_assert_int_eq(x509a_cert_chain_pem(full)->nelts, 2);
    for (i = 0; i < 2; i++) {
        ck_assert_str_eq(APR_ARRAY_IDX(pems, i, const char *),
                         APR_ARRAY_IDX(x509a_cert_chain_pem(full), i,
                                       const char *));
    }
    ck_assert(!x509a_cert_x509_decoded(cmp));

    /* both in the store */
    cmp = x509a_cert_make_compact(tc_pool, der, der_len, form, form_len, &why);
    x509a_cert_set_store(cmp, tc_store(tc_pool, pki.root, pki.inter, NULL),
                         NULL);
    x509a_cert_set_verified_digests(cmp, digests, 3);
    ck_assert_int_eq(x509a_cert_chain_pem(cmp)->nelts, 2);
    ck_assert_str_eq(APR_ARRAY_IDX(x509a_cert_chain_pem(cmp), 1,
                                   const char *),
                     tc_cert_pem(tc_pool, pki.root));
    ck_assert(!x509a_cert_x509_decoded(cmp));

    /* the intermediate as its DER bytes: its PEM from them; decoded for
     * the path only */
    {
        size_t ilen;
        const unsigned char *ider = tc_cert_der(tc_pool, pki.inter, &ilen);
        apr_size_t ilen2 = ilen;
        STACK_OF(X509) *path;

        cmp = x509a_cert_make_compact(tc_pool, der, der_len, form, form_len,
                                      &why);
        x509a_cert_set_store(cmp, tc_store(tc_pool, pki.root, NULL), NULL);
        x509a_cert_set_untrusted_der(cmp, &ider, &ilen2, digests + 32, 1);
        x509a_cert_set_verified_digests(cmp, digests, 3);
        pems = x509a_cert_chain_pem(cmp);
        ck_assert_int_eq(pems->nelts, 2);
        for (i = 0; i < 2; i++) {
            ck_assert_str_eq(APR_ARRAY_IDX(pems, i, const char *),
                             APR_ARRAY_IDX(x509a_cert_chain_pem(full), i,
                                           const char *));
        }
        ck_assert(!x509a_cert_x509_decoded(cmp));
        path = x509a_cert_path(cmp, 1800000000, &why);
        ck_assert_ptr_nonnull(path);
        ck_assert_int_eq(sk_X509_num(path), 3);
        ck_assert_int_eq(X509_cmp(sk_X509_value(path, 1), pki.inter), 0);
        ck_assert_int_eq(sk_X509_num(x509a_cert_untrusted(cmp)), 1);
        ck_assert_int_eq(X509_cmp(sk_X509_value(x509a_cert_untrusted(cmp), 0),
                                  pki.inter), 0);
        /* the path found, the store alone does not have the intermediate:
         * without its bytes no path */
        cmp = x509a_cert_make_compact(tc_pool, der, der_len, form, form_len,
                                      &why);
        x509a_cert_set_store(cmp, tc_store(tc_pool, pki.root, NULL), NULL);
        x509a_cert_set_untrusted_der(cmp, &ider, &ilen2, digests + 32, 1);
        x509a_cert_set_untrusted_der(cmp, NULL, NULL, NULL, 0);
        x509a_cert_set_verified_digests(cmp, digests, 3);
        ck_assert_ptr_null(x509a_cert_untrusted(cmp));
        ck_assert_int_eq(x509a_cert_chain_pem(cmp)->nelts, 0);
    }

    /* one not found: no chain from the digests, what the peer sent */
    cmp = x509a_cert_make_compact(tc_pool, der, der_len, form, form_len, &why);
    x509a_cert_set_chain(cmp, NULL, tc_stack(tc_pool, pki.inter, NULL));
    x509a_cert_set_verified_digests(cmp, digests, 3);
    pems = x509a_cert_chain_pem(cmp);
    ck_assert_int_eq(pems->nelts, 1);
    ck_assert_str_eq(APR_ARRAY_IDX(pems, 0, const char *),
                     tc_cert_pem(tc_pool, pki.inter));
}
END_TEST

/* Every getter runs on a (possibly nonsensical) accepted form. */
static void exercise(x509a_cert *c)
{
    int i;

    x509a_cert_subject(c);
    x509a_cert_subject_legacy(c);
    x509a_cert_issuer(c);
    x509a_dn_equal(x509a_cert_subject_dn(c), x509a_cert_issuer_dn(c));
    x509a_cert_serial(c);
    x509a_cert_serial_hex(c);
    x509a_cert_serial_dec(c);
    x509a_cert_digest_hex(c, X509A_DIGEST_SHA1);
    x509a_cert_spki_sha256(c);
    for (i = 0; i < X509A_SAN_KINDS; i++) {
        x509a_cert_san(c, i);
    }
    for (i = 0; attr_oids[i]; i++) {
        x509a_cert_subject_attr(c, attr_oids[i], 1);
    }
    x509a_cert_days_remaining(c, 1800000000);
    x509a_cert_leaf_problem(c);
    x509a_cert_describe(c);
    for (i = 0; field_names[i]; i++) {
        x509a_field f;

        x509a_field_parse(tc_pool, field_names[i], &f);
        x509a_cert_field(c, &f);
    }
    x509a_cert_vars_table(c, X509A_VARS_X509);
    x509a_cert_vars_table(c, X509A_VARS_MODSSL);
    x509a_cert_var(c, tc_pool, "X509_CLIENT_S_DN_OU_0", 0);
    {
        ASN1_OBJECT *o = OBJ_txt2obj("clientAuth", 0);
        x509a_cert_has_eku(c, o);
        ASN1_OBJECT_free(o);
    }
    x509a_cert_pem(c);
}

static x509a_cert *make(const unsigned char *der, apr_size_t der_len,
                        const unsigned char *form, apr_size_t form_len,
                        const char **why)
{
    *why = NULL;
    return x509a_cert_make_compact(tc_pool, der, der_len, form, form_len, why);
}

START_TEST(compact_refused)
{
    tc_pki pki;
    unsigned char *der, *form, *der2, *form2, *bad;
    apr_size_t der_len, form_len, der2_len, form2_len, i;
    const char *why;
    x509a_cert *c;

    tc_pki_make(tc_pool, &pki, 1);
    der_and_form(pki.leaf, &der, &der_len, &form, &form_len);
    der_and_form(pki.fake_leaf, &der2, &der2_len, &form2, &form2_len);
    ck_assert_ptr_nonnull(make(der, der_len, form, form_len, &why));
    ck_assert_ptr_null(why);

    /* the caller's digest of the DER stands for hashing it again */
    {
        unsigned char md[32], wrong[32];
        unsigned int mdlen;

        ck_assert(EVP_Digest(der, der_len, md, &mdlen, EVP_sha256(), NULL));
        c = x509a_cert_make_compact_sha256(tc_pool, der, der_len, md, form,
                                           form_len, &why);
        ck_assert_ptr_nonnull(c);
        ck_assert(memcmp(x509a_cert_digest(c, X509A_DIGEST_SHA256), md,
                         32) == 0);
        ck_assert(!x509a_cert_x509_decoded(c));
        memcpy(wrong, md, 32);
        wrong[5] ^= 0x40;
        ck_assert_ptr_null(x509a_cert_make_compact_sha256(
            tc_pool, der, der_len, wrong, form, form_len, &why));
        ck_assert_str_eq(why, "the compact form belongs to another "
                              "certificate");
        ck_assert(EVP_Digest(der2, der2_len, md, &mdlen, EVP_sha256(),
                             NULL));
        ck_assert_ptr_null(x509a_cert_make_compact_sha256(
            tc_pool, der2, der2_len, md, form, form_len, &why));
    }

    /* a form of another certificate (same subject, issuer DN and serial) */
    ck_assert_ptr_null(make(der, der_len, form2, form2_len, &why));
    ck_assert_str_eq(why, "the compact form belongs to another certificate");
    ck_assert_ptr_null(make(der2, der2_len, form, form_len, &why));
    ck_assert_ptr_nonnull(why);
    /* another DER byte, the same form */
    bad = apr_pmemdup(tc_pool, der, der_len);
    bad[der_len - 1] ^= 1;
    ck_assert_ptr_null(make(bad, der_len, form, form_len, &why));
    ck_assert_ptr_null(make(der, der_len - 1, form, form_len, &why));
    ck_assert_ptr_null(make(NULL, 0, form, form_len, &why));
    ck_assert_ptr_null(make(der, 0, form, form_len, &why));
    ck_assert_ptr_null(make(der, der_len, NULL, 0, &why));
    ck_assert_ptr_nonnull(why);

    /* another format version */
    bad = apr_pmemdup(tc_pool, form, form_len);
    bad[0] = 2;
    ck_assert_ptr_null(make(der, der_len, bad, form_len, &why));
    ck_assert(tc_contains(why, "version 2"));
    bad[0] = 0;
    ck_assert_ptr_null(make(der, der_len, bad, form_len, &why));

    /* every truncation */
    for (i = 0; i < form_len; i++) {
        ck_assert_msg(make(der, der_len, form, i, &why) == NULL,
                      "form truncated to %d bytes accepted", (int)i);
        ck_assert_ptr_nonnull(why);
    }
    /* trailing bytes */
    bad = apr_palloc(tc_pool, form_len + 4);
    memcpy(bad, form, form_len);
    memset(bad + form_len, 0, 4);
    for (i = 1; i <= 4; i++) {
        ck_assert_ptr_null(make(der, der_len, bad, form_len + i, &why));
        ck_assert(tc_contains(why, "malformed"));
    }

    /* every byte changed: refused or, when the change is a value, served
     * without reading outside the form (valgrind/ASan watch) */
    for (i = 33; i < form_len; i++) {
        static const unsigned char xors[] = { 0x01, 0x80, 0xff };
        int k;

        for (k = 0; k < 3; k++) {
            bad = apr_pmemdup(tc_pool, form, form_len);
            bad[i] ^= xors[k];
            if ((c = make(der, der_len, bad, form_len, &why)) != NULL) {
                exercise(c);
                ck_assert(!x509a_cert_x509_decoded(c));
            }
            else {
                ck_assert(tc_contains(why, "malformed"));
            }
        }
    }
}
END_TEST

/* Lengths and counts that claim more than the form holds. */
START_TEST(compact_oversized)
{
    tc_pki pki;
    unsigned char *der, *form, *bad;
    apr_size_t der_len, form_len, head;
    const char *why;
    static const unsigned char huge[][5] = {
        { 0xff, 0xff, 0xff, 0x7f }, { 0xff, 0xff, 0xff, 0xff, 0x0f },
        { 0x80, 0x00 }, { 0x90, 0x4e }
    };
    static const apr_size_t huge_len[] = { 4, 5, 2, 2 };
    int k;

    tc_pki_make(tc_pool, &pki, 1);
    der_and_form(pki.leaf, &der, &der_len, &form, &form_len);
    /* the subject string's length: after version, digests, SPKI, version,
     * CA, validity */
    head = 1 + 32 + 20 + 1 + 32 + 8 + 1 + 8 + 8;
    ck_assert_int_eq(form[head], strlen(x509a_cert_subject(
                                            x509a_cert_make(tc_pool,
                                                            pki.leaf))));
    for (k = 0; k < 4; k++) {
        bad = apr_palloc(tc_pool, form_len + 8);
        memcpy(bad, form, head);
        memcpy(bad + head, huge[k], huge_len[k]);
        memcpy(bad + head + huge_len[k], form + head + 1, form_len - head - 1);
        ck_assert_ptr_null(make(der, der_len, bad,
                                form_len - 1 + huge_len[k], &why));
        ck_assert(tc_contains(why, "malformed"));
    }
    /* a form of a megabyte of zeros after a valid head */
    bad = apr_pcalloc(tc_pool, 1 << 20);
    memcpy(bad, form, head);
    ck_assert_ptr_null(make(der, der_len, bad, 1 << 20, &why));
    ck_assert(tc_contains(why, "malformed"));
}
END_TEST

Suite *x509a_compact_suite(void)
{
    Suite *s = suite_create("x509a_compact");
    TCase *tc = tcase_create("compact");

    tcase_add_checked_fixture(tc, tc_setup, tc_teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, compact_same_answers);
    tcase_add_test(tc, compact_path_rules);
    tcase_add_test(tc, compact_chain_pem_from_digests);
    tcase_add_test(tc, compact_refused);
    tcase_add_test(tc, compact_oversized);
    suite_add_tcase(s, tc);
    return s;
}
