/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/* x509a_verify: trust stores from CA files and hashed directories, what a
 * verification checks, CRLs and their reloads, the settings digest. */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <check.h>
#include <apr_strings.h>
#include <apr_thread_proc.h>
#include <apr_time.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "x509a_verify.h"
#include "testcert.h"
#include "suites.h"

static tc_pki pki;
static const char *dir;     /* the test's temporary directory */

static void verify_setup(void)
{
    tc_setup();
    tc_pki_make(tc_pool, &pki, 1);
    dir = tc_temp_dir(tc_pool);
}

/* ---------------------------------------------------------------------- */
/* Helpers                                                                 */
/* ---------------------------------------------------------------------- */

/* (Re)write the file @a name of the test's directory; returns its path. */
static const char *put_file(const char *name, const char *text)
{
    const char *path = apr_pstrcat(tc_pool, dir, "/", name, NULL);

    tc_write_file(path, text, strlen(text));
    return path;
}

/* The NULL-terminated certificates as PEM. */
static char *pems(X509 *first, ...)
{
    char *out = tc_cert_pem(tc_pool, first);
    va_list ap;
    X509 *x;

    va_start(ap, first);
    while ((x = va_arg(ap, X509 *)) != NULL) {
        out = apr_pstrcat(tc_pool, out, tc_cert_pem(tc_pool, x), NULL);
    }
    va_end(ap);
    return out;
}

/* The root's and the intermediate's CRLs, the latter revoking the
 * NULL-terminated serials. */
static char *crls(const char *first, ...)
{
    const char *hex[8] = { NULL };
    va_list ap;
    int n = 0;
    X509_CRL *inter_crl;

    va_start(ap, first);
    for (hex[0] = first; hex[n] && n < 7; hex[++n] = va_arg(ap, const char *)) {
    }
    va_end(ap);
    hex[n] = NULL;
    inter_crl = tc_crl(tc_pool, pki.inter, pki.inter_key, 0, 0, hex[0], hex[1],
                       hex[2], hex[3], hex[4], hex[5], hex[6], (char *)NULL);
    return apr_pstrcat(tc_pool,
                       tc_crl_pem(tc_pool, tc_crl(tc_pool, pki.root,
                                                  pki.root_key, 0, 0,
                                                  (char *)NULL)),
                       tc_crl_pem(tc_pool, inter_crl), NULL);
}

static const char *create(const char *ca_file, const char *ca_path,
                          const char *crl_file, int depth,
                          x509a_verifier **v)
{
    x509a_verify_conf conf;

    memset(&conf, 0, sizeof(conf));
    conf.ca_file = ca_file;
    conf.ca_path = ca_path;
    conf.crl_file = crl_file;
    conf.depth = depth;
    *v = NULL;
    return x509a_verifier_create(tc_pool, &conf, v);
}

static x509a_verifier *verifier(const char *ca_file, const char *ca_path,
                                const char *crl_file, int depth)
{
    x509a_verifier *v;
    const char *err = create(ca_file, ca_path, crl_file, depth, &v);

    ck_assert_msg(err == NULL, "verifier not created: %s", err);
    ck_assert_ptr_nonnull(v);
    ck_assert_uint_eq(x509a_verifier_generation(v), 1);
    return v;
}

static const char *verifier_refused(const char *what, const char *ca_file,
                                    const char *ca_path, const char *crl_file,
                                    const char *reason)
{
    x509a_verifier *v;
    const char *err = create(ca_file, ca_path, crl_file, -1, &v);

    ck_assert_msg(err != NULL, "%s: verifier created", what);
    ck_assert_msg(tc_contains(err, reason), "%s: '%s' does not say '%s'", what,
                  err, reason);
    return err;
}

/* The verified chain is the NULL-terminated certificates. */
static void assert_chain(const char *what, STACK_OF(X509) *chain, ...)
{
    va_list ap;
    X509 *x;
    int i = 0;

    va_start(ap, chain);
    while ((x = va_arg(ap, X509 *)) != NULL) {
        ck_assert_msg(i < sk_X509_num(chain), "%s: chain of %d", what,
                      sk_X509_num(chain));
        ck_assert_msg(X509_cmp(sk_X509_value(chain, i), x) == 0,
                      "%s: chain[%d] is another certificate", what, i);
        i++;
    }
    va_end(ap);
    ck_assert_msg(sk_X509_num(chain) == i, "%s: chain of %d, expected %d",
                  what, sk_X509_num(chain), i);
}

static STACK_OF(X509) *verify_ok(const char *what, x509a_verifier *v,
                                 X509 *leaf, STACK_OF(X509) *untrusted)
{
    STACK_OF(X509) *chain = NULL;
    const char *why = NULL;
    int ok = x509a_verifier_verify(v, tc_pool, leaf, untrusted, &chain, &why);

    ck_assert_msg(ok, "%s: not verified: %s", what, why);
    ck_assert_msg(chain != NULL, "%s: no chain", what);
    return chain;
}

static const char *verify_fails(const char *what, x509a_verifier *v,
                                X509 *leaf, STACK_OF(X509) *untrusted,
                                const char *reason)
{
    STACK_OF(X509) *chain = NULL;
    const char *why = NULL;
    int ok = x509a_verifier_verify(v, tc_pool, leaf, untrusted, &chain, &why);

    ck_assert_msg(!ok, "%s: verified", what);
    ck_assert_msg(why != NULL, "%s: no reason", what);
    if (reason) {
        ck_assert_msg(tc_contains(why, reason), "%s: '%s' does not say '%s'",
                      what, why, reason);
    }
    return why;
}

/* A leaf for alice issued by pki.inter. */
static X509 *leaf_with(time_t not_before, time_t not_after, const char *eku)
{
    static const tc_attr dn[] = {
        { "C", "US" }, { "O", "Example Corp" }, { "CN", "alice" }, { NULL }
    };
    tc_spec s = { 0 };

    s.subject = dn;
    s.issuer = pki.inter;
    s.issuer_key = pki.inter_key;
    s.serial = "1002";
    s.not_before = not_before;
    s.not_after = not_after;
    s.eku = eku;
    return tc_cert(tc_pool, &s, NULL);
}

/* Write @a x into the hashed directory @a d as <hash>.N. */
static void hash_file(const char *d, X509 *x)
{
    int ok = 0, i;
    unsigned long h = X509_NAME_hash_ex(X509_get_subject_name(x), NULL, NULL,
                                        &ok);
    const char *path = NULL, *text = tc_cert_pem(tc_pool, x);

    ck_assert(ok);
    for (i = 0; i < 10; i++) {
        path = apr_psprintf(tc_pool, "%s/%08lx.%d", d, h, i);
        if (access(path, F_OK) != 0) {
            break;
        }
    }
    tc_write_file(path, text, strlen(text));
}

static char *digest(x509a_verifier *v)
{
    unsigned char d[32];

    memset(d, 0, sizeof(d));
    x509a_verifier_settings_digest(v, d);
    return tc_hex(tc_pool, d, sizeof(d));
}

/* x509a_verifier_refresh() at @a now; returns what it reported. */
static const char *refresh(x509a_verifier *v, apr_time_t now, int expect_reload)
{
    int reloaded = -1;
    const char *err = x509a_verifier_refresh(v, now, &reloaded);

    ck_assert_msg(reloaded == expect_reload, "refresh: reloaded %d, expected %d"
                  " (%s)", reloaded, expect_reload, err ? err : "no error");
    return err;
}

/* ---------------------------------------------------------------------- */
/* Trust stores                                                            */
/* ---------------------------------------------------------------------- */

START_TEST(verify_ca_file_root)
{
    x509a_verifier *v = verifier(put_file("ca.pem", pems(pki.root, NULL)),
                                 NULL, NULL, -1);
    STACK_OF(X509) *chain;
    const char *why;

    chain = verify_ok("leaf with its intermediate", v, pki.leaf,
                      tc_stack(tc_pool, pki.inter, NULL));
    assert_chain("leaf with its intermediate", chain, pki.leaf, pki.inter,
                 pki.root, NULL);
    /* untrusted helpers in another order, with noise */
    chain = verify_ok("helpers in another order", v, pki.leaf,
                      tc_stack(tc_pool, pki.fake_root, pki.root, pki.inter,
                               NULL));
    assert_chain("helpers in another order", chain, pki.leaf, pki.inter,
                 pki.root, NULL);
    /* the verified chain may be left out */
    why = NULL;
    ck_assert(x509a_verifier_verify(v, tc_pool, pki.leaf,
                                    tc_stack(tc_pool, pki.inter, NULL), NULL,
                                    &why));
    /* a CA certificate is no client certificate (keyCertSign only) */
    verify_fails("intermediate as a client", v, pki.inter, NULL,
                 "unsuitable certificate purpose");

    why = verify_fails("leaf without its intermediate", v, pki.leaf, NULL,
                       "unable to get local issuer certificate");
    ck_assert_str_eq(why, "verification failed at depth 0: unable to get "
                          "local issuer certificate");
    verify_fails("leaf with an empty stack", v, pki.leaf,
                 tc_stack(tc_pool, NULL), "unable to get local issuer");
}
END_TEST

