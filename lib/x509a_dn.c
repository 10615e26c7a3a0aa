/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/* Distinguished names.  OpenSSL has no parser for RFC 4514 strings (its
 * X509_NAME_print_ex only prints them), so the string syntax is parsed
 * here; values, OIDs and certificate names are OpenSSL's. */

#include <string.h>
#include <stdlib.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include <openssl/asn1.h>
#include <openssl/objects.h>
#include <openssl/bio.h>
#include <openssl/buffer.h>

#include "x509a_dn.h"
#include "x509a_strprep.h"
#include "x509a_print.h"
#include "x509a_buf.h"

/* --------------------------------------------------------------------- */
/* Attribute types                                                        */
/* --------------------------------------------------------------------- */

/* Spellings OpenSSL does not know (or knows only in another letter case).
 * Lookups here ignore case; anything else goes to OBJ_txt2obj(). */
static const struct {
    const char *name;
    int nid;
} attr_aliases[] = {
    { "CN", NID_commonName },
    { "commonName", NID_commonName },
    { "C", NID_countryName },
    { "countryName", NID_countryName },
    { "L", NID_localityName },
    { "localityName", NID_localityName },
    { "ST", NID_stateOrProvinceName },
    { "S", NID_stateOrProvinceName },   /* Microsoft's spelling */
    { "SP", NID_stateOrProvinceName },  /* SSLeay's spelling */
    { "stateOrProvinceName", NID_stateOrProvinceName },
    { "O", NID_organizationName },
    { "organizationName", NID_organizationName },
    { "OU", NID_organizationalUnitName },
    { "organizationalUnitName", NID_organizationalUnitName },
    { "DC", NID_domainComponent },
    { "domainComponent", NID_domainComponent },
    { "UID", NID_userId },
    { "userId", NID_userId },
    { "E", NID_pkcs9_emailAddress },
    { "Email", NID_pkcs9_emailAddress },
    { "emailAddress", NID_pkcs9_emailAddress },
    { "T", NID_title },
    { "title", NID_title },
    { "SN", NID_surname },
    { "surname", NID_surname },
    { "G", NID_givenName },
    { "GN", NID_givenName },
    { "givenName", NID_givenName },
    { "initials", NID_initials },
    { "serialNumber", NID_serialNumber },
    { "street", NID_streetAddress },
    { "streetAddress", NID_streetAddress },
    { "postalCode", NID_postalCode },
    { "pseudonym", NID_pseudonym },
    { "dnQualifier", NID_dnQualifier },
    { "description", NID_description },
    { "businessCategory", NID_businessCategory },
    { "organizationIdentifier", NID_organizationIdentifier },
    { NULL, 0 }
};

ASN1_OBJECT *x509a_attr_type(const char *name)
{
    int i;

    if (strncasecmp(name, "OID.", 4) == 0) {
        name += 4;
    }
    if (!*name) {
        return NULL;
    }
    if (apr_isdigit(*name)) {
        /* numeric OIDs only: no name lookup for "2.5.4.3" */
        const char *s;
        for (s = name; *s; s++) {
            if (!apr_isdigit(*s) && *s != '.') {
                return NULL;
            }
        }
        return OBJ_txt2obj(name, 1);
    }
    /* OpenSSL's own short names first, in their letter case, so that a DN
     * reads back as OpenSSL (and mod_ssl) printed it: "uid" is its name for
     * uniqueIdentifier, "UID" for userId */
    if ((i = OBJ_sn2nid(name)) != NID_undef) {
        return OBJ_nid2obj(i);
    }
    for (i = 0; attr_aliases[i].name; i++) {
        if (strcasecmp(name, attr_aliases[i].name) == 0) {
            return OBJ_nid2obj(attr_aliases[i].nid);
        }
    }
    return OBJ_txt2obj(name, 0);
}

static const char *oid_text(apr_pool_t *p, const ASN1_OBJECT *obj)
{
    char buf[128];
    int n = OBJ_obj2txt(buf, sizeof(buf), obj, 1);

    if (n <= 0) {
        return "0";
    }
    if (n >= (int)sizeof(buf)) {
        char *big = apr_palloc(p, n + 1);
        OBJ_obj2txt(big, n + 1, obj, 1);
        return big;
    }
    return apr_pstrmemdup(p, buf, n);
}

