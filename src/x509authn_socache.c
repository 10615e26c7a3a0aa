/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/*
 * The shared verification cache (mod_socache): verification results of
 * forwarded chains, shared across processes (shmcb) or servers (redis,
 * memcache), keyed by the chain's digest and the verification settings'
 * digest.
 */

#include "x509authn.h"

#include "ap_provider.h"
#include "http_core.h"
#include "util_mutex.h"

#include "apr_strings.h"
#include "apr_thread_cond.h"
#include "apr_thread_proc.h"

#include <unistd.h>

APLOG_USE_MODULE(x509authn);

/* The part that holds @key.  shmcb picks its subcache by the key's first
 * byte: parts are picked by two others, so that every part uses all its
 * subcaches. */
static const x509authn_cache_part *socache_part(const unsigned char *key)
{
    const x509authn_global_conf *g = &x509authn_global;

    if (g->nparts <= 1) {
        return g->parts;
    }
    return &g->parts[((unsigned int)key[1] << 8 | key[2])
                     % (unsigned int)g->nparts];
}

static int socache_lock(const x509authn_cache_part *part)
{
    return !part->mutex
           || apr_global_mutex_lock(part->mutex) == APR_SUCCESS;
}

static void socache_unlock(const x509authn_cache_part *part)
{
    if (part->mutex) {
        apr_global_mutex_unlock(part->mutex);
    }
}

/* ------------------------------------------------------------------------ */
/* Bounded calls to networked providers                                     */
/* ------------------------------------------------------------------------ */

/*
 * mod_socache has no per-call timeout, and the networked providers wait for
 * a hung server far too long (apr_memcache reads without a timeout; see
 * docs/directives.md for apr_redis).  So, except for shmcb (local shared
 * memory, called directly), each child runs the provider's calls on a few
 * threads of its own (X509AUTHN_CACHE_THREADS; the providers keep a pool
 * of connections, one per thread that asks at once): a look-up waits for
 * its answer at most X509AuthnCacheTimeout, a store is queued and
 * forgotten.
 *
 * A circuit breaker stops asking a server that timed out or failed: for a
 * pause of 1 s, doubled on every further failure up to 30 s; then one
 * look-up (the probe) asks again and closes the breaker when it is answered
 * in time.  While a thread is stuck in a call longer than the timeout,
 * nobody queues behind it: requests skip the shared cache at once.
 *
 * Jobs live in pools of their own, children of the worker's pool: a late
 * answer must not be written to a request that has gone.  The worker's pool
 * is never a child of the process pool: a thread stuck in a call outlives
 * the child's pools, and child exit does not wait for it.
 */

#define SC_QUEUE_MAX 64
#define SC_PAUSE_MIN apr_time_from_sec(1)
#define SC_PAUSE_MAX apr_time_from_sec(30)

typedef struct sc_job sc_job;
struct sc_job {
    sc_job *next;
    apr_pool_t *pool;           /* the job and the provider's allocations */
    int refs;                   /* the queue/worker, and a waiting request */
    int store;                  /* a store, else a look-up */
    int done;
    apr_thread_cond_t *answered; /* look-up: its waiting request */
    apr_status_t rv;
    unsigned char key[X509AUTHN_SOCACHE_KEY_LEN];
    unsigned char *val;
    unsigned int len;           /* look-up: the room, then the length */
    apr_time_t expiry;
};

typedef struct sc_worker sc_worker;

/* One of the worker's threads. */
typedef struct {
    sc_worker *w;
    apr_thread_t *thread;
    apr_time_t busy_since;      /* its call in progress started; 0: idle */
} sc_thread;

struct sc_worker {
    apr_pool_t *pool;           /* unmanaged, thread-safe allocator */
    sc_thread threads[X509AUTHN_CACHE_THREADS];
    int nthreads;               /* started */
    apr_thread_mutex_t *mutex;  /* guards everything below */
    apr_thread_cond_t *wake;    /* the threads: a job, or stop */
    apr_thread_cond_t *done;    /* stop: a thread exited */
    server_rec *s;
    apr_interval_time_t timeout;
    sc_job *gets, *gets_tail;   /* look-ups go first */
    sc_job *puts, *puts_tail;
    int queued;
    int stopping, exited;       /* exited: how many threads */
    int failures;               /* in a row */
    apr_time_t open_until;      /* breaker open until; 0: closed */
    int probing;                /* the probe is out */
};