START_TEST(verify_ca_file_root_and_inter)
{
    x509a_verifier *v = verifier(put_file("ca.pem",
                                          pems(pki.root, pki.inter, NULL)),
                                 NULL, NULL, -1);
    STACK_OF(X509) *chain;

    chain = verify_ok("leaf alone", v, pki.leaf, NULL);
    assert_chain("leaf alone", chain, pki.leaf, pki.inter, pki.root, NULL);
    chain = verify_ok("leaf with its intermediate", v, pki.leaf,
                      tc_stack(tc_pool, pki.inter, NULL));
    assert_chain("leaf with its intermediate", chain, pki.leaf, pki.inter,
                 pki.root, NULL);
    /* a file with other things around the certificates */
    v = verifier(put_file("ca2.pem",
                          apr_pstrcat(tc_pool, "Test Root CA\n",
                                      pems(pki.root, NULL), "\n# inter\n",
                                      pems(pki.inter, NULL), NULL)),
                 NULL, NULL, -1);
    verify_ok("CA file with comments", v, pki.leaf, NULL);
}
END_TEST

START_TEST(verify_ca_path)
{
    const char *cadir = tc_temp_dir(tc_pool);
    x509a_verifier *v;
    STACK_OF(X509) *chain;

    hash_file(cadir, pki.root);
    v = verifier(NULL, cadir, NULL, -1);
    chain = verify_ok("hashed directory", v, pki.leaf,
                      tc_stack(tc_pool, pki.inter, NULL));
    assert_chain("hashed directory", chain, pki.leaf, pki.inter, pki.root,
                 NULL);
    verify_fails("hashed directory, no intermediate", v, pki.leaf, NULL,
                 "unable to get local issuer certificate");

    hash_file(cadir, pki.inter);
    v = verifier(NULL, cadir, NULL, -1);
    chain = verify_ok("hashed directory with the intermediate", v, pki.leaf,
                      NULL);
    assert_chain("hashed directory with the intermediate", chain, pki.leaf,
                 pki.inter, pki.root, NULL);

    /* file and directory together: the root in one, the intermediate in
     * the other */
    cadir = tc_temp_dir(tc_pool);
    hash_file(cadir, pki.inter);
    v = verifier(put_file("root.pem", pems(pki.root, NULL)), cadir, NULL, -1);
    verify_ok("CA file and directory", v, pki.leaf, NULL);

    /* a directory without the root */
    v = verifier(NULL, cadir, NULL, -1);
    verify_fails("directory without the root", v, pki.leaf, NULL, NULL);
}
END_TEST

START_TEST(verify_ca_path_missing)
{
    x509a_verifier *v = NULL;
    const char *err = create(NULL, apr_pstrcat(tc_pool, dir, "/nowhere", NULL),
                             NULL, -1, &v);

    /* a directory that does not exist: refused, or nothing verifies */
    if (err == NULL) {
        verify_fails("missing CA directory", v, pki.leaf,
                     tc_stack(tc_pool, pki.inter, NULL), NULL);
    }
}
END_TEST

START_TEST(verify_create_errors)
{
    const char *ca = put_file("ca.pem", pems(pki.root, NULL));
    const char *crl = put_file("crl.pem", crls(NULL));
    const char *missing = apr_pstrcat(tc_pool, dir, "/missing.pem", NULL);
    const char *err;
    const char *text;

    err = verifier_refused("no CA", NULL, NULL, NULL, "no CA certificates");
    ck_assert_str_eq(err, "no CA certificates configured");
    verifier_refused("no CA, a CRL", NULL, NULL, crl, "no CA certificates");

    err = verifier_refused("missing CA file", missing, NULL, NULL,
                           "cannot read");
    ck_assert_msg(tc_contains(err, missing), "names the file: %s", err);
    verifier_refused("CA file is a directory", dir, NULL, NULL, dir);
    err = verifier_refused("CA file without certificates",
                           put_file("text.pem", "no certificate here\n"),
                           NULL, NULL, "holds no PEM certificate");
    ck_assert(tc_contains(err, "text.pem"));
    verifier_refused("empty CA file", put_file("empty.pem", ""), NULL, NULL,
                     "holds no PEM certificate");
    verifier_refused("CA file with CRLs only", crl, NULL, NULL,
                     "holds no PEM certificate");
    {
        BIO *b = BIO_new(BIO_s_mem());
        char *key;
        long n;

        ck_assert(PEM_write_bio_PrivateKey(b, pki.root_key, NULL, NULL, 0,
                                           NULL, NULL));
        n = BIO_get_mem_data(b, &key);
        verifier_refused("CA file with a private key",
                         put_file("withkey.pem",
                                  apr_pstrcat(tc_pool, pems(pki.root, NULL),
                                              apr_pstrndup(tc_pool, key, n),
                                              NULL)),
                         NULL, NULL, "holds a private key");
        BIO_free(b);
    }
    text = tc_cert_pem(tc_pool, pki.root);
    verifier_refused("CA file with a broken certificate",
                     put_file("broken.pem",
                              apr_pstrcat(tc_pool,
                                          apr_pstrndup(tc_pool, text, 100),
                                          "!!!!", text + 104, NULL)),
                     NULL, NULL, "broken.pem");

    err = verifier_refused("missing CRL file", ca, NULL, missing,
                           "cannot read");
    ck_assert_msg(tc_contains(err, missing), "names the file: %s", err);
    err = verifier_refused("CRL file without CRLs", ca, NULL,
                           put_file("nocrl.pem", pems(pki.inter, NULL)),
                           "holds no PEM CRL");
    ck_assert(tc_contains(err, "nocrl.pem"));
    verifier_refused("empty CRL file", ca, NULL, put_file("empty2.pem", ""),
                     "holds no PEM CRL");
    verifier_refused("text CRL file", ca, NULL,
                     put_file("text2.pem", "-\n"), "holds no PEM CRL");
}
END_TEST

/* ---------------------------------------------------------------------- */
/* What is checked                                                         */
/* ---------------------------------------------------------------------- */

START_TEST(verify_lookalike_ca)
{
    tc_pki nokeys;
    x509a_verifier *v;

    /* a CA file with a root of the same name and another key */
    v = verifier(put_file("fake.pem", pems(pki.fake_root, NULL)), NULL, NULL,
                 -1);
    verify_fails("lookalike root", v, pki.leaf,
                 tc_stack(tc_pool, pki.inter, NULL), "verification failed");
    verify_fails("lookalike root, intermediate in the store", v, pki.leaf,
                 tc_stack(tc_pool, pki.inter, pki.root, NULL), NULL);

    /* the same without key identifiers: only names and signatures */
    tc_pki_make(tc_pool, &nokeys, 0);
    v = verifier(put_file("fake2.pem", pems(nokeys.fake_root, NULL)), NULL,
                 NULL, -1);
    verify_fails("lookalike root, no key ids", v, nokeys.leaf,
                 tc_stack(tc_pool, nokeys.inter, NULL), "verification failed");
    v = verifier(put_file("real2.pem", pems(nokeys.root, NULL)), NULL, NULL,
                 -1);
    verify_ok("real root, no key ids", v, nokeys.leaf,
              tc_stack(tc_pool, nokeys.inter, NULL));

    /* an intermediate of the same name and another key */
    verify_fails("lookalike intermediate, no key ids", v, nokeys.leaf,
                 tc_stack(tc_pool, nokeys.fake_inter, NULL), NULL);
    v = verifier(put_file("real.pem", pems(pki.root, NULL)), NULL, NULL, -1);
    verify_fails("lookalike intermediate", v, pki.leaf,
                 tc_stack(tc_pool, pki.fake_inter, NULL), NULL);
    verify_fails("leaf of the lookalike intermediate", v, pki.fake_leaf,
                 tc_stack(tc_pool, pki.inter, NULL), NULL);
}
END_TEST

