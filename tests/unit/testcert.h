/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/**
 * @file testcert.h
 * @brief Unit-test helpers: certificates generated at test time with the
 * OpenSSL 3 API (EC P-256 keys), temporary PEM files, chains and stores.
 *
 * Every object returned is owned by the APR pool passed in (freed by a
 * pool cleanup), so tests do not free anything themselves and a leak
 * reported by valgrind is a leak of the code under test.  Certificates are
 * returned after a DER round trip (i2d + d2i), as a server receives them:
 * the AVAs of a multi-valued RDN are then in DER (sorted) order.
 * Failures to build a certificate abort the current test.
 */

#ifndef TESTCERT_H
#define TESTCERT_H

#include <time.h>
#include <apr_pools.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/provider.h>

/** The pool of the current test (created by tc_setup, destroyed by
 *  tc_teardown; use both as a checked fixture). */
extern apr_pool_t *tc_pool;

/** Checked fixture: create tc_pool. */
void tc_setup(void);

/** Checked fixture: destroy tc_pool. */
void tc_teardown(void);

/** One attribute of a DN to build; a NULL @a type ends a list. */
typedef struct {
    const char *type;   /**< "CN", "emailAddress", dotted OID, ... */
    const char *value;  /**< Bytes of the value. */
    /** 0: MBSTRING_UTF8 (OpenSSL picks the string type, UTF8String for
     *  most attributes); MBSTRING_* to convert; V_ASN1_* to store the bytes
     *  as they are with that type (BMPSTRING as UCS-2BE, T61STRING,
     *  BIT_STRING, ...). */
    int asn1_type;
    int len;            /**< Length of @a value; 0: strlen(). */
    /** Non-zero: same RDN as the previous attribute (multi-valued RDN,
     *  X509_NAME_add_entry_by_txt with set = -1); else a new RDN (set = 0). */
    int join;
} tc_attr;

/** subjectAltName entry kinds. */
typedef enum {
    TC_SAN_END = 0,     /**< ends a list */
    TC_SAN_EMAIL,       /**< rfc822Name */
    TC_SAN_DNS,         /**< dNSName */
    TC_SAN_URI,         /**< uniformResourceIdentifier */
    TC_SAN_UPN,         /**< otherName msUPN 1.3.6.1.4.1.311.20.2.3, UTF8String */
    TC_SAN_OTHER_UTF8   /**< otherName @a oid with a UTF8String */
} tc_san_type;

/** One subjectAltName entry. */
typedef struct {
    tc_san_type type;
    const char *value;  /**< bytes (may hold control characters) */
    const char *oid;    /**< for TC_SAN_OTHER_UTF8 */
} tc_san;

/** What to put in a certificate.  Zero fields take defaults. */
typedef struct {
    const tc_attr *subject;   /**< NULL: empty subject */
    X509 *issuer;             /**< NULL: self-signed */
    EVP_PKEY *issuer_key;     /**< key of @a issuer */
    EVP_PKEY *key;            /**< subject key; NULL: a new P-256 key */
    /** BN_hex2bn() text, may start with '-'; NULL: "1001" (4097). */
    const char *serial;
    time_t not_before;        /**< 0: 2024-01-01 00:00:00 UTC */
    time_t not_after;         /**< 0: 2049-12-31 23:59:59 UTC */
    int ca;                   /**< CA:TRUE, keyCertSign (else CA:FALSE, digitalSignature) */
    int no_key_ids;           /**< no subject/authority key identifiers */
    const tc_san *san;        /**< TC_SAN_END-terminated, or NULL */
    const char *eku;          /**< extendedKeyUsage, X509V3 config text */
    const char *policies;     /**< certificatePolicies, X509V3 config text */
    /** policyConstraints, X509V3 config text ("requireExplicitPolicy:0") */
    const char *policy_constraints;
} tc_spec;

/** Default validity (2024-01-01 00:00:00 .. 2049-12-31 23:59:59 UTC). */
#define TC_NOT_BEFORE ((time_t)1704067200)
#define TC_NOT_AFTER  ((time_t)2524607999)

/** A new EC P-256 key. */
EVP_PKEY *tc_key(apr_pool_t *p);

/** A name built from @a attrs (empty for NULL). */
X509_NAME *tc_name(apr_pool_t *p, const tc_attr *attrs);

/** A signed certificate; its key goes to @a key_out when not NULL. */
X509 *tc_cert(apr_pool_t *p, const tc_spec *spec, EVP_PKEY **key_out);

/** A small PKI: a root, an intermediate, a leaf (CN=alice, serial 0x1001),
 *  and lookalikes with the same subject DNs but other keys. */
typedef struct {
    X509 *root, *inter, *leaf;
    EVP_PKEY *root_key, *inter_key, *leaf_key;
    X509 *fake_root;    /**< self-signed, subject of @a root, other key */
    X509 *fake_inter;   /**< subject of @a inter, other key, signed by root */
    X509 *fake_leaf;    /**< subject and serial of @a leaf, signed by fake_inter */
} tc_pki;

