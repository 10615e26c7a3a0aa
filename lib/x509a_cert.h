/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/**
 * @file x509a_cert.h
 * @brief A client certificate and what is read from it: DNs, serial,
 * fingerprints, subjectAltNames, identity fields and exported variables.
 *
 * Every value is computed on first use and kept in the object's pool, so an
 * object cached for a connection (or for a forwarded certificate) formats
 * each value once.  An x509a_cert is not safe for concurrent use; callers
 * that share one between threads serialise access themselves.
 */

#ifndef X509A_CERT_H
#define X509A_CERT_H

#include <time.h>
#include <apr_pools.h>
#include <apr_tables.h>
#include <openssl/x509.h>

#include "x509a_dn.h"
#include "x509a_num.h"

/** A client certificate with its chain and lazily computed views. */
typedef struct x509a_cert x509a_cert;

/** subjectAltName entry kinds that are exported and usable as identity. */
typedef enum {
    X509A_SAN_EMAIL = 0,   /**< rfc822Name */
    X509A_SAN_DNS,         /**< dNSName */
    X509A_SAN_URI,         /**< uniformResourceIdentifier */
    X509A_SAN_UPN,         /**< otherName msUPN (1.3.6.1.4.1.311.20.2.3) */
    X509A_SAN_KINDS
} x509a_san_kind;

/**
 * Wrap a certificate.  Takes its own reference on @a leaf; everything is
 * released when @a p is cleared or destroyed.
 */
x509a_cert *x509a_cert_make(apr_pool_t *p, X509 *leaf);

/**
 * Attach chain information (references are taken, stacks copied).
 * @param verified the verified chain, leaf first then up to the trust
 *                 anchor, or NULL when unknown (e.g. a resumed TLS session)
 * @param untrusted certificates the peer sent, usable only as path-building
 *                 helpers, or NULL
 */
void x509a_cert_set_chain(x509a_cert *c, STACK_OF(X509) *verified,
                          STACK_OF(X509) *untrusted);

/**
 * Attach the certificates the peer sent besides the leaf as their DER
 * bytes (as x509a_cert_set_chain() with @a untrusted; no verified chain),
 * decoded only when something needs them as X509 (x509a_cert_untrusted(),
 * x509a_cert_path()): x509a_cert_chain_pem() writes the PEM of those whose
 * SHA-256 is one of the verified digests from their bytes.  Each DER must
 * be a certificate with nothing after it, and @a sha256 (@a n * 32 bytes)
 * the SHA-256 of each, in order; the bytes are copied.
 */
void x509a_cert_set_untrusted_der(x509a_cert *c,
                                  const unsigned char *const *der,
                                  const apr_size_t *len,
                                  const unsigned char *sha256, int n);

/**
 * Attach the trust store that verified the certificate and the parameters
 * it was verified with (mod_ssl's SSL_CTX: @a param is copied and applied
 * over the "ssl_client" defaults, as libssl does; NULL: the store's own),
 * or NULL.  When no verified chain is known (a resumed TLS session), the
 * certificate is verified again with them to find the path that path rules
 * are decided on (x509a_cert_path()).  The store is also where
 * x509a_cert_path() looks for the certificates of verified digests.
 * A reference is taken on @a store.
 */
void x509a_cert_set_store(x509a_cert *c, X509_STORE *store,
                          const X509_VERIFY_PARAM *param);

/**
 * The verified path, leaf first and trust anchor last, that rules about
 * the path (X509AuthnRequireIssuingCA, X509AuthnRequirePolicy,
 * X509AuthnMaxDepth) are decided on:
 * - the verified chain (x509a_cert_set_chain()) when there is one;
 * - else the certificates of the verified digests
 *   (x509a_cert_set_verified_digests()), found among the leaf, the peer's
 *   certificates and the attached store, each compared by SHA-256;
 * - else, or when one of those is not found, the chain found by verifying
 *   the certificate again (X509_verify_cert(), validity and the store's
 *   CRLs included) with the attached store and parameters, at @a now.
 *   Kept until the earliest notAfter of the path or nextUpdate of a CRL it
 *   was checked against (at most an hour); a failure for a minute.
 * NULL when no path is known or the certificate does not verify: then
 * *why says why.  A new answer forgets the memo (x509a_cert_memo_set()).
 */
STACK_OF(X509) *x509a_cert_path(x509a_cert *c, time_t now, const char **why);

/**
 * Record the SHA-256 fingerprints of the verified chain (leaf first) when
 * only they are known, e.g. from a shared verification cache: rules that
 * need the chain compare against them.  @a digests holds @a n * 32 bytes.
 */
