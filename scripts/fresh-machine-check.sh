#!/bin/bash
# Prove the README's two commands on a fresh Debian 12 machine.
#
#   scripts/fresh-machine-check.sh [COMMIT]     (default: HEAD)
#
# Makes a throwaway minimal Debian 12 root with mmdebstrap (from this
# machine's own apt sources), clones this repository into its /root (mode
# 0700, where root's clone naturally lands), and runs there, as written in
# the README: the demo, the test suite (X509A_SKIP="asan fuzz", a 10 s
# soak; distcheck, package and this check are skipped too: the run that
# calls this one does them), and the demo again; then stops the demo, prints the time of each
# step and removes the root.  Nothing is installed on or removed from this
# machine except mmdebstrap itself.  Needs root (chroot, mounts).
# X509A_FRESH_KEEP=1 keeps the root for inspection.  Where mounts are
# forbidden (or X509A_FRESH_NO_CHROOT=1), the same steps run from a fresh
# clone in a mode-0700 directory of this machine instead.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/deps.sh"
commit=${1:-HEAD}

echo "x509a: this check needs mmdebstrap to build a Debian 12 root"
X509A_PKGS_FRESH="mmdebstrap" x509a_install_deps fresh

work=$(mktemp -d /var/tmp/x509a-fresh.XXXXXX)
root=$work/root
mounted=()

cleanup() {
    local rc=$? pid
    # processes still running in the root (a demo left over, a test server)
    for pid in $(ls /proc | grep -E '^[0-9]+$'); do
        if [ -n "$root" ] && [ "$(readlink "/proc/$pid/root" 2>/dev/null)" = "$root" ]; then
            kill -9 "$pid" 2>/dev/null || true
        fi
    done
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
        umount -l "${mounted[$i]}" 2>/dev/null || true
    done
    if [ -z "${X509A_FRESH_KEEP:-}" ]; then
        rm -rf --one-file-system "$work"
    else
        echo "kept: $root"
    fi
    exit $rc
}
trap cleanup EXIT

sources=()
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -s "$f" ] && sources+=("$f")
done

times=()
step() {
    local name=$1; shift
    local t0=$SECONDS
    echo
    echo "== $name"
    "$@"
    times+=("$(printf '%-44s %4d s' "$name" $((SECONDS - t0)))")
}

in_root() {
    # a clean environment, as a root login on a new machine would have
    chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        /bin/bash -c "$1"
}

make_root() {
    mmdebstrap --variant=apt --include=ca-certificates,git bookworm "$root" "${sources[@]}"
    local m
    for m in proc sys dev dev/pts; do
        mkdir -p "$root/$m"
        case $m in
            proc) mount -t proc proc "$root/proc" ;;
            sys) mount --rbind /sys "$root/sys" ;;
            dev) mount --rbind /dev "$root/dev" ;;
            dev/pts) continue ;;
        esac
        mounted+=("$root/$m")
    done
    # what every installed machine has: name resolution and its own name
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    cp /etc/hosts "$root/etc/hosts"
    git -C "$top" archive --format=tar --prefix=src/ "$commit" >/dev/null   # commit exists
    git clone -q "$top" "$root/root/mod_x509authn"
    git -C "$root/root/mod_x509authn" checkout -q "$commit"
    chmod 0700 "$root/root"
    ls -ld "$root/root"
}

readme_cmd() {
    # the README's commands, as the README writes them
    sed -n 's/^    \(\.\/scripts\/[a-z-]*\.sh\).*/\1/p' "$top/README" | sed -n "${1}p"
}

demo_cmd=$(readme_cmd 1)
test_cmd=$(readme_cmd 2)
[ "$demo_cmd" = ./scripts/demo.sh ] && [ "$test_cmd" = ./scripts/test-all.sh ] || {
    echo "the README's first commands are not ./scripts/demo.sh and ./scripts/test-all.sh" >&2
    exit 1
}

# Can this machine make a root at all (a container may forbid mounts)?
can_chroot() {
    local t
    t=$(mktemp -d /var/tmp/x509a-probe.XXXXXX)
    mkdir -p "$t/proc"
    if mount -t proc proc "$t/proc" 2>/dev/null; then
        umount "$t/proc"
        rmdir "$t/proc" "$t"
        return 0
    fi
    rm -rf "$t"
    return 1
}

if [ -n "${X509A_FRESH_NO_CHROOT:-}" ] || ! can_chroot; then
    # the issue's fallback: a fresh clone in a mode-0700 directory on this
    # machine (its packages stay: nothing is purged from the host)
    echo "x509a: this machine forbids the mounts a chroot needs: running the" \
         "README's commands from a fresh clone in a mode-0700 directory instead"
    root=
    clone=$work/home/mod_x509authn
    mkdir -p "$work/home" && chmod 0700 "$work/home"
    git clone -q "$top" "$clone" && git -C "$clone" checkout -q "$commit"
    in_root() { (cd "$clone" && env -u X509A_APT_UPDATED bash -c "${1#cd /root/mod_x509authn && }"); }
    step "$demo_cmd (first run)" in_root "cd /root/mod_x509authn && $demo_cmd"
    step "$test_cmd (X509A_SKIP=\"asan fuzz distcheck package fresh\", 10 s soak)" \
        in_root "cd /root/mod_x509authn && X509A_SKIP='asan fuzz distcheck package fresh' X509A_SOAK_SECONDS=10 $test_cmd"
    step "$demo_cmd (again)" in_root "cd /root/mod_x509authn && $demo_cmd"
    step "$demo_cmd stop" in_root "cd /root/mod_x509authn && $demo_cmd stop"
    echo
    echo "== fresh-clone check (no chroot possible here) passed ($commit)"
    printf '%s\n' "${times[@]}"
    exit 0
fi

step "mmdebstrap a Debian 12 root, clone to /root" make_root
step "$demo_cmd (first run, installs packages)" in_root "cd /root/mod_x509authn && $demo_cmd"
# the stages the outer run does itself are skipped here (and this check)
step "$test_cmd (X509A_SKIP=\"asan fuzz distcheck package fresh\", 10 s soak)" \
    in_root "cd /root/mod_x509authn && X509A_SKIP='asan fuzz distcheck package fresh' X509A_SOAK_SECONDS=10 $test_cmd"
step "$demo_cmd (again)" in_root "cd /root/mod_x509authn && $demo_cmd"
step "$demo_cmd stop" in_root "cd /root/mod_x509authn && $demo_cmd stop"

echo
echo "== fresh-machine check passed ($commit)"
printf '%s\n' "${times[@]}"
