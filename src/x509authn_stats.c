/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/*
 * Counters shared by all children: what the module decided, and how its
 * caches answered.  One slot per scoreboard child slot in a shared memory
 * segment, summed when read; a child adds to its own slot only, but its
 * threads share it (apr_atomic).
 *
 * The segment outlives generations: its address is kept in retained data
 * (the parent's process pool) and children inherit the mapping, so a
 * graceful restart keeps the counts; a full restart (SIGHUP, or a stop and
 * start) begins from zero.  ap_slotmem's shm provider would clear them on
 * every restart, graceful included.
 *
 * Read by mod_status (a "mod_x509authn" section, and X509Authn... lines
 * in ?auto) and by the x509authn-metrics handler (Prometheus text format).
 */

#include "x509authn.h"

#include "http_protocol.h"
#include "ap_mpm.h"
#include "scoreboard.h"
#include "unixd.h"
#include "mod_status.h"

#include "apr_atomic.h"
#include "apr_lib.h"
#include "apr_optional_hooks.h"
#include "apr_shm.h"
#include "apr_strings.h"

APLOG_USE_MODULE(x509authn);

/* Refusal reasons, in the order of the counters; 0: none (accepted). */
static const char *stats_reasons[X509AUTHN_STAT_REASONS];
/* Their names in ?auto: "rule:IssuingCA" -> "RuleIssuingCA". */
static const char *stats_reason_names[X509AUTHN_STAT_REASONS];

/** One child slot: a cache line multiple, so that children do not share
 *  lines. */
typedef struct {
    apr_uint64_t c[X509AUTHN_STAT_COUNT];
} stats_slot;

#define SLOT_SIZE APR_ALIGN(sizeof(stats_slot), 64)

/* What the parent keeps across generations (retained data). */
typedef struct {
    apr_shm_t *shm;
    int slots;
    apr_time_t since;           /* when the counts began */
} stats_retained;

#define RETAINED_KEY "mod_x509authn-stats"

static char *stats_base;        /* the segment, or NULL (no counting) */
static int stats_slots;
static apr_time_t stats_since;
/* this child's slot (read once per child: a benign race between threads,
 * which all find the same value) */
static int my_slot = -1;

static void reasons_init(void)
{
    static char names[X509AUTHN_STAT_REASONS][48];
    int i, n = 0;

    /* index 0: accepted (no reason), then lib's tokens in their order */
    stats_reasons[n++] = "";
    for (i = 0; i < X509A_REASON_COUNT; i++) {
        stats_reasons[n++] = x509a_reason_at(i);
    }
    /* CamelCase: a capital after the start, '-' and ':' */
    for (i = 0; i < n; i++) {
        const char *s = stats_reasons[i];
        int up = 1, j = 0;

        for (; *s && j < (int)sizeof(names[i]) - 1; s++) {
            if (*s == '-' || *s == ':') {
                up = 1;
                continue;
            }
            names[i][j++] = up ? apr_toupper(*s) : *s;
            up = 0;
        }
        names[i][j] = '\0';
        stats_reason_names[i] = names[i];
    }
}

/* The counter index of a refusal token (its pointer, else its text);
 * an unknown one counts as internal. */
static int reason_index(const char *token)
{
    int i;

    for (i = 1; i < X509AUTHN_STAT_REASONS; i++) {
        if (stats_reasons[i] == token) {
            return i;
        }
    }
    for (i = 1; token && i < X509AUTHN_STAT_REASONS; i++) {
        if (!strcmp(stats_reasons[i], token)) {
            return i;
        }
    }
    return reason_index(X509A_REASON_INTERNAL);
}

/* The scoreboard child slot of this process, from the worker score of
 * the connection (as mod_status lays the scoreboard out). */
static int find_slot(conn_rec *c)
{
    worker_score *ws;
    int i, limit = 0, threads = 0;

    if (!c->sbh || !ap_scoreboard_image
        || !(ws = ap_get_scoreboard_worker(c->sbh))) {
        return 0;
    }
    ap_mpm_query(AP_MPMQ_HARD_LIMIT_DAEMONS, &limit);
    ap_mpm_query(AP_MPMQ_HARD_LIMIT_THREADS, &threads);
    for (i = 0; i < limit && i < stats_slots; i++) {
        worker_score *first = ap_scoreboard_image->servers[i];

        if (ws >= first && ws < first + threads) {
            return i;
        }
    }
    return 0;
}

void x509authn_stat_add(conn_rec *c, x509authn_stat which)
{
    stats_slot *slot;

    if (!stats_base) {
        return;
    }
    if (my_slot < 0) {
        my_slot = find_slot(x509authn_master_conn(c));
    }
    slot = (stats_slot *)(stats_base + (apr_size_t)my_slot * SLOT_SIZE);
    apr_atomic_add64(&slot->c[which], 1);
}

