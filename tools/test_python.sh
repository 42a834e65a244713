#!/usr/bin/env bash
# The Python package's tests, as a user gets the package: `pip install .`
# from this checkout into a fresh virtual environment under a temporary
# directory, then pytest on tests/python there. tools/test.sh runs it (with
# its packages installed); alone it needs Debian's python3-venv,
# python3-mesonpy, python3-numpy and python3-pytest and the C build's
# packages.
#
#   tools/test_python.sh [pytest arguments, e.g. -k fit]
#
# The environment is built from Debian's packages only, with no package
# index (--system-site-packages, --no-build-isolation, --no-index), so it
# works where only the Debian mirror is reachable. MUPC_PYTHON picks the
# interpreter (default /usr/bin/python3, the one Debian's packages are for);
# MUPC_CLI is the `mupc` the parity tests compare with (default: the one
# pip installs into the environment); MUPC_TEST_DEVICE the device (pocl).
# Ends with pytest's own summary line and its exit status.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

python=${MUPC_PYTHON:-/usr/bin/python3}
venv=$(mktemp -d)
trap 'rm -rf "$venv"' EXIT

"$python" -m venv --system-site-packages "$venv"
if ! "$venv/bin/pip" install --no-build-isolation --no-index . >"$venv/pip.log" 2>&1; then
  cat "$venv/pip.log" >&2
  echo "test_python.sh: pip install . failed" >&2
  exit 1
fi
echo "test_python.sh: pip install . into $venv: $(grep '^Successfully installed' "$venv/pip.log")"

# From outside the checkout, so that only the installed package is imported;
# no cache directory is written into the checkout.
tests=$PWD/tests/python
cd "$venv"
"$venv/bin/python" -m pytest -p no:cacheprovider -rs "$tests" "$@"
