/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/**
 * @file suites.h
 * @brief The Check suites of the unit tests of lib/ (one per library file).
 */

#ifndef SUITES_H
#define SUITES_H

#include <check.h>

/** x509a_dn: DN parsing, canonical comparison, printing. */
Suite *x509a_dn_suite(void);

/** x509a_strprep: RFC 4518 string preparation against Python's vectors. */
Suite *x509a_strprep_suite(void);

/** x509a_num: serials, fingerprints, key pins, hex. */
Suite *x509a_num_suite(void);

/** x509a_cert: accessors, identity fields, variables, memo. */
Suite *x509a_cert_suite(void);

/** x509a_rules: X509AuthnRequire* rules and the issuing-CA path check. */
Suite *x509a_rules_suite(void);

/** x509a_decode: forwarded-certificate header values in every dialect. */
Suite *x509a_decode_suite(void);

/** x509a_verify: local chain verification, CRLs and their reloads. */
Suite *x509a_verify_suite(void);

/** x509a_record: shared-cache keys and authenticated records. */
Suite *x509a_record_suite(void);

/** x509a_ocsp: OCSP requests and the checks of responses. */
Suite *x509a_ocsp_suite(void);
Suite *x509a_print_suite(void);
Suite *x509a_map_suite(void);

/** x509a_reason: refusal reasons (X509_AUTHN_ERROR tokens). */
Suite *x509a_reason_suite(void);

/** x509a_http: the revocation HTTP client's URL policy and fetches. */
Suite *x509a_http_suite(void);

/** x509a_crlfetch: CRLs named by certificates, kept and used. */
Suite *x509a_crlfetch_suite(void);

/** x509a_cert compact forms: the same answers without decoding, refusals. */
Suite *x509a_compact_suite(void);

/** x509a_verify's verified-signature cache, against OpenSSL's own. */
Suite *x509a_sigcache_suite(void);

#endif /* SUITES_H */
