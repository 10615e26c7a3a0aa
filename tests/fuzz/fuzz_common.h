/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/**
 * @file fuzz_common.h
 * @brief Helpers shared by the libFuzzer targets: APR set-up, the fixed
 * PKI of fixtures.h, and a walk over every x509a_cert accessor.
 */

#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <apr_pools.h>
#include <openssl/x509.h>

#include "x509a_cert.h"

/** libFuzzer entry points (declared for -Wmissing-prototypes). */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/** apr_initialize() once; returns a pool that lives as long as the
 *  process (for fixtures). */
apr_pool_t *fz_init(void);

/** A NUL-terminated malloc() copy of the input (free() it). */
char *fz_cstr(const uint8_t *data, size_t size);

/** The fixed PKI (fixtures.h), parsed once by fz_init(). */
typedef struct {
    X509 *root, *inter, *fakeinter, *leaf;
    const char *ca_file;    /**< PEM: root then inter (temporary file) */
    const char *root_file;  /**< PEM: root only */
    const char *inter_file; /**< PEM: inter only */
    const char *crl_file;   /**< PEM: the CRLs of root and inter */
} fz_pki;

/** The fixed PKI; files are written to a temporary directory removed at
 *  exit. */
const fz_pki *fz_fixtures(void);

/** Remove the fixture files now (targets that read them only while
 *  initialising call this at the end of LLVMFuzzerInitialize). */
void fz_fixture_files_remove(void);

/** A stack of the NULL-terminated certificates (references taken; free
 *  with sk_X509_pop_free). */
STACK_OF(X509) *fz_stack(X509 *first, ...);

/**
 * Call every accessor of @a c: DNs, serial, digests, SANs, attributes,
 * validity, PEM, fields, variables of both styles, variable lookups,
 * memo.  Reads every returned string completely so that a missing
 * terminator is a sanitizer report.  @a p is a scratch pool.
 */
void fz_exercise_cert(x509a_cert *c, apr_pool_t *p);

/** Check that @a dn is sane (every RDN has AVAs, values terminated) and
 *  equal to itself; reads all of it. */
void fz_touch_dn(const x509a_dn *dn);

/**
 * The DN an administrator copies from X509_CLIENT_S_DN must parse back to
 * the DN of the certificate: parse @a printed (x509a_name_to_string() of
 * @a name) and compare it with @a expected (x509a_dn_from_name() of
 * @a name).  A mismatch aborts, unless the environment sets
 * X509A_FUZZ_STRICT=0: then mismatches are counted and the count is
 * printed at exit.  DNs with a NUL byte in a value are skipped (refused
 * by x509a_dn_parse() on purpose), as is the empty DN; mismatches already
 * reported (tests/fuzz/regressions/README) are skipped when the
 * environment sets X509A_FUZZ_SKIP_REPORTED=1.
 */
void fz_check_print_roundtrip(apr_pool_t *p, const char *printed,
                              const x509a_dn *expected);

/** Read every byte of a string (returns a value to keep the reads). */
size_t fz_touch(const char *s);

/** Sink for values the compiler must not optimise away. */
extern volatile size_t fz_sink;

/** Abort with a message (an invariant of the code under test broke). */
void fz_fail(const char *fmt, ...)
    __attribute__((noreturn, format(printf, 1, 2)));

#endif /* FUZZ_COMMON_H */