START_TEST(verify_dates)
{
    x509a_verifier *v = verifier(put_file("ca.pem", pems(pki.root, NULL)),
                                 NULL, NULL, -1);
    STACK_OF(X509) *inter = tc_stack(tc_pool, pki.inter, NULL);
    const char *why;
    tc_spec s = { 0 };
    static const tc_attr dn[] = { { "CN", "Old Issuing CA" }, { NULL } };
    X509 *old_inter, *leaf;
    EVP_PKEY *old_key;

    /* 2020-01-01 .. 2021-01-01 */
    why = verify_fails("expired", v,
                       leaf_with((time_t)1577836800, (time_t)1609459200,
                                 "clientAuth"),
                       inter, "certificate has expired");
    ck_assert_str_eq(why, "verification failed at depth 0: certificate has "
                          "expired");
    /* 2045-01-01 .. 2049-01-01 */
    verify_fails("not yet valid", v,
                 leaf_with((time_t)2366841600, (time_t)2493072000,
                           "clientAuth"),
                 inter, "certificate is not yet valid");
    verify_ok("valid", v, leaf_with(0, 0, "clientAuth"), inter);

    /* an expired intermediate */
    s.subject = dn;
    s.issuer = pki.root;
    s.issuer_key = pki.root_key;
    s.ca = 1;
    s.not_before = (time_t)1577836800;
    s.not_after = (time_t)1609459200;
    old_inter = tc_cert(tc_pool, &s, &old_key);
    memset(&s, 0, sizeof(s));
    s.subject = dn + 1;
    s.issuer = old_inter;
    s.issuer_key = old_key;
    s.not_before = (time_t)1577836800;
    leaf = tc_cert(tc_pool, &s, NULL);
    why = verify_fails("expired intermediate", v, leaf,
                       tc_stack(tc_pool, old_inter, NULL), "expired");
    ck_assert_msg(tc_contains(why, "depth 1"), "%s", why);
}
END_TEST

START_TEST(verify_purpose)
{
    x509a_verifier *v = verifier(put_file("ca.pem", pems(pki.root, NULL)),
                                 NULL, NULL, -1);
    STACK_OF(X509) *inter = tc_stack(tc_pool, pki.inter, NULL);

    verify_fails("serverAuth only", v, leaf_with(0, 0, "serverAuth"), inter,
                 "unsuitable certificate purpose");
    verify_fails("emailProtection only", v,
                 leaf_with(0, 0, "emailProtection"), inter,
                 "unsuitable certificate purpose");
    verify_ok("no extendedKeyUsage", v, leaf_with(0, 0, NULL), inter);
    verify_ok("clientAuth", v, leaf_with(0, 0, "clientAuth"), inter);
    verify_ok("serverAuth and clientAuth", v,
              leaf_with(0, 0, "serverAuth,clientAuth"), inter);
}
END_TEST

START_TEST(verify_depth)
{
    const char *ca = put_file("ca.pem", pems(pki.root, NULL));
    STACK_OF(X509) *inter = tc_stack(tc_pool, pki.inter, NULL);
    static const tc_attr dn[] = { { "CN", "direct" }, { NULL } };
    tc_spec s = { 0 };
    X509 *direct;
    x509a_verifier *v;

    s.subject = dn;
    s.issuer = pki.root;
    s.issuer_key = pki.root_key;
    direct = tc_cert(tc_pool, &s, NULL);

    /* depth counts the intermediates */
    v = verifier(ca, NULL, NULL, 0);
    verify_fails("one intermediate, depth 0", v, pki.leaf, inter,
                 "certificate chain too long");
    verify_ok("no intermediate, depth 0", v, direct, NULL);
    v = verifier(ca, NULL, NULL, 1);
    verify_ok("one intermediate, depth 1", v, pki.leaf, inter);
    v = verifier(ca, NULL, NULL, 5);
    verify_ok("one intermediate, depth 5", v, pki.leaf, inter);
    v = verifier(ca, NULL, NULL, -1);
    verify_ok("one intermediate, default depth", v, pki.leaf, inter);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* CRLs                                                                    */
/* ---------------------------------------------------------------------- */

START_TEST(verify_crl)
{
    const char *ca = put_file("ca.pem", pems(pki.root, NULL));
    STACK_OF(X509) *inter = tc_stack(tc_pool, pki.inter, NULL);
    x509a_verifier *v;
    const char *why;
    time_t now = time(NULL);
    X509_CRL *root_crl = tc_crl(tc_pool, pki.root, pki.root_key, 0, 0,
                                (char *)NULL);

    v = verifier(ca, NULL, put_file("crl.pem", crls("2000", "2001", NULL)), -1);
    verify_ok("CRLs revoking others", v, pki.leaf, inter);

    v = verifier(ca, NULL, put_file("crl1.pem", crls("2000", "1001", NULL)),
                 -1);
    why = verify_fails("revoked leaf", v, pki.leaf, inter,
                       "certificate revoked");
    ck_assert_str_eq(why, "verification failed at depth 0: certificate "
                          "revoked");
    verify_ok("another leaf of that CA", v, leaf_with(0, 0, "clientAuth"),
              inter);

    /* the intermediate revoked by the root */
    v = verifier(ca, NULL,
                 put_file("crl2.pem",
                          apr_pstrcat(tc_pool,
                                      tc_crl_pem(tc_pool,
                                                 tc_crl(tc_pool, pki.root,
                                                        pki.root_key, 0, 0,
                                                        "02", (char *)NULL)),
                                      tc_crl_pem(tc_pool,
                                                 tc_crl(tc_pool, pki.inter,
                                                        pki.inter_key, 0, 0,
                                                        (char *)NULL)),
                                      NULL)),
                 -1);
    why = verify_fails("revoked intermediate", v, pki.leaf, inter,
                       "certificate revoked");
    ck_assert_msg(tc_contains(why, "depth 1"), "%s", why);

    /* CRL_CHECK_ALL: no CRL for the intermediate's certificates */
    v = verifier(ca, NULL, put_file("crl3.pem", tc_crl_pem(tc_pool, root_crl)),
                 -1);
    verify_fails("only the root's CRL", v, pki.leaf, inter,
                 "unable to get certificate CRL");
    /* nor for the root's */
    v = verifier(ca, NULL,
                 put_file("crl4.pem",
                          tc_crl_pem(tc_pool, tc_crl(tc_pool, pki.inter,
                                                     pki.inter_key, 0, 0,
                                                     (char *)NULL))),
                 -1);
    verify_fails("only the intermediate's CRL", v, pki.leaf, inter,
                 "unable to get certificate CRL");

    /* an expired CRL */
    v = verifier(ca, NULL,
                 put_file("crl5.pem",
                          apr_pstrcat(tc_pool, tc_crl_pem(tc_pool, root_crl),
                                      tc_crl_pem(tc_pool,
                                                 tc_crl(tc_pool, pki.inter,
                                                        pki.inter_key,
                                                        now - 7 * 86400,
                                                        now - 86400,
                                                        (char *)NULL)),
                                      NULL)),
                 -1);
    verify_fails("expired CRL", v, pki.leaf, inter, "CRL has expired");

    /* a CRL with the intermediate's name signed by another key */
    v = verifier(ca, NULL,
                 put_file("crl6.pem",
                          apr_pstrcat(tc_pool, tc_crl_pem(tc_pool, root_crl),
                                      tc_crl_pem(tc_pool,
                                                 tc_crl(tc_pool, pki.inter,
                                                        pki.root_key, 0, 0,
                                                        (char *)NULL)),
                                      NULL)),
                 -1);
    verify_fails("CRL signed by another key", v, pki.leaf, inter, NULL);

    /* CRLs may also come in the CA file; without a CRL file they are not
     * required */
    v = verifier(put_file("ca+crl.pem",
                          apr_pstrcat(tc_pool, pems(pki.root, NULL),
                                      tc_crl_pem(tc_pool, root_crl), NULL)),
                 NULL, NULL, -1);
    verify_ok("no CRL file", v, pki.leaf, inter);
}
END_TEST

static apr_status_t free_crl(void *data)
{
    X509_CRL_free(data);
    return APR_SUCCESS;
}

/* A CRL of @a issuer without nextUpdate (RFC 5280 makes it mandatory;
 * OpenSSL accepts its absence). */
static X509_CRL *crl_without_next_update(X509 *issuer, EVP_PKEY *key)
{
    X509_CRL *crl = X509_CRL_new();
    ASN1_TIME *t = ASN1_TIME_new();

    ck_assert(crl && t && X509_CRL_set_version(crl, X509_CRL_VERSION_2)
              && X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer))
              && ASN1_TIME_set(t, time(NULL) - 3600)
              && X509_CRL_set1_lastUpdate(crl, t)
              && X509_CRL_sign(crl, key, EVP_sha256()));
    ASN1_TIME_free(t);
    apr_pool_cleanup_register(tc_pool, crl, free_crl, apr_pool_cleanup_null);
    return crl;
}