void x509a_cert_set_verified_digests(x509a_cert *c,
                                     const unsigned char *digests, int n);

/** The fingerprints set by x509a_cert_set_verified_digests(), or NULL. */
const unsigned char *x509a_cert_verified_digests(const x509a_cert *c, int *n);

/**
 * The certificate itself (no reference taken).  A compact certificate
 * (x509a_cert_make_compact()) decodes its DER here on first use; NULL only
 * if that fails (out of memory, or an OpenSSL that refuses what another
 * accepted).
 */
X509 *x509a_cert_x509(const x509a_cert *c);

/**
 * Non-zero when the object holds a decoded X509: always for
 * x509a_cert_make(); for x509a_cert_make_compact() once something outside
 * the compact form needed it.  For tests and statistics.
 */
int x509a_cert_x509_decoded(const x509a_cert *c);

/**
 * Serialise the views of the certificate that requests read (DNs as
 * printed and as compared, DN attributes, serial, fingerprints, SPKI
 * digest, subjectAltNames, validity, version, basicConstraints CA,
 * extendedKeyUsage, the strings of the exported variables) to a compact
 * binary form, for x509a_cert_make_compact().
 *
 * Format: the first byte is the format version (1); then the SHA-256 of
 * the DER certificate, and length-prefixed fields (see x509a_cert.c).
 * The version changes with the layout and with how any view is computed,
 * so a form written by other code is refused, never served.
 * It does not depend on the chain, store or time.  Typically a few
 * hundred bytes to 1.5 KB.
 * @param p   pool for the form
 * @param out receives the form
 * @param len receives its length
 * @return NULL on success, else why the form could not be made
 */
const char *x509a_cert_compact(x509a_cert *c, apr_pool_t *p,
                               unsigned char **out, apr_size_t *len);

/**
 * A certificate whose views are read from a compact form made by
 * x509a_cert_compact(), without decoding @a der: the X509 is decoded from
 * @a der only when something outside the form is asked for
 * (x509a_cert_x509(), x509a_cert_path() and the path rules).
 * x509a_cert_pem() is made from @a der without decoding it.  Both buffers
 * are copied.
 *
 * The form is parsed as untrusted input (every length bounds-checked) and
 * must belong to @a der: the SHA-256 of @a der must equal the one in the
 * form (the same DER that x509a_cert_make() would fingerprint).
 * @param why on failure, receives why (allocated from @a p)
 * @return the object, or NULL for a malformed form, another format
 *         version, or a form of another certificate
 */
x509a_cert *x509a_cert_make_compact(apr_pool_t *p, const unsigned char *der,
                                    apr_size_t der_len,
                                    const unsigned char *form,
                                    apr_size_t form_len, const char **why);

/**
 * x509a_cert_make_compact() for a caller that has computed the SHA-256 of
 * @a der itself (e.g. as the key of a shared-cache record), which saves
 * hashing it again (about two thirds of the cost of
 * x509a_cert_make_compact()).  @a der_sha256 must be the SHA-256 of
 * exactly the bytes of @a der: it is compared with the form's and then
 * served as the certificate's fingerprint, not checked.
 */
x509a_cert *x509a_cert_make_compact_sha256(apr_pool_t *p,
                                           const unsigned char *der,
                                           apr_size_t der_len,
                                           const unsigned char der_sha256[32],
                                           const unsigned char *form,
                                           apr_size_t form_len,
                                           const char **why);

/** The verified chain, leaf first, or NULL when unknown. */
STACK_OF(X509) *x509a_cert_verified_chain(const x509a_cert *c);

/** Peer-sent certificates other than the leaf, or NULL. */
STACK_OF(X509) *x509a_cert_untrusted(const x509a_cert *c);

/** The trust store attached by x509a_cert_set_store(), or NULL. */
X509_STORE *x509a_cert_store(const x509a_cert *c);

/**
 * Number of certificates of the verified path (leaf and anchor included)
 * when it is known without verifying (verified chain or digests), else 0.
 */
int x509a_cert_verified_length(const x509a_cert *c);

/** The pool the object lives in. */
apr_pool_t *x509a_cert_pool(const x509a_cert *c);

/**
 * Why the certificate cannot be a client's, whatever verified it: not
 * X.509 v3 (no extensions, so no constraints), or a CA certificate
 * (basicConstraints CA:TRUE).  NULL when it can.
 */
const char *x509a_cert_leaf_problem(x509a_cert *c);

/** Subject DN as mod_ssl prints it (RFC 4514, UTF-8). */
const char *x509a_cert_subject(x509a_cert *c);

