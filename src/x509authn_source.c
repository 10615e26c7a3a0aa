/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/*
 * Where a request's certificate comes from.
 *
 * tls: the chain mod_ssl verified.  The SSL object comes from mod_ssl's
 * pre_handshake hook; the parsed certificate is kept per (master)
 * connection in a reference-counted entry keyed by the certificate, so
 * keep-alive requests and HTTP/2 streams (secondary connections served by
 * other threads) reuse it, and a renegotiation that changes it is noticed.
 *
 * header: a certificate a trusted proxy forwards.  Trust is decided on the
 * TCP peer (c->client_addr, never what mod_remoteip rewrites) and on the
 * proxy's own TLS certificate.  Decoded and verified certificates are kept
 * per process (keyed by the exact header values) and verification results
 * in a mod_socache cache shared across processes and servers (keyed by the
 * chain's hash and the verification settings).
 */

#include "x509authn.h"

#include "http_core.h"
#include "http_request.h"
#include "http_ssl.h"
#include "ap_provider.h"
#include "util_filter.h"
#include "util_mutex.h"

#include "apr_atomic.h"
#include "apr_lib.h"
#include "apr_strings.h"

#include <sys/uio.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

APLOG_USE_MODULE(x509authn);

/* ------------------------------------------------------------------------ */
/* Entries                                                                  */
/* ------------------------------------------------------------------------ */

static x509authn_entry *entry_create(X509 *leaf, STACK_OF(X509) *verified,
                                     STACK_OF(X509) *untrusted,
                                     X509_STORE *store)
{
    apr_pool_t *pool;
    x509authn_entry *e;

    /* HTTP/2 streams create entries from worker threads, where pools of
     * the connection must not be touched: an entry owns its allocator. */
    if (apr_pool_create_unmanaged_ex(&pool, NULL, NULL) != APR_SUCCESS) {
        return NULL;
    }
    e = apr_pcalloc(pool, sizeof(*e));
    e->pool = pool;
    e->refs = 1;
    if (apr_thread_mutex_create(&e->lock, APR_THREAD_MUTEX_DEFAULT, pool)
        != APR_SUCCESS) {
        apr_pool_destroy(pool);
        return NULL;
    }
    e->cert = x509a_cert_make(pool, leaf);
    x509a_cert_set_chain(e->cert, verified, untrusted);
    x509a_cert_set_store(e->cert, store);
    e->verified = 1;
    return e;
}

void x509authn_entry_release(x509authn_entry *e)
{
    if (e && apr_atomic_dec32(&e->refs) == 0) {
        apr_pool_destroy(e->pool);
    }
}

const char *x509authn_days_remaining(x509authn_entry *e, apr_time_t now)
{
    if (!e->remain || now >= e->remain_until) {
        time_t not_after, secs = (time_t)apr_time_sec(now);
        long days = x509a_cert_days_remaining(e->cert, secs);

        x509a_cert_validity(e->cert, NULL, &not_after);
        e->remain = apr_ltoa(e->pool, days);
        /* the count drops when another whole day has passed */
        e->remain_until = days > 0
            ? apr_time_from_sec((apr_time_t)not_after - (apr_time_t)days * 86400 + 1)
            : APR_INT64_MAX;
    }
    return e->remain;
}

static apr_status_t free_x509(void *data)
{
    X509_free(data);
    return APR_SUCCESS;
}

static apr_status_t free_stack_only(void *data)
{
    sk_X509_free(data);
    return APR_SUCCESS;
}

static apr_status_t entry_release_cleanup(void *data)
{
    x509authn_entry_release(data);
    return APR_SUCCESS;
}

/* The request keeps a reference until its pool is gone. */
static x509authn_entry *hold_for_request(request_rec *r, x509authn_entry *e)
{
    if (e) {
        apr_pool_cleanup_register(r->pool, e, entry_release_cleanup,
                                  apr_pool_cleanup_null);
    }
    return e;
}

/* ------------------------------------------------------------------------ */
/* Per-process certificate caches                                           */
/* ------------------------------------------------------------------------ */

struct x509authn_hcache {
    apr_thread_mutex_t *lock;
    x509authn_entry **buckets;
    unsigned int nbuckets;           /* a power of two */
    x509authn_entry lru;             /* sentinel: lru.lru_next is newest */
    int count, max;
};

/* The certificate's signature makes the last bytes of a value unique;
 * hashing only them keeps lookups cheap.  Keys are compared whole. */
static apr_uint64_t key_hash(const char *key, apr_size_t len)
{
    const unsigned char *s = (const unsigned char *)key;
    apr_size_t i = len > 256 ? len - 256 : 0;
    apr_uint64_t h = 1469598103934665603ULL ^ len;

    for (; i < len; i++) {
        h = (h ^ s[i]) * 1099511628211ULL;
    }
    return h;
}

static void lru_unlink(x509authn_entry *e)
{
    e->lru_prev->lru_next = e->lru_next;
    e->lru_next->lru_prev = e->lru_prev;
}

static void lru_push_front(x509authn_hcache *hc, x509authn_entry *e)
{
    e->lru_next = hc->lru.lru_next;
    e->lru_prev = &hc->lru;
    hc->lru.lru_next->lru_prev = e;
    hc->lru.lru_next = e;
}

/* Unlink from the bucket and the LRU list (locked); the caller releases
 * the cache's reference. */
