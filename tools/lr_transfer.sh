#!/usr/bin/env bash
# μPC's zero-shot learning-rate transfer (issue 5): the weight-lr x
# activity-lr grid at two widths and two depths, as heatmaps of the final
# training loss. `tools/lr_transfer.sh --help` explains the flags; MUPC picks
# the binary (default build/mupc).
set -euo pipefail
# All of it in one block: bash parses it whole before running it, so an edit
# to this file cannot change a sweep that is running.
{

tools=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$tools")
mupc=${MUPC:-$root/build/mupc}
table_py=$tools/sweep_table.py
prog=lr_transfer.sh
# shellcheck source=tools/sweep_lib.sh
. "$tools/sweep_lib.sh"

usage() {
  cat <<'EOF'
usage: tools/lr_transfer.sh [flags]

Trains μPC networks (--param mupc, skips, Adam on the weights, GD on the
activities, T = H inference steps) over a grid of weight lr x activity lr at
every width x depth, then writes
  OUT/runs/NAME.jsonl   every run's metrics (NAME.log, NAME.cmd, NAME.rc)
  OUT/summary.md        per panel the best (lr, activity lr) and its loss, how
                        good each panel is at the smallest panel's optimum,
                        and every grid point; wall time
  OUT/heatmaps.png      one heatmap of final training loss per width x depth
                        (log colour scale shared by all panels; the best cell
                        framed; x: diverged) (needs gnuplot; OUT/heatmaps.gp)
The final training loss is the mean train_loss of the last --last steps; a
run diverged when it stopped on NaN/inf or ended above its step-1 loss.
Finished runs are not run again, so an interrupted grid continues where it
stopped (the settings in OUT/config must then match).

flags:
  --widths "N..."         hidden widths (default "32 64")
  --depths "H..."         hidden layers, L = H + 1 (default "8 32")
  --lrs "X..."            weight lrs (default "1e-3 3e-3 1e-2 3e-2 1e-1 3e-1")
  --activity-lrs "X..."   activity lrs (default "0.05 0.1 0.2 0.5 1.0")
  --steps S               training steps per run (default 100)
  --last K                steps averaged for the final loss (default 10)
  --batch B               batch size (default 64)
  --infer-steps T         inference steps per batch (default: H, per depth)
  --seed S                seed (default 0)
  --act NAME              activation (default relu)
  --data DIR              data set directory, any format mupc train reads (default: its Fashion-MNIST)
  --device SPEC           OpenCL device (default: mupc's choice)
  --jobs N                runs at once (default 1)
  --out DIR               output directory (default out/lr_transfer)
  --report-only           only rewrite summary.md and heatmaps.png
  -h, --help              this text
EOF
}


widths="32 64"
depths="8 32"
lrs="1e-3 3e-3 1e-2 3e-2 1e-1 3e-1"
alrs="0.05 0.1 0.2 0.5 1.0"
steps=100
last=10
batch=64
infer=""
seed=0
act=relu
data=""
device=""
jobs=1
out=out/lr_transfer
report_only=0
argv=("$@")

while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --report-only) report_only=1; shift; continue ;;
    --widths|--depths|--lrs|--activity-lrs|--steps|--last|--batch|--infer-steps|--seed|--act|--data|\
    --device|--jobs|--out) [ $# -ge 2 ] || die "$1 needs a value" ;;
    *) die "unknown flag '$1' (see --help)" ;;
  esac
  v=$2
  case "$1" in
    --widths) widths=$v ;;
    --depths) depths=$v ;;
    --lrs) lrs=$v ;;
    --activity-lrs) alrs=$v ;;
    --steps) steps=$v ;;
    --last) last=$v ;;
    --batch) batch=$v ;;
    --infer-steps) infer=$v ;;
    --seed) seed=$v ;;
    --act) act=$v ;;
    --data) data=$v ;;
    --device) device=$v ;;
    --jobs) jobs=$v ;;
    --out) out=$v ;;
  esac
  shift 2
done

