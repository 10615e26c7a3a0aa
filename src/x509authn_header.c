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

#include "apr_atomic.h"
#include "apr_strings.h"

#include <sys/uio.h>

#include <openssl/err.h>
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

/* The window in which every certificate of the chain is valid. */
static void chain_window(STACK_OF(X509) *chain, apr_time_t *from,
                         apr_time_t *until)
{
    int i;

    *from = 0;
    *until = APR_INT64_MAX;
    for (i = 0; i < sk_X509_num(chain); i++) {
        X509 *x = sk_X509_value(chain, i);
        apr_time_t nb = x509a_time(X509_get0_notBefore(x));
        apr_time_t na = x509a_time(X509_get0_notAfter(x));

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

/* What an authentic shared-cache record says, on the entry made for it. */
static void apply_record(x509authn_entry *e, const x509a_record *rec,
                         apr_time_t now)
{
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
    apply_record(e, rec, now);
    return e;
}

/*
 * The shared cache and a forwarded chain (see forwarded_entry()).
 *
 * Records are keyed by the SHA-256 of each certificate's DER bytes (leaf
 * first, then the intermediates in the order they came) and the digest of
 * the verification settings.  A verified record written by this code
 * carries the leaf's compact form (x509a_cert_compact()), so that a hit
 * needs neither d2i_X509() nor formatting the certificate's views again:
 * the header value is taken apart down to the DER bytes only
 * (x509a_decode_leaf_der()), which are hashed and looked up.
 *
 * Why serving those bytes undecoded is as strict as decoding them:
 * x509a_decode_leaf_der() runs the very framing code of
 * x509a_decode_leaf() (base64, PEM armour, byte sequences, "one
 * certificate only" and every other refusal of the value), and stops
 * where the full decoder would call d2i_X509() on each certificate's
 * bytes.  What it does not check, that those bytes are a certificate with
 * nothing after it, is what the record proves: a record is written only
 * after a request carrying exactly those bytes (their SHA-256 is in its
 * key) was decoded by x509a_decode_leaf() and verified, and it is
 * authenticated (MAC), so that nobody but this fleet writes one.  A form
 * is written only when the key's leaf digest is of the DER bytes that
 * request carried (not of a re-encoding: X509_digest() hashes i2d_X509(),
 * which for input that is not strict DER may differ), and
 * x509a_cert_make_compact_sha256() refuses a form whose certificate
 * digest is not that of these bytes.  Forwarded intermediates are kept
 * as their bytes too, decoded only if a path rule needs them.  XFCC values
 * (whose checks read the certificate) and anything that goes wrong take
 * the full path: decode, and use the record as before.
 */
typedef struct {
    int keyed;                  /* digests and settings are set */
    int looked;                 /* the shared cache was asked */
    int hit;                    /* and answered @a rec */
    x509a_record rec;
    unsigned char settings[32];
    unsigned char *digests;     /* SHA-256 of each certificate's DER, leaf
                                 * first */
    int nuntrusted;             /* digests of intermediates after it */
    int raw;                    /* digests of the bytes the request carried */
} shared_state;

/* The digest of the verification settings a record is keyed with (and of
 * the CRLs and OCSP settings that decide with them).  Zero with *why and
 * *error when there is none. */
static int shared_settings(const x509authn_srv_conf *sc,
                           unsigned char settings[32], const char **why,
                           const char **error)
{
    x509a_verifier_settings_digest(sc->verifier, settings);
    if (x509authn_crl_fetching(sc)) {
        /* verdicts decided with fetched CRLs are keyed by the CRLs this
         * process holds too: a new CRL keys them anew */
        unsigned char held[32];

        if (!sc->crlstore) {
            *why = "X509AuthnCRLFetch: no CRL store in this process";
            *error = X509A_REASON_REVOCATION_UNKNOWN;
            return 0;
        }
        x509a_crlstore_digest(sc->crlstore, held);
        x509authn_crl_key(sc, settings, held, settings);
    }
    /* verdicts decided with OCSP: keyed by its settings too */
    x509authn_ocsp_settings(sc, settings, settings);
    return 1;
}

/* Ask the shared cache for the record of @a st. */
static void shared_lookup(request_rec *r, shared_state *st, apr_time_t now)
{
    unsigned char key[X509A_RECORD_KEY_LEN];

    if (!st->keyed || !x509authn_global.instance
        || !x509a_record_cache_key_digests(st->digests, st->nuntrusted,
                                           st->settings, key)) {
        return;
    }
    st->looked = 1;
    st->hit = x509authn_record_get(r, key, now, &st->rec);
    x509authn_stat_add(r->connection, st->hit
                                      ? X509AUTHN_STAT_CACHE_SHARED_HIT
                                      : X509AUTHN_STAT_CACHE_SHARED_MISS);
}

/* A broken form in an authentic record is a bug or an attack by someone
 * who holds the secret: said once per process, at warning level. */
static volatile apr_uint32_t form_warned;

typedef struct {
    request_rec *r;
    x509authn_entry *e;
} compact_report;

/* Debug: whether anything decoded the certificate while the request ran
 * (the point of the compact form is that nothing does). */
static apr_status_t compact_report_cleanup(void *data)
{
    compact_report *cr = data;
    int decoded;

    x509authn_entry_lock(cr->e);
    decoded = x509a_cert_x509_decoded(cr->e->cert);
    x509authn_entry_unlock(cr->e);
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, cr->r, X509A_LOGNO(0863)
                  "certificate from the compact form: %s",
                  decoded ? "decoded during the request"
                          : "not decoded during the request");
    return APR_SUCCESS;
}

/* The entry for a verified record with a compact form, without decoding
 * the leaf; NULL to take the full path. */
static x509authn_entry *compact_entry(request_rec *r,
                                      const x509authn_srv_conf *sc,
                                      const x509a_der *leaf,
                                      const apr_array_header_t *chain,
                                      const shared_state *st, apr_time_t now)
{
    X509_STORE *store;
    x509authn_entry *e;
    const char *why;
    int i;

    /* as record_entry(): the store, for path rules */
    store = x509a_verifier_store(sc->verifier);
    e = x509authn_entry_create_compact(r->pool, leaf->der, leaf->len,
                                       st->digests, st->rec.form,
                                       st->rec.form_len, NULL, store, &why);
    X509_STORE_free(store);
    if (!e) {
        if (why && apr_atomic_cas32(&form_warned, 1, 0) == 0) {
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, X509A_LOGNO(0860)
                          "shared cache (%s): an authentic record holds a "
                          "compact form this server refuses (%s); the "
                          "certificate is decoded instead.  A bug, or "
                          "someone who holds X509AuthnCacheSecret (logged "
                          "once)", x509authn_global.provider_name, why);
        }
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, X509A_LOGNO(0861)
                      "shared cache (%s): compact form not used (%s); "
                      "decoding the certificate",
                      x509authn_global.provider_name,
                      why ? why : "out of memory");
        return NULL;
    }
    if (chain->nelts > 0) {
        /* the intermediates too, decoded only if a path rule needs them:
         * these bytes were decoded when the record was written */
        const unsigned char **der = apr_palloc(r->pool, chain->nelts
                                                        * sizeof(*der));
        apr_size_t *len = apr_palloc(r->pool, chain->nelts * sizeof(*len));

        for (i = 0; i < chain->nelts; i++) {
            der[i] = APR_ARRAY_IDX(chain, i, x509a_der).der;
            len[i] = APR_ARRAY_IDX(chain, i, x509a_der).len;
        }
        x509a_cert_set_untrusted_der(e->cert, der, len, st->digests + 32,
                                     chain->nelts);
    }
    apply_record(e, &st->rec, now);
    if (APLOGrdebug(r)) {
        compact_report *cr = apr_palloc(r->pool, sizeof(*cr));

        cr->r = r;
        cr->e = e;
        /* before the request's reference is released */
        apr_pool_pre_cleanup_register(r->pool, cr, compact_report_cleanup);
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, X509A_LOGNO(0303)
                  "verification result taken from the shared cache (%s), "
                  "with the certificate's compact form (not decoded)",
                  x509authn_global.provider_name);
    return e;
}

