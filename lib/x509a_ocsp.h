/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/**
 * @file x509a_ocsp.h
 * @brief OCSP (RFC 6960) for forwarded certificates: the request for one
 * certificate and the check of a responder's answer, with OpenSSL's OCSP
 * functions.
 *
 * A query names one certificate by its CertID (SHA-1 hashes of the
 * issuer's name and key, and the serial number: what responders index,
 * RFC 5019 2.1.1), optionally with a nonce.  A response is taken only when
 * it is successful, signed by the issuer itself, by a delegated responder
 * certificate issued by that issuer with id-kp-OCSPSigning, or by one of
 * the configured responder certificates; covers the query's CertID; is
 * current (thisUpdate/nextUpdate within the allowed skew, and no older
 * than MaxAge); and, when a nonce was sent, echoes it.  No network here:
 * the caller sends the request and hands the answer back.
 */

#ifndef X509A_OCSP_H
#define X509A_OCSP_H

#include <apr_pools.h>
#include <apr_time.h>
#include <openssl/x509.h>

/** Largest OCSP response accepted (issue 15: 64 KiB). */
#define X509A_OCSP_MAX_RESPONSE 65536

/** How long a response without nextUpdate is kept. */
#define X509A_OCSP_DEFAULT_KEEP apr_time_from_sec(3600)

/** What a response says about the certificate. */
typedef enum {
    X509A_OCSP_GOOD = 0,    /**< not revoked */
    X509A_OCSP_REVOKED,     /**< revoked (reason and time in the result) */
    X509A_OCSP_UNKNOWN,     /**< the responder does not know it */
    X509A_OCSP_ERROR        /**< no usable answer: status undetermined */
} x509a_ocsp_status;

/** How responses are checked. */
typedef struct {
    /** Seconds of clock difference allowed on thisUpdate and nextUpdate. */
    long skew;
    /** Oldest thisUpdate accepted, in seconds; -1: none (nextUpdate
     *  rules). */
    long max_age;
    /** Responder certificates trusted as they are (signers of responses
     *  for any certificate), or NULL. */
    STACK_OF(X509) *responders;
} x509a_ocsp_conf;

/** The outcome of checking a response. */
typedef struct {
    x509a_ocsp_status status;   /**< The verdict. */
    /** Why (ERROR), or what (REVOKED: "revoked (keyCompromise) at ..."):
     *  text for the log. */
    const char *why;
    /** REVOKED: the CRLReason code, or -1 when the response gives none. */
    int reason;
    /** The response's thisUpdate and nextUpdate (0: none). */
    apr_time_t this_update, next_update;
    /** The verdict may be reused until then (nextUpdate; without it
     *  @a fetched plus X509A_OCSP_DEFAULT_KEEP; never past thisUpdate plus
     *  MaxAge).  May be <= now: usable now, not to be kept.  0 for ERROR. */
    apr_time_t expires;
} x509a_ocsp_result;

/** One certificate's question. */
typedef struct x509a_ocsp_query x509a_ocsp_query;

/**
 * The query for @a cert, issued by @a issuer (the next certificate of its
 * verified chain).
 * @param nonce non-zero: the request carries a random nonce
 * @return NULL on success (query in @a out, freed with @a p), else why not
 */
const char *x509a_ocsp_query_make(apr_pool_t *p, X509 *cert, X509 *issuer,
                                  int nonce, x509a_ocsp_query **out);

/** The DER of the query's OCSPRequest (to POST as
 *  application/ocsp-request). */
const unsigned char *x509a_ocsp_query_der(const x509a_ocsp_query *q,
                                          apr_size_t *len);

/**
 * SHA-256 of a label and the DER of the query's CertID: names the
 * certificate for caches (the same for every query about it, nonce or
 * not).
 */
void x509a_ocsp_query_id(const x509a_ocsp_query *q, unsigned char out[32]);

/**
 * The first http:// or https:// URL of the certificate's Authority
 * Information Access OCSP entries, allocated from @a p, or NULL.
 */
const char *x509a_ocsp_aia_url(apr_pool_t *p, X509 *cert);

/**
 * Check a DER OCSPResponse for the query.
 * @param check_nonce non-zero: the response must echo the query's nonce
 *        (when it was sent with one); zero for a response taken from a
 *        cache, answered to another query
 * @param fetched when the response was received, which bounds the use of
 *        responses without nextUpdate; 0 for one taken from a cache: its
 *        thisUpdate (as old as it may be)
 * @param now the current time
 */
void x509a_ocsp_check(apr_pool_t *p, const x509a_ocsp_query *q,
                      const x509a_ocsp_conf *conf, const unsigned char *der,
                      apr_size_t len, int check_nonce, apr_time_t fetched,
                      apr_time_t now, x509a_ocsp_result *out);

/**
 * Read PEM responder certificates from @a file for x509a_ocsp_conf.
 * @return NULL (the certificates in @a out, freed with @a p), or why not
 */
const char *x509a_ocsp_load_responders(apr_pool_t *p, const char *file,
                                       STACK_OF(X509) **out);

#endif /* X509A_OCSP_H */
