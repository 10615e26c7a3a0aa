/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/* x509a_ocsp: requests, and the RFC 6960 checks of responses built here
 * with OpenSSL's OCSP API (no network): good, revoked, unknown, the
 * unsuccessful statuses, signers (issuer, delegated responder with and
 * without id-kp-OCSPSigning, unrelated key, configured responder), the
 * CertID, times (stale, future, no nextUpdate, MaxAge), nonces. */

#include <string.h>
#include <time.h>
#include <check.h>
#include <apr_strings.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

#include "x509a_ocsp.h"
#include "testcert.h"
#include "suites.h"

static tc_pki pki;

/* run()'s "fetched" argument: -1 for now */
static apr_time_t run_fetched = -1;

static void ocsp_setup(void)
{
    tc_setup();
    tc_pki_make(tc_pool, &pki, 1);
}

static const tc_attr inter_dn[] = {
    { "C", "US", 0, 0, 0 }, { "O", "Example Corp", 0, 0, 0 },
    { "CN", "Test Issuing CA", 0, 0, 0 }, { NULL, NULL, 0, 0, 0 }
};

static const tc_attr responder_dn[] = {
    { "CN", "OCSP Responder", 0, 0, 0 }, { NULL, NULL, 0, 0, 0 }
};

/* A responder certificate issued by @a issuer, with OCSPSigning when
 * @a signing. */
static X509 *responder(X509 *issuer, EVP_PKEY *issuer_key, int signing,
                       EVP_PKEY **key)
{
    tc_spec spec;

    memset(&spec, 0, sizeof(spec));
    spec.subject = responder_dn;
    spec.issuer = issuer;
    spec.issuer_key = issuer_key;
    spec.serial = "2001";
    spec.eku = signing ? "OCSPSigning" : "clientAuth";
    return tc_cert(tc_pool, &spec, key);
}

/* What a test response says. */
typedef struct {
    X509 *signer;
    EVP_PKEY *key;
    int include_signer;     /* put the signer in the response's certs */
    X509 *about;            /* certificate the status is for (NULL: leaf) */
    int status;             /* V_OCSP_CERTSTATUS_* */
    int reason;             /* for revoked */
    long this_offset;       /* seconds from now */
    long next_offset;       /* seconds from now; 0: no nextUpdate */
    int nonce;              /* 0: copy the request's; 1: none; 2: another */
    int resp_status;        /* OCSP_RESPONSE_STATUS_*; != 0: no body */
} resp_spec;

static void spec_default(resp_spec *s)
{
    memset(s, 0, sizeof(*s));
    s->signer = pki.inter;
    s->key = pki.inter_key;
    s->status = V_OCSP_CERTSTATUS_GOOD;
    s->this_offset = -60;
    s->next_offset = 3600;
}

/* The DER response to @a req_der. */
static unsigned char *build(const resp_spec *s, const unsigned char *req_der,
                            apr_size_t req_len, apr_size_t *len)
{
    const unsigned char *in = req_der;
    OCSP_REQUEST *req = d2i_OCSP_REQUEST(NULL, &in, (long)req_len);
    OCSP_BASICRESP *bs;
    OCSP_RESPONSE *resp;
    OCSP_CERTID *id;
    ASN1_TIME *thisupd, *nextupd = NULL, *revtime = NULL;
    unsigned char *der = NULL, *out;
    STACK_OF(X509) *certs = sk_X509_new_null();
    time_t now = time(NULL);
    int n;

    ck_assert_ptr_nonnull(req);
    if (s->resp_status) {
        resp = OCSP_response_create(s->resp_status, NULL);
    }
    else {
        bs = OCSP_BASICRESP_new();
        id = OCSP_cert_to_id(EVP_sha1(), s->about ? s->about : pki.leaf,
                             pki.inter);
        thisupd = ASN1_TIME_adj(NULL, now, 0, s->this_offset);
        if (s->next_offset) {
            nextupd = ASN1_TIME_adj(NULL, now, 0, s->next_offset);
        }
        if (s->status == V_OCSP_CERTSTATUS_REVOKED) {
            revtime = ASN1_TIME_adj(NULL, now, 0, -86400);
        }
        ck_assert(OCSP_basic_add1_status(bs, id, s->status, s->reason,
                                         revtime, thisupd, nextupd) != NULL);
        if (s->nonce == 0) {
            ck_assert_int_eq(OCSP_copy_nonce(bs, req), 1);
        }
        else if (s->nonce == 2) {
            ck_assert(OCSP_basic_add1_nonce(bs, NULL, -1));
        }
        ck_assert(OCSP_basic_sign(bs, s->signer, s->key, EVP_sha256(), certs,
                                  s->include_signer ? 0 : OCSP_NOCERTS));
        resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs);
        OCSP_CERTID_free(id);
        ASN1_TIME_free(thisupd);
        ASN1_TIME_free(nextupd);
        ASN1_TIME_free(revtime);
        OCSP_BASICRESP_free(bs);
    }
    ck_assert_ptr_nonnull(resp);
    n = i2d_OCSP_RESPONSE(resp, &der);
    ck_assert_int_gt(n, 0);
    out = apr_pmemdup(tc_pool, der, n);
    *len = (apr_size_t)n;
    OPENSSL_free(der);
    OCSP_RESPONSE_free(resp);
    OCSP_REQUEST_free(req);
    sk_X509_free(certs);
    return out;
}

