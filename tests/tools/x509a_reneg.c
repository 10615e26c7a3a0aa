/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/*
 * Test client: several HTTP/1.1 requests on ONE TLS connection, presenting
 * a different client certificate whenever the server asks for one again
 * (TLS 1.2 renegotiation, or TLS 1.3 post-handshake authentication).  No
 * packaged client can change its certificate in the middle of a
 * connection, which is what the module's per-connection cache must notice.
 *
 *   x509a_reneg [-3] HOST PORT CAFILE PATH CERT KEY [PATH CERT KEY]...
 *
 * CERT and KEY may be "-" for no certificate.  For each request it prints
 * one line: the status code and the X-User response header (or "-").
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <netdb.h>
#include <sys/socket.h>
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/pem.h>

static X509 *current_cert;
static EVP_PKEY *current_key;

static int client_cert_cb(SSL *ssl, X509 **x509, EVP_PKEY **pkey)
{
    (void)ssl;
    if (!current_cert) {
        return 0;
    }
    X509_up_ref(current_cert);
    EVP_PKEY_up_ref(current_key);
    *x509 = current_cert;
    *pkey = current_key;
    return 1;
}

static void die(const char *what)
{
    fprintf(stderr, "x509a_reneg: %s\n", what);
    ERR_print_errors_fp(stderr);
    exit(2);
}

/* Make CERT/KEY what the client presents from now on.  OpenSSL keeps
 * the certificate the callback returned in the SSL object and asks the
 * callback only while none is set, so the SSL object is updated too. */
static void load(SSL *ssl, const char *certfile, const char *keyfile)
{
    FILE *f;

    X509_free(current_cert);
    EVP_PKEY_free(current_key);
    current_cert = NULL;
    current_key = NULL;
    if (ssl) {
        SSL_certs_clear(ssl);
    }
    if (strcmp(certfile, "-") == 0) {
        return;
    }
    if (!(f = fopen(certfile, "r"))
        || !(current_cert = PEM_read_X509(f, NULL, NULL, NULL))) {
        die(certfile);
    }
    fclose(f);
    if (!(f = fopen(keyfile, "r"))
        || !(current_key = PEM_read_PrivateKey(f, NULL, NULL, NULL))) {
        die(keyfile);
    }
    fclose(f);
    if (ssl && (!SSL_use_certificate(ssl, current_cert)
                || !SSL_use_PrivateKey(ssl, current_key))) {
        die("cannot use the certificate");
    }
}

static int tcp_connect(const char *host, const char *port)
{
    struct addrinfo hints, *res, *ai;
    int fd = -1;

    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &res) != 0) {
        die("cannot resolve host");
    }
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            break;
        }
        if (fd >= 0) {
            close(fd);
        }
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        die("cannot connect");
    }
    return fd;
}

/* Buffered reading from the TLS connection. */
static char rbuf[65536];
static int rlen, rpos;

static int fill(SSL *ssl)
{
    int n;

    if (rpos > 0) {
        memmove(rbuf, rbuf + rpos, (size_t)(rlen - rpos));
        rlen -= rpos;
        rpos = 0;
    }
    if (rlen == (int)sizeof(rbuf) - 1) {
        die("response header too long");
    }
    n = SSL_read(ssl, rbuf + rlen, (int)sizeof(rbuf) - 1 - rlen);
    if (n <= 0) {
        die("connection closed");
    }
    rlen += n;
    rbuf[rlen] = '\0';
    return n;
}

/* One CRLF-terminated line (without the CRLF) into out. */
static void read_line(SSL *ssl, char *out, size_t max)
{
    char *eol;
    size_t n;

    while (!(eol = memchr(rbuf + rpos, '\n', (size_t)(rlen - rpos)))) {
        fill(ssl);
    }
    n = (size_t)(eol - (rbuf + rpos));
    if (n > 0 && eol[-1] == '\r') {
        n--;
    }
    if (n >= max) {
        n = max - 1;
    }
    memcpy(out, rbuf + rpos, n);
    out[n] = '\0';
    rpos = (int)(eol + 1 - rbuf);
}

static void skip_bytes(SSL *ssl, long n)
{
    while (n > 0) {
        long have = rlen - rpos;
        if (have == 0) {
            fill(ssl);
            continue;
        }
        if (have > n) {
            have = n;
        }
        rpos += (int)have;
        n -= have;
    }
}

/* Send one request; read the response (Content-Length or chunked); print
 * "STATUS X-User". */
static int request(SSL *ssl, const char *host, const char *path)
{
    char req[1024], line[8192], user[1024] = "-";
    int status, chunked = 0;
    long clen = 0;

    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path,
             host);
    if (SSL_write(ssl, req, (int)strlen(req)) <= 0) {
        die("write failed");
    }
    read_line(ssl, line, sizeof(line));
    if (sscanf(line, "HTTP/1.%*c %d", &status) != 1) {
        die("bad status line");
    }
    for (;;) {
        read_line(ssl, line, sizeof(line));
        if (!line[0]) {
            break;
        }
        if (strncasecmp(line, "Content-Length:", 15) == 0) {
            clen = strtol(line + 15, NULL, 10);
        }
        else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0
                 && strstr(line, "chunked")) {
            chunked = 1;
        }
        else if (strncasecmp(line, "X-User:", 7) == 0) {
            snprintf(user, sizeof(user), "%s", line + 7 + strspn(line + 7, " \t"));
        }
    }
    if (chunked) {
        for (;;) {
            long size;
            read_line(ssl, line, sizeof(line));
            size = strtol(line, NULL, 16);
            if (size == 0) {
                do {                    /* trailers, then the empty line */
                    read_line(ssl, line, sizeof(line));
                } while (line[0]);
                break;
            }
            skip_bytes(ssl, size + 2);
        }
    }
    else {
        skip_bytes(ssl, clen);
    }
    printf("%d %s\n", status, user);
    fflush(stdout);
    return status;
}

int main(int argc, char **argv)
{
    SSL_CTX *ctx;
    SSL *ssl;
    int tls13 = 0, i, fd;

    if (argc > 1 && strcmp(argv[1], "-3") == 0) {
        tls13 = 1;
        argv++;
        argc--;
    }
    if (argc < 7 || (argc - 4) % 3 != 0) {
        fprintf(stderr, "usage: x509a_reneg [-3] HOST PORT CAFILE "
                        "PATH CERT KEY [PATH CERT KEY]...\n");
        return 2;
    }
    ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx || !SSL_CTX_load_verify_locations(ctx, argv[3], NULL)) {
        die("cannot load CA file");
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_client_cert_cb(ctx, client_cert_cb);
    if (tls13) {
        SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    }
    else {
        SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
    }
    fd = tcp_connect(argv[1], argv[2]);
    ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, argv[1]);
    if (tls13) {
        SSL_set_post_handshake_auth(ssl, 1);
    }
    load(NULL, argv[5], argv[6]);
    if (SSL_connect(ssl) != 1) {
        die("TLS handshake failed");
    }
    for (i = 4; i + 2 < argc; i += 3) {
        load(ssl, argv[i + 1], argv[i + 2]);
        request(ssl, argv[1], argv[i]);
    }
    SSL_shutdown(ssl);
    SSL_free(ssl);
    close(fd);
    SSL_CTX_free(ctx);
    load(NULL, "-", "-");
    return 0;
}
