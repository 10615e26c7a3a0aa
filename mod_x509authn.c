/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/*
 * mod_x509authn: authenticate HTTP clients by X.509 certificate.
 *
 * This file is the httpd glue: configuration, hooks, access to mod_ssl,
 * export of variables and logging.  What the certificate says and whether
 * it matches the rules is decided in lib/ (OpenSSL and APR only).
 *
 * Per connection, the parsed certificate is kept in a reference-counted
 * entry keyed by the certificate itself, so keep-alive requests and HTTP/2
 * streams (secondary connections served by other threads) format nothing
 * twice.  Each request holds a reference until its pool goes away.
 */

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "http_ssl.h"
#include "ap_expr.h"
#include "ap_regex.h"
#include "mod_ssl.h"

#include "apr_atomic.h"
#include "apr_optional_hooks.h"
#include "apr_strings.h"
#include "apr_thread_mutex.h"

#include <openssl/ssl.h>
#include <openssl/pem.h>
#include <openssl/err.h>

#include "x509a_cert.h"
#include "x509a_rules.h"

/* mod_ssl's hook that hands out the SSL object of a new connection
 * (declared in mod_ssl_openssl.h, which Debian's apache2-dev lacks). */
APR_DECLARE_EXTERNAL_HOOK(ssl, SSL, int, pre_handshake,
                          (conn_rec *c, SSL *ssl, int is_proxy))

/* Stable tag and number at the start of every log message. */
#define X509A_LOGNO(n) "X509A" #n ": "

module AP_MODULE_DECLARE_DATA x509authn_module;

/* ------------------------------------------------------------------------ */
/* Configuration                                                            */
/* ------------------------------------------------------------------------ */

/** Where a directory takes the certificate from (X509AuthnSource). */
typedef enum {
    X509AUTHN_SOURCE_ANY = 0,   /**< header from a trusted proxy, else tls */
    X509AUTHN_SOURCE_TLS,       /**< the connection's mod_ssl-verified chain */
    X509AUTHN_SOURCE_HEADER     /**< a trusted proxy's header only */
} x509authn_source;

/** One X509AuthnUser line. */
typedef struct {
    x509a_field field;          /**< The certificate field. */
    ap_regex_t *regex;          /**< Optional; its one capture is the name. */
} x509authn_user_spec;

/** Directory configuration. */
typedef struct {
    /** X509Authn: try the certificate first under another AuthType. */
    int enabled;
    /** X509AuthnSource. */
    x509authn_source source;
    /** X509AuthnRequire*: merged per kind. */
    x509a_rules *rules;
    /** X509AuthnUser lines (x509authn_user_spec), tried in order. */
    apr_array_header_t *users;
    /** X509AuthnExportCert: also export the PEM certificate and chain. */
    int export_cert;
    /** X509AuthnExportSSLVars: mod_ssl's names for forwarded certificates. */
    int export_ssl_vars;
    unsigned int enabled_set:1,
                 source_set:1,
                 users_set:1,
                 export_cert_set:1,
                 export_ssl_vars_set:1;
} x509authn_dir_conf;

static void *x509authn_create_dir_conf(apr_pool_t *p, char *dir)
{
    x509authn_dir_conf *conf = apr_pcalloc(p, sizeof(*conf));

    conf->rules = x509a_rules_make(p);
    return conf;
}

static void *x509authn_merge_dir_conf(apr_pool_t *p, void *basev, void *addv)
{
    const x509authn_dir_conf *base = basev, *add = addv;
    x509authn_dir_conf *conf = apr_pcalloc(p, sizeof(*conf));

    conf->enabled = add->enabled_set ? add->enabled : base->enabled;
    conf->enabled_set = add->enabled_set || base->enabled_set;
    conf->source = add->source_set ? add->source : base->source;
    conf->source_set = add->source_set || base->source_set;
    conf->rules = x509a_rules_merge(p, base->rules, add->rules);
    conf->users = add->users_set ? add->users : base->users;
    conf->users_set = add->users_set || base->users_set;
    conf->export_cert = add->export_cert_set ? add->export_cert
                                             : base->export_cert;
    conf->export_cert_set = add->export_cert_set || base->export_cert_set;
    conf->export_ssl_vars = add->export_ssl_vars_set ? add->export_ssl_vars
                                                     : base->export_ssl_vars;
    conf->export_ssl_vars_set = add->export_ssl_vars_set
                                || base->export_ssl_vars_set;
    return conf;
}

