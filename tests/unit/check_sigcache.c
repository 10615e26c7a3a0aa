/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/* x509a_verify's verified-signature cache, differentially: every chain is
 * verified by a verifier without the cache (OpenSSL's own verification,
 * untouched) and by one with it, cold and warm, with a verify callback
 * that records every call (verdict, error, depth, certificate) and that
 * either stops at the first error or lets every error pass: the records
 * must be the same.  Also: a cached signature does not vouch for other
 * bytes or another issuer key, and the cache goes with the trust store. */

#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <check.h>
#include <apr_strings.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "x509a_verify.h"
#include "testcert.h"
#include "suites.h"

static tc_pki pki;
static const char *dir;
/* The user-initial-policy-set of the runs (NULL: any policy). */
static STACK_OF(ASN1_OBJECT) *user_policies;

static void sig_setup(void)
{
    tc_setup();
    user_policies = NULL;
    tc_pki_make(tc_pool, &pki, 1);
    dir = tc_temp_dir(tc_pool);
}

/* ---------------------------------------------------------------------- */
/* Helpers                                                                 */
/* ---------------------------------------------------------------------- */

static const char *put_file(const char *name, const char *text)
{
    const char *path = apr_pstrcat(tc_pool, dir, "/", name, NULL);

    tc_write_file(path, text, strlen(text));
    return path;
}

static apr_status_t free_x509(void *x)
{
    X509_free(x);
    return APR_SUCCESS;
}

/* @a x as a server receives it: a DER round trip, freed with tc_pool. */
static X509 *reparse(X509 *x)
{
    unsigned char *der = NULL;
    const unsigned char *p;
    int len = i2d_X509(x, &der);
    X509 *y;

    ck_assert_int_gt(len, 0);
    p = der;
    y = d2i_X509(NULL, &p, len);
    OPENSSL_free(der);
    ck_assert_ptr_nonnull(y);
    apr_pool_cleanup_register(tc_pool, y, free_x509, apr_pool_cleanup_null);
    return y;
}

/* @a x with an extension added, signed again with @a key. */
static X509 *with_ext(X509 *x, int nid, const char *value, EVP_PKEY *key)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, nid, value);
    X509 *y;

    ck_assert_ptr_nonnull(ext);
    y = X509_dup(x);
    ck_assert_ptr_nonnull(y);
    ck_assert(X509_add_ext(y, ext, -1));
    X509_EXTENSION_free(ext);
    ck_assert(X509_sign(y, key, EVP_sha256()) > 0);
    x = reparse(y);
    X509_free(y);
    return x;
}

/* @a x with its extension @a nid replaced, signed again with @a key. */
static X509 *replace_ext(X509 *x, int nid, const char *value, EVP_PKEY *key)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, nid, value);
    X509 *y = X509_dup(x);
    int i;

    ck_assert_ptr_nonnull(ext);
    ck_assert_ptr_nonnull(y);
    i = X509_get_ext_by_NID(y, nid, -1);
    ck_assert_int_ge(i, 0);
    X509_EXTENSION_free(X509_delete_ext(y, i));
    ck_assert(X509_add_ext(y, ext, -1));
    X509_EXTENSION_free(ext);
    /* signing encodes it again */
    ck_assert(X509_sign(y, key, EVP_sha256()) > 0);
    x = reparse(y);
    X509_free(y);
    return x;
}

/* @a x signed again with @a key (which may not be its issuer's). */
static X509 *resign(X509 *x, EVP_PKEY *key)
{
    X509 *y = X509_dup(x);

    ck_assert_ptr_nonnull(y);
    ck_assert(X509_sign(y, key, EVP_sha256()) > 0);
    x = reparse(y);
    X509_free(y);
    return x;
}

/* @a x valid from @a nb to @a na, signed again with @a key. */
static X509 *redate(X509 *x, time_t nb, time_t na, EVP_PKEY *key)
{
    X509 *y = X509_dup(x);

    ck_assert_ptr_nonnull(y);
    ck_assert_ptr_nonnull(X509_time_adj_ex(X509_getm_notBefore(y), 0, 0, &nb));
    ck_assert_ptr_nonnull(X509_time_adj_ex(X509_getm_notAfter(y), 0, 0, &na));
    ck_assert(X509_sign(y, key, EVP_sha256()) > 0);
    x = reparse(y);
    X509_free(y);
    return x;
}

static char *pems(X509 *first, ...)
{
    char *out = tc_cert_pem(tc_pool, first);
    va_list ap;
    X509 *x;

    va_start(ap, first);
    while ((x = va_arg(ap, X509 *)) != NULL) {
        out = apr_pstrcat(tc_pool, out, tc_cert_pem(tc_pool, x), NULL);
    }
    va_end(ap);
    return out;
}

