/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/* Local verification of forwarded certificates with OpenSSL's
 * X509_verify_cert(); this file only manages the trust store: loading,
 * CRL reloads, and the digest of the settings for cache keys. */

#include <string.h>
#include <apr_strings.h>
#include <apr_hash.h>
#include <apr_file_io.h>
#include <apr_file_info.h>
#include <stdlib.h>
#include <time.h>
#include <apr_thread_mutex.h>
#include <apr_atomic.h>
#include <openssl/evp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "x509a_verify.h"
#include "x509a_reason.h"
#include "x509a_print.h"
#include "x509a_cert.h"

/* One trust store and what is known of its signatures: the SHA-256 of the
 * DER of its certificates and CRLs, by object (the store holds them, so
 * an address stays theirs while it lives: no need to hash a large CRL at
 * every verification), and the signatures verified under it.  Replaced
 * with the store at a CRL reload; reference-counted, as verifications
 * that began with it may still run. */
typedef struct {
    X509_STORE *store;
    apr_pool_t *pool;               /* unmanaged: freed with the last user */
    apr_hash_t *memo;               /* object address -> SHA-256; read-only */
    apr_thread_mutex_t *lock;       /* guards sigs, nsigs */
    apr_hash_t *sigs;               /* 64-byte key -> its slot */
    unsigned char (*slots)[64];     /* SHA-256 of signed object, of issuer */
    int nsigs;
    volatile apr_uint32_t refs;
} trust_gen;

struct x509a_verifier {
    apr_pool_t *pool;
    x509a_verify_conf conf;
    const char *ca_data;            /* the CA file as read at startup */
    apr_size_t ca_len;
    apr_thread_mutex_t *lock;       /* guards everything below */
    X509_STORE *store;              /* current trust store */
    trust_gen *gen;                 /* its signature cache (NULL: off) */
    int sig_hooks;                  /* the cache is on, its hooks usable */
    const char *broken;             /* set when the CRL file is unusable */
    char broken_buf[512];
    volatile apr_uint32_t is_broken;   /* broken != NULL, read without lock */
    unsigned char base_digest[32];  /* CA certificates, path, depth, purpose */
    unsigned char digest[32];       /* base_digest and the CRLs */
    volatile apr_uint32_t generation;  /* read without the lock */
    volatile apr_uint64_t next_check;  /* apr_time_t; read without the lock */
    apr_time_t crl_mtime;
    apr_off_t crl_size;
    apr_ino_t crl_inode;
    apr_time_t crl_loaded_at;       /* when the CRLs in use were read */
    apr_time_t ca_loaded_at;
    int ca_certs;                   /* certificates of the CA file */
};

static const char *openssl_reason(apr_pool_t *p)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;

    ERR_clear_error();
    return apr_pstrdup(p, r ? r : "unknown error");
}

static const char *read_file(apr_pool_t *p, const char *name, char **data,
                             apr_size_t *len, apr_finfo_t *finfo)
{
    apr_file_t *f;
    apr_status_t rv;
    char err[128];

    rv = apr_file_open(&f, name, APR_FOPEN_READ | APR_FOPEN_BINARY,
                       APR_OS_DEFAULT, p);
    if (rv == APR_SUCCESS) {
        rv = apr_file_info_get(finfo, APR_FINFO_MTIME | APR_FINFO_SIZE
                                      | APR_FINFO_INODE, f);
        if (rv == APR_INCOMPLETE) {
            rv = APR_SUCCESS;
        }
    }
    if (rv == APR_SUCCESS) {
        *len = (apr_size_t)finfo->size;
        *data = apr_palloc(p, *len + 1);
        rv = apr_file_read_full(f, *data, *len, len);
        if (rv == APR_EOF && *len == 0) {
            rv = APR_SUCCESS;
        }
        (*data)[*len] = '\0';
        apr_file_close(f);
    }
    if (rv != APR_SUCCESS) {
        return apr_psprintf(p, "cannot read '%s': %s", name,
                            apr_strerror(rv, err, sizeof(err)));
    }
    return NULL;
}

/* Add the certificates (unless @a certs is NULL: a CRL file adds no trust
 * anchors) and CRLs of a PEM buffer to a store; counts them. */
static const char *add_pem(apr_pool_t *p, X509_STORE *store, const char *name,
                           const char *data, apr_size_t len, int *certs,
                           int *crls)
{
    BIO *bio = BIO_new_mem_buf(data, (int)len);
    STACK_OF(X509_INFO) *infos;
    int i;

    if (!bio) {
        return "out of memory";
    }
    infos = PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (!infos) {
        return apr_psprintf(p, "'%s' is not PEM: %s", name, openssl_reason(p));
    }
    for (i = 0; i < sk_X509_INFO_num(infos); i++) {
        X509_INFO *info = sk_X509_INFO_value(infos, i);
        if (certs && info->x509 && X509_STORE_add_cert(store, info->x509)) {
            (*certs)++;
        }
        if (info->crl && X509_STORE_add_crl(store, info->crl)) {
            (*crls)++;
        }
    }
    sk_X509_INFO_pop_free(infos, X509_INFO_free);
    ERR_clear_error();
    return NULL;
}

/* no_crl_for_cert_ok: a certificate whose issuer published no CRL here is
 * not refused for it (as mod_ssl does); every other error stands. */
static int no_crl_ok_cb(int ok, X509_STORE_CTX *ctx)
{
    if (!ok && X509_STORE_CTX_get_error(ctx) == X509_V_ERR_UNABLE_TO_GET_CRL) {
        X509_STORE_CTX_set_error(ctx, X509_V_OK);
        return 1;
    }
    return ok;
}

