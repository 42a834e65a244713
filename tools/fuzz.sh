#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz (clang, with AddressSanitizer
# and UndefinedBehaviorSanitizer, the library instrumented for coverage) and
# runs each for a set time from its seed corpus and past crashes.
#
#   tools/fuzz.sh [SECONDS_PER_HARNESS]     (default 60)
#
# Prints the executions per harness and exits non-zero if any harness
# crashed, leaked, hung or broke an invariant. A crashing input is copied to
# tests/fuzz/regressions/<harness>/, where the fuzz_replay test replays it
# from then on: fix the bug, keep the file. New corpus entries stay in a
# temporary directory (MUPC_FUZZ_CORPUS=DIR keeps them in DIR/<harness>).
# MUPC_FUZZ_BUILD_DIR chooses the build directory (default: build-fuzz).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=${1:-60}
case $seconds in
'' | *[!0-9]* | 0) echo "usage: tools/fuzz.sh [SECONDS_PER_HARNESS > 0]" >&2; exit 2 ;;
esac
build_dir=${MUPC_FUZZ_BUILD_DIR:-build-fuzz}
harnesses=(idx safetensors data flags)

# clang, and compiler-rt's libFuzzer runtime, which Debian packages apart.
ensure_clang() {
  local probe
  probe=$(mktemp -d)
  printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n)\n{ (void)d; (void)n; return 0; }\n' >"$probe/p.c"
  if command -v clang >/dev/null && clang -fsanitize=fuzzer,address,undefined \
    -o "$probe/p" "$probe/p.c" 2>/dev/null; then
    rm -rf "$probe"
    return 0
  fi
  rm -rf "$probe"
  if ! command -v apt-get >/dev/null; then
    echo "fuzz.sh: needs clang with libFuzzer (clang -fsanitize=fuzzer)" >&2
    exit 1
  fi
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  echo "fuzz.sh: installing clang and its libFuzzer runtime"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    clang libclang-rt-dev
}

configure() {
  # The whole library gets coverage instrumentation (fuzzer-no-link) and
  # the sanitizers; -fno-sanitize-recover makes undefined behaviour a crash
  # that libFuzzer catches, not a line it ignores.
  local opts=(-Dfuzz=true -Dtests=true -Dwerror=false -Dbuildtype=debugoptimized
    "-Db_sanitize=address,undefined" -Db_lundef=false
    "-Dc_args=-fsanitize=fuzzer-no-link -fno-sanitize-recover=undefined")
  if [ -f "$build_dir/meson-private/coredata.dat" ]; then
    quiet meson setup --reconfigure "$build_dir" "${opts[@]}" ||
      CC=clang quiet meson setup --wipe "$build_dir" "${opts[@]}"
  else
    CC=clang quiet meson setup "$build_dir" "${opts[@]}"
  fi
}

# Runs a command, showing its output only if it fails.
quiet() {
  local out
  if ! out=$("$@" 2>&1); then
    printf '%s\n' "$out" >&2
    return 1
  fi
}

ensure_clang
configure
targets=()
for h in "${harnesses[@]}"; do targets+=("tests/fuzz/fuzz_$h"); done
quiet ninja -C "$build_dir" "${targets[@]}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The harnesses write scratch files on every run; tmpfs keeps the fsyncs of
# the safetensors writer cheap.
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
  TMPDIR=$(mktemp -d /dev/shm/mupc_fuzz.XXXXXX)
  export TMPDIR
  trap 'rm -rf "$work" "$TMPDIR"' EXIT
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

crashed=0
summary=()
for h in "${harnesses[@]}"; do
  corpus=$work/corpus/$h
  [ -n "${MUPC_FUZZ_CORPUS:-}" ] && corpus=$MUPC_FUZZ_CORPUS/$h
  mkdir -p "$corpus" "$work/artifacts/$h"
  seeds=("tests/fuzz/corpus/$h")
  [ -d "tests/fuzz/regressions/$h" ] && seeds+=("tests/fuzz/regressions/$h")
  log=$work/$h.log
  echo "fuzz.sh: fuzz_$h for ${seconds}s"
  set +e
  # The first directory collects new inputs; the others are only read.
  "$build_dir/tests/fuzz/fuzz_$h" -max_total_time="$seconds" -print_final_stats=1 \
    -timeout=10 -dict="tests/fuzz/$h.dict" -artifact_prefix="$work/artifacts/$h/" \
    "$corpus" "${seeds[@]}" >"$log" 2>&1
  rc=$?
  set -e
  final_stat() { sed -n "s/^stat::$1: *\([0-9]*\).*/\1/p" "$log" | tail -n 1; }
  execs=$(final_stat number_of_executed_units)
  rate=$(final_stat average_exec_per_sec)
  units=$(find "$corpus" -type f | wc -l)
  result=ok
  if [ "$rc" -ne 0 ]; then
    crashed=1
    result="CRASH (exit $rc)"
    mkdir -p "tests/fuzz/regressions/$h"
    for f in "$work/artifacts/$h"/*; do
      [ -f "$f" ] || continue
      cp "$f" "tests/fuzz/regressions/$h/"
      result="$result, input saved as tests/fuzz/regressions/$h/$(basename "$f")"
    done
    echo "---- fuzz_$h: the end of its log ----" >&2
    tail -n 60 "$log" >&2
  fi
  summary+=("$(printf '%-12s %6ss %12s executions %8s exec/s %6s corpus  %s' "$h" "$seconds" \
    "${execs:-?}" "${rate:-?}" "$units" "$result")")
done

echo "fuzz.sh: harness, time, executions, rate, corpus size, result"
printf '  %s\n' "${summary[@]}"
exit "$crashed"
