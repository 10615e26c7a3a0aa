/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/**
 * @file x509a_verify.h
 * @brief Local verification of forwarded certificates.
 *
 * A verifier holds a trust store (CA file and/or hashed CA directory, CRLs)
 * and checks a leaf with the intermediates that came along (untrusted
 * helpers only): signatures up to a trust anchor, validity dates, the
 * clientAuth purpose, depth, and, when a CRL file is configured, CRLs for
 * every CA of the chain (delta CRLs in the same file included).  The CRL file is reloaded when it changes;
 * verification is safe from several threads.
 *
 * Signatures that do not change from one leaf to the next (those of the
 * intermediates and of the CRLs) are checked once per trust store: a
 * verified-signature cache keyed by the SHA-256 of the signed object's DER
 * and of its issuer certificate's DER, dropped with the store (at a CRL
 * reload) and bounded (X509A_SIG_CACHE_MAX).  Everything else (chain,
 * purpose, dates, revocation, policies, name constraints) is evaluated on
 * the full path at every verification.
 */

#ifndef X509A_VERIFY_H
#define X509A_VERIFY_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_time.h>
#include <openssl/x509.h>

/** Which certificates of the chain need a CRL (X509AuthnCARevocationCheck). */
typedef enum {
    X509A_CRL_CHECK_CHAIN = 0,  /**< every certificate (the default) */
    X509A_CRL_CHECK_LEAF,       /**< the leaf only */
    X509A_CRL_CHECK_NONE        /**< none: the CRL file is not used */
} x509a_crl_check;

/** Verification settings. */
typedef struct {
    const char *ca_file;  /**< PEM trust anchors (and intermediates), or NULL. */
    const char *ca_path;  /**< Hashed directory (c_rehash), or NULL. */
    const char *crl_file; /**< PEM CRLs, or NULL for no revocation check. */
    int depth;            /**< Maximum intermediates, or -1 for OpenSSL's. */
    x509a_crl_check crl_check;  /**< Which certificates need a CRL. */
    int no_crl_ok;        /**< A certificate whose issuer has no CRL in the
                           *   store passes (mod_ssl's no_crl_for_cert_ok);
                           *   a CRL that is there is still checked. */
    /** Non-zero: no verified-signature cache (every signature of the chain
     *  and of its CRLs is checked at every verification); set when the
     *  per-process caches are off (X509AuthnCacheEntries 0). */
    int sig_cache_off;
} x509a_verify_conf;

/** Most signatures a verifier's cache holds (x509a_verify.c: a
 *  certificate or CRL of the chain, other than the leaf, verified under
 *  its issuer's key); it starts again empty when full. */
#define X509A_SIG_CACHE_MAX 1024

/** A trust store with its settings. */
typedef struct x509a_verifier x509a_verifier;

/**
 * Load the trust store.
 * @param p pool the verifier lives in (the configuration pool)
 * @return NULL on success, else what could not be loaded
 */
const char *x509a_verifier_create(apr_pool_t *p, const x509a_verify_conf *conf,
                                  x509a_verifier **out);

/**
 * Reload the CRL file when it changed (looked at no more than once per
 * second).  A CRL file that cannot be read or parsed makes every later
 * verification fail until it is repaired.
 * @param reloaded set to non-zero when the CRLs were reloaded (may be NULL)
 * @return NULL, or an error message the first time a reload failed
 */
const char *x509a_verifier_refresh(x509a_verifier *v, apr_time_t now,
                                   int *reloaded);

/**
 * Why the trust store is unusable (a CRL file that cannot be read or
 * parsed), allocated from @a p, or NULL when it is fine.
 */
const char *x509a_verifier_broken(x509a_verifier *v, apr_pool_t *p);

/**
 * Verify a certificate.
 * @param untrusted intermediates that came with it (may be NULL)
 * @param verified on success, receives the verified chain (leaf first,
 *        freed with @a p's cleanup); may be NULL
 * @param why on failure, receives the reason (allocated from @a p)
 * @return non-zero when the certificate verifies
 */
int x509a_verifier_verify(x509a_verifier *v, apr_pool_t *p, X509 *leaf,
                          STACK_OF(X509) *untrusted, STACK_OF(X509) **verified,
                          const char **why);

/** What a verification found besides its verdict. */
typedef struct {
    /**
     * The earliest nextUpdate of the CRLs the verification looked at (the
     * CRLs of the issuers of the chain's certificates, when a CRL file is
     * configured), or APR_INT64_MAX when none bounds the verdict (no CRL
     * file, CRLs without nextUpdate).  A cached verdict must not outlive
     * it: past it, the same verification fails ("CRL has expired").
     */
    apr_time_t crl_next_update;
    /**
     * Non-zero when the failure says nothing about the certificate (trust
     * store unusable, out of memory, a look-up error): never cache it.
     */
    int transient;
    /** x509a_verifier_settings_digest() of the trust store that decided. */
    unsigned char settings_digest[32];
    /** OpenSSL's X509_V_ERR_* code of a failure (X509_V_OK on success, or
     *  when the failure had none: store unusable, out of memory). */
    int error;
    /** The depth in the chain @a error was found at (0: the leaf). */
    int error_depth;
    /** On failure, the refusal reason (X509A_REASON_*, x509a_reason.h):
     *  x509a_reason_of_verify_error() of @a error, revocation-unknown for
     *  an unusable CRL file, internal when out of memory; NULL on success. */
    const char *reason;
} x509a_verify_info;

/**
 * x509a_verifier_verify(), also saying what bounds the verdict.
 * @param info receives what the verification found (may be NULL)
 */
