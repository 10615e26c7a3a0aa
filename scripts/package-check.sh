#!/bin/bash
# Licensed under the Apache License, Version 2.0 (see COPYING).
#
# The Debian package, end to end, on this machine (Debian 12, as root):
#   1. build libapache2-mod-x509authn from debian/ in a copy of the tree
#      (dpkg-buildpackage -us -uc -b, plus the source package for lintian);
#   2. lintian on the .changes, the .deb and the .dsc: no errors allowed;
#   3. install it (apt-get): the module is enabled (dh_apache2's postinst);
#      a2dismod / a2enmod x509authn; reinstalling keeps the admin's choice;
#   4. debian/tests/module (the autopkgtest): a second apache2 on a copy of
#      /etc/apache2, on a free high port, with mod_ssl and a test CA: an
#      accepted client (200, REMOTE_USER) and refused ones (403);
#   5. remove (configuration kept, module disabled; installing again
#      enables it), then purge (nothing left in /etc/apache2 or
#      /var/lib/apache2);
#   6. the machine is as before: the same entries in /etc/apache2,
#      /var/lib/apache2 and the run and lock directories (the empty state,
#      run and lock directories a2enmod and apache2ctl make are removed),
#      the system apache2 running only if it was.
# The system apache2 is never started: when it is stopped and no
# policy-rc.d exists, one denying service actions is in place while the
# package is installed and removed (the postinst would restart apache2).
#
# Environment: X509A_PACKAGE_OUT=DIR keeps the built files there;
# X509A_KEEP=1 keeps the work directory.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/deps.sh"
pkg=libapache2-mod-x509authn

[ "$(id -u)" = 0 ] || { echo "package-check.sh: run as root (it installs and purges $pkg)" >&2; exit 2; }
x509a_install_deps package

if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'installed\|config-files'; then
    echo "package-check.sh: $pkg is already on this machine; purge it first" \
         "(apt-get purge $pkg): this check installs and purges it" >&2
    exit 2
fi

t0=$(date +%s)
step() { echo; echo "-- $* ($(( $(date +%s) - t0 )) s)"; }
fail() { echo "package-check.sh: FAIL: $*" >&2; exit 1; }
enabled() { [ -L /etc/apache2/mods-enabled/x509authn.load ] && [ -L /etc/apache2/mods-enabled/x509authn.conf ]; }
disabled() { [ ! -e /etc/apache2/mods-enabled/x509authn.load ] && [ ! -e /etc/apache2/mods-enabled/x509authn.conf ]; }
system_apache_running() {
    local pid
    pid=$(cat /var/run/apache2/apache2.pid 2>/dev/null) && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}
# what the package, a2enmod/a2dismod and apache2ctl may touch
# (apache2ctl makes the run and lock directories of the system layout)
watched="/etc/apache2 /var/lib/apache2 /var/run/apache2 /var/lock/apache2"
snapshot() {
    find $watched -printf '%p %y %l\n' 2>/dev/null | sort || true
}
# Empty directories made since the start by apache2ctl and a2enmod
# (/var/run/apache2/socks, /var/lib/apache2/module/disabled_by_admin, ...)
remove_new_dirs() {
    snapshot | comm -13 "$before" - \
        | awk '$2 == "d" && $1 ~ "^/var/(lib|run|lock)/apache2(/|$)" {print $1}' \
        | sort -r | xargs -r rmdir --ignore-fail-on-non-empty
}

