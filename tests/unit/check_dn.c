/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/* x509a_dn: parsing (RFC 4514 and slash form), canonical comparison,
 * reading names from certificates, printing them as mod_ssl does. */

#include <string.h>
#include <check.h>
#include <apr_strings.h>
#include <openssl/asn1.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "x509a_dn.h"
#include "testcert.h"
#include "suites.h"

/* mod_ssl's SSL_CLIENT_S_DN flags */
#define MODSSL_DN_FLAGS (XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB)

/* ---------------------------------------------------------------------- */
/* Helpers                                                                 */
/* ---------------------------------------------------------------------- */

static x509a_dn *dn_ok(const char *text)
{
    x509a_dn *dn = NULL;
    const char *err = x509a_dn_parse(tc_pool, text, &dn);

    ck_assert_msg(err == NULL, "parsing '%s' failed: %s", text, err);
    ck_assert_msg(dn != NULL, "parsing '%s' gave no DN", text);
    return dn;
}

static int dn_eq(const char *a, const char *b)
{
    x509a_dn *x = dn_ok(a), *y = dn_ok(b);
    int r = x509a_dn_equal(x, y);

    /* equality is symmetric */
    ck_assert_msg(r == x509a_dn_equal(y, x), "equal('%s','%s') not symmetric",
                  a, b);
    return r;
}

#define ASSERT_DN_EQ(a, b) \
    ck_assert_msg(dn_eq((a), (b)), "'%s' should equal '%s'", (a), (b))
#define ASSERT_DN_NE(a, b) \
    ck_assert_msg(!dn_eq((a), (b)), "'%s' should differ from '%s'", (a), (b))

/* The AVA @a i of RDN @a r (certificate order). */
static const x509a_ava *ava_at(const x509a_dn *dn, int r, int i)
{
    const apr_array_header_t *rdn;

    ck_assert_int_lt(r, dn->rdns->nelts);
    rdn = APR_ARRAY_IDX(dn->rdns, r, apr_array_header_t *);
    ck_assert_int_lt(i, rdn->nelts);
    return &APR_ARRAY_IDX(rdn, i, x509a_ava);
}

static int rdn_size(const x509a_dn *dn, int r)
{
    return APR_ARRAY_IDX(dn->rdns, r, apr_array_header_t *)->nelts;
}

/* The single value of a one-AVA DN such as "CN=..." */
static const char *only_value(const char *text)
{
    x509a_dn *dn = dn_ok(text);

    ck_assert_int_eq(dn->rdns->nelts, 1);
    ck_assert_int_eq(rdn_size(dn, 0), 1);
    return ava_at(dn, 0, 0)->value;
}

#define ASSERT_VALUE(text, expected) \
    ck_assert_str_eq(only_value(text), (expected))

static void assert_name_eq(const X509_NAME *name, const char *text)
{
    x509a_dn *c = x509a_dn_from_name(tc_pool, name);
    x509a_dn *t = dn_ok(text);

    ck_assert_msg(x509a_dn_equal(c, t) && x509a_dn_equal(t, c),
                  "certificate name %s should equal '%s'",
                  tc_name_print(tc_pool, name, MODSSL_DN_FLAGS), text);
}

static void assert_name_ne(const X509_NAME *name, const char *text)
{
    x509a_dn *c = x509a_dn_from_name(tc_pool, name);
    x509a_dn *t = dn_ok(text);

    ck_assert_msg(!x509a_dn_equal(c, t) && !x509a_dn_equal(t, c),
                  "certificate name %s should differ from '%s'",
                  tc_name_print(tc_pool, name, MODSSL_DN_FLAGS), text);
}

/* The name equals both its printed forms (mod_ssl's and the legacy one). */
static void assert_name_round_trips(const X509_NAME *name, int legacy_too)
{
    assert_name_eq(name, x509a_name_to_string(tc_pool, name, 0));
    if (legacy_too) {
        assert_name_eq(name, x509a_name_to_string(tc_pool, name, 1));
    }
}

/* ---------------------------------------------------------------------- */
/* Parsing and comparing strings                                           */
/* ---------------------------------------------------------------------- */

START_TEST(dn_rfc4514_equals_slash)
{
    ASSERT_DN_EQ("CN=alice,O=Example Corp,C=US",
                 "/C=US/O=Example Corp/CN=alice");
    ASSERT_DN_EQ("CN=alice,O=Example Corp,C=US",
                 "CN=alice,O=Example Corp,C=US");
    ASSERT_DN_EQ("/C=US/O=Example Corp/CN=alice",
                 "/C=US/O=Example Corp/CN=alice");
    /* RFC 2253 ';' separators and spaces around separators (RFC 1779) */
    ASSERT_DN_EQ("CN=alice; O=Example Corp; C=US",
                 "/C=US/O=Example Corp/CN=alice");
    ASSERT_DN_EQ("  CN = alice ,  O = Example Corp , C = US  ",
                 "CN=alice,O=Example Corp,C=US");
    ASSERT_DN_NE("CN=alice,O=Example Corp,C=US",
                 "/C=US/O=Example Corp/CN=bob");
    ASSERT_DN_NE("CN=alice,O=Example Corp,C=US",
                 "/C=US/O=Example Corp/OU=alice");
}
END_TEST

START_TEST(dn_rdn_order_matters)
{
    ASSERT_DN_NE("CN=alice,O=Example Corp,C=US",
                 "C=US,O=Example Corp,CN=alice");
    ASSERT_DN_NE("CN=alice,O=Example Corp,C=US",
                 "/CN=alice/O=Example Corp/C=US");
    ASSERT_DN_NE("CN=alice,O=Example Corp,C=US",
                 "O=Example Corp,CN=alice,C=US");
    /* a missing or extra RDN */
    ASSERT_DN_NE("CN=alice,O=Example Corp,C=US", "CN=alice,O=Example Corp");
    ASSERT_DN_NE("CN=alice,O=Example Corp,C=US",
                 "CN=alice,OU=Eng,O=Example Corp,C=US");
    ASSERT_DN_NE("CN=alice,O=Example Corp,C=US", "CN=alice");
    /* RDNs that are not multi-valued are not sets */
    ASSERT_DN_NE("CN=a,CN=b", "CN=b,CN=a");
}
END_TEST

