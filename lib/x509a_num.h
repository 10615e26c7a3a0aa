/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/**
 * @file x509a_num.h
 * @brief Serial numbers, digests and key pins as administrators write them.
 */

#ifndef X509A_NUM_H
#define X509A_NUM_H

#include <apr_pools.h>
#include <openssl/x509.h>

/** A certificate serial number, normalised for comparison. */
typedef struct {
    int negative;              /**< Non-zero for a (non-conforming) negative serial. */
    const unsigned char *mag;  /**< Big-endian magnitude, no leading zero bytes. */
    apr_size_t len;            /**< Length of @a mag (0 for the value zero). */
} x509a_serial;

/** Digest algorithms accepted for fingerprints. */
typedef enum {
    X509A_DIGEST_SHA1 = 1,     /**< SHA-1, 20 bytes. */
    X509A_DIGEST_SHA256 = 2    /**< SHA-256, 32 bytes. */
} x509a_digest_alg;

/** A certificate fingerprint. */
typedef struct {
    x509a_digest_alg alg;      /**< Which digest. */
    unsigned char md[32];      /**< The digest (20 or 32 bytes used). */
    apr_size_t len;            /**< 20 or 32. */
} x509a_fingerprint;

/**
 * Parse a serial number: decimal (`4660`), `0x`-prefixed hex (`0x1234`) or
 * colon-separated hex bytes (`12:34`, as `openssl x509 -text` prints).
 * A leading `-` marks a negative number.
 * @return NULL on success, else why the text is not a serial number
 */
const char *x509a_serial_parse(apr_pool_t *p, const char *text,
                               x509a_serial *out);

/** Normalise a certificate's serial number. */
void x509a_serial_from_asn1(apr_pool_t *p, const ASN1_INTEGER *ai,
                            x509a_serial *out);

/** Non-zero when both serial numbers are the same integer. */
int x509a_serial_equal(const x509a_serial *a, const x509a_serial *b);

/**
 * Parse a fingerprint `[sha1:|sha256:]HEX`.  Colons, spaces and letter case
 * are ignored; without a prefix the algorithm follows from the length.
 * @return NULL on success, else why the text is not a fingerprint
 */
const char *x509a_fingerprint_parse(apr_pool_t *p, const char *text,
                                    x509a_fingerprint *out);

/**
 * Parse a SubjectPublicKeyInfo pin: `sha256:` followed by 64 hex digits or
 * by the base64 of the digest (as HPKP's pin-sha256); the prefix may be
 * left out.
 * @param out receives the 32-byte SHA-256 digest
 * @return NULL on success, else why the text is not a pin
 */
const char *x509a_spki_pin_parse(apr_pool_t *p, const char *text,
                                 unsigned char out[32]);

/** Uppercase hex of @a len bytes, no separators. */
char *x509a_hex(apr_pool_t *p, const unsigned char *data, apr_size_t len);

#endif /* X509A_NUM_H */