static apr_time_t check_bound(const char *what, x509a_verifier *v, X509 *leaf,
                              STACK_OF(X509) *untrusted, int expect_ok,
                              int expect_transient)
{
    x509a_verify_info info;
    const char *why = NULL;
    unsigned char d[32];
    int ok;

    memset(&info, 0xee, sizeof(info));
    ok = x509a_verifier_check(v, tc_pool, leaf, untrusted, NULL, &why, &info);
    ck_assert_msg(ok == expect_ok, "%s: verified %d (%s)", what, ok,
                  why ? why : "");
    ck_assert_msg(info.transient == expect_transient, "%s: transient %d", what,
                  info.transient);
    x509a_verifier_settings_digest(v, d);
    ck_assert_msg(memcmp(d, info.settings_digest, 32) == 0,
                  "%s: another settings digest", what);
    return info.crl_next_update;
}

/* The earliest nextUpdate of the CRLs a verification used bounds it. */
/* Delta CRLs (RFC 5280 5.2.4, 6.3.3) in the CRL file complete their
 * base: a base CRL with freshestCRL, a delta revoking the leaf. */
START_TEST(verify_delta_crl)
{
    const char *ca = put_file("ca.pem", pems(pki.root, NULL));
    STACK_OF(X509) *inter = tc_stack(tc_pool, pki.inter, NULL);
    const char *root_crl, *base, *delta, *why;
    const char *url = "http://crl.example/inter-delta.crl";
    x509a_verifier *v;
    x509a_verify_info info;
    STACK_OF(X509) *chain = NULL;

    root_crl = tc_crl_pem(tc_pool, tc_crl(tc_pool, pki.root, pki.root_key, 0,
                                          0, (char *)NULL));
    base = tc_crl_pem(tc_pool, tc_crl_numbered(tc_pool, pki.inter,
                                               pki.inter_key, 10, -1, url,
                                               (char *)NULL));
    delta = tc_crl_pem(tc_pool, tc_crl_numbered(tc_pool, pki.inter,
                                                pki.inter_key, 11, 10, NULL,
                                                "1001", (char *)NULL));
    v = verifier(ca, NULL, put_file("base.pem", apr_pstrcat(tc_pool, root_crl,
                                                            base, NULL)), -1);
    verify_ok("base CRL alone", v, pki.leaf, inter);
    v = verifier(ca, NULL, put_file("delta.pem",
                                    apr_pstrcat(tc_pool, root_crl, base, delta,
                                                NULL)), -1);
    why = verify_fails("revoked by the delta CRL", v, pki.leaf, inter,
                       "certificate revoked");
    ck_assert_msg(tc_contains(why, "depth 0"), "%s", why);
    verify_ok("another leaf of that CA", v, leaf_with(0, 0, "clientAuth"),
              inter);
    /* the order in the file does not matter */
    v = verifier(ca, NULL, put_file("delta2.pem",
                                    apr_pstrcat(tc_pool, delta, root_crl, base,
                                                NULL)), -1);
    verify_fails("delta first", v, pki.leaf, inter, "certificate revoked");

    /* a delta of a newer base (base CRL number 12 > 10) does not apply */
    v = verifier(ca, NULL, put_file("newer.pem", apr_pstrcat(
        tc_pool, root_crl, base,
        tc_crl_pem(tc_pool, tc_crl_numbered(tc_pool, pki.inter, pki.inter_key,
                                            13, 12, NULL, "1001",
                                            (char *)NULL)), NULL)), -1);
    verify_ok("delta of another base", v, pki.leaf, inter);

    /* a delta never stands in for its base: the base revokes the leaf, a
     * later delta lists nothing new (whatever their order in the file, and
     * their lastUpdate) */
    {
        const char *base_rev = tc_crl_pem(tc_pool, tc_crl_numbered(
            tc_pool, pki.inter, pki.inter_key, 10, -1, url, "1001",
            (char *)NULL));
        const char *delta_none = tc_crl_pem(tc_pool, tc_crl_numbered(
            tc_pool, pki.inter, pki.inter_key, 11, 10, NULL, (char *)NULL));

        v = verifier(ca, NULL, put_file("basefirst.pem", apr_pstrcat(
            tc_pool, root_crl, base_rev, delta_none, NULL)), -1);
        verify_fails("revoked by the base, delta after", v, pki.leaf, inter,
                     "certificate revoked");
        v = verifier(ca, NULL, put_file("deltafirst.pem", apr_pstrcat(
            tc_pool, delta_none, root_crl, base_rev, NULL)), -1);
        verify_fails("revoked by the base, delta before", v, pki.leaf, inter,
                     "certificate revoked");
        /* a delta alone is no complete CRL */
        v = verifier(ca, NULL, put_file("deltaonly.pem", apr_pstrcat(
            tc_pool, root_crl, delta_none, NULL)), -1);
        verify_fails("only a delta CRL", v, pki.leaf, inter, NULL);
    }

    /* a base without freshestCRL: RFC 5280 6.3.3 looks for no delta */
    v = verifier(ca, NULL, put_file("nofresh.pem", apr_pstrcat(
        tc_pool, root_crl,
        tc_crl_pem(tc_pool, tc_crl_numbered(tc_pool, pki.inter, pki.inter_key,
                                            10, -1, NULL, (char *)NULL)),
        delta, NULL)), -1);
    verify_ok("base without freshestCRL", v, pki.leaf, inter);

    /* a delta signed by another key is not used to revoke, nor to accept */
    v = verifier(ca, NULL, put_file("forged.pem", apr_pstrcat(
        tc_pool, root_crl, base,
        tc_crl_pem(tc_pool, tc_crl_numbered(tc_pool, pki.inter, pki.root_key,
                                            11, 10, NULL, (char *)NULL)),
        NULL)), -1);
    verify_fails("forged delta", v, pki.leaf, inter, NULL);

    /* the verdict is bounded by the delta's nextUpdate too (30 days) */
    v = verifier(ca, NULL, put_file("delta3.pem",
                                    apr_pstrcat(tc_pool, root_crl, base, delta,
                                                NULL)), -1);
    ck_assert(!x509a_verifier_check(v, tc_pool, pki.leaf, inter, &chain, &why,
                                    &info));
    ck_assert(info.crl_next_update != APR_INT64_MAX);
}
END_TEST

/* X509AuthnCARevocationCheck: chain, leaf, none, no_crl_for_cert_ok; the
 * mode is in the settings digest. */