/* Check @a s's response to a query about the leaf (with a nonce). */
static x509a_ocsp_status run(const resp_spec *s, const x509a_ocsp_conf *conf,
                             int check_nonce, x509a_ocsp_result *res)
{
    x509a_ocsp_query *q;
    x509a_ocsp_conf dflt = { 300, -1, NULL };
    const unsigned char *req;
    unsigned char *resp;
    apr_size_t req_len, len;
    const char *err;

    err = x509a_ocsp_query_make(tc_pool, pki.leaf, pki.inter, 1, &q);
    ck_assert_msg(err == NULL, "query: %s", err);
    req = x509a_ocsp_query_der(q, &req_len);
    resp = build(s, req, req_len, &len);
    x509a_ocsp_check(tc_pool, q, conf ? conf : &dflt, resp, len, check_nonce,
                     run_fetched < 0 ? apr_time_now() : run_fetched,
                     apr_time_now(), res);
    return res->status;
}

START_TEST(test_good)
{
    resp_spec s;
    x509a_ocsp_result r;

    spec_default(&s);
    ck_assert_int_eq(run(&s, NULL, 1, &r), X509A_OCSP_GOOD);
    ck_assert_int_gt(r.next_update, apr_time_now());
    ck_assert(r.expires == r.next_update);
}
END_TEST

START_TEST(test_revoked)
{
    resp_spec s;
    x509a_ocsp_result r;

    spec_default(&s);
    s.status = V_OCSP_CERTSTATUS_REVOKED;
    s.reason = OCSP_REVOKED_STATUS_KEYCOMPROMISE;
    ck_assert_int_eq(run(&s, NULL, 1, &r), X509A_OCSP_REVOKED);
    ck_assert_int_eq(r.reason, OCSP_REVOKED_STATUS_KEYCOMPROMISE);
    ck_assert_msg(tc_contains(r.why, "keyCompromise"), "%s", r.why);
}
END_TEST

START_TEST(test_unknown)
{
    resp_spec s;
    x509a_ocsp_result r;

    spec_default(&s);
    s.status = V_OCSP_CERTSTATUS_UNKNOWN;
    ck_assert_int_eq(run(&s, NULL, 1, &r), X509A_OCSP_UNKNOWN);
}
END_TEST

START_TEST(test_unsuccessful)
{
    static const int statuses[] = {
        OCSP_RESPONSE_STATUS_TRYLATER, OCSP_RESPONSE_STATUS_INTERNALERROR,
        OCSP_RESPONSE_STATUS_MALFORMEDREQUEST,
        OCSP_RESPONSE_STATUS_UNAUTHORIZED
    };
    resp_spec s;
    x509a_ocsp_result r;
    unsigned i;

    for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        spec_default(&s);
        s.resp_status = statuses[i];
        ck_assert_int_eq(run(&s, NULL, 1, &r), X509A_OCSP_ERROR);
        ck_assert_msg(tc_contains(r.why, OCSP_response_status_str(
                                              statuses[i])), "%s", r.why);
        ck_assert(r.expires == 0);
    }
}
END_TEST

