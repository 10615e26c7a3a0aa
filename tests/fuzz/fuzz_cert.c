/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/* Rule evaluation on arbitrary DER: d2i_X509() of the input; a
 * certificate that parses is wrapped with x509a_cert_make(), every
 * accessor runs, and it is checked against a fixed rule set with every
 * rule kind configured (and against one set per kind, so that every
 * matcher runs whatever the earlier kinds answer), then
 * x509a_chain_passes_through() with no chain information (none; then
 * verified again with helpers and a store), with verified digests, and
 * with a verified chain.  The rules name the fixed leaf of fixtures.h, which the seed
 * corpus holds, so that matching paths are covered too. */

#include <stdlib.h>
#include <apr_strings.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "x509a_rules.h"
#include "x509a_cert.h"
#include "x509a_num.h"
#include "fuzz_common.h"

static const fz_pki *pki;
static x509a_rules *all_rules, *one_rule[X509A_RULE_KINDS];
/* a fixed time: the fixtures' validity is fixed too */
static const time_t fz_now = (time_t)1767225600;
static STACK_OF(X509) *cas_inter, *cas_root, *cas_fake, *helpers;
static X509_STORE *store;
static unsigned char chain_digests[3 * 32];

static void add(apr_pool_t *gp, x509a_rule_kind kind, const char *value)
{
    const char *warning, *err;

    if (!one_rule[kind]) {
        one_rule[kind] = x509a_rules_make(gp);
    }
    if ((err = x509a_rules_add(all_rules, gp, kind, value, &warning)) != NULL
        || (err = x509a_rules_add(one_rule[kind], gp, kind, value, NULL))
            != NULL) {
        fz_fail("rule %s '%s' refused: %s", x509a_rule_name(kind), value, err);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    apr_pool_t *gp = fz_init(), *tmp;
    x509a_cert *c;
    unsigned int len;
    int k;

    (void)argc;
    (void)argv;
    pki = fz_fixtures();
    apr_pool_create(&tmp, gp);
    c = x509a_cert_make(tmp, pki->leaf);

    all_rules = x509a_rules_make(gp);
    add(gp, X509A_RULE_SUBJECT, x509a_cert_subject(c));
    add(gp, X509A_RULE_SUBJECT, "CN=bob,O=Example Corp,C=US");
    add(gp, X509A_RULE_SUBJECT, x509a_cert_subject_legacy(c));
    add(gp, X509A_RULE_ISSUER, x509a_cert_issuer(c));
    add(gp, X509A_RULE_ISSUER, "/C=US/O=Other/CN=Other CA");
    add(gp, X509A_RULE_SERIAL, "0x1001");
    add(gp, X509A_RULE_SERIAL, "-5");
    add(gp, X509A_RULE_SERIAL, "00");
    add(gp, X509A_RULE_FINGERPRINT,
        apr_pstrcat(tmp, "sha256:",
                    x509a_cert_digest_hex(c, X509A_DIGEST_SHA256), NULL));
    add(gp, X509A_RULE_FINGERPRINT,
        apr_pstrcat(tmp, "sha1:", x509a_cert_digest_hex(c, X509A_DIGEST_SHA1),
                    NULL));
    add(gp, X509A_RULE_SPKI,
        apr_pstrcat(tmp, "sha256:",
                    x509a_hex(tmp, x509a_cert_spki_sha256(c), 32), NULL));
    add(gp, X509A_RULE_SPKI, "sha256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
    add(gp, X509A_RULE_EKU, "clientAuth");
    add(gp, X509A_RULE_EKU, "1.3.6.1.4.1.311.20.2.2");
    add(gp, X509A_RULE_POLICY, "1.3.6.1.4.1.99999.1");
    add(gp, X509A_RULE_POLICY, "2.5.29.32.0");
    add(gp, X509A_RULE_ISSUING_CA, pki->inter_file);
    add(gp, X509A_RULE_MAX_DEPTH, "2");
    for (k = 0; k < X509A_RULE_KINDS; k++) {
        if (!x509a_rules_has(all_rules, (x509a_rule_kind)k)) {
            fz_fail("rule kind %d not configured", k);
        }
    }

    cas_inter = fz_stack(pki->inter, NULL);
    cas_root = fz_stack(pki->root, NULL);
    cas_fake = fz_stack(pki->fakeinter, NULL);
    helpers = fz_stack(pki->fakeinter, pki->inter, NULL);
    store = X509_STORE_new();
    X509_STORE_add_cert(store, pki->root);
    X509_STORE_add_cert(store, pki->fakeinter);
    /* the verified chain of the leaf, as a verification cache keeps it */
    X509_digest(pki->inter, EVP_sha256(), chain_digests + 32, &len);
    X509_digest(pki->root, EVP_sha256(), chain_digests + 64, &len);

    apr_pool_destroy(tmp);
    fz_fixture_files_remove();
    return 0;
}

static void check_rules(x509a_cert *c)
{
    const char *why = NULL;
    int k, all, each = 1;

    all = x509a_rules_check(all_rules, c, fz_now, x509a_cert_pool(c), &why);
    if (!all) {
        fz_touch(why);
    }
    for (k = 0; k < X509A_RULE_KINDS; k++) {
        int ok = x509a_rules_check(one_rule[k], c, fz_now, x509a_cert_pool(c), &why);
        each &= ok;
        /* the memo answers the second time */
        if (x509a_rules_check(one_rule[k], c, fz_now, x509a_cert_pool(c), NULL) != ok) {
            fz_fail("rule kind %d answers differently the second time", k);
        }
    }
    if (all != each) {
        fz_fail("all rules: %d, each rule: %d", all, each);
    }
    /* merged sets take the kinds of both */
    {
        x509a_rules *m = x509a_rules_merge(x509a_cert_pool(c), one_rule[0],
                                           one_rule[X509A_RULE_KINDS - 1]);
        fz_sink += (size_t)x509a_rules_check(m, c, fz_now, x509a_cert_pool(c), NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const unsigned char *q = data;
    X509 *x = d2i_X509(NULL, &q, (long)size);
    apr_pool_t *p;
    x509a_cert *c;
    int through;

    if (!x) {
        ERR_clear_error();
        return 0;
    }
    apr_pool_create(&p, fz_init());

    /* a certificate without chain information: the path is rebuilt */
    c = x509a_cert_make(p, x);
    fz_exercise_cert(c, p);
    check_rules(c);
    through = x509a_chain_passes_through(c, cas_inter, fz_now);
    fz_sink += (size_t)through + (size_t)x509a_chain_passes_through(c, NULL, fz_now);
    x509a_cert_set_chain(c, NULL, helpers);
    x509a_cert_set_store(c, store, NULL);
    fz_sink += (size_t)x509a_chain_passes_through(c, cas_root, fz_now)
               + (size_t)x509a_chain_passes_through(c, cas_fake, fz_now);
    fz_touch(x509a_cert_describe(c));

    /* a verification remembered by fingerprints (leaf, inter, root) */
    c = x509a_cert_make(p, x);
    memcpy(chain_digests, x509a_cert_digest(c, X509A_DIGEST_SHA256), 32);
    x509a_cert_set_verified_digests(c, chain_digests, 3);
    fz_sink += (size_t)x509a_chain_passes_through(c, cas_inter, fz_now)
               + (size_t)x509a_chain_passes_through(c, cas_fake, fz_now);
    check_rules(c);
    x509a_cert_set_verified_digests(c, chain_digests, 1);
    fz_sink += (size_t)x509a_chain_passes_through(c, cas_root, fz_now);

    /* a verified chain */
    c = x509a_cert_make(p, x);
    {
        STACK_OF(X509) *verified = fz_stack(x, pki->inter, pki->root, NULL);
        x509a_cert_set_chain(c, verified, NULL);
        sk_X509_pop_free(verified, X509_free);
    }
    fz_sink += (size_t)x509a_chain_passes_through(c, cas_root, fz_now)
               + (size_t)x509a_chain_passes_through(c, cas_fake, fz_now);
    {
        const apr_array_header_t *pems = x509a_cert_chain_pem(c);
        if (pems->nelts != 2) {
            fz_fail("chain PEM of a verified chain: %d", pems->nelts);
        }
    }

    apr_pool_destroy(p);
    X509_free(x);
    return 0;
}
