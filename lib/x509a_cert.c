/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/* A client certificate and the values read from it.  Each value is
 * computed on first use with OpenSSL and kept in the object's pool. */

#include <limits.h>
#include <string.h>
#include <pthread.h>
#include <apr_strings.h>
#include <time.h>
#include <openssl/bio.h>
#include <openssl/provider.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "x509a_cert.h"
#include "x509a_print.h"
#include "x509a_verify.h"
#include "x509a_buf.h"

/** One attribute of a DN, in certificate order. */
typedef struct {
    const char *oid;    /* dotted OID */
    int nid;
    const char *value;  /* UTF-8, control characters escaped */
} dn_attr;

/** One extendedKeyUsage purpose: the content bytes of its OID. */
typedef struct {
    const unsigned char *d;
    apr_size_t len;
} eku_oid;

#define MEMO_SLOTS 4

struct x509a_cert {
    apr_pool_t *pool;
    X509 *x509;                          /* use cert_x509(): NULL until a
                                          * compact one is decoded */
    const unsigned char *der;            /* compact: the DER, decoded on
                                          * demand */
    apr_size_t der_len;
    int decode_failed;
    STACK_OF(X509) *verified;
    STACK_OF(X509) *untrusted;           /* use untrusted_x509() */
    /* x509a_cert_set_untrusted_der(): the DER of each, decoded into
     * @a untrusted on first use */
    int untrusted_n;
    const unsigned char **untrusted_der;
    apr_size_t *untrusted_len;
    const unsigned char *untrusted_sha256;   /* n * 32 */
    X509_STORE *store;
    X509_VERIFY_PARAM *param;            /* with @a store, or NULL */
    STACK_OF(X509) *path;                /* see x509a_cert_path() */
    int path_state;                      /* 0 not looked, 1 @a path, -1 none */
    time_t path_until;                   /* answer kept until then; 0: for good */
    const char *path_why;                /* why there is none */
    const unsigned char *verified_digests;  /* n * 32 bytes, or NULL */
    int verified_digests_n;
    BIO *bio;                            /* scratch for printing */

    const char *subject, *subject_legacy, *issuer;
    const x509a_dn *subject_dn, *issuer_dn;
    apr_array_header_t *subject_attrs, *issuer_attrs;   /* of dn_attr */
    x509a_serial serial;
    const char *serial_hex, *serial_dec;
    int have_serial;
    unsigned char sha256[32], sha1[20];
    int have_sha256, have_sha1;
    const char *sha256_hex, *sha1_hex;
    unsigned char spki[32];
    int spki_state;                      /* 0 unknown, 1 set, -1 failed */
    apr_array_header_t *san[X509A_SAN_KINDS];
    int have_san;
    time_t not_before, not_after;
    int have_validity;
    const char *pem, *describe;
    /* views read by identity fields, variables and rules */
    const char *issuer_rfc2253;          /* issuer+serial */
    const char *v_start, *v_end;         /* as ASN1_TIME_print() */
    const char *a_sig, *a_key;           /* algorithm names */
    int have_meta;
    long version;                        /* X509_get_version() */
    int is_ca;                           /* basicConstraints CA:TRUE */
    int have_kind;
    apr_array_header_t *eku;             /* of eku_oid; NULL: no usable
                                          * extension */
    int have_eku;
    apr_array_header_t *chain_pem;
    apr_array_header_t *vars[X509A_VARS_STYLES];
    apr_table_t *vars_table[X509A_VARS_STYLES];
    struct {
        unsigned char key[X509A_MEMO_KEY_LEN];
        int value;
    } memo[MEMO_SLOTS];                  /* see x509a_cert_memo_set() */
    int memo_used, memo_next;
};

/* The remembered results depend on the chain, store and verified digests:
 * forget them when one changes. */
static void memo_clear(x509a_cert *c)
{
    c->memo_used = 0;
    c->memo_next = 0;
}

/* Forget the path found by x509a_cert_path() (and what depended on it). */
static void path_clear(x509a_cert *c)
{
    sk_X509_pop_free(c->path, X509_free);
    c->path = NULL;
    c->path_state = 0;
    c->path_until = 0;
    c->path_why = NULL;
    memo_clear(c);
}

static apr_status_t cert_cleanup(void *data)
{
    x509a_cert *c = data;

    X509_free(c->x509);
    sk_X509_pop_free(c->verified, X509_free);
    sk_X509_pop_free(c->untrusted, X509_free);
    sk_X509_pop_free(c->path, X509_free);
    X509_STORE_free(c->store);
    X509_VERIFY_PARAM_free(c->param);
    BIO_free(c->bio);
    return APR_SUCCESS;
}

/* The X509 itself.  A compact certificate (x509a_cert_make_compact())
 * decodes its DER here, the first time something outside the form needs
 * it; NULL if that fails (the DER matched the form's digest, so only a
 * shortage of memory or another OpenSSL refusing it). */
static X509 *cert_x509(const x509a_cert *cc)
{
    x509a_cert *c = (x509a_cert *)cc;   /* objects are never const */

    if (!c->x509 && c->der && !c->decode_failed) {
        const unsigned char *q = c->der;

        c->x509 = x509a_d2i_x509(&q, (long)c->der_len);
        if (c->x509 && q != c->der + c->der_len) {
            X509_free(c->x509);
            c->x509 = NULL;
        }
        c->decode_failed = (c->x509 == NULL);
        ERR_clear_error();
    }
    return c->x509;
}

int x509a_cert_x509_decoded(const x509a_cert *c)
{
    return c->x509 != NULL;
}

x509a_cert *x509a_cert_make(apr_pool_t *p, X509 *leaf)
{
    x509a_cert *c = apr_pcalloc(p, sizeof(*c));

    c->pool = p;
    X509_up_ref(leaf);
    c->x509 = leaf;
    apr_pool_cleanup_register(p, c, cert_cleanup, apr_pool_cleanup_null);
    return c;
}

void x509a_cert_set_chain(x509a_cert *c, STACK_OF(X509) *verified,
                          STACK_OF(X509) *untrusted)
{
    sk_X509_pop_free(c->verified, X509_free);
    sk_X509_pop_free(c->untrusted, X509_free);
    c->verified = (verified && sk_X509_num(verified) > 0)
                  ? X509_chain_up_ref(verified) : NULL;
    c->untrusted = (untrusted && sk_X509_num(untrusted) > 0)
                   ? X509_chain_up_ref(untrusted) : NULL;
    c->untrusted_n = 0;
    c->chain_pem = NULL;
    path_clear(c);
}

void x509a_cert_set_untrusted_der(x509a_cert *c,
                                  const unsigned char *const *der,
                                  const apr_size_t *len,
                                  const unsigned char *sha256, int n)
{
    int i;

    sk_X509_pop_free(c->untrusted, X509_free);
    c->untrusted = NULL;
    c->untrusted_n = 0;
    c->chain_pem = NULL;
    path_clear(c);
    if (n <= 0) {
        return;
    }
    c->untrusted_der = apr_palloc(c->pool, n * sizeof(*c->untrusted_der));
    c->untrusted_len = apr_palloc(c->pool, n * sizeof(*c->untrusted_len));
    for (i = 0; i < n; i++) {
        c->untrusted_der[i] = apr_pmemdup(c->pool, der[i], len[i]);
        c->untrusted_len[i] = len[i];
    }
    c->untrusted_sha256 = apr_pmemdup(c->pool, sha256, 32 * (apr_size_t)n);
    c->untrusted_n = n;
}

/* The peer's certificates, decoded from their DER on first use when they
 * were given so (x509a_cert_set_untrusted_der()); one that does not decode
 * (out of memory: the same bytes decoded before) is left out. */
static STACK_OF(X509) *untrusted_x509(const x509a_cert *cc)
{
    x509a_cert *c = (x509a_cert *)cc;   /* objects are never const */
    int i;

    if (c->untrusted_n > 0 && !c->untrusted) {
        c->untrusted = sk_X509_new_null();
        for (i = 0; c->untrusted && i < c->untrusted_n; i++) {
            const unsigned char *q = c->untrusted_der[i];
            X509 *x = x509a_d2i_x509(&q, (long)c->untrusted_len[i]);

            if (x && (q != c->untrusted_der[i] + c->untrusted_len[i]
                      || !sk_X509_push(c->untrusted, x))) {
                X509_free(x);
            }
        }
        c->untrusted_n = 0;
        ERR_clear_error();
    }
    return c->untrusted;
}

void x509a_cert_set_store(x509a_cert *c, X509_STORE *store,
                          const X509_VERIFY_PARAM *param)
{
    if (store) {
        X509_STORE_up_ref(store);
    }
    X509_STORE_free(c->store);
    c->store = store;
    X509_VERIFY_PARAM_free(c->param);
    c->param = NULL;
    if (store && param && (c->param = X509_VERIFY_PARAM_new()) != NULL
        && !X509_VERIFY_PARAM_set1(c->param, param)) {
        /* verifying again without them would not be the same verification */
        X509_VERIFY_PARAM_free(c->param);
        c->param = NULL;
        X509_STORE_free(c->store);
        c->store = NULL;
    }
    ERR_clear_error();
    path_clear(c);
}

