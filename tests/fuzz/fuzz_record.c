/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/* Shared-cache records, which come from a cache server anyone with write
 * access to it controls.  Byte 0 selects what the rest is:
 *   0: the contents of an X509AuthnCacheSecret file -> x509a_record_key_parse
 *   1: a record as read from the cache -> x509a_record_decode, which must
 *      refuse it (nobody but the fixed key's holder can write a valid MAC)
 *   2: a record body under the fixed key: version and key id are set, and
 *      the MAC appended, so that the parsing behind the MAC is reached; a
 *      record that decodes must encode back to a record that decodes to
 *      the same contents (a reason is compared up to a NUL byte, where
 *      writing it again cuts it). */

#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>

#include "x509a_record.h"
#include "fuzz_common.h"

static const unsigned char secret[32] = "fuzz_record fixed secret 32bytes";
static const unsigned char cache_key[X509A_RECORD_KEY_LEN] = { 1, 2, 3 };
static x509a_record_key *key;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (x509a_record_key_make(fz_init(), secret, sizeof(secret), &key)) {
        abort();
    }
    return 0;
}

static void same(const x509a_record *a, const x509a_record *b)
{
    if (a->verified != b->verified || a->expires != b->expires
        || a->nchain != b->nchain
        || (a->verified && (a->valid_from != b->valid_from
                            || a->valid_until != b->valid_until
                            || memcmp(a->chain, b->chain, 32 * a->nchain)))
        || (!a->verified && strcmp(a->why, b->why))) {
        fz_fail("a record does not survive a round trip");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    x509a_record_key *k;
    x509a_record rec, again;
    x509a_record_status st;
    unsigned char *val, out[X509A_RECORD_MAX_LEN];
    unsigned int maclen;
    apr_size_t len;

    if (size < 1) {
        return 0;
    }
    apr_pool_create(&p, fz_init());
    switch (data[0] % 3) {
    case 0:
        if (!x509a_record_key_parse(p, data + 1, size - 1, &k) && !k) {
            fz_fail("no key and no error");
        }
        break;
    case 1:
        st = x509a_record_decode(p, key, NULL, cache_key, data + 1, size - 1,
                                 0, &rec);
        if (st == X509A_RECORD_OK || st == X509A_RECORD_EXPIRED) {
            fz_fail("a record without the key decoded");
        }
        break;
    default:
        len = size - 1;
        if (len < 1 + X509A_RECORD_KEY_ID_LEN || len > 4096) {
            break;
        }
        val = apr_palloc(p, len + 16);
        memcpy(val, data + 1, len);
        val[0] = X509A_RECORD_VERSION;
        memcpy(val + 1, x509a_record_key_id(key), X509A_RECORD_KEY_ID_LEN);
        /* SipHash-2-4-128 under SHA-256(label || secret)[0..15] of
         * cache key || body, as x509a_record.h says, made here anew */
        {
            static const char label[] = "x509authn cache record MAC key";
            unsigned char md[32];
            size_t size = 16, outlen = 0;
            OSSL_PARAM params[2];
            EVP_MAC *mac = EVP_MAC_fetch(NULL, "SIPHASH", NULL);
            EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac);
            EVP_MD_CTX *mdc = EVP_MD_CTX_new();

            params[0] = OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &size);
            params[1] = OSSL_PARAM_construct_end();
            if (!EVP_DigestInit_ex(mdc, EVP_sha256(), NULL)
                || !EVP_DigestUpdate(mdc, label, sizeof(label) - 1)
                || !EVP_DigestUpdate(mdc, secret, sizeof(secret))
                || !EVP_DigestFinal_ex(mdc, md, &maclen)
                || !EVP_MAC_init(ctx, md, 16, params)
                || !EVP_MAC_update(ctx, cache_key, sizeof(cache_key))
                || !EVP_MAC_update(ctx, val, len)
                || !EVP_MAC_final(ctx, val + len, &outlen, 16)) {
                abort();
            }
            EVP_MD_CTX_free(mdc);
            EVP_MAC_CTX_free(ctx);
            EVP_MAC_free(mac);
        }
        st = x509a_record_decode(p, key, NULL, cache_key, val, len + 16, 0,
                                 &rec);
        if (st == X509A_RECORD_BAD_MAC || st == X509A_RECORD_UNKNOWN_KEY
            || st == X509A_RECORD_UNKNOWN_VERSION) {
            fz_fail("a record with a valid MAC refused: %s",
                    x509a_record_status_text(st));
        }
        if (st != X509A_RECORD_OK && st != X509A_RECORD_EXPIRED) {
            break;
        }
        if (rec.verified ? (rec.nchain < 1
                            || rec.nchain > X509A_RECORD_MAX_CHAIN)
                         : (!rec.why
                            || strlen(rec.why) > X509A_RECORD_MAX_REASON)) {
            fz_fail("decoded record out of bounds");
        }
        fz_sink += rec.verified ? rec.chain[0] : fz_touch(rec.why);
        len = x509a_record_encode(key, cache_key, &rec, out);
        if (!len) {
            fz_fail("a decoded record cannot be encoded");
        }
        st = x509a_record_decode(p, key, NULL, cache_key, out, len, 0,
                                 &again);
        if (st != X509A_RECORD_OK && st != X509A_RECORD_EXPIRED) {
            fz_fail("a record written again does not decode: %s",
                    x509a_record_status_text(st));
        }
        same(&rec, &again);
        break;
    }
    apr_pool_destroy(p);
    return 0;
}
