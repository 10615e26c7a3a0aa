/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/*
 * X509AuthnCRLFetch: the httpd side of fetched CRLs (lib/x509a_crlfetch.c
 * does the work).  Each child process keeps its own store (one per
 * X509AuthnCRLCacheDir in use) and refreshes it from a watchdog thread of
 * its own (mod_watchdog, a non-singleton child watchdog): the request path
 * fetches only a CRL no process has yet, or one that has become unusable.
 * With a cache directory, what one process fetched is found there by the
 * others and by the next generation of processes (restarts).  The parent,
 * which runs as root, never fetches.
 */

#include "x509authn.h"

#include "http_core.h"

#include "apr_strings.h"
#include "apr_optional.h"
#include "apr_hash.h"
#include "mod_watchdog.h"

#include <openssl/evp.h>

APLOG_USE_MODULE(x509authn);

#define WATCHDOG_NAME "x509authn-crl"
/* How often the watchdog looks for CRLs due for a refresh. */
#define WATCHDOG_INTERVAL apr_time_from_sec(2)

/* This process's stores (x509a_crlstore *), for the watchdog. */
static apr_array_header_t *stores;
static server_rec *main_server;
/* the watchdog's data: something of ours with a fixed address */
static int watchdog_tag;

int x509authn_crl_fetching(const x509authn_srv_conf *sc)
{
    return sc->crl_fetch && sc->verify && sc->crl_check
                                          != X509A_CRL_CHECK_NONE;
}

int x509authn_crl_fetching_tls(const x509authn_srv_conf *sc)
{
    return sc->revocation_tls && sc->crl_fetch
           && sc->crl_check != X509A_CRL_CHECK_NONE;
}

/* Does this server need a CRL store (either source)? */
static int crl_store_used(const x509authn_srv_conf *sc)
{
    return (x509authn_header_mode(sc) && x509authn_crl_fetching(sc))
           || x509authn_crl_fetching_tls(sc);
}

void x509authn_crl_key(const x509authn_srv_conf *sc,
                       const unsigned char settings[32],
                       const unsigned char held[32], unsigned char out[32])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    char policy[96];
    unsigned int mdlen;

    if (!md) {
        /* a key nobody else has: the verdict is not shared */
        memset(out, 0xff, 32);
        return;
    }
    apr_snprintf(policy, sizeof(policy), "x509authn-crlfetch-1 soft=%d "
                 "stale=%" APR_TIME_T_FMT, sc->soft_fail,
                 apr_time_sec(sc->crl_max_stale));
    EVP_DigestInit_ex(md, x509a_sha256(), NULL);
    EVP_DigestUpdate(md, settings, 32);
    EVP_DigestUpdate(md, policy, strlen(policy));
    EVP_DigestUpdate(md, held, 32);
    EVP_DigestFinal_ex(md, out, &mdlen);
    EVP_MD_CTX_free(md);
}

int x509authn_crl_check_config(apr_pool_t *ptemp, server_rec *s)
{
    server_rec *vs;

    for (vs = s; vs; vs = vs->next) {
        x509authn_srv_conf *sc = ap_get_module_config(vs->module_config,
                                                      &x509authn_module);

        if (sc->crl_fetch && sc->crl_check == X509A_CRL_CHECK_NONE
            && x509authn_header_mode(sc)
            && ap_state_query(AP_SQ_MAIN_STATE)
               == AP_SQ_MS_CREATE_PRE_CONFIG) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, X509A_LOGNO(0832)
                         "%s: X509AuthnCARevocationCheck none: no CRL is "
                         "fetched", sc->set_at[X509AUTHN_AT_CRL_FETCH]
                         ? sc->set_at[X509AUTHN_AT_CRL_FETCH]
                         : "X509AuthnCRLFetch");
        }
    }
    return OK;
}

