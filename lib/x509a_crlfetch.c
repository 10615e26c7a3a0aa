/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/* CRLs fetched from the distribution points of verified chains: the
 * per-process store (one fetch at a time per URL, the others wait), the
 * cache directory shared by processes and restarts, the background
 * refresh, and the verification that uses them. */

#include <string.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <apr_strings.h>
#include <apr_hash.h>
#include <apr_file_io.h>
#include <apr_file_info.h>
#include <apr_thread_mutex.h>
#include <apr_thread_cond.h>
#include <openssl/evp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "x509a_crlfetch.h"
#include "x509a_cert.h"
#include "x509a_print.h"
#include "x509a_http.h"
#include "x509a_reason.h"

/* First line of a cache file, then "URL: ...", then the PEM CRL. */
#define FILE_MAGIC "X509Authn-CRL-Cache: 1\n"

typedef struct {
    const char *url;
    int delta;                  /* a freshestCRL URL */
    X509_CRL *crl;              /* the current CRL, or NULL */
    X509 *issuer;               /* whose signature refreshes must carry */
    unsigned char sha[32];      /* of the current CRL's DER */
    apr_time_t this_update, next_update, fetched_at;
    apr_time_t refresh_at;      /* the background refresh fetches then */
    apr_time_t retry_at;        /* after a failure: no fetch before */
    apr_time_t last_used;
    int fetching;               /* a thread is fetching it */
    int failed, invalid;        /* the last attempt failed (invalid CRL) */
    char why[320];
} crl_entry;

struct x509a_crlstore {
    apr_pool_t *pool;
    x509a_crlstore_conf conf;
    apr_thread_mutex_t *lock;   /* guards everything below */
    apr_thread_cond_t *done;    /* a fetch ended */
    apr_hash_t *entries;        /* URL -> crl_entry */
    unsigned char digest[32];
    unsigned int generation;
};


static apr_status_t store_cleanup(void *data)
{
    x509a_crlstore *st = data;
    apr_hash_index_t *hi;

    for (hi = apr_hash_first(NULL, st->entries); hi; hi = apr_hash_next(hi)) {
        crl_entry *e = apr_hash_this_val(hi);

        X509_CRL_free(e->crl);
        X509_free(e->issuer);
        e->crl = NULL;
        e->issuer = NULL;
    }
    return APR_SUCCESS;
}

/* The digest of the URLs and CRLs held, in URL order (lock held). */
static int entry_cmp(const void *a, const void *b)
{
    return strcmp((*(crl_entry *const *)a)->url, (*(crl_entry *const *)b)->url);
}

static void update_digest(x509a_crlstore *st)
{
    unsigned int count = apr_hash_count(st->entries), n = 0, i, mdlen;
    crl_entry **list = malloc(sizeof(crl_entry *) * (count ? count : 1));
    apr_hash_index_t *hi;
    EVP_MD_CTX *md = list ? EVP_MD_CTX_new() : NULL;

    if (!md) {
        /* cannot say what is held: a digest no other state has */
        free(list);
        memset(st->digest, 0xff, sizeof(st->digest));
        memcpy(st->digest, &st->generation, sizeof(st->generation));
        return;
    }
    for (hi = apr_hash_first(NULL, st->entries); hi; hi = apr_hash_next(hi)) {
        crl_entry *e = apr_hash_this_val(hi);

        if (e->crl && n < count) {
            list[n++] = e;
        }
    }
    /* in URL order: processes holding the same CRLs agree */
    qsort(list, n, sizeof(list[0]), entry_cmp);
    EVP_DigestInit_ex(md, x509a_sha256(), NULL);
    EVP_DigestUpdate(md, "x509a-crlfetch-1", 16);
    for (i = 0; i < n; i++) {
        EVP_DigestUpdate(md, list[i]->url, strlen(list[i]->url) + 1);
        EVP_DigestUpdate(md, list[i]->sha, 32);
    }
    EVP_DigestFinal_ex(md, st->digest, &mdlen);
    EVP_MD_CTX_free(md);
    free(list);
}

