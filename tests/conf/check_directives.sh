#!/bin/sh
# Licensed under the Apache License, Version 2.0 (see COPYING).
#
# conf/x509authn.conf (the package's mods-available/x509authn.conf) lists
# every directive src/x509authn_config.c registers, each commented out, and
# nothing else; conf/x509authn.load loads the module without requiring
# mod_ssl (header mode works without it).  Run by make check.
set -u
srcdir=${srcdir:-$(dirname "$0")/../..}
table=$srcdir/src/x509authn_config.c
conf=$srcdir/conf/x509authn.conf
load=$srcdir/conf/x509authn.load
fail=0

registered=$(sed -n 's/.*\(AP_INIT_[A-Z0-9]*\|RULE\)("\(X509Authn[A-Za-z]*\)".*/\2/p' "$table" | sort -u)
[ -n "$registered" ] || { echo "no directives found in $table"; exit 99; }
for d in $registered; do
    grep -Eq "^#[[:space:]]*$d( |$)" "$conf" || { echo "$conf: directive $d missing (as '#$d DEFAULT')"; fail=1; }
done
for d in $(sed -n 's/^#[[:space:]]*\(X509Authn[A-Za-z]*\).*/\1/p' "$conf" | sort -u); do
    echo "$registered" | grep -qx "$d" || { echo "$conf: $d is not a directive of the module"; fail=1; }
done
# Nothing active but the <IfModule> wrapper.
active=$(grep -Ev '^[[:space:]]*(#|$)|^</?IfModule' "$conf")
[ -z "$active" ] || { echo "$conf: active lines: $active"; fail=1; }
grep -Eq '^# Depends:' "$load" && { echo "$load: must not require other modules"; fail=1; }
grep -Eq '^LoadModule x509authn_module /usr/lib/apache2/modules/mod_x509authn\.so$' "$load" \
    || { echo "$load: no LoadModule line"; fail=1; }
[ $fail = 0 ] && echo "conf/x509authn.conf: $(echo "$registered" | wc -l) directives, all listed"
exit $fail
