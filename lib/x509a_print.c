/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/* RFC 2253 style printing of names and strings without a BIO, with the
 * escaping rules of OpenSSL's ASN1_STRING_print_ex(): see x509a_print.h.
 * Anything outside the common character string types is handed to
 * OpenSSL itself. */

#include <string.h>
#include <apr_strings.h>
#include <openssl/bio.h>
#include <openssl/objects.h>

#include "x509a_print.h"
#include "x509a_buf.h"

/* Escaping wanted: the ASN1_STRFLGS_ESC_* bits, plus where a character is. */
#define ESC_2253   ASN1_STRFLGS_ESC_2253   /* ,+"\<>; and the two below */
#define ESC_CTRL   ASN1_STRFLGS_ESC_CTRL   /* control characters as \XX */
#define ESC_MSB    ASN1_STRFLGS_ESC_MSB    /* bytes over 0x7f as \XX */
#define AT_FIRST   0x1000                  /* first character: # and space */
#define AT_LAST    0x2000                  /* last character: space */

/* One output byte, escaped as OpenSSL's do_esc_char() escapes it. */
static void put_byte(x509a_buf *b, unsigned char c, unsigned int flags)
{
    static const char hex[] = "0123456789ABCDEF";
    char out[4];
    int bs_escape = 0, hex_escape = 0;

    if (c > 0x7f) {
        hex_escape = (flags & ESC_MSB) != 0;
    }
    else if (c < 0x20 || c == 0x7f) {
        hex_escape = (flags & ESC_CTRL) != 0;
    }
    else if (flags & ESC_2253) {
        bs_escape = strchr("\"+,;<>\\", c) != NULL
                    || (c == '#' && (flags & AT_FIRST))
                    || (c == ' ' && (flags & (AT_FIRST | AT_LAST)));
    }
    if (bs_escape || (c == '\\' && (flags & (ESC_2253 | ESC_CTRL | ESC_MSB)))) {
        out[0] = '\\';
        out[1] = (char)c;
        x509a_buf_add(b, out, 2);
    }
    else if (hex_escape) {
        out[0] = '\\';
        out[1] = hex[c >> 4];
        out[2] = hex[c & 0x0f];
        x509a_buf_add(b, out, 3);
    }
    else {
        out[0] = (char)c;
        x509a_buf_add(b, out, 1);
    }
}

/* The string's characters, converted to UTF-8 and escaped; 0 when the
 * type is not one this handles (the caller then asks OpenSSL). */
