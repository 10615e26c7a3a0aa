/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/* Helpers shared by the fuzz targets (see fuzz_common.h). */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <apr_general.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include <apr_tables.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "x509a_print.h"
#include "fuzz_common.h"
#include "fixtures.h"

volatile size_t fz_sink;

static apr_pool_t *global_pool;

void fz_fail(const char *fmt, ...)
{
    va_list ap;

    fputs("fuzz invariant broken: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

apr_pool_t *fz_init(void)
{
    if (!global_pool) {
        if (apr_initialize() != APR_SUCCESS
            || apr_pool_create(&global_pool, NULL) != APR_SUCCESS) {
            fz_fail("apr_initialize");
        }
        /* pools are destroyed (their cleanups run) before LeakSanitizer
         * looks: what a pool's mmap'ed memory points to is not seen */
        atexit(apr_terminate);
    }
    return global_pool;
}

char *fz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);

    if (!s) {
        fz_fail("out of memory");
    }
    if (size) {
        memcpy(s, data, size);
    }
    s[size] = '\0';
    return s;
}

size_t fz_touch(const char *s)
{
    size_t h = 0;

    if (!s) {
        return 0;
    }
    for (; *s; s++) {
        h = h * 31 + (unsigned char)*s;
    }
    fz_sink += h;
    return h;
}

static void touch_bytes(const void *d, size_t n)
{
    const unsigned char *b = d;
    size_t h = 0, i;

    for (i = 0; i < n; i++) {
        h = h * 31 + b[i];
    }
    fz_sink += h;
}

/* ---------------------------------------------------------------------- */
/* Fixtures                                                                */
/* ---------------------------------------------------------------------- */

static fz_pki pki;
static int have_pki;

static X509 *pem_cert(const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;

    BIO_free(bio);
    if (!x) {
        fz_fail("fixtures.h: bad PEM certificate");
    }
    return x;
}

static char tmpdir[64];

static const char *write_file(const char *name, const char *a, const char *b)
{
    char *path = apr_pstrcat(global_pool, tmpdir, "/", name, NULL);
    FILE *f = fopen(path, "w");

    if (!f || fputs(a, f) < 0 || (b && fputs(b, f) < 0) || fclose(f) != 0) {
        fz_fail("cannot write %s", path);
    }
    return path;
}

void fz_fixture_files_remove(void)
{
    if (tmpdir[0]) {
        unlink(pki.ca_file);
        unlink(pki.root_file);
        unlink(pki.inter_file);
        unlink(pki.crl_file);
        rmdir(tmpdir);
        tmpdir[0] = '\0';
    }
}

const fz_pki *fz_fixtures(void)
{
    if (!have_pki) {
        fz_init();
        pki.root = pem_cert(fx_root_pem);
        pki.inter = pem_cert(fx_inter_pem);
        pki.fakeinter = pem_cert(fx_fakeinter_pem);
        pki.leaf = pem_cert(fx_leaf_pem);
        strcpy(tmpdir, "/tmp/x509a-fuzz-XXXXXX");
        if (!mkdtemp(tmpdir)) {
            fz_fail("mkdtemp");
        }
        pki.ca_file = write_file("ca.pem", fx_root_pem, fx_inter_pem);
        pki.root_file = write_file("root.pem", fx_root_pem, NULL);
        pki.inter_file = write_file("inter.pem", fx_inter_pem, NULL);
        pki.crl_file = write_file("crl.pem", fx_crls_pem, NULL);
        atexit(fz_fixture_files_remove);
        have_pki = 1;
    }
    return &pki;
}

STACK_OF(X509) *fz_stack(X509 *first, ...)
{
    STACK_OF(X509) *sk = sk_X509_new_null();
    va_list ap;
    X509 *x;

    if (!sk) {
        fz_fail("out of memory");
    }
    va_start(ap, first);
    for (x = first; x; x = va_arg(ap, X509 *)) {
        X509_up_ref(x);
        sk_X509_push(sk, x);
    }
    va_end(ap);
    return sk;
}

