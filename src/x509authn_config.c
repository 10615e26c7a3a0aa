/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/* Configuration: directory and server records, their merges, the
 * directive setters (which validate and say what is wrong) and the
 * directive table. */

#include "x509authn.h"

#include "http_core.h"
#include "ap_provider.h"
#include "apr_strings.h"
#include "apr_lib.h"

#include <errno.h>

APLOG_USE_MODULE(x509authn);

x509authn_global_conf x509authn_global;

/* ------------------------------------------------------------------------ */
/* Records and merges                                                       */
/* ------------------------------------------------------------------------ */

void *x509authn_create_dir_conf(apr_pool_t *p, char *dir)
{
    x509authn_dir_conf *conf = apr_pcalloc(p, sizeof(*conf));

    conf->rules = x509a_rules_make(p);
    return conf;
}

void *x509authn_merge_dir_conf(apr_pool_t *p, void *basev, void *addv)
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
    conf->map = add->map_set ? add->map : base->map;
    conf->map_file = add->map_set ? add->map_file : base->map_file;
    conf->map_set = add->map_set || base->map_set;
    conf->map_required = add->map_required_set ? add->map_required
                                               : base->map_required;
    conf->map_required_set = add->map_required_set || base->map_required_set;
    return conf;
}

void *x509authn_create_srv_conf(apr_pool_t *p, server_rec *s)
{
    x509authn_srv_conf *conf = apr_pcalloc(p, sizeof(*conf));

    conf->header = "X-SSL-Client-Cert";
    conf->format = X509A_FMT_AUTO;
    conf->verify = 1;
    conf->depth = -1;
    conf->max_len = X509AUTHN_DEFAULT_MAX_LEN;
    conf->ocsp = x509authn_ocsp_create(p);
    return conf;
}

#define MERGE_SET(field, bit) \
    conf->field = add->bit ? add->field : base->field; \
    conf->bit = add->bit || base->bit

void *x509authn_merge_srv_conf(apr_pool_t *p, void *basev, void *addv)
{
    const x509authn_srv_conf *base = basev, *add = addv;
    x509authn_srv_conf *conf = apr_pcalloc(p, sizeof(*conf));
    int i;

    conf->proxies = add->proxies ? add->proxies : base->proxies;
    conf->proxy_rules = add->proxy_rules ? add->proxy_rules : base->proxy_rules;
    MERGE_SET(header, header_set);
    conf->format = add->header_set ? add->format : base->format;
    MERGE_SET(chain_header, chain_header_set);
    conf->chain_is_prefix = add->chain_header_set ? add->chain_is_prefix
                                                  : base->chain_is_prefix;
    MERGE_SET(verify, verify_set);
    MERGE_SET(ca_file, ca_file_set);
    MERGE_SET(ca_path, ca_path_set);
    MERGE_SET(crl_file, crl_file_set);
    MERGE_SET(depth, depth_set);
    MERGE_SET(max_len, max_len_set);
    MERGE_SET(soft_fail, soft_fail_set);
    conf->ocsp = x509authn_ocsp_merge(p, base->ocsp, add->ocsp);
    MERGE_SET(crl_check, crl_check_set);
    MERGE_SET(crl_fetch, crl_fetch_set);
    MERGE_SET(crl_cache_dir, crl_cache_dir_set);
    MERGE_SET(crl_max_stale, crl_max_stale_set);
    MERGE_SET(revocation_tls, revocation_tls_set);
    conf->crl_no_crl_ok = add->crl_check_set ? add->crl_no_crl_ok
                                             : base->crl_no_crl_ok;
    for (i = 0; i < X509AUTHN_AT_COUNT; i++) {
        conf->set_at[i] = add->set_at[i] ? add->set_at[i] : base->set_at[i];
    }
    conf->trust_at = add->trust_at ? add->trust_at : base->trust_at;
    /* a directory inside this virtual host may use header mode */
    conf->header_source_used = add->header_source_used;
    conf->header_source_at = add->header_source_at;
    return conf;
}

int x509authn_header_mode(const x509authn_srv_conf *sc)
{
    return sc->proxies != NULL || sc->proxy_rules != NULL;
}

/* Prefix a setter's error with the directive, as configtest shows it. */
static const char *directive_error(cmd_parms *cmd, const char *err)
{
    return apr_pstrcat(cmd->pool, cmd->cmd->name, ": ", err, NULL);
}

static x509authn_srv_conf *srv_conf(cmd_parms *cmd)
{
    return ap_get_module_config(cmd->server->module_config,
                                &x509authn_module);
}

const char *x509authn_directive_at(cmd_parms *cmd)
{
    if (!cmd->directive || !cmd->directive->filename) {
        return cmd->cmd->name;
    }
    return apr_psprintf(cmd->pool, "%s on line %d of %s", cmd->cmd->name,
                        cmd->directive->line_num, cmd->directive->filename);
}

/* Remember where a server's forwarded-certificate setting was said. */
static void note_set_at(cmd_parms *cmd, x509authn_at which)
{
    srv_conf(cmd)->set_at[which] = x509authn_directive_at(cmd);
}

