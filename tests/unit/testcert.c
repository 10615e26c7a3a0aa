/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/* Certificates generated at test time (see testcert.h). */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>

#include <check.h>
#include <apr_strings.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "testcert.h"
#include "x509a_cert.h"

apr_pool_t *tc_pool;

void tc_setup(void)
{
    ck_assert_int_eq(apr_pool_create(&tc_pool, NULL), APR_SUCCESS);
}

void tc_teardown(void)
{
    apr_pool_destroy(tc_pool);
    tc_pool = NULL;
}

/* Abort the test with OpenSSL's error queue in the message. */
static void tc_fail(const char *what)
{
    char buf[256] = "";
    unsigned long e = ERR_get_error();

    if (e) {
        ERR_error_string_n(e, buf, sizeof(buf));
    }
    ERR_clear_error();
    ck_abort_msg("testcert: %s failed: %s", what, buf);
}

/* ---------------------------------------------------------------------- */
/* Pool ownership                                                          */
/* ---------------------------------------------------------------------- */

static apr_status_t free_x509(void *d)
{
    X509_free(d);
    return APR_SUCCESS;
}

static apr_status_t free_pkey(void *d)
{
    EVP_PKEY_free(d);
    return APR_SUCCESS;
}

static apr_status_t free_name(void *d)
{
    X509_NAME_free(d);
    return APR_SUCCESS;
}

static apr_status_t free_stack(void *d)
{
    sk_X509_pop_free(d, X509_free);
    return APR_SUCCESS;
}

static apr_status_t free_store(void *d)
{
    X509_STORE_free(d);
    return APR_SUCCESS;
}

static apr_status_t remove_file(void *d)
{
    unlink(d);
    return APR_SUCCESS;
}

static apr_status_t free_crl(void *d)
{
    X509_CRL_free(d);
    return APR_SUCCESS;
}

/* A temporary directory and the files in it (no subdirectories). */
static apr_status_t remove_dir(void *d)
{
    DIR *dir = opendir(d);
    struct dirent *e;
    char path[4096];

    if (dir) {
        while ((e = readdir(dir)) != NULL) {
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                snprintf(path, sizeof(path), "%s/%s", (const char *)d,
                         e->d_name);
                unlink(path);
            }
        }
        closedir(dir);
    }
    rmdir(d);
    return APR_SUCCESS;
}

/* ---------------------------------------------------------------------- */
/* Keys, names, certificates                                               */
/* ---------------------------------------------------------------------- */

EVP_PKEY *tc_key(apr_pool_t *p)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");

    if (!k) {
        tc_fail("EVP_EC_gen");
    }
    apr_pool_cleanup_register(p, k, free_pkey, apr_pool_cleanup_null);
    return k;
}

static void add_attrs(X509_NAME *n, const tc_attr *a)
{
    for (; a && a->type; a++) {
        int type = a->asn1_type ? a->asn1_type : MBSTRING_UTF8;
        int len = a->len > 0 ? a->len : -1;

        if (!X509_NAME_add_entry_by_txt(n, a->type, type,
                                        (const unsigned char *)a->value, len,
                                        -1, a->join ? -1 : 0)) {
            char what[128];
            snprintf(what, sizeof(what), "X509_NAME_add_entry_by_txt(%s)",
                     a->type);
            tc_fail(what);
        }
    }
}

X509_NAME *tc_name(apr_pool_t *p, const tc_attr *attrs)
{
    X509_NAME *n = X509_NAME_new();
    X509_NAME *rt;
    unsigned char *der = NULL;
    const unsigned char *q;
    int len;

    if (!n) {
        tc_fail("X509_NAME_new");
    }
    add_attrs(n, attrs);
    /* DER round trip: multi-valued RDNs in DER order, as in certificates */
    len = i2d_X509_NAME(n, &der);
    X509_NAME_free(n);
    q = der;
    rt = len > 0 ? d2i_X509_NAME(NULL, &q, len) : NULL;
    OPENSSL_free(der);
    if (!rt) {
        tc_fail("X509_NAME DER round trip");
    }
    apr_pool_cleanup_register(p, rt, free_name, apr_pool_cleanup_null);
    return rt;
}