/* ---------------------------------------------------------------------- */
/* Every accessor of an x509a_cert                                         */
/* ---------------------------------------------------------------------- */

void fz_touch_dn(const x509a_dn *dn)
{
    int i, j;

    touch_bytes(dn->canon, dn->canon_len + 1);
    for (i = 0; i < dn->rdns->nelts; i++) {
        const apr_array_header_t *rdn =
            APR_ARRAY_IDX(dn->rdns, i, apr_array_header_t *);
        if (rdn->nelts < 1) {
            fz_fail("an RDN without AVAs");
        }
        for (j = 0; j < rdn->nelts; j++) {
            const x509a_ava *a = &APR_ARRAY_IDX(rdn, j, x509a_ava);
            fz_touch(a->oid);
            touch_bytes(a->value, a->value_len + 1);
            if (a->value[a->value_len] != '\0') {
                fz_fail("AVA value not NUL-terminated");
            }
        }
    }
    if (!x509a_dn_equal(dn, dn) && !dn->unmatchable) {
        fz_fail("a DN differs from itself");
    }
}

static int strict = -1, skip_reported;
static unsigned long roundtrip_mismatches;

static void print_canon(const char *what, const x509a_dn *dn)
{
    apr_size_t i;

    fprintf(stderr, "  %s canon (%lu bytes): ", what,
            (unsigned long)dn->canon_len);
    for (i = 0; i < dn->canon_len; i++) {
        unsigned char ch = (unsigned char)dn->canon[i];
        if (ch >= 0x20 && ch < 0x7f && ch != '\\') {
            fputc(ch, stderr);
        }
        else {
            fprintf(stderr, "\\x%02x", ch);
        }
    }
    fputc('\n', stderr);
}

/* Mismatches that are not (or not yet) bugs of the code under test:
 * 2 = by design, always skipped; 1 = reported, open, skipped with
 * X509A_FUZZ_SKIP_REPORTED=1 (see regressions/README); 0 = other. */
static int known_mismatch(const x509a_dn *dn)
{
    int i, j, known = 0;

    if (dn->unmatchable) {
        /* a code point RFC 4518 prohibits: x509a_dn_parse() refuses it
         * on purpose (such a DN could never match) */
        return 2;
    }
    for (i = 0; i < dn->rdns->nelts; i++) {
        const apr_array_header_t *rdn =
            APR_ARRAY_IDX(dn->rdns, i, apr_array_header_t *);
        for (j = 0; j < rdn->nelts; j++) {
            const x509a_ava *a = &APR_ARRAY_IDX(rdn, j, x509a_ava);
            if (!a->is_hex && memchr(a->value, '\0', a->value_len)) {
                /* x509a_dn_parse() refuses NUL bytes on purpose */
                return 2;
            }
            if (strlen(a->oid) >= 80) {
                /* X509_NAME_print_ex() cuts OIDs at 79 characters (as
                 * mod_ssl prints them too) */
                return 2;
            }
            if (strcmp(a->oid, "0.9.2342.19200300.100.1.44") == 0) {
                /* OpenSSL prints uniqueIdentifier as "uid", which
                 * x509a_attr_type() resolves to UID (userId) */
                known = 1;
            }
        }
    }
    return known;
}

static void roundtrip_report(void)
{
    fprintf(stderr, "fuzz: %lu printed DN(s) did not parse back to the "
            "certificate's DN (X509A_FUZZ_STRICT=0 counts them instead of "
            "stopping at the first)\n", roundtrip_mismatches);
}

