# Debian packages the project needs; sourced by the other scripts.
#   x509a_install_deps build|demo|test|bench|package|fresh
# Installs what is missing (as root), running apt-get update at most once.

X509A_PKGS_BUILD="build-essential autoconf automake libtool pkg-config apache2-dev libssl-dev"
X509A_PKGS_DEMO="$X509A_PKGS_BUILD apache2 openssl curl python3"
X509A_PKGS_TEST="$X509A_PKGS_DEMO check valgrind python3-pytest python3-cryptography nghttp2-client nginx haproxy redis-server memcached slapd ldap-utils clang libclang-rt-14-dev libnghttp2-dev prometheus"
X509A_PKGS_BENCH="$X509A_PKGS_TEST"
# scripts/package-check.sh: build the Debian package (debian/), lint it,
# install it and run its test against the system's apache2 layout
X509A_PKGS_PACKAGE="$X509A_PKGS_DEMO dpkg-dev debhelper fakeroot lintian libapr1-dev check"

x509a_install_deps() {
    local want missing=() pkg
    case "$1" in
        build) want=$X509A_PKGS_BUILD ;;
        demo) want=$X509A_PKGS_DEMO ;;
        test) want=$X509A_PKGS_TEST ;;
        bench) want=$X509A_PKGS_BENCH ;;
        package) want=$X509A_PKGS_PACKAGE ;;
        fresh) want=${X509A_PKGS_FRESH:-mmdebstrap} ;;
        *) echo "x509a_install_deps: unknown set '$1'" >&2; return 2 ;;
    esac
    for pkg in $want; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" \
            || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" != 0 ]; then
        echo "missing Debian packages (run as root to install them): ${missing[*]}" >&2
        return 1
    fi
    echo "x509a: installing the Debian packages the ${1} step needs and this machine lacks" \
         "(apt-get update once, then apt-get install): ${missing[*]}"
    # Packaged services (apache2, nginx, redis, slapd) must not start on
    # their default ports: the tests start their own instances.
    local policy=/usr/sbin/policy-rc.d made_policy=
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy" && made_policy=1
    fi
    if [ -z "${X509A_APT_UPDATED:-}" ]; then
        apt-get update -q
        export X509A_APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
    local rc=$?
    [ -n "$made_policy" ] && rm -f "$policy"
    return $rc
}

# What configure found of the optional dependencies (Check for the unit
# tests, nghttp2 for the benchmark client): a build directory configured
# without one is configured again once it is there.
x509a_optional_deps() {
    local m out=
    for m in check libnghttp2; do
        if pkg-config --exists "$m" 2>/dev/null; then out+="$m "; fi
    done
    echo "$out"
}

# Configure (again when the options or the optional dependencies changed)
# and build.
#   x509a_build TOP BUILDDIR [configure options]
x509a_build() {
    local top=$1 dir=$2; shift 2
    local stamp="configure $* | found: $(x509a_optional_deps)"
    (cd "$top" && { [ -x configure ] || autoreconf -fi; }) || return 1
    mkdir -p "$dir"
    if [ ! -f "$dir/Makefile" ] || [ "$(cat "$dir/.x509a-configured" 2>/dev/null)" != "$stamp" ]; then
        (cd "$dir" && "$top/configure" -q "$@") || return 1
        echo "$stamp" > "$dir/.x509a-configured"
    fi
    make -C "$dir" -s -j"$(nproc)"
}