unsigned long x509a_crl_check_flags(x509a_crl_check check)
{
    /* delta CRLs (deltaCRLIndicator) in the same file complete their base
     * CRL (RFC 5280 5.2.4, 6.3.3): AD CS publishes deltas daily.
     * EXTENDED_CRL_SUPPORT: without it OpenSSL may take a delta as the
     * complete CRL (get_crl_score() skips deltas only with it), and a
     * certificate the base revokes passes; with it, indirect and
     * reason-partitioned CRLs are processed as RFC 5280 says too */
    unsigned long f = X509_V_FLAG_USE_DELTAS | X509_V_FLAG_EXTENDED_CRL_SUPPORT
                      | X509_V_FLAG_CRL_CHECK;

    return check == X509A_CRL_CHECK_LEAF ? f : f | X509_V_FLAG_CRL_CHECK_ALL;
}

/* ------------------------------------------------------------------------ */
/* The verified-signature cache                                             */
/* ------------------------------------------------------------------------ */

/* OpenSSL's own verify (internal_verify) and check_crl, as a fresh store
 * context has them: what the hooks below stand in for, and fall back to. */
static X509_STORE_CTX_verify_fn x509a_openssl_verify;
static X509_STORE_CTX_check_crl_fn x509a_openssl_check_crl;
/* The store-context ex_data slot of a run's state (a slot of our own: the
 * application data is x509a_verify_run_opts.app_data's) */
static int x509a_ctx_idx = -1;

/* State of one x509a_verify_run() with the cache, for the hooks. */
typedef struct {
    trust_gen *gen;
} run_state;

/* Called when a verifier is made (configuration time, one thread; the
 * verifier remembers the answer): non-zero when the hooks can be used. */
static int sig_hooks_init(void)
{
    X509_STORE *store;
    X509_STORE_CTX *ctx;

    if (x509a_ctx_idx < 0) {
        /* no callbacks: nothing of ours runs when a context is freed */
        x509a_ctx_idx = X509_STORE_CTX_get_ex_new_index(0, NULL, NULL, NULL,
                                                        NULL);
    }
    if (!x509a_openssl_verify || !x509a_openssl_check_crl) {
        store = X509_STORE_new();
        ctx = X509_STORE_CTX_new();
        if (store && ctx && X509_STORE_CTX_init(ctx, store, NULL, NULL)) {
            x509a_openssl_verify = X509_STORE_CTX_get_verify(ctx);
            x509a_openssl_check_crl = X509_STORE_CTX_get_check_crl(ctx);
        }
        X509_STORE_CTX_free(ctx);
        X509_STORE_free(store);
        ERR_clear_error();
    }
    return x509a_ctx_idx >= 0 && x509a_openssl_verify
           && x509a_openssl_check_crl;
}

static void gen_release(trust_gen *g)
{
    if (g && apr_atomic_dec32(&g->refs) == 0) {
        X509_STORE_free(g->store);
        apr_pool_destroy(g->pool);
    }
}

static void memo_put(trust_gen *g, const void *obj, const unsigned char d[32])
{
    apr_hash_set(g->memo, apr_pmemdup(g->pool, &obj, sizeof(obj)),
                 sizeof(obj), apr_pmemdup(g->pool, d, 32));
}

/* The cache of @a store (a reference of its own), or NULL when off. */
static trust_gen *gen_create(x509a_verifier *v, X509_STORE *store)
{
    STACK_OF(X509_OBJECT) *objs;
    apr_pool_t *pool;
    trust_gen *g;
    int i;

    if (!v->sig_hooks
        || apr_pool_create_unmanaged_ex(&pool, NULL, NULL) != APR_SUCCESS) {
        return NULL;
    }
    g = apr_pcalloc(pool, sizeof(*g));
    g->pool = pool;
    if (apr_thread_mutex_create(&g->lock, APR_THREAD_MUTEX_DEFAULT, pool)
            != APR_SUCCESS
        || !X509_STORE_up_ref(store)) {
        apr_pool_destroy(pool);
        return NULL;
    }
    g->store = store;
    g->refs = 1;
    g->memo = apr_hash_make(pool);
    g->sigs = apr_hash_make(pool);
    g->slots = apr_palloc(pool, 64 * X509A_SIG_CACHE_MAX);
    /* a new store: no other thread sees it yet */
    objs = X509_STORE_get0_objects(store);
    for (i = 0; objs && i < sk_X509_OBJECT_num(objs); i++) {
        X509_OBJECT *o = sk_X509_OBJECT_value(objs, i);
        unsigned char d[EVP_MAX_MD_SIZE];
        unsigned int len = 0;
        X509 *x = X509_OBJECT_get0_X509(o);
        X509_CRL *crl = X509_OBJECT_get0_X509_CRL(o);

        if (x && X509_digest(x, x509a_sha256(), d, &len) && len == 32) {
            memo_put(g, x, d);
        }
        else if (crl && X509_CRL_digest(crl, x509a_sha256(), d, &len)
                 && len == 32) {
            memo_put(g, crl, d);
        }
    }
    ERR_clear_error();
    return g;
}

/* SHA-256 of the DER of a certificate (@a crl NULL) or of a CRL: from the
 * store's memo, else computed for a certificate (a forwarded
 * intermediate); 0 for a CRL that is not the store's (a fetched one: it
 * may be large, and is not cached). */
static int obj_digest(trust_gen *g, X509 *x, X509_CRL *crl,
                      unsigned char out[32])
{
    const void *obj = x ? (const void *)x : (const void *)crl;
    const unsigned char *d = apr_hash_get(g->memo, &obj, sizeof(obj));
    unsigned int len = 0;

    if (d) {
        memcpy(out, d, 32);
        return 1;
    }
    return x && X509_digest(x, x509a_sha256(), out, &len) && len == 32;
}

static int sig_known(trust_gen *g, const unsigned char key[64])
{
    int found;

    apr_thread_mutex_lock(g->lock);
    found = apr_hash_get(g->sigs, key, 64) != NULL;
    apr_thread_mutex_unlock(g->lock);
    return found;
}

