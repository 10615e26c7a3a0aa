/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/*
 * Certificate entries: a parsed certificate with its formatted views,
 * reference-counted and shared by the connections and requests that present
 * it; and the per-process cache of entries (a hash table with an LRU list).
 *
 * What keys each cache is said where it is used (x509authn_tls.c,
 * x509authn_header.c) and in docs/architecture.md.
 */

#include "x509authn.h"

#include "apr_atomic.h"
#include "apr_strings.h"

#include <openssl/rand.h>

APLOG_USE_MODULE(x509authn);

/* ------------------------------------------------------------------------ */
/* Entries                                                                  */
/* ------------------------------------------------------------------------ */

/* The allocator of every entry's pool in this process, thread-safe; NULL
 * before child_init (each entry then has an allocator of its own).  With a
 * pool and allocator per entry, every entry made and dropped cost an
 * mmap() and a munmap() of 8 KiB (Debian's APR allocates with mmap), and a
 * munmap in a threaded process interrupts every CPU running one of its
 * threads (TLB shootdown): at fleet scale, where shared-cache hits make
 * and drop an entry per request, a quarter of the CPU.  One allocator
 * keeps freed blocks for the next entries. */
static apr_allocator_t *entry_allocator;

/* Blocks the allocator keeps free for reuse. */
#define ENTRY_ALLOCATOR_MAX_FREE (8 * 1024 * 1024)

void x509authn_entry_child_init(void)
{
    apr_allocator_t *a;
    apr_pool_t *p;
    apr_thread_mutex_t *m;

    /* never destroyed: entries may be released by the last cleanups of the
     * process (connections, caches), after the child pool's own */
    if (entry_allocator || apr_allocator_create(&a) != APR_SUCCESS) {
        return;
    }
    if (apr_pool_create_unmanaged_ex(&p, NULL, NULL) != APR_SUCCESS
        || apr_thread_mutex_create(&m, APR_THREAD_MUTEX_DEFAULT, p)
           != APR_SUCCESS) {
        apr_allocator_destroy(a);
        return;
    }
    apr_allocator_mutex_set(a, m);
    apr_allocator_max_free_set(a, ENTRY_ALLOCATOR_MAX_FREE);
    entry_allocator = a;
}