for x in widths depths lrs alrs; do [ -n "${!x// /}" ] || die "--${x/alrs/activity-lrs} is empty"; done
for n in $widths; do is_pos "$n" || die "--widths: '$n' is not a positive integer"; done
for h in $depths; do is_pos "$h" || die "--depths: '$h' is not a positive integer"; done
for x in $lrs $alrs; do is_num "$x" || die "'$x' is not a learning rate (a plain or 1e-3 style number)"; done
is_pos "$steps" || die "--steps must be a positive integer, not '$steps'"
is_pos "$last" || die "--last must be a positive integer, not '$last'"
is_pos "$batch" || die "--batch must be a positive integer, not '$batch'"
[ -z "$infer" ] || is_pos "$infer" || die "--infer-steps must be a positive integer, not '$infer'"
is_uint "$seed" || die "--seed must be a non-negative integer, not '$seed'"
is_pos "$jobs" || die "--jobs must be a positive integer, not '$jobs'"
[ -n "$out" ] || die "--out is empty"
[ -x "$mupc" ] || die "$mupc is not an executable (build it with ninja -C build, or set MUPC=path)"

runs=$out/runs
heat=$out/heat
mkdir -p "$runs" "$heat"
set -f  # the lists are split on blanks, never globbed
read -r -a width_list <<<"$widths"
read -r -a depth_list <<<"$depths"
read -r -a lr_list <<<"$lrs"
read -r -a alr_list <<<"$alrs"

config="batch=$batch steps=$steps infer=${infer:-H} act=$act data=${data:-default}"
sweep_settings "$config"

sweep_record_command

sweep_common_args

run_name() { echo "N${1}_H${2}_lr${3}_alr${4}_s$seed"; }

# run_one TAG N H LR ALR: one `mupc train`, its files under $runs.
run_one() {
  local tag=$1 n=$2 h=$3 lr=$4 alr=$5 name
  name=$(run_name "$n" "$h" "$lr" "$alr")
  local args=(train "${data_args[@]}" --depth $((h + 1)) --width "$n" --batch "$batch" --act "$act"
    --seed "$seed" --steps "$steps" --eval-every 0 "${dev_args[@]}"
    --algo pc --param mupc --lr "$lr" --activity-lr "$alr" --infer-steps "${infer:-$h}"
    --metrics "$runs/$name.jsonl" --quiet)
  sweep_exec "$tag" "$name" "${args[@]}"
}


sweep_trap