static void hcache_unlink(x509authn_hcache *hc, x509authn_entry *e)
{
    x509authn_entry **pp = &hc->buckets[e->hash & (hc->nbuckets - 1)];

    while (*pp && *pp != e) {
        pp = &(*pp)->next_in_bucket;
    }
    if (*pp) {
        *pp = e->next_in_bucket;
    }
    lru_unlink(e);
    hc->count--;
}

static x509authn_hcache *hcache_create(apr_pool_t *p, int max)
{
    x509authn_hcache *hc = apr_pcalloc(p, sizeof(*hc));

    hc->max = max;
    hc->nbuckets = 16;
    while (hc->nbuckets < (unsigned int)max * 2) {
        hc->nbuckets <<= 1;
    }
    hc->buckets = apr_pcalloc(p, hc->nbuckets * sizeof(*hc->buckets));
    hc->lru.lru_next = hc->lru.lru_prev = &hc->lru;
    if (apr_thread_mutex_create(&hc->lock, APR_THREAD_MUTEX_DEFAULT, p)
        != APR_SUCCESS) {
        return NULL;
    }
    return hc;
}

static apr_status_t hcache_cleanup(void *data)
{
    x509authn_hcache *hc = data;

    while (hc->lru.lru_next != &hc->lru) {
        x509authn_entry *e = hc->lru.lru_next;
        hcache_unlink(hc, e);
        x509authn_entry_release(e);
    }
    return APR_SUCCESS;
}

/* A new reference to the live entry for @a key, or NULL. */
static x509authn_entry *hcache_get(x509authn_hcache *hc, const char *key,
                                   apr_size_t len, apr_time_t now,
                                   unsigned int generation)
{
    apr_uint64_t h = key_hash(key, len);
    x509authn_entry *e, *stale = NULL;

    apr_thread_mutex_lock(hc->lock);
    for (e = hc->buckets[h & (hc->nbuckets - 1)]; e; e = e->next_in_bucket) {
        if (e->hash == h && e->key_len == len && !memcmp(e->key, key, len)) {
            break;
        }
    }
    if (e && (now >= e->expires || e->generation != generation)) {
        /* expired, or obtained with CRLs that have since been replaced */
        hcache_unlink(hc, e);
        stale = e;
        e = NULL;
    }
    else if (e) {
        lru_unlink(e);
        lru_push_front(hc, e);
        apr_atomic_inc32(&e->refs);
    }
    apr_thread_mutex_unlock(hc->lock);
    x509authn_entry_release(stale);
    return e;
}

/* Keep @a e (which already carries its key); the cache takes a reference. */
static void hcache_put(x509authn_hcache *hc, x509authn_entry *e)
{
    x509authn_entry *old, *evicted = NULL, *dup = NULL;
    x509authn_entry **bucket;

    e->hash = key_hash(e->key, e->key_len);
    apr_atomic_inc32(&e->refs);
    apr_thread_mutex_lock(hc->lock);
    bucket = &hc->buckets[e->hash & (hc->nbuckets - 1)];
    for (old = *bucket; old; old = old->next_in_bucket) {
        if (old->hash == e->hash && old->key_len == e->key_len
            && !memcmp(old->key, e->key, e->key_len)) {
            /* another thread got there first */
            hcache_unlink(hc, old);
            dup = old;
            break;
        }
    }
    if (hc->count >= hc->max && hc->lru.lru_prev != &hc->lru) {
        evicted = hc->lru.lru_prev;
        hcache_unlink(hc, evicted);
    }
    e->next_in_bucket = *bucket;
    *bucket = e;
    lru_push_front(hc, e);
    hc->count++;
    apr_thread_mutex_unlock(hc->lock);
    x509authn_entry_release(dup);
    x509authn_entry_release(evicted);
}

/* ------------------------------------------------------------------------ */
/* Direct TLS                                                               */
/* ------------------------------------------------------------------------ */

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
 * verified the certificate, the certificate and its verified chain. */
static x509authn_hcache *tls_cache;

#define TLS_KEY_CERTS 8

