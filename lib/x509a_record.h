/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/**
 * @file x509a_record.h
 * @brief Shared-cache records: the key of a forwarded chain and the
 * authenticated verification result stored under it.
 *
 * The cache server (redis, memcache, ...) is trusted with availability
 * only: anyone who can write to it must not be able to make a server
 * accept a certificate.  A record is therefore authenticated with a MAC
 * under a secret the servers of a fleet share, over the format version,
 * the key id, the full cache key (chain digest and settings digest) and
 * the value: a record altered, forged, or moved to another key does not
 * decode.
 *
 * The MAC is SipHash-2-4 with a 128-bit tag (OpenSSL's), keyed with 128
 * bits derived from the secret: a keyed function made to authenticate
 * short messages, and checked on every shared-cache hit, where it costs
 * about 2,000 instructions against 12,000 to 15,000 for HMAC-SHA256 (four
 * SHA-256 blocks and a context copy; callgrind, OpenSSL 3.0).  Whoever can
 * write to the cache server gets online guesses only, each one refused
 * and logged.  The key id names the secret a record was written
 * under, so that a fleet can rotate secrets (records under the previous
 * secret are still accepted); an unknown format version is a miss, so that
 * servers of two releases can share a cache.
 *
 * Layout of version 3 (integers big-endian, times in seconds since the
 * epoch, signed):
 *
 *     0   1  version (3)
 *     1   8  key id
 *     9   1  verdict: 'V' verified, 'F' refused
 *    10   8  expires: the record is a miss from then on
 *    18   8  valid_from: latest notBefore of the verified chain
 *    26   8  valid_until: earliest notAfter of the verified chain
 *    34   1  n: SHA-256 fingerprints that follow (V: 1..16, F: 0)
 *    35   2  r: bytes of the refusal reason that follow (V: 0)
 *    37   1  t: bytes of the refusal token that follow (V: 0)
 *    38   2  f: bytes of the leaf's compact form that follow (V: 0 for
 *            none, up to X509A_RECORD_MAX_FORM; F: 0)
 *    40      n * 32 fingerprints of the verified chain, leaf first
 *            f bytes of the compact form (x509a_cert_compact())
 *            r bytes of the refusal reason
 *            t bytes of the refusal token (X509_AUTHN_ERROR, x509a_reason.h)
 *    end-16  SipHash-2-4-128(MAC key, cache key || every byte before it),
 *            the MAC key being the first 16 bytes of a SHA-256 of a label
 *            and the secret
 *
 * Version 3 added the compact form, so that a server serving a verified
 * record needs neither to decode the certificate nor to format its views
 * again.  Version 2 records (no form) are a miss for this code, as any
 * other version: a fleet being upgraded verifies each certificate once
 * more on the new servers.
 */

#ifndef X509A_RECORD_H
#define X509A_RECORD_H

#include <apr_pools.h>
#include <apr_time.h>
#include <openssl/x509.h>

/** Length of a cache key: the chain digest and the settings digest. */
#define X509A_RECORD_KEY_LEN 64

/** The record format this code writes. */
#define X509A_RECORD_VERSION 3

/** Length of a key id. */
#define X509A_RECORD_KEY_ID_LEN 8

/** Longest verified chain a record holds. */
#define X509A_RECORD_MAX_CHAIN 16

/** Longest refusal reason a record holds (longer ones are cut). */
#define X509A_RECORD_MAX_REASON 255

/** Longest refusal token a record holds (longer ones are not written). */
#define X509A_RECORD_MAX_TOKEN 32

/** Longest compact form a record holds (a longer one is not written). */
#define X509A_RECORD_MAX_FORM 16384

/** Length of a record's MAC. */
#define X509A_RECORD_MAC_LEN 16

/** Size of the largest record. */
#define X509A_RECORD_MAX_LEN (40 + 32 * X509A_RECORD_MAX_CHAIN \
                              + X509A_RECORD_MAX_FORM \
                              + X509A_RECORD_MAX_REASON \
                              + X509A_RECORD_MAX_TOKEN + X509A_RECORD_MAC_LEN)

/** Fewest bytes of secret a key takes. */
#define X509A_RECORD_MIN_SECRET 32

/** A secret records are authenticated with. */
typedef struct x509a_record_key x509a_record_key;

/** A verification result as a record holds it. */
typedef struct {
    int verified;               /**< Non-zero: the chain verified. */
    apr_time_t expires;         /**< The record is a miss from then on. */
    apr_time_t valid_from;      /**< Verified: latest notBefore. */
    apr_time_t valid_until;     /**< Verified: earliest notAfter. */
    int nchain;                 /**< Verified: fingerprints in @a chain. */
    /** Verified: @a nchain SHA-256 fingerprints, leaf first. */
    const unsigned char *chain;
    /** Verified: the leaf's compact form (x509a_cert_compact()), or
     *  NULL.  Written only when it is at most X509A_RECORD_MAX_FORM bytes
     *  long (else the record is written without it). */
    const unsigned char *form;
    apr_size_t form_len;        /**< Bytes of @a form. */
    /** Refused: why (NUL-terminated; cut to X509A_RECORD_MAX_REASON). */
    const char *why;
    /** Refused: the refusal token (X509A_REASON_*), or NULL.  Decoded,
     *  the static string of a known token; NULL for an unknown one. */
    const char *reason;
} x509a_record;