/* The root's CRL (revoking @a root_revokes, or nothing) and the
 * intermediate's (revoking @a inter_revokes, or nothing). */
static char *crls(const char *root_revokes, const char *inter_revokes)
{
    return apr_pstrcat(tc_pool,
                       tc_crl_pem(tc_pool, tc_crl(tc_pool, pki.root,
                                                  pki.root_key, 0, 0,
                                                  root_revokes, (char *)NULL)),
                       tc_crl_pem(tc_pool, tc_crl(tc_pool, pki.inter,
                                                  pki.inter_key, 0, 0,
                                                  inter_revokes, (char *)NULL)),
                       NULL);
}

/* PEM of @a crl with an extension @a nid = @a value (X509V3 config text,
 * @a issuer its issuer), signed again with @a key. */
static char *crl_with_ext(X509_CRL *crl, X509 *issuer, int nid,
                          const char *value, EVP_PKEY *key)
{
    X509_CRL *c = X509_CRL_dup(crl);
    X509_EXTENSION *ext;
    X509V3_CTX v3;
    char *pem;

    ck_assert_ptr_nonnull(c);
    X509V3_set_ctx(&v3, issuer, NULL, NULL, c, 0);
    ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    ck_assert_ptr_nonnull(ext);
    ck_assert(X509_CRL_add_ext(c, ext, -1));
    X509_EXTENSION_free(ext);
    ck_assert(X509_CRL_sign(c, key, EVP_sha256()) > 0);
    pem = tc_crl_pem(tc_pool, c);
    X509_CRL_free(c);
    return pem;
}

static x509a_verifier *make(const char *ca, const char *crl, int cache_off)
{
    x509a_verify_conf conf;
    x509a_verifier *v = NULL;
    const char *err;

    memset(&conf, 0, sizeof(conf));
    conf.ca_file = put_file(cache_off ? "ca-off.pem" : "ca-on.pem", ca);
    conf.crl_file = crl ? put_file(cache_off ? "crl-off.pem" : "crl-on.pem",
                                   crl) : NULL;
    conf.depth = -1;
    conf.sig_cache_off = cache_off;
    err = x509a_verifier_create(tc_pool, &conf, &v);
    ck_assert_msg(err == NULL, "verifier: %s", err);
    ck_assert_int_eq(x509a_verifier_sig_cache_entries(v), cache_off ? -1 : 0);
    return v;
}

/* What the verify callback was told, call after call. */
typedef struct {
    int ok, error, depth;
    unsigned char cert[20];     /* SHA-1 of the current certificate */
} event;

typedef struct {
    int cont;                   /* let every error pass */
    int n;
    event ev[64];
} trace;

static int trace_cb(int ok, X509_STORE_CTX *ctx)
{
    trace *t = X509_STORE_CTX_get_app_data(ctx);
    X509 *x = X509_STORE_CTX_get_current_cert(ctx);

    if (!t) {
        /* the context OpenSSL makes to verify a CRL issuer's own path */
        return ok;
    }
    if (t->n < (int)(sizeof(t->ev) / sizeof(t->ev[0]))) {
        event *e = &t->ev[t->n];
        unsigned int len;

        memset(e, 0, sizeof(*e));
        e->ok = ok;
        e->error = X509_STORE_CTX_get_error(ctx);
        e->depth = X509_STORE_CTX_get_error_depth(ctx);
        if (x) {
            X509_digest(x, EVP_sha1(), e->cert, &len);
        }
    }
    t->n++;
    return t->cont ? 1 : ok;
}

typedef struct {
    int ok, error, depth;
    trace t;
} outcome;

static void run(x509a_verifier *v, X509 *leaf, STACK_OF(X509) *untrusted,
                unsigned long flags, int cont, outcome *o)
{
    X509_STORE *store = x509a_verifier_store(v);
    x509a_verify_run_opts opts;
    x509a_verify_info info;
    const char *why = NULL;

    ck_assert_ptr_nonnull(store);
    memset(o, 0, sizeof(*o));
    memset(&opts, 0, sizeof(opts));
    o->t.cont = cont;
    opts.set_flags = flags;
    opts.policies = user_policies;
    opts.verify_cb = trace_cb;
    opts.app_data = &o->t;
    opts.crl_bound = 1;
    o->ok = x509a_verify_run(v, store, tc_pool, leaf, untrusted, &opts, NULL,
                             &why, &info);
    o->error = info.error;
    o->depth = info.error_depth;
    X509_STORE_free(store);
    ck_assert_int_eq(ERR_peek_error(), 0);
}