const char *x509a_crlstore_create(apr_pool_t *p,
                                  const x509a_crlstore_conf *conf,
                                  x509a_crlstore **out)
{
    x509a_crlstore *st = apr_pcalloc(p, sizeof(*st));

    st->pool = p;
    st->conf.cache_dir = conf->cache_dir ? apr_pstrdup(p, conf->cache_dir)
                                         : NULL;
    st->conf.timeout = conf->timeout > 0 ? conf->timeout : X509A_CRL_TIMEOUT;
    st->conf.max_len = conf->max_len ? conf->max_len : X509A_CRL_MAX_LEN;
    if (apr_thread_mutex_create(&st->lock, APR_THREAD_MUTEX_DEFAULT, p)
            != APR_SUCCESS
        || apr_thread_cond_create(&st->done, p) != APR_SUCCESS) {
        return "cannot create a mutex";
    }
    st->entries = apr_hash_make(p);
    update_digest(st);
    apr_pool_cleanup_register(p, st, store_cleanup, apr_pool_cleanup_null);
    *out = st;
    return NULL;
}

void x509a_crlstore_digest(x509a_crlstore *st, unsigned char out[32])
{
    apr_thread_mutex_lock(st->lock);
    memcpy(out, st->digest, 32);
    apr_thread_mutex_unlock(st->lock);
}

unsigned int x509a_crlstore_generation(x509a_crlstore *st)
{
    unsigned int g;

    apr_thread_mutex_lock(st->lock);
    g = st->generation;
    apr_thread_mutex_unlock(st->lock);
    return g;
}

apr_array_header_t *x509a_crl_urls(apr_pool_t *p, X509 *cert, int delta)
{
    apr_array_header_t *urls = apr_array_make(p, 2, sizeof(const char *));
    STACK_OF(DIST_POINT) *dps = X509_get_ext_d2i(
        cert, delta ? NID_freshest_crl : NID_crl_distribution_points, NULL,
        NULL);
    int i, j;

    for (i = 0; dps && i < sk_DIST_POINT_num(dps); i++) {
        DIST_POINT *dp = sk_DIST_POINT_value(dps, i);

        if (!dp->distpoint || dp->distpoint->type != 0) {
            continue;
        }
        for (j = 0; j < sk_GENERAL_NAME_num(dp->distpoint->name.fullname);
             j++) {
            GENERAL_NAME *gn = sk_GENERAL_NAME_value(
                dp->distpoint->name.fullname, j);
            const char *url;

            if (gn->type != GEN_URI) {
                continue;
            }
            url = apr_pstrmemdup(p, (const char *)ASN1_STRING_get0_data(
                                        gn->d.uniformResourceIdentifier),
                                 ASN1_STRING_length(
                                     gn->d.uniformResourceIdentifier));
            /* ldap:// and others are not fetched; a NUL inside is */
            if (strlen(url) == (apr_size_t)ASN1_STRING_length(
                    gn->d.uniformResourceIdentifier)
                && x509a_http_parse(p, url, NULL) == NULL) {
                APR_ARRAY_PUSH(urls, const char *) = url;
                break;
            }
        }
    }
    sk_DIST_POINT_pop_free(dps, DIST_POINT_free);
    ERR_clear_error();
    return urls;
}

/* ------------------------------------------------------------------------ */
/* Getting one CRL                                                          */
/* ------------------------------------------------------------------------ */

/* Is @a crl @a issuer's, signed by it?  NULL, or why not. */
static const char *check_crl(apr_pool_t *p, X509_CRL *crl, X509 *issuer)
{
    EVP_PKEY *key = X509_get0_pubkey(issuer);

    if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(issuer))
        != 0) {
        return "the CRL is not issued by the certificate's issuer";
    }
    if (!key || X509_CRL_verify(crl, key) <= 0) {
        ERR_clear_error();
        return "the CRL's signature does not verify with the issuer's key";
    }
    (void)p;
    return NULL;
}

static const char *cache_path(apr_pool_t *p, const x509a_crlstore *st,
                              const char *url)
{
    unsigned char md[32];
    char hex[65];
    unsigned int mdlen, i;

    EVP_Digest(url, strlen(url), md, &mdlen, x509a_sha256(), NULL);
    for (i = 0; i < 32; i++) {
        apr_snprintf(hex + 2 * i, 3, "%02x", md[i]);
    }
    return apr_pstrcat(p, st->conf.cache_dir, "/", hex, ".crl", NULL);
}