void x509a_cert_set_verified_digests(x509a_cert *c,
                                     const unsigned char *digests, int n)
{
    c->verified_digests = n > 0 ? apr_pmemdup(c->pool, digests,
                                              (apr_size_t)n * 32) : NULL;
    c->verified_digests_n = n > 0 ? n : 0;
    path_clear(c);
}

int x509a_cert_verified_length(const x509a_cert *c)
{
    return c->verified ? sk_X509_num(c->verified) : c->verified_digests_n;
}

static int has_digest(X509 *x, const unsigned char *want)
{
    unsigned char md[32];
    unsigned int len;

    return X509_digest(x, x509a_sha256(), md, &len) && len == 32
           && memcmp(md, want, 32) == 0;
}

/* The certificates of the verified digests: each issued the one before it,
 * so the next is looked up by the issuer name of the previous one, among
 * the peer's certificates and in the store (intermediates of the CA file).
 * NULL when one is missing. */
static STACK_OF(X509) *path_from_digests(x509a_cert *c)
{
    STACK_OF(X509) *path = sk_X509_new_null();
    X509_STORE_CTX *ctx = NULL;
    X509 *leaf = cert_x509(c);
    int i, j;

    if (!path || !leaf || !has_digest(leaf, c->verified_digests)
        || !X509_up_ref(leaf) || !sk_X509_push(path, leaf)) {
        goto fail;
    }
    for (i = 1; i < c->verified_digests_n; i++) {
        const unsigned char *want = c->verified_digests + 32 * i;
        X509 *prev = sk_X509_value(path, i - 1), *found = NULL;

        for (j = 0; !found && j < sk_X509_num(untrusted_x509(c)); j++) {
            if (has_digest(sk_X509_value(c->untrusted, j), want)) {
                found = sk_X509_value(c->untrusted, j);
                X509_up_ref(found);
            }
        }
        if (!found && c->store) {
            STACK_OF(X509) *cands = NULL;

            if (!ctx && ((ctx = X509_STORE_CTX_new()) == NULL
                         || !X509_STORE_CTX_init(ctx, c->store, prev, NULL))) {
                goto fail;
            }
            cands = X509_STORE_CTX_get1_certs(ctx, X509_get_issuer_name(prev));
            for (j = 0; !found && j < sk_X509_num(cands); j++) {
                if (has_digest(sk_X509_value(cands, j), want)) {
                    found = sk_X509_value(cands, j);
                    X509_up_ref(found);
                }
            }
            sk_X509_pop_free(cands, X509_free);
        }
        if (!found) {
            goto fail;
        }
        if (!sk_X509_push(path, found)) {
            X509_free(found);
            goto fail;
        }
    }
    X509_STORE_CTX_free(ctx);
    ERR_clear_error();
    return path;

fail:
    X509_STORE_CTX_free(ctx);
    sk_X509_pop_free(path, X509_free);
    ERR_clear_error();
    return NULL;
}

apr_time_t x509a_time(const ASN1_TIME *t)
{
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    return t && ASN1_TIME_to_tm(t, &tm) ? apr_time_from_sec(timegm(&tm)) : 0;
}

static time_t asn1_time_t(const ASN1_TIME *t)
{
    return (time_t)apr_time_sec(x509a_time(t));
}

/* How long a path found by verifying again stays good. */
#define PATH_MAX_KEEP    3600
#define PATH_FAILED_KEEP 60

/* Verify the certificate again as the store's owner did: libssl's
 * "ssl_client" defaults, the owner's parameters over them (mod_ssl's
 * SSL_CTX), the store's flags (its CRL checks). */
static STACK_OF(X509) *path_verify_again(x509a_cert *c, time_t now,
                                         time_t *until, const char **why)
{
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    STACK_OF(X509) *path = NULL;
    int i;

    *until = now + PATH_FAILED_KEEP;
    if (!ctx || !X509_STORE_CTX_init(ctx, c->store, cert_x509(c),
                                          untrusted_x509(c))
        || (c->param && (!X509_STORE_CTX_set_default(ctx, "ssl_client")
                         || !X509_VERIFY_PARAM_set1(
                                X509_STORE_CTX_get0_param(ctx), c->param)))) {
        *why = "out of memory";
        *until = now;
    }
    else if (X509_verify_cert(ctx) > 0) {
        apr_time_t crl = x509a_crl_bound(ctx, X509_STORE_CTX_get0_chain(ctx));

        path = X509_STORE_CTX_get1_chain(ctx);
        *until = now + PATH_MAX_KEEP;
        for (i = 0; path && i < sk_X509_num(path); i++) {
            time_t na = asn1_time_t(X509_get0_notAfter(sk_X509_value(path,
                                                                     i)));
            if (na < *until) {
                *until = na;
            }
        }
        if (crl != APR_INT64_MAX && (time_t)apr_time_sec(crl) < *until) {
            *until = (time_t)apr_time_sec(crl);
        }
    }
    else {
        int e = X509_STORE_CTX_get_error(ctx);

        *why = apr_psprintf(c->pool, "verified again (no verified chain is "
                            "known, e.g. a resumed TLS session): failed at "
                            "depth %d: %s", X509_STORE_CTX_get_error_depth(ctx),
                            X509_verify_cert_error_string(e));
    }
    X509_STORE_CTX_free(ctx);
    ERR_clear_error();
    return path;
}

STACK_OF(X509) *x509a_cert_path(x509a_cert *c, time_t now, const char **why)
{
    if (c->verified) {
        return c->verified;
    }
    if (c->path_state != 0 && (c->path_until == 0 || now < c->path_until)) {
        if (c->path_state < 0) {
            *why = c->path_why;
        }
        return c->path;
    }
    if (c->path_state != 0) {
        path_clear(c);
    }
    if (c->verified_digests && cert_x509(c)) {
        c->path = path_from_digests(c);
    }
    if (c->path) {
        c->path_until = 0;      /* as good as the digests */
    }
    else if (!cert_x509(c)) {
        c->path_why = "the certificate could not be decoded";
        c->path_until = 0;
    }
    else if (c->store) {
        c->path = path_verify_again(c, now, &c->path_until, &c->path_why);
    }
    else {
        c->path_why = c->verified_digests
            ? "the certificates of the verified chain are not available"
            : "no verified chain (X509AuthnHeaderVerify Off, or a TLS "
              "connection without mod_ssl's SSL object)";
        c->path_until = 0;
    }
    c->path_state = c->path ? 1 : -1;
    if (!c->path) {
        *why = c->path_why;
    }
    return c->path;
}

const unsigned char *x509a_cert_verified_digests(const x509a_cert *c, int *n)
{
    *n = c->verified_digests_n;
    return c->verified_digests;
}

X509 *x509a_cert_x509(const x509a_cert *c)
{
    return cert_x509(c);
}

STACK_OF(X509) *x509a_cert_verified_chain(const x509a_cert *c)
{
    return c->verified;
}

STACK_OF(X509) *x509a_cert_untrusted(const x509a_cert *c)
{
    return untrusted_x509(c);
}

X509_STORE *x509a_cert_store(const x509a_cert *c)
{
    return c->store;
}

apr_pool_t *x509a_cert_pool(const x509a_cert *c)
{
    return c->pool;
}

/* Read back and reset the scratch BIO. */
static const char *bio_take(x509a_cert *c)
{
    char *data;
    long len = BIO_get_mem_data(c->bio, &data);
    const char *s = len > 0 ? apr_pstrmemdup(c->pool, data, (apr_size_t)len)
                            : "";

    (void)BIO_reset(c->bio);
    return s;
}

static BIO *scratch(x509a_cert *c)
{
    if (!c->bio) {
        c->bio = BIO_new(BIO_s_mem());
    }
    return c->bio;
}

/* A string value as UTF-8 with control characters escaped (\XX), the way
 * mod_ssl prints DN attributes and subjectAltNames. */
static const char *asn1_display(x509a_cert *c, const ASN1_STRING *s)
{
    return x509a_print_string(c->pool, s);
}

static const char *algorithm_name(const ASN1_OBJECT *obj);
static const char *time_string(x509a_cert *c, const ASN1_TIME *t);

/* What leaf_problem() reads. */
static x509a_cert *kind(x509a_cert *c)
{
    if (!c->have_kind) {
        X509 *x = cert_x509(c);

        c->version = X509_get_version(x);
        c->is_ca = (X509_get_extension_flags(x) & EXFLAG_CA) != 0;
        c->have_kind = 1;
    }
    return c;
}