static x509authn_entry *verified_entry(x509authn_conn *cs, X509 *peer,
                                       apr_time_t now, const char **why)
{
    STACK_OF(X509) *chain = SSL_get0_verified_chain(cs->ssl);
    SSL_CTX *ctx = SSL_get_SSL_CTX(cs->ssl);
    unsigned char key[sizeof(ctx) + 20 * TLS_KEY_CERTS];
    apr_size_t len = sizeof(ctx);
    unsigned int n;
    x509authn_entry *e;
    int i;

    /* SHA-1 of a certificate is OpenSSL's cached hash: no digest runs */
    memcpy(key, &ctx, sizeof(ctx));
    X509_digest(peer, EVP_sha1(), key + len, &n);
    len += 20;
    for (i = 1; i < sk_X509_num(chain) && i < TLS_KEY_CERTS; i++) {
        X509_digest(sk_X509_value(chain, i), EVP_sha1(), key + len, &n);
        len += 20;
    }
    if (tls_cache && (e = hcache_get(tls_cache, (const char *)key, len, now,
                                     0)) != NULL) {
        return e;
    }
    /* on a resumed session the verified chain is empty: rules that need it
     * rebuild the path from mod_ssl's trust store */
    e = entry_create(peer, chain, SSL_get_peer_cert_chain(cs->ssl),
                     SSL_CTX_get_cert_store(ctx));
    if (!e) {
        *why = "out of memory";
        return NULL;
    }
    if (tls_cache) {
        e->key = apr_pmemdup(e->pool, key, len);
        e->key_len = len;
        e->expires = now + x509authn_global.ttl;
        hcache_put(tls_cache, e);
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

static conn_rec *master_conn(conn_rec *c)
{
    while (c->master) {
        c = c->master;
    }
    return c;
}

/* The peer certificate of a connection where mod_ssl offers no SSL object
 * (no pre_handshake): read back from PEM, once per request. */
static x509authn_entry *tls_entry_from_pem(request_rec *r, const char **why)
{
    const char *pem = ap_ssl_var_lookup(r->pool, r->server, r->connection, r,
                                        "SSL_CLIENT_CERT");
    BIO *bio;
    X509 *x;
    x509authn_entry *e = NULL;

    if (!pem || !*pem) {
        *why = "mod_ssl reports a verified client certificate but does not "
               "provide it";
        return NULL;
    }
    bio = BIO_new_mem_buf(pem, -1);
    x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    if (x) {
        e = entry_create(x, NULL, NULL, NULL);
        X509_free(x);
    }
    BIO_free(bio);
    ERR_clear_error();
    if (!e) {
        *why = "cannot parse mod_ssl's SSL_CLIENT_CERT";
    }
    return e;
}

/* The entry for the connection's current peer certificate (a new
 * reference), kept by the connection.  @a verified: mod_ssl said SUCCESS
 * for it (only then is an entry shared between connections). */
static x509authn_entry *peer_entry(request_rec *r, x509authn_conn *cs,
                                   int verified, const char **why)
{
    X509 *peer = SSL_get0_peer_certificate(cs->ssl), *old_peer;
    x509authn_entry *e, *old;

    if (!peer) {
        *why = "mod_ssl reports a client certificate but the connection has "
               "none";
        return NULL;
    }
    /* The certificate can change on one connection (renegotiation, TLS 1.3
     * post-handshake authentication): the connection's entry is for the
     * X509 object of the handshake, which it references, so the same
     * address is the same object. */
    apr_thread_mutex_lock(cs->lock);
    if (cs->current && cs->peer == peer) {
        e = cs->current;
        cs->peer_verified |= verified;
        apr_atomic_inc32(&e->refs);
        apr_thread_mutex_unlock(cs->lock);
        return e;
    }
    apr_thread_mutex_unlock(cs->lock);

    e = verified ? verified_entry(cs, peer, r->request_time, why)
                 : entry_create(peer, NULL, SSL_get_peer_cert_chain(cs->ssl),
                                NULL);
    if (!e) {
        *why = "out of memory";
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

/* The connection's verified client certificate (a new reference), or NULL
 * with *why.  A certificate offered but not verified comes back in
 * *refused (when asked for), for the log. */
static x509authn_entry *tls_entry(request_rec *r, const char **why,
                                  int *presented, x509authn_entry **refused)
{
    conn_rec *mc = master_conn(r->connection);
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
                return e;
            }
            apr_thread_mutex_unlock(cs->lock);
        }
    }
    else if (!ap_ssl_conn_is_ssl(r->connection)) {
        *why = "not a TLS connection";
        return NULL;
    }
    /* mod_ssl's verdict, including its per-directory settings; GENEROUS
     * (optional_no_ca) and FAILED:* are refusals */
    verify = ap_ssl_var_lookup(r->pool, r->server, r->connection, r,
                               "SSL_CLIENT_VERIFY");
    if (!verify || strcmp(verify, "SUCCESS") != 0) {
        if (!verify || strcmp(verify, "NONE") == 0) {
            *why = "no client certificate";
        }
        else {
            const char *ignored = NULL;
            *why = apr_psprintf(r->pool, "client certificate not verified "
                                "by mod_ssl (SSL_CLIENT_VERIFY=%s)", verify);
            *presented = 1;
            if (refused && cs) {
                *refused = peer_entry(r, cs, 0, &ignored);
            }
        }
        return NULL;
    }
    ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r, X509A_LOGNO(0100)
                  "Attempting to extract certificate from the TLS connection");
    if (!cs) {
        return tls_entry_from_pem(r, why);
    }
    return peer_entry(r, cs, 1, why);
}

/* ------------------------------------------------------------------------ */
/* Trusted proxies                                                          */
/* ------------------------------------------------------------------------ */

static x509authn_srv_conf *srv_conf(request_rec *r)
{
    return ap_get_module_config(r->server->module_config, &x509authn_module);
}

/* Every configured condition must hold: the TCP peer's address, and each
 * X509AuthnProxyRequire line on the proxy's verified TLS certificate. */
