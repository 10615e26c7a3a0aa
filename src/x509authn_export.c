/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/* Variables: r->subprocess_env after a login, and %{X509_*} in ap_expr
 * at any time.  Values are formatted once per certificate (lib/ keeps
 * them in the entry); a request only points at them. */

#include "x509authn.h"

#include "http_ssl.h"

#include "apr_lib.h"
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

/* mod_ssl's names (entry locked). */
static void put_ssl_vars(request_rec *r, x509a_cert *cert, const char *remain)
{
    env_writer ssl = writer_for(r->subprocess_env, "SSL_CLIENT_");

    put_vars(&ssl, r, cert, X509A_VARS_MODSSL);
    put(&ssl, "SSL_CLIENT_VERIFY", "SUCCESS");
    put(&ssl, "SSL_CLIENT_V_REMAIN", remain);
    put_pem_vars(&ssl, r, cert, "SSL_CLIENT_");
}

/* Values live in the entry, which the request references until its pool
 * is gone: no copies.  (X509_AUTHN_ERROR is check_authn's, set on a
 * refusal: whatever blanks the X509_* names after a refusal keeps it.) */
void x509authn_export(request_rec *r, const x509authn_dir_conf *dc,
                      x509authn_req *rs, x509authn_found *f)
{
    x509a_cert *cert = f->entry->cert;
    env_writer w = writer_for(r->subprocess_env, "X509_");
    const char *remain = x509authn_days_remaining(f->entry, r->request_time);

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
    /* asked for by check_authn before it locked the entry */
    if (rs->proxy_dn) {
        put(&w, "X509_PROXY_S_DN", rs->proxy_dn);
    }
    if (dc->export_ssl_vars) {
        /* applications written for direct mTLS run unchanged */
        put_ssl_vars(r, cert, remain);
    }
}

/* ------------------------------------------------------------------------ */
/* mod_ssl's names for a forwarded certificate (X509AuthnExportSSLVars)     */
/* ------------------------------------------------------------------------ */

/* Set while the module asks mod_ssl about the connection itself (the
 * proxy's TLS state): the look-up hook below must not answer those. */
#define OWN_LOOKUP_NOTE "x509authn-asks-mod_ssl"

const char *x509authn_modssl_var(request_rec *r, const char *name)
{
    const char *value;

    apr_table_setn(r->notes, OWN_LOOKUP_NOTE, "1");
    value = ap_ssl_var_lookup(r->pool, r->server, r->connection, r, name);
    apr_table_unset(r->notes, OWN_LOOKUP_NOTE);
    return value;
}

/*
 * The forwarded-certificate login whose certificate SSL_CLIENT_* describes
 * for @a r, or NULL: a login from a header under X509AuthnExportSSLVars On,
 * made by @a r itself or by the request it was redirected from or is a
 * subrequest of, when httpd handed that login on (the same r->user).  Never
 * a direct TLS login: mod_ssl's own values describe it.
 */
static x509authn_found *ssl_vars_login(request_rec *r, request_rec **by)
{
    x509authn_req *rs = x509authn_decided_by(r, by);
    const x509authn_dir_conf *dc;

    if (!rs || !rs->login || rs->login->source != X509AUTHN_SOURCE_HEADER) {
        return NULL;
    }
    dc = ap_get_module_config((*by)->per_dir_config, &x509authn_module);
    return dc->export_ssl_vars ? rs->login : NULL;
}

/* One SSL_CLIENT_* name of the forwarded certificate (entry locked); ""
 * for a name it has no value for, so that mod_ssl's value for the proxy's
 * own certificate never shows through. */
static const char *ssl_var(request_rec *r, x509authn_entry *e,
                           const char *name)
{
    const char *rest = name + sizeof("SSL_CLIENT_") - 1, *value;
    apr_size_t len;

    if (!strcasecmp(rest, "VERIFY")) {
        return "SUCCESS";
    }
    if (!strcasecmp(rest, "V_REMAIN")) {
        return x509authn_days_remaining(e, r->request_time);
    }
    if (!strcasecmp(rest, "CERT")) {
        return x509a_cert_pem(e->cert);
    }
    if (!strncasecmp(rest, "CERT_CHAIN_", 11)) {
        const apr_array_header_t *chain = x509a_cert_chain_pem(e->cert);
        const char *digits = rest + 11;
        char *end;
        long n = strtol(digits, &end, 10);

        if (apr_isdigit(*digits) && !*end && n >= 0 && n < chain->nelts) {
            return APR_ARRAY_IDX(chain, n, const char *);
        }
        return "";
    }
    value = apr_table_get(x509a_cert_vars_table(e->cert, X509A_VARS_MODSSL),
                          name);
    len = strlen(name);
    if (!value && len > 2 && !strcmp(name + len - 2, "_0")) {
        /* mod_ssl also answers _0 for the first value of an attribute */
        value = apr_table_get(x509a_cert_vars_table(e->cert,
                                                    X509A_VARS_MODSSL),
                              apr_pstrmemdup(r->pool, name, len - 2));
    }
    return value ? value : "";
}

