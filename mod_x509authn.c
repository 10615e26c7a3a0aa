/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/*
 * mod_x509authn: authenticate HTTP clients by X.509 certificate.
 *
 * This file holds the module record and the request-time decision
 * (check_authn); the rest of the httpd glue is in src/: configuration,
 * certificate sources (direct TLS, trusted proxies) and variables.  What a
 * certificate says and whether it matches the rules is decided in lib/
 * (OpenSSL and APR only).
 */

#include "x509authn.h"

#include "http_core.h"
#include "http_protocol.h"
#include "http_request.h"
#include "http_ssl.h"
#include "util_filter.h"
#include "mod_ssl.h"
#include "util_mutex.h"
#include "util_cfgtree.h"
#include "mod_so.h"

#include "apr_hash.h"
#include "apr_optional_hooks.h"
#include "apr_strings.h"

/* mod_ssl's hook that hands out the SSL object of a new connection
 * (declared in mod_ssl_openssl.h, which Debian's apache2-dev lacks). */
APR_DECLARE_EXTERNAL_HOOK(ssl, SSL, int, pre_handshake,
                          (conn_rec *c, SSL *ssl, int is_proxy))

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

        if (!value || spec->bad) {
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

/* One line per refusal: why, which certificate, from where. */
static void log_refusal(request_rec *r, int level, const char *why,
                        x509authn_entry *e)
{
    const char *via = "";

    if (!APLOG_R_IS_LEVEL(r, level)) {
        return;
    }
    if (r->connection->client_ip != r->useragent_ip
        && strcmp(r->connection->client_ip, r->useragent_ip)) {
        via = apr_pstrcat(r->pool, " (for ", r->useragent_ip, ")", NULL);
    }
    if (e) {
        x509authn_entry_lock(e);
        ap_log_rerror(APLOG_MARK, level, 0, r, X509A_LOGNO(0111)
                      "certificate rejected: %s; %s, client %s%s",
                      why, x509a_cert_describe(e->cert),
                      r->connection->client_ip, via);
        x509authn_entry_unlock(e);
    }
    else {
        ap_log_rerror(APLOG_MARK, level, 0, r, X509A_LOGNO(0110)
                      "no acceptable certificate: %s; client %s%s",
                      why, r->connection->client_ip, via);
    }
}

/* The name of the refusal reason in the environment (and ap_expr). */
#define ERROR_VAR "X509_AUTHN_ERROR"

/*
 * Say why the certificate was not taken: X509_AUTHN_ERROR, for the access
 * log, CGI, an ErrorDocument (REDIRECT_X509_AUTHN_ERROR, which httpd
 * copies into the redirected request) and, under "X509Authn On", the
 * password prompt and the password login.  @a error is a static token.
 */
static int refuse(request_rec *r, x509authn_req *rs, x509authn_source source,
                  const char *error, int status)
{
    rs->error = error ? error : X509A_REASON_INTERNAL;
    apr_table_setn(r->subprocess_env, ERROR_VAR, rs->error);
    x509authn_stat_request(r, source, status == DECLINED
                                      ? X509AUTHN_RESULT_FALLBACK
                                      : X509AUTHN_RESULT_REFUSED, rs->error);
    return status;
}

/*
 * log_transaction, before mod_log_config: the access log reads the final
 * request of an internal redirect, where httpd renamed the reason
 * REDIRECT_X509_AUTHN_ERROR (an ErrorDocument); %{X509_AUTHN_ERROR}e
 * names the refusal there too, unless that request decided itself.
 */
static int x509authn_log_transaction(request_rec *r)
{
    request_rec *last = r, *x;

    while (last->next) {
        last = last->next;
    }
    if (!last->prev || apr_table_get(last->subprocess_env, ERROR_VAR)) {
        return DECLINED;
    }
    for (x = last; x; x = x->prev) {
        x509authn_req *rs = ap_get_module_config(x->request_config,
                                                 &x509authn_module);

        if (rs && rs->authn_done) {
            if (rs->error && x != last) {
                apr_table_setn(last->subprocess_env, ERROR_VAR, rs->error);
            }
            break;
        }
    }
    return DECLINED;
}

/* ------------------------------------------------------------------------ */
/* Responses to logins are private                                          */
/* ------------------------------------------------------------------------ */

/*
 * A certificate login leaves no trace in the request that caches know
 * (mod_cache skips requests with Authorization, not these), so every
 * response to one is marked: r->no_cache keeps mod_cache from storing it,
 * and "Cache-Control: private" (unless the response has a Cache-Control of
 * its own) keeps shared caches in front from doing so.  The mark is the
 * login itself (rs->login), and a note on the main requests of a
 * subrequest that logged in, which ap_internal_fast_redirect (DirectoryIndex,
 * negotiation) carries over; internal redirects are followed through
 * r->prev.  The header is added by an output filter, which
 * sees the final headers (a handler or CGI sets its own after
 * authentication), inserted for the handler and again for error responses
 * (which drop request filters).
 */

#define PRIVATE_NOTE "x509authn-login"
#define PRIVATE_FILTER "X509AUTHN_PRIVATE"

static ap_filter_rec_t *private_filter_handle;

static int after_login(request_rec *r)
{
    for (; r; r = r->prev ? r->prev : r->main) {
        x509authn_req *rs = ap_get_module_config(r->request_config,
                                                 &x509authn_module);

        if ((rs && rs->login) || apr_table_get(r->notes, PRIVATE_NOTE)) {
            return 1;
        }
    }
    return 0;
}

static void insert_private_filter(request_rec *r)
{
    ap_filter_t *f;

    r->no_cache = 1;
    for (f = r->output_filters; f && f != r->proto_output_filters;
         f = f->next) {
        if (f->frec == private_filter_handle) {
            return;
        }
    }
    ap_add_output_filter_handle(private_filter_handle, NULL, r,
                                r->connection);
}

/* mod_cache decides whether to store a response on its first brigade: a
 * main request that has already sent some (mod_include passes the text
 * before an <!--#include virtual-->) is past r->no_cache, so its save
 * filter goes; without the end of the response it never stores it. */
static void remove_cache_save(request_rec *m)
{
    ap_filter_t *f;

    for (f = m->output_filters; f && f != m->proto_output_filters;
         f = f->next) {
        if (!strcasecmp(f->frec->name, "cache_save")
            || !strcasecmp(f->frec->name, "cache_save_subreq")) {
            ap_remove_output_filter(f);
        }
    }
}

static void mark_login(request_rec *r)
{
    request_rec *m;

    r->no_cache = 1;
    /* r itself has rs->login; a subrequest's content goes into its main
     * request's response */
    for (m = r->main; m; m = m->main) {
        apr_table_setn(m->notes, PRIVATE_NOTE, "1");
        m->no_cache = 1;
        remove_cache_save(m);
        insert_private_filter(m);
    }
}

static apr_status_t private_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    request_rec *r = f->r;

    if (!apr_table_get(r->headers_out, "Cache-Control")
        && !apr_table_get(r->err_headers_out, "Cache-Control")) {
        apr_table_addn(r->headers_out, "Cache-Control", "private");
    }
    r->no_cache = 1;
    ap_remove_output_filter(f);
    return ap_pass_brigade(f->next, bb);
}

