/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/*
 * Resolution: which certificate a request presents, under the X509AuthnSource
 * of the directory that asks.  An early %{X509_*} look-up (SetEnvIfExpr, a
 * virtual host's <If>) runs under other settings than authentication does,
 * so nothing resolved once decides for a later caller: each source keeps its
 * own answer, direct TLS asks mod_ssl again every time (a renegotiation may
 * have happened in between), and a forwarded certificate's answer is reused
 * only for the same header values.
 */

#include "x509authn.h"

#include "apr_strings.h"

APLOG_USE_MODULE(x509authn);

const char *x509authn_source_name(x509authn_source source)
{
    return source == X509AUTHN_SOURCE_HEADER ? "header" : "tls";
}

x509authn_req *x509authn_req_state(request_rec *r)
{
    x509authn_req *rs = ap_get_module_config(r->request_config,
                                             &x509authn_module);

    if (!rs) {
        rs = apr_pcalloc(r->pool, sizeof(*rs));
        ap_set_module_config(r->request_config, &x509authn_module, rs);
        rs->found[X509AUTHN_SOURCE_TLS].source = X509AUTHN_SOURCE_TLS;
        rs->found[X509AUTHN_SOURCE_HEADER].source = X509AUTHN_SOURCE_HEADER;
        rs->from_proxy = x509authn_peer_is_trusted_proxy(r, x509authn_srv(r),
                                                         &rs->proxy,
                                                         &rs->proxy_refused);
    }
    return rs;
}

x509authn_req *x509authn_decided_by(request_rec *r, request_rec **by)
{
    request_rec *x = r;

    do {
        x509authn_req *rs = ap_get_module_config(x->request_config,
                                                 &x509authn_module);
        if (rs && rs->authn_done) {
            if (by) {
                *by = x;
            }
            return rs;
        }
        x = x->prev ? x->prev : x->main;
        /* only as far as httpd handed the login on */
    } while (x && r->user && x->user == r->user);
    return NULL;
}

static void found_reset(x509authn_found *f)
{
    x509authn_source source = f->source;

    memset(f, 0, sizeof(*f));
    f->source = source;
}

/* The request holds one reference per entry: a repeated answer gives the
 * extra reference back (the request's own keeps the address in use). */
static x509authn_entry *hold_once(request_rec *r, x509authn_entry *e,
                                  const x509authn_entry *held)
{
    if (e && e == held) {
        x509authn_entry_release(e);
        return e;
    }
    return x509authn_entry_hold(r, e);
}

static x509authn_found *resolve_header(request_rec *r, x509authn_req *rs,
                                       const x509authn_srv_conf *sc)
{
    x509authn_found *f = &rs->found[X509AUTHN_SOURCE_HEADER];

    if (!x509authn_header_mode(sc)) {
        found_reset(f);
        f->why = "X509AuthnSource header, but this server trusts no proxy "
                 "(X509AuthnTrustedProxy, X509AuthnProxyRequire)";
        f->error = X509A_REASON_UNTRUSTED_PEER;
        return f;
    }
    if (!rs->from_proxy) {
        found_reset(f);
        /* X509A0202 has said which X509AuthnProxyRequire failed */
        f->why = "the peer is not a trusted proxy";
        f->error = rs->proxy_refused ? X509A_REASON_PROXY_REFUSED
                                     : X509A_REASON_UNTRUSTED_PEER;
        return f;
    }
    if (f->key) {
        apr_array_header_t *chains;
        apr_size_t len;
        const char *key = x509authn_forwarded_key(r, sc, &len, &chains);

        /* answered before in this request, for these very header values */
        if (key && len == f->key_len
            && (key == f->key || !memcmp(key, f->key, len))) {
            return f;
        }
    }
    found_reset(f);
    x509authn_header_resolve(r, sc, f);
    return f;
}

static x509authn_found *resolve_tls(request_rec *r, x509authn_req *rs)
{
    x509authn_found *f = &rs->found[X509AUTHN_SOURCE_TLS];
    x509authn_entry *entry = f->entry, *refused = f->refused, *e;

    found_reset(f);
    if (rs->from_proxy) {
        /* a proxy's certificate is its own credential, not a user's */
        f->why = "the peer is a trusted proxy, whose TLS certificate is not "
                 "a user's";
        f->error = X509A_REASON_NO_CERTIFICATE;
        return f;
    }
    e = x509authn_tls_entry(r, &f->why, &f->error, &f->presented,
                            &f->refused);
    /* mod_ssl verified it; X509AuthnRevocationTLS asks about revocation
     * the way the certificate says (mod_ssl never fetches CRLs) */
    if (e && !x509authn_revtls_check(r, x509authn_srv(r), e, &f->why,
                                     &f->error)) {
        f->presented = 1;
        f->refused = e;
        e = NULL;
    }
    f->entry = hold_once(r, e, entry);
    f->refused = hold_once(r, f->refused, refused);
    return f;
}

x509authn_found *x509authn_resolve(request_rec *r,
                                   const x509authn_dir_conf *dc)
{
    x509authn_req *rs = x509authn_req_state(r);

    if (dc->source == X509AUTHN_SOURCE_HEADER
        || (dc->source == X509AUTHN_SOURCE_ANY && rs->from_proxy)) {
        return resolve_header(r, rs, x509authn_srv(r));
    }
    return resolve_tls(r, rs);
}