ran=0
skipped=0
failed=0
start=$SECONDS
if [ "$report_only" = 0 ]; then
  total=$(( ${#width_list[@]} * ${#depth_list[@]} * ${#lr_list[@]} * ${#alr_list[@]} ))
  echo "$prog: widths $widths x depths $depths x lr {$lrs} x activity lr {$alrs}: $total runs of $steps steps, batch $batch, seed $seed, jobs $jobs -> $out"
  i=0
  # the smallest networks first
  for h in "${depth_list[@]}"; do
    for n in "${width_list[@]}"; do
      for lr in "${lr_list[@]}"; do
        for alr in "${alr_list[@]}"; do
          i=$((i + 1))
          name=$(run_name "$n" "$h" "$lr" "$alr")
          if finished "$name"; then
            skipped=$((skipped + 1))
            echo "[$i/$total] $name: finished before, skipped"
            continue
          fi
          while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
          ran=$((ran + 1))
          run_one "$i/$total" "$n" "$h" "$lr" "$alr" &
        done
      done
    done
  done
  wait
  for h in "${depth_list[@]}"; do for n in "${width_list[@]}"; do
    for lr in "${lr_list[@]}"; do for alr in "${alr_list[@]}"; do
      case "$(cat "$runs/$(run_name "$n" "$h" "$lr" "$alr").rc" 2>/dev/null || echo 0)" in
        0|3) ;; *) failed=$((failed + 1)) ;;
      esac
    done; done
  done; done
  wall=$((SECONDS - start))
  sweep_walltime_add "$wall" "$ran" "$skipped"
fi

# ---- the summary ----
device_text=$("$mupc" devices --json "${dev_args[@]}" 2>/dev/null | python3 "$table_py" device 2>/dev/null || echo "unknown")
sweep_walltime_read
{
  echo "# μPC learning-rate transfer"
  echo
  echo "Command: \`$(cat "$out/command")\`"
  echo
  echo "μPC (\`--param mupc\`, skips, $act, Adam on the weights, GD on the activities), T = ${infer:-H} inference steps, batch $batch, $steps steps, data ${data:-/usr/share/datasets/fashion-mnist (Fashion-MNIST)}. Device: $device_text."
  echo
  python3 "$table_py" transfer "$runs" "$heat" "$widths" "$depths" "$lrs" "$alrs" "$seed" "$last"
  echo
  echo "Wall time: $(hms "$wall_total") over $invocations invocation(s) (see walltime: date, seconds, runs made, runs skipped)."
  echo
  echo "Figure: heatmaps.png."
} >"$out/summary.md.tmp"
mv "$out/summary.md.tmp" "$out/summary.md"

# ---- the heatmaps ----
if ! command -v gnuplot >/dev/null; then
  echo "$prog: gnuplot not found (apt-get install gnuplot-nox): $out/heatmaps.png not drawn" >&2
else
  term=$(sweep_png_term)
  read -r lo hi <"$heat/range"
  cols=${#width_list[@]}
  rows=${#depth_list[@]}
  nx=${#alr_list[@]}
  ny=${#lr_list[@]}
  xt=""; j=0; for a in "${alr_list[@]}"; do xt+="${xt:+, }'$a' $j"; j=$((j + 1)); done
  yt=""; i=0; for l in "${lr_list[@]}"; do yt+="${yt:+, }'$l' $i"; i=$((i + 1)); done
  {
    echo "set terminal $term size $((cols > 1 ? cols * 460 : 520)),$((rows * 400 + 70)) font 'sans,10'"
    echo "set encoding utf8"
    echo "set output '$out/heatmaps.png'"
    # shellcheck disable=SC2028 # \n is for gnuplot
    echo "set multiplot layout $rows,$cols title \"μPC final training loss (mean of the last $last steps)\\n$steps steps, batch $batch, seed $seed; framed: best; x: diverged\""
    echo "set xrange [-0.5:$nx - 0.5]; set yrange [-0.5:$ny - 0.5]"
    echo "set xtics ($xt) scale 0; set ytics ($yt) scale 0"
    echo "set xlabel 'activity lr'; set ylabel 'weight lr (Adam)'"
    # five labelled tics, evenly spaced on the log scale
    echo "set logscale cb; set cbrange [$lo:$hi]; set mcbtics 1"
    awk -v lo="$lo" -v hi="$hi" 'BEGIN { s = "set cbtics ("
      for (k = 0; k <= 4; k++) { v = lo * exp(log(hi / lo) * k / 4); s = s sprintf("%s\"%.3g\" %.6g", k ? ", " : "", v, v) }
      print s ")" }'
    echo "set palette defined (0 '#ffffcc', 0.35 '#fed976', 0.65 '#fd8d3c', 1 '#bd0026')"
    echo "set style fill solid 1.0 noborder"
    echo "unset key"
    for h in "${depth_list[@]}"; do
      for n in "${width_list[@]}"; do
        f=$heat/N${n}_H$h.dat
        d=$heat/N${n}_H$h.div
        echo "set title 'width N = $n, H = $h hidden layers (L = $((h + 1)))'"
        echo "plot '$f' using 1:2:(0.5):(0.5):3 with boxxyerror fc palette, \\"
        echo "  '$d' using 1:2:(0.5):(0.5) with boxxyerror fc rgb 'gray70', \\"
        echo "  '$d' using 1:2:('x') with labels font ',12', \\"
        echo "  '$f' using 1:2:(sprintf('%.3g', \$3)) with labels font ',9', \\"
        echo "  '$f' using 1:(\$5 > 0 ? \$2 : NaN):(0.47):(0.47) with boxxyerror fs empty border rgb 'black' lc rgb 'black' lw 3"
      done
    done
    echo "unset multiplot"
  } >"$out/heatmaps.gp"
  gnuplot "$out/heatmaps.gp" || { echo "$prog: gnuplot failed on $out/heatmaps.gp" >&2; exit 1; }
fi

echo "$prog: wrote $out/summary.md$([ -f "$out/heatmaps.png" ] && echo " and $out/heatmaps.png")"
if [ "$report_only" = 0 ]; then
  echo "$prog: wall time $(hms "$wall") ($ran runs made, $skipped finished before)"
fi
if [ "$failed" -gt 0 ]; then
  echo "$prog: $failed run(s) failed; see their .log files under $runs" >&2
  exit 1
fi
exit
}
