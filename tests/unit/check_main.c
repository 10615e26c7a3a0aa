/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/* Runs every unit-test suite of lib/.  The exit status is the number of
 * failed tests (0 when all pass); counts that automake's test driver would
 * read as SKIP (77) or ERROR (99), or that do not fit an exit status, are
 * reported as 1.  Set CK_FORK=no to run in one process (e.g. valgrind). */

#include <stdlib.h>
#include <apr_general.h>

#include "suites.h"

int main(void)
{
    SRunner *sr;
    int failed;

    if (apr_initialize() != APR_SUCCESS) {
        return EXIT_FAILURE;
    }
    sr = srunner_create(x509a_dn_suite());
    srunner_add_suite(sr, x509a_strprep_suite());
    srunner_add_suite(sr, x509a_num_suite());
    srunner_add_suite(sr, x509a_cert_suite());
    srunner_add_suite(sr, x509a_rules_suite());
    srunner_add_suite(sr, x509a_decode_suite());
    srunner_add_suite(sr, x509a_verify_suite());
    srunner_add_suite(sr, x509a_record_suite());
    srunner_add_suite(sr, x509a_ocsp_suite());
    srunner_add_suite(sr, x509a_print_suite());
    srunner_add_suite(sr, x509a_map_suite());
    srunner_add_suite(sr, x509a_reason_suite());
    srunner_add_suite(sr, x509a_http_suite());
    srunner_add_suite(sr, x509a_crlfetch_suite());
    srunner_add_suite(sr, x509a_compact_suite());
    srunner_add_suite(sr, x509a_sigcache_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    apr_terminate();
    return failed < 77 ? failed : 1;
}
