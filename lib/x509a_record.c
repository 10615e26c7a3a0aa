/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/* Shared-cache records: cache keys, and authenticated verification results
 * (the layout and the choice of MAC are in x509a_record.h). */

#include <string.h>
#include <apr_strings.h>
#include <apr_file_io.h>
#include <apr_lib.h>
#include <apr_thread_mutex.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/err.h>

#include "x509a_record.h"
#include "x509a_cert.h"
#include "x509a_reason.h"

/* Offsets of the fixed header. */
#define OFF_VERSION 0
#define OFF_KEY_ID  1
#define OFF_VERDICT 9
#define OFF_EXPIRES 10
#define OFF_FROM    18
#define OFF_UNTIL   26
#define OFF_NCHAIN  34
#define OFF_REASON  35
#define OFF_TOKEN   37
#define OFF_FORM    38
#define HEADER_LEN  40
#define MAC_LEN     X509A_RECORD_MAC_LEN

/* Contexts kept for reuse: one per thread that MACs at the same time. */
#define SPARE_CTX   32

struct x509a_record_key {
    unsigned char id[X509A_RECORD_KEY_ID_LEN];
    /** SipHash key, derived from the secret. */
    unsigned char mac_key[16];
    EVP_MAC *mac;
    /* A SipHash context is cheap to key (no precomputation) but not
     * thread-safe: contexts are reused from this stack, under the lock. */
    apr_thread_mutex_t *lock;
    EVP_MAC_CTX *spare[SPARE_CTX];
    int nspare;
};

static apr_status_t key_cleanup(void *data)
{
    x509a_record_key *k = data;

    while (k->nspare > 0) {
        EVP_MAC_CTX_free(k->spare[--k->nspare]);
    }
    EVP_MAC_free(k->mac);
    k->mac = NULL;
    OPENSSL_cleanse(k->mac_key, sizeof(k->mac_key));
    return APR_SUCCESS;
}

/* SHA-256 of a label and the secret. */
static int derive(const char *label, const unsigned char *secret,
                  apr_size_t len, unsigned char md[32])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int mdlen;
    int ok = ctx && EVP_DigestInit_ex(ctx, x509a_sha256(), NULL)
             && EVP_DigestUpdate(ctx, label, strlen(label))
             && EVP_DigestUpdate(ctx, secret, len)
             && EVP_DigestFinal_ex(ctx, md, &mdlen);

    EVP_MD_CTX_free(ctx);
    if (!ok) {
        ERR_clear_error();
    }
    return ok;
}

const char *x509a_record_key_make(apr_pool_t *p, const unsigned char *secret,
                                  apr_size_t len, x509a_record_key **out)
{
    x509a_record_key *k;
    unsigned char md[32];

    *out = NULL;
    if (len < X509A_RECORD_MIN_SECRET) {
        return apr_psprintf(p, "%" APR_SIZE_T_FMT " bytes of secret, at "
                            "least %d needed", len, X509A_RECORD_MIN_SECRET);
    }
    k = apr_pcalloc(p, sizeof(*k));
    /* digests of the secret under their own labels: the id names the key
     * without being usable as the key */
    if (!derive("x509authn cache key id", secret, len, md)) {
        return "cannot compute the key id";
    }
    memcpy(k->id, md, sizeof(k->id));
    if (!derive("x509authn cache record MAC key", secret, len, md)) {
        return "cannot derive the MAC key";
    }
    memcpy(k->mac_key, md, sizeof(k->mac_key));
    OPENSSL_cleanse(md, sizeof(md));
    if (apr_thread_mutex_create(&k->lock, APR_THREAD_MUTEX_DEFAULT, p)
        != APR_SUCCESS) {
        return "cannot create a mutex";
    }
    apr_pool_cleanup_register(p, k, key_cleanup, apr_pool_cleanup_null);
    if (!(k->mac = EVP_MAC_fetch(NULL, "SIPHASH", NULL))) {
        ERR_clear_error();
        return "SipHash is not available";
    }
    *out = k;
    return NULL;
}


