/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/*
 * OCSP for forwarded certificates: after a chain has verified locally to a
 * trust anchor, ask the responder its certificates name (or the configured
 * one) about the leaf, or every certificate but the anchor, and refuse
 * revoked ones; when the status cannot be determined, refuse unless
 * X509AuthnRevocationSoftFail is on.
 *
 * Answers are kept per process until the response's nextUpdate (an hour
 * without one, never past thisUpdate + X509AuthnOCSPMaxAge), failures for
 * OCSP_FAIL_TTL; one query at a time per certificate per process: the
 * requests that need the same answer meanwhile wait for it.  Responses
 * are shared through the shared cache as the responder's signed DER, which
 * every reader checks again (signer, CertID, times) before use: the cache
 * server cannot forge or alter an answer, only replay one still within
 * its validity.  Both are keyed by the certificate's CertID and the
 * digest of the OCSP settings.
 */

#include "x509authn.h"

#include "apr_strings.h"
#include "apr_hash.h"
#include "apr_thread_cond.h"

#include <openssl/evp.h>

#include "x509a_http.h"
#include "x509a_ocsp.h"

APLOG_USE_MODULE(x509authn);

/** How long a failure to learn a status is remembered per process. */
#define OCSP_FAIL_TTL apr_time_from_sec(30)
/** Most answers kept per process. */
#define OCSP_SLOTS_MAX 4096
/** Default X509AuthnOCSPTimeout and X509AuthnOCSPTimeSkew. */
#define OCSP_DEFAULT_TIMEOUT 10
#define OCSP_DEFAULT_SKEW 300

/* ------------------------------------------------------------------------ */
/* Configuration                                                            */
/* ------------------------------------------------------------------------ */

x509authn_ocsp_conf *x509authn_ocsp_create(apr_pool_t *p)
{
    x509authn_ocsp_conf *oc = apr_pcalloc(p, sizeof(*oc));

    oc->timeout = OCSP_DEFAULT_TIMEOUT;
    oc->nonce = 1;
    oc->max_age = -1;
    oc->skew = OCSP_DEFAULT_SKEW;
    return oc;
}

#define OCSP_MERGE(field, bit) \
    oc->field = add->bit ? add->field : base->field; \
    oc->bit = add->bit || base->bit

x509authn_ocsp_conf *x509authn_ocsp_merge(apr_pool_t *p,
                                          const x509authn_ocsp_conf *base,
                                          const x509authn_ocsp_conf *add)
{
    x509authn_ocsp_conf *oc = apr_pcalloc(p, sizeof(*oc));

    OCSP_MERGE(mode, mode_set);
    OCSP_MERGE(default_responder, default_responder_set);
    OCSP_MERGE(override, override_set);
    OCSP_MERGE(responder_file, responder_file_set);
    oc->responders = add->responder_file_set ? add->responders
                                             : base->responders;
    OCSP_MERGE(timeout, timeout_set);
    OCSP_MERGE(nonce, nonce_set);
    OCSP_MERGE(max_age, max_age_set);
    OCSP_MERGE(skew, skew_set);
    return oc;
}

static x509authn_ocsp_conf *ocsp_conf(cmd_parms *cmd)
{
    x509authn_srv_conf *sc = ap_get_module_config(cmd->server->module_config,
                                                  &x509authn_module);
    return sc->ocsp;
}

static const char *ocsp_error(cmd_parms *cmd, const char *err)
{
    return apr_pstrcat(cmd->pool, cmd->cmd->name, ": ", err, NULL);
}

static const char *ocsp_seconds(cmd_parms *cmd, const char *arg, long min,
                                long max, long *out)
{
    char *end;
    apr_int64_t v = apr_strtoi64(arg, &end, 10);

    if (!*arg || *end || v < min || v > max) {
        return ocsp_error(cmd, apr_psprintf(cmd->pool, "'%s' is not a number "
                                            "of seconds from %ld to %ld",
                                            arg, min, max));
    }
    *out = (long)v;
    return NULL;
}