/* What the variables read besides DNs, serial and names. */
static void meta_compute(x509a_cert *c)
{
    X509 *x = cert_x509(c);
    const ASN1_OBJECT *alg;

    c->v_start = time_string(c, X509_get0_notBefore(x));
    c->v_end = time_string(c, X509_get0_notAfter(x));
    X509_ALGOR_get0(&alg, NULL, NULL, X509_get0_tbs_sigalg(x));
    c->a_sig = algorithm_name(alg);
    X509_PUBKEY_get0_param((ASN1_OBJECT **)&alg, NULL, NULL, NULL,
                           X509_get_X509_PUBKEY(x));
    c->a_key = algorithm_name(alg);
    c->have_meta = 1;
}

static x509a_cert *meta(x509a_cert *c)
{
    if (!c->have_meta) {
        meta_compute(c);
    }
    return c;
}

const char *x509a_cert_leaf_problem(x509a_cert *c)
{
    if (kind(c)->version != X509_VERSION_3) {
        return "not an X.509 v3 certificate";
    }
    if (c->is_ca) {
        return "a CA certificate (basicConstraints CA:TRUE) presented as a "
               "client certificate";
    }
    return NULL;
}

const char *x509a_cert_subject(x509a_cert *c)
{
    if (!c->subject) {
        c->subject = x509a_name_to_string(c->pool,
                                          X509_get_subject_name(cert_x509(c)), 0);
    }
    return c->subject;
}

const char *x509a_cert_subject_legacy(x509a_cert *c)
{
    if (!c->subject_legacy) {
        c->subject_legacy = x509a_name_to_string(
            c->pool, X509_get_subject_name(cert_x509(c)), 1);
    }
    return c->subject_legacy;
}

const char *x509a_cert_issuer(x509a_cert *c)
{
    if (!c->issuer) {
        c->issuer = x509a_name_to_string(c->pool,
                                         X509_get_issuer_name(cert_x509(c)), 0);
    }
    return c->issuer;
}

const x509a_dn *x509a_cert_subject_dn(x509a_cert *c)
{
    if (!c->subject_dn) {
        c->subject_dn = x509a_dn_from_name(c->pool,
                                           X509_get_subject_name(cert_x509(c)));
    }
    return c->subject_dn;
}

const x509a_dn *x509a_cert_issuer_dn(x509a_cert *c)
{
    if (!c->issuer_dn) {
        c->issuer_dn = x509a_dn_from_name(c->pool,
                                          X509_get_issuer_name(cert_x509(c)));
    }
    return c->issuer_dn;
}

static apr_array_header_t *name_attrs(x509a_cert *c, const X509_NAME *name)
{
    int i, n = X509_NAME_entry_count(name);
    apr_array_header_t *attrs = apr_array_make(c->pool, n ? n : 1,
                                               sizeof(dn_attr));

    for (i = 0; i < n; i++) {
        const X509_NAME_ENTRY *ne = X509_NAME_get_entry(name, i);
        const ASN1_OBJECT *obj = X509_NAME_ENTRY_get_object(ne);
        dn_attr *a = apr_array_push(attrs);
        char buf[128];

        OBJ_obj2txt(buf, sizeof(buf), obj, 1);
        a->oid = apr_pstrdup(c->pool, buf);
        a->nid = OBJ_obj2nid(obj);
        a->value = asn1_display(c, X509_NAME_ENTRY_get_data(ne));
    }
    return attrs;
}

static const apr_array_header_t *subject_attrs(x509a_cert *c)
{
    if (!c->subject_attrs) {
        c->subject_attrs = name_attrs(c, X509_get_subject_name(cert_x509(c)));
    }
    return c->subject_attrs;
}

static const apr_array_header_t *issuer_attrs(x509a_cert *c)
{
    if (!c->issuer_attrs) {
        c->issuer_attrs = name_attrs(c, X509_get_issuer_name(cert_x509(c)));
    }
    return c->issuer_attrs;
}

const char *x509a_cert_subject_attr(x509a_cert *c, const char *oid, int index)
{
    const apr_array_header_t *attrs = subject_attrs(c);
    int i;

    /* certificate order, as mod_ssl's SSL_CLIENT_S_DN_CN and our
     * X509_CLIENT_S_DN_CN pick the first */
    for (i = 0; i < attrs->nelts; i++) {
        const dn_attr *a = &APR_ARRAY_IDX(attrs, i, dn_attr);
        if (strcmp(a->oid, oid) == 0 && index-- == 0) {
            return a->value;
        }
    }
    return NULL;
}

static void serial_compute(x509a_cert *c)
{
    const ASN1_INTEGER *ai = X509_get0_serialNumber(cert_x509(c));
    BIGNUM *bn;
    char *dec;

    x509a_serial_from_asn1(c->pool, ai, &c->serial);
    /* as i2a_ASN1_INTEGER() prints mod_ssl's SSL_CLIENT_M_SERIAL: every
     * content byte as two hex digits, "00" for no content, '-' first for
     * a negative number */
    {
        int len = ASN1_STRING_length(ai), i;
        const unsigned char *d = ASN1_STRING_get0_data(ai);
        char *hex = apr_palloc(c->pool, 2 + (apr_size_t)len * 2
                                        + (apr_size_t)(len / 35) * 2 + 3), *o = hex;

        if (ASN1_STRING_type(ai) == V_ASN1_NEG_INTEGER) {
            *o++ = '-';
        }
        if (len == 0) {
            *o++ = '0';
            *o++ = '0';
        }
        for (i = 0; i < len; i++) {
            if (i && i % 35 == 0) {     /* i2a_ASN1_INTEGER's line breaks */
                *o++ = '\\';
                *o++ = '\n';
            }
            *o++ = "0123456789ABCDEF"[d[i] >> 4];
            *o++ = "0123456789ABCDEF"[d[i] & 0x0f];
        }
        *o = '\0';
        c->serial_hex = hex;
    }
    bn = ASN1_INTEGER_to_BN(ai, NULL);
    dec = bn ? BN_bn2dec(bn) : NULL;
    c->serial_dec = apr_pstrdup(c->pool, dec ? dec : "");
    OPENSSL_free(dec);
    BN_free(bn);
    c->have_serial = 1;
}

const x509a_serial *x509a_cert_serial(x509a_cert *c)
{
    if (!c->have_serial) {
        serial_compute(c);
    }
    return &c->serial;
}

const char *x509a_cert_serial_hex(x509a_cert *c)
{
    if (!c->have_serial) {
        serial_compute(c);
    }
    return c->serial_hex;
}

const char *x509a_cert_serial_dec(x509a_cert *c)
{
    if (!c->have_serial) {
        serial_compute(c);
    }
    return c->serial_dec;
}

/* EVP_sha256() makes every digest look its implementation up again;
 * fetched once it is ready.  (SHA-1 stays EVP_sha1(): X509_digest()
 * answers that one from the certificate's cache.) */
static EVP_MD *sha256_fetched;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
    sha256_fetched = EVP_MD_fetch(NULL, "SHA256", NULL);
}

/* freed when httpd unloads the module (every restart) */
__attribute__((destructor)) static void sha256_fini(void)
{
    EVP_MD_free(sha256_fetched);
    sha256_fetched = NULL;
}

const EVP_MD *x509a_sha256(void)
{
    pthread_once(&sha256_once, sha256_fetch);
    return sha256_fetched ? sha256_fetched : EVP_sha256();
}

/* Forwarded certificates are decoded in a library context of their own.
 * d2i_X509() decodes the public key with OpenSSL 3.0's provider decoders,
 * and setting those up walks every method the context has fetched: in
 * httpd, after mod_ssl fetched its ciphers and digests, about four times
 * as many as in a context that only decodes and verifies certificates
 * (0.3 M instructions more per certificate).  Only when the default
 * context runs nothing but the default provider (and maybe base) and does
 * not ask for FIPS: otherwise decoding stays in the default context,
 * slower and as configured.  Issuers from the trust store stay
 * in the default context: OpenSSL exports an issuer's key into this one
 * once and keeps it with the key.  Created by the first decode (in a
 * child, never in the parent) and never freed: certificates decoded in it
 * can outlive the module's unloading until the process exits. */
static OSSL_LIB_CTX *decode_libctx;
static pthread_once_t decode_libctx_once = PTHREAD_ONCE_INIT;

static int provider_is_plain(OSSL_PROVIDER *prov, void *arg)
{
    const char *name = OSSL_PROVIDER_get0_name(prov);

    (void)arg;
    return !strcmp(name, "default") || !strcmp(name, "base");
}

static void decode_libctx_make(void)
{
    OSSL_LIB_CTX *ctx = NULL;

    if (OSSL_PROVIDER_available(NULL, "default")
        && !EVP_default_properties_is_fips_enabled(NULL)
        && OSSL_PROVIDER_do_all(NULL, provider_is_plain, NULL)
        && (ctx = OSSL_LIB_CTX_new()) != NULL
        && !OSSL_PROVIDER_load(ctx, "default")) {
        OSSL_LIB_CTX_free(ctx);
        ctx = NULL;
    }
    ERR_clear_error();
    decode_libctx = ctx;
}

