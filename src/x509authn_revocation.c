/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/*
 * What revocation checks (fetched CRLs, OCSP) share: the policy message
 * when the status of a certificate cannot be determined, logged once a
 * minute per cause per process rather than per request (a responder that
 * is down would otherwise write a line for every login).
 */

#include "x509authn.h"

#include "apr_strings.h"

APLOG_USE_MODULE(x509authn);

/* The causes seen lately: a small table of hashes of cause strings, each
 * with the time before which it stays quiet.  A cause that finds its
 * probe window full takes the slot that fell quiet first. */
#define SLOTS 256
#define PROBES 8
#define INTERVAL apr_time_from_sec(60)

typedef struct {
    apr_uint64_t hash;
    apr_time_t quiet_until;
} slot;

static slot slots[SLOTS];
static apr_thread_mutex_t *lock;

/* FNV-1a, 64 bits: causes are ours (URLs of verified certificates), and
 * a collision only delays a message by a minute. */
static apr_uint64_t cause_hash(const char *s)
{
    apr_uint64_t h = APR_UINT64_C(14695981039346656037);

    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= APR_UINT64_C(1099511628211);
    }
    return h ? h : 1;
}

int x509authn_log_allowed(const char *cause, apr_time_t now)
{
    apr_uint64_t h = cause_hash(cause ? cause : "");
    slot *victim = NULL;
    int i, allowed = 1;

    if (lock) {
        apr_thread_mutex_lock(lock);
    }
    for (i = 0; i < PROBES; i++) {
        slot *sl = &slots[(h + (apr_uint64_t)i) % SLOTS];

        if (sl->hash == h) {
            victim = sl;
            allowed = now >= sl->quiet_until;
            break;
        }
        if (!victim || sl->quiet_until < victim->quiet_until) {
            victim = sl;
        }
    }
    if (allowed) {
        victim->hash = h;
        victim->quiet_until = now + INTERVAL;
    }
    if (lock) {
        apr_thread_mutex_unlock(lock);
    }
    return allowed;
}

void x509authn_revocation_unknown(request_rec *r, const char *cause,
                                  const char *why, int accepted)
{
    if (!x509authn_log_allowed(apr_pstrcat(r->pool, accepted ? "+" : "-",
                                           cause, NULL), apr_time_now())) {
        return;
    }
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, X509A_LOGNO(0830)
                  "revocation status unknown (%s): %s; certificates it "
                  "concerns are %s (X509AuthnRevocationSoftFail %s; logged "
                  "at most once a minute)", cause, why,
                  accepted ? "accepted" : "refused", accepted ? "On" : "Off");
}

void x509authn_crlfetch_report(request_rec *r, const x509authn_srv_conf *sc,
                               const x509a_crlfetch_info *finfo,
                               apr_time_t now)
{
    if (finfo->fetched) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, X509A_LOGNO(0838)
                      "fetched %d CRL(s) for this chain (%d used)",
                      finfo->fetched, finfo->used);
    }
    if (finfo->cache_error
        && x509authn_log_allowed(apr_pstrcat(r->pool, "cachedir ",
                                             sc->crl_cache_dir, NULL), now)) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, X509A_LOGNO(0840)
                      "X509AuthnCRLCacheDir: %s; the CRL is used, but "
                      "the other processes and the next start do not "
                      "find it (logged at most once a minute)",
                      finfo->cache_error);
    }
    if (!finfo->unknown) {
        return;
    }
    if (finfo->invalid) {
        if (x509authn_log_allowed(apr_pstrcat(r->pool, "invalid ",
                                              finfo->unknown_url, NULL),
                                  now)) {
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, X509A_LOGNO(0839)
                          "CRL %s is not valid: %s; certificates it concerns "
                          "are refused (logged at most once a minute)",
                          finfo->unknown_url, finfo->unknown_why);
        }
    }
    else {
        x509authn_revocation_unknown(r, apr_pstrcat(r->pool, "CRL ",
                                                    finfo->unknown_url, NULL),
                                     finfo->unknown_why,
                                     finfo->soft_accepted);
    }
}

static apr_status_t lock_gone(void *data)
{
    lock = NULL;
    return APR_SUCCESS;
}

void x509authn_revocation_child_init(apr_pool_t *pchild)
{
    /* without it (no threads yet) the table is used unlocked */
    if (apr_thread_mutex_create(&lock, APR_THREAD_MUTEX_DEFAULT, pchild)
        != APR_SUCCESS) {
        lock = NULL;
        return;
    }
    apr_pool_cleanup_register(pchild, NULL, lock_gone, apr_pool_cleanup_null);
}

int x509authn_verify_revocation(request_rec *r, const x509authn_srv_conf *sc,
                                int fetching, X509 *leaf,
                                STACK_OF(X509) *untrusted, apr_time_t now,
                                STACK_OF(X509) **verified, const char **err,
                                x509a_verify_info *info,
                                x509a_crlfetch_info *finfo,
                                apr_time_t *ocsp_bound)
{
    int ok;

    *verified = NULL;
    *err = NULL;
    *ocsp_bound = APR_INT64_MAX;
    memset(finfo, 0, sizeof(*finfo));
    if (fetching) {
        x509a_crlfetch_policy pol;

        pol.max_stale = sc->crl_max_stale;
        pol.soft_fail = sc->soft_fail;
        ok = x509a_crlfetch_check(sc->verifier, sc->crlstore, &pol, r->pool,
                                  leaf, untrusted, verified, err, info,
                                  finfo);
        x509authn_crlfetch_report(r, sc, finfo, now);
    }
    else {
        ok = x509a_verifier_check(sc->verifier, r->pool, leaf, untrusted,
                                  verified, err, info);
    }
    x509authn_stat_add(r->connection, ok ? X509AUTHN_STAT_VERIFY_OK
                                         : X509AUTHN_STAT_VERIFY_FAILED);
    if (!ok) {
        *verified = NULL;
    }
    /* only chains that verified to a trust anchor make us ask anyone */
    else if (sc->ocsp->mode != X509AUTHN_OCSP_OFF) {
        const char *ocsp_why, *ocsp_error;
        int transient;

        if (!x509authn_ocsp_check(r, sc, *verified, now, ocsp_bound,
                                  &ocsp_why, &ocsp_error, &transient)) {
            ok = 0;
            *err = ocsp_why;
            info->reason = ocsp_error;
            info->transient = transient;
        }
    }
    return ok;
}