START_TEST(test_unrelated_signer)
{
    resp_spec s;
    x509a_ocsp_result r;
    EVP_PKEY *key;
    X509 *other;
    tc_spec spec;

    /* a self-signed certificate of its own */
    memset(&spec, 0, sizeof(spec));
    spec.subject = responder_dn;
    other = tc_cert(tc_pool, &spec, &key);
    spec_default(&s);
    s.signer = other;
    s.key = key;
    s.include_signer = 1;
    ck_assert_int_eq(run(&s, NULL, 1, &r), X509A_OCSP_ERROR);
    /* the issuer's name, another key */
    spec.subject = inter_dn;
    other = tc_cert(tc_pool, &spec, &key);
    spec_default(&s);
    s.signer = other;
    s.key = key;
    s.include_signer = 1;
    ck_assert_int_eq(run(&s, NULL, 1, &r), X509A_OCSP_ERROR);
    s.include_signer = 0;
    ck_assert_int_eq(run(&s, NULL, 1, &r), X509A_OCSP_ERROR);
    /* the root (the issuer's issuer) is not the issuer */
    spec_default(&s);
    s.signer = pki.root;
    s.key = pki.root_key;
    s.include_signer = 1;
    ck_assert_int_eq(run(&s, NULL, 1, &r), X509A_OCSP_ERROR);
}
END_TEST

START_TEST(test_delegated)
{
    resp_spec s;
    x509a_ocsp_result r;
    EVP_PKEY *key;
    X509 *rsp;

    /* issued by the issuer with OCSPSigning: accepted */
    rsp = responder(pki.inter, pki.inter_key, 1, &key);
    spec_default(&s);
    s.signer = rsp;
    s.key = key;
    s.include_signer = 1;
    ck_assert_int_eq(run(&s, NULL, 1, &r), X509A_OCSP_GOOD);
    /* without OCSPSigning: refused */
    rsp = responder(pki.inter, pki.inter_key, 0, &key);
    s.signer = rsp;
    s.key = key;
    ck_assert_int_eq(run(&s, NULL, 1, &r), X509A_OCSP_ERROR);
    /* with OCSPSigning but issued by the root, not the issuer */
    rsp = responder(pki.root, pki.root_key, 1, &key);
    s.signer = rsp;
    s.key = key;
    ck_assert_int_eq(run(&s, NULL, 1, &r), X509A_OCSP_ERROR);
}
END_TEST

START_TEST(test_configured_responder)
{
    resp_spec s;
    x509a_ocsp_result r;
    x509a_ocsp_conf conf = { 300, -1, NULL };
    const char *file, *err;
    EVP_PKEY *key;
    X509 *rsp;
    tc_spec spec;

    memset(&spec, 0, sizeof(spec));
    spec.subject = responder_dn;
    rsp = tc_cert(tc_pool, &spec, &key);
    spec_default(&s);
    s.signer = rsp;
    s.key = key;
    /* not configured: refused */
    ck_assert_int_eq(run(&s, &conf, 1, &r), X509A_OCSP_ERROR);
    file = tc_pem_file(tc_pool, rsp, NULL);
    err = x509a_ocsp_load_responders(tc_pool, file, &conf.responders);
    ck_assert_msg(err == NULL, "%s", err);
    ck_assert_int_eq(run(&s, &conf, 1, &r), X509A_OCSP_GOOD);
    /* a response it did not sign is still refused */
    s.signer = tc_cert(tc_pool, &spec, &key);
    s.key = key;
    ck_assert_int_eq(run(&s, &conf, 1, &r), X509A_OCSP_ERROR);
    /* the issuer still signs for its own certificates */
    spec_default(&s);
    ck_assert_int_eq(run(&s, &conf, 1, &r), X509A_OCSP_GOOD);
    /* a file without certificates, a missing file */
    ck_assert_ptr_nonnull(x509a_ocsp_load_responders(
        tc_pool, tc_text_file(tc_pool, "nothing\n"), &conf.responders));
    ck_assert_ptr_nonnull(x509a_ocsp_load_responders(
        tc_pool, "/nonexistent/responder.pem", &conf.responders));
}
END_TEST

START_TEST(test_other_certificate)
{
    resp_spec s;
    x509a_ocsp_result r;

    tc_spec spec;

    /* another certificate of the same issuer (serial 1002) */
    memset(&spec, 0, sizeof(spec));
    spec.subject = responder_dn;
    spec.issuer = pki.inter;
    spec.issuer_key = pki.inter_key;
    spec.serial = "1002";
    spec_default(&s);
    s.about = tc_cert(tc_pool, &spec, NULL);
    ck_assert_int_eq(run(&s, NULL, 1, &r), X509A_OCSP_ERROR);
    ck_assert_msg(tc_contains(r.why, "does not cover"), "%s", r.why);
    /* a certificate of another issuer: the issuer did not sign for it */
    s.about = pki.inter;
    ck_assert_int_eq(run(&s, NULL, 1, &r), X509A_OCSP_ERROR);
}
END_TEST