static void add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);

    if (!ext || !X509_add_ext(x, ext, -1)) {
        X509_EXTENSION_free(ext);
        char what[256];
        snprintf(what, sizeof(what), "extension %s=%s", OBJ_nid2sn(nid), value);
        tc_fail(what);
    }
    X509_EXTENSION_free(ext);
}

static GENERAL_NAMES *make_sans(const tc_san *s)
{
    GENERAL_NAMES *gens = GENERAL_NAMES_new();

    for (; s->type != TC_SAN_END; s++) {
        GENERAL_NAME *gn = GENERAL_NAME_new();

        if (s->type == TC_SAN_UPN || s->type == TC_SAN_OTHER_UTF8) {
            ASN1_TYPE *val = ASN1_TYPE_new();
            ASN1_UTF8STRING *u = ASN1_UTF8STRING_new();
            ASN1_OBJECT *oid = OBJ_txt2obj(s->type == TC_SAN_UPN
                                           ? "1.3.6.1.4.1.311.20.2.3" : s->oid,
                                           1);

            ASN1_STRING_set(u, s->value, -1);
            ASN1_TYPE_set(val, V_ASN1_UTF8STRING, u);
            if (!oid || !GENERAL_NAME_set0_othername(gn, oid, val)) {
                tc_fail("GENERAL_NAME_set0_othername");
            }
        }
        else {
            ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
            int type = s->type == TC_SAN_EMAIL ? GEN_EMAIL
                       : s->type == TC_SAN_DNS ? GEN_DNS : GEN_URI;

            ASN1_STRING_set(ia5, s->value, -1);
            GENERAL_NAME_set0_value(gn, type, ia5);
        }
        sk_GENERAL_NAME_push(gens, gn);
    }
    return gens;
}

/* certificatePolicies from comma-separated OIDs (the X509V3 config
 * method for it needs a config database). */
static void add_policies(X509 *x, const char *oids)
{
    CERTIFICATEPOLICIES *pols = CERTIFICATEPOLICIES_new();
    char *copy = OPENSSL_strdup(oids), *tok, *save = NULL;

    for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        POLICYINFO *pi = POLICYINFO_new();

        ASN1_OBJECT_free(pi->policyid);
        pi->policyid = OBJ_txt2obj(tok, 1);
        if (!pi->policyid) {
            tc_fail("policy OID");
        }
        sk_POLICYINFO_push(pols, pi);
    }
    OPENSSL_free(copy);
    if (!X509_add1_ext_i2d(x, NID_certificate_policies, pols, 0,
                           X509V3_ADD_DEFAULT)) {
        tc_fail("certificatePolicies");
    }
    CERTIFICATEPOLICIES_free(pols);
}

