/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/*
 * What an operator needs to see coming:
 *
 * - Trust files: every CA and CRL file the module loads, when it was read,
 *   what it holds, and for each CRL its issuer, thisUpdate and nextUpdate.
 *   Past a CRL's nextUpdate every forwarded certificate under its CA is
 *   refused ("CRL has expired"), so the parent process checks the CRLs every
 *   few seconds (ap_hook_monitor: one process, not every child) and logs a
 *   warning X509AuthnCRLWarn days before nextUpdate and an error once it
 *   has passed, each once a day (the day's log state is retained across
 *   restarts).
 *
 * - Client certificates about to expire: logins whose certificate expires
 *   within X509AuthnExpiryWarn days go into a small table in shared memory
 *   (kept across graceful restarts like the counters), listed on the status
 *   page, counted by a gauge and logged once a day per certificate.  The
 *   table's lock is a spin lock in the segment: it works across children
 *   and generations, and a writer that cannot take it soon skips the update
 *   rather than delay a request.
 */

#include "x509authn.h"
#include "x509a_crlfetch.h"

#include "http_protocol.h"
#include "http_main.h"
#include "ap_mpm.h"
#include "mpm_common.h"
#include "mod_status.h"
#include "unixd.h"

#include "apr_atomic.h"
#include "apr_hash.h"
#include "apr_shm.h"
#include "apr_strings.h"
#include "apr_thread_proc.h"

APLOG_USE_MODULE(x509authn);

/* ------------------------------------------------------------------------ */
/* Trust files                                                              */
/* ------------------------------------------------------------------------ */

/** A trust store in use, and the servers it serves. */
typedef struct {
    x509a_verifier *verifier;
    const char *servers;        /* "host:port, ..." */
} health_store;

/* this generation's stores (pconf) */
static apr_array_header_t *health_stores;

/* What the parent has logged, kept across generations (retained data):
 * "level|file|issuer|delta|nextUpdate" -> the day it was logged. */
typedef struct {
    apr_pool_t *pool;
    apr_hash_t *logged;
    apr_time_t next_check;
} health_retained;

#define HEALTH_RETAINED_KEY "mod_x509authn-health"
#define DAY apr_time_from_sec(86400)
/* how often the parent looks at the CRL files (a stat, and a reload when
 * one changed); its maintenance loop calls the monitor hook about every
 * ten seconds */
#define CHECK_INTERVAL apr_time_from_sec(10)

static health_retained *health_rd;

/* Once a day per key: non-zero when it is time to log it again. */
static int once_a_day(const char *key, apr_time_t now)
{
    apr_time_t *last = apr_hash_get(health_rd->logged, key,
                                    APR_HASH_KEY_STRING);

    if (last && now - *last < DAY) {
        return 0;
    }
    if (!last) {
        last = apr_palloc(health_rd->pool, sizeof(*last));
        apr_hash_set(health_rd->logged, apr_pstrdup(health_rd->pool, key),
                     APR_HASH_KEY_STRING, last);
    }
    *last = now;
    return 1;
}

static const char *fmt_time(apr_pool_t *p, apr_time_t t)
{
    return t ? ap_ht_time(p, t, "%Y-%m-%d %H:%M:%S GMT", 1) : "-";
}

/* Look at every CRL in use: reload changed files, then warn or complain,
 * once a day each.  In the parent only. */
