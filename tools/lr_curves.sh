#!/usr/bin/env bash
# Learning-rate transfer as curves (issue 24): the final training loss
# against the weight lr and against the activity lr, one curve per width
# and one per depth, μPC beside standard parameterisation (SP), means over
# seeds. `tools/lr_curves.sh --help` explains the flags; MUPC picks the
# binary (default build/mupc).
set -euo pipefail
# All of it in one block: bash parses it whole before running it, so an edit
# to this file cannot change a sweep that is running.
{

tools=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$tools")
mupc=${MUPC:-$root/build/mupc}
table_py=$tools/sweep_table.py
prog=lr_curves.sh
# shellcheck source=tools/sweep_lib.sh
. "$tools/sweep_lib.sh"

usage() {
  cat <<'EOF'
usage: tools/lr_curves.sh [flags]

Sweeps one learning rate at a time with the other fixed: the weight lr (Adam)
at the default activity lr, and the activity lr (GD) at the default weight lr,
for networks of every width at --width-depth hidden layers and of every depth
at --depth-width, under each parameterisation of --params:
  mupc   --param mupc, skips (μPC: Depth-μP scalings)
  sp     --param sp --no-skips (standard PC: no width or depth scaling)
T = H inference steps. Writes
  OUT/runs/NAME.jsonl   every run's metrics (NAME.log, NAME.cmd, NAME.rc)
  OUT/summary.md        per panel and curve the best lr (mean over seeds) and
                        whether it lies strictly inside the grid; how many grid
                        points the optimum moves from the smallest network to
                        the largest; the loss at every point (mean ± std)
  OUT/curves.png        loss against lr: rows μPC and SP, columns weight lr
                        across widths, weight lr across depths, activity lr
                        across widths, activity lr across depths (needs
                        gnuplot; OUT/curves.gp and OUT/curves/*.dat)
The final training loss is the mean train_loss of the last --last steps; a
run diverged when it stopped on NaN/inf or ended above its step-1 loss, and a
point counts only when every seed converged. Finished runs are not run again
(the settings in OUT/config must then match).

flags:
  --widths "N..."           widths of the width panels (default "32 64 128 256 512")
  --width-depth H           their hidden layers (default 8)
  --depths "H..."           hidden layers of the depth panels (default "8 16 32 64 128")
  --depth-width N           their width (default 64)
  --lrs "X..."              weight lrs (default: factor 2 from 2^-9 to 2)
  --activity-lrs "X..."     activity lrs (default: factor 2 from 2^-5 to 4)
  --lr X                    the weight lr of the activity-lr sweeps (default 0.125)
  --activity-lr X           the activity lr of the weight-lr sweeps (default 0.5)
  --params "P..."           any of mupc sp (default "mupc sp")
  --seeds "S..."            seeds (default "0 1 2")
  --steps S                 training steps per run (default 100)
  --last K                  steps averaged for the final loss (default 10)
  --batch B                 batch size (default 64)
  --act NAME                activation (default relu)
  --data DIR                data set directory (default: mupc train's Fashion-MNIST)
  --device SPEC             OpenCL device (default: mupc's choice)
  --jobs N                  runs at once (default 1)
  --out DIR                 output directory (default out/lr_curves)
  --report-only             only rewrite summary.md and curves.png
  -h, --help                this text
EOF
}

widths="32 64 128 256 512"
wdepth=8
depths="8 16 32 64 128"
dwidth=64
lrs="0.001953125 0.00390625 0.0078125 0.015625 0.03125 0.0625 0.125 0.25 0.5 1 2"
alrs="0.03125 0.0625 0.125 0.25 0.5 1 2 4"
fixed_lr=0.125
fixed_alr=0.5
params="mupc sp"
seeds="0 1 2"
steps=100
last=10
batch=64
act=relu
data=""
device=""
jobs=1
out=out/lr_curves
report_only=0
argv=("$@")

while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --report-only) report_only=1; shift; continue ;;
    --widths|--width-depth|--depths|--depth-width|--lrs|--activity-lrs|--lr|--activity-lr|--params|\
    --seeds|--steps|--last|--batch|--act|--data|--device|--jobs|--out)
      [ $# -ge 2 ] || die "$1 needs a value" ;;
    *) die "unknown flag '$1' (see --help)" ;;
  esac
  v=$2
  case "$1" in
    --widths) widths=$v ;;
    --width-depth) wdepth=$v ;;
    --depths) depths=$v ;;
    --depth-width) dwidth=$v ;;
    --lrs) lrs=$v ;;
    --activity-lrs) alrs=$v ;;
    --lr) fixed_lr=$v ;;
    --activity-lr) fixed_alr=$v ;;
    --params) params=$v ;;
    --seeds) seeds=$v ;;
    --steps) steps=$v ;;
    --last) last=$v ;;
    --batch) batch=$v ;;
    --act) act=$v ;;
    --data) data=$v ;;
    --device) device=$v ;;
    --jobs) jobs=$v ;;
    --out) out=$v ;;
  esac
  shift 2
done

for x in widths depths lrs alrs params seeds; do
  [ -n "${!x// /}" ] || die "--${x/alrs/activity-lrs} is empty"
done
for n in $widths $dwidth; do is_pos "$n" || die "'$n' is not a width (a positive integer)"; done
for h in $depths $wdepth; do is_pos "$h" || die "'$h' is not a depth (a positive integer)"; done
for x in $lrs $alrs $fixed_lr $fixed_alr; do
  is_num "$x" || die "'$x' is not a learning rate (a plain or 1e-3 style number)"
done
for p in $params; do case "$p" in mupc|sp) ;; *) die "--params: '$p' is not one of mupc sp" ;; esac; done
for s in $seeds; do is_uint "$s" || die "--seeds: '$s' is not a non-negative integer"; done
is_pos "$steps" || die "--steps must be a positive integer, not '$steps'"
is_pos "$last" || die "--last must be a positive integer, not '$last'"
is_pos "$batch" || die "--batch must be a positive integer, not '$batch'"
is_pos "$jobs" || die "--jobs must be a positive integer, not '$jobs'"
[ -n "$out" ] || die "--out is empty"
[ -x "$mupc" ] || die "$mupc is not an executable (build it with ninja -C build, or set MUPC=path)"

runs=$out/runs
mkdir -p "$runs" "$out/curves"
set -f  # the lists are split on blanks, never globbed

config="batch=$batch steps=$steps act=$act data=${data:-default}"
sweep_settings "$config"
sweep_record_command
sweep_common_args

run_name() { echo "${1}_N${2}_H${3}_lr${4}_alr${5}_s${6}"; }

# The networks: every width at wdepth, every depth at dwidth (once each).
nets=()
for n in $widths; do nets+=("$n $wdepth"); done
for h in $depths; do
  case " ${nets[*]} " in *" $dwidth $h "*) ;; *) nets+=("$dwidth $h") ;; esac
done
# The (lr, activity lr) points of each network: the two sweeps, their
# common point once.
points=()
for lr in $lrs; do points+=("$lr $fixed_alr"); done
for alr in $alrs; do
  case " ${points[*]} " in *" $fixed_lr $alr "*) ;; *) points+=("$fixed_lr $alr") ;; esac
done

# run_one TAG PARAM N H LR ALR SEED
run_one() {
  local tag=$1 param=$2 n=$3 h=$4 lr=$5 alr=$6 seed=$7 name pargs
  name=$(run_name "$param" "$n" "$h" "$lr" "$alr" "$seed")
  if [ "$param" = sp ]; then pargs=(--param sp --no-skips); else pargs=(--param mupc); fi
  local args=(train "${data_args[@]}" --depth $((h + 1)) --width "$n" --batch "$batch" --act "$act"
    --seed "$seed" --steps "$steps" --eval-every 0 "${dev_args[@]}" --algo pc "${pargs[@]}"
    --lr "$lr" --activity-lr "$alr" --infer-steps "$h" --metrics "$runs/$name.jsonl" --quiet)
  sweep_exec "$tag" "$name" "${args[@]}"
}

sweep_trap

ran=0
skipped=0
failed=0
start=$SECONDS
if [ "$report_only" = 0 ]; then
  read -r -a seed_list <<<"$seeds"
  read -r -a param_list <<<"$params"
  total=$(( ${#param_list[@]} * ${#nets[@]} * ${#points[@]} * ${#seed_list[@]} ))
  echo "$prog: ${#nets[@]} networks x ${#points[@]} lr points x params {$params} x seeds {$seeds}: $total runs of $steps steps, jobs $jobs -> $out"
  i=0
  for seed in "${seed_list[@]}"; do # every point on one seed before the next seed
    for net in "${nets[@]}"; do
      read -r n h <<<"$net"
      for param in "${param_list[@]}"; do
        for pt in "${points[@]}"; do
          read -r lr alr <<<"$pt"
          i=$((i + 1))
          name=$(run_name "$param" "$n" "$h" "$lr" "$alr" "$seed")
          if finished "$name"; then skipped=$((skipped + 1)); continue; fi
          while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
          ran=$((ran + 1))
          run_one "$i/$total" "$param" "$n" "$h" "$lr" "$alr" "$seed" &
        done
      done
    done
  done
  wait
  for f in "$runs"/*.rc; do
    [ -e "$f" ] || continue
    case "$(cat "$f")" in 0|3) ;; *) failed=$((failed + 1)) ;; esac
  done
  sweep_walltime_add $((SECONDS - start)) "$ran" "$skipped"
fi

# ---- the summary ----
device_text=$("$mupc" devices --json "${dev_args[@]}" 2>/dev/null | python3 "$table_py" device 2>/dev/null || echo "unknown")
sweep_walltime_read
{
  echo "# Learning-rate transfer: loss against lr"
  echo
  echo "Command: \`$(cat "$out/command")\`"
  echo
  echo "PC on $act networks, Adam on the weights, GD on the activities, T = H inference steps, batch $batch, $steps steps, seeds $seeds; weight-lr sweeps at activity lr $fixed_alr, activity-lr sweeps at weight lr $fixed_lr. Data ${data:-/usr/share/datasets/fashion-mnist (Fashion-MNIST)}. Device: $device_text."
  echo
  python3 "$table_py" curves "$runs" "$out/curves" "$params" "$widths" "$wdepth" "$depths" "$dwidth" \
    "$lrs" "$alrs" "$fixed_lr" "$fixed_alr" "$seeds" "$last"
  echo
  echo "Wall time: $(hms "$wall_total") over $invocations invocation(s) (see walltime)."
  echo
  echo "Figure: curves.png."
} >"$out/summary.md.tmp"
mv "$out/summary.md.tmp" "$out/summary.md"

# ---- the figure ----
if ! command -v gnuplot >/dev/null; then
  echo "$prog: gnuplot not found (apt-get install gnuplot-nox): $out/curves.png not drawn" >&2
else
  term=$(sweep_png_term)
  read -r -a param_list <<<"$params"
  rows=${#param_list[@]}
  {
    echo "set terminal $term size 1840,$((rows * 420 + 60)) font 'sans,10'"
    echo "set encoding utf8"
    echo "set output '$out/curves.png'"
    echo "set multiplot layout $rows,4 title \"final training loss (mean of the last $last steps, mean ± std over seeds $seeds), $steps steps, batch $batch\""
    echo "set logscale xy; set format x '%g'; set grid; set key top left font ',8'"
    echo "set ylabel 'training loss'"
    for param in "${param_list[@]}"; do
      label=$([ "$param" = mupc ] && echo "μPC" || echo "SP (no skips)")
      for panel in lr:width lr:depth alr:width alr:depth; do
        what=${panel%%:*} across=${panel##*:}
        if [ "$what" = lr ]; then echo "set xlabel 'weight lr (Adam), activity lr $fixed_alr'";
        else echo "set xlabel 'activity lr (GD), weight lr $fixed_lr'"; fi
        if [ "$across" = width ]; then
          echo "set title '$label: across widths, H = $wdepth'"; list=$widths; key=N
        else
          echo "set title '$label: across depths, N = $dwidth'"; list=$depths; key=H
        fi
        plot=""
        for v in $list; do
          f=$out/curves/${param}_${what}_${across}_$v.dat
          plot+="${plot:+, }'$f' using 1:2:3 with yerrorlines title '$key = $v'"
        done
        echo "plot $plot"
      done
    done
    echo "unset multiplot"
  } >"$out/curves.gp"
  gnuplot "$out/curves.gp" || { echo "$prog: gnuplot failed on $out/curves.gp" >&2; exit 1; }
fi

echo "$prog: wrote $out/summary.md$([ -f "$out/curves.png" ] && echo " and $out/curves.png")"
[ "$report_only" = 1 ] || echo "$prog: $ran runs made, $skipped finished before"
if [ "$failed" -gt 0 ]; then
  echo "$prog: $failed run(s) failed (see $runs/*.log)" >&2
  exit 1
fi
exit 0
}
