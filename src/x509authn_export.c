/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/* Variables: r->subprocess_env after a login, and %{X509_*} in ap_expr
 * at any time.  Values are formatted once per certificate (lib/ keeps
 * them in the entry); a request only points at them. */

#include "x509authn.h"

#include "apr_strings.h"

APLOG_USE_MODULE(x509authn);

/** Where variables go: r->subprocess_env, appended when possible. */
typedef struct {
    apr_table_t *env;
    int append;
} env_writer;

/* apr_table_setn() compares the new key with every key of the table; its
 * checksum sees only the first four characters, which all X509_* names
 * share, so 30 names cost hundreds of strcasecmp() calls.  When no name
 * with the prefix is there yet (the normal case), appending is the same. */
static env_writer writer_for(apr_table_t *env, const char *prefix)
{
    const apr_array_header_t *arr = apr_table_elts(env);
    const apr_table_entry_t *elts = (const apr_table_entry_t *)arr->elts;
    apr_size_t len = strlen(prefix);
    env_writer w;
    int i;

    w.env = env;
    w.append = 1;
    for (i = 0; i < arr->nelts && w.append; i++) {
        w.append = !(elts[i].key && !strncasecmp(elts[i].key, prefix, len));
    }
    return w;
}

static void put(const env_writer *w, const char *name, const char *value)
{
    if (w->append) {
        apr_table_addn(w->env, name, value);
    }
    else {
        apr_table_setn(w->env, name, value);
    }
}

/* The certificate's variables, formatted once: in the normal case the
 * prepared table is overlaid in one copy (no per-name table insertion). */
static void put_vars(env_writer *w, request_rec *r, x509a_cert *cert,
                     x509a_vars_style style)
{
#if !APR_POOL_DEBUG
    if (w->append) {
        r->subprocess_env = w->env =
            apr_table_overlay(r->pool, x509a_cert_vars_table(cert, style),
                              w->env);
        return;
    }
#endif
    {
        const apr_array_header_t *vars = x509a_cert_vars(cert, style);
        int i;

        for (i = 0; i < vars->nelts; i++) {
            const x509a_var *v = &APR_ARRAY_IDX(vars, i, x509a_var);
            put(w, v->name, v->value);
        }
    }
}

static void put_pem_vars(const env_writer *w, request_rec *r, x509a_cert *cert,
                         const char *prefix)
{
    const apr_array_header_t *chain = x509a_cert_chain_pem(cert);
    int i;

    put(w, apr_pstrcat(r->pool, prefix, "CERT", NULL), x509a_cert_pem(cert));
    for (i = 0; i < chain->nelts; i++) {
        put(w, apr_psprintf(r->pool, "%sCERT_CHAIN_%d", prefix, i),
            APR_ARRAY_IDX(chain, i, const char *));
    }
}

/* Values live in the entry, which the request references until its pool
 * is gone: no copies. */
void x509authn_export(request_rec *r, const x509authn_dir_conf *dc,
                      x509authn_req *rs, x509authn_found *f)
{
    x509a_cert *cert = f->entry->cert;
    env_writer w = writer_for(r->subprocess_env, "X509_");
    const char *remain = x509authn_days_remaining(f->entry, r->request_time);
    x509authn_entry *proxy;

    put_vars(&w, r, cert, X509A_VARS_X509);
    put(&w, "X509_AUTHN_SOURCE", x509authn_source_name(f->source));
    put(&w, "X509_CLIENT_V_REMAIN", remain);
    if (dc->export_cert) {
        put_pem_vars(&w, r, cert, "X509_CLIENT_");
    }
    if (f->source != X509AUTHN_SOURCE_HEADER) {
        return;
    }

    put(&w, "X509_PROXY_ADDR", r->connection->client_ip);
    if ((proxy = x509authn_proxy_entry(r, rs)) != NULL) {
        apr_thread_mutex_lock(proxy->lock);
        put(&w, "X509_PROXY_S_DN", x509a_cert_subject(proxy->cert));
        apr_thread_mutex_unlock(proxy->lock);
    }
    if (dc->export_ssl_vars) {
        /* applications written for direct mTLS run unchanged */
        env_writer ssl = writer_for(r->subprocess_env, "SSL_CLIENT_");

        put_vars(&ssl, r, cert, X509A_VARS_MODSSL);
        put(&ssl, "SSL_CLIENT_VERIFY", "SUCCESS");
        put(&ssl, "SSL_CLIENT_V_REMAIN", remain);
        put_pem_vars(&ssl, r, cert, "SSL_CLIENT_");
    }
}

/* Before authentication: the certificate the request presents under the
 * asking directory's source.  Once authentication has run: the login it
 * made, or nothing (a refused certificate, a password login). */
static const char *expr_var(ap_expr_eval_ctx_t *ctx, const void *data)
{
    const char *name = data, *value;
    request_rec *r = ctx->r;
    x509authn_req *rs;
    x509authn_found *f;
    x509authn_entry *proxy;

    if (!r) {
        return NULL;
    }
    rs = x509authn_req_state(r);
    f = rs->authn_done ? rs->login
                       : x509authn_resolve(r, ap_get_module_config(
                                              r->per_dir_config,
                                              &x509authn_module));
    if (!f || !f->entry) {
        return NULL;
    }
    if (!strcmp(name, "X509_AUTHN_SOURCE")) {
        return x509authn_source_name(f->source);
    }
    if (!strncmp(name, "X509_PROXY_", 11)) {
        if (f->source != X509AUTHN_SOURCE_HEADER) {
            return NULL;
        }
        if (!strcmp(name, "X509_PROXY_ADDR")) {
            return r->connection->client_ip;
        }
        if (strcmp(name, "X509_PROXY_S_DN")
            || !(proxy = x509authn_proxy_entry(r, rs))) {
            return NULL;
        }
        apr_thread_mutex_lock(proxy->lock);
        value = x509a_cert_subject(proxy->cert);
        apr_thread_mutex_unlock(proxy->lock);
        return value;
    }
    apr_thread_mutex_lock(f->entry->lock);
    value = x509a_cert_var(f->entry->cert, r->pool, name,
                           apr_time_sec(r->request_time));
    apr_thread_mutex_unlock(f->entry->lock);
    return value;
}

/* Make %{X509_*} known to ap_expr, which rejects unknown variables when
 * the configuration is read. */
int x509authn_expr_lookup(ap_expr_lookup_parms *parms)
{
    if (parms->type == AP_EXPR_FUNC_VAR
        && strncmp(parms->name, "X509_", 5) == 0) {
        *parms->func = expr_var;
        *parms->data = apr_pstrdup(parms->pool, parms->name);
        return OK;
    }
    return DECLINED;
}