static void check_crls(apr_pool_t *p, server_rec *s, apr_time_t now)
{
    int i, j;

    for (i = 0; health_stores && i < health_stores->nelts; i++) {
        health_store *hs = &APR_ARRAY_IDX(health_stores, i, health_store);
        x509a_verifier_health h;

        /* a replaced file is looked at as the children will see it */
        x509a_verifier_refresh(hs->verifier, now, NULL);
        x509a_verifier_health_get(hs->verifier, p, &h);
        if (!h.crl_file) {
            continue;
        }
        if (h.broken
            && once_a_day(apr_pstrcat(p, "broken|", h.crl_file, NULL), now)) {
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, X509A_LOGNO(0713)
                         "X509AuthnCARevocationFile %s is unusable (%s): "
                         "every forwarded certificate is refused in %s "
                         "until it is repaired", h.crl_file, h.broken,
                         hs->servers);
        }
        for (j = 0; j < h.crls->nelts; j++) {
            const x509a_crl_health *c = &APR_ARRAY_IDX(h.crls, j,
                                                       x509a_crl_health);
            const char *key;

            if (!c->next_update) {
                continue;
            }
            key = apr_psprintf(p, "%s|%d|%" APR_TIME_T_FMT, c->issuer,
                               c->delta, c->next_update);
            if (now >= c->next_update) {
                if (once_a_day(apr_pstrcat(p, "passed|", h.crl_file, "|", key,
                                           NULL), now)) {
                    ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                                 X509A_LOGNO(0710)
                                 "the %sCRL of %s in %s passed its "
                                 "nextUpdate on %s: forwarded certificates "
                                 "under that CA are refused in %s until a "
                                 "newer CRL replaces it",
                                 c->delta ? "delta " : "", c->issuer,
                                 h.crl_file, fmt_time(p, c->next_update),
                                 hs->servers);
                }
            }
            else if (c->next_update - now <= x509authn_global.crl_warn
                     && once_a_day(apr_pstrcat(p, "soon|", h.crl_file, "|",
                                               key, NULL), now)) {
                ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                             X509A_LOGNO(0711)
                             "the %sCRL of %s in %s reaches its nextUpdate "
                             "on %s (in %" APR_TIME_T_FMT " hours): replace "
                             "it before then, or forwarded certificates "
                             "under that CA will be refused in %s",
                             c->delta ? "delta " : "", c->issuer, h.crl_file,
                             fmt_time(p, c->next_update),
                             apr_time_sec(c->next_update - now) / 3600,
                             hs->servers);
            }
        }
    }
}

/* The parent's maintenance loop calls this about every ten seconds. */
static int health_monitor(apr_pool_t *p, server_rec *s)
{
    apr_time_t now = apr_time_now();
    apr_pool_t *tmp;

    if (!health_rd || now < health_rd->next_check) {
        return DECLINED;
    }
    health_rd->next_check = now + CHECK_INTERVAL;
    if (apr_pool_create(&tmp, p) == APR_SUCCESS) {
        check_crls(tmp, s, now);
        apr_pool_destroy(tmp);
    }
    return DECLINED;
}

/* ------------------------------------------------------------------------ */
/* Client certificates about to expire                                      */
/* ------------------------------------------------------------------------ */

/** One listed certificate. */
typedef struct {
    unsigned char sha256[32];
    apr_time_t not_after;
    apr_time_t first_seen;
    apr_time_t last_seen;       /* 0: a free slot */
    apr_time_t logged;          /* the last info line about it */
    apr_uint64_t requests;
    char subject[256];
    char issuer[256];
    char serial[72];
    char source[8];
} expiry_entry;

/** The list in shared memory. */
typedef struct {
    apr_uint32_t lock;          /* 0: free, 1: held */
    apr_uint32_t max;
    apr_uint64_t unlisted;      /* logins not listed: the list was full */
    expiry_entry e[1];
} expiry_table;

#define TABLE_SIZE(n) (APR_OFFSETOF(expiry_table, e) \
                       + (apr_size_t)(n) * sizeof(expiry_entry))

typedef struct {
    apr_shm_t *shm;
    int max;
} expiry_retained;

#define EXPIRY_RETAINED_KEY "mod_x509authn-expiry"

static expiry_table *expiry;    /* NULL: no list */

/* A spin lock that gives up: a status display must never hold a login. */
static int table_lock(void)
{
    int i;

    for (i = 0; i < 200; i++) {
        if (apr_atomic_cas32(&expiry->lock, 1, 0) == 0) {
            return 1;
        }
        apr_thread_yield();
    }
    return 0;
}

static void table_unlock(void)
{
    apr_atomic_xchg32(&expiry->lock, 0);
}

static void copy_text(char *dst, apr_size_t size, const char *src)
{
    apr_cpystrn(dst, src ? src : "", size);
}