/*
 * A setter's error that shows what the administrator wrote (a regular
 * expression): httpd logs the error a setter returns with every backslash
 * doubled, so in the server configuration it is kept and reported as
 * written by x509authn_report_deferred() at check_config (before "Syntax
 * OK" and before the server starts); the caller leaves the setting unusable.
 * In .htaccess (read at request time) it is the request's error as usual.
 */
static const char *defer_error(cmd_parms *cmd, const char *err)
{
    apr_array_header_t **list = &x509authn_global.deferred;

    if (ap_check_cmd_context(cmd, NOT_IN_HTACCESS)) {
        return directive_error(cmd, err);
    }
    if (!*list) {
        *list = apr_array_make(cmd->pool, 2, sizeof(const char *));
    }
    APR_ARRAY_PUSH(*list, const char *) = apr_pstrcat(
        cmd->pool, x509authn_directive_at(cmd), ": ", err, NULL);
    return NULL;
}

int x509authn_report_deferred(apr_pool_t *ptemp)
{
    const apr_array_header_t *list = x509authn_global.deferred;
    apr_file_t *err;
    int i;

    if (!list || !list->nelts) {
        return OK;
    }
    if (apr_file_open_stderr(&err, ptemp) != APR_SUCCESS) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    for (i = 0; i < list->nelts; i++) {
        const unsigned char *m = APR_ARRAY_IDX(list, i, const unsigned char *);
        apr_size_t len = strlen((const char *)m);
        char *out = apr_palloc(ptemp, 4 * len + 1), *o = out;

        /* control characters escaped as httpd does, backslashes left alone */
        for (; *m; m++) {
            if (apr_iscntrl(*m)) {
                o += apr_snprintf(o, 5, "\\x%02x", *m);
            }
            else {
                *o++ = (char)*m;
            }
        }
        *o = '\0';
        apr_file_printf(err, "X509A0805: %s\n", out);
    }
    apr_file_flush(err);
    return HTTP_INTERNAL_SERVER_ERROR;
}

/* What ap_regcomp() said about @a pattern, and where: ap_regerror()'s
 * reason (PCRE's own is not kept) and offset, and the rest of the pattern
 * from there. */
static const char *regex_reason(apr_pool_t *p, int rc, const ap_regex_t *re,
                                const char *pattern)
{
    char buf[256];
    apr_size_t len, plen = strlen(pattern);
    int off = (int)re->re_erroffset;
    const char *where = "";

    ap_regerror(rc, re, buf, sizeof(buf));
    /* it pads the offset with spaces */
    for (len = strlen(buf); len && buf[len - 1] == ' '; len--) {
        buf[len - 1] = '\0';
    }
    if (off >= 0 && (apr_size_t)off <= plen) {
        where = apr_psprintf(p, "%s%s", strstr(buf, " at offset ") ? ""
                             : apr_psprintf(p, " at offset %d", off),
                             (apr_size_t)off == plen
                             ? ", the end of the pattern"
                             : apr_pstrcat(p, ", before '", pattern + off, "'",
                                           NULL));
    }
    return apr_pstrcat(p, buf, where, NULL);
}

static const char *regex_error(apr_pool_t *p, int rc, const ap_regex_t *re,
                               const char *pattern)
{
    return apr_psprintf(p, "'%s' is not a valid regular expression: %s",
                        pattern, regex_reason(p, rc, re, pattern));
}

static apr_status_t user_re_free(void *re)
{
    ap_regfree(re);
    return APR_SUCCESS;
}

/* ------------------------------------------------------------------------ */
/* Directory directives                                                     */
/* ------------------------------------------------------------------------ */

static const char *set_enabled(cmd_parms *cmd, void *dconf, int on)
{
    x509authn_dir_conf *conf = dconf;

    conf->enabled = on;
    conf->enabled_set = 1;
    return NULL;
}

