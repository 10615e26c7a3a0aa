/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/**
 * @file x509authn.h
 * @brief Internal declarations shared by the module's httpd glue:
 * configuration (x509authn_config.c), entries and the per-process cache
 * (x509authn_entry.c), the sources (x509authn_resolve.c, x509authn_tls.c,
 * x509authn_proxy.c, x509authn_header.c), the shared cache
 * (x509authn_socache.c), variables (x509authn_export.c) and the hooks
 * (mod_x509authn.c).
 */

#ifndef X509AUTHN_H
#define X509AUTHN_H

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "ap_expr.h"
#include "ap_regex.h"
#include "ap_socache.h"

#include "apr_network_io.h"
#include "apr_global_mutex.h"
#include "apr_thread_mutex.h"

#include <openssl/ssl.h>

#include "x509a_cert.h"
#include "x509a_rules.h"
#include "x509a_decode.h"
#include "x509a_verify.h"
#include "x509a_record.h"
#include "x509a_map.h"
#include "x509a_reason.h"
#include "x509a_crlfetch.h"

/** Stable tag and number at the start of every log message. */
#define X509A_LOGNO(n) "X509A" #n ": "

extern module AP_MODULE_DECLARE_DATA x509authn_module;

/* ------------------------------------------------------------------------ */
/* Configuration                                                            */
/* ------------------------------------------------------------------------ */

/** Where a directory takes the certificate from (X509AuthnSource). */
typedef enum {
    X509AUTHN_SOURCE_ANY = 0,   /**< header from a trusted proxy, else tls */
    X509AUTHN_SOURCE_TLS,       /**< the connection's mod_ssl-verified chain */
    X509AUTHN_SOURCE_HEADER     /**< a trusted proxy's header only */
} x509authn_source;

/** One X509AuthnUser line. */
typedef struct {
    x509a_field field;          /**< The certificate field. */
    ap_regex_t *regex;          /**< Optional; its one capture is the name. */
    int bad;                    /**< Its expression did not compile (the
                                 *   configuration is refused at check_config;
                                 *   the line never yields a name). */
} x509authn_user_spec;

/** Directory configuration. */
typedef struct {
    /** X509Authn: try the certificate first under another AuthType. */
    int enabled;
    /** X509AuthnSource. */
    x509authn_source source;
    /** X509AuthnRequire*: merged per kind. */
    x509a_rules *rules;
    /** X509AuthnUser lines (x509authn_user_spec), tried in order. */
    apr_array_header_t *users;
    /** X509AuthnExportCert: also export the PEM certificate and chain. */
    int export_cert;
    /** X509AuthnExportSSLVars: mod_ssl's names for forwarded certificates. */
    int export_ssl_vars;
    /** X509AuthnUserMap: explicit mappings, tried before X509AuthnUser. */
    const x509a_map *map;
    /** The map's file name, for messages. */
    const char *map_file;
    /** X509AuthnUserMapRequired: refuse certificates the map lacks. */
    int map_required;
    unsigned int enabled_set:1,
                 source_set:1,
                 users_set:1,
                 export_cert_set:1,
                 export_ssl_vars_set:1,
                 map_set:1,
                 map_required_set:1;
} x509authn_dir_conf;

/** Server directives about forwarded certificates, which do nothing in a
 *  server that trusts no proxy (index of x509authn_srv_conf.set_at). */
typedef enum {
    X509AUTHN_AT_HEADER = 0,    /**< X509AuthnHeader */
    X509AUTHN_AT_CHAIN,         /**< X509AuthnChainHeader */
    X509AUTHN_AT_VERIFY,        /**< X509AuthnHeaderVerify */
    X509AUTHN_AT_CA_FILE,       /**< X509AuthnCACertificateFile */
    X509AUTHN_AT_CA_PATH,       /**< X509AuthnCACertificatePath */
    X509AUTHN_AT_CRL,           /**< X509AuthnCARevocationFile */
    X509AUTHN_AT_DEPTH,         /**< X509AuthnVerifyDepth */
    X509AUTHN_AT_MAX_LEN,       /**< X509AuthnHeaderMaxSize */
    X509AUTHN_AT_CRL_CHECK,     /**< X509AuthnCARevocationCheck */
    X509AUTHN_AT_CRL_FETCH,     /**< X509AuthnCRLFetch */
    X509AUTHN_AT_COUNT
} x509authn_at;

/** Forwarded certificates seen by this process (x509authn_entry.c). */
typedef struct x509authn_hcache x509authn_hcache;

/** X509AuthnOCSP. */
typedef enum {
    X509AUTHN_OCSP_OFF = 0,
    X509AUTHN_OCSP_LEAF,        /**< the leaf only */
    X509AUTHN_OCSP_CHAIN        /**< every certificate but the anchor */
} x509authn_ocsp_mode;