static void assert_same(const char *what, const char *how, const outcome *a,
                        const outcome *b)
{
    int i;

    ck_assert_msg(a->ok == b->ok && a->error == b->error
                  && a->depth == b->depth,
                  "%s (%s): OpenSSL says %d/%d at %d, with the cache %d/%d at "
                  "%d", what, how, a->ok, a->error, a->depth, b->ok, b->error,
                  b->depth);
    ck_assert_msg(a->t.n == b->t.n, "%s (%s): %d callbacks, with the cache %d",
                  what, how, a->t.n, b->t.n);
    for (i = 0; i < a->t.n && i < 64; i++) {
        const event *x = &a->t.ev[i], *y = &b->t.ev[i];

        ck_assert_msg(x->ok == y->ok && x->error == y->error
                      && x->depth == y->depth
                      && memcmp(x->cert, y->cert, sizeof(x->cert)) == 0,
                      "%s (%s): callback %d: OpenSSL (%d, %d at %d), with "
                      "the cache (%d, %d at %d)%s", what, how, i, x->ok,
                      x->error, x->depth, y->ok, y->error, y->depth,
                      memcmp(x->cert, y->cert, sizeof(x->cert))
                      ? ", another certificate" : "");
    }
}

/*
 * The chain verified without the cache and with it (cold, then warm
 * twice), stopping at the first error and letting every error pass, and
 * through x509a_verifier_check(): the same every time; OpenSSL's verdict
 * is @a ok, else @a err at @a depth.  Returns the verifier with the (warm)
 * cache.
 */
static x509a_verifier *differ(const char *what, const char *ca,
                              const char *crl, X509 *leaf,
                              STACK_OF(X509) *untrusted, unsigned long flags,
                              int ok, int err, int depth)
{
    x509a_verifier *off = make(ca, crl, 1), *on = make(ca, crl, 0);
    static const char *how[] = { "cold", "warm", "warm again" };
    outcome ref, got;
    int cont, i;

    for (cont = 0; cont < 2; cont++) {
        run(off, leaf, untrusted, flags, cont, &ref);
        if (!cont) {
            ck_assert_msg(ref.ok == ok, "%s: OpenSSL says %d (error %d at "
                          "%d), not %d", what, ref.ok, ref.error, ref.depth,
                          ok);
            if (!ok) {
                ck_assert_msg(ref.error == err && ref.depth == depth,
                              "%s: OpenSSL says error %d (%s) at %d, not %d "
                              "at %d", what, ref.error,
                              X509_verify_cert_error_string(ref.error),
                              ref.depth, err, depth);
            }
        }
        for (i = 0; i < 3; i++) {
            run(on, leaf, untrusted, flags, cont, &got);
            assert_same(what, apr_psprintf(tc_pool, "%s, %s", how[i],
                                           cont ? "callback lets errors pass"
                                                : "callback stops"),
                        &ref, &got);
        }
    }
    if (!flags) {
        /* the production path, no callback of the test's */
        x509a_verify_info a, b;
        const char *wa = NULL, *wb = NULL;
        int oa = x509a_verifier_check(off, tc_pool, leaf, untrusted, NULL,
                                      &wa, &a);
        int ob = x509a_verifier_check(on, tc_pool, leaf, untrusted, NULL,
                                      &wb, &b);

        ck_assert_msg(oa == ob && a.error == b.error
                      && a.error_depth == b.error_depth
                      && a.crl_next_update == b.crl_next_update
                      && (oa || strcmp(wa, wb) == 0),
                      "%s: x509a_verifier_check: '%s' / '%s'", what,
                      oa ? "ok" : wa, ob ? "ok" : wb);
    }
    ck_assert_int_eq(x509a_verifier_sig_cache_entries(off), -1);
    return on;
}

static const time_t day = 86400;

/* ---------------------------------------------------------------------- */
/* Tests                                                                   */
/* ---------------------------------------------------------------------- */

/* A good chain; what the cache then holds: the intermediate's signature
 * and both CRLs' (not the leaf's). */