START_TEST(dn_attr_type_names)
{
    static const char *const cn[] = {
        "cn=alice", "Cn=alice", "commonName=alice", "COMMONNAME=alice",
        "2.5.4.3=alice", "OID.2.5.4.3=alice", "oid.2.5.4.3=alice",
        "/cn=alice", "/2.5.4.3=alice", "/commonName=alice"
    };
    static const char *const email[] = {
        "e=a@example.com", "EMAIL=a@example.com", "emailAddress=a@example.com",
        "EMAILADDRESS=a@example.com", "1.2.840.113549.1.9.1=a@example.com",
        "OID.1.2.840.113549.1.9.1=a@example.com", "/E=a@example.com",
        "/emailAddress=a@example.com"
    };
    static const char *const st[] = {
        "ST=CA", "st=CA", "S=CA", "SP=CA", "stateOrProvinceName=CA",
        "2.5.4.8=CA"
    };
    static const char *const uid[] = {
        "UID=a1", "Uid=a1", "userId=a1", "USERID=a1",
        "0.9.2342.19200300.100.1.1=a1"
    };
    static const char *const dc[] = {
        "DC=example", "dc=example", "domainComponent=example",
        "0.9.2342.19200300.100.1.25=example"
    };
    static const char *const misc[][2] = {
        { "SN=Smith", "surname=Smith" },
        { "SN=Smith", "2.5.4.4=Smith" },
        { "G=Al", "givenName=Al" },
        { "GN=Al", "2.5.4.42=Al" },
        { "T=Boss", "title=Boss" },
        { "L=Paris", "localityName=Paris" },
        { "O=X", "organizationName=X" },
        { "OU=X", "organizationalUnitName=X" },
        { "C=US", "countryName=US" },
        { "serialNumber=123", "2.5.4.5=123" },
        { "street=Main", "streetAddress=Main" },
        { "postalCode=123", "2.5.4.17=123" },
        { "organizationIdentifier=VATDE-1", "2.5.4.97=VATDE-1" },
    };
    size_t i;

    for (i = 0; i < sizeof(cn) / sizeof(cn[0]); i++) {
        ASSERT_DN_EQ("CN=alice", cn[i]);
        ck_assert_str_eq(ava_at(dn_ok(cn[i]), 0, 0)->oid, "2.5.4.3");
        ck_assert_int_eq(ava_at(dn_ok(cn[i]), 0, 0)->nid, NID_commonName);
    }
    for (i = 0; i < sizeof(email) / sizeof(email[0]); i++) {
        ASSERT_DN_EQ("E=a@example.com", email[i]);
        ck_assert_str_eq(ava_at(dn_ok(email[i]), 0, 0)->oid,
                         "1.2.840.113549.1.9.1");
    }
    for (i = 0; i < sizeof(st) / sizeof(st[0]); i++) {
        ASSERT_DN_EQ("ST=CA", st[i]);
    }
    for (i = 0; i < sizeof(uid) / sizeof(uid[0]); i++) {
        ASSERT_DN_EQ("UID=a1", uid[i]);
    }
    /* "uid" is what OpenSSL prints for uniqueIdentifier: it means that */
    ASSERT_DN_NE("UID=a1", "uid=a1");
    ASSERT_DN_EQ("uid=a1", "uniqueIdentifier=a1");
    ASSERT_DN_EQ("uid=a1", "0.9.2342.19200300.100.1.44=a1");
    for (i = 0; i < sizeof(dc) / sizeof(dc[0]); i++) {
        ASSERT_DN_EQ("DC=example", dc[i]);
    }
    for (i = 0; i < sizeof(misc) / sizeof(misc[0]); i++) {
        ASSERT_DN_EQ(misc[i][0], misc[i][1]);
    }
    /* different types with the same value differ */
    ASSERT_DN_NE("CN=alice", "O=alice");
    ASSERT_DN_NE("CN=alice", "2.5.4.4=alice");
    ASSERT_DN_NE("CN=alice", "UID=alice");
    /* an OID that is a prefix of another */
    ASSERT_DN_NE("2.5.4.3=x", "2.5.4.35=x");
    /* unknown numeric OIDs are accepted and compared by OID */
    ASSERT_DN_EQ("1.3.6.1.4.1.99999.7=x", "OID.1.3.6.1.4.1.99999.7=X");
    ASSERT_DN_NE("1.3.6.1.4.1.99999.7=x", "1.3.6.1.4.1.99999.8=x");
    ck_assert_int_eq(ava_at(dn_ok("1.3.6.1.4.1.99999.7=x"), 0, 0)->nid,
                     NID_undef);
}
END_TEST

START_TEST(dn_attr_type_lookup)
{
    static const struct {
        const char *name;
        int nid;
    } ok[] = {
        { "CN", NID_commonName }, { "cn", NID_commonName },
        { "commonName", NID_commonName }, { "2.5.4.3", NID_commonName },
        { "OID.2.5.4.3", NID_commonName }, { "E", NID_pkcs9_emailAddress },
        { "emailAddress", NID_pkcs9_emailAddress },
        { "Email", NID_pkcs9_emailAddress }, { "UID", NID_userId },
        { "DC", NID_domainComponent }, { "ST", NID_stateOrProvinceName },
        { "S", NID_stateOrProvinceName }, { "SN", NID_surname },
        { "GN", NID_givenName }, { "G", NID_givenName }, { "T", NID_title },
        { "initials", NID_initials }, { "serialNumber", NID_serialNumber },
        { "organizationIdentifier", NID_organizationIdentifier },
    };
    static const char *const bad[] = {
        "FOO", "", "OID.", "2.5.4.x", "2.5.4.3 ", "OID.FOO", "C N"
    };
    size_t i;

    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        ASN1_OBJECT *obj = x509a_attr_type(ok[i].name);
        ck_assert_msg(obj != NULL, "x509a_attr_type('%s') is NULL",
                      ok[i].name);
        ck_assert_msg(OBJ_obj2nid(obj) == ok[i].nid,
                      "x509a_attr_type('%s') is %s", ok[i].name,
                      OBJ_nid2sn(OBJ_obj2nid(obj)));
        ASN1_OBJECT_free(obj);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ASN1_OBJECT *obj = x509a_attr_type(bad[i]);
        ck_assert_msg(obj == NULL, "x509a_attr_type('%s') should be NULL",
                      bad[i]);
    }
    {
        /* an unknown dotted OID is an object with that OID */
        ASN1_OBJECT *obj = x509a_attr_type("1.3.6.1.4.1.99999.7");
        char buf[64];
        ck_assert_ptr_nonnull(obj);
        OBJ_obj2txt(buf, sizeof(buf), obj, 1);
        ck_assert_str_eq(buf, "1.3.6.1.4.1.99999.7");
        ASN1_OBJECT_free(obj);
    }
}
END_TEST

START_TEST(dn_value_case_ascii)
{
    ASSERT_DN_EQ("CN=Alice,O=Example Corp,C=US",
                 "cn=ALICE,o=example corp,c=us");
    ASSERT_DN_EQ("/C=us/O=EXAMPLE CORP/CN=aLiCe", "CN=alice,O=Example Corp,C=US");
    ASSERT_DN_NE("CN=alice", "CN=alicia");
    ASSERT_DN_NE("CN=alice", "CN=alice2");
    ASSERT_DN_NE("CN=alice", "CN=alic");
}
END_TEST

START_TEST(dn_value_case_unicode)
{
    ASSERT_DN_EQ("CN=Äpfel", "CN=äpfel");
    ASSERT_DN_EQ("CN=ÄÖÜ", "CN=äöü");
    ASSERT_DN_EQ("CN=JÜRGEN", "CN=jürgen");
    ASSERT_DN_EQ("CN=АЛИСА", "CN=алиса");          /* Cyrillic */
    ASSERT_DN_EQ("CN=Алиса Петрова", "CN=аЛИСА пЕТРОВА");
    ASSERT_DN_EQ("CN=ΣΟΦΙΑ", "CN=σοφια");          /* Greek */
    ASSERT_DN_EQ("/CN=ÉCOLE", "CN=école");
    ASSERT_DN_NE("CN=ä", "CN=a");
    ASSERT_DN_NE("CN=алиса", "CN=alice");
    ASSERT_DN_NE("CN=Jürgen", "CN=Jurgen");
}
END_TEST

