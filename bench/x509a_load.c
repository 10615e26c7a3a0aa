/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/*
 * Load generator for the benchmarks.  No packaged tool presents a client
 * certificate on keep-alive HTTP/1.1 and HTTP/2 connections, or rotates
 * forwarded-certificate headers per request, so this one does:
 *
 *   x509a_load [options]
 *     -a ADDR       server address (127.0.0.1)      -p PORT  port
 *     -b ADDR       local (source) address to connect from
 *     -u PATH       request path (/)                 -c N     connections (8)
 *     -d SECONDS    measured duration (5)            -w SECS  warm-up (1)
 *     --plain       HTTP without TLS
 *     --cert F --key F   client certificate          --ca F   CA to trust
 *     --new-conn    a new TLS connection (full handshake) per request
 *     --h2 [-m N]   HTTP/2, N streams in flight per connection (10)
 *     -n N          stop after N requests per connection (-d is then a limit)
 *     --headers F   one "Name: value" line per request, rotated: request i
 *                   of connection k sends line (k * 7919 + i) % lines, so
 *                   every connection interleaves many values
 *     --random      ... or a line picked at random for every request (a
 *                   fleet's clients do not come in order: rotation hides
 *                   cache evictions)
 *     --sweep       ... or request i of connection k sends line
 *                   i * connections + k: with -n lines/connections, every
 *                   line exactly once (fills the caches)
 *     --expect STATUS USER
 *                   every response must have this status and X-User ("-":
 *                   none); HTTP/1.1 only
 *     --expect-file F
 *                   like --headers, each line "STATUS USER Name: value" (or
 *                   "STATUS USER -" for no header): the request and what
 *                   its response must be
 *
 * With expectations, "requests" counts responses that matched and "wrong"
 * those that did not (the first few are printed to stderr).
 * One thread per connection, blocking I/O.  Prints one JSON line:
 *   {"requests": N, "seconds": S, "rps": R, "errors": E, "bad_status": B,
 *    "wrong": W}
 * Without expectations only responses with status 200 count as requests.
 */

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <nghttp2/nghttp2.h>

static const char *opt_addr = "127.0.0.1", *opt_port = "443", *opt_path = "/";
static const char *opt_bind;
static const char *opt_cert, *opt_key, *opt_ca;
static int opt_conns = 8, opt_plain, opt_new_conn, opt_h2, opt_streams = 10;
static long opt_total;
static int opt_random, opt_sweep;
static double opt_duration = 5, opt_warmup = 1;
static char **header_lines;
static long header_count;

/** What a response must be (--expect, --expect-file). */
typedef struct {
    int status;
    const char *user;       /* "-": no X-User header */
    const char *header;     /* NULL: none */
} expectation;

static expectation *expectations, expect_all;
static int have_expect_all;
static volatile long wrong_reported;

static SSL_CTX *ctx;
static volatile int stop_flag;

typedef struct {
    int index;
    pthread_t tid;
    volatile long ok, errors, bad_status, wrong;
} worker;

static void die(const char *what)
{
    fprintf(stderr, "x509a_load: %s\n", what);
    ERR_print_errors_fp(stderr);
    exit(2);
}

static int tcp_connect(void)
{
    struct addrinfo hints, *res;
    int fd, one = 1;

    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(opt_addr, opt_port, &hints, &res) != 0) {
        die("cannot resolve");
    }
    fd = socket(res->ai_family, SOCK_STREAM, 0);
    if (fd >= 0 && opt_bind) {
        struct sockaddr_in src;

        memset(&src, 0, sizeof(src));
        src.sin_family = AF_INET;
        if (inet_pton(AF_INET, opt_bind, &src.sin_addr) != 1
            || bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0) {
            die("cannot bind the source address (-b)");
        }
    }
    if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
        freeaddrinfo(res);
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    freeaddrinfo(res);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

/* ------------------------------------------------------------------------ */
/* A connection: TCP, maybe TLS                                             */
/* ------------------------------------------------------------------------ */

typedef struct {
    int fd;
    SSL *ssl;
    char buf[65536];
    int len, pos;
} conn;

static int conn_open(conn *c)
{
    c->len = c->pos = 0;
    c->ssl = NULL;
    if ((c->fd = tcp_connect()) < 0) {
        return -1;
    }
    if (!opt_plain) {
        c->ssl = SSL_new(ctx);
        SSL_set_fd(c->ssl, c->fd);
        SSL_set_tlsext_host_name(c->ssl, "localhost");
        if (SSL_connect(c->ssl) != 1) {
            ERR_clear_error();
            SSL_free(c->ssl);
            close(c->fd);
            return -1;
        }
    }
    return 0;
}