X509 *tc_cert(apr_pool_t *p, const tc_spec *s, EVP_PKEY **key_out)
{
    X509 *x = X509_new(), *rt;
    EVP_PKEY *key = s->key ? s->key : tc_key(p);
    X509_NAME *subject = X509_NAME_new();
    BIGNUM *bn = NULL;
    ASN1_INTEGER *serial;
    X509V3_CTX ctx;
    unsigned char *der = NULL;
    const unsigned char *q;
    int len;

    if (!x || !subject) {
        tc_fail("X509_new");
    }
    X509_set_version(x, X509_VERSION_3);
    if (!BN_hex2bn(&bn, s->serial ? s->serial : "1001")
        || !(serial = BN_to_ASN1_INTEGER(bn, NULL))) {
        tc_fail("serial");
    }
    X509_set_serialNumber(x, serial);
    ASN1_INTEGER_free(serial);
    BN_free(bn);
    add_attrs(subject, s->subject);
    X509_set_subject_name(x, subject);
    X509_set_issuer_name(x, s->issuer ? X509_get_subject_name(s->issuer)
                                      : subject);
    X509_NAME_free(subject);
    if (!ASN1_TIME_set(X509_getm_notBefore(x),
                       s->not_before ? s->not_before : TC_NOT_BEFORE)
        || !ASN1_TIME_set(X509_getm_notAfter(x),
                          s->not_after ? s->not_after : TC_NOT_AFTER)) {
        tc_fail("validity");
    }
    X509_set_pubkey(x, key);

    X509V3_set_ctx(&ctx, s->issuer ? s->issuer : x, x, NULL, NULL, 0);
    add_ext(x, &ctx, NID_basic_constraints,
            s->ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    add_ext(x, &ctx, NID_key_usage,
            s->ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
    if (!s->no_key_ids) {
        add_ext(x, &ctx, NID_subject_key_identifier, "hash");
        if (s->issuer && X509_get_ext_by_NID(s->issuer,
                                             NID_subject_key_identifier,
                                             -1) >= 0) {
            add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always");
        }
    }
    if (s->san) {
        GENERAL_NAMES *gens = make_sans(s->san);
        if (!X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0,
                               X509V3_ADD_DEFAULT)) {
            tc_fail("subjectAltName");
        }
        GENERAL_NAMES_free(gens);
    }
    if (s->eku) {
        add_ext(x, &ctx, NID_ext_key_usage, s->eku);
    }
    if (s->policy_constraints) {
        add_ext(x, &ctx, NID_policy_constraints, s->policy_constraints);
    }
    if (s->policies) {
        add_policies(x, s->policies);
    }
    if (!X509_sign(x, s->issuer ? s->issuer_key : key, EVP_sha256())) {
        tc_fail("X509_sign");
    }

    /* DER round trip, as a server gets the certificate */
    len = i2d_X509(x, &der);
    X509_free(x);
    q = der;
    rt = len > 0 ? d2i_X509(NULL, &q, len) : NULL;
    OPENSSL_free(der);
    if (!rt) {
        tc_fail("certificate DER round trip");
    }
    apr_pool_cleanup_register(p, rt, free_x509, apr_pool_cleanup_null);
    if (key_out) {
        *key_out = key;
    }
    return rt;
}

static const tc_attr root_dn[] = {
    { "C", "US" }, { "O", "Example Corp" }, { "CN", "Test Root CA" }, { NULL }
};
static const tc_attr inter_dn[] = {
    { "C", "US" }, { "O", "Example Corp" }, { "CN", "Test Issuing CA" }, { NULL }
};
static const tc_attr leaf_dn[] = {
    { "C", "US" }, { "O", "Example Corp" }, { "CN", "alice" }, { NULL }
};

void tc_pki_make(apr_pool_t *p, tc_pki *pki, int key_ids)
{
    EVP_PKEY *fake_inter_key;
    tc_spec s;

    memset(pki, 0, sizeof(*pki));
    memset(&s, 0, sizeof(s));
    s.subject = root_dn;
    s.ca = 1;
    s.serial = "01";
    s.no_key_ids = !key_ids;
    pki->root = tc_cert(p, &s, &pki->root_key);
    pki->fake_root = tc_cert(p, &s, NULL);

    s.subject = inter_dn;
    s.issuer = pki->root;
    s.issuer_key = pki->root_key;
    s.serial = "02";
    pki->inter = tc_cert(p, &s, &pki->inter_key);
    s.serial = "03";
    pki->fake_inter = tc_cert(p, &s, &fake_inter_key);

    s.subject = leaf_dn;
    s.ca = 0;
    s.serial = "1001";
    s.issuer = pki->inter;
    s.issuer_key = pki->inter_key;
    s.eku = "clientAuth";
    pki->leaf = tc_cert(p, &s, &pki->leaf_key);
    s.issuer = pki->fake_inter;
    s.issuer_key = fake_inter_key;
    pki->fake_leaf = tc_cert(p, &s, NULL);
}

X509 *tc_pki_inter_twin(apr_pool_t *p, const tc_pki *pki, const char *serial,
                        time_t not_before, time_t not_after)
{
    tc_spec s;

    memset(&s, 0, sizeof(s));
    s.subject = inter_dn;
    s.issuer = pki->root;
    s.issuer_key = pki->root_key;
    s.key = pki->inter_key;
    s.ca = 1;
    s.serial = serial;
    s.not_before = not_before;
    s.not_after = not_after;
    s.no_key_ids = X509_get_ext_by_NID(pki->inter, NID_subject_key_identifier,
                                       -1) < 0;
    return tc_cert(p, &s, NULL);
}

/* ---------------------------------------------------------------------- */
/* Stacks, stores, files                                                   */
/* ---------------------------------------------------------------------- */

STACK_OF(X509) *tc_stack(apr_pool_t *p, ...)
{
    STACK_OF(X509) *sk = sk_X509_new_null();
    va_list ap;
    X509 *x;

    va_start(ap, p);
    while ((x = va_arg(ap, X509 *)) != NULL) {
        X509_up_ref(x);
        sk_X509_push(sk, x);
    }
    va_end(ap);
    apr_pool_cleanup_register(p, sk, free_stack, apr_pool_cleanup_null);
    return sk;
}

X509_STORE *tc_store(apr_pool_t *p, ...)
{
    X509_STORE *st = X509_STORE_new();
    va_list ap;
    X509 *x;

    va_start(ap, p);
    while ((x = va_arg(ap, X509 *)) != NULL) {
        if (!X509_STORE_add_cert(st, x)) {
            tc_fail("X509_STORE_add_cert");
        }
    }
    va_end(ap);
    apr_pool_cleanup_register(p, st, free_store, apr_pool_cleanup_null);
    return st;
}

STACK_OF(X509) *tc_verify(apr_pool_t *p, X509 *leaf, X509_STORE *trusted,
                          STACK_OF(X509) *untrusted)
{
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    STACK_OF(X509) *chain = NULL;

    if (!ctx || !X509_STORE_CTX_init(ctx, trusted, leaf, untrusted)) {
        tc_fail("X509_STORE_CTX_init");
    }
    if (X509_verify_cert(ctx) != 1) {
        const char *err = X509_verify_cert_error_string(
            X509_STORE_CTX_get_error(ctx));
        X509_STORE_CTX_free(ctx);
        ck_abort_msg("testcert: verification failed: %s", err);
    }
    chain = X509_STORE_CTX_get1_chain(ctx);
    X509_STORE_CTX_free(ctx);
    apr_pool_cleanup_register(p, chain, free_stack, apr_pool_cleanup_null);
    return chain;
}

static const char *temp_file(apr_pool_t *p, FILE **fp)
{
    char *path = apr_pstrdup(p, "/tmp/x509a-unit-XXXXXX");
    int fd = mkstemp(path);

    if (fd < 0 || !(*fp = fdopen(fd, "w"))) {
        ck_abort_msg("testcert: cannot create a temporary file");
    }
    apr_pool_cleanup_register(p, path, remove_file, apr_pool_cleanup_null);
    return path;
}

const char *tc_pem_file(apr_pool_t *p, ...)
{
    FILE *fp;
    const char *path = temp_file(p, &fp);
    va_list ap;
    X509 *x;

    va_start(ap, p);
    while ((x = va_arg(ap, X509 *)) != NULL) {
        PEM_write_X509(fp, x);
    }
    va_end(ap);
    fclose(fp);
    return path;
}

const char *tc_text_file(apr_pool_t *p, const char *text)
{
    FILE *fp;
    const char *path = temp_file(p, &fp);

    fputs(text, fp);
    fclose(fp);
    return path;
}

const char *tc_temp_dir(apr_pool_t *p)
{
    char *path = apr_pstrdup(p, "/tmp/x509a-unit-XXXXXX");

    if (!mkdtemp(path)) {
        ck_abort_msg("testcert: cannot create a temporary directory");
    }
    apr_pool_cleanup_register(p, path, remove_dir, apr_pool_cleanup_null);
    return path;
}

void tc_write_file(const char *path, const char *data, size_t len)
{
    char tmp[4096];
    FILE *fp;

    snprintf(tmp, sizeof(tmp), "%s.new", path);
    fp = fopen(tmp, "wb");
    if (!fp || fwrite(data, 1, len, fp) != len || fclose(fp) != 0
        || rename(tmp, path) != 0) {
        ck_abort_msg("testcert: cannot write %s", path);
    }
}

/* ---------------------------------------------------------------------- */
/* Encodings, CRLs                                                         */
/* ---------------------------------------------------------------------- */

char *tc_cert_pem(apr_pool_t *p, X509 *x)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data;
    long len;
    char *s;

    if (!bio || !PEM_write_bio_X509(bio, x)) {
        tc_fail("PEM_write_bio_X509");
    }
    len = BIO_get_mem_data(bio, &data);
    s = apr_pstrmemdup(p, data, len > 0 ? (apr_size_t)len : 0);
    BIO_free(bio);
    return s;
}

