/* Licensed under the Apache License, Version 2.0 (see COPYING). */

/**
 * @file x509a_map.h
 * @brief Explicit certificate-to-user maps (X509AuthnUserMap).
 *
 * One rule per line, `#` starts a comment, fields are separated by white
 * space and may be double-quoted (inside quotes `\"` is a quote and every
 * other character, a backslash included, is itself):
 *
 *     fingerprint    [sha1:|sha256:]HEX               USER
 *     issuer-serial  "ISSUER DN"  SERIAL              USER
 *     issuer-subject "ISSUER DN"  "SUBJECT-DN-REGEX"  USER
 *
 * fingerprint and issuer-serial map one certificate (one-to-one);
 * issuer-subject maps every certificate of an issuer whose subject (as
 * X509_CLIENT_S_DN prints it) matches the regular expression (many-to-one),
 * and USER may use `$1`..`$9` for its captures (`$$` is a `$`).  DNs and
 * serials take the forms of the rules (x509a_dn_parse, x509a_serial_parse).
 * The first line that matches wins.  Lookups are hash-table lookups for the
 * one-to-one kinds and a scan of the issuer's own lines for the other.
 */

#ifndef X509A_MAP_H
#define X509A_MAP_H

#include <apr_pools.h>

#include "x509a_cert.h"

/** Capture offsets of a regular expression match (-1 when unset). */
typedef struct {
    int so;     /**< Start offset. */
    int eo;     /**< End offset. */
} x509a_match;

/** The regular expression engine the caller provides (httpd: ap_regex). */
typedef struct {
    /** Compile; NULL with *err on failure.  *ncaptures gets the number of
     *  capture groups. */
    void *(*compile)(apr_pool_t *p, const char *pattern, int *ncaptures,
                     const char **err);
    /** Match; fills m[0..nmatch-1]; returns non-zero on a match. */
    int (*match)(void *re, const char *subject, int nmatch, x509a_match *m);
} x509a_regex_ops;

/** A parsed map file. */
typedef struct x509a_map x509a_map;

/**
 * Read a map file.
 * @param p pool the map lives in
 * @param ops the regular expression engine
 * @return NULL on success, else "FILE:LINE: what is wrong" (or why the
 *         file cannot be read)
 */
const char *x509a_map_load(apr_pool_t *p, const char *file,
                           const x509a_regex_ops *ops, x509a_map **out);

/** Parse a map from memory (@a name is used in error messages). */
const char *x509a_map_parse(apr_pool_t *p, const char *name, const char *text,
                            apr_size_t len, const x509a_regex_ops *ops,
                            x509a_map **out);

/** Number of rules in the map. */
int x509a_map_count(const x509a_map *map);

/**
 * The user a certificate maps to, or NULL.
 * @param p pool for a user name built from captures
 * @param line receives the line of the rule that matched (may be NULL)
 */
const char *x509a_map_lookup(const x509a_map *map, x509a_cert *c,
                             apr_pool_t *p, int *line);

#endif /* X509A_MAP_H */
