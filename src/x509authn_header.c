/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/*
 * Forwarded certificates: the certificate a trusted proxy forwards,
 * decoded, verified locally (or taken from the shared cache) and kept per
 * process, keyed by the exact header values (and per server, whose
 * settings decide decoding and verification), dropped when the CRLs are
 * reloaded or reach their nextUpdate.  Refusals are kept for minutes at
 * most, transient failures not at all.
 */

#include "x509authn.h"

#include "apr_strings.h"

#include <sys/uio.h>

#include <openssl/evp.h>

APLOG_USE_MODULE(x509authn);

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

const char *x509authn_forwarded_key(request_rec *r,
                                    const x509authn_srv_conf *sc,
                                    apr_size_t *len,
                                    apr_array_header_t **chains)
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

/* The entry for a forwarded chain from an authentic shared-cache record;
 * NULL when out of memory. */
static x509authn_entry *record_entry(const x509authn_srv_conf *sc,
                                     X509 *leaf, STACK_OF(X509) *untrusted,
                                     const x509a_record *rec, apr_time_t now)
{
    /* the verifier's store: where the certificates of the verified chain
     * that did not come with the request (the CA file's) are found for
     * path rules that need them (x509a_cert_path()) */
    X509_STORE *store = rec->verified ? x509a_verifier_store(sc->verifier)
                                      : NULL;
    x509authn_entry *e = x509authn_entry_create(leaf, NULL, untrusted, store,
                                                NULL);

    X509_STORE_free(store);

    if (!e) {
        return NULL;
    }
    if (rec->verified) {
        x509a_cert_set_verified_digests(e->cert, rec->chain, rec->nchain);
        e->valid_from = rec->valid_from;
        e->valid_until = rec->valid_until;
    }
    else {
        e->verified = 0;
        e->why = apr_pstrdup(e->pool, rec->why);
        /* a record without a token this release knows: the verification
         * failed, which is all it says */
        e->error = rec->reason ? rec->reason : X509A_REASON_CHAIN_INVALID;
    }
    /* kept here no longer than the record (CRL nextUpdate included) */
    e->expires = now + x509authn_global.ttl;
    if (rec->expires < e->expires) {
        e->expires = rec->expires;
    }
    return e;
}

/* Verify a forwarded chain locally, or take the shared cache's
 * (authenticated) word for it.  Only definite verdicts are cached: a
 * success until the TTL, a refusal for at most X509AUTHN_MAX_FAILURE_TTL,
 * neither past the nextUpdate of the CRLs it was decided with; transient
 * failures not at all (e->expires <= now). */