/* This child's worker; NULL: calls are made directly (shmcb). */
static sc_worker *sc_async;

static void sc_push(sc_job **head, sc_job **tail, sc_job *job)
{
    job->next = NULL;
    if (*tail) {
        (*tail)->next = job;
    }
    else {
        *head = job;
    }
    *tail = job;
}

static sc_job *sc_pop(sc_job **head, sc_job **tail)
{
    sc_job *job = *head;

    if (job) {
        *head = job->next;
        if (!*head) {
            *tail = NULL;
        }
    }
    return job;
}

/* A call has been in progress longer than the timeout.  Mutex held. */
static int sc_stuck(const sc_worker *w, apr_time_t now)
{
    int i;

    for (i = 0; i < w->nthreads; i++) {
        if (w->threads[i].busy_since
            && now - w->threads[i].busy_since > w->timeout) {
            return 1;
        }
    }
    return 0;
}

/* A thread is in a call.  Mutex held. */
static int sc_busy(const sc_worker *w)
{
    int i;

    for (i = 0; i < w->nthreads; i++) {
        if (w->threads[i].busy_since) {
            return 1;
        }
    }
    return 0;
}

/* A failure (timeout, error, stuck call): open the breaker, unless it is
 * already open and its pause not over.  Returns the pause, 0 when nothing
 * changed.  Mutex held. */
static apr_interval_time_t sc_trip(sc_worker *w, apr_time_t now)
{
    apr_interval_time_t pause = SC_PAUSE_MIN;
    int i;

    if (w->open_until && now < w->open_until) {
        return 0;
    }
    for (i = 0; i < w->failures && pause < SC_PAUSE_MAX; i++) {
        pause *= 2;
    }
    if (pause > SC_PAUSE_MAX) {
        pause = SC_PAUSE_MAX;
    }
    w->failures++;
    w->open_until = now + pause;
    return pause;
}

static void sc_log_trip(request_rec *r, int failures,
                        apr_interval_time_t pause, apr_status_t rv,
                        const char *why)
{
    if (failures == 1) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, rv, r, X509A_LOGNO(0331)
                      "shared cache (%s) %s: not asked for %" APR_TIME_T_FMT
                      " ms, certificates are verified locally",
                      x509authn_global.provider_name, why,
                      apr_time_as_msec(pause));
    }
    else {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, rv, r, X509A_LOGNO(0332)
                      "shared cache (%s) %s again (%d times): not asked for "
                      "%" APR_TIME_T_FMT " ms", x509authn_global.provider_name,
                      why, failures, apr_time_as_msec(pause));
    }
}

/* May a look-up be sent?  Sets *probe when it is the breaker's probe.
 * Mutex held. */
static const char *sc_admit(sc_worker *w, apr_time_t now, int *probe,
                            apr_interval_time_t *pause)
{
    *probe = 0;
    *pause = 0;
    if (w->stopping) {
        return "is closed (the process is stopping)";
    }
    if (sc_stuck(w, now)) {
        /* a hung server: do not queue behind the call that waits for it */
        *pause = sc_trip(w, now);
        return "is stuck in a call";
    }
    if (w->queued >= SC_QUEUE_MAX) {
        return "has too many calls waiting";
    }
    if (w->open_until) {
        if (now < w->open_until || w->probing) {
            return "failed recently";
        }
        w->probing = 1;
        *probe = 1;
    }
    return NULL;
}