/* --------------------------------------------------------------------- */
/* Canonical form                                                         */
/* --------------------------------------------------------------------- */

/* One AVA encoded as: OID '=' 4-byte big-endian length, marker, value.
 * The marker byte tells string values prepared by RFC 4518 (0x01) from
 * values compared as bytes (0x02: '#' and the hex of their DER, or not
 * UTF-8) and from values RFC 4518 cannot prepare (0x03: a prohibited code
 * point; such a DN is also flagged unmatchable), so that none can be
 * taken for another. */
typedef struct {
    char *data;
    apr_size_t len;
} canon_piece;

static canon_piece canon_ava(apr_pool_t *p, const x509a_ava *ava,
                             unsigned long *prohibited)
{
    canon_piece cp;
    apr_size_t olen = strlen(ava->oid), flen = 0;
    char *folded = NULL, marker = '\x02', *d;

    *prohibited = 0;
    if (!ava->is_hex) {
        unsigned long bad = 0;

        switch (x509a_strprep(p, ava->value, ava->value_len, &folded, &flen,
                              &bad)) {
        case X509A_STRPREP_OK:
            marker = '\x01';
            break;
        case X509A_STRPREP_PROHIBITED:
            marker = '\x03';
            *prohibited = bad;
            folded = NULL;
            break;
        case X509A_STRPREP_BAD_UTF8:
            folded = NULL;
            break;
        }
    }
    if (!folded) {
        /* compare the bytes as they are */
        folded = (char *)ava->value;
        flen = ava->value_len;
    }
    cp.len = olen + 1 + 4 + 1 + flen;
    cp.data = d = apr_palloc(p, cp.len);
    memcpy(d, ava->oid, olen);
    d += olen;
    *d++ = '=';
    *d++ = (char)((flen >> 24) & 0xff);
    *d++ = (char)((flen >> 16) & 0xff);
    *d++ = (char)((flen >> 8) & 0xff);
    *d++ = (char)(flen & 0xff);
    *d++ = marker;
    memcpy(d, folded, flen);
    return cp;
}

static int canon_piece_cmp(const void *a, const void *b)
{
    const canon_piece *x = a, *y = b;
    apr_size_t n = x->len < y->len ? x->len : y->len;
    int r = memcmp(x->data, y->data, n);

    if (r) {
        return r;
    }
    return x->len < y->len ? -1 : (x->len > y->len);
}

/* The canonical form: RDNs in certificate order, the AVAs of each sorted.
 * Returns the first AVA with a code point RFC 4518 prohibits (and that
 * code point in @a bad), NULL when there is none. */
static const x509a_ava *dn_canonicalise(apr_pool_t *p, x509a_dn *dn,
                                        unsigned long *bad)
{
    const x509a_ava *first_bad = NULL;
    apr_pool_t *tmp;
    x509a_buf canon = { 0 };
    int i, j;

    apr_pool_create(&tmp, p);
    canon.p = tmp;
    for (i = 0; i < dn->rdns->nelts; i++) {
        apr_array_header_t *rdn = APR_ARRAY_IDX(dn->rdns, i,
                                                apr_array_header_t *);
        canon_piece *pieces = apr_palloc(tmp, sizeof(*pieces)
                                         * (rdn->nelts ? rdn->nelts : 1));

        for (j = 0; j < rdn->nelts; j++) {
            const x509a_ava *ava = &APR_ARRAY_IDX(rdn, j, x509a_ava);
            unsigned long prohibited;

            pieces[j] = canon_ava(tmp, ava, &prohibited);
            if (prohibited && !first_bad) {
                first_bad = ava;
                *bad = prohibited;
            }
        }
        qsort(pieces, rdn->nelts, sizeof(*pieces), canon_piece_cmp);
        x509a_buf_add(&canon, "R", 1);
        for (j = 0; j < rdn->nelts; j++) {
            x509a_buf_add(&canon, pieces[j].data, pieces[j].len);
        }
    }
    x509a_buf_add(&canon, "", 0);
    dn->canon = apr_pmemdup(p, canon.d, canon.len + 1);
    dn->canon_len = canon.len;
    dn->unmatchable = (first_bad != NULL);
    apr_pool_destroy(tmp);
    return first_bad;
}

