/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/* Certificate-to-user map files: a line tokenizer and three lookup tables.
 * DNs, serials and fingerprints are parsed by the same code as the rules. */

#include <string.h>
#include <limits.h>
#include <apr_hash.h>
#include <apr_strings.h>
#include <apr_file_io.h>
#include <apr_lib.h>

#include "x509a_map.h"

/** A one-to-one rule's user. */
typedef struct {
    int line;
    const char *user;
} map_target;

/** A many-to-one rule of one issuer. */
typedef struct {
    int line;
    void *re;
    const char *user;     /* may hold $1..$9 */
    int refs;             /* it does */
} subject_rule;

struct x509a_map {
    apr_pool_t *pool;
    const x509a_regex_ops *ops;
    apr_hash_t *by_sha1;           /* 20-byte digest -> map_target */
    apr_hash_t *by_sha256;         /* 32-byte digest -> map_target */
    apr_hash_t *by_issuer_serial;  /* canonical issuer, serial -> map_target */
    apr_hash_t *by_issuer;         /* canonical issuer -> subject_rule array */
    apr_hash_t *issuer_cache;      /* issuer text -> x509a_dn (while loading) */
    int count;
};

#define MAX_FIELDS 5

/* Split a line into fields: white space separates, '"' quotes (inside,
 * \" is a quote and every other character is itself), '#' at the start of
 * a field begins a comment.  Returns the number of fields or -1. */
static int tokenize(apr_pool_t *p, const char *s, const char *end,
                    const char **fields, const char **err)
{
    int n = 0;

    for (;;) {
        char *out;
        apr_size_t o = 0;

        while (s < end && (*s == ' ' || *s == '\t' || *s == '\r')) {
            s++;
        }
        if (s == end || *s == '#') {
            return n;
        }
        if (n == MAX_FIELDS) {
            *err = "too many fields";
            return -1;
        }
        out = apr_palloc(p, (apr_size_t)(end - s) + 1);
        if (*s == '"') {
            for (s++; s < end && *s != '"'; s++) {
                if (*s == '\\' && s + 1 < end && s[1] == '"') {
                    s++;
                }
                out[o++] = *s;
            }
            if (s == end) {
                *err = "unterminated quoted string";
                return -1;
            }
            s++;
            if (s < end && *s != ' ' && *s != '\t' && *s != '\r') {
                *err = "text right after a closing quote";
                return -1;
            }
        }
        else {
            while (s < end && *s != ' ' && *s != '\t' && *s != '\r') {
                if (*s == '"') {
                    *err = "quote inside an unquoted field";
                    return -1;
                }
                out[o++] = *s++;
            }
        }
        out[o] = '\0';
        fields[n++] = out;
    }
}

/* The highest $N a user template refers to (0 for none), -1 if malformed. */
static int template_refs(const char *user)
{
    int max = 0;

    for (; *user; user++) {
        if (*user != '$') {
            continue;
        }
        user++;
        if (*user == '$') {
            continue;
        }
        if (*user < '1' || *user > '9') {
            return -1;
        }
        if (*user - '0' > max) {
            max = *user - '0';
        }
    }
    return max;
}

static const char *check_user(apr_pool_t *p, const char *user)
{
    const char *s;

    if (!*user) {
        return "empty user name";
    }
    for (s = user; *s; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f) {
            return "control character in the user name";
        }
    }
    return NULL;
}

static const char *issuer_dn(x509a_map *map, apr_pool_t *tmp, const char *text,
                             const x509a_dn **dn)
{
    const char *err;
    x509a_dn *parsed = apr_hash_get(map->issuer_cache, text,
                                    APR_HASH_KEY_STRING);

    if (!parsed) {
        if ((err = x509a_dn_parse(map->pool, text, &parsed))) {
            return err;
        }
        apr_hash_set(map->issuer_cache, apr_pstrdup(tmp, text),
                     APR_HASH_KEY_STRING, parsed);
    }
    *dn = parsed;
    return NULL;
}

/* Key of an issuer-serial rule: canonical issuer, NUL, sign, magnitude. */
static const char *issuer_serial_key(apr_pool_t *p, const x509a_dn *issuer,
                                     const x509a_serial *serial,
                                     apr_size_t *len)
{
    char *key;

    *len = issuer->canon_len + 2 + serial->len;
    key = apr_palloc(p, *len);
    memcpy(key, issuer->canon, issuer->canon_len);
    key[issuer->canon_len] = '\0';
    key[issuer->canon_len + 1] = serial->negative ? '-' : '+';
    memcpy(key + issuer->canon_len + 2, serial->mag, serial->len);
    return key;
}