/* insert_filter and insert_error_filter */
static void x509authn_insert_filter(request_rec *r)
{
    if (after_login(r)) {
        insert_private_filter(r);
    }
}

/* ------------------------------------------------------------------------ */
/* Authentication (check_authn)                                             */
/* ------------------------------------------------------------------------ */

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
    x509authn_found *f;
    x509a_cert *cert;
    const char *why = NULL, *error = NULL, *user;
    x509a_rule_kind failed = X509A_RULE_KINDS;

    if (!mandatory && !dc->enabled) {
        return DECLINED;
    }
    /* from here on %{X509_*} describes this hook's login, or nothing */
    rs = x509authn_req_state(r);
    rs->authn_done = 1;
    rs->login = NULL;
    rs->error = NULL;
    f = x509authn_resolve(r, dc);
    if (!f->entry) {
        /* without a certificate, falling back to a password is normal */
        log_refusal(r, (mandatory || f->presented) ? APLOG_INFO : APLOG_DEBUG,
                    f->why, f->refused);
        return refuse(r, rs, f->source, f->error, refused);
    }
    if (f->source == X509AUTHN_SOURCE_HEADER) {
        /* X509_PROXY_S_DN asks mod_ssl and locks the proxy's entry: before
         * this entry is locked */
        x509authn_proxy_subject(r, rs);
    }
    cert = f->entry->cert;
    x509authn_entry_lock(f->entry);
    if ((why = x509a_cert_leaf_problem(cert))) {
        error = X509A_REASON_NOT_A_CLIENT_CERTIFICATE;
    }
    else if (!x509a_rules_check_kind(dc->rules, cert,
                                     (time_t)apr_time_sec(r->request_time),
                                     r->pool, &why, &failed)) {
        error = x509a_rule_reason(failed);
    }
    if (error) {
        x509authn_entry_unlock(f->entry);
        log_refusal(r, APLOG_INFO, why, f->entry);
        return refuse(r, rs, f->source, error, refused);
    }
    user = NULL;
    if (dc->map) {
        int line = 0;

        user = x509a_map_lookup(dc->map, cert, r->pool, &line);
        x509authn_stat_add(r->connection, user && *user
                                          ? X509AUTHN_STAT_MAP_MAPPED
                                          : X509AUTHN_STAT_MAP_UNMAPPED);
        if (user && *user) {
            ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r, X509A_LOGNO(0103)
                          "mapped to \"%s\" by %s line %d", user,
                          dc->map_file, line);
        }
        else if (dc->map_required) {
            x509authn_entry_unlock(f->entry);
            log_refusal(r, APLOG_INFO, "not mapped by X509AuthnUserMap (and "
                        "X509AuthnUserMapRequired is On)", f->entry);
            return refuse(r, rs, f->source, X509A_REASON_UNMAPPED, refused);
        }
        else {
            user = NULL;
        }
    }
    if (!user) {
        user = pick_user(r, dc, cert);
    }
    if (!user) {
        x509authn_entry_unlock(f->entry);
        log_refusal(r, APLOG_INFO, "no X509AuthnUser field yields a user name",
                    f->entry);
        return refuse(r, rs, f->source, X509A_REASON_NO_USER_NAME, refused);
    }
    /* the entry (and so a name from it) lives as long as the request */
    r->user = (char *)user;
    r->ap_auth_type = "X509";
    rs->login = f;
    x509authn_stat_request(r, f->source, X509AUTHN_RESULT_ACCEPTED, NULL);
    x509authn_expiry_seen(r, f->entry, f->source);
    /* a reason copied from a main request does not describe this login */
    apr_table_unset(r->subprocess_env, ERROR_VAR);
    x509authn_export(r, dc, rs, f);
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, X509A_LOGNO(0102)
                  "User %s has been preauthenticated from %s (user \"%s\", "
                  "source %s)", x509a_cert_subject(cert),
                  r->connection->client_ip, r->user,
                  x509authn_source_name(f->source));
    x509authn_entry_unlock(f->entry);
    mark_login(r);
    if (f->source == X509AUTHN_SOURCE_HEADER) {
        /* RFC 9440 section 4: the response depends on this header */
        apr_table_mergen(r->headers_out, "Vary", x509authn_srv(r)->header);
    }
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
/* Startup                                                                  */
/* ------------------------------------------------------------------------ */