const char *x509authn_set_ocsp(cmd_parms *cmd, void *dconf, const char *arg)
{
    x509authn_ocsp_conf *oc = ocsp_conf(cmd);
    const char *name = cmd->cmd->name, *err;
    long v;

    if (!strcasecmp(name, "X509AuthnOCSP")) {
        if (!strcasecmp(arg, "off")) {
            oc->mode = X509AUTHN_OCSP_OFF;
        }
        else if (!strcasecmp(arg, "leaf")) {
            oc->mode = X509AUTHN_OCSP_LEAF;
        }
        else if (!strcasecmp(arg, "chain") || !strcasecmp(arg, "on")) {
            /* "on" as mod_ssl's SSLOCSPEnable on: every certificate */
            oc->mode = X509AUTHN_OCSP_CHAIN;
        }
        else {
            return ocsp_error(cmd, apr_psprintf(cmd->pool, "'%s' is not off, "
                                                "leaf, chain or on", arg));
        }
        oc->mode_set = 1;
    }
    else if (!strcasecmp(name, "X509AuthnOCSPDefaultResponder")) {
        if ((err = x509a_http_parse(cmd->pool, arg, NULL))) {
            return ocsp_error(cmd, apr_psprintf(cmd->pool, "'%s': %s", arg,
                                                err));
        }
        oc->default_responder = arg;
        oc->default_responder_set = 1;
    }
    else if (!strcasecmp(name, "X509AuthnOCSPResponderCertificateFile")) {
        const char *path = ap_server_root_relative(cmd->pool, arg);

        if (!path) {
            return ocsp_error(cmd, apr_psprintf(cmd->pool, "bad path '%s'",
                                                arg));
        }
        if ((err = x509a_ocsp_load_responders(cmd->pool, path,
                                              &oc->responders))) {
            return ocsp_error(cmd, err);
        }
        oc->responder_file = path;
        oc->responder_file_set = 1;
    }
    else if (!strcasecmp(name, "X509AuthnOCSPTimeout")) {
        if ((err = ocsp_seconds(cmd, arg, 1, 300, &v))) {
            return err;
        }
        oc->timeout = (int)v;
        oc->timeout_set = 1;
    }
    else if (!strcasecmp(name, "X509AuthnOCSPMaxAge")) {
        if ((err = ocsp_seconds(cmd, arg, 0, 366L * 86400, &v))) {
            return err;
        }
        oc->max_age = v;
        oc->max_age_set = 1;
    }
    else {  /* X509AuthnOCSPTimeSkew */
        if ((err = ocsp_seconds(cmd, arg, 0, 86400, &v))) {
            return err;
        }
        oc->skew = v;
        oc->skew_set = 1;
    }
    return NULL;
}

const char *x509authn_set_ocsp_flag(cmd_parms *cmd, void *dconf, int on)
{
    x509authn_ocsp_conf *oc = ocsp_conf(cmd);

    if (!strcasecmp(cmd->cmd->name, "X509AuthnOCSPOverrideResponder")) {
        oc->override = on;
        oc->override_set = 1;
    }
    else {
        oc->nonce = on;
        oc->nonce_set = 1;
    }
    return NULL;
}

/* What decides an answer: which responder is asked, whom it may be signed
 * by, how old it may be (the timeout decides no answer, only failures). */
static void ocsp_digest(x509authn_ocsp_conf *oc)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int mdlen;
    long v[5];
    int i;

    v[0] = oc->mode;
    v[1] = oc->override;
    v[2] = oc->nonce;
    v[3] = oc->max_age;
    v[4] = oc->skew;
    EVP_DigestInit_ex(md, x509a_sha256(), NULL);
    EVP_DigestUpdate(md, "x509a-ocsp-settings-1", 21);
    EVP_DigestUpdate(md, v, sizeof(v));
    if (oc->default_responder) {
        EVP_DigestUpdate(md, oc->default_responder,
                         strlen(oc->default_responder) + 1);
    }
    for (i = 0; oc->responders && i < sk_X509_num(oc->responders); i++) {
        unsigned char fp[32];
        unsigned int n;

        if (X509_digest(sk_X509_value(oc->responders, i), x509a_sha256(), fp,
                        &n)) {
            EVP_DigestUpdate(md, fp, n);
        }
    }
    EVP_DigestFinal_ex(md, oc->digest, &mdlen);
    EVP_MD_CTX_free(md);
}

