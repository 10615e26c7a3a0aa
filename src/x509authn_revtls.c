/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/*
 * X509AuthnRevocationTLS: revocation of client certificates that mod_ssl
 * verified, by the server's X509AuthnCRLFetch and X509AuthnOCSP settings
 * (mod_ssl never fetches CRLs).  mod_ssl's trust store is not ours to
 * read, so the chain is verified again with X509AuthnCACertificateFile: with
 * the fetched CRLs, and to learn each certificate's issuer for OCSP.  A
 * resumed session brings no peer chain: the intermediates then come from
 * that file.
 *
 * Verdicts are kept per process (not with the connection: they depend on
 * the server's settings and on time), keyed by the certificate, the
 * certificates the client sent and a digest of everything the verdict
 * depends on (trust store and CRL file contents, the fetched CRLs held, the
 * OCSP settings, soft fail), until the revocation data they were decided
 * with expire, refusals at most X509AUTHN_MAX_FAILURE_TTL, and transient
 * failures not at all.  X509AuthnCacheEntries 0 keeps none.
 */

#include "x509authn.h"

#include "apr_hash.h"
#include "apr_strings.h"

#include <openssl/evp.h>

APLOG_USE_MODULE(x509authn);

#define MEMO_KEY_LEN 64

typedef struct {
    unsigned char key[MEMO_KEY_LEN];
    int ok;
    const char *error;          /* a static X509A_REASON_* token */
    char why[256];
    apr_time_t until;
} revtls_memo;

static apr_hash_t *memo;
static apr_pool_t *memo_pool;
static apr_thread_mutex_t *memo_lock;
static int memo_max;

void x509authn_revtls_child_init(apr_pool_t *pchild)
{
    memo_max = x509authn_global.entries;
    if (memo_max <= 0
        || apr_pool_create(&memo_pool, pchild) != APR_SUCCESS
        || apr_thread_mutex_create(&memo_lock, APR_THREAD_MUTEX_DEFAULT,
                                   pchild) != APR_SUCCESS) {
        memo = NULL;
        return;
    }
    memo = apr_hash_make(memo_pool);
}

/* The memo key: SHA-256 over the SHA-1 of the certificate and of the ones
 * the client sent (OpenSSL's cached hashes: nothing is hashed again per
 * request; all of them were verified by mod_ssl), then the settings
 * digest. */
static int memo_key(X509 *leaf, STACK_OF(X509) *sent,
                    const unsigned char settings[32],
                    unsigned char key[MEMO_KEY_LEN])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int len;
    /* sk_X509_num(NULL) is -1: a resumed session sent none */
    int i, n = sent ? sk_X509_num(sent) : 0;
    int ok = md != NULL && EVP_DigestInit_ex(md, x509a_sha256(), NULL);

    for (i = -1; ok && i < n; i++) {
        ok = X509_digest(i < 0 ? leaf : sk_X509_value(sent, i), EVP_sha1(),
                         d, &len)
             && EVP_DigestUpdate(md, d, len);
    }
    ok = ok && EVP_DigestFinal_ex(md, key, &len);
    EVP_MD_CTX_free(md);
    memcpy(key + 32, settings, 32);
    return ok;
}

static int memo_get(const unsigned char *key, apr_time_t now,
                    revtls_memo *out)
{
    revtls_memo *m;
    int found = 0;

    if (!memo) {
        return 0;
    }
    apr_thread_mutex_lock(memo_lock);
    m = apr_hash_get(memo, key, MEMO_KEY_LEN);
    if (m && now < m->until) {
        *out = *m;
        found = 1;
    }
    apr_thread_mutex_unlock(memo_lock);
    return found;
}

static void memo_put(const revtls_memo *v)
{
    revtls_memo *m;

    if (!memo) {
        return;
    }
    apr_thread_mutex_lock(memo_lock);
    if ((int)apr_hash_count(memo) >= memo_max
        && !apr_hash_get(memo, v->key, MEMO_KEY_LEN)) {
        /* full: start again (verdicts are cheap to learn again, and a
         * bounded pool matters more than the hit rate of a full table) */
        apr_pool_clear(memo_pool);
        memo = apr_hash_make(memo_pool);
    }
    m = apr_hash_get(memo, v->key, MEMO_KEY_LEN);
    if (!m) {
        m = apr_palloc(memo_pool, sizeof(*m));
        *m = *v;
        apr_hash_set(memo, m->key, MEMO_KEY_LEN, m);
    }
    else {
        *m = *v;
    }
    apr_thread_mutex_unlock(memo_lock);
}

/* Verify again with our trust store (and the fetched CRLs), then ask OCSP;
 * the verdict in *v, *keep set when it may be kept. */