static void conn_close(conn *c)
{
    if (c->ssl) {
        SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
}

static int conn_write(conn *c, const void *data, int len)
{
    if (c->ssl) {
        return SSL_write(c->ssl, data, len) == len ? 0 : -1;
    }
    while (len > 0) {
        ssize_t n = write(c->fd, data, (size_t)len);
        if (n <= 0) {
            return -1;
        }
        data = (const char *)data + n;
        len -= (int)n;
    }
    return 0;
}

static int conn_read(conn *c, void *buf, int max)
{
    if (c->ssl) {
        int n = SSL_read(c->ssl, buf, max);
        if (n <= 0) {
            ERR_clear_error();
        }
        return n;
    }
    return (int)read(c->fd, buf, (size_t)max);
}

static int fill(conn *c)
{
    int n;

    if (c->pos > 0) {
        memmove(c->buf, c->buf + c->pos, (size_t)(c->len - c->pos));
        c->len -= c->pos;
        c->pos = 0;
    }
    if (c->len >= (int)sizeof(c->buf) - 1) {
        return -1;
    }
    n = conn_read(c, c->buf + c->len, (int)sizeof(c->buf) - 1 - c->len);
    if (n <= 0) {
        return -1;
    }
    c->len += n;
    c->buf[c->len] = '\0';
    return 0;
}

static int read_line(conn *c, char *out, size_t max)
{
    char *eol;
    size_t n;

    while (!(eol = memchr(c->buf + c->pos, '\n', (size_t)(c->len - c->pos)))) {
        if (fill(c) < 0) {
            return -1;
        }
    }
    n = (size_t)(eol - (c->buf + c->pos));
    if (n > 0 && eol[-1] == '\r') {
        n--;
    }
    if (n >= max) {
        n = max - 1;
    }
    memcpy(out, c->buf + c->pos, n);
    out[n] = '\0';
    c->pos = (int)(eol + 1 - c->buf);
    return 0;
}

static int skip(conn *c, long n)
{
    while (n > 0) {
        long have = c->len - c->pos;
        if (have == 0) {
            if (fill(c) < 0) {
                return -1;
            }
            continue;
        }
        if (have > n) {
            have = n;
        }
        c->pos += (int)have;
        n -= have;
    }
    return 0;
}

/* One HTTP/1.1 exchange; returns the status or -1.  The X-User response
 * header goes to @a user ("-" when absent). */
static int http1_request(conn *c, const char *extra_header, int keepalive,
                         char *user, size_t user_size)
{
    char req[70000], line[8192];
    int status, len, chunked = 0, close_after = 0;
    long clen = 0;

    len = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost\r\n"
                   "%s%s%s\r\n", opt_path, extra_header ? extra_header : "",
                   extra_header ? "\r\n" : "",
                   keepalive ? "" : "Connection: close\r\n");
    if (len >= (int)sizeof(req) || conn_write(c, req, len) < 0) {
        return -1;
    }
    if (read_line(c, line, sizeof(line)) < 0
        || sscanf(line, "HTTP/1.%*c %d", &status) != 1) {
        return -1;
    }
    snprintf(user, user_size, "-");
    for (;;) {
        if (read_line(c, line, sizeof(line)) < 0) {
            return -1;
        }
        if (!line[0]) {
            break;
        }
        if (!strncasecmp(line, "Content-Length:", 15)) {
            clen = strtol(line + 15, NULL, 10);
        }
        else if (!strncasecmp(line, "Transfer-Encoding:", 18)
                 && strstr(line, "chunked")) {
            chunked = 1;
        }
        else if (!strncasecmp(line, "Connection:", 11) && strstr(line, "close")) {
            close_after = 1;
        }
        else if (!strncasecmp(line, "X-User:", 7)) {
            const char *v = line + 7 + strspn(line + 7, " \t");
            snprintf(user, user_size, "%s", *v ? v : "-");
        }
    }
    if (chunked) {
        for (;;) {
            long size;
            if (read_line(c, line, sizeof(line)) < 0) {
                return -1;
            }
            size = strtol(line, NULL, 16);
            if (size == 0) {
                do {
                    if (read_line(c, line, sizeof(line)) < 0) {
                        return -1;
                    }
                } while (line[0]);
                break;
            }
            if (skip(c, size + 2) < 0) {
                return -1;
            }
        }
    }
    else if (skip(c, clen) < 0) {
        return -1;
    }
    return close_after && keepalive ? -status : status;
}

