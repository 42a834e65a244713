#!/bin/sh
# tools/check_device.sh end to end in its --quick form on PoCL (checked
# against rusticl when present): the report's sections, a failing
# comparison, and its usage errors. Usage: test_check_device.sh path/to/mupc
set -u
mupc=${1:?usage: test_check_device.sh path/to/mupc}
unset MUPC_DEVICE
src=${MUPC_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
MUPC_BUILD_DIR=$(dirname "$mupc")
export MUPC="$mupc" MUPC_BUILD_DIR RUSTICL_ENABLE=llvmpipe

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"

need_device pocl
against=none
"$mupc" devices --device llvmpipe >/dev/null 2>&1 && against=llvmpipe
python3 "$src/tests/make_tiny_idx.py" "$tmp/data" 320 64 || { echo "FAIL: make_tiny_idx.py" >&2; exit 1; }
cd_sh="$src/tools/check_device.sh"

run "$cd_sh" --device pocl --against "$against" --data "$tmp/data" --quick --out "$tmp/r"
if [ "$rc" -ne 0 ]; then
  fail "check_device.sh --quick exited $rc"
else
  r=$tmp/r/report.md
  grep -q '^| status | pass |' "$r" && grep -q '^| device | pass |' "$r" || fail "report: test rows"
  grep -q 'Portable Computing Language' "$r" || fail "report: the device"
  if [ "$against" != none ]; then
    grep -q '^Agreement: ok' "$r" || fail "report: agreement"
  fi
  grep -q 'all checks passed on pocl' "$out" || fail "closing line"
fi

# A reference that fails to run is a failed check, with the error reported.
run "$cd_sh" --device pocl --against nosuch --data "$tmp/data" --quick --out "$tmp/bad"
[ "$rc" -eq 1 ] && grep -q 'nosuch' "$tmp/bad/report.md" || fail "a failing reference: exit $rc"

expect_usage_error "--device is required" "$cd_sh"
expect_usage_error "no OpenCL device matches" "$cd_sh" --device nosuch --out "$tmp/x"
expect_usage_error "--steps must be a positive integer" "$cd_sh" --device pocl --steps 0
expect_usage_error "unknown flag '--bogus'" "$cd_sh" --bogus

finish check_device