/* A new entry without its certificate; NULL when out of memory. */
static x509authn_entry *entry_new(void)
{
    apr_pool_t *pool;
    x509authn_entry *e;

    /* HTTP/2 streams create entries from worker threads, where pools of
     * the connection must not be touched: an entry has a pool of its own,
     * from the process's thread-safe entry allocator. */
    if (apr_pool_create_unmanaged_ex(&pool, NULL, entry_allocator)
        != APR_SUCCESS) {
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
    e->verified = 1;
    return e;
}

/* What an entry costs the process, estimated for the per-process caches'
 * byte bound (X509AuthnCacheMaxBytes): the first block of its pool (APR
 * allocates at least 8 KiB), its allocator and mutex, the views formatted
 * into it, and the OpenSSL objects of the certificates it keeps (about five
 * times their DER; the trust store's are shared, not counted).  Measured in
 * bench/BENCHMARKS.md (RSS per child at 100,000 certificates). */
#define ENTRY_BASE_BYTES (12 * 1024)
#define DECODED_PER_DER_BYTE 5

static apr_size_t decoded_bytes(X509 *x)
{
    int len = x ? i2d_X509(x, NULL) : 0;

    return len > 0 ? (apr_size_t)len * DECODED_PER_DER_BYTE : 0;
}

static apr_size_t stack_bytes(STACK_OF(X509) *chain)
{
    apr_size_t n = 0;
    int i;

    for (i = 0; chain && i < sk_X509_num(chain); i++) {
        n += decoded_bytes(sk_X509_value(chain, i));
    }
    return n;
}

x509authn_entry *x509authn_entry_create(X509 *leaf, STACK_OF(X509) *verified,
                                        STACK_OF(X509) *untrusted,
                                        X509_STORE *store,
                                        const X509_VERIFY_PARAM *param)
{
    x509authn_entry *e = entry_new();

    if (!e) {
        return NULL;
    }
    e->cert = x509a_cert_make(e->pool, leaf);
    x509a_cert_set_chain(e->cert, verified, untrusted);
    x509a_cert_set_store(e->cert, store, param);
    e->bytes = ENTRY_BASE_BYTES + decoded_bytes(leaf) + stack_bytes(untrusted);
    return e;
}

x509authn_entry *x509authn_entry_create_compact(apr_pool_t *p,
                                                const unsigned char *der,
                                                apr_size_t der_len,
                                                const unsigned char sha256[32],
                                                const unsigned char *form,
                                                apr_size_t form_len,
                                                STACK_OF(X509) *untrusted,
                                                X509_STORE *store,
                                                const char **why)
{
    x509authn_entry *e = entry_new();
    const char *err = NULL;

    *why = NULL;
    if (!e) {
        return NULL;
    }
    e->cert = x509a_cert_make_compact_sha256(e->pool, der, der_len, sha256,
                                             form, form_len, &err);
    if (!e->cert) {
        *why = apr_pstrdup(p, err ? err : "out of memory");
        apr_pool_destroy(e->pool);
        return NULL;
    }
    x509a_cert_set_chain(e->cert, NULL, untrusted);
    x509a_cert_set_store(e->cert, store, NULL);
    /* the DER and the form, copied; a path rule may decode it later */
    e->bytes = ENTRY_BASE_BYTES + der_len + form_len + stack_bytes(untrusted);
    return e;
}

void x509authn_entry_release(x509authn_entry *e)
{
    if (e && apr_atomic_dec32(&e->refs) == 0) {
        apr_pool_destroy(e->pool);
    }
}

const char *x509authn_days_remaining(x509authn_entry *e, apr_time_t now)
{
    if (!e->remain || now >= e->remain_until) {
        time_t not_after, secs = (time_t)apr_time_sec(now);
        long days = x509a_cert_days_remaining(e->cert, secs);

        x509a_cert_validity(e->cert, NULL, &not_after);
        e->remain = apr_ltoa(e->pool, days);
        /* the count drops when another whole day has passed */
        e->remain_until = days > 0
            ? apr_time_from_sec((apr_time_t)not_after
                                - (apr_time_t)days * 86400 + 1)
            : APR_INT64_MAX;
    }
    return e->remain;
}

/* The one place that takes an entry's lock. */
void x509authn_entry_lock(x509authn_entry *e)
{
    apr_thread_mutex_lock(e->lock);
}

void x509authn_entry_unlock(x509authn_entry *e)
{
    apr_thread_mutex_unlock(e->lock);
}

static apr_status_t entry_release_cleanup(void *data)
{
    x509authn_entry_release(data);
    return APR_SUCCESS;
}

x509authn_entry *x509authn_entry_hold(request_rec *r, x509authn_entry *e)
{
    if (e) {
        apr_pool_cleanup_register(r->pool, e, entry_release_cleanup,
                                  apr_pool_cleanup_null);
    }
    return e;
}

/* ------------------------------------------------------------------------ */
/* Per-process certificate caches                                           */
/* ------------------------------------------------------------------------ */

/* Bytes (estimated, see entry_bytes) the entries of every per-process
 * cache of this process hold, in KiB, against x509authn_global.cache_bytes. */
static apr_uint32_t cached_kib;

static apr_uint32_t entry_kib(const x509authn_entry *e)
{
    return (apr_uint32_t)((e->bytes + e->key_len + 1023) / 1024);
}

static int over_budget(apr_uint32_t more_kib)
{
    apr_uint64_t budget = x509authn_global.cache_bytes / 1024;

    return budget && (apr_uint64_t)apr_atomic_read32(&cached_kib) + more_kib
                     > budget;
}

apr_size_t x509authn_cache_bytes_used(void)
{
    return (apr_size_t)apr_atomic_read32(&cached_kib) * 1024;
}

struct x509authn_hcache {
    apr_thread_mutex_t *lock;
    x509authn_entry **buckets;
    unsigned int nbuckets;           /* a power of two */
    x509authn_entry lru;             /* sentinel: lru.lru_next is newest */
    int count, max;
};

/* Keys are header values, chosen by whoever sends them: the hash covers the
 * whole value and is seeded per process, so that nobody can make values
 * that fall into one bucket.  Keys are compared whole. */
static apr_uint64_t hash_seed;

static apr_uint64_t key_hash(const char *key, apr_size_t len)
{
    const unsigned char *s = (const unsigned char *)key;
    apr_uint64_t h = hash_seed ^ (len * 0x9e3779b97f4a7c15ULL), w;

    for (; len >= 8; s += 8, len -= 8) {
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 29;
    }
    w = 0;
    memcpy(&w, s, len);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 32);
}

static void lru_unlink(x509authn_entry *e)
{
    e->lru_prev->lru_next = e->lru_next;
    e->lru_next->lru_prev = e->lru_prev;
}

static void lru_push_front(x509authn_hcache *hc, x509authn_entry *e)
{
    e->lru_next = hc->lru.lru_next;
    e->lru_prev = &hc->lru;
    hc->lru.lru_next->lru_prev = e;
    hc->lru.lru_next = e;
}

/* Unlink from the bucket and the LRU list (locked); the caller releases
 * the cache's reference. */
