#!/usr/bin/env bash
# Runs `mupc bench` on the fixed set of configurations and prints a markdown
# table for the README, with the NumPy float32 baseline on the jpc example.
#
#   tools/bench_table.sh [--device SPEC] [--steps S] [extra mupc bench flags]
#
# MUPC (default build/mupc) is the binary to run. Needs python3-numpy for
# the baseline column (left out when NumPy is missing).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mupc=${MUPC:-build/mupc}
steps=10
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --steps) steps=$2; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
[ -x "$mupc" ] || { echo "bench_table.sh: $mupc not built (run tools/test.sh or ninja -C build)" >&2; exit 2; }

configs=(
  "jpc example|--depth 30 --width 128 --batch 64 --infer-steps 30"
  "wide|--depth 9 --width 512 --batch 64 --infer-steps 8"
  "deep|--depth 129 --width 64 --batch 64 --infer-steps 128"
)

field() { python3 -c "import json,sys; d=json.load(sys.stdin); print(d$1)"; }

echo "| config | L | N | B | T | GEMM | s/step (median) | GFLOP/s dense | GFLOP/s executed | CLBlast SGEMM GFLOP/s | host BLAS SGEMM GFLOP/s | efficiency (CLBlast) | efficiency (best GEMM) | enqueues/inference step |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
device=""
for entry in "${configs[@]}"; do
  name=${entry%%|*}
  flags=${entry#*|}
  # shellcheck disable=SC2086
  json=$("$mupc" bench $flags --steps "$steps" --json ${args[@]+"${args[@]}"})
  read -r L N B T <<<"$(echo "$json" | field "['config']['depth'], d['config']['width'], d['config']['batch'], d['config']['infer_steps']" | tr -d ',')"
  printf '| %s | %s | %s | %s | %s | %s | %.4f | %.2f | %.2f | %.2f | %s | %.2f | %.2f | %s |\n' \
    "$name" "$L" "$N" "$B" "$T" \
    "$(echo "$json" | field "['gemm_provider']")" \
    "$(echo "$json" | field "['seconds_per_step_median']")" \
    "$(echo "$json" | field "['gflops_dense']")" \
    "$(echo "$json" | field "['gflops_executed']")" \
    "$(echo "$json" | field "['device_sgemm_gflops']")" \
    "$(echo "$json" | field "['host_sgemm_gflops'] and '%.2f' % d['host_sgemm_gflops'] or '-'")" \
    "$(echo "$json" | field "['efficiency']")" \
    "$(echo "$json" | field "['efficiency_vs_best_gemm']")" \
    "$(echo "$json" | field "['enqueues_per_inference_step']")"
  device=$(echo "$json" | field "['device']['platform'] + ' / ' + d['device']['device'] + ' (' + d['device']['driver'] + ')' + (', tuned GEMM' if d['device']['tuned'] else '')")
  blas=$(echo "$json" | field "['host_blas'] or ''")
done
echo
echo "Device: $device. $steps timed steps per row after 2 warm-up steps."
[ -n "$blas" ] && echo "Host BLAS: $blas."
echo "Efficiency: the step's dense GFLOP/s over an SGEMM rate on its own GEMM shapes, measured in"
echo "the same run: CLBlast's on the device, and the best GEMM the machine offers (on CPU devices"
echo "the host BLAS, on host memory)."
# The first python3 on PATH may be a private interpreter without Debian's
# NumPy; the system one has it when python3-numpy is installed.
py=python3
$py -c 'import numpy' 2>/dev/null || py=/usr/bin/python3
if $py -c 'import numpy' 2>/dev/null; then
  npjson=$($py tools/numpy_step.py --steps "$steps" --json)
  np=$(echo "$npjson" | field "['seconds_per_step_median']")
  npblas=$(echo "$npjson" | field "['blas']")
  printf 'NumPy float32 baseline (tools/numpy_step.py), jpc example: %.4f s per step (median); NumPy BLAS: %s.\n' \
    "$np" "$npblas"
fi