static x509authn_entry *verified_entry(request_rec *r,
                                       const x509authn_srv_conf *sc,
                                       X509 *leaf, STACK_OF(X509) *untrusted,
                                       apr_time_t now, const char **why,
                                       const char **error)
{
    unsigned char key[X509A_RECORD_KEY_LEN], settings[32];
    STACK_OF(X509) *verified = NULL;
    x509a_verify_info info;
    x509a_crlfetch_info finfo;
    x509a_record rec;
    x509authn_entry *e;
    const char *err = NULL;
    apr_time_t ocsp_bound = APR_INT64_MAX;
    int ok, shared, i, fetching = x509authn_crl_fetching(sc);

    x509a_verifier_settings_digest(sc->verifier, settings);
    if (fetching) {
        /* verdicts decided with fetched CRLs are keyed by the CRLs this
         * process holds too: a new CRL keys them anew */
        unsigned char held[32];

        if (!sc->crlstore) {
            *why = "X509AuthnCRLFetch: no CRL store in this process";
            *error = X509A_REASON_REVOCATION_UNKNOWN;
            return NULL;
        }
        x509a_crlstore_digest(sc->crlstore, held);
        x509authn_crl_key(sc, settings, held, settings);
    }
    /* verdicts decided with OCSP: keyed by its settings too */
    x509authn_ocsp_settings(sc, settings, settings);
    shared = x509a_record_cache_key(leaf, untrusted, settings, key);
    if (shared && x509authn_global.instance) {
        shared = x509authn_record_get(r, key, now, &rec) ? 2 : 1;
        x509authn_stat_add(r->connection, shared == 2
                                          ? X509AUTHN_STAT_CACHE_SHARED_HIT
                                          : X509AUTHN_STAT_CACHE_SHARED_MISS);
    }
    if (shared == 2) {
        if (!(e = record_entry(sc, leaf, untrusted, &rec, now))) {
            *why = "out of memory";
            *error = X509A_REASON_INTERNAL;
            return NULL;
        }
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, X509A_LOGNO(0303)
                      "verification result taken from the shared cache "
                      "(%s)", x509authn_global.provider_name);
        return e;
    }

    if (fetching) {
        x509a_crlfetch_policy pol;

        pol.max_stale = sc->crl_max_stale;
        pol.soft_fail = sc->soft_fail;
        ok = x509a_crlfetch_check(sc->verifier, sc->crlstore, &pol, r->pool,
                                  leaf, untrusted, &verified, &err, &info,
                                  &finfo);
        if (finfo.fetched) {
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, X509A_LOGNO(0838)
                          "fetched %d CRL(s) for this chain (%d used)",
                          finfo.fetched, finfo.used);
        }
        if (finfo.cache_error
            && x509authn_log_allowed(apr_pstrcat(r->pool, "cachedir ",
                                                 sc->crl_cache_dir, NULL),
                                     now)) {
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, X509A_LOGNO(0840)
                          "X509AuthnCRLCacheDir: %s; the CRL is used, but "
                          "the other processes and the next start do not "
                          "find it (logged at most once a minute)",
                          finfo.cache_error);
        }
    }
    else {
        ok = x509a_verifier_check(sc->verifier, r->pool, leaf, untrusted,
                                  &verified, &err, &info);
    }
    x509authn_stat_add(r->connection, ok ? X509AUTHN_STAT_VERIFY_OK
                                         : X509AUTHN_STAT_VERIFY_FAILED);
    /* only chains that verified to a trust anchor make us ask anyone */
    if (ok && sc->ocsp->mode != X509AUTHN_OCSP_OFF) {
        const char *ocsp_why, *ocsp_error;
        int transient;

        if (!x509authn_ocsp_check(r, sc, verified, now, &ocsp_bound,
                                  &ocsp_why, &ocsp_error, &transient)) {
            ok = 0;
            err = ocsp_why;
            info.reason = ocsp_error;
            info.transient = transient;
        }
    }
    e = x509authn_entry_create(leaf, ok ? verified : NULL, untrusted, NULL,
                               NULL);
    if (!e) {
        *why = "out of memory";
        *error = X509A_REASON_INTERNAL;
        return NULL;
    }
    memset(&rec, 0, sizeof(rec));
    if (ok) {
        unsigned char *digests;
        unsigned int mdlen;

        chain_window(verified, &e->valid_from, &e->valid_until);
        rec.verified = 1;
        rec.valid_from = e->valid_from;
        rec.valid_until = e->valid_until;
        rec.expires = now + x509authn_global.ttl;
        rec.nchain = sk_X509_num(verified);
        if (rec.nchain > X509A_RECORD_MAX_CHAIN) {
            shared = 0;
        }
        else {
            rec.chain = digests = apr_palloc(r->pool, 32 * rec.nchain);
            for (i = 0; i < rec.nchain; i++) {
                if (!X509_digest(sk_X509_value(verified, i), EVP_sha256(),
                                 digests + 32 * i, &mdlen)) {
                    shared = 0;
                }
            }
        }
    }
    else {
        e->verified = 0;
        e->why = apr_pstrdup(e->pool, err);
        e->error = info.reason ? info.reason : X509A_REASON_CHAIN_INVALID;
        rec.why = err;
        rec.reason = e->error;
        rec.expires = now + (x509authn_global.ttl < X509AUTHN_MAX_FAILURE_TTL
                             ? x509authn_global.ttl
                             : X509AUTHN_MAX_FAILURE_TTL);
        if (info.transient) {
            rec.expires = 0;
        }
    }
    if (info.crl_next_update < rec.expires) {
        rec.expires = info.crl_next_update;
    }
    /* nor past the OCSP responses it was decided with */
    if (ocsp_bound < rec.expires) {
        rec.expires = ocsp_bound;
    }
    if (fetching) {
        /* no longer than the fetched CRLs it was decided with */
        if (finfo.bound < rec.expires) {
            rec.expires = finfo.bound;
        }
        if (finfo.unknown) {
            /* decided by a failure (accepted under soft fail, or refused):
             * kept here until the URL is tried again, never shared */
            if (finfo.retry_at < rec.expires) {
                rec.expires = finfo.retry_at;
            }
            shared = 0;
            if (finfo.invalid) {
                if (x509authn_log_allowed(apr_pstrcat(r->pool, "invalid ",
                                                      finfo.unknown_url,
                                                      NULL), now)) {
                    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                                  X509A_LOGNO(0839) "CRL %s is not valid: "
                                  "%s; certificates it concerns are refused "
                                  "(logged at most once a minute)",
                                  finfo.unknown_url, finfo.unknown_why);
                }
            }
            else {
                x509authn_revocation_unknown(r, apr_pstrcat(r->pool, "CRL ",
                                                            finfo.unknown_url,
                                                            NULL),
                                             finfo.unknown_why,
                                             finfo.soft_accepted);
            }
        }
        if (!finfo.consistent) {
            shared = 0;
        }
    }
    e->expires = rec.expires;
    if (shared && rec.expires > now) {
        unsigned char decided[32];

        memcpy(decided, info.settings_digest, sizeof(decided));
        if (fetching) {
            x509authn_crl_key(sc, info.settings_digest, finfo.digest,
                              decided);
        }
        x509authn_ocsp_settings(sc, decided, decided);
        /* under the digest of the trust store that decided, which a CRL
         * reload (or fetch) may have changed since the look-up */
        if (memcmp(settings, decided, sizeof(settings))) {
            shared = x509a_record_cache_key(leaf, untrusted, decided, key);
        }
        if (shared) {
            x509authn_record_put(r, key, &rec);
        }
    }
    return e;
}

