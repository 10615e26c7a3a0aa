/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/* Per-directory certificate rules: OR within a kind, AND across kinds. */

#include <string.h>
#include <errno.h>
#include <strings.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "x509a_rules.h"

struct x509a_rules {
    /** Accepted values per kind, NULL when the kind is not configured.
     *  SUBJECT/ISSUER: x509a_dn *; SERIAL: x509a_serial;
     *  FINGERPRINT: x509a_fingerprint; SPKI: unsigned char[32];
     *  EKU/POLICY: ASN1_OBJECT *; ISSUING_CA: const char * (file names);
     *  MAX_DEPTH: one int. */
    apr_array_header_t *vals[X509A_RULE_KINDS];
    /** The certificates of the ISSUING_CA files, in the order read. */
    STACK_OF(X509) *issuing_cas;
    /** SHA-256 over the DER of every certificate of @a issuing_cas (see
     *  digest_cas()): the memo key of the ISSUING_CA answer.  Set with
     *  @a issuing_cas, and taken with it by x509a_rules_merge(). */
    unsigned char issuing_ca_digest[X509A_MEMO_KEY_LEN];
    /** SHA-256 over the DER of the POLICY OIDs (see digest_policies()):
     *  the memo key of the POLICY answer; taken with vals[POLICY]. */
    unsigned char policy_digest[X509A_MEMO_KEY_LEN];
    /** Bit k set when vals[k] is. */
    unsigned int kinds;
};

static const char *const rule_names[X509A_RULE_KINDS] = {
    "X509AuthnRequireSubject",
    "X509AuthnRequireIssuer",
    "X509AuthnRequireSerial",
    "X509AuthnRequireFingerprint",
    "X509AuthnRequireSPKI",
    "X509AuthnRequireEKU",
    "X509AuthnRequirePolicy",
    "X509AuthnRequireIssuingCA",
    "X509AuthnMaxDepth"
};

const char *x509a_rule_name(x509a_rule_kind kind)
{
    return kind < X509A_RULE_KINDS ? rule_names[kind] : "?";
}

const char *x509a_rule_reason(x509a_rule_kind kind)
{
    /* stable tokens: never the directive names, which may grow aliases */
    static const char *const reasons[X509A_RULE_KINDS] = {
        "rule:Subject",
        "rule:Issuer",
        "rule:Serial",
        "rule:Fingerprint",
        "rule:SPKI",
        "rule:EKU",
        "rule:Policy",
        "rule:IssuingCA",
        "rule:MaxDepth"
    };

    return kind < X509A_RULE_KINDS ? reasons[kind] : "rule:?";
}

x509a_rules *x509a_rules_make(apr_pool_t *p)
{
    return apr_pcalloc(p, sizeof(x509a_rules));
}

static apr_status_t free_objects(void *data)
{
    apr_array_header_t *objs = data;
    int i;

    for (i = 0; i < objs->nelts; i++) {
        ASN1_OBJECT_free(APR_ARRAY_IDX(objs, i, ASN1_OBJECT *));
    }
    return APR_SUCCESS;
}

static apr_status_t free_stack(void *data)
{
    sk_X509_pop_free(data, X509_free);
    return APR_SUCCESS;
}

/* The IssuingCA answer depends on the set's content, and on the
 * certificate object (whose memo forgets it when the chain or store
 * changes): key it by a digest of every CA's DER, in order, so that rules
 * at another address with the same content share the answer, and rules
 * with other content (another .htaccess, an edited file) never do.  Each
 * certificate's SHA-256 is a fixed-size element: the encoding is
 * unambiguous. */
static const char *digest_cas(x509a_rules *rules)
{
    static const char label[] = "x509a IssuingCA set 1";
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len;
    int i, ok;

    ok = ctx && EVP_DigestInit_ex(ctx, x509a_sha256(), NULL)
         && EVP_DigestUpdate(ctx, label, sizeof(label));
    for (i = 0; ok && i < sk_X509_num(rules->issuing_cas); i++) {
        ok = X509_digest(sk_X509_value(rules->issuing_cas, i), x509a_sha256(),
                         md, &len)
             && EVP_DigestUpdate(ctx, md, len);
    }
    ok = ok && EVP_DigestFinal_ex(ctx, rules->issuing_ca_digest, &len)
         && len == X509A_MEMO_KEY_LEN;
    EVP_MD_CTX_free(ctx);
    if (!ok) {
        ERR_clear_error();
        return "cannot compute the SHA-256 digest of the CA certificates";
    }
    return NULL;
}

