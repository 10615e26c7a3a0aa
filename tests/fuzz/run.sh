#!/bin/bash
# Licensed under the Apache License, Version 2.0 (see COPYING).
#
# Build the fuzz targets, replay the regression inputs, then fuzz.
#
#   tests/fuzz/run.sh SECONDS [TARGET...]      (default: every target)
#
# For each target: every file of tests/fuzz/regressions/<target>/ runs
# once; then the target fuzzes for SECONDS starting from a temporary copy
# of tests/fuzz/corpus/<target>/ (the committed seeds stay as they are),
# with its dictionary tests/fuzz/dict/<target>.dict when there is one.
# Prints executions, executions per second and coverage per target, and
# exits non-zero when any target found something (crash, leak, undefined
# behaviour, timeout, out-of-memory, broken invariant).
#
# Environment:
#   OUT          build and output directory (default: build/fuzz)
#   PARALLEL     targets fuzzed at the same time (default: 1)
#   KEEP_CORPUS  directory to keep the grown corpora in (<dir>/<target>)
#   FUZZ_ARGS    extra libFuzzer options, e.g. "-use_value_profile=1"
#   NO_BUILD=1   use the targets already in OUT
# Findings (reproducers) are written to OUT/findings/<target>/ and the
# logs to OUT/logs/<target>.log.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
OUT=${OUT:-$top/build/fuzz}
PARALLEL=${PARALLEL:-1}
ALL="fuzz_decode_leaf fuzz_decode_chain fuzz_dn fuzz_numbers fuzz_map fuzz_cert fuzz_verify fuzz_files fuzz_record fuzz_compact"

usage() {
    echo "usage: $0 SECONDS [TARGET...]   targets: $ALL" >&2
    exit 2
}
[ $# -ge 1 ] && [[ $1 =~ ^[0-9]+$ ]] || usage
seconds=$1; shift
targets=${*:-$ALL}
for t in $targets; do
    [[ " $ALL " == *" $t "* ]] || { echo "unknown target '$t'" >&2; usage; }
done

max_len() {
    case $1 in
        fuzz_decode_leaf|fuzz_decode_chain|fuzz_files) echo 65536 ;;
        fuzz_dn|fuzz_numbers) echo 4096 ;;
        fuzz_map) echo 16384 ;;
        *) echo 16384 ;;   # DER certificates
    esac
}

if [ "${NO_BUILD:-0}" != 1 ]; then
    "$here/build.sh" "$OUT" || exit 2
fi
mkdir -p "$OUT/logs" "$OUT/findings"
# fuzz_files writes every input to a file: on tmpfs, not on the disk
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
    export TMPDIR=/dev/shm
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/x509a-fuzz-run.XXXXXX")
trap 'rm -rf "$work"' EXIT

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# One target: regressions, then fuzzing.  Writes $work/<target>.result.
run_target() {
    local t=$1 bin=$OUT/$1 log=$OUT/logs/$1.log status=ok rc
    local dict=() findings=$OUT/findings/$t/ corpus=$work/corpus-$t
    local regs=()

    mkdir -p "$findings" "$corpus"
    : > "$log"
    if [ -d "$here/regressions/$t" ]; then
        while IFS= read -r -d '' f; do regs+=("$f"); done \
            < <(find "$here/regressions/$t" -type f ! -name '*.md' ! -name 'README*' -print0 | sort -z)
    fi
    if [ ${#regs[@]} -gt 0 ]; then
        echo "== $t: regressions (${#regs[@]} files)" >> "$log"
        "$bin" -timeout=10 -rss_limit_mb=2048 "${regs[@]}" >> "$log" 2>&1
        rc=$?
        if [ $rc -ne 0 ]; then
            status="REGRESSION FAILED (rc $rc)"
        fi
    fi
    cp "$here/corpus/$t/"* "$corpus/" 2>/dev/null
    [ -f "$here/dict/$t.dict" ] && dict=(-dict="$here/dict/$t.dict")
    echo "== $t: fuzzing for ${seconds}s" >> "$log"
    # shellcheck disable=SC2086
    "$bin" -max_total_time="$seconds" -max_len="$(max_len "$t")" \
        -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$findings" "${dict[@]}" ${FUZZ_ARGS:-} \
        "$corpus" >> "$log" 2>&1
    rc=$?
    if [ $rc -ne 0 ]; then
        local unit
        unit=$(grep -o 'Test unit written to .*' "$log" | tail -1 | sed 's/Test unit written to //')
        if [ "$status" = ok ]; then status="FINDING (rc $rc)"; else status="$status; FINDING (rc $rc)"; fi
        [ -n "$unit" ] && status="$status: $unit"
    fi
    if [ -n "${KEEP_CORPUS:-}" ]; then
        mkdir -p "$KEEP_CORPUS/$t" && cp "$corpus/"* "$KEEP_CORPUS/$t/" 2>/dev/null
    fi
    local execs eps cov
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
    [ -z "$execs" ] && execs=$(grep -oE '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 | grep -oE '[0-9]+')
    eps=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
    cov=$(grep -oE '^#[0-9]+.* cov: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+$')
    printf '%-18s %12s execs %8s/s  cov %6s  %s\n' "$t" "${execs:-?}" \
        "${eps:-?}" "${cov:-?}" "$status" > "$work/$t.result"
}

running=0
for t in $targets; do
    run_target "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$PARALLEL" ]; then
        wait -n
        running=$((running - 1))
    fi
done
wait

failed=0
echo "target                    executions    per sec  coverage  result"
for t in $targets; do
    if [ -f "$work/$t.result" ]; then
        cat "$work/$t.result"
        grep -q ' ok$' "$work/$t.result" || failed=1
    else
        printf '%-18s did not run\n' "$t"
        failed=1
    fi
done
if [ $failed -ne 0 ]; then
    echo "findings: $OUT/findings/<target>/, logs: $OUT/logs/<target>.log" >&2
    exit 1
fi