/** Subject DN in the legacy `/C=../CN=..` form. */
const char *x509a_cert_subject_legacy(x509a_cert *c);

/** Issuer DN as mod_ssl prints it (RFC 4514, UTF-8). */
const char *x509a_cert_issuer(x509a_cert *c);

/** Parsed subject DN (canonical form for comparisons). */
const x509a_dn *x509a_cert_subject_dn(x509a_cert *c);

/** Parsed issuer DN (canonical form for comparisons). */
const x509a_dn *x509a_cert_issuer_dn(x509a_cert *c);

/** Serial number, normalised for comparison. */
const x509a_serial *x509a_cert_serial(x509a_cert *c);

/** Serial as uppercase hex, as mod_ssl's SSL_CLIENT_M_SERIAL. */
const char *x509a_cert_serial_hex(x509a_cert *c);

/** Serial in decimal. */
const char *x509a_cert_serial_dec(x509a_cert *c);

/** SHA-256 (32 bytes) or SHA-1 (20 bytes) of the DER certificate. */
const unsigned char *x509a_cert_digest(x509a_cert *c, x509a_digest_alg alg);

/** Uppercase hex of x509a_cert_digest(), no colons. */
const char *x509a_cert_digest_hex(x509a_cert *c, x509a_digest_alg alg);

/** SHA-256 of the DER SubjectPublicKeyInfo (32 bytes), or NULL. */
const unsigned char *x509a_cert_spki_sha256(x509a_cert *c);

/**
 * subjectAltName values of one kind, in certificate order, as UTF-8 with
 * control characters escaped (array of const char *; possibly empty).
 */
const apr_array_header_t *x509a_cert_san(x509a_cert *c, x509a_san_kind kind);

/**
 * Value of a subject attribute: the occurrence @a index in certificate
 * (ASN.1) order, 0 = the first, the one mod_ssl exports as
 * SSL_CLIENT_S_DN_CN (and we as X509_CLIENT_S_DN_CN); as UTF-8 with control
 * characters escaped; NULL when absent.
 */
const char *x509a_cert_subject_attr(x509a_cert *c, const char *oid, int index);

/**
 * Non-zero when the certificate's extendedKeyUsage lists @a purpose (an
 * absent, malformed or repeated extension lists nothing).
 */
int x509a_cert_has_eku(x509a_cert *c, const ASN1_OBJECT *purpose);

/** Days until notAfter, 0 once expired (mod_ssl's V_REMAIN). */
long x509a_cert_days_remaining(x509a_cert *c, time_t now);

/** An ASN1_TIME (a certificate's or CRL's time, an OCSP response's
 *  GeneralizedTime) as apr_time_t; 0 when @a t is NULL or unreadable. */
apr_time_t x509a_time(const ASN1_TIME *t);

/** SHA-256, fetched once per process: EVP_sha256() makes every digest
 *  look its implementation up again (a few thousand instructions). */
const EVP_MD *x509a_sha256(void);

/** d2i_X509() of a forwarded certificate, in a library context that
 *  decodes public keys faster than httpd's default one (same providers,
 *  fewer methods to look through); NULL as d2i_X509(). */
X509 *x509a_d2i_x509(const unsigned char **in, long len);

/** notBefore and notAfter as seconds since the epoch. */
void x509a_cert_validity(x509a_cert *c, time_t *not_before, time_t *not_after);

/** The certificate as PEM. */
const char *x509a_cert_pem(x509a_cert *c);

/**
 * The chain certificates above the leaf as PEM (array of const char *):
 * the verified chain when known (from x509a_cert_set_chain(), or the
 * certificates of x509a_cert_set_verified_digests(), found as
 * x509a_cert_path() finds them, which decodes a compact certificate),
 * else what the peer sent.
 */
const apr_array_header_t *x509a_cert_chain_pem(x509a_cert *c);

/**
 * One line for log messages: subject, issuer, serial and SHA-256.
 */
const char *x509a_cert_describe(x509a_cert *c);

/* ------------------------------------------------------------------------ */
/* Identity fields (X509AuthnUser)                                          */
/* ------------------------------------------------------------------------ */