X509 *x509a_d2i_x509(const unsigned char **in, long len)
{
    X509 *x;

    pthread_once(&decode_libctx_once, decode_libctx_make);
    if (!decode_libctx) {
        return d2i_X509(NULL, in, len);
    }
    if ((x = X509_new_ex(decode_libctx, NULL)) == NULL) {
        return NULL;
    }
    if (d2i_X509(&x, in, len) == NULL) {
        X509_free(x);
        return NULL;
    }
    return x;
}

const unsigned char *x509a_cert_digest(x509a_cert *c, x509a_digest_alg alg)
{
    unsigned int len;

    if (alg == X509A_DIGEST_SHA1) {
        if (!c->have_sha1) {
            c->have_sha1 = X509_digest(cert_x509(c), EVP_sha1(), c->sha1, &len);
        }
        return c->sha1;
    }
    if (!c->have_sha256) {
        c->have_sha256 = X509_digest(cert_x509(c), x509a_sha256(),
                                     c->sha256, &len);
    }
    return c->sha256;
}

const char *x509a_cert_digest_hex(x509a_cert *c, x509a_digest_alg alg)
{
    const unsigned char *md = x509a_cert_digest(c, alg);

    if (alg == X509A_DIGEST_SHA1) {
        if (!c->sha1_hex) {
            c->sha1_hex = x509a_hex(c->pool, md, 20);
        }
        return c->sha1_hex;
    }
    if (!c->sha256_hex) {
        c->sha256_hex = x509a_hex(c->pool, md, 32);
    }
    return c->sha256_hex;
}

const unsigned char *x509a_cert_spki_sha256(x509a_cert *c)
{
    if (c->spki_state == 0) {
        unsigned char *der = NULL;
        int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert_x509(c)), &der);
        unsigned int mdlen;

        c->spki_state = (len > 0 && EVP_Digest(der, (size_t)len, c->spki,
                                               &mdlen, x509a_sha256(), NULL))
                        ? 1 : -1;
        OPENSSL_free(der);
    }
    return c->spki_state > 0 ? c->spki : NULL;
}

static void san_compute(x509a_cert *c)
{
    GENERAL_NAMES *names;
    int i, k;

    for (k = 0; k < X509A_SAN_KINDS; k++) {
        c->san[k] = apr_array_make(c->pool, 1, sizeof(const char *));
    }
    names = X509_get_ext_d2i(cert_x509(c), NID_subject_alt_name, NULL, NULL);
    for (i = 0; i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);

        switch (gn->type) {
        case GEN_EMAIL:
            APR_ARRAY_PUSH(c->san[X509A_SAN_EMAIL], const char *) =
                asn1_display(c, gn->d.rfc822Name);
            break;
        case GEN_DNS:
            APR_ARRAY_PUSH(c->san[X509A_SAN_DNS], const char *) =
                asn1_display(c, gn->d.dNSName);
            break;
        case GEN_URI:
            APR_ARRAY_PUSH(c->san[X509A_SAN_URI], const char *) =
                asn1_display(c, gn->d.uniformResourceIdentifier);
            break;
        case GEN_OTHERNAME:
            if (OBJ_obj2nid(gn->d.otherName->type_id) == NID_ms_upn
                && gn->d.otherName->value->type == V_ASN1_UTF8STRING) {
                APR_ARRAY_PUSH(c->san[X509A_SAN_UPN], const char *) =
                    asn1_display(c, gn->d.otherName->value->value.utf8string);
            }
            break;
        default:
            break;
        }
    }
    GENERAL_NAMES_free(names);
    c->have_san = 1;
}

const apr_array_header_t *x509a_cert_san(x509a_cert *c, x509a_san_kind kind)
{
    if (!c->have_san) {
        san_compute(c);
    }
    return c->san[kind];
}

static void validity_compute(x509a_cert *c)
{
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    c->not_before = ASN1_TIME_to_tm(X509_get0_notBefore(cert_x509(c)), &tm)
                    ? timegm(&tm) : 0;
    memset(&tm, 0, sizeof(tm));
    c->not_after = ASN1_TIME_to_tm(X509_get0_notAfter(cert_x509(c)), &tm)
                   ? timegm(&tm) : 0;
    c->have_validity = 1;
}

void x509a_cert_validity(x509a_cert *c, time_t *not_before, time_t *not_after)
{
    if (!c->have_validity) {
        validity_compute(c);
    }
    if (not_before) {
        *not_before = c->not_before;
    }
    if (not_after) {
        *not_after = c->not_after;
    }
}

long x509a_cert_days_remaining(x509a_cert *c, time_t now)
{
    if (!c->have_validity) {
        validity_compute(c);
    }
    return c->not_after > now ? (long)((c->not_after - now) / 86400) : 0;
}

const char *x509a_cert_pem(x509a_cert *c)
{
    if (!c->pem && scratch(c)) {
        if (c->der) {
            /* what PEM_write_bio_X509() writes, without decoding */
            PEM_write_bio(c->bio, PEM_STRING_X509, "", c->der,
                          (long)c->der_len);
        }
        else {
            PEM_write_bio_X509(c->bio, cert_x509(c));
        }
        c->pem = bio_take(c);
    }
    return c->pem ? c->pem : "";
}

/* The PEM of the certificates of the verified digests above the leaf,
 * without the leaf: each among the peer's certificates (undecoded ones by
 * the SHA-256 of their DER: then it is the DER X509_digest() hashed, and
 * its PEM the one PEM_write_bio_X509() writes) or the certificates the
 * store holds (a CA file), compared by SHA-256.  NULL when one is not
 * there (e.g. a store that looks certificates up in a directory). */
static apr_array_header_t *chain_from_digests(x509a_cert *c)
{
    apr_array_header_t *out = apr_array_make(c->pool, 2,
                                             sizeof(const char *));
    int i, j;

    for (i = 1; i < c->verified_digests_n; i++) {
        const unsigned char *want = c->verified_digests + 32 * i;
        X509 *found = NULL;
        int done = 0;

        for (j = 0; !done && j < c->untrusted_n; j++) {
            if (!memcmp(c->untrusted_sha256 + 32 * j, want, 32)
                && scratch(c)) {
                PEM_write_bio(c->bio, PEM_STRING_X509, "",
                              c->untrusted_der[j],
                              (long)c->untrusted_len[j]);
                APR_ARRAY_PUSH(out, const char *) = bio_take(c);
                done = 1;
            }
        }
        for (j = 0; !done && !found && j < sk_X509_num(c->untrusted); j++) {
            if (has_digest(sk_X509_value(c->untrusted, j), want)) {
                found = sk_X509_value(c->untrusted, j);
                X509_up_ref(found);
            }
        }
        if (!done && !found && c->store && X509_STORE_lock(c->store)) {
            STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(c->store);

            for (j = 0; !found && j < sk_X509_OBJECT_num(objs); j++) {
                X509 *x = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, j));

                if (x && has_digest(x, want)) {
                    found = x;
                    X509_up_ref(found);
                }
            }
            X509_STORE_unlock(c->store);
        }
        if (found && scratch(c)) {
            PEM_write_bio_X509(c->bio, found);
            APR_ARRAY_PUSH(out, const char *) = bio_take(c);
            done = 1;
        }
        X509_free(found);
        if (!done) {
            out = NULL;
            break;
        }
    }
    ERR_clear_error();
    return out;
}

const apr_array_header_t *x509a_cert_chain_pem(x509a_cert *c)
{
    if (!c->chain_pem) {
        STACK_OF(X509) *sk = c->verified ? c->verified : untrusted_x509(c);
        int i = c->verified ? 1 : 0;

        if (!c->verified && c->verified_digests) {
            /* only the digests are known (a shared-cache record): the
             * verified chain is their certificates, as when it was
             * verified here; found without the leaf when they came with
             * it or are the store's own, else as x509a_cert_path() finds
             * them (which decodes a compact certificate) */
            apr_array_header_t *above = chain_from_digests(c);
            const char *why;
            STACK_OF(X509) *path;

            if (above) {
                c->chain_pem = above;
                return c->chain_pem;
            }
            if ((path = x509a_cert_path(c, time(NULL), &why)) != NULL) {
                sk = path;
                i = 1;
            }
        }

        c->chain_pem = apr_array_make(c->pool, 2, sizeof(const char *));
        for (; sk && i < sk_X509_num(sk) && scratch(c); i++) {
            PEM_write_bio_X509(c->bio, sk_X509_value(sk, i));
            APR_ARRAY_PUSH(c->chain_pem, const char *) = bio_take(c);
        }
    }
    return c->chain_pem;
}