void fz_check_print_roundtrip(apr_pool_t *p, const char *printed,
                              const x509a_dn *expected)
{
    x509a_dn *parsed = NULL;
    const char *err;
    int known;

    if (strict < 0) {
        const char *e = getenv("X509A_FUZZ_STRICT");
        strict = !(e && *e == '0');
        e = getenv("X509A_FUZZ_SKIP_REPORTED");
        skip_reported = e && *e == '1';
    }
    if (!printed || !*printed) {
        /* an empty DN prints as "", which is not a DN to parse */
        return;
    }
    err = x509a_dn_parse(p, printed, &parsed);
    if (!err && x509a_dn_equal(parsed, expected)) {
        return;
    }
    known = known_mismatch(expected);
    if (known == 2 || (known == 1 && skip_reported)) {
        return;
    }
    if (roundtrip_mismatches++ == 0 && !strict) {
        atexit(roundtrip_report);
    }
    if (strict) {
        fprintf(stderr, "printed DN: %s\n", printed);
        if (err) {
            fprintf(stderr, "  does not parse: %s\n", err);
        }
        else {
            print_canon("parsed", parsed);
        }
        print_canon("certificate", expected);
        fz_fail("a printed DN does not parse back to the certificate's DN");
    }
}

/* ---------------------------------------------------------------------- */
/* x509a_print.c and the cert.c formatters against OpenSSL's own output     */
/* ---------------------------------------------------------------------- */

static const char *bio_text(apr_pool_t *p, BIO *bio)
{
    char *data;
    long len = BIO_get_mem_data(bio, &data);
    const char *s = len > 0 ? apr_pstrmemdup(p, data, (apr_size_t)len) : "";

    BIO_free(bio);
    return s;
}

static const char *ossl_name(apr_pool_t *p, const X509_NAME *n,
                             unsigned long flags)
{
    BIO *bio = BIO_new(BIO_s_mem());

    X509_NAME_print_ex(bio, n, 0, flags);
    return bio_text(p, bio);
}

static const char *ossl_string(apr_pool_t *p, const ASN1_STRING *s)
{
    BIO *bio = BIO_new(BIO_s_mem());

    ASN1_STRING_print_ex(bio, s, ASN1_STRFLGS_ESC_CTRL
                                 | ASN1_STRFLGS_UTF8_CONVERT);
    return bio_text(p, bio);
}

static void print_escaped(const char *label, const char *s)
{
    fprintf(stderr, "  %s: \"", label);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch >= 0x20 && ch < 0x7f && ch != '\\' && ch != '"') {
            fputc(ch, stderr);
        }
        else {
            fprintf(stderr, "\\x%02x", ch);
        }
    }
    fputs("\"\n", stderr);
}

static void same(const char *what, const char *ours, const char *openssl)
{
    if (strcmp(ours ? ours : "(null)", openssl) != 0) {
        print_escaped("x509a  ", ours ? ours : "(null)");
        print_escaped("OpenSSL", openssl);
        fz_fail("%s differs from what OpenSSL prints", what);
    }
}

static void check_name_printing(apr_pool_t *p, const X509_NAME *n,
                                const char *printed, const char *what)
{
    int i;

    same(what, printed, ossl_name(p, n, XN_FLAG_RFC2253
                                        & ~ASN1_STRFLGS_ESC_MSB));
    same("x509a_print_name(escape_msb)", x509a_print_name(p, n, 1),
         ossl_name(p, n, XN_FLAG_RFC2253));
    for (i = 0; i < X509_NAME_entry_count(n); i++) {
        const ASN1_STRING *v =
            X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i));
        same("x509a_print_string (DN attribute)", x509a_print_string(p, v),
             ossl_string(p, v));
    }
}

/* What mod_ssl would export, printed by OpenSSL, against what x509a
 * prints itself (x509a_print.h promises byte-identical output). */