/** OCSP settings of a server (x509authn_ocsp.c). */
typedef struct {
    /** X509AuthnOCSP. */
    x509authn_ocsp_mode mode;
    /** X509AuthnOCSPDefaultResponder, or NULL. */
    const char *default_responder;
    /** X509AuthnOCSPOverrideResponder: ask the default responder even
     *  when the certificate names one. */
    int override;
    /** X509AuthnOCSPResponderCertificateFile, or NULL. */
    const char *responder_file;
    /** Its certificates, loaded when the directive is read. */
    STACK_OF(X509) *responders;
    /** X509AuthnOCSPTimeout, seconds. */
    int timeout;
    /** X509AuthnOCSPUseNonce. */
    int nonce;
    /** X509AuthnOCSPMaxAge, seconds, -1 for none. */
    long max_age;
    /** X509AuthnOCSPTimeSkew, seconds. */
    long skew;
    /** SHA-256 of the settings that decide an answer (post_config): part
     *  of every cache key of a verdict decided with OCSP. */
    unsigned char digest[32];
    unsigned int mode_set:1,
                 default_responder_set:1,
                 override_set:1,
                 responder_file_set:1,
                 timeout_set:1,
                 nonce_set:1,
                 max_age_set:1,
                 skew_set:1;
} x509authn_ocsp_conf;

/** Server (virtual host) configuration: trusted proxies and headers. */
typedef struct {
    /** X509AuthnTrustedProxy: peer addresses (apr_ipsubnet_t *). */
    apr_array_header_t *proxies;
    /** X509AuthnProxyRequire lines (x509a_rules *): all must match the
     *  proxy's own mod_ssl-verified certificate. */
    apr_array_header_t *proxy_rules;
    /** X509AuthnHeader: the leaf certificate's header. */
    const char *header;
    /** X509AuthnHeader's format. */
    x509a_format format;
    /** X509AuthnChainHeader: a header name, or a prefix of numbered ones. */
    const char *chain_header;
    /** X509AuthnChainHeader ended in '*': PREFIX0, PREFIX1, ... */
    int chain_is_prefix;
    /** X509AuthnHeaderVerify: verify forwarded certificates locally. */
    int verify;
    /** X509AuthnCACertificateFile, X509AuthnCACertificatePath. */
    const char *ca_file, *ca_path;
    /** X509AuthnCARevocationFile. */
    const char *crl_file;
    /** X509AuthnVerifyDepth, -1 for OpenSSL's default. */
    int depth;
    /** X509AuthnHeaderMaxSize: longer header values are refused. */
    apr_size_t max_len;
    /** Some directory of this server says X509AuthnSource header. */
    int header_source_used;
    /** Where the first of them is ("X509AuthnSource header on line N of
     *  FILE"), for messages. */
    const char *header_source_at;
    /** Where X509AuthnTrustedProxy or X509AuthnProxyRequire is said for
     *  this server (its own or the main server's), for messages. */
    const char *trust_at;
    /** Where each forwarded-certificate setting in force was said
     *  (x509authn_at), NULL when not set: "DIRECTIVE on line N of FILE". */
    const char *set_at[X509AUTHN_AT_COUNT];
    /** The trust store, built at startup when verification is on. */
    x509a_verifier *verifier;
    /** Per child process: decoded and verified forwarded certificates. */
    x509authn_hcache *hcache;
    /** X509AuthnCARevocationCheck: which certificates need a CRL. */
    x509a_crl_check crl_check;
    /** Its no_crl_for_cert_ok flag. */
    int crl_no_crl_ok;
    /** X509AuthnCRLFetch: fetch the CRLs the certificates name. */
    int crl_fetch;
    /** X509AuthnCRLCacheDir: where fetched CRLs are shared, or NULL. */
    const char *crl_cache_dir;
    /** X509AuthnCRLMaxStale: how long past nextUpdate a fetched CRL is
     *  still used. */
    apr_interval_time_t crl_max_stale;
    /** Per child process: the fetched CRLs (x509authn_crl.c). */
    x509a_crlstore *crlstore;
    /** X509AuthnRevocationSoftFail: accept certificates whose revocation
     *  status cannot be determined (fetched CRL or OCSP unavailable). */
    int soft_fail;
    /** X509AuthnOCSP*: never NULL. */
    x509authn_ocsp_conf *ocsp;
    /** X509AuthnRevocationTLS: check mod_ssl-verified client certificates
     *  with X509AuthnOCSP and X509AuthnCRLFetch too. */
    int revocation_tls;
    unsigned int header_set:1,
                 chain_header_set:1,
                 verify_set:1,
                 ca_file_set:1,
                 ca_path_set:1,
                 crl_file_set:1,
                 depth_set:1,
                 max_len_set:1,
                 soft_fail_set:1,
                 crl_check_set:1,
                 crl_fetch_set:1,
                 crl_cache_dir_set:1,
                 crl_max_stale_set:1,
                 revocation_tls_set:1;
} x509authn_srv_conf;

