/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/* The number and name formats of the directives: x509a_serial_parse(),
 * x509a_fingerprint_parse(), x509a_spki_pin_parse(), x509a_field_parse()
 * (an accepted field is then read from the fixed leaf certificate),
 * x509a_format_parse() and x509a_attr_type(), all on the input as one
 * NUL-terminated string. */

#include <stdlib.h>
#include <string.h>
#include <openssl/x509.h>

#include "x509a_num.h"
#include "x509a_cert.h"
#include "x509a_decode.h"
#include "x509a_dn.h"
#include "fuzz_common.h"

static const fz_pki *pki;
static x509a_serial leaf_serial;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    pki = fz_fixtures();
    x509a_serial_from_asn1(fz_init(), X509_get0_serialNumber(pki->leaf),
                           &leaf_serial);
    fz_fixture_files_remove();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    char *text = fz_cstr(data, size);
    x509a_serial serial;
    x509a_fingerprint fp;
    unsigned char pin[32];
    x509a_field field;
    x509a_format fmt;
    ASN1_OBJECT *obj;
    const char *err;

    apr_pool_create(&p, fz_init());

    memset(&serial, 0x5a, sizeof(serial));
    if ((err = x509a_serial_parse(p, text, &serial)) == NULL) {
        size_t i, h = 0;
        if ((serial.len && serial.mag[0] == 0) || serial.len > 64
            || (serial.len == 0 && serial.negative)) {
            fz_fail("serial '%s' not normalised", text);
        }
        for (i = 0; i < serial.len; i++) {
            h += serial.mag[i];
        }
        fz_sink += h + (size_t)x509a_serial_equal(&serial, &leaf_serial);
        if (!x509a_serial_equal(&serial, &serial)) {
            fz_fail("serial differs from itself");
        }
    }
    else {
        fz_touch(err);
    }

    memset(&fp, 0x5a, sizeof(fp));
    if ((err = x509a_fingerprint_parse(p, text, &fp)) == NULL) {
        if (!((fp.alg == X509A_DIGEST_SHA1 && fp.len == 20)
              || (fp.alg == X509A_DIGEST_SHA256 && fp.len == 32))) {
            fz_fail("fingerprint '%s': algorithm %d with %lu bytes", text,
                    (int)fp.alg, (unsigned long)fp.len);
        }
        fz_touch(x509a_hex(p, fp.md, fp.len));
    }
    else {
        fz_touch(err);
    }

    if ((err = x509a_spki_pin_parse(p, text, pin)) == NULL) {
        fz_touch(x509a_hex(p, pin, sizeof(pin)));
    }
    else {
        fz_touch(err);
    }

    if ((err = x509a_field_parse(p, text, &field)) == NULL) {
        x509a_cert *c = x509a_cert_make(p, pki->leaf);
        if (field.kind == X509A_FIELD_SUBJECT_ATTR && !field.oid) {
            fz_fail("subject attribute field without an OID");
        }
        fz_touch(field.name);
        fz_touch(field.oid);
        fz_touch(x509a_cert_field(c, &field));
    }
    else {
        fz_touch(err);
    }

    if (x509a_format_parse(text, &fmt) == NULL) {
        fz_touch(x509a_format_name(fmt));
    }
    obj = x509a_attr_type(text);
    ASN1_OBJECT_free(obj);

    apr_pool_destroy(p);
    free(text);
    return 0;
}