/* The CRL the cache directory holds for @a url, or NULL. */
static X509_CRL *read_cached(apr_pool_t *p, const x509a_crlstore *st,
                             const char *url)
{
    const char *path = cache_path(p, st, url);
    const char *want = apr_pstrcat(p, FILE_MAGIC, "URL: ", url, "\n", NULL);
    apr_file_t *f;
    apr_finfo_t fi;
    X509_CRL *crl = NULL;
    char *data;
    apr_size_t len;
    BIO *bio;

    if (apr_file_open(&f, path, APR_FOPEN_READ | APR_FOPEN_BINARY,
                      APR_OS_DEFAULT, p) != APR_SUCCESS) {
        return NULL;
    }
    if (apr_file_info_get(&fi, APR_FINFO_SIZE, f) != APR_SUCCESS
        || fi.size <= 0 || (apr_size_t)fi.size > 2 * st->conf.max_len + 4096) {
        apr_file_close(f);
        return NULL;
    }
    len = (apr_size_t)fi.size;
    data = apr_palloc(p, len + 1);
    if (apr_file_read_full(f, data, len, &len) != APR_SUCCESS) {
        apr_file_close(f);
        return NULL;
    }
    apr_file_close(f);
    data[len] = '\0';
    /* the file names its URL: another URL's file is not this CRL */
    if (len <= strlen(want) || strncmp(data, want, strlen(want))) {
        return NULL;
    }
    bio = BIO_new_mem_buf(data + strlen(want), (int)(len - strlen(want)));
    if (bio) {
        crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
        BIO_free(bio);
    }
    ERR_clear_error();
    return crl;
}

/* Write @a crl for @a url into the cache directory: a new file renamed
 * over the old one, so readers see either whole. */
static const char *write_cached(apr_pool_t *p, const x509a_crlstore *st,
                                const char *url, X509_CRL *crl)
{
    const char *path = cache_path(p, st, url);
    char *tmp = apr_pstrcat(p, path, ".XXXXXX", NULL);
    BIO *bio = BIO_new(BIO_s_mem());
    apr_file_t *f;
    apr_status_t rv;
    char *pem, err[128];
    long pem_len;
    const char *head;
    apr_size_t n;

    if (!bio || !PEM_write_bio_X509_CRL(bio, crl)) {
        BIO_free(bio);
        ERR_clear_error();
        return "out of memory";
    }
    pem_len = BIO_get_mem_data(bio, &pem);
    head = apr_pstrcat(p, FILE_MAGIC, "URL: ", url, "\n", NULL);
    rv = apr_file_mktemp(&f, tmp, APR_FOPEN_CREATE | APR_FOPEN_WRITE
                                  | APR_FOPEN_EXCL | APR_FOPEN_BINARY, p);
    if (rv == APR_SUCCESS) {
        n = strlen(head);
        rv = apr_file_write_full(f, head, n, &n);
        if (rv == APR_SUCCESS) {
            n = (apr_size_t)pem_len;
            rv = apr_file_write_full(f, pem, n, &n);
        }
        if (rv == APR_SUCCESS) {
            rv = apr_file_close(f);
        }
        else {
            apr_file_close(f);
        }
        /* readable by every process of the server, whoever wrote it */
        if (rv == APR_SUCCESS) {
            rv = apr_file_perms_set(tmp, APR_FPROT_UREAD | APR_FPROT_UWRITE
                                         | APR_FPROT_GREAD | APR_FPROT_WREAD);
            if (rv == APR_ENOTIMPL) {
                rv = APR_SUCCESS;
            }
        }
        if (rv == APR_SUCCESS) {
            rv = apr_file_rename(tmp, path, p);
        }
        if (rv != APR_SUCCESS) {
            apr_file_remove(tmp, p);
        }
    }
    BIO_free(bio);
    if (rv != APR_SUCCESS) {
        return apr_psprintf(p, "cannot write %s: %s", path,
                            apr_strerror(rv, err, sizeof(err)));
    }
    return NULL;
}

/* When the background refresh fetches a CRL again. */
static apr_time_t refresh_time(apr_time_t fetched, apr_time_t this_update,
                               apr_time_t next_update)
{
    apr_time_t at;

    if (next_update == APR_INT64_MAX) {
        at = fetched + apr_time_from_sec(3600);
    }
    else if (this_update > 0 && this_update < next_update) {
        at = next_update - (next_update - this_update) / 4;
    }
    else {
        at = next_update;
    }
    return at < fetched + X509A_CRL_MIN_REFRESH
           ? fetched + X509A_CRL_MIN_REFRESH : at;
}

/* Install @a crl (taken over) in @a e (lock held); returns non-zero when it
 * replaced another CRL or was the first. */