const char *x509a_cert_describe(x509a_cert *c)
{
    if (!c->describe) {
        c->describe = apr_psprintf(c->pool,
                                   "subject=\"%s\", issuer=\"%s\", serial=%s, "
                                   "sha256=%s",
                                   x509a_cert_subject(c), x509a_cert_issuer(c),
                                   x509a_cert_serial_hex(c),
                                   x509a_cert_digest_hex(c,
                                                         X509A_DIGEST_SHA256));
    }
    return c->describe;
}

static void eku_compute(x509a_cert *c)
{
    EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(cert_x509(c),
                                               NID_ext_key_usage, NULL, NULL);
    int i, n = sk_ASN1_OBJECT_num(eku);

    c->eku = NULL;
    if (eku) {
        c->eku = apr_array_make(c->pool, n > 0 ? n : 1, sizeof(eku_oid));
        for (i = 0; i < n; i++) {
            const ASN1_OBJECT *obj = sk_ASN1_OBJECT_value(eku, i);
            eku_oid *o = apr_array_push(c->eku);

            o->len = OBJ_length(obj);
            o->d = o->len ? apr_pmemdup(c->pool, OBJ_get0_data(obj), o->len)
                          : (const unsigned char *)"";
        }
    }
    EXTENDED_KEY_USAGE_free(eku);
    ERR_clear_error();
    c->have_eku = 1;
}

int x509a_cert_has_eku(x509a_cert *c, const ASN1_OBJECT *purpose)
{
    apr_size_t len = OBJ_length(purpose);
    int i;

    if (!c->have_eku) {
        eku_compute(c);
    }
    /* as OBJ_cmp(): the same content bytes */
    for (i = 0; c->eku && i < c->eku->nelts; i++) {
        const eku_oid *o = &APR_ARRAY_IDX(c->eku, i, eku_oid);

        if (o->len == len
            && (len == 0 || memcmp(o->d, OBJ_get0_data(purpose), len) == 0)) {
            return 1;
        }
    }
    return 0;
}

/* --------------------------------------------------------------------- */
/* Identity fields                                                        */
/* --------------------------------------------------------------------- */

static const struct {
    const char *name;
    x509a_field_kind kind;
} field_names[] = {
    { "subject", X509A_FIELD_SUBJECT },
    { "subject-legacy", X509A_FIELD_SUBJECT_LEGACY },
    { "cn", X509A_FIELD_CN },
    { "email", X509A_FIELD_EMAIL },
    { "upn", X509A_FIELD_UPN },
    { "uri", X509A_FIELD_URI },
    { "dns", X509A_FIELD_DNS },
    { "serial", X509A_FIELD_SERIAL },
    { "issuer+serial", X509A_FIELD_ISSUER_SERIAL },
    { "sha256", X509A_FIELD_SHA256 },
    { NULL, 0 }
};

const char *x509a_field_parse(apr_pool_t *p, const char *text, x509a_field *out)
{
    int i;

    memset(out, 0, sizeof(*out));
    out->name = apr_pstrdup(p, text);
    if (strncasecmp(text, "subject:", 8) == 0) {
        ASN1_OBJECT *obj = x509a_attr_type(text + 8);
        char buf[128];

        if (!obj) {
            return apr_psprintf(p, "'%s': unknown attribute type '%s'", text,
                                text + 8);
        }
        OBJ_obj2txt(buf, sizeof(buf), obj, 1);
        ASN1_OBJECT_free(obj);
        out->kind = X509A_FIELD_SUBJECT_ATTR;
        out->oid = apr_pstrdup(p, buf);
        return NULL;
    }
    for (i = 0; field_names[i].name; i++) {
        if (strcasecmp(text, field_names[i].name) == 0) {
            out->kind = field_names[i].kind;
            return NULL;
        }
    }
    return apr_psprintf(p, "'%s' is not a certificate field (one of subject, "
                        "subject-legacy, cn, subject:ATTR, email, upn, uri, "
                        "dns, serial, issuer+serial, sha256)", text);
}

static const char *first_san(x509a_cert *c, x509a_san_kind kind)
{
    const apr_array_header_t *a = x509a_cert_san(c, kind);

    return a->nelts ? APR_ARRAY_IDX(a, 0, const char *) : NULL;
}

/* RFC 4523 CertificateExactAssertion, byte for byte as mod_ssl's
 * SSL_CLIENT_CERT_RFC4523_CEA (issuer with RFC 2253 escaping). */
static const char *issuer_rfc2253(x509a_cert *c)
{
    if (!c->issuer_rfc2253) {
        c->issuer_rfc2253 = x509a_print_name(
            c->pool, X509_get_issuer_name(cert_x509(c)), 1);
    }
    return c->issuer_rfc2253;
}

static const char *issuer_serial(x509a_cert *c)
{
    return apr_psprintf(c->pool, "{ serialNumber %s, issuer rdnSequence:\"%s\" }",
                        x509a_cert_serial_dec(c), issuer_rfc2253(c));
}

const char *x509a_cert_field(x509a_cert *c, const x509a_field *f)
{
    const char *v = NULL;

    switch (f->kind) {
    case X509A_FIELD_SUBJECT:
        v = x509a_cert_subject(c);
        break;
    case X509A_FIELD_SUBJECT_LEGACY:
        v = x509a_cert_subject_legacy(c);
        break;
    case X509A_FIELD_CN:
        v = x509a_cert_subject_attr(c, "2.5.4.3", 0);
        break;
    case X509A_FIELD_SUBJECT_ATTR:
        v = x509a_cert_subject_attr(c, f->oid, 0);
        break;
    case X509A_FIELD_EMAIL:
        v = first_san(c, X509A_SAN_EMAIL);
        if (!v) {
            v = x509a_cert_subject_attr(c, "1.2.840.113549.1.9.1", 0);
        }
        break;
    case X509A_FIELD_UPN:
        v = first_san(c, X509A_SAN_UPN);
        break;
    case X509A_FIELD_URI:
        v = first_san(c, X509A_SAN_URI);
        break;
    case X509A_FIELD_DNS:
        v = first_san(c, X509A_SAN_DNS);
        break;
    case X509A_FIELD_SERIAL:
        v = x509a_cert_serial_hex(c);
        break;
    case X509A_FIELD_ISSUER_SERIAL:
        v = issuer_serial(c);
        break;
    case X509A_FIELD_SHA256:
        v = x509a_cert_digest_hex(c, X509A_DIGEST_SHA256);
        break;
    }
    return (v && *v) ? v : NULL;
}

/* --------------------------------------------------------------------- */
/* Variables                                                              */
/* --------------------------------------------------------------------- */

/* DN attribute tags: mod_ssl's names (which it exports), then others. */
static const struct {
    const char *tag;
    int nid;
    int modssl;
} dn_tags[] = {
    { "C", NID_countryName, 1 },
    { "ST", NID_stateOrProvinceName, 1 },
    { "L", NID_localityName, 1 },
    { "O", NID_organizationName, 1 },
    { "OU", NID_organizationalUnitName, 1 },
    { "CN", NID_commonName, 1 },
    { "T", NID_title, 1 },
    { "I", NID_initials, 1 },
    { "G", NID_givenName, 1 },
    { "S", NID_surname, 1 },
    { "D", NID_description, 1 },
    { "UID", NID_userId, 1 },
    { "Email", NID_pkcs9_emailAddress, 1 },
    { "DC", NID_domainComponent, 0 },
    { "serialNumber", NID_serialNumber, 0 },
    { "street", NID_streetAddress, 0 },
    { "postalCode", NID_postalCode, 0 },
    { "pseudonym", NID_pseudonym, 0 },
    { "organizationIdentifier", NID_organizationIdentifier, 0 },
    { NULL, 0, 0 }
};

static int dn_tag_index(int nid, int modssl_only)
{
    int i;

    for (i = 0; dn_tags[i].tag; i++) {
        if (dn_tags[i].nid == nid) {
            return (!modssl_only || dn_tags[i].modssl) ? i : -1;
        }
    }
    return -1;
}

static void push_var(apr_array_header_t *vars, const char *name,
                     const char *value)
{
    x509a_var *v = apr_array_push(vars);

    v->name = name;
    v->value = value;
}

/* X509_CLIENT_S_DN_CN, X509_CLIENT_S_DN_CN_1, ... in certificate order,
 * numbered as mod_ssl numbers them. */
static void push_dn_vars(x509a_cert *c, apr_array_header_t *vars,
                         const char *prefix, const apr_array_header_t *attrs,
                         int modssl)
{
    int counts[sizeof(dn_tags) / sizeof(dn_tags[0])] = { 0 };
    int i;

    for (i = 0; i < attrs->nelts; i++) {
        const dn_attr *a = &APR_ARRAY_IDX(attrs, i, dn_attr);
        int t = dn_tag_index(a->nid, modssl);
        const char *name;

        if (t < 0) {
            continue;
        }
        name = counts[t] ? apr_psprintf(c->pool, "%s%s_%d", prefix,
                                        dn_tags[t].tag, counts[t])
                         : apr_pstrcat(c->pool, prefix, dn_tags[t].tag, NULL);
        counts[t]++;
        push_var(vars, name, a->value);
    }
}

