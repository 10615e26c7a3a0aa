/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/**
 * @file x509a_http.h
 * @brief A small HTTP client for revocation data (CRLs, OCSP), over
 * OpenSSL 3's OSSL_HTTP_transfer(): no dependency besides OpenSSL.
 *
 * Only http:// and https:// URLs (https verified against the system's
 * trust store, with the URL's host name), without user information, with
 * a host; no proxy (the environment's http_proxy is ignored); no
 * redirects (a 3xx answer is an error); the response must be one DER
 * object (a CRL, an OCSP response) of at most a given size, within a
 * timeout for the whole exchange.
 */

#ifndef X509A_HTTP_H
#define X509A_HTTP_H

#include <apr_pools.h>

/** A URL taken apart by x509a_http_parse(). */
typedef struct {
    int tls;            /**< https */
    const char *host;   /**< Host name or address (IPv6 in brackets). */
    const char *port;   /**< Port, the scheme's default when not given. */
    const char *path;   /**< Path and query, starting with '/'. */
} x509a_http_url;

/**
 * Take a URL apart, refusing what the client does not fetch: schemes other
 * than http and https, user information, an empty host, spaces and control
 * characters, fragments.
 * @param out may be NULL (only check)
 * @return NULL, or why the URL is refused (allocated from @a p)
 */
const char *x509a_http_parse(apr_pool_t *p, const char *url,
                             x509a_http_url *out);

/**
 * Fetch @a url: GET, or POST of @a body with @a content_type.
 * @param max_len the longest response accepted, in bytes
 * @param timeout_secs for the whole exchange (connection included), > 0
 * @param out receives the response body (allocated from @a p)
 * @param out_len its length
 * @return NULL, or what went wrong (allocated from @a p)
 */
const char *x509a_http_fetch(apr_pool_t *p, const char *url,
                             const char *content_type, const void *body,
                             apr_size_t body_len, apr_size_t max_len,
                             int timeout_secs, const char **out,
                             apr_size_t *out_len);

#endif /* X509A_HTTP_H */