/* The Policy answer depends on the OID set and the path: key it by the
 * set's content, as the IssuingCA answer (distinct label).  Each OID is
 * prefixed by its length. */
static const char *digest_policies(x509a_rules *rules)
{
    static const char label[] = "x509a Policy set 1";
    const apr_array_header_t *oids = rules->vals[X509A_RULE_POLICY];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int len;
    int i, ok;

    ok = ctx && EVP_DigestInit_ex(ctx, x509a_sha256(), NULL)
         && EVP_DigestUpdate(ctx, label, sizeof(label));
    for (i = 0; ok && oids && i < oids->nelts; i++) {
        const ASN1_OBJECT *o = APR_ARRAY_IDX(oids, i, ASN1_OBJECT *);
        size_t n = OBJ_length(o);
        unsigned char n4[4] = { (unsigned char)(n >> 24),
                                (unsigned char)(n >> 16),
                                (unsigned char)(n >> 8), (unsigned char)n };

        ok = EVP_DigestUpdate(ctx, n4, 4)
             && EVP_DigestUpdate(ctx, OBJ_get0_data(o), n);
    }
    ok = ok && EVP_DigestFinal_ex(ctx, rules->policy_digest, &len)
         && len == X509A_MEMO_KEY_LEN;
    EVP_MD_CTX_free(ctx);
    if (!ok) {
        ERR_clear_error();
        return "cannot compute the SHA-256 digest of the policy OIDs";
    }
    return NULL;
}

/* Read the CAs of @a file and add them to the set, then digest the set.
 * A file that fails leaves the set as it was. */
static const char *load_cas(x509a_rules *rules, apr_pool_t *p,
                            const char *file)
{
    BIO *bio = BIO_new_file(file, "r");
    STACK_OF(X509) *cas = sk_X509_new_null();
    const char *err = NULL;
    X509 *x;

    if (!bio || !cas) {
        err = apr_psprintf(p, "cannot read '%s': %s", file,
                           bio ? "out of memory" : strerror(errno));
        BIO_free(bio);
        sk_X509_free(cas);
        ERR_clear_error();
        return err;
    }
    while (!err && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (X509_check_ca(x) == 0) {
            char *subject = X509_NAME_oneline(X509_get_subject_name(x),
                                              NULL, 0);
            err = apr_psprintf(p, "'%s' holds a certificate that is not a "
                               "CA: %s", file, subject);
            OPENSSL_free(subject);
            X509_free(x);
        }
        else if (!sk_X509_push(cas, x)) {
            X509_free(x);
            err = "out of memory";
        }
    }
    ERR_clear_error();  /* the end of the file ends the loop with an error */
    BIO_free(bio);
    if (!err && sk_X509_num(cas) == 0) {
        err = apr_psprintf(p, "'%s' holds no PEM certificate", file);
    }
    if (!err && !rules->issuing_cas) {
        if ((rules->issuing_cas = sk_X509_new_null()) == NULL) {
            err = "out of memory";
        }
        else {
            apr_pool_cleanup_register(p, rules->issuing_cas, free_stack,
                                      apr_pool_cleanup_null);
        }
    }
    while (!err && sk_X509_num(cas) > 0) {
        x = sk_X509_shift(cas);
        if (!sk_X509_push(rules->issuing_cas, x)) {
            X509_free(x);
            err = "out of memory";
        }
    }
    sk_X509_pop_free(cas, X509_free);
    /* the digest follows the set, even one left incomplete by an error */
    if (rules->issuing_cas) {
        const char *derr = digest_cas(rules);
        err = err ? err : derr;
    }
    return err;
}

/* An object by dotted OID or OpenSSL name.  Names are matched without
 * regard to case (OBJ_txt2obj() is case-sensitive: "clientauth" would miss
 * clientAuth); a name that several objects share that way is refused. */
