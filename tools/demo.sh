#!/usr/bin/env bash
# The README's quick start: installs what is missing (on Debian, as root or
# through sudo), builds ./build if needed and trains with `mupc train`'s
# defaults: the jpc example network on Fashion-MNIST, about 8 minutes on a
# 2-core CPU, ending with the final test accuracy.
#
#   tools/demo.sh [mupc train flags, e.g. --steps 300 --device gpu]
#
# MUPC_BUILD_DIR chooses the build directory (default: build).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build_dir=${MUPC_BUILD_DIR:-build}
packages=(build-essential meson ninja-build pkg-config python3 ocl-icd-opencl-dev opencl-headers
  pocl-opencl-icd libclblast-dev zlib1g-dev libjson-c-dev libcmocka-dev dataset-fashion-mnist)

install_packages() {
  if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
    echo "demo.sh: not a Debian system; make sure the equivalents of these are installed:" \
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
      echo "demo.sh: missing packages (${missing[*]}); run as root or install sudo" >&2
      exit 1
    fi
    sudo=sudo
  fi
  echo "demo.sh: installing ${missing[*]}"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${missing[@]}"
}

install_packages
# A build directory that tools/test.sh (or a person) set up keeps its options.
[ -f "$build_dir/meson-private/coredata.dat" ] || meson setup "$build_dir"
meson compile -C "$build_dir" mupc:executable
exec "./$build_dir/mupc" train "$@"