/* First line wins: keep an existing entry. */
static void put_target(apr_pool_t *p, apr_hash_t *h, const void *key,
                       apr_size_t klen, int line, const char *user)
{
    map_target *t;

    if (apr_hash_get(h, key, (apr_ssize_t)klen)) {
        return;
    }
    t = apr_palloc(p, sizeof(*t));
    t->line = line;
    t->user = user;
    apr_hash_set(h, apr_pmemdup(p, key, klen), (apr_ssize_t)klen, t);
}

static const char *parse_line(x509a_map *map, apr_pool_t *tmp, int line,
                              const char **f, int n)
{
    apr_pool_t *p = map->pool;
    const char *err;

    if (!strcasecmp(f[0], "fingerprint")) {
        x509a_fingerprint fp;

        if (n != 3) {
            return "expected: fingerprint [sha1:|sha256:]HEX USER";
        }
        if ((err = x509a_fingerprint_parse(tmp, f[1], &fp))
            || (err = check_user(tmp, f[2]))) {
            return err;
        }
        put_target(p, fp.alg == X509A_DIGEST_SHA1 ? map->by_sha1
                                                  : map->by_sha256,
                   fp.md, fp.len, line, apr_pstrdup(p, f[2]));
    }
    else if (!strcasecmp(f[0], "issuer-serial")) {
        const x509a_dn *issuer;
        x509a_serial serial;
        const char *key;
        apr_size_t klen;

        if (n != 4) {
            return "expected: issuer-serial \"ISSUER DN\" SERIAL USER";
        }
        if ((err = issuer_dn(map, tmp, f[1], &issuer))
            || (err = x509a_serial_parse(tmp, f[2], &serial))
            || (err = check_user(tmp, f[3]))) {
            return err;
        }
        key = issuer_serial_key(tmp, issuer, &serial, &klen);
        put_target(p, map->by_issuer_serial, key, klen, line,
                   apr_pstrdup(p, f[3]));
    }
    else if (!strcasecmp(f[0], "issuer-subject")) {
        const x509a_dn *issuer;
        apr_array_header_t *rules;
        subject_rule *r;
        int ncap, refs;

        if (n != 4) {
            return "expected: issuer-subject \"ISSUER DN\" \"SUBJECT-REGEX\" "
                   "USER";
        }
        if ((err = issuer_dn(map, tmp, f[1], &issuer))
            || (err = check_user(tmp, f[3]))) {
            return err;
        }
        if ((refs = template_refs(f[3])) < 0) {
            return "in the user name, $ must be followed by 1..9 or $";
        }
        r = apr_palloc(p, sizeof(*r));
        r->re = map->ops->compile(p, f[2], &ncap, &err);
        if (!r->re) {
            return apr_psprintf(tmp, "bad regular expression '%s': %s", f[2],
                                err ? err : "invalid");
        }
        if (refs > ncap) {
            return apr_psprintf(tmp, "the user name uses $%d but the "
                                "expression has %d capture group(s)", refs,
                                ncap);
        }
        r->line = line;
        r->user = apr_pstrdup(p, f[3]);
        r->refs = refs > 0 || strchr(f[3], '$') != NULL;
        rules = apr_hash_get(map->by_issuer, issuer->canon,
                             (apr_ssize_t)issuer->canon_len);
        if (!rules) {
            rules = apr_array_make(p, 2, sizeof(subject_rule *));
            apr_hash_set(map->by_issuer, issuer->canon,
                         (apr_ssize_t)issuer->canon_len, rules);
        }
        APR_ARRAY_PUSH(rules, subject_rule *) = r;
    }
    else {
        return apr_psprintf(tmp, "unknown rule '%s' (fingerprint, "
                            "issuer-serial or issuer-subject)", f[0]);
    }
    map->count++;
    return NULL;
}

const char *x509a_map_parse(apr_pool_t *p, const char *name, const char *text,
                            apr_size_t len, const x509a_regex_ops *ops,
                            x509a_map **out)
{
    x509a_map *map = apr_pcalloc(p, sizeof(*map));
    const char *s = text, *end = text + len, *err = NULL;
    apr_pool_t *tmp;
    int line = 0;

    map->pool = p;
    map->ops = ops;
    map->by_sha1 = apr_hash_make(p);
    map->by_sha256 = apr_hash_make(p);
    map->by_issuer_serial = apr_hash_make(p);
    map->by_issuer = apr_hash_make(p);
    apr_pool_create(&tmp, p);
    map->issuer_cache = apr_hash_make(tmp);
    while (s < end && !err) {
        const char *eol = memchr(s, '\n', (apr_size_t)(end - s));
        const char *fields[MAX_FIELDS];
        int n;

        if (!eol) {
            eol = end;
        }
        line++;
        if (memchr(s, '\0', (apr_size_t)(eol - s))) {
            err = "NUL byte";
        }
        else if ((n = tokenize(tmp, s, eol, fields, &err)) > 0) {
            err = parse_line(map, tmp, line, fields, n);
        }
        s = eol + 1;
    }
    if (err) {
        err = apr_psprintf(p, "%s:%d: %s", name, line, err);
    }
    apr_pool_destroy(tmp);
    map->issuer_cache = NULL;
    if (!err) {
        *out = map;
    }
    return err;
}