/* Prefix a setter's error with the directive, as configtest shows it. */
static const char *directive_error(cmd_parms *cmd, const char *err)
{
    return apr_pstrcat(cmd->pool, cmd->cmd->name, ": ", err, NULL);
}

static const char *x509authn_set_enabled(cmd_parms *cmd, void *dconf, int on)
{
    x509authn_dir_conf *conf = dconf;

    conf->enabled = on;
    conf->enabled_set = 1;
    return NULL;
}

static const char *x509authn_set_source(cmd_parms *cmd, void *dconf,
                                        const char *arg)
{
    x509authn_dir_conf *conf = dconf;

    if (!strcasecmp(arg, "tls")) {
        conf->source = X509AUTHN_SOURCE_TLS;
    }
    else if (!strcasecmp(arg, "header")) {
        conf->source = X509AUTHN_SOURCE_HEADER;
    }
    else if (!strcasecmp(arg, "any")) {
        conf->source = X509AUTHN_SOURCE_ANY;
    }
    else {
        return directive_error(cmd, apr_psprintf(cmd->pool,
                               "'%s' is not a source: use tls, header or any",
                               arg));
    }
    conf->source_set = 1;
    return NULL;
}

static const char *x509authn_add_rule(cmd_parms *cmd, void *dconf,
                                      const char *arg)
{
    x509authn_dir_conf *conf = dconf;
    x509a_rule_kind kind = (x509a_rule_kind)(apr_uintptr_t)cmd->info;
    const char *warning = NULL, *err, *value = arg;

    if (kind == X509A_RULE_ISSUING_CA) {
        value = ap_server_root_relative(cmd->pool, arg);
        if (!value) {
            return directive_error(cmd, apr_psprintf(cmd->pool,
                                   "'%s' is not a valid path", arg));
        }
    }
    err = x509a_rules_add(conf->rules, cmd->pool, kind, value, &warning);
    if (err) {
        return directive_error(cmd, err);
    }
    if (warning) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, cmd->server,
                     X509A_LOGNO(0001) "%s on line %d of %s: %s",
                     cmd->cmd->name, cmd->directive->line_num,
                     cmd->directive->filename, warning);
    }
    return NULL;
}

static const char *x509authn_add_user(cmd_parms *cmd, void *dconf,
                                      const char *field, const char *regex)
{
    x509authn_dir_conf *conf = dconf;
    x509authn_user_spec *spec;
    const char *err;

    if (!conf->users_set) {
        /* the first line in a section replaces inherited lines */
        conf->users = apr_array_make(cmd->pool, 2, sizeof(*spec));
        conf->users_set = 1;
    }
    spec = apr_array_push(conf->users);
    if ((err = x509a_field_parse(cmd->pool, field, &spec->field))) {
        return directive_error(cmd, err);
    }
    spec->regex = NULL;
    if (regex) {
        spec->regex = ap_pregcomp(cmd->pool, regex, 0);
        if (!spec->regex) {
            return directive_error(cmd, apr_psprintf(cmd->pool,
                                   "'%s' is not a valid regular expression",
                                   regex));
        }
        if (spec->regex->re_nsub != 1) {
            return directive_error(cmd, apr_psprintf(cmd->pool,
                                   "'%s' must have exactly one capture group "
                                   "(it has %d): the capture is the user name",
                                   regex, (int)spec->regex->re_nsub));
        }
    }
    return NULL;
}

static const char *x509authn_set_export_cert(cmd_parms *cmd, void *dconf,
                                             int on)
{
    x509authn_dir_conf *conf = dconf;

    conf->export_cert = on;
    conf->export_cert_set = 1;
    return NULL;
}