/** Subject DNs of the tc_pki certificates. */
#define TC_ROOT_DN  "CN=Test Root CA,O=Example Corp,C=US"
#define TC_INTER_DN "CN=Test Issuing CA,O=Example Corp,C=US"
#define TC_LEAF_DN  "CN=alice,O=Example Corp,C=US"

/**
 * Build a tc_pki.
 * @param key_ids non-zero: certificates carry subject/authority key
 *        identifiers; zero: none, so that only names and signatures link
 *        a certificate to its issuer
 */
void tc_pki_make(apr_pool_t *p, tc_pki *pki, int key_ids);

/**
 * A twin of @a pki's intermediate: the same subject DN and key, signed by
 * the root, with serial @a serial and the validity given (an expired twin
 * is "the same CA" by signature but not a valid certificate).
 */
X509 *tc_pki_inter_twin(apr_pool_t *p, const tc_pki *pki, const char *serial,
                        time_t not_before, time_t not_after);

/** A stack of the NULL-terminated certificates (references taken). */
STACK_OF(X509) *tc_stack(apr_pool_t *p, ...);

/** A trust store holding the NULL-terminated certificates. */
X509_STORE *tc_store(apr_pool_t *p, ...);

/**
 * Verify @a leaf with X509_verify_cert against @a trusted, using
 * @a untrusted as helpers (may be NULL).
 * @return the verified chain (leaf first), or NULL (the test aborts).
 */
STACK_OF(X509) *tc_verify(apr_pool_t *p, X509 *leaf, X509_STORE *trusted,
                          STACK_OF(X509) *untrusted);

/** Path of a temporary file holding the NULL-terminated certificates as
 *  PEM (removed when @a p is cleaned up). */
const char *tc_pem_file(apr_pool_t *p, ...);

/** Path of a temporary file holding @a text. */
const char *tc_text_file(apr_pool_t *p, const char *text);

/** PEM text of @a x (64-column base64 between the armour lines). */
char *tc_cert_pem(apr_pool_t *p, X509 *x);

/** DER of @a x; its length goes to @a len. */
unsigned char *tc_cert_der(apr_pool_t *p, X509 *x, size_t *len);

/** Base64 of the DER of @a x, on one line. */
char *tc_cert_base64(apr_pool_t *p, X509 *x);

/**
 * What x509a_d2i_x509() must give in whichever library context it decodes:
 * @a pki's leaf decoded, equal to it, verifying under its issuer's key
 * only, in a whole chain too; the lookalike leaf decoded and not verifying;
 * truncated DER refused.
 * @return the provider of the decoded leaf's key (the context's)
 */
const OSSL_PROVIDER *tc_check_d2i_x509(apr_pool_t *p, const tc_pki *pki);

/**
 * A version 2 CRL issued by @a issuer (signed with @a key) that revokes
 * the NULL-terminated serial numbers (BN_hex2bn() text).
 * @param last_update 0: an hour ago
 * @param next_update 0: in 30 days
 */
X509_CRL *tc_crl(apr_pool_t *p, X509 *issuer, EVP_PKEY *key,
                 time_t last_update, time_t next_update, ...);

/**
 * tc_crl() (an hour ago .. in 30 days) with a cRLNumber @a number (-1:
 * none), as a delta CRL of base @a delta_base (deltaCRLIndicator; -1: not a
 * delta), and a freshestCRL pointing at @a freshest (NULL: none).
 */
X509_CRL *tc_crl_numbered(apr_pool_t *p, X509 *issuer, EVP_PKEY *key,
                          long number, long delta_base, const char *freshest,
                          ...);

/** PEM text of @a crl. */
char *tc_crl_pem(apr_pool_t *p, X509_CRL *crl);

/** A new temporary directory; it and the files in it are removed when
 *  @a p is cleaned up. */
const char *tc_temp_dir(apr_pool_t *p);

/** Replace @a path with @a len bytes of @a data: a new file renamed over
 *  the old one, so that its inode changes too. */
void tc_write_file(const char *path, const char *data, size_t len);

/** X509_NAME_print_ex(@a flags) of @a name, as a string. */
char *tc_name_print(apr_pool_t *p, const X509_NAME *name, unsigned long flags);

/** X509_NAME_oneline() of @a name. */
char *tc_name_oneline(apr_pool_t *p, const X509_NAME *name);

/** Uppercase hex of X509_digest(@a md). */
char *tc_digest_hex(apr_pool_t *p, X509 *x, const EVP_MD *md);

/** SHA-256 of the DER SubjectPublicKeyInfo of @a x (32 bytes). */
void tc_spki_sha256(X509 *x, unsigned char out[32]);

/** Uppercase hex of @a len bytes. */
char *tc_hex(apr_pool_t *p, const unsigned char *d, size_t len);

/** Lowercase hex of @a len bytes with a colon between bytes. */
char *tc_hex_colons_lower(apr_pool_t *p, const unsigned char *d, size_t len);

/** Base64 of @a len bytes. */
char *tc_base64(apr_pool_t *p, const unsigned char *d, size_t len);

/** Does @a haystack contain @a needle?  (NULL haystack: no.) */
int tc_contains(const char *haystack, const char *needle);

#endif /* TESTCERT_H */