static void push_san_vars(x509a_cert *c, apr_array_header_t *vars,
                          const char *prefix, x509a_san_kind kind)
{
    const apr_array_header_t *a = x509a_cert_san(c, kind);
    int i;

    for (i = 0; i < a->nelts; i++) {
        push_var(vars, apr_psprintf(c->pool, "%s%d", prefix, i),
                 APR_ARRAY_IDX(a, i, const char *));
    }
}

/* As ASN1_TIME_print() prints it ("Nov 26 15:42:06 2026 GMT"); OpenSSL
 * itself for times with fractions of seconds or an offset. */
static const char *time_string(x509a_cert *c, const ASN1_TIME *t)
{
    static const char *const months[12] = {
        "Jan", "Feb", "Mar", "Apr", "May", "Jun",
        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
    };
    const unsigned char *d = ASN1_STRING_get0_data(t);
    int len = ASN1_STRING_length(t);
    struct tm tm;

    if (len > 0 && d[len - 1] == 'Z'
        && ((ASN1_STRING_type(t) == V_ASN1_UTCTIME && len == 13)
            || (ASN1_STRING_type(t) == V_ASN1_GENERALIZEDTIME && len == 15))
        && ASN1_TIME_to_tm(t, &tm) && tm.tm_mon >= 0 && tm.tm_mon < 12) {
        return apr_psprintf(c->pool, "%s %2d %02d:%02d:%02d %d GMT",
                            months[tm.tm_mon], tm.tm_mday, tm.tm_hour,
                            tm.tm_min, tm.tm_sec, tm.tm_year + 1900);
    }
    if (!scratch(c)) {
        return "";
    }
    ASN1_TIME_print(c->bio, t);
    return bio_take(c);
}

static const char *algorithm_name(const ASN1_OBJECT *obj)
{
    int nid = OBJ_obj2nid(obj);

    return nid == NID_undef ? "UNKNOWN" : OBJ_nid2ln(nid);
}

const apr_array_header_t *x509a_cert_vars(x509a_cert *c, x509a_vars_style style)
{
    apr_array_header_t *vars;

    if (c->vars[style]) {
        return c->vars[style];
    }
    vars = apr_array_make(c->pool, 32, sizeof(x509a_var));
    if (style == X509A_VARS_X509) {
        push_var(vars, "X509_CLIENT_S_DN", x509a_cert_subject(c));
        push_dn_vars(c, vars, "X509_CLIENT_S_DN_", subject_attrs(c), 0);
        push_var(vars, "X509_CLIENT_I_DN", x509a_cert_issuer(c));
        push_dn_vars(c, vars, "X509_CLIENT_I_DN_", issuer_attrs(c), 0);
        push_var(vars, "X509_CLIENT_M_SERIAL", x509a_cert_serial_hex(c));
        push_var(vars, "X509_CLIENT_SERIAL_DEC", x509a_cert_serial_dec(c));
        push_var(vars, "X509_CLIENT_FINGERPRINT_SHA256",
                 x509a_cert_digest_hex(c, X509A_DIGEST_SHA256));
        push_var(vars, "X509_CLIENT_FINGERPRINT_SHA1",
                 x509a_cert_digest_hex(c, X509A_DIGEST_SHA1));
        push_var(vars, "X509_CLIENT_V_START", meta(c)->v_start);
        push_var(vars, "X509_CLIENT_V_END", c->v_end);
        push_san_vars(c, vars, "X509_CLIENT_SAN_Email_", X509A_SAN_EMAIL);
        push_san_vars(c, vars, "X509_CLIENT_SAN_DNS_", X509A_SAN_DNS);
        push_san_vars(c, vars, "X509_CLIENT_SAN_URI_", X509A_SAN_URI);
        push_san_vars(c, vars, "X509_CLIENT_SAN_UPN_", X509A_SAN_UPN);
    }
    else {
        meta(c);
        push_var(vars, "SSL_CLIENT_S_DN", x509a_cert_subject(c));
        push_dn_vars(c, vars, "SSL_CLIENT_S_DN_", subject_attrs(c), 1);
        push_var(vars, "SSL_CLIENT_I_DN", x509a_cert_issuer(c));
        push_dn_vars(c, vars, "SSL_CLIENT_I_DN_", issuer_attrs(c), 1);
        push_var(vars, "SSL_CLIENT_M_VERSION",
                 apr_psprintf(c->pool, "%ld", kind(c)->version + 1));
        push_var(vars, "SSL_CLIENT_M_SERIAL", x509a_cert_serial_hex(c));
        push_var(vars, "SSL_CLIENT_V_START", c->v_start);
        push_var(vars, "SSL_CLIENT_V_END", c->v_end);
        push_var(vars, "SSL_CLIENT_A_SIG", c->a_sig);
        push_var(vars, "SSL_CLIENT_A_KEY", c->a_key);
        push_san_vars(c, vars, "SSL_CLIENT_SAN_Email_", X509A_SAN_EMAIL);
        push_san_vars(c, vars, "SSL_CLIENT_SAN_DNS_", X509A_SAN_DNS);
        push_san_vars(c, vars, "SSL_CLIENT_SAN_OTHER_msUPN_", X509A_SAN_UPN);
    }
    c->vars[style] = vars;
    return vars;
}

const apr_table_t *x509a_cert_vars_table(x509a_cert *c, x509a_vars_style style)
{
    if (!c->vars_table[style]) {
        const apr_array_header_t *vars = x509a_cert_vars(c, style);
        apr_table_t *t = apr_table_make(c->pool, vars->nelts);
        int i;

        for (i = 0; i < vars->nelts; i++) {
            const x509a_var *v = &APR_ARRAY_IDX(vars, i, x509a_var);
            apr_table_addn(t, v->name, v->value);
        }
        c->vars_table[style] = t;
    }
    return c->vars_table[style];
}

const char *x509a_cert_var(x509a_cert *c, apr_pool_t *p, const char *name,
                           time_t now)
{
    const apr_array_header_t *vars;
    apr_size_t len = strlen(name);
    int i;

    if (strcmp(name, "X509_CLIENT_V_REMAIN") == 0) {
        return apr_ltoa(p, x509a_cert_days_remaining(c, now));
    }
    /* X509_CLIENT_S_DN_OU_0 is X509_CLIENT_S_DN_OU */
    if (len > 17 + 2 && strcmp(name + len - 2, "_0") == 0
        && (strncmp(name, "X509_CLIENT_S_DN_", 17) == 0
            || strncmp(name, "X509_CLIENT_I_DN_", 17) == 0)) {
        len -= 2;
    }
    vars = x509a_cert_vars(c, X509A_VARS_X509);
    for (i = 0; i < vars->nelts; i++) {
        const x509a_var *v = &APR_ARRAY_IDX(vars, i, x509a_var);
        if (strncmp(v->name, name, len) == 0 && v->name[len] == '\0') {
            return v->value;
        }
    }
    return NULL;
}

/* --------------------------------------------------------------------- */
/* Memo                                                                   */
/* --------------------------------------------------------------------- */

void x509a_cert_memo_set(x509a_cert *c,
                         const unsigned char key[X509A_MEMO_KEY_LEN],
                         int value)
{
    int i;

    for (i = 0; i < c->memo_used; i++) {
        if (memcmp(c->memo[i].key, key, X509A_MEMO_KEY_LEN) == 0) {
            c->memo[i].value = value;
            return;
        }
    }
    i = c->memo_used < MEMO_SLOTS ? c->memo_used++ : c->memo_next;
    c->memo_next = (i + 1) % MEMO_SLOTS;
    memcpy(c->memo[i].key, key, X509A_MEMO_KEY_LEN);
    c->memo[i].value = value;
}

int x509a_cert_memo_get(const x509a_cert *c,
                        const unsigned char key[X509A_MEMO_KEY_LEN],
                        int *value)
{
    int i;

    for (i = 0; i < c->memo_used; i++) {
        if (memcmp(c->memo[i].key, key, X509A_MEMO_KEY_LEN) == 0) {
            *value = c->memo[i].value;
            return 1;
        }
    }
    return 0;
}

/* --------------------------------------------------------------------- */
/* Compact form                                                           */
/* --------------------------------------------------------------------- */