static const char *x509authn_set_export_ssl_vars(cmd_parms *cmd, void *dconf,
                                                 int on)
{
    x509authn_dir_conf *conf = dconf;

    conf->export_ssl_vars = on;
    conf->export_ssl_vars_set = 1;
    return NULL;
}

#define RULE(name, kind, help) \
    AP_INIT_ITERATE(name, x509authn_add_rule, (void *)(apr_uintptr_t)(kind), \
                    OR_AUTHCFG, help)

static const command_rec x509authn_cmds[] = {
    AP_INIT_FLAG("X509Authn", x509authn_set_enabled, NULL, OR_AUTHCFG,
                 "On to try the client certificate first under another "
                 "AuthType (e.g. Basic): an accepted certificate logs in, "
                 "otherwise that AuthType's module takes over."),
    AP_INIT_TAKE1("X509AuthnSource", x509authn_set_source, NULL, OR_AUTHCFG,
                  "Where the certificate comes from: tls (the chain mod_ssl "
                  "verified), header (a trusted proxy's header) or any "
                  "(header from a trusted proxy, else tls; the default)."),
    RULE("X509AuthnRequireSubject", X509A_RULE_SUBJECT,
         "Subject DNs accepted (RFC 4514 or /C=../CN=.. form), any one "
         "matches."),
    RULE("X509AuthnRequireIssuer", X509A_RULE_ISSUER,
         "Issuer DNs accepted (RFC 4514 or /C=../CN=.. form), any one "
         "matches."),
    RULE("X509AuthnRequireSerial", X509A_RULE_SERIAL,
         "Serial numbers accepted: decimal, 0x-hex or colon-hex."),
    RULE("X509AuthnRequireFingerprint", X509A_RULE_FINGERPRINT,
         "Certificate fingerprints accepted: [sha1:|sha256:]HEX."),
    RULE("X509AuthnRequireIssuingCA", X509A_RULE_ISSUING_CA,
         "Files of PEM CA certificates: the verified chain must pass "
         "through one of them (compared by certificate, not by name)."),
    RULE("X509AuthnRequireEKU", X509A_RULE_EKU,
         "Extended key usages accepted, by name (clientAuth) or OID; the "
         "certificate must list one of them."),
    RULE("X509AuthnRequirePolicy", X509A_RULE_POLICY,
         "Certificate policy OIDs accepted; the certificate must list one "
         "of them."),
    RULE("X509AuthnRequireSPKI", X509A_RULE_SPKI,
         "Public key pins accepted: sha256: and the hex or base64 SHA-256 "
         "of the SubjectPublicKeyInfo."),
    AP_INIT_TAKE12("X509AuthnUser", x509authn_add_user, NULL, OR_AUTHCFG,
                   "The certificate field that becomes the user name "
                   "(subject, subject-legacy, cn, subject:ATTR, email, upn, "
                   "uri, dns, serial, issuer+serial, sha256), optionally "
                   "with a regular expression whose one capture is the name; "
                   "several lines are tried in order."),
    AP_INIT_FLAG("X509AuthnExportCert", x509authn_set_export_cert, NULL,
                 OR_AUTHCFG,
                 "On to also export X509_CLIENT_CERT and "
                 "X509_CLIENT_CERT_CHAIN_n (PEM)."),
    AP_INIT_FLAG("X509AuthnExportSSLVars", x509authn_set_export_ssl_vars,
                 NULL, OR_AUTHCFG,
                 "On to also export mod_ssl's SSL_CLIENT_* names for "
                 "certificates forwarded by a trusted proxy."),
    {NULL}
};

/* ------------------------------------------------------------------------ */
/* Certificate entries                                                      */
/* ------------------------------------------------------------------------ */

/** A parsed certificate shared by the requests that present it. */
typedef struct {
    apr_uint32_t refs;          /**< Holders: a connection and requests. */
    apr_pool_t *pool;           /**< Unmanaged: may be freed by any thread. */
    apr_thread_mutex_t *lock;   /**< x509a_cert is not thread-safe. */
    x509a_cert *cert;           /**< The certificate and its views. */
} x509authn_entry;