/** Kinds of identity field. */
typedef enum {
    X509A_FIELD_SUBJECT = 1,     /**< `subject` */
    X509A_FIELD_SUBJECT_LEGACY,  /**< `subject-legacy` */
    X509A_FIELD_CN,              /**< `cn` (the first CN, as SSL_CLIENT_S_DN_CN) */
    X509A_FIELD_SUBJECT_ATTR,    /**< `subject:ATTR` (the first ATTR) */
    X509A_FIELD_EMAIL,           /**< `email`: SAN rfc822Name, else emailAddress */
    X509A_FIELD_UPN,             /**< `upn`: SAN otherName msUPN */
    X509A_FIELD_URI,             /**< `uri`: SAN URI */
    X509A_FIELD_DNS,             /**< `dns`: SAN dNSName */
    X509A_FIELD_SERIAL,          /**< `serial`: hex as M_SERIAL */
    X509A_FIELD_ISSUER_SERIAL,   /**< `issuer+serial`: RFC 4523 CertificateExactAssertion */
    X509A_FIELD_SHA256           /**< `sha256`: fingerprint hex */
} x509a_field_kind;

/** A parsed identity field. */
typedef struct {
    x509a_field_kind kind; /**< Which field. */
    const char *oid;       /**< For X509A_FIELD_SUBJECT_ATTR: the attribute OID. */
    const char *name;      /**< The field as written, for messages. */
} x509a_field;

/**
 * Parse an identity field name (case-insensitive).
 * @return NULL on success, else why the name is not a field
 */
const char *x509a_field_parse(apr_pool_t *p, const char *text, x509a_field *out);

/** Value of an identity field, or NULL when the certificate lacks it. */
const char *x509a_cert_field(x509a_cert *c, const x509a_field *f);

/* ------------------------------------------------------------------------ */
/* Exported variables                                                       */
/* ------------------------------------------------------------------------ */

/** A variable name and value. */
typedef struct {
    const char *name;      /**< Full name, e.g. `X509_CLIENT_S_DN_CN`. */
    const char *value;     /**< Value. */
} x509a_var;

/** Naming styles for x509a_cert_vars(). */
typedef enum {
    X509A_VARS_X509 = 0,   /**< `X509_CLIENT_*`, SPEC section 7. */
    X509A_VARS_MODSSL,     /**< mod_ssl's `SSL_CLIENT_*` names. */
    X509A_VARS_STYLES
} x509a_vars_style;

/**
 * Every variable describing the certificate (array of x509a_var), formatted
 * once and kept.  Time-dependent (`V_REMAIN`) and PEM variables are not
 * included; callers add them as configured.
 */
const apr_array_header_t *x509a_cert_vars(x509a_cert *c, x509a_vars_style style);

/**
 * The same variables as an APR table (built once, then read-only), for
 * apr_table_overlay() into a request's environment.
 */
const apr_table_t *x509a_cert_vars_table(x509a_cert *c, x509a_vars_style style);

/**
 * Look up one variable by full name (X509A_VARS_X509 style).  Also answers
 * the `_0` spelling of a first DN attribute (`X509_CLIENT_S_DN_OU_0`) and
 * `X509_CLIENT_V_REMAIN` (computed for @a now, allocated from @a p; every
 * other value lives as long as the object).
 * @return the value, or NULL when the certificate has no such variable
 */
const char *x509a_cert_var(x509a_cert *c, apr_pool_t *p, const char *name,
                           time_t now);

/* ------------------------------------------------------------------------ */
/* Small per-object memo                                                    */
/* ------------------------------------------------------------------------ */

/** Length of a memo key: a SHA-256 digest. */
#define X509A_MEMO_KEY_LEN 32

/**
 * Remember an int result computed for this object under @a key, a
 * SHA-256 digest of everything else the result depends on (e.g. the DER of
 * every CA of an X509AuthnRequireIssuingCA set, see
 * x509a_rules_issuing_ca_digest()).  Keys compare by value, never by
 * address: objects are shared between requests, connections and
 * directories (.htaccess rules are rebuilt in each request's pool, so
 * another rule can sit at the address of one seen before), and the same
 * content in another object finds the same answer.
 *
 * What the object contributes (leaf, chain, store, verified digests, the
 * path found by verifying again) is not in the key:
 * x509a_cert_set_chain(), x509a_cert_set_store(),
 * x509a_cert_set_verified_digests() and a new answer of x509a_cert_path()
 * forget every remembered result.
 * A few entries are kept (bounded); the oldest is forgotten first.
 * Not thread-safe: callers serialise, as for every other use.
 */
void x509a_cert_memo_set(x509a_cert *c,
                         const unsigned char key[X509A_MEMO_KEY_LEN],
                         int value);

/**
 * Fetch a result remembered by x509a_cert_memo_set() under the same key
 * (compared byte for byte).
 * @return non-zero when found (then *value is set)
 */
int x509a_cert_memo_get(const x509a_cert *c,
                        const unsigned char key[X509A_MEMO_KEY_LEN],
                        int *value);

#endif /* X509A_CERT_H */