/* The views of a certificate in a versioned binary form, so that a shared
 * cache can serve them without decoding the DER (d2i_X509 decodes the
 * public key too, which dominates).  Lengths and counts are LEB128
 * varints (at most 4 bytes); every string or byte string is its length,
 * its bytes and a NUL, so that a copy of the form serves the strings in
 * place.  Layout (version 1), in this order:
 *   u8 version; SHA-256[32] of the DER; SHA-1[20];
 *   u8 spki_ok, then the SPKI SHA-256[32] when 1;
 *   i64 X509_get_version(); u8 is_ca; i64 notBefore; i64 notAfter;
 *   str subject, subject_legacy, issuer; u8 0: issuer_rfc2253 is issuer,
 *       1: str issuer_rfc2253; str v_start, v_end, a_sig, a_key;
 *   serial: u8 negative, bytes magnitude, str hex, str dec;
 *   dn subject, dn issuer: u8 unmatchable, bytes canon, n RDNs, each
 *       n AVAs (at least one), each str oid, n nid, u8 is_hex, bytes value;
 *   attrs subject, attrs issuer (the DN's AVAs again, in order, with their
 *       printed values): n, each u8 tag and 0: the AVA's type and value;
 *       1: the AVA's type, str value; 2: str oid, n nid, str value;
 *   SANs: for each x509a_san_kind in order, n, each str;
 *   EKU: u8 present, then when 1: n, each bytes (OID content);
 * and nothing after.  i64 is 8 bytes big-endian two's complement. */

/* Raise it with any change of the layout, and of how a view is computed
 * (printing, RFC 4518 preparation, escaping): forms written by other code
 * (a shared cache outlives a restart and is shared between servers) are
 * then refused, not served with the old formatting. */
#define COMPACT_VERSION 1

static void w_u8(x509a_buf *b, unsigned int v)
{
    unsigned char c = (unsigned char)v;

    x509a_buf_add(b, &c, 1);
}

static void w_len(x509a_buf *b, apr_size_t v)
{
    do {
        w_u8(b, (unsigned int)((v & 0x7f) | (v > 0x7f ? 0x80 : 0)));
        v >>= 7;
    } while (v);
}

static void w_i64(x509a_buf *b, apr_int64_t v)
{
    apr_uint64_t u = (apr_uint64_t)v;
    int i;

    for (i = 56; i >= 0; i -= 8) {
        w_u8(b, (unsigned int)((u >> i) & 0xff));
    }
}

static void w_bytes(x509a_buf *b, const void *d, apr_size_t n)
{
    w_len(b, n);
    x509a_buf_add(b, d, n);
    w_u8(b, 0);
}

static void w_str(x509a_buf *b, const char *s)
{
    w_bytes(b, s ? s : "", s ? strlen(s) : 0);
}

static void w_dn(x509a_buf *b, const x509a_dn *dn)
{
    int i, j;

    w_u8(b, dn->unmatchable ? 1 : 0);
    w_bytes(b, dn->canon, dn->canon_len);
    w_len(b, (apr_size_t)dn->rdns->nelts);
    for (i = 0; i < dn->rdns->nelts; i++) {
        const apr_array_header_t *rdn = APR_ARRAY_IDX(dn->rdns, i,
                                                      apr_array_header_t *);
        w_len(b, (apr_size_t)rdn->nelts);
        for (j = 0; j < rdn->nelts; j++) {
            const x509a_ava *ava = &APR_ARRAY_IDX(rdn, j, x509a_ava);

            w_str(b, ava->oid);
            w_len(b, (apr_size_t)(ava->nid > 0 ? ava->nid : 0));
            w_u8(b, ava->is_hex ? 1 : 0);
            w_bytes(b, ava->value, ava->value_len);
        }
    }
}

/* The AVA of a DN at @a i in certificate order, or NULL. */
static const x509a_ava *nth_ava(const x509a_dn *dn, int i)
{
    int r;

    for (r = 0; r < dn->rdns->nelts; r++) {
        const apr_array_header_t *rdn = APR_ARRAY_IDX(dn->rdns, r,
                                                      apr_array_header_t *);
        if (i < rdn->nelts) {
            return &APR_ARRAY_IDX(rdn, i, x509a_ava);
        }
        i -= rdn->nelts;
    }
    return NULL;
}

/* Mostly the DN's AVAs again: only what differs is written. */
static void w_attrs(x509a_buf *b, const apr_array_header_t *attrs,
                    const x509a_dn *dn)
{
    int i;

    w_len(b, (apr_size_t)attrs->nelts);
    for (i = 0; i < attrs->nelts; i++) {
        const dn_attr *a = &APR_ARRAY_IDX(attrs, i, dn_attr);
        const x509a_ava *ava = nth_ava(dn, i);

        if (!ava || strcmp(a->oid, ava->oid) != 0 || a->nid != ava->nid) {
            w_u8(b, 2);
            w_str(b, a->oid);
            w_len(b, (apr_size_t)(a->nid > 0 ? a->nid : 0));
            w_str(b, a->value);
        }
        else if (strlen(a->value) != ava->value_len
                 || memcmp(a->value, ava->value, ava->value_len) != 0) {
            w_u8(b, 1);
            w_str(b, a->value);
        }
        else {
            w_u8(b, 0);
        }
    }
}

const char *x509a_cert_compact(x509a_cert *c, apr_pool_t *p,
                               unsigned char **out, apr_size_t *len)
{
    x509a_buf b = { 0 };
    const unsigned char *spki;
    const x509a_serial *serial;
    int k, i;

    b.p = p;
    x509a_cert_digest(c, X509A_DIGEST_SHA256);
    x509a_cert_digest(c, X509A_DIGEST_SHA1);
    if (!c->have_sha256 || !c->have_sha1) {
        return "the certificate's fingerprints could not be computed";
    }
    w_u8(&b, COMPACT_VERSION);
    x509a_buf_add(&b, c->sha256, 32);
    x509a_buf_add(&b, c->sha1, 20);
    spki = x509a_cert_spki_sha256(c);
    w_u8(&b, spki ? 1 : 0);
    if (spki) {
        x509a_buf_add(&b, spki, 32);
    }
    meta(c);
    kind(c);
    w_i64(&b, c->version);
    w_u8(&b, c->is_ca ? 1 : 0);
    x509a_cert_validity(c, NULL, NULL);
    w_i64(&b, c->not_before);
    w_i64(&b, c->not_after);
    w_str(&b, x509a_cert_subject(c));
    w_str(&b, x509a_cert_subject_legacy(c));
    w_str(&b, x509a_cert_issuer(c));
    if (strcmp(issuer_rfc2253(c), x509a_cert_issuer(c)) == 0) {
        w_u8(&b, 0);
    }
    else {
        w_u8(&b, 1);
        w_str(&b, issuer_rfc2253(c));
    }
    w_str(&b, c->v_start);
    w_str(&b, c->v_end);
    w_str(&b, c->a_sig);
    w_str(&b, c->a_key);
    serial = x509a_cert_serial(c);
    w_u8(&b, serial->negative ? 1 : 0);
    w_bytes(&b, serial->len ? serial->mag : (const unsigned char *)"",
            serial->len);
    w_str(&b, c->serial_hex);
    w_str(&b, c->serial_dec);
    w_dn(&b, x509a_cert_subject_dn(c));
    w_dn(&b, x509a_cert_issuer_dn(c));
    w_attrs(&b, subject_attrs(c), x509a_cert_subject_dn(c));
    w_attrs(&b, issuer_attrs(c), x509a_cert_issuer_dn(c));
    for (k = 0; k < X509A_SAN_KINDS; k++) {
        const apr_array_header_t *a = x509a_cert_san(c, (x509a_san_kind)k);

        w_len(&b, (apr_size_t)a->nelts);
        for (i = 0; i < a->nelts; i++) {
            w_str(&b, APR_ARRAY_IDX(a, i, const char *));
        }
    }
    if (!c->have_eku) {
        eku_compute(c);
    }
    w_u8(&b, c->eku ? 1 : 0);
    if (c->eku) {
        w_len(&b, (apr_size_t)c->eku->nelts);
        for (i = 0; i < c->eku->nelts; i++) {
            const eku_oid *o = &APR_ARRAY_IDX(c->eku, i, eku_oid);
            w_bytes(&b, o->d, o->len);
        }
    }
    *out = (unsigned char *)b.d;
    *len = b.len;
    return NULL;
}

/* Reading: every read is bounds-checked; the first failure sets @a bad
 * and later reads return empty values, checked once at the end. */
typedef struct {
    const unsigned char *p, *end;
    const char *bad;
} rd;

static int r_fail(rd *r, const char *why)
{
    if (!r->bad) {
        r->bad = why;
    }
    r->p = r->end;
    return 0;
}

static const unsigned char *r_fixed(rd *r, apr_size_t n)
{
    const unsigned char *d = r->p;

    if ((apr_size_t)(r->end - r->p) < n) {
        r_fail(r, "truncated");
        return NULL;
    }
    r->p += n;
    return d;
}

static unsigned int r_u8(rd *r)
{
    const unsigned char *d = r_fixed(r, 1);

    return d ? *d : 0;
}

static int r_bool(rd *r)
{
    unsigned int v = r_u8(r);

    return v <= 1 ? (int)v : r_fail(r, "a flag is neither 0 nor 1");
}

