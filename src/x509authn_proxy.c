/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/*
 * Trusted proxies: whether the peer may forward certificates (decided on
 * the TCP peer, c->client_addr, never what mod_remoteip rewrites, and on the
 * proxy's own TLS certificate), and removal of forwarded-certificate
 * headers from every request that does not come from one.
 */

#include "x509authn.h"

#include "util_filter.h"

#include "apr_lib.h"
#include "apr_strings.h"

APLOG_USE_MODULE(x509authn);

/* Every configured condition must hold: the TCP peer's address, and each
 * X509AuthnProxyRequire line on the proxy's verified TLS certificate. */
int x509authn_peer_is_trusted_proxy(request_rec *r,
                                    const x509authn_srv_conf *sc,
                                    x509authn_entry **proxy, int *refused)
{
    conn_rec *c = x509authn_master_conn(r->connection);
    int i;

    if (!x509authn_header_mode(sc)) {
        return 0;
    }
    if (sc->proxies) {
        int ok = 0;
        for (i = 0; !ok && i < sc->proxies->nelts; i++) {
            ok = apr_ipsubnet_test(APR_ARRAY_IDX(sc->proxies, i,
                                                 apr_ipsubnet_t *),
                                   c->client_addr);
        }
        if (!ok) {
            return 0;
        }
    }
    if (sc->proxy_rules) {
        const char *why = NULL, *error = NULL;
        int presented = 0, ok = 1;

        *proxy = x509authn_entry_hold(r, x509authn_tls_entry(r, &why, &error,
                                                             &presented,
                                                             NULL));
        if (!*proxy) {
            return 0;
        }
        x509authn_entry_lock(*proxy);
        for (i = 0; ok && i < sc->proxy_rules->nelts; i++) {
            ok = x509a_rules_check(APR_ARRAY_IDX(sc->proxy_rules, i,
                                                 x509a_rules *),
                                   (*proxy)->cert,
                                   (time_t)apr_time_sec(r->request_time),
                                   r->pool, &why);
        }
        if (!ok) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, X509A_LOGNO(0202)
                          "peer is not a trusted proxy: its certificate "
                          "fails X509AuthnProxyRequire (%s); %s, client %s",
                          why, x509a_cert_describe((*proxy)->cert),
                          c->client_ip);
            *refused = 1;
            x509authn_stat_add(c, X509AUTHN_STAT_PROXY_REFUSED);
        }
        x509authn_entry_unlock(*proxy);
        return ok;
    }
    return 1;
}
/* ------------------------------------------------------------------------ */
/* Header stripping                                                         */
/* ------------------------------------------------------------------------ */

/* Does a header name denote @a want, in any letter case and with '_' for
 * '-' (some backends and CGI treat them alike)?  With @a prefix, any name
 * starting so. */
static int name_matches(const char *name, const char *want, int prefix)
{
    for (; *want; name++, want++) {
        char a = *name == '_' ? '-' : *name;
        char b = *want == '_' ? '-' : *want;
        if (apr_tolower(a) != apr_tolower(b)) {
            return 0;
        }
    }
    return prefix || *name == '\0';
}

static int is_cert_header(const x509authn_srv_conf *sc, const char *name)
{
    return name_matches(name, sc->header, 0)
           || (sc->chain_header
               && name_matches(name, sc->chain_header, sc->chain_is_prefix));
}

/* Exactly as configured (letter case aside), for a prefix followed by
 * digits only: what a trusted proxy sends. */
static int is_exact_cert_header(const x509authn_srv_conf *sc, const char *name)
{
    apr_size_t n;

    if (!strcasecmp(name, sc->header)) {
        return 1;
    }
    if (!sc->chain_header) {
        return 0;
    }
    if (!sc->chain_is_prefix) {
        return !strcasecmp(name, sc->chain_header);
    }
    n = strlen(sc->chain_header);
    return !strncasecmp(name, sc->chain_header, n)
           && name[n] && strspn(name + n, "0123456789") == strlen(name + n);
}

/* Remove certificate headers from @a t: every spelling, or with
 * @a keep_exact the '_' spellings only.  Returns the first name removed. */
static const char *strip_headers(apr_pool_t *p, const x509authn_srv_conf *sc,
                                 apr_table_t *t, int keep_exact)
{
    const apr_array_header_t *arr = apr_table_elts(t);
    const apr_table_entry_t *elts = (const apr_table_entry_t *)arr->elts;
    apr_array_header_t *doomed = NULL;
    int i;

    for (i = 0; i < arr->nelts; i++) {
        const char *key = elts[i].key;
        if (key && is_cert_header(sc, key)
            && !(keep_exact && is_exact_cert_header(sc, key))) {
            if (!doomed) {
                doomed = apr_array_make(p, 2, sizeof(const char *));
            }
            APR_ARRAY_PUSH(doomed, const char *) = apr_pstrdup(p, key);
        }
    }
    for (i = 0; doomed && i < doomed->nelts; i++) {
        apr_table_unset(t, APR_ARRAY_IDX(doomed, i, const char *));
    }
    return doomed ? APR_ARRAY_IDX(doomed, 0, const char *) : NULL;
}