/* splitmix64: a random-looking, well-mixed function of (k, i), without
 * shared state between the threads */
static unsigned long long mix64(unsigned long long z)
{
    z += 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static unsigned long long random_seed;

static const char *header_for(int k, long i)
{
    if (!header_count) {
        return NULL;
    }
    if (opt_random) {
        return header_lines[mix64(random_seed ^ ((unsigned long long)k << 40)
                                  ^ (unsigned long long)i)
                            % (unsigned long long)header_count];
    }
    if (opt_sweep) {
        return header_lines[(i * opt_conns + k) % header_count];
    }
    return header_lines[((long)k * 7919 + i) % header_count];
}

static void count(worker *w, int status)
{
    if (status == 200) {
        w->ok++;
    }
    else if (status > 0) {
        w->bad_status++;
    }
    else {
        w->errors++;
    }
}

static const expectation *expectation_for(int k, long i)
{
    if (have_expect_all) {
        return &expect_all;
    }
    if (expectations) {
        return &expectations[((long)k * 7919 + i) % header_count];
    }
    return NULL;
}

/* Compare a response with what it must be. */
static void check(worker *w, const expectation *e, int status,
                  const char *user)
{
    if (status < 0) {
        w->errors++;
    }
    else if (status == e->status && !strcmp(user, e->user)) {
        w->ok++;
    }
    else {
        w->wrong++;
        if (__sync_fetch_and_add(&wrong_reported, 1) < 5) {
            fprintf(stderr, "x509a_load: wrong decision: got %d \"%s\", "
                    "expected %d \"%s\" for %.80s\n", status, user,
                    e->status, e->user, e->header ? e->header : "(no header)");
        }
    }
}

static void *http1_worker(void *arg)
{
    worker *w = arg;
    conn c = { .fd = -1 };
    long i = 0;
    char user[512];

    while (!stop_flag && (!opt_total || i < opt_total)) {
        const expectation *e = expectation_for(w->index, i);
        const char *hdr = e ? e->header : header_for(w->index, i);
        int status;

        i++;
        if (c.fd < 0 && conn_open(&c) < 0) {
            w->errors++;
            usleep(1000);
            continue;
        }
        status = http1_request(&c, hdr, !opt_new_conn, user, sizeof(user));
        if (status < 0 || opt_new_conn) {
            conn_close(&c);
        }
        if (status < -1) {
            status = -status;   /* the server closed after answering */
        }
        if (e) {
            check(w, e, status, user);
        }
        else {
            count(w, status);
        }
    }
    conn_close(&c);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* HTTP/2                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct {
    worker *w;
    conn c;
    long next;
    int inflight;
} h2_state;

static int h2_status_cb(nghttp2_session *s, const nghttp2_frame *f,
                        const uint8_t *name, size_t namelen,
                        const uint8_t *value, size_t valuelen, uint8_t flags,
                        void *ud)
{
    (void)flags;
    (void)ud;
    if (f->hd.type == NGHTTP2_HEADERS && namelen == 7
        && !memcmp(name, ":status", 7)) {
        int *st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
        if (st) {
            *st = (int)strtol((const char *)value, NULL, 10);
            (void)valuelen;
        }
    }
    return 0;
}

static int h2_close_cb(nghttp2_session *s, int32_t id, uint32_t err, void *ud)
{
    h2_state *h = ud;
    int *st = nghttp2_session_get_stream_user_data(s, id);

    count(h->w, err == 0 && st ? *st : -1);
    free(st);
    h->inflight--;
    return 0;
}

static ssize_t h2_send_cb(nghttp2_session *s, const uint8_t *data, size_t len,
                          int flags, void *ud)
{
    h2_state *h = ud;
    (void)s;
    (void)flags;
    return conn_write(&h->c, data, (int)len) < 0 ? NGHTTP2_ERR_CALLBACK_FAILURE
                                                 : (ssize_t)len;
}

static int h2_submit(nghttp2_session *s, h2_state *h)
{
    nghttp2_nv nv[5];
    const char *hdr = header_for(h->w->index, h->next++);
    int n = 0, *st = calloc(1, sizeof(int));
    char name[256];

#define NV(N, V) do { nv[n].name = (uint8_t *)(N); nv[n].namelen = strlen(N); \
    nv[n].value = (uint8_t *)(V); nv[n].valuelen = strlen(V); \
    nv[n].flags = NGHTTP2_NV_FLAG_NONE; n++; } while (0)
    NV(":method", "GET");
    NV(":scheme", opt_plain ? "http" : "https");
    NV(":authority", "localhost");
    NV(":path", opt_path);
    if (hdr) {
        const char *colon = strchr(hdr, ':');
        size_t i, nl = colon ? (size_t)(colon - hdr) : 0;
        if (nl && nl < sizeof(name)) {
            for (i = 0; i < nl; i++) {
                name[i] = (char)tolower((unsigned char)hdr[i]);
            }
            name[nl] = '\0';
            NV(name, colon + 1 + strspn(colon + 1, " "));
        }
    }
#undef NV
    if (nghttp2_submit_request(s, NULL, nv, (size_t)n, NULL, st) < 0) {
        free(st);
        return -1;
    }
    h->inflight++;
    return 0;
}

static void *h2_worker(void *arg)
{
    worker *w = arg;
    h2_state h;
    nghttp2_session_callbacks *cbs;
    nghttp2_session *s = NULL;
    unsigned char buf[16384];

    memset(&h, 0, sizeof(h));
    h.w = w;
    h.c.fd = -1;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_send_callback(cbs, h2_send_cb);
    nghttp2_session_callbacks_set_on_header_callback(cbs, h2_status_cb);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, h2_close_cb);
    while (!stop_flag) {
        int n;

        if (!s) {
            if (conn_open(&h.c) < 0) {
                w->errors++;
                usleep(1000);
                continue;
            }
            nghttp2_session_client_new(&s, cbs, &h);
            nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, NULL, 0);
            h.inflight = 0;
        }
        while (h.inflight < opt_streams && !stop_flag) {
            if (h2_submit(s, &h) < 0) {
                break;
            }
        }
        if (nghttp2_session_send(s) != 0) {
            goto reset;
        }
        n = conn_read(&h.c, buf, sizeof(buf));
        if (n <= 0 || nghttp2_session_mem_recv(s, buf, (size_t)n) < 0) {
            goto reset;
        }
        continue;
reset:
        w->errors++;
        nghttp2_session_del(s);
        s = NULL;
        conn_close(&h.c);
    }
    if (s) {
        nghttp2_session_del(s);
    }
    conn_close(&h.c);
    nghttp2_session_callbacks_del(cbs);
    return NULL;
}

