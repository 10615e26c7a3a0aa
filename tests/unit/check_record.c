/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/* x509a_record: secret files, key ids, cache keys, and the authenticated
 * record codec (round trips; every byte altered, a record moved to another
 * key, another secret, the previous secret, another format version,
 * truncated and extended records, expiry). */

#include <string.h>
#include <check.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include <openssl/evp.h>

#include "x509a_record.h"
#include "x509a_reason.h"
#include "x509a_cert.h"
#include "testcert.h"
#include "suites.h"

static tc_pki pki;
static const char *dir;

static void record_setup(void)
{
    tc_setup();
    tc_pki_make(tc_pool, &pki, 1);
    dir = tc_temp_dir(tc_pool);
}

/* ---------------------------------------------------------------------- */
/* Helpers                                                                 */
/* ---------------------------------------------------------------------- */

/* A key from 32 bytes of @a fill. */
static x509a_record_key *key_of(unsigned char fill)
{
    unsigned char secret[32];
    x509a_record_key *k;
    const char *err;

    memset(secret, fill, sizeof(secret));
    err = x509a_record_key_make(tc_pool, secret, sizeof(secret), &k);
    ck_assert_msg(err == NULL, "key not made: %s", err);
    return k;
}

/* A file of the test's directory holding @a len bytes of @a data. */
static const char *secret_file(const char *name, const void *data,
                               apr_size_t len)
{
    const char *path = apr_pstrcat(tc_pool, dir, "/", name, NULL);

    tc_write_file(path, data, len);
    return path;
}

/* A cache key: chain digest @a c, settings digest @a s (each repeated). */
static void cache_key(unsigned char key[X509A_RECORD_KEY_LEN],
                      unsigned char c, unsigned char s)
{
    memset(key, c, 32);
    memset(key + 32, s, 32);
}

/* A verified record of @a n fingerprints (byte i of fingerprint j:
 * j * 32 + i). */
static x509a_record verified_record(int n)
{
    x509a_record rec;
    unsigned char *chain = apr_palloc(tc_pool, 32 * (n ? n : 1));
    int i;

    for (i = 0; i < 32 * n; i++) {
        chain[i] = (unsigned char)i;
    }
    memset(&rec, 0, sizeof(rec));
    rec.verified = 1;
    rec.expires = apr_time_from_sec(2000000000);
    rec.valid_from = apr_time_from_sec(1704067200);
    rec.valid_until = apr_time_from_sec(2524607999);
    rec.nchain = n;
    rec.chain = chain;
    return rec;
}

static x509a_record refused_record(const char *why)
{
    x509a_record rec;

    memset(&rec, 0, sizeof(rec));
    rec.expires = apr_time_from_sec(2000000000);
    rec.why = why;
    return rec;
}

/* An instant before the records of the helpers above expire. */
#define NOW apr_time_from_sec(1800000000)

static x509a_record_status decode(const x509a_record_key *cur,
                                  const x509a_record_key *prev,
                                  const unsigned char *key,
                                  const unsigned char *val, apr_size_t len,
                                  x509a_record *out)
{
    return x509a_record_decode(tc_pool, cur, prev, key, val, len, NOW, out);
}

/* ---------------------------------------------------------------------- */
/* Keys                                                                    */
/* ---------------------------------------------------------------------- */

