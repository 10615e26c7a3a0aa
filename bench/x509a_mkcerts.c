/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/*
 * Many distinct client certificates, quickly, for the fleet benchmarks:
 * `openssl x509` takes ~10 ms per certificate, this ~50 µs.
 *
 *   x509a_mkcerts --ca CERT --cakey KEY -n N [--first I] [--rsa BITS]
 *                 [--header NAME]
 *
 * Prints N lines "NAME: <base64 DER>" (NAME defaults to X-SSL-Client-Cert),
 * certificate i with subject C=US, O=Example Corp, OU=Bench, CN=fleetNNNNNNN,
 * serial 0x6000000 + i, an email SAN, clientAuth, valid from a day ago for
 * a year, signed by CA.  All share one key (EC P-256, or RSA of BITS bits):
 * the module's cost depends on the issuer's signature, not the leaf's key.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

static void die(const char *what)
{
    fprintf(stderr, "x509a_mkcerts: %s\n", what);
    exit(1);
}

static void add_ext(X509 *x, X509 *ca, int nid, const char *value)
{
    X509V3_CTX v3;
    X509_EXTENSION *e;

    X509V3_set_ctx(&v3, ca, x, NULL, NULL, 0);
    if (!(e = X509V3_EXT_conf_nid(NULL, &v3, nid, value))
        || !X509_add_ext(x, e, -1)) {
        die("extension");
    }
    X509_EXTENSION_free(e);
}

int main(int argc, char **argv)
{
    const char *ca_file = NULL, *key_file = NULL, *header = "X-SSL-Client-Cert";
    long n = 0, first = 0, i;
    int rsa_bits = 0, a;
    FILE *f;
    X509 *ca;
    EVP_PKEY *ca_key, *key;
    unsigned char *der = NULL;
    char *b64 = NULL;
    size_t b64_cap = 0;

    for (a = 1; a + 1 < argc; a += 2) {
        if (!strcmp(argv[a], "--ca")) ca_file = argv[a + 1];
        else if (!strcmp(argv[a], "--cakey")) key_file = argv[a + 1];
        else if (!strcmp(argv[a], "-n")) n = atol(argv[a + 1]);
        else if (!strcmp(argv[a], "--first")) first = atol(argv[a + 1]);
        else if (!strcmp(argv[a], "--rsa")) rsa_bits = atoi(argv[a + 1]);
        else if (!strcmp(argv[a], "--header")) header = argv[a + 1];
        else die("bad argument (see the source for usage)");
    }
    if (!ca_file || !key_file || n <= 0) {
        die("need --ca, --cakey and -n");
    }
    if (!(f = fopen(ca_file, "r")) || !(ca = PEM_read_X509(f, NULL, NULL, NULL))) {
        die("cannot read --ca");
    }
    fclose(f);
    if (!(f = fopen(key_file, "r"))
        || !(ca_key = PEM_read_PrivateKey(f, NULL, NULL, NULL))) {
        die("cannot read --cakey");
    }
    fclose(f);
    key = rsa_bits ? EVP_RSA_gen((unsigned int)rsa_bits)
                   : EVP_EC_gen("P-256");
    if (!key) {
        die("key generation");
    }
    for (i = first; i < first + n; i++) {
        X509 *x = X509_new();
        X509_NAME *name = X509_NAME_new();
        char cn[32], san[64];
        int len, blen;

        snprintf(cn, sizeof(cn), "fleet%07ld", i);
        snprintf(san, sizeof(san), "email:fleet%07ld@example.com", i);
        if (!x || !name
            || !X509_set_version(x, 2)
            || !ASN1_INTEGER_set_int64(X509_get_serialNumber(x), 0x6000000 + i)
            || !X509_NAME_add_entry_by_txt(name, "C", MBSTRING_ASC,
                                           (const unsigned char *)"US", -1, -1, 0)
            || !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                           (const unsigned char *)"Example Corp",
                                           -1, -1, 0)
            || !X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_ASC,
                                           (const unsigned char *)"Bench", -1, -1, 0)
            || !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                           (const unsigned char *)cn, -1, -1, 0)
            || !X509_set_subject_name(x, name)
            || !X509_set_issuer_name(x, X509_get_subject_name(ca))
            || !X509_gmtime_adj(X509_getm_notBefore(x), -86400)
            || !X509_gmtime_adj(X509_getm_notAfter(x), 365L * 86400)
            || !X509_set_pubkey(x, key)) {
            die("certificate");
        }
        add_ext(x, ca, NID_basic_constraints, "critical,CA:FALSE");
        add_ext(x, ca, NID_key_usage, "critical,digitalSignature");
        add_ext(x, ca, NID_ext_key_usage, "clientAuth");
        add_ext(x, ca, NID_subject_alt_name, san);
        add_ext(x, ca, NID_authority_key_identifier, "keyid:always");
        if (!X509_sign(x, ca_key, EVP_sha256())) {
            die("signature");
        }
        der = NULL;
        if ((len = i2d_X509(x, &der)) <= 0) {
            die("DER");
        }
        if ((size_t)(len / 3 * 4 + 8) > b64_cap) {
            b64_cap = (size_t)(len / 3 * 4 + 8) * 2;
            b64 = realloc(b64, b64_cap);
        }
        blen = EVP_EncodeBlock((unsigned char *)b64, der, len);
        printf("%s: %.*s\n", header, blen, b64);
        OPENSSL_free(der);
        X509_NAME_free(name);
        X509_free(x);
    }
    free(b64);
    EVP_PKEY_free(key);
    EVP_PKEY_free(ca_key);
    X509_free(ca);
    return 0;
}