static x509authn_entry *entry_create(X509 *leaf, STACK_OF(X509) *verified,
                                     STACK_OF(X509) *untrusted,
                                     X509_STORE *store)
{
    apr_pool_t *pool;
    x509authn_entry *e;

    /* HTTP/2 streams create entries from worker threads, where pools of
     * the connection must not be touched: an entry owns its allocator. */
    if (apr_pool_create_unmanaged_ex(&pool, NULL, NULL) != APR_SUCCESS) {
        return NULL;
    }
    e = apr_pcalloc(pool, sizeof(*e));
    e->pool = pool;
    e->refs = 1;
    if (apr_thread_mutex_create(&e->lock, APR_THREAD_MUTEX_DEFAULT, pool)
        != APR_SUCCESS) {
        apr_pool_destroy(pool);
        return NULL;
    }
    e->cert = x509a_cert_make(pool, leaf);
    x509a_cert_set_chain(e->cert, verified, untrusted);
    x509a_cert_set_store(e->cert, store);
    return e;
}

static void entry_release(x509authn_entry *e)
{
    if (e && apr_atomic_dec32(&e->refs) == 0) {
        apr_pool_destroy(e->pool);
    }
}

static apr_status_t entry_release_cleanup(void *data)
{
    entry_release(data);
    return APR_SUCCESS;
}

/** Per (master) connection state, created when mod_ssl starts TLS. */
typedef struct {
    SSL *ssl;                   /**< mod_ssl's SSL object. */
    apr_thread_mutex_t *lock;   /**< Guards @a current (HTTP/2 streams). */
    x509authn_entry *current;   /**< Last client certificate seen. */
} x509authn_conn;

static apr_status_t conn_cleanup(void *data)
{
    x509authn_conn *cs = data;

    entry_release(cs->current);
    cs->current = NULL;
    return APR_SUCCESS;
}

/* mod_ssl's pre_handshake: remember the SSL object, so the peer
 * certificate is read directly instead of through PEM. */
static int x509authn_pre_handshake(conn_rec *c, SSL *ssl, int is_proxy)
{
    x509authn_conn *cs;

    if (is_proxy || c->master) {
        return DECLINED;
    }
    cs = apr_pcalloc(c->pool, sizeof(*cs));
    if (apr_thread_mutex_create(&cs->lock, APR_THREAD_MUTEX_DEFAULT, c->pool)
        != APR_SUCCESS) {
        return DECLINED;
    }
    cs->ssl = ssl;
    /* registered after the mutex: runs before the mutex is destroyed */
    apr_pool_cleanup_register(c->pool, cs, conn_cleanup,
                              apr_pool_cleanup_null);
    ap_set_module_config(c->conn_config, &x509authn_module, cs);
    return OK;
}

/* ------------------------------------------------------------------------ */
/* Where the certificate comes from                                         */
/* ------------------------------------------------------------------------ */

/** What a request presents, resolved once per request. */
typedef struct {
    x509authn_entry *entry;     /**< Accepted certificate (referenced). */
    const char *source;         /**< "tls" or "header". */
    const char *why;            /**< When no entry: why not. */
    int presented;              /**< A certificate was offered but refused. */
} x509authn_req;

static conn_rec *master_conn(conn_rec *c)
{
    while (c->master) {
        c = c->master;
    }
    return c;
}

/* The peer certificate of a connection where mod_ssl offers no SSL object
 * (no pre_handshake): read back from PEM, once per request. */
static x509authn_entry *tls_entry_from_pem(request_rec *r, const char **why)
{
    const char *pem = ap_ssl_var_lookup(r->pool, r->server, r->connection, r,
                                        "SSL_CLIENT_CERT");
    BIO *bio;
    X509 *x;
    x509authn_entry *e = NULL;

    if (!pem || !*pem) {
        *why = "mod_ssl reports a verified client certificate but does not "
               "provide it";
        return NULL;
    }
    bio = BIO_new_mem_buf(pem, -1);
    x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    if (x) {
        e = entry_create(x, NULL, NULL, NULL);
        X509_free(x);
    }
    BIO_free(bio);
    ERR_clear_error();
    if (!e) {
        *why = "cannot parse mod_ssl's SSL_CLIENT_CERT";
    }
    return e;
}