void x509authn_expiry_seen(request_rec *r, x509authn_entry *e,
                           x509authn_source source)
{
    time_t not_after_s;
    apr_time_t not_after, now = r->request_time;
    expiry_entry *slot = NULL, *free_slot = NULL, *latest = NULL;
    const unsigned char *sha;
    int i, log_it = 0, listed = 1;

    if (!expiry) {
        return;
    }
    x509a_cert_validity(e->cert, NULL, &not_after_s);
    not_after = apr_time_from_sec((apr_time_t)not_after_s);
    if (not_after - now > x509authn_global.expiry_warn) {
        return;
    }
    /* rare from here on: a certificate in its last days */
    if (!(sha = x509a_cert_digest(e->cert, X509A_DIGEST_SHA256))
        || !table_lock()) {
        return;
    }
    for (i = 0; i < (int)expiry->max; i++) {
        expiry_entry *x = &expiry->e[i];

        if (!x->last_seen || now - x->last_seen > DAY) {
            if (!free_slot) {
                free_slot = x;  /* free, or not seen for a day */
            }
        }
        else if (!memcmp(x->sha256, sha, 32)) {
            slot = x;
            break;
        }
        else if (!latest || x->not_after > latest->not_after) {
            latest = x;
        }
    }
    if (!slot) {
        /* a new one: a free slot, else the place of the listed certificate
         * that expires last, if this one expires before it */
        slot = free_slot ? free_slot
               : latest && latest->not_after > not_after ? latest : NULL;
        if (slot) {
            memcpy(slot->sha256, sha, 32);
            slot->not_after = not_after;
            slot->first_seen = now;
            slot->requests = 0;
            slot->logged = 0;
            copy_text(slot->subject, sizeof(slot->subject),
                      x509a_cert_subject(e->cert));
            copy_text(slot->issuer, sizeof(slot->issuer),
                      x509a_cert_issuer(e->cert));
            copy_text(slot->serial, sizeof(slot->serial),
                      x509a_cert_serial_hex(e->cert));
            copy_text(slot->source, sizeof(slot->source),
                      x509authn_source_name(source));
        }
    }
    if (!slot) {
        expiry->unlisted++;
        listed = 0;
    }
    else {
        slot->last_seen = now;
        slot->requests++;
        if (now - slot->logged >= DAY) {
            slot->logged = now;
            log_it = 1;
        }
    }
    table_unlock();
    if (log_it || (!listed && APLOG_R_IS_LEVEL(r, APLOG_DEBUG))) {
        long days = (long)(apr_time_sec(not_after - now) / 86400);

        ap_log_rerror(APLOG_MARK, log_it ? APLOG_INFO : APLOG_DEBUG, 0, r,
                      X509A_LOGNO(0712) "client certificate %s (issuer %s, "
                      "serial %s) %s on %s (%ld days); user \"%s\", client "
                      "%s%s", x509a_cert_subject(e->cert),
                      x509a_cert_issuer(e->cert),
                      x509a_cert_serial_hex(e->cert),
                      not_after > now ? "expires" : "expired",
                      fmt_time(r->pool, not_after), days,
                      r->user ? r->user : "", r->useragent_ip,
                      listed ? "" : " (not listed: the list is full)");
    }
}

/* A copy of the listed certificates seen in the last day, soonest expiry
 * first; NULL when the list could not be read. */
static int by_not_after(const void *a, const void *b)
{
    const expiry_entry *x = a, *y = b;

    return x->not_after < y->not_after ? -1 : x->not_after > y->not_after;
}

static apr_array_header_t *expiry_read(apr_pool_t *p, apr_time_t now,
                                       apr_uint64_t *unlisted)
{
    apr_array_header_t *out;
    int i;

    *unlisted = 0;
    if (!expiry) {
        return NULL;
    }
    out = apr_array_make(p, 8, sizeof(expiry_entry));
    if (!table_lock()) {
        return NULL;
    }
    for (i = 0; i < (int)expiry->max; i++) {
        const expiry_entry *x = &expiry->e[i];

        if (x->last_seen && now - x->last_seen <= DAY) {
            *(expiry_entry *)apr_array_push(out) = *x;
        }
    }
    *unlisted = expiry->unlisted;
    table_unlock();
    qsort(out->elts, out->nelts, sizeof(expiry_entry), by_not_after);
    return out;
}

