#!/bin/bash
# Build mod_x509authn and run the whole test suite: the Check unit tests
# (also under valgrind) and the integration tests against a real apache2.
# Run as root on Debian 12; missing packages are installed first.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/deps.sh"

x509a_install_deps test
x509a_build "$top" "$top/build/ci" --enable-werror
cd "$top/build/ci"

echo "== unit tests"
make -s check
echo "== unit tests under valgrind"
CK_FORK=no valgrind -q --leak-check=full --error-exitcode=1 \
    --suppressions="$top/tests/unit/valgrind.supp" ./tests/unit/check_x509a

echo "== integration tests"
make -s check-integration
echo "== all tests passed"
