#!/bin/sh
# The host code paths of `mupc devices`, `mupc train` and `mupc eval` under
# Valgrind's memcheck, on PoCL and a tiny generated data set: no definite
# leak and no memory error (invalid access, use of uninitialised memory) in
# a successful run or in an error path. tests/valgrind.supp suppresses only
# a glibc loader false positive; nothing of PoCL's or LLVM's is hidden.
# Usage: test_leaks.sh path/to/mupc
#
# PoCL's kernel cache. PoCL compiles every kernel (ours and CLBlast's) with
# LLVM on first use, and under Valgrind that both takes tens of minutes and
# shows blocks LLVM's compile passes never free ("definitely lost" in
# pocl_check_kernel_disk_cache -> llvm::FPPassManager). So the checked runs
# must find every kernel compiled already, whatever state the machine's own
# cache (~/.cache/pocl) is in: this test warms a cache of its own
# (POCL_CACHE_DIR in its scratch directory) by running the same jobs without
# Valgrind first. A warm-up is only found if PoCL sees the same CPU both
# times, and Valgrind hides AVX-512 from the program: on an AVX-512 host
# PoCL picks its AVX-512 kernel library natively ("pthread-skylake-avx512")
# but the AVX2 one under Valgrind ("pthread-haswell"), whose cache entries
# differ. The test asks PoCL under Valgrind which CPU it sees (the first
# checked run, `devices --json`) and sets POCL_KERNELLIB_NAME so that PoCL
# sees the same natively; if no kernel library matches, it warms up under
# `valgrind --tool=none` instead (slow, still right). Suppressing LLVM's
# frames instead would keep the test correct but spend those minutes.
#
# Cost: one Valgrind run per code path, each with a tiny network; a
# Valgrind start with PoCL loaded is seconds of CPU by itself.
set -u
mupc=${1:?usage: test_leaks.sh path/to/mupc}
here=$(cd "$(dirname "$0")" && pwd)
unset MUPC_DEVICE POCL_KERNELLIB_NAME

# CI (tools/test.sh sets MUPC_REQUIRE_DEVICES) must not pass by skipping.
skip() {
  if [ -n "${MUPC_REQUIRE_DEVICES:-}" ]; then
    echo "FAIL: $1" >&2
    exit 1
  fi
  echo "$1: skipped"
  exit 77
}
command -v valgrind >/dev/null 2>&1 || skip "valgrind is not installed"
# Only PoCL's ICD is loaded: every driver adds minutes under Valgrind, and
# these runs check our host code, not the drivers.
pocl_icd=${MUPC_LEAKS_ICD:-/etc/OpenCL/vendors/pocl.icd}
[ -f "$pocl_icd" ] || skip "no PoCL ICD at $pocl_icd"
export OCL_ICD_VENDORS="$pocl_icd"

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
export POCL_CACHE_DIR="$tmp/pocl-cache"
# A developer's tuned GEMM parameters must not change what runs here.
export MUPC_TUNE_CACHE="$tmp/tune.json"
fails=0
runs=0

# vg EXPECTED_STATUS NAME ARGS...: runs mupc ARGS under memcheck.
vg() {
  want=$1 name=$2
  shift 2
  runs=$((runs + 1))
  valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite \
    --show-leak-kinds=definite --error-exitcode=99 --num-callers=30 \
    --suppressions="$here/valgrind.supp" --log-file="$tmp/$name.vg" \
    "$mupc" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
  rc=$?
  if [ "$rc" -eq 99 ] || [ -s "$tmp/$name.vg" ]; then
    echo "FAIL: mupc $*: Valgrind found errors or leaks (exit $rc):" >&2
    cat "$tmp/$name.vg" >&2
    fails=$((fails + 1))
  elif [ "$rc" -ne "$want" ]; then
    echo "FAIL: mupc $*: exit $rc, want $want; stderr:" >&2
    cat "$tmp/$name.err" >&2
    fails=$((fails + 1))
  else
    echo "ok: mupc $* (exit $rc)"
  fi
}

# The PoCL device's name as mupc sees it, run natively.
pocl_name() {
  "$mupc" devices --device pocl --json 2>/dev/null |
    python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["device"])' 2>/dev/null
}