static int sc_get(request_rec *r, const unsigned char *key,
                  unsigned char *val, unsigned int *len)
{
    sc_worker *w = sc_async;
    apr_interval_time_t pause = 0;
    apr_time_t now, deadline;
    apr_status_t rv = APR_SUCCESS;
    const char *why = NULL;
    apr_pool_t *p = NULL;
    apr_thread_cond_t *answered = NULL;
    sc_job *job = NULL;
    int found = 0, probe, failures = 0, closed = 0, drop;

    apr_thread_mutex_lock(w->mutex);
    now = apr_time_now();
    why = sc_admit(w, now, &probe, &pause);
    if (!why) {
        /* a condition of its own: a finished job wakes its request only,
         * not every request waiting in this process */
        if (apr_pool_create(&p, w->pool) != APR_SUCCESS
            || apr_thread_cond_create(&answered, p) != APR_SUCCESS) {
            if (p) {
                apr_pool_destroy(p);
            }
            why = "cannot be asked (out of memory)";
            if (probe) {
                w->probing = 0;
            }
        }
    }
    if (why) {
        failures = w->failures;
        apr_thread_mutex_unlock(w->mutex);
        if (pause) {
            sc_log_trip(r, failures, pause, APR_SUCCESS, why);
        }
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, X509A_LOGNO(0330)
                      "shared cache (%s) not asked: it %s",
                      x509authn_global.provider_name, why);
        return 0;
    }
    job = apr_pcalloc(p, sizeof(*job));
    job->pool = p;
    job->refs = 2;
    job->answered = answered;
    memcpy(job->key, key, sizeof(job->key));
    job->len = *len;
    job->val = apr_palloc(p, *len ? *len : 1);
    sc_push(&w->gets, &w->gets_tail, job);
    w->queued++;
    apr_thread_cond_signal(w->wake);

    deadline = now + w->timeout;
    while (!job->done) {
        apr_interval_time_t left = deadline - apr_time_now();
        if (left <= 0) {
            break;
        }
        apr_thread_cond_timedwait(answered, w->mutex, left);
    }
    now = apr_time_now();
    if (probe) {
        w->probing = 0;
    }
    if (!job->done) {
        why = apr_psprintf(r->pool, "did not answer within %" APR_TIME_T_FMT
                           " ms", apr_time_as_msec(w->timeout));
        pause = sc_trip(w, now);
    }
    else if (job->rv == APR_SUCCESS || job->rv == APR_NOTFOUND) {
        rv = job->rv;
        if (rv == APR_SUCCESS && job->len <= *len) {
            memcpy(val, job->val, job->len);
            *len = job->len;
            found = 1;
        }
        if (probe) {
            closed = w->failures;
            w->failures = 0;
            w->open_until = 0;
        }
    }
    else {
        rv = job->rv;
        why = "failed";
        pause = sc_trip(w, now);
    }
    failures = w->failures;
    drop = --job->refs == 0;
    apr_thread_mutex_unlock(w->mutex);
    if (drop) {
        apr_pool_destroy(p);
    }

    if (pause) {
        sc_log_trip(r, failures, pause, rv, why);
    }
    else if (why) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, rv, r, X509A_LOGNO(0334)
                      "shared cache (%s) %s; verifying locally",
                      x509authn_global.provider_name, why);
    }
    if (closed) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, X509A_LOGNO(0333)
                      "shared cache (%s) answers again (after %d failures)",
                      x509authn_global.provider_name, closed);
    }
    return found;
}

static void sc_put(request_rec *r, const unsigned char *key,
                   const unsigned char *val, unsigned int len,
                   apr_time_t expiry)
{
    sc_worker *w = sc_async;
    const char *why = NULL;
    apr_pool_t *p;
    sc_job *job;
    apr_time_t now;

    apr_thread_mutex_lock(w->mutex);
    now = apr_time_now();
    if (w->stopping) {
        why = "the process is stopping";
    }
    else if (w->open_until || sc_stuck(w, now)) {
        why = "the server failed recently";
    }
    else if (w->queued >= SC_QUEUE_MAX) {
        why = "too many calls are waiting";
    }
    else if (apr_pool_create(&p, w->pool) != APR_SUCCESS) {
        why = "out of memory";
    }
    if (!why) {
        job = apr_pcalloc(p, sizeof(*job));
        job->pool = p;
        job->refs = 1;
        job->store = 1;
        memcpy(job->key, key, sizeof(job->key));
        job->val = apr_pmemdup(p, val, len);
        job->len = len;
        job->expiry = expiry;
        sc_push(&w->puts, &w->puts_tail, job);
        w->queued++;
        apr_thread_cond_signal(w->wake);
    }
    apr_thread_mutex_unlock(w->mutex);
    if (why) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, X509A_LOGNO(0335)
                      "shared cache (%s): result not stored: %s",
                      x509authn_global.provider_name, why);
    }
}