const char *x509a_record_key_parse(apr_pool_t *p, const unsigned char *data,
                                   apr_size_t len, x509a_record_key **out)
{
    apr_size_t b = 0, e = len, i, printable = 0;
    int hex = 1;

    *out = NULL;
    while (b < e && apr_isspace(data[b])) {
        b++;
    }
    while (e > b && apr_isspace(data[e - 1])) {
        e--;
    }
    for (i = b; i < e; i++) {
        if (OPENSSL_hexchar2int(data[i]) < 0) {
            hex = 0;
        }
        if (apr_isprint(data[i]) || apr_isspace(data[i])) {
            printable++;
        }
    }
    if (e > b && hex) {
        unsigned char *secret;
        const char *err;

        if ((e - b) % 2) {
            return apr_psprintf(p, "%" APR_SIZE_T_FMT " hexadecimal digits, "
                                "an odd number", e - b);
        }
        if (e - b < 2 * X509A_RECORD_MIN_SECRET) {
            return apr_psprintf(p, "only %" APR_SIZE_T_FMT " hexadecimal "
                                "digits, at least %d needed (e.g. openssl "
                                "rand -hex 32)", e - b,
                                2 * X509A_RECORD_MIN_SECRET);
        }
        secret = apr_palloc(p, (e - b) / 2);
        for (i = 0; i < (e - b) / 2; i++) {
            const unsigned char *d = data + b + 2 * i;

            secret[i] = (unsigned char)(OPENSSL_hexchar2int(d[0]) << 4
                                        | OPENSSL_hexchar2int(d[1]));
        }
        err = x509a_record_key_make(p, secret, (e - b) / 2, out);
        OPENSSL_cleanse(secret, (e - b) / 2);
        return err;
    }
    if (len < X509A_RECORD_MIN_SECRET) {
        return apr_psprintf(p, "only %" APR_SIZE_T_FMT " bytes, at least %d "
                            "random bytes needed (e.g. openssl rand 32), or "
                            "%d hexadecimal digits", len,
                            X509A_RECORD_MIN_SECRET,
                            2 * X509A_RECORD_MIN_SECRET);
    }
    if (printable == e - b) {
        /* 32 random bytes are all printable once in 10^17 */
        return "text that is not hexadecimal: a passphrase is not a key; "
               "use at least 32 random bytes (e.g. openssl rand 32) or 64 "
               "hexadecimal digits (openssl rand -hex 32)";
    }
    return x509a_record_key_make(p, data, len, out);
}

const char *x509a_record_key_load(apr_pool_t *p, const char *path,
                                  x509a_record_key **out)
{
    apr_file_t *f;
    apr_finfo_t fi;
    apr_status_t rv;
    unsigned char *data = NULL;
    apr_size_t len = 0;
    const char *err;
    char buf[128];

    *out = NULL;
    rv = apr_file_open(&f, path, APR_FOPEN_READ | APR_FOPEN_BINARY,
                       APR_OS_DEFAULT, p);
    if (rv == APR_SUCCESS) {
        rv = apr_file_info_get(&fi, APR_FINFO_SIZE | APR_FINFO_TYPE, f);
        if (rv == APR_SUCCESS && fi.filetype != APR_REG) {
            apr_file_close(f);
            return apr_psprintf(p, "'%s' is not a regular file", path);
        }
        if (rv == APR_SUCCESS && fi.size > 65536) {
            apr_file_close(f);
            return apr_psprintf(p, "'%s' is larger than 64 KiB: not a "
                                "secret file", path);
        }
        if (rv == APR_SUCCESS) {
            len = (apr_size_t)fi.size;
            data = apr_palloc(p, len + 1);
            rv = apr_file_read_full(f, data, len, &len);
            if (rv == APR_EOF && len == 0) {
                rv = APR_SUCCESS;
            }
        }
        apr_file_close(f);
    }
    if (rv != APR_SUCCESS) {
        return apr_psprintf(p, "cannot read '%s': %s", path,
                            apr_strerror(rv, buf, sizeof(buf)));
    }
    err = x509a_record_key_parse(p, data, len, out);
    OPENSSL_cleanse(data, len);
    return err ? apr_psprintf(p, "'%s' holds %s", path, err) : NULL;
}