static int peer_is_trusted_proxy(request_rec *r, const x509authn_srv_conf *sc,
                                 x509authn_req *rs)
{
    conn_rec *c = master_conn(r->connection);
    int i;

    if (!x509authn_header_mode(sc)) {
        return 0;
    }
    if (sc->proxies) {
        int ok = 0;
        for (i = 0; !ok && i < sc->proxies->nelts; i++) {
            ok = apr_ipsubnet_test(APR_ARRAY_IDX(sc->proxies, i,
                                                 apr_ipsubnet_t *),
                                   c->client_addr);
        }
        if (!ok) {
            return 0;
        }
    }
    if (sc->proxy_rules) {
        const char *why = NULL;
        int presented = 0, ok = 1;

        rs->proxy = hold_for_request(r, tls_entry(r, &why, &presented, NULL));
        if (!rs->proxy) {
            return 0;
        }
        apr_thread_mutex_lock(rs->proxy->lock);
        for (i = 0; ok && i < sc->proxy_rules->nelts; i++) {
            ok = x509a_rules_check(APR_ARRAY_IDX(sc->proxy_rules, i,
                                                 x509a_rules *),
                                   rs->proxy->cert, &why);
        }
        if (!ok) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, X509A_LOGNO(0202)
                          "peer is not a trusted proxy: its certificate "
                          "fails X509AuthnProxyRequire (%s); %s, client %s",
                          why, x509a_cert_describe(rs->proxy->cert),
                          c->client_ip);
        }
        apr_thread_mutex_unlock(rs->proxy->lock);
        return ok;
    }
    return 1;
}

/* The request's state, with the trust decision made once. */
static x509authn_req *req_state(request_rec *r)
{
    x509authn_req *rs = ap_get_module_config(r->request_config,
                                             &x509authn_module);

    if (!rs) {
        rs = apr_pcalloc(r->pool, sizeof(*rs));
        ap_set_module_config(r->request_config, &x509authn_module, rs);
        rs->from_proxy = peer_is_trusted_proxy(r, srv_conf(r), rs);
    }
    return rs;
}

/* ------------------------------------------------------------------------ */
/* Header stripping                                                         */
/* ------------------------------------------------------------------------ */

/* Does a header name denote @a want, in any letter case and with '_' for
 * '-' (some backends and CGI treat them alike)?  With @a prefix, any name
 * starting so. */
static int name_matches(const char *name, const char *want, int prefix)
{
    for (; *want; name++, want++) {
        char a = *name == '_' ? '-' : *name;
        char b = *want == '_' ? '-' : *want;
        if (apr_tolower(a) != apr_tolower(b)) {
            return 0;
        }
    }
    return prefix || *name == '\0';
}

static int is_cert_header(const x509authn_srv_conf *sc, const char *name)
{
    return name_matches(name, sc->header, 0)
           || (sc->chain_header
               && name_matches(name, sc->chain_header, sc->chain_is_prefix));
}

/* Exactly as configured (letter case aside), for a prefix followed by
 * digits only: what a trusted proxy sends. */
static int is_exact_cert_header(const x509authn_srv_conf *sc, const char *name)
{
    apr_size_t n;

    if (!strcasecmp(name, sc->header)) {
        return 1;
    }
    if (!sc->chain_header) {
        return 0;
    }
    if (!sc->chain_is_prefix) {
        return !strcasecmp(name, sc->chain_header);
    }
    n = strlen(sc->chain_header);
    return !strncasecmp(name, sc->chain_header, n)
           && name[n] && strspn(name + n, "0123456789") == strlen(name + n);
}

/* Remove certificate headers from @a t: every spelling, or with
 * @a keep_exact the '_' spellings only.  Returns the first name removed. */
static const char *strip_headers(apr_pool_t *p, const x509authn_srv_conf *sc,
                                 apr_table_t *t, int keep_exact)
{
    const apr_array_header_t *arr = apr_table_elts(t);
    const apr_table_entry_t *elts = (const apr_table_entry_t *)arr->elts;
    apr_array_header_t *doomed = NULL;
    int i;

    for (i = 0; i < arr->nelts; i++) {
        const char *key = elts[i].key;
        if (key && is_cert_header(sc, key)
            && !(keep_exact && is_exact_cert_header(sc, key))) {
            if (!doomed) {
                doomed = apr_array_make(p, 2, sizeof(const char *));
            }
            APR_ARRAY_PUSH(doomed, const char *) = apr_pstrdup(p, key);
        }
    }
    for (i = 0; doomed && i < doomed->nelts; i++) {
        apr_table_unset(t, APR_ARRAY_IDX(doomed, i, const char *));
    }
    return doomed ? APR_ARRAY_IDX(doomed, 0, const char *) : NULL;
}

/** Input filter state: the certificate headers as they were before the
 *  body, restored after trailers were merged (MergeTrailers On). */
typedef struct {
    apr_table_t *saved;
} trailer_ctx;

#define TRAILER_FILTER "X509AUTHN_TRAILERS"

static apr_status_t trailer_filter(ap_filter_t *f, apr_bucket_brigade *bb,
                                   ap_input_mode_t mode,
                                   apr_read_type_e block, apr_off_t readbytes)
{
    request_rec *r = f->r;
    trailer_ctx *ctx = f->ctx;
    apr_status_t rv = ap_get_brigade(f->next, bb, mode, block, readbytes);
    const x509authn_srv_conf *sc = srv_conf(r);
    apr_bucket *b;

    if (rv != APR_SUCCESS) {
        return rv;
    }
    for (b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb);
         b = APR_BUCKET_NEXT(b)) {
        if (APR_BUCKET_IS_EOS(b)) {
            /* a certificate never comes as a trailer */
            const char *name = strip_headers(r->pool, sc, r->trailers_in, 0);
            if (name) {
                ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, X509A_LOGNO(0203)
                              "removed %s trailer from a request of %s",
                              name, r->connection->client_ip);
            }
            strip_headers(r->pool, sc, r->headers_in, 0);
            apr_table_overlap(r->headers_in, ctx->saved,
                              APR_OVERLAP_TABLES_SET);
            ap_remove_input_filter(f);
            break;
        }
    }
    return APR_SUCCESS;
}