static int x509authn_pre_config(apr_pool_t *pconf, apr_pool_t *plog,
                                apr_pool_t *ptemp)
{
    /* module-wide settings start afresh on every (re)start */
    memset(&x509authn_global, 0, sizeof(x509authn_global));
    x509authn_global.ttl = X509AUTHN_DEFAULT_TTL;
    x509authn_global.entries = X509AUTHN_DEFAULT_ENTRIES;
    x509authn_global.cache_bytes = X509AUTHN_CACHE_BYTES_DEFAULT;
    x509authn_global.crl_warn = apr_time_from_sec(
        X509AUTHN_DEFAULT_CRL_WARN_DAYS * 86400);
    x509authn_global.expiry_warn = apr_time_from_sec(
        X509AUTHN_DEFAULT_EXPIRY_WARN_DAYS * 86400);
    x509authn_global.expiry_max = X509AUTHN_DEFAULT_EXPIRY_MAX;
    ap_mutex_register(pconf, X509AUTHN_MUTEX_TYPE, NULL, APR_LOCK_DEFAULT, 0);
    return OK;
}

/* Does a directory configuration have rules about the path, and may it
 * take forwarded certificates? */
static const char *path_rules_of(const ap_conf_vector_t *v)
{
    const x509authn_dir_conf *dc = v ? ap_get_module_config(v,
                                                            &x509authn_module)
                                     : NULL;
    static const x509a_rule_kind kinds[] = {
        X509A_RULE_ISSUING_CA, X509A_RULE_POLICY, X509A_RULE_MAX_DEPTH
    };
    int i;

    if (!dc || dc->source == X509AUTHN_SOURCE_TLS) {
        return NULL;
    }
    for (i = 0; i < (int)(sizeof(kinds) / sizeof(kinds[0])); i++) {
        if (x509a_rules_has(dc->rules, kinds[i])) {
            return x509a_rule_name(kinds[i]);
        }
    }
    return NULL;
}