int x509authn_ocsp_post_config(apr_pool_t *ptemp, server_rec *s)
{
    server_rec *vs;

    for (vs = s; vs; vs = vs->next) {
        x509authn_srv_conf *sc = ap_get_module_config(vs->module_config,
                                                      &x509authn_module);
        x509authn_ocsp_conf *oc = sc->ocsp;

        ocsp_digest(oc);
        if (oc->mode != X509AUTHN_OCSP_OFF && x509authn_header_mode(sc)
            && !sc->verify) {
            /* OCSP needs the verified chain: each certificate's issuer */
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, vs, X509A_LOGNO(0950)
                         "X509AuthnOCSP needs X509AuthnHeaderVerify On in "
                         "%s:%d: forwarded chains are not verified here, so "
                         "no issuer is known to ask about",
                         vs->server_hostname ? vs->server_hostname : "*",
                         vs->port);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    return OK;
}

/* ------------------------------------------------------------------------ */
/* Answers kept by this process                                             */
/* ------------------------------------------------------------------------ */

typedef struct ocsp_slot ocsp_slot;
struct ocsp_slot {
    unsigned char key[64];      /* CertID digest, settings digest */
    int fetching;               /* one request asks; the others wait */
    x509a_ocsp_status status;
    char why[256];
    apr_time_t expires;
    ocsp_slot *next_free;
};

static struct {
    apr_thread_mutex_t *lock;   /* guards everything below */
    apr_thread_cond_t *done;    /* a query finished */
    apr_pool_t *pool;
    apr_hash_t *slots;
    int count;
    ocsp_slot *free;
} oc_cache;

static apr_status_t ocsp_cache_gone(void *data)
{
    memset(&oc_cache, 0, sizeof(oc_cache));
    return APR_SUCCESS;
}

void x509authn_ocsp_child_init(apr_pool_t *pchild)
{
    if (apr_thread_mutex_create(&oc_cache.lock, APR_THREAD_MUTEX_DEFAULT,
                                pchild) != APR_SUCCESS
        || apr_thread_cond_create(&oc_cache.done, pchild) != APR_SUCCESS) {
        oc_cache.lock = NULL;
        return;
    }
    oc_cache.pool = pchild;
    oc_cache.slots = apr_hash_make(pchild);
    apr_pool_cleanup_register(pchild, NULL, ocsp_cache_gone,
                              apr_pool_cleanup_null);
}

/* A new slot for @a key, marked as being fetched, or NULL when the table
 * is full of live answers (lock held). */
static ocsp_slot *slot_new(const unsigned char *key, apr_time_t now)
{
    ocsp_slot *sl;

    if (oc_cache.count >= OCSP_SLOTS_MAX) {
        apr_hash_index_t *hi;

        for (hi = apr_hash_first(NULL, oc_cache.slots); hi;
             hi = apr_hash_next(hi)) {
            ocsp_slot *old = apr_hash_this_val(hi);
            if (!old->fetching && old->expires <= now) {
                apr_hash_set(oc_cache.slots, old->key, sizeof(old->key), NULL);
                old->next_free = oc_cache.free;
                oc_cache.free = old;
                oc_cache.count--;
            }
        }
    }
    if (oc_cache.count >= OCSP_SLOTS_MAX) {
        return NULL;
    }
    if ((sl = oc_cache.free)) {
        oc_cache.free = sl->next_free;
    }
    else {
        sl = apr_palloc(oc_cache.pool, sizeof(*sl));
    }
    memset(sl, 0, sizeof(*sl));
    memcpy(sl->key, key, sizeof(sl->key));
    sl->fetching = 1;
    apr_hash_set(oc_cache.slots, sl->key, sizeof(sl->key), sl);
    oc_cache.count++;
    return sl;
}

/* ------------------------------------------------------------------------ */
/* Asking                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct {
    x509a_ocsp_status status;
    const char *why;
    apr_time_t expires;         /* answer usable until then */
} ocsp_answer;

/* Ask @a url about the query (or the shared cache for a response it has
 * kept), and check what comes back. */