unsigned char *tc_cert_der(apr_pool_t *p, X509 *x, size_t *len)
{
    unsigned char *der = NULL, *copy;
    int n = i2d_X509(x, &der);

    if (n <= 0) {
        tc_fail("i2d_X509");
    }
    copy = apr_pmemdup(p, der, (apr_size_t)n);
    OPENSSL_free(der);
    *len = (size_t)n;
    return copy;
}

char *tc_cert_base64(apr_pool_t *p, X509 *x)
{
    size_t len;
    unsigned char *der = tc_cert_der(p, x, &len);

    return tc_base64(p, der, len);
}

static X509_CRL *crl_build(apr_pool_t *p, X509 *issuer, EVP_PKEY *key,
                           time_t last_update, time_t next_update,
                           long number, long delta_base,
                           const char *freshest, va_list ap);

X509_CRL *tc_crl(apr_pool_t *p, X509 *issuer, EVP_PKEY *key,
                 time_t last_update, time_t next_update, ...)
{
    X509_CRL *crl;
    va_list ap;

    va_start(ap, next_update);
    crl = crl_build(p, issuer, key, last_update, next_update, -1, -1, NULL, ap);
    va_end(ap);
    return crl;
}

X509_CRL *tc_crl_numbered(apr_pool_t *p, X509 *issuer, EVP_PKEY *key,
                          long number, long delta_base, const char *freshest,
                          ...)
{
    X509_CRL *crl;
    va_list ap;

    va_start(ap, freshest);
    crl = crl_build(p, issuer, key, 0, 0, number, delta_base, freshest, ap);
    va_end(ap);
    return crl;
}