/** One part of the shared cache: a provider instance and, for providers
 *  that are not multi-process safe, the mutex that guards it.  A large
 *  shmcb is split into parts so that a look-up scans a short index and
 *  waits only for the requests of its own part. */
typedef struct {
    /** The provider's instance. */
    ap_socache_instance_t *instance;
    /** Its mutex, or NULL. */
    apr_global_mutex_t *mutex;
} x509authn_cache_part;

/** Module-wide settings (X509AuthnCache, X509AuthnCacheEntries). */
typedef struct {
    /** The shared (mod_socache) verification cache, or NULL. */
    const ap_socache_provider_t *provider;
    /** Its argument string (after "PROVIDER:"). */
    const char *provider_args;
    /** The provider name, for messages. */
    const char *provider_name;
    /** Where X509AuthnCache was said, for messages. */
    const char *cache_at;
    /** Set by "X509AuthnCache none". */
    int disabled;
    /** How long results are kept, shared and per process. */
    apr_interval_time_t ttl;
    /** X509AuthnCacheTimeout: longest wait for a networked shared cache's
     *  answer; 0 for the default. */
    apr_interval_time_t cache_timeout;
    /** Per-process cache size in certificates. */
    int entries;
    /** X509AuthnCacheMaxBytes: what the per-process caches of a process
     *  may hold together (estimated), 0 for no bound. */
    apr_size_t cache_bytes;
    /** The cache instance (after post_config; with parts, the first
     *  part's): non-NULL while there is a shared cache. */
    ap_socache_instance_t *instance;
    /** The shared cache's parts, chosen by the key: several for a large
     *  shmcb, one otherwise (after post_config). */
    x509authn_cache_part *parts;
    /** How many parts. */
    int nparts;
    /** X509AuthnCacheSecret: records are written under this key (or, for
     *  shmcb without a secret, a random one made at first start). */
    x509a_record_key *record_key;
    /** X509AuthnCacheSecret's PREVIOUS-FILE: records under it are still
     *  accepted, or NULL. */
    x509a_record_key *record_key_prev;
    /** Errors found while reading the configuration, reported by
     *  x509authn_report_deferred() (const char *). */
    apr_array_header_t *deferred;
    /** X509AuthnCRLWarn: warn this long before a CRL's nextUpdate. */
    apr_interval_time_t crl_warn;
    /** X509AuthnExpiryWarn: list client certificates that expire within
     *  this (0: no list). */
    apr_interval_time_t expiry_warn;
    /** X509AuthnExpiryWarn's second argument: most certificates listed. */
    int expiry_max;
} x509authn_global_conf;

/** The module-wide settings. */
extern x509authn_global_conf x509authn_global;

/** Default for X509AuthnCRLWarn, in days. */
#define X509AUTHN_DEFAULT_CRL_WARN_DAYS 7
/** Default for X509AuthnExpiryWarn, in days. */
#define X509AUTHN_DEFAULT_EXPIRY_WARN_DAYS 30
/** Default for X509AuthnExpiryWarn's list size. */
#define X509AUTHN_DEFAULT_EXPIRY_MAX 50
/** Default for X509AuthnHeaderMaxSize. */
#define X509AUTHN_DEFAULT_MAX_LEN 16384
/** Default for X509AuthnCache's lifetime. */
#define X509AUTHN_DEFAULT_TTL apr_time_from_sec(300)
/** Longest a refusal is cached, shared and per process (when
 *  X509AuthnCache says less, that). */
#define X509AUTHN_MAX_FAILURE_TTL apr_time_from_sec(300)

/** Bytes of the default shmcb shared cache (`X509AuthnCache shmcb` without
 *  arguments): about 30,000 records of about 1,050 bytes. */
#define X509AUTHN_SHMCB_DEFAULT_SIZE (32 * 1024 * 1024)
/** Default for X509AuthnCacheTimeout. */
#define X509AUTHN_DEFAULT_CACHE_TIMEOUT apr_time_from_msec(50)
/** Default for X509AuthnCacheEntries. */
#define X509AUTHN_DEFAULT_ENTRIES 2048
/** A shmcb shared cache is split into parts of at least this many
 *  bytes... */
#define X509AUTHN_SHMCB_PART_MIN (4 * 1024 * 1024)
/** ...and into at most this many. */
#define X509AUTHN_SHMCB_PARTS_MAX 32
/** Threads per child that call a networked shared cache (redis,
 *  memcache): look-ups of concurrent requests wait for one round trip, not
 *  for each other's. */
#define X509AUTHN_CACHE_THREADS 4
/** Name of the global mutex (Mutex directive). */
#define X509AUTHN_MUTEX_TYPE "x509authn-cache"

/** Directive table (x509authn_config.c). */
extern const command_rec x509authn_cmds[];

void *x509authn_create_dir_conf(apr_pool_t *p, char *dir);
void *x509authn_merge_dir_conf(apr_pool_t *p, void *basev, void *addv);
void *x509authn_create_srv_conf(apr_pool_t *p, server_rec *s);
void *x509authn_merge_srv_conf(apr_pool_t *p, void *basev, void *addv);