static int install(x509a_crlstore *st, crl_entry *e, X509_CRL *crl,
                   apr_time_t now)
{
    unsigned char sha[32];
    unsigned int mdlen;
    int changed;

    /* an older CRL than the one held (a lagging mirror): keep ours */
    if (e->crl && x509a_time(X509_CRL_get0_lastUpdate(crl)) < e->this_update) {
        X509_CRL_free(crl);
        e->fetched_at = now;
        e->refresh_at = refresh_time(now, e->this_update, e->next_update);
        e->failed = e->invalid = 0;
        e->why[0] = '\0';
        return 0;
    }
    if (!X509_CRL_digest(crl, x509a_sha256(), sha, &mdlen)) {
        memset(sha, 0, sizeof(sha));
    }
    changed = !e->crl || memcmp(sha, e->sha, 32) != 0;
    X509_CRL_free(e->crl);
    e->crl = crl;
    memcpy(e->sha, sha, 32);
    e->this_update = x509a_time(X509_CRL_get0_lastUpdate(crl));
    e->next_update = X509_CRL_get0_nextUpdate(crl)
                     ? x509a_time(X509_CRL_get0_nextUpdate(crl))
                     : APR_INT64_MAX;
    e->fetched_at = now;
    e->refresh_at = refresh_time(now, e->this_update, e->next_update);
    e->failed = e->invalid = 0;
    e->why[0] = '\0';
    if (changed) {
        st->generation++;
        update_digest(st);
    }
    return changed;
}

/* The latest time @a e's CRL may be used. */
static apr_time_t usable_until(const crl_entry *e, apr_interval_time_t stale)
{
    if (e->next_update == APR_INT64_MAX) {
        return e->fetched_at + apr_time_from_sec(3600);
    }
    return e->next_update + stale;
}

/*
 * Get a CRL for @a e's URL (called with e->fetching set by the caller and
 * without the lock): the cache directory's when it is newer than the one
 * held (and, unless @a dir_only, still usable), else from the network.
 * Returns the CRL (a new one, checked against @a issuer) or NULL with the
 * reason in @a why and *invalid set for a CRL that is not valid.
 */
static X509_CRL *obtain(x509a_crlstore *st, apr_pool_t *p, const char *url,
                        X509 *issuer, apr_time_t have_this_update,
                        apr_time_t now, int network, const char **why,
                        int *invalid, const char **note)
{
    X509_CRL *crl = NULL;
    const char *err, *body;
    const unsigned char *der;
    apr_size_t len;

    *invalid = 0;
    *why = NULL;
    *note = NULL;
    if (st->conf.cache_dir) {
        crl = read_cached(p, st, url);
        if (crl) {
            apr_time_t tu = x509a_time(X509_CRL_get0_lastUpdate(crl));
            const ASN1_TIME *nu = X509_CRL_get0_nextUpdate(crl);

            /* another process's fetch, newer than ours and not stale */
            if (tu > have_this_update && check_crl(p, crl, issuer) == NULL
                && (!nu || x509a_time(nu) > now)) {
                *note = "from the cache directory";
                return crl;
            }
            X509_CRL_free(crl);
            crl = NULL;
        }
    }
    if (!network) {
        *why = "not in the cache directory";
        return NULL;
    }
    /* httpd's parent runs as root: it never fetches (post_config does
     * not call this), and neither does a process that still is */
    if (geteuid() == 0) {
        *why = "not fetched by a process running as root";
        return NULL;
    }
    err = x509a_http_fetch(p, url, NULL, NULL, 0, st->conf.max_len,
                           st->conf.timeout, &body, &len);
    if (err) {
        *why = err;
        return NULL;
    }
    der = (const unsigned char *)body;
    crl = d2i_X509_CRL(NULL, &der, (long)len);
    if (!crl || der != (const unsigned char *)body + len) {
        X509_CRL_free(crl);
        ERR_clear_error();
        *why = "the answer is not a DER CRL";
        *invalid = 1;
        return NULL;
    }
    if ((err = check_crl(p, crl, issuer))) {
        X509_CRL_free(crl);
        *why = err;
        *invalid = 1;
        return NULL;
    }
    if (st->conf.cache_dir && (err = write_cached(p, st, url, crl))) {
        *note = err;
    }
    return crl;
}

/* The entry of @a url, made if needed (lock held). */
static crl_entry *entry_of(x509a_crlstore *st, const char *url, int delta,
                           X509 *issuer)
{
    crl_entry *e = apr_hash_get(st->entries, url, APR_HASH_KEY_STRING);

    if (!e) {
        e = apr_pcalloc(st->pool, sizeof(*e));
        e->url = apr_pstrdup(st->pool, url);
        e->delta = delta;
        apr_hash_set(st->entries, e->url, APR_HASH_KEY_STRING, e);
    }
    if (issuer && (!e->issuer || X509_cmp(e->issuer, issuer) != 0)
        && X509_up_ref(issuer)) {
        X509_free(e->issuer);
        e->issuer = issuer;
    }
    return e;
}