static void hcache_unlink(x509authn_hcache *hc, x509authn_entry *e)
{
    x509authn_entry **pp = &hc->buckets[e->hash & (hc->nbuckets - 1)];

    while (*pp && *pp != e) {
        pp = &(*pp)->next_in_bucket;
    }
    if (*pp) {
        *pp = e->next_in_bucket;
    }
    lru_unlink(e);
    hc->count--;
    apr_atomic_sub32(&cached_kib, entry_kib(e));
}

static apr_status_t hcache_cleanup(void *data);

x509authn_hcache *x509authn_hcache_create(apr_pool_t *p, int max)
{
    x509authn_hcache *hc = apr_pcalloc(p, sizeof(*hc));

    while (!hash_seed) {
        if (RAND_bytes((unsigned char *)&hash_seed, sizeof(hash_seed)) != 1) {
            return NULL;
        }
    }

    hc->max = max;
    hc->nbuckets = 16;
    while (hc->nbuckets < (unsigned int)max * 2) {
        hc->nbuckets <<= 1;
    }
    hc->buckets = apr_pcalloc(p, hc->nbuckets * sizeof(*hc->buckets));
    hc->lru.lru_next = hc->lru.lru_prev = &hc->lru;
    if (apr_thread_mutex_create(&hc->lock, APR_THREAD_MUTEX_DEFAULT, p)
        != APR_SUCCESS) {
        return NULL;
    }
    apr_pool_cleanup_register(p, hc, hcache_cleanup, apr_pool_cleanup_null);
    return hc;
}

static apr_status_t hcache_cleanup(void *data)
{
    x509authn_hcache *hc = data;

    while (hc->lru.lru_next != &hc->lru) {
        x509authn_entry *e = hc->lru.lru_next;
        hcache_unlink(hc, e);
        x509authn_entry_release(e);
    }
    return APR_SUCCESS;
}

x509authn_entry *x509authn_hcache_get(x509authn_hcache *hc, const char *key,
                                      apr_size_t len, apr_time_t now,
                                      unsigned int generation)
{
    apr_uint64_t h = key_hash(key, len);
    x509authn_entry *e, *stale = NULL;

    apr_thread_mutex_lock(hc->lock);
    for (e = hc->buckets[h & (hc->nbuckets - 1)]; e; e = e->next_in_bucket) {
        if (e->hash == h && e->key_len == len && !memcmp(e->key, key, len)) {
            break;
        }
    }
    if (e && (now >= e->expires || e->generation != generation)) {
        /* expired, or obtained with CRLs that have since been replaced */
        hcache_unlink(hc, e);
        stale = e;
        e = NULL;
    }
    else if (e) {
        lru_unlink(e);
        lru_push_front(hc, e);
        apr_atomic_inc32(&e->refs);
    }
    apr_thread_mutex_unlock(hc->lock);
    x509authn_entry_release(stale);
    return e;
}

void x509authn_hcache_put(x509authn_hcache *hc, x509authn_entry *e)
{
    x509authn_entry *old, *evicted = NULL, *dup = NULL;
    x509authn_entry **bucket;

    e->hash = key_hash(e->key, e->key_len);
    apr_atomic_inc32(&e->refs);
    apr_thread_mutex_lock(hc->lock);
    bucket = &hc->buckets[e->hash & (hc->nbuckets - 1)];
    for (old = *bucket; old; old = old->next_in_bucket) {
        if (old->hash == e->hash && old->key_len == e->key_len
            && !memcmp(old->key, e->key, e->key_len)) {
            /* another thread got there first */
            hcache_unlink(hc, old);
            dup = old;
            break;
        }
    }
    /* the oldest go, while this cache is full or the process's caches
     * hold more bytes than X509AuthnCacheMaxBytes with this one */
    while ((hc->count >= hc->max || over_budget(entry_kib(e)))
           && hc->lru.lru_prev != &hc->lru) {
        old = hc->lru.lru_prev;
        hcache_unlink(hc, old);
        old->next_in_bucket = evicted;
        evicted = old;
    }
    if (over_budget(entry_kib(e))) {
        /* the other caches of the process hold the budget: not kept */
        apr_thread_mutex_unlock(hc->lock);
        x509authn_entry_release(e);
    }
    else {
        e->next_in_bucket = *bucket;
        *bucket = e;
        lru_push_front(hc, e);
        hc->count++;
        apr_atomic_add32(&cached_kib, entry_kib(e));
        apr_thread_mutex_unlock(hc->lock);
    }
    x509authn_entry_release(dup);
    while (evicted) {
        old = evicted;
        evicted = old->next_in_bucket;
        x509authn_entry_release(old);
    }
}

