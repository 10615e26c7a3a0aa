/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/*
 * The shared verification cache (mod_socache): verification results of
 * forwarded chains, shared across processes (shmcb) or servers (redis,
 * memcache), keyed by the chain's digest and the verification settings'
 * digest.
 */

#include "x509authn.h"

#include "ap_provider.h"
#include "util_mutex.h"

#include "apr_strings.h"

APLOG_USE_MODULE(x509authn);

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

int x509authn_socache_get(request_rec *r, const unsigned char *key,
                          unsigned char *val, unsigned int *len)
{
    apr_status_t rv;

    if (!x509authn_global.instance || !socache_lock()) {
        return 0;
    }
    rv = x509authn_global.provider->retrieve(x509authn_global.instance,
                                             r->server, key,
                                             X509AUTHN_SOCACHE_KEY_LEN,
                                             val, len, r->pool);
    socache_unlock();
    if (rv != APR_SUCCESS && rv != APR_NOTFOUND) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, rv, r, X509A_LOGNO(0301)
                      "shared cache (%s) lookup failed; verifying locally",
                      x509authn_global.provider_name);
    }
    return rv == APR_SUCCESS;
}

void x509authn_socache_put(request_rec *r, const unsigned char *key,
                           const unsigned char *val, unsigned int len,
                           apr_time_t expiry)
{
    apr_status_t rv;

    if (!x509authn_global.instance || !socache_lock()) {
        return;
    }
    rv = x509authn_global.provider->store(x509authn_global.instance,
                                          r->server, key,
                                          X509AUTHN_SOCACHE_KEY_LEN, expiry,
                                          (unsigned char *)val, len, r->pool);
    socache_unlock();
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, rv, r, X509A_LOGNO(0302)
                      "shared cache (%s) store failed",
                      x509authn_global.provider_name);
    }
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
    if (g->mutex) {
        const char *file = apr_global_mutex_lockfile(g->mutex);
        if (apr_global_mutex_child_init(&g->mutex, file, pchild)
            != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, X509A_LOGNO(0307)
                         "cannot reopen the cache mutex: shared cache off");
            g->instance = NULL;
        }
    }
}