START_TEST(sig_good_chain)
{
    STACK_OF(X509) *inter = tc_stack(tc_pool, pki.inter, NULL);
    x509a_verifier *v;

    v = differ("good chain, forwarded intermediate", pems(pki.root, NULL),
               crls(NULL, NULL), pki.leaf, inter, 0, 1, 0, 0);
    ck_assert_int_eq(x509a_verifier_sig_cache_entries(v), 3);
    v = differ("good chain, intermediate in the CA file",
               pems(pki.root, pki.inter, NULL), crls(NULL, NULL), pki.leaf,
               NULL, 0, 1, 0, 0);
    ck_assert_int_eq(x509a_verifier_sig_cache_entries(v), 3);
    v = differ("good chain, no CRL file", pems(pki.root, NULL), NULL,
               pki.leaf, inter, 0, 1, 0, 0);
    ck_assert_int_eq(x509a_verifier_sig_cache_entries(v), 1);
    /* only the trust anchor (no client certificate: wrong purpose) */
    differ("root alone", pems(pki.root, NULL), crls(NULL, NULL), pki.root,
           NULL, 0, 0, X509_V_ERR_INVALID_PURPOSE, 0);
    /* self-signature checks when asked for */
    differ("root's self-signature checked", pems(pki.root, NULL),
           crls(NULL, NULL), pki.leaf, inter,
           X509_V_FLAG_CHECK_SS_SIGNATURE, 1, 0, 0);
    differ("no issuer", pems(pki.root, NULL), crls(NULL, NULL), pki.leaf,
           NULL, 0, 0, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, 0);
}
END_TEST

/* Bad signatures: the leaf's, the intermediate's. */
START_TEST(sig_bad_signatures)
{
    const char *ca = pems(pki.root, NULL), *crl = crls(NULL, NULL);
    X509 *bad_leaf = resign(pki.leaf, tc_key(tc_pool));
    X509 *bad_inter = resign(pki.inter, tc_key(tc_pool));

    differ("bad leaf signature", ca, crl, bad_leaf,
           tc_stack(tc_pool, pki.inter, NULL), 0, 0,
           X509_V_ERR_CERT_SIGNATURE_FAILURE, 0);
    differ("bad intermediate signature", ca, crl, pki.leaf,
           tc_stack(tc_pool, bad_inter, NULL), 0, 0,
           X509_V_ERR_CERT_SIGNATURE_FAILURE, 1);
    differ("bad intermediate signature, no CRL file", ca, NULL, pki.leaf,
           tc_stack(tc_pool, bad_inter, NULL), 0, 0,
           X509_V_ERR_CERT_SIGNATURE_FAILURE, 1);
}
END_TEST

/* Validity dates at each depth, and X509_V_FLAG_NO_CHECK_TIME. */
START_TEST(sig_dates)
{
    time_t now = time(NULL);
    time_t past_nb = now - 2 * day, past_na = now - day;
    time_t fut_nb = now + day, fut_na = now + 2 * day;
    const char *crl = crls(NULL, NULL);
    const char *ca = pems(pki.root, NULL);
    STACK_OF(X509) *inter = tc_stack(tc_pool, pki.inter, NULL);
    X509 *root_old = redate(pki.root, past_nb, past_na, pki.root_key);
    X509 *root_new = redate(pki.root, fut_nb, fut_na, pki.root_key);

    differ("expired leaf", ca, crl,
           redate(pki.leaf, past_nb, past_na, pki.inter_key), inter, 0, 0,
           X509_V_ERR_CERT_HAS_EXPIRED, 0);
    differ("leaf not yet valid", ca, crl,
           redate(pki.leaf, fut_nb, fut_na, pki.inter_key), inter, 0, 0,
           X509_V_ERR_CERT_NOT_YET_VALID, 0);
    differ("expired leaf, no time check", ca, crl,
           redate(pki.leaf, past_nb, past_na, pki.inter_key), inter,
           X509_V_FLAG_NO_CHECK_TIME, 1, 0, 0);
    differ("expired intermediate", ca, crl, pki.leaf,
           tc_stack(tc_pool, tc_pki_inter_twin(tc_pool, &pki, "22", past_nb,
                                               past_na), NULL),
           0, 0, X509_V_ERR_CERT_HAS_EXPIRED, 1);
    differ("intermediate not yet valid", ca, crl, pki.leaf,
           tc_stack(tc_pool, tc_pki_inter_twin(tc_pool, &pki, "23", fut_nb,
                                               fut_na), NULL),
           0, 0, X509_V_ERR_CERT_NOT_YET_VALID, 1);
    differ("expired root", pems(root_old, NULL), crl, pki.leaf, inter, 0, 0,
           X509_V_ERR_CERT_HAS_EXPIRED, 2);
    differ("root not yet valid", pems(root_new, NULL), crl, pki.leaf, inter,
           0, 0, X509_V_ERR_CERT_NOT_YET_VALID, 2);
}
END_TEST

/* Revocation: the leaf, the intermediate; CRLs with a bad signature, out
 * of date. */
