/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/* Serial numbers, fingerprints and key pins: the number formats the
 * directives accept.  Arithmetic and base64 are OpenSSL's. */

#include <string.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include <openssl/bn.h>
#include <openssl/evp.h>

#include "x509a_num.h"

/* Strip leading zero bytes so that 0x0001 and 1 compare equal. */
static void serial_set_mag(apr_pool_t *p, x509a_serial *out, int negative,
                           const unsigned char *data, apr_size_t len)
{
    while (len > 0 && data[0] == 0) {
        data++;
        len--;
    }
    out->negative = (len > 0) ? negative : 0;
    out->mag = len ? apr_pmemdup(p, data, len) : (const unsigned char *)"";
    out->len = len;
}

static int all_chars(const char *s, int (*pred)(int))
{
    if (!*s) {
        return 0;
    }
    for (; *s; s++) {
        if (!pred((unsigned char)*s)) {
            return 0;
        }
    }
    return 1;
}

static int is_digit(int ch)
{
    return ch >= '0' && ch <= '9';
}

static int is_xdigit(int ch)
{
    return apr_isxdigit(ch);
}

const char *x509a_serial_parse(apr_pool_t *p, const char *text,
                               x509a_serial *out)
{
    const char *s = text;
    char *digits;
    BIGNUM *bn = NULL;
    int negative = 0, ok;
    unsigned char *buf;
    int n;

    if (*s == '-') {
        negative = 1;
        s++;
    }
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        digits = apr_pstrdup(p, s + 2);
        if (!all_chars(digits, is_xdigit)) {
            return apr_psprintf(p, "'%s' is not a hexadecimal number", text);
        }
        ok = BN_hex2bn(&bn, digits) == (int)strlen(digits);
    }
    else if (strchr(s, ':')) {
        /* colon-hex: every group one or two hex digits */
        char *d;
        const char *g;
        apr_size_t glen = 0;

        digits = d = apr_palloc(p, strlen(s) + 2);
        for (g = s; ; g++) {
            if (*g == ':' || *g == '\0') {
                if (glen == 0 || glen > 2) {
                    return apr_psprintf(p, "'%s' is not colon-separated hex "
                                        "bytes (like 0A:1B:2C)", text);
                }
                if (glen == 1) {
                    /* "A" means 0A */
                    d[0] = d[-1];
                    d[-1] = '0';
                    d++;
                }
                glen = 0;
                if (*g == '\0') {
                    break;
                }
                continue;
            }
            if (!apr_isxdigit(*g)) {
                return apr_psprintf(p, "'%s' is not colon-separated hex "
                                    "bytes (like 0A:1B:2C)", text);
            }
            *d++ = *g;
            glen++;
        }
        *d = '\0';
        ok = BN_hex2bn(&bn, digits) == (int)strlen(digits);
    }
    else {
        if (!all_chars(s, is_digit)) {
            if (all_chars(s, is_xdigit)) {
                return apr_psprintf(p, "'%s' is not a decimal number; write "
                                    "hexadecimal serials as 0x%s or with "
                                    "colons", text, s);
            }
            return apr_psprintf(p, "'%s' is not a serial number (decimal, "
                                "0x-hex or colon-hex)", text);
        }
        ok = BN_dec2bn(&bn, s) == (int)strlen(s);
    }
    if (!ok || !bn) {
        BN_free(bn);
        return apr_psprintf(p, "'%s' is not a serial number", text);
    }
    n = BN_num_bytes(bn);
    if (n > 64) {
        BN_free(bn);
        return apr_psprintf(p, "'%s' is longer than any certificate serial "
                            "number", text);
    }
    buf = apr_palloc(p, n ? n : 1);
    BN_bn2bin(bn, buf);
    BN_free(bn);
    serial_set_mag(p, out, negative, buf, (apr_size_t)n);
    return NULL;
}

void x509a_serial_from_asn1(apr_pool_t *p, const ASN1_INTEGER *ai,
                            x509a_serial *out)
{
    serial_set_mag(p, out, ASN1_STRING_type(ai) == V_ASN1_NEG_INTEGER,
                   ASN1_STRING_get0_data(ai),
                   (apr_size_t)ASN1_STRING_length(ai));
}

