#!/bin/sh
# `mupc train` and `mupc eval` end to end on a tiny generated IDX data set:
# the final line, metrics, checkpoints (round trip, --init, bit-exact
# --resume, SIGINT/SIGTERM, divergence) and one-line flag errors.
# Usage: test_cli_train.sh path/to/mupc
# $tiny and $long are flag lists, split on purpose (mktemp paths hold no
# blanks).
# shellcheck disable=SC2086
set -u
mupc=${1:?usage: test_cli_train.sh path/to/mupc}
unset MUPC_DEVICE
dev=${MUPC_TEST_DEVICE:-pocl}

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"

# "final test accuracy 93.75% (loss ...)" or "test accuracy 93.75% ..." -> 93.75
accuracy() { sed -n 's/^.*test accuracy \([0-9.]*\)%.*$/\1/p' "$1" | head -n 1; }

need_device "$dev"

# 320 training and 64 test images of 8x8 pixels (tests/make_tiny_idx.py):
# learnable in a few steps, the test set gzipped to cover that path too.
data=$tmp/data
python3 "$(dirname "$0")/make_tiny_idx.py" "$data" 320 64 ||
  { echo "could not write the data set" >&2; exit 1; }

tiny="--data $data --device $dev --depth 5 --width 16 --batch 32 --infer-steps 5"

# ---- the host provider's thread count changes no bit ---------------------
# Its products run on row blocks of a fixed size whatever the thread count
# (src/hostgemm.c, src/hostinfer.c), so every output element has one
# summation order: 1, 2 and 3 threads (3 cannot split the batch of 32
# evenly; rows per thread once made 3 threads differ by 2e-7) must end
# with the same weights, bit for bit. Activity Adam too, which turns any rounding
# difference into a full step. The device's own provider runs it (the host
# one on PoCL and rusticl).
st_diff() { python3 "$(dirname "$0")/st_weight_diff.py" "$1" "$2"; }
for extra in "" "--activity-optim adam --activity-lr 0.01 --act tanh"; do
  for n in 1 2 3; do
    MUPC_THREADS=$n "$mupc" train $tiny $extra --steps 8 --eval-every 0 --quiet \
      --save "$tmp/threads$n.st" >/dev/null 2>"$tmp/threads.err" ||
      fail "MUPC_THREADS=$n train $extra failed: $(cat "$tmp/threads.err")"
  done
  for n in 2 3; do
    d=$(st_diff "$tmp/threads$n.st" "$tmp/threads1.st") || fail "threads: weights differ in shape"
    [ "$d" = "0.000e+00" ] || fail "MUPC_THREADS=$n $extra: weights differ from 1 thread by $d"
  done
done

# ---- --gemm kernels: the fused inference changes no bit ------------------
# With the library's own GEMM kernel the inference's prediction computes
# the errors, and the back-projection the activity update, in the same
# kernels (cl/gemm.cl, MUPC_FUSED); MUPC_NO_FUSE runs them as separate
# kernels. Both must end with the same weights, bit for bit: GD and
# activity Adam, with the wavefront and without, and depth 2 (no hidden
# product, so no fused prediction).
for extra in "" "--activity-optim adam --activity-lr 0.01 --act tanh" "--no-wavefront --infer-steps 3" \
  "--depth 2"; do
  for fuse in on off; do
    if [ $fuse = on ]; then unset MUPC_NO_FUSE; else export MUPC_NO_FUSE=1; fi
    "$mupc" train $tiny $extra --gemm kernels --steps 4 --eval-every 0 --quiet \
      --save "$tmp/fuse_$fuse.st" >/dev/null 2>"$tmp/fuse.err" ||
      fail "--gemm kernels $extra (fused $fuse) failed: $(cat "$tmp/fuse.err")"
  done
  unset MUPC_NO_FUSE
  d=$(st_diff "$tmp/fuse_on.st" "$tmp/fuse_off.st") || fail "fused: weights differ in shape"
  [ "$d" = "0.000e+00" ] || fail "--gemm kernels $extra: fused weights differ by $d"