static void *APR_THREAD_FUNC sc_worker_main(apr_thread_t *thread, void *data)
{
    sc_thread *me = data;
    sc_worker *w = me->w;
    const ap_socache_provider_t *provider = x509authn_global.provider;
    const x509authn_cache_part *part;
    sc_job *job;

    apr_thread_mutex_lock(w->mutex);
    while (!w->stopping) {
        job = sc_pop(&w->gets, &w->gets_tail);
        if (!job) {
            job = sc_pop(&w->puts, &w->puts_tail);
        }
        if (!job) {
            apr_thread_cond_wait(w->wake, w->mutex);
            continue;
        }
        w->queued--;
        if (!job->store && job->refs == 1) {
            /* its request gave up waiting */
            apr_thread_mutex_unlock(w->mutex);
            apr_pool_destroy(job->pool);
            apr_thread_mutex_lock(w->mutex);
            continue;
        }
        me->busy_since = apr_time_now();
        apr_thread_mutex_unlock(w->mutex);

        part = socache_part(job->key);
        if (!socache_lock(part)) {
            job->rv = APR_EGENERAL;
        }
        else {
            if (job->store) {
                job->rv = job->expiry > apr_time_now()
                          ? provider->store(part->instance, w->s, job->key,
                                            X509AUTHN_SOCACHE_KEY_LEN,
                                            job->expiry, job->val, job->len,
                                            job->pool)
                          : APR_SUCCESS;
            }
            else {
                job->rv = provider->retrieve(part->instance, w->s, job->key,
                                             X509AUTHN_SOCACHE_KEY_LEN,
                                             job->val, &job->len, job->pool);
            }
            socache_unlock(part);
        }
        if (job->store && job->rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_DEBUG, job->rv, w->s,
                         X509A_LOGNO(0302) "shared cache (%s) store failed",
                         x509authn_global.provider_name);
        }

        apr_thread_mutex_lock(w->mutex);
        me->busy_since = 0;
        job->done = 1;
        if (--job->refs == 0) {
            /* a store, or a look-up its request gave up waiting for */
            apr_thread_mutex_unlock(w->mutex);
            apr_pool_destroy(job->pool);
            apr_thread_mutex_lock(w->mutex);
        }
        else {
            /* a look-up: its request still waits */
            apr_thread_cond_signal(job->answered);
        }
    }
    /* nobody waits for what is left (child exit comes after the requests) */
    while ((job = sc_pop(&w->gets, &w->gets_tail))
           || (job = sc_pop(&w->puts, &w->puts_tail))) {
        if (--job->refs == 0) {
            apr_pool_destroy(job->pool);
        }
    }
    w->queued = 0;
    w->exited++;
    apr_thread_cond_broadcast(w->done);
    apr_thread_mutex_unlock(w->mutex);
    apr_thread_exit(thread, APR_SUCCESS);
    return NULL;
}

/* Child exit: stop the threads, but never wait for a call to a hung
 * server (a stuck thread is left behind, the worker's pool with it; the
 * process ends). */
static apr_status_t sc_worker_stop(void *data)
{
    sc_worker *w = data;
    apr_time_t deadline = apr_time_now() + apr_time_from_sec(1);
    apr_status_t rv;
    int all_exited, i;

    sc_async = NULL;
    apr_thread_mutex_lock(w->mutex);
    w->stopping = 1;
    apr_thread_cond_broadcast(w->wake);
    while (w->exited < w->nthreads && apr_time_now() < deadline) {
        if (sc_busy(w)) {
            /* a call that ends soon is waited for; a stuck one is not */
            if (sc_stuck(w, apr_time_now())) {
                break;
            }
        }
        apr_thread_cond_timedwait(w->done, w->mutex,
                                  apr_time_from_msec(10));
    }
    all_exited = w->exited == w->nthreads;
    apr_thread_mutex_unlock(w->mutex);
    if (all_exited) {
        for (i = 0; i < w->nthreads; i++) {
            apr_thread_join(&rv, w->threads[i].thread);
        }
        apr_pool_destroy(w->pool);
    }
    return APR_SUCCESS;
}