# 64 training and 32 test images of 4x4 pixels, ten classes (the CLI's
# data sets have ten); the test set gzipped, so both readers run.
data=$tmp/data
python3 - "$data" <<'EOF' || { echo "could not write the data set" >&2; exit 1; }
import gzip, os, random, struct, sys
out = sys.argv[1]
os.makedirs(out)
rng = random.Random(3)
def write(prefix, n, opener, suffix):
    labels = bytes(rng.randrange(10) for _ in range(n))
    images = bytes(rng.randrange(256) for _ in range(n * 16))
    with opener(os.path.join(out, prefix + "-images-idx3-ubyte" + suffix), "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, 4, 4) + images)
    with opener(os.path.join(out, prefix + "-labels-idx1-ubyte" + suffix), "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + labels)
write("train", 64, open, "")
write("t10k", 32, gzip.open, ".gz")
EOF

# ---- the device list, and the CPU PoCL sees under Valgrind ---------------
vg 0 devices-json devices --device pocl --json
vg 0 devices devices
vg 2 devices-nosuch devices --device nosuch
under_vg=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[0]["device"])' \
  "$tmp/devices-json.out" 2>/dev/null)
[ -n "$under_vg" ] || { echo "FAIL: no PoCL device under Valgrind" >&2; exit 1; }
warm_runner=
if [ "$(pocl_name)" != "$under_vg" ]; then
  # Widest first: the first library that gives the same name is the one
  # PoCL picked under Valgrind.
  for lib in avx2 avx_f16c avx_fma4 avx sse41 ssse3 sse2 GENERIC; do
    if [ "$(POCL_KERNELLIB_NAME=$lib pocl_name)" = "$under_vg" ]; then
      export POCL_KERNELLIB_NAME=$lib
      break
    fi
  done
  if [ -z "${POCL_KERNELLIB_NAME:-}" ]; then
    echo "note: no PoCL kernel library natively matches '$under_vg' (Valgrind's view);" \
      "warming the kernel cache under valgrind --tool=none (slower)"
    warm_runner="valgrind --tool=none --quiet"
  fi
fi
echo "PoCL under Valgrind: $under_vg; POCL_KERNELLIB_NAME=${POCL_KERNELLIB_NAME:-unset}"

# ---- warm-up: the checked jobs without Valgrind ---------------------------
# Each compiles and caches its kernels; the second also leaves the files
# the checked runs start from (a checkpoint to resume, weights to --init).
net="--device pocl --depth 3 --width 8 --batch 16 --infer-steps 2"
# shellcheck disable=SC2086 # $net and $warm_runner are lists of words
$warm_runner "$mupc" train --data "$data" $net --algo bp --loss ce --optim sgd --steps 1 --quiet \
  >/dev/null || { echo "FAIL: the warm-up backprop run failed" >&2; exit 1; }
# shellcheck disable=SC2086
$warm_runner "$mupc" train --data "$data" $net --steps 2 --eval-every 1 --save "$tmp/warm.st" \
  --quiet >/dev/null || { echo "FAIL: the warm-up training run failed" >&2; exit 1; }
find "$POCL_CACHE_DIR" -name '*.so' | sort >"$tmp/cache-warm"

# ---- training and evaluation: one run per path -----------------------------
# PC with Adam, resumed (checkpoint, Adam's moments, data order), test-set
# evaluation, metrics, progress lines and a checkpoint written.
vg 0 train-resume train --resume "$tmp/warm.st" --steps 4 --eval-every 2 --save "$tmp/m.st" \
  --metrics "$tmp/m.jsonl" --device pocl
# Backprop with cross-entropy and SGD, from --init weights.
# shellcheck disable=SC2086
vg 0 train-bp-init train --data "$data" $net --algo bp --loss ce --optim sgd --steps 2 \
  --init "$tmp/m.st" --quiet
vg 0 eval eval "$tmp/m.st" --data "$data" --device pocl --json

# ---- error paths free what they allocated too ------------------------------
vg 2 train-bad-flag train --data "$data" --stpes 4
vg 2 train-no-data train --data "$tmp/nonexistent" --device pocl
head -c 100 "$tmp/m.st" >"$tmp/cut.st"
vg 2 eval-truncated eval --model "$tmp/cut.st" --device pocl
# shellcheck disable=SC2086
vg 2 train-batch-too-big train --data "$data" $net --batch 65 --steps 1

# A kernel the warm-up missed was compiled under Valgrind: correct, but
# minutes slower, and a sign the warm-up no longer matches these runs.
find "$POCL_CACHE_DIR" -name '*.so' | sort >"$tmp/cache-after"
if ! cmp -s "$tmp/cache-warm" "$tmp/cache-after"; then
  echo "note: PoCL compiled kernels under Valgrind; the warm-up missed:" >&2
  comm -13 "$tmp/cache-warm" "$tmp/cache-after" | sed 's/^/  /' >&2
fi

if [ "$fails" -ne 0 ]; then
  echo "$fails of $runs runs failed" >&2
  exit 1
fi
echo "all $runs runs clean under Valgrind"