static ASN1_OBJECT *object_of(const char *value)
{
    ASN1_OBJECT *obj = OBJ_txt2obj(value, 0);
    int nid, found = NID_undef, last = OBJ_new_nid(0);

    if (obj) {
        return obj;
    }
    ERR_clear_error();
    for (nid = 1; nid < last; nid++) {
        const char *sn = OBJ_nid2sn(nid), *ln = OBJ_nid2ln(nid);
        const ASN1_OBJECT *o;

        if ((!sn || strcasecmp(sn, value)) && (!ln || strcasecmp(ln, value))) {
            continue;
        }
        o = OBJ_nid2obj(nid);
        if (!o || OBJ_length(o) == 0) {
            continue;
        }
        if (found != NID_undef) {
            ERR_clear_error();
            return NULL;
        }
        found = nid;
    }
    ERR_clear_error();
    return found == NID_undef ? NULL : OBJ_dup(OBJ_nid2obj(found));
}

static const char *rules_add(x509a_rules *rules, apr_pool_t *p,
                             x509a_rule_kind kind, const char *value,
                             const char **warning);

const char *x509a_rules_add(x509a_rules *rules, apr_pool_t *p,
                            x509a_rule_kind kind, const char *value,
                            const char **warning)
{
    const char *err = rules_add(rules, p, kind, value, warning);

    if (!err) {
        rules->kinds |= 1u << kind;
    }
    return err;
}

static const char *rules_add(x509a_rules *rules, apr_pool_t *p,
                             x509a_rule_kind kind, const char *value,
                             const char **warning)
{
    apr_array_header_t **vals = &rules->vals[kind];
    const char *err = NULL;

    if (warning) {
        *warning = NULL;
    }
    switch (kind) {
    case X509A_RULE_SUBJECT:
    case X509A_RULE_ISSUER: {
        x509a_dn *dn;
        if ((err = x509a_dn_parse(p, value, &dn))) {
            return err;
        }
        if (warning && x509a_dn_looks_reversed(dn)) {
            *warning = apr_psprintf(p, "'%s' lists its RDNs root first; "
                                    "RFC 4514 writes the most specific RDN "
                                    "(e.g. CN) first, and so compares it "
                                    "reversed (the slash form /C=../CN=.. "
                                    "is written root first)", value);
        }
        if (!*vals) {
            *vals = apr_array_make(p, 2, sizeof(x509a_dn *));
        }
        APR_ARRAY_PUSH(*vals, x509a_dn *) = dn;
        return NULL;
    }
    case X509A_RULE_SERIAL: {
        x509a_serial s;
        if ((err = x509a_serial_parse(p, value, &s))) {
            return err;
        }
        if (!*vals) {
            *vals = apr_array_make(p, 2, sizeof(x509a_serial));
        }
        APR_ARRAY_PUSH(*vals, x509a_serial) = s;
        return NULL;
    }
    case X509A_RULE_FINGERPRINT: {
        x509a_fingerprint f;
        if ((err = x509a_fingerprint_parse(p, value, &f))) {
            return err;
        }
        if (!*vals) {
            *vals = apr_array_make(p, 2, sizeof(x509a_fingerprint));
        }
        APR_ARRAY_PUSH(*vals, x509a_fingerprint) = f;
        return NULL;
    }
    case X509A_RULE_SPKI: {
        unsigned char pin[32];
        if ((err = x509a_spki_pin_parse(p, value, pin))) {
            return err;
        }
        if (!*vals) {
            *vals = apr_array_make(p, 2, sizeof(pin));
        }
        memcpy(apr_array_push(*vals), pin, sizeof(pin));
        return NULL;
    }
    case X509A_RULE_EKU:
    case X509A_RULE_POLICY: {
        ASN1_OBJECT *obj = object_of(value);
        if (!obj) {
            return kind == X509A_RULE_EKU
                ? apr_psprintf(p, "'%s' is not an extended key usage: use a "
                               "name such as clientAuth or a dotted OID", value)
                : apr_psprintf(p, "'%s' is not a policy OID: use dotted "
                               "notation such as 1.3.6.1.4.1.99999.1", value);
        }
        if (!*vals) {
            *vals = apr_array_make(p, 2, sizeof(ASN1_OBJECT *));
            apr_pool_cleanup_register(p, *vals, free_objects,
                                      apr_pool_cleanup_null);
        }
        APR_ARRAY_PUSH(*vals, ASN1_OBJECT *) = obj;
        return kind == X509A_RULE_POLICY ? digest_policies(rules) : NULL;
    }
    case X509A_RULE_ISSUING_CA:
        if ((err = load_cas(rules, p, value))) {
            return err;
        }
        if (!*vals) {
            *vals = apr_array_make(p, 1, sizeof(const char *));
        }
        APR_ARRAY_PUSH(*vals, const char *) = apr_pstrdup(p, value);
        return NULL;
    case X509A_RULE_MAX_DEPTH: {
        char *end;
        long n;

        errno = 0;
        n = strtol(value, &end, 10);
        if (errno || end == value || *end || n < 0 || n > 100
            || !apr_isdigit(*value)) {
            return apr_psprintf(p, "'%s' is not a depth: use a number from "
                                "0 to 100 (CA certificates above the leaf, "
                                "as SSLVerifyDepth)", value);
        }
        /* one value: a later directive replaces it */
        *vals = apr_array_make(p, 1, sizeof(int));
        APR_ARRAY_PUSH(*vals, int) = (int)n;
        return NULL;
    }
    default:
        return "unknown rule";
    }
}

