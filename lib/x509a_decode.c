/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/* Forwarded-certificate header values.  Percent-decoding is APR's,
 * base64 and DER are OpenSSL's; the dialects' framing (PEM armour, RFC 8941
 * byte sequences and lists, Envoy's XFCC) is parsed here. */

#include <string.h>
#include <apr_strings.h>
#include <apr_escape.h>
#include <apr_lib.h>
#include <openssl/evp.h>
#include <openssl/err.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "x509a_decode.h"
#include "x509a_cert.h"

static const struct {
    const char *name;
    x509a_format fmt;
} format_names[] = {
    { "auto", X509A_FMT_AUTO },
    { "pem", X509A_FMT_PEM },
    { "der-base64", X509A_FMT_DER_BASE64 },
    { "list", X509A_FMT_LIST },
    { "rfc9440", X509A_FMT_RFC9440 },
    { "xfcc", X509A_FMT_XFCC },
    { "xfcc-append", X509A_FMT_XFCC_APPEND },
    { NULL, 0 }
};

const char *x509a_format_parse(const char *name, x509a_format *out)
{
    int i;

    for (i = 0; format_names[i].name; i++) {
        if (strcasecmp(name, format_names[i].name) == 0) {
            *out = format_names[i].fmt;
            return NULL;
        }
    }
    return "not a header format: use auto, pem, der-base64, list, rfc9440, "
           "xfcc or xfcc-append";
}

const char *x509a_format_name(x509a_format fmt)
{
    int i;

    for (i = 0; format_names[i].name; i++) {
        if (format_names[i].fmt == fmt) {
            return format_names[i].name;
        }
    }
    return "?";
}

/* ---------------------------------------------------------------------- */
/* Building blocks                                                         */
/* ---------------------------------------------------------------------- */

/** A byte range of a header value. */
typedef struct {
    const char *s;
    apr_size_t len;
} span;

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static span trim(span v)
{
    while (v.len && is_ows(v.s[0])) {
        v.s++;
        v.len--;
    }
    while (v.len && is_ows(v.s[v.len - 1])) {
        v.len--;
    }
    return v;
}

static int span_is(span v, const char *lit)
{
    return v.len == strlen(lit) && memcmp(v.s, lit, v.len) == 0;
}

static int means_none(span v)
{
    return v.len == 0 || span_is(v, "(null)") || span_is(v, "-");
}

static apr_status_t free_x509(void *data)
{
    X509_free(data);
    return APR_SUCCESS;
}

static apr_status_t free_stack(void *data)
{
    sk_X509_pop_free(data, X509_free);
    return APR_SUCCESS;
}

/* Percent-decode (a literal '+' stays '+').  Returns NULL and sets *err
 * for a bad escape or a NUL byte. */
static const char *url_decode(apr_pool_t *p, span v, span *out)
{
    apr_size_t len;
    char *buf;

    if (!memchr(v.s, '%', v.len)) {
        *out = v;
        return NULL;
    }
    buf = apr_palloc(p, v.len + 1);
    /* APR may look past the given length while reading an escape: hand it
     * a terminated copy; the length it returns counts the terminating NUL */
    if (apr_unescape_url(buf, apr_pstrmemdup(p, v.s, v.len), (apr_ssize_t)v.len,
                         NULL, NULL, 0, &len)
        != APR_SUCCESS || len == 0 || memchr(buf, '\0', --len)) {
        return "bad percent-encoding";
    }
    out->s = buf;
    out->len = len;
    return NULL;
}

/* Each byte's value in base64 text: 0-63 for the standard alphabet, WS
 * for white space, PD for '=', XX for anything else.  One pass over a
 * table, classifying and decoding: this runs over every byte of every
 * forwarded certificate, on shared-cache hits too (a ctype call per byte
 * cost two thirds of a hit's decoding; a classifying pass and then
 * EVP_DecodeBlock() about 18,000 instructions for a certificate). */
#define WS 64
#define PD 65
#define XX 255
static const unsigned char b64_value[256] = {
    XX, XX, XX, XX, XX, XX, XX, XX, XX, WS, WS, XX, XX, WS, XX, XX,
    XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
    WS, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, 62, XX, XX, XX, 63,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, XX, XX, XX, PD, XX, XX,
    XX,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, XX, XX, XX, XX, XX,
    XX, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, XX, XX, XX, XX, XX,
    XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
    XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
    XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
    XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
    XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
    XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
    XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
    XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX
};
#undef WS
#undef PD
#undef XX
#define B64_SPACE 64
#define B64_PAD   65