/* The background refresh, in each child's watchdog thread. */
static apr_status_t crl_watchdog(int state, void *data, apr_pool_t *p)
{
    apr_array_header_t *events;
    apr_time_t now;
    int i, j;

    (void)data;
    if (state != AP_WATCHDOG_STATE_RUNNING || !stores) {
        return APR_SUCCESS;
    }
    events = apr_array_make(p, 4, sizeof(x509a_crl_event));
    now = apr_time_now();
    for (i = 0; i < stores->nelts; i++) {
        x509a_crlstore_refresh(APR_ARRAY_IDX(stores, i, x509a_crlstore *), p,
                               now, events);
    }
    for (j = 0; j < events->nelts; j++) {
        x509a_crl_event *ev = &APR_ARRAY_IDX(events, j, x509a_crl_event);

        if (!ev->error) {
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, main_server,
                         X509A_LOGNO(0833) "CRL %s refreshed: %s", ev->url,
                         ev->msg);
        }
        else if (x509authn_log_allowed(apr_pstrcat(p, "refresh ", ev->url,
                                                   NULL), now)) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, main_server,
                         X509A_LOGNO(0834) "CRL %s could not be refreshed: "
                         "%s; a CRL held is used until its nextUpdate (plus "
                         "X509AuthnCRLMaxStale); tried again every %d s "
                         "(logged at most once a minute)", ev->url,
                         ev->msg, (int)apr_time_sec(X509A_CRL_RETRY));
        }
    }
    return APR_SUCCESS;
}

void x509authn_crl_post_config(apr_pool_t *pconf, server_rec *s)
{
    APR_OPTIONAL_FN_TYPE(ap_watchdog_get_instance) *get_instance;
    APR_OPTIONAL_FN_TYPE(ap_watchdog_register_callback) *register_cb;
    ap_watchdog_t *wd;
    server_rec *vs;
    apr_status_t rv;
    int used = 0;

    /* nothing is fetched here: this is the parent, running as root */
    for (vs = s; vs; vs = vs->next) {
        x509authn_srv_conf *sc = ap_get_module_config(vs->module_config,
                                                      &x509authn_module);

        if (crl_store_used(sc)) {
            used = 1;
        }
    }
    if (!used) {
        return;
    }
    get_instance = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_get_instance);
    register_cb = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_register_callback);
    if (!get_instance || !register_cb) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, X509A_LOGNO(0835)
                     "X509AuthnCRLFetch: mod_watchdog is not loaded: fetched "
                     "CRLs are not refreshed in the background, only when a "
                     "request finds one unusable (and waits for it)");
        return;
    }
    /* one watchdog thread in every child: each refreshes its own CRLs */
    if ((rv = get_instance(&wd, WATCHDOG_NAME, 0, 0, pconf)) != APR_SUCCESS
        || ((rv = register_cb(wd, WATCHDOG_INTERVAL, &watchdog_tag,
                              crl_watchdog)) != APR_SUCCESS
            && rv != APR_EEXIST)) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s, X509A_LOGNO(0836)
                     "X509AuthnCRLFetch: cannot set up the background "
                     "refresh (mod_watchdog): fetched CRLs are refreshed "
                     "only when a request finds one unusable");
    }
}

static apr_status_t stores_gone(void *data)
{
    (void)data;
    stores = NULL;
    return APR_SUCCESS;
}

void x509authn_crl_child_init(apr_pool_t *pchild, server_rec *s)
{
    apr_hash_t *by_dir = apr_hash_make(pchild);
    server_rec *vs;

    main_server = s;
    for (vs = s; vs; vs = vs->next) {
        x509authn_srv_conf *sc = ap_get_module_config(vs->module_config,
                                                      &x509authn_module);
        const char *key, *err;
        x509a_crlstore_conf conf;

        if (!crl_store_used(sc) || !sc->verifier || sc->crlstore) {
            continue;
        }
        key = sc->crl_cache_dir ? sc->crl_cache_dir : "";
        sc->crlstore = apr_hash_get(by_dir, key, APR_HASH_KEY_STRING);
        if (sc->crlstore) {
            continue;
        }
        memset(&conf, 0, sizeof(conf));
        conf.cache_dir = sc->crl_cache_dir;
        conf.timeout = X509A_CRL_TIMEOUT;
        conf.max_len = X509A_CRL_MAX_LEN;
        if ((err = x509a_crlstore_create(pchild, &conf, &sc->crlstore))) {
            /* fail closed: x509authn_header_resolve refuses without it */
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, vs, X509A_LOGNO(0837)
                         "X509AuthnCRLFetch: %s", err);
            sc->crlstore = NULL;
            continue;
        }
        apr_hash_set(by_dir, key, APR_HASH_KEY_STRING, sc->crlstore);
        if (!stores) {
            stores = apr_array_make(pchild, 2, sizeof(x509a_crlstore *));
            apr_pool_cleanup_register(pchild, NULL, stores_gone,
                                      apr_pool_cleanup_null);
        }
        APR_ARRAY_PUSH(stores, x509a_crlstore *) = sc->crlstore;
    }
}