/* One URL's CRL for a verification: a new reference, or NULL with why. */
static X509_CRL *get_crl(x509a_crlstore *st, apr_pool_t *p, const char *url,
                         int delta, X509 *issuer,
                         const x509a_crlfetch_policy *pol, apr_time_t now,
                         unsigned char sha[32], apr_time_t *until,
                         const char **why, int *invalid, apr_time_t *retry,
                         int *fetched, const char **cache_error)
{
    apr_time_t deadline = now + apr_time_from_sec(st->conf.timeout + 1);
    crl_entry *e;
    X509_CRL *crl = NULL;

    apr_thread_mutex_lock(st->lock);
    e = entry_of(st, url, delta, issuer);
    e->last_used = now;
    for (;;) {
        apr_time_t t = apr_time_now();

        if (e->crl && t < usable_until(e, pol->max_stale)
            && X509_CRL_up_ref(e->crl)) {
            crl = e->crl;
            memcpy(sha, e->sha, 32);
            *until = usable_until(e, pol->max_stale);
            break;
        }
        if (e->fetching) {
            /* one fetch at a time per URL: wait for it */
            if (t >= deadline) {
                *why = "another thread's fetch did not end in time";
                *invalid = 0;
                *retry = t;
                break;
            }
            apr_thread_cond_timedwait(st->done, st->lock, deadline - t);
            continue;
        }
        if (e->failed && t < e->retry_at) {
            *why = apr_pstrdup(p, e->why);
            *invalid = e->invalid;
            *retry = e->retry_at;
            break;
        }
        else {
            X509_CRL *got;
            const char *err, *note;
            int bad;
            apr_time_t have = e->crl ? e->this_update : 0;

            e->fetching = 1;
            apr_thread_mutex_unlock(st->lock);
            got = obtain(st, p, url, issuer, have, t, 1, &err, &bad, &note);
            (*fetched)++;
            if (got && note && strncmp(note, "cannot write", 12) == 0
                && !*cache_error) {
                *cache_error = note;
            }
            apr_thread_mutex_lock(st->lock);
            e->fetching = 0;
            if (got) {
                install(st, e, got, apr_time_now());
                if (apr_time_now() >= usable_until(e, pol->max_stale)) {
                    /* fetched, but already stale: the publisher's doing */
                    err = "the CRL fetched is past its nextUpdate";
                    got = NULL;
                    bad = 0;
                }
            }
            if (!got) {
                e->failed = 1;
                e->invalid = bad;
                e->retry_at = apr_time_now() + X509A_CRL_RETRY;
                apr_cpystrn(e->why, err, sizeof(e->why));
            }
            apr_thread_cond_broadcast(st->done);
            /* look again: the CRL, a usable older one, or the failure */
        }
    }
    apr_thread_mutex_unlock(st->lock);
    return crl;
}

/* ------------------------------------------------------------------------ */
/* Verification                                                             */
/* ------------------------------------------------------------------------ */

/* What the verification callback knows about a certificate of the chain. */
typedef struct {
    X509 *cert;
    int has_dp;                 /* names an http(s) distribution point */
    int failed, invalid;        /* its CRL could not be had */
    const char *url, *why;
} cert_state;

typedef struct {
    cert_state *certs;
    int n;
    STACK_OF(X509_CRL) *crls;   /* the fetched CRLs handed to OpenSSL */
    int has_file;               /* a CRL file is configured */
    int no_crl_ok, soft_fail;
    x509a_crlfetch_info *finfo;
} cb_state;

static apr_status_t free_crls(void *data)
{
    sk_X509_CRL_pop_free(data, X509_CRL_free);
    return APR_SUCCESS;
}