/* Strict base64 (standard alphabet, padded); white space is skipped.
 * Padding ('=') ends the data: only white space may follow it, and it
 * completes the last group of four (one or two of them). */
static const char *b64_decode(apr_pool_t *p, span v, unsigned char **der,
                              apr_size_t *der_len)
{
    unsigned char *out = apr_palloc(p, v.len / 4 * 3 + 3);
    const unsigned char *q = (const unsigned char *)v.s;
    apr_size_t i, n = 0, pad = 0, o = 0;
    apr_uint32_t group = 0;

    for (i = 0; i < v.len; i++) {
        unsigned int x;

        /* whole groups of four digits, between white space and padding:
         * no per-byte branching (values above 63 are space, '=' or bad) */
        if (n % 4 == 0 && !pad) {
            while (i + 4 <= v.len) {
                unsigned int a = b64_value[q[i]], b = b64_value[q[i + 1]],
                             c = b64_value[q[i + 2]], d = b64_value[q[i + 3]];

                if ((a | b | c | d) > 63) {
                    break;
                }
                out[o++] = (unsigned char)(a << 2 | b >> 4);
                out[o++] = (unsigned char)(b << 4 | c >> 2);
                out[o++] = (unsigned char)(c << 6 | d);
                i += 4;
                n += 4;
            }
            if (i == v.len) {
                break;
            }
        }
        x = b64_value[q[i]];
        if (x < 64) {
            if (pad) {
                return "data after base64 padding";
            }
        }
        else if (x == B64_SPACE) {
            continue;
        }
        else if (x == B64_PAD) {
            pad++;
            x = 0;
        }
        else {
            return pad ? "data after base64 padding" : "bad base64";
        }
        group = (group << 6) | x;
        if (++n % 4 == 0) {
            out[o++] = (unsigned char)(group >> 16);
            out[o++] = (unsigned char)(group >> 8);
            out[o++] = (unsigned char)group;
            group = 0;
        }
    }
    if (n == 0 || n % 4 || pad > 2) {
        return "bad base64 length";
    }
    *der = out;
    *der_len = o - pad;
    return NULL;
}

static const char *der_to_x509(const unsigned char *der, apr_size_t len,
                               X509 **x)
{
    const unsigned char *q = der;

    *x = x509a_d2i_x509(&q, (long)len);
    if (!*x) {
        ERR_clear_error();
        return "not a DER certificate";
    }
    if (q != der + len) {
        X509_free(*x);
        *x = NULL;
        return "data after the certificate";
    }
    return NULL;
}

/* Where the framing code below puts each certificate it finds: decoded
 * (x509a_decode_leaf(), x509a_decode_chain()) or as the DER bytes it
 * found (the _der variants).  The framing never looks at a decoded
 * certificate, so a value is accepted decoded exactly when it is accepted
 * as DER bytes and each of those bytes is a certificate to d2i_X509() with
 * nothing after it (x509a_decode_der()).  XFCC is the exception (its Hash
 * and SAN checks read the certificate): it has no _der variant. */
typedef struct {
    apr_pool_t *p;
    STACK_OF(X509) *x509;        /* decode each into it (owned by the
                                  * caller's cleanups), or NULL */
    apr_array_header_t *der;     /* else: x509a_der of each */
} sink;

static void sink_x509(sink *k, apr_pool_t *p, STACK_OF(X509) *sk)
{
    k->p = p;
    k->x509 = sk;
    k->der = NULL;
}

static void sink_der(sink *k, apr_pool_t *p, apr_array_header_t *der)
{
    k->p = p;
    k->x509 = NULL;
    k->der = der;
}

static int sink_count(const sink *k)
{
    return k->x509 ? sk_X509_num(k->x509) : k->der->nelts;
}

static const char *sink_put(sink *k, const unsigned char *der,
                            apr_size_t len)
{
    if (k->x509) {
        X509 *x;
        const char *err = der_to_x509(der, len, &x);

        if (err) {
            return err;
        }
        if (!sk_X509_push(k->x509, x)) {
            X509_free(x);
            return "out of memory";
        }
    }
    else {
        x509a_der *d = apr_array_push(k->der);

        d->der = der;
        d->len = len;
    }
    return NULL;
}

