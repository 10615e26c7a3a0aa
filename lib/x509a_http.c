/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/* The HTTP client of revocation checks: OpenSSL's own (OSSL_HTTP_transfer),
 * which has overall timeouts and response caps and follows no redirects;
 * this file adds the URL policy and TLS with host name verification. */

#include <string.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include <openssl/http.h>
#include <openssl/ssl.h>
#include <openssl/err.h>

#include "x509a_http.h"

/* OpenSSL's error queue as one line (the first error and the last, which
 * say what failed and why), then emptied. */
static const char *openssl_errors(apr_pool_t *p, const char *what)
{
    const char *data = NULL, *first_data = NULL;
    int flags = 0, first_flags = 0;
    unsigned long first = ERR_get_error_all(NULL, NULL, NULL, &first_data,
                                            &first_flags);
    unsigned long last = first, e;
    char buf1[256], buf2[256];
    const char *msg;

    while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
        last = e;
    }
    if (!first) {
        return apr_pstrcat(p, what, ": unknown error", NULL);
    }
    ERR_error_string_n(first, buf1, sizeof(buf1));
    msg = apr_pstrcat(p, what, ": ", ERR_reason_error_string(first)
                                     ? ERR_reason_error_string(first) : buf1,
                      (first_flags & ERR_TXT_STRING) && first_data
                      && *first_data ? apr_pstrcat(p, " (", first_data, ")",
                                                   NULL) : "", NULL);
    if (last != first) {
        ERR_error_string_n(last, buf2, sizeof(buf2));
        msg = apr_pstrcat(p, msg, "; ", ERR_reason_error_string(last)
                                        ? ERR_reason_error_string(last) : buf2,
                          (flags & ERR_TXT_STRING) && data && *data
                          ? apr_pstrcat(p, " (", data, ")", NULL) : "", NULL);
    }
    return msg;
}

const char *x509a_http_parse(apr_pool_t *p, const char *url,
                             x509a_http_url *out)
{
    char *user = NULL, *host = NULL, *port = NULL, *path = NULL;
    char *query = NULL, *frag = NULL;
    const char *err = NULL;
    const unsigned char *c;
    int tls = 0, portnum = 0;

    if (!url || !*url) {
        return "empty URL";
    }
    /* the request line is built from it: nothing that could end it */
    for (c = (const unsigned char *)url; *c; c++) {
        if (*c <= 0x20 || *c >= 0x7f) {
            return apr_psprintf(p, "'%s': spaces, control and non-ASCII "
                                "characters are not allowed in a URL",
                                url);
        }
    }
    /* OSSL_HTTP_parse_url() takes a URL without scheme as http */
    if (strncasecmp(url, "http://", 7) && strncasecmp(url, "https://", 8)) {
        return apr_psprintf(p, "'%s': only http:// and https:// URLs are "
                            "fetched", url);
    }
    /* OpenSSL knows the schemes in lower case only */
    if (apr_isupper(url[0]) || apr_isupper(url[1]) || apr_isupper(url[2])
        || apr_isupper(url[3]) || apr_isupper(url[4])) {
        char *lower = apr_pstrdup(p, url);
        int i;

        for (i = 0; lower[i] != ':'; i++) {
            lower[i] = (char)apr_tolower(lower[i]);
        }
        url = lower;
    }
    if (!OSSL_HTTP_parse_url(url, &tls, &user, &host, &port, &portnum, &path,
                             &query, &frag)) {
        err = openssl_errors(p, apr_psprintf(p, "'%s' is not a valid URL",
                                             url));
    }
    else if (user && *user) {
        err = apr_psprintf(p, "'%s': URLs with user information are not "
                           "fetched", url);
    }
    else if (!host || !*host) {
        err = apr_psprintf(p, "'%s': the URL has no host", url);
    }
    else if (frag && *frag) {
        err = apr_psprintf(p, "'%s': the URL has a fragment", url);
    }
    else if (portnum <= 0 || portnum > 65535) {
        err = apr_psprintf(p, "'%s': invalid port", url);
    }
    else if (out) {
        out->tls = tls;
        out->host = apr_pstrdup(p, host);
        out->port = apr_pstrdup(p, port);
        out->path = apr_pstrcat(p, path && *path == '/' ? "" : "/",
                                path ? path : "", query && *query ? "?" : "",
                                query && *query ? query : "", NULL);
    }
    OPENSSL_free(user);
    OPENSSL_free(host);
    OPENSSL_free(port);
    OPENSSL_free(path);
    OPENSSL_free(query);
    OPENSSL_free(frag);
    ERR_clear_error();
    return err;
}

