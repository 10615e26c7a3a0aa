/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/*
 * Forwarded certificates: the certificate a trusted proxy forwards,
 * decoded, verified locally (or taken from the shared cache) and kept per
 * process, keyed by the exact header values (and per server, whose
 * settings decide decoding and verification), dropped when the CRLs are
 * reloaded.
 */

#include "x509authn.h"

#include "apr_strings.h"

#include <sys/uio.h>

#include <openssl/evp.h>

APLOG_USE_MODULE(x509authn);

/** Longest verified chain a shared-cache record holds. */
#define SOCACHE_MAX_CHAIN 16

static apr_status_t free_x509(void *data)
{
    X509_free(data);
    return APR_SUCCESS;
}

static apr_status_t free_stack_only(void *data)
{
    sk_X509_free(data);
    return APR_SUCCESS;
}

/* Shared-cache value: 'V', the count n, n SHA-256 fingerprints of the
 * verified chain 'V', the count n, n SHA-256 fingerprints of the verified chain
 * (leaf first), then valid_from and valid_until (seconds, 8 bytes each,
 * big-endian); or 'F' and the reason of the failure. */
static void put_u64(unsigned char *d, apr_uint64_t v)
{
    int i;

    for (i = 7; i >= 0; i--) {
        d[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

static apr_uint64_t get_u64(const unsigned char *d)
{
    apr_uint64_t v = 0;
    int i;

    for (i = 0; i < 8; i++) {
        v = (v << 8) | d[i];
    }
    return v;
}

static apr_time_t asn1_time(const ASN1_TIME *t)
{
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    return ASN1_TIME_to_tm(t, &tm) ? apr_time_from_sec(timegm(&tm)) : 0;
}

/* The window in which every certificate of the chain is valid. */
static void chain_window(STACK_OF(X509) *chain, apr_time_t *from,
                         apr_time_t *until)
{
    int i;

    *from = 0;
    *until = APR_INT64_MAX;
    for (i = 0; i < sk_X509_num(chain); i++) {
        apr_time_t nb = asn1_time(X509_get0_notBefore(sk_X509_value(chain, i)));
        apr_time_t na = asn1_time(X509_get0_notAfter(sk_X509_value(chain, i)));
        if (nb > *from) {
            *from = nb;
        }
        if (na < *until) {
            *until = na;
        }
    }
}

const char *x509authn_forwarded_key(request_rec *r,
                                    const x509authn_srv_conf *sc,
                                    apr_size_t *len,
                                    apr_array_header_t **chains)
{
    const char *leaf = apr_table_get(r->headers_in, sc->header);
    struct iovec parts[2 + 2 * 10];
    int n = 0, i;

    *chains = NULL;
    if (!leaf) {
        return NULL;
    }
    if (!sc->chain_header) {
        /* the common case: the leaf's value is the key */
        *len = strlen(leaf);
        return leaf;
    }
    *chains = apr_array_make(r->pool, 2, sizeof(const char *));
    parts[n].iov_base = (void *)leaf;
    parts[n++].iov_len = strlen(leaf) + 1;
    if (sc->chain_header && !sc->chain_is_prefix) {
        const char *v = apr_table_get(r->headers_in, sc->chain_header);
        if (v) {
            APR_ARRAY_PUSH(*chains, const char *) = v;
        }
    }
    else if (sc->chain_header) {
        for (i = 0; i < 10; i++) {
            const char *v = apr_table_get(r->headers_in,
                                          apr_psprintf(r->pool, "%s%d",
                                                       sc->chain_header, i));
            if (!v) {
                break;
            }
            APR_ARRAY_PUSH(*chains, const char *) = v;
        }
    }
    for (i = 0; i < (*chains)->nelts; i++) {
        const char *v = APR_ARRAY_IDX(*chains, i, const char *);
        parts[n].iov_base = (void *)v;
        parts[n++].iov_len = strlen(v) + 1;
    }
    return apr_pstrcatv(r->pool, parts, n, len);
}

/* Decode, verify (or take the shared cache's word) and wrap a forwarded
 * certificate.  NULL with *why when the value itself is unusable. */
static x509authn_entry *forwarded_entry(request_rec *r,
                                        const x509authn_srv_conf *sc,
                                        const char *leaf_value,
                                        apr_array_header_t *chain_values,
                                        const char **why)
{
    x509a_forwarded fwd;
    STACK_OF(X509) *untrusted, *verified = NULL;
    x509authn_entry *e;
    const char *err;
    int i;

    if ((err = x509a_decode_leaf(r->pool, leaf_value, sc->format, sc->max_len,
                                 &fwd))) {
        *why = apr_psprintf(r->pool, "malformed %s header: %s", sc->header,
                            err);
        return NULL;
    }
    if (!fwd.leaf) {
        *why = apr_psprintf(r->pool, "the trusted proxy forwarded no "
                            "certificate in %s", sc->header);
        return NULL;
    }
    untrusted = fwd.chain ? fwd.chain : sk_X509_new_null();
    if (!fwd.chain) {
        apr_pool_cleanup_register(r->pool, untrusted, free_stack_only,
                                  apr_pool_cleanup_null);
    }
    for (i = 0; chain_values && i < chain_values->nelts; i++) {
        STACK_OF(X509) *more = sk_X509_new_null();
        err = x509a_decode_chain(r->pool, APR_ARRAY_IDX(chain_values, i,
                                                        const char *),
                                 sc->max_len, more);
        while (sk_X509_num(more) > 0) {
            X509 *x = sk_X509_shift(more);
            sk_X509_push(untrusted, x);
            apr_pool_cleanup_register(r->pool, x, free_x509,
                                      apr_pool_cleanup_null);
        }
        sk_X509_free(more);
        if (err) {
            *why = sc->chain_is_prefix
                ? apr_psprintf(r->pool, "malformed %s%d header: %s",
                               sc->chain_header, i, err)
                : apr_psprintf(r->pool, "malformed %s header: %s",
                               sc->chain_header, err);
            return NULL;
        }
    }

    if (!sc->verify) {
        /* X509AuthnHeaderVerify Off: the proxy's verification stands */
        e = x509authn_entry_create(fwd.leaf, NULL, untrusted, NULL);
        if (e) {
            e->valid_from = 0;
            e->valid_until = APR_INT64_MAX;
        }
        return e;
    }
    else {
        unsigned char key[X509AUTHN_SOCACHE_KEY_LEN], md[32], val[2 + 32 * SOCACHE_MAX_CHAIN
                                                        + 16 + 256];
        unsigned int vlen = sizeof(val), mdlen;
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();

        /* key: the chain as forwarded, and what verification depends on */
        EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
        X509_digest(fwd.leaf, EVP_sha256(), md, &mdlen);
        EVP_DigestUpdate(ctx, md, 32);
        for (i = 0; i < sk_X509_num(untrusted); i++) {
            X509_digest(sk_X509_value(untrusted, i), EVP_sha256(), md, &mdlen);
            EVP_DigestUpdate(ctx, md, 32);
        }
        EVP_DigestFinal_ex(ctx, key, &mdlen);
        EVP_MD_CTX_free(ctx);
        x509a_verifier_settings_digest(sc->verifier, key + 32);

        if (x509authn_socache_get(r, key, val, &vlen) && vlen >= 1
            && ((val[0] == 'V' && vlen >= 2
                 && vlen == 2 + 32u * val[1] + 16 && val[1] >= 1)
                || val[0] == 'F')) {
            e = x509authn_entry_create(fwd.leaf, NULL, untrusted, NULL);
            if (!e) {
                *why = "out of memory";
                return NULL;
            }
            if (val[0] == 'V') {
                x509a_cert_set_verified_digests(e->cert, val + 2, val[1]);
                e->valid_from = apr_time_from_sec(
                    (apr_time_t)get_u64(val + 2 + 32 * val[1]));
                e->valid_until = apr_time_from_sec(
                    (apr_time_t)get_u64(val + 2 + 32 * val[1] + 8));
            }
            else {
                e->verified = 0;
                e->why = apr_pstrmemdup(e->pool, (const char *)val + 1,
                                        vlen - 1);
            }
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, X509A_LOGNO(0303)
                          "verification result taken from the shared cache "
                          "(%s)", x509authn_global.provider_name);
            return e;
        }

        if (x509a_verifier_verify(sc->verifier, r->pool, fwd.leaf, untrusted,
                                  &verified, &err)) {
            int n = sk_X509_num(verified);
            e = x509authn_entry_create(fwd.leaf, verified, untrusted, NULL);
            if (!e) {
                *why = "out of memory";
                return NULL;
            }
            chain_window(verified, &e->valid_from, &e->valid_until);
            if (n <= SOCACHE_MAX_CHAIN) {
                val[0] = 'V';
                val[1] = (unsigned char)n;
                for (i = 0; i < n; i++) {
                    X509_digest(sk_X509_value(verified, i), EVP_sha256(),
                                val + 2 + 32 * i, &mdlen);
                }
                put_u64(val + 2 + 32 * n,
                        (apr_uint64_t)apr_time_sec(e->valid_from));
                put_u64(val + 2 + 32 * n + 8,
                        (apr_uint64_t)apr_time_sec(e->valid_until));
                x509authn_socache_put(r, key, val, 2 + 32 * n + 16,
                                      apr_time_now() + x509authn_global.ttl);
            }
        }
        else {
            apr_size_t wl = strlen(err);
            e = x509authn_entry_create(fwd.leaf, NULL, untrusted, NULL);
            if (!e) {
                *why = "out of memory";
                return NULL;
            }
            e->verified = 0;
            e->why = apr_pstrdup(e->pool, err);
            val[0] = 'F';
            if (wl > sizeof(val) - 1) {
                wl = sizeof(val) - 1;
            }
            memcpy(val + 1, err, wl);
            x509authn_socache_put(r, key, val, (unsigned int)(1 + wl),
                                  apr_time_now() + x509authn_global.ttl);
        }
        return e;
    }
}

void x509authn_header_resolve(request_rec *r, const x509authn_srv_conf *sc,
                              x509authn_found *f)
{
    apr_array_header_t *chain_values;
    const char *err;
    apr_time_t now = r->request_time;
    unsigned int generation = 0;
    x509authn_entry *e = NULL;
    int reloaded;

    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, X509A_LOGNO(0101)
                  "Attempting to extract certificate from %s header",
                  sc->header);
    f->key = x509authn_forwarded_key(r, sc, &f->key_len, &chain_values);
    if (!f->key) {
        f->why = apr_psprintf(r->pool, "no %s header from the trusted proxy",
                              sc->header);
        return;
    }
    if (sc->verifier) {
        const char *broken;

        if ((err = x509a_verifier_refresh(sc->verifier, apr_time_now(),
                                          &reloaded))) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, X509A_LOGNO(0304)
                          "X509AuthnCARevocationFile: %s; refusing forwarded "
                          "certificates until it is repaired", err);
        }
        else if (reloaded) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, X509A_LOGNO(0305)
                          "reloaded CRLs from %s", sc->crl_file);
        }
        generation = x509a_verifier_generation(sc->verifier);
        /* fail closed before any cache can answer; the certificate is
         * still decoded, for the log line */
        if ((broken = x509a_verifier_broken(sc->verifier, r->pool))) {
            x509a_forwarded fwd;

            f->why = broken;
            f->presented = 1;
            if (!x509a_decode_leaf(r->pool, apr_table_get(r->headers_in,
                                                          sc->header),
                                   sc->format, sc->max_len, &fwd)
                && fwd.leaf) {
                f->refused = x509authn_entry_hold(
                    r, x509authn_entry_create(fwd.leaf, NULL, NULL, NULL));
            }
            return;
        }
    }
    /* per server: its settings decide decoding and verification */
    if (sc->hcache) {
        e = x509authn_hcache_get(sc->hcache, f->key, f->key_len, now,
                                 generation);
    }
    if (!e) {
        e = forwarded_entry(r, sc, apr_table_get(r->headers_in, sc->header),
                            chain_values, &f->why);
        if (!e) {
            f->presented = 1;
            return;
        }
        if (sc->hcache) {
            e->key = apr_pmemdup(e->pool, f->key, f->key_len);
            e->key_len = f->key_len;
            e->expires = now + x509authn_global.ttl;
            e->generation = generation;
            x509authn_hcache_put(sc->hcache, e);
        }
    }
    x509authn_entry_hold(r, e);
    if (!e->verified) {
        f->why = e->why;
    }
    else if (now < e->valid_from) {
        f->why = "a certificate of the chain is not yet valid";
    }
    else if (now >= e->valid_until) {
        f->why = "a certificate of the chain has expired";
    }
    else {
        f->entry = e;
        return;
    }
    f->presented = 1;
    f->refused = e;
}

void x509authn_header_child_init(apr_pool_t *pchild, server_rec *s)
{
    server_rec *vs;

    if (x509authn_global.entries <= 0) {
        return;
    }
    for (vs = s; vs; vs = vs->next) {
        x509authn_srv_conf *sc = ap_get_module_config(vs->module_config,
                                                      &x509authn_module);
        if (x509authn_header_mode(sc) && !sc->hcache) {
            sc->hcache = x509authn_hcache_create(pchild,
                                                 x509authn_global.entries);
        }
    }
}