/*
 * post_read_request, registered APR_HOOK_REALLY_FIRST: before mod_proxy,
 * mod_headers, CGI or any handler can see them, forwarded-certificate
 * headers leave every request that is not from a trusted proxy.
 */
int x509authn_post_read_request(request_rec *r)
{
    const x509authn_srv_conf *sc = srv_conf(r);
    x509authn_req *rs;
    const char *name;

    if (!x509authn_header_mode(sc)) {
        return DECLINED;
    }
    rs = req_state(r);
    name = strip_headers(r->pool, sc, r->headers_in, rs->from_proxy);
    if (name && !rs->from_proxy) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, X509A_LOGNO(0201)
                      "removed %s header from a request of %s, which is not "
                      "a trusted proxy", name, r->connection->client_ip);
    }
    if (r->connection->master
        || apr_table_get(r->headers_in, "Transfer-Encoding")
        || apr_table_get(r->headers_in, "Content-Length")) {
        /* trailers arrive with a body (chunked, or HTTP/2 even with a
         * Content-Length); MergeTrailers would add them */
        trailer_ctx *ctx = apr_pcalloc(r->pool, sizeof(*ctx));
        const apr_array_header_t *arr = apr_table_elts(r->headers_in);
        const apr_table_entry_t *elts = (const apr_table_entry_t *)arr->elts;
        int i;

        ctx->saved = apr_table_make(r->pool, 2);
        for (i = 0; i < arr->nelts; i++) {
            if (elts[i].key && is_cert_header(sc, elts[i].key)) {
                apr_table_add(ctx->saved, elts[i].key, elts[i].val);
            }
        }
        ap_add_input_filter(TRAILER_FILTER, ctx, r, r->connection);
    }
    return DECLINED;
}

/* ------------------------------------------------------------------------ */
/* Shared verification cache (mod_socache)                                  */
/* ------------------------------------------------------------------------ */

#define SOCACHE_KEY_LEN 64
#define SOCACHE_MAX_CHAIN 16

static int socache_lock(void)
{
    return !x509authn_global.mutex
           || apr_global_mutex_lock(x509authn_global.mutex) == APR_SUCCESS;
}

static void socache_unlock(void)
{
    if (x509authn_global.mutex) {
        apr_global_mutex_unlock(x509authn_global.mutex);
    }
}

/* Value: 'V', the count n, n SHA-256 fingerprints of the verified chain
 * (leaf first), then valid_from and valid_until (seconds, 8 bytes each,
 * big-endian); or 'F' and the reason of the failure. */
static void put_u64(unsigned char *d, apr_uint64_t v)
{
    int i;

    for (i = 7; i >= 0; i--) {
        d[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

static apr_uint64_t get_u64(const unsigned char *d)
{
    apr_uint64_t v = 0;
    int i;

    for (i = 0; i < 8; i++) {
        v = (v << 8) | d[i];
    }
    return v;
}

static int socache_get(request_rec *r, const unsigned char *key,
                       unsigned char *val, unsigned int *len)
{
    apr_status_t rv;

    if (!x509authn_global.instance || !socache_lock()) {
        return 0;
    }
    rv = x509authn_global.provider->retrieve(x509authn_global.instance,
                                             r->server, key, SOCACHE_KEY_LEN,
                                             val, len, r->pool);
    socache_unlock();
    if (rv != APR_SUCCESS && rv != APR_NOTFOUND) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, rv, r, X509A_LOGNO(0301)
                      "shared cache (%s) lookup failed; verifying locally",
                      x509authn_global.provider_name);
    }
    return rv == APR_SUCCESS;
}

static void socache_put(request_rec *r, const unsigned char *key,
                        const unsigned char *val, unsigned int len)
{
    apr_status_t rv;

    if (!x509authn_global.instance || !socache_lock()) {
        return;
    }
    rv = x509authn_global.provider->store(x509authn_global.instance,
                                          r->server, key, SOCACHE_KEY_LEN,
                                          apr_time_now() + x509authn_global.ttl,
                                          (unsigned char *)val, len, r->pool);
    socache_unlock();
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, rv, r, X509A_LOGNO(0302)
                      "shared cache (%s) store failed",
                      x509authn_global.provider_name);
    }
}

/* ------------------------------------------------------------------------ */
/* Forwarded certificates                                                   */
/* ------------------------------------------------------------------------ */

static apr_time_t asn1_time(const ASN1_TIME *t)
{
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    return ASN1_TIME_to_tm(t, &tm) ? apr_time_from_sec(timegm(&tm)) : 0;
}

/* The window in which every certificate of the chain is valid. */
static void chain_window(STACK_OF(X509) *chain, apr_time_t *from,
                         apr_time_t *until)
{
    int i;

    *from = 0;
    *until = APR_INT64_MAX;
    for (i = 0; i < sk_X509_num(chain); i++) {
        apr_time_t nb = asn1_time(X509_get0_notBefore(sk_X509_value(chain, i)));
        apr_time_t na = asn1_time(X509_get0_notAfter(sk_X509_value(chain, i)));
        if (nb > *from) {
            *from = nb;
        }
        if (na < *until) {
            *until = na;
        }
    }
}

/* The header values that name a forwarded certificate, joined into one
 * cache key; NULL when the leaf header is absent. */
