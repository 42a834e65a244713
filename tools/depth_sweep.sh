#!/usr/bin/env bash
# The μPC paper's depth experiment (DESIGN §4, issue 5): μPC, standard PC and
# backprop at several depths on Fashion-MNIST, on a CPU-sized budget; and, for
# comparison, μPC trained by jpc itself (tools/jpc_train.py).
# `tools/depth_sweep.sh --help` explains the flags; MUPC picks the binary
# (default build/mupc), JPC_PYTHON the Python with jpc.
set -euo pipefail
# All of it in one block: bash parses it whole before running it, so an edit
# to this file cannot change a sweep that is running.
{

tools=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$tools")
mupc=${MUPC:-$root/build/mupc}
table_py=$tools/sweep_table.py
prog=depth_sweep.sh
# shellcheck source=tools/sweep_lib.sh
. "$tools/sweep_lib.sh"

usage() {
  cat <<'EOF'
usage: tools/depth_sweep.sh [flags]

Trains μPC, standard PC and backprop (BP) networks at several depths with
`mupc train` (and, with --algos jpc, μPC networks with jpc itself), then writes
  OUT/runs/NAME.jsonl   every run's metrics (NAME.log its output, NAME.cmd its
                        command, NAME.rc its exit status)
  OUT/table.md          final test accuracy (%), mean ± std over seeds, per
                        algorithm and depth; the standard-PC grid; wall time
                        (every algorithm with runs in OUT/runs is shown, so
                        sweeps of different --algos can share an OUT)
  OUT/accuracy.png      test accuracy against training step, one panel per
                        depth, one curve per algorithm: the mean over seeds,
                        with a ± std band when there are several seeds
                        (needs gnuplot; OUT/accuracy.gp is the script)
Runs whose metrics already end with a final line (or that diverged) are not
run again, so an interrupted sweep continues where it stopped; flags that
change a run's result must then match the first invocation (OUT/config);
--algos may differ.

The algorithms (each at depth L = H + 1, ReLU, T = H inference steps):
  μPC          --param mupc, skips, Adam lr 0.1, activity lr 0.5 (GD)
  BP           --algo bp on the same μPC network (scalings, skips, init),
               Adam lr 1e-2
  standard PC  --param sp, no skips (see --sp-skips), Adam; the grid of weight
               lr x activity lr is run on the first seed and its best point
               (final test accuracy; ties: lower test loss) on the others
               (see --sp-select)
  jpc          μPC as above, trained by jpc (the authors' JAX library) with
               tools/jpc_train.py: jpc's own network and initialisation, same
               lrs, T, batch and length; its data order is NumPy's. Needs
               --jpc-python; not run by default

flags:
  --depths "H..."         hidden layers (default "8 16 32 64 128")
  --seeds "S..."          seeds (default "0 1 2")
  --width N               hidden width (default 64)
  --batch B               batch size (default 64)
  --steps S               training steps per run (default 300), or
  --epochs E              E full epochs per run instead
  --infer-steps T         inference steps per batch (default: H, per depth)
  --eval-every K          test-set evaluation every K steps (default: about
                          15 points per curve)
  --act NAME              activation (default relu; the paper's activity lr is
                          0.5 for ReLU and 1 for linear and tanh)
  --data DIR              data set directory, any format mupc train reads (default: its Fashion-MNIST)
  --algos "A..."          any of mupc sp bp jpc (default "mupc sp bp")
  --jpc-python PATH       a Python with jax and jpc, for jpc (default
                          $JPC_PYTHON; make one with ../shared/tools/jpc_venv.sh)
  --mupc-lr X             μPC weight lr (default 0.1)
  --mupc-activity-lr X    μPC activity lr (default 0.5)
  --bp-lr X               BP lr (default 1e-2)
  --sp-lrs "X..."         standard-PC weight lrs (default "1e-3 1e-2 1e-1")
  --sp-activity-lrs "X.." standard-PC activity lrs (default "0.5 0.1 0.05")
  --sp-grid full|quick    quick: weight lrs "1e-3 1e-2 1e-1" x activity lr
                          "0.1" only (3 points); full: the two lists above
  --sp-skips on|off       residual skips for standard PC (default off)
  --sp-select first|mean  first: the grid on the first seed, its best point on
                          the others (default); mean: the grid on every seed,
                          best by mean accuracy
  --device SPEC           OpenCL device (default: mupc's choice)
  --jobs N                runs at once (default 1)
  --out DIR               output directory (default out/depth_sweep)
  --report-only           only rewrite table.md and accuracy.png from OUT/runs
  -h, --help              this text

examples:
  tools/depth_sweep.sh                                  # the issue's sweep
  tools/depth_sweep.sh --depths "8 16 32" --seeds 0     # a reduced one
  tools/depth_sweep.sh --width 512 --epochs 1 --device gpu --out out/paper
  tools/depth_sweep.sh --algos jpc --jpc-python ~/jpcvenv/bin/python  # jpc's μPC
                                                        # next to an earlier sweep
EOF
}


depths="8 16 32 64 128"
seeds="0 1 2"
width=64
batch=64
steps=300
epochs=""
infer=""
eval_every=""
act=relu
data=""
algos="mupc sp bp"
mupc_lr=0.1
mupc_alr=0.5
bp_lr=1e-2
sp_lrs="1e-3 1e-2 1e-1"
sp_alrs="0.5 0.1 0.05"
sp_skips=off
sp_select=first
device=""
jpc_python=${JPC_PYTHON:-}
jobs=1
out=out/depth_sweep
report_only=0
argv=("$@")

need() { [ $# -ge 2 ] || die "$1 needs a value"; }
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --report-only) report_only=1; shift; continue ;;
    --depths|--seeds|--width|--batch|--steps|--epochs|--infer-steps|--eval-every|--act|--data|--algos|\
    --mupc-lr|--mupc-activity-lr|--bp-lr|--sp-lrs|--sp-activity-lrs|--sp-grid|--sp-skips|--sp-select|\
    --device|--jobs|--out|--jpc-python) need "$@" ;;
    *) die "unknown flag '$1' (see --help)" ;;
  esac
  v=$2
  case "$1" in
    --depths) depths=$v ;;
    --seeds) seeds=$v ;;
    --width) width=$v ;;
    --batch) batch=$v ;;
    --steps) steps=$v; epochs="" ;;
    --epochs) epochs=$v ;;
    --infer-steps) infer=$v ;;
    --eval-every) eval_every=$v ;;
    --act) act=$v ;;
    --data) data=$v ;;
    --algos) algos=$v ;;
    --mupc-lr) mupc_lr=$v ;;
    --mupc-activity-lr) mupc_alr=$v ;;
    --bp-lr) bp_lr=$v ;;
    --sp-lrs) sp_lrs=$v ;;
    --sp-activity-lrs) sp_alrs=$v ;;
    --sp-grid)
      case "$v" in
        full) ;;
        quick) sp_lrs="1e-3 1e-2 1e-1"; sp_alrs="0.1" ;;
        *) die "--sp-grid must be full or quick, not '$v'" ;;
      esac ;;
    --sp-skips) [[ $v == on || $v == off ]] || die "--sp-skips must be on or off, not '$v'"; sp_skips=$v ;;
    --sp-select) [[ $v == first || $v == mean ]] || die "--sp-select must be first or mean, not '$v'"; sp_select=$v ;;
    --device) device=$v ;;
    --jpc-python) jpc_python=$v ;;
    --jobs) jobs=$v ;;
    --out) out=$v ;;
  esac
  shift 2
