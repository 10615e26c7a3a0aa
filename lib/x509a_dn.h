/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/**
 * @file x509a_dn.h
 * @brief Distinguished names: parsing, canonical comparison, formatting.
 *
 * A DN written by an administrator (RFC 4514 `CN=alice,O=Example,C=US` or the
 * OpenSSL slash form `/C=US/O=Example/CN=alice`) and a DN read from a
 * certificate are both reduced to one canonical byte string, so that
 * comparing two DNs is a memcmp().  Canonicalisation:
 *  - RDNs in certificate (ASN.1) order: RFC 4514 strings are reversed;
 *  - attribute types by OID (`CN`, `cn`, `commonName` and `2.5.4.3` agree);
 *  - the AVAs of a multi-valued RDN sorted (their order is not significant);
 *  - values decoded to UTF-8 and prepared as RFC 4518 caseIgnoreMatch
 *    prescribes, from built-in Unicode 3.2 tables (x509a_strprep.h): case
 *    folding by RFC 3454 table B.2, NFKC, white space folded.  A value with
 *    a code point RFC 4518 prohibits makes the DN unmatchable: it equals
 *    no DN, itself included (x509a_dn_parse() refuses such a DN).
 */

#ifndef X509A_DN_H
#define X509A_DN_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <openssl/x509.h>

/** One attribute-value assertion of a DN. */
typedef struct {
    const char *oid;      /**< Dotted OID of the attribute type. */
    int nid;              /**< OpenSSL NID, NID_undef for unknown types. */
    const char *value;    /**< Value as UTF-8 (unescaped); NUL-terminated. */
    apr_size_t value_len; /**< Length of @a value (it may contain NUL). */
    int is_hex;           /**< Value kept as `#` + hex of its DER encoding. */
} x509a_ava;

/** A parsed distinguished name in certificate (ASN.1) order. */
typedef struct {
    /** RDNs, most general first; each element is an apr_array_header_t *
     *  of x509a_ava (several for a multi-valued RDN). */
    apr_array_header_t *rdns;
    const char *canon;    /**< Canonical form, compare with memcmp(). */
    apr_size_t canon_len; /**< Length of @a canon. */
    /** Set for a DN parsed from RFC 4514 syntax (written most specific
     *  RDN first). */
    int rfc4514;
    /** Set when a value holds a code point RFC 4518 prohibits: the DN
     *  equals no DN (x509a_dn_equal() is false). */
    int unmatchable;
} x509a_dn;

/**
 * Parse a DN written in RFC 4514 syntax (also accepting the RFC 2253/1779
 * leniencies: `;` separators, spaces around separators, quoted values) or
 * in the OpenSSL slash form (it starts with `/`; `+` joins AVAs of one RDN,
 * as X509_NAME_oneline() prints them; `\` escapes `/`, `+`, `=`, `,` and
 * `\`, `\xHH` is a byte; a backslash before anything else is kept).
 * @param p    pool for the result
 * @param text the DN
 * @param dn   receives the parsed DN
 * @return NULL on success, else a message saying what is wrong (also for
 *         a value with a code point RFC 4518 prohibits, which no
 *         certificate could match)
 */
const char *x509a_dn_parse(apr_pool_t *p, const char *text, x509a_dn **dn);

/**
 * Read a DN from a certificate name.  Values that are not character
 * strings, or that do not convert to UTF-8, are kept as `#` followed by the
 * hex of their DER encoding, as RFC 4514 prints them.
 */
x509a_dn *x509a_dn_from_name(apr_pool_t *p, const X509_NAME *name);

/** Non-zero when both DNs are the same after canonicalisation (never for
 *  an unmatchable DN). */
int x509a_dn_equal(const x509a_dn *a, const x509a_dn *b);

/**
 * Heuristic for configuration warnings: non-zero when a DN written in
 * RFC 4514 syntax seems to list its RDNs root first (e.g. `C=US,...,CN=x`,
 * as `openssl x509 -subject` prints them), which RFC 4514 reverses.
 */
int x509a_dn_looks_reversed(const x509a_dn *dn);

/**
 * Format a certificate name the way mod_ssl prints SSL_CLIENT_S_DN:
 * RFC 4514 with UTF-8 kept (XN_FLAG_RFC2253 without ASN1_STRFLGS_ESC_MSB),
 * or with @a legacy set, the `/C=../CN=..` form of X509_NAME_oneline().
 */
char *x509a_name_to_string(apr_pool_t *p, const X509_NAME *name, int legacy);

/**
 * Resolve an attribute type name (`CN`, `commonName`, `E`, `emailAddress`,
 * `UID`, `DC`, ..., any letter case) or dotted OID to an OpenSSL object.
 * OpenSSL's short names in their own letter case come first, so that what
 * OpenSSL prints reads back: `uid` is uniqueIdentifier, `UID` userId.
 * @return the object (owned by the caller, freed with ASN1_OBJECT_free()),
 *         or NULL when the name is unknown.
 */
ASN1_OBJECT *x509a_attr_type(const char *name);

#endif /* X509A_DN_H */
