/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/*
 * Direct TLS: the chain mod_ssl verified.  The SSL object comes from
 * mod_ssl's pre_handshake hook; the parsed certificate is kept per (master)
 * connection in an entry for the handshake's X509 object, so keep-alive
 * requests and HTTP/2 streams (secondary connections served by other
 * threads) reuse it, and a renegotiation that changes it is noticed.  Per
 * process, entries of verified certificates are shared by the connections
 * that present them, keyed by the SSL_CTX that verified them (its trust
 * store), the certificate and its verified chain.  mod_ssl's verdict is
 * asked for every handshake: no cache holds a verdict here.
 */

#include "x509authn.h"

#include "http_ssl.h"

#include "apr_atomic.h"
#include "apr_strings.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

APLOG_USE_MODULE(x509authn);

/** Per (master) connection state, created when mod_ssl starts TLS. */
typedef struct {
    SSL *ssl;                   /**< mod_ssl's SSL object. */
    apr_thread_mutex_t *lock;   /**< Guards the rest (HTTP/2 streams). */
    X509 *peer;                 /**< The handshake's peer object (referenced). */
    int peer_verified;          /**< mod_ssl said SUCCESS for @a peer. */
    x509authn_entry *current;   /**< The entry for @a peer. */
} x509authn_conn;

static apr_status_t conn_cleanup(void *data)
{
    x509authn_conn *cs = data;

    x509authn_entry_release(cs->current);
    X509_free(cs->peer);
    cs->current = NULL;
    cs->peer = NULL;
    return APR_SUCCESS;
}

/* Per process: entries of verified client certificates, shared by the
 * connections that present them (a client that connects again, or a TLS
 * session resumed, formats nothing anew).  Keyed by the SSL_CTX that
 * verified the certificate (its trust store: what a rule that rebuilds the
 * path uses), the certificate and its verified chain, which are all an
 * entry's views depend on. */
static x509authn_hcache *tls_cache;

/* Longest chain (each of the verified and the peer's) an entry is cached
 * for: a longer one is not cached, never keyed by a part of it. */
#define TLS_KEY_CERTS 8

/* Append the SHA-1 of @a chain's certificates from index @a from, after a
 * count; zero when the chain is too long for the key.  SHA-1 of a
 * certificate is OpenSSL's cached hash: no digest runs. */
static int key_add_chain(unsigned char *key, apr_size_t *len,
                         STACK_OF(X509) *chain, int from)
{
    int i, n = sk_X509_num(chain);
    unsigned int dlen;

    if (n - from > TLS_KEY_CERTS) {
        return 0;
    }
    key[(*len)++] = (unsigned char)(n > from ? n - from : 0);
    for (i = from; i < n; i++) {
        X509_digest(sk_X509_value(chain, i), EVP_sha1(), key + *len, &dlen);
        *len += 20;
    }
    return 1;
}

static x509authn_entry *verified_entry(request_rec *r, x509authn_conn *cs,
                                       X509 *peer,
                                       apr_time_t now, const char **why,
                                       const char **error)
{
    STACK_OF(X509) *chain = SSL_get0_verified_chain(cs->ssl);
    STACK_OF(X509) *sent = SSL_get_peer_cert_chain(cs->ssl);
    SSL_CTX *ctx = SSL_get_SSL_CTX(cs->ssl);
    unsigned char key[sizeof(ctx) + 20 + 2 * (1 + 20 * TLS_KEY_CERTS)];
    apr_size_t len = sizeof(ctx);
    unsigned int n;
    x509authn_entry *e;
    int cacheable;

    /* everything the entry's views and path rules use: the trust store
     * (the SSL_CTX lives as long as this child's configuration), the
     * certificate, the verified chain, and without one (a resumed
     * session) the certificates the client sent, from which and the store
     * rules that need a path build it.  (With a verified chain the sent
     * ones are not used; they are new objects on every connection, whose
     * SHA-1 would have to be computed.) */
    memcpy(key, &ctx, sizeof(ctx));
    X509_digest(peer, EVP_sha1(), key + len, &n);
    len += 20;
    cacheable = tls_cache && key_add_chain(key, &len, chain, 1)
                && (sk_X509_num(chain) > 0 || key_add_chain(key, &len, sent,
                                                            0));
    if (cacheable) {
        e = x509authn_hcache_get(tls_cache, (const char *)key, len, now, 0);
        x509authn_stat_add(r->connection, e ? X509AUTHN_STAT_CACHE_PROC_HIT
                                            : X509AUTHN_STAT_CACHE_PROC_MISS);
        if (e) {
            return e;
        }
    }
    /* the SSL_CTX's store and parameters: without a verified chain (a
     * resumed session) path rules verify the certificate again with them */
    e = x509authn_entry_create(peer, chain, sent, SSL_CTX_get_cert_store(ctx),
                               SSL_CTX_get0_param(ctx));
    if (!e) {
        *why = "out of memory";
        *error = X509A_REASON_INTERNAL;
        return NULL;
    }
    if (cacheable) {
        e->key = apr_pmemdup(e->pool, key, len);
        e->key_len = len;
        e->expires = now + x509authn_global.ttl;
        x509authn_hcache_put(tls_cache, e);
    }
    return e;
}