work=$(mktemp -d /tmp/x509a-package.XXXXXX)
before=$work/before.txt
snapshot > "$before"
was_running=no
system_apache_running && was_running=yes
made_policy=
installed=
cleanup() {
    local rc=$?
    if [ -n "$installed" ]; then
        echo "package-check.sh: purging $pkg after a failure" >&2
        DEBIAN_FRONTEND=noninteractive apt-get purge -y -q "$pkg" >/dev/null 2>&1 || true
    fi
    if [ "$was_running" = no ] && system_apache_running; then
        echo "package-check.sh: stopping the system apache2 (it was stopped before)" >&2
        apache2ctl -k stop || true
    fi
    [ $rc = 0 ] || remove_new_dirs
    [ -n "$made_policy" ] && rm -f /usr/sbin/policy-rc.d
    if [ -n "${X509A_KEEP:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
    exit $rc
}
trap cleanup EXIT
if [ "$was_running" = no ] && [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\n# scripts/package-check.sh: keep the stopped apache2 stopped\nexit 101\n' \
        > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    made_policy=1
fi

step "copy of the source tree"
mkdir "$work/src"
if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
    # tracked and new files, not what .gitignore names (build/, configure, ...)
    git -C "$top" ls-files -z -co --exclude-standard \
        | (cd "$top" && tar --null -T - -cf -) | tar -xf - -C "$work/src"
else
    tar -C "$top" --exclude=./build -cf - . | tar -xf - -C "$work/src"
fi

step "source package (dpkg-source -b), for lintian"
(cd "$work" && dpkg-source -b src) > "$work/source.log" 2>&1 || { cat "$work/source.log"; fail "dpkg-source"; }

step "binary package (dpkg-buildpackage -us -uc -b)"
tb=$(date +%s)
(cd "$work/src" && dpkg-buildpackage -us -uc -b) > "$work/build.log" 2>&1 \
    || { tail -50 "$work/build.log"; fail "dpkg-buildpackage (log above)"; }
grep -E '^(PASS|FAIL|ERROR):' "$work/build.log" || true
echo "built in $(( $(date +%s) - tb )) s"
deb=$(ls "$work"/${pkg}_*.deb)
changes=$(ls "$work"/${pkg}_*.changes)
dsc=$(ls "$work"/${pkg}_*.dsc)
dpkg -c "$deb"

step "package contents"
list=$(dpkg -c "$deb" | awk '{print $6}')
for f in ./usr/lib/apache2/modules/mod_x509authn.so ./etc/apache2/mods-available/x509authn.load \
         ./etc/apache2/mods-available/x509authn.conf ./usr/share/doc/$pkg/copyright; do
    grep -qx "$f" <<<"$list" || fail "$f not in the package"
done
! grep -q '\.la$' <<<"$list" || fail "libtool archive in the package"
dpkg-deb -e "$deb" "$work/control"
for f in /etc/apache2/mods-available/x509authn.load /etc/apache2/mods-available/x509authn.conf; do
    grep -qx "$f" "$work/control/conffiles" || fail "$f is not a conffile"
done
grep -q '^Depends:.*apache2-api-[0-9]\{8\}' "$work/control/control" || fail "no apache2-api dependency"
echo "ok: module, .load and .conf (conffiles), docs; $(grep '^Depends:' "$work/control/control")"

step "lintian"
lrc=0
lintian -I --pedantic --fail-on error "$changes" "$dsc" > "$work/lintian.raw" 2>&1 || lrc=$?
grep -v '^running with root privileges' "$work/lintian.raw" > "$work/lintian.txt" || true
cat "$work/lintian.txt"
[ "$lrc" = 0 ] || fail "lintian reports errors (exit $lrc)"
echo "lintian: $(grep -c '^E:' "$work/lintian.txt") errors, $(grep -c '^W:' "$work/lintian.txt") warnings," \
     "$(grep -c '^[IP]:' "$work/lintian.txt") info/pedantic, $(grep -c '^X:' "$work/lintian.txt") experimental"

step "install"
installed=1
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$deb" 2>&1 \
    | { grep -v '^(Reading database' || true; } | tail -5
enabled || fail "the module is not enabled after installation"
echo "ok: enabled by the package (mods-enabled/x509authn.load, x509authn.conf)"

step "a2dismod / a2enmod"
a2dismod -q x509authn
disabled || fail "a2dismod x509authn left it enabled"
apache2ctl -t 2>&1 | grep -q 'Syntax OK' || fail "configtest with the module disabled"
# an upgrade (here: the same version again) keeps the admin's choice
DEBIAN_FRONTEND=noninteractive dpkg -i "$deb" >/dev/null
disabled || fail "reinstalling enabled the module the admin had disabled"
a2enmod -q x509authn
enabled || fail "a2enmod x509authn did not enable it"
apache2ctl -t 2>&1 | grep -q 'Syntax OK' || fail "configtest with the module enabled"
echo "ok: a2dismod, reinstall keeps it disabled, a2enmod, configtest both ways"

step "autopkgtest debian/tests/module (system layout, high port)"
"$top/debian/tests/module"

step "remove: configuration kept, module disabled"
DEBIAN_FRONTEND=noninteractive apt-get remove -y -q "$pkg" 2>&1 | { grep -v '^(Reading database' || true; } | tail -3
disabled || fail "module still enabled after remove"
[ ! -e /usr/lib/apache2/modules/mod_x509authn.so ] || fail "module file left after remove"
[ -f /etc/apache2/mods-available/x509authn.conf ] || fail "remove deleted the conffile"
apache2ctl -t 2>&1 | grep -q 'Syntax OK' || fail "configtest after remove"
# installing again undoes the removal's disable (a maintainer's, not the admin's)
DEBIAN_FRONTEND=noninteractive dpkg -i "$deb" >/dev/null
enabled || fail "installing again after remove left the module disabled"
echo "ok: remove kept the conffiles and disabled the module; installing again enabled it"

step "purge"
DEBIAN_FRONTEND=noninteractive apt-get purge -y -q "$pkg" 2>&1 | { grep -v '^(Reading database' || true; } | tail -3
installed=
left=$(find /etc/apache2 /var/lib/apache2 /usr/lib/apache2/modules -name '*x509authn*' 2>/dev/null || true)
[ -z "$left" ] || fail "left after purge: $left"

step "the machine as before"
remove_new_dirs
snapshot > "$work/after.txt"
diff -u "$before" "$work/after.txt" || fail "$watched changed (diff above)"
now=no
system_apache_running && now=yes
[ "$now" = "$was_running" ] || fail "system apache2 running: before $was_running, now $now"
echo "ok: $watched as before; system apache2 running: $now (as before)"

if [ -n "${X509A_PACKAGE_OUT:-}" ]; then
    mkdir -p "$X509A_PACKAGE_OUT"
    cp "$work"/*.deb "$work"/*.changes "$work"/*.buildinfo "$work"/*.dsc "$work"/*.tar.* \
       "$work/lintian.txt" "$X509A_PACKAGE_OUT"/
    echo "package files in $X509A_PACKAGE_OUT"
fi
step "package check passed"