static const char *set_source(cmd_parms *cmd, void *dconf, const char *arg)
{
    x509authn_dir_conf *conf = dconf;

    if (!strcasecmp(arg, "tls")) {
        conf->source = X509AUTHN_SOURCE_TLS;
    }
    else if (!strcasecmp(arg, "header")) {
        conf->source = X509AUTHN_SOURCE_HEADER;
        /* checked at startup: header mode needs a trust condition
         * (.htaccess files are read later, and are checked then) */
        if (!ap_check_cmd_context(cmd, NOT_IN_HTACCESS)) {
            x509authn_srv_conf *sc = srv_conf(cmd);

            sc->header_source_used = 1;
            if (!sc->header_source_at) {
                sc->header_source_at = apr_psprintf(cmd->pool,
                    "X509AuthnSource header on line %d of %s",
                    cmd->directive->line_num, cmd->directive->filename);
            }
        }
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

static const char *add_rule(cmd_parms *cmd, void *dconf, const char *arg)
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

static const char *add_user(cmd_parms *cmd, void *dconf, const char *field,
                            const char *regex)
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
    spec->bad = 0;
    if (regex) {
        ap_regex_t *re = apr_pcalloc(cmd->pool, sizeof(*re));
        int rc = ap_regcomp(re, regex, 0);

        if (rc != 0) {
            spec->bad = 1;
            return defer_error(cmd, regex_error(cmd->pool, rc, re, regex));
        }
        apr_pool_cleanup_register(cmd->pool, re, user_re_free,
                                  apr_pool_cleanup_null);
        spec->regex = re;
        if (re->re_nsub != 1) {
            spec->bad = 1;
            return defer_error(cmd, apr_psprintf(cmd->pool,
                               "'%s' must have exactly one capture group "
                               "(it has %d): the capture is the user name",
                               regex, (int)re->re_nsub));
        }
    }
    return NULL;
}

static const char *set_export_cert(cmd_parms *cmd, void *dconf, int on)
{
    x509authn_dir_conf *conf = dconf;

    conf->export_cert = on;
    conf->export_cert_set = 1;
    return NULL;
}

static const char *set_export_ssl_vars(cmd_parms *cmd, void *dconf, int on)
{
    x509authn_dir_conf *conf = dconf;

    conf->export_ssl_vars = on;
    conf->export_ssl_vars_set = 1;
    return NULL;
}

/* Map files use httpd's regular expressions. */
static apr_status_t map_re_free(void *re)
{
    ap_regfree(re);
    return APR_SUCCESS;
}

static void *map_re_compile(apr_pool_t *p, const char *pattern, int *ncap,
                            const char **err)
{
    ap_regex_t *re = apr_pcalloc(p, sizeof(*re));
    int rc = ap_regcomp(re, pattern, 0);

    if (rc != 0) {
        /* x509a_map names the pattern */
        *err = regex_reason(p, rc, re, pattern);
        return NULL;
    }
    apr_pool_cleanup_register(p, re, map_re_free, apr_pool_cleanup_null);
    *ncap = (int)re->re_nsub;
    return re;
}

static int map_re_match(void *re, const char *subject, int nmatch,
                        x509a_match *m)
{
    ap_regmatch_t pm[10];
    int i;

    if (nmatch > 10) {
        nmatch = 10;
    }
    if (ap_regexec(re, subject, nmatch, pm, 0) != 0) {
        return 0;
    }
    for (i = 0; i < nmatch; i++) {
        m[i].so = pm[i].rm_so;
        m[i].eo = pm[i].rm_eo;
    }
    return 1;
}

static const x509a_regex_ops map_regex_ops = { map_re_compile, map_re_match };

static const char *set_user_map(cmd_parms *cmd, void *dconf, const char *arg)
{
    x509authn_dir_conf *conf = dconf;
    const char *path = ap_server_root_relative(cmd->pool, arg), *err;
    apr_hash_t *loaded = NULL;
    x509a_map *map;

    if (!path) {
        return directive_error(cmd, apr_psprintf(cmd->pool,
                               "'%s' is not a valid path", arg));
    }
    /* a map used in several sections is read once per configuration */
    apr_pool_userdata_get((void **)&loaded, "x509authn-maps", cmd->pool);
    if (!loaded) {
        loaded = apr_hash_make(cmd->pool);
        apr_pool_userdata_setn(loaded, "x509authn-maps", NULL, cmd->pool);
    }
    map = apr_hash_get(loaded, path, APR_HASH_KEY_STRING);
    if (!map) {
        if ((err = x509a_map_load(cmd->pool, path, &map_regex_ops, &map))) {
            /* no map in force: the configuration is refused (deferred
             * errors stop httpd at check_config, before any request) */
            return defer_error(cmd, err);
        }
        apr_hash_set(loaded, path, APR_HASH_KEY_STRING, map);
    }
    conf->map = map;
    conf->map_file = path;
    conf->map_set = 1;
    return NULL;
}

static const char *set_user_map_required(cmd_parms *cmd, void *dconf, int on)
{
    x509authn_dir_conf *conf = dconf;

    conf->map_required = on;
    conf->map_required_set = 1;
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Server directives                                                        */
/* ------------------------------------------------------------------------ */

static const char *add_trusted_proxy(cmd_parms *cmd, void *dconf,
                                     const char *arg)
{
    x509authn_srv_conf *sc = srv_conf(cmd);
    char *ip = apr_pstrdup(cmd->temp_pool, arg), *mask;
    apr_ipsubnet_t *subnet;
    apr_status_t rv;
    char buf[128];

    if ((mask = strchr(ip, '/')) != NULL) {
        *mask++ = '\0';
    }
    rv = apr_ipsubnet_create(&subnet, ip, mask, cmd->pool);
    if (rv != APR_SUCCESS) {
        return directive_error(cmd, apr_psprintf(cmd->pool,
                               "'%s' is not an IP address or CIDR subnet (%s)",
                               arg, apr_strerror(rv, buf, sizeof(buf))));
    }
    if (!sc->proxies) {
        sc->proxies = apr_array_make(cmd->pool, 4, sizeof(apr_ipsubnet_t *));
    }
    if (!sc->trust_at) {
        sc->trust_at = x509authn_directive_at(cmd);
    }
    APR_ARRAY_PUSH(sc->proxies, apr_ipsubnet_t *) = subnet;
    return NULL;
}

static const char *add_proxy_require(cmd_parms *cmd, void *dconf,
                                     const char *field, const char *value)
{
    x509authn_srv_conf *sc = srv_conf(cmd);
    x509a_rules *rules = x509a_rules_make(cmd->pool);
    x509a_rule_kind kind;
    const char *err;

    if (!strcasecmp(field, "issuer")) {
        kind = X509A_RULE_ISSUER;
    }
    else if (!strcasecmp(field, "subject")) {
        kind = X509A_RULE_SUBJECT;
    }
    else if (!strcasecmp(field, "serial")) {
        kind = X509A_RULE_SERIAL;
    }
    else if (!strcasecmp(field, "sha1") || !strcasecmp(field, "sha256")) {
        kind = X509A_RULE_FINGERPRINT;
        if (!strchr(value, ':') || strlen(value) > 8 + 64) {
            value = apr_pstrcat(cmd->pool, field, ":", value, NULL);
        }
    }
    else {
        return directive_error(cmd, apr_psprintf(cmd->pool,
                               "'%s' is not a field: use issuer, subject, "
                               "serial, sha1 or sha256", field));
    }
    if ((err = x509a_rules_add(rules, cmd->pool, kind, value, NULL))) {
        return directive_error(cmd, err);
    }
    if (!sc->proxy_rules) {
        sc->proxy_rules = apr_array_make(cmd->pool, 2, sizeof(x509a_rules *));
    }
    if (!sc->trust_at) {
        sc->trust_at = x509authn_directive_at(cmd);
    }
    APR_ARRAY_PUSH(sc->proxy_rules, x509a_rules *) = rules;
    return NULL;
}

static int is_token(const char *s)
{
    if (!*s) {
        return 0;
    }
    for (; *s; s++) {
        if (!apr_isalnum(*s) && !strchr("!#$%&'*+-.^_`|~", *s)) {
            return 0;
        }
    }
    return 1;
}

static const char *set_header(cmd_parms *cmd, void *dconf, const char *name,
                              const char *format)
{
    x509authn_srv_conf *sc = srv_conf(cmd);
    const char *err;

    if (!is_token(name)) {
        return directive_error(cmd, apr_psprintf(cmd->pool,
                               "'%s' is not a header name", name));
    }
    sc->format = X509A_FMT_AUTO;
    if (format && (err = x509a_format_parse(format, &sc->format))) {
        return directive_error(cmd, apr_psprintf(cmd->pool, "'%s' is %s",
                                                 format, err));
    }
    sc->header = name;
    sc->header_set = 1;
    note_set_at(cmd, X509AUTHN_AT_HEADER);
    return NULL;
}

static const char *set_chain_header(cmd_parms *cmd, void *dconf,
                                    const char *name)
{
    x509authn_srv_conf *sc = srv_conf(cmd);
    apr_size_t len = strlen(name);
    char *base = apr_pstrdup(cmd->pool, name);

    sc->chain_is_prefix = len > 1 && name[len - 1] == '*';
    if (sc->chain_is_prefix) {
        base[len - 1] = '\0';
    }
    if (!is_token(base) || strchr(base, '*')) {
        return directive_error(cmd, apr_psprintf(cmd->pool,
                               "'%s' is not a header name or PREFIX*", name));
    }
    sc->chain_header = base;
    sc->chain_header_set = 1;
    note_set_at(cmd, X509AUTHN_AT_CHAIN);
    return NULL;
}

static const char *set_verify(cmd_parms *cmd, void *dconf, int on)
{
    x509authn_srv_conf *sc = srv_conf(cmd);

    sc->verify = on;
    sc->verify_set = 1;
    note_set_at(cmd, X509AUTHN_AT_VERIFY);
    return NULL;
}

/* X509AuthnCACertificateFile, ...Path, X509AuthnCARevocationFile */
static const char *set_trust_file(cmd_parms *cmd, void *dconf,
                                  const char *arg)
{
    x509authn_srv_conf *sc = srv_conf(cmd);
    const char *path = ap_server_root_relative(cmd->pool, arg);
    int want_dir = !strcmp(cmd->cmd->name, "X509AuthnCACertificatePath");
    apr_finfo_t fi;

    if (!path || apr_stat(&fi, path, APR_FINFO_TYPE, cmd->temp_pool)
                     != APR_SUCCESS) {
        return directive_error(cmd, apr_psprintf(cmd->pool,
                               "'%s' does not exist", arg));
    }
    if (want_dir ? fi.filetype != APR_DIR : fi.filetype != APR_REG) {
        return directive_error(cmd, apr_psprintf(cmd->pool, "'%s' is not a %s",
                               arg, want_dir ? "directory" : "file"));
    }
    if (!strcmp(cmd->cmd->name, "X509AuthnCACertificateFile")) {
        sc->ca_file = path;
        sc->ca_file_set = 1;
        note_set_at(cmd, X509AUTHN_AT_CA_FILE);
    }
    else if (want_dir) {
        sc->ca_path = path;
        sc->ca_path_set = 1;
        note_set_at(cmd, X509AUTHN_AT_CA_PATH);
    }
    else {
        sc->crl_file = path;
        sc->crl_file_set = 1;
        note_set_at(cmd, X509AUTHN_AT_CRL);
    }
    return NULL;
}

static const char *parse_int(cmd_parms *cmd, const char *arg, long min,
                             long max, long *out)
{
    char *end;
    long v = strtol(arg, &end, 10);

    if (!*arg || *end || v < min || v > max) {
        return directive_error(cmd, apr_psprintf(cmd->pool,
                               "'%s' is not a number from %ld to %ld",
                               arg, min, max));
    }
    *out = v;
    return NULL;
}

static const char *set_depth(cmd_parms *cmd, void *dconf, const char *arg)
{
    x509authn_srv_conf *sc = srv_conf(cmd);
    long v;
    const char *err = parse_int(cmd, arg, 0, 100, &v);

    if (err) {
        return err;
    }
    sc->depth = (int)v;
    sc->depth_set = 1;
    note_set_at(cmd, X509AUTHN_AT_DEPTH);
    return NULL;
}

static const char *set_max_len(cmd_parms *cmd, void *dconf, const char *arg)
{
    x509authn_srv_conf *sc = srv_conf(cmd);
    long v;
    const char *err = parse_int(cmd, arg, 512, 1048576, &v);

    if (err) {
        return err;
    }
    sc->max_len = (apr_size_t)v;
    sc->max_len_set = 1;
    note_set_at(cmd, X509AUTHN_AT_MAX_LEN);
    return NULL;
}

static const char *set_crl_check(cmd_parms *cmd, void *dconf,
                                 const char *mode, const char *flag)
{
    x509authn_srv_conf *sc = srv_conf(cmd);

    if (!strcasecmp(mode, "chain")) {
        sc->crl_check = X509A_CRL_CHECK_CHAIN;
    }
    else if (!strcasecmp(mode, "leaf")) {
        sc->crl_check = X509A_CRL_CHECK_LEAF;
    }
    else if (!strcasecmp(mode, "none")) {
        sc->crl_check = X509A_CRL_CHECK_NONE;
    }
    else {
        return directive_error(cmd, apr_psprintf(cmd->pool,
                               "'%s' is not a mode: use chain, leaf or none",
                               mode));
    }
    sc->crl_no_crl_ok = 0;
    if (flag) {
        if (strcasecmp(flag, "no_crl_for_cert_ok")) {
            return directive_error(cmd, apr_psprintf(cmd->pool,
                                   "'%s' is not a flag: the only one is "
                                   "no_crl_for_cert_ok", flag));
        }
        sc->crl_no_crl_ok = 1;
    }
    sc->crl_check_set = 1;
    note_set_at(cmd, X509AUTHN_AT_CRL_CHECK);
    return NULL;
}

static const char *set_crl_fetch(cmd_parms *cmd, void *dconf, int on)
{
    x509authn_srv_conf *sc = srv_conf(cmd);

    sc->crl_fetch = on;
    sc->crl_fetch_set = 1;
    note_set_at(cmd, X509AUTHN_AT_CRL_FETCH);
    return NULL;
}

static const char *set_crl_cache_dir(cmd_parms *cmd, void *dconf,
                                     const char *arg)
{
    x509authn_srv_conf *sc = srv_conf(cmd);
    const char *path = ap_server_root_relative(cmd->pool, arg);
    apr_finfo_t fi;

    if (!path || apr_stat(&fi, path, APR_FINFO_TYPE, cmd->temp_pool)
                     != APR_SUCCESS || fi.filetype != APR_DIR) {
        return directive_error(cmd, apr_psprintf(cmd->pool,
                               "'%s' is not a directory", arg));
    }
    sc->crl_cache_dir = path;
    sc->crl_cache_dir_set = 1;
    return NULL;
}

static const char *set_crl_max_stale(cmd_parms *cmd, void *dconf,
                                     const char *arg)
{
    x509authn_srv_conf *sc = srv_conf(cmd);
    long v;
    const char *err = parse_int(cmd, arg, 0, 86400 * 30, &v);

    if (err) {
        return err;
    }
    sc->crl_max_stale = apr_time_from_sec(v);
    sc->crl_max_stale_set = 1;
    return NULL;
}

static const char *set_soft_fail(cmd_parms *cmd, void *dconf, int on)
{
    x509authn_srv_conf *sc = srv_conf(cmd);

    sc->soft_fail = on;
    sc->soft_fail_set = 1;
    return NULL;
}

static const char *set_revocation_tls(cmd_parms *cmd, void *dconf, int on)
{
    x509authn_srv_conf *sc = srv_conf(cmd);

    sc->revocation_tls = on;
    sc->revocation_tls_set = 1;
    return NULL;
}

static const char *set_cache(cmd_parms *cmd, void *dconf, const char *spec,
                             const char *seconds)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    const char *sep, *name;
    long v;

    if (err) {
        return err;
    }
    if (seconds) {
        if ((err = parse_int(cmd, seconds, 1, 86400 * 30, &v))) {
            return err;
        }
        x509authn_global.ttl = apr_time_from_sec(v);
    }
    x509authn_global.cache_at = x509authn_directive_at(cmd);
    if (!strcasecmp(spec, "none")) {
        x509authn_global.disabled = 1;
        x509authn_global.provider = NULL;
        return NULL;
    }
    sep = ap_strchr_c(spec, ':');
    name = sep ? apr_pstrmemdup(cmd->pool, spec, sep - spec) : spec;
    x509authn_global.provider_args = sep ? sep + 1 : NULL;
    x509authn_global.provider_name = name;
    x509authn_global.provider = ap_lookup_provider(AP_SOCACHE_PROVIDER_GROUP,
                                                   name,
                                                   AP_SOCACHE_PROVIDER_VERSION);
    if (!x509authn_global.provider) {
        return directive_error(cmd, apr_psprintf(cmd->pool,
                               "unknown cache provider '%s': load its module "
                               "(mod_socache_%s) first, or use none", name,
                               name));
    }
    x509authn_global.disabled = 0;
    return NULL;
}

static const char *set_cache_entries(cmd_parms *cmd, void *dconf,
                                     const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    long v;

    if (err || (err = parse_int(cmd, arg, 0, 1000000, &v))) {
        return err;
    }
    x509authn_global.entries = (int)v;
    return NULL;
}

static const char *set_cache_max_bytes(cmd_parms *cmd, void *dconf,
                                       const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    char *end;
    apr_int64_t n, unit, max = APR_INT64_C(64) * 1024 * 1024 * 1024;

    if (err) {
        return err;
    }
    /* bytes, or KiB, MiB, GiB with K, M, G */
    errno = 0;
    n = apr_strtoi64(arg, &end, 10);
    unit = !*end ? 1
           : !strcasecmp(end, "K") ? 1024
           : !strcasecmp(end, "M") ? 1024 * 1024
           : !strcasecmp(end, "G") ? 1024 * 1024 * 1024 : 0;
    if (end == arg || errno || n < 0 || !unit || n > max / unit) {
        return directive_error(cmd, apr_psprintf(
            cmd->pool, "'%s' is not a number of bytes (with K, M or G; at "
            "most 64G; 0 for no bound)", arg));
    }
    x509authn_global.cache_bytes = (apr_size_t)(n * unit);
    return NULL;
}

static const char *set_cache_secret(cmd_parms *cmd, void *dconf,
                                    const char *file, const char *previous)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    const char *names[2];
    x509a_record_key *keys[2] = { NULL, NULL };
    int i;

    if (err) {
        return err;
    }
    names[0] = file;
    names[1] = previous;
    /* read and checked here, so that configtest says what is wrong */
    for (i = 0; i < 2 && names[i]; i++) {
        const char *path = ap_server_root_relative(cmd->pool, names[i]);

        if (!path) {
            return directive_error(cmd, apr_psprintf(cmd->pool,
                                   "invalid file name '%s'", names[i]));
        }
        if ((err = x509a_record_key_load(cmd->pool, path, &keys[i]))) {
            return directive_error(cmd, err);
        }
    }
    x509authn_global.record_key = keys[0];
    x509authn_global.record_key_prev = keys[1];
    return NULL;
}