START_TEST(sig_revocation)
{
    time_t now = time(NULL);
    const char *ca = pems(pki.root, NULL);
    STACK_OF(X509) *inter = tc_stack(tc_pool, pki.inter, NULL);
    const char *root_crl = tc_crl_pem(tc_pool, tc_crl(tc_pool, pki.root,
                                                      pki.root_key, 0, 0,
                                                      (char *)NULL));
    const char *inter_crl = tc_crl_pem(tc_pool, tc_crl(tc_pool, pki.inter,
                                                       pki.inter_key, 0, 0,
                                                       (char *)NULL));

    differ("revoked leaf", ca, crls(NULL, "1001"), pki.leaf, inter, 0, 0,
           X509_V_ERR_CERT_REVOKED, 0);
    differ("revoked intermediate", ca, crls("02", NULL), pki.leaf, inter, 0,
           0, X509_V_ERR_CERT_REVOKED, 1);
    differ("intermediate's CRL, bad signature", ca,
           apr_pstrcat(tc_pool, root_crl,
                       tc_crl_pem(tc_pool, tc_crl(tc_pool, pki.inter,
                                                  tc_key(tc_pool), 0, 0,
                                                  (char *)NULL)), NULL),
           pki.leaf, inter, 0, 0, X509_V_ERR_CRL_SIGNATURE_FAILURE, 0);
    differ("root's CRL, bad signature", ca,
           apr_pstrcat(tc_pool,
                       tc_crl_pem(tc_pool, tc_crl(tc_pool, pki.root,
                                                  pki.inter_key, 0, 0,
                                                  (char *)NULL)),
                       inter_crl, NULL),
           pki.leaf, inter, 0, 0, X509_V_ERR_CRL_SIGNATURE_FAILURE, 1);
    differ("intermediate's CRL expired", ca,
           apr_pstrcat(tc_pool, root_crl,
                       tc_crl_pem(tc_pool, tc_crl(tc_pool, pki.inter,
                                                  pki.inter_key, now - 2 * day,
                                                  now - day, (char *)NULL)),
                       NULL),
           pki.leaf, inter, 0, 0, X509_V_ERR_CRL_HAS_EXPIRED, 0);
    differ("root's CRL not yet valid", ca,
           apr_pstrcat(tc_pool,
                       tc_crl_pem(tc_pool, tc_crl(tc_pool, pki.root,
                                                  pki.root_key, now + day,
                                                  now + 2 * day,
                                                  (char *)NULL)),
                       inter_crl, NULL),
           pki.leaf, inter, 0, 0, X509_V_ERR_CRL_NOT_YET_VALID, 1);
    differ("intermediate's CRL missing", ca, root_crl, pki.leaf, inter, 0, 0,
           X509_V_ERR_UNABLE_TO_GET_CRL, 0);
    differ("intermediate may not sign CRLs", ca, crls(NULL, NULL), pki.leaf,
           tc_stack(tc_pool, replace_ext(pki.inter, NID_key_usage,
                                         "critical,keyCertSign",
                                         pki.root_key), NULL),
           0, 0, X509_V_ERR_KEYUSAGE_NO_CRL_SIGN, 0);
    /* a CRL whose issuingDistributionPoint leaves the leaf out of its
     * scope: OpenSSL's check_crl() says so, the cache must not hide it */
    differ("intermediate's CRL for CAs only", ca,
           apr_pstrcat(tc_pool, root_crl,
                       crl_with_ext(tc_crl(tc_pool, pki.inter, pki.inter_key,
                                           0, 0, (char *)NULL), pki.inter,
                                    NID_issuing_distribution_point,
                                    "onlyCA:TRUE", pki.inter_key), NULL),
           pki.leaf, inter, 0, 0, X509_V_ERR_DIFFERENT_CRL_SCOPE, 0);
    {
        /* the leaf's CRL signed by a certificate of its issuer's name off
         * the path (among the forwarded ones, self-signed): OpenSSL
         * validates that certificate's own path, and fails it */
        static const tc_attr inter_dn[] = {
            { "C", "US", 0, 0, 0 }, { "O", "Example Corp", 0, 0, 0 },
            { "CN", "Test Issuing CA", 0, 0, 0 }, { NULL, NULL, 0, 0, 0 } };
        tc_spec sp;
        EVP_PKEY *other_key;
        X509 *other;

        memset(&sp, 0, sizeof(sp));
        sp.subject = inter_dn;
        sp.ca = 1;
        sp.serial = "77";
        other = tc_cert(tc_pool, &sp, &other_key);
        differ("leaf's CRL by a look-alike off the path", ca,
               apr_pstrcat(tc_pool, root_crl,
                           crl_with_ext(tc_crl(tc_pool, other, other_key, 0,
                                               0, (char *)NULL), other,
                                        NID_authority_key_identifier,
                                        "keyid:always", other_key), NULL),
               pki.leaf, tc_stack(tc_pool, pki.inter, other, NULL), 0, 0,
               X509_V_ERR_CRL_PATH_VALIDATION_ERROR, 0);
    }
    differ("root's CRL for users only", ca,
           apr_pstrcat(tc_pool,
                       crl_with_ext(tc_crl(tc_pool, pki.root, pki.root_key,
                                           0, 0, (char *)NULL), pki.root,
                                    NID_issuing_distribution_point,
                                    "onlyuser:TRUE", pki.root_key),
                       inter_crl, NULL),
           pki.leaf, inter, 0, 0, X509_V_ERR_DIFFERENT_CRL_SCOPE, 1);
}
END_TEST

