#!/usr/bin/env bash
# The README's quick start: installs what is missing (on Debian, as root or
# through sudo), builds ./build if needed and trains with `mupc train`'s
# defaults: the jpc example network on Fashion-MNIST, a few minutes on a
# 2-core CPU, ending with the final test accuracy.
#
#   tools/demo.sh [mupc train flags, e.g. --steps 300 --device gpu]
#
# MUPC_BUILD_DIR chooses the build directory (default: build).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build_dir=${MUPC_BUILD_DIR:-build}
packages=(build-essential meson ninja-build pkg-config python3 ocl-icd-opencl-dev opencl-headers
  pocl-opencl-icd libclblast-dev libopenblas-dev libxsmm-dev zlib1g-dev libjson-c-dev libcmocka-dev
  dataset-fashion-mnist)

# shellcheck source=tools/install_packages.sh
. tools/install_packages.sh

install_packages demo.sh "${packages[@]}"
# A build directory that tools/test.sh (or a person) set up keeps its options.
[ -f "$build_dir/meson-private/coredata.dat" ] || meson setup "$build_dir"
meson compile -C "$build_dir" mupc:executable
exec "./$build_dir/mupc" train "$@"