const unsigned char *x509a_rules_issuing_ca_digest(const x509a_rules *rules)
{
    return x509a_rules_has(rules, X509A_RULE_ISSUING_CA)
           ? rules->issuing_ca_digest : NULL;
}

const unsigned char *x509a_rules_policy_digest(const x509a_rules *rules)
{
    return x509a_rules_has(rules, X509A_RULE_POLICY)
           ? rules->policy_digest : NULL;
}

int x509a_rules_has(const x509a_rules *rules, x509a_rule_kind kind)
{
    return rules && rules->vals[kind] != NULL;
}

int x509a_rules_empty(const x509a_rules *rules)
{
    return !rules || rules->kinds == 0;
}

x509a_rules *x509a_rules_merge(apr_pool_t *p, const x509a_rules *base,
                               const x509a_rules *add)
{
    const x509a_rules *src;
    x509a_rules *m;
    int k;

    /* Merging happens per request too: share the values, copy nothing,
     * and allocate nothing when one side has no rules. */
    if (x509a_rules_empty(add)) {
        return (x509a_rules *)base;
    }
    if (x509a_rules_empty(base)) {
        return (x509a_rules *)add;
    }
    m = apr_palloc(p, sizeof(*m));
    for (k = 0; k < X509A_RULE_KINDS; k++) {
        m->vals[k] = add->vals[k] ? add->vals[k] : base->vals[k];
    }
    /* the CA set and its digest come from the same side */
    src = add->vals[X509A_RULE_ISSUING_CA] ? add : base;
    m->issuing_cas = src->issuing_cas;
    memcpy(m->issuing_ca_digest, src->issuing_ca_digest,
           sizeof(m->issuing_ca_digest));
    src = add->vals[X509A_RULE_POLICY] ? add : base;
    memcpy(m->policy_digest, src->policy_digest, sizeof(m->policy_digest));
    m->kinds = add->kinds | base->kinds;
    return m;
}

/* --------------------------------------------------------------------- */
/* Checks                                                                 */
/* --------------------------------------------------------------------- */

static int match_dn(const apr_array_header_t *vals, const x509a_dn *dn)
{
    int i;

    for (i = 0; i < vals->nelts; i++) {
        if (x509a_dn_equal(APR_ARRAY_IDX(vals, i, x509a_dn *), dn)) {
            return 1;
        }
    }
    return 0;
}

static int match_serial(const apr_array_header_t *vals, x509a_cert *c)
{
    const x509a_serial *serial = x509a_cert_serial(c);
    int i;

    for (i = 0; i < vals->nelts; i++) {
        if (x509a_serial_equal(&APR_ARRAY_IDX(vals, i, x509a_serial), serial)) {
            return 1;
        }
    }
    return 0;
}

static int match_fingerprint(const apr_array_header_t *vals, x509a_cert *c)
{
    int i;

    for (i = 0; i < vals->nelts; i++) {
        const x509a_fingerprint *f = &APR_ARRAY_IDX(vals, i, x509a_fingerprint);
        if (memcmp(f->md, x509a_cert_digest(c, f->alg), f->len) == 0) {
            return 1;
        }
    }
    return 0;
}