const unsigned char *x509a_record_key_id(const x509a_record_key *k)
{
    return k->id;
}

int x509a_record_cache_key_digests(const unsigned char *digests,
                                   int nuntrusted,
                                   const unsigned char settings[32],
                                   unsigned char key[X509A_RECORD_KEY_LEN])
{
    unsigned int mdlen;

    if (nuntrusted < 0
        || !EVP_Digest(digests, 32 * (apr_size_t)(1 + nuntrusted), key,
                       &mdlen, x509a_sha256(), NULL)) {
        ERR_clear_error();
        return 0;
    }
    memcpy(key + 32, settings, 32);
    return 1;
}

int x509a_record_cache_key(X509 *leaf, STACK_OF(X509) *untrusted,
                           const unsigned char settings[32],
                           unsigned char key[X509A_RECORD_KEY_LEN])
{
    int n = sk_X509_num(untrusted), i, ok;
    unsigned char one[32 * 4], *md = one;
    unsigned int mdlen;

    if (n < 0) {
        n = 0;
    }
    if (n >= 4) {
        md = OPENSSL_malloc(32 * (apr_size_t)(n + 1));
        if (!md) {
            return 0;
        }
    }
    ok = X509_digest(leaf, x509a_sha256(), md, &mdlen);
    for (i = 0; ok && i < n; i++) {
        ok = X509_digest(sk_X509_value(untrusted, i), x509a_sha256(),
                         md + 32 * (i + 1), &mdlen);
    }
    /* one function computes both: they agree by construction */
    ok = ok && x509a_record_cache_key_digests(md, n, settings, key);
    if (md != one) {
        OPENSSL_free(md);
    }
    if (!ok) {
        ERR_clear_error();
    }
    return ok;
}

static void put_i64(unsigned char *d, apr_int64_t v)
{
    apr_uint64_t u = (apr_uint64_t)v;
    int i;

    for (i = 7; i >= 0; i--) {
        d[i] = (unsigned char)(u & 0xff);
        u >>= 8;
    }
}

static apr_int64_t get_i64(const unsigned char *d)
{
    apr_uint64_t u = 0;
    int i;

    for (i = 0; i < 8; i++) {
        u = (u << 8) | d[i];
    }
    return (apr_int64_t)u;
}

/* Seconds in a record; APR_INT64_MAX ("no bound") stays that. */
static apr_int64_t to_sec(apr_time_t t)
{
    return t == APR_INT64_MAX ? APR_INT64_MAX : apr_time_sec(t);
}

/* (to_sec(from_sec(s)) == s for every s it returns itself) */
static apr_time_t from_sec(apr_int64_t s)
{
    const apr_int64_t lim = APR_INT64_MAX / APR_USEC_PER_SEC;

    if (s >= lim) {
        return APR_INT64_MAX;
    }
    return apr_time_from_sec(s <= -lim ? -lim : s);
}

/* SipHash-2-4 (128-bit tag) under @a k of the cache key and @a len bytes
 * of @a rec. */