START_TEST(verify_crl_check_modes)
{
    const char *ca = put_file("ca.pem", pems(pki.root, NULL));
    STACK_OF(X509) *inter = tc_stack(tc_pool, pki.inter, NULL);
    const char *inter_revoked, *leaf_revoked, *only_inter, *none;
    static const struct {
        x509a_crl_check check;
        int no_crl_ok;
        /* expected: intermediate revoked, leaf revoked, only the
         * intermediate's CRL (none for the root's certificates) */
        int inter_revoked_ok, leaf_revoked_ok, only_inter_ok;
    } cases[] = {
        { X509A_CRL_CHECK_CHAIN, 0, 0, 0, 0 },
        { X509A_CRL_CHECK_CHAIN, 1, 0, 0, 1 },
        { X509A_CRL_CHECK_LEAF, 0, 1, 0, 1 },
        { X509A_CRL_CHECK_LEAF, 1, 1, 0, 1 },
        { X509A_CRL_CHECK_NONE, 0, 1, 1, 1 },
        { X509A_CRL_CHECK_NONE, 1, 1, 1, 1 },
    };
    unsigned char digests[6][32];
    size_t i, j;

    /* the root revokes the intermediate (serial 02) */
    inter_revoked = put_file("ir.pem", apr_pstrcat(tc_pool,
        tc_crl_pem(tc_pool, tc_crl(tc_pool, pki.root, pki.root_key, 0, 0,
                                   "02", (char *)NULL)),
        tc_crl_pem(tc_pool, tc_crl(tc_pool, pki.inter, pki.inter_key, 0, 0,
                                   (char *)NULL)), NULL));
    leaf_revoked = put_file("lr.pem", crls("1001", NULL));
    only_inter = put_file("oi.pem", tc_crl_pem(tc_pool,
        tc_crl(tc_pool, pki.inter, pki.inter_key, 0, 0, (char *)NULL)));
    none = put_file("none.pem", "no CRL at all\n");
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *files[3];
        int want[3];
        x509a_verify_conf conf;
        x509a_verifier *v;
        const char *err;

        files[0] = inter_revoked;
        files[1] = leaf_revoked;
        files[2] = only_inter;
        want[0] = cases[i].inter_revoked_ok;
        want[1] = cases[i].leaf_revoked_ok;
        want[2] = cases[i].only_inter_ok;
        for (j = 0; j < 3; j++) {
            STACK_OF(X509) *chain = NULL;
            const char *why = NULL;
            x509a_verify_info info;
            int ok;

            memset(&conf, 0, sizeof(conf));
            conf.ca_file = ca;
            conf.crl_file = files[j];
            conf.depth = -1;
            conf.crl_check = cases[i].check;
            conf.no_crl_ok = cases[i].no_crl_ok;
            err = x509a_verifier_create(tc_pool, &conf, &v);
            ck_assert_msg(err == NULL, "case %d: %s", (int)i, err);
            ok = x509a_verifier_check(v, tc_pool, pki.leaf, inter, &chain,
                                      &why, &info);
            ck_assert_msg(ok == want[j], "mode %d/%d, file %d: %s",
                          (int)cases[i].check, cases[i].no_crl_ok, (int)j,
                          ok ? "accepted" : why);
            if (!ok && j < 2) {
                ck_assert_msg(tc_contains(why, "revoked")
                              && tc_contains(why, j == 0 ? "depth 1"
                                                         : "depth 0"),
                              "%s", why);
            }
            if (j == 0) {
                memcpy(digests[i], info.settings_digest, 32);
            }
        }
        /* "none" does not even read the file */
        memset(&conf, 0, sizeof(conf));
        conf.ca_file = ca;
        conf.crl_file = none;
        conf.depth = -1;
        conf.crl_check = cases[i].check;
        err = x509a_verifier_create(tc_pool, &conf, &v);
        ck_assert_msg((err == NULL) == (cases[i].check
                                        == X509A_CRL_CHECK_NONE),
                      "mode %d, a file without CRLs: %s",
                      (int)cases[i].check, err ? err : "created");
    }
    /* every mode has its own digest: caches keep their verdicts apart */
    for (i = 0; i < 6; i++) {
        for (j = i + 1; j < 6; j++) {
            if (cases[i].check == X509A_CRL_CHECK_NONE
                && cases[j].check == X509A_CRL_CHECK_NONE) {
                continue;
            }
            ck_assert_msg(memcmp(digests[i], digests[j], 32) != 0,
                          "modes %d and %d share a digest", (int)i, (int)j);
        }
    }
}
END_TEST

