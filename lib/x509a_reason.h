/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/**
 * @file x509a_reason.h
 * @brief Refusal reasons: the short, stable tokens the module puts in
 * X509_AUTHN_ERROR (documented in docs/directives.md, "Refusal reasons").
 *
 * Every token is one of the X509A_REASON_* strings: callers compare and
 * keep the pointers, never copies.
 */

#ifndef X509A_REASON_H
#define X509A_REASON_H

#include <apr.h>

#include "x509a_rules.h"

/** No certificate on the source the directory takes. */
#define X509A_REASON_NO_CERTIFICATE "no-certificate"
/** mod_ssl did not say SUCCESS (SSL_CLIENT_VERIFY). */
#define X509A_REASON_NOT_VERIFIED "not-verified"
/** Forwarded-certificate source, but the peer is not a trusted proxy. */
#define X509A_REASON_UNTRUSTED_PEER "untrusted-peer"
/** The proxy's own certificate fails X509AuthnProxyRequire. */
#define X509A_REASON_PROXY_REFUSED "proxy-refused"
/** A forwarded-certificate header that does not decode. */
#define X509A_REASON_DECODE_ERROR "decode-error"
/** Local verification failed (other than the reasons below). */
#define X509A_REASON_CHAIN_INVALID "chain-invalid"
/** A certificate of the chain has expired. */
#define X509A_REASON_EXPIRED "expired"
/** A certificate of the chain is not yet valid. */
#define X509A_REASON_NOT_YET_VALID "not-yet-valid"
/** A certificate of the chain is revoked. */
#define X509A_REASON_REVOKED "revoked"
/** Revocation cannot be decided (CRL file unusable, CRL expired...). */
#define X509A_REASON_REVOCATION_UNKNOWN "revocation-unknown"
/** The leaf is not fit to be a client's (CA, not v3, wrong purpose). */
#define X509A_REASON_NOT_A_CLIENT_CERTIFICATE "not-a-client-certificate"
/** X509AuthnUserMapRequired and no map line matches. */
#define X509A_REASON_UNMAPPED "unmapped"
/** No X509AuthnUser field yields a user name. */
#define X509A_REASON_NO_USER_NAME "no-user-name"
/** Out of memory and other failures that say nothing about the client. */
#define X509A_REASON_INTERNAL "internal"

/**
 * The token for an OpenSSL verification error (X509_V_ERR_*) found at
 * @a depth of the chain (0: the leaf): expired, not-yet-valid, revoked,
 * revocation-unknown (CRL errors), not-a-client-certificate (the leaf's
 * purpose), internal (out of memory, look-up errors) or chain-invalid.
 */
const char *x509a_reason_of_verify_error(int err, int depth);

/** Number of tokens: the 14 X509A_REASON_* above, then one per rule kind
 *  (x509a_rule_reason()). */
#define X509A_REASON_COUNT (14 + X509A_RULE_KINDS)

/**
 * Token number @a i (0 <= i < X509A_REASON_COUNT): the X509A_REASON_*
 * in the order above, then rule:KIND in rule-kind order; NULL outside.
 */
const char *x509a_reason_at(int i);

/**
 * The X509A_REASON_* (or rule:KIND) string equal to the @a len bytes at
 * @a s, or NULL when it is no known token.
 */
const char *x509a_reason_known(const char *s, apr_size_t len);

#endif /* X509A_REASON_H */