static void crl_add_int_ext(X509_CRL *crl, int nid, long value)
{
    ASN1_INTEGER *n = ASN1_INTEGER_new();

    if (!n || !ASN1_INTEGER_set(n, value)
        || !X509_CRL_add1_ext_i2d(crl, nid, n, 0, 0)) {
        tc_fail("CRL integer extension");
    }
    ASN1_INTEGER_free(n);
}

static X509_CRL *crl_build(apr_pool_t *p, X509 *issuer, EVP_PKEY *key,
                           time_t last_update, time_t next_update,
                           long number, long delta_base,
                           const char *freshest, va_list ap)
{
    X509_CRL *crl = X509_CRL_new();
    ASN1_TIME *t = ASN1_TIME_new();
    time_t now = time(NULL);
    const char *hex;

    if (!crl || !t || !X509_CRL_set_version(crl, X509_CRL_VERSION_2)
        || !X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer))) {
        tc_fail("X509_CRL_new");
    }
    if (!ASN1_TIME_set(t, last_update ? last_update : now - 3600)
        || !X509_CRL_set1_lastUpdate(crl, t)
        || !ASN1_TIME_set(t, next_update ? next_update : now + 30 * 86400)
        || !X509_CRL_set1_nextUpdate(crl, t)) {
        tc_fail("CRL dates");
    }
    if (number >= 0) {
        crl_add_int_ext(crl, NID_crl_number, number);
    }
    if (delta_base >= 0) {
        /* a delta CRL (RFC 5280 5.2.4), critical as the RFC requires */
        ASN1_INTEGER *n = ASN1_INTEGER_new();

        if (!n || !ASN1_INTEGER_set(n, delta_base)
            || !X509_CRL_add1_ext_i2d(crl, NID_delta_crl, n, 1, 0)) {
            tc_fail("deltaCRLIndicator");
        }
        ASN1_INTEGER_free(n);
    }
    if (freshest) {
        X509V3_CTX ctx;
        X509_EXTENSION *ext;

        X509V3_set_ctx(&ctx, issuer, NULL, NULL, crl, 0);
        ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_freshest_crl,
                                  apr_pstrcat(p, "URI:", freshest, NULL));
        if (!ext || !X509_CRL_add_ext(crl, ext, -1)) {
            tc_fail("freshestCRL");
        }
        X509_EXTENSION_free(ext);
    }
    while ((hex = va_arg(ap, const char *)) != NULL) {
        X509_REVOKED *r = X509_REVOKED_new();
        BIGNUM *bn = NULL;
        ASN1_INTEGER *serial = NULL;
        ASN1_TIME *when = ASN1_TIME_new();

        if (!r || !when || !BN_hex2bn(&bn, hex)
            || !(serial = BN_to_ASN1_INTEGER(bn, NULL))) {
            tc_fail("revoked serial");
        }
        ASN1_TIME_set(when, now - 7200);
        X509_REVOKED_set_serialNumber(r, serial);
        X509_REVOKED_set_revocationDate(r, when);
        ASN1_INTEGER_free(serial);
        ASN1_TIME_free(when);
        BN_free(bn);
        if (!X509_CRL_add0_revoked(crl, r)) {
            tc_fail("X509_CRL_add0_revoked");
        }
    }
    ASN1_TIME_free(t);
    X509_CRL_sort(crl);
    if (!X509_CRL_sign(crl, key, EVP_sha256())) {
        tc_fail("X509_CRL_sign");
    }
    apr_pool_cleanup_register(p, crl, free_crl, apr_pool_cleanup_null);
    return crl;
}