START_TEST(test_times)
{
    resp_spec s;
    x509a_ocsp_result r;
    x509a_ocsp_conf conf = { 300, -1, NULL };

    /* stale: nextUpdate an hour ago */
    spec_default(&s);
    s.this_offset = -7200;
    s.next_offset = -3600;
    ck_assert_int_eq(run(&s, NULL, 1, &r), X509A_OCSP_ERROR);
    /* nextUpdate a minute ago: within the skew */
    s.next_offset = -60;
    ck_assert_int_eq(run(&s, NULL, 1, &r), X509A_OCSP_GOOD);
    /* ... but not with no skew */
    conf.skew = 0;
    ck_assert_int_eq(run(&s, &conf, 1, &r), X509A_OCSP_ERROR);
    /* thisUpdate an hour ahead */
    spec_default(&s);
    s.this_offset = 3600;
    s.next_offset = 7200;
    ck_assert_int_eq(run(&s, NULL, 1, &r), X509A_OCSP_ERROR);
    /* no nextUpdate: kept an hour from when it was fetched */
    spec_default(&s);
    s.next_offset = 0;
    ck_assert_int_eq(run(&s, NULL, 1, &r), X509A_OCSP_GOOD);
    ck_assert(r.next_update == 0);
    ck_assert(r.expires > apr_time_now() + apr_time_from_sec(3500));
    ck_assert(r.expires <= apr_time_now() + apr_time_from_sec(3600));
    /* ... and from thisUpdate when it comes from a cache */
    s.this_offset = -600;
    run_fetched = 0;
    ck_assert_int_eq(run(&s, NULL, 0, &r), X509A_OCSP_GOOD);
    run_fetched = -1;
    ck_assert(r.expires == r.this_update + apr_time_from_sec(3600));
    /* MaxAge: thisUpdate 10 min ago, MaxAge 15 min: 5 more minutes */
    spec_default(&s);
    s.this_offset = -600;
    conf.skew = 300;
    conf.max_age = 900;
    ck_assert_int_eq(run(&s, &conf, 1, &r), X509A_OCSP_GOOD);
    ck_assert(r.expires == r.this_update + apr_time_from_sec(900));
    /* MaxAge 1 min (with the 5 min skew): too old */
    conf.max_age = 60;
    ck_assert_int_eq(run(&s, &conf, 1, &r), X509A_OCSP_ERROR);
}
END_TEST

START_TEST(test_nonce)
{
    resp_spec s;
    x509a_ocsp_result r;

    spec_default(&s);
    s.nonce = 2;    /* another nonce */
    ck_assert_int_eq(run(&s, NULL, 1, &r), X509A_OCSP_ERROR);
    ck_assert_msg(tc_contains(r.why, "nonce"), "%s", r.why);
    s.nonce = 1;    /* not echoed */
    ck_assert_int_eq(run(&s, NULL, 1, &r), X509A_OCSP_ERROR);
    /* a cached response, answered to another query: nonce not checked */
    s.nonce = 2;
    ck_assert_int_eq(run(&s, NULL, 0, &r), X509A_OCSP_GOOD);
}
END_TEST