START_TEST(record_key_files)
{
    static const unsigned char raw[32] = {
        0x00, 0x8f, 0x12, 0xa0, 0xff, 0x33, 0x01, 0x7e, 0xc4, 0x10, 0x0a,
        0x80, 0x20, 0x9d, 0x44, 0x5b, 0xe1, 0x02, 0x77, 0xb3, 0x00, 0x6c,
        0x99, 0x13, 0xd8, 0x0d, 0x41, 0xfe, 0x27, 0x88, 0x5a, 0x03
    };
    const char *hex = "008f12a0ff33017ec4100a80209d445be10277b3006c9913d8"
                      "0d41fe27885a03";
    x509a_record_key *a, *b, *c;
    const char *err;
    char *text;
    int i;

    err = x509a_record_key_load(tc_pool, secret_file("raw", raw, 32), &a);
    ck_assert_msg(err == NULL, "raw: %s", err);
    /* the same secret as hex digits, upper case, with a newline */
    text = apr_pstrcat(tc_pool, "  ", hex, "\n", NULL);
    ck_assert_int_eq(strlen(hex), 64);
    err = x509a_record_key_load(tc_pool, secret_file("hex", text,
                                                     strlen(text)), &b);
    ck_assert_msg(err == NULL, "hex: %s", err);
    ck_assert_int_eq(memcmp(x509a_record_key_id(a), x509a_record_key_id(b),
                            X509A_RECORD_KEY_ID_LEN), 0);
    text = apr_pstrdup(tc_pool, hex);
    for (i = 0; text[i]; i++) {
        text[i] = (char)apr_toupper(text[i]);
    }
    err = x509a_record_key_load(tc_pool, secret_file("HEX", text,
                                                     strlen(text)), &c);
    ck_assert_msg(err == NULL, "HEX: %s", err);
    ck_assert_int_eq(memcmp(x509a_record_key_id(a), x509a_record_key_id(c),
                            X509A_RECORD_KEY_ID_LEN), 0);
    /* more than 32 bytes is fine, and another key */
    err = x509a_record_key_load(tc_pool, secret_file("hex96",
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
        "00112233445566778899aabbccddeeff", 96), &c);
    ck_assert_msg(err == NULL, "hex96: %s", err);
    ck_assert_int_ne(memcmp(x509a_record_key_id(a), x509a_record_key_id(c),
                            X509A_RECORD_KEY_ID_LEN), 0);
}
END_TEST

/* The message says what is wrong. */
static void key_refused(const char *what, const char *path,
                        const char *reason)
{
    x509a_record_key *k = (x509a_record_key *)1;
    const char *err = x509a_record_key_load(tc_pool, path, &k);

    ck_assert_msg(err != NULL, "%s: accepted", what);
    ck_assert_msg(k == NULL, "%s: a key anyway", what);
    ck_assert_msg(tc_contains(err, reason), "%s: '%s' does not say '%s'",
                  what, err, reason);
}

#define PASSPHRASE "correct horse battery staple, and then some more words\n"

START_TEST(record_key_files_refused)
{
    static const unsigned char raw31[31] = { 0x80, 0x01, 0xff };

    key_refused("missing", apr_pstrcat(tc_pool, dir, "/none", NULL),
                "cannot read");
    key_refused("directory", dir, "not a regular file");
    key_refused("empty", secret_file("empty", "", 0), "only 0 bytes");
    key_refused("31 raw bytes", secret_file("raw31", raw31, 31),
                "only 31 bytes");
    key_refused("62 hex digits", secret_file("hex62",
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddee\n",
        63), "only 62 hexadecimal digits");
    key_refused("odd hex digits", secret_file("hex65",
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff0",
        65), "odd");
    key_refused("passphrase", secret_file("pass", PASSPHRASE,
                                          strlen(PASSPHRASE)), "passphrase");
    /* the file name is in the message */
    key_refused("name", secret_file("short-secret", "abc", 3),
                "short-secret");
}
END_TEST