static x509authn_entry *tls_entry(request_rec *r, x509authn_req *rs)
{
    conn_rec *mc = master_conn(r->connection);
    x509authn_conn *cs = ap_get_module_config(mc->conn_config,
                                              &x509authn_module);
    const char *verify;
    x509authn_entry *e, *old;
    X509 *peer;

    if (!ap_ssl_conn_is_ssl(r->connection)) {
        rs->why = "not a TLS connection";
        return NULL;
    }
    /* mod_ssl's verdict, including its per-directory settings; GENEROUS
     * (optional_no_ca) and FAILED:* are refusals */
    verify = ap_ssl_var_lookup(r->pool, r->server, r->connection, r,
                               "SSL_CLIENT_VERIFY");
    if (!verify || strcmp(verify, "SUCCESS") != 0) {
        if (!verify || strcmp(verify, "NONE") == 0) {
            rs->why = "no client certificate";
        }
        else {
            rs->why = apr_psprintf(r->pool, "client certificate not verified "
                                   "by mod_ssl (SSL_CLIENT_VERIFY=%s)", verify);
            rs->presented = 1;
        }
        return NULL;
    }
    ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r, X509A_LOGNO(0100)
                  "Attempting to extract certificate from the TLS connection");
    if (!cs) {
        return tls_entry_from_pem(r, &rs->why);
    }
    peer = SSL_get0_peer_certificate(cs->ssl);
    if (!peer) {
        rs->why = "mod_ssl reports SUCCESS but the connection has no peer "
                  "certificate";
        return NULL;
    }

    /* The certificate can change on one connection (renegotiation, TLS 1.3
     * post-handshake authentication): the entry is keyed by it.  An entry
     * holds a reference on its X509, so the same address is the same
     * certificate. */
    apr_thread_mutex_lock(cs->lock);
    e = cs->current;
    if (e && (x509a_cert_x509(e->cert) == peer
              || X509_cmp(x509a_cert_x509(e->cert), peer) == 0)) {
        apr_atomic_inc32(&e->refs);
        apr_thread_mutex_unlock(cs->lock);
        return e;
    }
    apr_thread_mutex_unlock(cs->lock);

    e = entry_create(peer, SSL_get0_verified_chain(cs->ssl),
                     SSL_get_peer_cert_chain(cs->ssl),
                     SSL_CTX_get_cert_store(SSL_get_SSL_CTX(cs->ssl)));
    if (!e) {
        rs->why = "out of memory";
        return NULL;
    }
    apr_atomic_inc32(&e->refs);         /* one for the connection */
    apr_thread_mutex_lock(cs->lock);
    old = cs->current;
    cs->current = e;
    apr_thread_mutex_unlock(cs->lock);
    entry_release(old);
    return e;
}

static x509authn_req *resolve(request_rec *r, const x509authn_dir_conf *dc)
{
    x509authn_req *rs = ap_get_module_config(r->request_config,
                                             &x509authn_module);

    if (rs) {
        return rs;
    }
    rs = apr_pcalloc(r->pool, sizeof(*rs));
    ap_set_module_config(r->request_config, &x509authn_module, rs);

    if (dc->source == X509AUTHN_SOURCE_HEADER) {
        rs->source = "header";
        rs->why = "no trusted proxy is configured for this server";
        return rs;
    }
    rs->source = "tls";
    rs->entry = tls_entry(r, rs);
    if (rs->entry) {
        apr_pool_cleanup_register(r->pool, rs->entry, entry_release_cleanup,
                                  apr_pool_cleanup_null);
    }
    return rs;
}

/* ------------------------------------------------------------------------ */
/* Authentication                                                           */
/* ------------------------------------------------------------------------ */

static int is_x509_auth_type(request_rec *r)
{
    const char *type = ap_auth_type(r);

    return type && strcasecmp(type, "X509") == 0;
}