START_TEST(test_no_nonce_sent)
{
    x509a_ocsp_query *q;
    x509a_ocsp_conf conf = { 300, -1, NULL };
    x509a_ocsp_result r;
    const unsigned char *req;
    unsigned char *resp, id1[32], id2[32];
    apr_size_t req_len, len;
    resp_spec s;

    ck_assert_ptr_null(x509a_ocsp_query_make(tc_pool, pki.leaf, pki.inter, 0,
                                             &q));
    req = x509a_ocsp_query_der(q, &req_len);
    spec_default(&s);
    s.nonce = 1;
    resp = build(&s, req, req_len, &len);
    x509a_ocsp_check(tc_pool, q, &conf, resp, len, 1, apr_time_now(),
                     apr_time_now(), &r);
    ck_assert_int_eq(r.status, X509A_OCSP_GOOD);
    /* nor does a nonce nobody asked for */
    s.nonce = 2;
    resp = build(&s, req, req_len, &len);
    x509a_ocsp_check(tc_pool, q, &conf, resp, len, 1, apr_time_now(),
                     apr_time_now(), &r);
    ck_assert_int_eq(r.status, X509A_OCSP_GOOD);
    /* the id names the certificate, not the nonce */
    x509a_ocsp_query_id(q, id1);
    ck_assert_ptr_null(x509a_ocsp_query_make(tc_pool, pki.leaf, pki.inter, 1,
                                             &q));
    x509a_ocsp_query_id(q, id2);
    ck_assert_mem_eq(id1, id2, 32);
    ck_assert_ptr_null(x509a_ocsp_query_make(tc_pool, pki.inter, pki.root, 1,
                                             &q));
    x509a_ocsp_query_id(q, id2);
    ck_assert(memcmp(id1, id2, 32) != 0);
}
END_TEST

START_TEST(test_malformed)
{
    x509a_ocsp_query *q;
    x509a_ocsp_conf conf = { 300, -1, NULL };
    x509a_ocsp_result r;
    const unsigned char *req;
    unsigned char *resp;
    apr_size_t req_len, len;
    resp_spec s;

    ck_assert_ptr_null(x509a_ocsp_query_make(tc_pool, pki.leaf, pki.inter, 1,
                                             &q));
    x509a_ocsp_check(tc_pool, q, &conf, (const unsigned char *)"junk", 4, 1,
                     apr_time_now(), apr_time_now(), &r);
    ck_assert_int_eq(r.status, X509A_OCSP_ERROR);
    req = x509a_ocsp_query_der(q, &req_len);
    spec_default(&s);
    resp = build(&s, req, req_len, &len);
    /* trailing bytes, truncation */
    resp = apr_pmemdup(tc_pool, resp, len + 1);
    x509a_ocsp_check(tc_pool, q, &conf, resp, len + 1, 1, apr_time_now(),
                     apr_time_now(), &r);
    ck_assert_int_eq(r.status, X509A_OCSP_ERROR);
    x509a_ocsp_check(tc_pool, q, &conf, resp, len - 1, 1, apr_time_now(),
                     apr_time_now(), &r);
    ck_assert_int_eq(r.status, X509A_OCSP_ERROR);
    x509a_ocsp_check(tc_pool, q, &conf, resp, len, 1, apr_time_now(),
                     apr_time_now(), &r);
    ck_assert_int_eq(r.status, X509A_OCSP_GOOD);
}
END_TEST

START_TEST(test_aia)
{
    X509 *x = X509_dup(pki.leaf);
    X509_EXTENSION *ext;

    ck_assert_ptr_null(x509a_ocsp_aia_url(tc_pool, pki.leaf));
    ext = X509V3_EXT_conf_nid(NULL, NULL, NID_info_access,
                              "OCSP;URI:ldap://dir.example/,"
                              "caIssuers;URI:http://ca.example/ca.crt,"
                              "OCSP;URI:http://ocsp.example:8080/a");
    ck_assert_ptr_nonnull(ext);
    ck_assert(X509_add_ext(x, ext, -1));
    X509_EXTENSION_free(ext);
    ck_assert_str_eq(x509a_ocsp_aia_url(tc_pool, x),
                     "http://ocsp.example:8080/a");
    X509_free(x);
}
END_TEST

Suite *x509a_ocsp_suite(void)
{
    Suite *s = suite_create("x509a_ocsp");
    TCase *tc = tcase_create("ocsp");

    tcase_add_checked_fixture(tc, ocsp_setup, tc_teardown);
    tcase_add_test(tc, test_good);
    tcase_add_test(tc, test_revoked);
    tcase_add_test(tc, test_unknown);
    tcase_add_test(tc, test_unsuccessful);
    tcase_add_test(tc, test_unrelated_signer);
    tcase_add_test(tc, test_delegated);
    tcase_add_test(tc, test_configured_responder);
    tcase_add_test(tc, test_other_certificate);
    tcase_add_test(tc, test_times);
    tcase_add_test(tc, test_nonce);
    tcase_add_test(tc, test_no_nonce_sent);
    tcase_add_test(tc, test_malformed);
    tcase_add_test(tc, test_aia);
    suite_add_tcase(s, tc);
    return s;
}