static void sig_add(trust_gen *g, const unsigned char key[64])
{
    apr_thread_mutex_lock(g->lock);
    if (!apr_hash_get(g->sigs, key, 64)) {
        if (g->nsigs == X509A_SIG_CACHE_MAX) {
            /* full (many intermediates): start again */
            apr_hash_clear(g->sigs);
            g->nsigs = 0;
        }
        memcpy(g->slots[g->nsigs], key, 64);
        apr_hash_set(g->sigs, g->slots[g->nsigs], 64, g->slots[g->nsigs]);
        g->nsigs++;
    }
    apr_thread_mutex_unlock(g->lock);
}

/* Inform the verify callback of an error at @a depth about @a x (as
 * OpenSSL's verify_cb_cert()); 0: stop. */
static int cb_cert(X509_STORE_CTX *ctx, X509 *x, int depth, int err)
{
    X509_STORE_CTX_set_error_depth(ctx, depth);
    X509_STORE_CTX_set_current_cert(ctx, x);
    if (err != X509_V_OK) {
        X509_STORE_CTX_set_error(ctx, err);
    }
    return X509_STORE_CTX_get_verify_cb(ctx)(0, ctx);
}

/* Validity dates of @a x at @a depth, callback on each error (as OpenSSL's
 * ossl_x509_check_cert_time() with depth >= 0). */
static int check_cert_time(X509_STORE_CTX *ctx, X509 *x, int depth)
{
    X509_VERIFY_PARAM *vpm = X509_STORE_CTX_get0_param(ctx);
    unsigned long flags = X509_VERIFY_PARAM_get_flags(vpm);
    time_t at, *ptime = NULL;
    int i;

    if (flags & X509_V_FLAG_USE_CHECK_TIME) {
        at = X509_VERIFY_PARAM_get_time(vpm);
        ptime = &at;
    }
    else if (flags & X509_V_FLAG_NO_CHECK_TIME) {
        return 1;
    }
    i = X509_cmp_time(X509_get0_notBefore(x), ptime);
    if (i == 0 && !cb_cert(ctx, x, depth,
                           X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD)) {
        return 0;
    }
    if (i > 0 && !cb_cert(ctx, x, depth, X509_V_ERR_CERT_NOT_YET_VALID)) {
        return 0;
    }
    i = X509_cmp_time(X509_get0_notAfter(x), ptime);
    if (i == 0 && !cb_cert(ctx, x, depth,
                           X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD)) {
        return 0;
    }
    if (i < 0 && !cb_cert(ctx, x, depth, X509_V_ERR_CERT_HAS_EXPIRED)) {
        return 0;
    }
    return 1;
}

/* May @a issuer's key usage sign @a subject (RFC 5280 6.1.4 (n); as
 * OpenSSL's ossl_x509_signing_allowed())?  X509_get_key_usage() is all
 * ones without the extension. */
static int signing_allowed(X509 *issuer, X509 *subject)
{
    uint32_t ku = X509_get_key_usage(issuer);

    if (X509_get_extension_flags(subject) & EXFLAG_PROXY) {
        return ku & KU_DIGITAL_SIGNATURE
               ? X509_V_OK : X509_V_ERR_KEYUSAGE_NO_DIGITAL_SIGNATURE;
    }
    return ku & KU_KEY_CERT_SIGN ? X509_V_OK : X509_V_ERR_KEYUSAGE_NO_CERTSIGN;
}

/* Does @a xs (at @a depth) verify under @a pkey, @a xi's key?  Cached for
 * every certificate but the leaf, by the digests of both. */
static int cert_sig_ok(trust_gen *g, X509 *xs, X509 *xi, EVP_PKEY *pkey,
                       int depth)
{
    unsigned char key[64];
    int cacheable = depth > 0 && obj_digest(g, xs, NULL, key)
                    && obj_digest(g, xi, NULL, key + 32);

    if (cacheable && sig_known(g, key)) {
        return 1;
    }
    if (X509_verify(xs, pkey) <= 0) {
        return 0;
    }
    if (cacheable) {
        sig_add(g, key);
    }
    return 1;
}

/* OpenSSL 3.0's internal_verify() (issuer signatures and validity dates
 * of the chain, top down, the verify callback told of each error and of
 * each depth done), but for a signature found in the cache, which is not
 * computed again.  Differences: DANE is not supported (never enabled
 * here), and the context's current issuer is not set at each depth (no
 * public setter; nothing this module runs reads it).  A chain holding a
 * certificate whose extensions OpenSSL could not read is left to OpenSSL's
 * own (the flags below would not say what it sees). */