START_TEST(dn_whitespace_folding)
{
    ASSERT_DN_EQ("CN=  alice   smith  ,O=Example Corp",
                 "CN=alice smith,O=Example Corp");
    ASSERT_DN_EQ("CN=alice\\20\\20smith", "CN=alice smith");
    ASSERT_DN_EQ("CN=alice\\09smith", "CN=alice smith");      /* tab */
    ASSERT_DN_EQ("CN=\\ alice\\ ", "CN=alice");               /* escaped */
    ASSERT_DN_EQ("CN=\\20\\20alice\\20\\20", "CN=alice");
    ASSERT_DN_EQ("CN=\" alice  smith \"", "CN=alice smith");  /* quoted */
    ASSERT_DN_EQ("/O=Example   Corp/CN= alice ", "CN=alice,O=Example Corp");
    ASSERT_DN_EQ("CN=alice\\C2\\A0smith", "CN=alice smith");  /* NBSP */
    ASSERT_DN_NE("CN=alicesmith", "CN=alice smith");
    ASSERT_DN_NE("CN=alice smith", "CN=alices mith");
}
END_TEST

START_TEST(dn_escapes)
{
    ASSERT_VALUE("CN=a\\,b", "a,b");
    ASSERT_VALUE("CN=a\\+b", "a+b");
    ASSERT_VALUE("CN=a\\\"b", "a\"b");
    ASSERT_VALUE("CN=a\\\\b", "a\\b");
    ASSERT_VALUE("CN=\\#a", "#a");
    ASSERT_VALUE("CN=a\\;b", "a;b");
    ASSERT_VALUE("CN=a\\<b\\>c", "a<b>c");
    ASSERT_VALUE("CN=a\\=b", "a=b");
    ASSERT_VALUE("CN=a#b", "a#b");
    ASSERT_VALUE("CN=a=b", "a=b");
    /* escaped separators do not separate */
    ASSERT_VALUE("CN=a\\+UID=b", "a+UID=b");
    ASSERT_VALUE("CN=a\\,O=b", "a,O=b");
    /* hex escapes */
    ASSERT_VALUE("CN=\\41\\6c\\69ce", "Alice");
    ASSERT_VALUE("CN=a\\2Cb", "a,b");
    ASSERT_DN_EQ("CN=a\\,b,O=Example Corp", "CN=a\\2Cb,O=Example Corp");
    ASSERT_DN_EQ("CN=a\\,b,O=Example Corp", "/O=Example Corp/CN=a,b");
    ASSERT_DN_NE("CN=a\\,b,O=Example Corp", "CN=a,OU=b,O=Example Corp");
    /* an escaped trailing space is part of the value */
    ck_assert_int_eq(ava_at(dn_ok("CN=a\\ "), 0, 0)->value_len, 2);
    /* unescaped trailing spaces are not */
    ck_assert_int_eq(ava_at(dn_ok("CN=a   "), 0, 0)->value_len, 1);
}
END_TEST

START_TEST(dn_hex_escapes_utf8)
{
    ASSERT_VALUE("CN=J\\C3\\BCrgen", "Jürgen");
    ASSERT_VALUE("CN=J\\c3\\bcrgen", "Jürgen");
    ASSERT_DN_EQ("CN=J\\C3\\BCrgen", "CN=Jürgen");
    ASSERT_DN_EQ("CN=J\\C3\\9Crgen", "CN=jürgen");   /* Ü escaped */
    ASSERT_DN_EQ("CN=\\D0\\B0", "CN=А");             /* Cyrillic a / A */
    ASSERT_DN_NE("CN=J\\C3\\BCrgen", "CN=Jurgen");
}
END_TEST

START_TEST(dn_quoted_values)
{
    x509a_dn *dn = dn_ok("CN=\"a,b+c;d\",O=\"Example Corp\"");

    ck_assert_int_eq(dn->rdns->nelts, 2);
    ck_assert_str_eq(ava_at(dn, 1, 0)->value, "a,b+c;d");
    ck_assert_str_eq(ava_at(dn, 0, 0)->value, "Example Corp");
    ASSERT_DN_EQ("CN=\"a,b+c;d\",O=\"Example Corp\"",
                 "CN=a\\,b\\+c\\;d,O=Example Corp");
    ASSERT_VALUE("CN=\"a\\\"b\"", "a\"b");
    ASSERT_VALUE("CN=\"a\\\\b\"", "a\\b");
    ASSERT_VALUE("CN=\"#x\"", "#x");
    ASSERT_DN_EQ("CN = \"alice\" , O = Example Corp", "CN=alice,O=Example Corp");
    ASSERT_DN_EQ("O=\"Example, Inc.\",C=US", "/C=US/O=Example, Inc.");
}
END_TEST

START_TEST(dn_multivalued_order)
{
    ASSERT_DN_EQ("CN=alice+UID=a1,O=Example Corp,C=US",
                 "UID=a1+CN=alice,O=Example Corp,C=US");
    ASSERT_DN_EQ("CN=alice+UID=a1+E=a@example.com,O=X",
                 "E=a@example.com+CN=alice+UID=a1,O=X");
    ASSERT_DN_EQ("CN=alice + UID=a1,O=X", "UID=a1+CN=alice,O=X");
    /* grouping matters between two RFC 4514 DNs */
    ASSERT_DN_NE("CN=alice+UID=a1,O=Example Corp,C=US",
                 "CN=alice,UID=a1,O=Example Corp,C=US");
    ASSERT_DN_NE("CN=alice+UID=a1,O=Example Corp,C=US",
                 "UID=a1,CN=alice,O=Example Corp,C=US");
    ASSERT_DN_NE("CN=alice+UID=a1,O=Example Corp,C=US",
                 "CN=alice+UID=a2,O=Example Corp,C=US");
    ASSERT_DN_NE("CN=alice+UID=a1,O=Example Corp,C=US",
                 "CN=alice,O=Example Corp,C=US");
}
END_TEST

START_TEST(dn_parse_structure)
{
    x509a_dn *dn = dn_ok("CN=alice+UID=a1,O=Example Corp,C=US");
    const x509a_ava *a;

    ck_assert_int_eq(dn->rfc4514, 1);
    ck_assert_int_eq(dn->rdns->nelts, 3);
    /* certificate order: C first */
    a = ava_at(dn, 0, 0);
    ck_assert_str_eq(a->oid, "2.5.4.6");
    ck_assert_int_eq(a->nid, NID_countryName);
    ck_assert_str_eq(a->value, "US");
    ck_assert_int_eq(a->value_len, 2);
    ck_assert_int_eq(a->is_hex, 0);
    ck_assert_str_eq(ava_at(dn, 1, 0)->value, "Example Corp");
    ck_assert_int_eq(rdn_size(dn, 2), 2);
    ck_assert_str_eq(ava_at(dn, 2, 0)->oid, "2.5.4.3");
    ck_assert_str_eq(ava_at(dn, 2, 1)->oid, "0.9.2342.19200300.100.1.1");
    ck_assert_str_eq(ava_at(dn, 2, 1)->value, "a1");
    ck_assert_ptr_nonnull(dn->canon);

    dn = dn_ok("/C=US/O=Example Corp/CN=alice");
    ck_assert_int_eq(dn->rfc4514, 0);
    ck_assert_int_eq(dn->rdns->nelts, 3);
    ck_assert_str_eq(ava_at(dn, 0, 0)->value, "US");
    ck_assert_str_eq(ava_at(dn, 2, 0)->value, "alice");

    dn = dn_ok("/C=US/CN=alice+UID=a1");
    ck_assert_int_eq(dn->rdns->nelts, 2);
    ck_assert_int_eq(rdn_size(dn, 1), 2);

    /* leading white space before a slash DN */
    dn = dn_ok("  /C=US/CN=alice");
    ck_assert_int_eq(dn->rdns->nelts, 2);
}
END_TEST