const char *x509a_base64_decode(apr_pool_t *p, const char *s, apr_size_t len,
                                unsigned char **out, apr_size_t *out_len)
{
    span v;

    v.s = s;
    v.len = len;
    return b64_decode(p, v, out, out_len);
}

static const char *b64_put(sink *k, span v)
{
    unsigned char *der;
    apr_size_t len;
    const char *err = b64_decode(k->p, v, &der, &len);

    return err ? err : sink_put(k, der, len);
}

/* All PEM certificates in @a v, in order; only white space (and the
 * commas of joined header fields) may stand between them. */
static const char *pem_all(sink *k, span v)
{
    apr_pool_t *p = k->p;
    static const char begin[] = "-----BEGIN CERTIFICATE-----";
    static const char end[] = "-----END CERTIFICATE-----";
    const char *s = v.s, *e = v.s + v.len;

    for (;;) {
        const char *body, *stop;
        span b64;
        const char *err;

        while (s < e && (is_ows(*s) || *s == '\r' || *s == '\n' || *s == ',')) {
            s++;
        }
        if (s == e) {
            break;
        }
        if ((apr_size_t)(e - s) < sizeof(begin) - 1
            || memcmp(s, begin, sizeof(begin) - 1) != 0) {
            return "data outside the PEM armour";
        }
        body = s + sizeof(begin) - 1;
        for (stop = body; stop + sizeof(end) - 1 <= e; stop++) {
            if (memcmp(stop, end, sizeof(end) - 1) == 0) {
                break;
            }
        }
        if (stop + sizeof(end) - 1 > e) {
            return "PEM certificate without END line";
        }
        b64.s = body;
        b64.len = (apr_size_t)(stop - body);
        if ((err = b64_put(k, b64))) {
            return apr_pstrcat(p, "PEM body: ", err, NULL);
        }
        s = stop + sizeof(end) - 1;
    }
    return NULL;
}

/* Length of the initial part of @a v without any of @a reject. */
static apr_size_t strcspn_len(span v, const char *reject)
{
    apr_size_t i;

    for (i = 0; i < v.len && !strchr(reject, v.s[i]); i++) {
    }
    return i;
}

/* One RFC 8941 byte sequence ":BASE64:" with optional parameters, at *s.
 * Advances *s past it. */
static const char *sf_binary(sink *k, const char **s, const char *e)
{
    apr_pool_t *p = k->p;
    const char *q = *s, *close;
    span b64;
    const char *err;

    if (q >= e || *q != ':') {
        return "not an RFC 9440 byte sequence (:base64:)";
    }
    close = memchr(q + 1, ':', (apr_size_t)(e - q - 1));
    if (!close) {
        return "unterminated byte sequence";
    }
    b64.s = q + 1;
    b64.len = (apr_size_t)(close - q - 1);
    if (strcspn_len(b64, " \t\r\n") != b64.len) {
        return "white space inside a byte sequence";
    }
    if (b64.len % 4 >= 2) {
        /* RFC 8941 4.2.7: parsers SHOULD NOT fail when padding is missing
         * (4n+1 characters are never base64) */
        char *padded = apr_palloc(p, b64.len + 4);
        memcpy(padded, b64.s, b64.len);
        while (b64.len % 4) {
            padded[b64.len++] = '=';
        }
        b64.s = padded;
    }
    if ((err = b64_put(k, b64))) {
        return err;
    }
    q = close + 1;
    /* parameters: ;key or ;key=token|"string"|?0|?1|number, ignored */
    while (q < e && *q == ';') {
        q++;
        while (q < e && *q == ' ') {   /* RFC 8941: ";" *SP parameter */
            q++;
        }
        if (q >= e || !(apr_islower(*q) || *q == '*')) {
            return "bad parameter after a byte sequence";
        }
        while (q < e && (apr_islower(*q) || apr_isdigit(*q) || strchr("_-.*", *q))) {
            q++;
        }
        if (q < e && *q == '=') {
            q++;
            if (q < e && *q == '"') {
                for (q++; q < e && *q != '"'; q++) {
                    if (*q == '\\') {
                        q++;
                    }
                }
                if (q >= e) {
                    return "unterminated parameter string";
                }
                q++;
            }
            else {
                const char *v = q;
                while (q < e && !is_ows(*q) && *q != ';' && *q != ',') {
                    q++;
                }
                if (q == v) {
                    return "empty parameter value";
                }
            }
        }
    }
    *s = q;
    return NULL;
}