static const char *forwarded_key(request_rec *r, const x509authn_srv_conf *sc,
                                 apr_size_t *len, apr_array_header_t **chains)
{
    const char *leaf = apr_table_get(r->headers_in, sc->header);
    struct iovec parts[2 + 2 * 10];
    int n = 0, i;

    *chains = NULL;
    if (!leaf) {
        return NULL;
    }
    if (!sc->chain_header) {
        /* the common case: the leaf's value is the key */
        *len = strlen(leaf);
        return leaf;
    }
    *chains = apr_array_make(r->pool, 2, sizeof(const char *));
    parts[n].iov_base = (void *)leaf;
    parts[n++].iov_len = strlen(leaf) + 1;
    if (sc->chain_header && !sc->chain_is_prefix) {
        const char *v = apr_table_get(r->headers_in, sc->chain_header);
        if (v) {
            APR_ARRAY_PUSH(*chains, const char *) = v;
        }
    }
    else if (sc->chain_header) {
        for (i = 0; i < 10; i++) {
            const char *v = apr_table_get(r->headers_in,
                                          apr_psprintf(r->pool, "%s%d",
                                                       sc->chain_header, i));
            if (!v) {
                break;
            }
            APR_ARRAY_PUSH(*chains, const char *) = v;
        }
    }
    for (i = 0; i < (*chains)->nelts; i++) {
        const char *v = APR_ARRAY_IDX(*chains, i, const char *);
        parts[n].iov_base = (void *)v;
        parts[n++].iov_len = strlen(v) + 1;
    }
    return apr_pstrcatv(r->pool, parts, n, len);
}

/* Decode, verify (or take the shared cache's word) and wrap a forwarded
 * certificate.  NULL with *why when the value itself is unusable. */
static x509authn_entry *forwarded_entry(request_rec *r,
                                        const x509authn_srv_conf *sc,
                                        const char *leaf_value,
                                        apr_array_header_t *chain_values,
                                        const char **why)
{
    x509a_forwarded fwd;
    STACK_OF(X509) *untrusted, *verified = NULL;
    x509authn_entry *e;
    const char *err;
    int i;

    if ((err = x509a_decode_leaf(r->pool, leaf_value, sc->format, sc->max_len,
                                 &fwd))) {
        *why = apr_psprintf(r->pool, "malformed %s header: %s", sc->header,
                            err);
        return NULL;
    }
    if (!fwd.leaf) {
        *why = apr_psprintf(r->pool, "the trusted proxy forwarded no "
                            "certificate in %s", sc->header);
        return NULL;
    }
    untrusted = fwd.chain ? fwd.chain : sk_X509_new_null();
    if (!fwd.chain) {
        apr_pool_cleanup_register(r->pool, untrusted, free_stack_only,
                                  apr_pool_cleanup_null);
    }
    for (i = 0; chain_values && i < chain_values->nelts; i++) {
        STACK_OF(X509) *more = sk_X509_new_null();
        err = x509a_decode_chain(r->pool, APR_ARRAY_IDX(chain_values, i,
                                                        const char *),
                                 sc->max_len, more);
        while (sk_X509_num(more) > 0) {
            X509 *x = sk_X509_shift(more);
            sk_X509_push(untrusted, x);
            apr_pool_cleanup_register(r->pool, x, free_x509,
                                      apr_pool_cleanup_null);
        }
        sk_X509_free(more);
        if (err) {
            *why = sc->chain_is_prefix
                ? apr_psprintf(r->pool, "malformed %s%d header: %s",
                               sc->chain_header, i, err)
                : apr_psprintf(r->pool, "malformed %s header: %s",
                               sc->chain_header, err);
            return NULL;
        }
    }

    if (!sc->verify) {
        /* X509AuthnHeaderVerify Off: the proxy's verification stands */
        e = entry_create(fwd.leaf, NULL, untrusted, NULL);
        if (e) {
            e->valid_from = 0;
            e->valid_until = APR_INT64_MAX;
        }
        return e;
    }
    else {
        unsigned char key[SOCACHE_KEY_LEN], md[32], val[2 + 32 * SOCACHE_MAX_CHAIN
                                                        + 16 + 256];
        unsigned int vlen = sizeof(val), mdlen;
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();

        /* key: the chain as forwarded, and what verification depends on */
        EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
        X509_digest(fwd.leaf, EVP_sha256(), md, &mdlen);
        EVP_DigestUpdate(ctx, md, 32);
        for (i = 0; i < sk_X509_num(untrusted); i++) {
            X509_digest(sk_X509_value(untrusted, i), EVP_sha256(), md, &mdlen);
            EVP_DigestUpdate(ctx, md, 32);
        }
        EVP_DigestFinal_ex(ctx, key, &mdlen);
        EVP_MD_CTX_free(ctx);
        x509a_verifier_settings_digest(sc->verifier, key + 32);

        if (socache_get(r, key, val, &vlen) && vlen >= 1
            && ((val[0] == 'V' && vlen >= 2
                 && vlen == 2 + 32u * val[1] + 16 && val[1] >= 1)
                || val[0] == 'F')) {
            e = entry_create(fwd.leaf, NULL, untrusted, NULL);
            if (!e) {
                *why = "out of memory";
                return NULL;
            }
            if (val[0] == 'V') {
                x509a_cert_set_verified_digests(e->cert, val + 2, val[1]);
                e->valid_from = apr_time_from_sec(
                    (apr_time_t)get_u64(val + 2 + 32 * val[1]));
                e->valid_until = apr_time_from_sec(
                    (apr_time_t)get_u64(val + 2 + 32 * val[1] + 8));
            }
            else {
                e->verified = 0;
                e->why = apr_pstrmemdup(e->pool, (const char *)val + 1,
                                        vlen - 1);
            }
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, X509A_LOGNO(0303)
                          "verification result taken from the shared cache "
                          "(%s)", x509authn_global.provider_name);
            return e;
        }

        if (x509a_verifier_verify(sc->verifier, r->pool, fwd.leaf, untrusted,
                                  &verified, &err)) {
            int n = sk_X509_num(verified);
            e = entry_create(fwd.leaf, verified, untrusted, NULL);
            if (!e) {
                *why = "out of memory";
                return NULL;
            }
            chain_window(verified, &e->valid_from, &e->valid_until);
            if (n <= SOCACHE_MAX_CHAIN) {
                val[0] = 'V';
                val[1] = (unsigned char)n;
                for (i = 0; i < n; i++) {
                    X509_digest(sk_X509_value(verified, i), EVP_sha256(),
                                val + 2 + 32 * i, &mdlen);
                }
                put_u64(val + 2 + 32 * n,
                        (apr_uint64_t)apr_time_sec(e->valid_from));
                put_u64(val + 2 + 32 * n + 8,
                        (apr_uint64_t)apr_time_sec(e->valid_until));
                socache_put(r, key, val, 2 + 32 * n + 16);
            }
        }
        else {
            apr_size_t wl = strlen(err);
            e = entry_create(fwd.leaf, NULL, untrusted, NULL);
            if (!e) {
                *why = "out of memory";
                return NULL;
            }
            e->verified = 0;
            e->why = apr_pstrdup(e->pool, err);
            val[0] = 'F';
            if (wl > sizeof(val) - 1) {
                wl = sizeof(val) - 1;
            }
            memcpy(val + 1, err, wl);
            socache_put(r, key, val, (unsigned int)(1 + wl));
        }
        return e;
    }
}