START_TEST(dn_slash_plus)
{
    ASSERT_DN_EQ("/C=US/O=Example Corp/CN=alice+UID=a1",
                 "UID=a1+CN=alice,O=Example Corp,C=US");
    ASSERT_DN_EQ("/C=US/O=Example Corp/UID=a1+CN=alice",
                 "CN=alice+UID=a1,O=Example Corp,C=US");
    ASSERT_DN_NE("/C=US/O=Example Corp/CN=alice+UID=a1",
                 "CN=alice,UID=a1,O=Example Corp,C=US");
    ASSERT_DN_NE("/C=US/O=Example Corp/CN=alice+UID=a1",
                 "/C=US/O=Example Corp/CN=alice+UID=a2");
    /* RDN grouping counts in the slash form too (docs/directives.md) */
    ASSERT_DN_NE("/C=US/O=Example Corp/CN=alice/UID=a1",
                 "UID=a1+CN=alice,O=Example Corp,C=US");
    ASSERT_DN_NE("/C=US/O=Example Corp/CN=alice/UID=a1",
                 "/C=US/O=Example Corp/CN=alice+UID=a1");
}
END_TEST

START_TEST(dn_slash_multivalued_vs_certificate)
{
    /* a certificate with a multi-valued RDN: X509_NAME_oneline() prints it
     * with '+', and the grouping counts in both syntaxes */
    static const tc_attr mv[] = {
        { "C", "US" }, { "O", "Example Corp" }, { "CN", "alice" },
        { "UID", "a1", .join = 1 }, { NULL }
    };
    X509_NAME *name = tc_name(tc_pool, mv);
    x509a_dn *c = x509a_dn_from_name(tc_pool, name);

    ck_assert_int_eq(c->rdns->nelts, 3);
    ck_assert_int_eq(rdn_size(c, 2), 2);
    ck_assert_int_eq(c->rfc4514, 0);

    ck_assert_str_eq(tc_name_oneline(tc_pool, name),
                     "/C=US/O=Example Corp/CN=alice+UID=a1");
    assert_name_eq(name, "/c=us/o=example corp/cn=ALICE+Uid=A1");
    assert_name_eq(name, "/C=US/O=Example Corp/CN=alice+UID=a1");
    assert_name_eq(name, "/C=US/O=Example Corp/UID=a1+CN=alice");
    assert_name_eq(name, "CN=alice+UID=a1,O=Example Corp,C=US");
    assert_name_eq(name, "UID=a1+CN=alice,O=Example Corp,C=US");
    assert_name_round_trips(name, 1);

    /* separate RDNs are separate, in either syntax */
    assert_name_ne(name, "/C=US/O=Example Corp/CN=alice/UID=a1");
    assert_name_ne(name, "UID=a1,CN=alice,O=Example Corp,C=US");
    assert_name_ne(name, "CN=alice,UID=a1,O=Example Corp,C=US");
    assert_name_ne(name, "/C=US/O=Example Corp/CN=alice+UID=a2");
    assert_name_ne(name, "/C=US/O=Example Corp/CN=alice");
    assert_name_ne(name, "/C=US/O=Example Corp+CN=alice/UID=a1");

    {
        static const tc_attr sv[] = {
            { "C", "US" }, { "O", "Example Corp" }, { "CN", "alice" },
            { "UID", "a1" }, { NULL }
        };
        X509_NAME *n2 = tc_name(tc_pool, sv);
        assert_name_eq(n2, "/C=US/O=Example Corp/CN=alice/UID=a1");
        assert_name_ne(n2, "/C=US/O=Example Corp/CN=alice+UID=a1");
        assert_name_ne(n2, "CN=alice+UID=a1,O=Example Corp,C=US");
        assert_name_eq(n2, "UID=a1,CN=alice,O=Example Corp,C=US");
    }
}
END_TEST

START_TEST(dn_lone_hash)
{
    /* OpenSSL prints a value that is just '#' unescaped */
    x509a_dn *dn = dn_ok("CN=#,O=x");

    ck_assert_str_eq(ava_at(dn, 1, 0)->value, "#");
    ck_assert_int_eq(ava_at(dn, 1, 0)->is_hex, 0);
    ASSERT_DN_EQ("CN=#,O=x", "CN=\\#,O=x");
    ASSERT_DN_EQ("CN=#,O=x", "CN=#0C0123,O=x");     /* UTF8String "#" */
    ASSERT_DN_NE("CN=#,O=x", "CN=#0C0124,O=x");
}
END_TEST

START_TEST(dn_slash_backslash_kept)
{
    /* X509_NAME_oneline() prints a backslash as it is */
    x509a_dn *dn = dn_ok("/CN=C:\\temp/O=x");

    ck_assert_str_eq(ava_at(dn, 0, 0)->value, "C:\\temp");
    ASSERT_DN_EQ("/O=x/CN=C:\\temp", "CN=C:\\5Ctemp,O=x");
    dn = dn_ok("/CN=a\\\\b");
    ck_assert_str_eq(ava_at(dn, 0, 0)->value, "a\\b");
}
END_TEST

START_TEST(dn_slash_unescaped_separators)
{
    x509a_dn *dn = dn_ok("/C=US/O=AT/T/CN=x");

    ck_assert_int_eq(dn->rdns->nelts, 3);
    ck_assert_str_eq(ava_at(dn, 1, 0)->value, "AT/T");
    ck_assert_str_eq(ava_at(dn, 2, 0)->value, "x");
    ASSERT_DN_EQ("/C=US/O=AT/T/CN=x", "CN=x,O=AT/T,C=US");

    dn = dn_ok("/O=AT/T");
    ck_assert_int_eq(dn->rdns->nelts, 1);
    ck_assert_str_eq(ava_at(dn, 0, 0)->value, "AT/T");

    dn = dn_ok("/CN=C++");
    ck_assert_int_eq(dn->rdns->nelts, 1);
    ck_assert_int_eq(rdn_size(dn, 0), 1);
    ck_assert_str_eq(ava_at(dn, 0, 0)->value, "C++");

    dn = dn_ok("/CN=a=b/O=x");
    ck_assert_str_eq(ava_at(dn, 0, 0)->value, "a=b");

    dn = dn_ok("/CN=a\\/b/O=c\\+d");
    ck_assert_int_eq(dn->rdns->nelts, 2);
    ck_assert_str_eq(ava_at(dn, 0, 0)->value, "a/b");
    ck_assert_str_eq(ava_at(dn, 1, 0)->value, "c+d");

    dn = dn_ok("/CN=a,b/O=x");
    ck_assert_str_eq(ava_at(dn, 0, 0)->value, "a,b");
    ASSERT_DN_EQ("/O=x/CN=a,b", "CN=a\\,b,O=x");
}
END_TEST