int x509a_dn_equal(const x509a_dn *a, const x509a_dn *b)
{
    /* RFC 4518 2.4: a value that cannot be prepared matches nothing, not
     * even itself */
    return !a->unmatchable && !b->unmatchable
           && a->canon_len == b->canon_len
           && memcmp(a->canon, b->canon, a->canon_len) == 0;
}

/* --------------------------------------------------------------------- */
/* Building AVAs                                                          */
/* --------------------------------------------------------------------- */

static int is_string_type(int type)
{
    switch (type) {
    case V_ASN1_UTF8STRING:
    case V_ASN1_PRINTABLESTRING:
    case V_ASN1_IA5STRING:
    case V_ASN1_T61STRING:
    case V_ASN1_BMPSTRING:
    case V_ASN1_UNIVERSALSTRING:
    case V_ASN1_VISIBLESTRING:
    case V_ASN1_NUMERICSTRING:
        return 1;
    default:
        return 0;
    }
}

static const char *hex_of(apr_pool_t *p, const unsigned char *d, apr_size_t n)
{
    static const char digits[] = "0123456789ABCDEF";
    char *out = apr_palloc(p, 2 * n + 2), *o = out;
    apr_size_t i;

    *o++ = '#';
    for (i = 0; i < n; i++) {
        *o++ = digits[d[i] >> 4];
        *o++ = digits[d[i] & 0x0f];
    }
    *o = '\0';
    return out;
}

/* Set an AVA's value from an ASN.1 string: UTF-8 when it converts,
 * else '#' and the hex of its DER encoding. */
static void ava_set_asn1(apr_pool_t *p, x509a_ava *ava, const ASN1_STRING *str)
{
    unsigned char *utf8 = NULL;
    int n = -1;

    if (is_string_type(ASN1_STRING_type(str))) {
        n = ASN1_STRING_to_UTF8(&utf8, str);
    }
    if (n >= 0 && x509a_utf8_valid((const char *)utf8, (apr_size_t)n)) {
        ava->value = apr_pstrmemdup(p, (const char *)utf8, (apr_size_t)n);
        ava->value_len = (apr_size_t)n;
        ava->is_hex = 0;
    }
    else {
        ASN1_TYPE *t = ASN1_TYPE_new();
        unsigned char *der = NULL;
        int dlen = -1;

        if (t && ASN1_TYPE_set1(t, ASN1_STRING_type(str), str)) {
            dlen = i2d_ASN1_TYPE(t, &der);
        }
        ava->value = dlen > 0 ? hex_of(p, der, (apr_size_t)dlen) : "#";
        ava->value_len = strlen(ava->value);
        ava->is_hex = 1;
        OPENSSL_free(der);
        ASN1_TYPE_free(t);
    }
    OPENSSL_free(utf8);
}

x509a_dn *x509a_dn_from_name(apr_pool_t *p, const X509_NAME *name)
{
    x509a_dn *dn = apr_pcalloc(p, sizeof(*dn));
    apr_array_header_t *rdn = NULL;
    int i, last_set = -1;

    dn->rdns = apr_array_make(p, 8, sizeof(apr_array_header_t *));
    for (i = 0; i < X509_NAME_entry_count(name); i++) {
        const X509_NAME_ENTRY *ne = X509_NAME_get_entry(name, i);
        const ASN1_OBJECT *obj = X509_NAME_ENTRY_get_object(ne);
        x509a_ava *ava;

        if (!rdn || X509_NAME_ENTRY_set(ne) != last_set) {
            rdn = apr_array_make(p, 1, sizeof(x509a_ava));
            APR_ARRAY_PUSH(dn->rdns, apr_array_header_t *) = rdn;
            last_set = X509_NAME_ENTRY_set(ne);
        }
        ava = apr_array_push(rdn);
        ava->oid = oid_text(p, obj);
        ava->nid = OBJ_obj2nid(obj);
        ava_set_asn1(p, ava, X509_NAME_ENTRY_get_data(ne));
    }
    {
        unsigned long bad;
        dn_canonicalise(p, dn, &bad);
    }
    return dn;
}

