#!/bin/sh
# The seeded initial weights end to end, as a user gets them: `mupc train
# --save` at the depth-129, width-64 network for seeds 0, 1 and 2, checked by
# tests/rng_ref.py (a Python implementation of the mapping mupc.h documents)
# bit for bit and for independence (per-layer moments, no correlated layers
# within or across seeds); the generator named in the metadata; and
# checkpoints written by mupc 0.1.0 (tests/data, before "rng" existed), which
# must still evaluate and resume with the batch order they started with.
# Usage: test_init.sh path/to/mupc
# shellcheck disable=SC2086
set -u
mupc=${1:?usage: test_init.sh path/to/mupc}
here=$(cd "$(dirname "$0")" && pwd)
unset MUPC_DEVICE
dev=${MUPC_TEST_DEVICE:-pocl}

# shellcheck source=tests/lib.sh
. "$here/lib.sh"

need_device "$dev"
# rng_ref.py's statistics need NumPy: Debian's python3-numpy, whichever
# python3 comes first on PATH.
py=python3
python3 -c 'import numpy' 2>/dev/null || py=/usr/bin/python3
"$py" -c 'import numpy' 2>/dev/null || { echo "FAIL: no python3 with numpy" >&2; exit 1; }

# The same tiny data set the fixtures were trained on (8x8 images).
data=$tmp/data
python3 "$here/make_tiny_idx.py" "$data" 320 64 || { echo "could not write the data set" >&2; exit 1; }

# ---- a seed's initial weights: the issue's command, lr so small that one
# SGD step leaves every weight as drawn ------------------------------------
for s in 0 1 2; do
  run "$mupc" train --data "$data" --device "$dev" --depth 129 --width 64 --infer-steps 1 \
    --steps 1 --optim sgd --lr 1e-30 --eval-every 0 --seed "$s" --quiet --save "$tmp/init$s.st"
  [ "$rc" -eq 0 ] || fail "mupc train --seed $s --save: exit $rc"
done
run "$py" "$here/rng_ref.py" check "$tmp/init0.st" "$tmp/init1.st" "$tmp/init2.st"
[ "$rc" -eq 0 ] || fail "rng_ref.py check: the initial weights are not the documented i.i.d. draws"
cat "$out"

meta() { # meta FILE KEY: one metadata value
  python3 -c 'import json, struct, sys
raw = open(sys.argv[1], "rb").read()
(n,) = struct.unpack("<Q", raw[:8])
print(json.loads(raw[8:8 + n])["__metadata__"].get(sys.argv[2], "(absent)"))' "$1" "$2"
}
[ "$(meta "$tmp/init0.st" rng)" = philox4x32-10 ] || fail "checkpoint metadata: rng is not philox4x32-10"

# ---- checkpoints of mupc 0.1.0 --------------------------------------------
# step10 and step20 come from one 0.1.0 run each (`mupc train --data DATA
# --device pocl --depth 5 --width 16 --batch 32 --infer-steps 5 --steps 10|20
# --save ...`): 10 batches an epoch, so the resumed half crosses an epoch and
# draws a new order.
old=$here/data/mupc-0.1.0-step
run "$mupc" eval --model "$old"10.safetensors --data "$data" --device "$dev"
[ "$rc" -eq 0 ] || fail "mupc eval of a 0.1.0 checkpoint: exit $rc"
run "$mupc" train --resume "$old"10.safetensors --data "$data" --device "$dev" --steps 20 \
  --quiet --save "$tmp/r20.st"
[ "$rc" -eq 0 ] || fail "mupc train --resume of a 0.1.0 checkpoint: exit $rc"
[ "$(meta "$tmp/r20.st" rng)" = splitmix64 ] || fail "a resumed 0.1.0 run must record rng splitmix64"
run python3 "$here/st_weight_diff.py" "$tmp/r20.st" "$old"20.safetensors
if [ "$rc" -ne 0 ] || ! awk '{ exit !($1 <= 1e-6) }' "$out"; then
  fail "resuming a 0.1.0 checkpoint does not continue its run (weight difference $(cat "$out"))"
fi
# The comparison can fail: the same checkpoint marked as a Philox run takes
# another batch order and ends elsewhere.
python3 - "$old"10.safetensors "$tmp/philox10.st" <<'PY'
import json, struct, sys
raw = open(sys.argv[1], "rb").read()
(n,) = struct.unpack("<Q", raw[:8])
h = json.loads(raw[8:8 + n])
h["__metadata__"]["rng"] = "philox4x32-10"
head = json.dumps(h, separators=(",", ":")).encode()
head += b" " * (-len(head) % 8)
open(sys.argv[2], "wb").write(struct.pack("<Q", len(head)) + head + raw[8 + n:])
PY
run "$mupc" train --resume "$tmp/philox10.st" --data "$data" --device "$dev" --steps 20 --quiet \
  --save "$tmp/p20.st"
[ "$rc" -eq 0 ] || fail "mupc train --resume (rng philox4x32-10): exit $rc"
run python3 "$here/st_weight_diff.py" "$tmp/p20.st" "$old"20.safetensors
awk '{ exit !($1 > 1e-3) }' "$out" || fail "a different batch order did not change the weights ($(cat "$out"))"

finish test_init.sh
