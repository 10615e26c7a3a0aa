/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/**
 * @file x509a_decode.h
 * @brief Certificates forwarded by proxies in HTTP header values.
 *
 * Dialects:
 *  - PEM, also URL-encoded (nginx `$ssl_client_escaped_cert`, AWS ALB,
 *    Cloudflare; a literal `+` stays `+`), with its line breaks turned into
 *    spaces or tab-folded (mod_headers, old nginx `$ssl_client_cert`);
 *  - base64 of the DER certificate, with or without PEM armour (HAProxy
 *    `ssl_c_der,base64`, BIG-IP, Azure);
 *  - RFC 9440 `Client-Cert` byte sequence `:BASE64:` and `Client-Cert-Chain`
 *    list of byte sequences;
 *  - Envoy `x-forwarded-client-cert` (XFCC): `;`-separated key=value pairs
 *    (`Cert=` URL-encoded PEM, `Chain=` URL-encoded PEM bundle), values
 *    possibly double-quoted with `\` escapes, `,` between elements; the
 *    last element is the nearest proxy's;
 *  - `list`: the leaf then intermediates, base64 DER joined by `,`, possibly
 *    URL-encoded (Traefik).
 *
 * Decoding is strict: bad base64, bytes after a certificate, more than one
 * certificate where one is expected, or an oversized value is an error.
 * `auto` refuses a value with several certificates (httpd joins repeated
 * header fields with ", "); the explicit `pem` format takes a PEM bundle as
 * the leaf followed by its intermediates (AWS ALB passthrough).
 * `(null)`, `-` and the empty value mean "no certificate".
 */

#ifndef X509A_DECODE_H
#define X509A_DECODE_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <openssl/x509.h>

/** Header value formats (X509AuthnHeader's second argument). */
typedef enum {
    X509A_FMT_AUTO = 0,   /**< detect: pem, der-base64, rfc9440 or xfcc
                               (never xfcc-append) */
    X509A_FMT_PEM,        /**< PEM, maybe URL-encoded or space-folded */
    X509A_FMT_DER_BASE64, /**< base64 DER (= PEM body without armour) */
    X509A_FMT_LIST,       /**< leaf then chain, comma-joined base64 DER */
    X509A_FMT_RFC9440,    /**< RFC 9440 Client-Cert byte sequence */
    X509A_FMT_XFCC,       /**< Envoy x-forwarded-client-cert, one element
                               (SANITIZE_SET) */
    X509A_FMT_XFCC_APPEND /**< Envoy XFCC, the last of its elements
                               (APPEND_FORWARD) */
} x509a_format;

/** What a header carried. */
typedef struct {
    X509 *leaf;              /**< The client certificate, or NULL for none. */
    STACK_OF(X509) *chain;   /**< Intermediates that came along, or NULL. */
} x509a_forwarded;

/** The DER bytes of one certificate, as a header value carried them. */
typedef struct {
    const unsigned char *der;   /**< The bytes (in the decoding pool). */
    apr_size_t len;             /**< Their length. */
} x509a_der;

/** What a header carried, as DER bytes not yet decoded. */
typedef struct {
    x509a_der leaf;             /**< The client certificate; der NULL for
                                     none. */
    apr_array_header_t *chain;  /**< Intermediates (x509a_der), or NULL. */
    int unsupported;            /**< The value is XFCC, whose checks read
                                     the certificate: use
                                     x509a_decode_leaf(). */
} x509a_forwarded_der;

/**
 * Parse a format name (`auto`, `pem`, `der-base64`, `list`, `rfc9440`,
 * `xfcc`, `xfcc-append`; case-insensitive).
 * @return NULL on success, else why the name is not a format
 */
const char *x509a_format_parse(const char *name, x509a_format *out);

/** The name of a format. */
const char *x509a_format_name(x509a_format fmt);

/**
 * Decode a leaf-certificate header value.
 * On success @a out holds new references (freed with @a p's cleanup).
 * @param value the header value (as httpd joined repeated fields: ", ")
 * @param max_len values longer than this are refused
 * @return NULL on success (out->leaf NULL means "no certificate"), else
 *         the reason for refusing the value
 */
const char *x509a_decode_leaf(apr_pool_t *p, const char *value,
                              x509a_format fmt, apr_size_t max_len,
                              x509a_forwarded *out);

/**
 * Decode an intermediates header value: an RFC 9440 `Client-Cert-Chain`
 * list, or one or more PEM certificates (maybe URL-encoded), or a single
 * base64 DER certificate.  Certificates are appended to @a chain.
 * @return NULL on success, else the reason for refusing the value
 */
const char *x509a_decode_chain(apr_pool_t *p, const char *value,
                               apr_size_t max_len, STACK_OF(X509) *chain);

/**
 * Decode one DER certificate as the decoders above do: d2i_X509(), with
 * no byte after the certificate.
 * @param out on success a new reference the caller frees
 * @return NULL on success, else why the bytes are not a certificate
 */
const char *x509a_decode_der(const unsigned char *der, apr_size_t len,
                             X509 **out);

/**
 * x509a_decode_leaf() up to, not including, the decoding of each
 * certificate: the DER bytes the value carries.  Every format but XFCC
 * (an `auto` value that looks like XFCC included): out->unsupported is
 * set and nothing else is done.
 *
 * Both run the same framing code, which never looks at a decoded
 * certificate.  So x509a_decode_leaf() accepts a value exactly when this
 * accepts it and x509a_decode_der() accepts each of the certificates it
 * found; then they are the same certificates in the same order.  A value
 * accepted here may still be refused by x509a_decode_leaf() (bytes that
 * are not a certificate, or with bytes after one): a caller that skips
 * decoding must know by other means that these exact bytes decoded
 * before (the forwarded-certificate path does: a shared-cache record
 * keyed by their SHA-256 is written only after they were decoded and
 * verified; see x509authn_header.c).
 * @return NULL on success (out->leaf.der NULL means "no certificate"),
 *         else the reason for refusing the value
 */
const char *x509a_decode_leaf_der(apr_pool_t *p, const char *value,
                                  x509a_format fmt, apr_size_t max_len,
                                  x509a_forwarded_der *out);

/**
 * x509a_decode_chain() up to, not including, the decoding of each
 * certificate (see x509a_decode_leaf_der()): x509a_der of each are
 * appended to @a chain.
 * @return NULL on success, else the reason for refusing the value
 */
const char *x509a_decode_chain_der(apr_pool_t *p, const char *value,
                                   apr_size_t max_len,
                                   apr_array_header_t *chain);

/**
 * Strict base64, as the decoders read it: the standard alphabet, padded
 * ('=' only to complete the last group of four, one or two of them, then
 * nothing but white space); white space anywhere is skipped.
 * @param out the bytes, allocated from @a p
 * @return NULL on success, else the reason ("bad base64", "bad base64
 *         length", "data after base64 padding")
 */
const char *x509a_base64_decode(apr_pool_t *p, const char *s, apr_size_t len,
                                unsigned char **out, apr_size_t *out_len);

#endif /* X509A_DECODE_H */