static void ocsp_ask(request_rec *r, const x509authn_ocsp_conf *oc,
                     const x509a_ocsp_query *q, const unsigned char *key,
                     const char *url, apr_time_t now, ocsp_answer *a)
{
    x509a_ocsp_conf lc;
    x509a_ocsp_result res;
    const unsigned char *req;
    const char *body, *err;
    apr_size_t req_len, len;

    lc.skew = oc->skew;
    lc.max_age = oc->max_age;
    lc.responders = oc->responders;
    if (x509authn_global.instance) {
        unsigned char *buf = apr_palloc(r->pool, X509A_OCSP_MAX_RESPONSE);
        unsigned int blen = X509A_OCSP_MAX_RESPONSE;

        if (x509authn_socache_get(r, key, buf, &blen)) {
            /* checked as if fresh (nonce aside: it answered another
             * request); a cached response without nextUpdate counts from
             * its thisUpdate */
            x509a_ocsp_check(r->pool, q, &lc, buf, blen, 0, 0, now, &res);
            if (res.status != X509A_OCSP_ERROR && res.expires > now) {
                ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, X509A_LOGNO(0951)
                              "OCSP response for %s taken from the shared "
                              "cache (%s)", url, res.why);
                a->status = res.status;
                a->why = res.why;
                a->expires = res.expires;
                return;
            }
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, X509A_LOGNO(0952)
                          "OCSP response for %s in the shared cache not "
                          "usable: %s", url, res.status == X509A_OCSP_ERROR
                          ? res.why : "expired");
        }
    }
    req = x509a_ocsp_query_der(q, &req_len);
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, X509A_LOGNO(0953)
                  "asking OCSP responder %s", url);
    err = x509a_http_fetch(r->pool, url, "application/ocsp-request", req,
                           req_len, X509A_OCSP_MAX_RESPONSE, oc->timeout,
                           &body, &len);
    if (err) {
        a->status = X509A_OCSP_ERROR;
        a->why = apr_psprintf(r->pool, "no answer: %s", err);
        a->expires = 0;
        return;
    }
    x509a_ocsp_check(r->pool, q, &lc, (const unsigned char *)body, len, 1,
                     now, now, &res);
    a->status = res.status;
    a->why = res.why;
    a->expires = res.expires;
    if (res.status != X509A_OCSP_ERROR && res.expires > now
        && x509authn_global.instance) {
        x509authn_socache_put(r, key, (const unsigned char *)body,
                              (unsigned int)len, res.expires);
    }
}

/* The status of @a cert: this process's answer, another request's query
 * waited for, or a query of our own. */
static void ocsp_status(request_rec *r, const x509authn_ocsp_conf *oc,
                        X509 *cert, X509 *issuer, const char *url,
                        apr_time_t now, ocsp_answer *a)
{
    unsigned char key[X509AUTHN_SOCACHE_KEY_LEN];
    x509a_ocsp_query *q;
    ocsp_slot *sl = NULL;
    apr_time_t deadline;
    const char *err;

    if ((err = x509a_ocsp_query_make(r->pool, cert, issuer, oc->nonce, &q))) {
        a->status = X509A_OCSP_ERROR;
        a->why = err;
        a->expires = 0;
        return;
    }
    x509a_ocsp_query_id(q, key);
    memcpy(key + 32, oc->digest, 32);

    if (oc_cache.lock) {
        /* the one asking may take its whole timeout */
        deadline = now + apr_time_from_sec(oc->timeout + 1);
        apr_thread_mutex_lock(oc_cache.lock);
        for (;;) {
            apr_time_t t = apr_time_now();

            sl = apr_hash_get(oc_cache.slots, key, sizeof(key));
            if (sl && !sl->fetching && sl->expires > t) {
                a->status = sl->status;
                a->why = apr_pstrdup(r->pool, sl->why);
                a->expires = sl->expires;
                apr_thread_mutex_unlock(oc_cache.lock);
                if (a->status == X509A_OCSP_ERROR) {
                    a->expires = 0;
                }
                return;
            }
            if (sl && sl->fetching) {
                if (t >= deadline) {
                    apr_thread_mutex_unlock(oc_cache.lock);
                    a->status = X509A_OCSP_ERROR;
                    a->why = "another request's OCSP query did not finish "
                             "in time";
                    a->expires = 0;
                    return;
                }
                apr_thread_cond_timedwait(oc_cache.done, oc_cache.lock,
                                          deadline - t);
                continue;
            }
            if (sl) {
                /* expired: ask again in the same slot */
                sl->fetching = 1;
            }
            else {
                sl = slot_new(key, t);
            }
            break;
        }
        apr_thread_mutex_unlock(oc_cache.lock);
    }

    ocsp_ask(r, oc, q, key, url, now, a);

    if (sl) {
        apr_thread_mutex_lock(oc_cache.lock);
        sl->status = a->status;
        apr_cpystrn(sl->why, a->why ? a->why : "", sizeof(sl->why));
        /* failures briefly: a responder that is down is not asked by
         * every request, and is asked again soon */
        sl->expires = a->status == X509A_OCSP_ERROR ? now + OCSP_FAIL_TTL
                                                    : a->expires;
        sl->fetching = 0;
        apr_thread_cond_broadcast(oc_cache.done);
        apr_thread_mutex_unlock(oc_cache.lock);
    }
}