static apr_status_t sc_worker_start(apr_pool_t *pchild, server_rec *s)
{
    apr_allocator_t *allocator;
    apr_thread_mutex_t *amutex;
    apr_pool_t *pool;
    sc_worker *w;
    apr_status_t rv;
    int i;

    if ((rv = apr_allocator_create(&allocator)) != APR_SUCCESS) {
        return rv;
    }
    if ((rv = apr_pool_create_unmanaged_ex(&pool, NULL, allocator))
        != APR_SUCCESS) {
        apr_allocator_destroy(allocator);
        return rv;
    }
    apr_allocator_owner_set(allocator, pool);
    /* requests create and destroy job pools in it as well as the worker */
    if ((rv = apr_thread_mutex_create(&amutex, APR_THREAD_MUTEX_DEFAULT,
                                      pool)) != APR_SUCCESS) {
        apr_pool_destroy(pool);
        return rv;
    }
    apr_allocator_mutex_set(allocator, amutex);
    apr_allocator_max_free_set(allocator, 256 * 1024);

    w = apr_pcalloc(pool, sizeof(*w));
    w->pool = pool;
    w->s = s;
    w->timeout = x509authn_global.cache_timeout
                 ? x509authn_global.cache_timeout
                 : X509AUTHN_DEFAULT_CACHE_TIMEOUT;
    if ((rv = apr_thread_mutex_create(&w->mutex, APR_THREAD_MUTEX_DEFAULT,
                                      pool)) != APR_SUCCESS
        || (rv = apr_thread_cond_create(&w->wake, pool)) != APR_SUCCESS
        || (rv = apr_thread_cond_create(&w->done, pool)) != APR_SUCCESS) {
        apr_pool_destroy(pool);
        return rv;
    }
    /* nthreads is read by the threads under the mutex */
    apr_thread_mutex_lock(w->mutex);
    for (i = 0; i < X509AUTHN_CACHE_THREADS; i++) {
        w->threads[i].w = w;
        rv = apr_thread_create(&w->threads[i].thread, NULL, sc_worker_main,
                               &w->threads[i], pool);
        if (rv != APR_SUCCESS) {
            break;
        }
        w->nthreads++;
    }
    apr_thread_mutex_unlock(w->mutex);
    if (!w->nthreads) {
        apr_pool_destroy(pool);
        return rv;
    }
    sc_async = w;
    apr_pool_cleanup_register(pchild, w, sc_worker_stop,
                              apr_pool_cleanup_null);
    return APR_SUCCESS;
}

/* ------------------------------------------------------------------------ */
/* The API                                                                  */
/* ------------------------------------------------------------------------ */

int x509authn_socache_get(request_rec *r, const unsigned char *key,
                          unsigned char *val, unsigned int *len)
{
    const x509authn_cache_part *part;
    apr_status_t rv;

    if (!x509authn_global.instance) {
        return 0;
    }
    if (sc_async) {
        return sc_get(r, key, val, len);
    }
    part = socache_part(key);
    if (!socache_lock(part)) {
        return 0;
    }
    rv = x509authn_global.provider->retrieve(part->instance, r->server, key,
                                             X509AUTHN_SOCACHE_KEY_LEN,
                                             val, len, r->pool);
    socache_unlock(part);
    if (rv != APR_SUCCESS && rv != APR_NOTFOUND) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, rv, r, X509A_LOGNO(0301)
                      "shared cache (%s) lookup failed; verifying locally",
                      x509authn_global.provider_name);
    }
    return rv == APR_SUCCESS;
}

void x509authn_socache_put(request_rec *r, const unsigned char *key,
                           const unsigned char *val, unsigned int len,
                           apr_time_t expiry)
{
    const x509authn_cache_part *part;
    apr_status_t rv;

    if (!x509authn_global.instance) {
        return;
    }
    if (sc_async) {
        sc_put(r, key, val, len, expiry);
        return;
    }
    part = socache_part(key);
    if (!socache_lock(part)) {
        return;
    }
    rv = x509authn_global.provider->store(part->instance, r->server, key,
                                          X509AUTHN_SOCACHE_KEY_LEN, expiry,
                                          (unsigned char *)val, len, r->pool);
    socache_unlock(part);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, rv, r, X509A_LOGNO(0302)
                      "shared cache (%s) store failed",
                      x509authn_global.provider_name);
    }
}

/* ------------------------------------------------------------------------ */
/* Startup and child initialisation                                         */
/* ------------------------------------------------------------------------ */

