#!/bin/sh
# The host code paths of `mupc devices`, `mupc train` and `mupc eval` under
# Valgrind's memcheck, on PoCL and a tiny generated data set: no definite
# leak and no memory error (invalid access, use of uninitialised memory) in
# a successful run or in an error path. The OpenCL drivers' own allocations
# are suppressed by tests/valgrind.supp, by the object they come from.
# Usage: test_leaks.sh path/to/mupc
set -u
mupc=${1:?usage: test_leaks.sh path/to/mupc}
here=$(cd "$(dirname "$0")" && pwd)
unset MUPC_DEVICE

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

net="--device pocl --depth 3 --width 8 --batch 16 --infer-steps 2"
# PoCL compiles every kernel (ours and CLBlast's) on first use, which under
# Memcheck takes tens of minutes (and LLVM's compiler leaks as it does); it
# keeps what it compiled in its cache (~/.cache/pocl). So the same training
# runs once first, and the checked runs find every kernel there. The
# warm-up runs under Valgrind too, without a checker: Valgrind's CPU lacks
# AVX-512, so PoCL compiles for another target there (pthread-haswell on a
# Zen 4) and caches those kernels apart from a plain run's.
warm() { valgrind --tool=none --quiet "$mupc" "$@" >/dev/null 2>&1; }
# shellcheck disable=SC2086 # $net is a list of flags
warm train --data "$data" $net --steps 4 --eval-every 2 --save "$tmp/warm.st" --quiet ||
  { echo "FAIL: the warm-up training run failed" >&2; exit 1; }
# shellcheck disable=SC2086
warm train --data "$data" $net --algo bp --loss ce --optim sgd --steps 2 --quiet ||
  { echo "FAIL: the warm-up backprop run failed" >&2; exit 1; }

# Each run costs seconds of Valgrind start-up (PoCL and LLVM): one per path.
vg 0 devices devices
vg 0 devices-json devices --json
vg 2 devices-nosuch devices --device nosuch
# shellcheck disable=SC2086 # $net is a list of flags
vg 0 train train --data "$data" $net --steps 4 --eval-every 2 --save "$tmp/m.st" \
  --metrics "$tmp/m.jsonl"
vg 0 resume train --resume "$tmp/m.st" --steps 6 --save "$tmp/m.st" --device pocl --quiet
# shellcheck disable=SC2086
vg 0 train-bp train --data "$data" $net --algo bp --loss ce --optim sgd --steps 2 \
  --init "$tmp/m.st" --quiet
vg 0 eval eval --model "$tmp/m.st" --data "$data" --device pocl --json
# Error paths free what they allocated too.
vg 2 train-bad-flag train --data "$data" --width 0
vg 2 train-no-data train --data "$tmp/nonexistent" --device pocl
head -c 100 "$tmp/m.st" >"$tmp/cut.st"
vg 2 eval-truncated eval --model "$tmp/cut.st" --device pocl
# shellcheck disable=SC2086
vg 2 train-batch-too-big train --data "$data" $net --batch 65 --steps 1

if [ "$fails" -ne 0 ]; then
  echo "$fails of $runs runs failed" >&2
  exit 1
fi
echo "all $runs runs clean under Valgrind"