/*
 * ap_ssl_var_lookup (mod_headers %{...}s, mod_rewrite %{SSL:...}):
 * SSL_CLIENT_* of the forwarded certificate after such a login.  Other
 * names (the protocol, the cipher, SSL_SERVER_*) and the module's own
 * questions about the proxy's connection go to mod_ssl.
 */
const char *x509authn_ssl_var_lookup(apr_pool_t *p, server_rec *s,
                                     conn_rec *c, request_rec *r,
                                     const char *name)
{
    x509authn_found *f;
    request_rec *by;
    const char *value;

    /* the module's own questions go to mod_ssl first of all: they may be
     * asked with an entry locked */
    if (!r || apr_table_get(r->notes, OWN_LOOKUP_NOTE)
        || strncasecmp(name, "SSL_CLIENT_", 11)
        || !(f = ssl_vars_login(r, &by))) {
        return NULL;
    }
    x509authn_entry_lock(f->entry);
    value = apr_pstrdup(p, ssl_var(r, f->entry, name));
    x509authn_entry_unlock(f->entry);
    return value;
}

/*
 * fixups, after mod_ssl's (SSLOptions +StdEnvVars / +ExportCertData put
 * the proxy's own certificate under these names): SSL_CLIENT_* in the
 * environment describe the forwarded certificate again, and nothing of the
 * proxy's certificate stays (an attribute or chain element the forwarded
 * one lacks).
 */
int x509authn_ssl_vars_fixup(request_rec *r)
{
    const apr_array_header_t *arr;
    const apr_table_entry_t *elts;
    apr_array_header_t *doomed = NULL;
    x509authn_found *f;
    request_rec *by;
    int i;

    if (!(f = ssl_vars_login(r, &by))
        || (by == r
            && !ap_ssl_conn_is_ssl(x509authn_master_conn(r->connection)))) {
        /* without mod_ssl on the connection, the login's values stand */
        return DECLINED;
    }
    arr = apr_table_elts(r->subprocess_env);
    elts = (const apr_table_entry_t *)arr->elts;
    for (i = 0; i < arr->nelts; i++) {
        if (elts[i].key && !strncasecmp(elts[i].key, "SSL_CLIENT_", 11)) {
            if (!doomed) {
                doomed = apr_array_make(r->pool, 32, sizeof(const char *));
            }
            APR_ARRAY_PUSH(doomed, const char *) = elts[i].key;
        }
    }
    for (i = 0; doomed && i < doomed->nelts; i++) {
        apr_table_unset(r->subprocess_env,
                        APR_ARRAY_IDX(doomed, i, const char *));
    }
    x509authn_entry_lock(f->entry);
    put_ssl_vars(r, f->entry->cert,
                 x509authn_days_remaining(f->entry, r->request_time));
    x509authn_entry_unlock(f->entry);
    ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r, X509A_LOGNO(0500)
                  "SSL_CLIENT_* set again for the forwarded certificate "
                  "(after mod_ssl)");
    return DECLINED;
}

/* X509_AUTHN_ERROR: why the authentication that decided for @a r (or for
 * the request an ErrorDocument or another internal redirect came from)
 * refused the certificate; NULL before any did, and after a login. */
static const char *expr_error(request_rec *r)
{
    for (; r; r = r->prev ? r->prev : r->main) {
        x509authn_req *rs = ap_get_module_config(r->request_config,
                                                 &x509authn_module);

        if (rs && rs->authn_done) {
            return rs->error;
        }
    }
    return NULL;
}

/* Before authentication: the certificate the request presents under the
 * asking directory's source.  Once authentication has run: the login it
 * made, or nothing (a refused certificate, a password login). */
static const char *expr_var(ap_expr_eval_ctx_t *ctx, const void *data)
{
    const char *name = data, *value;
    request_rec *r = ctx->r;
    x509authn_req *rs, *decided;
    x509authn_found *f;

    if (!r) {
        return NULL;
    }
    if (!strcmp(name, "X509_AUTHN_ERROR")) {
        return expr_error(r);
    }
    rs = x509authn_req_state(r);
    decided = x509authn_decided_by(r, NULL);
    f = decided ? decided->login
                : x509authn_resolve(r, ap_get_module_config(r->per_dir_config,
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
        return strcmp(name, "X509_PROXY_S_DN") ? NULL
                                               : x509authn_proxy_subject(r, rs);
    }
    x509authn_entry_lock(f->entry);
    value = x509a_cert_var(f->entry->cert, r->pool, name,
                           apr_time_sec(r->request_time));
    x509authn_entry_unlock(f->entry);
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
