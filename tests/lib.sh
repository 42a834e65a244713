# Shared by the shell tests (sourced; POSIX sh): a scratch directory removed
# on exit, the failure count, and helpers that capture a command's output.
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
out=$tmp/out
err=$tmp/err
fails=0

# fail MESSAGE: counts a failure and shows the last run's output.
fail() {
  echo "FAIL: $*" >&2
  for f in "$out" "$err"; do
    if [ -f "$f" ]; then
      echo "  ${f##*/}:" >&2
      sed 's/^/    /' "$f" >&2
    fi
  done
  fails=$((fails + 1))
}

# run CMD...: stdout to $out, stderr to $err, the exit status in $rc.
run() {
  "$@" >"$out" 2>"$err"
  rc=$?
}

lines() { wc -l <"$1" | tr -d ' '; }

# expect_usage_error WHAT CMD...: CMD must exit 2 with nothing on stdout and
# one stderr line that names WHAT.
expect_usage_error() {
  what=$1
  shift
  run "$@"
  if [ "$rc" -ne 2 ] || [ -s "$out" ] || [ "$(lines "$err")" -ne 1 ] ||
    ! grep -qF -- "$what" "$err"; then
    fail "$*: want exit 2 and one stderr line naming '$what', got exit $rc"
  fi
}

# need_device SPEC: skips the test (exit 77) when mupc finds no device SPEC,
# or fails it when MUPC_REQUIRE_DEVICES names SPEC. Needs $mupc.
# shellcheck disable=SC2154 # $mupc belongs to the sourcing test
need_device() {
  "$mupc" devices --device "$1" >/dev/null 2>&1 && return 0
  case ",${MUPC_REQUIRE_DEVICES:-}," in
  *,"$1",*) echo "FAIL: the required OpenCL device '$1' is missing" >&2; exit 1 ;;
  esac
  echo "no OpenCL device '$1' on this machine: skipped"
  exit 77
}

# finish NAME: the closing line, and exit 1 if any check failed.
finish() {
  if [ "$fails" -ne 0 ]; then
    echo "$1: $fails check(s) failed" >&2
    exit 1
  fi
  echo "$1: all checks passed"
}