/* Delta CRLs: a base with freshestCRL and a delta that revokes the leaf,
 * or not, or that is not signed by the issuer. */
START_TEST(sig_delta_crl)
{
    const char *ca = pems(pki.root, NULL);
    const char *url = "http://crl.example/inter-delta.crl";
    STACK_OF(X509) *inter = tc_stack(tc_pool, pki.inter, NULL);
    const char *root_crl = tc_crl_pem(tc_pool, tc_crl(tc_pool, pki.root,
                                                      pki.root_key, 0, 0,
                                                      (char *)NULL));
    const char *base = tc_crl_pem(tc_pool, tc_crl_numbered(
        tc_pool, pki.inter, pki.inter_key, 10, -1, url, (char *)NULL));
    x509a_verifier *v;

    v = differ("delta CRL, nothing revoked", ca,
               apr_pstrcat(tc_pool, root_crl, base,
                           tc_crl_pem(tc_pool, tc_crl_numbered(
                               tc_pool, pki.inter, pki.inter_key, 11, 10,
                               NULL, (char *)NULL)), NULL),
               pki.leaf, inter, 0, 1, 0, 0);
    /* the intermediate, the root's CRL, the base and the delta */
    ck_assert_int_eq(x509a_verifier_sig_cache_entries(v), 4);
    differ("delta CRL revokes the leaf", ca,
           apr_pstrcat(tc_pool, root_crl, base,
                       tc_crl_pem(tc_pool, tc_crl_numbered(
                           tc_pool, pki.inter, pki.inter_key, 11, 10, NULL,
                           "1001", (char *)NULL)), NULL),
           pki.leaf, inter, 0, 0, X509_V_ERR_CERT_REVOKED, 0);
    differ("delta CRL, bad signature", ca,
           apr_pstrcat(tc_pool, root_crl, base,
                       tc_crl_pem(tc_pool, tc_crl_numbered(
                           tc_pool, pki.inter, pki.root_key, 11, 10, NULL,
                           (char *)NULL)), NULL),
           pki.leaf, inter, 0, 0, X509_V_ERR_CRL_SIGNATURE_FAILURE, 0);
}
END_TEST

/* Policies (certificatePolicies, requireExplicitPolicy) and name
 * constraints are evaluated on the whole path every time. */
