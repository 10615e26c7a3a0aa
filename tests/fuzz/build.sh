#!/bin/bash
# Licensed under the Apache License, Version 2.0 (see COPYING).
#
# Build the libFuzzer targets of tests/fuzz/ (see tests/fuzz/README).
#
#   tests/fuzz/build.sh [OUTDIR]        (default: build/fuzz)
#
# lib/*.c are compiled directly with the targets (no autotools).
# Environment:
#   CC          clang to use (default: clang, else clang-14)
#   SANITIZERS  -fsanitize list besides fuzzer (default: address,undefined)
#   POOL_SHIM   1 (default): every apr_palloc() is a malloc(), so that
#               ASan sees overflows inside APR pools; 0: APR's allocator
#   EXTRA_CFLAGS  appended to the compiler flags
# Debian packages needed: clang libclang-rt-14-dev (libFuzzer and the
# sanitizer runtimes), pkg-config libapr1-dev libssl-dev.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
out=${1:-$top/build/fuzz}
TARGETS="fuzz_decode_leaf fuzz_decode_chain fuzz_dn fuzz_numbers fuzz_map fuzz_cert fuzz_verify fuzz_files fuzz_record fuzz_compact"

missing() {
    echo "build.sh: $1" >&2
    echo "build.sh: on Debian 12: apt-get install clang libclang-rt-14-dev pkg-config libapr1-dev libssl-dev" >&2
    exit 2
}

CC=${CC:-}
if [ -z "$CC" ]; then
    for c in clang clang-14; do
        if command -v "$c" >/dev/null 2>&1; then CC=$c; break; fi
    done
fi
[ -n "$CC" ] && command -v "$CC" >/dev/null 2>&1 || missing "clang not found"
command -v pkg-config >/dev/null 2>&1 || missing "pkg-config not found"
pkg-config --exists apr-1 libcrypto libssl || missing "APR or OpenSSL development files not found (pkg-config apr-1 libcrypto libssl)"

SANITIZERS=${SANITIZERS:-address,undefined}
POOL_SHIM=${POOL_SHIM:-1}
CFLAGS="-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,$SANITIZERS -fno-sanitize-recover=undefined"
CFLAGS="$CFLAGS -Wall -Wextra -Wno-unused-parameter -std=gnu99"
CFLAGS="$CFLAGS -I$top/lib -I$here $(pkg-config --cflags apr-1 libcrypto)"
[ "$POOL_SHIM" = 1 ] || CFLAGS="$CFLAGS -DX509A_FUZZ_NO_POOL_SHIM"
CFLAGS="$CFLAGS ${EXTRA_CFLAGS:-}"
LIBS="$(pkg-config --libs apr-1 libcrypto libssl)"

# libFuzzer itself: a link of an empty target shows whether it is there
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf '#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return 0; }\n' > "$probe/p.c"
if ! "$CC" -fsanitize=fuzzer,$SANITIZERS "$probe/p.c" -o "$probe/p" 2>"$probe/err"; then
    sed 's/^/  /' "$probe/err" | head -5 >&2
    missing "$CC cannot link with -fsanitize=fuzzer,$SANITIZERS (libclang-rt-14-dev missing?)"
fi

mkdir -p "$out/obj"
objs=()
for src in "$top"/lib/*.c "$here/fuzz_common.c" "$here/fuzz_pool_shim.c"; do
    obj="$out/obj/$(basename "${src%.c}").o"
    "$CC" $CFLAGS -c "$src" -o "$obj"
    objs+=("$obj")
done
for t in $TARGETS; do
    "$CC" $CFLAGS -c "$here/$t.c" -o "$out/obj/$t.o"
    # -rdynamic: libapr's calls of apr_palloc() reach fuzz_pool_shim.c
    "$CC" $CFLAGS -rdynamic "$out/obj/$t.o" "${objs[@]}" $LIBS -o "$out/$t"
    echo "built $out/$t"
done
