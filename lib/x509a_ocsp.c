/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/* OCSP requests and the RFC 6960 checks of responses, with OpenSSL's OCSP
 * functions: OCSP_basic_verify() for the signer, OCSP_resp_find_status()
 * for the CertID, OCSP_check_validity() for the times, OCSP_check_nonce()
 * for the nonce. */

#include <string.h>
#include <time.h>
#include <apr_strings.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "x509a_ocsp.h"
#include "x509a_cert.h"

struct x509a_ocsp_query {
    X509 *cert;             /* references held */
    X509 *issuer;
    OCSP_CERTID *id;        /* the CertID asked about */
    OCSP_REQUEST *req;      /* holds the nonce */
    unsigned char *der;     /* the request, from the pool */
    apr_size_t len;
};

static apr_status_t query_cleanup(void *data)
{
    x509a_ocsp_query *q = data;

    OCSP_CERTID_free(q->id);
    OCSP_REQUEST_free(q->req);
    X509_free(q->cert);
    X509_free(q->issuer);
    return APR_SUCCESS;
}

static const char *openssl_reason(apr_pool_t *p, const char *what)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;

    ERR_clear_error();
    return r ? apr_pstrcat(p, what, ": ", r, NULL) : what;
}

const char *x509a_ocsp_query_make(apr_pool_t *p, X509 *cert, X509 *issuer,
                                  int nonce, x509a_ocsp_query **out)
{
    x509a_ocsp_query *q = apr_pcalloc(p, sizeof(*q));
    OCSP_CERTID *one;
    unsigned char *der = NULL;
    int len;

    if (!X509_up_ref(cert)) {
        return "out of memory";
    }
    q->cert = cert;
    if (!X509_up_ref(issuer)) {
        X509_free(cert);
        return "out of memory";
    }
    q->issuer = issuer;
    apr_pool_cleanup_register(p, q, query_cleanup, apr_pool_cleanup_null);
    /* SHA-1: the hash responders index by (RFC 5019 2.1.1); it names the
     * issuer, it does not vouch for anything */
    q->id = OCSP_cert_to_id(EVP_sha1(), cert, issuer);
    one = q->id ? OCSP_CERTID_dup(q->id) : NULL;
    q->req = OCSP_REQUEST_new();
    if (!one || !q->req || !OCSP_request_add0_id(q->req, one)) {
        OCSP_CERTID_free(one);
        return openssl_reason(p, "cannot build the OCSP request");
    }
    if (nonce && !OCSP_request_add1_nonce(q->req, NULL, -1)) {
        return openssl_reason(p, "cannot add a nonce to the OCSP request");
    }
    len = i2d_OCSP_REQUEST(q->req, &der);
    if (len <= 0) {
        return openssl_reason(p, "cannot encode the OCSP request");
    }
    q->der = apr_pmemdup(p, der, len);
    q->len = (apr_size_t)len;
    OPENSSL_free(der);
    *out = q;
    return NULL;
}

const unsigned char *x509a_ocsp_query_der(const x509a_ocsp_query *q,
                                          apr_size_t *len)
{
    *len = q->len;
    return q->der;
}

void x509a_ocsp_query_id(const x509a_ocsp_query *q, unsigned char out[32])
{
    unsigned char *der = NULL;
    int len = i2d_OCSP_CERTID(q->id, &der);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int mdlen;

    /* should the encoding fail, the query's address: a key no other
     * query shares while it lives (a cache miss, never another's answer) */
    EVP_DigestInit_ex(md, x509a_sha256(), NULL);
    EVP_DigestUpdate(md, "x509a-ocsp-certid-1", 19);
    if (len > 0) {
        EVP_DigestUpdate(md, der, len);
    }
    else {
        EVP_DigestUpdate(md, &q, sizeof(q));
    }
    EVP_DigestFinal_ex(md, out, &mdlen);
    EVP_MD_CTX_free(md);
    OPENSSL_free(der);
}

const char *x509a_ocsp_aia_url(apr_pool_t *p, X509 *cert)
{
    STACK_OF(OPENSSL_STRING) *urls = X509_get1_ocsp(cert);
    const char *found = NULL;
    int i;

    for (i = 0; urls && i < sk_OPENSSL_STRING_num(urls) && !found; i++) {
        const char *u = sk_OPENSSL_STRING_value(urls, i);
        if (!strncasecmp(u, "http://", 7) || !strncasecmp(u, "https://", 8)) {
            found = apr_pstrdup(p, u);
        }
    }
    X509_email_free(urls);
    return found;
}


static void fail(x509a_ocsp_result *out, const char *why)
{
    out->status = X509A_OCSP_ERROR;
    out->why = why;
    out->expires = 0;
}