START_TEST(record_key_ids)
{
    x509a_record_key *a = key_of(1), *a2 = key_of(1), *b = key_of(2);
    x509a_record_key *k;
    unsigned char secret[32];

    ck_assert_int_eq(memcmp(x509a_record_key_id(a), x509a_record_key_id(a2),
                            X509A_RECORD_KEY_ID_LEN), 0);
    ck_assert_int_ne(memcmp(x509a_record_key_id(a), x509a_record_key_id(b),
                            X509A_RECORD_KEY_ID_LEN), 0);
    /* the id is not the secret's beginning */
    memset(secret, 1, sizeof(secret));
    ck_assert_int_ne(memcmp(x509a_record_key_id(a), secret,
                            X509A_RECORD_KEY_ID_LEN), 0);
    ck_assert_ptr_nonnull(x509a_record_key_make(tc_pool, secret, 31, &k));
    ck_assert_ptr_null(k);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Cache keys                                                              */
/* ---------------------------------------------------------------------- */

START_TEST(record_cache_keys)
{
    unsigned char s1[32], s2[32], k[6][X509A_RECORD_KEY_LEN];
    unsigned char md[32];
    unsigned int mdlen;
    STACK_OF(X509) *none = tc_stack(tc_pool, NULL);
    STACK_OF(X509) *inter = tc_stack(tc_pool, pki.inter, NULL);
    STACK_OF(X509) *both = tc_stack(tc_pool, pki.inter, pki.root, NULL);
    STACK_OF(X509) *swapped = tc_stack(tc_pool, pki.root, pki.inter, NULL);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int i, j;

    memset(s1, 0x11, sizeof(s1));
    memset(s2, 0x22, sizeof(s2));
    ck_assert(x509a_record_cache_key(pki.leaf, none, s1, k[0]));
    ck_assert(x509a_record_cache_key(pki.leaf, NULL, s1, k[1]));
    ck_assert_int_eq(memcmp(k[0], k[1], sizeof(k[0])), 0);
    ck_assert(x509a_record_cache_key(pki.leaf, inter, s1, k[1]));
    ck_assert(x509a_record_cache_key(pki.leaf, both, s1, k[2]));
    ck_assert(x509a_record_cache_key(pki.leaf, swapped, s1, k[3]));
    ck_assert(x509a_record_cache_key(pki.fake_leaf, inter, s1, k[4]));
    ck_assert(x509a_record_cache_key(pki.leaf, inter, s2, k[5]));
    for (i = 0; i < 6; i++) {
        for (j = i + 1; j < 6; j++) {
            ck_assert_msg(memcmp(k[i], k[j], sizeof(k[i])) != 0,
                          "keys %d and %d are equal", i, j);
        }
    }
    /* the settings digest is the second half */
    ck_assert_int_eq(memcmp(k[1] + 32, s1, 32), 0);
    ck_assert_int_eq(memcmp(k[5] + 32, s2, 32), 0);
    ck_assert_int_eq(memcmp(k[1], k[5], 32), 0);
    /* the first: SHA-256 of the certificates' SHA-256 */
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    X509_digest(pki.leaf, EVP_sha256(), md, &mdlen);
    EVP_DigestUpdate(ctx, md, 32);
    X509_digest(pki.inter, EVP_sha256(), md, &mdlen);
    EVP_DigestUpdate(ctx, md, 32);
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    ck_assert_int_eq(memcmp(k[1], md, 32), 0);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Records                                                                 */
/* ---------------------------------------------------------------------- */

START_TEST(record_round_trip)
{
    x509a_record_key *k = key_of(1);
    unsigned char key[X509A_RECORD_KEY_LEN], val[X509A_RECORD_MAX_LEN];
    x509a_record in = verified_record(3), out;
    apr_size_t len;
    char *long_why;

    cache_key(key, 0xaa, 0xbb);
    len = x509a_record_encode(k, key, &in, val);
    ck_assert_uint_eq(len, 40 + 3 * 32 + 16);
    ck_assert_int_eq(val[0], X509A_RECORD_VERSION);
    ck_assert_int_eq(memcmp(val + 1, x509a_record_key_id(k), 8), 0);
    ck_assert_int_eq(decode(k, NULL, key, val, len, &out), X509A_RECORD_OK);
    ck_assert(out.verified);
    ck_assert(out.expires == in.expires);
    ck_assert(out.valid_from == in.valid_from);
    ck_assert(out.valid_until == in.valid_until);
    ck_assert_int_eq(out.nchain, 3);
    ck_assert_int_eq(memcmp(out.chain, in.chain, 3 * 32), 0);
    ck_assert_ptr_null(out.why);

    /* unbounded windows stay unbounded */
    in = verified_record(X509A_RECORD_MAX_CHAIN);
    in.valid_from = 0;
    in.valid_until = APR_INT64_MAX;
    len = x509a_record_encode(k, key, &in, val);
    ck_assert_uint_eq(len, 40 + X509A_RECORD_MAX_CHAIN * 32 + 16);
    ck_assert_int_eq(decode(k, NULL, key, val, len, &out), X509A_RECORD_OK);
    ck_assert_int_eq(out.nchain, X509A_RECORD_MAX_CHAIN);
    ck_assert(out.valid_from == 0);
    ck_assert(out.valid_until == APR_INT64_MAX);

    /* a refusal */
    in = refused_record("verification failed at depth 0: certificate "
                        "revoked");
    len = x509a_record_encode(k, key, &in, val);
    ck_assert_uint_eq(len, 40 + strlen(in.why) + 16);
    ck_assert_int_eq(decode(k, NULL, key, val, len, &out), X509A_RECORD_OK);
    ck_assert(!out.verified);
    ck_assert_str_eq(out.why, in.why);
    ck_assert(out.expires == in.expires);
    ck_assert_int_eq(out.nchain, 0);
    ck_assert_ptr_null(out.reason);

    /* a refusal with its token (X509_AUTHN_ERROR): the decoded token is
     * the known static string */
    in.reason = "revoked";
    len = x509a_record_encode(k, key, &in, val);
    ck_assert_uint_eq(len, 40 + strlen(in.why) + 7 + 16);
    ck_assert_int_eq(val[37], 7);
    ck_assert_int_eq(decode(k, NULL, key, val, len, &out), X509A_RECORD_OK);
    ck_assert_str_eq(out.why, in.why);
    ck_assert_ptr_eq(out.reason, x509a_reason_known("revoked", 7));
    in.reason = "rule:IssuingCA";
    len = x509a_record_encode(k, key, &in, val);
    ck_assert_int_eq(decode(k, NULL, key, val, len, &out), X509A_RECORD_OK);
    ck_assert_str_eq(out.reason, "rule:IssuingCA");
    /* a token of another release: authentic, but no token */
    in.reason = "some-future-token";
    len = x509a_record_encode(k, key, &in, val);
    ck_assert_int_eq(decode(k, NULL, key, val, len, &out), X509A_RECORD_OK);
    ck_assert_str_eq(out.why, in.why);
    ck_assert_ptr_null(out.reason);
    /* too long a token is not written */
    in.reason = "a-token-longer-than-thirty-two-bytes";
    len = x509a_record_encode(k, key, &in, val);
    ck_assert_uint_eq(len, 40 + strlen(in.why) + 16);
    ck_assert_int_eq(decode(k, NULL, key, val, len, &out), X509A_RECORD_OK);
    ck_assert_ptr_null(out.reason);
    /* a verified record carries none */
    in = verified_record(1);
    in.reason = "expired";
    len = x509a_record_encode(k, key, &in, val);
    ck_assert_uint_eq(len, 40 + 32 + 16);
    ck_assert_int_eq(decode(k, NULL, key, val, len, &out), X509A_RECORD_OK);
    ck_assert_ptr_null(out.reason);

    /* a long reason is cut */
    long_why = apr_palloc(tc_pool, 1001);
    memset(long_why, 'x', 1000);
    long_why[1000] = '\0';
    in = refused_record(long_why);
    len = x509a_record_encode(k, key, &in, val);
    ck_assert_uint_eq(len, X509A_RECORD_MAX_LEN - 32 * X509A_RECORD_MAX_CHAIN
                           - X509A_RECORD_MAX_FORM - X509A_RECORD_MAX_TOKEN);
    in.reason = "not-a-client-certificate";
    len = x509a_record_encode(k, key, &in, val);
    ck_assert_uint_le(len, X509A_RECORD_MAX_LEN);
    ck_assert_int_eq(decode(k, NULL, key, val, len, &out), X509A_RECORD_OK);
    ck_assert_uint_eq(strlen(out.why), X509A_RECORD_MAX_REASON);

    /* what a record cannot hold */
    in = verified_record(0);
    ck_assert_uint_eq(x509a_record_encode(k, key, &in, val), 0);
    in = verified_record(X509A_RECORD_MAX_CHAIN + 1);
    ck_assert_uint_eq(x509a_record_encode(k, key, &in, val), 0);
}
END_TEST

START_TEST(record_expiry)
{
    x509a_record_key *k = key_of(1);
    unsigned char key[X509A_RECORD_KEY_LEN], val[X509A_RECORD_MAX_LEN];
    x509a_record in = verified_record(1), out;
    apr_size_t len;

    cache_key(key, 1, 2);
    in.expires = NOW + apr_time_from_sec(1);
    len = x509a_record_encode(k, key, &in, val);
    ck_assert_int_eq(x509a_record_decode(tc_pool, k, NULL, key, val, len,
                                         NOW, &out), X509A_RECORD_OK);
    ck_assert_int_eq(x509a_record_decode(tc_pool, k, NULL, key, val, len,
                                         NOW + apr_time_from_sec(1), &out),
                     X509A_RECORD_EXPIRED);
    ck_assert_int_eq(x509a_record_decode(tc_pool, k, NULL, key, val, len,
                                         NOW + apr_time_from_sec(3600), &out),
                     X509A_RECORD_EXPIRED);
}
END_TEST

/* Flip each bit of each byte in turn: never accepted; the version byte
 * makes another format, the key id another key, the rest a bad MAC. */
static void every_byte_altered(const x509a_record *in)
{
    x509a_record_key *k = key_of(1);
    unsigned char key[X509A_RECORD_KEY_LEN], val[X509A_RECORD_MAX_LEN];
    x509a_record out;
    apr_size_t len, i;
    int bit;

    cache_key(key, 3, 4);
    len = x509a_record_encode(k, key, in, val);
    ck_assert_uint_gt(len, 0);
    for (i = 0; i < len; i++) {
        for (bit = 0; bit < 8; bit++) {
            x509a_record_status st, want;

            val[i] ^= (unsigned char)(1 << bit);
            st = decode(k, NULL, key, val, len, &out);
            want = i == 0 ? X509A_RECORD_UNKNOWN_VERSION
                   : i <= X509A_RECORD_KEY_ID_LEN ? X509A_RECORD_UNKNOWN_KEY
                   : X509A_RECORD_BAD_MAC;
            ck_assert_msg(st == want, "byte %u bit %d: %s, expected %s",
                          (unsigned)i, bit, x509a_record_status_text(st),
                          x509a_record_status_text(want));
            val[i] ^= (unsigned char)(1 << bit);
        }
    }
    ck_assert_int_eq(decode(k, NULL, key, val, len, &out), X509A_RECORD_OK);
}

START_TEST(record_altered)
{
    x509a_record v = verified_record(2);
    x509a_record f = refused_record("certificate revoked");

    every_byte_altered(&v);
    every_byte_altered(&f);
}
END_TEST

/* A record moved to the key of another chain, or of other settings. */
START_TEST(record_transplanted)
{
    x509a_record_key *k = key_of(1);
    unsigned char key[X509A_RECORD_KEY_LEN], other[X509A_RECORD_KEY_LEN];
    unsigned char val[X509A_RECORD_MAX_LEN];
    x509a_record in = verified_record(2), out;
    apr_size_t len;
    int i;

    cache_key(key, 5, 6);
    len = x509a_record_encode(k, key, &in, val);
    for (i = 0; i < X509A_RECORD_KEY_LEN; i++) {
        memcpy(other, key, sizeof(key));
        other[i] ^= 0x80;
        ck_assert_msg(decode(k, NULL, other, val, len, &out)
                      == X509A_RECORD_BAD_MAC, "key byte %d", i);
    }
    ck_assert_int_eq(decode(k, NULL, key, val, len, &out), X509A_RECORD_OK);
}
END_TEST

START_TEST(record_other_keys)
{
    x509a_record_key *k1 = key_of(1), *k2 = key_of(2), *k3 = key_of(3);
    unsigned char key[X509A_RECORD_KEY_LEN], val[X509A_RECORD_MAX_LEN];
    unsigned char forged[X509A_RECORD_MAX_LEN];
    x509a_record in = verified_record(1), out;
    apr_size_t len;

    cache_key(key, 7, 8);
    len = x509a_record_encode(k1, key, &in, val);
    /* another secret: a key id it does not know */
    ck_assert_int_eq(decode(k2, NULL, key, val, len, &out),
                     X509A_RECORD_UNKNOWN_KEY);
    ck_assert_int_eq(decode(k2, k3, key, val, len, &out),
                     X509A_RECORD_UNKNOWN_KEY);
    ck_assert_int_eq(decode(NULL, NULL, key, val, len, &out),
                     X509A_RECORD_UNKNOWN_KEY);
    /* rotation: the previous secret is still accepted */
    ck_assert_int_eq(decode(k2, k1, key, val, len, &out), X509A_RECORD_OK);
    ck_assert(out.verified);
    ck_assert_int_eq(decode(k1, k2, key, val, len, &out), X509A_RECORD_OK);

    /* written under k2 but labelled k1 (or the reverse): the MAC is
     * checked under the key the id names */
    len = x509a_record_encode(k2, key, &in, forged);
    memcpy(forged + 1, x509a_record_key_id(k1), X509A_RECORD_KEY_ID_LEN);
    ck_assert_int_eq(decode(k1, NULL, key, forged, len, &out),
                     X509A_RECORD_BAD_MAC);
    ck_assert_int_eq(decode(k2, k1, key, forged, len, &out),
                     X509A_RECORD_BAD_MAC);
}
END_TEST

START_TEST(record_versions_and_lengths)
{
    x509a_record_key *k = key_of(1);
    unsigned char key[X509A_RECORD_KEY_LEN], val[X509A_RECORD_MAX_LEN + 1];
    x509a_record in = verified_record(2), out;
    apr_size_t len, i;
    int v;

    cache_key(key, 9, 10);
    len = x509a_record_encode(k, key, &in, val);
    /* another format version: a miss, whatever follows */
    for (v = 0; v < 256; v++) {
        unsigned char save = val[0];

        if (v == X509A_RECORD_VERSION) {
            continue;
        }
        val[0] = (unsigned char)v;
        ck_assert_int_eq(decode(k, NULL, key, val, len, &out),
                         X509A_RECORD_UNKNOWN_VERSION);
        ck_assert_int_eq(decode(k, NULL, key, val, 1, &out),
                         X509A_RECORD_UNKNOWN_VERSION);
        val[0] = save;
    }
    /* truncated anywhere */
    for (i = 0; i < len; i++) {
        x509a_record_status st = decode(k, NULL, key, val, i, &out);

        ck_assert_msg(st != X509A_RECORD_OK && st != X509A_RECORD_EXPIRED,
                      "truncated to %u: %s", (unsigned)i,
                      x509a_record_status_text(st));
    }
    ck_assert_int_eq(decode(k, NULL, key, val, 0, &out),
                     X509A_RECORD_MALFORMED);
    ck_assert_int_eq(decode(k, NULL, key, val, 20, &out),
                     X509A_RECORD_MALFORMED);
    /* a byte more */
    val[len] = 0;
    ck_assert_int_eq(decode(k, NULL, key, val, len + 1, &out),
                     X509A_RECORD_BAD_MAC);
    ck_assert_int_eq(decode(k, NULL, key, val, len, &out), X509A_RECORD_OK);
}
END_TEST

/* The key from the DER bytes' digests is the key from the X509s. */
START_TEST(record_cache_keys_digests)
{
    unsigned char s1[32], k1[X509A_RECORD_KEY_LEN], k2[X509A_RECORD_KEY_LEN];
    unsigned char md[6 * 32];
    X509 *certs[6];
    STACK_OF(X509) *sk;
    int n, i;

    memset(s1, 0x33, sizeof(s1));
    certs[0] = pki.leaf;
    certs[1] = pki.inter;
    certs[2] = pki.root;
    certs[3] = pki.fake_inter;
    certs[4] = pki.fake_root;
    certs[5] = pki.inter;
    for (n = 0; n < 6; n++) {
        sk = tc_stack(tc_pool, NULL);
        for (i = 0; i <= n; i++) {
            unsigned char *der = NULL;
            int len = i2d_X509(certs[i], &der);
            unsigned int mdlen;

            ck_assert_int_gt(len, 0);
            ck_assert(EVP_Digest(der, (size_t)len, md + 32 * i, &mdlen,
                                 EVP_sha256(), NULL));
            OPENSSL_free(der);
            if (i > 0) {
                /* the stack's cleanup frees its certificates */
                X509_up_ref(certs[i]);
                sk_X509_push(sk, certs[i]);
            }
        }
        ck_assert(x509a_record_cache_key(certs[0], sk, s1, k1));
        ck_assert(x509a_record_cache_key_digests(md, n, s1, k2));
        ck_assert_msg(memcmp(k1, k2, sizeof(k1)) == 0,
                      "keys differ with %d intermediates", n);
    }
    /* a different leaf, another key */
    md[0] ^= 1;
    ck_assert(x509a_record_cache_key_digests(md, 5, s1, k2));
    ck_assert(memcmp(k1, k2, sizeof(k1)) != 0);
    ck_assert(!x509a_record_cache_key_digests(md, -1, s1, k2));
}
END_TEST

/* A verified record with the leaf's compact form: round trip; the form is
 * authenticated; an oversized one is left out. */
START_TEST(record_form)
{
    x509a_record_key *k = key_of(1);
    unsigned char key[X509A_RECORD_KEY_LEN], *val, *form;
    x509a_record in = verified_record(2), out;
    x509a_cert *c = x509a_cert_make(tc_pool, pki.leaf);
    apr_size_t len, form_len, i, flen;
    const char *err;
    unsigned char *big;

    val = apr_palloc(tc_pool, X509A_RECORD_MAX_LEN);
    ck_assert_ptr_null(x509a_cert_compact(c, tc_pool, &form, &form_len));
    ck_assert_uint_gt(form_len, 100);
    cache_key(key, 0xaa, 0xbb);
    in.form = form;
    in.form_len = form_len;
    len = x509a_record_encode(k, key, &in, val);
    ck_assert_uint_eq(len, 40 + 2 * 32 + form_len + 16);
    ck_assert_int_eq(val[0], 3);
    ck_assert_int_eq(val[38] << 8 | val[39], (int)form_len);
    ck_assert_int_eq(decode(k, NULL, key, val, len, &out), X509A_RECORD_OK);
    ck_assert(out.verified);
    ck_assert_int_eq(out.nchain, 2);
    ck_assert_int_eq(memcmp(out.chain, in.chain, 2 * 32), 0);
    ck_assert_uint_eq(out.form_len, form_len);
    ck_assert_int_eq(memcmp(out.form, form, form_len), 0);
    /* and the form read back makes the certificate */
    {
        unsigned char *der = NULL;
        int dlen = i2d_X509(pki.leaf, &der);
        x509a_cert *cc = x509a_cert_make_compact(tc_pool, der, (size_t)dlen,
                                                 out.form, out.form_len,
                                                 &err);

        ck_assert_msg(cc != NULL, "compact refused: %s", err);
        ck_assert_str_eq(x509a_cert_subject(cc), x509a_cert_subject(c));
        ck_assert(!x509a_cert_x509_decoded(cc));
        OPENSSL_free(der);
    }
    /* every byte of the form altered: not authentic */
    for (i = 40 + 2 * 32; i < 40 + 2 * 32 + form_len; i++) {
        val[i] ^= 0x01;
        ck_assert_int_eq(decode(k, NULL, key, val, len, &out),
                         X509A_RECORD_BAD_MAC);
        val[i] ^= 0x01;
    }
    /* its length changed (MAC recomputed by a forger would need the key) */
    val[39] ^= 1;
    ck_assert_int_ne(decode(k, NULL, key, val, len, &out), X509A_RECORD_OK);
    val[39] ^= 1;
    ck_assert_int_eq(decode(k, NULL, key, val, len, &out), X509A_RECORD_OK);

    /* a form of exactly the limit is kept; one byte more is left out */
    big = apr_pcalloc(tc_pool, X509A_RECORD_MAX_FORM + 1);
    for (flen = X509A_RECORD_MAX_FORM; flen <= X509A_RECORD_MAX_FORM + 1;
         flen++) {
        in = verified_record(X509A_RECORD_MAX_CHAIN);
        in.form = big;
        in.form_len = flen;
        len = x509a_record_encode(k, key, &in, val);
        ck_assert_uint_le(len, X509A_RECORD_MAX_LEN);
        ck_assert_int_eq(decode(k, NULL, key, val, len, &out),
                         X509A_RECORD_OK);
        ck_assert_int_eq(out.nchain, X509A_RECORD_MAX_CHAIN);
        if (flen <= X509A_RECORD_MAX_FORM) {
            ck_assert_uint_eq(out.form_len, flen);
            ck_assert_ptr_nonnull(out.form);
        }
        else {
            ck_assert_uint_eq(out.form_len, 0);
            ck_assert_ptr_null(out.form);
            ck_assert_uint_eq(len, 40 + X509A_RECORD_MAX_CHAIN * 32 + 16);
        }
    }
    /* a refusal carries no form, even when given one */
    in = refused_record("revoked");
    in.form = form;
    in.form_len = form_len;
    len = x509a_record_encode(k, key, &in, val);
    ck_assert_uint_eq(len, 40 + strlen(in.why) + 16);
    ck_assert_int_eq(decode(k, NULL, key, val, len, &out), X509A_RECORD_OK);
    ck_assert_ptr_null(out.form);
}
END_TEST

/* A version 2 record (as the previous release wrote it, MAC and all) is
 * a miss: another format version. */
START_TEST(record_version2_refused)
{
    x509a_record_key *k = key_of(1);
    unsigned char key[X509A_RECORD_KEY_LEN], val[X509A_RECORD_MAX_LEN];
    x509a_record in = verified_record(1), out;
    apr_size_t len;

    cache_key(key, 1, 2);
    len = x509a_record_encode(k, key, &in, val);
    /* the version 2 layout: no form length at 38..39 */
    memmove(val + 38, val + 40, len - 40);
    len -= 2;
    val[0] = 2;
    ck_assert_int_eq(decode(k, NULL, key, val, len, &out),
                     X509A_RECORD_UNKNOWN_VERSION);
}
END_TEST

START_TEST(record_status_text)
{
    ck_assert(tc_contains(x509a_record_status_text(X509A_RECORD_BAD_MAC),
                          "not authentic"));
    ck_assert(tc_contains(x509a_record_status_text(X509A_RECORD_UNKNOWN_KEY),
                          "key"));
    ck_assert(tc_contains(x509a_record_status_text(
                              X509A_RECORD_UNKNOWN_VERSION), "version"));
}
END_TEST

Suite *x509a_record_suite(void)
{
    Suite *s = suite_create("x509a_record");
    TCase *tc = tcase_create("keys");

    tcase_add_checked_fixture(tc, record_setup, tc_teardown);
    tcase_add_test(tc, record_key_files);
    tcase_add_test(tc, record_key_files_refused);
    tcase_add_test(tc, record_key_ids);
    tcase_add_test(tc, record_cache_keys);
    tcase_add_test(tc, record_cache_keys_digests);
    suite_add_tcase(s, tc);

    tc = tcase_create("records");
    tcase_add_checked_fixture(tc, record_setup, tc_teardown);
    tcase_add_test(tc, record_round_trip);
    tcase_add_test(tc, record_expiry);
    tcase_add_test(tc, record_altered);
    tcase_add_test(tc, record_transplanted);
    tcase_add_test(tc, record_other_keys);
    tcase_add_test(tc, record_versions_and_lengths);
    tcase_add_test(tc, record_form);
    tcase_add_test(tc, record_version2_refused);
    tcase_add_test(tc, record_status_text);
    suite_add_tcase(s, tc);
    return s;
}