int x509authn_cache_is_local(void)
{
    const char *name = x509authn_global.provider_name;

    /* mod_socache_shmcb also registers itself as the default provider */
    return !name || !strcmp(name, "shmcb")
           || !strcmp(name, AP_SOCACHE_DEFAULT_PROVIDER);
}

static apr_status_t socache_destroy(void *data)
{
    x509authn_global_conf *g = &x509authn_global;
    int i;

    for (i = 0; i < g->nparts; i++) {
        g->provider->destroy(g->parts[i].instance, (server_rec *)data);
    }
    g->parts = NULL;
    g->nparts = 0;
    g->instance = NULL;
    return APR_SUCCESS;
}

/* How many parts a shmcb of these arguments ("FILE(SIZE)") is split into,
 * with the arguments of each in *part_args; 1 when it is not split. */
static int shmcb_split(apr_pool_t *p, const char *args,
                       const char ***part_args)
{
    const char *open = args ? strrchr(args, '(') : NULL;
    apr_size_t len = args ? strlen(args) : 0;
    apr_int64_t size;
    char *end;
    int n, i;

    if (!open || open == args || args[len - 1] != ')') {
        return 1;
    }
    size = apr_strtoi64(open + 1, &end, 10);
    if (end != args + len - 1 || size < 2 * X509AUTHN_SHMCB_PART_MIN) {
        return 1;
    }
    n = size / X509AUTHN_SHMCB_PART_MIN > X509AUTHN_SHMCB_PARTS_MAX
        ? X509AUTHN_SHMCB_PARTS_MAX : (int)(size / X509AUTHN_SHMCB_PART_MIN);
    *part_args = apr_palloc(p, n * sizeof(**part_args));
    for (i = 0; i < n; i++) {
        (*part_args)[i] = apr_psprintf(p, "%.*s.%d(%" APR_INT64_T_FMT ")",
                                       (int)(open - args), args, i, size / n);
    }
    return n;
}

const char *x509authn_cache_create(apr_pool_t *pconf, apr_pool_t *ptemp)
{
    x509authn_global_conf *g = &x509authn_global;
    const char *err;

    if (g->disabled || g->instance) {
        return NULL;
    }
    if (!g->provider) {
        /* the embedded default, when mod_socache_shmcb is loaded */
        g->provider = ap_lookup_provider(AP_SOCACHE_PROVIDER_GROUP,
                                         AP_SOCACHE_DEFAULT_PROVIDER,
                                         AP_SOCACHE_PROVIDER_VERSION);
        if (!g->provider) {
            return NULL;
        }
        g->provider_name = AP_SOCACHE_DEFAULT_PROVIDER;
        g->provider_args = NULL;
    }
    if (!g->provider_args && x509authn_cache_is_local()) {
        /* shmcb's own default (512,000 bytes) holds about 480 records:
         * the default here is sized for tens of thousands of clients.
         * shmcb takes a size only with a file name. */
        g->provider_args = apr_psprintf(pconf, "%s(%d)",
                                        ap_runtime_dir_relative(
                                            pconf, "x509authn-cache"),
                                        X509AUTHN_SHMCB_DEFAULT_SIZE);
    }
    /* parses the arguments only (as mod_ssl does while reading
     * SSLSessionCache); init opens the cache in post_config */
    err = g->provider->create(&g->instance, g->provider_args, ptemp, pconf);
    if (err) {
        g->instance = NULL;
        return apr_psprintf(pconf, "%s: %s",
                            g->cache_at ? g->cache_at : "X509AuthnCache",
                            err);
    }
    return NULL;
}

/*
 * shmcb kept across generations.  A graceful restart clears the
 * configuration pool, and with it a shmcb made there: every certificate of
 * the fleet would be verified again at once.  So a shmcb (its instances,
 * their shared memory and mutexes) is made in a pool of its own that httpd
 * never clears, remembered in the process pool, and used again by the next
 * generation when X509AuthnCache's arguments are the same.  Records stay
 * good across generations: their key holds the digest of the trust
 * settings, and their MAC key (x509authn_record.c) is kept the same way.
 *
 * Nothing of this module or of mod_socache_shmcb may run from that pool
 * after a restart (both are unloaded and loaded again, maybe elsewhere):
 * the pool is never destroyed, so shmcb's cleanup registered there never
 * runs.  The shared memory and the mutexes are released by a cleanup of
 * each generation's configuration pool, which runs before the modules are
 * unloaded and releases them unless the configuration is only being read
 * again (a restart), and only in the parent that made them.
 */

