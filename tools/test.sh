#!/usr/bin/env bash
# The project's one test command. On Debian it first installs every package
# the build and the tests need (as root, or through sudo), then configures,
# builds and runs every test on every OpenCL implementation (PoCL and Mesa
# rusticl on llvmpipe); a missing implementation fails the run.
#
#   tools/test.sh [meson test arguments, e.g. a test name]
#
# MUPC_BUILD_DIR chooses the build directory (default: build). CI=true turns
# warnings into errors. Ends with a line "N passed, N failed, N skipped".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build_dir=${MUPC_BUILD_DIR:-build}
packages=(build-essential meson ninja-build pkg-config python3 ocl-icd-opencl-dev opencl-headers
  pocl-opencl-icd mesa-opencl-icd libclblast-dev clinfo oclgrind libcmocka-dev zlib1g-dev
  libjson-c-dev dataset-fashion-mnist python3-numpy gnuplot-nox)

install_packages() {
  if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
    echo "test.sh: not a Debian system; make sure the equivalents of these are installed:" \
      "${packages[*]}" >&2
    return 0
  fi
  local missing=() p
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q ' installed$' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null; then
      echo "test.sh: missing packages (${missing[*]}); run as root or install sudo" >&2
      exit 1
    fi
    sudo=sudo
  fi
  echo "test.sh: installing ${missing[*]}"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${missing[@]}"
}

configure() {
  local werror=false
  [ "${CI:-}" = true ] && werror=true
  # Set on every run, so a build directory left by an earlier run (or by
  # hand) is brought to what this script tests.
  local opts=("-Dwerror=$werror" -Dtests=true)
  if [ -f "$build_dir/meson-private/coredata.dat" ]; then
    if ! meson setup --reconfigure "$build_dir" "${opts[@]}"; then
      echo "test.sh: reconfiguring $build_dir failed; wiping it" >&2
      meson setup --wipe "$build_dir" "${opts[@]}"
    fi
  else
    meson setup "$build_dir" "${opts[@]}"
  fi
}

# "Ok:  12" -> 12 (0 when meson printed no such line)
count() { sed -n "s/^$1:[[:space:]]*\([0-9][0-9]*\).*/\1/p" "$2" | tail -n 1 | grep . || echo 0; }

install_packages
configure
if ! meson compile -C "$build_dir"; then
  echo "build failed: 0 passed, 0 failed, 0 skipped"
  exit 1
fi

export RUSTICL_ENABLE=llvmpipe
export MUPC_REQUIRE_DEVICES=pocl,llvmpipe
# A developer's own device choice must not change what the tests see.
unset MUPC_DEVICE

log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
meson test -C "$build_dir" --print-errorlogs "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

ok=$(count 'Ok' "$log")
xfail=$(count 'Expected Fail' "$log")
fail=$(count 'Fail' "$log")
xpass=$(count 'Unexpected Pass' "$log")
timeout=$(count 'Timeout' "$log")
skipped=$(count 'Skipped' "$log")
failed=$((fail + xpass + timeout))
echo "$((ok + xfail)) passed, $failed failed, $skipped skipped"
if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ]; then
  exit 1
fi
if [ $((ok + xfail + skipped)) -eq 0 ]; then
  echo "test.sh: no test ran" >&2
  exit 1
fi