START_TEST(dn_slash_hex_bytes)
{
    ASSERT_DN_EQ("/CN=J\\xC3\\xBCrgen", "CN=Jürgen");
    ASSERT_DN_EQ("/CN=J\\xc3\\xbcrgen", "CN=J\\C3\\BCrgen");
    ASSERT_DN_EQ("/C=DE/O=M\\xC3\\xBCller GmbH/CN=J\\xC3\\xBCrgen",
                 "CN=Jürgen,O=Müller GmbH,C=DE");
    ck_assert_str_eq(ava_at(dn_ok("/CN=J\\xC3\\xBCrgen"), 0, 0)->value,
                     "Jürgen");
    ASSERT_DN_NE("/CN=J\\xC3\\xBCrgen", "CN=Jurgen");
}
END_TEST

START_TEST(dn_hexstring_values)
{
    /* #hex of a DER value: UTF8String, PrintableString, IA5String and
     * BMPString of "alice" all equal the string alice */
    ASSERT_DN_EQ("CN=#0C05616C696365", "CN=alice");
    ASSERT_DN_EQ("cn=#0c05616c696365", "CN=ALICE");
    ASSERT_DN_EQ("CN=#1305616C696365", "CN=alice");
    ASSERT_DN_EQ("CN=#1605616C696365", "CN=alice");
    ASSERT_DN_EQ("CN=#1E0A0061006C006900630065", "CN=alice");
    ASSERT_DN_EQ("CN=#0C05616C696365,O=Example Corp", "/O=Example Corp/CN=alice");
    /* T61String is Latin-1 for OpenSSL: E4 is a-umlaut */
    ASSERT_DN_EQ("CN=#1401E4", "CN=ä");
    ASSERT_DN_EQ("CN=#0C02C3A4", "CN=Ä");
    ASSERT_DN_NE("CN=#0C05616C696365", "CN=alicf");
    ck_assert_str_eq(only_value("CN=#0C05616C696365"), "alice");
    ck_assert_int_eq(ava_at(dn_ok("CN=#0C05616C696365"), 0, 0)->is_hex, 0);
    /* space after the hex string */
    ASSERT_DN_EQ("CN=#0C05616C696365 ,O=x", "CN=alice,O=x");
}
END_TEST

START_TEST(dn_hexstring_non_string)
{
    /* a BIT STRING value is kept as '#' and the hex of its DER */
    x509a_dn *dn = dn_ok("OU=#030200FF");
    const x509a_ava *a = ava_at(dn, 0, 0);

    ck_assert_int_eq(a->is_hex, 1);
    ck_assert_str_eq(a->value, "#030200FF");
    ASSERT_DN_EQ("OU=#030200FF", "OU=#030200ff");
    ASSERT_DN_NE("OU=#030200FF", "OU=#030200FE");
    /* not the same as the string "#030200FF" */
    ASSERT_DN_NE("OU=#030200FF", "OU=\\#030200FF");
    ASSERT_DN_NE("OU=#030200FF", "/OU=#030200FF");
}
END_TEST

START_TEST(dn_utf8_values)
{
    x509a_dn *dn = dn_ok("CN=Jürgen Groß,O=Müller GmbH,C=DE");

    ck_assert_str_eq(ava_at(dn, 2, 0)->value, "Jürgen Groß");
    ck_assert_int_eq(ava_at(dn, 2, 0)->value_len, strlen("Jürgen Groß"));
    ASSERT_DN_EQ("CN=Jürgen Groß,O=Müller GmbH,C=DE",
                 "/C=DE/O=Müller GmbH/CN=Jürgen Groß");
    ASSERT_DN_EQ("CN=Jürgen Groß,O=Müller GmbH,C=DE",
                 "CN=JÜRGEN GROß,O=MÜLLER GMBH,C=de");
    ASSERT_DN_EQ("CN=田中太郎,O=例え", "/O=例え/CN=田中太郎");
    ASSERT_DN_NE("CN=田中太郎", "CN=田中次郎");
    /* U+20000 (CJK Extension B, assigned in Unicode 3.1) */
    ASSERT_DN_EQ("CN=\xf0\xa0\x80\x80", "CN=\\F0\\A0\\80\\80");
}
END_TEST

START_TEST(dn_parse_errors)
{
    static const struct {
        const char *in;
        const char *needle;
    } bad[] = {
        { "", "empty" },
        { "   ", "empty" },
        { "CN", "'CN'" },
        { "CN ", "'CN'" },
        { "=x", "=x" },
        { "CN=a,", "CN=a," },
        { "CN=a;", "CN=a;" },
        { "CN=a+", "CN=a+" },
        { "CN=a,,O=b", ",O=b" },
        { "FOO=x", "'FOO'" },
        { "CN=a,FOO=x", "'FOO'" },
        { "OID.=x", "OID." },
        { "2.5.4.x=y", "2.5.4.x" },
        { "CN=a\\q", "\\q" },
        { "CN=a\\", "CN=a\\" },
        { "CN=#0", "#0" },
        { "CN=#ZZ", "#ZZ" },
        { "CN=#0C05616C6963", "#0C05616C6963" },
        { "CN=#0C05616C69636500", "#0C05616C69636500" },
        { "CN=#0C05616C696365x", "x" },
        { "CN=\"alice", "unterminated" },
        { "CN=\"alice\"x", "x" },
        { "CN=\xff", "UTF-8" },
        { "CN=a\xc3(", "UTF-8" },
        { "CN=\\FF", "UTF-8" },
        { "CN=\\C3", "UTF-8" },
        { "CN=\\ED\\A0\\80", "UTF-8" },
        { "CN=a\"b", "\"" },
        { "CN=a\\00b", "NUL" },
        { "/", "empty" },
        { "/CN", "CN" },
        { "/=x", "=x" },
        { "/FOO=x", "FOO" },
        { "/CN=\xff", "UTF-8" },
        { "/CN=\\xC3", "UTF-8" },
    };
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        x509a_dn *dn = NULL;
        const char *err = x509a_dn_parse(tc_pool, bad[i].in, &dn);
        const char *t = bad[i].in;

        ck_assert_msg(err != NULL, "'%s' should not parse", bad[i].in);
        ck_assert_msg(tc_contains(err, bad[i].needle),
                      "error for '%s' should mention '%s': %s", bad[i].in,
                      bad[i].needle, err);
        while (*t == ' ') {
            t++;
        }
        if (*t) {
            ck_assert_msg(tc_contains(err, bad[i].in),
                          "error for '%s' should quote it: %s", bad[i].in, err);
        }
    }
}
END_TEST

/* RFC 4518 caseIgnoreMatch from the built-in Unicode 3.2 tables (the
 * preparation itself is tested in check_strprep.c) */