/* Which server, as the administrator knows it: "virtual host NAME:PORT
 * (<VirtualHost ADDR> on line N of FILE)" or "the main server (ServerName
 * NAME)"; never the port 0 of a ServerName without one. */
static const char *server_desc(apr_pool_t *p, const server_rec *vs)
{
    const char *name = vs->server_hostname ? vs->server_hostname : "?";
    const char *addrs = NULL;
    const server_addr_rec *a;
    apr_port_t port = vs->port;

    if (!vs->is_virtual) {
        return port ? apr_psprintf(p, "the main server (ServerName %s:%u)",
                                   name, (unsigned)port)
                    : apr_psprintf(p, "the main server (ServerName %s)", name);
    }
    for (a = vs->addrs; a; a = a->next) {
        const char *one = a->host_port
            ? apr_psprintf(p, "%s:%u", a->virthost, (unsigned)a->host_port)
            : a->virthost;

        addrs = addrs ? apr_pstrcat(p, addrs, " ", one, NULL) : one;
        if (!port) {
            port = a->host_port;
        }
    }
    return apr_psprintf(p, "virtual host %s%s (<VirtualHost %s> on line %u "
                        "of %s)", name,
                        port ? apr_psprintf(p, ":%u", (unsigned)port) : "",
                        addrs ? addrs : "?", vs->defn_line_number,
                        vs->defn_name ? vs->defn_name : "?");
}

/* X509AuthnHeaderVerify Off verifies no path: rules about the path refuse
 * every forwarded certificate there.  Say so for the sections of the
 * server (top-level <Directory>, <Location> and the server itself;
 * .htaccess is only known at run time, where the refusal says why). */
static void warn_unverified_path_rules(server_rec *vs, server_rec *to,
                                       const char *where)
{
    core_server_config *csc = ap_get_core_module_config(vs->module_config);
    const apr_array_header_t *secs[2];
    const char *rule;
    int i, j;

    if ((rule = path_rules_of(vs->lookup_defaults)) != NULL) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, to, X509A_LOGNO(0700)
                     "%s in %s with X509AuthnHeaderVerify Off: no path is "
                     "verified, so every forwarded certificate fails it",
                     rule, where);
    }
    secs[0] = csc->sec_dir;
    secs[1] = csc->sec_url;
    for (i = 0; i < 2; i++) {
        for (j = 0; secs[i] && j < secs[i]->nelts; j++) {
            const ap_conf_vector_t *v = APR_ARRAY_IDX(secs[i], j,
                                                      ap_conf_vector_t *);
            const core_dir_config *cd = ap_get_core_module_config(v);

            if ((rule = path_rules_of(v)) != NULL) {
                ap_log_error(APLOG_MARK, APLOG_WARNING, 0, to,
                             X509A_LOGNO(0700) "%s in <%s %s> of %s with "
                             "X509AuthnHeaderVerify Off: no path is verified, "
                             "so every forwarded certificate fails it", rule,
                             i ? "Location" : "Directory",
                             cd && cd->d ? cd->d : "?", where);
            }
        }
    }
}

/* Is a conditional section of the configuration in force?  <IfModule> and
 * <IfDefine> as httpd decides them; other sections are taken as they are. */
static int section_in_force(apr_pool_t *p, server_rec *s,
                            const ap_directive_t *d)
{
    APR_OPTIONAL_FN_TYPE(ap_find_loaded_module_symbol) *find_symbol;
    char *arg;
    const char *args;
    int not, found;

    if (strcasecmp(d->directive, "<IfModule")
        && strcasecmp(d->directive, "<IfDefine")) {
        return 1;
    }
    args = d->args ? d->args : "";
    arg = ap_getword_conf(p, &args);
    if (*arg && arg[strlen(arg) - 1] == '>') {
        arg[strlen(arg) - 1] = '\0';
    }
    not = *arg == '!';
    arg += not;
    if (!strcasecmp(d->directive, "<IfDefine")) {
        found = ap_exists_config_define(arg);
    }
    else {
        find_symbol = APR_RETRIEVE_OPTIONAL_FN(ap_find_loaded_module_symbol);
        found = ap_find_linked_module(arg) != NULL
                || (find_symbol && find_symbol(s, arg) != NULL);
    }
    return not ? !found : found;
}

/* Is @a d "AuthType X509" or "X509Authn On"? */
static int asks_for_certificates(apr_pool_t *p, const ap_directive_t *d)
{
    const char *args = d->args ? d->args : "";
    const char *arg;

    if (strcasecmp(d->directive, "AuthType")
        && strcasecmp(d->directive, "X509Authn")) {
        return 0;
    }
    arg = ap_getword_conf(p, &args);
    return !strcasecmp(d->directive, "AuthType") ? !strcasecmp(arg, "X509")
                                                 : !strcasecmp(arg, "on");
}