static int fetch_cb(int ok, X509_STORE_CTX *ctx)
{
    cb_state *cs = X509_STORE_CTX_get_app_data(ctx);
    int err = X509_STORE_CTX_get_error(ctx), i;

    if (ok || !cs) {
        return ok;
    }
    if (err == X509_V_ERR_UNABLE_TO_GET_CRL) {
        X509 *x = X509_STORE_CTX_get_current_cert(ctx);
        cert_state *c = NULL;

        for (i = 0; x && i < cs->n; i++) {
            if (X509_cmp(cs->certs[i].cert, x) == 0) {
                c = &cs->certs[i];
                break;
            }
        }
        if (c && c->failed) {
            /* revocation unknown: the distribution point failed us */
            if (!cs->finfo->unknown) {
                cs->finfo->unknown = 1;
                cs->finfo->unknown_url = c->url;
                cs->finfo->unknown_why = c->why;
            }
            cs->finfo->invalid |= c->invalid;
            if (cs->soft_fail && !c->invalid) {
                cs->finfo->soft_accepted = 1;
                X509_STORE_CTX_set_error(ctx, X509_V_OK);
                return 1;
            }
            return 0;
        }
        /* nothing published for it: only the CRL file could say */
        if (cs->no_crl_ok || (c && !c->has_dp && !cs->has_file)) {
            X509_STORE_CTX_set_error(ctx, X509_V_OK);
            return 1;
        }
        return 0;
    }
    if (err == X509_V_ERR_CRL_HAS_EXPIRED) {
        /* a fetched CRL within X509AuthnCRLMaxStale (only those are handed
         * over); an expired CRL of the file still fails */
        X509_CRL *crl = X509_STORE_CTX_get0_current_crl(ctx);

        for (i = 0; crl && i < sk_X509_CRL_num(cs->crls); i++) {
            if (sk_X509_CRL_value(cs->crls, i) == crl) {
                X509_STORE_CTX_set_error(ctx, X509_V_OK);
                return 1;
            }
        }
    }
    return 0;
}