static int record_mac(const x509a_record_key *key,
                      const unsigned char cache_key[X509A_RECORD_KEY_LEN],
                      const unsigned char *rec, apr_size_t len,
                      unsigned char mac[MAC_LEN])
{
    /* the spare contexts change under the lock; the key itself never */
    x509a_record_key *k = (x509a_record_key *)key;
    EVP_MAC_CTX *ctx = NULL;
    OSSL_PARAM params[2];
    size_t maclen = 0, size = MAC_LEN;
    int ok;

    apr_thread_mutex_lock(k->lock);
    if (k->nspare > 0) {
        ctx = k->spare[--k->nspare];
    }
    apr_thread_mutex_unlock(k->lock);
    if (!ctx && !(ctx = EVP_MAC_CTX_new(k->mac))) {
        ERR_clear_error();
        return 0;
    }
    params[0] = OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &size);
    params[1] = OSSL_PARAM_construct_end();
    ok = EVP_MAC_init(ctx, k->mac_key, sizeof(k->mac_key), params)
         && EVP_MAC_update(ctx, cache_key, X509A_RECORD_KEY_LEN)
         && EVP_MAC_update(ctx, rec, len)
         && EVP_MAC_final(ctx, mac, &maclen, MAC_LEN) && maclen == MAC_LEN;
    if (!ok) {
        ERR_clear_error();
    }
    apr_thread_mutex_lock(k->lock);
    if (ok && k->nspare < SPARE_CTX) {
        k->spare[k->nspare++] = ctx;
        ctx = NULL;
    }
    apr_thread_mutex_unlock(k->lock);
    EVP_MAC_CTX_free(ctx);
    return ok;
}

apr_size_t x509a_record_encode(const x509a_record_key *k,
                               const unsigned char cache_key[
                                   X509A_RECORD_KEY_LEN],
                               const x509a_record *rec, unsigned char *out)
{
    apr_size_t n = 0, r = 0, t = 0, f = 0, len;

    if (rec->verified) {
        if (rec->nchain < 1 || rec->nchain > X509A_RECORD_MAX_CHAIN) {
            return 0;
        }
        n = (apr_size_t)rec->nchain;
        /* a form too long is left out: the reader decodes the certificate */
        if (rec->form && rec->form_len <= X509A_RECORD_MAX_FORM) {
            f = rec->form_len;
        }
    }
    else if (rec->why) {
        r = strlen(rec->why);
        if (r > X509A_RECORD_MAX_REASON) {
            r = X509A_RECORD_MAX_REASON;
        }
    }
    if (!rec->verified && rec->reason) {
        t = strlen(rec->reason);
        if (t > X509A_RECORD_MAX_TOKEN) {
            t = 0;
        }
    }
    out[OFF_VERSION] = X509A_RECORD_VERSION;
    memcpy(out + OFF_KEY_ID, k->id, X509A_RECORD_KEY_ID_LEN);
    out[OFF_VERDICT] = rec->verified ? 'V' : 'F';
    put_i64(out + OFF_EXPIRES, to_sec(rec->expires));
    put_i64(out + OFF_FROM, rec->verified ? to_sec(rec->valid_from) : 0);
    put_i64(out + OFF_UNTIL, rec->verified ? to_sec(rec->valid_until) : 0);
    out[OFF_NCHAIN] = (unsigned char)n;
    out[OFF_REASON] = (unsigned char)(r >> 8);
    out[OFF_REASON + 1] = (unsigned char)(r & 0xff);
    out[OFF_TOKEN] = (unsigned char)t;
    out[OFF_FORM] = (unsigned char)(f >> 8);
    out[OFF_FORM + 1] = (unsigned char)(f & 0xff);
    len = HEADER_LEN;
    if (n) {
        memcpy(out + len, rec->chain, 32 * n);
        len += 32 * n;
    }
    if (f) {
        memcpy(out + len, rec->form, f);
        len += f;
    }
    if (r) {
        memcpy(out + len, rec->why, r);
        len += r;
    }
    if (t) {
        memcpy(out + len, rec->reason, t);
        len += t;
    }
    if (!record_mac(k, cache_key, out, len, out + len)) {
        return 0;
    }
    return len + MAC_LEN;
}