static const char *subject_of(apr_pool_t *p, X509 *x)
{
    char buf[256];

    X509_NAME_oneline(X509_get_subject_name(x), buf, sizeof(buf));
    return apr_pstrdup(p, buf);
}

int x509authn_ocsp_check(request_rec *r, const x509authn_srv_conf *sc,
                         STACK_OF(X509) *chain, apr_time_t now,
                         apr_time_t *bound, const char **why,
                         const char **error, int *transient)
{
    const x509authn_ocsp_conf *oc = sc->ocsp;
    int n = sk_X509_num(chain), last, i;

    *bound = APR_INT64_MAX;
    *transient = 0;
    /* the anchor (last) has no issuer in the chain: not asked about */
    last = oc->mode == X509AUTHN_OCSP_LEAF ? 1 : n - 1;
    for (i = 0; i < last && i + 1 < n; i++) {
        X509 *cert = sk_X509_value(chain, i);
        X509 *issuer = sk_X509_value(chain, i + 1);
        const char *url = NULL, *cause;
        ocsp_answer a;

        if (!oc->override || !oc->default_responder) {
            url = x509a_ocsp_aia_url(r->pool, cert);
        }
        if (!url) {
            url = oc->default_responder;
        }
        if (!url) {
            a.status = X509A_OCSP_ERROR;
            a.why = "the certificate names no OCSP responder and there is "
                    "no X509AuthnOCSPDefaultResponder";
            a.expires = 0;
        }
        else {
            ocsp_status(r, oc, cert, issuer, url, now, &a);
        }
        cause = apr_psprintf(r->pool, "OCSP responder %s",
                             url ? url : "(none)");
        switch (a.status) {
        case X509A_OCSP_GOOD:
            ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r, X509A_LOGNO(0954)
                          "OCSP: certificate at depth %d is good according "
                          "to %s", i, url);
            if (a.expires < *bound) {
                *bound = a.expires;
            }
            break;
        case X509A_OCSP_REVOKED:
            *why = apr_psprintf(r->pool, "certificate at depth %d (%s) is %s "
                                "according to %s", i, subject_of(r->pool,
                                                                 cert),
                                a.why, cause);
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, X509A_LOGNO(0955)
                          "%s", *why);
            *error = X509A_REASON_REVOKED;
            if (a.expires < *bound) {
                *bound = a.expires;
            }
            return 0;
        default:
            if (sc->soft_fail) {
                x509authn_revocation_unknown(r, cause, a.why, 1);
                /* looked at again soon */
                if (now + OCSP_FAIL_TTL < *bound) {
                    *bound = now + OCSP_FAIL_TTL;
                }
                break;
            }
            x509authn_revocation_unknown(r, cause, a.why, 0);
            *why = apr_psprintf(r->pool, "revocation status of the "
                                "certificate at depth %d (%s) unknown: %s: "
                                "%s", i, subject_of(r->pool, cert), cause,
                                a.why);
            *error = X509A_REASON_REVOCATION_UNKNOWN;
            *transient = 1;
            return 0;
        }
    }
    return 1;
}

void x509authn_ocsp_settings(const x509authn_srv_conf *sc,
                             const unsigned char in[32],
                             unsigned char out[32])
{
    EVP_MD_CTX *md;
    unsigned int mdlen;

    if (sc->ocsp->mode == X509AUTHN_OCSP_OFF) {
        memmove(out, in, 32);
        return;
    }
    md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, x509a_sha256(), NULL);
    EVP_DigestUpdate(md, "x509a-verify+ocsp-1", 19);
    EVP_DigestUpdate(md, in, 32);
    EVP_DigestUpdate(md, sc->ocsp->digest, 32);
    /* a verdict accepted under soft-fail is not one for a server without */
    EVP_DigestUpdate(md, sc->soft_fail ? "S" : "H", 1);
    EVP_DigestFinal_ex(md, out, &mdlen);
    EVP_MD_CTX_free(md);
}