/** Process-pool userdata name of the kept shmcb. */
#define KEPT_KEY "x509authn-shmcb-kept"

typedef struct {
    apr_pool_t *pool;               /* unmanaged, never destroyed */
    const char *args;               /* X509AuthnCache's arguments; NULL:
                                     * nothing kept */
    x509authn_cache_part *parts;
    int nparts;                     /* initialised */
    pid_t owner;                    /* the parent (of the last generation
                                     * that used them) */
} shmcb_kept;

static shmcb_kept *kept_get(server_rec *s, int make)
{
    void *k = NULL;

    apr_pool_userdata_get(&k, KEPT_KEY, s->process->pool);
    if (!k && make) {
        shmcb_kept *nk = apr_pcalloc(s->process->pool, sizeof(*nk));

        if (apr_pool_create_unmanaged_ex(&nk->pool, NULL, NULL)
            != APR_SUCCESS) {
            return NULL;
        }
        apr_pool_userdata_set(nk, KEPT_KEY, apr_pool_cleanup_null,
                              s->process->pool);
        k = nk;
    }
    return k;
}

/* Release what @a k holds (complete or not): shmcb's shared memory (through this
 * generation's mod_socache_shmcb, if loaded) and the mutexes. */
static void kept_drop(shmcb_kept *k, server_rec *s)
{
    const ap_socache_provider_t *shmcb;
    int i;

    if (!k || (!k->args && !k->nparts)) {
        return;
    }
    shmcb = ap_lookup_provider(AP_SOCACHE_PROVIDER_GROUP, "shmcb",
                               AP_SOCACHE_PROVIDER_VERSION);
    for (i = 0; i < k->nparts; i++) {
        if (shmcb) {
            shmcb->destroy(k->parts[i].instance, s);
        }
        if (k->parts[i].mutex) {
            apr_global_mutex_destroy(k->parts[i].mutex);
        }
    }
    k->args = NULL;
    k->parts = NULL;
    k->nparts = 0;
}

typedef struct {
    shmcb_kept *k;
    server_rec *s;
} kept_release_ctx;

/* pconf cleanup: keep across a restart, release otherwise (stop, failed
 * start), in the parent only. */
static apr_status_t kept_release(void *data)
{
    kept_release_ctx *c = data;

    x509authn_global.parts = NULL;
    x509authn_global.nparts = 0;
    x509authn_global.instance = NULL;
    if (ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_DESTROY_CONFIG
        && c->k->owner == getpid()) {
        kept_drop(c->k, c->s);
    }
    return APR_SUCCESS;
}

