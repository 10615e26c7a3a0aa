/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/* AddressSanitizer cannot see inside APR pools: apr_palloc() carves small
 * allocations out of 8 KB blocks, so an overflow of one pool allocation
 * lands in the next one and goes unnoticed.  This shim replaces
 * apr_palloc() and apr_pcalloc() for the whole process (libapr calls them
 * through its PLT, and the fuzz targets are linked with -rdynamic) with
 * one malloc() per allocation, freed when the pool is cleared or
 * destroyed.  Out-of-bounds accesses and uses after apr_pool_destroy() of
 * pool memory then become ASan reports.
 *
 * Not covered: apr_psprintf() and apr_pvsprintf() write into the pool's
 * own blocks (they do not call apr_palloc()).
 *
 * Pools are found in a small table (few pools are alive at once); the
 * blocks of a pool are freed by a cleanup registered on its first
 * allocation, which runs after the cleanups registered later (APR runs
 * cleanups last-registered first), i.e. after every cleanup that could
 * still read memory allocated from the pool.  Single-threaded use only,
 * as libFuzzer runs the targets.
 *
 * Build with -DX509A_FUZZ_NO_POOL_SHIM (build.sh: POOL_SHIM=0) to fuzz
 * with APR's own allocator instead. */

#ifndef X509A_FUZZ_NO_POOL_SHIM

#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <apr_pools.h>

typedef struct {
    apr_pool_t *pool;
    void **blocks;
    size_t n, cap;
} shim_pool;

static shim_pool *pools;
static size_t npools, cap_pools;
static size_t last;   /* index of the pool used last */

static void shim_oom(void)
{
    fputs("fuzz_pool_shim: out of memory\n", stderr);
    abort();
}

static long shim_find(apr_pool_t *p)
{
    size_t i;

    if (last < npools && pools[last].pool == p) {
        return (long)last;
    }
    for (i = npools; i-- > 0;) {
        if (pools[i].pool == p) {
            last = i;
            return (long)i;
        }
    }
    return -1;
}

static apr_status_t shim_cleanup(void *data)
{
    long i = shim_find(data);
    size_t k;

    if (i < 0) {
        return APR_SUCCESS;
    }
    for (k = 0; k < pools[i].n; k++) {
        free(pools[i].blocks[k]);
    }
    free(pools[i].blocks);
    pools[i] = pools[--npools];
    last = 0;
    return APR_SUCCESS;
}

void *apr_palloc(apr_pool_t *p, apr_size_t size)
{
    long i = shim_find(p);
    void *mem;
    shim_pool *sp;

    if (i < 0) {
        if (npools == cap_pools) {
            size_t cap = cap_pools ? cap_pools * 2 : 64;
            shim_pool *bigger = realloc(pools, cap * sizeof(*pools));
            if (!bigger) {
                shim_oom();
            }
            pools = bigger;
            cap_pools = cap;
        }
        i = (long)npools++;
        memset(&pools[i], 0, sizeof(pools[i]));
        pools[i].pool = p;
        /* allocates its cleanup record through apr_palloc(): p is known
         * now, so that lands in the branch below */
        apr_pool_cleanup_register(p, p, shim_cleanup, apr_pool_cleanup_null);
        i = shim_find(p);
    }
    mem = malloc(size);
    if (!mem && size) {
        shim_oom();
    }
    if (!mem) {
        mem = malloc(1);  /* never NULL: APR never returns NULL */
        if (!mem) {
            shim_oom();
        }
    }
    sp = &pools[i];
    if (sp->n == sp->cap) {
        size_t cap = sp->cap ? sp->cap * 2 : 16;
        void **bigger = realloc(sp->blocks, cap * sizeof(void *));
        if (!bigger) {
            shim_oom();
        }
        sp->blocks = bigger;
        sp->cap = cap;
    }
    sp->blocks[sp->n++] = mem;
    return mem;
}

/* The header maps apr_pcalloc() to a macro; libapr calls the function. */
#undef apr_pcalloc
void *apr_pcalloc(apr_pool_t *p, apr_size_t size);
void *apr_pcalloc(apr_pool_t *p, apr_size_t size)
{
    void *mem = apr_palloc(p, size);

    memset(mem, 0, size);
    return mem;
}

#endif /* X509A_FUZZ_NO_POOL_SHIM */
