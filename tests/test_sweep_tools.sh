#!/bin/sh
# tools/depth_sweep.sh and tools/lr_transfer.sh end to end on a tiny
# generated IDX data set: their tables, curves and figures, resuming a
# finished sweep, and one-line flag errors. The jpc algorithm needs a Python
# with jpc, which CI lacks: only its table column (from stand-in runs) and its
# flag errors are checked here.
# Usage: test_sweep_tools.sh path/to/mupc
set -u
mupc=${1:?usage: test_sweep_tools.sh path/to/mupc}
unset MUPC_DEVICE JPC_PYTHON
dev=${MUPC_TEST_DEVICE:-pocl}
src=${MUPC_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
export MUPC="$mupc"

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"

need_device "$dev"
have_gnuplot=0
command -v gnuplot >/dev/null && have_gnuplot=1

python3 "$src/tests/make_tiny_idx.py" "$tmp/data" 320 64 || { echo "FAIL: make_tiny_idx.py" >&2; exit 1; }

is_png() { [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]; }

# ---- depth_sweep.sh: 2 depths x 2 seeds, one epoch (10 steps of 32) ----
ds() {
  "$src/tools/depth_sweep.sh" --data "$tmp/data" --depths "2 3" --seeds "0 1" --epochs 1 --width 8 \
    --batch 32 --sp-lrs "1e-2 1e-1" --sp-activity-lrs 0.1 --device "$dev" --out "$tmp/ds" "$@"
}
run ds
if [ "$rc" -ne 0 ]; then
  fail "depth_sweep.sh exited $rc"
else
  t=$tmp/ds/table.md
  # 3 algorithms x 2 depths x 2 seeds, plus 1 more grid point per depth
  n=$(find "$tmp/ds/runs" -name "*.jsonl" | wc -l)
  [ "$n" -eq 14 ] || fail "depth_sweep.sh: want 14 metrics files, got $n"
  for f in "$tmp/ds/runs/"*.jsonl; do
    grep -q '"final":true' "$f" || fail "depth_sweep.sh: $f has no final line"
  done
  for h in 2 3; do
    # | H | μPC | SP | BP | point |, each accuracy "m ± s"
    grep -Eq "^\| $h \| [0-9.]+ ± [0-9.]+ \| [0-9.]+ ± [0-9.]+ \| [0-9.]+ ± [0-9.]+ \| [-+][0-9.]+ \| 1e-[12], 0\.1 \|$" "$t" ||
      fail "depth_sweep.sh: no complete table row for H = $h in table.md"
    grep -Eq "^\| $h \| [0-9.]+ \| [0-9.]+ \|$" "$t" ||
      fail "depth_sweep.sh: no standard-PC grid row for H = $h in table.md"
    for a in mupc sp bp; do
      [ "$(grep -c '^[0-9]' "$tmp/ds/curves/H${h}_$a.dat")" -eq 10 ] ||
        fail "depth_sweep.sh: curves/H${h}_$a.dat does not have 10 points"
    done
  done
  grep -q '^Wall time: ' "$t" || fail "depth_sweep.sh: table.md has no wall time"
  grep -q -- '--sp-activity-lrs 0.1' "$t" || fail "depth_sweep.sh: table.md does not show the command"
  if [ "$have_gnuplot" = 1 ]; then
    is_png "$tmp/ds/accuracy.png" || fail "depth_sweep.sh: accuracy.png missing or not a PNG"
  fi
  # again: every run finished, so none is made
  run ds
  { [ "$rc" -eq 0 ] && grep -q '(0 runs made, 14 finished before)' "$tmp/out"; } ||
    fail "depth_sweep.sh run again: want 0 runs made, 14 finished before (exit $rc)"
  # other settings in the same directory are refused
  run ds --width 9
  { [ "$rc" -eq 2 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q 'other settings' "$tmp/err"; } ||
    fail "depth_sweep.sh --width 9 on the same --out: want exit 2 and one line"
  # jpc runs in OUT (stand-ins: copies of the μPC ones) get their own column
  # and curve, whatever --algos says
  for f in "$tmp/ds/runs/"mupc_*; do cp "$f" "$tmp/ds/runs/jpc_${f##*/mupc_}"; done
  run ds --report-only
  if [ "$rc" -ne 0 ]; then
    fail "depth_sweep.sh --report-only with jpc runs exited $rc"
  else
    grep -q '^| hidden layers H | μPC | jpc (μPC) | standard PC (best grid point) | BP | μPC − jpc (points) | μPC − BP (points) |' "$t" ||
      fail "depth_sweep.sh: no jpc columns in table.md"
    for h in 2 3; do
      grep -Eq "^\| $h \| ([0-9.]+ ± [0-9.]+) \| \1 \| [0-9.]+ ± [0-9.]+ \| [0-9.]+ ± [0-9.]+ \| [-+]0\.0 \| [-+][0-9.]+ \| 1e-[12], 0\.1 \|$" "$t" ||
        fail "depth_sweep.sh: no row with jpc for H = $h in table.md"
      cmp -s "$tmp/ds/curves/H${h}_mupc.dat" "$tmp/ds/curves/H${h}_jpc.dat" ||
        fail "depth_sweep.sh: curves/H${h}_jpc.dat is not the μPC curve it copies"
    done
    if [ "$have_gnuplot" = 1 ]; then
      grep -q "H2_jpc.dat" "$tmp/ds/accuracy.gp" || fail "depth_sweep.sh: accuracy.gp draws no jpc curve"
    fi
  fi
fi

# ---- lr_transfer.sh: 2 widths x 1 depth x 2 x 2 grid ----
run "$src/tools/lr_transfer.sh" --data "$tmp/data" --widths "8 16" --depths 2 --lrs "1e-2 1e-1" \
  --activity-lrs "0.1 0.5" --steps 12 --batch 32 --device "$dev" --out "$tmp/lt" --jobs 2
if [ "$rc" -ne 0 ]; then
  fail "lr_transfer.sh exited $rc"
else
  s=$tmp/lt/summary.md
  n=$(find "$tmp/lt/runs" -name "*.jsonl" | wc -l)
  [ "$n" -eq 8 ] || fail "lr_transfer.sh: want 8 metrics files, got $n"
  for w in 8 16; do
    grep -Eq "^\| $w \| 2 \| 1e-[12] \| 0\.[15] \| [0-9.]+ \| 0 \| 4/4 \|$" "$s" ||
      fail "lr_transfer.sh: no best-point row for width $w in summary.md"
    [ "$(grep -c '^[0-9]' "$tmp/lt/heat/N${w}_H2.dat")" -eq 4 ] ||
      fail "lr_transfer.sh: heat/N${w}_H2.dat does not have 4 cells"
  done
  grep -q '^Optimum of the smallest panel (N 8, H 2)' "$s" || fail "lr_transfer.sh: no transfer line in summary.md"
  if [ "$have_gnuplot" = 1 ]; then
    is_png "$tmp/lt/heatmaps.png" || fail "lr_transfer.sh: heatmaps.png missing or not a PNG"
  fi
fi

# ---- lr_curves.sh: 2 widths, 2 depths (one net shared), 3 lrs x 2 activity lrs, 2 seeds ----
lc() {
  "$src/tools/lr_curves.sh" --data "$tmp/data" --widths "8 16" --width-depth 2 --depths "2 3" \
    --depth-width 8 --lrs "1e-2 1e-1 1" --activity-lrs "0.1 0.5" --lr 1e-1 --activity-lr 0.5 \
    --params "mupc sp" --seeds "0 1" --steps 12 --batch 32 --device "$dev" --out "$tmp/lc" "$@"
}
run lc --jobs 2
if [ "$rc" -ne 0 ]; then
  fail "lr_curves.sh exited $rc"
else
  s=$tmp/lc/summary.md
  # 3 nets x 2 params x (3 + 2 - 1) points x 2 seeds
  n=$(find "$tmp/lc/runs" -name "*.jsonl" | wc -l)
  [ "$n" -eq 48 ] || fail "lr_curves.sh: want 48 metrics files, got $n"
  grep -q '^## μPC: weight lr (activity lr 0.5) across widths, H = 2$' "$s" ||
    fail "lr_curves.sh: no μPC width panel in summary.md"
  grep -Eq '^\| 16 \| (1e-2|1e-1|1) \| (yes|no \(edge\)) \| [0-9.]+ \|' "$s" ||
    fail "lr_curves.sh: no best-point row for width 16 in summary.md"
  grep -q '^Optimum moves -\?[0-9]* grid point(s) (factor 2 each) from N = 8 to N = 16 (2x width)' "$s" ||
    fail "lr_curves.sh: no transfer line in summary.md"
  [ "$(grep -c '^[0-9]' "$tmp/lc/curves/mupc_alr_depth_3.dat")" -le 2 ] ||
    fail "lr_curves.sh: curves/mupc_alr_depth_3.dat has more points than the grid"
  if [ "$have_gnuplot" = 1 ]; then
    is_png "$tmp/lc/curves.png" || fail "lr_curves.sh: curves.png missing or not a PNG"
  fi
  run lc
  { [ "$rc" -eq 0 ] && grep -q "0 runs made, 48 finished before" "$tmp/out"; } ||
    fail "lr_curves.sh: a finished sweep run again made runs (exit $rc)"
fi

# ---- flag errors: exit 2, one line on stderr, nothing run ----
for args in "--depths 0" "--jobs x" "--sp-grid huge" "--sp-skips maybe" "--bogus" "--steps" "--algos nope" \
  "--algos jpc" "--algos jpc --jpc-python $tmp/nosuch" "--algos jpc --jpc-python /bin/false"; do
  # shellcheck disable=SC2086
  run "$src/tools/depth_sweep.sh" --out "$tmp/bad" $args
  { [ "$rc" -eq 2 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && [ ! -d "$tmp/bad" ]; } ||
    fail "depth_sweep.sh $args: want exit 2 and one stderr line, got exit $rc"
done
run "$src/tools/depth_sweep.sh" --out "$tmp/bad" --algos "mupc jpc"
grep -q -- '--algos jpc needs a Python with jpc: --jpc-python PATH or JPC_PYTHON (make one with ../shared/tools/jpc_venv.sh' "$err" ||
  fail "depth_sweep.sh --algos jpc without a jpc Python: no line saying how to get one"
for args in "--widths 0" "--lrs fast" "--last 0" "--bogus"; do
  # shellcheck disable=SC2086
  run "$src/tools/lr_transfer.sh" --out "$tmp/bad" $args
  { [ "$rc" -eq 2 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && [ ! -d "$tmp/bad" ]; } ||
    fail "lr_transfer.sh $args: want exit 2 and one stderr line, got exit $rc"
done
for args in "--params bp" "--seeds x" "--lr" "--widths 0" "--bogus"; do
  # shellcheck disable=SC2086
  run "$src/tools/lr_curves.sh" --out "$tmp/bad" $args
  { [ "$rc" -eq 2 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && [ ! -d "$tmp/bad" ]; } ||
    fail "lr_curves.sh $args: want exit 2 and one stderr line, got exit $rc"
done
run env MUPC="$tmp/nosuch" "$src/tools/depth_sweep.sh" --out "$tmp/bad"
{ [ "$rc" -eq 2 ] && grep -q 'nosuch' "$tmp/err"; } || fail "depth_sweep.sh with a missing MUPC binary: want exit 2"

finish "sweep tools"