static int verify_hook(X509_STORE_CTX *ctx)
{
    run_state *st = X509_STORE_CTX_get_ex_data(ctx, x509a_ctx_idx);
    STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(ctx);
    X509_STORE_CTX_verify_cb cb = X509_STORE_CTX_get_verify_cb(ctx);
    unsigned long flags = X509_VERIFY_PARAM_get_flags(
        X509_STORE_CTX_get0_param(ctx));
    X509 *xi, *xs;
    int n = sk_X509_num(chain) - 1, i;

    for (i = 0; st && i <= n; i++) {
        if (X509_get_extension_flags(sk_X509_value(chain, i))
            & EXFLAG_INVALID) {
            st = NULL;
        }
    }
    if (!st || n < 0) {
        return x509a_openssl_verify(ctx);
    }
    xi = xs = sk_X509_value(chain, n);
    X509_STORE_CTX_set_error_depth(ctx, n);
    /* the top is not self-signed (EXFLAG_SS is OpenSSL's "likely issued
     * by itself"): it is not checked, its subject is */
    if (!(X509_get_extension_flags(xi) & EXFLAG_SS)
        && !(flags & X509_V_FLAG_PARTIAL_CHAIN)) {
        if (n > 0) {
            n--;
            X509_STORE_CTX_set_error_depth(ctx, n);
            xs = sk_X509_value(chain, n);
        }
        else if (!cb_cert(ctx, xi, 0,
                          X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE)) {
            return 0;
        }
    }
    /* errors stay set: only the callback may clear them */
    while (n >= 0) {
        /* a self-signature only when asked for */
        if (xs != xi || ((flags & X509_V_FLAG_CHECK_SS_SIGNATURE)
                         && (X509_get_extension_flags(xi) & EXFLAG_SS))) {
            EVP_PKEY *pkey;
            /* the issuer's key and key usage are the issuer's errors */
            int issuer_depth = n + (xs == xi ? 0 : 1);
            /* a self-issued end-entity top is no CA (RFC 6818 2) */
            int ret = xs == xi
                      && !(X509_get_extension_flags(xi) & EXFLAG_CA)
                      ? X509_V_OK : signing_allowed(xi, xs);

            if (ret != X509_V_OK && !cb_cert(ctx, xi, issuer_depth, ret)) {
                return 0;
            }
            if ((pkey = X509_get0_pubkey(xi)) == NULL) {
                if (!cb_cert(ctx, xi, issuer_depth,
                             X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY)) {
                    return 0;
                }
            }
            else if (!cert_sig_ok(st->gen, xs, xi, pkey, n)
                     && !cb_cert(ctx, xs, n,
                                 X509_V_ERR_CERT_SIGNATURE_FAILURE)) {
                return 0;
            }
        }
        if (!check_cert_time(ctx, xs, n)) {
            return 0;
        }
        /* this depth is done (an earlier error, if any, stays) */
        X509_STORE_CTX_set_current_cert(ctx, xs);
        X509_STORE_CTX_set_error_depth(ctx, n);
        if (!cb(1, ctx)) {
            return 0;
        }
        if (--n >= 0) {
            xi = xs;
            xs = sk_X509_value(chain, n);
        }
    }
    return 1;
}

/* The dates of @a crl pass, with no callback: lastUpdate past, nextUpdate
 * (if any) to come (stricter than OpenSSL's check_crl_time(), which may
 * accept an expired base CRL with a valid delta: such a CRL is left to
 * OpenSSL). */
static int crl_time_ok(X509_STORE_CTX *ctx, X509_CRL *crl)
{
    X509_VERIFY_PARAM *vpm = X509_STORE_CTX_get0_param(ctx);
    unsigned long flags = X509_VERIFY_PARAM_get_flags(vpm);
    const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);
    time_t at, *ptime = NULL;

    if (flags & X509_V_FLAG_USE_CHECK_TIME) {
        at = X509_VERIFY_PARAM_get_time(vpm);
        ptime = &at;
    }
    else if (flags & X509_V_FLAG_NO_CHECK_TIME) {
        return 1;
    }
    return X509_cmp_time(X509_CRL_get0_lastUpdate(crl), ptime) < 0
           && (!next || X509_cmp_time(next, ptime) > 0);
}

/*
 * OpenSSL's check_crl() but for the signature, when the cache knows it.
 * check_crl() depends on the score OpenSSL gave the CRL when it chose it,
 * which is not public; it is only skipped where every one of its checks
 * provably passes: the CRL comes from the store (so its digest is known),
 * has no issuingDistributionPoint (so its scope is the issuer's: OpenSSL
 * scores it in scope), names the certificate's issuer and was chosen with
 * the next certificate of the path as its issuer (so OpenSSL found that
 * issuer on the path and needs no CRL path), which may sign CRLs, its
 * dates (of the base CRL, for a delta) are good and Suite B has nothing
 * against it.  Anything else, and every failure, is OpenSSL's check_crl()
 * as it is, callbacks included.  Which CRL is chosen, deltas and the
 * revocation status (cert_crl) stay OpenSSL's on every verification.
 */
static int check_crl_hook(X509_STORE_CTX *ctx, X509_CRL *crl)
{
    run_state *st = x509a_ctx_idx >= 0
                    ? X509_STORE_CTX_get_ex_data(ctx, x509a_ctx_idx) : NULL;
    STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(ctx);
    int cnum = X509_STORE_CTX_get_error_depth(ctx);
    int chnum = sk_X509_num(chain) - 1;
    X509 *x, *issuer = X509_STORE_CTX_get0_current_issuer(ctx);
    X509_CRL *base = crl;
    EVP_PKEY *ikey;
    unsigned char key[64];
    int crit;

    if (!st || cnum < 0 || cnum > chnum || !issuer
        || issuer != sk_X509_value(chain, cnum < chnum ? cnum + 1 : chnum)
        || (x = sk_X509_value(chain, cnum)) != X509_STORE_CTX_get_current_cert(
                                                   ctx)
        || X509_CRL_get_ext_by_NID(crl, NID_issuing_distribution_point, -1)
           >= 0
        || X509_NAME_cmp(X509_get_issuer_name(x), X509_CRL_get_issuer(crl))
        || !(X509_get_key_usage(issuer) & KU_CRL_SIGN)
        || !(ikey = X509_get0_pubkey(issuer))
        || X509_CRL_check_suiteb(crl, ikey, X509_VERIFY_PARAM_get_flags(
                                     X509_STORE_CTX_get0_param(ctx)))
           != X509_V_OK
        || !obj_digest(st->gen, NULL, crl, key)
        || !obj_digest(st->gen, issuer, NULL, key + 32)) {
        return x509a_openssl_check_crl(ctx, crl);
    }
    if (X509_CRL_get_ext_by_NID(crl, NID_delta_crl, -1) >= 0) {
        /* a delta: OpenSSL checks its dates only when its base's failed
         * (the base is the current CRL) */
        ASN1_INTEGER *base_number = X509_CRL_get_ext_d2i(crl, NID_delta_crl,
                                                         &crit, NULL);

        if (!base_number) {
            return x509a_openssl_check_crl(ctx, crl);
        }
        ASN1_INTEGER_free(base_number);
        base = X509_STORE_CTX_get0_current_crl(ctx);
        if (!base || X509_CRL_get_ext_by_NID(base, NID_delta_crl, -1) >= 0) {
            return x509a_openssl_check_crl(ctx, crl);
        }
    }
    if (!crl_time_ok(ctx, base)) {
        return x509a_openssl_check_crl(ctx, crl);
    }
    if (sig_known(st->gen, key)) {
        return 1;
    }
    ERR_set_mark();
    if (X509_CRL_verify(crl, ikey) > 0) {
        ERR_pop_to_mark();
        sig_add(st->gen, key);
        return 1;
    }
    ERR_pop_to_mark();
    return x509a_openssl_check_crl(ctx, crl);
}