/* ---------------------------------------------------------------------- */
/* Envoy x-forwarded-client-cert                                           */
/* ---------------------------------------------------------------------- */

/* Envoy's keys in the order it writes them (mutateXfccRequestHeader): By
 * once per URI SAN of its own certificate, Hash, then as configured Cert,
 * Chain, Subject, URI (once per URI SAN, or empty), DNS (once per DNS SAN).
 * Cert, Chain and Subject are always quoted; the others never are, nor
 * escaped, so a SAN holding ',' ';' '=' or '"' can forge keys and elements:
 * anything Envoy does not write is refused rather than interpreted. */
enum {
    XK_BY, XK_HASH, XK_CERT, XK_CHAIN, XK_SUBJECT, XK_URI, XK_DNS, XK_COUNT
};

static const struct {
    const char *name;
    int quoted;    /* Envoy always quotes it (else never) */
    int repeats;   /* one pair per SAN */
} xfcc_keys[XK_COUNT] = {
    { "By", 0, 1 },
    { "Hash", 0, 0 },
    { "Cert", 1, 0 },
    { "Chain", 1, 0 },
    { "Subject", 1, 0 },
    { "URI", 0, 1 },
    { "DNS", 0, 1 },
};

#define XFCC_MAX_PARTS 64

/** One parsed XFCC element: the first value of each key, and counts. */
typedef struct {
    span val[XK_COUNT];
    int count[XK_COUNT];
} xfcc_elem;

static int looks_xfcc(span v)
{
    int i;

    for (i = 0; i < XK_COUNT; i++) {
        apr_size_t n = strlen(xfcc_keys[i].name);
        if (v.len > n && strncasecmp(v.s, xfcc_keys[i].name, n) == 0
            && v.s[n] == '=') {
            return 1;
        }
    }
    return 0;
}

/* Split at @a sep outside double quotes; returns the start of each part
 * through *parts (at most max) and their count, or -1 on a bad quote. */
static int split_quoted(span v, char sep, span *parts, int max)
{
    int n = 0, quoted = 0;
    apr_size_t i, start = 0;

    for (i = 0; i <= v.len; i++) {
        if (i < v.len && quoted) {
            if (v.s[i] == '\\') {
                i++;
            }
            else if (v.s[i] == '"') {
                quoted = 0;
            }
            continue;
        }
        if (i < v.len && v.s[i] == '"') {
            quoted = 1;
            continue;
        }
        if (i == v.len || v.s[i] == sep) {
            if (n == max) {
                return -1;
            }
            parts[n].s = v.s + start;
            parts[n].len = i - start;
            n++;
            start = i + 1;
        }
    }
    return quoted ? -1 : n;
}

/* A quoted value, unquoted: "..." with \" and \\ escapes. */
static const char *xfcc_unquote(apr_pool_t *p, span v, span *out)
{
    char *buf;
    apr_size_t i, n = 0;

    if (v.len < 2 || v.s[0] != '"' || v.s[v.len - 1] != '"') {
        return "unterminated quoted XFCC value";
    }
    buf = apr_palloc(p, v.len);
    for (i = 1; i < v.len - 1; i++) {
        if (v.s[i] == '\\') {
            if (++i >= v.len - 1) {
                return "bad escape in an XFCC value";
            }
        }
        else if (v.s[i] == '"') {
            return "stray quote in an XFCC value";
        }
        buf[n++] = v.s[i];
    }
    out->s = buf;
    out->len = n;
    return NULL;
}

/* One element: keys known, in Envoy's order, quoted as Envoy quotes them,
 * and Hash present (Envoy writes it whenever there is a client
 * certificate, which is the only time it writes an element). */