done

for h in $depths; do is_pos "$h" || die "--depths: '$h' is not a positive integer"; done
for s in $seeds; do is_uint "$s" || die "--seeds: '$s' is not a non-negative integer"; done
[ -n "${depths// /}" ] || die "--depths is empty"
[ -n "${seeds// /}" ] || die "--seeds is empty"
is_pos "$width" || die "--width must be a positive integer, not '$width'"
is_pos "$batch" || die "--batch must be a positive integer, not '$batch'"
is_pos "$steps" || die "--steps must be a positive integer, not '$steps'"
[ -z "$epochs" ] || is_pos "$epochs" || die "--epochs must be a positive integer, not '$epochs'"
[ -z "$infer" ] || is_pos "$infer" || die "--infer-steps must be a positive integer, not '$infer'"
[ -z "$eval_every" ] || is_pos "$eval_every" || die "--eval-every must be a positive integer, not '$eval_every'"
is_pos "$jobs" || die "--jobs must be a positive integer, not '$jobs'"
for x in "$mupc_lr" "$mupc_alr" "$bp_lr" $sp_lrs $sp_alrs; do
  is_num "$x" || die "'$x' is not a learning rate (a plain or 1e-3 style number)"
done
[ -n "${sp_lrs// /}" ] || die "--sp-lrs is empty"
[ -n "${sp_alrs// /}" ] || die "--sp-activity-lrs is empty"
for a in $algos; do
  case "$a" in mupc|sp|bp|jpc) ;; *) die "--algos: '$a' is not one of mupc sp bp jpc" ;; esac