/* A new store from the settings; the CRL file's identity and the digest
 * are recorded for the caller to commit. */
static const char *build_store(x509a_verifier *v, apr_pool_t *tmp,
                               X509_STORE **out, unsigned char digest[32],
                               apr_finfo_t *crl_info)
{
    X509_STORE *store = X509_STORE_new();
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    const char *err = NULL;
    int certs = 0, crls = 0;
    unsigned int mdlen;

    if (!store || !md) {
        err = "out of memory";
        goto done;
    }
    EVP_DigestInit_ex(md, x509a_sha256(), NULL);
    EVP_DigestUpdate(md, v->base_digest, sizeof(v->base_digest));
    if (v->conf.ca_file) {
        /* the bytes read at startup, which the settings digest covers */
        if ((err = add_pem(tmp, store, v->conf.ca_file, v->ca_data, v->ca_len,
                           &certs, &crls))) {
            goto done;
        }
        if (certs == 0) {
            err = apr_psprintf(tmp, "'%s' holds no PEM certificate",
                               v->conf.ca_file);
            goto done;
        }
    }
    v->ca_certs = certs;
    if (v->conf.ca_path && !X509_STORE_load_path(store, v->conf.ca_path)) {
        err = apr_psprintf(tmp, "cannot use CA directory '%s': %s",
                           v->conf.ca_path, openssl_reason(tmp));
        goto done;
    }
    if (v->conf.crl_file) {
        char *data;
        apr_size_t len;

        crls = 0;
        if ((err = read_file(tmp, v->conf.crl_file, &data, &len, crl_info))
            || (err = add_pem(tmp, store, v->conf.crl_file, data, len, NULL,
                              &crls))) {
            goto done;
        }
        if (crls == 0) {
            err = apr_psprintf(tmp, "'%s' holds no PEM CRL", v->conf.crl_file);
            goto done;
        }
        EVP_DigestUpdate(md, data, len);
        X509_STORE_set_flags(store, x509a_crl_check_flags(v->conf.crl_check));
        if (v->conf.no_crl_ok) {
            X509_STORE_set_verify_cb(store, no_crl_ok_cb);
        }
    }
    X509_STORE_set_purpose(store, X509_PURPOSE_SSL_CLIENT);
    if (v->sig_hooks) {
        /* CRL signatures known to the cache are not checked again; the
         * store's: check_crl cannot be set on a store context */
        X509_STORE_set_check_crl(store, check_crl_hook);
    }
    if (v->conf.depth >= 0) {
        X509_STORE_set_depth(store, v->conf.depth);
    }
    EVP_DigestFinal_ex(md, digest, &mdlen);

done:
    EVP_MD_CTX_free(md);
    if (err) {
        X509_STORE_free(store);
        store = NULL;
    }
    *out = store;
    return err;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The names and contents of a CA directory's files, in name order: servers
 * sharing a cache must not share results for different trust anchors. */
static const char *digest_dir(apr_pool_t *p, EVP_MD_CTX *md, const char *path)
{
    apr_dir_t *dir;
    apr_finfo_t fi;
    apr_array_header_t *names = apr_array_make(p, 16, sizeof(const char *));
    char errbuf[128];
    apr_status_t rv;
    int i;

    if ((rv = apr_dir_open(&dir, path, p)) != APR_SUCCESS) {
        return apr_psprintf(p, "cannot read directory '%s': %s", path,
                            apr_strerror(rv, errbuf, sizeof(errbuf)));
    }
    while (apr_dir_read(&fi, APR_FINFO_NAME | APR_FINFO_TYPE, dir)
           == APR_SUCCESS) {
        if (fi.filetype == APR_REG || fi.filetype == APR_LNK) {
            APR_ARRAY_PUSH(names, const char *) = apr_pstrdup(p, fi.name);
        }
    }
    apr_dir_close(dir);
    qsort(names->elts, names->nelts, sizeof(const char *), name_cmp);
    EVP_DigestUpdate(md, path, strlen(path) + 1);
    for (i = 0; i < names->nelts; i++) {
        const char *name = APR_ARRAY_IDX(names, i, const char *);
        char *data;
        apr_size_t len;

        if (read_file(p, apr_pstrcat(p, path, "/", name, NULL), &data, &len,
                      &fi) == NULL) {
            EVP_DigestUpdate(md, name, strlen(name) + 1);
            EVP_DigestUpdate(md, data, len);
        }
    }
    return NULL;
}

static apr_status_t free_chain(void *data)
{
    sk_X509_pop_free(data, X509_free);
    return APR_SUCCESS;
}

static apr_status_t verifier_cleanup(void *data)
{
    x509a_verifier *v = data;

    gen_release(v->gen);
    v->gen = NULL;
    X509_STORE_free(v->store);
    v->store = NULL;
    return APR_SUCCESS;
}

const char *x509a_verifier_create(apr_pool_t *p, const x509a_verify_conf *conf,
                                  x509a_verifier **out)
{
    x509a_verifier *v = apr_pcalloc(p, sizeof(*v));
    EVP_MD_CTX *md;
    apr_finfo_t crl_info;
    apr_pool_t *tmp;
    const char *err;
    unsigned int mdlen;

    if (!conf->ca_file && !conf->ca_path) {
        return "no CA certificates configured";
    }
    v->pool = p;
    v->conf.ca_file = conf->ca_file ? apr_pstrdup(p, conf->ca_file) : NULL;
    v->conf.ca_path = conf->ca_path ? apr_pstrdup(p, conf->ca_path) : NULL;
    v->conf.crl_file = conf->crl_file ? apr_pstrdup(p, conf->crl_file) : NULL;
    v->conf.depth = conf->depth;
    v->conf.crl_check = conf->crl_check;
    v->conf.no_crl_ok = conf->no_crl_ok;
    v->conf.sig_cache_off = conf->sig_cache_off;
    v->sig_hooks = !conf->sig_cache_off && sig_hooks_init();
    /* "none": no CRL checks, whatever the file says */
    if (conf->crl_check == X509A_CRL_CHECK_NONE) {
        v->conf.crl_file = NULL;
    }
    if (apr_thread_mutex_create(&v->lock, APR_THREAD_MUTEX_DEFAULT, p)
        != APR_SUCCESS) {
        return "cannot create a mutex";
    }

    /* what does not change while running: CA bytes, directory, depth */
    apr_pool_create(&tmp, p);
    md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, x509a_sha256(), NULL);
    EVP_DigestUpdate(md, "x509a-verify-3 purpose=sslclient deltas ext", 43);
    EVP_DigestUpdate(md, &v->conf.depth, sizeof(v->conf.depth));
    {
        /* CRL checks: which certificates, and whether a missing CRL is
         * fine (the default "chain" adds nothing: digests stay as before) */
        char mode[32];

        if (v->conf.crl_check != X509A_CRL_CHECK_CHAIN || v->conf.no_crl_ok) {
            apr_snprintf(mode, sizeof(mode), " crl-check=%d,%d",
                         (int)v->conf.crl_check, v->conf.no_crl_ok);
            EVP_DigestUpdate(md, mode, strlen(mode));
        }
    }
    if (v->conf.ca_file) {
        char *data;
        apr_finfo_t fi;
        if ((err = read_file(p, v->conf.ca_file, &data, &v->ca_len, &fi))) {
            EVP_MD_CTX_free(md);
            apr_pool_destroy(tmp);
            return err;
        }
        /* a private key where trust anchors belong: the wrong file, and a
         * key now readable by whoever reads the configuration's files */
        if (memchr(data, '\0', v->ca_len) == NULL
            && strstr(data, "PRIVATE KEY-----") != NULL) {
            EVP_MD_CTX_free(md);
            apr_pool_destroy(tmp);
            return apr_psprintf(p, "'%s' holds a private key: give it the CA "
                                "certificates only, and keep the key out of "
                                "it", v->conf.ca_file);
        }
        v->ca_data = data;
        EVP_DigestUpdate(md, data, v->ca_len);
    }
    if (v->conf.ca_path && (err = digest_dir(tmp, md, v->conf.ca_path))) {
        EVP_MD_CTX_free(md);
        apr_pool_destroy(tmp);
        return err;
    }
    EVP_DigestFinal_ex(md, v->base_digest, &mdlen);
    EVP_MD_CTX_free(md);

    memset(&crl_info, 0, sizeof(crl_info));
    err = build_store(v, tmp, &v->store, v->digest, &crl_info);
    if (err) {
        err = apr_pstrdup(p, err);
        apr_pool_destroy(tmp);
        return err;
    }
    apr_pool_destroy(tmp);
    v->gen = gen_create(v, v->store);
    v->crl_mtime = crl_info.mtime;
    v->crl_size = crl_info.size;
    v->crl_inode = crl_info.inode;
    v->ca_loaded_at = v->crl_loaded_at = apr_time_now();
    v->generation = 1;
    apr_pool_cleanup_register(p, v, verifier_cleanup, apr_pool_cleanup_null);
    *out = v;
    return NULL;
}