int x509authn_pre_handshake(conn_rec *c, SSL *ssl, int is_proxy)
{
    x509authn_conn *cs;

    if (is_proxy || c->master) {
        return DECLINED;
    }
    cs = apr_pcalloc(c->pool, sizeof(*cs));
    if (apr_thread_mutex_create(&cs->lock, APR_THREAD_MUTEX_DEFAULT, c->pool)
        != APR_SUCCESS) {
        return DECLINED;
    }
    cs->ssl = ssl;
    /* registered after the mutex: runs before the mutex is destroyed */
    apr_pool_cleanup_register(c->pool, cs, conn_cleanup,
                              apr_pool_cleanup_null);
    ap_set_module_config(c->conn_config, &x509authn_module, cs);
    return OK;
}

conn_rec *x509authn_master_conn(conn_rec *c)
{
    while (c->master) {
        c = c->master;
    }
    return c;
}

/* The peer certificate of a connection where mod_ssl offers no SSL object
 * (no pre_handshake): read back from PEM, once per request. */
static x509authn_entry *tls_entry_from_pem(request_rec *r, const char **why,
                                           const char **error)
{
    const char *pem = x509authn_modssl_var(r, "SSL_CLIENT_CERT");
    BIO *bio;
    X509 *x;
    x509authn_entry *e = NULL;

    if (!pem || !*pem) {
        *why = "mod_ssl reports a verified client certificate but does not "
               "provide it";
        *error = X509A_REASON_INTERNAL;
        return NULL;
    }
    bio = BIO_new_mem_buf(pem, -1);
    x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    if (x) {
        e = x509authn_entry_create(x, NULL, NULL, NULL, NULL);
        X509_free(x);
    }
    BIO_free(bio);
    ERR_clear_error();
    if (!e) {
        *why = "cannot parse mod_ssl's SSL_CLIENT_CERT";
        *error = X509A_REASON_INTERNAL;
    }
    return e;
}

/* The entry for the connection's current peer certificate (a new
 * reference), kept by the connection.  @a verified: mod_ssl said SUCCESS
 * for it (only then is an entry shared between connections). */