const char *x509authn_cache_post_config(apr_pool_t *pconf, apr_pool_t *ptemp,
                                        server_rec *s)
{
    x509authn_global_conf *g = &x509authn_global;
    /* a verified record: header, three digests, a compact form of
     * typically 650-950 bytes, MAC (x509a_record.h) */
    struct ap_socache_hints hints = { 64, 40 + 32 * 3 + 800 + 16, 300 };
    const char **part_args = NULL;
    const char *err;
    shmcb_kept *k = kept_get(s, 0);
    kept_release_ctx *rc;
    apr_pool_t *pool = pconf;
    apr_status_t rv;
    int i, n = 1, local;

    if (g->disabled) {
        kept_drop(k, s);
        return NULL;
    }
    if ((err = x509authn_cache_create(pconf, ptemp))) {
        return err;
    }
    if (!g->instance) {
        kept_drop(k, s);
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, X509A_LOGNO(0306)
                     "no shared verification cache: load "
                     "mod_socache_shmcb or set X509AuthnCache; results "
                     "are kept per process only");
        return NULL;
    }
    hints.expiry_interval = (long)apr_time_sec(g->ttl);
    local = x509authn_cache_is_local();
    if (!local) {
        kept_drop(k, s);
        apr_pool_cleanup_register(pconf, s, socache_destroy,
                                  apr_pool_cleanup_null);
    }
    else {
        const char *args = g->provider_args ? g->provider_args : "";

        n = shmcb_split(ptemp, g->provider_args, &part_args);
        if (k && k->args && !strcmp(k->args, args)) {
            /* the parent may be another process than the one that made
             * it: httpd -k start detaches between the two passes */
            k->owner = getpid();
            g->parts = k->parts;
            g->nparts = k->nparts;
            g->instance = g->parts[0].instance;
            ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, X509A_LOGNO(0309)
                         "shared cache (shmcb, %d part%s) kept from before "
                         "the restart", g->nparts, g->nparts > 1 ? "s" : "");
        }
        else {
            kept_drop(k, s);
            if (!(k = kept_get(s, 1))) {
                return "X509AuthnCache: out of memory";
            }
            pool = k->pool;
            k->owner = getpid();
        }
        rc = apr_palloc(pconf, sizeof(*rc));
        rc->k = k;
        rc->s = s;
        apr_pool_cleanup_register(pconf, rc, kept_release,
                                  apr_pool_cleanup_null);
        if (g->parts) {
            return NULL;
        }
    }
    g->parts = apr_pcalloc(pool, n * sizeof(*g->parts));
    g->nparts = 0;
    if (local) {
        k->parts = g->parts;
    }
    for (i = 0; i < n; i++) {
        x509authn_cache_part *part = &g->parts[i];

        if (!local) {
            part->instance = g->instance;
        }
        else if ((err = g->provider->create(&part->instance,
                                            n > 1 ? part_args[i]
                                                  : g->provider_args,
                                            ptemp, pool))) {
            g->instance = NULL;
            return apr_psprintf(pconf, "X509AuthnCache: %s", err);
        }
        if (g->provider->flags & AP_SOCACHE_FLAG_NOTMPSAFE) {
            rv = ap_global_mutex_create(&part->mutex, NULL,
                                        X509AUTHN_MUTEX_TYPE,
                                        n > 1 ? apr_itoa(ptemp, i) : NULL,
                                        s, pool, 0);
            if (rv != APR_SUCCESS) {
                g->instance = NULL;
                return "X509AuthnCache: cannot create the cache mutex";
            }
        }
        rv = g->provider->init(part->instance, "mod_x509authn", &hints, s,
                               pool);
        if (rv != APR_SUCCESS) {
            if (local && part->mutex) {
                apr_global_mutex_destroy(part->mutex);
            }
            g->instance = NULL;
            return apr_psprintf(pconf, "X509AuthnCache: cannot initialise "
                                "the %s cache", g->provider_name);
        }
        g->nparts++;
        if (local) {
            k->nparts = g->nparts;
        }
    }
    g->instance = g->parts[0].instance;
    if (local) {
        /* complete: the next generation may use it */
        k->args = apr_pstrdup(pool, g->provider_args ? g->provider_args
                                                     : "");
    }
    if (n > 1) {
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, X509A_LOGNO(0308)
                     "shared cache (shmcb) in %d parts: %s ...", n,
                     part_args[0]);
    }
    return NULL;
}

void x509authn_cache_unused(server_rec *s)
{
    kept_drop(kept_get(s, 0), s);
}

void x509authn_cache_child_init(apr_pool_t *pchild, server_rec *s)
{
    x509authn_global_conf *g = &x509authn_global;
    int i;

    for (i = 0; i < g->nparts; i++) {
        x509authn_cache_part *part = &g->parts[i];
        const char *file;

        if (!part->mutex) {
            continue;
        }
        file = apr_global_mutex_lockfile(part->mutex);
        if (apr_global_mutex_child_init(&part->mutex, file, pchild)
            != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, X509A_LOGNO(0307)
                         "cannot reopen the cache mutex: shared cache off");
            g->instance = NULL;
            return;
        }
    }
    sc_async = NULL;
    if (g->instance && !x509authn_cache_is_local()) {
        apr_status_t rv = sc_worker_start(pchild, s);
        if (rv != APR_SUCCESS) {
            /* calling a hung server directly could stall every request */
            ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, X509A_LOGNO(0336)
                         "cannot start the shared cache's thread: shared "
                         "cache (%s) off in this process",
                         g->provider_name);
            g->instance = NULL;
        }
    }
}