/* Decode, verify (or take the shared cache's word) and wrap a forwarded
 * certificate.  NULL with *why when the value itself is unusable. */
static x509authn_entry *forwarded_entry(request_rec *r,
                                        const x509authn_srv_conf *sc,
                                        const char *leaf_value,
                                        apr_array_header_t *chain_values,
                                        const char **why, const char **error)
{
    x509a_forwarded fwd;
    STACK_OF(X509) *untrusted;
    x509authn_entry *e;
    apr_time_t now = apr_time_now();
    const char *err;
    int i;

    if ((err = x509a_decode_leaf(r->pool, leaf_value, sc->format, sc->max_len,
                                 &fwd))) {
        *why = apr_psprintf(r->pool, "malformed %s header: %s", sc->header,
                            err);
        *error = X509A_REASON_DECODE_ERROR;
        return NULL;
    }
    if (!fwd.leaf) {
        *why = apr_psprintf(r->pool, "the trusted proxy forwarded no "
                            "certificate in %s", sc->header);
        *error = X509A_REASON_NO_CERTIFICATE;
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
            *error = X509A_REASON_DECODE_ERROR;
            return NULL;
        }
    }

    if (!sc->verify) {
        /* X509AuthnHeaderVerify Off: the proxy's verification stands */
        e = x509authn_entry_create(fwd.leaf, NULL, untrusted, NULL, NULL);
        if (e) {
            e->valid_from = 0;
            e->valid_until = APR_INT64_MAX;
            e->expires = now + x509authn_global.ttl;
        }
        else {
            *why = "out of memory";
            *error = X509A_REASON_INTERNAL;
        }
        return e;
    }
    return verified_entry(r, sc, fwd.leaf, untrusted, now, why, error);
}