done

# ---- a short run: the final line and the metrics -------------------------
run "$mupc" train $tiny --steps 30 --eval-every 10 --metrics "$tmp/m.jsonl" --save "$tmp/a.st"
if [ "$rc" -ne 0 ] || [ "$(lines "$out")" -ne 1 ] ||
  ! grep -Eq '^final test accuracy [0-9]+\.[0-9]{2}% \(loss [0-9.e+-]+\) after 30 steps, [0-9.]+ s$' \
    "$out"; then
  fail "mupc train: want exit 0 and one final line"
fi
grep -q 'test acc' "$err" || fail "mupc train: no progress lines on stderr (not a terminal)"
train_acc=$(accuracy "$out")
if ! python3 - "$tmp/m.jsonl" "$train_acc" 30 10 >"$err" 2>&1 <<'EOF'
import json, sys
path, printed, steps, every = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rows = [json.loads(line) for line in open(path)]
assert len(rows) == steps + 1, f"{len(rows)} lines, want {steps + 1}"
base = {"step", "epoch", "train_loss", "energy", "seconds"}
for i, r in enumerate(rows[:-1], 1):
    evaluated = i % every == 0 and i != steps
    want = base | {"test_acc", "test_loss"} if evaluated else base
    assert set(r) == want, (i, sorted(r))
    assert r["step"] == i and r["epoch"] == (i - 1) // 10 + 1, r
    assert all(isinstance(r[k], (int, float)) for k in r), r
    assert r["train_loss"] > 0 and r["energy"] > 0 and r["seconds"] >= 0, r
assert rows[5]["seconds"] <= rows[-2]["seconds"]
final = rows[-1]
assert set(final) == {"final", "step", "test_acc", "test_loss", "seconds"}, sorted(final)
assert final["final"] is True and final["step"] == steps, final
assert 0 <= final["test_acc"] <= 1 and final["test_loss"] >= 0, final
assert abs(100 * final["test_acc"] - printed) < 0.006, (final, printed)
assert rows[-2]["train_loss"] < rows[0]["train_loss"], "the loss did not go down"
EOF
then
  fail "--metrics: not the documented JSON lines"
fi

run "$mupc" train $tiny --steps 3 --quiet
{ [ "$rc" -eq 0 ] && [ ! -s "$err" ] && [ "$(lines "$out")" -eq 1 ]; } ||
  fail "--quiet: want only the final line"

run "$mupc" train $tiny --steps 5 --algo bp --loss ce --optim sgd --lr 0.05 --quiet
{ [ "$rc" -eq 0 ] && grep -q '^final test accuracy' "$out"; } ||
  fail "--algo bp --loss ce --optim sgd"

# ---- checkpoints ---------------------------------------------------------
run "$mupc" eval --model "$tmp/a.st" --device "$dev"
{ [ "$rc" -eq 0 ] && [ "$(accuracy "$out")" = "$train_acc" ]; } ||
  fail "eval of the saved model: want the accuracy train printed ($train_acc%)"
run "$mupc" eval --model "$tmp/a.st" --device "$dev" --json
if [ "$rc" -ne 0 ] || ! python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["step"] == 30 and d["samples"] == 64 and d["algo"] == "pc", d
assert abs(100 * d["test_acc"] - float(sys.argv[2])) < 0.006, d' "$out" "$train_acc"; then
  fail "eval --json"
fi

# The same run straight, and stopped halfway then resumed: same bytes.
same_run="$tiny --metrics $tmp/r.jsonl --quiet"
run "$mupc" train $same_run --steps 20 --save "$tmp/full.st"
[ "$rc" -eq 0 ] || fail "train --steps 20"
run "$mupc" train $same_run --steps 10 --save "$tmp/half.st"
[ "$rc" -eq 0 ] || fail "train --steps 10"
run "$mupc" train --resume "$tmp/half.st" --steps 20 --save "$tmp/resumed.st" --device "$dev" \
  --quiet --depth 5
