/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/* x509a_http: the URLs the revocation client refuses, and fetches from a
 * one-shot server on loopback forked by the test (DER body, redirect,
 * error status, oversized and unparsable answers, closed port). */

#include <string.h>
#include <unistd.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <check.h>
#include <apr_strings.h>

#include "x509a_http.h"
#include "testcert.h"
#include "suites.h"

START_TEST(http_parse_accepts)
{
    static const struct {
        const char *url;
        int tls;
        const char *host, *port, *path;
    } cases[] = {
        { "http://crl.example.com/ca.crl", 0, "crl.example.com", "80",
          "/ca.crl" },
        { "HTTP://crl.example.com/ca.crl", 0, "crl.example.com", "80",
          "/ca.crl" },
        { "https://crl.example.com/a/b.crl", 1, "crl.example.com", "443",
          "/a/b.crl" },
        { "http://127.0.0.1:8080/x?y=1&z", 0, "127.0.0.1", "8080",
          "/x?y=1&z" },
        { "http://[::1]:8888/ocsp", 0, "[::1]", "8888", "/ocsp" },
        { "http://ocsp.example.com", 0, "ocsp.example.com", "80", "/" },
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        x509a_http_url u;
        const char *err = x509a_http_parse(tc_pool, cases[i].url, &u);

        ck_assert_msg(err == NULL, "%s refused: %s", cases[i].url, err);
        ck_assert_int_eq(u.tls, cases[i].tls);
        ck_assert_str_eq(u.host, cases[i].host);
        ck_assert_str_eq(u.port, cases[i].port);
        ck_assert_str_eq(u.path, cases[i].path);
        ck_assert(x509a_http_parse(tc_pool, cases[i].url, NULL) == NULL);
    }
}
END_TEST

START_TEST(http_parse_refuses)
{
    static const struct {
        const char *url, *why;
    } cases[] = {
        { "", "empty" },
        { "ftp://crl.example.com/ca.crl", "only http" },
        { "file:///etc/passwd", "only http" },
        { "ldap://ldap.example.com/cn=CA?certificateRevocationList",
          "only http" },
        { "crl.example.com/ca.crl", "only http" },
        { "//crl.example.com/ca.crl", "only http" },
        { "gopher://127.0.0.1:6379/_FLUSHALL", "only http" },
        { "http://user@crl.example.com/ca.crl", "user information" },
        { "http://user:secret@crl.example.com/ca.crl", "user information" },
        { "http:///ca.crl", "" },
        { "http://", "" },
        { "http://:80/ca.crl", "" },
        { "http://crl.example.com/a b.crl", "spaces" },
        { "http://crl.example.com/a\r\nHost: evil", "spaces" },
        { "http://crl.example.com/a\tb", "spaces" },
        { "http://crl.example.com/\xc3\xa9", "non-ASCII" },
        { "http://crl.example.com:99999/ca.crl", "" },
        { "http://crl.example.com:port/ca.crl", "" },
        { "http://crl.example.com/ca.crl#frag", "fragment" },
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        x509a_http_url u;
        const char *err = x509a_http_parse(tc_pool, cases[i].url, &u);

        ck_assert_msg(err != NULL, "%s accepted", cases[i].url);
        ck_assert_msg(strstr(err, cases[i].why) != NULL,
                      "%s: '%s' does not say '%s'", cases[i].url, err,
                      cases[i].why);
    }
    ck_assert(x509a_http_parse(tc_pool, NULL, NULL) != NULL);
}
END_TEST

