/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/**
 * @file x509a_buf.h
 * @brief A growable, always NUL-terminated byte buffer in an APR pool
 * (internal to lib/).
 */

#ifndef X509A_BUF_H
#define X509A_BUF_H

#include <string.h>
#include <apr_pools.h>

/** A buffer; start with { pool, NULL, 0, 0 }. */
typedef struct {
    apr_pool_t *p;      /**< Where the bytes live. */
    char *d;            /**< The bytes, NUL-terminated (NULL while empty). */
    apr_size_t len;     /**< Bytes in use, without the NUL. */
    apr_size_t cap;     /**< Bytes allocated. */
} x509a_buf;

/** Append @a n bytes (which may contain NUL). */
static APR_INLINE void x509a_buf_add(x509a_buf *b, const void *s, apr_size_t n)
{
    if (b->len + n + 1 > b->cap) {
        apr_size_t cap = b->cap ? b->cap * 2 : 128;
        char *d;

        while (cap < b->len + n + 1) {
            cap *= 2;
        }
        d = apr_palloc(b->p, cap);
        if (b->len) {
            memcpy(d, b->d, b->len);
        }
        b->d = d;
        b->cap = cap;
    }
    memcpy(b->d + b->len, s, n);
    b->len += n;
    b->d[b->len] = '\0';
}

#endif /* X509A_BUF_H */
