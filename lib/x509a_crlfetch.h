/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/**
 * @file x509a_crlfetch.h
 * @brief CRLs fetched from the distribution points the certificates name
 * (X509AuthnCRLFetch), kept per process and optionally in a directory
 * shared by the processes and restarts, refreshed before nextUpdate.
 *
 * A verification with fetching first verifies the chain without CRLs: only
 * when its signatures verify to a trust anchor are the URLs its
 * certificates name (cRLDistributionPoints, freshestCRL) fetched, and the
 * chain verified again with those CRLs (each checked, when fetched, to be
 * signed by the certificate's issuer).  A URL is fetched by one thread at a
 * time per process; the others wait for it up to the timeout.
 */

#ifndef X509A_CRLFETCH_H
#define X509A_CRLFETCH_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_time.h>
#include <openssl/x509.h>

#include "x509a_verify.h"

/** The fetched CRLs of a process. */
typedef struct x509a_crlstore x509a_crlstore;

/** Settings of a store. */
typedef struct {
    const char *cache_dir;  /**< Directory shared by processes, or NULL. */
    int timeout;            /**< Seconds a fetch may take (and a request
                             *   wait for another thread's fetch). */
    apr_size_t max_len;     /**< Longest CRL fetched, in bytes. */
} x509a_crlstore_conf;

/** Default for x509a_crlstore_conf.max_len: 32 MiB. */
#define X509A_CRL_MAX_LEN (32 * 1024 * 1024)
/** Default for x509a_crlstore_conf.timeout. */
#define X509A_CRL_TIMEOUT 10
/** A failed fetch is not tried again on the request path for this long. */
#define X509A_CRL_RETRY apr_time_from_sec(10)
/** Nor is a CRL fetched again sooner than this after the last fetch. */
#define X509A_CRL_MIN_REFRESH apr_time_from_sec(10)

/**
 * A store (per process: it has a mutex and keeps X509_CRL objects).
 * @param p its pool; the CRLs are freed with it
 */
const char *x509a_crlstore_create(apr_pool_t *p,
                                  const x509a_crlstore_conf *conf,
                                  x509a_crlstore **out);

/** How one verification uses fetched CRLs. */
typedef struct {
    /** How long past its nextUpdate a CRL is still used (0: not at all). */
    apr_interval_time_t max_stale;
    /** A certificate whose CRL cannot be had (unreachable, stale) is
     *  accepted (X509AuthnRevocationSoftFail); a CRL that is not valid
     *  (bad signature, not a CRL) still refuses. */
    int soft_fail;
} x509a_crlfetch_policy;

/** What fetched CRLs did in one verification. */
typedef struct {
    /** How many fetched CRLs the verification was given. */
    int used;
    /** The earliest nextUpdate + max_stale of those CRLs (an hour after
     *  they were fetched for one without nextUpdate), APR_INT64_MAX when
     *  none: a cached verdict must not outlive it. */
    apr_time_t bound;
    /** x509a_crlstore_digest() when those CRLs were taken. */
    unsigned char digest[32];
    /** Non-zero when @a digest names exactly the CRLs used (no other
     *  thread replaced one meanwhile): only then may the verdict be shared
     *  under it. */
    int consistent;
    /** A certificate's CRL could not be had: revocation unknown. */
    int unknown;
    /** ... the CRL that was had is not valid (bad signature, not a CRL):
     *  refused even under soft fail. */
    int invalid;
    /** ... and the certificate was accepted anyway (soft fail). */
    int soft_accepted;
    /** The URL and why, when unknown. */
    const char *unknown_url;
    const char *unknown_why;
    /** When unknown: the first moment the URL is tried again on the
     *  request path (a verdict must not be kept past it). */
    apr_time_t retry_at;
    /** How many URLs this verification fetched (0 when all were kept). */
    int fetched;
    /** A fetched CRL could not be written to the cache directory: why
     *  (the CRL is used anyway), or NULL. */
    const char *cache_error;
} x509a_crlfetch_info;

/**
 * x509a_verifier_check() with CRLs fetched from the chain's distribution
 * points (for the leaf only under X509A_CRL_CHECK_LEAF).  Fetches only
 * after the chain verified without CRLs.  A certificate that names no
 * http(s) distribution point needs no fetched CRL: without a CRL file it
 * is not checked; with one, the file must have its issuer's CRL.
 * @param finfo receives what the fetched CRLs did (may be NULL)
 */
int x509a_crlfetch_check(x509a_verifier *v, x509a_crlstore *st,
                         const x509a_crlfetch_policy *pol, apr_pool_t *p,
                         X509 *leaf, STACK_OF(X509) *untrusted,
                         STACK_OF(X509) **verified, const char **why,
                         x509a_verify_info *info, x509a_crlfetch_info *finfo);

/**
 * SHA-256 over the URLs and contents of the CRLs the store holds: it
 * changes when a CRL is fetched or replaced, so that a cache keyed by it
 * forgets verdicts decided with older CRLs.
 */
void x509a_crlstore_digest(x509a_crlstore *st, unsigned char out[32]);

/** How many times a CRL of the store was added or replaced. */
unsigned int x509a_crlstore_generation(x509a_crlstore *st);

/** One URL of a store, as x509a_crlstore_health() reports it. */
typedef struct {
    const char *url;          /**< Where it is fetched from. */
    x509a_crl_health crl;     /**< The CRL held (issuer NULL: none yet). */
    apr_time_t fetched_at;    /**< When the CRL held was fetched (or read
                               *   from the cache directory); 0: never. */
    const char *failed;       /**< Why the last attempt failed, or NULL. */
} x509a_fetched_crl;

/**
 * The URLs of @a st and the CRLs held for them (x509a_fetched_crl), in
 * URL order, allocated from @a p; for status pages.
 */
apr_array_header_t *x509a_crlstore_health(x509a_crlstore *st, apr_pool_t *p);

/** Something the background refresh did, for the log. */
typedef struct {
    int error;          /**< Non-zero: a failure (else a new CRL). */
    const char *url;
    const char *msg;
} x509a_crl_event;

/**
 * The background refresh: fetch again the CRLs whose refresh time has
 * come (three quarters of the way from thisUpdate to nextUpdate, at least
 * X509A_CRL_MIN_REFRESH after the last fetch; failures retried after
 * X509A_CRL_RETRY), taking a fresher one from the cache directory when
 * another process fetched it.  CRLs no request used for a day are not
 * refreshed.
 * @param events receives x509a_crl_event (allocated from @a p)
 */
void x509a_crlstore_refresh(x509a_crlstore *st, apr_pool_t *p, apr_time_t now,
                            apr_array_header_t *events);

/**
 * The http(s) URLs a certificate names: of its cRLDistributionPoints
 * (@a delta 0) or freshestCRL (@a delta non-zero) extension, the first
 * http or https fullName URI of each distribution point.
 */
apr_array_header_t *x509a_crl_urls(apr_pool_t *p, X509 *cert, int delta);

#endif /* X509A_CRLFETCH_H */