static const char *expiry_post_config(server_rec *s)
{
    expiry_retained *rd = ap_retained_data_get(EXPIRY_RETAINED_KEY);
    ap_unixd_mpm_retained_data *mpm = ap_unixd_mpm_get_retained_data();
    int max = x509authn_global.expiry_warn > 0 ? x509authn_global.expiry_max
                                               : 0;
    apr_status_t rv;

    if (!rd) {
        rd = ap_retained_data_create(EXPIRY_RETAINED_KEY, sizeof(*rd));
        memset(rd, 0, sizeof(*rd));
    }
    /* kept across a graceful restart of the same size, as the counters */
    if (rd->shm && (rd->max != max || !mpm || !mpm->was_graceful)) {
        apr_shm_destroy(rd->shm);
        rd->shm = NULL;
    }
    expiry = NULL;
    if (!max) {
        return NULL;
    }
    if (!rd->shm) {
        rv = apr_shm_create(&rd->shm, TABLE_SIZE(max), NULL, s->process->pool);
        if (rv != APR_SUCCESS) {
            rd->shm = NULL;
            return apr_psprintf(s->process->pool, "cannot create the shared "
                                "memory for the expiring certificates' list "
                                "(%" APR_SIZE_T_FMT " bytes): nothing is "
                                "listed", TABLE_SIZE(max));
        }
        memset(apr_shm_baseaddr_get(rd->shm), 0, TABLE_SIZE(max));
        rd->max = max;
        ((expiry_table *)apr_shm_baseaddr_get(rd->shm))->max =
            (apr_uint32_t)max;
    }
    expiry = apr_shm_baseaddr_get(rd->shm);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Start-up                                                                 */
/* ------------------------------------------------------------------------ */

static apr_status_t forget_generation(void *data)
{
    health_stores = NULL;
    expiry = NULL;
    return APR_SUCCESS;
}

const char *x509authn_health_post_config(apr_pool_t *pconf, apr_pool_t *ptemp,
                                         server_rec *s)
{
    server_rec *vs;
    int i;

    health_rd = ap_retained_data_get(HEALTH_RETAINED_KEY);
    if (!health_rd) {
        health_rd = ap_retained_data_create(HEALTH_RETAINED_KEY,
                                            sizeof(*health_rd));
        apr_pool_create(&health_rd->pool, s->process->pool);
        health_rd->logged = apr_hash_make(health_rd->pool);
        health_rd->next_check = 0;
    }
    health_stores = apr_array_make(pconf, 4, sizeof(health_store));
    for (vs = s; vs; vs = vs->next) {
        const x509authn_srv_conf *sc = ap_get_module_config(
            vs->module_config, &x509authn_module);
        /* "name:port" of the virtual host's first address */
        const char *name = apr_psprintf(pconf, "%s:%u",
                                        vs->server_hostname
                                        ? vs->server_hostname : "?",
                                        (unsigned)(vs->port ? vs->port
                                                   : vs->addrs
                                                   ? vs->addrs->host_port
                                                   : 0));
        health_store *hs = NULL;

        if (!sc->verifier) {
            continue;
        }
        for (i = 0; i < health_stores->nelts; i++) {
            hs = &APR_ARRAY_IDX(health_stores, i, health_store);
            if (hs->verifier == sc->verifier) {
                break;
            }
            hs = NULL;
        }
        if (hs) {
            if (!ap_strstr_c(hs->servers, name)) {
                hs->servers = apr_pstrcat(pconf, hs->servers, ", ", name,
                                          NULL);
            }
            continue;
        }
        hs = apr_array_push(health_stores);
        hs->verifier = sc->verifier;
        hs->servers = name;
    }
    apr_pool_cleanup_register(pconf, NULL, forget_generation,
                              apr_pool_cleanup_null);
    /* the first look at the CRLs now, not a minute after the start (the
     * day's log state makes the second pass of a start quiet) */
    check_crls(ptemp, s, apr_time_now());
    health_rd->next_check = apr_time_now() + CHECK_INTERVAL;
    return expiry_post_config(s);
}

void x509authn_health_register_hooks(void)
{
    ap_hook_monitor(health_monitor, NULL, NULL, APR_HOOK_MIDDLE);
}

/* ------------------------------------------------------------------------ */
/* Reports                                                                  */
/* ------------------------------------------------------------------------ */

/* A Prometheus label value: backslash, double quote and newline escaped. */
static const char *label(apr_pool_t *p, const char *v)
{
    apr_size_t n = 0;
    const char *s;
    char *out, *d;

    for (s = v; *s; s++) {
        n += (*s == '\\' || *s == '"' || *s == '\n') ? 2 : 1;
    }
    d = out = apr_palloc(p, n + 1);
    for (s = v; *s; s++) {
        if (*s == '\\' || *s == '"') {
            *d++ = '\\';
            *d++ = *s;
        }
        else if (*s == '\n') {
            *d++ = '\\';
            *d++ = 'n';
        }
        else {
            *d++ = *s;
        }
    }
    *d = '\0';
    return out;
}

/** One trust file and one CRL row, as reported (duplicates removed: a file
 *  shared by several trust stores is reported once). */
typedef struct {
    const char *file, *kind;
    apr_time_t loaded_at;
    int entries;
    int usable;
} file_row;

typedef struct {
    const char *file;
    const x509a_crl_health *crl;
} crl_row;

static void collect(request_rec *r, apr_array_header_t *files,
                    apr_array_header_t *crls)
{
    apr_hash_t *seen = apr_hash_make(r->pool);
    apr_time_t now = apr_time_now();
    server_rec *s;
    int i, j;

    for (i = 0; health_stores && i < health_stores->nelts; i++) {
        health_store *hs = &APR_ARRAY_IDX(health_stores, i, health_store);
        x509a_verifier_health *h = apr_pcalloc(r->pool, sizeof(*h));
        const char *key;
        file_row *f;

        /* this child's view, current */
        x509a_verifier_refresh(hs->verifier, now, NULL);
        x509a_verifier_health_get(hs->verifier, r->pool, h);
        if (h->ca_file
            && !apr_hash_get(seen, key = apr_pstrcat(r->pool, "ca|",
                                                     h->ca_file, NULL),
                             APR_HASH_KEY_STRING)) {
            apr_hash_set(seen, key, APR_HASH_KEY_STRING, "");
            f = apr_array_push(files);
            f->file = h->ca_file;
            f->kind = "ca";
            f->loaded_at = h->ca_loaded_at;
            f->entries = h->ca_certs;
            f->usable = 1;
        }
        if (h->ca_path
            && !apr_hash_get(seen, key = apr_pstrcat(r->pool, "path|",
                                                     h->ca_path, NULL),
                             APR_HASH_KEY_STRING)) {
            apr_hash_set(seen, key, APR_HASH_KEY_STRING, "");
            f = apr_array_push(files);
            f->file = h->ca_path;
            f->kind = "ca-path";
            f->loaded_at = h->ca_loaded_at;
            f->entries = -1;    /* looked up on demand */
            f->usable = 1;
        }
        if (!h->crl_file
            || apr_hash_get(seen, key = apr_pstrcat(r->pool, "crl|",
                                                    h->crl_file, NULL),
                            APR_HASH_KEY_STRING)) {
            continue;
        }
        apr_hash_set(seen, key, APR_HASH_KEY_STRING, "");
        f = apr_array_push(files);
        f->file = h->crl_file;
        f->kind = "crl";
        f->loaded_at = h->crl_loaded_at;
        f->entries = h->crls->nelts;
        f->usable = h->broken == NULL;
        for (j = 0; j < h->crls->nelts; j++) {
            const x509a_crl_health *c = &APR_ARRAY_IDX(h->crls, j,
                                                       x509a_crl_health);
            crl_row *row;

            key = apr_psprintf(r->pool, "%s|%s|%d", h->crl_file, c->issuer,
                               c->delta);
            if (apr_hash_get(seen, key, APR_HASH_KEY_STRING)) {
                continue;       /* an older CRL of the same issuer */
            }
            apr_hash_set(seen, key, APR_HASH_KEY_STRING, "");
            row = apr_array_push(crls);
            row->file = h->crl_file;
            row->crl = c;
        }
    }
    /* the CRLs this child fetched (X509AuthnCRLFetch): "file" is the URL */
    for (s = ap_server_conf; s; s = s->next) {
        const x509authn_srv_conf *sc = ap_get_module_config(
            s->module_config, &x509authn_module);
        apr_array_header_t *fetched;
        const char *key;

        if (!sc->crlstore
            || apr_hash_get(seen, key = apr_psprintf(r->pool, "store|%pp",
                                                     (void *)sc->crlstore),
                            APR_HASH_KEY_STRING)) {
            continue;
        }
        apr_hash_set(seen, key, APR_HASH_KEY_STRING, "");
        fetched = x509a_crlstore_health(sc->crlstore, r->pool);
        for (j = 0; j < fetched->nelts; j++) {
            x509a_fetched_crl *fc = &APR_ARRAY_IDX(fetched, j,
                                                   x509a_fetched_crl);
            file_row *f;
            crl_row *row;

            if (apr_hash_get(seen, key = apr_pstrcat(r->pool, "url|", fc->url,
                                                     NULL),
                             APR_HASH_KEY_STRING)) {
                continue;
            }
            apr_hash_set(seen, key, APR_HASH_KEY_STRING, "");
            f = apr_array_push(files);
            f->file = fc->url;
            f->kind = "crl-fetched";
            f->loaded_at = fc->fetched_at;
            f->entries = fc->crl.issuer ? 1 : 0;
            f->usable = fc->crl.issuer != NULL;
            if (fc->crl.issuer) {
                row = apr_array_push(crls);
                row->file = fc->url;
                row->crl = &fc->crl;
            }
        }
    }
}

static const char *crl_state(apr_pool_t *p, const x509a_crl_health *c,
                             apr_time_t now)
{
    if (!c->next_update) {
        return "no nextUpdate";
    }
    if (now >= c->next_update) {
        return "PASSED";
    }
    if (c->next_update - now <= x509authn_global.crl_warn) {
        return apr_psprintf(p, "due in %" APR_TIME_T_FMT " h",
                            apr_time_sec(c->next_update - now) / 3600);
    }
    return "ok";
}

void x509authn_health_status(request_rec *r, int flags)
{
    apr_array_header_t *files = apr_array_make(r->pool, 4, sizeof(file_row));
    apr_array_header_t *crls = apr_array_make(r->pool, 4, sizeof(crl_row));
    apr_array_header_t *certs;
    apr_uint64_t unlisted;
    apr_time_t now = apr_time_now(), earliest = 0;
    int i, passed = 0, soon = 0;

    collect(r, files, crls);
    certs = expiry_read(r->pool, now, &unlisted);
    for (i = 0; i < crls->nelts; i++) {
        const x509a_crl_health *c = APR_ARRAY_IDX(crls, i, crl_row).crl;

        if (!c->next_update) {
            continue;
        }
        if (!earliest || c->next_update < earliest) {
            earliest = c->next_update;
        }
        if (now >= c->next_update) {
            passed++;
        }
        else if (c->next_update - now <= x509authn_global.crl_warn) {
            soon++;
        }
    }
    if (flags & AP_STATUS_SHORT) {
        ap_rprintf(r, "X509AuthnTrustFiles: %d\n", files->nelts);
        ap_rprintf(r, "X509AuthnCRLs: %d\n", crls->nelts);
        ap_rprintf(r, "X509AuthnCRLsPassed: %d\n", passed);
        ap_rprintf(r, "X509AuthnCRLsDueSoon: %d\n", soon);
        if (earliest) {
            ap_rprintf(r, "X509AuthnCRLNextUpdateEarliest: %" APR_TIME_T_FMT
                       "\n", apr_time_sec(earliest));
        }
        if (certs) {
            ap_rprintf(r, "X509AuthnExpiringClientCertificates: %d\n",
                       certs->nelts);
        }
        return;
    }
    ap_rputs("<h3>Trust files</h3>\n<table border=\"1\" "
             "id=\"x509authn-trust-files\">\n<tr><th>file</th><th>kind</th>"
             "<th>loaded at</th><th>entries</th><th>state</th></tr>\n", r);
    for (i = 0; i < files->nelts; i++) {
        const file_row *f = &APR_ARRAY_IDX(files, i, file_row);

        ap_rprintf(r, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td>"
                   "<td>%s</td></tr>\n", ap_escape_html(r->pool, f->file),
                   f->kind, fmt_time(r->pool, f->loaded_at),
                   f->entries < 0 ? "-" : apr_itoa(r->pool, f->entries),
                   f->usable ? "ok" : "UNUSABLE");
    }
    ap_rputs("</table>\n<table border=\"1\" id=\"x509authn-crls\">\n"
             "<tr><th>file</th><th>issuer</th><th>kind</th>"
             "<th>thisUpdate</th><th>nextUpdate</th><th>revoked</th>"
             "<th>state</th></tr>\n", r);
    for (i = 0; i < crls->nelts; i++) {
        const crl_row *row = &APR_ARRAY_IDX(crls, i, crl_row);

        ap_rprintf(r, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td>"
                   "<td>%s</td><td>%d</td><td>%s</td></tr>\n",
                   ap_escape_html(r->pool, row->file),
                   ap_escape_html(r->pool, row->crl->issuer),
                   row->crl->delta ? "delta" : "base",
                   fmt_time(r->pool, row->crl->this_update),
                   fmt_time(r->pool, row->crl->next_update),
                   row->crl->entries, crl_state(r->pool, row->crl, now));
    }
    ap_rputs("</table>\n", r);
    if (!certs) {
        ap_rputs("<p>Expiring client certificates: not listed "
                 "(X509AuthnExpiryWarn 0).</p>\n", r);
        return;
    }
    ap_rprintf(r, "<h3>Client certificates that expire within %"
               APR_TIME_T_FMT " days, seen in the last 24 hours</h3>\n",
               apr_time_sec(x509authn_global.expiry_warn) / 86400);
    ap_rputs("<table border=\"1\" id=\"x509authn-expiring\">\n"
             "<tr><th>subject</th><th>issuer</th><th>serial</th>"
             "<th>notAfter</th><th>days left</th><th>source</th>"
             "<th>last seen</th><th>requests</th></tr>\n", r);
    for (i = 0; i < certs->nelts; i++) {
        const expiry_entry *x = &APR_ARRAY_IDX(certs, i, expiry_entry);

        ap_rprintf(r, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td>"
                   "<td>%" APR_TIME_T_FMT "</td><td>%s</td><td>%s</td>"
                   "<td>%" APR_UINT64_T_FMT "</td></tr>\n",
                   ap_escape_html(r->pool, x->subject),
                   ap_escape_html(r->pool, x->issuer),
                   ap_escape_html(r->pool, x->serial),
                   fmt_time(r->pool, x->not_after),
                   apr_time_sec(x->not_after - now) / 86400,
                   ap_escape_html(r->pool, x->source),
                   fmt_time(r->pool, x->last_seen), x->requests);
    }
    ap_rputs("</table>\n", r);
    if (unlisted) {
        ap_rprintf(r, "<p>%" APR_UINT64_T_FMT " logins with expiring "
                   "certificates were not listed: the list (%d) was full of "
                   "certificates that expire sooner.</p>\n", unlisted,
                   x509authn_global.expiry_max);
    }
}

/* The Prometheus gauges of the trust files and CRLs: name, help, and the
 * value of a row (zero: the row has none). */
static int file_loaded(const file_row *f, apr_int64_t *v)
{
    *v = apr_time_sec(f->loaded_at);
    return 1;
}

static int file_entries(const file_row *f, apr_int64_t *v)
{
    *v = f->entries;
    return f->entries >= 0;
}

static int file_usable(const file_row *f, apr_int64_t *v)
{
    *v = f->usable;
    return 1;
}

typedef struct {
    const char *name, *help;
    int (*value)(const file_row *f, apr_int64_t *v);
} file_gauge;

static const file_gauge file_gauges[] = {
    { "x509authn_trust_file_loaded_timestamp_seconds",
      "When each CA or CRL file in use was read.", file_loaded },
    { "x509authn_trust_file_entries",
      "Certificates (CA file) or CRLs (CRL file) loaded from each trust "
      "file.", file_entries },
    { "x509authn_trust_file_usable",
      "0 while a CRL file cannot be read or parsed (every forwarded "
      "certificate is refused).", file_usable },
    { NULL }
};

static int crl_next_update(const x509a_crl_health *c, apr_int64_t *v)
{
    *v = apr_time_sec(c->next_update);
    return c->next_update != 0;
}

static int crl_this_update(const x509a_crl_health *c, apr_int64_t *v)
{
    *v = apr_time_sec(c->this_update);
    return 1;
}

static int crl_entries(const x509a_crl_health *c, apr_int64_t *v)
{
    *v = c->entries;
    return 1;
}

typedef struct {
    const char *name, *help;
    int (*value)(const x509a_crl_health *c, apr_int64_t *v);
} crl_gauge;

static const crl_gauge crl_gauges[] = {
    { "x509authn_crl_next_update_timestamp_seconds",
      "nextUpdate of each CRL in use; past it, certificates under its CA "
      "are refused.", crl_next_update },
    { "x509authn_crl_this_update_timestamp_seconds",
      "thisUpdate of each CRL in use.", crl_this_update },
    { "x509authn_crl_revoked_entries",
      "Certificates each CRL in use revokes.", crl_entries },
    { NULL }
};

void x509authn_health_metrics(request_rec *r)
{
    apr_array_header_t *files = apr_array_make(r->pool, 4, sizeof(file_row));
    apr_array_header_t *crls = apr_array_make(r->pool, 4, sizeof(crl_row));
    apr_array_header_t *certs;
    apr_uint64_t unlisted;
    const file_gauge *g;
    const crl_gauge *c;
    apr_int64_t v;
    int i;

    collect(r, files, crls);
    certs = expiry_read(r->pool, apr_time_now(), &unlisted);
    for (g = file_gauges; g->name; g++) {
        ap_rprintf(r, "# HELP %s %s\n# TYPE %s gauge\n", g->name, g->help,
                   g->name);
        for (i = 0; i < files->nelts; i++) {
            const file_row *f = &APR_ARRAY_IDX(files, i, file_row);

            if (g->value(f, &v)) {
                ap_rprintf(r, "%s{file=\"%s\",kind=\"%s\"} %" APR_INT64_T_FMT
                           "\n", g->name, label(r->pool, f->file), f->kind, v);
            }
        }
    }
    for (c = crl_gauges; c->name; c++) {
        ap_rprintf(r, "# HELP %s %s\n# TYPE %s gauge\n", c->name, c->help,
                   c->name);
        for (i = 0; i < crls->nelts; i++) {
            const crl_row *row = &APR_ARRAY_IDX(crls, i, crl_row);

            if (c->value(row->crl, &v)) {
                ap_rprintf(r, "%s{issuer=\"%s\",file=\"%s\",crl=\"%s\"} %"
                           APR_INT64_T_FMT "\n", c->name,
                           label(r->pool, row->crl->issuer),
                           label(r->pool, row->file),
                           row->crl->delta ? "delta" : "base", v);
            }
        }
    }
    if (certs) {
        ap_rprintf(r, "# HELP x509authn_expiring_client_certificates Distinct "
                   "client certificates seen in the last 24 hours that expire "
                   "within X509AuthnExpiryWarn (listed on the status page, at "
                   "most %d).\n"
                   "# TYPE x509authn_expiring_client_certificates gauge\n"
                   "x509authn_expiring_client_certificates %d\n",
                   x509authn_global.expiry_max, certs->nelts);
        ap_rprintf(r, "# HELP x509authn_expiring_client_logins_unlisted_total "
                   "Logins with an expiring certificate that the full list "
                   "could not take.\n"
                   "# TYPE x509authn_expiring_client_logins_unlisted_total "
                   "counter\n"
                   "x509authn_expiring_client_logins_unlisted_total %"
                   APR_UINT64_T_FMT "\n", unlisted);
    }
}