[ "$rc" -eq 0 ] || fail "train --resume"
cmp -s "$tmp/full.st" "$tmp/resumed.st" || fail "10 steps + resume 10 differs from 20 steps"
# --epochs counts from the start too: 20 steps are 2 epochs of 10.
run "$mupc" train --resume "$tmp/half.st" --epochs 2 --save "$tmp/resumed2.st" --device "$dev" \
  --quiet
{ [ "$rc" -eq 0 ] && cmp -s "$tmp/full.st" "$tmp/resumed2.st"; } ||
  fail "resume with --epochs 2 differs from 20 steps"

# --init loads the weights of any safetensors file with layers.{i}.weight,
# with or without our metadata: a plain copy gives the same run.
python3 - "$tmp/full.st" "$tmp/plain.st" <<'EOF' || fail "could not write plain.st"
import json, struct, sys
blob = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", blob[:8])[0]
header = json.loads(blob[8:8 + n])
data = blob[8 + n:]
out_header, out_data = {}, b""
for name in sorted(header):
    if not name.startswith("layers."):
        continue
    b, e = header[name]["data_offsets"]
    out_header[name] = {"dtype": "F32", "shape": header[name]["shape"],
                        "data_offsets": [len(out_data), len(out_data) + e - b]}
    out_data += data[b:e]
text = json.dumps(out_header).encode()
open(sys.argv[2], "wb").write(struct.pack("<Q", len(text)) + text + out_data)
EOF
run "$mupc" train $tiny --steps 4 --init "$tmp/full.st" --save "$tmp/i1.st" \
  --metrics "$tmp/i1.jsonl" --quiet
[ "$rc" -eq 0 ] || fail "train --init ours"
run "$mupc" train $tiny --steps 4 --init "$tmp/plain.st" --save "$tmp/i2.st" --quiet
[ "$rc" -eq 0 ] || fail "train --init plain"
cmp -s "$tmp/i1.st" "$tmp/i2.st" || fail "--init: a file without metadata loads differently"
python3 -c '
import json, sys
fresh = json.loads(open(sys.argv[1]).readline())["train_loss"]
init = json.loads(open(sys.argv[2]).readline())["train_loss"]
assert init < 0.8 * fresh, (init, fresh)' "$tmp/m.jsonl" "$tmp/i1.jsonl" ||
  fail "--init: the first step's loss shows fresh weights"
expect_usage_error 'expected [32, 64]' "$mupc" train $tiny --width 32 --init "$tmp/plain.st"
expect_usage_error "$tmp/nosuch.st" "$mupc" train $tiny --init "$tmp/nosuch.st"
expect_usage_error 'more weight matrices' "$mupc" train $tiny --depth 4 --init "$tmp/plain.st"
expect_usage_error "$tmp/plain.st has no mupc metadata" "$mupc" eval --model "$tmp/plain.st"
expect_usage_error "$tmp/plain.st has no mupc metadata" "$mupc" train --resume "$tmp/plain.st"
expect_usage_error '--width: conflicts with' "$mupc" train --resume "$tmp/half.st" --width 8
expect_usage_error '--no-shuffle: conflicts with' "$mupc" train --resume "$tmp/half.st" --no-shuffle
head -c 2000 "$tmp/full.st" >"$tmp/truncated.st"
expect_usage_error "$tmp/truncated.st" "$mupc" eval --model "$tmp/truncated.st" --device "$dev"

if python3 -c 'import safetensors' 2>/dev/null; then
  python3 -c '
import sys
from safetensors import safe_open
with safe_open(sys.argv[1], framework="numpy") as f:
    assert f.metadata()["format"] == "mupc-1"
    assert f.get_tensor("layers.0.weight").shape == (16, 64)
    assert f.get_tensor("optim.layers.4.v").shape == (10, 16)' "$tmp/full.st" ||
    fail "Python safetensors cannot load our checkpoint"
else
  echo "python3 safetensors not installed: the Python load check is skipped"
fi

