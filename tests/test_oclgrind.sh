#!/bin/sh
# The kernels of a training step and CLBlast's GEMMs under Oclgrind's
# checks: out-of-bounds accesses, data races, uninitialised values and
# OpenCL API misuse. Any report fails the test. A canary kernel with one
# fault of each kind runs first, so a checker that is not checking cannot
# make this pass. Usage: test_oclgrind.sh path/to/test_oclgrind
set -u
exe=${1:?usage: test_oclgrind.sh path/to/test_oclgrind}

if ! command -v oclgrind >/dev/null 2>&1; then
  # tools/test.sh installs oclgrind and sets MUPC_REQUIRE_DEVICES: CI must
  # not pass by skipping.
  if [ -n "${MUPC_REQUIRE_DEVICES:-}" ]; then
    echo "FAIL: oclgrind is not installed" >&2
    exit 1
  fi
  echo "oclgrind is not installed: skipped"
  exit 77
fi

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
# Oclgrind's own messages go to --log; stderr is checked as well, in case
# anything reaches it past the log.
checks="--data-races --uninitialized --check-api"
reports='Invalid read|Invalid write|data race|Uninitiali[sz]ed|Oclgrind|OpenCL error'

# shellcheck disable=SC2086 # $checks is a list of flags
oclgrind $checks --log "$tmp/canary.log" "$exe" --canary >"$tmp/out" 2>"$tmp/err"
rc=$?
for want in 'Invalid write' 'data race' 'Uninitialized value'; do
  if ! grep -q "$want" "$tmp/canary.log"; then
    echo "FAIL: the canary's fault '$want' was not reported (exit $rc); Oclgrind's log:" >&2
    cat "$tmp/canary.log" "$tmp/err" >&2
    exit 1
  fi
done

# shellcheck disable=SC2086
oclgrind $checks --log "$tmp/oclgrind.log" "$exe" >"$tmp/out" 2>"$tmp/err"
rc=$?
cat "$tmp/out"
cat "$tmp/err" >&2
fails=0
if [ "$rc" -ne 0 ]; then
  echo "FAIL: test_oclgrind exited with $rc" >&2
  fails=1
fi
if [ -s "$tmp/oclgrind.log" ]; then
  echo "FAIL: Oclgrind reported $(grep -Ec "$reports" "$tmp/oclgrind.log") problem(s):" >&2
  cat "$tmp/oclgrind.log" >&2
  fails=1
fi
if grep -Eq "$reports" "$tmp/err"; then
  echo "FAIL: an Oclgrind report on stderr (above)" >&2
  fails=1
fi
[ "$fails" -eq 0 ] || exit 1
echo "Oclgrind: no reports"