done
[ -n "$out" ] || die "--out is empty"
has() { [[ " $algos " == *" $1 "* ]]; }
if has mupc || has sp || has bp; then
  [ -x "$mupc" ] || die "$mupc is not an executable (build it with ninja -C build, or set MUPC=path)"
fi
jpc_venv_hint="make one with ../shared/tools/jpc_venv.sh JPC_SOURCE VENV, JPC_SOURCE a copy of github.com/thebuckleylab/jpc"
if has jpc && [ "$report_only" = 0 ]; then
  [ -n "$jpc_python" ] || die "--algos jpc needs a Python with jpc: --jpc-python PATH or JPC_PYTHON ($jpc_venv_hint)"
  "$jpc_python" -c 'import numpy, jax, equinox, optax, jpc' >/dev/null 2>&1 ||
    die "--jpc-python $jpc_python: not a Python that imports numpy, jax, equinox, optax and jpc ($jpc_venv_hint)"
fi

runs=$out/runs
curves=$out/curves
mkdir -p "$runs" "$curves"
set -f  # the lists below are split on blanks, never globbed
read -r -a depth_list <<<"$depths"
read -r -a seed_list <<<"$seeds"
if [ "$sp_select" = first ]; then select_seeds=${seed_list[0]}; else select_seeds=$seeds; fi

# Steps per run, for --eval-every's default and the figure's x range.
if [ -n "$epochs" ]; then
  n_train=$(python3 "$table_py" count "${data:-/usr/share/datasets/fashion-mnist}") ||
    die "cannot count the training samples for --epochs"
  # each epoch drops its last partial batch
  # shellcheck disable=SC2017
  total_steps=$(( n_train / batch * epochs ))
  [ "$total_steps" -gt 0 ] || die "--batch $batch is larger than the training set ($n_train)"
  length_args=(--epochs "$epochs")
  length_text="$epochs epoch(s) ($total_steps steps)"
else
  total_steps=$steps
  length_args=(--steps "$steps")
  length_text="$steps steps"
fi
[ -n "$eval_every" ] || eval_every=$(( (total_steps + 14) / 15 ))

# Settings that change a run's result; a resumed sweep must keep them.
config="width=$width batch=$batch length=${length_args[*]} infer=${infer:-H} eval_every=$eval_every act=$act
data=${data:-default} mupc_lr=$mupc_lr mupc_alr=$mupc_alr bp_lr=$bp_lr sp_skips=$sp_skips"
sweep_settings "$config"

# OUT/commands: every distinct command that ran runs here (sweeps of other
# --algos may share OUT), the first one taken over from OUT/command.
[ -f "$out/commands" ] || [ ! -f "$out/command" ] || cp "$out/command" "$out/commands"
sweep_record_command
if [ "$report_only" = 0 ] && ! grep -qxF -- "$(cat "$out/command")" "$out/commands" 2>/dev/null; then
  cat "$out/command" >>"$out/commands"
fi

sweep_common_args

