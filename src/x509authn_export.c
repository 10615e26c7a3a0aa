/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/* Variables: r->subprocess_env after a login, and %{X509_*} in ap_expr
 * at any time.  Values are formatted once per certificate (lib/ keeps
 * them in the entry); a request only points at them. */

#include "x509authn.h"

#include "apr_strings.h"

APLOG_USE_MODULE(x509authn);

static void set_vars(apr_table_t *env, const apr_array_header_t *vars)
{
    int i;

    for (i = 0; i < vars->nelts; i++) {
        const x509a_var *v = &APR_ARRAY_IDX(vars, i, x509a_var);
        apr_table_setn(env, v->name, v->value);
    }
}

static void set_pem_vars(request_rec *r, x509a_cert *cert, const char *prefix)
{
    const apr_array_header_t *chain = x509a_cert_chain_pem(cert);
    int i;

    apr_table_setn(r->subprocess_env, apr_pstrcat(r->pool, prefix, "CERT",
                                                  NULL),
                   x509a_cert_pem(cert));
    for (i = 0; i < chain->nelts; i++) {
        apr_table_setn(r->subprocess_env,
                       apr_psprintf(r->pool, "%sCERT_CHAIN_%d", prefix, i),
                       APR_ARRAY_IDX(chain, i, const char *));
    }
}

/* Values live in the entry, which the request references until its pool
 * is gone: apr_table_setn, no copies. */
void x509authn_export(request_rec *r, const x509authn_dir_conf *dc,
                      x509authn_req *rs)
{
    x509a_cert *cert = rs->entry->cert;
    apr_table_t *env = r->subprocess_env;
    const char *remain;
    int header = rs->source[0] == 'h';
    x509authn_entry *proxy;

    apr_table_setn(env, "X509_AUTHN_SOURCE", rs->source);
    set_vars(env, x509a_cert_vars(cert, X509A_VARS_X509));
    remain = apr_ltoa(r->pool, x509a_cert_days_remaining(
                                   cert, apr_time_sec(r->request_time)));
    apr_table_setn(env, "X509_CLIENT_V_REMAIN", remain);
    if (dc->export_cert) {
        set_pem_vars(r, cert, "X509_CLIENT_");
    }
    if (!header) {
        return;
    }

    apr_table_setn(env, "X509_PROXY_ADDR", r->connection->client_ip);
    if ((proxy = x509authn_proxy_entry(r, rs)) != NULL) {
        apr_thread_mutex_lock(proxy->lock);
        apr_table_setn(env, "X509_PROXY_S_DN", x509a_cert_subject(proxy->cert));
        apr_thread_mutex_unlock(proxy->lock);
    }
    if (dc->export_ssl_vars) {
        /* applications written for direct mTLS run unchanged */
        set_vars(env, x509a_cert_vars(cert, X509A_VARS_MODSSL));
        apr_table_setn(env, "SSL_CLIENT_VERIFY", "SUCCESS");
        apr_table_setn(env, "SSL_CLIENT_V_REMAIN", remain);
        set_pem_vars(r, cert, "SSL_CLIENT_");
    }
}

static const char *expr_var(ap_expr_eval_ctx_t *ctx, const void *data)
{
    const char *name = data, *value;
    request_rec *r = ctx->r;
    x509authn_req *rs;
    x509authn_entry *proxy;

    if (!r) {
        return NULL;
    }
    rs = x509authn_resolve(r, ap_get_module_config(r->per_dir_config,
                                                   &x509authn_module));
    if (!rs->entry) {
        return NULL;
    }
    if (!strcmp(name, "X509_AUTHN_SOURCE")) {
        return rs->source;
    }
    if (!strncmp(name, "X509_PROXY_", 11)) {
        if (rs->source[0] != 'h') {
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
    apr_thread_mutex_lock(rs->entry->lock);
    value = x509a_cert_var(rs->entry->cert, r->pool, name,
                           apr_time_sec(r->request_time));
    apr_thread_mutex_unlock(rs->entry->lock);
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