/* The certificate a trusted proxy forwards for this request. */
static x509authn_entry *header_entry(request_rec *r,
                                     const x509authn_srv_conf *sc,
                                     x509authn_req *rs)
{
    apr_array_header_t *chain_values;
    apr_size_t key_len;
    const char *key, *err;
    apr_time_t now = r->request_time;
    unsigned int generation = 0;
    x509authn_entry *e = NULL;
    int reloaded;

    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, X509A_LOGNO(0101)
                  "Attempting to extract certificate from %s header",
                  sc->header);
    key = forwarded_key(r, sc, &key_len, &chain_values);
    if (!key) {
        rs->why = apr_psprintf(r->pool, "no %s header from the trusted proxy",
                               sc->header);
        return NULL;
    }
    if (sc->verifier) {
        const char *broken;

        if ((err = x509a_verifier_refresh(sc->verifier, apr_time_now(),
                                          &reloaded))) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, X509A_LOGNO(0304)
                          "X509AuthnCARevocationFile: %s; refusing forwarded "
                          "certificates until it is repaired", err);
        }
        else if (reloaded) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, X509A_LOGNO(0305)
                          "reloaded CRLs from %s", sc->crl_file);
        }
        generation = x509a_verifier_generation(sc->verifier);
        /* fail closed before any cache can answer; the certificate is
         * still decoded, for the log line */
        if ((broken = x509a_verifier_broken(sc->verifier, r->pool))) {
            x509a_forwarded fwd;

            rs->why = broken;
            rs->presented = 1;
            if (!x509a_decode_leaf(r->pool, apr_table_get(r->headers_in,
                                                          sc->header),
                                   sc->format, sc->max_len, &fwd)
                && fwd.leaf) {
                rs->refused = hold_for_request(r, entry_create(fwd.leaf, NULL,
                                                               NULL, NULL));
            }
            return NULL;
        }
    }
    if (sc->hcache) {
        e = hcache_get(sc->hcache, key, key_len, now, generation);
    }
    if (!e) {
        e = forwarded_entry(r, sc, apr_table_get(r->headers_in, sc->header),
                            chain_values, &rs->why);
        if (!e) {
            rs->presented = 1;
            return NULL;
        }
        if (sc->hcache && x509authn_global.entries > 0) {
            e->key = apr_pmemdup(e->pool, key, key_len);
            e->key_len = key_len;
            e->expires = now + x509authn_global.ttl;
            e->generation = generation;
            hcache_put(sc->hcache, e);
        }
    }
    if (!e->verified) {
        rs->why = e->why;
    }
    else if (now < e->valid_from) {
        rs->why = "a certificate of the chain is not yet valid";
    }
    else if (now >= e->valid_until) {
        rs->why = "a certificate of the chain has expired";
    }
    else {
        return e;
    }
    rs->presented = 1;
    rs->refused = hold_for_request(r, e);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Resolution                                                               */
/* ------------------------------------------------------------------------ */

