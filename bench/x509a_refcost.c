/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/*
 * The reference costs of a new certificate, for the callgrind scenario of
 * bench/run.py: run under callgrind, the inclusive instructions of
 * d2i_X509 and of X509_verify per certificate are what it takes to parse
 * one leaf and to check its signature against its issuer's key, the
 * least a verification of a new certificate can do.
 *
 *   x509a_refcost --issuer CERT --headers FILE -n N
 *
 * Decodes the first N lines of FILE ("Name: <base64 DER>", as made by
 * x509a_mkcerts) with d2i_X509 and verifies each with X509_verify under
 * the key of CERT (read once); fails if one does not verify.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

static void die(const char *what)
{
    fprintf(stderr, "x509a_refcost: %s\n", what);
    exit(1);
}

int main(int argc, char **argv)
{
    const char *issuer_file = NULL, *headers = NULL;
    long n = 0, done = 0;
    int a;
    FILE *f;
    X509 *issuer;
    EVP_PKEY *key;
    char *line = NULL;
    size_t cap = 0;
    unsigned char *der = NULL;
    size_t der_cap = 0;

    for (a = 1; a + 1 < argc; a += 2) {
        if (!strcmp(argv[a], "--issuer")) issuer_file = argv[a + 1];
        else if (!strcmp(argv[a], "--headers")) headers = argv[a + 1];
        else if (!strcmp(argv[a], "-n")) n = atol(argv[a + 1]);
        else die("bad argument (see the source for usage)");
    }
    if (!issuer_file || !headers || n <= 0) {
        die("need --issuer, --headers and -n");
    }
    if (!(f = fopen(issuer_file, "r"))
        || !(issuer = PEM_read_X509(f, NULL, NULL, NULL))) {
        die("cannot read --issuer");
    }
    fclose(f);
    if (!(key = X509_get0_pubkey(issuer))) {
        die("issuer key");
    }
    if (!(f = fopen(headers, "r"))) {
        die("cannot read --headers");
    }
    while (done < n && getline(&line, &cap, f) > 0) {
        char *b64 = strchr(line, ':');
        size_t len;
        int dlen;
        const unsigned char *p;
        X509 *x;

        if (!b64) {
            continue;
        }
        b64 += 1 + strspn(b64 + 1, " ");
        len = strcspn(b64, "\r\n");
        if (len / 4 * 3 + 3 > der_cap) {
            der_cap = (len / 4 * 3 + 3) * 2;
            der = realloc(der, der_cap);
        }
        dlen = EVP_DecodeBlock(der, (unsigned char *)b64, (int)len);
        if (dlen <= 0) {
            die("base64");
        }
        /* EVP_DecodeBlock counts the padding: d2i stops at the end of the
         * certificate anyway */
        p = der;
        if (!(x = d2i_X509(NULL, &p, dlen))) {
            die("d2i_X509");
        }
        if (X509_verify(x, key) <= 0) {
            die("X509_verify");
        }
        X509_free(x);
        done++;
    }
    fclose(f);
    if (done < n) {
        die("fewer certificates than -n");
    }
    free(line);
    free(der);
    X509_free(issuer);
    return 0;
}
