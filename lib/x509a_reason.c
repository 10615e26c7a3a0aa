/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/* Refusal reasons (X509_AUTHN_ERROR): OpenSSL's verification errors
 * mapped to the tokens, and the set of known tokens. */

#include <string.h>
#include <openssl/x509_vfy.h>

#include "x509a_reason.h"
#include "x509a_rules.h"

const char *x509a_reason_of_verify_error(int err, int depth)
{
    switch (err) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
        return X509A_REASON_EXPIRED;
    case X509_V_ERR_CERT_NOT_YET_VALID:
        return X509A_REASON_NOT_YET_VALID;
    case X509_V_ERR_CERT_REVOKED:
        return X509A_REASON_REVOKED;
    /* the CRL, not the certificate, is at fault: revocation unknown */
    case X509_V_ERR_UNABLE_TO_GET_CRL:
    case X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE:
    case X509_V_ERR_CRL_SIGNATURE_FAILURE:
    case X509_V_ERR_CRL_NOT_YET_VALID:
    case X509_V_ERR_CRL_HAS_EXPIRED:
    case X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD:
    case X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD:
    case X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER:
    case X509_V_ERR_KEYUSAGE_NO_CRL_SIGN:
    case X509_V_ERR_UNHANDLED_CRITICAL_CRL_EXTENSION:
    case X509_V_ERR_DIFFERENT_CRL_SCOPE:
    case X509_V_ERR_CRL_PATH_VALIDATION_ERROR:
        return X509A_REASON_REVOCATION_UNKNOWN;
    case X509_V_ERR_INVALID_PURPOSE:
        /* the leaf's purpose (EKU, key usage): not a client's; a CA's
         * purpose makes the chain invalid */
        return depth == 0 ? X509A_REASON_NOT_A_CLIENT_CERTIFICATE
                          : X509A_REASON_CHAIN_INVALID;
    /* says nothing about the certificate (as x509a_verify_info.transient) */
    case X509_V_OK:             /* a failure without a code */
    case X509_V_ERR_OUT_OF_MEM:
    case X509_V_ERR_UNSPECIFIED:
    case X509_V_ERR_STORE_LOOKUP:
        return X509A_REASON_INTERNAL;
    default:
        return X509A_REASON_CHAIN_INVALID;
    }
}

static const char *const fixed_reasons[] = {
    X509A_REASON_NO_CERTIFICATE, X509A_REASON_NOT_VERIFIED,
    X509A_REASON_UNTRUSTED_PEER, X509A_REASON_PROXY_REFUSED,
    X509A_REASON_DECODE_ERROR, X509A_REASON_CHAIN_INVALID,
    X509A_REASON_EXPIRED, X509A_REASON_NOT_YET_VALID,
    X509A_REASON_REVOKED, X509A_REASON_REVOCATION_UNKNOWN,
    X509A_REASON_NOT_A_CLIENT_CERTIFICATE, X509A_REASON_UNMAPPED,
    X509A_REASON_NO_USER_NAME, X509A_REASON_INTERNAL
};
#define FIXED_REASONS ((int)(sizeof(fixed_reasons) / sizeof(fixed_reasons[0])))
typedef char fixed_reasons_counted[FIXED_REASONS + X509A_RULE_KINDS
                                   == X509A_REASON_COUNT ? 1 : -1];

const char *x509a_reason_at(int i)
{
    if (i < 0 || i >= X509A_REASON_COUNT) {
        return NULL;
    }
    if (i < FIXED_REASONS) {
        return fixed_reasons[i];
    }
    return x509a_rule_reason((x509a_rule_kind)(i - FIXED_REASONS));
}

const char *x509a_reason_known(const char *s, apr_size_t len)
{
    int i;

    for (i = 0; i < X509A_REASON_COUNT; i++) {
        const char *t = x509a_reason_at(i);

        if (strlen(t) == len && !memcmp(t, s, len)) {
            return t;
        }
    }
    return NULL;
}