static void check_printing(x509a_cert *c, apr_pool_t *p)
{
    X509 *x = x509a_cert_x509(c);
    GENERAL_NAMES *names;
    BIO *bio;
    int i;

    check_name_printing(p, X509_get_subject_name(x), x509a_cert_subject(c),
                        "subject DN");
    check_name_printing(p, X509_get_issuer_name(x), x509a_cert_issuer(c),
                        "issuer DN");

    names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    for (i = 0; i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
        const ASN1_STRING *s = NULL;

        switch (gn->type) {
        case GEN_EMAIL:
        case GEN_DNS:
        case GEN_URI:
            s = gn->d.ia5;
            break;
        case GEN_OTHERNAME:
            if (gn->d.otherName->value->type == V_ASN1_UTF8STRING) {
                s = gn->d.otherName->value->value.utf8string;
            }
            break;
        default:
            break;
        }
        if (s) {
            same("x509a_print_string (subjectAltName)",
                 x509a_print_string(p, s), ossl_string(p, s));
        }
    }
    GENERAL_NAMES_free(names);
    ERR_clear_error();

    bio = BIO_new(BIO_s_mem());
    i2a_ASN1_INTEGER(bio, X509_get0_serialNumber(x));
    same("X509_CLIENT_M_SERIAL", x509a_cert_serial_hex(c), bio_text(p, bio));
    bio = BIO_new(BIO_s_mem());
    ASN1_TIME_print(bio, X509_get0_notBefore(x));
    same("X509_CLIENT_V_START",
         x509a_cert_var(c, p, "X509_CLIENT_V_START", 0), bio_text(p, bio));
    bio = BIO_new(BIO_s_mem());
    ASN1_TIME_print(bio, X509_get0_notAfter(x));
    same("X509_CLIENT_V_END",
         x509a_cert_var(c, p, "X509_CLIENT_V_END", 0), bio_text(p, bio));
}

static const char *const field_names[] = {
    "subject", "subject-legacy", "cn", "subject:OU", "subject:2.5.4.10",
    "subject:emailAddress", "subject:UID", "subject:DC", "subject:C",
    "email", "upn", "uri", "dns", "serial", "issuer+serial", "sha256", NULL
};

static const char *const attr_oids[] = {
    "2.5.4.3", "2.5.4.11", "2.5.4.10", "2.5.4.6", "1.2.840.113549.1.9.1",
    "0.9.2342.19200300.100.1.1", "0.9.2342.19200300.100.1.25", "1.2.3.4.5",
    NULL
};

static const char *const var_names[] = {
    "X509_CLIENT_S_DN", "X509_CLIENT_S_DN_CN", "X509_CLIENT_S_DN_CN_0",
    "X509_CLIENT_S_DN_CN_1", "X509_CLIENT_S_DN_OU_2", "X509_CLIENT_S_DN_Email",
    "X509_CLIENT_S_DN_UID", "X509_CLIENT_S_DN_DC_1", "X509_CLIENT_I_DN",
    "X509_CLIENT_I_DN_O_0", "X509_CLIENT_I_DN_CN", "X509_CLIENT_M_SERIAL",
    "X509_CLIENT_SERIAL_DEC", "X509_CLIENT_FINGERPRINT_SHA256",
    "X509_CLIENT_FINGERPRINT_SHA1", "X509_CLIENT_V_START", "X509_CLIENT_V_END",
    "X509_CLIENT_V_REMAIN", "X509_CLIENT_SAN_Email_0", "X509_CLIENT_SAN_DNS_1",
    "X509_CLIENT_SAN_URI_0", "X509_CLIENT_SAN_UPN_0", "X509_CLIENT_S_DN_",
    "X509_CLIENT_S_DN__0", "X509_CLIENT_S_DN_0", "X509_CLIENT_NOPE", "_0", "",
    NULL
};

static void exercise_vars(x509a_cert *c, x509a_vars_style style)
{
    const apr_array_header_t *vars = x509a_cert_vars(c, style);
    const apr_table_t *t = x509a_cert_vars_table(c, style);
    int i;

    if (x509a_cert_vars(c, style) != vars) {
        fz_fail("variables recomputed");
    }
    for (i = 0; i < vars->nelts; i++) {
        const x509a_var *v = &APR_ARRAY_IDX(vars, i, x509a_var);
        fz_touch(v->name);
        fz_touch(v->value);
        if (!apr_table_get(t, v->name)) {
            fz_fail("variable %s missing from the table", v->name);
        }
    }
}