/* The first X509AuthnUser line that yields a name (entry locked). */
static const char *pick_user(request_rec *r, const x509authn_dir_conf *dc,
                             x509a_cert *cert)
{
    int i;

    if (!dc->users) {
        return x509a_cert_subject(cert);
    }
    for (i = 0; i < dc->users->nelts; i++) {
        const x509authn_user_spec *spec =
            &APR_ARRAY_IDX(dc->users, i, x509authn_user_spec);
        const char *value = x509a_cert_field(cert, &spec->field);
        ap_regmatch_t m[2];

        if (!value) {
            continue;
        }
        if (!spec->regex) {
            return value;
        }
        if (ap_regexec(spec->regex, value, 2, m, 0) == 0
            && m[1].rm_so >= 0 && m[1].rm_eo > m[1].rm_so) {
            return apr_pstrmemdup(r->pool, value + m[1].rm_so,
                                  m[1].rm_eo - m[1].rm_so);
        }
    }
    return NULL;
}

/* Set the variables of SPEC section 7 (entry locked).  Values live in the
 * entry, which the request references until its pool is gone. */
static void export_vars(request_rec *r, const x509authn_dir_conf *dc,
                        x509authn_req *rs)
{
    x509a_cert *cert = rs->entry->cert;
    apr_table_t *env = r->subprocess_env;
    const apr_array_header_t *vars = x509a_cert_vars(cert, X509A_VARS_X509);
    const char *remain;
    int i;

    apr_table_setn(env, "X509_AUTHN_SOURCE", rs->source);
    for (i = 0; i < vars->nelts; i++) {
        const x509a_var *v = &APR_ARRAY_IDX(vars, i, x509a_var);
        apr_table_setn(env, v->name, v->value);
    }
    remain = apr_ltoa(r->pool, x509a_cert_days_remaining(
                                   cert, apr_time_sec(r->request_time)));
    apr_table_setn(env, "X509_CLIENT_V_REMAIN", remain);
    if (dc->export_cert) {
        const apr_array_header_t *chain = x509a_cert_chain_pem(cert);

        apr_table_setn(env, "X509_CLIENT_CERT", x509a_cert_pem(cert));
        for (i = 0; i < chain->nelts; i++) {
            apr_table_setn(env, apr_psprintf(r->pool, "X509_CLIENT_CERT_CHAIN_%d",
                                             i),
                           APR_ARRAY_IDX(chain, i, const char *));
        }
    }
}

static void log_refusal(request_rec *r, int level, const char *why,
                        x509a_cert *cert)
{
    if (cert) {
        ap_log_rerror(APLOG_MARK, level, 0, r, X509A_LOGNO(0111)
                      "certificate rejected: %s; %s, client %s",
                      why, x509a_cert_describe(cert),
                      r->connection->client_ip);
    }
    else {
        ap_log_rerror(APLOG_MARK, level, 0, r, X509A_LOGNO(0110)
                      "no acceptable certificate: %s; client %s",
                      why, r->connection->client_ip);
    }
}

/*
 * check_authn, registered APR_HOOK_FIRST: under another AuthType with
 * "X509Authn On" a refusal must DECLINE before that AuthType's module (e.g.
 * mod_auth_basic at MIDDLE) asks for a password.  Under AuthType X509 the
 * hook never declines: mod_authn_core would answer 500.
 */
