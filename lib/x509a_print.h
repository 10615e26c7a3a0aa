/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/**
 * @file x509a_print.h
 * @brief Printing names and strings exactly as OpenSSL (and so mod_ssl)
 * prints them, without a BIO.
 *
 * OpenSSL's X509_NAME_print_ex() and ASN1_STRING_print_ex() write through
 * a BIO one character at a time, which costs tens of thousands of
 * instructions per name: a noticeable share of a TLS handshake.  These
 * functions produce byte-identical output for the character string types
 * of certificates and fall back to OpenSSL for anything else (unknown
 * attribute types, non-string values, malformed BMP/Universal strings).
 */

#ifndef X509A_PRINT_H
#define X509A_PRINT_H

#include <apr_pools.h>
#include <openssl/x509.h>

/**
 * The name as X509_NAME_print_ex(bio, name, 0, flags) prints it, for
 * flags XN_FLAG_RFC2253 without ASN1_STRFLGS_ESC_MSB (mod_ssl's
 * SSL_CLIENT_S_DN) or, with @a escape_msb, XN_FLAG_RFC2253 itself.
 */
char *x509a_print_name(apr_pool_t *p, const X509_NAME *name, int escape_msb);

/**
 * The string as ASN1_STRING_print_ex(bio, s, ASN1_STRFLGS_ESC_CTRL |
 * ASN1_STRFLGS_UTF8_CONVERT) prints it (mod_ssl's DN attribute values).
 */
char *x509a_print_string(apr_pool_t *p, const ASN1_STRING *s);

#endif /* X509A_PRINT_H */