void x509authn_stat_request(request_rec *r, x509authn_source source,
                            int result, const char *reason)
{
    int s = source == X509AUTHN_SOURCE_HEADER ? 1 : 0;
    int i = result == X509AUTHN_RESULT_ACCEPTED ? 0 : reason_index(reason);

    x509authn_stat_add(r->connection, X509AUTHN_STAT_REQUESTS
                       + (s * X509AUTHN_RESULTS + result)
                         * X509AUTHN_STAT_REASONS + i);
}

/* The sum over all slots. */
static void stats_read(apr_uint64_t *sum)
{
    int i, k;

    memset(sum, 0, sizeof(apr_uint64_t) * X509AUTHN_STAT_COUNT);
    for (i = 0; stats_base && i < stats_slots; i++) {
        stats_slot *slot = (stats_slot *)(stats_base + (apr_size_t)i
                                                       * SLOT_SIZE);
        for (k = 0; k < X509AUTHN_STAT_COUNT; k++) {
            sum[k] += apr_atomic_read64(&slot->c[k]);
        }
    }
}

static apr_status_t forget_segment(void *data)
{
    stats_base = NULL;
    return APR_SUCCESS;
}

/*
 * post_config: the segment, made at the first start and kept across
 * graceful restarts; a full restart starts the counts again.
 */
const char *x509authn_stats_post_config(apr_pool_t *pconf, server_rec *s)
{
    stats_retained *rd = ap_retained_data_get(RETAINED_KEY);
    ap_unixd_mpm_retained_data *mpm = ap_unixd_mpm_get_retained_data();
    int limit = 0;
    apr_status_t rv;

    if (!stats_reasons[0]) {
        reasons_init();
    }
    ap_mpm_query(AP_MPMQ_HARD_LIMIT_DAEMONS, &limit);
    if (limit < 1) {
        limit = 1;
    }
    if (!rd) {
        rd = ap_retained_data_create(RETAINED_KEY, sizeof(*rd));
        memset(rd, 0, sizeof(*rd));
    }
    /* was_graceful: set by the MPM's signal handling when the previous
     * generation ended (a graceful restart), 0 at a start and after
     * SIGHUP, when the MPM has stopped every child */
    if (rd->shm && (rd->slots != limit || !mpm || !mpm->was_graceful)) {
        apr_shm_destroy(rd->shm);
        rd->shm = NULL;
    }
    if (!rd->shm) {
        /* anonymous: children inherit it, nothing on disk */
        rv = apr_shm_create(&rd->shm, SLOT_SIZE * (apr_size_t)limit, NULL,
                            s->process->pool);
        if (rv != APR_SUCCESS) {
            rd->shm = NULL;
            ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s, X509A_LOGNO(0920)
                         "cannot create the shared memory for the status "
                         "counters (%" APR_SIZE_T_FMT " bytes): nothing is "
                         "counted", SLOT_SIZE * (apr_size_t)limit);
            stats_base = NULL;
            return NULL;
        }
        memset(apr_shm_baseaddr_get(rd->shm), 0, SLOT_SIZE * (apr_size_t)limit);
        rd->slots = limit;
        rd->since = apr_time_now();
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, X509A_LOGNO(0921)
                     "status counters start at zero (%d child slots)", limit);
    }
    stats_base = apr_shm_baseaddr_get(rd->shm);
    stats_slots = rd->slots;
    stats_since = rd->since;
    apr_pool_cleanup_register(pconf, NULL, forget_segment,
                              apr_pool_cleanup_null);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Reports                                                                  */
/* ------------------------------------------------------------------------ */

static const char *const source_labels[2] = { "tls", "header" };
static const char *const source_names[2] = { "Tls", "Header" };
static const char *const result_labels[X509AUTHN_RESULTS] = {
    "accepted", "refused", "fallback"
};
static const char *const result_names[X509AUTHN_RESULTS] = {
    "Accepted", "Refused", "Fallback"
};