START_TEST(dn_rfc4518)
{
    /* U+0130 prepares to i + U+0307: not "admin" (C.UTF-8's towlower()
     * made it "i") */
    ASSERT_DN_NE("CN=adm\xc4\xb0n,O=Example Corp", "CN=admin,O=Example Corp");
    ASSERT_DN_NE("CN=ADM\xc4\xb0N", "CN=ADMIN");
    ASSERT_DN_EQ("CN=adm\xc4\xb0n", "CN=admi\xcc\x87n");
    ASSERT_DN_EQ("CN=adm\xc4\xb0n", "CN=ADMI\xcc\x87N");
    /* KELVIN SIGN, fullwidth letters, ligatures fold to ASCII (NFKC) */
    ASSERT_DN_EQ("CN=\xe2\x84\xaa" "elvin", "CN=kelvin");
    ASSERT_DN_EQ("CN=\xef\xbd\x81\xef\xbd\x84\xef\xbd\x8d\xef\xbd\x89"
                 "\xef\xbd\x8e", "CN=admin");
    ASSERT_DN_EQ("CN=\xef\xbc\xa1\xef\xbc\xa4\xef\xbc\xad\xef\xbc\xa9"
                 "\xef\xbc\xae", "CN=admin");
    ASSERT_DN_EQ("CN=\xef\xac\x81le", "CN=FILE");             /* U+FB01 fi */
    /* composed and decomposed forms are one */
    ASSERT_DN_EQ("CN=caf\xc3\xa9", "CN=CAFE\xcc\x81");
    ASSERT_DN_EQ("CN=\xe2\x84\xab", "CN=\xc3\xa5");          /* ANGSTROM */
    /* German sharp s folds to ss (table B.2) */
    ASSERT_DN_EQ("CN=Gro\xc3\x9f", "CN=GROSS");
    /* mapped to nothing: soft hyphen, zero width space */
    ASSERT_DN_EQ("CN=ad\xc2\xadmin", "CN=admin");
    ASSERT_DN_EQ("CN=ad\xe2\x80\x8bmin", "CN=admin");
    /* ideographic space is a space */
    ASSERT_DN_EQ("CN=a\xe3\x80\x80" "b", "CN=a b");
    ASSERT_DN_NE("CN=a\xe3\x80\x80" "b", "CN=ab");
}
END_TEST

/* RFC 4518 2.4: a prohibited code point (unassigned in Unicode 3.2, private
 * use, non-character, U+FFFD) makes the value unmatchable: refused in the
 * configuration, never equal in a certificate */