/* TLS for https:// URLs: an SSL BIO over the connection, verifying the
 * server's certificate and host name. */
typedef struct {
    SSL_CTX *ctx;
    const char *host;
} tls_arg;

static BIO *tls_cb(BIO *bio, void *argv, int connect, int detail)
{
    tls_arg *arg = argv;

    if (!arg->ctx) {
        return bio;
    }
    if (connect) {
        BIO *sbio = BIO_new(BIO_f_ssl());
        SSL *ssl = sbio ? SSL_new(arg->ctx) : NULL;
        const char *host = arg->host;
        char ip[64];
        apr_size_t len = strlen(host);
        int is_ip;

        /* an address literal: checked against the certificate's IP
         * addresses, and no SNI (RFC 6066 3) */
        if (len > 2 && host[0] == '[' && len - 2 < sizeof(ip)) {
            memcpy(ip, host + 1, len - 2);
            ip[len - 2] = '\0';
            host = ip;
        }
        is_ip = strspn(host, "0123456789.") == strlen(host)
                || strchr(host, ':') != NULL;
        if (!ssl
            || (is_ip
                ? !X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host)
                : (!SSL_set_tlsext_host_name(ssl, host)
                   || !SSL_set1_host(ssl, host)))) {
            SSL_free(ssl);
            BIO_free(sbio);
            return NULL;
        }
        SSL_set_connect_state(ssl);
        BIO_set_ssl(sbio, ssl, BIO_CLOSE);
        return BIO_push(sbio, bio);
    }
    else {
        BIO *next;

        /* done: hand back the connection BIO, freeing ours */
        (void)detail;
        (void)ERR_set_mark();
        BIO_ssl_shutdown(bio);
        next = BIO_pop(bio);
        BIO_free(bio);
        (void)ERR_pop_to_mark();
        return next;
    }
}

const char *x509a_http_fetch(apr_pool_t *p, const char *url,
                             const char *content_type, const void *body,
                             apr_size_t body_len, apr_size_t max_len,
                             int timeout_secs, const char **out,
                             apr_size_t *out_len)
{
    x509a_http_url u;
    tls_arg arg;
    BIO *req = NULL, *resp;
    const char *err;
    char *data;
    long len;

    *out = NULL;
    *out_len = 0;
    if ((err = x509a_http_parse(p, url, &u))) {
        return err;
    }
    if (timeout_secs <= 0 || max_len == 0) {
        return "invalid timeout or size limit";
    }
    ERR_clear_error();
    arg.ctx = NULL;
    arg.host = u.host;
    if (u.tls) {
        arg.ctx = SSL_CTX_new(TLS_client_method());
        if (!arg.ctx || !SSL_CTX_set_default_verify_paths(arg.ctx)) {
            SSL_CTX_free(arg.ctx);
            return openssl_errors(p, "cannot set up TLS");
        }
        SSL_CTX_set_verify(arg.ctx, SSL_VERIFY_PEER, NULL);
        SSL_CTX_set_min_proto_version(arg.ctx, TLS1_2_VERSION);
    }
    if (content_type
        && !(req = BIO_new_mem_buf(body, (int)body_len))) {
        SSL_CTX_free(arg.ctx);
        return "out of memory";
    }
    /* proxy "": none (NULL would take http_proxy from the environment);
     * expect_asn1: the body is read whole, its length checked against
     * max_len as soon as its DER header or Content-Length says it; no
     * keep-alive; prctx NULL: no redirects are followed (a 3xx fails) */
    resp = OSSL_HTTP_transfer(NULL, u.host, u.port, u.path, u.tls, "", NULL,
                              NULL, NULL, tls_cb, &arg, 0, NULL,
                              content_type, req, NULL, 1, max_len,
                              timeout_secs, 0);
    BIO_free(req);
    SSL_CTX_free(arg.ctx);
    if (!resp) {
        return openssl_errors(p, apr_psprintf(p, "fetching %s failed", url));
    }
    len = BIO_get_mem_data(resp, &data);
    if (len < 0 || (apr_size_t)len > max_len) {
        BIO_free(resp);
        ERR_clear_error();
        return apr_psprintf(p, "fetching %s failed: the response is longer "
                            "than %" APR_SIZE_T_FMT " bytes", url, max_len);
    }
    *out = apr_pmemdup(p, data, (apr_size_t)len);
    *out_len = (apr_size_t)len;
    BIO_free(resp);
    ERR_clear_error();
    return NULL;
}