static void decide(request_rec *r, const x509authn_srv_conf *sc, X509 *leaf,
                   STACK_OF(X509) *sent, apr_time_t now, revtls_memo *v,
                   int *keep)
{
    STACK_OF(X509) *untrusted = sent, *verified = NULL;
    x509a_verify_info info;
    x509a_crlfetch_info finfo;
    apr_time_t bound = APR_INT64_MAX, ocsp_bound;
    const char *err = NULL;
    int ok, fetching = x509authn_crl_fetching_tls(sc) && sc->crlstore;

    *keep = 1;
    if (!untrusted) {
        untrusted = sk_X509_new_null();
    }
    ok = x509authn_verify_revocation(r, sc, fetching, leaf, untrusted, now,
                                     &verified, &err, &info, &finfo,
                                     &ocsp_bound);
    if (untrusted != sent) {
        sk_X509_free(untrusted);
    }
    if (fetching) {
        if (finfo.bound < bound) {
            bound = finfo.bound;
        }
        if (finfo.unknown) {
            /* decided by a failure: until the URL is tried again */
            if (finfo.retry_at < bound) {
                bound = finfo.retry_at;
            }
        }
    }
    /* the chain itself did not verify (not its revocation status) */
    if (!ok && !verified && !(info.reason
                 && (!strcmp(info.reason, X509A_REASON_REVOKED)
                     || !strcmp(info.reason,
                                X509A_REASON_REVOCATION_UNKNOWN)))
        && x509authn_log_allowed(apr_pstrcat(r->pool, "revtls-trust ",
                                             r->server->server_hostname,
                                             NULL), now)) {
        /* mod_ssl accepted what our trust store does not: misconfigured */
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, X509A_LOGNO(0732)
                      "X509AuthnRevocationTLS: a client certificate that "
                      "mod_ssl verified does not verify with "
                      "X509AuthnCACertificateFile (%s): it should hold the "
                      "CAs of SSLCACertificateFile, intermediates included "
                      "(resumed sessions bring none); refused (logged at "
                      "most once a minute)", err);
    }
    if (ocsp_bound < bound) {
        bound = ocsp_bound;
    }
    if (info.crl_next_update < bound) {
        bound = info.crl_next_update;
    }
    v->ok = ok;
    v->error = ok ? NULL : (info.reason ? info.reason
                                        : X509A_REASON_CHAIN_INVALID);
    apr_cpystrn(v->why, ok ? "" : apr_pstrcat(r->pool,
                                              "X509AuthnRevocationTLS: ",
                                              err ? err : "refused", NULL),
                sizeof(v->why));
    v->until = now + (ok || x509authn_global.ttl < X509AUTHN_MAX_FAILURE_TTL
                      ? x509authn_global.ttl : X509AUTHN_MAX_FAILURE_TTL);
    if (bound < v->until) {
        v->until = bound;
    }
    if (!ok && info.transient) {
        *keep = 0;
    }
}

int x509authn_revtls_check(request_rec *r, const x509authn_srv_conf *sc,
                           x509authn_entry *e, const char **why,
                           const char **error)
{
    unsigned char settings[32];
    revtls_memo v;
    apr_time_t now = r->request_time;
    const char *broken, *err;
    STACK_OF(X509) *sent;
    X509 *leaf;
    int keep, reloaded;

    if (!sc->revocation_tls) {
        return 1;
    }
    if (!sc->verifier) {
        /* post_config builds it: fail closed should that not have run */
        *why = "X509AuthnRevocationTLS: no trust store in this server";
        *error = X509A_REASON_INTERNAL;
        return 0;
    }
    if ((err = x509a_verifier_refresh(sc->verifier, apr_time_now(),
                                      &reloaded))) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, X509A_LOGNO(0733)
                      "X509AuthnCARevocationFile: %s; refusing client "
                      "certificates (X509AuthnRevocationTLS) until it is "
                      "repaired", err);
    }
    if ((broken = x509a_verifier_broken(sc->verifier, r->pool))) {
        *why = broken;
        *error = X509A_REASON_REVOCATION_UNKNOWN;
        return 0;
    }
    if (x509authn_crl_fetching_tls(sc) && !sc->crlstore) {
        *why = "X509AuthnCRLFetch: no CRL store in this process";
        *error = X509A_REASON_REVOCATION_UNKNOWN;
        return 0;
    }
    /* everything the verdict depends on besides the certificates */
    x509a_verifier_settings_digest(sc->verifier, settings);
    if (x509authn_crl_fetching_tls(sc)) {
        unsigned char held[32];

        x509a_crlstore_digest(sc->crlstore, held);
        x509authn_crl_key(sc, settings, held, settings);
    }
    x509authn_ocsp_settings(sc, settings, settings);

    /* the entry's objects live as long as the entry, which the request
     * holds; its lock guards the x509a_cert, not the X509 objects */
    x509authn_entry_lock(e);
    leaf = x509a_cert_x509(e->cert);
    sent = x509a_cert_untrusted(e->cert);
    x509authn_entry_unlock(e);
    if (!leaf) {
        *why = "out of memory";
        *error = X509A_REASON_INTERNAL;
        return 0;
    }
    if (!memo_key(leaf, sent, settings, v.key)) {
        *why = "cannot compute a digest";
        *error = X509A_REASON_INTERNAL;
        return 0;
    }
    if (!memo_get(v.key, now, &v)) {
        decide(r, sc, leaf, sent, now, &v, &keep);
        if (keep && v.until > now) {
            memo_put(&v);
        }
    }
    else {
        ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r, X509A_LOGNO(0734)
                      "X509AuthnRevocationTLS: verdict kept by this process");
    }
    if (!v.ok) {
        *why = apr_pstrdup(r->pool, v.why);
        *error = v.error;
    }
    return v.ok;
}