static const char *xfcc_parse_elem(apr_pool_t *p, span el, xfcc_elem *out)
{
    span pairs[XFCC_MAX_PARTS];
    int np, j, k, last = -1;
    const char *err;

    memset(out, 0, sizeof(*out));
    np = split_quoted(trim(el), ';', pairs, XFCC_MAX_PARTS);
    if (np <= 0) {
        return "malformed XFCC element";
    }
    for (j = 0; j < np; j++) {
        span kv = trim(pairs[j]), key, val;
        const char *eq = memchr(kv.s, '=', kv.len);

        if (!eq || eq == kv.s) {
            return "XFCC element part without key=value";
        }
        key.s = kv.s;
        key.len = (apr_size_t)(eq - kv.s);
        val.s = eq + 1;
        val.len = kv.len - key.len - 1;
        for (k = 0; k < XK_COUNT; k++) {
            if (key.len == strlen(xfcc_keys[k].name)
                && strncasecmp(key.s, xfcc_keys[k].name, key.len) == 0) {
                break;
            }
        }
        if (k == XK_COUNT) {
            char *name = apr_pstrmemdup(p, key.s, key.len);

            /* named in the log only when it is a short plain word */
            if (key.len > 16
                || strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                "abcdefghijklmnopqrstuvwxyz0123456789-_")
                   != key.len) {
                name = "?";
            }
            return apr_pstrcat(p, "XFCC key ", name, " is not one Envoy "
                               "writes", NULL);
        }
        if (k == last && !xfcc_keys[k].repeats) {
            return apr_pstrcat(p, "XFCC element with two ", xfcc_keys[k].name,
                               " keys", NULL);
        }
        if (k < last) {
            return apr_pstrcat(p, "XFCC key ", xfcc_keys[k].name, " after ",
                               xfcc_keys[last].name, " (not Envoy's order: "
                               "an injected or repeated key?)", NULL);
        }
        last = k;
        if (xfcc_keys[k].quoted) {
            if (!val.len || val.s[0] != '"') {
                return apr_pstrcat(p, "unquoted XFCC ", xfcc_keys[k].name,
                                   " value (Envoy quotes it)", NULL);
            }
            if ((err = xfcc_unquote(p, val, &val))) {
                return err;
            }
        }
        else if (strcspn_len(val, "\"=") != val.len) {
            /* Envoy writes these raw: a quote or '=' comes from a SAN
             * forging structure (',' and ';' split it already) */
            return apr_pstrcat(p, "XFCC ", xfcc_keys[k].name, " value holds "
                               "'\"' or '=' (written unquoted by Envoy: "
                               "injected structure?)", NULL);
        }
        if (!out->count[k]++) {
            out->val[k] = val;
        }
    }
    if (!out->count[XK_HASH]) {
        return "XFCC element without Hash";
    }
    if (out->val[XK_HASH].len != 2 * SHA256_DIGEST_LENGTH) {
        return "XFCC Hash is not a hex SHA-256";
    }
    for (j = 0; j < 2 * SHA256_DIGEST_LENGTH; j++) {
        if (!apr_isxdigit(out->val[XK_HASH].s[j])) {
            return "XFCC Hash is not a hex SHA-256";
        }
    }
    return NULL;
}

/* Whether any @a type SAN of @a x holds one of Envoy's separators or a
 * quote: written raw into the element, it would have changed its
 * structure.  Returns the reason, or NULL. */
static const char *xfcc_unsafe_san(apr_pool_t *p, X509 *x, int type,
                                   const char *what)
{
    GENERAL_NAMES *names;
    int crit = -1, i;
    const char *err = NULL;

    names = X509_get_ext_d2i(x, NID_subject_alt_name, &crit, NULL);
    if (!names) {
        return crit == -2 ? "certificate with several SAN extensions" : NULL;
    }
    for (i = 0; i < sk_GENERAL_NAME_num(names) && !err; i++) {
        GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
        span s;

        if (gn->type != type) {
            continue;
        }
        s.s = (const char *)ASN1_STRING_get0_data(gn->d.ia5);
        s.len = (apr_size_t)ASN1_STRING_length(gn->d.ia5);
        if (strcspn_len(s, ",;=\"") != s.len) {
            err = apr_pstrcat(p, "the certificate's ", what, " SAN holds "
                              "a comma, semicolon, equals sign or double "
                              "quote, which Envoy writes unescaped (forged "
                              "keys or elements?)", NULL);
        }
    }
    GENERAL_NAMES_free(names);
    return err;
}