/** Non-zero when the server has a trust condition for proxies. */
int x509authn_header_mode(const x509authn_srv_conf *sc);

/** "DIRECTIVE on line N of FILE" for the directive being read. */
const char *x509authn_directive_at(cmd_parms *cmd);

/**
 * check_config: report the errors found while the configuration was read
 * that are kept for now so that their text reaches the administrator as
 * written (httpd's log doubles every backslash, which makes regular
 * expressions unreadable): each goes to stderr, where httpd's own
 * configuration errors go.  OK, or an error status when there was one.
 */
int x509authn_report_deferred(apr_pool_t *ptemp);

/* ------------------------------------------------------------------------ */
/* Certificate entries and the per-process cache (x509authn_entry.c)        */
/* ------------------------------------------------------------------------ */

/*
 * Invariant of every cache and memo below (per connection, per process,
 * shared): the decision for a request is a function of the certificate and
 * chain bytes, the configuration in force for the request (.htaccess
 * included), the content of the trust files (CA, CRL, IssuingCA, map) and
 * the clock.  A cached value is keyed by a digest of everything it depends
 * on, or it is not cached.  docs/architecture.md says what keys each one.
 */

/** A parsed certificate shared by the requests that present it. */
typedef struct x509authn_entry x509authn_entry;
struct x509authn_entry {
    apr_uint32_t refs;          /**< Holders: connection/cache and requests. */
    apr_pool_t *pool;           /**< Unmanaged: may be freed by any thread. */
    apr_thread_mutex_t *lock;   /**< x509a_cert is not thread-safe. */
    x509a_cert *cert;           /**< The certificate and its views. */
    /* X509_CLIENT_V_REMAIN, recomputed when the day count changes */
    const char *remain;
    apr_time_t remain_until;
    /* forwarded certificates only: */
    int verified;               /**< Verification passed (or was off). */
    const char *why;            /**< Else why it failed. */
    const char *error;          /**< And its token (X509A_REASON_*). */
    apr_time_t valid_from;      /**< Latest notBefore of the chain. */
    apr_time_t valid_until;     /**< Earliest notAfter of the chain (and
                                 *   nextUpdate of the CRLs used). */
    /* per-process cache bookkeeping (x509authn_entry.c) */
    const char *key;
    apr_size_t key_len;
    apr_uint64_t hash;
    apr_time_t expires;
    unsigned int generation;
    x509authn_entry *next_in_bucket, *lru_prev, *lru_next;
    /** What it costs the process, estimated (x509authn_entry.c). */
    apr_size_t bytes;
};

/**
 * A new entry (one reference) for @a leaf; NULL when out of memory.
 * @a store and @a param: what verified it (x509a_cert_set_store()), or NULL.
 */
x509authn_entry *x509authn_entry_create(X509 *leaf, STACK_OF(X509) *verified,
                                        STACK_OF(X509) *untrusted,
                                        X509_STORE *store,
                                        const X509_VERIFY_PARAM *param);

/**
 * A new entry for a forwarded leaf from its DER bytes and the compact form
 * of a shared-cache record (x509a_cert_make_compact_sha256()), without
 * decoding it; @a untrusted and @a store as for x509authn_entry_create().
 * NULL when out of memory or when the form is refused (then *why, from
 * @a p, says why).
 */
x509authn_entry *x509authn_entry_create_compact(apr_pool_t *p,
                                                const unsigned char *der,
                                                apr_size_t der_len,
                                                const unsigned char sha256[32],
                                                const unsigned char *form,
                                                apr_size_t form_len,
                                                STACK_OF(X509) *untrusted,
                                                X509_STORE *store,
                                                const char **why);

/** Drop one reference to an entry (any thread); NULL is ignored. */
void x509authn_entry_release(x509authn_entry *e);

/** Hand the caller's reference to @a r: released with its pool. */
x509authn_entry *x509authn_entry_hold(request_rec *r, x509authn_entry *e);

/** Lock an entry for the use of its certificate (x509a_cert is not
 *  thread-safe); no other lock may be taken while it is held, and nothing
 *  that may call back into the module (ap_ssl_var_lookup). */
void x509authn_entry_lock(x509authn_entry *e);

/** Unlock an entry. */
void x509authn_entry_unlock(x509authn_entry *e);

/** X509_CLIENT_V_REMAIN at @a now (entry locked). */
const char *x509authn_days_remaining(x509authn_entry *e, apr_time_t now);

/** Per child, before anything makes an entry: the allocator of entries'
 *  pools. */
void x509authn_entry_child_init(void);

/** Bytes the per-process caches of this process hold (estimated). */
apr_size_t x509authn_cache_bytes_used(void);

/** Default of X509AuthnCacheMaxBytes. */
#define X509AUTHN_CACHE_BYTES_DEFAULT ((apr_size_t)64 * 1024 * 1024)