/* The other counters: ?auto name, metric, label, help. */
static const struct {
    x509authn_stat which;
    const char *name;
    const char *metric;
    const char *label;
} others[] = {
    { X509AUTHN_STAT_HEADER_REMOVED, "HeaderRemoved",
      "x509authn_untrusted_headers_removed_total", NULL },
    { X509AUTHN_STAT_PROXY_REFUSED, "ProxyRefused",
      "x509authn_proxy_certificates_refused_total", NULL },
    { X509AUTHN_STAT_CACHE_CONN_HIT, "CacheConnectionHit",
      "x509authn_cache_lookups_total", "layer=\"connection\",result=\"hit\"" },
    { X509AUTHN_STAT_CACHE_CONN_MISS, "CacheConnectionMiss",
      "x509authn_cache_lookups_total", "layer=\"connection\",result=\"miss\"" },
    { X509AUTHN_STAT_CACHE_PROC_HIT, "CacheProcessHit",
      "x509authn_cache_lookups_total", "layer=\"process\",result=\"hit\"" },
    { X509AUTHN_STAT_CACHE_PROC_MISS, "CacheProcessMiss",
      "x509authn_cache_lookups_total", "layer=\"process\",result=\"miss\"" },
    { X509AUTHN_STAT_CACHE_SHARED_HIT, "CacheSharedHit",
      "x509authn_cache_lookups_total", "layer=\"shared\",result=\"hit\"" },
    { X509AUTHN_STAT_CACHE_SHARED_MISS, "CacheSharedMiss",
      "x509authn_cache_lookups_total", "layer=\"shared\",result=\"miss\"" },
    { X509AUTHN_STAT_VERIFY_OK, "VerificationsOk",
      "x509authn_verifications_total", "result=\"ok\"" },
    { X509AUTHN_STAT_VERIFY_FAILED, "VerificationsFailed",
      "x509authn_verifications_total", "result=\"failed\"" },
    { X509AUTHN_STAT_MAP_MAPPED, "MapLookupsMapped",
      "x509authn_map_lookups_total", "result=\"mapped\"" },
    { X509AUTHN_STAT_MAP_UNMAPPED, "MapLookupsUnmapped",
      "x509authn_map_lookups_total", "result=\"unmapped\"" },
};

static const struct {
    const char *metric, *help;
} helps[] = {
    { "x509authn_untrusted_headers_removed_total",
      "Requests from peers that are not trusted proxies whose "
      "forwarded-certificate headers were removed." },
    { "x509authn_proxy_certificates_refused_total",
      "Requests whose peer's certificate failed X509AuthnProxyRequire." },
    { "x509authn_cache_lookups_total",
      "Certificate cache lookups by layer (connection, process, shared) "
      "and result." },
    { "x509authn_verifications_total",
      "Local verifications of forwarded certificate chains, by result." },
    { "x509authn_map_lookups_total",
      "X509AuthnUserMap lookups, by result." },
};

#define REQ(sum, s, res, i) (sum)[X509AUTHN_STAT_REQUESTS \
    + ((s) * X509AUTHN_RESULTS + (res)) * X509AUTHN_STAT_REASONS + (i)]

/* mod_status: an HTML section, or "X509Authn...: N" lines for ?auto. */
static int stats_status_hook(request_rec *r, int flags)
{
    apr_uint64_t sum[X509AUTHN_STAT_COUNT];
    int s, res, i;

    if (!stats_base) {
        return OK;
    }
    stats_read(sum);
    if (flags & AP_STATUS_SHORT) {
        for (s = 0; s < 2; s++) {
            for (res = 0; res < X509AUTHN_RESULTS; res++) {
                apr_uint64_t n = 0;

                for (i = 0; i < X509AUTHN_STAT_REASONS; i++) {
                    n += REQ(sum, s, res, i);
                }
                ap_rprintf(r, "X509AuthnRequests%s%s: %" APR_UINT64_T_FMT
                           "\n", source_names[s], result_names[res], n);
            }
        }
        for (i = 1; i < X509AUTHN_STAT_REASONS; i++) {
            apr_uint64_t n = 0;

            for (s = 0; s < 2; s++) {
                n += REQ(sum, s, X509AUTHN_RESULT_REFUSED, i)
                     + REQ(sum, s, X509AUTHN_RESULT_FALLBACK, i);
            }
            ap_rprintf(r, "X509AuthnReason%s: %" APR_UINT64_T_FMT "\n",
                       stats_reason_names[i], n);
        }
        for (i = 0; i < (int)(sizeof(others) / sizeof(others[0])); i++) {
            ap_rprintf(r, "X509Authn%s: %" APR_UINT64_T_FMT "\n",
                       others[i].name, sum[others[i].which]);
        }
        x509authn_health_status(r, flags);
        return OK;
    }
    ap_rputs("<hr />\n<h2><a name=\"x509authn\">mod_x509authn</a></h2>\n", r);
    ap_rprintf(r, "<p>Counting since %s (kept across graceful restarts).</p>\n",
               ap_ht_time(r->pool, stats_since, "%Y-%m-%d %H:%M:%S %Z", 0));
    ap_rputs("<table border=\"1\" id=\"x509authn-requests\">\n"
             "<tr><th>source</th><th>result</th><th>reason</th>"
             "<th>requests</th></tr>\n", r);
    for (s = 0; s < 2; s++) {
        for (res = 0; res < X509AUTHN_RESULTS; res++) {
            for (i = 0; i < X509AUTHN_STAT_REASONS; i++) {
                apr_uint64_t n = REQ(sum, s, res, i);

                if (!n && !(res == X509AUTHN_RESULT_ACCEPTED && i == 0)) {
                    continue;
                }
                if (res == X509AUTHN_RESULT_ACCEPTED && i) {
                    continue;
                }
                ap_rprintf(r, "<tr><td>%s</td><td>%s</td><td>%s</td>"
                           "<td>%" APR_UINT64_T_FMT "</td></tr>\n",
                           source_labels[s], result_labels[res],
                           stats_reasons[i], n);
            }
        }
    }
    ap_rputs("</table>\n<table border=\"1\" id=\"x509authn-counters\">\n"
             "<tr><th>counter</th><th>value</th></tr>\n", r);
    for (i = 0; i < (int)(sizeof(others) / sizeof(others[0])); i++) {
        ap_rprintf(r, "<tr><td>%s</td><td>%" APR_UINT64_T_FMT
                   "</td></tr>\n", others[i].name, sum[others[i].which]);
    }
    ap_rputs("</table>\n", r);
    x509authn_health_status(r, flags);
    return OK;
}