static int x509authn_check_authn(request_rec *r)
{
    const x509authn_dir_conf *dc = ap_get_module_config(r->per_dir_config,
                                                        &x509authn_module);
    int mandatory = is_x509_auth_type(r);
    int refused = mandatory ? HTTP_FORBIDDEN : DECLINED;
    x509authn_req *rs;
    x509a_cert *cert;
    const char *why = NULL, *user;

    if (!mandatory && !dc->enabled) {
        return DECLINED;
    }
    rs = resolve(r, dc);
    if (!rs->entry) {
        /* without a certificate, falling back to a password is normal */
        log_refusal(r, (mandatory || rs->presented) ? APLOG_INFO : APLOG_DEBUG,
                    rs->why, NULL);
        return refused;
    }
    cert = rs->entry->cert;
    apr_thread_mutex_lock(rs->entry->lock);
    if (!x509a_rules_check(dc->rules, cert, &why)) {
        log_refusal(r, APLOG_INFO, why, cert);
        apr_thread_mutex_unlock(rs->entry->lock);
        return refused;
    }
    user = pick_user(r, dc, cert);
    if (!user) {
        log_refusal(r, APLOG_INFO, "no X509AuthnUser field yields a user name",
                    cert);
        apr_thread_mutex_unlock(rs->entry->lock);
        return refused;
    }
    r->user = apr_pstrdup(r->pool, user);
    r->ap_auth_type = "X509";
    export_vars(r, dc, rs);
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, X509A_LOGNO(0102)
                  "User %s has been preauthenticated from %s (user \"%s\", "
                  "source %s)", x509a_cert_subject(cert),
                  r->connection->client_ip, r->user, rs->source);
    apr_thread_mutex_unlock(rs->entry->lock);
    return OK;
}

/* Under AuthType X509 authenticate even when Require would grant without a
 * user, so that r->user and the variables are always there. */
static int x509authn_force_authn(request_rec *r)
{
    return is_x509_auth_type(r) ? OK : DECLINED;
}

/* There is no challenge to send for a certificate. */
static int x509authn_note_auth_failure(request_rec *r, const char *auth_type)
{
    return strcasecmp(auth_type, "X509") == 0 ? OK : DECLINED;
}

/* ------------------------------------------------------------------------ */
/* ap_expr variables                                                        */
/* ------------------------------------------------------------------------ */

static const char *x509authn_expr_var(ap_expr_eval_ctx_t *ctx,
                                      const void *data)
{
    const char *name = data, *value;
    request_rec *r = ctx->r;
    x509authn_req *rs;

    if (!r) {
        return NULL;
    }
    rs = resolve(r, ap_get_module_config(r->per_dir_config,
                                         &x509authn_module));
    if (!rs->entry) {
        return NULL;
    }
    if (strcmp(name, "X509_AUTHN_SOURCE") == 0) {
        return rs->source;
    }
    apr_thread_mutex_lock(rs->entry->lock);
    value = x509a_cert_var(rs->entry->cert, r->pool, name,
                           apr_time_sec(r->request_time));
    apr_thread_mutex_unlock(rs->entry->lock);
    return value;
}

/* Make %{X509_*} known to ap_expr, which rejects unknown variables when
 * the configuration is read. */
static int x509authn_expr_lookup(ap_expr_lookup_parms *parms)
{
    if (parms->type == AP_EXPR_FUNC_VAR
        && strncmp(parms->name, "X509_", 5) == 0) {
        *parms->func = x509authn_expr_var;
        *parms->data = apr_pstrdup(parms->pool, parms->name);
        return OK;
    }
    return DECLINED;
}

/* ------------------------------------------------------------------------ */
/* Registration                                                             */
/* ------------------------------------------------------------------------ */

static void x509authn_register_hooks(apr_pool_t *p)
{
    ap_hook_check_authn(x509authn_check_authn, NULL, NULL, APR_HOOK_FIRST,
                        AP_AUTH_INTERNAL_PER_CONF);
    ap_hook_force_authn(x509authn_force_authn, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_note_auth_failure(x509authn_note_auth_failure, NULL, NULL,
                              APR_HOOK_MIDDLE);
    ap_hook_expr_lookup(x509authn_expr_lookup, NULL, NULL, APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(ssl, pre_handshake, x509authn_pre_handshake, NULL, NULL,
                      APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(x509authn) = {
    STANDARD20_MODULE_STUFF,
    x509authn_create_dir_conf,  /* create per-directory config */
    x509authn_merge_dir_conf,   /* merge per-directory config */
    NULL,                       /* create per-server config */
    NULL,                       /* merge per-server config */
    x509authn_cmds,             /* directives */
    x509authn_register_hooks    /* register hooks */
};
