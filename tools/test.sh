#!/usr/bin/env bash
# The project's one test command. On Debian it first installs every package
# the build and the tests need (as root, or through sudo), then configures,
# builds and runs every test on every OpenCL implementation (PoCL and Mesa
# rusticl on llvmpipe); a missing implementation fails the run.
#
#   tools/test.sh [meson test arguments, e.g. a test name]
#
# MUPC_BUILD_DIR chooses the build directory (default: build). CI=true turns
# warnings into errors and runs cold: PoCL's kernel cache, mupc's tuning
# cache and every other cache under XDG_CACHE_HOME (Mesa's shaders) start
# empty in a temporary directory. Ends with a line "N passed, N failed,
# N skipped".
#
# Without arguments it then also builds the library and the host tests with
# AddressSanitizer and UndefinedBehaviorSanitizer in build-asan
# (MUPC_ASAN_BUILD_DIR) and runs the 'host' suite there, runs every
# libFuzzer harness briefly (tools/fuzz.sh, MUPC_FUZZ_SECONDS each,
# default 10; 0 skips it), and runs the Python package's pytest suite in a
# fresh virtual environment where `pip install .` put it
# (tools/test_python.sh). Their results count in the closing line.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build_dir=${MUPC_BUILD_DIR:-build}
packages=(build-essential meson ninja-build pkg-config python3 ocl-icd-opencl-dev opencl-headers
  pocl-opencl-icd mesa-opencl-icd libclblast-dev clinfo oclgrind libcmocka-dev zlib1g-dev
  libjson-c-dev dataset-fashion-mnist python3-numpy gnuplot-nox valgrind clang libclang-rt-dev
  libopenmpi-dev openmpi-bin libopenblas-dev libxsmm-dev python3-venv python3-mesonpy python3-pytest)

# shellcheck source=tools/install_packages.sh
. tools/install_packages.sh

# configure DIR [meson options...]
configure() {
  local dir=$1 werror=false
  shift
  [ "${CI:-}" = true ] && werror=true
  # Set on every run, so a build directory left by an earlier run (or by
  # hand) is brought to what this script tests.
  # -Dhost_blas=enabled: the host GEMM provider must be tested, never
  # silently left out because OpenBLAS is missing.
  local opts=("-Dwerror=$werror" -Dtests=true -Dhost_blas=enabled -Dlibxsmm=enabled "$@")
  if [ -f "$dir/meson-private/coredata.dat" ]; then
    if ! meson setup --reconfigure "$dir" "${opts[@]}"; then
      echo "test.sh: reconfiguring $dir failed; wiping it" >&2
      meson setup --wipe "$dir" "${opts[@]}"
    fi
  else
    meson setup "$dir" "${opts[@]}"
  fi
}

# "Ok:  12" -> 12 (0 when meson printed no such line)
count() { sed -n "s/^$1:[[:space:]]*\([0-9][0-9]*\).*/\1/p" "$2" | tail -n 1 | grep . || echo 0; }

install_packages test.sh "${packages[@]}"
configure "$build_dir"
if ! meson compile -C "$build_dir"; then
  echo "build failed: 0 passed, 0 failed, 0 skipped"
  exit 1
fi

export RUSTICL_ENABLE=llvmpipe
export MUPC_REQUIRE_DEVICES=pocl,llvmpipe
# A developer's own device choice must not change what the tests see.
unset MUPC_DEVICE

log=$(mktemp)
asan_log=$(mktemp)
py_log=$(mktemp)
no_icd=$(mktemp -d)
cold=$(mktemp -d)
trap 'rm -rf "$log" "$asan_log" "$py_log" "$no_icd" "$cold"' EXIT
# A test that passes only because a kernel or a tuning is already cached
# (on the developer's machine, or left by an earlier CI job on the same
# runner) must fail in CI: there every cache starts empty.
if [ "${CI:-}" = true ]; then
  export POCL_CACHE_DIR="$cold/pocl" MUPC_TUNE_CACHE="$cold/mupc/tune.json" \
    XDG_CACHE_HOME="$cold/xdg" MESA_SHADER_CACHE_DIR="$cold/mesa"
  echo "test.sh: CI=true: caches start empty in $cold"
fi
set +e
meson test -C "$build_dir" --print-errorlogs "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

# The sanitizer build runs only the tests that need no device: the OpenCL
# drivers themselves are not ASan-clean. An empty OCL_ICD_VENDORS hides
# them, so a test's device part skips instead of loading one.
extra_passed=0 extra_failed=0 extra_skipped=0
if [ $# -eq 0 ]; then
  asan_dir=${MUPC_ASAN_BUILD_DIR:-build-asan}
  if configure "$asan_dir" -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug &&
    meson compile -C "$asan_dir"; then
    set +e
    env -u MUPC_REQUIRE_DEVICES OCL_ICD_VENDORS="$no_icd" ASAN_OPTIONS=detect_leaks=1 \
      UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
      meson test -C "$asan_dir" --suite host --print-errorlogs 2>&1 | tee "$asan_log"
    [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
    set -e
  else
    echo "test.sh: the AddressSanitizer build failed" >&2
    extra_failed=$((extra_failed + 1))
  fi
  fuzz_seconds=${MUPC_FUZZ_SECONDS:-10}
  if [ "$fuzz_seconds" != 0 ]; then
    if tools/fuzz.sh "$fuzz_seconds"; then
      extra_passed=$((extra_passed + 1))
    else
      echo "test.sh: tools/fuzz.sh $fuzz_seconds failed" >&2
      extra_failed=$((extra_failed + 1))
    fi
  fi
  # The Python package as a user installs it, compared with this build's
  # `mupc`; each pytest test counts. pytest's summary line, e.g.
  # "== 25 passed, 1 skipped in 80.1s ==", gives the counts.
  set +e
  MUPC_CLI=$PWD/$build_dir/mupc tools/test_python.sh 2>&1 | tee "$py_log"
  py_status=${PIPESTATUS[0]}
  set -e
  py_summary=$(grep -E '^=+ .*(passed|failed|error|skipped).* in [0-9.]+s' "$py_log" | tail -n 1 || true)
  py_count() { echo "$py_summary" | grep -oE "[0-9]+ $1" | grep -oE '^[0-9]+' || echo 0; }
  py_failed=$(($(py_count failed) + $(py_count errors?)))
  if [ -z "$py_summary" ] || { [ "$py_status" -ne 0 ] && [ "$py_failed" -eq 0 ]; }; then
    echo "test.sh: tools/test_python.sh failed (exit $py_status) without a pytest result" >&2
    py_failed=$((py_failed + 1))
  fi
  extra_passed=$((extra_passed + $(py_count passed)))
  extra_failed=$((extra_failed + py_failed))
  extra_skipped=$(py_count skipped)
fi

# Counted over both meson runs.
total() { echo $(($(count "$1" "$log") + $(count "$1" "$asan_log"))); }
ok=$(total 'Ok')
xfail=$(total 'Expected Fail')
fail=$(total 'Fail')
xpass=$(total 'Unexpected Pass')
timeout=$(total 'Timeout')
skipped=$(($(total 'Skipped') + extra_skipped))
failed=$((fail + xpass + timeout + extra_failed))
echo "test.sh: $((SECONDS / 60)) min $((SECONDS % 60)) s in all, the builds included"
echo "$((ok + xfail + extra_passed)) passed, $failed failed, $skipped skipped"
if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ]; then
  exit 1
fi
if [ $((ok + xfail + extra_passed + skipped)) -eq 0 ]; then
  echo "test.sh: no test ran" >&2
  exit 1
fi