void x509authn_header_resolve(request_rec *r, const x509authn_srv_conf *sc,
                              x509authn_found *f)
{
    apr_array_header_t *chain_values;
    const char *err;
    apr_time_t now = r->request_time;
    unsigned int generation = 0;
    x509authn_entry *e = NULL;
    int reloaded;

    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, X509A_LOGNO(0101)
                  "Attempting to extract certificate from %s header",
                  sc->header);
    f->key = x509authn_forwarded_key(r, sc, &f->key_len, &chain_values);
    if (!f->key) {
        f->why = apr_psprintf(r->pool, "no %s header from the trusted proxy",
                              sc->header);
        f->error = X509A_REASON_NO_CERTIFICATE;
        return;
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
        /* a fetched CRL added or replaced drops this process's verdicts */
        if (sc->crlstore && x509authn_crl_fetching(sc)) {
            generation += x509a_crlstore_generation(sc->crlstore);
        }
        /* fail closed before any cache can answer; the certificate is
         * still decoded, for the log line */
        if ((broken = x509a_verifier_broken(sc->verifier, r->pool))) {
            x509a_forwarded fwd;

            f->why = broken;
            f->error = X509A_REASON_REVOCATION_UNKNOWN;
            f->presented = 1;
            if (!x509a_decode_leaf(r->pool, apr_table_get(r->headers_in,
                                                          sc->header),
                                   sc->format, sc->max_len, &fwd)
                && fwd.leaf) {
                f->refused = x509authn_entry_hold(
                    r, x509authn_entry_create(fwd.leaf, NULL, NULL, NULL,
                                              NULL));
            }
            return;
        }
    }
    /* per server: its settings decide decoding and verification */
    if (sc->hcache) {
        e = x509authn_hcache_get(sc->hcache, f->key, f->key_len, now,
                                 generation);
        x509authn_stat_add(r->connection, e ? X509AUTHN_STAT_CACHE_PROC_HIT
                                            : X509AUTHN_STAT_CACHE_PROC_MISS);
    }
    if (!e) {
        e = forwarded_entry(r, sc, apr_table_get(r->headers_in, sc->header),
                            chain_values, &f->why, &f->error);
        if (!e) {
            f->presented = 1;
            return;
        }
        /* e->expires says how long the verdict may be kept, if at all */
        if (sc->hcache && e->expires > now) {
            e->key = apr_pmemdup(e->pool, f->key, f->key_len);
            e->key_len = f->key_len;
            e->generation = generation;
            x509authn_hcache_put(sc->hcache, e);
        }
    }
    x509authn_entry_hold(r, e);
    if (!e->verified) {
        f->why = e->why;
        f->error = e->error ? e->error : X509A_REASON_CHAIN_INVALID;
    }
    else if (now < e->valid_from) {
        f->why = "a certificate of the chain is not yet valid";
        f->error = X509A_REASON_NOT_YET_VALID;
    }
    else if (now >= e->valid_until) {
        f->why = "a certificate of the chain has expired";
        f->error = X509A_REASON_EXPIRED;
    }
    else {
        f->entry = e;
        return;
    }
    f->presented = 1;
    f->refused = e;
}

void x509authn_header_child_init(apr_pool_t *pchild, server_rec *s)
{
    server_rec *vs;

    if (x509authn_global.entries <= 0) {
        return;
    }
    for (vs = s; vs; vs = vs->next) {
        x509authn_srv_conf *sc = ap_get_module_config(vs->module_config,
                                                      &x509authn_module);
        if (x509authn_header_mode(sc) && !sc->hcache) {
            sc->hcache = x509authn_hcache_create(pchild,
                                                 x509authn_global.entries);
        }
    }
}