START_TEST(dn_rfc4518_prohibited)
{
    static const char *const bad[] = {
        "CN=\xef\xbf\xbd", "CN=a\xee\x80\x80", "CN=\xf0\x9f\x98\x80",
        "/CN=x\xef\xb7\x90", "CN=#0C03EFBFBD", NULL
    };
    static const tc_attr a[] = {
        { "C", "US" }, { "CN", "adm\xef\xbf\xbdn" }, { NULL }
    };
    static const tc_attr pua[] = {
        { "C", "US" }, { "CN", "\xee\x80\x80" }, { NULL }
    };
    X509_NAME *name = tc_name(tc_pool, a), *n2 = tc_name(tc_pool, pua);
    x509a_dn *dn = x509a_dn_from_name(tc_pool, name);
    int i;

    for (i = 0; bad[i]; i++) {
        x509a_dn *d = NULL;
        const char *err = x509a_dn_parse(tc_pool, bad[i], &d);

        ck_assert_msg(err != NULL, "'%s' should be refused", bad[i]);
        ck_assert_msg(tc_contains(err, "RFC 4518"), "%s", err);
    }
    ck_assert_int_eq(dn->unmatchable, 1);
    ck_assert(!x509a_dn_equal(dn, dn));
    ck_assert(!x509a_dn_equal(dn, x509a_dn_from_name(tc_pool, name)));
    assert_name_ne(name, "CN=admn,C=US");
    assert_name_ne(name, "CN=adm n,C=US");
    ck_assert(!x509a_dn_equal(x509a_dn_from_name(tc_pool, n2),
                              x509a_dn_from_name(tc_pool, n2)));
    ck_assert_int_eq(x509a_dn_from_name(tc_pool, n2)->unmatchable, 1);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Names from certificates                                                 */
/* ---------------------------------------------------------------------- */

START_TEST(dn_from_name_simple)
{
    static const tc_attr a[] = {
        { "C", "US" }, { "O", "Example Corp" }, { "CN", "alice" }, { NULL }
    };
    X509_NAME *name = tc_name(tc_pool, a);
    x509a_dn *dn = x509a_dn_from_name(tc_pool, name);

    ck_assert_int_eq(dn->rdns->nelts, 3);
    ck_assert_str_eq(ava_at(dn, 0, 0)->value, "US");
    ck_assert_str_eq(ava_at(dn, 2, 0)->value, "alice");
    ck_assert_str_eq(ava_at(dn, 2, 0)->oid, "2.5.4.3");
    ck_assert_int_eq(dn->rfc4514, 0);

    assert_name_eq(name, "CN=alice,O=Example Corp,C=US");
    assert_name_eq(name, "/C=US/O=Example Corp/CN=alice");
    assert_name_eq(name, "cn=Alice , o=EXAMPLE  CORP , c=us");
    assert_name_eq(name, "2.5.4.3=alice,2.5.4.10=Example Corp,2.5.4.6=US");
    assert_name_round_trips(name, 1);
    assert_name_ne(name, "C=US,O=Example Corp,CN=alice");
    assert_name_ne(name, "/CN=alice/O=Example Corp/C=US");
    assert_name_ne(name, "CN=alice,O=Example Corp");
    assert_name_ne(name, "CN=bob,O=Example Corp,C=US");
    assert_name_ne(name, "CN=alice+UID=x,O=Example Corp,C=US");

    /* the same certificate name twice */
    ck_assert(x509a_dn_equal(dn, x509a_dn_from_name(tc_pool, name)));
}
END_TEST

START_TEST(dn_from_name_utf8)
{
    static const tc_attr a[] = {
        { "C", "DE" }, { "O", "Müller GmbH" }, { "CN", "Jürgen Groß" },
        { NULL }
    };
    static const tc_attr cyr[] = {
        { "C", "RU" }, { "CN", "Алиса" }, { NULL }
    };
    X509_NAME *name = tc_name(tc_pool, a);
    X509_NAME *n2 = tc_name(tc_pool, cyr);

    assert_name_eq(name, "CN=Jürgen Groß,O=Müller GmbH,C=DE");
    assert_name_eq(name, "CN=JÜRGEN GROß,O=müller gmbh,C=DE");
    assert_name_eq(name, "/C=DE/O=M\\xC3\\xBCller GmbH/CN=J\\xC3\\xBCrgen Gro\\xC3\\x9F");
    assert_name_eq(name, "CN=J\\C3\\BCrgen Gro\\C3\\9F,O=M\\C3\\BCller GmbH,C=DE");
    assert_name_eq(name, tc_name_print(tc_pool, name, XN_FLAG_RFC2253));
    assert_name_round_trips(name, 1);
    assert_name_ne(name, "CN=Jurgen Gross,O=Muller GmbH,C=DE");

    assert_name_eq(n2, "CN=алиса,C=RU");
    assert_name_eq(n2, "CN=АЛИСА,C=ru");
    assert_name_round_trips(n2, 1);
}
END_TEST

START_TEST(dn_from_name_string_types)
{
    /* BMPString "Ä€" (U+00C4 U+20AC), T61String "\xE4" (Latin-1 a-umlaut),
     * PrintableString, IA5String */
    static const tc_attr a[] = {
        { "C", "US", V_ASN1_PRINTABLESTRING },
        { "O", "\x00\xc4\x20\xac", V_ASN1_BMPSTRING, 4 },
        { "OU", "\xe4", V_ASN1_T61STRING },
        { "CN", "alice", V_ASN1_IA5STRING },
        { NULL }
    };
    X509_NAME *name = tc_name(tc_pool, a);
    x509a_dn *dn = x509a_dn_from_name(tc_pool, name);

    ck_assert_int_eq(ASN1_STRING_type(X509_NAME_ENTRY_get_data(
                         X509_NAME_get_entry(name, 1))), V_ASN1_BMPSTRING);
    ck_assert_int_eq(ASN1_STRING_type(X509_NAME_ENTRY_get_data(
                         X509_NAME_get_entry(name, 2))), V_ASN1_T61STRING);
    ck_assert_str_eq(ava_at(dn, 1, 0)->value, "Ä€");
    ck_assert_int_eq(ava_at(dn, 1, 0)->is_hex, 0);
    ck_assert_str_eq(ava_at(dn, 2, 0)->value, "ä");
    assert_name_eq(name, "CN=alice,OU=ä,O=Ä€,C=US");
    assert_name_eq(name, "CN=ALICE,OU=Ä,O=ä€,C=us");
    assert_name_eq(name, "/C=US/O=\\xC3\\x84\\xE2\\x82\\xAC/OU=\\xC3\\xA4/CN=alice");
    assert_name_eq(name, "CN=#1605616C696365,OU=#1401E4,O=#1E0400C420AC,C=US");
    assert_name_eq(name, "CN=#0C05616C696365,OU=#0C02C3A4,O=Ä€,C=#13025553");
    assert_name_round_trips(name, 0);
    ck_assert_str_eq(x509a_name_to_string(tc_pool, name, 0),
                     "CN=alice,OU=ä,O=Ä€,C=US");
    assert_name_ne(name, "CN=alice,OU=a,O=Ä€,C=US");
}
END_TEST

START_TEST(dn_from_name_special_chars)
{
    static const tc_attr a[] = {
        { "O", "Example, Inc." },
        { "OU", "R+D" },
        { "CN", "a\"b\\c;d<e>f=g" },
        { "CN", "#lead" },
        { "CN", " spaced " },
        { NULL }
    };
    X509_NAME *name = tc_name(tc_pool, a);

    ck_assert_str_eq(x509a_name_to_string(tc_pool, name, 0),
                     "CN=\\ spaced\\ ,CN=\\#lead,CN=a\\\"b\\\\c\\;d\\<e\\>f=g,"
                     "OU=R\\+D,O=Example\\, Inc.");
    assert_name_round_trips(name, 0);
    assert_name_eq(name, "CN=spaced,CN=\\#lead,CN=\"a\\\"b\\\\c;d<e>f=g\","
                         "OU=\"R+D\",O=\"Example, Inc.\"");
    assert_name_eq(name, "/O=Example, Inc./OU=R+D/CN=a\"b\\\\c;d<e>f=g"
                         "/CN=#lead/CN= spaced ");
    assert_name_ne(name, "CN=spaced,CN=lead,CN=\"a\\\"b\\\\c;d<e>f=g\","
                         "OU=\"R+D\",O=\"Example, Inc.\"");
}
END_TEST

START_TEST(dn_from_name_non_string)
{
    /* a BIT STRING value: not a character string, kept as #hex */
    static const tc_attr a[] = {
        { "C", "US" },
        { "OU", "\xff", V_ASN1_BIT_STRING, 1 },
        { "CN", "alice" },
        { NULL }
    };
    X509_NAME *name = tc_name(tc_pool, a);
    x509a_dn *dn = x509a_dn_from_name(tc_pool, name);
    const x509a_ava *ou = ava_at(dn, 1, 0);
    const char *printed = x509a_name_to_string(tc_pool, name, 0);

    ck_assert_int_eq(ou->is_hex, 1);
    ck_assert_str_eq(ou->value, "#030200FF");
    ck_assert_str_eq(printed, "CN=alice,OU=#030200FF,C=US");
    assert_name_eq(name, printed);
    assert_name_eq(name, "CN=alice,OU=#030200ff,C=US");
    assert_name_ne(name, "CN=alice,OU=\\#030200FF,C=US");
    assert_name_ne(name, "CN=alice,OU=#030200FE,C=US");
}
END_TEST

START_TEST(dn_from_name_control_chars)
{
    static const tc_attr a[] = {
        { "C", "US" }, { "OU", "x\001y" }, { "CN", "line1\nline2" }, { NULL }
    };
    X509_NAME *name = tc_name(tc_pool, a);
    x509a_dn *dn = x509a_dn_from_name(tc_pool, name);

    /* the DN keeps the raw value; printing escapes it */
    ck_assert_str_eq(ava_at(dn, 2, 0)->value, "line1\nline2");
    ck_assert_str_eq(x509a_name_to_string(tc_pool, name, 0),
                     "CN=line1\\0Aline2,OU=x\\01y,C=US");
    ck_assert_str_eq(x509a_name_to_string(tc_pool, name, 1),
                     "/C=US/OU=x\\x01y/CN=line1\\x0Aline2");
    assert_name_round_trips(name, 1);
    assert_name_eq(name, "CN=line1\\0Aline2,OU=x\\01y,C=US");
    /* a line break is white space for caseIgnoreMatch */
    assert_name_eq(name, "CN=line1 line2,OU=x\\01y,C=US");
    assert_name_ne(name, "CN=line1line2,OU=x\\01y,C=US");
    /* other control characters map to nothing (RFC 4518 2.2) */
    assert_name_eq(name, "CN=line1 line2,OU=xy,C=US");
    assert_name_ne(name, "CN=line1 line2,OU=x y,C=US");
}
END_TEST

START_TEST(dn_from_name_unknown_oid)
{
    static const tc_attr a[] = {
        { "CN", "alice" }, { "1.3.6.1.4.1.99999.7", "x" }, { NULL }
    };
    X509_NAME *name = tc_name(tc_pool, a);

    ck_assert_str_eq(ava_at(x509a_dn_from_name(tc_pool, name), 1, 0)->oid,
                     "1.3.6.1.4.1.99999.7");
    assert_name_eq(name, "1.3.6.1.4.1.99999.7=x,CN=alice");
    assert_name_eq(name, "OID.1.3.6.1.4.1.99999.7=X,CN=alice");
    assert_name_eq(name, "/CN=alice/1.3.6.1.4.1.99999.7=x");
    /* mod_ssl's string dumps unknown attributes as #hex */
    ck_assert_str_eq(x509a_name_to_string(tc_pool, name, 0),
                     "1.3.6.1.4.1.99999.7=#0C0178,CN=alice");
    assert_name_round_trips(name, 1);
    assert_name_ne(name, "1.3.6.1.4.1.99999.8=x,CN=alice");
}
END_TEST

START_TEST(dn_from_name_dc_email)
{
    static const tc_attr a[] = {
        { "DC", "com" }, { "DC", "example" }, { "CN", "Users" },
        { "CN", "carol" }, { "emailAddress", "carol@example.com" }, { NULL }
    };
    X509_NAME *name = tc_name(tc_pool, a);

    ck_assert_int_eq(ASN1_STRING_type(X509_NAME_ENTRY_get_data(
                         X509_NAME_get_entry(name, 0))), V_ASN1_IA5STRING);
    assert_name_eq(name, "E=carol@example.com,CN=carol,CN=Users,DC=example,"
                         "DC=com");
    assert_name_eq(name, "emailAddress=Carol@Example.COM,cn=carol,cn=users,"
                         "dc=example,dc=com");
    assert_name_eq(name, "/DC=com/DC=example/CN=Users/CN=carol/"
                         "emailAddress=carol@example.com");
    assert_name_round_trips(name, 1);
    assert_name_ne(name, "E=carol@example.com,CN=Users,CN=carol,DC=example,"
                         "DC=com");
}
END_TEST

START_TEST(dn_from_name_empty)
{
    X509_NAME *name = tc_name(tc_pool, NULL);
    x509a_dn *dn = x509a_dn_from_name(tc_pool, name);

    ck_assert_int_eq(dn->rdns->nelts, 0);
    ck_assert_str_eq(x509a_name_to_string(tc_pool, name, 0), "");
    ck_assert_str_eq(x509a_name_to_string(tc_pool, name, 1), "");
    assert_name_ne(name, "CN=alice");
}
END_TEST

START_TEST(dn_looks_reversed)
{
    static const struct {
        const char *dn;
        int reversed;
    } t[] = {
        { "C=US,O=Example Corp,CN=alice", 1 },
        { "C=US, O=Example Corp, OU=Eng, CN=alice", 1 },
        { "DC=com,DC=example,CN=carol", 1 },
        { "DC=com,DC=example,OU=Users,CN=carol", 1 },
        { "CN=alice,O=Example Corp,C=US", 0 },
        { "CN=carol,DC=example,DC=com", 0 },
        { "/C=US/O=Example Corp/CN=alice", 0 },
        { "/CN=alice/O=Example Corp/C=US", 0 },
        { "C=US", 0 },
        { "CN=alice", 0 },
        { "O=Example Corp,C=US", 0 },
        { "DC=example,DC=com", 0 },
    };
    static const tc_attr a[] = {
        { "C", "US" }, { "O", "Example Corp" }, { "CN", "alice" }, { NULL }
    };
    size_t i;

    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        ck_assert_msg(!x509a_dn_looks_reversed(dn_ok(t[i].dn)) == !t[i].reversed,
                      "x509a_dn_looks_reversed('%s') should be %d", t[i].dn,
                      t[i].reversed);
    }
    /* a certificate name is never "reversed" */
    ck_assert_int_eq(x509a_dn_looks_reversed(
                         x509a_dn_from_name(tc_pool, tc_name(tc_pool, a))), 0);
}
END_TEST

