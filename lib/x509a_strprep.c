/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/* RFC 4518 string preparation (caseIgnoreMatch) from built-in Unicode 3.2
 * tables: mapping + NFKD per code point from one table, then canonical
 * reordering, canonical composition, the prohibited code points and the
 * insignificant space rule.  The tables and the test vectors come from
 * scripts/gen-rfc4518-tables.py. */

#include <string.h>
#include <apr_strings.h>

#include "x509a_strprep.h"

typedef struct {
    apr_uint32_t cp;
    apr_uint16_t off;
    unsigned char len;
} x509a_sp_map;

typedef struct {
    apr_uint32_t cp;
    unsigned char ccc;
} x509a_sp_ccc;

typedef struct {
    apr_uint32_t first, second, composite;
} x509a_sp_pair;

typedef struct {
    apr_uint32_t lo, hi;
} x509a_sp_range;

#include "x509a_strprep_tables.h"

#define NELTS(a) (sizeof(a) / sizeof((a)[0]))

/* Hangul (Unicode 3.2 section 3.12) */
#define SBASE 0xAC00
#define LBASE 0x1100
#define VBASE 0x1161
#define TBASE 0x11A7
#define LCOUNT 19
#define VCOUNT 21
#define TCOUNT 28
#define NCOUNT (VCOUNT * TCOUNT)
#define SCOUNT (LCOUNT * NCOUNT)

/* Decode one UTF-8 sequence; returns its length or 0 when invalid. */
static apr_size_t sp_utf8_decode(const unsigned char *s, apr_size_t len,
                                 apr_uint32_t *cp)
{
    apr_uint32_t c;
    apr_size_t n, i;

    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        n = 2;
        c = s[0] & 0x1f;
    }
    else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        n = 3;
        c = s[0] & 0x0f;
    }
    else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        n = 4;
        c = s[0] & 0x07;
    }
    else {
        return 0;
    }
    if (len < n) {
        return 0;
    }
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
        c = (c << 6) | (s[i] & 0x3f);
    }
    /* overlong forms, surrogates and values past U+10FFFF */
    if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 || c > 0x10ffff))
        || (c >= 0xd800 && c <= 0xdfff)) {
        return 0;
    }
    *cp = c;
    return n;
}