/* An AVA from a type name and the unescaped value bytes (or, for a
 * '#hexstring', the hex digits). */
static const char *ava_make(apr_pool_t *p, x509a_ava *ava, const char *type,
                            const char *value, apr_size_t vlen, int hex)
{
    ASN1_OBJECT *obj = x509a_attr_type(type);

    if (!obj) {
        return apr_psprintf(p, "unknown attribute type '%s'", type);
    }
    ava->oid = oid_text(p, obj);
    ava->nid = OBJ_obj2nid(obj);
    ASN1_OBJECT_free(obj);
    if (hex) {
        long dlen = 0;
        unsigned char *der = OPENSSL_hexstr2buf(apr_pstrmemdup(p, value, vlen),
                                                &dlen);
        const unsigned char *q = der;
        ASN1_TYPE *t = der ? d2i_ASN1_TYPE(NULL, &q, dlen) : NULL;

        if (!t || q != der + dlen) {
            ASN1_TYPE_free(t);
            OPENSSL_free(der);
            return apr_psprintf(p, "'#%.*s' is not the hex of a BER-encoded "
                                "value", (int)vlen, value);
        }
        if (is_string_type(t->type)) {
            ava_set_asn1(p, ava, t->value.asn1_string);
        }
        else {
            ava->value = hex_of(p, der, (apr_size_t)dlen);
            ava->value_len = strlen(ava->value);
            ava->is_hex = 1;
        }
        ASN1_TYPE_free(t);
        OPENSSL_free(der);
        return NULL;
    }
    if (!x509a_utf8_valid(value, vlen)) {
        return apr_psprintf(p, "the value of %s is not valid UTF-8", type);
    }
    if (memchr(value, '\0', vlen)) {
        return apr_psprintf(p, "the value of %s contains a NUL byte", type);
    }
    ava->value = apr_pstrmemdup(p, value, vlen);
    ava->value_len = vlen;
    ava->is_hex = 0;
    return NULL;
}

/* --------------------------------------------------------------------- */
/* String parsers                                                         */
/* --------------------------------------------------------------------- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static int is_type_char(int c)
{
    return apr_isalnum(c) || c == '-' || c == '.' || c == '_';
}

/* Parse the RFC 4514 (RFC 2253, lenient RFC 1779) syntax into RDNs in
 * the order written. */