const char *x509a_verifier_refresh(x509a_verifier *v, apr_time_t now,
                                   int *reloaded)
{
    apr_finfo_t fi;
    apr_pool_t *tmp;
    X509_STORE *store, *old;
    trust_gen *old_gen;
    unsigned char digest[32];
    const char *err;
    int was_broken;

    if (reloaded) {
        *reloaded = 0;
    }
    if (!v->conf.crl_file) {
        return NULL;
    }
    /* the common case, without the lock: looked less than a second ago */
    if ((apr_uint64_t)now < apr_atomic_read64(&v->next_check)) {
        return NULL;
    }
    /* One thread looks, and the threads that come meanwhile wait for its
     * answer instead of deciding with the store it may be replacing: a
     * decision made after a check has passed uses what the check found. */
    apr_thread_mutex_lock(v->lock);
    if ((apr_uint64_t)now < v->next_check) {
        apr_thread_mutex_unlock(v->lock);
        return NULL;
    }
    was_broken = v->broken != NULL;
    err = NULL;
    if (apr_stat(&fi, v->conf.crl_file, APR_FINFO_MTIME | APR_FINFO_SIZE
                                        | APR_FINFO_INODE, v->pool)
            != APR_SUCCESS
        || fi.mtime != v->crl_mtime || fi.size != v->crl_size
        || fi.inode != v->crl_inode || was_broken) {
        if (apr_pool_create_unmanaged_ex(&tmp, NULL, NULL) != APR_SUCCESS) {
            apr_thread_mutex_unlock(v->lock);
            return "out of memory";
        }
        memset(&fi, 0, sizeof(fi));
        err = build_store(v, tmp, &store, digest, &fi);
        if (err) {
            /* fail closed until the file is repaired */
            int first = v->broken == NULL;
            /* a fixed buffer: this repeats every second while broken */
            apr_snprintf(v->broken_buf, sizeof(v->broken_buf),
                         "CRL file unusable: %s", err);
            v->broken = v->broken_buf;
            apr_atomic_set32(&v->is_broken, 1);
            err = first ? apr_pstrdup(v->pool, v->broken) : NULL;
            old = NULL;
            old_gen = NULL;
        }
        else {
            old = v->store;
            old_gen = v->gen;
            v->store = store;
            /* the signatures verified under the old store go with it */
            v->gen = gen_create(v, store);
            v->broken = NULL;
            apr_atomic_set32(&v->is_broken, 0);
            memcpy(v->digest, digest, sizeof(digest));
            v->crl_mtime = fi.mtime;
            v->crl_size = fi.size;
            v->crl_inode = fi.inode;
            v->crl_loaded_at = now;
            apr_atomic_inc32(&v->generation);
            if (reloaded) {
                *reloaded = 1;
            }
        }
        apr_atomic_set64(&v->next_check,
                         (apr_uint64_t)(now + apr_time_from_sec(1)));
        apr_thread_mutex_unlock(v->lock);
        X509_STORE_free(old);
        gen_release(old_gen);
        apr_pool_destroy(tmp);
        return err;
    }
    apr_atomic_set64(&v->next_check,
                     (apr_uint64_t)(now + apr_time_from_sec(1)));
    apr_thread_mutex_unlock(v->lock);
    return NULL;
}