/** A cache of at most @a max entries, emptied with @a p. */
x509authn_hcache *x509authn_hcache_create(apr_pool_t *p, int max);

/** A new reference to the live entry for @a key, or NULL.  An entry past
 *  its expiry or of another @a generation is dropped. */
x509authn_entry *x509authn_hcache_get(x509authn_hcache *hc, const char *key,
                                      apr_size_t len, apr_time_t now,
                                      unsigned int generation);

/** Keep @a e, which carries its key, expiry and generation; the cache
 *  takes its own reference. */
void x509authn_hcache_put(x509authn_hcache *hc, x509authn_entry *e);

/* ------------------------------------------------------------------------ */
/* Sources                                                                  */
/* ------------------------------------------------------------------------ */

/** What one source presents for a request. */
typedef struct {
    x509authn_source source;    /**< TLS or HEADER. */
    x509authn_entry *entry;     /**< Accepted certificate (held by r). */
    x509authn_entry *refused;   /**< Or a presented, refused one (held). */
    const char *why;            /**< When no entry: why not. */
    const char *error;          /**< And its token (X509A_REASON_*), for
                                 *   X509_AUTHN_ERROR. */
    int presented;              /**< A certificate was offered but refused. */
    /* header source: the header values this answer is for */
    const char *key;
    apr_size_t key_len;
} x509authn_found;

/** The request's state (r->request_config). */
typedef struct {
    int from_proxy;             /**< The peer is a trusted proxy. */
    int proxy_refused;          /**< Not, for its certificate fails
                                 *   X509AuthnProxyRequire. */
    x509authn_entry *proxy;     /**< The proxy's own TLS certificate, if any. */
    int proxy_asked;            /**< mod_ssl was asked for it. */
    const char *proxy_dn;       /**< Its subject, once asked for. */
    /** The last answer of each source (index: x509authn_source). */
    x509authn_found found[3];
    /** check_authn has run: the variables describe its outcome only. */
    int authn_done;
    /** What check_authn accepted, or NULL (refused, or not X509). */
    x509authn_found *login;
    /** Why check_authn refused (X509_AUTHN_ERROR), or NULL. */
    const char *error;
} x509authn_req;

/** "tls" or "header". */
const char *x509authn_source_name(x509authn_source source);

/**
 * The state of the request whose authentication decided for @a r: @a r
 * itself once check_authn has run for it, or the request httpd handed the
 * login on from (an internal redirect's r->prev or a subrequest's r->main
 * with the same configuration: it skips authentication and copies
 * r->user).  NULL when no authentication has decided yet.
 * @param by receives that request (may be NULL)
 */
x509authn_req *x509authn_decided_by(request_rec *r, request_rec **by);

/** The request's state; the proxy trust decision is made once. */
x509authn_req *x509authn_req_state(request_rec *r);

/**
 * What the request presents under the directory's X509AuthnSource (and
 * the server's trust settings), resolved anew for every caller that may
 * decide: an answer is reused only for the same source and, for headers,
 * the same header values.
 */
x509authn_found *x509authn_resolve(request_rec *r,
                                   const x509authn_dir_conf *dc);

/** The server configuration of @a r. */
#define x509authn_srv(r) ((x509authn_srv_conf *)ap_get_module_config(\
    (r)->server->module_config, &x509authn_module))

/** The connection that carries @a c (itself, or an HTTP/2 stream's). */
conn_rec *x509authn_master_conn(conn_rec *c);

/* --- direct TLS (x509authn_tls.c) --- */

/** mod_ssl's pre_handshake: remember the connection's SSL object. */
int x509authn_pre_handshake(conn_rec *c, SSL *ssl, int is_proxy);

/** The connection's verified client certificate (a new reference), or NULL
 *  with *why and its token in *error.  A certificate offered but not
 *  verified sets *presented and comes back in *refused (when asked for),
 *  for the log. */
x509authn_entry *x509authn_tls_entry(request_rec *r, const char **why,
                                     const char **error, int *presented,
                                     x509authn_entry **refused);

/** child_init: the per-process cache of verified TLS certificates. */
void x509authn_tls_child_init(apr_pool_t *pchild);

/* --- trusted proxies (x509authn_proxy.c) --- */

/** Does the request come from a trusted proxy?  The proxy's own verified
 *  certificate, when X509AuthnProxyRequire needs it, goes to *proxy;
 *  *refused is set when that certificate fails X509AuthnProxyRequire. */
int x509authn_peer_is_trusted_proxy(request_rec *r,
                                    const x509authn_srv_conf *sc,
                                    x509authn_entry **proxy, int *refused);

/** post_read_request: strip forwarded-certificate headers from requests
 *  that do not come from a trusted proxy. */
int x509authn_post_read_request(request_rec *r);

/** The proxy's own verified TLS certificate (a trusted proxy's), or NULL. */
x509authn_entry *x509authn_proxy_entry(request_rec *r, x509authn_req *rs);

