/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/* The files lib/ reads: trust anchors and CRLs (x509a_verifier), issuing
 * CA files (X509AuthnRequireIssuingCA) and user maps (x509a_map_load).
 *
 * Input: byte 0 selects the file the rest of the input becomes (modulo 5):
 *   0  the verifier's CA file (no CRLs), then the fixed leaf is verified
 *      with the fixed issuing CA as helper;
 *   1  the verifier's CRL file (CA file: the fixed root);
 *   2  a CRL file that replaces a good one while running: created with
 *      the fixed CRLs, then the file is renamed over and
 *      x509a_verifier_refresh() reloads it (or marks the store broken);
 *   3  an X509AuthnRequireIssuingCA file, checked against the fixed leaf;
 *   4  a user map read with x509a_map_load() (no regular expressions:
 *      fuzz_map covers those).
 * The files live in a temporary directory removed at exit. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <apr_strings.h>
#include <apr_time.h>
#include <openssl/x509.h>

#include "x509a_verify.h"
#include "x509a_rules.h"
#include "x509a_map.h"
#include "fuzz_common.h"
#include "fixtures.h"

static const fz_pki *pki;
static STACK_OF(X509) *helpers;
static char dir[256], *in_file, *new_file, *crl_file, *root_file;

static void remove_dir(void)
{
    unlink(in_file);
    unlink(new_file);
    unlink(crl_file);
    unlink(root_file);
    rmdir(dir);
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");

    if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f) != 0) {
        fz_fail("cannot write %s", path);
    }
}

static void *no_compile(apr_pool_t *p, const char *pattern, int *ncaptures,
                        const char **err)
{
    *err = "no regular expressions here";
    return NULL;
}

static int no_match(void *re, const char *subject, int nmatch, x509a_match *m)
{
    fz_fail("match without a compiled expression");
}

static const x509a_regex_ops no_regex = { no_compile, no_match };

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    apr_pool_t *gp = fz_init();
    const char *tmp;

    (void)argc;
    (void)argv;
    pki = fz_fixtures();
    helpers = fz_stack(pki->inter, NULL);
    /* every input is written to a file: on tmpfs (run.sh sets TMPDIR to
     * /dev/shm) the disk stays out of it */
    tmp = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/x509a-fuzz-files-XXXXXX",
             tmp && *tmp && strlen(tmp) < sizeof(dir) - 32 ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        fz_fail("mkdtemp");
    }
    in_file = apr_pstrcat(gp, dir, "/input", NULL);
    new_file = apr_pstrcat(gp, dir, "/crl.new", NULL);
    crl_file = apr_pstrcat(gp, dir, "/crl.pem", NULL);
    root_file = apr_pstrcat(gp, dir, "/root.pem", NULL);
    write_file(root_file, fx_root_pem, strlen(fx_root_pem));
    atexit(remove_dir);
    fz_fixture_files_remove();
    return 0;
}

/* Verify the fixed leaf; a verified chain must reach the fixed root. */
static void verify_leaf(x509a_verifier *v, apr_pool_t *p)
{
    STACK_OF(X509) *verified = NULL;
    const char *why = NULL;
    unsigned char digest[32];

    if (x509a_verifier_verify(v, p, pki->leaf, helpers, &verified, &why)) {
        if (sk_X509_num(verified) < 2
            || X509_cmp(sk_X509_value(verified, 0), pki->leaf) != 0) {
            fz_fail("a verified chain that does not start with the leaf");
        }
    }
    else {
        fz_touch(why);
    }
    x509a_verifier_settings_digest(v, digest);
    fz_sink += digest[0] + x509a_verifier_generation(v);
    fz_touch(x509a_verifier_broken(v, p));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    x509a_verify_conf conf;
    x509a_verifier *v = NULL;
    const char *err = NULL;

    if (size < 1) {
        return 0;
    }
    apr_pool_create(&p, fz_init());
    memset(&conf, 0, sizeof(conf));
    conf.depth = -1;

    switch (data[0] % 5) {
    case 0:
        write_file(in_file, data + 1, size - 1);
        conf.ca_file = in_file;
        if ((err = x509a_verifier_create(p, &conf, &v)) == NULL) {
            verify_leaf(v, p);
        }
        break;
    case 1:
        write_file(in_file, data + 1, size - 1);
        conf.ca_file = root_file;
        conf.crl_file = in_file;
        if ((err = x509a_verifier_create(p, &conf, &v)) == NULL) {
            verify_leaf(v, p);
        }
        break;
    case 2: {
        apr_time_t now = apr_time_now();
        int reloaded = 0;

        write_file(crl_file, fx_crls_pem, strlen(fx_crls_pem));
        conf.ca_file = root_file;
        conf.crl_file = crl_file;
        if ((err = x509a_verifier_create(p, &conf, &v)) != NULL) {
            fz_fail("verifier with the fixed CRLs: %s", err);
        }
        write_file(new_file, data + 1, size - 1);
        if (rename(new_file, crl_file) != 0) {
            fz_fail("rename");
        }
        err = x509a_verifier_refresh(v, now, &reloaded);
        if (err && x509a_verifier_broken(v, p) == NULL) {
            fz_fail("refresh failed ('%s') but the store is not broken", err);
        }
        if (!err && !reloaded) {
            fz_fail("a replaced CRL file was neither reloaded nor refused");
        }
        verify_leaf(v, p);
        /* within the second: not looked at again */
        if (x509a_verifier_refresh(v, now + 1, &reloaded) != NULL || reloaded) {
            fz_fail("refreshed twice within a second");
        }
        /* the good file back: usable again */
        write_file(new_file, fx_crls_pem, strlen(fx_crls_pem));
        if (rename(new_file, crl_file) != 0) {
            fz_fail("rename");
        }
        if ((err = x509a_verifier_refresh(v, now + apr_time_from_sec(2),
                                          &reloaded)) != NULL
            || x509a_verifier_broken(v, p) != NULL) {
            fz_fail("the fixed CRLs back, still broken: %s",
                    err ? err : x509a_verifier_broken(v, p));
        }
        verify_leaf(v, p);
        err = NULL;
        break;
    }
    case 3: {
        x509a_rules *rules = x509a_rules_make(p);
        const char *warning = NULL;

        write_file(in_file, data + 1, size - 1);
        err = x509a_rules_add(rules, p, X509A_RULE_ISSUING_CA, in_file,
                              &warning);
        if (!err) {
            x509a_cert *c = x509a_cert_make(p, pki->leaf);
            const char *why = NULL;
            fz_sink += (size_t)x509a_rules_check(rules, c, time(NULL), p, &why);
            fz_touch(why);
        }
        else if (x509a_rules_has(rules, X509A_RULE_ISSUING_CA)
                 || !x509a_rules_empty(rules)) {
            fz_fail("a refused file left a rule behind");
        }
        break;
    }
    default: {
        x509a_map *map = NULL;

        write_file(in_file, data + 1, size - 1);
        if ((err = x509a_map_load(p, in_file, &no_regex, &map)) == NULL) {
            x509a_cert *c = x509a_cert_make(p, pki->leaf);
            int line = 0;
            fz_touch(x509a_map_lookup(map, c, p, &line));
        }
        break;
    }
    }
    fz_touch(err);
    apr_pool_destroy(p);
    return 0;
}