const char *x509a_verifier_broken(x509a_verifier *v, apr_pool_t *p)
{
    const char *why = NULL;

    if (apr_atomic_read32(&v->is_broken)) {
        apr_thread_mutex_lock(v->lock);
        if (v->broken) {
            why = apr_pstrdup(p, v->broken);
        }
        apr_thread_mutex_unlock(v->lock);
    }
    return why;
}

apr_time_t x509a_crl_bound(X509_STORE_CTX *ctx, STACK_OF(X509) *chain)
{
    apr_time_t bound = APR_INT64_MAX;
    int i, j, n = chain ? sk_X509_num(chain) : 0;

    /* without CRL_CHECK_ALL, OpenSSL looks at the leaf's CRL only */
    if (n > 1 && !(X509_VERIFY_PARAM_get_flags(X509_STORE_CTX_get0_param(ctx))
                   & X509_V_FLAG_CRL_CHECK_ALL)) {
        n = 1;
    }
    for (i = 0; i < n; i++) {
        STACK_OF(X509_CRL) *crls = X509_STORE_CTX_get1_crls(
            ctx, X509_get_issuer_name(sk_X509_value(chain, i)));

        for (j = 0; crls && j < sk_X509_CRL_num(crls); j++) {
            const ASN1_TIME *next = X509_CRL_get0_nextUpdate(
                sk_X509_CRL_value(crls, j));
            apr_time_t next_time;

            /* no nextUpdate: no bound from this CRL */
            if (!next) {
                continue;
            }
            /* unreadable (0): bound the verdict to now (not cached) */
            next_time = x509a_time(next);
            if (next_time < bound) {
                bound = next_time;
            }
        }
        sk_X509_CRL_pop_free(crls, X509_CRL_free);
    }
    return bound;
}

int x509a_verify_run(x509a_verifier *v, X509_STORE *store, apr_pool_t *p,
                     X509 *leaf, STACK_OF(X509) *untrusted,
                     const x509a_verify_run_opts *opts,
                     STACK_OF(X509) **chain, const char **why,
                     x509a_verify_info *info)
{
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    X509_VERIFY_PARAM *param;
    run_state st;
    int ok = 0;

    info->crl_next_update = APR_INT64_MAX;
    info->transient = 0;
    info->error = X509_V_OK;
    info->error_depth = 0;
    info->reason = NULL;
    if (!ctx || !X509_STORE_CTX_init(ctx, store, leaf, untrusted)) {
        X509_STORE_CTX_free(ctx);
        ERR_clear_error();
        *why = "out of memory";
        info->transient = 1;
        info->reason = X509A_REASON_INTERNAL;
        return 0;
    }
    param = X509_STORE_CTX_get0_param(ctx);
    if (opts->clear_flags) {
        X509_VERIFY_PARAM_clear_flags(param, opts->clear_flags);
    }
    if (opts->set_flags) {
        X509_VERIFY_PARAM_set_flags(param, opts->set_flags);
    }
    if (opts->crls) {
        X509_STORE_CTX_set0_crls(ctx, opts->crls);
    }
    if (opts->policies && !X509_VERIFY_PARAM_set1_policies(param,
                                                           opts->policies)) {
        X509_STORE_CTX_free(ctx);
        ERR_clear_error();
        *why = "out of memory";
        info->transient = 1;
        info->reason = X509A_REASON_INTERNAL;
        return 0;
    }
    if (opts->app_data) {
        X509_STORE_CTX_set_app_data(ctx, opts->app_data);
    }
    if (opts->verify_cb) {
        X509_STORE_CTX_set_verify_cb(ctx, opts->verify_cb);
    }
    /* the signature cache of this store, if it is the current one (a
     * verification that began before a reload goes without) */
    st.gen = NULL;
    apr_thread_mutex_lock(v->lock);
    if (v->gen && v->gen->store == store) {
        st.gen = v->gen;
        apr_atomic_inc32(&st.gen->refs);
    }
    apr_thread_mutex_unlock(v->lock);
    if (st.gen && X509_STORE_CTX_set_ex_data(ctx, x509a_ctx_idx, &st)) {
        X509_STORE_CTX_set_verify(ctx, verify_hook);
    }
    if (X509_verify_cert(ctx) > 0) {
        ok = 1;
        if (chain) {
            *chain = X509_STORE_CTX_get1_chain(ctx);
            apr_pool_cleanup_register(p, *chain, free_chain,
                                      apr_pool_cleanup_null);
        }
    }
    else {
        int e = X509_STORE_CTX_get_error(ctx);

        info->error = e;
        info->error_depth = X509_STORE_CTX_get_error_depth(ctx);
        *why = apr_psprintf(p, "verification failed at depth %d: %s",
                            info->error_depth,
                            X509_verify_cert_error_string(e));
        info->reason = x509a_reason_of_verify_error(e, info->error_depth);
        /* not a property of the certificate: a retry may succeed */
        info->transient = e == X509_V_ERR_OUT_OF_MEM
                          || e == X509_V_ERR_UNSPECIFIED
                          || e == X509_V_ERR_STORE_LOOKUP;
    }
    if (opts->crl_bound) {
        info->crl_next_update = x509a_crl_bound(ctx,
                                                X509_STORE_CTX_get0_chain(ctx));
    }
    ERR_clear_error();
    X509_STORE_CTX_free(ctx);
    gen_release(st.gen);
    return ok;
}