# ---- interrupted and diverged runs ---------------------------------------
# wait_for_line FILE: until the training has written a metrics line
wait_for_line() {
  i=0
  while [ ! -s "$1" ] && [ "$i" -lt 600 ]; do
    sleep 0.05
    i=$((i + 1))
  done
}
# Long enough (about a second) that the signal, sent within 50 ms of the
# first metrics line, always lands mid-run: at 600 steps (0.2 s) a busy
# machine sometimes let the run finish first.
long="$tiny --steps 3000 --eval-every 0"
run "$mupc" train $long --save "$tmp/long.st" --quiet
[ "$rc" -eq 0 ] || fail "the straight 3000-step run"
rm -f "$tmp/s.jsonl"
"$mupc" train $long --save "$tmp/int.st" --metrics "$tmp/s.jsonl" >"$out" 2>"$err" &
pid=$!
wait_for_line "$tmp/s.jsonl"
kill -INT "$pid"
wait "$pid"
rc=$?
{ [ "$rc" -eq 130 ] && grep -q 'stopped by SIGINT' "$err" && [ ! -s "$out" ]; } ||
  fail "SIGINT: want exit 130, a checkpoint and a 'stopped by SIGINT' line"
run "$mupc" train --resume "$tmp/int.st" --save "$tmp/int.st" --device "$dev" --quiet
{ [ "$rc" -eq 0 ] && cmp -s "$tmp/long.st" "$tmp/int.st"; } ||
  fail "a run stopped by SIGINT and resumed differs from the straight run"
rm -f "$tmp/s.jsonl"
"$mupc" train $long --metrics "$tmp/s.jsonl" >"$out" 2>"$err" &
pid=$!
wait_for_line "$tmp/s.jsonl"
kill -TERM "$pid"
wait "$pid"
rc=$?
{ [ "$rc" -eq 143 ] && grep -q 'nothing written' "$err"; } || fail "SIGTERM: want exit 143"

# SGD at 1e20 blows up at step 2; the checkpoint already there survives.
cp "$tmp/a.st" "$tmp/div.st"
run "$mupc" train $tiny --steps 50 --optim sgd --lr 1e20 --save "$tmp/div.st" --save-every 1 --quiet
{ [ "$rc" -eq 3 ] && [ "$(lines "$err")" -eq 1 ] && grep -q 'diverged at step 2' "$err" &&
  cmp -s "$tmp/a.st" "$tmp/div.st"; } ||
  fail "divergence: want exit 3, 'diverged at step 2' and the old checkpoint untouched"

# ---- what a new user tries ----------------------------------------------
run "$mupc" help
{ [ "$rc" -eq 0 ] && grep -q '^usage: mupc <command>' "$out" && grep -q '^  train ' "$out"; } ||
  fail "mupc help: want the overview on stdout"
"$mupc" train --help >"$tmp/train-help.txt" 2>&1
run "$mupc" help train
{ [ "$rc" -eq 0 ] && [ ! -s "$err" ] && cmp -s "$out" "$tmp/train-help.txt"; } ||
  fail "mupc help train: want what mupc train --help prints"
expect_usage_error "unknown command 'nosuch'" "$mupc" help nosuch

# The model as the positional argument, as well as --model.
run "$mupc" eval "$tmp/a.st" --device "$dev"
{ [ "$rc" -eq 0 ] && [ "$(accuracy "$out")" = "$train_acc" ]; } || fail "mupc eval FILE"
expect_usage_error "give FILE or --model FILE, once" "$mupc" eval "$tmp/a.st" --model "$tmp/a.st"

# A misspelt flag: the command, the closest flag and --help, in one line.
expect_usage_error "mupc train: unknown flag '--stpes'; did you mean '--steps'? (see 'mupc train --help')" \
  "$mupc" train --stpes 5
expect_usage_error "mupc eval: unknown flag '--modle'; did you mean '--model'?" \
  "$mupc" eval --modle "$tmp/a.st"
expect_usage_error "unknown flag '-steps'; did you mean '--steps'?" "$mupc" train -steps 5
expect_usage_error "flag '--quiet' takes no value" "$mupc" train --quiet=yes
expect_usage_error "flag '--s' is ambiguous: --steps, --save" "$mupc" train --s 5