# run_one TAG ALGO H SEED [LR ALR]: one `mupc train`, its files under $runs.
run_one() {
  local tag=$1 algo=$2 h=$3 seed=$4 lr=${5:-} alr=${6:-} name
  local t=${infer:-$h}
  local args=(train "${data_args[@]}" --depth $((h + 1)) --width "$width" --batch "$batch" --act "$act"
    --seed "$seed" "${length_args[@]}" --eval-every "$eval_every" "${dev_args[@]}")
  case "$algo" in
    mupc) name=mupc_H${h}_s$seed
      args+=(--algo pc --param mupc --lr "$mupc_lr" --activity-lr "$mupc_alr" --infer-steps "$t") ;;
    jpc) name=jpc_H${h}_s$seed
      # tools/jpc_train.py takes mupc train's flags, less --device and --algo;
      # without --quiet its log shows the JAX device and the evaluations.
      local sweep_prog=$jpc_python
      args=("$tools/jpc_train.py" "${data_args[@]}" --depth $((h + 1)) --width "$width" --batch "$batch"
        --act "$act" --seed "$seed" "${length_args[@]}" --eval-every "$eval_every" --param mupc
        --lr "$mupc_lr" --activity-lr "$mupc_alr" --infer-steps "$t" --metrics "$runs/$name.jsonl")
      sweep_exec "$tag" "$name" "${args[@]}"
      return ;;
    bp) name=bp_H${h}_s$seed
      args+=(--algo bp --param mupc --lr "$bp_lr") ;;
    sp) name=sp_H${h}_lr${lr}_alr${alr}_s$seed
      args+=(--algo pc --param sp --lr "$lr" --activity-lr "$alr" --infer-steps "$t")
      [ "$sp_skips" = on ] || args+=(--no-skips) ;;
  esac
  args+=(--metrics "$runs/$name.jsonl" --quiet)
  sweep_exec "$tag" "$name" "${args[@]}"
}

run_name() {
  case "$1" in
    mupc|bp|jpc) echo "${1}_H${2}_s$3" ;;
    sp) echo "sp_H${2}_lr${4}_alr${5}_s$3" ;;
  esac
}


ran=0
skipped=0
failed=0
# run_queue "ALGO H SEED [LR ALR]"...: runs them, --jobs at a time.
run_queue() {
  local total=$# i=0 spec name
  for spec in "$@"; do
    i=$((i + 1))
    # shellcheck disable=SC2086
    name=$(run_name $spec)
    if finished "$name"; then
      skipped=$((skipped + 1))
      echo "[$i/$total] $name: finished before, skipped"
      continue
    fi
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
    ran=$((ran + 1))
    # shellcheck disable=SC2086
    run_one "$i/$total" $spec &
  done
  wait
  for spec in "$@"; do
    # shellcheck disable=SC2086
    name=$(run_name $spec)
    case "$(cat "$runs/$name.rc" 2>/dev/null || echo 0)" in 0|3) ;; *) failed=$((failed + 1)) ;; esac
  done
}

sweep_trap