static int match_spki(const apr_array_header_t *vals, x509a_cert *c)
{
    const unsigned char *spki = x509a_cert_spki_sha256(c);
    int i;

    for (i = 0; spki && i < vals->nelts; i++) {
        if (memcmp(vals->elts + i * vals->elt_size, spki, 32) == 0) {
            return 1;
        }
    }
    return 0;
}

static int match_eku(const apr_array_header_t *vals, x509a_cert *c)
{
    int j;

    for (j = 0; j < vals->nelts; j++) {
        if (x509a_cert_has_eku(c, APR_ARRAY_IDX(vals, j, ASN1_OBJECT *))) {
            return 1;
        }
    }
    return 0;
}

int x509a_path_has_policy(x509a_cert *c, const apr_array_header_t *policies,
                          time_t now)
{
    const char *why = NULL;
    STACK_OF(X509) *path = x509a_cert_path(c, now, &why);
    STACK_OF(ASN1_OBJECT) *oids;
    X509_POLICY_TREE *tree = NULL;
    int i, explicit_policy = 0, ret = 0;

    /* a path of the anchor alone has no policy processing (RFC 5280 6.1
     * processes the certificates below the anchor): nothing to assert */
    if (!path || sk_X509_num(path) < 2 || !policies || !policies->nelts) {
        return 0;
    }
    if ((oids = sk_ASN1_OBJECT_new_null()) == NULL) {
        return 0;
    }
    for (i = 0; i < policies->nelts; i++) {
        if (!sk_ASN1_OBJECT_push(oids, APR_ARRAY_IDX(policies, i,
                                                     ASN1_OBJECT *))) {
            sk_ASN1_OBJECT_free(oids);
            return 0;
        }
    }
    /* the function X509_verify_cert() runs for policy checking, on the
     * path verification found: user-initial-policy-set = the rule's OIDs,
     * initial-explicit-policy (the path must be valid for one of them),
     * policy mapping and any-policy as the certificates allow */
    ret = X509_policy_check(&tree, &explicit_policy, path, oids,
                            X509_V_FLAG_POLICY_CHECK
                            | X509_V_FLAG_EXPLICIT_POLICY);
    X509_policy_tree_free(tree);
    sk_ASN1_OBJECT_free(oids);      /* the objects belong to the rules */
    ERR_clear_error();
    return ret == X509_PCY_TREE_VALID;
}

int x509a_chain_passes_through(x509a_cert *c, STACK_OF(X509) *cas,
                               time_t now)
{
    const unsigned char *digests;
    STACK_OF(X509) *path;
    const char *why = NULL;
    int i, j, n;

    if (!cas || sk_X509_num(cas) == 0) {
        return 0;
    }
    if (!x509a_cert_verified_chain(c)
        && (digests = x509a_cert_verified_digests(c, &n)) != NULL) {
        /* a verification remembered by fingerprints: compare those */
        for (j = 0; j < sk_X509_num(cas); j++) {
            unsigned char md[32];
            unsigned int mdlen;

            if (!X509_digest(sk_X509_value(cas, j), x509a_sha256(), md,
                             &mdlen)) {
                continue;
            }
            for (i = 1; i < n; i++) {
                if (memcmp(digests + 32 * i, md, 32) == 0) {
                    return 1;
                }
            }
        }
        return 0;
    }
    /* the verified chain, or (a resumed TLS session) the path found by
     * verifying again: never one built by signatures alone, which could
     * go through a CA that verification refused (expired, revoked, not
     * the one that was chosen) */
    path = x509a_cert_path(c, now, &why);
    for (i = 1; path && i < sk_X509_num(path); i++) {
        for (j = 0; j < sk_X509_num(cas); j++) {
            if (X509_cmp(sk_X509_value(path, i), sk_X509_value(cas, j)) == 0) {
                return 1;
            }
        }
    }
    return 0;
}

/* The depth of the verified path as mod_ssl counts it (CA certificates
 * above the leaf, anchor included), or -1 when none is known. */