int x509a_verifier_check(x509a_verifier *v, apr_pool_t *p, X509 *leaf,
                         STACK_OF(X509) *untrusted, STACK_OF(X509) **verified,
                         const char **why, x509a_verify_info *info);

/** How one X509_verify_cert() run of x509a_verify_run() differs from the
 *  store's settings. */
typedef struct {
    unsigned long set_flags;    /**< X509_V_FLAG_* added to the store's. */
    unsigned long clear_flags;  /**< X509_V_FLAG_* removed from them. */
    /** CRLs besides the store's (X509_STORE_CTX_set0_crls), or NULL. */
    STACK_OF(X509_CRL) *crls;
    /** The user-initial-policy-set (X509_VERIFY_PARAM_set1_policies()),
     *  or NULL: any policy. */
    STACK_OF(ASN1_OBJECT) *policies;
    /** Verification callback instead of the store's, or NULL. */
    int (*verify_cb)(int ok, X509_STORE_CTX *ctx);
    /** X509_STORE_CTX_get_app_data() in @a verify_cb. */
    void *app_data;
    /** Non-zero: fill x509a_verify_info.crl_next_update (x509a_crl_bound()
     *  of the chain, on success and on failure). */
    int crl_bound;
} x509a_verify_run_opts;

/**
 * The one place a chain is verified (x509a_verifier_check() and the
 * verifications of x509a_crlfetch_check()): a store context on @a store
 * (a trust store of @a v, x509a_verifier_store()) with @a opts, and the
 * verdict mapped into @a info and @a why ("verification failed at depth N:
 * ..."; "out of memory" when no context could be made).
 * @param chain on success, receives the verified chain (freed with
 *        @a p's cleanup); may be NULL
 * @param info filled as x509a_verifier_check() says, except
 *        settings_digest, which is left alone
 * @return non-zero when the chain verifies
 */
int x509a_verify_run(x509a_verifier *v, X509_STORE *store, apr_pool_t *p,
                     X509 *leaf, STACK_OF(X509) *untrusted,
                     const x509a_verify_run_opts *opts,
                     STACK_OF(X509) **chain, const char **why,
                     x509a_verify_info *info);

/**
 * SHA-256 over everything that decides a verification: the CA
 * certificates, the CA directory, the CRLs currently loaded, the depth, the
 * purpose and the CRL check mode.  It changes when the CRLs are reloaded, so a cache keyed by
 * it forgets results obtained with older CRLs.
 */
void x509a_verifier_settings_digest(x509a_verifier *v, unsigned char out[32]);

/**
 * The earliest nextUpdate of the CRLs (base and delta) of the issuers of
 * @a chain's certificates that @a ctx's store holds: those
 * X509_verify_cert() looked at with CRL_CHECK_ALL, or would have, as far
 * as it got.  APR_INT64_MAX when none has a nextUpdate; 0 when one cannot
 * be read.
 */
apr_time_t x509a_crl_bound(X509_STORE_CTX *ctx, STACK_OF(X509) *chain);

/**
 * A new reference to the trust store currently in use (a CRL reload
 * replaces it), for looking certificates up; free with X509_STORE_free().
 * NULL while the store is unusable.
 */
X509_STORE *x509a_verifier_store(x509a_verifier *v);

/** The settings the verifier was made with (crl_file NULL under
 *  X509A_CRL_CHECK_NONE). */
const x509a_verify_conf *x509a_verifier_conf(x509a_verifier *v);

/** OpenSSL's verification flags for CRL checks in mode @a check (not
 *  X509A_CRL_CHECK_NONE): CRL_CHECK, CRL_CHECK_ALL for chain, deltas and
 *  extended CRL support. */
unsigned long x509a_crl_check_flags(x509a_crl_check check);

/** Signatures in the verified-signature cache of the trust store in use
 *  (for tests and status), or -1 when the cache is off. */
int x509a_verifier_sig_cache_entries(x509a_verifier *v);

/** How many times the CRLs have been (re)loaded; starts at 1. */
unsigned int x509a_verifier_generation(x509a_verifier *v);

/** One CRL of the trust store, as x509a_verifier_health() reports it. */
typedef struct {
    const char *issuer;       /**< Its issuer, as X509_CLIENT_I_DN prints. */
    apr_time_t this_update;   /**< thisUpdate (0 when unreadable). */
    apr_time_t next_update;   /**< nextUpdate, 0 when it has none. */
    int entries;              /**< Certificates it revokes. */
    int delta;                /**< A delta CRL (deltaCRLIndicator). */
} x509a_crl_health;

/** What a verifier has loaded, for status pages and expiry warnings. */
typedef struct {
    const char *ca_file;      /**< X509AuthnCACertificateFile, or NULL. */
    int ca_certs;             /**< Certificates loaded from it. */
    apr_time_t ca_loaded_at;  /**< When it was read (at startup). */
    const char *ca_path;      /**< The hashed CA directory, or NULL. */
    const char *crl_file;     /**< The CRL file, or NULL. */
    apr_time_t crl_loaded_at; /**< When the CRLs in use were read. */
    apr_time_t crl_mtime;     /**< The file's mtime when they were read. */
    /** The CRLs in use (x509a_crl_health), in the file's order; empty
     *  without a CRL file. */
    apr_array_header_t *crls;
    /** Why the CRL file is unusable (verifications fail), or NULL. */
    const char *broken;
} x509a_verifier_health;

/**
 * What @a v has loaded now (after the reloads x509a_verifier_refresh()
 * made), allocated from @a p.  Safe from several threads.
 */
void x509a_verifier_health_get(x509a_verifier *v, apr_pool_t *p,
                               x509a_verifier_health *h);

#endif /* X509A_VERIFY_H */