/* Does @a in trust a proxy?  The main server's sections apply to every
 * virtual host: for them, does any server? */
static int trusts_a_proxy(server_rec *s, server_rec *in)
{
    server_rec *vs;

    for (vs = in == s ? s : in; vs; vs = in == s ? vs->next : NULL) {
        if (x509authn_header_mode(ap_get_module_config(vs->module_config,
                                                       &x509authn_module))) {
            return 1;
        }
    }
    return 0;
}

/* Without mod_ssl, certificates come only from trusted proxies: "AuthType
 * X509" (or "X509Authn On") in a server that trusts none can never log
 * anyone in.  The configuration tree names the file and line. */
static void warn_no_certificate_source(apr_pool_t *p, server_rec *s,
                                       server_rec *to,
                                       const ap_directive_t *d,
                                       server_rec *in)
{
    for (; d; d = d->next) {
        if (!strcasecmp(d->directive, "<VirtualHost")) {
            server_rec *vs;

            for (vs = s->next; vs; vs = vs->next) {
                if (vs->defn_name && (int)vs->defn_line_number == d->line_num
                    && !strcmp(vs->defn_name, d->filename)) {
                    break;
                }
            }
            warn_no_certificate_source(p, s, to, d->first_child,
                                       vs ? vs : in);
        }
        else if (d->first_child) {
            if (section_in_force(p, s, d)) {
                warn_no_certificate_source(p, s, to, d->first_child, in);
            }
        }
        else if (asks_for_certificates(p, d) && !trusts_a_proxy(s, in)) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, to ? to : in,
                         X509A_LOGNO(0802) "%s on line %d of %s, in %s: "
                         "mod_ssl is not loaded and no proxy is trusted there "
                         "(X509AuthnTrustedProxy, X509AuthnProxyRequire), so "
                         "no client certificate can arrive: it never logs "
                         "anyone in", !strcasecmp(d->directive, "AuthType")
                         ? "AuthType X509" : "X509Authn On", d->line_num,
                         d->filename, server_desc(p, in));
        }
    }
}

/*
 * What is allowed but does nothing, or less than it seems: forwarded-
 * certificate settings where no proxy is trusted, AuthType X509 where no
 * certificate can arrive, X509AuthnHeaderVerify Off.  Logged on @a to (the
 * main server, whose messages go to stderr under configtest), or on each
 * server when NULL (its error log at startup).
 */
/* The trust settings X509AuthnRevocationTLS verifies mod_ssl's chains
 * again with. */
static int revtls_uses(int at)
{
    return at == X509AUTHN_AT_CA_FILE || at == X509AUTHN_AT_CA_PATH
           || at == X509AUTHN_AT_CRL || at == X509AUTHN_AT_DEPTH
           || at == X509AUTHN_AT_CRL_CHECK || at == X509AUTHN_AT_CRL_FETCH;
}

static void warn_settings(apr_pool_t *ptemp, server_rec *s, server_rec *to)
{
    /* directive location -> whether a server that trusts a proxy uses it */
    apr_hash_t *used = apr_hash_make(ptemp);
    apr_array_header_t *order = apr_array_make(ptemp, 4, sizeof(char *));
    server_rec *vs;
    int i;

    for (vs = s; vs; vs = vs->next) {
        const x509authn_srv_conf *sc = ap_get_module_config(vs->module_config,
                                                            &x509authn_module);
        int trusted = x509authn_header_mode(sc);

        for (i = 0; i < X509AUTHN_AT_COUNT; i++) {
            const char *at = sc->set_at[i];

            if (!at) {
                continue;
            }
            if (!apr_hash_get(used, at, APR_HASH_KEY_STRING)) {
                APR_ARRAY_PUSH(order, const char *) = at;
                apr_hash_set(used, at, APR_HASH_KEY_STRING, "");
            }
            if (trusted || (sc->revocation_tls && revtls_uses(i))) {
                apr_hash_set(used, at, APR_HASH_KEY_STRING, "used");
            }
        }
        if (trusted && !sc->verify) {
            const char *where = server_desc(ptemp, vs);

            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, to ? to : vs,
                         X509A_LOGNO(0011) "X509AuthnHeaderVerify Off in %s: "
                         "certificates forwarded by trusted proxies are "
                         "accepted without local verification", where);
            warn_unverified_path_rules(vs, to ? to : vs, where);
        }
    }
    for (i = 0; i < order->nelts; i++) {
        const char *at = APR_ARRAY_IDX(order, i, const char *);

        if (!*(const char *)apr_hash_get(used, at, APR_HASH_KEY_STRING)) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, to ? to : s,
                         X509A_LOGNO(0801) "%s does nothing: no server where "
                         "it applies trusts a proxy to forward certificates "
                         "(X509AuthnTrustedProxy, X509AuthnProxyRequire) or "
                         "says X509AuthnRevocationTLS On", at);
        }
    }
    if (!ap_find_linked_module("mod_ssl.c")) {
        warn_no_certificate_source(ptemp, s, to, ap_conftree, s);
    }
}