static x509authn_entry *peer_entry(request_rec *r, x509authn_conn *cs,
                                   int verified, const char **why,
                                   const char **error)
{
    X509 *peer = SSL_get0_peer_certificate(cs->ssl), *old_peer;
    x509authn_entry *e, *old;

    if (!peer) {
        *why = "mod_ssl reports a client certificate but the connection has "
               "none";
        *error = X509A_REASON_INTERNAL;
        return NULL;
    }
    /* The certificate can change on one connection (renegotiation, TLS 1.3
     * post-handshake authentication): the connection's entry is for the
     * X509 object of the handshake, which it references, so the same
     * address is the same object. */
    apr_thread_mutex_lock(cs->lock);
    /* an entry made for a refused verdict lacks the verified chain and
     * the store: a later success on the same object makes a new one */
    if (cs->current && cs->peer == peer && (cs->peer_verified || !verified)) {
        e = cs->current;
        cs->peer_verified |= verified;
        apr_atomic_inc32(&e->refs);
        apr_thread_mutex_unlock(cs->lock);
        if (verified) {
            x509authn_stat_add(r->connection, X509AUTHN_STAT_CACHE_CONN_HIT);
        }
        return e;
    }
    apr_thread_mutex_unlock(cs->lock);

    if (verified) {
        x509authn_stat_add(r->connection, X509AUTHN_STAT_CACHE_CONN_MISS);
    }
    e = verified ? verified_entry(r, cs, peer, r->request_time, why, error)
                 : x509authn_entry_create(peer, NULL,
                                          SSL_get_peer_cert_chain(cs->ssl),
                                          NULL, NULL);
    if (!e) {
        *why = "out of memory";
        *error = X509A_REASON_INTERNAL;
        return NULL;
    }
    apr_atomic_inc32(&e->refs);         /* one for the connection */
    X509_up_ref(peer);
    apr_thread_mutex_lock(cs->lock);
    old = cs->current;
    old_peer = cs->peer;
    cs->current = e;
    cs->peer = peer;
    cs->peer_verified = verified;
    apr_thread_mutex_unlock(cs->lock);
    x509authn_entry_release(old);
    X509_free(old_peer);
    return e;
}

x509authn_entry *x509authn_tls_entry(request_rec *r, const char **why,
                                     const char **error, int *presented,
                                     x509authn_entry **refused)
{
    conn_rec *mc = x509authn_master_conn(r->connection);
    x509authn_conn *cs = ap_get_module_config(mc->conn_config,
                                              &x509authn_module);
    const char *verify;
    x509authn_entry *e;

    if (cs) {
        /* Fast path: mod_ssl's verdict belongs to the handshake that
         * produced this X509 object; a new handshake makes a new object,
         * and a re-verification without one (OptRenegotiate) changes the
         * verify result. */
        X509 *peer = SSL_get0_peer_certificate(cs->ssl);

        if (peer && SSL_get_verify_result(cs->ssl) == X509_V_OK) {
            apr_thread_mutex_lock(cs->lock);
            e = cs->current;
            if (e && cs->peer == peer && cs->peer_verified) {
                apr_atomic_inc32(&e->refs);
                apr_thread_mutex_unlock(cs->lock);
                x509authn_stat_add(r->connection,
                                   X509AUTHN_STAT_CACHE_CONN_HIT);
                return e;
            }
            apr_thread_mutex_unlock(cs->lock);
        }
    }
    else if (!ap_ssl_conn_is_ssl(r->connection)) {
        *why = "not a TLS connection";
        *error = X509A_REASON_NO_CERTIFICATE;
        return NULL;
    }
    /* mod_ssl's verdict, including its per-directory settings; GENEROUS
     * (optional_no_ca) and FAILED:* are refusals */
    verify = x509authn_modssl_var(r, "SSL_CLIENT_VERIFY");
    if (!verify || strcmp(verify, "SUCCESS") != 0) {
        if (!verify || strcmp(verify, "NONE") == 0) {
            *why = "no client certificate";
            *error = X509A_REASON_NO_CERTIFICATE;
        }
        else {
            const char *ignored = NULL, *ignored_error = NULL;
            *why = apr_psprintf(r->pool, "client certificate not verified "
                                "by mod_ssl (SSL_CLIENT_VERIFY=%s)", verify);
            *error = X509A_REASON_NOT_VERIFIED;
            *presented = 1;
            if (refused && cs) {
                *refused = peer_entry(r, cs, 0, &ignored, &ignored_error);
            }
        }
        return NULL;
    }
    ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r, X509A_LOGNO(0100)
                  "Attempting to extract certificate from the TLS connection");
    if (!cs) {
        return tls_entry_from_pem(r, why, error);
    }
    return peer_entry(r, cs, 1, why, error);
}

void x509authn_tls_child_init(apr_pool_t *pchild)
{
    if (x509authn_global.entries > 0) {
        tls_cache = x509authn_hcache_create(pchild, x509authn_global.entries);
    }
}