/* The shared cache's answer for the DER bytes of the header values,
 * without decoding them: the entry when a verified record holds a compact
 * form; else NULL, with what was found in @a st for the full path. */
static x509authn_entry *shared_entry(request_rec *r,
                                     const x509authn_srv_conf *sc,
                                     const char *leaf_value,
                                     apr_array_header_t *chain_values,
                                     apr_time_t now, shared_state *st)
{
    x509a_forwarded_der fd;
    apr_array_header_t *chain;
    const char *why, *error;
    unsigned int mdlen;
    int i;

    /* a value refused here is refused by the full decoder too, which
     * says why */
    if (x509a_decode_leaf_der(r->pool, leaf_value, sc->format, sc->max_len,
                              &fd)
        || fd.unsupported || !fd.leaf.der) {
        return NULL;
    }
    chain = fd.chain ? fd.chain : apr_array_make(r->pool, 2,
                                                 sizeof(x509a_der));
    for (i = 0; chain_values && i < chain_values->nelts; i++) {
        if (x509a_decode_chain_der(r->pool, APR_ARRAY_IDX(chain_values, i,
                                                          const char *),
                                   sc->max_len, chain)) {
            return NULL;
        }
    }
    if (!shared_settings(sc, st->settings, &why, &error)) {
        return NULL;
    }
    st->nuntrusted = chain->nelts;
    st->digests = apr_palloc(r->pool, 32 * (apr_size_t)(1 + chain->nelts));
    for (i = 0; i <= chain->nelts; i++) {
        const x509a_der *d = i == 0 ? &fd.leaf
                                    : &APR_ARRAY_IDX(chain, i - 1, x509a_der);

        if (!EVP_Digest(d->der, d->len, st->digests + 32 * i, &mdlen,
                        x509a_sha256(), NULL)) {
            ERR_clear_error();
            return NULL;
        }
    }
    st->keyed = 1;
    st->raw = 1;
    shared_lookup(r, st, now);
    if (!st->hit || !st->rec.verified || !st->rec.form) {
        return NULL;
    }
    return compact_entry(r, sc, &fd.leaf, chain, st, now);
}