# Enum values in any case.
run "$mupc" train $tiny --steps 2 --act ReLU --param muPC --optim SGD --lr 0.05 --quiet
{ [ "$rc" -eq 0 ] && grep -q '^final test accuracy' "$out"; } || fail "--act ReLU --param muPC --optim SGD"

# JSON numbers in their shortest round-trip form: floats (train_loss,
# energy) as floats, doubles as doubles; never %.17g noise.
run "$mupc" eval "$tmp/a.st" --device "$dev" --json
cat "$tmp/m.jsonl" "$out" >"$tmp/all.json"
if ! python3 - "$tmp/all.json" >"$err" 2>&1 <<'EOF'
import json, struct, sys
def f32(x): return struct.unpack("f", struct.pack("f", x))[0]
def shortest(x, single):
    for d in range(1, 18):
        t = "%.*g" % (d, x)
        if (f32(float(t)) == x) if single else float(t) == x:
            break
    return t if any(c in t for c in ".eE") else t + ".0"
for line in open(sys.argv[1]):
    for key, value in json.loads(line, parse_float=lambda s: ("float", s)).items():
        if isinstance(value, tuple):
            text, single = value[1], key in ("train_loss", "energy")
            x = f32(float(text)) if single else float(text)
            assert text == shortest(x, single), (key, text, shortest(x, single))
EOF
then
  fail "JSON numbers: not the shortest round-trip form"
fi

# A file that is not safetensors says so, and what it looks like.
gzip -c "$tmp/a.st" >"$tmp/a.st.gz"
expect_usage_error "not a safetensors file" "$mupc" eval "$tmp/a.st.gz"
grep -q 'looks like gzip data' "$err" || fail "eval of a gzip file: want 'looks like gzip data'"
printf 'layers.0.weight = [[1, 2], [3, 4]]\n' >"$tmp/text.st"
expect_usage_error "not a safetensors file" "$mupc" eval "$tmp/text.st"
grep -q 'looks like text ("layers.0.weight ")' "$err" || fail "eval of a text file: want 'looks like text'"

# ---- flag and data errors: exit 2, one line ------------------------------
expect_usage_error "'--bogus'" "$mupc" train --bogus
expect_usage_error "'--width'" "$mupc" train --width
expect_usage_error "--width: expected" "$mupc" train --width 0
expect_usage_error "--batch: expected" "$mupc" train --batch -1
expect_usage_error "--lr: expected" "$mupc" train --lr nan
expect_usage_error "--steps: expected" "$mupc" train --steps 1.5
expect_usage_error "--norm" "$mupc" train --norm 0.5
expect_usage_error "--act: expected one of" "$mupc" train --act sigmoid
expect_usage_error "--epochs and --steps" "$mupc" train --epochs 1 --steps 5
expect_usage_error "--save-every" "$mupc" train --save-every 5
expect_usage_error "--init and --resume" "$mupc" train --init a --resume b
expect_usage_error "'extra'" "$mupc" train extra
expect_usage_error "--batch: 321 is larger than the training set" "$mupc" train $tiny --batch 321
expect_usage_error "--data: /nonexistent" "$mupc" train --data /nonexistent
expect_usage_error "--model FILE" "$mupc" eval
expect_usage_error "--batch: expected" "$mupc" eval --model "$tmp/a.st" --batch 0
expect_usage_error "$tmp/nosuch.st" "$mupc" eval --model "$tmp/nosuch.st"
run "$mupc" train --help
{ [ "$rc" -eq 0 ] && grep -q '^usage: mupc train' "$out"; } || fail "mupc train --help"
for f in data norm depth width act param no-skips loss algo batch infer-steps activity-lr \
  activity-optim lr optim weight-decay epochs steps seed no-shuffle eval-every device metrics \
  save save-every init resume quiet; do
  grep -q -- "--$f " "$out" || fail "mupc train --help: --$f is not described"
done

finish train
