/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/**
 * @file x509a_rules.h
 * @brief Per-directory certificate rules (X509AuthnRequire*).
 *
 * Each rule kind holds one or more accepted values: any one of them
 * matches (OR).  Every kind that is configured must match (AND).
 *
 * Rules about the path (IssuingCA, Policy, MaxDepth) are decided on the
 * verified path only (x509a_cert_path()): with none known, they fail.
 */

#ifndef X509A_RULES_H
#define X509A_RULES_H

#include <apr_pools.h>
#include <time.h>
#include <apr_tables.h>
#include <openssl/x509.h>

#include "x509a_cert.h"

/** Rule kinds; the order is the order of evaluation (cheapest first). */
typedef enum {
    X509A_RULE_SUBJECT = 0,  /**< X509AuthnRequireSubject */
    X509A_RULE_ISSUER,       /**< X509AuthnRequireIssuer */
    X509A_RULE_SERIAL,       /**< X509AuthnRequireSerial */
    X509A_RULE_FINGERPRINT,  /**< X509AuthnRequireFingerprint */
    X509A_RULE_SPKI,         /**< X509AuthnRequireSPKI */
    X509A_RULE_EKU,          /**< X509AuthnRequireEKU */
    X509A_RULE_POLICY,       /**< X509AuthnRequirePolicy */
    X509A_RULE_ISSUING_CA,   /**< X509AuthnRequireIssuingCA */
    X509A_RULE_MAX_DEPTH,    /**< X509AuthnMaxDepth (one value: the last wins) */
    X509A_RULE_KINDS
} x509a_rule_kind;

/** A set of rules; kinds that were never added are not checked. */
typedef struct x509a_rules x509a_rules;

/** An empty rule set. */
x509a_rules *x509a_rules_make(apr_pool_t *p);

/**
 * Add one accepted value to a rule kind.  For X509A_RULE_ISSUING_CA the
 * value is a file of PEM CA certificates, read now; every certificate in it
 * is accepted, and the digest of the whole set
 * (x509a_rules_issuing_ca_digest()) is computed anew.  For
 * X509A_RULE_MAX_DEPTH the value is a number (0-100) that replaces any
 * earlier one: the most CA certificates the verified path may hold above
 * the leaf, trust anchor included, as mod_ssl's SSLVerifyDepth counts.
 * @param p pool the rule set lives in (config pool)
 * @param warning receives a non-fatal remark for the administrator (e.g. a
 *        DN that looks reversed), or NULL; may itself be NULL
 * @return NULL on success, else why the value is invalid
 */
const char *x509a_rules_add(x509a_rules *rules, apr_pool_t *p,
                            x509a_rule_kind kind, const char *value,
                            const char **warning);

/** Non-zero when the rule kind has values. */
int x509a_rules_has(const x509a_rules *rules, x509a_rule_kind kind);

/** Non-zero when no rule kind has values. */
int x509a_rules_empty(const x509a_rules *rules);

/**
 * Merge for nested configuration sections: each kind configured in @a add
 * replaces that kind of @a base; the others are inherited (the IssuingCA
 * certificates with their digest).  Returns @a base or @a add itself when
 * the other has no rules (merges run per request).
 */
x509a_rules *x509a_rules_merge(apr_pool_t *p, const x509a_rules *base,
                               const x509a_rules *add);

/** The directive name of a rule kind, for messages. */
const char *x509a_rule_name(x509a_rule_kind kind);

/**
 * The refusal reason (X509_AUTHN_ERROR) of a rule kind that fails:
 * "rule:Subject", "rule:Issuer", "rule:Serial", "rule:Fingerprint",
 * "rule:SPKI", "rule:EKU", "rule:Policy", "rule:IssuingCA",
 * "rule:MaxDepth" (static strings).
 */
const char *x509a_rule_reason(x509a_rule_kind kind);

/**
 * The memo key of the IssuingCA rule: SHA-256 over the SHA-256 of the DER
 * of every certificate of the set, in the order read (and a fixed label).
 * The same content gives the same digest whatever the rule set's address
 * or pool; other content (another .htaccess, an edited file) another one.
 * @return X509A_MEMO_KEY_LEN bytes, or NULL when the kind is not configured
 */
const unsigned char *x509a_rules_issuing_ca_digest(const x509a_rules *rules);

/**
 * The memo key of the Policy rule: SHA-256 over the DER of the policy OIDs
 * (and a fixed label), or NULL when the kind is not configured.
 */
const unsigned char *x509a_rules_policy_digest(const x509a_rules *rules);

/**
 * Check a certificate against every configured rule kind.
 *
 * Rules about the path use x509a_cert_path() at @a now.  The IssuingCA
 * and Policy answers are remembered on @a c with x509a_cert_memo_set(),
 * keyed by x509a_rules_issuing_ca_digest() and x509a_rules_policy_digest():
 * they depend only on that set's content and on the path, whose changes
 * forget them.  @a c is written: callers that share it between threads
 * serialise.
 * @param p pool for the reason (the request's)
 * @param why receives, on failure, which rule failed and why
 * @return non-zero when every configured kind matches
 */
int x509a_rules_check(const x509a_rules *rules, x509a_cert *c, time_t now,
                      apr_pool_t *p, const char **why);

/**
 * x509a_rules_check(), also saying which kind failed.
 * @param failed on failure, receives the first kind that does not match
 *        (may be NULL)
 */
int x509a_rules_check_kind(const x509a_rules *rules, x509a_cert *c,
                           time_t now, apr_pool_t *p, const char **why,
                           x509a_rule_kind *failed);

/**
 * Does the certificate's verified path pass through one of @a cas
 * (compared by certificate, never by name; the leaf itself does not
 * count)?  Zero when no verified path is known.
 */
int x509a_chain_passes_through(x509a_cert *c, STACK_OF(X509) *cas,
                               time_t now);

/**
 * Is the verified path valid for one of @a policies (ASN1_OBJECT *), as
 * RFC 5280 section 6.1 decides with user-initial-policy-set = @a policies
 * and initial-explicit-policy set (OpenSSL's X509_policy_check() with
 * X509_V_FLAG_POLICY_CHECK | X509_V_FLAG_EXPLICIT_POLICY, as
 * X509_verify_cert() runs it)?  The CAs' policies, policy mappings and
 * policy constraints count, not only the leaf's certificatePolicies.
 * Zero when no verified path is known, or the leaf is its own anchor.
 */
int x509a_path_has_policy(x509a_cert *c, const apr_array_header_t *policies,
                          time_t now);

#endif /* X509A_RULES_H */