static const char *parse_rfc4514(apr_pool_t *p, const char *text,
                                 apr_array_header_t *rdns)
{
    const char *s = text;
    apr_array_header_t *rdn = NULL;
    char *val = apr_palloc(p, strlen(text) + 1);

    for (;;) {
        const char *tstart;
        char *type;
        apr_size_t vlen = 0, keep = 0;
        int hex = 0;
        x509a_ava *ava;
        const char *err;

        while (*s == ' ') {
            s++;
        }
        tstart = s;
        /* '/' too: OpenSSL prints a few types so (RSA-SHA512/256) */
        while (is_type_char(*s) || *s == '/') {
            s++;
        }
        if (s == tstart) {
            return *s ? apr_psprintf(p, "expected an attribute type at '%s'", s)
                      : "expected an attribute type at the end";
        }
        type = apr_pstrmemdup(p, tstart, s - tstart);
        while (*s == ' ') {
            s++;
        }
        if (*s != '=') {
            return apr_psprintf(p, "expected '=' after '%s'", type);
        }
        s++;
        while (*s == ' ') {
            s++;
        }
        if (*s == '#' && !(s[1] == '\0' || s[1] == ',' || s[1] == ';'
                           || s[1] == '+' || s[1] == ' ')) {
            /* (a lone '#', printed unescaped by OpenSSL, is the character) */
            const char *h = ++s;
            while (hexval(*s) >= 0) {
                s++;
            }
            if (s == h || (s - h) % 2) {
                return apr_psprintf(p, "bad hex string for %s", type);
            }
            memcpy(val, h, s - h);
            vlen = keep = (apr_size_t)(s - h);
            hex = 1;
            while (*s == ' ') {
                s++;
            }
        }
        else {
            int quoted = (*s == '"');

            if (quoted) {
                s++;
            }
            for (;;) {
                if (!*s) {
                    if (quoted) {
                        return apr_psprintf(p, "unterminated quoted value "
                                            "for %s", type);
                    }
                    break;
                }
                if (quoted && *s == '"') {
                    s++;
                    break;
                }
                if (!quoted && (*s == ',' || *s == ';' || *s == '+')) {
                    break;
                }
                if (*s == '\\') {
                    int h1 = hexval(s[1]), h2 = h1 >= 0 ? hexval(s[2]) : -1;
                    if (h1 >= 0 && h2 >= 0) {
                        val[vlen++] = (char)(h1 << 4 | h2);
                        s += 3;
                    }
                    else if (s[1] && strchr(" \"#+,;<=>\\", s[1])) {
                        val[vlen++] = s[1];
                        s += 2;
                    }
                    else {
                        return apr_psprintf(p, "bad escape '\\%.1s' in the "
                                            "value of %s", s + 1, type);
                    }
                    keep = vlen;
                    continue;
                }
                if (!quoted && *s == '"') {
                    return apr_psprintf(p, "unescaped '\"' in the value of %s "
                                        "(write \\\")", type);
                }
                val[vlen++] = *s++;
                if (quoted || val[vlen - 1] != ' ') {
                    keep = vlen;
                }
            }
            if (quoted) {
                while (*s == ' ') {
                    s++;
                }
            }
            vlen = keep;  /* unescaped trailing spaces are not part of it */
        }
        if (!rdn) {
            rdn = apr_array_make(p, 1, sizeof(x509a_ava));
            APR_ARRAY_PUSH(rdns, apr_array_header_t *) = rdn;
        }
        ava = apr_array_push(rdn);
        if ((err = ava_make(p, ava, type, val, vlen, hex))) {
            return err;
        }
        if (!*s) {
            return NULL;
        }
        if (*s == '+') {
            s++;
        }
        else if (*s == ',' || *s == ';') {
            s++;
            rdn = NULL;
        }
        else {
            return apr_psprintf(p, "unexpected '%s' after the value of %s",
                                s, type);
        }
    }
}

/* In the slash form, '/' and '+' separate only when a known attribute
 * type and '=' follow: X509_NAME_oneline() does not escape them in values
 * ("/O=AT/T", "/CN=C++"). */
static int slash_separates(apr_pool_t *p, const char *s)
{
    const char *t = s;
    ASN1_OBJECT *obj;

    while (is_type_char(*t)) {
        t++;
    }
    if (t == s || *t != '=') {
        return 0;
    }
    obj = x509a_attr_type(apr_pstrmemdup(p, s, t - s));
    ASN1_OBJECT_free(obj);
    return obj != NULL;
}

static const char *parse_slash(apr_pool_t *p, const char *text,
                               apr_array_header_t *rdns)
{
    const char *s = text + 1;  /* past the leading '/' */
    apr_array_header_t *rdn = NULL;
    char *val = apr_palloc(p, strlen(text) + 1);

    if (!*s) {
        return "empty DN";
    }
    for (;;) {
        const char *tstart = s, *err;
        char *type;
        apr_size_t vlen = 0;
        x509a_ava *ava;

        while (is_type_char(*s)) {
            s++;
        }
        if (s == tstart || *s != '=') {
            return apr_psprintf(p, "expected TYPE=value at '%s'", tstart);
        }
        type = apr_pstrmemdup(p, tstart, s - tstart);
        s++;
        for (;;) {
            if (!*s) {
                break;
            }
            if ((*s == '/' || *s == '+') && slash_separates(p, s + 1)) {
                break;
            }
            if (*s == '\\' && s[1]) {
                int x = (s[1] == 'x' || s[1] == 'X') ? 2 : 1;
                int h1 = hexval(s[x]), h2 = h1 >= 0 ? hexval(s[x + 1]) : -1;
                if (h1 >= 0 && h2 >= 0) {
                    val[vlen++] = (char)(h1 << 4 | h2);
                    s += x + 2;
                    continue;
                }
                if (strchr("/+=,\\", s[1])) {
                    val[vlen++] = s[1];
                    s += 2;
                    continue;
                }
                /* "C:\temp" as X509_NAME_oneline() prints it */
            }
            val[vlen++] = *s++;
        }
        if (!rdn) {
            rdn = apr_array_make(p, 1, sizeof(x509a_ava));
            APR_ARRAY_PUSH(rdns, apr_array_header_t *) = rdn;
        }
        ava = apr_array_push(rdn);
        if ((err = ava_make(p, ava, type, val, vlen, 0))) {
            return err;
        }
        if (!*s) {
            return NULL;
        }
        if (*s != '+') {
            rdn = NULL;
        }
        s++;
    }
}