/* ------------------------------------------------------------------------ */

static void load_headers(const char *file)
{
    FILE *f = fopen(file, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long alloc = 0;

    if (!f) {
        die("cannot open the headers file");
    }
    while ((n = getline(&line, &cap, f)) > 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) {
            line[--n] = '\0';
        }
        if (!n) {
            continue;
        }
        if (header_count == alloc) {
            alloc = alloc ? alloc * 2 : 64;
            header_lines = realloc(header_lines, (size_t)alloc * sizeof(char *));
        }
        header_lines[header_count++] = strdup(line);
    }
    free(line);
    fclose(f);
    if (!header_count) {
        die("empty headers file");
    }
}

/* "STATUS USER Name: value" or "STATUS USER -" per line. */
static void load_expectations(const char *file)
{
    long i;

    load_headers(file);
    expectations = calloc((size_t)header_count, sizeof(*expectations));
    for (i = 0; i < header_count; i++) {
        char *line = header_lines[i], *user, *hdr;

        expectations[i].status = (int)strtol(line, &user, 10);
        user += strspn(user, " ");
        hdr = user + strcspn(user, " ");
        if (*hdr) {
            *hdr++ = '\0';
        }
        hdr += strspn(hdr, " ");
        if (expectations[i].status < 100 || !*user || !*hdr) {
            die("bad --expect-file line (STATUS USER HEADER|-)");
        }
        expectations[i].user = user;
        expectations[i].header = strcmp(hdr, "-") ? hdr : NULL;
    }
}

static double now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_seconds(double s)
{
    struct timespec ts;

    ts.tv_sec = (time_t)s;
    ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
    nanosleep(&ts, NULL);
}

static long total(worker *ws, int field)
{
    long t = 0;
    int i;

    for (i = 0; i < opt_conns; i++) {
        t += field == 0 ? ws[i].ok : field == 1 ? ws[i].errors
             : field == 2 ? ws[i].bad_status : ws[i].wrong;
    }
    return t;
}

