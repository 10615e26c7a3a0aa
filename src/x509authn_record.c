/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/*
 * Shared-cache records (lib/x509a_record.h): the keys they are
 * authenticated with, and verification results read from and written to
 * the shared cache through x509authn_socache_get/put.
 *
 * The cache server is trusted with availability only.  A record that does
 * not authenticate is a miss (the certificate is verified locally) and a
 * warning, at most once a minute per process: whoever can write to the
 * cache server can make servers verify locally, never accept a
 * certificate they would refuse.  X509AuthnCacheSecret is required for
 * every provider but shmcb, whose records never leave the machine; shmcb
 * without a secret uses a random key made at first start and kept in the
 * process pool, so that it survives graceful restarts.
 */

#include "x509authn.h"

#include "apr_atomic.h"
#include "apr_strings.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

APLOG_USE_MODULE(x509authn);

/* The shared-cache key and the record's cache key are the same bytes. */
typedef char x509authn_key_len_check[
    X509AUTHN_SOCACHE_KEY_LEN == X509A_RECORD_KEY_LEN ? 1 : -1];

/** Userdata name of the random shmcb key in the process pool. */
#define RANDOM_KEY_NAME "x509authn-cache-random-key"

/** At most one warning about unauthentic records per process per ... */
#define WARN_INTERVAL apr_time_from_sec(60)

/* when the next warning may be logged (apr_time_t) */
static volatile apr_uint64_t next_warn;

int x509authn_record_check_config(server_rec *s)
{
    const x509authn_global_conf *g = &x509authn_global;

    if (g->disabled || !g->provider || g->record_key
        || x509authn_cache_is_local()) {
        return OK;
    }
    ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, X509A_LOGNO(0310)
                 "X509AuthnCache %s: a shared cache on another server needs "
                 "X509AuthnCacheSecret FILE (at least 32 random bytes, e.g. "
                 "made with 'openssl rand -hex 32', the same file on every "
                 "server of the fleet): without it, anyone who can write to "
                 "the cache server could make this server accept any "
                 "certificate", g->provider_name);
    return HTTP_INTERNAL_SERVER_ERROR;
}

const char *x509authn_record_post_config(apr_pool_t *pconf, server_rec *s)
{
    x509authn_global_conf *g = &x509authn_global;
    apr_pool_t *keep = s->process->pool;
    unsigned char *secret = NULL;
    const char *err;

    if (!g->instance || g->record_key) {
        return NULL;
    }
    if (!x509authn_cache_is_local()) {
        /* x509authn_record_check_config() refused it already */
        return "X509AuthnCache: X509AuthnCacheSecret is required";
    }
    apr_pool_userdata_get((void **)&secret, RANDOM_KEY_NAME, keep);
    if (!secret) {
        secret = apr_palloc(keep, X509A_RECORD_MIN_SECRET);
        if (RAND_bytes(secret, X509A_RECORD_MIN_SECRET) != 1) {
            return "X509AuthnCache: no random bytes for the cache key";
        }
        apr_pool_userdata_set(secret, RANDOM_KEY_NAME, apr_pool_cleanup_null,
                              keep);
    }
    err = x509a_record_key_make(pconf, secret, X509A_RECORD_MIN_SECRET,
                                &g->record_key);
    return err ? apr_psprintf(pconf, "X509AuthnCache: %s", err) : NULL;
}

/* Warn about a record that does not authenticate, once a minute at most. */
static void warn_unauthentic(request_rec *r, x509a_record_status st,
                             const unsigned char *val, unsigned int len)
{
    apr_uint64_t next = apr_atomic_read64(&next_warn);
    apr_time_t now = apr_time_now();
    const char *id = "";

    if ((apr_uint64_t)now < next
        || apr_atomic_cas64(&next_warn, (apr_uint64_t)(now + WARN_INTERVAL),
                            next) != next) {
        return;
    }
    if (st == X509A_RECORD_UNKNOWN_KEY && len >= 1 + X509A_RECORD_KEY_ID_LEN) {
        char hex[2 * X509A_RECORD_KEY_ID_LEN + 1];

        ap_bin2hex(val + 1, X509A_RECORD_KEY_ID_LEN, hex);
        id = apr_psprintf(r->pool, " (key id %s: another X509AuthnCacheSecret "
                          "on a server of the fleet?)", hex);
    }
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, X509A_LOGNO(0311)
                  "shared cache (%s): a record is %s%s; ignored, the "
                  "certificate is verified locally.  Whoever can write to "
                  "the cache server may be trying to forge results (logged "
                  "at most once a minute)", x509authn_global.provider_name,
                  x509a_record_status_text(st), id);
}

int x509authn_record_get(request_rec *r, const unsigned char *key,
                         apr_time_t now, x509a_record *rec)
{
    const x509authn_global_conf *g = &x509authn_global;
    unsigned char val[X509A_RECORD_MAX_LEN];
    unsigned int len = sizeof(val);
    x509a_record_status st;

    if (!g->record_key || !x509authn_socache_get(r, key, val, &len)) {
        return 0;
    }
    st = x509a_record_decode(r->pool, g->record_key, g->record_key_prev, key,
                             val, len, now, rec);
    switch (st) {
    case X509A_RECORD_OK:
        return 1;
    case X509A_RECORD_EXPIRED:
    case X509A_RECORD_UNKNOWN_VERSION:
        /* a cache server that keeps records longer than asked, or a server
         * of another release during an upgrade */
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, X509A_LOGNO(0312)
                      "shared cache (%s): the record is %s; verifying "
                      "locally", g->provider_name,
                      x509a_record_status_text(st));
        return 0;
    default:
        warn_unauthentic(r, st, val, len);
        return 0;
    }
}

void x509authn_record_put(request_rec *r, const unsigned char *key,
                          const x509a_record *rec)
{
    const x509authn_global_conf *g = &x509authn_global;
    unsigned char val[X509A_RECORD_MAX_LEN];
    apr_size_t len;

    if (!g->record_key || rec->expires <= apr_time_now()) {
        return;
    }
    len = x509a_record_encode(g->record_key, key, rec, val);
    if (len) {
        x509authn_socache_put(r, key, val, (unsigned int)len, rec->expires);
    }
}
