#!/bin/bash
# Build mod_x509authn and run the whole test suite:
#   1. Check unit tests, also under valgrind memcheck;
#   2. integration tests against a real apache2 (and nginx, HAProxy, slapd,
#      redis, memcached, all started by the tests);
#   3. a short soak: mixed traffic, graceful restarts, CRL replaced, redis
#      killed (X509A_SOAK_SECONDS, default 60; tests/soak/README for the
#      10-minute run);
#   4. the unit and integration tests again with lib/ and the module built
#      with AddressSanitizer and UndefinedBehaviorSanitizer;
#   5. a short run of every fuzz target (X509A_FUZZ_SECONDS, default 45);
#   6. the release tarball: make distcheck, and every tracked file in it;
#   7. the Debian package: built, linted, installed, tried in the system's
#      apache2 layout on a high port, purged (scripts/package-check.sh);
#   8. the README's two commands on a fresh Debian 12 root made with
#      mmdebstrap, cloned into its /root (scripts/fresh-machine-check.sh).
# Run as root on Debian 12; missing packages are installed first.
# X509A_SKIP="asan fuzz distcheck package fresh" skips those stages (for
# quick local runs).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/deps.sh"
skip=" ${X509A_SKIP:-} "

x509a_install_deps test

stage() { echo; echo "== $*"; }

stage "build (-Werror)"
x509a_build "$top" "$top/build/ci" --enable-werror
make -C "$top/build/ci" -s tests/unit/check_x509a tests/unit/check_decode_fallback \
    tests/tools/x509a_reneg

stage "unit tests"
make -C "$top/build/ci" -s check
stage "unit tests under valgrind memcheck"
for unit in check_x509a check_decode_fallback; do
    CK_FORK=no valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
        --error-exitcode=1 --suppressions="$top/tests/unit/valgrind.supp" \
        "$top/build/ci/tests/unit/$unit"
done

stage "integration tests"
make -C "$top/build/ci" -s check-integration

stage "soak, ${X509A_SOAK_SECONDS:-60} s (graceful restarts, CRL replaced, redis killed)"
# apache2's children (www-data) read the soak's files: outside a checkout
# they cannot enter (a clone in /root, mode 0700)
soak_work=$top/build/soak
runuser -u www-data -- test -r "$top/scripts/test-all.sh" 2>/dev/null \
    || soak_work=/var/tmp/mod_x509authn-soak
make -C "$top/build/ci" -s bench/x509a_load bench/x509a_mkcerts bench/x509a_refcost
/usr/bin/python3 "$top/tests/soak/soak.py" --module "$top/build/ci/.libs/mod_x509authn.so" \
    --load "$top/build/ci/bench/x509a_load" --seconds "${X509A_SOAK_SECONDS:-60}" \
    --phase 20 --rss-limit-kb "${X509A_SOAK_RSS_KB:-2048}" --work "$soak_work"

if [[ $skip != *" asan "* ]]; then
    stage "build with AddressSanitizer + UndefinedBehaviorSanitizer"
    x509a_build "$top" "$top/build/asan" --enable-werror --enable-sanitizers
    make -C "$top/build/asan" -s tests/unit/check_x509a tests/unit/check_decode_fallback \
        tests/tools/x509a_reneg
    # use_sigaltstack=0: gcc 12's ASan misreports thread exits otherwise
    export ASAN_OPTIONS=use_sigaltstack=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

    stage "unit tests, sanitized (leaks checked at exit)"
    for unit in check_x509a check_decode_fallback; do
        CK_FORK=no "$top/build/asan/tests/unit/$unit"
    done

    stage "integration tests, apache2 with the sanitized module"
    san_log=$(mktemp -d)/report
    X509A_HTTPD_PRELOAD=$(gcc -print-file-name=libasan.so) X509A_SANITIZER_LOG=$san_log \
        make -C "$top/build/asan" -s check-integration
    unset ASAN_OPTIONS UBSAN_OPTIONS
fi

if [[ $skip != *" fuzz "* ]]; then
    stage "fuzzing, ${X509A_FUZZ_SECONDS:-45} s per target"
    "$top/tests/fuzz/run.sh" "${X509A_FUZZ_SECONDS:-45}"
fi

if [[ $skip != *" distcheck "* ]]; then
    stage "release tarball: make distcheck"
    make -C "$top/build/ci" -s distcheck
    if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
        tarball=$(ls -t "$top"/build/ci/mod_x509authn-*.tar.gz | head -1)
        tar tzf "$tarball" | sed 's|^[^/]*/||' | grep -v -e '/$' -e '^$' | sort > "$top/build/ci/dist-files.txt"
        missing=$(comm -13 "$top/build/ci/dist-files.txt" \
                           <(git -C "$top" ls-files | grep -vx .gitignore | sort))
        [ -z "$missing" ] || { echo "not in $tarball:"; echo "$missing"; exit 1; }
        # besides them only what autoreconf generates: no build or test output
        extra=$(comm -23 "$top/build/ci/dist-files.txt" <(git -C "$top" ls-files | sort) \
            | grep -Ev '^(configure|Makefile\.in|aclocal\.m4|config\.h\.in|build-aux/[^/]*|m4/[^/]*)$' || true)
        [ -z "$extra" ] || { echo "in $tarball but not in git:"; echo "$extra"; exit 1; }
        echo "$(basename "$tarball"): every tracked file, and only generated files besides"
    fi
fi

if [[ $skip != *" package "* ]]; then
    stage "Debian package: build, lintian, install, a2enmod, apache2 on a high port, purge"
    "$top/scripts/package-check.sh"
fi

if [[ $skip != *" fresh "* ]]; then
    stage "fresh machine: the README's commands in a new Debian 12 root (mmdebstrap), cloned to /root"
    "$top/scripts/fresh-machine-check.sh"
fi

stage "all tests passed"