int main(int argc, char **argv)
{
    worker *ws;
    long ok0, err0, bad0, wrong0;
    double t0, t1;
    int i;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(flag) (!strcmp(a, flag) && v && ++i)
        if (ARG("-a")) opt_addr = v;
        else if (ARG("-p")) opt_port = v;
        else if (ARG("-b")) opt_bind = v;
        else if (ARG("-u")) opt_path = v;
        else if (ARG("-c")) opt_conns = atoi(v);
        else if (ARG("-d")) opt_duration = atof(v);
        else if (ARG("-w")) opt_warmup = atof(v);
        else if (ARG("-m")) opt_streams = atoi(v);
        else if (ARG("-n")) opt_total = atol(v);
        else if (ARG("--cert")) opt_cert = v;
        else if (ARG("--key")) opt_key = v;
        else if (ARG("--ca")) opt_ca = v;
        else if (ARG("--headers")) load_headers(v);
        else if (ARG("--expect-file")) load_expectations(v);
        else if (!strcmp(a, "--expect") && i + 2 < argc) {
            expect_all.status = atoi(argv[++i]);
            expect_all.user = argv[++i];
            have_expect_all = 1;
        }
        else if (!strcmp(a, "--plain")) opt_plain = 1;
        else if (!strcmp(a, "--random")) opt_random = 1;
        else if (!strcmp(a, "--sweep")) opt_sweep = 1;
        else if (!strcmp(a, "--new-conn")) opt_new_conn = 1;
        else if (!strcmp(a, "--h2")) opt_h2 = 1;
        else {
            fprintf(stderr, "x509a_load: bad argument '%s' (see the source "
                            "for usage)\n", a);
            return 2;
        }
#undef ARG
    }
    if (opt_conns < 1) {
        die("need at least one connection");
    }
    random_seed = mix64((unsigned long long)time(NULL)
                        ^ ((unsigned long long)getpid() << 32));
    if (!opt_plain) {
        ctx = SSL_CTX_new(TLS_client_method());
        if (!ctx) {
            die("SSL_CTX_new");
        }
        if (opt_ca) {
            if (!SSL_CTX_load_verify_locations(ctx, opt_ca, NULL)) {
                die("cannot load --ca");
            }
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        }
        if (opt_cert && (SSL_CTX_use_certificate_chain_file(ctx, opt_cert) != 1
                         || SSL_CTX_use_PrivateKey_file(ctx, opt_key ? opt_key
                                                        : opt_cert,
                                                        SSL_FILETYPE_PEM) != 1)) {
            die("cannot load --cert/--key");
        }
        /* every new connection is a full handshake */
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
        if (opt_h2) {
            static const unsigned char alpn[] = "\x02h2";
            SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn) - 1);
        }
    }
    ws = calloc((size_t)opt_conns, sizeof(*ws));
    for (i = 0; i < opt_conns; i++) {
        ws[i].index = i;
        pthread_create(&ws[i].tid, NULL, opt_h2 ? h2_worker : http1_worker,
                       &ws[i]);
    }
    if (opt_total) {
        /* a fixed amount of work (callgrind): wait for it */
        t0 = now_seconds();
        for (i = 0; i < opt_conns; i++) {
            pthread_join(ws[i].tid, NULL);
        }
        t1 = now_seconds();
        printf("{\"requests\": %ld, \"seconds\": %.3f, \"rps\": %.1f, "
               "\"errors\": %ld, \"bad_status\": %ld, \"wrong\": %ld}\n",
               total(ws, 0), t1 - t0, (double)total(ws, 0) / (t1 - t0),
               total(ws, 1), total(ws, 2), total(ws, 3));
        return 0;
    }
    sleep_seconds(opt_warmup);
    ok0 = total(ws, 0);
    err0 = total(ws, 1);
    bad0 = total(ws, 2);
    wrong0 = total(ws, 3);
    t0 = now_seconds();
    sleep_seconds(opt_duration);
    t1 = now_seconds();
    ok0 = total(ws, 0) - ok0;
    err0 = total(ws, 1) - err0;
    bad0 = total(ws, 2) - bad0;
    wrong0 = total(ws, 3) - wrong0;
    stop_flag = 1;
    for (i = 0; i < opt_conns; i++) {
        pthread_join(ws[i].tid, NULL);
    }
    printf("{\"requests\": %ld, \"seconds\": %.3f, \"rps\": %.1f, "
           "\"errors\": %ld, \"bad_status\": %ld, \"wrong\": %ld}\n",
           ok0, t1 - t0, (double)ok0 / (t1 - t0), err0, bad0, wrong0);
    return 0;
}