start=$SECONDS
if [ "$report_only" = 0 ]; then
  echo "$prog: ${#depth_list[@]} depth(s) ($depths), seeds $seeds, width $width, batch $batch, $length_text, jobs $jobs -> $out"
  has sp && echo "$prog: standard PC: --param sp, skips $sp_skips, grid lr {$sp_lrs} x activity lr {$sp_alrs}, selected on seed(s) $select_seeds"
  # Phase 1: μPC and BP on every seed, the standard-PC grid on the
  # selection seed(s); shallow depths first, so partial results come early.
  queue=()
  for h in "${depth_list[@]}"; do
    if has mupc; then for s in "${seed_list[@]}"; do queue+=("mupc $h $s"); done; fi
    if has jpc; then for s in "${seed_list[@]}"; do queue+=("jpc $h $s"); done; fi
    if has bp; then for s in "${seed_list[@]}"; do queue+=("bp $h $s"); done; fi
    if has sp; then
      for s in $select_seeds; do
        for lr in $sp_lrs; do for alr in $sp_alrs; do queue+=("sp $h $s $lr $alr"); done; done
      done
    fi
  done
  [ ${#queue[@]} -eq 0 ] || run_queue "${queue[@]}"
  # Phase 2: the best standard-PC point on the other seeds.
  queue=()
  if has sp && [ "$sp_select" = first ]; then
    for h in "${depth_list[@]}"; do
      best=$(python3 "$table_py" sp-best "$runs" "$h" "$sp_lrs" "$sp_alrs" "$select_seeds")
      if [ "$best" = none ]; then
        echo "$prog: standard PC at H=$h: no grid point finished without diverging; no other seeds"
        continue
      fi
      read -r lr alr <<<"$best"
      echo "$prog: standard PC at H=$h: best grid point lr $lr, activity lr $alr"
      for s in "${seed_list[@]:1}"; do queue+=("sp $h $s $lr $alr"); done
    done
  fi
  [ ${#queue[@]} -eq 0 ] || run_queue "${queue[@]}"
  wall=$((SECONDS - start))
  sweep_walltime_add "$wall" "$ran" "$skipped"
fi

# ---- the table ----
# Every algorithm with runs here is shown, whichever --algos made them.
shown=$(python3 "$table_py" algos "$runs" "$algos" "$depths")
shows() { [[ " $shown " == *" $1 "* ]]; }
device_text=$("$mupc" devices --json "${dev_args[@]}" 2>/dev/null | python3 "$table_py" device 2>/dev/null || echo "unknown")
sweep_walltime_read
skips_text="no skips"
[ "$sp_skips" = off ] || skips_text="skips"
if [ "$sp_select" = first ]; then
  select_text="its grid ran on seed ${seed_list[0]} and its best point (final test accuracy; ties: lower test loss) on the other seeds"
else
  select_text="its grid ran on every seed and the point with the best mean final test accuracy is shown"
fi
{
  title_parts=()
  for spec in "mupc:μPC" "jpc:jpc's μPC" "sp:standard PC" "bp:BP"; do shows "${spec%%:*}" && title_parts+=("${spec#*:}"); done
  title_text=""
  for i in "${!title_parts[@]}"; do
    if [ "$i" -eq 0 ]; then title_text=${title_parts[i]}
    elif [ "$i" -eq $((${#title_parts[@]} - 1)) ]; then title_text+=" and ${title_parts[i]}"
    else title_text+=", ${title_parts[i]}"; fi
  done
  echo "# Depth sweep${title_text:+: $title_text}"
  echo
  if [ -f "$out/commands" ] && [ "$(wc -l <"$out/commands")" -gt 1 ]; then
    echo "Commands (each invocation that ran runs here):"
    echo
    while IFS= read -r c; do echo "- \`$c\`"; done <"$out/commands"
  else
    echo "Command: \`$(cat "$out/command")\`"
  fi
  echo
  echo "Data: ${data:-/usr/share/datasets/fashion-mnist (Fashion-MNIST)}. Network: L = H + 1 weight matrices, width $width, $act; batch $batch, $length_text, T = ${infer:-H} inference steps, test-set evaluation every $eval_every steps. Device: $device_text."
  echo
  shows mupc && echo "- μPC: \`--param mupc\`, skips, Adam lr $mupc_lr, activity lr $mupc_alr (GD)."
  shows jpc && echo "- jpc (μPC): the same training by jpc, the authors' JAX library (tools/jpc_train.py): its own μPC network and initialisation (\`jpc.make_mlp(param_type=\"mupc\")\`, \`jpc.make_skip_model\`, \`PRNGKey(seed)\`), Adam lr $mupc_lr, activity lr $mupc_alr (GD), on JAX's device (each run's .log names it); the same data, but NumPy's shuffle, so other batches than mupc's."
  shows bp && echo "- BP: \`--algo bp\` on the same μPC network (scalings, skips, init), Adam lr $bp_lr."
  shows sp && echo "- standard PC: \`--param sp\`, $skips_text, Adam; grid weight lr {$sp_lrs} × activity lr {$sp_alrs}; $select_text."
  echo
  if [ ${#seed_list[@]} -gt 1 ]; then seeds_text="mean ± std over seeds $seeds"; else seeds_text="seed $seeds"; fi
  echo "Final test accuracy (%) on the whole test set, $seeds_text:"
  echo
  python3 "$table_py" depth "$runs" "$curves" "$shown" "$depths" "$seeds" "$sp_lrs" "$sp_alrs" "$select_seeds"
  echo
  echo "Wall time: $(hms "$wall_total") over $invocations invocation(s) of the sweep (see walltime: date, seconds, runs made, runs skipped)."
  echo
  echo "Figure: accuracy.png, test accuracy against training step, $([ ${#seed_list[@]} -gt 1 ] && echo "the mean over seeds $seeds with a ± std band" || echo "seed $seeds")."
} >"$out/table.md.tmp"
mv "$out/table.md.tmp" "$out/table.md"

# ---- the figure ----
if ! command -v gnuplot >/dev/null; then
  echo "$prog: gnuplot not found (apt-get install gnuplot-nox): $out/accuracy.png not drawn" >&2
else
  term=$(sweep_png_term)
  n=${#depth_list[@]}
  cols=$(( n < 3 ? n : 3 ))
  rows=$(( (n + cols - 1) / cols ))
  has_data() { grep -q '^[0-9]' "$1" 2>/dev/null; }
  band=0
  [ ${#seed_list[@]} -le 1 ] || band=1
  {
    echo "set terminal $term size $((cols > 1 ? cols * 420 : 480)),$((rows * 370 + 60)) font 'sans,10'"
    echo "set encoding utf8"
    echo "set output '$out/accuracy.png'"
    # shellcheck disable=SC2028 # \n is for gnuplot
    echo "set multiplot layout $rows,$cols title \"Test accuracy, width $width, batch $batch, $length_text\\n$([ ${#seed_list[@]} -gt 1 ] && echo "mean over seeds $seeds" || echo "seed $seeds")\""
    echo "set xrange [0:$total_steps]; set yrange [0:100]"
    echo "set xlabel 'training step'; set ylabel 'test accuracy (%)'"
    echo "set key below horizontal maxrows 2 width 1 samplen 2 font ',9'"
    echo "set grid"
    for h in "${depth_list[@]}"; do
      title="H = $h hidden layers (L = $((h + 1)))"
      if shows sp; then
        best=$(python3 "$table_py" sp-best "$runs" "$h" "$sp_lrs" "$sp_alrs" "$select_seeds")
        [ "$best" = none ] || title+="\\nstandard PC: lr ${best% *}, activity lr ${best#* }"
      fi
      echo "set title \"$title\""
      plot=()
      for spec in "mupc:μPC:#1f77b4" "jpc:jpc (μPC):#ff7f0e" "sp:standard PC:#d62728" "bp:BP:#2ca02c"; do
        algo=${spec%%:*}; rest=${spec#*:}; label=${rest%%:*}; color=${rest#*:}
        shows "$algo" || continue
        f=$curves/H${h}_$algo.dat
        if has_data "$f"; then
          [ "$band" = 0 ] || plot+=("'$f' using 1:(\$2-\$3):(\$2+\$3) with filledcurves fs transparent solid 0.2 noborder lc rgb '$color' notitle")
          plot+=("'$f' using 1:2 with linespoints pt 7 ps 0.5 lw 2 lc rgb '$color' title '$label'")
        else
          plot+=("NaN with lines lw 2 lc rgb '$color' title '$label (none)'")
        fi
      done
      plot+=("10 with lines dt 2 lc rgb 'gray40' title 'chance'")
      (IFS=,; echo "plot ${plot[*]}")
    done
    echo "unset multiplot"
  } >"$out/accuracy.gp"
  gnuplot "$out/accuracy.gp" || { echo "$prog: gnuplot failed on $out/accuracy.gp" >&2; exit 1; }
fi

echo "$prog: wrote $out/table.md$([ -f "$out/accuracy.png" ] && echo " and $out/accuracy.png")"
if [ "$report_only" = 0 ]; then
  echo "$prog: wall time $(hms "$wall") ($ran runs made, $skipped finished before)"
fi
if [ "$failed" -gt 0 ]; then
  echo "$prog: $failed run(s) failed; see their .log files under $runs" >&2
  exit 1
fi
exit
}