int x509a_verifier_check(x509a_verifier *v, apr_pool_t *p, X509 *leaf,
                         STACK_OF(X509) *untrusted, STACK_OF(X509) **verified,
                         const char **why, x509a_verify_info *info)
{
    X509_STORE *store;
    x509a_verify_info dummy;
    x509a_verify_run_opts opts;
    int ok;

    if (!info) {
        info = &dummy;
    }
    info->crl_next_update = APR_INT64_MAX;
    info->transient = 0;
    info->error = X509_V_OK;
    info->error_depth = 0;
    info->reason = NULL;
    apr_thread_mutex_lock(v->lock);
    memcpy(info->settings_digest, v->digest, sizeof(info->settings_digest));
    if (v->broken) {
        *why = apr_pstrdup(p, v->broken);
        info->transient = 1;
        /* the CRL file is unusable: nobody's revocation is known */
        info->reason = X509A_REASON_REVOCATION_UNKNOWN;
        apr_thread_mutex_unlock(v->lock);
        return 0;
    }
    store = v->store;
    X509_STORE_up_ref(store);
    apr_thread_mutex_unlock(v->lock);

    memset(&opts, 0, sizeof(opts));
    opts.crl_bound = v->conf.crl_file != NULL;
    ok = x509a_verify_run(v, store, p, leaf, untrusted, &opts, verified, why,
                          info);
    X509_STORE_free(store);
    return ok;
}

int x509a_verifier_verify(x509a_verifier *v, apr_pool_t *p, X509 *leaf,
                          STACK_OF(X509) *untrusted, STACK_OF(X509) **verified,
                          const char **why)
{
    return x509a_verifier_check(v, p, leaf, untrusted, verified, why, NULL);
}

void x509a_verifier_settings_digest(x509a_verifier *v, unsigned char out[32])
{
    apr_thread_mutex_lock(v->lock);
    memcpy(out, v->digest, 32);
    apr_thread_mutex_unlock(v->lock);
}

int x509a_verifier_sig_cache_entries(x509a_verifier *v)
{
    int n = -1;

    apr_thread_mutex_lock(v->lock);
    if (v->gen) {
        apr_thread_mutex_lock(v->gen->lock);
        n = v->gen->nsigs;
        apr_thread_mutex_unlock(v->gen->lock);
    }
    apr_thread_mutex_unlock(v->lock);
    return n;
}

unsigned int x509a_verifier_generation(x509a_verifier *v)
{
    return apr_atomic_read32(&v->generation);
}

X509_STORE *x509a_verifier_store(x509a_verifier *v)
{
    X509_STORE *store = NULL;

    apr_thread_mutex_lock(v->lock);
    if (!v->broken && v->store && X509_STORE_up_ref(v->store)) {
        store = v->store;
    }
    apr_thread_mutex_unlock(v->lock);
    return store;
}

const x509a_verify_conf *x509a_verifier_conf(x509a_verifier *v)
{
    return &v->conf;
}


void x509a_verifier_health_get(x509a_verifier *v, apr_pool_t *p,
                               x509a_verifier_health *h)
{
    X509_STORE *store;
    STACK_OF(X509_OBJECT) *objs;
    int i;

    memset(h, 0, sizeof(*h));
    h->ca_file = v->conf.ca_file;
    h->ca_certs = v->ca_certs;
    h->ca_loaded_at = v->ca_loaded_at;
    h->ca_path = v->conf.ca_path;
    h->crl_file = v->conf.crl_file;
    h->crls = apr_array_make(p, 4, sizeof(x509a_crl_health));
    apr_thread_mutex_lock(v->lock);
    h->crl_loaded_at = v->crl_loaded_at;
    h->crl_mtime = v->crl_mtime;
    h->broken = v->broken ? apr_pstrdup(p, v->broken) : NULL;
    store = v->store;
    X509_STORE_up_ref(store);
    apr_thread_mutex_unlock(v->lock);

    /* the store's lock: a CA directory's look-ups add to its objects */
    X509_STORE_lock(store);
    objs = X509_STORE_get0_objects(store);
    for (i = 0; objs && i < sk_X509_OBJECT_num(objs); i++) {
        X509_OBJECT *o = sk_X509_OBJECT_value(objs, i);
        X509_CRL *crl;
        x509a_crl_health *c;

        if (X509_OBJECT_get_type(o) != X509_LU_CRL
            || !(crl = X509_OBJECT_get0_X509_CRL(o))) {
            continue;
        }
        c = apr_array_push(h->crls);
        c->issuer = x509a_print_name(p, X509_CRL_get_issuer(crl), 0);
        c->this_update = x509a_time(X509_CRL_get0_lastUpdate(crl));
        c->next_update = x509a_time(X509_CRL_get0_nextUpdate(crl));
        c->entries = sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl));
        if (c->entries < 0) {
            c->entries = 0;
        }
        c->delta = X509_CRL_get_ext_by_NID(crl, NID_delta_crl, -1) >= 0;
    }
    X509_STORE_unlock(store);
    X509_STORE_free(store);
}