/* The certificate(s) of a parsed element: the leaf (Cert, else Chain's
 * first) must be the one Hash names, and its URI and DNS SANs, when the
 * element lists them, must not be able to forge structure.  *leaf is NULL
 * for an element with neither Cert nor Chain; *chain (if asked for) gets
 * the intermediates. */
static const char *xfcc_certs(apr_pool_t *p, const xfcc_elem *el, X509 **leaf,
                              STACK_OF(X509) **chain)
{
    STACK_OF(X509) *all = sk_X509_new_null();
    unsigned char md[EVP_MAX_MD_SIZE];
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    unsigned int mdlen;
    span decoded;
    const char *err;
    sink k;

    *leaf = NULL;
    apr_pool_cleanup_register(p, all, free_stack, apr_pool_cleanup_null);
    if (el->count[XK_CHAIN]) {
        sink_x509(&k, p, all);
        if ((err = url_decode(p, el->val[XK_CHAIN], &decoded))
            || (err = pem_all(&k, decoded))) {
            return apr_pstrcat(p, "XFCC Chain: ", err, NULL);
        }
        if (sk_X509_num(all) == 0) {
            return "XFCC Chain holds no certificate";
        }
    }
    if (el->count[XK_CERT]) {
        STACK_OF(X509) *one = sk_X509_new_null();

        apr_pool_cleanup_register(p, one, free_stack, apr_pool_cleanup_null);
        sink_x509(&k, p, one);
        if ((err = url_decode(p, el->val[XK_CERT], &decoded))
            || (err = pem_all(&k, decoded))) {
            return apr_pstrcat(p, "XFCC Cert: ", err, NULL);
        }
        if (sk_X509_num(one) != 1) {
            return "XFCC Cert holds no or several certificates";
        }
        /* Envoy's Chain starts with the leaf it also wrote as Cert */
        if (sk_X509_num(all) > 0
            && X509_cmp(sk_X509_value(all, 0), sk_X509_value(one, 0)) != 0) {
            return "XFCC Chain does not start with the Cert certificate";
        }
        if (sk_X509_num(all) == 0) {
            sk_X509_push(all, sk_X509_shift(one));
        }
    }
    if (sk_X509_num(all) == 0) {
        return NULL;
    }
    if (!X509_digest(sk_X509_value(all, 0), x509a_sha256(), md, &mdlen)) {
        ERR_clear_error();
        return "cannot hash the XFCC certificate";
    }
    apr_escape_hex(hex, md, mdlen, 0, NULL);
    if (el->val[XK_HASH].len != 2 * mdlen
        || strncasecmp(el->val[XK_HASH].s, hex, 2 * mdlen) != 0) {
        return "XFCC Hash does not match the element's certificate";
    }
    if ((el->count[XK_URI]
         && (err = xfcc_unsafe_san(p, sk_X509_value(all, 0), GEN_URI, "URI")))
        || (el->count[XK_DNS]
            && (err = xfcc_unsafe_san(p, sk_X509_value(all, 0), GEN_DNS,
                                      "DNS")))) {
        return err;
    }
    *leaf = sk_X509_shift(all);
    apr_pool_cleanup_register(p, *leaf, free_x509, apr_pool_cleanup_null);
    if (chain) {
        *chain = all;
    }
    return NULL;
}

/* Envoy's x-forwarded-client-cert.  SANITIZE_SET (@a append 0) writes one
 * element; APPEND_FORWARD (@a append 1) adds one after whatever came in,
 * and the last is the client as the nearest Envoy saw it.  Every element
 * must be as Envoy writes it. */
static const char *decode_xfcc(apr_pool_t *p, span v, int append,
                               x509a_forwarded *out)
{
    span elems[XFCC_MAX_PARTS];
    xfcc_elem el;
    int ne, i;
    const char *err;

    ne = split_quoted(v, ',', elems, XFCC_MAX_PARTS);
    if (ne <= 0) {
        return "malformed XFCC (quoting or too many elements)";
    }
    if (ne > 1 && !append) {
        /* no ';' in reasons: the log line uses it as a separator */
        return apr_psprintf(p, "XFCC with %d elements: format xfcc takes one "
                            "(Envoy's SANITIZE_SET), xfcc-append the last "
                            "(APPEND_FORWARD)", ne);
    }
    for (i = 0; i < ne; i++) {
        X509 *leaf;

        if ((err = xfcc_parse_elem(p, elems[i], &el))
            || (err = xfcc_certs(p, &el, &leaf,
                                 i == ne - 1 ? &out->chain : NULL))) {
            return ne > 1 ? apr_psprintf(p, "element %d: %s", i + 1, err)
                          : err;
        }
        out->leaf = leaf;
    }
    if (!out->leaf) {
        return "XFCC element has no Cert or Chain";
    }
    if (sk_X509_num(out->chain) == 0) {
        out->chain = NULL;
    }
    return NULL;
}