START_TEST(sig_policy_and_names)
{
    static const tc_attr inter_dn[] = {
        { "C", "US", 0, 0, 0 }, { "O", "Example Corp", 0, 0, 0 },
        { "CN", "Test Issuing CA", 0, 0, 0 }, { NULL, NULL, 0, 0, 0 } };
    static const tc_attr leaf_dn[] = {
        { "C", "US", 0, 0, 0 }, { "O", "Example Corp", 0, 0, 0 },
        { "CN", "alice", 0, 0, 0 }, { NULL, NULL, 0, 0, 0 } };
    const char *ca = pems(pki.root, NULL), *crl = crls(NULL, "30");
    X509 *nc_inter = with_ext(pki.inter, NID_name_constraints,
                              "permitted;email:example.com", pki.root_key);
    unsigned long pol = X509_V_FLAG_POLICY_CHECK;
    X509 *pol_inter;
    tc_spec s;

    /* the intermediate (its name and key) requiring policy 1.2.3.4 */
    memset(&s, 0, sizeof(s));
    s.subject = inter_dn;
    s.issuer = pki.root;
    s.issuer_key = pki.root_key;
    s.key = pki.inter_key;
    s.ca = 1;
    s.serial = "40";
    s.policies = "1.2.3.4";
    s.policy_constraints = "requireExplicitPolicy:0";
    pol_inter = tc_cert(tc_pool, &s, NULL);
    memset(&s, 0, sizeof(s));
    s.subject = leaf_dn;
    s.issuer = pol_inter;
    s.issuer_key = pki.inter_key;
    s.eku = "clientAuth";
    s.policies = "1.2.3.4";
    /* OpenSSL finds no explicit policy without a user policy set */
    differ("policy required, no user policy", ca, crl,
           tc_cert(tc_pool, &s, NULL), tc_stack(tc_pool, pol_inter, NULL),
           pol, 0, X509_V_ERR_NO_EXPLICIT_POLICY, 0);
    user_policies = sk_ASN1_OBJECT_new_null();
    ck_assert(sk_ASN1_OBJECT_push(user_policies,
                                  OBJ_txt2obj("1.2.3.4", 1)));
    differ("policy required and held", ca, crl, tc_cert(tc_pool, &s, NULL),
           tc_stack(tc_pool, pol_inter, NULL), pol, 1, 0, 0);
    s.policies = "1.2.3.5";
    differ("policy required, another held", ca, crl,
           tc_cert(tc_pool, &s, NULL), tc_stack(tc_pool, pol_inter, NULL),
           pol, 0, X509_V_ERR_NO_EXPLICIT_POLICY, 0);
    s.policies = NULL;
    differ("policy required, none held", ca, crl, tc_cert(tc_pool, &s, NULL),
           tc_stack(tc_pool, pol_inter, NULL), pol, 0,
           X509_V_ERR_NO_EXPLICIT_POLICY, 0);
    sk_ASN1_OBJECT_pop_free(user_policies, ASN1_OBJECT_free);
    user_policies = NULL;
    differ("name permitted", ca, crl,
           with_ext(pki.leaf, NID_subject_alt_name,
                    "email:alice@example.com", pki.inter_key),
           tc_stack(tc_pool, nc_inter, NULL), 0, 1, 0, 0);
    differ("name not permitted", ca, crl,
           with_ext(pki.leaf, NID_subject_alt_name, "email:alice@example.org",
                    pki.inter_key),
           tc_stack(tc_pool, nc_inter, NULL), 0, 0,
           X509_V_ERR_PERMITTED_VIOLATION, 0);
}
END_TEST

/* A warm cache does not vouch for other bytes under the same names: an
 * intermediate with one byte changed (in what it signs, or in its
 * signature) fails as without the cache. */
START_TEST(sig_tampered_intermediate)
{
    STACK_OF(X509) *inter = tc_stack(tc_pool, pki.inter, NULL);
    x509a_verifier *v = make(pems(pki.root, NULL), crls(NULL, NULL), 0);
    unsigned char *der = NULL, *hit;
    const unsigned char *p;
    int len = i2d_X509(pki.inter, &der), where;
    outcome o;

    ck_assert_int_gt(len, 0);
    run(v, pki.leaf, inter, 0, 0, &o);
    ck_assert_int_eq(o.ok, 1);
    ck_assert_int_eq(x509a_verifier_sig_cache_entries(v), 3);
    for (where = 0; where < 2; where++) {
        unsigned char *copy = apr_pmemdup(tc_pool, der, len);
        X509 *bad;

        if (where == 0) {
            /* a digit of the validity (the subject and keys unchanged) */
            hit = memmem(copy, len, "49123", 5);
            ck_assert_ptr_nonnull(hit);
            hit[4] = '0';
        }
        else {
            /* the last byte of the signature */
            copy[len - 1] ^= 0x01;
        }
        p = copy;
        bad = d2i_X509(NULL, &p, len);
        ck_assert_ptr_nonnull(bad);
        apr_pool_cleanup_register(tc_pool, bad, free_x509,
                                  apr_pool_cleanup_null);
        ck_assert(X509_NAME_cmp(X509_get_subject_name(bad),
                                X509_get_subject_name(pki.inter)) == 0);
        run(v, pki.leaf, tc_stack(tc_pool, bad, NULL), 0, 0, &o);
        ck_assert_msg(!o.ok && o.error == X509_V_ERR_CERT_SIGNATURE_FAILURE
                      && o.depth == 1, "tampered intermediate (%s): %d, "
                      "error %d at %d", where ? "signature" : "validity",
                      o.ok, o.error, o.depth);
        differ("tampered intermediate", pems(pki.root, NULL),
               crls(NULL, NULL), pki.leaf, tc_stack(tc_pool, bad, NULL), 0,
               0, X509_V_ERR_CERT_SIGNATURE_FAILURE, 1);
    }
    OPENSSL_free(der);
    /* the genuine one still verifies */
    run(v, pki.leaf, inter, 0, 0, &o);
    ck_assert_int_eq(o.ok, 1);
}
END_TEST

/* A cached signature is the signature under one issuer's key: the same
 * sub-CA certificate under a look-alike of its issuer (same name, other
 * key; no key identifiers to tell them apart) fails as without the cache.
 * (A cache keyed by the signed certificate alone lets it through.) */