/* A refused URL is never fetched: the error comes without a connection. */
START_TEST(http_fetch_refuses_urls)
{
    const char *out = "x", *err;
    apr_size_t len = 7;

    err = x509a_http_fetch(tc_pool, "ftp://127.0.0.1/x", NULL, NULL, 0, 1024,
                           1, &out, &len);
    ck_assert(err != NULL && strstr(err, "only http") != NULL);
    ck_assert(out == NULL);
    ck_assert_uint_eq(len, 0);
    err = x509a_http_fetch(tc_pool, "http://u@127.0.0.1/x", NULL, NULL, 0,
                           1024, 1, &out, &len);
    ck_assert(err != NULL && strstr(err, "user information") != NULL);
    err = x509a_http_fetch(tc_pool, "http://127.0.0.1/x", NULL, NULL, 0,
                           1024, 0, &out, &len);
    ck_assert(err != NULL);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* A one-shot server on loopback                                           */
/* ---------------------------------------------------------------------- */

static pid_t server_pid;

/* Listen on an ephemeral loopback port; a child answers one request with
 * @a resp (@a len bytes) and puts the request it read in @a seen_fd. */
static int serve_once(const char *resp, size_t len, int seen_fd)
{
    struct sockaddr_in sa;
    socklen_t salen = sizeof(sa);
    int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;

    ck_assert(s >= 0);
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert(bind(s, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    ck_assert(listen(s, 1) == 0);
    ck_assert(getsockname(s, (struct sockaddr *)&sa, &salen) == 0);
    server_pid = fork();
    ck_assert(server_pid >= 0);
    if (server_pid == 0) {
        char buf[4096];
        size_t got = 0;
        ssize_t n;
        int c;

        /* never outlive the test: it waits for this process */
        alarm(10);
        signal(SIGPIPE, SIG_IGN);
        c = accept(s, NULL, NULL);
        while (c >= 0 && got < sizeof(buf) - 1
               && (n = read(c, buf + got, sizeof(buf) - 1 - got)) > 0) {
            got += (size_t)n;
            buf[got] = '\0';
            if (strstr(buf, "\r\n\r\n")) {
                break;
            }
        }
        if (seen_fd >= 0) {
            (void)!write(seen_fd, buf, got);
        }
        while (c >= 0 && len > 0 && (n = write(c, resp, len)) > 0) {
            resp += n;
            len -= (size_t)n;
        }
        _exit(0);
    }
    close(s);
    return ntohs(sa.sin_port);
}

static void server_done(void)
{
    int st;

    /* it ends by itself once it answered (or the client went away) */
    waitpid(server_pid, &st, 0);
}

/* A DER SEQUENCE of @a n content bytes (long form length). */
static char *der_blob(apr_size_t n, apr_size_t *len)
{
    char *d = apr_palloc(tc_pool, n + 6);

    d[0] = 0x30;
    d[1] = (char)0x84;
    d[2] = (char)((n >> 24) & 0xff);
    d[3] = (char)((n >> 16) & 0xff);
    d[4] = (char)((n >> 8) & 0xff);
    d[5] = (char)(n & 0xff);
    memset(d + 6, 0x41, n);
    *len = n + 6;
    return d;
}

static const char *http_response(const char *status, const char *body,
                                 apr_size_t body_len, apr_size_t *len)
{
    const char *head = apr_psprintf(tc_pool, "HTTP/1.0 %s\r\n"
                                    "Content-Type: application/pkix-crl\r\n"
                                    "Content-Length: %" APR_SIZE_T_FMT "\r\n"
                                    "\r\n", status, body_len);
    char *all = apr_palloc(tc_pool, strlen(head) + body_len);

    memcpy(all, head, strlen(head));
    memcpy(all + strlen(head), body, body_len);
    *len = strlen(head) + body_len;
    return all;
}

START_TEST(http_fetch_der)
{
    apr_size_t blen, rlen, len;
    const char *body = der_blob(1000, &blen);
    const char *resp = http_response("200 OK", body, blen, &rlen);
    const char *out, *err;
    char seen[4096];
    int fds[2], port;
    ssize_t n;

    ck_assert(pipe(fds) == 0);
    port = serve_once(resp, rlen, fds[1]);
    err = x509a_http_fetch(tc_pool, apr_psprintf(tc_pool,
                           "http://127.0.0.1:%d/ca.crl?x=1", port),
                           NULL, NULL, 0, 4096, 5, &out, &len);
    server_done();
    ck_assert_msg(err == NULL, "fetch failed: %s", err);
    ck_assert_uint_eq(len, blen);
    ck_assert(memcmp(out, body, blen) == 0);
    close(fds[1]);
    n = read(fds[0], seen, sizeof(seen) - 1);
    close(fds[0]);
    ck_assert(n > 0);
    seen[n] = '\0';
    ck_assert_msg(strncmp(seen, "GET /ca.crl?x=1 HTTP/1.", 23) == 0,
                  "request: %s", seen);
}
END_TEST

START_TEST(http_fetch_post)
{
    apr_size_t blen, rlen, len;
    const char *body = der_blob(10, &blen);
    const char *resp = http_response("200 OK", body, blen, &rlen);
    const char *out, *err;
    char seen[4096];
    int fds[2], port;
    ssize_t n;

    ck_assert(pipe(fds) == 0);
    port = serve_once(resp, rlen, fds[1]);
    err = x509a_http_fetch(tc_pool, apr_psprintf(tc_pool,
                           "http://127.0.0.1:%d/", port),
                           "application/ocsp-request", "\x30\x00", 2, 4096, 5,
                           &out, &len);
    server_done();
    ck_assert_msg(err == NULL, "fetch failed: %s", err);
    ck_assert_uint_eq(len, blen);
    close(fds[1]);
    n = read(fds[0], seen, sizeof(seen) - 1);
    close(fds[0]);
    ck_assert(n > 0);
    seen[n] = '\0';
    ck_assert_msg(strncmp(seen, "POST / HTTP/1.", 14) == 0, "request: %s",
                  seen);
    ck_assert(strstr(seen, "application/ocsp-request") != NULL);
}
END_TEST

/* Answers that are not a body of at most max_len DER bytes fail. */
START_TEST(http_fetch_refused_answers)
{
    apr_size_t blen, rlen, len;
    const char *big = der_blob(5000, &blen);
    const char *cases[4], *want[4];
    apr_size_t lens[4];
    int i;

    cases[0] = http_response("200 OK", big, blen, &lens[0]);
    want[0] = "max resp len exceeded";
    cases[1] = "HTTP/1.0 302 Found\r\nLocation: http://127.0.0.1:1/x\r\n"
               "Content-Length: 0\r\n\r\n";
    lens[1] = strlen(cases[1]);
    want[1] = "redirection not enabled";
    cases[2] = http_response("404 Not Found", "\x30\x00", 2, &lens[2]);
    want[2] = "404";
    /* no Content-Length, a DER header announcing more than the cap */
    cases[3] = "HTTP/1.0 200 OK\r\n\r\n\x30\x84\x00\x10\x00\x00" "AAAA";
    lens[3] = 25;
    want[3] = "max resp len exceeded";
    for (i = 0; i < 4; i++) {
        const char *out = NULL, *err;
        int port = serve_once(cases[i], lens[i], -1);

        err = x509a_http_fetch(tc_pool, apr_psprintf(tc_pool,
                               "http://127.0.0.1:%d/ca.crl", port),
                               NULL, NULL, 0, 4096, 5, &out, &len);
        server_done();
        ck_assert_msg(err != NULL, "case %d accepted", i);
        ck_assert_msg(strstr(err, want[i]) != NULL, "case %d: %s", i, err);
        ck_assert(out == NULL);
    }
    (void)rlen;
}
END_TEST

START_TEST(http_fetch_closed_port)
{
    struct sockaddr_in sa;
    socklen_t salen = sizeof(sa);
    const char *out, *err;
    apr_size_t len;
    int s = socket(AF_INET, SOCK_STREAM, 0);

    /* a port that was just free, and is again: nobody listens there */
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert(bind(s, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    ck_assert(getsockname(s, (struct sockaddr *)&sa, &salen) == 0);
    close(s);
    err = x509a_http_fetch(tc_pool, apr_psprintf(tc_pool,
                           "http://127.0.0.1:%d/ca.crl",
                           ntohs(sa.sin_port)),
                           NULL, NULL, 0, 4096, 2, &out, &len);
    ck_assert(err != NULL);
    ck_assert(out == NULL);
}
END_TEST

Suite *x509a_http_suite(void)
{
    Suite *s = suite_create("x509a_http");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, tc_setup, tc_teardown);
    tcase_add_test(tc, http_parse_accepts);
    tcase_add_test(tc, http_parse_refuses);
    tcase_add_test(tc, http_fetch_refuses_urls);
    tcase_add_test(tc, http_fetch_der);
    tcase_add_test(tc, http_fetch_post);
    tcase_add_test(tc, http_fetch_refused_answers);
    tcase_add_test(tc, http_fetch_closed_port);
    suite_add_tcase(s, tc);
    return s;
}