/** Its subject DN (X509_PROXY_S_DN), or NULL.  Asks mod_ssl and locks the
 *  proxy's entry: not to be called with another entry locked. */
const char *x509authn_proxy_subject(request_rec *r, x509authn_req *rs);

/** Register the input filter that keeps certificate headers out of
 *  merged trailers. */
void x509authn_register_source_filters(void);

/* --- forwarded certificates (x509authn_header.c) --- */

/** The header values that name the forwarded certificate, joined (the
 *  per-process cache key); NULL when the leaf header is absent. */
const char *x509authn_forwarded_key(request_rec *r,
                                    const x509authn_srv_conf *sc,
                                    apr_size_t *len,
                                    apr_array_header_t **chains);

/** Resolve the certificate a trusted proxy forwards into @a f. */
void x509authn_header_resolve(request_rec *r, const x509authn_srv_conf *sc,
                              x509authn_found *f);

/** child_init: per-server caches of forwarded certificates. */
void x509authn_header_child_init(apr_pool_t *pchild, server_rec *s);

/* --- shared verification cache (x509authn_socache.c) --- */

/** Length of a shared-cache key: chain digest and settings digest. */
#define X509AUTHN_SOCACHE_KEY_LEN 64

/** Look up @a key: non-zero with the value in @a val / *len when found. */
int x509authn_socache_get(request_rec *r, const unsigned char *key,
                          unsigned char *val, unsigned int *len);

/** Store @a val under @a key until @a expiry. */
void x509authn_socache_put(request_rec *r, const unsigned char *key,
                           const unsigned char *val, unsigned int len,
                           apr_time_t expiry);

/** The shared cache is shmcb (local shared memory, records never leave
 *  the machine), not a networked provider. */
int x509authn_cache_is_local(void);

/** check_config and post_config: the shared cache's instance, made from
 *  X509AuthnCache's arguments (NULL, or what is wrong with them); no
 *  instance when there is no provider. */
const char *x509authn_cache_create(apr_pool_t *pconf, apr_pool_t *ptemp);

/** post_config: the shared cache. */
const char *x509authn_cache_post_config(apr_pool_t *pconf, apr_pool_t *ptemp,
                                        server_rec *s);

/** post_config when nothing needs the shared cache: release a shmcb kept
 *  from an earlier generation. */
void x509authn_cache_unused(server_rec *s);

/** child_init: per-process caches and the mutex. */
void x509authn_cache_child_init(apr_pool_t *pchild, server_rec *s);

/* --- shared-cache records (x509authn_record.c) --- */

/** check_config: refuse a networked shared cache without
 *  X509AuthnCacheSecret (OK, or an error status). */
int x509authn_record_check_config(server_rec *s);

/** post_config, after the shared cache: the key of its records. */
const char *x509authn_record_post_config(apr_pool_t *pconf, server_rec *s);

/** The authentic, current record for @a key in the shared cache: non-zero
 *  with it in @a rec; a record that does not authenticate is a miss (and a
 *  warning at most once a minute). */
int x509authn_record_get(request_rec *r, const unsigned char *key,
                         apr_time_t now, x509a_record *rec);

/** Write @a rec under @a key until rec->expires (nothing when it is
 *  past). */
void x509authn_record_put(request_rec *r, const unsigned char *key,
                          const x509a_record *rec);

/* --- revocation (x509authn_revocation.c) --- */

/**
 * Rate limit for messages about a cause (a responder, a CRL URL): non-zero
 * when one may be logged now, at most once a minute per cause per process
 * (any thread).
 */
int x509authn_log_allowed(const char *cause, apr_time_t now);

/**
 * Log that the revocation status of a certificate could not be determined
 * because of @a cause (e.g. "CRL http://..."): @a why, and whether the
 * certificate was accepted anyway (X509AuthnRevocationSoftFail On) or
 * refused; at most once a minute per cause per process.
 */
void x509authn_revocation_unknown(request_rec *r, const char *cause,
                                  const char *why, int accepted);

/**
 * The log lines of one verification with fetched CRLs: what was fetched
 * (debug), a cache directory that could not be written, and a CRL that
 * could not be had (x509authn_revocation_unknown()) or is not valid; the
 * warnings at most once a minute per cause per process.
 */
void x509authn_crlfetch_report(request_rec *r, const x509authn_srv_conf *sc,
                               const x509a_crlfetch_info *finfo,
                               apr_time_t now);

/**
 * Verify @a leaf with @a untrusted under @a sc's trust store, with its
 * fetched CRLs (when @a fetching) and then OCSP (when configured, and only
 * for a chain that verified), and count the verification.  Returns the
 * verdict; @a verified is the verified chain (NULL when the chain did not
 * verify), @a err and @a info why not, @a finfo what the fetched CRLs said
 * (zeroed when not fetching), @a ocsp_bound until when the OCSP responses
 * it used are good (APR_INT64_MAX when none).  The header and the
 * X509AuthnRevocationTLS paths decide alike through this one function.
 */