static apr_size_t sp_utf8_encode(apr_uint32_t c, char *out)
{
    if (c < 0x80) {
        out[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (char)(0xc0 | (c >> 6));
        out[1] = (char)(0x80 | (c & 0x3f));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (char)(0xe0 | (c >> 12));
        out[1] = (char)(0x80 | ((c >> 6) & 0x3f));
        out[2] = (char)(0x80 | (c & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (c >> 18));
    out[1] = (char)(0x80 | ((c >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((c >> 6) & 0x3f));
    out[3] = (char)(0x80 | (c & 0x3f));
    return 4;
}

int x509a_utf8_valid(const char *in, apr_size_t len)
{
    const unsigned char *s = (const unsigned char *)in;
    apr_size_t i = 0;
    apr_uint32_t c;

    while (i < len) {
        apr_size_t n = s[i] < 0x80 ? 1 : sp_utf8_decode(s + i, len - i, &c);
        if (n == 0) {
            return 0;
        }
        i += n;
    }
    return 1;
}

/* ------------------------------------------------------------------------ */
/* Table lookups (binary searches; only for non-ASCII input)                 */
/* ------------------------------------------------------------------------ */

static const x509a_sp_map *sp_map_find(apr_uint32_t c)
{
    apr_size_t lo = 0, hi = NELTS(sp_map);

    while (lo < hi) {
        apr_size_t mid = (lo + hi) / 2;
        if (sp_map[mid].cp < c) {
            lo = mid + 1;
        }
        else if (sp_map[mid].cp > c) {
            hi = mid;
        }
        else {
            return &sp_map[mid];
        }
    }
    return NULL;
}

static int sp_ccc_of(apr_uint32_t c)
{
    apr_size_t lo = 0, hi = NELTS(sp_ccc);

    if (c < sp_ccc[0].cp) {
        return 0;
    }
    while (lo < hi) {
        apr_size_t mid = (lo + hi) / 2;
        if (sp_ccc[mid].cp < c) {
            lo = mid + 1;
        }
        else if (sp_ccc[mid].cp > c) {
            hi = mid;
        }
        else {
            return sp_ccc[mid].ccc;
        }
    }
    return 0;
}

static int sp_in_ranges(const x509a_sp_range *r, apr_size_t n, apr_uint32_t c)
{
    apr_size_t lo = 0, hi = n;

    while (lo < hi) {
        apr_size_t mid = (lo + hi) / 2;
        if (r[mid].hi < c) {
            lo = mid + 1;
        }
        else if (r[mid].lo > c) {
            hi = mid;
        }
        else {
            return 1;
        }
    }
    return 0;
}

/* The primary composite of a pair, 0 when there is none. */
static apr_uint32_t sp_compose(apr_uint32_t a, apr_uint32_t b)
{
    apr_size_t lo = 0, hi = NELTS(sp_pairs);

    if (a >= LBASE && a < LBASE + LCOUNT && b >= VBASE && b < VBASE + VCOUNT) {
        return SBASE + ((a - LBASE) * VCOUNT + (b - VBASE)) * TCOUNT;
    }
    if (a >= SBASE && a < SBASE + SCOUNT && (a - SBASE) % TCOUNT == 0
        && b > TBASE && b < TBASE + TCOUNT) {
        return a + (b - TBASE);
    }
    while (lo < hi) {
        apr_size_t mid = (lo + hi) / 2;
        const x509a_sp_pair *e = &sp_pairs[mid];
        if (e->first < a || (e->first == a && e->second < b)) {
            lo = mid + 1;
        }
        else if (e->first > a || e->second > b) {
            hi = mid;
        }
        else {
            return e->composite;
        }
    }
    return 0;
}

/* Map + decompose one code point into @a out (NULL: count only). */
static apr_size_t sp_decompose(apr_uint32_t c, apr_uint32_t *out)
{
    const x509a_sp_map *m;

    if (c >= SBASE && c < SBASE + SCOUNT) {
        apr_uint32_t s = c - SBASE, t = s % TCOUNT;
        if (out) {
            out[0] = LBASE + s / NCOUNT;
            out[1] = VBASE + (s % NCOUNT) / TCOUNT;
            if (t) {
                out[2] = TBASE + t;
            }
        }
        return t ? 3 : 2;
    }
    if (c < 0x80 && !(c < 0x20 || c == 0x7f || (c >= 'A' && c <= 'Z'))) {
        if (out) {
            out[0] = c;
        }
        return 1;
    }
    if ((m = sp_map_find(c)) == NULL) {
        if (out) {
            out[0] = c;
        }
        return 1;
    }
    if (out) {
        memcpy(out, sp_map_data + m->off, m->len * sizeof(*out));
    }
    return m->len;
}

/* ------------------------------------------------------------------------ */
/* Preparation                                                               */
/* ------------------------------------------------------------------------ */

/* Stable sort of @a n non-starters by combining class: insertion sort for
 * the usual short runs, a counting sort for long ones, so that a value
 * made of many combining marks costs linear time, not quadratic. */
static void sp_sort_run(apr_pool_t *p, apr_uint32_t *run, apr_size_t n)
{
    apr_size_t i, j, count[257];
    apr_uint32_t *tmp;

    if (n <= 32) {
        for (i = 1; i < n; i++) {
            apr_uint32_t x = run[i];
            int cx = sp_ccc_of(x);

            for (j = i; j > 0 && sp_ccc_of(run[j - 1]) > cx; j--) {
                run[j] = run[j - 1];
            }
            run[j] = x;
        }
        return;
    }
    memset(count, 0, sizeof(count));
    for (i = 0; i < n; i++) {
        count[sp_ccc_of(run[i]) + 1]++;
    }
    for (i = 1; i < 257; i++) {
        count[i] += count[i - 1];
    }
    tmp = apr_palloc(p, n * sizeof(*tmp));
    for (i = 0; i < n; i++) {
        tmp[count[sp_ccc_of(run[i])]++] = run[i];
    }
    memcpy(run, tmp, n * sizeof(*tmp));
}

/* Printable ASCII and control characters only: nothing but B.2's A-Z and
 * RFC 4518's control characters changes, so no tables are needed. */
static void sp_ascii(const unsigned char *s, apr_size_t len, char *out,
                     apr_size_t *out_len)
{
    apr_size_t i, o = 0;
    int pending = 0;

    for (i = 0; i < len; i++) {
        unsigned char c = s[i];

        if (c == ' ' || (c >= '\t' && c <= '\r')) {
            pending = (o > 0);
            continue;
        }
        if (c < 0x20 || c == 0x7f) {
            continue;  /* mapped to nothing */
        }
        if (pending) {
            out[o++] = ' ';
            pending = 0;
        }
        out[o++] = (c >= 'A' && c <= 'Z') ? (char)(c + ('a' - 'A')) : (char)c;
    }
    out[o] = '\0';
    *out_len = o;
}

x509a_strprep_status x509a_strprep(apr_pool_t *p, const char *in,
                                   apr_size_t len, char **out,
                                   apr_size_t *out_len, unsigned long *bad)
{
    const unsigned char *s = (const unsigned char *)in;
    apr_uint32_t *buf, c;
    apr_size_t i, n, total = 0, o;
    char *res;
    int pending, last_class;
    apr_size_t starter, comp;

    for (i = 0; i < len && s[i] < 0x80; i++) {
    }
    if (i == len) {
        apr_size_t olen;
        res = apr_palloc(p, len + 1);
        sp_ascii(s, len, res, &olen);
        *out = res;
        if (out_len) {
            *out_len = olen;
        }
        return X509A_STRPREP_OK;
    }

    /* Map and decompose: count, then fill */
    for (i = 0; i < len; i += n) {
        if ((n = sp_utf8_decode(s + i, len - i, &c)) == 0) {
            if (bad) {
                *bad = (unsigned long)i;
            }
            return X509A_STRPREP_BAD_UTF8;
        }
        total += sp_decompose(c, NULL);
    }
    buf = apr_palloc(p, (total ? total : 1) * sizeof(*buf));
    for (i = 0, o = 0; i < len; i += n) {
        n = sp_utf8_decode(s + i, len - i, &c);
        o += sp_decompose(c, buf + o);
    }

    /* Canonical ordering: a stable sort of each run of non-starters */
    for (i = 0; i < total; ) {
        apr_size_t end = i;

        while (end < total && sp_ccc_of(buf[end]) != 0) {
            end++;
        }
        if (end - i > 1) {
            sp_sort_run(p, buf + i, end - i);
        }
        i = end + 1;
    }

    /* Canonical composition (UAX #15): a character composes with the last
     * starter unless blocked by one of the same or a higher class */
    if (total > 0) {
        starter = 0;
        last_class = sp_ccc_of(buf[0]) ? 256 : 0;
        comp = 1;
        for (i = 1; i < total; i++) {
            apr_uint32_t ch = buf[i], composite;
            int cc = sp_ccc_of(ch);

            composite = sp_compose(buf[starter], ch);
            if (composite && (last_class < cc || last_class == 0)) {
                buf[starter] = composite;
                continue;
            }
            if (cc == 0) {
                starter = comp;
            }
            last_class = cc;
            buf[comp++] = ch;
        }
        total = comp;
    }

    /* Prohibit, then insignificant spaces while encoding */
    for (i = 0; i < total; i++) {
        if (sp_in_ranges(sp_prohibited, NELTS(sp_prohibited), buf[i])) {
            if (bad) {
                *bad = buf[i];
            }
            return X509A_STRPREP_PROHIBITED;
        }
    }
    res = apr_palloc(p, total * 4 + 1);
    o = 0;
    pending = 0;
    for (i = 0; i < total; i++) {
        if (buf[i] == ' '
            && !(i + 1 < total
                 && sp_in_ranges(sp_marks, NELTS(sp_marks), buf[i + 1]))) {
            pending = (o > 0);
            continue;
        }
        if (pending) {
            res[o++] = ' ';
            pending = 0;
        }
        o += sp_utf8_encode(buf[i], res + o);
    }
    res[o] = '\0';
    *out = res;
    if (out_len) {
        *out_len = o;
    }
    return X509A_STRPREP_OK;
}