int x509a_crlfetch_check(x509a_verifier *v, x509a_crlstore *st,
                         const x509a_crlfetch_policy *pol, apr_pool_t *p,
                         X509 *leaf, STACK_OF(X509) *untrusted,
                         STACK_OF(X509) **verified, const char **why,
                         x509a_verify_info *info, x509a_crlfetch_info *finfo)
{
    const x509a_verify_conf *conf = x509a_verifier_conf(v);
    x509a_verify_info dummy;
    x509a_crlfetch_info fdummy;
    X509_STORE *store;
    x509a_verify_run_opts opts;
    STACK_OF(X509) *chain = NULL;
    STACK_OF(X509_CRL) *crls;
    cb_state cs;
    apr_time_t now = apr_time_now();
    const char *broken, *delta_url = NULL, *delta_why = NULL;
    int delta_bad = 0;
    int ok, i, j, n;

    if (!info) {
        info = &dummy;
    }
    if (!finfo) {
        finfo = &fdummy;
    }
    memset(finfo, 0, sizeof(*finfo));
    finfo->bound = APR_INT64_MAX;
    info->crl_next_update = APR_INT64_MAX;
    info->transient = 0;
    info->error = X509_V_OK;
    info->error_depth = 0;
    info->reason = NULL;
    x509a_verifier_settings_digest(v, info->settings_digest);
    if ((broken = x509a_verifier_broken(v, p))) {
        *why = broken;
        info->transient = 1;
        info->reason = X509A_REASON_REVOCATION_UNKNOWN;
        return 0;
    }
    if (conf->crl_check == X509A_CRL_CHECK_NONE) {
        return x509a_verifier_check(v, p, leaf, untrusted, verified, why,
                                    info);
    }
    if (!(store = x509a_verifier_store(v))) {
        *why = "trust store unusable";
        info->transient = 1;
        info->reason = X509A_REASON_REVOCATION_UNKNOWN;
        return 0;
    }

    /* 1. the signatures, dates and purpose, without CRLs: nothing is
     * fetched for a chain that does not verify to a trust anchor */
    memset(&opts, 0, sizeof(opts));
    opts.clear_flags = X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL;
    if (!x509a_verify_run(v, store, p, leaf, untrusted, &opts, &chain, why,
                          info)) {
        X509_STORE_free(store);
        return 0;
    }

    /* 2. the CRLs its certificates name */
    crls = sk_X509_CRL_new_null();
    apr_pool_cleanup_register(p, crls, free_crls, apr_pool_cleanup_null);
    n = conf->crl_check == X509A_CRL_CHECK_LEAF ? 1 : sk_X509_num(chain);
    memset(&cs, 0, sizeof(cs));
    cs.certs = apr_pcalloc(p, sizeof(cert_state) * (n > 0 ? n : 1));
    cs.n = n;
    cs.crls = crls;
    cs.has_file = conf->crl_file != NULL;
    cs.no_crl_ok = conf->no_crl_ok;
    cs.soft_fail = pol->soft_fail;
    cs.finfo = finfo;
    {
        apr_array_header_t *shas = apr_array_make(p, 4, 32);
        apr_array_header_t *urls_used = apr_array_make(p, 4,
                                                       sizeof(const char *));

        for (i = 0; i < n; i++) {
            X509 *x = sk_X509_value(chain, i);
            X509 *issuer = i + 1 < sk_X509_num(chain)
                           ? sk_X509_value(chain, i + 1) : x;
            int delta;

            cs.certs[i].cert = x;
            for (delta = 0; delta < 2; delta++) {
                apr_array_header_t *urls = x509a_crl_urls(p, x, delta);

                for (j = 0; j < urls->nelts; j++) {
                    const char *url = APR_ARRAY_IDX(urls, j, const char *);
                    const char *err = NULL;
                    unsigned char sha[32];
                    apr_time_t until = APR_INT64_MAX, retry = 0;
                    int bad = 0;
                    X509_CRL *crl;

                    if (!delta) {
                        cs.certs[i].has_dp = 1;
                    }
                    crl = get_crl(st, p, url, delta, issuer, pol, now, sha,
                                  &until, &err, &bad, &retry,
                                  &finfo->fetched, &finfo->cache_error);
                    if (!crl) {
                        /* a delta that cannot be had: what was revoked
                         * since the base is unknown (decided after the
                         * verification: OpenSSL uses the base alone) */
                        if (delta) {
                            if (!delta_url) {
                                delta_url = url;
                                delta_why = err;
                                delta_bad = bad;
                            }
                            if (!finfo->retry_at || retry < finfo->retry_at) {
                                finfo->retry_at = retry;
                            }
                            continue;
                        }
                        if (!cs.certs[i].failed) {
                            cs.certs[i].failed = 1;
                            cs.certs[i].invalid = bad;
                            cs.certs[i].url = url;
                            cs.certs[i].why = err;
                        }
                        if (!finfo->retry_at || retry < finfo->retry_at) {
                            finfo->retry_at = retry;
                        }
                        continue;
                    }
                    /* a base CRL had: an earlier failed DP of the same
                     * certificate no longer matters */
                    if (!delta && cs.certs[i].failed) {
                        cs.certs[i].failed = 0;
                    }
                    sk_X509_CRL_push(crls, crl);
                    memcpy(apr_array_push(shas), sha, 32);
                    APR_ARRAY_PUSH(urls_used, const char *) = url;
                    if (until < finfo->bound) {
                        finfo->bound = until;
                    }
                    finfo->used++;
                }
            }
        }
        /* the store's state, if it still holds exactly what was taken */
        apr_thread_mutex_lock(st->lock);
        memcpy(finfo->digest, st->digest, 32);
        finfo->consistent = 1;
        for (i = 0; i < urls_used->nelts; i++) {
            crl_entry *ce = apr_hash_get(st->entries,
                                         APR_ARRAY_IDX(urls_used, i,
                                                       const char *),
                                         APR_HASH_KEY_STRING);

            if (!ce || !ce->crl
                || memcmp(ce->sha, shas->elts + 32 * i, 32) != 0) {
                finfo->consistent = 0;
            }
        }
        apr_thread_mutex_unlock(st->lock);
    }

    /* 3. verify again, with the CRLs */
    memset(&opts, 0, sizeof(opts));
    opts.set_flags = x509a_crl_check_flags(conf->crl_check);
    opts.crls = crls;
    opts.verify_cb = fetch_cb;
    opts.app_data = &cs;
    opts.crl_bound = 1;
    ok = x509a_verify_run(v, store, p, leaf, untrusted, &opts, verified, why,
                          info);
    if (ok && delta_url) {
        /* not revoked by the base CRLs; the delta would have said */
        if (!finfo->unknown) {
            finfo->unknown = 1;
            finfo->unknown_url = delta_url;
            finfo->unknown_why = delta_why;
        }
        finfo->invalid |= delta_bad;
        if (pol->soft_fail && !delta_bad) {
            finfo->soft_accepted = 1;
        }
        else {
            ok = 0;
            info->error = X509_V_ERR_UNABLE_TO_GET_CRL;
            info->reason = X509A_REASON_REVOCATION_UNKNOWN;
            *why = apr_psprintf(p, "verification failed: revocation "
                                "status unknown: delta CRL %s: %s",
                                delta_url, delta_why);
        }
    }
    else if (!ok && info->error == X509_V_ERR_UNABLE_TO_GET_CRL
             && finfo->unknown) {
        *why = apr_psprintf(p, "verification failed at depth %d: "
                            "revocation status unknown: CRL %s: %s",
                            info->error_depth, finfo->unknown_url,
                            finfo->unknown_why);
    }
    X509_STORE_free(store);
    return ok;
}