/** What x509a_record_decode() found. */
typedef enum {
    X509A_RECORD_OK = 0,        /**< Authentic and current. */
    X509A_RECORD_EXPIRED,       /**< Authentic but past its expiry. */
    X509A_RECORD_UNKNOWN_VERSION, /**< Another format (another release). */
    X509A_RECORD_UNKNOWN_KEY,   /**< Written under a secret we do not have. */
    X509A_RECORD_BAD_MAC,       /**< Altered, forged or transplanted. */
    X509A_RECORD_MALFORMED      /**< Too short, or inconsistent. */
} x509a_record_status;

/**
 * A key from secret bytes.
 * @param p pool the key lives in (its secret is wiped with the pool)
 * @param secret at least X509A_RECORD_MIN_SECRET bytes
 * @return NULL on success, else what is wrong
 */
const char *x509a_record_key_make(apr_pool_t *p, const unsigned char *secret,
                                  apr_size_t len, x509a_record_key **out);

/**
 * A key from the contents of a secret file: at least 32 raw (random)
 * bytes, or at least 64 hexadecimal digits (white space around them is
 * ignored).  Text that is neither is refused, so that a passphrase is not
 * taken for a key.
 * @return NULL on success, else what is wrong with the contents
 */
const char *x509a_record_key_parse(apr_pool_t *p, const unsigned char *data,
                                   apr_size_t len, x509a_record_key **out);

/**
 * A key from a secret file (see x509a_record_key_parse()).
 * @return NULL on success, else what is wrong, naming the file
 */
const char *x509a_record_key_load(apr_pool_t *p, const char *path,
                                  x509a_record_key **out);

/** The key's id: the first 8 bytes of a SHA-256 of the secret. */
const unsigned char *x509a_record_key_id(const x509a_record_key *k);

/**
 * The cache key of a forwarded chain: SHA-256 over the SHA-256 of the
 * leaf and of each forwarded intermediate in the order they came, then
 * the verification settings' digest (x509a_verifier_settings_digest()).
 * The certificates' digests are X509_digest()'s, which for a certificate
 * decoded from DER are those of its DER bytes: the key of
 * x509a_record_cache_key_digests() over the digests of those bytes.
 * @return non-zero on success (zero when a digest cannot be computed)
 */
int x509a_record_cache_key(X509 *leaf, STACK_OF(X509) *untrusted,
                           const unsigned char settings[32],
                           unsigned char key[X509A_RECORD_KEY_LEN]);

/**
 * The cache key of a forwarded chain from the SHA-256 digests of its
 * certificates' DER bytes (the leaf, then each forwarded intermediate in
 * the order they came): what x509a_record_cache_key() computes, without
 * decoding them.
 * @param digests (1 + @a nuntrusted) * 32 bytes, the leaf's first
 * @return non-zero on success
 */
int x509a_record_cache_key_digests(const unsigned char *digests,
                                   int nuntrusted,
                                   const unsigned char settings[32],
                                   unsigned char key[X509A_RECORD_KEY_LEN]);

/**
 * Write @a rec, stored under @a cache_key, as a record authenticated
 * with @a k.
 * @param out at least X509A_RECORD_MAX_LEN bytes
 * @return the record's length, or 0 when @a rec cannot be written (a
 *         verified chain of no or more than X509A_RECORD_MAX_CHAIN
 *         certificates, or a MAC failure)
 */
apr_size_t x509a_record_encode(const x509a_record_key *k,
                               const unsigned char cache_key[
                                   X509A_RECORD_KEY_LEN],
                               const x509a_record *rec, unsigned char *out);

/**
 * Read a record found under @a cache_key.  It is accepted when it is of
 * this format, names @a current or @a previous by its key id, carries a
 * MAC under that key over itself and @a cache_key, and has not expired at
 * @a now.
 * @param previous the key before @a current, or NULL
 * @param out on X509A_RECORD_OK and X509A_RECORD_EXPIRED, the record;
 *        its chain and reason are allocated from @a p
 */
x509a_record_status x509a_record_decode(apr_pool_t *p,
                                        const x509a_record_key *current,
                                        const x509a_record_key *previous,
                                        const unsigned char cache_key[
                                            X509A_RECORD_KEY_LEN],
                                        const unsigned char *val,
                                        apr_size_t len, apr_time_t now,
                                        x509a_record *out);

/** A few words for @a st, for log lines. */
const char *x509a_record_status_text(x509a_record_status st);

#endif /* X509A_RECORD_H */