/* ---------------------------------------------------------------------- */
/* Entry points                                                            */
/* ---------------------------------------------------------------------- */

/* The value, trimmed, unless it is longer than @a max_len. */
static const char *take_value(apr_pool_t *p, const char *value,
                              apr_size_t max_len, span *v)
{
    v->s = value;
    v->len = strlen(value);
    if (v->len > max_len) {
        return apr_psprintf(p, "value of %" APR_SIZE_T_FMT " bytes exceeds "
                            "the limit of %" APR_SIZE_T_FMT, v->len, max_len);
    }
    *v = trim(*v);
    return NULL;
}

/* One certificate from PEM or base64 DER; with the explicit pem format a
 * bundle is the leaf followed by its intermediates (AWS ALB passthrough). */
static const char *decode_single(span v, x509a_format fmt, sink *k)
{
    span d;
    const char *err;

    if ((err = url_decode(k->p, v, &d))) {
        return err;
    }
    d = trim(d);
    if (fmt == X509A_FMT_PEM
        || (fmt == X509A_FMT_AUTO && d.len >= 10
            && memcmp(d.s, "-----BEGIN", 10) == 0)) {
        if ((err = pem_all(k, d))) {
            return err;
        }
        if (sink_count(k) == 0) {
            return "no certificate in the PEM value";
        }
        if (sink_count(k) > 1 && fmt == X509A_FMT_AUTO) {
            return "more than one certificate (repeated header field?)";
        }
        return NULL;
    }
    if (memchr(d.s, ',', d.len)) {
        return "more than one value (repeated header field?)";
    }
    return b64_put(k, d);
}

static const char *decode_rfc9440(span v, sink *k)
{
    const char *s = v.s, *e = v.s + v.len, *err;

    if ((err = sf_binary(k, &s, e))) {
        return err;
    }
    while (s < e && is_ows(*s)) {
        s++;
    }
    if (s < e) {
        return *s == ',' ? "more than one Client-Cert field"
                         : "data after the byte sequence";
    }
    return NULL;
}

static const char *decode_list(span v, sink *k)
{
    span d, part;
    const char *err, *s, *e, *comma;

    if ((err = url_decode(k->p, v, &d))) {
        return err;
    }
    for (s = d.s, e = d.s + d.len; s <= e; s = comma + 1) {
        comma = memchr(s, ',', (apr_size_t)(e - s));
        if (!comma) {
            comma = e;
        }
        part.s = s;
        part.len = (apr_size_t)(comma - s);
        if ((err = b64_put(k, trim(part)))) {
            return err;
        }
    }
    return NULL;
}

/* The value's format once auto is resolved: xfcc or the format named. */
static x509a_format resolve_format(span v, x509a_format fmt)
{
    if (fmt == X509A_FMT_AUTO) {
        if (v.s[0] == ':') {
            return X509A_FMT_RFC9440;
        }
        if (looks_xfcc(v)) {
            /* one element, as SANITIZE_SET: which proxy appended which
             * element cannot be told from the value */
            return X509A_FMT_XFCC;
        }
    }
    return fmt;
}

/* Every format but XFCC: the certificates of the value, leaf first. */
static const char *decode_framed(span v, x509a_format fmt, sink *k)
{
    switch (fmt) {
    case X509A_FMT_LIST:
        return decode_list(v, k);
    case X509A_FMT_RFC9440:
        return decode_rfc9440(v, k);
    default:
        return decode_single(v, fmt, k);
    }
}

const char *x509a_decode_der(const unsigned char *der, apr_size_t len,
                             X509 **out)
{
    return der_to_x509(der, len, out);
}