void fz_exercise_cert(x509a_cert *c, apr_pool_t *p)
{
    const x509a_dn *sdn, *idn;
    const x509a_serial *serial;
    const unsigned char *md;
    time_t nb, na;
    unsigned char memo_key[X509A_MEMO_KEY_LEN];
    int i, k, value;

    fz_touch(x509a_cert_leaf_problem(c));
    fz_touch(x509a_cert_subject(c));
    fz_touch(x509a_cert_subject_legacy(c));
    fz_touch(x509a_cert_issuer(c));
    sdn = x509a_cert_subject_dn(c);
    idn = x509a_cert_issuer_dn(c);
    fz_touch_dn(sdn);
    fz_touch_dn(idn);
    fz_check_print_roundtrip(p, x509a_cert_subject(c), sdn);
    fz_check_print_roundtrip(p, x509a_cert_issuer(c), idn);
    check_printing(c, p);
    fz_sink += x509a_dn_equal(sdn, idn) + x509a_dn_looks_reversed(sdn);

    serial = x509a_cert_serial(c);
    touch_bytes(serial->mag, serial->len);
    if (!x509a_serial_equal(serial, serial)
        || (serial->len && serial->mag[0] == 0)) {
        fz_fail("serial not normalised");
    }
    fz_touch(x509a_cert_serial_hex(c));
    fz_touch(x509a_cert_serial_dec(c));

    touch_bytes(x509a_cert_digest(c, X509A_DIGEST_SHA1), 20);
    touch_bytes(x509a_cert_digest(c, X509A_DIGEST_SHA256), 32);
    fz_touch(x509a_cert_digest_hex(c, X509A_DIGEST_SHA1));
    fz_touch(x509a_cert_digest_hex(c, X509A_DIGEST_SHA256));
    if ((md = x509a_cert_spki_sha256(c)) != NULL) {
        touch_bytes(md, 32);
    }

    for (k = 0; k < X509A_SAN_KINDS; k++) {
        const apr_array_header_t *a = x509a_cert_san(c, (x509a_san_kind)k);
        for (i = 0; i < a->nelts; i++) {
            fz_touch(APR_ARRAY_IDX(a, i, const char *));
        }
    }
    for (k = 0; attr_oids[k]; k++) {
        for (i = 0; i < 3; i++) {
            fz_touch(x509a_cert_subject_attr(c, attr_oids[k], i));
        }
    }

    fz_sink += (size_t)x509a_cert_days_remaining(c, 0);
    fz_sink += (size_t)x509a_cert_days_remaining(c, (time_t)1767225600);
    fz_sink += (size_t)x509a_cert_days_remaining(c, (time_t)0x7fffffffffffffffLL);
    x509a_cert_validity(c, &nb, &na);
    x509a_cert_validity(c, NULL, NULL);
    fz_sink += (size_t)(nb ^ na);

    fz_touch(x509a_cert_pem(c));
    {
        const apr_array_header_t *chain = x509a_cert_chain_pem(c);
        for (i = 0; i < chain->nelts; i++) {
            fz_touch(APR_ARRAY_IDX(chain, i, const char *));
        }
    }
    fz_touch(x509a_cert_describe(c));

    for (k = 0; field_names[k]; k++) {
        x509a_field f;
        if (x509a_field_parse(p, field_names[k], &f) != NULL) {
            fz_fail("field '%s' refused", field_names[k]);
        }
        fz_touch(x509a_cert_field(c, &f));
    }

    exercise_vars(c, X509A_VARS_X509);
    exercise_vars(c, X509A_VARS_MODSSL);
    for (k = 0; var_names[k]; k++) {
        fz_touch(x509a_cert_var(c, p, var_names[k], (time_t)1767225600));
    }

    for (k = 0; k < 6; k++) {
        memset(memo_key, 0, sizeof(memo_key));
        memo_key[0] = (unsigned char)k;
        x509a_cert_memo_set(c, memo_key, k);
    }
    for (k = 0; k < 6; k++) {
        memset(memo_key, 0, sizeof(memo_key));
        memo_key[0] = (unsigned char)k;
        if (x509a_cert_memo_get(c, memo_key, &value) && value != k) {
            fz_fail("memo returned %d for %d", value, k);
        }
    }
    fz_sink += (size_t)x509a_cert_x509(c) + (size_t)x509a_cert_pool(c);
}