/* A length or count: at most 4 LEB128 bytes, the shortest encoding. */
static apr_size_t r_len(rd *r)
{
    apr_size_t v = 0;
    int i;

    for (i = 0; i < 4; i++) {
        unsigned int b = r_u8(r);

        v |= (apr_size_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            if (i > 0 && b == 0) {
                return r_fail(r, "a length is not minimally encoded");
            }
            return r->bad ? 0 : v;
        }
    }
    return r_fail(r, "a length is too long");
}

/* A count of elements that take at least @a min bytes each. */
static int r_count(rd *r, apr_size_t min)
{
    apr_size_t n = r_len(r);

    if (n > (apr_size_t)(r->end - r->p) / min) {
        return r_fail(r, "a count exceeds the form");
    }
    return (int)n;
}

static apr_int64_t r_i64(rd *r)
{
    const unsigned char *d = r_fixed(r, 8);
    apr_uint64_t u = 0;
    int i;

    for (i = 0; d && i < 8; i++) {
        u = (u << 8) | d[i];
    }
    return (apr_int64_t)u;
}

/* Bytes followed by a NUL, served in place. */
static const char *r_bytes(rd *r, apr_size_t *n)
{
    apr_size_t len = r_len(r);
    const unsigned char *d = r_fixed(r, len);

    *n = 0;
    if (!d || !r_fixed(r, 1)) {
        return "";
    }
    if (d[len] != '\0') {
        r_fail(r, "a string is not terminated");
        return "";
    }
    *n = len;
    return (const char *)d;
}

static const char *r_str(rd *r)
{
    apr_size_t n;

    return r_bytes(r, &n);
}

static int r_nid(rd *r)
{
    apr_size_t n = r_len(r);

    return n <= 0x7fffffff ? (int)n : r_fail(r, "a NID is out of range");
}

static const x509a_dn *r_dn(rd *r, apr_pool_t *p)
{
    x509a_dn *dn = apr_pcalloc(p, sizeof(*dn));
    int i, j, n;

    dn->unmatchable = r_bool(r);
    dn->canon = r_bytes(r, &dn->canon_len);
    n = r_count(r, 1);
    dn->rdns = apr_array_make(p, n > 0 ? n : 1, sizeof(apr_array_header_t *));
    for (i = 0; i < n && !r->bad; i++) {
        /* an AVA takes at least 6 bytes: oid, nid, is_hex, value */
        int m = r_count(r, 6);
        apr_array_header_t *rdn = apr_array_make(p, m > 0 ? m : 1,
                                                 sizeof(x509a_ava));

        if (m == 0) {
            r_fail(r, "an RDN without attributes");
        }
        for (j = 0; j < m && !r->bad; j++) {
            x509a_ava *ava = apr_array_push(rdn);

            ava->oid = r_str(r);
            ava->nid = r_nid(r);
            ava->is_hex = r_bool(r);
            ava->value = r_bytes(r, &ava->value_len);
        }
        APR_ARRAY_PUSH(dn->rdns, apr_array_header_t *) = rdn;
    }
    return dn;
}

static apr_array_header_t *r_attrs(rd *r, apr_pool_t *p, const x509a_dn *dn)
{
    int i, n = r_count(r, 1);
    apr_array_header_t *attrs = apr_array_make(p, n > 0 ? n : 1,
                                               sizeof(dn_attr));

    for (i = 0; i < n && !r->bad; i++) {
        dn_attr *a = apr_array_push(attrs);
        unsigned int tag = r_u8(r);
        const x509a_ava *ava = tag < 2 ? nth_ava(dn, i) : NULL;

        a->oid = "";
        a->value = "";
        if (tag < 2 && !ava) {
            r_fail(r, "an attribute without its AVA");
        }
        else if (tag < 2) {
            a->oid = ava->oid;
            a->nid = ava->nid;
            a->value = tag == 0 ? ava->value : r_str(r);
        }
        else if (tag == 2) {
            a->oid = r_str(r);
            a->nid = r_nid(r);
            a->value = r_str(r);
        }
        else {
            r_fail(r, "an unknown attribute tag");
        }
    }
    return attrs;
}

static x509a_cert *make_compact(apr_pool_t *p, const unsigned char *der,
                                apr_size_t der_len,
                                const unsigned char *der_sha256,
                                const unsigned char *form,
                                apr_size_t form_len, const char **why)
{
    x509a_cert *c;
    rd r;
    const unsigned char *d;
    unsigned char md[32];
    unsigned int mdlen = 32;
    int k, i, n;

    *why = NULL;
    if (!der || der_len == 0 || der_len > LONG_MAX || !form
        || form_len < 1 + 32) {
        *why = "no certificate or no compact form";
        return NULL;
    }
    if (form[0] != COMPACT_VERSION) {
        *why = apr_psprintf(p, "compact form version %d, expected %d",
                            form[0], COMPACT_VERSION);
        return NULL;
    }
    /* the form must be this certificate's: its SHA-256 is the DER's */
    if (der_sha256) {
        memcpy(md, der_sha256, 32);
    }
    if ((!der_sha256 && !EVP_Digest(der, der_len, md, &mdlen, x509a_sha256(),
                                    NULL))
        || mdlen != 32 || memcmp(md, form + 1, 32) != 0) {
        ERR_clear_error();
        *why = "the compact form belongs to another certificate";
        return NULL;
    }

    c = apr_pcalloc(p, sizeof(*c));
    c->pool = p;
    c->der = apr_pmemdup(p, der, der_len);
    c->der_len = der_len;
    /* strings are served from this copy */
    r.p = apr_pmemdup(p, form, form_len);
    r.end = r.p + form_len;
    r.bad = NULL;

    r_fixed(&r, 1);
    memcpy(c->sha256, r_fixed(&r, 32), 32);
    c->have_sha256 = 1;
    if ((d = r_fixed(&r, 20)) != NULL) {
        memcpy(c->sha1, d, 20);
        c->have_sha1 = 1;
    }
    c->spki_state = r_bool(&r) ? 1 : -1;
    if (c->spki_state > 0 && (d = r_fixed(&r, 32)) != NULL) {
        memcpy(c->spki, d, 32);
    }
    c->version = (long)r_i64(&r);
    c->is_ca = r_bool(&r);
    c->have_kind = 1;
    c->not_before = (time_t)r_i64(&r);
    c->not_after = (time_t)r_i64(&r);
    c->have_validity = 1;
    c->subject = r_str(&r);
    c->subject_legacy = r_str(&r);
    c->issuer = r_str(&r);
    c->issuer_rfc2253 = r_bool(&r) ? r_str(&r) : c->issuer;
    c->v_start = r_str(&r);
    c->v_end = r_str(&r);
    c->a_sig = r_str(&r);
    c->a_key = r_str(&r);
    c->have_meta = 1;
    c->serial.negative = r_bool(&r);
    c->serial.mag = (const unsigned char *)r_bytes(&r, &c->serial.len);
    c->serial_hex = r_str(&r);
    c->serial_dec = r_str(&r);
    c->have_serial = 1;
    c->subject_dn = r_dn(&r, p);
    c->issuer_dn = r_dn(&r, p);
    c->subject_attrs = r_attrs(&r, p, c->subject_dn);
    c->issuer_attrs = r_attrs(&r, p, c->issuer_dn);
    for (k = 0; k < X509A_SAN_KINDS; k++) {
        n = r_count(&r, 2);
        c->san[k] = apr_array_make(p, n > 0 ? n : 1, sizeof(const char *));
        for (i = 0; i < n && !r.bad; i++) {
            APR_ARRAY_PUSH(c->san[k], const char *) = r_str(&r);
        }
    }
    c->have_san = 1;
    if (r_bool(&r)) {
        n = r_count(&r, 2);
        c->eku = apr_array_make(p, n > 0 ? n : 1, sizeof(eku_oid));
        for (i = 0; i < n && !r.bad; i++) {
            eku_oid *o = apr_array_push(c->eku);
            o->d = (const unsigned char *)r_bytes(&r, &o->len);
        }
    }
    c->have_eku = 1;
    if (!r.bad && r.p != r.end) {
        r_fail(&r, "bytes after the end");
    }
    if (r.bad) {
        *why = apr_pstrcat(p, "malformed compact form: ", r.bad, NULL);
        return NULL;
    }
    apr_pool_cleanup_register(p, c, cert_cleanup, apr_pool_cleanup_null);
    return c;
}

x509a_cert *x509a_cert_make_compact(apr_pool_t *p, const unsigned char *der,
                                    apr_size_t der_len,
                                    const unsigned char *form,
                                    apr_size_t form_len, const char **why)
{
    return make_compact(p, der, der_len, NULL, form, form_len, why);
}

x509a_cert *x509a_cert_make_compact_sha256(apr_pool_t *p,
                                           const unsigned char *der,
                                           apr_size_t der_len,
                                           const unsigned char der_sha256[32],
                                           const unsigned char *form,
                                           apr_size_t form_len,
                                           const char **why)
{
    return make_compact(p, der, der_len, der_sha256, form, form_len, why);
}