static int put_string(x509a_buf *b, const ASN1_STRING *s, unsigned int flags)
{
    const unsigned char *d = ASN1_STRING_get0_data(s);
    int len = ASN1_STRING_length(s), width, i;

    switch (ASN1_STRING_type(s)) {
    case V_ASN1_UTF8STRING:
        width = 0;      /* already UTF-8: bytes as they are */
        break;
    case V_ASN1_NUMERICSTRING:
    case V_ASN1_PRINTABLESTRING:
    case V_ASN1_T61STRING:
    case V_ASN1_IA5STRING:
    case V_ASN1_VISIBLESTRING:
        width = 1;      /* one byte, one character (Latin-1) */
        break;
    case V_ASN1_BMPSTRING:
        width = 2;
        break;
    case V_ASN1_UNIVERSALSTRING:
        width = 4;
        break;
    default:
        return 0;
    }
    if (width > 1 && len % width) {
        return 0;
    }
    for (i = 0; i < len; i += width ? width : 1) {
        unsigned int where = 0;
        unsigned long c;

        if (flags & ESC_2253) {
            /* as OpenSSL: the last position overrides the first, so a
             * lone '#' is not escaped */
            if (i + (width ? width : 1) == len) {
                where = AT_LAST;
            }
            else if (i == 0) {
                where = AT_FIRST;
            }
        }
        if (width <= 1) {
            c = d[i];
        }
        else if (width == 2) {
            c = (unsigned long)d[i] << 8 | d[i + 1];
        }
        else {
            c = (unsigned long)d[i] << 24 | (unsigned long)d[i + 1] << 16
                | (unsigned long)d[i + 2] << 8 | d[i + 3];
        }
        if (c >= 0xd800 && c < 0xe000) {
            return 0;           /* surrogates: OpenSSL refuses to print */
        }
        if (width == 0 || c < 0x80) {
            put_byte(b, (unsigned char)c, flags | where);
        }
        else {
            unsigned char u[4];
            int n, k;

            if (c < 0x800) {
                u[0] = (unsigned char)(0xc0 | (c >> 6));
                n = 1;
            }
            else if (c < 0x10000) {
                u[0] = (unsigned char)(0xe0 | (c >> 12));
                u[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
                n = 2;
            }
            else if (c < 0x110000) {
                u[0] = (unsigned char)(0xf0 | (c >> 18));
                u[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3f));
                u[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
                n = 3;
            }
            else {
                return 0;       /* OpenSSL's 5- and 6-byte forms */
            }
            u[n++] = (unsigned char)(0x80 | (c & 0x3f));
            for (k = 0; k < n; k++) {
                put_byte(b, u[k], flags);   /* all over 0x7f */
            }
        }
    }
    return 1;
}

static char *openssl_name(apr_pool_t *p, const X509_NAME *name,
                          unsigned long flags)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data, *result;
    long len;

    if (!bio) {
        return apr_pstrdup(p, "");
    }
    X509_NAME_print_ex(bio, name, 0, flags);
    len = BIO_get_mem_data(bio, &data);
    result = len > 0 ? apr_pstrmemdup(p, data, (apr_size_t)len)
                     : apr_pstrdup(p, "");
    BIO_free(bio);
    return result;
}

char *x509a_print_name(apr_pool_t *p, const X509_NAME *name, int escape_msb)
{
    x509a_buf b = { p, NULL, 0, 0 };
    unsigned int flags = ESC_2253 | ESC_CTRL | (escape_msb ? ESC_MSB : 0);
    int i, prev = -1, n = X509_NAME_entry_count(name);

    /* most specific RDN first; '+' within a multi-valued RDN */
    for (i = n - 1; i >= 0; i--) {
        const X509_NAME_ENTRY *ne = X509_NAME_get_entry(name, i);
        int set = X509_NAME_ENTRY_set(ne);
        int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(ne));
        const char *sn = nid != NID_undef ? OBJ_nid2sn(nid) : NULL;

        if (!sn) {
            /* printed as numeric OID and #hex DER: OpenSSL's business */
            return openssl_name(p, name, escape_msb ? XN_FLAG_RFC2253
                                : XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
        }
        if (prev != -1) {
            x509a_buf_add(&b, set == prev ? "+" : ",", 1);
        }
        prev = set;
        x509a_buf_add(&b, sn, strlen(sn));
        x509a_buf_add(&b, "=", 1);
        if (!put_string(&b, X509_NAME_ENTRY_get_data(ne), flags)) {
            return openssl_name(p, name, escape_msb ? XN_FLAG_RFC2253
                                : XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
        }
    }
    return b.d ? b.d : apr_pstrdup(p, "");
}

char *x509a_print_string(apr_pool_t *p, const ASN1_STRING *s)
{
    x509a_buf b = { p, NULL, 0, 0 };

    if (!put_string(&b, s, ESC_CTRL)) {
        BIO *bio = BIO_new(BIO_s_mem());
        char *data, *result;
        long len;

        if (!bio) {
            return apr_pstrdup(p, "");
        }
        ASN1_STRING_print_ex(bio, s, ASN1_STRFLGS_ESC_CTRL
                                     | ASN1_STRFLGS_UTF8_CONVERT);
        len = BIO_get_mem_data(bio, &data);
        result = len > 0 ? apr_pstrmemdup(p, data, (apr_size_t)len)
                         : apr_pstrdup(p, "");
        BIO_free(bio);
        return result;
    }
    return b.d ? b.d : apr_pstrdup(p, "");
}