/* SetHandler x509authn-metrics: the Prometheus text exposition format. */
static int stats_handler(request_rec *r)
{
    apr_uint64_t sum[X509AUTHN_STAT_COUNT];
    const char *last = NULL;
    int s, res, i, k;

    if (!r->handler || strcmp(r->handler, "x509authn-metrics")) {
        return DECLINED;
    }
    r->allowed |= (AP_METHOD_BIT << M_GET);
    if (r->method_number != M_GET) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    ap_set_content_type(r, "text/plain; version=0.0.4; charset=utf-8");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    if (r->header_only) {
        return OK;
    }
    stats_read(sum);
    ap_rputs("# HELP x509authn_requests_total Requests decided by "
             "mod_x509authn, by certificate source, result (fallback: "
             "handed to another AuthType under X509Authn On) and refusal "
             "reason (X509_AUTHN_ERROR).\n"
             "# TYPE x509authn_requests_total counter\n", r);
    for (s = 0; s < 2; s++) {
        for (res = 0; res < X509AUTHN_RESULTS; res++) {
            for (i = res == X509AUTHN_RESULT_ACCEPTED ? 0 : 1;
                 i < (res == X509AUTHN_RESULT_ACCEPTED ? 1
                                                      : X509AUTHN_STAT_REASONS);
                 i++) {
                ap_rprintf(r, "x509authn_requests_total{source=\"%s\","
                           "result=\"%s\",reason=\"%s\"} %" APR_UINT64_T_FMT
                           "\n", source_labels[s], result_labels[res],
                           stats_reasons[i], REQ(sum, s, res, i));
            }
        }
    }
    for (i = 0; i < (int)(sizeof(others) / sizeof(others[0])); i++) {
        if (!last || strcmp(last, others[i].metric)) {
            last = others[i].metric;
            for (k = 0; k < (int)(sizeof(helps) / sizeof(helps[0])); k++) {
                if (!strcmp(helps[k].metric, last)) {
                    ap_rprintf(r, "# HELP %s %s\n", last, helps[k].help);
                }
            }
            ap_rprintf(r, "# TYPE %s counter\n", last);
        }
        if (others[i].label) {
            ap_rprintf(r, "%s{%s} %" APR_UINT64_T_FMT "\n", others[i].metric,
                       others[i].label, sum[others[i].which]);
        }
        else {
            ap_rprintf(r, "%s %" APR_UINT64_T_FMT "\n", others[i].metric,
                       sum[others[i].which]);
        }
    }
    ap_rputs("# HELP x509authn_counters_reset_timestamp_seconds When the "
             "counters began (the last full restart).\n"
             "# TYPE x509authn_counters_reset_timestamp_seconds gauge\n", r);
    ap_rprintf(r, "x509authn_counters_reset_timestamp_seconds %"
               APR_TIME_T_FMT "\n", apr_time_sec(stats_since));
    x509authn_health_metrics(r);
    return OK;
}

void x509authn_stats_register_hooks(void)
{
    APR_OPTIONAL_HOOK(ap, status_hook, stats_status_hook, NULL, NULL,
                      APR_HOOK_MIDDLE);
    ap_hook_handler(stats_handler, NULL, NULL, APR_HOOK_MIDDLE);
}