START_TEST(verify_crl_next_update)
{
    const char *ca = put_file("ca.pem", pems(pki.root, NULL));
    STACK_OF(X509) *inter = tc_stack(tc_pool, pki.inter, NULL);
    time_t now = time(NULL);
    tc_attr other_dn[] = { { "CN", "Other CA" }, { NULL } };
    tc_spec other_spec = { 0 };
    EVP_PKEY *other_key;
    X509 *other;
    x509a_verifier *v;
    const char *root_soon, *root_late, *inter_soon, *inter_late, *inter_rev;
    apr_time_t b;

    other_spec.subject = other_dn;
    other_spec.ca = 1;
    other = tc_cert(tc_pool, &other_spec, &other_key);
    root_soon = tc_crl_pem(tc_pool, tc_crl(tc_pool, pki.root, pki.root_key, 0,
                                           now + 1000, (char *)NULL));
    root_late = tc_crl_pem(tc_pool, tc_crl(tc_pool, pki.root, pki.root_key, 0,
                                           now + 5000, (char *)NULL));
    inter_soon = tc_crl_pem(tc_pool, tc_crl(tc_pool, pki.inter, pki.inter_key,
                                            0, now + 2000, (char *)NULL));
    inter_late = tc_crl_pem(tc_pool, tc_crl(tc_pool, pki.inter, pki.inter_key,
                                            0, now + 9000, (char *)NULL));
    inter_rev = tc_crl_pem(tc_pool, tc_crl(tc_pool, pki.inter, pki.inter_key,
                                           0, now + 3000, "1001",
                                           (char *)NULL));

    /* no CRL file: no bound */
    v = verifier(ca, NULL, NULL, -1);
    ck_assert(check_bound("no CRLs", v, pki.leaf, inter, 1, 0)
              == APR_INT64_MAX);

    /* the earlier of the two, whichever CA's it is */
    v = verifier(ca, NULL, put_file("c1.pem", apr_pstrcat(tc_pool, root_soon,
                                                          inter_late, NULL)),
                 -1);
    b = check_bound("root's sooner", v, pki.leaf, inter, 1, 0);
    ck_assert_int_eq(apr_time_sec(b), now + 1000);
    v = verifier(ca, NULL, put_file("c2.pem", apr_pstrcat(tc_pool, root_late,
                                                          inter_soon, NULL)),
                 -1);
    b = check_bound("intermediate's sooner", v, pki.leaf, inter, 1, 0);
    ck_assert_int_eq(apr_time_sec(b), now + 2000);

    /* a CRL of a CA outside the chain does not bound it */
    v = verifier(ca, NULL,
                 put_file("c3.pem",
                          apr_pstrcat(tc_pool, root_late, inter_late,
                                      tc_crl_pem(tc_pool,
                                                 tc_crl(tc_pool, other,
                                                        other_key, 0, now + 10,
                                                        (char *)NULL)),
                                      NULL)), -1);
    b = check_bound("other CA's CRL", v, pki.leaf, inter, 1, 0);
    ck_assert_int_eq(apr_time_sec(b), now + 5000);

    /* a CRL without nextUpdate: no bound from it */
    v = verifier(ca, NULL,
                 put_file("c4.pem",
                          apr_pstrcat(tc_pool, root_late,
                                      tc_crl_pem(tc_pool,
                                                 crl_without_next_update(
                                                     pki.inter,
                                                     pki.inter_key)),
                                      NULL)), -1);
    b = check_bound("no nextUpdate", v, pki.leaf, inter, 1, 0);
    ck_assert_int_eq(apr_time_sec(b), now + 5000);

    /* a refusal is bounded too, and definite */
    v = verifier(ca, NULL, put_file("c5.pem", apr_pstrcat(tc_pool, root_late,
                                                          inter_rev, NULL)),
                 -1);
    b = check_bound("revoked", v, pki.leaf, inter, 0, 0);
    ck_assert_int_eq(apr_time_sec(b), now + 3000);
    /* so is an untrusted chain */
    check_bound("lookalike", v, pki.fake_leaf, NULL, 0, 0);

    /* an unusable CRL file: transient, never cached */
    put_file("c5.pem", "garbage\n");
    ck_assert_ptr_nonnull(x509a_verifier_refresh(
        v, apr_time_now() + apr_time_from_sec(5), NULL));
    check_bound("broken", v, pki.leaf, inter, 0, 1);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Health: what is loaded, for the status page                             */
/* ---------------------------------------------------------------------- */

static const x509a_crl_health *health_crl(const x509a_verifier_health *h,
                                          const char *issuer_cn, int delta)
{
    int i;

    for (i = 0; i < h->crls->nelts; i++) {
        const x509a_crl_health *c = &APR_ARRAY_IDX(h->crls, i,
                                                   x509a_crl_health);
        if (tc_contains(c->issuer, issuer_cn) && c->delta == delta) {
            return c;
        }
    }
    return NULL;
}

START_TEST(verify_health)
{
    const char *ca = put_file("ca.pem", pems(pki.root, pki.inter, NULL));
    time_t now = time(NULL);
    x509a_verifier_health h;
    const x509a_crl_health *c;
    x509a_verifier *v;
    const char *crl_path;
    apr_time_t first_load;

    /* no CRL file */
    v = verifier(ca, NULL, NULL, -1);
    x509a_verifier_health_get(v, tc_pool, &h);
    ck_assert_str_eq(h.ca_file, ca);
    ck_assert_int_eq(h.ca_certs, 2);
    ck_assert_ptr_null(h.crl_file);
    ck_assert_int_eq(h.crls->nelts, 0);
    ck_assert_ptr_null(h.broken);
    ck_assert(h.ca_loaded_at > 0);

    /* a base CRL per CA, one revoking two serials, and a delta */
    crl_path = put_file("h.pem", apr_pstrcat(tc_pool,
        tc_crl_pem(tc_pool, tc_crl(tc_pool, pki.root, pki.root_key, now - 60,
                                   now + 1000, (char *)NULL)),
        tc_crl_pem(tc_pool, tc_crl(tc_pool, pki.inter, pki.inter_key, 0,
                                   now + 5000, "1001", "1002", (char *)NULL)),
        tc_crl_pem(tc_pool, tc_crl_numbered(tc_pool, pki.inter, pki.inter_key,
                                            11, 10, NULL, "1003",
                                            (char *)NULL)),
        NULL));
    v = verifier(ca, NULL, crl_path, -1);
    x509a_verifier_health_get(v, tc_pool, &h);
    ck_assert_str_eq(h.crl_file, crl_path);
    ck_assert_int_eq(h.crls->nelts, 3);
    ck_assert_ptr_nonnull(c = health_crl(&h, "CN=Test Root CA", 0));
    ck_assert_int_eq(apr_time_sec(c->next_update), now + 1000);
    ck_assert_int_eq(apr_time_sec(c->this_update), now - 60);
    ck_assert_int_eq(c->entries, 0);
    ck_assert_ptr_nonnull(c = health_crl(&h, "CN=Test Issuing CA", 0));
    ck_assert_int_eq(apr_time_sec(c->next_update), now + 5000);
    ck_assert_int_eq(c->entries, 2);
    ck_assert_ptr_nonnull(c = health_crl(&h, "CN=Test Issuing CA", 1));
    ck_assert_int_eq(c->entries, 1);
    first_load = h.crl_loaded_at;
    ck_assert(first_load > 0);

    /* a CRL without nextUpdate reports 0 */
    put_file("h.pem", apr_pstrcat(tc_pool,
        tc_crl_pem(tc_pool, crl_without_next_update(pki.inter, pki.inter_key)),
        NULL));
    ck_assert_ptr_null(x509a_verifier_refresh(
        v, apr_time_now() + apr_time_from_sec(5), NULL));
    x509a_verifier_health_get(v, tc_pool, &h);
    ck_assert_int_eq(h.crls->nelts, 1);
    c = &APR_ARRAY_IDX(h.crls, 0, x509a_crl_health);
    ck_assert(c->next_update == 0);
    ck_assert(h.crl_loaded_at > first_load);
    ck_assert_ptr_null(h.broken);

    /* an unusable file: reported, and the CRLs in use stay listed */
    put_file("h.pem", "garbage\n");
    ck_assert_ptr_nonnull(x509a_verifier_refresh(
        v, apr_time_now() + apr_time_from_sec(10), NULL));
    x509a_verifier_health_get(v, tc_pool, &h);
    ck_assert_ptr_nonnull(h.broken);
    ck_assert_int_eq(h.crls->nelts, 1);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Settings digest                                                         */
/* ---------------------------------------------------------------------- */

START_TEST(verify_digest)
{
    const char *root = put_file("root.pem", pems(pki.root, NULL));
    const char *both = put_file("both.pem", pems(pki.root, pki.inter, NULL));
    const char *crl_a = put_file("a.crl", crls("2000", NULL));
    const char *crl_b = put_file("b.crl", crls("2001", NULL));
    const char *d;

    d = digest(verifier(root, NULL, NULL, -1));
    ck_assert_int_eq(strlen(d), 64);
    /* stable */
    ck_assert_str_eq(digest(verifier(root, NULL, NULL, -1)), d);
    ck_assert_str_eq(digest(verifier(put_file("copy.pem", pems(pki.root,
                                                                NULL)),
                                     NULL, NULL, -1)), d);
    /* CA contents, depth, CRL contents */
    ck_assert_str_ne(digest(verifier(both, NULL, NULL, -1)), d);
    ck_assert_str_ne(digest(verifier(put_file("fake.pem",
                                              pems(pki.fake_root, NULL)),
                                     NULL, NULL, -1)), d);
    ck_assert_str_ne(digest(verifier(root, NULL, NULL, 2)), d);
    ck_assert_str_ne(digest(verifier(root, NULL, NULL, 2)),
                     digest(verifier(root, NULL, NULL, 3)));
    ck_assert_str_eq(digest(verifier(root, NULL, NULL, 2)),
                     digest(verifier(root, NULL, NULL, 2)));
    ck_assert_str_ne(digest(verifier(root, NULL, crl_a, -1)), d);
    ck_assert_str_ne(digest(verifier(root, NULL, crl_a, -1)),
                     digest(verifier(root, NULL, crl_b, -1)));
    ck_assert_str_eq(digest(verifier(root, NULL, crl_a, -1)),
                     digest(verifier(root, NULL, crl_a, -1)));
    /* a CA directory */
    ck_assert_str_ne(digest(verifier(root, dir, NULL, -1)), d);
}
END_TEST

START_TEST(verify_digest_ca_path_contents)
{
    const char *cadir = tc_temp_dir(tc_pool);
    x509a_verifier *real, *fake;
    STACK_OF(X509) *inter = tc_stack(tc_pool, pki.inter, NULL);
    const char *d_real;

    /* the same directory, first with the root, then with a lookalike root
     * in its place: the verifications differ, so must the digests */
    hash_file(cadir, pki.root);
    real = verifier(NULL, cadir, NULL, -1);
    verify_ok("root in the directory", real, pki.leaf, inter);
    d_real = digest(real);
    ck_assert_int_eq(unlink(apr_psprintf(tc_pool, "%s/%08lx.0", cadir,
                                         X509_NAME_hash_ex(
                                             X509_get_subject_name(pki.root),
                                             NULL, NULL, NULL))), 0);
    hash_file(cadir, pki.fake_root);
    fake = verifier(NULL, cadir, NULL, -1);
    verify_fails("lookalike root in the directory", fake, pki.leaf, inter,
                 NULL);
    ck_assert_msg(strcmp(digest(fake), d_real) != 0,
                  "same settings digest %s for CA directories with other "
                  "certificates", d_real);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* CRL reloads                                                             */
/* ---------------------------------------------------------------------- */

START_TEST(verify_refresh)
{
    const char *ca = put_file("ca.pem", pems(pki.root, NULL));
    const char *crl = put_file("crl.pem", crls("2000", NULL));
    x509a_verifier *v = verifier(ca, NULL, crl, -1);
    STACK_OF(X509) *inter = tc_stack(tc_pool, pki.inter, NULL);
    /* on a whole second, so that "within a second" does not depend on
     * how the second is counted */
    apr_time_t now = apr_time_from_sec(apr_time_sec(apr_time_now()));
    const char *d1 = digest(v), *d2;
    struct stat st1, st2;

    verify_ok("before", v, pki.leaf, inter);
    /* nothing changed */
    ck_assert_ptr_null(refresh(v, now, 0));
    ck_assert_uint_eq(x509a_verifier_generation(v), 1);
    ck_assert_str_eq(digest(v), d1);

    /* a new CRL revoking the leaf: other contents, size and inode */
    ck_assert_int_eq(stat(crl, &st1), 0);
    put_file("crl.pem", crls("2000", "1001", NULL));
    ck_assert_int_eq(stat(crl, &st2), 0);
    ck_assert(st1.st_ino != st2.st_ino && st1.st_size != st2.st_size);
    /* looked at no more than once a second */
    ck_assert_ptr_null(refresh(v, now + apr_time_from_msec(500), 0));
    ck_assert_ptr_null(refresh(v, now + apr_time_from_msec(999), 0));
    ck_assert_uint_eq(x509a_verifier_generation(v), 1);
    ck_assert_str_eq(digest(v), d1);
    verify_ok("not reloaded yet", v, pki.leaf, inter);

    ck_assert_ptr_null(refresh(v, now + apr_time_from_sec(2), 1));
    ck_assert_uint_eq(x509a_verifier_generation(v), 2);
    d2 = digest(v);
    ck_assert_str_ne(d2, d1);
    verify_fails("reloaded", v, pki.leaf, inter, "certificate revoked");
    /* the digest is that of a verifier made with these files */
    ck_assert_str_eq(digest(verifier(ca, NULL, crl, -1)), d2);

    /* no change: no reload */
    ck_assert_ptr_null(refresh(v, now + apr_time_from_sec(4), 0));
    ck_assert_ptr_null(refresh(v, now + apr_time_from_sec(6), 0));
    ck_assert_uint_eq(x509a_verifier_generation(v), 2);
    ck_assert_str_eq(digest(v), d2);

    /* back to the first contents */
    put_file("crl.pem", crls("2000", NULL));
    ck_assert_ptr_null(refresh(v, now + apr_time_from_sec(8), 1));
    ck_assert_uint_eq(x509a_verifier_generation(v), 3);
    ck_assert_str_ne(digest(v), d2);
    verify_ok("reloaded again", v, pki.leaf, inter);

    /* reloaded may be NULL */
    put_file("crl.pem", crls("2000", "2001", NULL));
    ck_assert_ptr_null(x509a_verifier_refresh(v, now + apr_time_from_sec(10),
                                              NULL));
    ck_assert_uint_eq(x509a_verifier_generation(v), 4);
}
END_TEST

START_TEST(verify_refresh_once_a_second)
{
    const char *crl = put_file("crl.pem", crls("2000", NULL));
    x509a_verifier *v = verifier(put_file("ca.pem", pems(pki.root, NULL)),
                                 NULL, crl, -1);
    apr_time_t t0 = apr_time_from_sec(apr_time_sec(apr_time_now()));

    /* "looked at no more than once per second": a look at x.9 s, the next
     * one not before x+1.9 s, even across the boundary of a second */
    ck_assert_ptr_null(refresh(v, t0 + apr_time_from_msec(900), 0));
    put_file("crl.pem", crls("2000", "1001", NULL));
    ck_assert_ptr_null(refresh(v, t0 + apr_time_from_msec(1100), 0));
    ck_assert_ptr_null(refresh(v, t0 + apr_time_from_msec(1899), 0));
    ck_assert_uint_eq(x509a_verifier_generation(v), 1);
    ck_assert_ptr_null(refresh(v, t0 + apr_time_from_msec(1900), 1));
    ck_assert_uint_eq(x509a_verifier_generation(v), 2);
}
END_TEST

START_TEST(verify_refresh_ca_file_changed)
{
    const char *ca = put_file("ca.pem", pems(pki.root, NULL));
    const char *crl = put_file("crl.pem", crls("2000", NULL));
    x509a_verifier *v = verifier(ca, NULL, crl, -1), *w;
    STACK_OF(X509) *inter = tc_stack(tc_pool, pki.inter, NULL);
    apr_time_t now = apr_time_from_sec(apr_time_sec(apr_time_now()));
    STACK_OF(X509) *chain;
    const char *why;
    int v_ok, w_ok;

    /* the CA file is edited while running, then the CRL file changes */
    put_file("ca.pem", pems(pki.fake_root, NULL));
    put_file("crl.pem", crls("2000", "2001", NULL));
    ck_assert_ptr_null(refresh(v, now + apr_time_from_sec(2), 1));
    /* a verifier made now from the original CA contents and this CRL */
    w = verifier(put_file("ca-copy.pem", pems(pki.root, NULL)), NULL, crl, -1);
    v_ok = x509a_verifier_verify(v, tc_pool, pki.leaf, inter, &chain, &why);
    w_ok = x509a_verifier_verify(w, tc_pool, pki.leaf, inter, &chain, &why);
    /* equal settings digests must mean equal verdicts */
    ck_assert_msg(strcmp(digest(v), digest(w)) != 0 || v_ok == w_ok,
                  "same settings digest, verdicts %d and %d: the CRL reload "
                  "re-read the CA file but the digest has its old contents",
                  v_ok, w_ok);
}
END_TEST

START_TEST(verify_refresh_no_crl)
{
    x509a_verifier *v = verifier(put_file("ca.pem", pems(pki.root, NULL)),
                                 NULL, NULL, -1);
    const char *d = digest(v);
    apr_time_t now = apr_time_now();

    ck_assert_ptr_null(refresh(v, now, 0));
    ck_assert_ptr_null(refresh(v, now + apr_time_from_sec(5), 0));
    ck_assert_uint_eq(x509a_verifier_generation(v), 1);
    ck_assert_str_eq(digest(v), d);
}
END_TEST

START_TEST(verify_refresh_broken)
{
    const char *ca = put_file("ca.pem", pems(pki.root, NULL));
    const char *crl = put_file("crl.pem", crls("2000", NULL));
    const char *good = crls("2000", NULL), *text, *err, *why;
    x509a_verifier *v = verifier(ca, NULL, crl, -1);
    STACK_OF(X509) *inter = tc_stack(tc_pool, pki.inter, NULL);
    apr_time_t now = apr_time_now();
    STACK_OF(X509) *chain;

    /* a file without CRLs */
    put_file("crl.pem", "not a CRL\n");
    err = refresh(v, now, 0);
    ck_assert_msg(err != NULL, "broken CRL file not reported");
    ck_assert_msg(tc_contains(err, "CRL file unusable")
                  && tc_contains(err, "holds no PEM CRL"), "%s", err);
    why = verify_fails("broken CRL file", v, pki.leaf, inter,
                       "CRL file unusable");
    ck_assert_str_eq(why, err);
    chain = NULL;
    ck_assert(!x509a_verifier_verify(v, tc_pool, pki.leaf, inter, &chain,
                                     &why));
    /* reported once */
    ck_assert_ptr_null(refresh(v, now + apr_time_from_sec(2), 0));
    ck_assert_ptr_null(refresh(v, now + apr_time_from_sec(4), 0));
    verify_fails("still broken", v, pki.leaf, inter, "CRL file unusable");
    ck_assert_uint_eq(x509a_verifier_generation(v), 1);

    /* repaired */
    put_file("crl.pem", good);
    ck_assert_ptr_null(refresh(v, now + apr_time_from_sec(6), 1));
    ck_assert_uint_eq(x509a_verifier_generation(v), 2);
    verify_ok("repaired", v, pki.leaf, inter);

    /* a corrupt PEM CRL */
    text = tc_crl_pem(tc_pool, tc_crl(tc_pool, pki.inter, pki.inter_key, 0, 0,
                                      (char *)NULL));
    put_file("crl.pem", apr_pstrcat(tc_pool, apr_pstrndup(tc_pool, text, 60),
                                    "\n-----END X509 CRL-----\n", NULL));
    err = refresh(v, now + apr_time_from_sec(8), 0);
    ck_assert_msg(err && tc_contains(err, "CRL file unusable"), "%s", err);
    verify_fails("corrupt CRL", v, pki.leaf, inter, "CRL file unusable");
    /* a missing file */
    ck_assert_int_eq(unlink(crl), 0);
    ck_assert_ptr_null(refresh(v, now + apr_time_from_sec(10), 0));
    verify_fails("missing CRL file", v, pki.leaf, inter, "CRL file unusable");
    put_file("crl.pem", good);
    ck_assert_ptr_null(refresh(v, now + apr_time_from_sec(12), 1));
    verify_ok("restored", v, pki.leaf, inter);
    ck_assert_uint_eq(x509a_verifier_generation(v), 3);

    /* deleted while good: reported at once */
    ck_assert_int_eq(unlink(crl), 0);
    err = refresh(v, now + apr_time_from_sec(14), 0);
    ck_assert_msg(err && tc_contains(err, "cannot read"), "%s", err);
    verify_fails("deleted CRL file", v, pki.leaf, inter, "CRL file unusable");
}
END_TEST

/* Threads verifying while the CRL file is reloaded. */
typedef struct {
    x509a_verifier *v;
    X509 *leaf;
    STACK_OF(X509) *untrusted;
    int runs;
    int ok;
    char why[256];
} worker;

static void *APR_THREAD_FUNC verify_worker(apr_thread_t *t, void *data)
{
    worker *w = data;
    apr_pool_t *p, *iter;
    int i;

    apr_pool_create_unmanaged_ex(&p, NULL, NULL);
    for (i = 0; i < w->runs; i++) {
        STACK_OF(X509) *chain = NULL;
        const char *why = NULL;

        apr_pool_create(&iter, p);
        if (x509a_verifier_verify(w->v, iter, w->leaf, w->untrusted, &chain,
                                  &why)
            && chain && sk_X509_num(chain) == 3) {
            w->ok++;
        }
        else if (!w->why[0]) {
            apr_cpystrn(w->why, why ? why : "no chain", sizeof(w->why));
        }
        apr_pool_destroy(iter);
    }
    apr_pool_destroy(p);
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

#define N_WORKERS 4
#define N_RELOADS 20

START_TEST(verify_threads)
{
    const char *ca = put_file("ca.pem", pems(pki.root, NULL));
    const char *crl_a = crls("2000", NULL), *crl_b = crls("2000", "2001", NULL);
    x509a_verifier *v = verifier(ca, NULL, put_file("crl.pem", crl_a), -1);
    STACK_OF(X509) *inter = tc_stack(tc_pool, pki.inter, NULL);
    apr_thread_t *threads[N_WORKERS];
    worker w[N_WORKERS];
    apr_time_t now = apr_time_now();
    int i, reloads = 0;

    for (i = 0; i < N_WORKERS; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        w[i].v = v;
        w[i].leaf = pki.leaf;
        w[i].untrusted = inter;
        w[i].runs = 100;
        ck_assert_int_eq(apr_thread_create(&threads[i], NULL, verify_worker,
                                           &w[i], tc_pool), APR_SUCCESS);
    }
    for (i = 0; i < N_RELOADS; i++) {
        int reloaded = 0;
        const char *err;

        put_file("crl.pem", i % 2 ? crl_a : crl_b);
        err = x509a_verifier_refresh(v, now + apr_time_from_sec(2 * i),
                                     &reloaded);
        ck_assert_msg(err == NULL, "reload %d: %s", i, err);
        reloads += reloaded;
        apr_sleep(apr_time_from_msec(5));
    }
    for (i = 0; i < N_WORKERS; i++) {
        apr_status_t rv;

        ck_assert_int_eq(apr_thread_join(&rv, threads[i]), APR_SUCCESS);
        ck_assert_msg(w[i].ok == w[i].runs, "thread %d: %d of %d verified (%s)",
                      i, w[i].ok, w[i].runs, w[i].why);
    }
    ck_assert_int_eq(reloads, N_RELOADS);
    ck_assert_uint_eq(x509a_verifier_generation(v), 1 + N_RELOADS);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Refusal reasons (X509_AUTHN_ERROR)                                     */
/* ---------------------------------------------------------------------- */

/* The token x509a_verifier_check() gives for a verification: NULL for
 * success. */
static const char *reason_of(x509a_verifier *v, X509 *leaf,
                             STACK_OF(X509) *untrusted, int *err)
{
    x509a_verify_info info;
    const char *why = NULL;
    int ok;

    memset(&info, 0xee, sizeof(info));
    ok = x509a_verifier_check(v, tc_pool, leaf, untrusted, NULL, &why, &info);
    ck_assert_msg(ok == (info.reason == NULL), "verified %d, reason %s (%s)",
                  ok, info.reason ? info.reason : "none", why ? why : "");
    if (err) {
        *err = info.error;
    }
    return info.reason;
}

#define ck_reason(v, leaf, inter, want) do { \
        const char *got_ = reason_of((v), (leaf), (inter), NULL); \
        ck_assert_msg(got_ && !strcmp(got_, (want)), "%s: got %s", (want), \
                      got_ ? got_ : "(null)"); \
    } while (0)

START_TEST(verify_reasons)
{
    const char *ca = put_file("ca.pem", pems(pki.root, NULL));
    STACK_OF(X509) *inter = tc_stack(tc_pool, pki.inter, NULL);
    time_t now = time(NULL);
    X509_CRL *root_crl = tc_crl(tc_pool, pki.root, pki.root_key, 0, 0,
                                (char *)NULL);
    x509a_verifier *v = verifier(ca, NULL, NULL, -1);
    int err = -1;

    ck_assert_ptr_null(reason_of(v, pki.leaf, inter, &err));
    ck_assert_int_eq(err, X509_V_OK);
    ck_reason(v, leaf_with((time_t)1577836800, (time_t)1609459200,
                           "clientAuth"), inter, "expired");
    ck_reason(v, leaf_with((time_t)2366841600, (time_t)2493072000,
                           "clientAuth"), inter, "not-yet-valid");
    ck_assert_str_eq(reason_of(v, leaf_with(0, 0, "serverAuth"), inter, &err),
                     "not-a-client-certificate");
    ck_assert_int_eq(err, X509_V_ERR_INVALID_PURPOSE);
    /* the intermediate missing: unknown issuer */
    ck_assert_str_eq(reason_of(v, pki.leaf, NULL, &err), "chain-invalid");
    ck_assert_int_eq(err, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
    ck_reason(verifier(ca, NULL, NULL, 0), pki.leaf, inter, "chain-invalid");

    /* CRLs: revoked, and revocation that cannot be decided */
    v = verifier(ca, NULL, put_file("r-crl1.pem", crls("2000", "1001", NULL)),
                 -1);
    ck_assert_str_eq(reason_of(v, pki.leaf, inter, &err), "revoked");
    ck_assert_int_eq(err, X509_V_ERR_CERT_REVOKED);
    v = verifier(ca, NULL, put_file("r-crl2.pem",
                                    tc_crl_pem(tc_pool, root_crl)), -1);
    ck_reason(v, pki.leaf, inter, "revocation-unknown");
    v = verifier(ca, NULL,
                 put_file("r-crl3.pem",
                          apr_pstrcat(tc_pool, tc_crl_pem(tc_pool, root_crl),
                                      tc_crl_pem(tc_pool,
                                                 tc_crl(tc_pool, pki.inter,
                                                        pki.inter_key,
                                                        now - 7 * 86400,
                                                        now - 86400,
                                                        (char *)NULL)),
                                      NULL)),
                 -1);
    ck_assert_str_eq(reason_of(v, pki.leaf, inter, &err),
                     "revocation-unknown");
    ck_assert_int_eq(err, X509_V_ERR_CRL_HAS_EXPIRED);

    /* a CRL file that has become unusable */
    v = verifier(ca, NULL, put_file("r-crl4.pem", crls("2000", NULL)), -1);
    ck_assert_ptr_null(reason_of(v, pki.leaf, inter, NULL));
    put_file("r-crl4.pem", "not a CRL\n");
    ck_assert_ptr_nonnull(x509a_verifier_refresh(v, apr_time_now()
                                                 + apr_time_from_sec(2),
                                                 NULL));
    ck_reason(v, pki.leaf, inter, "revocation-unknown");
}
END_TEST

Suite *x509a_verify_suite(void)
{
    Suite *s = suite_create("x509a_verify");
    TCase *tc = tcase_create("stores");

    tcase_add_checked_fixture(tc, verify_setup, tc_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, verify_ca_file_root);
    tcase_add_test(tc, verify_ca_file_root_and_inter);
    tcase_add_test(tc, verify_ca_path);
    tcase_add_test(tc, verify_ca_path_missing);
    tcase_add_test(tc, verify_create_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("checks");
    tcase_add_checked_fixture(tc, verify_setup, tc_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, verify_lookalike_ca);
    tcase_add_test(tc, verify_dates);
    tcase_add_test(tc, verify_purpose);
    tcase_add_test(tc, verify_depth);
    tcase_add_test(tc, verify_crl);
    tcase_add_test(tc, verify_crl_check_modes);
    tcase_add_test(tc, verify_delta_crl);
    tcase_add_test(tc, verify_crl_next_update);
    tcase_add_test(tc, verify_health);
    suite_add_tcase(s, tc);

    tc = tcase_create("digest and reloads");
    tcase_add_checked_fixture(tc, verify_setup, tc_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, verify_digest);
    tcase_add_test(tc, verify_digest_ca_path_contents);
    tcase_add_test(tc, verify_refresh);
    tcase_add_test(tc, verify_refresh_once_a_second);
    tcase_add_test(tc, verify_refresh_ca_file_changed);
    tcase_add_test(tc, verify_refresh_no_crl);
    tcase_add_test(tc, verify_refresh_broken);
    tcase_add_test(tc, verify_threads);
    tcase_add_test(tc, verify_reasons);
    suite_add_tcase(s, tc);
    return s;
}