x509authn_req *x509authn_resolve(request_rec *r, const x509authn_dir_conf *dc)
{
    x509authn_req *rs = req_state(r);
    const x509authn_srv_conf *sc;

    if (rs->source) {
        return rs;
    }
    sc = srv_conf(r);
    if (dc->source == X509AUTHN_SOURCE_HEADER
        || (dc->source == X509AUTHN_SOURCE_ANY && rs->from_proxy)) {
        rs->source = "header";
        if (!x509authn_header_mode(sc)) {
            rs->why = "X509AuthnSource header, but this server trusts no "
                      "proxy (X509AuthnTrustedProxy, X509AuthnProxyRequire)";
        }
        else if (!rs->from_proxy) {
            rs->why = "the peer is not a trusted proxy";
        }
        else {
            rs->entry = hold_for_request(r, header_entry(r, sc, rs));
        }
        return rs;
    }
    rs->source = "tls";
    if (rs->from_proxy) {
        /* a proxy's certificate is its own credential, not a user's */
        rs->why = "the peer is a trusted proxy, whose TLS certificate is "
                  "not a user's";
        return rs;
    }
    rs->entry = hold_for_request(r, tls_entry(r, &rs->why, &rs->presented,
                                              &rs->refused));
    hold_for_request(r, rs->refused);
    return rs;
}

/* ------------------------------------------------------------------------ */
/* Startup and child initialisation                                         */
/* ------------------------------------------------------------------------ */

static apr_status_t socache_destroy(void *data)
{
    if (x509authn_global.instance) {
        x509authn_global.provider->destroy(x509authn_global.instance,
                                           (server_rec *)data);
        x509authn_global.instance = NULL;
    }
    return APR_SUCCESS;
}

const char *x509authn_cache_post_config(apr_pool_t *pconf, apr_pool_t *ptemp,
                                        server_rec *s)
{
    x509authn_global_conf *g = &x509authn_global;
    struct ap_socache_hints hints = { 64, 2 + 32 * 4 + 16, 300 };
    const char *err;
    apr_status_t rv;

    if (g->disabled) {
        return NULL;
    }
    if (!g->provider) {
        /* the embedded default, when mod_socache_shmcb is loaded */
        g->provider = ap_lookup_provider(AP_SOCACHE_PROVIDER_GROUP,
                                         AP_SOCACHE_DEFAULT_PROVIDER,
                                         AP_SOCACHE_PROVIDER_VERSION);
        if (!g->provider) {
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, X509A_LOGNO(0306)
                         "no shared verification cache: load "
                         "mod_socache_shmcb or set X509AuthnCache; results "
                         "are kept per process only");
            return NULL;
        }
        g->provider_name = AP_SOCACHE_DEFAULT_PROVIDER;
        g->provider_args = NULL;
    }
    hints.expiry_interval = (long)apr_time_sec(g->ttl);
    err = g->provider->create(&g->instance, g->provider_args, ptemp, pconf);
    if (err) {
        return apr_psprintf(pconf, "X509AuthnCache: %s", err);
    }
    if (g->provider->flags & AP_SOCACHE_FLAG_NOTMPSAFE) {
        rv = ap_global_mutex_create(&g->mutex, NULL, X509AUTHN_MUTEX_TYPE,
                                    NULL, s, pconf, 0);
        if (rv != APR_SUCCESS) {
            return "X509AuthnCache: cannot create the cache mutex";
        }
    }
    rv = g->provider->init(g->instance, "mod_x509authn", &hints, s, pconf);
    if (rv != APR_SUCCESS) {
        return apr_psprintf(pconf, "X509AuthnCache: cannot initialise the "
                            "%s cache", g->provider_name);
    }
    apr_pool_cleanup_register(pconf, s, socache_destroy,
                              apr_pool_cleanup_null);
    return NULL;
}

void x509authn_cache_child_init(apr_pool_t *pchild, server_rec *s)
{
    x509authn_global_conf *g = &x509authn_global;
    server_rec *vs;

    if (g->mutex) {
        const char *file = apr_global_mutex_lockfile(g->mutex);
        if (apr_global_mutex_child_init(&g->mutex, file, pchild)
            != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, X509A_LOGNO(0307)
                         "cannot reopen the cache mutex: shared cache off");
            g->instance = NULL;
        }
    }
    if (g->entries > 0) {
        tls_cache = hcache_create(pchild, g->entries);
        if (tls_cache) {
            apr_pool_cleanup_register(pchild, tls_cache, hcache_cleanup,
                                      apr_pool_cleanup_null);
        }
    }
    for (vs = s; vs; vs = vs->next) {
        x509authn_srv_conf *sc = ap_get_module_config(vs->module_config,
                                                      &x509authn_module);
        if (x509authn_header_mode(sc) && g->entries > 0 && !sc->hcache) {
            sc->hcache = hcache_create(pchild, g->entries);
            if (sc->hcache) {
                apr_pool_cleanup_register(pchild, sc->hcache, hcache_cleanup,
                                          apr_pool_cleanup_null);
            }
        }
    }
}

void x509authn_register_source_filters(void)
{
    /* above HTTP_IN (a protocol filter), which merges the trailers, so
     * that this one sees the end of the body after the merge */
    ap_register_input_filter(TRAILER_FILTER, trailer_filter, NULL,
                             AP_FTYPE_CONTENT_SET);
}

x509authn_entry *x509authn_proxy_entry(request_rec *r, x509authn_req *rs)
{
    if (!rs->proxy && rs->from_proxy) {
        const char *why;
        int presented = 0;
        rs->proxy = hold_for_request(r, tls_entry(r, &why, &presented, NULL));
    }
    return rs->proxy;
}