char *tc_crl_pem(apr_pool_t *p, X509_CRL *crl)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data;
    long len;
    char *s;

    if (!bio || !PEM_write_bio_X509_CRL(bio, crl)) {
        tc_fail("PEM_write_bio_X509_CRL");
    }
    len = BIO_get_mem_data(bio, &data);
    s = apr_pstrmemdup(p, data, len > 0 ? (apr_size_t)len : 0);
    BIO_free(bio);
    return s;
}

/* ---------------------------------------------------------------------- */
/* Reference values                                                        */
/* ---------------------------------------------------------------------- */

char *tc_name_print(apr_pool_t *p, const X509_NAME *name, unsigned long flags)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data;
    long len;
    char *s;

    X509_NAME_print_ex(bio, name, 0, flags);
    len = BIO_get_mem_data(bio, &data);
    s = apr_pstrmemdup(p, data, len > 0 ? (apr_size_t)len : 0);
    BIO_free(bio);
    return s;
}

char *tc_name_oneline(apr_pool_t *p, const X509_NAME *name)
{
    char *cp = X509_NAME_oneline(name, NULL, 0);
    char *s = apr_pstrdup(p, cp);

    OPENSSL_free(cp);
    return s;
}

char *tc_hex(apr_pool_t *p, const unsigned char *d, size_t len)
{
    char *out = apr_palloc(p, 2 * len + 1);
    size_t i;

    for (i = 0; i < len; i++) {
        sprintf(out + 2 * i, "%02X", d[i]);
    }
    out[2 * len] = '\0';
    return out;
}

