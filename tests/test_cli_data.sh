#!/bin/sh
# Every data format end to end: `mupc train --data DIR` on generated
# CIFAR-10, CIFAR-100, safetensors (U8 and F32) and rank-4 IDX directories
# (tests/make_tiny_data.py, byte for byte in the published layouts) beats
# chance, `mupc eval` reads each checkpoint back, and truncated, oversized
# and inconsistent files each get one line naming the file and exit 2.
# Usage: test_cli_data.sh path/to/mupc
# shellcheck disable=SC2086
set -u
mupc=${1:?usage: test_cli_data.sh path/to/mupc}
unset MUPC_DEVICE
dev=${MUPC_TEST_DEVICE:-pocl}
here=$(dirname "$0")

# shellcheck source=tests/lib.sh
. "$here/lib.sh"

accuracy() { sed -n 's/^.*test accuracy \([0-9.]*\)%.*$/\1/p' "$1" | head -n 1; }

need_device "$dev"

for kind in cifar10 cifar100 tensors tensors-f32 idx4; do
  python3 "$here/make_tiny_data.py" "$tmp/$kind" "$kind" ||
    { echo "could not write the $kind data set" >&2; exit 1; }
done

tiny="--device $dev --depth 3 --width 32 --batch 32 --infer-steps 5 --steps 60 --eval-every 0"
cifar_norm="--norm 0.4914,0.4822,0.4465,0.2470,0.2435,0.2616"

# train_eval NAME DIR MIN_ACC FLAGS...: trains, then evaluates the checkpoint;
# both must print the same accuracy, at least MIN_ACC percent.
train_eval() {
  name=$1 dir=$2 min=$3
  shift 3
  run "$mupc" train --data "$dir" $tiny --quiet --save "$tmp/$name.st" "$@"
  acc=$(accuracy "$out")
  if [ "$rc" -ne 0 ] || [ -z "$acc" ] ||
    ! python3 -c "import sys; sys.exit(float('$acc') < $min)"; then
    fail "$name: want exit 0 and test accuracy >= $min%, got exit $rc, '$acc'"
    return
  fi
  run "$mupc" eval "$tmp/$name.st" --device "$dev"
  if [ "$rc" -ne 0 ] || [ "$(accuracy "$out")" != "$acc" ]; then
    fail "$name: mupc eval should give the training run's $acc%"
  fi
}

# Chance is 10% (CIFAR-10, tensors), 1% (CIFAR-100 fine), 5% (coarse), 8.3%
# (12-class IDX); each must do far better.
train_eval cifar10 "$tmp/cifar10" 50 $cifar_norm
train_eval cifar100 "$tmp/cifar100" 10 --loss ce
train_eval cifar100-coarse "$tmp/cifar100" 20 --loss ce --label coarse
train_eval tensors "$tmp/tensors" 50 $cifar_norm
train_eval tensors-f32 "$tmp/tensors-f32" 50
train_eval idx4 "$tmp/idx4" 50 --norm 0.5,0.5,0.5,0.25,0.25,0.25

# The class counts came from the data and went into the checkpoints.
meta() {
  python3 - "$1" "$2" <<'PY'
import json, struct, sys
f = open(sys.argv[1], "rb")
n = struct.unpack("<Q", f.read(8))[0]
print(json.loads(f.read(n))["__metadata__"][sys.argv[2]])
PY
}
[ "$(meta "$tmp/cifar100.st" output_dim)" = 100 ] || fail "cifar100: want 100 outputs"
[ "$(meta "$tmp/cifar100-coarse.st" output_dim)" = 20 ] || fail "cifar100 coarse: want 20 outputs"
[ "$(meta "$tmp/cifar100-coarse.st" data_label)" = coarse ] || fail "cifar100: want data_label coarse"
[ "$(meta "$tmp/idx4.st" output_dim)" = 12 ] || fail "idx4: want 12 outputs"
[ "$(meta "$tmp/tensors.st" data_format)" = tensors ] || fail "tensors: want data_format tensors"
[ "$(meta "$tmp/tensors.st" norm)" = 0.4914,0.4822,0.4465,0.247,0.2435,0.2616 ] ||
  fail "tensors: want the six --norm values in the checkpoint"

# A checkpoint from before the data keys (none of data_format, data_label,
# norm) reads its data as IDX with norm_mean, norm_std: idx4's three equal
# channels make that the same normalisation, so the same accuracy.
python3 - "$tmp/idx4.st" "$tmp/old.st" <<'PY'
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
for k in ("data_format", "data_label", "norm"):
    del h["__metadata__"][k]
text = json.dumps(h).encode()
text += b" " * (-len(text) % 8)
open(sys.argv[2], "wb").write(struct.pack("<Q", len(text)) + text + b[8 + n:])
PY
run "$mupc" eval "$tmp/idx4.st" --device "$dev"
want=$(accuracy "$out")
run "$mupc" eval "$tmp/old.st" --device "$dev"
[ "$rc" -eq 0 ] && [ "$(accuracy "$out")" = "$want" ] ||
  fail "a checkpoint without data keys: want exit 0 and $want%"

# --resume keeps the data flags: another label is a conflict.
expect_usage_error "--label" "$mupc" train --resume "$tmp/cifar100.st" --label coarse --steps 61
# A checkpoint's format is fixed: eval of a CIFAR-10 model on a tensor dir
# reads the CIFAR files it was trained on, and says so when they are not there.
expect_usage_error "data_batch_1.bin" "$mupc" eval "$tmp/cifar10.st" --data "$tmp/tensors" \
  --device "$dev"