const char *x509a_map_load(apr_pool_t *p, const char *file,
                           const x509a_regex_ops *ops, x509a_map **out)
{
    apr_file_t *f;
    apr_finfo_t fi;
    apr_status_t rv;
    apr_size_t len = 0;
    char *buf = NULL, errbuf[128];
    const char *err;
    apr_pool_t *tmp;

    apr_pool_create(&tmp, p);
    rv = apr_file_open(&f, file, APR_FOPEN_READ | APR_FOPEN_BINARY,
                       APR_OS_DEFAULT, tmp);
    if (rv == APR_SUCCESS) {
        rv = apr_file_info_get(&fi, APR_FINFO_SIZE, f);
        if (rv == APR_SUCCESS) {
            buf = apr_palloc(tmp, (apr_size_t)fi.size + 1);
            rv = apr_file_read_full(f, buf, (apr_size_t)fi.size, &len);
            if (rv == APR_EOF && len == 0) {
                rv = APR_SUCCESS;
            }
        }
        apr_file_close(f);
    }
    if (rv != APR_SUCCESS) {
        err = apr_psprintf(p, "cannot read '%s': %s", file,
                           apr_strerror(rv, errbuf, sizeof(errbuf)));
    }
    else {
        err = x509a_map_parse(p, file, buf, len, ops, out);
    }
    apr_pool_destroy(tmp);
    return err;
}

int x509a_map_count(const x509a_map *map)
{
    return map->count;
}

/* USER with $N replaced by the captures of @a subject. */
static const char *expand(apr_pool_t *p, const char *tmpl, const char *subject,
                          const x509a_match *m)
{
    apr_size_t len = 0;
    const char *t;
    char *out, *o;

    for (t = tmpl; *t; t++) {
        if (*t == '$' && t[1] >= '1' && t[1] <= '9') {
            const x509a_match *c = &m[t[1] - '0'];
            len += c->so >= 0 ? (apr_size_t)(c->eo - c->so) : 0;
            t++;
        }
        else {
            if (*t == '$' && t[1] == '$') {
                t++;
            }
            len++;
        }
    }
    o = out = apr_palloc(p, len + 1);
    for (t = tmpl; *t; t++) {
        if (*t == '$' && t[1] >= '1' && t[1] <= '9') {
            const x509a_match *c = &m[t[1] - '0'];
            if (c->so >= 0) {
                memcpy(o, subject + c->so, (apr_size_t)(c->eo - c->so));
                o += c->eo - c->so;
            }
            t++;
        }
        else {
            if (*t == '$' && t[1] == '$') {
                t++;
            }
            *o++ = *t;
        }
    }
    *o = '\0';
    return out;
}

const char *x509a_map_lookup(const x509a_map *map, x509a_cert *c,
                             apr_pool_t *p, int *line)
{
    const map_target *best = NULL, *t;
    const x509a_dn *issuer;
    const apr_array_header_t *rules;
    const char *user = NULL;
    int best_line = INT_MAX, i;

    if (apr_hash_count(map->by_sha256)
        && (t = apr_hash_get(map->by_sha256,
                             x509a_cert_digest(c, X509A_DIGEST_SHA256), 32))) {
        best = t;
    }
    if (apr_hash_count(map->by_sha1)
        && (t = apr_hash_get(map->by_sha1,
                             x509a_cert_digest(c, X509A_DIGEST_SHA1), 20))
        && (!best || t->line < best->line)) {
        best = t;
    }
    issuer = x509a_cert_issuer_dn(c);
    if (apr_hash_count(map->by_issuer_serial)) {
        apr_size_t klen;
        const char *key = issuer_serial_key(p, issuer, x509a_cert_serial(c),
                                            &klen);
        t = apr_hash_get(map->by_issuer_serial, key, (apr_ssize_t)klen);
        if (t && (!best || t->line < best->line)) {
            best = t;
        }
    }
    if (best) {
        best_line = best->line;
        user = best->user;
    }
    rules = apr_hash_get(map->by_issuer, issuer->canon,
                         (apr_ssize_t)issuer->canon_len);
    for (i = 0; rules && i < rules->nelts; i++) {
        const subject_rule *r = APR_ARRAY_IDX(rules, i, subject_rule *);
        const char *subject = x509a_cert_subject(c);
        x509a_match m[10];

        if (r->line > best_line) {
            break;
        }
        if (map->ops->match(r->re, subject, 10, m)) {
            best_line = r->line;
            user = r->refs ? expand(p, r->user, subject, m) : r->user;
            break;
        }
    }
    if (user && line) {
        *line = best_line;
    }
    return user;
}