/*
 * What start-up would refuse, refused before configtest's "Syntax OK":
 * errors kept while reading the directives, a networked shared cache
 * without a secret, X509AuthnSource header where no proxy is trusted,
 * verification without CA certificates, CA and CRL files that do not load.
 * The trust stores built here (one per distinct setting) serve the server.
 * Before open_logs: messages go on the main server, to stderr, naming the
 * directive's file and line and the server.
 */
/* A server verifies chains itself (and then uses the shared cache):
 * forwarded ones, or mod_ssl's again under X509AuthnRevocationTLS.  The
 * one test check_config and post_config agree on. */
static int needs_verifier(const x509authn_srv_conf *sc)
{
    return (x509authn_header_mode(sc) && sc->verify) || sc->revocation_tls;
}

static int x509authn_check_config(apr_pool_t *pconf, apr_pool_t *plog,
                                  apr_pool_t *ptemp, server_rec *s)
{
    apr_hash_t *verifiers = apr_hash_make(ptemp);
    server_rec *vs;
    const char *err;
    int rv, need_cache = 0;

    if ((rv = x509authn_report_deferred(ptemp)) != OK
        || (rv = x509authn_record_check_config(s)) != OK) {
        return rv;
    }
    for (vs = s; vs; vs = vs->next) {
        x509authn_srv_conf *sc = ap_get_module_config(vs->module_config,
                                                      &x509authn_module);
        const char *key;

        if (sc->revocation_tls) {
            /* mod_ssl's trust store is not ours to read: the chain is
             * verified again with X509AuthnCACertificateFile, with the
             * fetched CRLs, and its issuers are whom OCSP asks about */
            if (sc->ocsp->mode == X509AUTHN_OCSP_OFF && !sc->crl_fetch) {
                ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, X509A_LOGNO(0730)
                             "X509AuthnRevocationTLS On in %s checks "
                             "nothing: set X509AuthnOCSP and/or "
                             "X509AuthnCRLFetch On there",
                             server_desc(ptemp, vs));
                return HTTP_INTERNAL_SERVER_ERROR;
            }
            if (!sc->ca_file && !sc->ca_path) {
                ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, X509A_LOGNO(0731)
                             "X509AuthnRevocationTLS On in %s needs "
                             "X509AuthnCACertificateFile (or "
                             "X509AuthnCACertificatePath): the CAs of "
                             "SSLCACertificateFile, to find each "
                             "certificate's issuer and check its CRLs with",
                             server_desc(ptemp, vs));
                return HTTP_INTERNAL_SERVER_ERROR;
            }
        }
        if (!x509authn_header_mode(sc)) {
            if (sc->header_source_used) {
                ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, X509A_LOGNO(0010)
                             "%s, in %s, which trusts no proxy: set "
                             "X509AuthnTrustedProxy and/or "
                             "X509AuthnProxyRequire there (or in the main "
                             "server)", sc->header_source_at,
                             server_desc(ptemp, vs));
                return HTTP_INTERNAL_SERVER_ERROR;
            }
        }
        if (!needs_verifier(sc)) {
            continue;
        }
        if (!sc->ca_file && !sc->ca_path) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, X509A_LOGNO(0012)
                         "%s, in %s: proxies are trusted to forward "
                         "certificates, but there is no "
                         "X509AuthnCACertificateFile or "
                         "X509AuthnCACertificatePath to verify them with (or "
                         "say X509AuthnHeaderVerify Off)", sc->trust_at,
                         server_desc(ptemp, vs));
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        key = apr_psprintf(ptemp, "%s|%s|%s|%d|%d|%d",
                           sc->ca_file ? sc->ca_file : "",
                           sc->ca_path ? sc->ca_path : "",
                           sc->crl_file ? sc->crl_file : "", sc->depth,
                           (int)sc->crl_check, sc->crl_no_crl_ok);
        if (sc->crl_check == X509A_CRL_CHECK_NONE && sc->crl_file
            && ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, X509A_LOGNO(0831)
                         "%s, in %s: %s is not used (no CRL checks)",
                         sc->set_at[X509AUTHN_AT_CRL_CHECK]
                         ? sc->set_at[X509AUTHN_AT_CRL_CHECK]
                         : "X509AuthnCARevocationCheck none",
                         server_desc(ptemp, vs),
                         sc->set_at[X509AUTHN_AT_CRL]
                         ? sc->set_at[X509AUTHN_AT_CRL]
                         : "X509AuthnCARevocationFile");
        }
        sc->verifier = apr_hash_get(verifiers, key, APR_HASH_KEY_STRING);
        if (!sc->verifier) {
            x509a_verify_conf vc;

            vc.ca_file = sc->ca_file;
            vc.ca_path = sc->ca_path;
            vc.crl_file = sc->crl_file;
            vc.depth = sc->depth;
            vc.crl_check = sc->crl_check;
            vc.no_crl_ok = sc->crl_no_crl_ok;
            /* X509AuthnCacheEntries 0: no per-process cache, the
             * verified-signature cache included (the cache-off oracle) */
            vc.sig_cache_off = x509authn_global.entries <= 0;
            if ((err = x509a_verifier_create(pconf, &vc, &sc->verifier))) {
                const char *at[3];
                int n = 0;

                at[0] = at[1] = at[2] = NULL;
                if (sc->set_at[X509AUTHN_AT_CA_FILE] && sc->ca_file) {
                    at[n++] = sc->set_at[X509AUTHN_AT_CA_FILE];
                }
                if (sc->set_at[X509AUTHN_AT_CA_PATH] && sc->ca_path) {
                    at[n++] = sc->set_at[X509AUTHN_AT_CA_PATH];
                }
                if (sc->set_at[X509AUTHN_AT_CRL] && sc->crl_file) {
                    at[n++] = sc->set_at[X509AUTHN_AT_CRL];
                }
                ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, X509A_LOGNO(0013)
                             "%s%s%s%s%s, in %s: cannot load the trust store "
                             "for forwarded certificates: %s",
                             at[0] ? at[0] : "X509AuthnCACertificateFile",
                             at[1] ? " and " : "", at[1] ? at[1] : "",
                             at[2] ? " and " : "", at[2] ? at[2] : "",
                             server_desc(ptemp, vs), err);
                sc->verifier = NULL;
                return HTTP_INTERNAL_SERVER_ERROR;
            }
            apr_hash_set(verifiers, key, APR_HASH_KEY_STRING, sc->verifier);
        }
        need_cache = 1;
    }
    if (x509authn_ocsp_post_config(ptemp, s) != OK) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if ((rv = x509authn_crl_check_config(ptemp, s)) != OK) {
        return rv;
    }
    /* the shared cache's arguments (opened in post_config) */
    if (need_cache && (err = x509authn_cache_create(pconf, ptemp))) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, X509A_LOGNO(0014) "%s",
                     err);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    /* at startup the warnings go to the error log, from post_config */
    if (ap_state_query(AP_SQ_RUN_MODE) != AP_SQ_RM_NORMAL) {
        warn_settings(ptemp, s, s);
    }
    return OK;
}