void x509a_ocsp_check(apr_pool_t *p, const x509a_ocsp_query *q,
                      const x509a_ocsp_conf *conf, const unsigned char *der,
                      apr_size_t len, int check_nonce, apr_time_t fetched,
                      apr_time_t now, x509a_ocsp_result *out)
{
    const unsigned char *in = der;
    OCSP_RESPONSE *resp = NULL;
    OCSP_BASICRESP *bs = NULL;
    X509_STORE *store = NULL;
    STACK_OF(X509) *signers = NULL;
    ASN1_GENERALIZEDTIME *rev = NULL, *thisupd = NULL, *nextupd = NULL;
    unsigned long flags;
    int rs, status, nonce, reason = -1;

    memset(out, 0, sizeof(*out));
    out->reason = -1;
    if (len > X509A_OCSP_MAX_RESPONSE) {
        fail(out, "OCSP response too large");
        goto done;
    }
    resp = d2i_OCSP_RESPONSE(NULL, &in, (long)len);
    if (!resp || in != der + len) {
        fail(out, "malformed OCSP response");
        goto done;
    }
    rs = OCSP_response_status(resp);
    if (rs != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
        /* tryLater, internalError, malformedRequest, sigRequired,
         * unauthorized: the responder gave no answer */
        fail(out, apr_psprintf(p, "OCSP responder answered %s (%d)",
                               OCSP_response_status_str(rs), rs));
        goto done;
    }
    if (!(bs = OCSP_response_get1_basic(resp))) {
        fail(out, "OCSP response is not a basic response");
        goto done;
    }
    /* The signer (RFC 6960 4.2.2.2): the issuer itself, or a certificate
     * issued by it with id-kp-OCSPSigning (OCSP_basic_verify's
     * ocsp_check_issuer), found in the response; the issuer is the only
     * trust anchor (a partial chain), so nothing else can vouch.  The
     * configured responder certificates are trusted as they are
     * (OCSP_TRUSTOTHER, as mod_ssl's SSLOCSPResponderCertificateFile).
     * NOEXPLICIT: no certificate's "trusted for OCSP signing" aux
     * setting stands in for these rules. */
    store = X509_STORE_new();
    if (!store || !X509_STORE_add_cert(store, q->issuer)) {
        fail(out, "out of memory");
        goto done;
    }
    X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN);
    /* the issuer may sign without including itself (RFC 6960 4.2.1) */
    if (!(signers = sk_X509_new_null()) || !sk_X509_push(signers, q->issuer)
        || (conf->responders
            && !X509_add_certs(signers, conf->responders,
                               X509_ADD_FLAG_DEFAULT))) {
        fail(out, "out of memory");
        goto done;
    }
    flags = OCSP_NOEXPLICIT;
    if (conf->responders && sk_X509_num(conf->responders) > 0) {
        flags |= OCSP_TRUSTOTHER;
    }
    if (OCSP_basic_verify(bs, signers, store, flags) <= 0) {
        fail(out, openssl_reason(p, "OCSP response signature not "
                                    "acceptable"));
        goto done;
    }
    /* 1: sent and echoed; 2: neither, 3: one nobody asked for (no nonce
     * sent: nothing to check).  -1: sent, not echoed; 0: another nonce */
    if (check_nonce && (nonce = OCSP_check_nonce(q->req, bs)) != 1
        && nonce != 2 && nonce != 3) {
        fail(out, "OCSP response nonce does not match the request's "
                  "(X509AuthnOCSPUseNonce off for responders that do not "
                  "echo nonces)");
        goto done;
    }
    if (!OCSP_resp_find_status(bs, q->id, &status, &reason, &rev, &thisupd,
                               &nextupd)) {
        fail(out, "OCSP response does not cover the certificate");
        goto done;
    }
    if (!OCSP_check_validity(thisupd, nextupd, conf->skew, conf->max_age)) {
        fail(out, openssl_reason(p, "OCSP response is not current"));
        goto done;
    }
    out->this_update = x509a_time(thisupd);
    out->next_update = nextupd ? x509a_time(nextupd) : 0;
    out->expires = nextupd ? out->next_update
                           : (fetched ? fetched : out->this_update)
                             + X509A_OCSP_DEFAULT_KEEP;
    if (conf->max_age >= 0
        && out->this_update + apr_time_from_sec(conf->max_age)
           < out->expires) {
        out->expires = out->this_update + apr_time_from_sec(conf->max_age);
    }
    (void)now;
    switch (status) {
    case V_OCSP_CERTSTATUS_GOOD:
        out->status = X509A_OCSP_GOOD;
        out->why = "good";
        break;
    case V_OCSP_CERTSTATUS_REVOKED:
        out->status = X509A_OCSP_REVOKED;
        out->reason = reason;
        out->why = apr_psprintf(p, "revoked (%s) at %" APR_TIME_T_FMT,
                                reason >= 0 ? OCSP_crl_reason_str(reason)
                                            : "no reason given",
                                apr_time_sec(x509a_time(rev)));
        break;
    default:
        out->status = X509A_OCSP_UNKNOWN;
        out->why = "the OCSP responder does not know the certificate";
        break;
    }

done:
    ERR_clear_error();
    sk_X509_free(signers);
    X509_STORE_free(store);
    OCSP_BASICRESP_free(bs);
    OCSP_RESPONSE_free(resp);
}

static apr_status_t free_certs(void *data)
{
    sk_X509_pop_free(data, X509_free);
    return APR_SUCCESS;
}

const char *x509a_ocsp_load_responders(apr_pool_t *p, const char *file,
                                       STACK_OF(X509) **out)
{
    BIO *bio = BIO_new_file(file, "r");
    STACK_OF(X509) *certs;
    X509 *x;

    if (!bio) {
        return openssl_reason(p, apr_psprintf(p, "cannot read '%s'", file));
    }
    certs = sk_X509_new_null();
    while (certs && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
        if (!sk_X509_push(certs, x)) {
            X509_free(x);
            break;
        }
    }
    BIO_free(bio);
    ERR_clear_error();
    if (!certs) {
        return "out of memory";
    }
    apr_pool_cleanup_register(p, certs, free_certs, apr_pool_cleanup_null);
    if (sk_X509_num(certs) == 0) {
        return apr_psprintf(p, "'%s' holds no PEM certificate", file);
    }
    *out = certs;
    return NULL;
}