x509a_record_status x509a_record_decode(apr_pool_t *p,
                                        const x509a_record_key *current,
                                        const x509a_record_key *previous,
                                        const unsigned char cache_key[
                                            X509A_RECORD_KEY_LEN],
                                        const unsigned char *val,
                                        apr_size_t len, apr_time_t now,
                                        x509a_record *out)
{
    const x509a_record_key *k;
    unsigned char mac[MAC_LEN];
    apr_size_t n, r, t, f;

    memset(out, 0, sizeof(*out));
    if (len < 1) {
        return X509A_RECORD_MALFORMED;
    }
    if (val[OFF_VERSION] != X509A_RECORD_VERSION) {
        return X509A_RECORD_UNKNOWN_VERSION;
    }
    if (len < HEADER_LEN + MAC_LEN) {
        return X509A_RECORD_MALFORMED;
    }
    if (current && !memcmp(val + OFF_KEY_ID, current->id,
                           X509A_RECORD_KEY_ID_LEN)) {
        k = current;
    }
    else if (previous && !memcmp(val + OFF_KEY_ID, previous->id,
                                 X509A_RECORD_KEY_ID_LEN)) {
        k = previous;
    }
    else {
        return X509A_RECORD_UNKNOWN_KEY;
    }
    /* nothing but the version and the key id is read before the MAC is */
    if (!record_mac(k, cache_key, val, len - MAC_LEN, mac)
        || CRYPTO_memcmp(mac, val + len - MAC_LEN, MAC_LEN) != 0) {
        return X509A_RECORD_BAD_MAC;
    }
    n = val[OFF_NCHAIN];
    r = (apr_size_t)val[OFF_REASON] << 8 | val[OFF_REASON + 1];
    t = val[OFF_TOKEN];
    f = (apr_size_t)val[OFF_FORM] << 8 | val[OFF_FORM + 1];
    if (HEADER_LEN + 32 * n + f + r + t + MAC_LEN != len
        || (val[OFF_VERDICT] == 'V' && (n < 1 || n > X509A_RECORD_MAX_CHAIN
                                        || r != 0 || t != 0
                                        || f > X509A_RECORD_MAX_FORM))
        || (val[OFF_VERDICT] == 'F' && (n != 0 || f != 0))
        || (val[OFF_VERDICT] != 'V' && val[OFF_VERDICT] != 'F')) {
        return X509A_RECORD_MALFORMED;
    }
    out->verified = val[OFF_VERDICT] == 'V';
    out->expires = from_sec(get_i64(val + OFF_EXPIRES));
    if (out->verified) {
        out->valid_from = from_sec(get_i64(val + OFF_FROM));
        out->valid_until = from_sec(get_i64(val + OFF_UNTIL));
        out->nchain = (int)n;
        out->chain = apr_pmemdup(p, val + HEADER_LEN, 32 * n);
        if (f) {
            out->form = apr_pmemdup(p, val + HEADER_LEN + 32 * n, f);
            out->form_len = f;
        }
    }
    else {
        out->why = apr_pstrmemdup(p, (const char *)val + HEADER_LEN, r);
        /* another release's token this one does not know: none */
        out->reason = x509a_reason_known((const char *)val + HEADER_LEN + r,
                                         t);
    }
    return now < out->expires ? X509A_RECORD_OK : X509A_RECORD_EXPIRED;
}

const char *x509a_record_status_text(x509a_record_status st)
{
    switch (st) {
    case X509A_RECORD_OK:
        return "authentic";
    case X509A_RECORD_EXPIRED:
        return "expired";
    case X509A_RECORD_UNKNOWN_VERSION:
        return "of an unknown format version";
    case X509A_RECORD_UNKNOWN_KEY:
        return "written under a key this server does not have";
    case X509A_RECORD_BAD_MAC:
        return "not authentic (altered, forged, or copied from another key)";
    case X509A_RECORD_MALFORMED:
    default:
        return "malformed";
    }
}