/** Input filter state: the certificate headers as they were before the
 *  body, restored after trailers were merged (MergeTrailers On). */
typedef struct {
    apr_table_t *saved;
} trailer_ctx;

#define TRAILER_FILTER "X509AUTHN_TRAILERS"

static apr_status_t trailer_filter(ap_filter_t *f, apr_bucket_brigade *bb,
                                   ap_input_mode_t mode,
                                   apr_read_type_e block, apr_off_t readbytes)
{
    request_rec *r = f->r;
    trailer_ctx *ctx = f->ctx;
    apr_status_t rv = ap_get_brigade(f->next, bb, mode, block, readbytes);
    const x509authn_srv_conf *sc = x509authn_srv(r);
    apr_bucket *b;

    if (rv != APR_SUCCESS) {
        return rv;
    }
    for (b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb);
         b = APR_BUCKET_NEXT(b)) {
        if (APR_BUCKET_IS_EOS(b)) {
            /* a certificate never comes as a trailer */
            const char *name = strip_headers(r->pool, sc, r->trailers_in, 0);
            if (name) {
                ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, X509A_LOGNO(0203)
                              "removed %s trailer from a request of %s",
                              name, r->connection->client_ip);
            }
            strip_headers(r->pool, sc, r->headers_in, 0);
            apr_table_overlap(r->headers_in, ctx->saved,
                              APR_OVERLAP_TABLES_SET);
            ap_remove_input_filter(f);
            break;
        }
    }
    return APR_SUCCESS;
}

/*
 * post_read_request, registered APR_HOOK_REALLY_FIRST: before mod_proxy,
 * mod_headers, CGI or any handler can see them, forwarded-certificate
 * headers leave every request that is not from a trusted proxy.
 */
int x509authn_post_read_request(request_rec *r)
{
    const x509authn_srv_conf *sc = x509authn_srv(r);
    x509authn_req *rs;
    const char *name;

    if (!x509authn_header_mode(sc)) {
        return DECLINED;
    }
    rs = x509authn_req_state(r);
    name = strip_headers(r->pool, sc, r->headers_in, rs->from_proxy);
    if (name && !rs->from_proxy) {
        x509authn_stat_add(r->connection, X509AUTHN_STAT_HEADER_REMOVED);
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, X509A_LOGNO(0201)
                      "removed %s header from a request of %s, which is not "
                      "a trusted proxy", name, r->connection->client_ip);
    }
    if (r->connection->master
        || apr_table_get(r->headers_in, "Transfer-Encoding")
        || apr_table_get(r->headers_in, "Content-Length")) {
        /* trailers arrive with a body (chunked, or HTTP/2 even with a
         * Content-Length); MergeTrailers would add them */
        trailer_ctx *ctx = apr_pcalloc(r->pool, sizeof(*ctx));
        const apr_array_header_t *arr = apr_table_elts(r->headers_in);
        const apr_table_entry_t *elts = (const apr_table_entry_t *)arr->elts;
        int i;

        ctx->saved = apr_table_make(r->pool, 2);
        for (i = 0; i < arr->nelts; i++) {
            if (elts[i].key && is_cert_header(sc, elts[i].key)) {
                apr_table_add(ctx->saved, elts[i].key, elts[i].val);
            }
        }
        ap_add_input_filter(TRAILER_FILTER, ctx, r, r->connection);
    }
    return DECLINED;
}

void x509authn_register_source_filters(void)
{
    /* above HTTP_IN (a protocol filter), which merges the trailers, so
     * that this one sees the end of the body after the merge */
    ap_register_input_filter(TRAILER_FILTER, trailer_filter, NULL,
                             AP_FTYPE_CONTENT_SET);
}

x509authn_entry *x509authn_proxy_entry(request_rec *r, x509authn_req *rs)
{
    if (!rs->proxy_asked && rs->from_proxy) {
        const char *why, *error;
        int presented = 0;

        /* asked once: a proxy without a certificate has none later */
        rs->proxy_asked = 1;
        if (!rs->proxy) {
            rs->proxy = x509authn_entry_hold(r, x509authn_tls_entry(
                                                    r, &why, &error,
                                                    &presented, NULL));
        }
    }
    return rs->proxy;
}

const char *x509authn_proxy_subject(request_rec *r, x509authn_req *rs)
{
    x509authn_entry *proxy;

    if (!rs->proxy_dn && (proxy = x509authn_proxy_entry(r, rs)) != NULL) {
        /* the string lives in the entry, which the request holds */
        x509authn_entry_lock(proxy);
        rs->proxy_dn = x509a_cert_subject(proxy->cert);
        x509authn_entry_unlock(proxy);
    }
    return rs->proxy_dn;
}