# ---- bad files: one line naming the file, exit 2 -------------------------
bad=$tmp/bad
copy() { rm -rf "$bad/$1" && mkdir -p "$bad" && cp -r "$tmp/$2" "$bad/$1"; }

copy trunc cifar10
head -c 196000 "$tmp/cifar10/data_batch_3.bin" >"$bad/trunc/data_batch_3.bin"
expect_usage_error "data_batch_3.bin: 196000 bytes is not a whole number of 3073-byte CIFAR-10" \
  "$mupc" train --data "$bad/trunc" $tiny
copy over cifar10
printf 'xx' >>"$bad/over/test_batch.bin"
expect_usage_error "test_batch.bin: 307302 bytes" "$mupc" train --data "$bad/over" $tiny
copy missing cifar10
rm "$bad/missing/data_batch_4.bin"
expect_usage_error "no data_batch_4.bin" "$mupc" train --data "$bad/missing" $tiny
copy label cifar10
python3 - "$bad/label/data_batch_2.bin" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[3073 * 2] = 10
open(sys.argv[1], "wb").write(b)
PY
expect_usage_error "data_batch_2.bin: record 2 has label 10, expected < 10" \
  "$mupc" train --data "$bad/label" $tiny
expect_usage_error "label 5 at index" "$mupc" train --data "$tmp/cifar10" --classes 5 $tiny

copy c100 cifar100
head -c 3074 "$tmp/cifar100/test.bin" >"$bad/c100/test.bin"
printf 'x' >>"$bad/c100/test.bin"
expect_usage_error "test.bin: 3075 bytes is not a whole number of 3074-byte CIFAR-100" \
  "$mupc" train --data "$bad/c100" $tiny
copy c100lab cifar100
python3 - "$bad/c100lab/train.bin" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[3074 * 5 + 1] = 100  # a fine label
b[3074 * 7] = 20       # a coarse label
open(sys.argv[1], "wb").write(b)
PY
expect_usage_error "record 5 has fine label 100" "$mupc" train --data "$bad/c100lab" $tiny
expect_usage_error "record 7 has coarse label 20" \
  "$mupc" train --data "$bad/c100lab" --label coarse $tiny

# safetensors: each case its own train.safetensors beside a good test file.
python3 - "$here" "$bad" "$tmp/tensors" <<'PY'
import os, shutil, struct, sys
sys.path.insert(0, sys.argv[1])
from make_tiny_data import safetensors
bad, good = sys.argv[2], sys.argv[3]
x = bytes(range(48)) * 4
cases = {
    "no-y": {"x": ("U8", [4, 48], x[:192])},
    "y-count": {"x": ("U8", [4, 48], x[:192]), "y": ("U8", [3], bytes(3))},
    "y-float": {"x": ("U8", [4, 48], x[:192]), "y": ("F32", [4], bytes(16))},
    "x-int32": {"x": ("I32", [4, 12], x[:192]), "y": ("U8", [4], bytes(4))},
    "y-negative": {"x": ("U8", [4, 48], x[:192]), "y": ("I64", [4], struct.pack("<4q", 0, 1, -1, 2))},
    "x-nan": {"x": ("F32", [2, 2], struct.pack("<4f", 0, 1, float("nan"), 0)), "y": ("I32", [2], bytes(8))},
}
for name, tensors in cases.items():
    d = os.path.join(bad, name)
    os.makedirs(d, exist_ok=True)
    shutil.copy(os.path.join(good, "test.safetensors"), d)
    safetensors(os.path.join(d, "train.safetensors"), tensors)
d = os.path.join(bad, "st-trunc")
shutil.copytree(good, d)
data = open(os.path.join(good, "train.safetensors"), "rb").read()
open(os.path.join(d, "train.safetensors"), "wb").write(data[:-7])
PY
expect_usage_error 'train.safetensors: no tensor "y"' "$mupc" train --data "$bad/no-y" $tiny
expect_usage_error 'tensor "y" has shape [3], expected [4]' "$mupc" train --data "$bad/y-count" $tiny
expect_usage_error 'tensor "y" is F32, expected an integer' "$mupc" train --data "$bad/y-float" $tiny
expect_usage_error 'tensor "x" is I32, expected U8 or F32' "$mupc" train --data "$bad/x-int32" $tiny
expect_usage_error 'y[2] is -1' "$mupc" train --data "$bad/y-negative" $tiny
expect_usage_error 'x value 2 is not finite' "$mupc" train --data "$bad/x-nan" $tiny
expect_usage_error 'train.safetensors' "$mupc" train --data "$bad/st-trunc" $tiny

# Flags.
expect_usage_error "--format: expected auto, idx" "$mupc" train --data "$tmp/tensors" --format jpeg
expect_usage_error "--label: expected fine or coarse" "$mupc" train --label medium
expect_usage_error "--norm: expected MEAN,STD or C means" "$mupc" train --norm 1,2,3
expect_usage_error "neither the second nor the last has size 3" \
  "$mupc" train --data "$tmp/tensors-f32" $cifar_norm $tiny
expect_usage_error "train.safetensors: cannot open" "$mupc" train --data "$tmp/cifar10" --format tensors $tiny

finish test_cli_data