int x509authn_verify_revocation(request_rec *r, const x509authn_srv_conf *sc,
                                int fetching, X509 *leaf,
                                STACK_OF(X509) *untrusted, apr_time_t now,
                                STACK_OF(X509) **verified, const char **err,
                                x509a_verify_info *info,
                                x509a_crlfetch_info *finfo,
                                apr_time_t *ocsp_bound);

/** child_init: the rate limiter's lock. */
void x509authn_revocation_child_init(apr_pool_t *pchild);

/* --- OCSP for forwarded certificates (x509authn_ocsp.c) --- */

/** Setters of the X509AuthnOCSP* directives. */
const char *x509authn_set_ocsp(cmd_parms *cmd, void *dconf, const char *arg);
const char *x509authn_set_ocsp_flag(cmd_parms *cmd, void *dconf, int on);

/** A server's OCSP settings with their defaults. */
x509authn_ocsp_conf *x509authn_ocsp_create(apr_pool_t *p);

/** Merge a virtual host's OCSP settings over the main server's. */
x509authn_ocsp_conf *x509authn_ocsp_merge(apr_pool_t *p,
                                          const x509authn_ocsp_conf *base,
                                          const x509authn_ocsp_conf *add);

/** check_config / post_config: settings digests of every server, and the
 *  errors (OCSP on where no chain is verified locally). */
int x509authn_ocsp_post_config(apr_pool_t *ptemp, server_rec *s);

/** child_init: this process's OCSP answers. */
void x509authn_ocsp_child_init(apr_pool_t *pchild);

/**
 * Check the revocation status of a locally verified forwarded chain (leaf
 * first, ending at its trust anchor) by OCSP, as the server's settings
 * say.  Non-zero when the chain may be accepted (all good, or not
 * determined under X509AuthnRevocationSoftFail On); else *why and *error
 * (X509A_REASON_REVOKED or X509A_REASON_REVOCATION_UNKNOWN), with
 * *transient set when the refusal says nothing definite about the
 * certificate (not to be kept).  *bound: until when the answer holds (the
 * earliest expiry of the responses used; soon when soft-failed).
 */
int x509authn_ocsp_check(request_rec *r, const x509authn_srv_conf *sc,
                         STACK_OF(X509) *chain, apr_time_t now,
                         apr_time_t *bound, const char **why,
                         const char **error, int *transient);

/** The digest that keys verdicts of @a sc: the verifier's settings
 *  digest @a in, with the OCSP settings when OCSP is on. */
void x509authn_ocsp_settings(const x509authn_srv_conf *sc,
                             const unsigned char in[32],
                             unsigned char out[32]);

/* --- fetched CRLs (x509authn_crl.c) --- */

/** Does @a sc fetch CRLs for the forwarded certificates it verifies? */
int x509authn_crl_fetching(const x509authn_srv_conf *sc);

/** Does @a sc fetch CRLs for mod_ssl-verified client certificates
 *  (X509AuthnRevocationTLS)? */
int x509authn_crl_fetching_tls(const x509authn_srv_conf *sc);

/* --- revocation of mod_ssl-verified certificates (x509authn_revtls.c) --- */

/**
 * X509AuthnRevocationTLS: the revocation status of the client certificate
 * mod_ssl verified (entry @a e), by the server's X509AuthnCRLFetch and
 * X509AuthnOCSP settings, with its own trust store
 * (X509AuthnCACertificateFile).  Non-zero when it may be accepted (also
 * when the setting is off); else *why and *error.
 */
int x509authn_revtls_check(request_rec *r, const x509authn_srv_conf *sc,
                           x509authn_entry *e, const char **why,
                           const char **error);

/** Per child: the memo of X509AuthnRevocationTLS verdicts. */
void x509authn_revtls_child_init(apr_pool_t *pchild);

/** The digest that keys verdicts decided with fetched CRLs: the trust
 *  store's @a settings, the fetching policy and the CRLs held
 *  (@a held: x509a_crlstore_digest()). */
void x509authn_crl_key(const x509authn_srv_conf *sc,
                       const unsigned char settings[32],
                       const unsigned char held[32], unsigned char out[32]);

/** check_config: warnings and errors about the CRL fetching settings (OK
 *  or an error status). */
int x509authn_crl_check_config(apr_pool_t *ptemp, server_rec *s);

/** post_config: the background refresh (mod_watchdog). */
void x509authn_crl_post_config(apr_pool_t *pconf, server_rec *s);

/** child_init: the fetched CRLs of this process. */
void x509authn_crl_child_init(apr_pool_t *pchild, server_rec *s);

/* ------------------------------------------------------------------------ */
/* Variables (x509authn_export.c)                                           */
/* ------------------------------------------------------------------------ */