/* ------------------------------------------------------------------------ */
/* Background refresh                                                       */
/* ------------------------------------------------------------------------ */

void x509a_crlstore_refresh(x509a_crlstore *st, apr_pool_t *p, apr_time_t now,
                            apr_array_header_t *events)
{
    apr_array_header_t *due = apr_array_make(p, 4, sizeof(crl_entry *));
    apr_hash_index_t *hi;
    int i;

    apr_thread_mutex_lock(st->lock);
    for (hi = apr_hash_first(NULL, st->entries); hi; hi = apr_hash_next(hi)) {
        crl_entry *e = apr_hash_this_val(hi);

        if (e->fetching || !e->issuer
            || now - e->last_used > apr_time_from_sec(86400)) {
            continue;
        }
        /* due: refresh time, or after a failure the retry time */
        if (e->failed ? now >= e->retry_at
                      : (e->crl && now >= e->refresh_at)) {
            e->fetching = 1;
            X509_up_ref(e->issuer);
            APR_ARRAY_PUSH(due, crl_entry *) = e;
        }
    }
    apr_thread_mutex_unlock(st->lock);

    for (i = 0; i < due->nelts; i++) {
        crl_entry *e = APR_ARRAY_IDX(due, i, crl_entry *);
        X509 *issuer = e->issuer;
        X509_CRL *got;
        const char *err, *note;
        apr_time_t have;
        int bad;

        apr_thread_mutex_lock(st->lock);
        have = e->crl ? e->this_update : 0;
        apr_thread_mutex_unlock(st->lock);
        got = obtain(st, p, e->url, issuer, have, now, 1, &err, &bad, &note);
        X509_free(issuer);
        apr_thread_mutex_lock(st->lock);
        e->fetching = 0;
        if (got) {
            x509a_crl_event *ev = apr_array_push(events);
            int changed = install(st, e, got, apr_time_now());

            ev->error = 0;
            ev->url = e->url;
            ev->msg = apr_psprintf(p, "%s CRL%s%s, nextUpdate %s",
                                   changed ? "new" : "unchanged",
                                   note ? ", " : "", note ? note : "",
                                   e->next_update == APR_INT64_MAX ? "none"
                                   : apr_psprintf(p, "in %" APR_TIME_T_FMT
                                                  " s", apr_time_sec(
                                                      e->next_update
                                                      - apr_time_now())));
        }
        else {
            x509a_crl_event *ev = apr_array_push(events);

            e->failed = 1;
            e->invalid = bad;
            e->retry_at = apr_time_now() + X509A_CRL_RETRY;
            apr_cpystrn(e->why, err, sizeof(e->why));
            ev->error = 1;
            ev->url = e->url;
            ev->msg = apr_pstrdup(p, err);
        }
        apr_thread_cond_broadcast(st->done);
        apr_thread_mutex_unlock(st->lock);
    }
}

static int fetched_cmp(const void *a, const void *b)
{
    return strcmp(((const x509a_fetched_crl *)a)->url,
                  ((const x509a_fetched_crl *)b)->url);
}

apr_array_header_t *x509a_crlstore_health(x509a_crlstore *st, apr_pool_t *p)
{
    apr_array_header_t *out = apr_array_make(p, 4, sizeof(x509a_fetched_crl));
    apr_hash_index_t *hi;

    apr_thread_mutex_lock(st->lock);
    for (hi = apr_hash_first(NULL, st->entries); hi; hi = apr_hash_next(hi)) {
        const crl_entry *e = apr_hash_this_val(hi);
        x509a_fetched_crl *f = apr_array_push(out);

        memset(f, 0, sizeof(*f));
        f->url = apr_pstrdup(p, e->url);
        f->crl.delta = e->delta;
        if (e->crl) {
            int n = sk_X509_REVOKED_num(X509_CRL_get_REVOKED(e->crl));

            f->crl.issuer = x509a_print_name(p, X509_CRL_get_issuer(e->crl), 0);
            f->crl.this_update = e->this_update;
            f->crl.next_update = e->next_update;
            f->crl.entries = n > 0 ? n : 0;
            f->fetched_at = e->fetched_at;
        }
        f->failed = e->failed ? apr_pstrdup(p, e->why) : NULL;
    }
    apr_thread_mutex_unlock(st->lock);
    qsort(out->elts, out->nelts, sizeof(x509a_fetched_crl), fetched_cmp);
    return out;
}