/* Process pool note: the first pass of a start has given the warnings. */
#define WARNED_KEY "x509authn-warned"

/* The shared cache, once check_config has built the trust stores; the
 * warnings of x509authn_check_config(), in the servers' error logs. */
static int x509authn_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                                 apr_pool_t *ptemp, server_rec *s)
{
    server_rec *vs;
    int need_cache = 0;
    const char *err;
    void *seen = NULL;

    for (vs = s; vs; vs = vs->next) {
        const x509authn_srv_conf *sc = ap_get_module_config(
            vs->module_config, &x509authn_module);

        if (needs_verifier(sc)) {
            if (!sc->verifier) {
                /* fail closed should check_config not have run */
                ap_log_error(APLOG_MARK, APLOG_EMERG, 0, vs, X509A_LOGNO(0803)
                             "no trust store for forwarded certificates (or "
                             "X509AuthnRevocationTLS) in %s",
                             server_desc(ptemp, vs));
                return HTTP_INTERNAL_SERVER_ERROR;
            }
            need_cache = 1;
        }
    }
    /* once per start or restart: httpd starts with two passes over the
     * configuration; the first has the logs open when the ports listen */
    apr_pool_userdata_get(&seen, WARNED_KEY, s->process->pool);
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        warn_settings(ptemp, s, NULL);
        apr_pool_userdata_set("1", WARNED_KEY, apr_pool_cleanup_null,
                              s->process->pool);
    }
    else if (seen) {
        apr_pool_userdata_set(NULL, WARNED_KEY, apr_pool_cleanup_null,
                              s->process->pool);
    }
    else {
        warn_settings(ptemp, s, NULL);
    }
    if (!need_cache) {
        /* a shmcb kept from a generation that needed one */
        x509authn_cache_unused(s);
    }
    if (need_cache && ((err = x509authn_cache_post_config(pconf, ptemp, s))
                       || (err = x509authn_record_post_config(pconf, s)))) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, X509A_LOGNO(0014) "%s",
                     err);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    x509authn_stats_post_config(pconf, s);
    if ((err = x509authn_health_post_config(pconf, ptemp, s))) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, X509A_LOGNO(0719)
                     "%s", err);
    }
    x509authn_crl_post_config(pconf, s);
    return OK;
}