const char *x509a_dn_parse(apr_pool_t *p, const char *text, x509a_dn **out)
{
    x509a_dn *dn = apr_pcalloc(p, sizeof(*dn));
    apr_array_header_t *written = apr_array_make(p, 8,
                                                 sizeof(apr_array_header_t *));
    const char *s = text, *err;
    int i;

    while (apr_isspace(*s)) {
        s++;
    }
    if (!*s) {
        return "empty DN";
    }
    if (*s == '/') {
        err = parse_slash(p, s, written);
        dn->rdns = written;
    }
    else {
        err = parse_rfc4514(p, s, written);
        /* RFC 4514 writes the most specific RDN first */
        dn->rdns = apr_array_make(p, written->nelts,
                                  sizeof(apr_array_header_t *));
        for (i = written->nelts - 1; i >= 0; i--) {
            APR_ARRAY_PUSH(dn->rdns, apr_array_header_t *) =
                APR_ARRAY_IDX(written, i, apr_array_header_t *);
        }
        dn->rfc4514 = 1;
    }
    if (err) {
        return apr_psprintf(p, "'%s' is not a distinguished name: %s", text,
                            err);
    }
    {
        unsigned long bad = 0;
        const x509a_ava *ava = dn_canonicalise(p, dn, &bad);

        if (ava) {
            /* it could never match a certificate: say so at startup */
            const char *sn = ava->nid != NID_undef ? OBJ_nid2sn(ava->nid)
                                                   : ava->oid;
            return apr_psprintf(p, "'%s' cannot match any certificate: the "
                                "value of %s holds U+%04lX, which DN "
                                "comparison (RFC 4518 string preparation, "
                                "Unicode 3.2) prohibits (unassigned in "
                                "Unicode 3.2, private use, non-character or "
                                "U+FFFD)", text, sn, bad);
        }
    }
    *out = dn;
    return NULL;
}

static int rdn_is_root_side(const x509a_dn *dn, int i)
{
    apr_array_header_t *rdn = APR_ARRAY_IDX(dn->rdns, i, apr_array_header_t *);
    int nid = APR_ARRAY_IDX(rdn, 0, x509a_ava).nid;

    return nid == NID_countryName || nid == NID_domainComponent;
}

int x509a_dn_looks_reversed(const x509a_dn *dn)
{
    int n = dn->rdns->nelts;

    /* written first = last in certificate order */
    return dn->rfc4514 && n > 1 && rdn_is_root_side(dn, n - 1)
           && !rdn_is_root_side(dn, 0);
}

/* --------------------------------------------------------------------- */
/* Printing                                                               */
/* --------------------------------------------------------------------- */

char *x509a_name_to_string(apr_pool_t *p, const X509_NAME *name, int legacy)
{
    char *result;

    if (legacy) {
        char *cp = X509_NAME_oneline(name, NULL, 0);
        result = apr_pstrdup(p, cp ? cp : "");
        OPENSSL_free(cp);
    }
    else {
        /* as mod_ssl: RFC 2253 escaping, but UTF-8 kept as is */
        result = x509a_print_name(p, name, 0);
    }
    return result;
}