/** Set the request's variables after a login (entry locked by caller). */
void x509authn_export(request_rec *r, const x509authn_dir_conf *dc,
                      x509authn_req *rs, x509authn_found *f);

/** ap_expr lookup hook for %{X509_*}. */
int x509authn_expr_lookup(ap_expr_lookup_parms *parms);

/** ap_ssl_var_lookup() for the module's own questions about the connection
 *  (the proxy's TLS state): always mod_ssl's answer. */
const char *x509authn_modssl_var(request_rec *r, const char *name);

/** ssl_var_lookup hook: SSL_CLIENT_* of a forwarded certificate after a
 *  login under X509AuthnExportSSLVars On. */
const char *x509authn_ssl_var_lookup(apr_pool_t *p, server_rec *s,
                                     conn_rec *c, request_rec *r,
                                     const char *name);

/** fixups after mod_ssl's: the same for the environment. */
int x509authn_ssl_vars_fixup(request_rec *r);

/* ------------------------------------------------------------------------ */
/* Status counters (x509authn_stats.c)                                      */
/* ------------------------------------------------------------------------ */

/** How a decided request ended. */
#define X509AUTHN_RESULT_ACCEPTED 0
/** Refused under AuthType X509. */
#define X509AUTHN_RESULT_REFUSED  1
/** Refused under "X509Authn On": handed to the other AuthType. */
#define X509AUTHN_RESULT_FALLBACK 2
/** Number of results. */
#define X509AUTHN_RESULTS 3
/** Refusal reasons counted: none (accepted), the fixed X509A_REASON_*
 *  tokens (14) and one rule:KIND per rule kind. */
#define X509AUTHN_STAT_REASONS (1 + X509A_REASON_COUNT)

/** Counter indexes: the requests first (source x result x reason), then
 *  the single counters. */
typedef enum {
    X509AUTHN_STAT_REQUESTS = 0,
    /** Untrusted peers' requests stripped of certificate headers. */
    X509AUTHN_STAT_HEADER_REMOVED = 2 * X509AUTHN_RESULTS
                                    * X509AUTHN_STAT_REASONS,
    /** Peers whose certificate fails X509AuthnProxyRequire. */
    X509AUTHN_STAT_PROXY_REFUSED,
    X509AUTHN_STAT_CACHE_CONN_HIT,      /**< Connection's entry reused. */
    X509AUTHN_STAT_CACHE_CONN_MISS,
    X509AUTHN_STAT_CACHE_PROC_HIT,      /**< Per-process cache. */
    X509AUTHN_STAT_CACHE_PROC_MISS,
    X509AUTHN_STAT_CACHE_SHARED_HIT,    /**< Shared (mod_socache) cache. */
    X509AUTHN_STAT_CACHE_SHARED_MISS,
    X509AUTHN_STAT_VERIFY_OK,           /**< Local chain verifications. */
    X509AUTHN_STAT_VERIFY_FAILED,
    X509AUTHN_STAT_MAP_MAPPED,          /**< X509AuthnUserMap lookups. */
    X509AUTHN_STAT_MAP_UNMAPPED,
    X509AUTHN_STAT_COUNT
} x509authn_stat;

/** Add one to a counter in this child's slot (any thread). */
void x509authn_stat_add(conn_rec *c, x509authn_stat which);

/** Count a decided request: @a result is X509AUTHN_RESULT_*, @a reason
 *  its X509A_REASON_* token (ignored when accepted). */
void x509authn_stat_request(request_rec *r, x509authn_source source,
                            int result, const char *reason);

/** post_config: the counters' shared memory (kept across graceful
 *  restarts, zeroed by a full restart); NULL, or what went wrong. */
const char *x509authn_stats_post_config(apr_pool_t *pconf, server_rec *s);

/** mod_status's section and the x509authn-metrics handler. */
void x509authn_stats_register_hooks(void);

/* ------------------------------------------------------------------------ */
/* Trust-file health and expiring client certificates (x509authn_health.c)  */
/* ------------------------------------------------------------------------ */

/** post_config: the trust stores to watch, the first CRL check, and the
 *  shared list of expiring client certificates; NULL, or what went
 *  wrong. */
const char *x509authn_health_post_config(apr_pool_t *pconf, apr_pool_t *ptemp,
                                         server_rec *s);

/** A login with @a e (entry locked): listed when its certificate expires
 *  within X509AuthnExpiryWarn. */
void x509authn_expiry_seen(request_rec *r, x509authn_entry *e,
                           x509authn_source source);

/** mod_status: the trust files and expiring certificates, as HTML or as
 *  ?auto lines (@a flags AP_STATUS_SHORT). */
void x509authn_health_status(request_rec *r, int flags);

/** The x509authn-metrics handler: the gauges of trust files, CRLs and
 *  expiring certificates. */
void x509authn_health_metrics(request_rec *r);

/** The parent's periodic CRL check (ap_hook_monitor). */
void x509authn_health_register_hooks(void);

#endif /* X509AUTHN_H */