const char *x509a_decode_leaf(apr_pool_t *p, const char *value,
                              x509a_format fmt, apr_size_t max_len,
                              x509a_forwarded *out)
{
    STACK_OF(X509) *all;
    span v;
    const char *err = NULL;
    sink k;

    out->leaf = NULL;
    out->chain = NULL;
    if ((err = take_value(p, value, max_len, &v)) || means_none(v)) {
        return err;
    }
    fmt = resolve_format(v, fmt);
    if (fmt == X509A_FMT_XFCC || fmt == X509A_FMT_XFCC_APPEND) {
        if ((err = decode_xfcc(p, v, fmt == X509A_FMT_XFCC_APPEND, out))) {
            out->leaf = NULL;
            out->chain = NULL;
        }
        return err;
    }
    all = sk_X509_new_null();
    if (!all) {
        return "out of memory";
    }
    apr_pool_cleanup_register(p, all, free_stack, apr_pool_cleanup_null);
    sink_x509(&k, p, all);
    if ((err = decode_framed(v, fmt, &k))) {
        return err;
    }
    out->leaf = sk_X509_shift(all);
    apr_pool_cleanup_register(p, out->leaf, free_x509, apr_pool_cleanup_null);
    if (sk_X509_num(all) > 0) {
        out->chain = all;
    }
    return NULL;
}

const char *x509a_decode_leaf_der(apr_pool_t *p, const char *value,
                                  x509a_format fmt, apr_size_t max_len,
                                  x509a_forwarded_der *out)
{
    apr_array_header_t *all;
    span v;
    const char *err = NULL;
    sink k;

    memset(out, 0, sizeof(*out));
    if ((err = take_value(p, value, max_len, &v)) || means_none(v)) {
        return err;
    }
    fmt = resolve_format(v, fmt);
    if (fmt == X509A_FMT_XFCC || fmt == X509A_FMT_XFCC_APPEND) {
        out->unsupported = 1;
        return NULL;
    }
    all = apr_array_make(p, 2, sizeof(x509a_der));
    sink_der(&k, p, all);
    if ((err = decode_framed(v, fmt, &k))) {
        return err;
    }
    out->leaf = APR_ARRAY_IDX(all, 0, x509a_der);
    if (all->nelts > 1) {
        int i;

        out->chain = apr_array_make(p, all->nelts - 1, sizeof(x509a_der));
        for (i = 1; i < all->nelts; i++) {
            APR_ARRAY_PUSH(out->chain, x509a_der) = APR_ARRAY_IDX(all, i,
                                                                  x509a_der);
        }
    }
    return NULL;
}

/* An intermediates header value: an RFC 9440 Client-Cert-Chain list, PEM
 * certificates, or one base64 DER certificate. */
static const char *decode_chain_value(span v, sink *k)
{
    span d;
    const char *err;

    if (v.s[0] == ':') {
        /* RFC 9440 Client-Cert-Chain: an sf-List of byte sequences */
        const char *s = v.s, *e = v.s + v.len;
        for (;;) {
            if ((err = sf_binary(k, &s, e))) {
                return err;
            }
            while (s < e && is_ows(*s)) {
                s++;
            }
            if (s == e) {
                return NULL;
            }
            if (*s != ',') {
                return "data after a byte sequence";
            }
            s++;
            while (s < e && is_ows(*s)) {
                s++;
            }
        }
    }
    if ((err = url_decode(k->p, v, &d))) {
        return err;
    }
    d = trim(d);
    if (d.len >= 10 && memcmp(d.s, "-----BEGIN", 10) == 0) {
        return pem_all(k, d);
    }
    if (memchr(d.s, ',', d.len)) {
        return "more than one value (repeated header field?)";
    }
    return b64_put(k, d);
}

const char *x509a_decode_chain(apr_pool_t *p, const char *value,
                               apr_size_t max_len, STACK_OF(X509) *chain)
{
    span v;
    const char *err;
    sink k;

    if ((err = take_value(p, value, max_len, &v)) || means_none(v)) {
        return err;
    }
    sink_x509(&k, p, chain);
    return decode_chain_value(v, &k);
}

const char *x509a_decode_chain_der(apr_pool_t *p, const char *value,
                                   apr_size_t max_len,
                                   apr_array_header_t *chain)
{
    span v;
    const char *err;
    sink k;

    if ((err = take_value(p, value, max_len, &v)) || means_none(v)) {
        return err;
    }
    sink_der(&k, p, chain);
    return decode_chain_value(v, &k);
}