/* Verify a forwarded chain locally, or take the shared cache's
 * (authenticated) word for it.  Only definite verdicts are cached: a
 * success until the TTL, a refusal for at most X509AUTHN_MAX_FAILURE_TTL,
 * neither past the nextUpdate of the CRLs it was decided with; transient
 * failures not at all (e->expires <= now). */
static x509authn_entry *verified_entry(request_rec *r,
                                       const x509authn_srv_conf *sc,
                                       X509 *leaf, STACK_OF(X509) *untrusted,
                                       apr_time_t now, shared_state *st,
                                       const char **why, const char **error)
{
    unsigned char key[X509A_RECORD_KEY_LEN];
    STACK_OF(X509) *verified = NULL;
    x509a_verify_info info;
    x509a_crlfetch_info finfo;
    x509a_record rec;
    x509authn_entry *e;
    const char *err = NULL;
    apr_time_t ocsp_bound;
    int ok, shared, i, fetching = x509authn_crl_fetching(sc);

    if (!st->keyed) {
        /* not looked up by the DER bytes (XFCC): by the decoded chain */
        unsigned int mdlen;
        int n = sk_X509_num(untrusted);

        if (!shared_settings(sc, st->settings, why, error)) {
            return NULL;
        }
        st->nuntrusted = n > 0 ? n : 0;
        st->digests = apr_palloc(r->pool,
                                 32 * (apr_size_t)(1 + st->nuntrusted));
        st->keyed = X509_digest(leaf, x509a_sha256(), st->digests, &mdlen);
        for (i = 0; st->keyed && i < st->nuntrusted; i++) {
            st->keyed = X509_digest(sk_X509_value(untrusted, i), x509a_sha256(),
                                    st->digests + 32 * (i + 1), &mdlen);
        }
        ERR_clear_error();
        st->raw = 0;
        shared_lookup(r, st, now);
    }
    shared = st->keyed;
    if (st->hit) {
        if (!(e = record_entry(sc, leaf, untrusted, &st->rec, now))) {
            *why = "out of memory";
            *error = X509A_REASON_INTERNAL;
            return NULL;
        }
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, X509A_LOGNO(0303)
                      "verification result taken from the shared cache "
                      "(%s)", x509authn_global.provider_name);
        return e;
    }

    ok = x509authn_verify_revocation(r, sc, fetching, leaf, untrusted, now,
                                     &verified, &err, &info, &finfo,
                                     &ocsp_bound);
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
                if (!X509_digest(sk_X509_value(verified, i), x509a_sha256(),
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
        shared = x509a_record_cache_key_digests(st->digests, st->nuntrusted,
                                                decided, key);
        /* the compact form, when the key's leaf digest is of the bytes
         * this request carried (see shared_state) */
        if (shared && rec.verified && st->raw
            && !memcmp(x509a_cert_digest(e->cert, X509A_DIGEST_SHA256),
                       st->digests, 32)) {
            unsigned char *form;
            apr_size_t form_len;
            const char *ferr = x509a_cert_compact(e->cert, r->pool, &form,
                                                  &form_len);

            if (!ferr) {
                rec.form = form;
                rec.form_len = form_len;
            }
            else {
                ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                              X509A_LOGNO(0864) "shared cache: record "
                              "written without a compact form: %s", ferr);
            }
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
    shared_state st;
    const char *err;
    int i;

    memset(&st, 0, sizeof(st));
    if (sc->verify && x509authn_global.instance
        && (e = shared_entry(r, sc, leaf_value, chain_values, now, &st))) {
        return e;
    }
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
    /* the intermediates of both headers, owned by fwd.chain's cleanup
     * and by the ones registered below */
    untrusted = sk_X509_new_null();
    apr_pool_cleanup_register(r->pool, untrusted, free_stack_only,
                              apr_pool_cleanup_null);
    for (i = 0; fwd.chain && i < sk_X509_num(fwd.chain); i++) {
        sk_X509_push(untrusted, sk_X509_value(fwd.chain, i));
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
    return verified_entry(r, sc, fwd.leaf, untrusted, now, &st, why, error);
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