char *tc_hex_colons_lower(apr_pool_t *p, const unsigned char *d, size_t len)
{
    char *out = apr_palloc(p, 3 * len + 1), *o = out;
    size_t i;

    for (i = 0; i < len; i++) {
        if (i) {
            *o++ = ':';
        }
        sprintf(o, "%02x", d[i]);
        o += 2;
    }
    *o = '\0';
    return out;
}

char *tc_digest_hex(apr_pool_t *p, X509 *x, const EVP_MD *md)
{
    unsigned char buf[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    if (!X509_digest(x, md, buf, &n)) {
        tc_fail("X509_digest");
    }
    return tc_hex(p, buf, n);
}

void tc_spki_sha256(X509 *x, unsigned char out[32])
{
    unsigned char *der = NULL;
    int len = i2d_PUBKEY(X509_get0_pubkey(x), &der);
    unsigned int n = 0;

    if (len <= 0 || !EVP_Digest(der, (size_t)len, out, &n, EVP_sha256(), NULL)
        || n != 32) {
        tc_fail("SPKI digest");
    }
    OPENSSL_free(der);
}

char *tc_base64(apr_pool_t *p, const unsigned char *d, size_t len)
{
    char *out = apr_palloc(p, 4 * ((len + 2) / 3) + 1);

    EVP_EncodeBlock((unsigned char *)out, d, (int)len);
    return out;
}

int tc_contains(const char *haystack, const char *needle)
{
    return haystack && strstr(haystack, needle) != NULL;
}

const OSSL_PROVIDER *tc_check_d2i_x509(apr_pool_t *p, const tc_pki *pki)
{
    size_t len;
    const unsigned char *der = tc_cert_der(p, pki->leaf, &len);
    const unsigned char *q = der;
    X509 *x = x509a_d2i_x509(&q, (long)len), *fake;
    X509_STORE *store = tc_store(p, pki->root, NULL);
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    STACK_OF(X509) *untrusted = tc_stack(p, pki->inter, NULL);
    const OSSL_PROVIDER *prov;

    ck_assert_ptr_nonnull(x);
    ck_assert(q == der + len);
    ck_assert_int_eq(X509_cmp(x, pki->leaf), 0);
    prov = EVP_PKEY_get0_provider(X509_get0_pubkey(x));
    ck_assert_int_eq(X509_verify(x, X509_get0_pubkey(pki->inter)), 1);
    ck_assert_int_le(X509_verify(x, X509_get0_pubkey(pki->root)), 0);
    ck_assert_int_le(X509_verify(x, X509_get0_pubkey(pki->fake_inter)), 0);
    /* the other way: a default-context certificate under a decoded key */
    ck_assert_int_eq(X509_verify(pki->leaf, X509_get0_pubkey(x)), 0);
    /* a whole chain, the leaf decoded, the rest from the default context */
    ck_assert(X509_STORE_CTX_init(ctx, store, x, untrusted) == 1);
    ck_assert_int_eq(X509_verify_cert(ctx), 1);
    X509_STORE_CTX_free(ctx);
    /* a decoded leaf signed by a lookalike key does not verify */
    der = tc_cert_der(p, pki->fake_leaf, &len);
    q = der;
    fake = x509a_d2i_x509(&q, (long)len);
    ck_assert_ptr_nonnull(fake);
    ck_assert_int_le(X509_verify(fake, X509_get0_pubkey(pki->inter)), 0);
    X509_free(fake);
    X509_free(x);
    /* truncated: NULL, nothing kept */
    q = der;
    ck_assert_ptr_null(x509a_d2i_x509(&q, (long)len - 1));
    ERR_clear_error();
    return prov;
}