START_TEST(dn_name_to_string)
{
    static const tc_attr simple[] = {
        { "C", "US" }, { "O", "Example Corp" }, { "CN", "alice" }, { NULL }
    };
    static const tc_attr utf8[] = {
        { "C", "DE" }, { "O", "Müller GmbH" }, { "CN", "Jürgen Groß" },
        { NULL }
    };
    static const tc_attr mv[] = {
        { "C", "US" }, { "O", "Example Corp" }, { "CN", "alice" },
        { "UID", "a1", .join = 1 }, { NULL }
    };
    static const tc_attr many[] = {
        { "DC", "com" }, { "DC", "example" }, { "O", "Example Corp" },
        { "OU", "Engineering" }, { "OU", "Security" }, { "CN", "Alice Smith" },
        { "UID", "asmith" }, { "emailAddress", "alice@subject.example" },
        { NULL }
    };
    const tc_attr *all[] = { simple, utf8, mv, many };
    X509_NAME *name;
    size_t i;

    name = tc_name(tc_pool, simple);
    ck_assert_str_eq(x509a_name_to_string(tc_pool, name, 0),
                     "CN=alice,O=Example Corp,C=US");
    ck_assert_str_eq(x509a_name_to_string(tc_pool, name, 1),
                     "/C=US/O=Example Corp/CN=alice");

    name = tc_name(tc_pool, utf8);
    ck_assert_str_eq(x509a_name_to_string(tc_pool, name, 0),
                     "CN=Jürgen Groß,O=Müller GmbH,C=DE");
    ck_assert_str_eq(x509a_name_to_string(tc_pool, name, 1),
                     "/C=DE/O=M\\xC3\\xBCller GmbH/CN=J\\xC3\\xBCrgen Gro\\xC3\\x9F");

    name = tc_name(tc_pool, mv);
    ck_assert_str_eq(x509a_name_to_string(tc_pool, name, 0),
                     "UID=a1+CN=alice,O=Example Corp,C=US");
    ck_assert_str_eq(x509a_name_to_string(tc_pool, name, 1),
                     "/C=US/O=Example Corp/CN=alice+UID=a1");

    name = tc_name(tc_pool, many);
    ck_assert_str_eq(x509a_name_to_string(tc_pool, name, 0),
                     "emailAddress=alice@subject.example,UID=asmith,"
                     "CN=Alice Smith,OU=Security,OU=Engineering,"
                     "O=Example Corp,DC=example,DC=com");

    /* always what mod_ssl's own calls print */
    for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        name = tc_name(tc_pool, all[i]);
        ck_assert_str_eq(x509a_name_to_string(tc_pool, name, 0),
                         tc_name_print(tc_pool, name, MODSSL_DN_FLAGS));
        ck_assert_str_eq(x509a_name_to_string(tc_pool, name, 1),
                         tc_name_oneline(tc_pool, name));
    }
}
END_TEST

Suite *x509a_dn_suite(void)
{
    Suite *s = suite_create("x509a_dn");
    TCase *tc = tcase_create("parse");

    tcase_add_checked_fixture(tc, tc_setup, tc_teardown);
    tcase_add_test(tc, dn_rfc4514_equals_slash);
    tcase_add_test(tc, dn_rdn_order_matters);
    tcase_add_test(tc, dn_attr_type_names);
    tcase_add_test(tc, dn_attr_type_lookup);
    tcase_add_test(tc, dn_value_case_ascii);
    tcase_add_test(tc, dn_value_case_unicode);
    tcase_add_test(tc, dn_whitespace_folding);
    tcase_add_test(tc, dn_escapes);
    tcase_add_test(tc, dn_hex_escapes_utf8);
    tcase_add_test(tc, dn_quoted_values);
    tcase_add_test(tc, dn_multivalued_order);
    tcase_add_test(tc, dn_parse_structure);
    tcase_add_test(tc, dn_slash_plus);
    tcase_add_test(tc, dn_slash_unescaped_separators);
    tcase_add_test(tc, dn_slash_hex_bytes);
    tcase_add_test(tc, dn_hexstring_values);
    tcase_add_test(tc, dn_hexstring_non_string);
    tcase_add_test(tc, dn_utf8_values);
    tcase_add_test(tc, dn_parse_errors);
    tcase_add_test(tc, dn_rfc4518);
    tcase_add_test(tc, dn_rfc4518_prohibited);
    tcase_add_test(tc, dn_looks_reversed);
    suite_add_tcase(s, tc);

    tc = tcase_create("certificate names");
    tcase_add_checked_fixture(tc, tc_setup, tc_teardown);
    tcase_add_test(tc, dn_slash_multivalued_vs_certificate);
    tcase_add_test(tc, dn_slash_backslash_kept);
    tcase_add_test(tc, dn_lone_hash);
    tcase_add_test(tc, dn_from_name_simple);
    tcase_add_test(tc, dn_from_name_utf8);
    tcase_add_test(tc, dn_from_name_string_types);
    tcase_add_test(tc, dn_from_name_special_chars);
    tcase_add_test(tc, dn_from_name_non_string);
    tcase_add_test(tc, dn_from_name_control_chars);
    tcase_add_test(tc, dn_from_name_unknown_oid);
    tcase_add_test(tc, dn_from_name_dc_email);
    tcase_add_test(tc, dn_from_name_empty);
    tcase_add_test(tc, dn_name_to_string);
    suite_add_tcase(s, tc);
    return s;
}