static void x509authn_child_init(apr_pool_t *pchild, server_rec *s)
{
    x509authn_entry_child_init();
    x509authn_cache_child_init(pchild, s);
    x509authn_tls_child_init(pchild);
    x509authn_header_child_init(pchild, s);
    x509authn_revocation_child_init(pchild);
    x509authn_ocsp_child_init(pchild);
    x509authn_crl_child_init(pchild, s);
    x509authn_revtls_child_init(pchild);
}

/* ------------------------------------------------------------------------ */
/* Registration                                                             */
/* ------------------------------------------------------------------------ */

static void x509authn_register_hooks(apr_pool_t *p)
{
    static const char *const modssl[] = { "mod_ssl.c", NULL };

    ap_hook_pre_config(x509authn_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    /* after mod_socache_* registered their providers and mod_ssl set up */
    ap_hook_check_config(x509authn_check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(x509authn_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(x509authn_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    /* forwarded-certificate headers leave untrusted requests before any
     * other module sees them */
    ap_hook_post_read_request(x509authn_post_read_request, NULL, NULL,
                              APR_HOOK_REALLY_FIRST);
    ap_hook_check_authn(x509authn_check_authn, NULL, NULL, APR_HOOK_FIRST,
                        AP_AUTH_INTERNAL_PER_CONF);
    ap_hook_force_authn(x509authn_force_authn, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_note_auth_failure(x509authn_note_auth_failure, NULL, NULL,
                              APR_HOOK_MIDDLE);
    ap_hook_expr_lookup(x509authn_expr_lookup, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_log_transaction(x509authn_log_transaction, NULL, NULL,
                            APR_HOOK_REALLY_FIRST);
    ap_hook_insert_filter(x509authn_insert_filter, NULL, NULL,
                          APR_HOOK_MIDDLE);
    ap_hook_insert_error_filter(x509authn_insert_filter, NULL, NULL,
                                APR_HOOK_MIDDLE);
    /* after every content filter (mod_headers' Header set, the handler's
     * own headers), before the protocol filters that write the header
     * block (HTTP/1.1, HTTP/2) */
    private_filter_handle = ap_register_output_filter(
        PRIVATE_FILTER, private_filter, NULL, AP_FTYPE_PROTOCOL - 1);
    /* X509AuthnExportSSLVars: before mod_ssl answers ap_ssl_var_lookup(),
     * and after its fixup has set SSL_CLIENT_* for the proxy's own
     * certificate */
    ap_hook_ssl_var_lookup(x509authn_ssl_var_lookup, NULL, modssl,
                           APR_HOOK_FIRST);
    ap_hook_fixups(x509authn_ssl_vars_fixup, modssl, NULL, APR_HOOK_LAST);
    APR_OPTIONAL_HOOK(ssl, pre_handshake, x509authn_pre_handshake, NULL, NULL,
                      APR_HOOK_MIDDLE);
    x509authn_register_source_filters();
    x509authn_stats_register_hooks();
    x509authn_health_register_hooks();
}

AP_DECLARE_MODULE(x509authn) = {
    STANDARD20_MODULE_STUFF,
    x509authn_create_dir_conf,  /* create per-directory config */
    x509authn_merge_dir_conf,   /* merge per-directory config */
    x509authn_create_srv_conf,  /* create per-server config */
    x509authn_merge_srv_conf,   /* merge per-server config */
    x509authn_cmds,             /* directives */
    x509authn_register_hooks    /* register hooks */
};