static int path_depth(x509a_cert *c, time_t now, const char **why)
{
    int n = x509a_cert_verified_length(c);
    STACK_OF(X509) *path;

    if (n > 0) {
        return n - 1;
    }
    path = x509a_cert_path(c, now, why);
    return path ? sk_X509_num(path) - 1 : -1;
}

int x509a_rules_check(const x509a_rules *rules, x509a_cert *c, time_t now,
                      apr_pool_t *p, const char **why)
{
    return x509a_rules_check_kind(rules, c, now, p, why, NULL);
}

int x509a_rules_check_kind(const x509a_rules *rules, x509a_cert *c,
                           time_t now, apr_pool_t *p, const char **why,
                           x509a_rule_kind *failed)
{
    const char *path_why = NULL;
    int k, depth = 0;

    for (k = 0; rules->kinds >> k; k++) {
        const apr_array_header_t *vals = rules->vals[k];
        int ok = 0;

        if (!vals) {
            continue;
        }
        switch ((x509a_rule_kind)k) {
        case X509A_RULE_SUBJECT:
            ok = match_dn(vals, x509a_cert_subject_dn(c));
            break;
        case X509A_RULE_ISSUER:
            ok = match_dn(vals, x509a_cert_issuer_dn(c));
            break;
        case X509A_RULE_SERIAL:
            ok = match_serial(vals, c);
            break;
        case X509A_RULE_FINGERPRINT:
            ok = match_fingerprint(vals, c);
            break;
        case X509A_RULE_SPKI:
            ok = match_spki(vals, c);
            break;
        case X509A_RULE_EKU:
            ok = match_eku(vals, c);
            break;
        case X509A_RULE_POLICY:
            /* the answer is remembered, keyed by the OID set's content;
             * the object forgets it when its path changes */
            if (!x509a_cert_memo_get(c, rules->policy_digest, &ok)) {
                ok = x509a_path_has_policy(c, vals, now);
                x509a_cert_memo_set(c, rules->policy_digest, ok);
            }
            break;
        case X509A_RULE_ISSUING_CA:
            /* may verify: the object remembers the answer, keyed by the
             * CA set's content (never by the rules' address: .htaccess
             * rules are rebuilt in every request's pool) */
            if (!x509a_cert_memo_get(c, rules->issuing_ca_digest, &ok)) {
                ok = x509a_chain_passes_through(c, rules->issuing_cas, now);
                x509a_cert_memo_set(c, rules->issuing_ca_digest, ok);
            }
            break;
        case X509A_RULE_MAX_DEPTH:
            depth = path_depth(c, now, &path_why);
            ok = depth >= 0 && depth <= APR_ARRAY_IDX(vals, 0, int);
            break;
        default:
            break;
        }
        if (!ok) {
            static const char *const what[X509A_RULE_KINDS] = {
                "subject DN not allowed by X509AuthnRequireSubject",
                "issuer DN not allowed by X509AuthnRequireIssuer",
                "serial number not allowed by X509AuthnRequireSerial",
                "fingerprint not allowed by X509AuthnRequireFingerprint",
                "public key not pinned by X509AuthnRequireSPKI",
                "no extended key usage allowed by X509AuthnRequireEKU",
                "verified path not valid for a policy of "
                "X509AuthnRequirePolicy (RFC 5280 6.1, explicit policy)",
                "chain does not pass through a CA of "
                "X509AuthnRequireIssuingCA",
                "verified path deeper than X509AuthnMaxDepth allows"
            };
            if (failed) {
                *failed = (x509a_rule_kind)k;
            }
            if (why) {
                *why = what[k];
                if (k == X509A_RULE_MAX_DEPTH && depth >= 0) {
                    *why = apr_psprintf(p, "verified path "
                                        "of depth %d deeper than "
                                        "X509AuthnMaxDepth %d allows", depth,
                                        APR_ARRAY_IDX(vals, 0, int));
                }
                else if (k >= X509A_RULE_POLICY
                         && (path_why || (!x509a_cert_verified_length(c)
                                          && !x509a_cert_path(c, now,
                                                              &path_why)))) {
                    *why = apr_psprintf(p, "%s: %s",
                                        rule_names[k], path_why);
                }
            }
            return 0;
        }
    }
    return 1;
}