static const char *set_crl_warn(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    long v;

    if (err || (err = parse_int(cmd, arg, 0, 3650, &v))) {
        return err;
    }
    x509authn_global.crl_warn = apr_time_from_sec((apr_time_t)v * 86400);
    return NULL;
}

static const char *set_expiry_warn(cmd_parms *cmd, void *dconf,
                                   const char *days, const char *max)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    long v, n = X509AUTHN_DEFAULT_EXPIRY_MAX;

    if (err || (err = parse_int(cmd, days, 0, 3650, &v))
        || (max && (err = parse_int(cmd, max, 1, 10000, &n)))) {
        return err;
    }
    x509authn_global.expiry_warn = apr_time_from_sec((apr_time_t)v * 86400);
    x509authn_global.expiry_max = (int)n;
    return NULL;
}

static const char *set_cache_timeout(cmd_parms *cmd, void *dconf,
                                     const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    long v;

    if (err || (err = parse_int(cmd, arg, 1, 10000, &v))) {
        return err;
    }
    x509authn_global.cache_timeout = apr_time_from_msec(v);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Directive table                                                          */
/* ------------------------------------------------------------------------ */

#define RULE(name, kind, help) \
    AP_INIT_ITERATE(name, add_rule, (void *)(apr_uintptr_t)(kind), \
                    OR_AUTHCFG, help)

const command_rec x509authn_cmds[] = {
    /* directory scope */
    AP_INIT_FLAG("X509Authn", set_enabled, NULL, OR_AUTHCFG,
                 "On to try the client certificate first under another "
                 "AuthType (e.g. Basic): an accepted certificate logs in, "
                 "otherwise that AuthType's module takes over."),
    AP_INIT_TAKE1("X509AuthnSource", set_source, NULL, OR_AUTHCFG,
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
         "Files of PEM CA certificates: the verified path must pass "
         "through one of them (compared by certificate, not by name)."),
    RULE("X509AuthnRequireEKU", X509A_RULE_EKU,
         "Extended key usages accepted, by name (clientAuth) or OID; the "
         "certificate must list one of them."),
    RULE("X509AuthnRequirePolicy", X509A_RULE_POLICY,
         "Certificate policy OIDs accepted: the verified path must be valid "
         "for one of them (RFC 5280 policy processing, explicit policy)."),
    AP_INIT_TAKE1("X509AuthnMaxDepth", add_rule,
                  (void *)(apr_uintptr_t)X509A_RULE_MAX_DEPTH, OR_AUTHCFG,
                  "The most CA certificates the verified path may hold above "
                  "the client certificate, trust anchor included (as "
                  "SSLVerifyDepth counts), checked for every request of "
                  "either source."),
    RULE("X509AuthnRequireSPKI", X509A_RULE_SPKI,
         "Public key pins accepted: sha256: and the hex or base64 SHA-256 "
         "of the SubjectPublicKeyInfo."),
    AP_INIT_TAKE12("X509AuthnUser", add_user, NULL, OR_AUTHCFG,
                   "The certificate field that becomes the user name "
                   "(subject, subject-legacy, cn, subject:ATTR, email, upn, "
                   "uri, dns, serial, issuer+serial, sha256), optionally "
                   "with a regular expression whose one capture is the name; "
                   "several lines are tried in order."),
    AP_INIT_TAKE1("X509AuthnUserMap", set_user_map, NULL, OR_AUTHCFG,
                  "A file of explicit certificate-to-user mappings "
                  "(fingerprint, issuer-serial, issuer-subject lines), tried "
                  "before X509AuthnUser; the first matching line wins."),
    AP_INIT_FLAG("X509AuthnUserMapRequired", set_user_map_required, NULL,
                 OR_AUTHCFG,
                 "On to refuse certificates that X509AuthnUserMap does not "
                 "map, instead of trying X509AuthnUser."),
    AP_INIT_FLAG("X509AuthnExportCert", set_export_cert, NULL, OR_AUTHCFG,
                 "On to also export X509_CLIENT_CERT and "
                 "X509_CLIENT_CERT_CHAIN_n (PEM)."),
    AP_INIT_FLAG("X509AuthnExportSSLVars", set_export_ssl_vars, NULL,
                 OR_AUTHCFG,
                 "On to also export mod_ssl's SSL_CLIENT_* names for "
                 "certificates forwarded by a trusted proxy."),

    /* server scope: trusted proxies and forwarded certificates */
    AP_INIT_ITERATE("X509AuthnTrustedProxy", add_trusted_proxy, NULL,
                    RSRC_CONF,
                    "Addresses or CIDR subnets of proxies allowed to forward "
                    "client certificates, decided on the TCP peer."),
    AP_INIT_TAKE2("X509AuthnProxyRequire", add_proxy_require, NULL, RSRC_CONF,
                  "A condition on the proxy's own TLS client certificate: "
                  "issuer|subject|serial|sha1|sha256 and a value; every line "
                  "must match."),
    AP_INIT_TAKE12("X509AuthnHeader", set_header, NULL, RSRC_CONF,
                   "The header carrying the client certificate and its "
                   "format: auto (default), pem, der-base64, list, rfc9440, "
                   "xfcc or xfcc-append."),
    AP_INIT_TAKE1("X509AuthnChainHeader", set_chain_header, NULL, RSRC_CONF,
                  "The header carrying intermediates (RFC 9440 list or PEM "
                  "bundle), or PREFIX* for numbered headers PREFIX0, "
                  "PREFIX1, ..."),
    AP_INIT_FLAG("X509AuthnHeaderVerify", set_verify, NULL, RSRC_CONF,
                 "Off to trust the proxy's verification of forwarded "
                 "certificates instead of verifying them here (default On)."),
    AP_INIT_TAKE1("X509AuthnCACertificateFile", set_trust_file, NULL,
                  RSRC_CONF,
                  "PEM file of the CA certificates forwarded certificates "
                  "must chain to."),
    AP_INIT_TAKE1("X509AuthnCACertificatePath", set_trust_file, NULL,
                  RSRC_CONF,
                  "Hashed directory (c_rehash) of CA certificates forwarded "
                  "certificates must chain to."),
    AP_INIT_TAKE1("X509AuthnCARevocationFile", set_trust_file, NULL,
                  RSRC_CONF,
                  "PEM file of CRLs, checked for every CA of the chain; "
                  "reloaded when it changes."),
    AP_INIT_TAKE12("X509AuthnCARevocationCheck", set_crl_check, NULL,
                   RSRC_CONF,
                   "Which certificates of a forwarded chain need a CRL: "
                   "chain (default), leaf or none, optionally followed by "
                   "no_crl_for_cert_ok (a CA without a CRL is accepted)."),
    AP_INIT_TAKE1("X509AuthnVerifyDepth", set_depth, NULL, RSRC_CONF,
                  "Maximum number of intermediate CAs in a forwarded chain."),
    AP_INIT_TAKE1("X509AuthnHeaderMaxSize", set_max_len, NULL, RSRC_CONF,
                  "Forwarded-certificate header values longer than this many "
                  "bytes are refused (default 16384)."),
    AP_INIT_TAKE12("X509AuthnCache", set_cache, NULL, RSRC_CONF,
                   "Shared cache of verification results: PROVIDER[:ARGS] "
                   "of mod_socache (shmcb, redis, memcache, ...) or none, "
                   "and how many seconds results are kept (default 300)."),
    AP_INIT_TAKE1("X509AuthnCacheEntries", set_cache_entries, NULL, RSRC_CONF,
                  "How many forwarded certificates each server process keeps "
                  "decoded and verified (default 2048, 0 for none)."),
    AP_INIT_TAKE1("X509AuthnCacheMaxBytes", set_cache_max_bytes, NULL,
                  RSRC_CONF,
                  "How much memory the certificates each server process "
                  "keeps (X509AuthnCacheEntries) may take together, "
                  "estimated: bytes, or with K, M or G (default 64M, 0 for "
                  "no bound)."),
    AP_INIT_TAKE12("X509AuthnCacheSecret", set_cache_secret, NULL, RSRC_CONF,
                   "File of the secret (at least 32 random bytes, or 64 hex "
                   "digits) that authenticates shared-cache records, and "
                   "optionally the previous one, still accepted while a "
                   "fleet rotates; required for caches other than shmcb."),
    AP_INIT_TAKE1("X509AuthnCacheTimeout", set_cache_timeout, NULL, RSRC_CONF,
                  "Milliseconds a request waits for a networked shared cache "
                  "(redis, memcache, ...) before verifying locally; a server "
                  "that fails or hangs is left alone for a while (default "
                  "50)."),
    AP_INIT_TAKE1("X509AuthnCRLWarn", set_crl_warn, NULL, RSRC_CONF,
                  "Days before a CRL's nextUpdate to warn, once a day, that "
                  "it must be replaced (default 7; 0: only once it has "
                  "passed)."),
    AP_INIT_TAKE12("X509AuthnExpiryWarn", set_expiry_warn, NULL, RSRC_CONF,
                   "Days: client certificates that log in and expire within "
                   "this many days are listed on the status page and logged "
                   "once a day (default 30; 0: off), and optionally how many "
                   "are listed at most (default 50)."),
    AP_INIT_FLAG("X509AuthnCRLFetch", set_crl_fetch, NULL, RSRC_CONF,
                 "On to fetch, over HTTP, the CRLs that the certificates of "
                 "a verified forwarded chain name (CRL distribution points, "
                 "freshestCRL), keep them and refresh them before their "
                 "nextUpdate (default Off)."),
    AP_INIT_TAKE1("X509AuthnCRLCacheDir", set_crl_cache_dir, NULL, RSRC_CONF,
                  "Directory, writable by the server's User, where fetched "
                  "CRLs are kept for the other processes and restarts."),
    AP_INIT_TAKE1("X509AuthnCRLMaxStale", set_crl_max_stale, NULL, RSRC_CONF,
                  "Seconds past its nextUpdate a fetched CRL is still used "
                  "when no newer one can be fetched (default 0)."),
    AP_INIT_FLAG("X509AuthnRevocationSoftFail", set_soft_fail, NULL,
                 RSRC_CONF,
                 "On to accept certificates whose revocation status cannot "
                 "be determined (CRL distribution point or OCSP responder "
                 "unreachable, CRL stale); Off refuses them (default)."),
    AP_INIT_FLAG("X509AuthnRevocationTLS", set_revocation_tls, NULL,
                 RSRC_CONF,
                 "On to check client certificates that mod_ssl verified "
                 "with X509AuthnOCSP and X509AuthnCRLFetch too (needs "
                 "X509AuthnCACertificateFile); Off leaves them to mod_ssl "
                 "(default)."),
    /* OCSP (setters in x509authn_ocsp.c) */
    AP_INIT_TAKE1("X509AuthnOCSP", x509authn_set_ocsp, NULL, RSRC_CONF,
                  "OCSP for forwarded certificates: off (default), leaf, "
                  "chain (on)."),
    AP_INIT_TAKE1("X509AuthnOCSPDefaultResponder", x509authn_set_ocsp,
                  NULL, RSRC_CONF,
                  "OCSP responder URL for certificates that name none."),
    AP_INIT_FLAG("X509AuthnOCSPOverrideResponder", x509authn_set_ocsp_flag,
                 NULL, RSRC_CONF,
                 "On to ask the default responder for every certificate."),
    AP_INIT_TAKE1("X509AuthnOCSPResponderCertificateFile",
                  x509authn_set_ocsp, NULL, RSRC_CONF,
                  "PEM file of OCSP responder certificates trusted as "
                  "signers of responses."),
    AP_INIT_TAKE1("X509AuthnOCSPTimeout", x509authn_set_ocsp, NULL,
                  RSRC_CONF, "Seconds an OCSP query may take (default 10)."),
    AP_INIT_FLAG("X509AuthnOCSPUseNonce", x509authn_set_ocsp_flag, NULL,
                 RSRC_CONF, "Off to send OCSP requests without a nonce "
                 "(default On)."),
    AP_INIT_TAKE1("X509AuthnOCSPMaxAge", x509authn_set_ocsp, NULL,
                  RSRC_CONF, "Oldest OCSP response (since thisUpdate) "
                  "accepted, in seconds (default: none, nextUpdate rules)."),
    AP_INIT_TAKE1("X509AuthnOCSPTimeSkew", x509authn_set_ocsp, NULL,
                  RSRC_CONF, "Seconds of clock difference allowed on OCSP "
                  "response times (default 300)."),
    {NULL}
};