START_TEST(sig_other_issuer_key)
{
    static const tc_attr sub_dn[] = {
        { "CN", "Test Sub CA", 0, 0, 0 }, { NULL, NULL, 0, 0, 0 } };
    static const tc_attr bob_dn[] = {
        { "CN", "bob", 0, 0, 0 }, { NULL, NULL, 0, 0, 0 } };
    tc_pki pk;
    tc_spec s;
    EVP_PKEY *sub_key;
    X509 *sub, *leaf;
    x509a_verifier *v;
    outcome o;

    tc_pki_make(tc_pool, &pk, 0);
    memset(&s, 0, sizeof(s));
    s.subject = sub_dn;
    s.issuer = pk.inter;
    s.issuer_key = pk.inter_key;
    s.ca = 1;
    s.no_key_ids = 1;
    s.serial = "0A";
    sub = tc_cert(tc_pool, &s, &sub_key);
    memset(&s, 0, sizeof(s));
    s.subject = bob_dn;
    s.issuer = sub;
    s.issuer_key = sub_key;
    s.no_key_ids = 1;
    leaf = tc_cert(tc_pool, &s, NULL);

    v = differ("sub-CA under its issuer", pems(pk.root, NULL), NULL, leaf,
               tc_stack(tc_pool, sub, pk.inter, NULL), 0, 1, 0, 0);
    /* the sub-CA's signature and the intermediate's */
    ck_assert_int_eq(x509a_verifier_sig_cache_entries(v), 2);
    run(v, leaf, tc_stack(tc_pool, sub, pk.fake_inter, NULL), 0, 0, &o);
    ck_assert_msg(!o.ok && o.error == X509_V_ERR_CERT_SIGNATURE_FAILURE
                  && o.depth == 1, "sub-CA under a look-alike issuer: %d, "
                  "error %d at %d", o.ok, o.error, o.depth);
    differ("sub-CA under a look-alike issuer", pems(pk.root, NULL), NULL,
           leaf, tc_stack(tc_pool, sub, pk.fake_inter, NULL), 0, 0,
           X509_V_ERR_CERT_SIGNATURE_FAILURE, 1);
}
END_TEST

/* The cache goes with the trust store: a CRL reload empties it; a
 * verifier without it ("X509AuthnCacheEntries 0") has none. */
START_TEST(sig_reload)
{
    STACK_OF(X509) *inter = tc_stack(tc_pool, pki.inter, NULL);
    x509a_verifier *v = make(pems(pki.root, NULL), crls(NULL, NULL), 0);
    const char *crl = apr_pstrcat(tc_pool, dir, "/crl-on.pem", NULL);
    const char *text = crls(NULL, "1001");
    outcome o;
    int reloaded = 0;

    run(v, pki.leaf, inter, 0, 0, &o);
    ck_assert_int_eq(o.ok, 1);
    ck_assert_int_eq(x509a_verifier_sig_cache_entries(v), 3);
    tc_write_file(crl, text, strlen(text));
    ck_assert_ptr_null(x509a_verifier_refresh(v, apr_time_now()
                                              + apr_time_from_sec(5),
                                              &reloaded));
    ck_assert_int_eq(reloaded, 1);
    ck_assert_int_eq(x509a_verifier_sig_cache_entries(v), 0);
    run(v, pki.leaf, inter, 0, 0, &o);
    ck_assert_msg(!o.ok && o.error == X509_V_ERR_CERT_REVOKED,
                  "after the reload: %d, error %d", o.ok, o.error);
    /* revocation is checked before the signatures: the CRL's alone */
    ck_assert_int_eq(x509a_verifier_sig_cache_entries(v), 1);
    v = make(pems(pki.root, NULL), crls(NULL, NULL), 1);
    run(v, pki.leaf, inter, 0, 0, &o);
    ck_assert_int_eq(o.ok, 1);
    ck_assert_int_eq(x509a_verifier_sig_cache_entries(v), -1);
}
END_TEST

Suite *x509a_sigcache_suite(void)
{
    Suite *s = suite_create("x509a_sigcache");
    TCase *tc = tcase_create("differential");

    tcase_add_checked_fixture(tc, sig_setup, tc_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, sig_good_chain);
    tcase_add_test(tc, sig_bad_signatures);
    tcase_add_test(tc, sig_dates);
    tcase_add_test(tc, sig_revocation);
    tcase_add_test(tc, sig_delta_crl);
    tcase_add_test(tc, sig_policy_and_names);
    tcase_add_test(tc, sig_tampered_intermediate);
    tcase_add_test(tc, sig_other_issuer_key);
    tcase_add_test(tc, sig_reload);
    suite_add_tcase(s, tc);
    return s;
}