int x509a_serial_equal(const x509a_serial *a, const x509a_serial *b)
{
    return a->negative == b->negative && a->len == b->len
           && memcmp(a->mag, b->mag, a->len) == 0;
}

/* Hex digits to bytes, skipping colons and white space. */
static int hex_to_bytes(const char *s, unsigned char *out, apr_size_t max,
                        apr_size_t *len)
{
    apr_size_t n = 0;
    int hi = -1;

    for (; *s; s++) {
        int v;
        if (*s == ':' || apr_isspace(*s)) {
            continue;
        }
        if (*s >= '0' && *s <= '9') {
            v = *s - '0';
        }
        else if (*s >= 'a' && *s <= 'f') {
            v = *s - 'a' + 10;
        }
        else if (*s >= 'A' && *s <= 'F') {
            v = *s - 'A' + 10;
        }
        else {
            return 0;
        }
        if (hi < 0) {
            hi = v;
        }
        else {
            if (n == max) {
                return 0;
            }
            out[n++] = (unsigned char)(hi << 4 | v);
            hi = -1;
        }
    }
    if (hi >= 0) {
        return 0;
    }
    *len = n;
    return 1;
}

const char *x509a_fingerprint_parse(apr_pool_t *p, const char *text,
                                    x509a_fingerprint *out)
{
    const char *s = text;
    int alg = 0;

    if (strncasecmp(s, "sha1:", 5) == 0) {
        alg = X509A_DIGEST_SHA1;
        s += 5;
    }
    else if (strncasecmp(s, "sha256:", 7) == 0) {
        alg = X509A_DIGEST_SHA256;
        s += 7;
    }
    else if (strncasecmp(s, "sha-256:", 8) == 0) {
        alg = X509A_DIGEST_SHA256;
        s += 8;
    }
    if (!hex_to_bytes(s, out->md, sizeof(out->md), &out->len)) {
        return apr_psprintf(p, "'%s' is not a fingerprint: expected "
                            "[sha1:|sha256:] and hex digits", text);
    }
    if (!alg) {
        alg = out->len == 20 ? X509A_DIGEST_SHA1 : X509A_DIGEST_SHA256;
    }
    if ((alg == X509A_DIGEST_SHA1 && out->len != 20)
        || (alg == X509A_DIGEST_SHA256 && out->len != 32)) {
        return apr_psprintf(p, "'%s' is not a fingerprint: a SHA-1 "
                            "fingerprint has 40 hex digits, a SHA-256 one 64 "
                            "(found %" APR_SIZE_T_FMT ")", text, out->len * 2);
    }
    out->alg = (x509a_digest_alg)alg;
    return NULL;
}

const char *x509a_spki_pin_parse(apr_pool_t *p, const char *text,
                                 unsigned char out[32])
{
    const char *s = text;
    apr_size_t len, slen;

    if (strncasecmp(s, "sha256:", 7) == 0) {
        s += 7;
    }
    else if (strncasecmp(s, "pin-sha256:", 11) == 0) {
        s += 11;
    }
    slen = strlen(s);
    if (slen >= 2 && s[0] == '"' && s[slen - 1] == '"') {
        s = apr_pstrndup(p, s + 1, slen - 2);
        slen -= 2;
    }
    if (hex_to_bytes(s, out, 32, &len) && len == 32) {
        return NULL;
    }
    if (slen == 44 && s[43] == '=') {
        unsigned char buf[33];
        /* EVP_DecodeBlock counts the padding as zero bytes: 44 chars
         * with one '=' give 33 bytes, the last one padding */
        if (EVP_DecodeBlock(buf, (const unsigned char *)s, 44) == 33
            && s[42] != '=') {
            memcpy(out, buf, 32);
            return NULL;
        }
    }
    return apr_psprintf(p, "'%s' is not a SubjectPublicKeyInfo pin: expected "
                        "sha256: and 64 hex digits or 44 base64 characters",
                        text);
}

char *x509a_hex(apr_pool_t *p, const unsigned char *data, apr_size_t len)
{
    static const char digits[] = "0123456789ABCDEF";
    char *out = apr_palloc(p, len * 2 + 1);
    apr_size_t i;

    for (i = 0; i < len; i++) {
        out[2 * i] = digits[data[i] >> 4];
        out[2 * i + 1] = digits[data[i] & 0x0f];
    }
    out[2 * len] = '\0';
    return out;
}
