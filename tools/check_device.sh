#!/usr/bin/env bash
# Checks mupc on one OpenCL device and measures it, in one command: the
# device tests run on it, the same training job on it and on a reference
# device, and the benchmark table. `tools/check_device.sh --help` for flags.
set -uo pipefail
tools=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$tools")
build=${MUPC_BUILD_DIR:-$root/build}
mupc=${MUPC:-$build/mupc}
prog=check_device.sh

usage() {
  cat <<'EOF'
usage: tools/check_device.sh --device SPEC [--against SPEC|none] [--steps S]
                             [--data DIR] [--quick] [--out DIR]

Checks mupc on the OpenCL device SPEC (see `mupc devices`) and writes
OUT/report.md:
  1. the device as `mupc devices` lists it;
  2. the device tests (status device program cli_util idx safetensors ref_fd
     parity) run on it alone (MUPC_TEST_DEVICES=SPEC): the parity test checks
     every kernel path against the double-precision reference;
  3. `mupc compare --devices SPEC,AGAINST --steps S`: the same training job
     on both devices, with their speed and the largest relative weight
     difference (it must stay below 1e-3);
  4. tools/bench_table.sh --device SPEC: the benchmark table.
Exits 1 if a test fails or the devices disagree, 2 on a usage error.

flags:
  --device SPEC       the device to check (required)
  --against SPEC      the reference for step 3 (default pocl; none: skip it)
  --steps S           training steps compared in step 3 (default 20)
  --data DIR          the data set for step 3, any format (default: mupc train's)
  --quick             a smoke check: tests status and device only, a tiny
                      compare job, no benchmark table
  --out DIR           where report.md and the logs go (default out/check_device)
  -h, --help          this text

MUPC_BUILD_DIR (default build/) holds the built tests; MUPC the binary.
EOF
}

die() {
  echo "$prog: $*" >&2
  exit 2
}

device=""
against=pocl
steps=20
quick=0
out=$root/out/check_device
data=()
while [ $# -gt 0 ]; do
  case "$1" in
  --device | --against | --steps | --out | --data)
    [ $# -ge 2 ] || die "$1 needs a value"
    case "$1" in
    --device) device=$2 ;;
    --against) against=$2 ;;
    --steps) steps=$2 ;;
    --out) out=$2 ;;
    --data) data=(--data "$2") ;;
    esac
    shift 2
    ;;
  --quick) quick=1; shift ;;
  -h | --help) usage; exit 0 ;;
  *) die "unknown flag '$1' (see --help)" ;;
  esac
done
[ -n "$device" ] || die "--device is required (see 'mupc devices')"
[[ $steps =~ ^[1-9][0-9]*$ ]] || die "--steps must be a positive integer, not '$steps'"
[ -x "$mupc" ] || die "$mupc is not built (run tools/test.sh, or ninja -C build)"
mkdir -p "$out" || die "--out: cannot create '$out'"
report=$out/report.md
failed=0

{
  echo "# mupc on \`$device\`"
  echo
  echo "Command: \`tools/check_device.sh --device $device --against $against --steps $steps$([ $quick = 1 ] && echo " --quick")\`, $(date -u +%Y-%m-%dT%H:%MZ)."
  echo
  echo "## Device"
  echo
  echo '```'
} >"$report"
if ! "$mupc" devices --device "$device" >>"$report" 2>"$out/devices.err"; then
  cat "$out/devices.err" >&2
  echo '```' >>"$report"
  exit 2
fi
echo '```' >>"$report"

echo "$prog: device tests on $device ..."
tests="status device program cli_util idx safetensors ref_fd parity"
[ $quick = 1 ] && tests="status device"
{
  echo
  echo "## Device tests (MUPC_TEST_DEVICES=$device)"
  echo
  echo "| test | result | seconds |"
  echo "|---|---|---|"
} >>"$report"
for t in $tests; do
  exe=$build/tests/test_$t
  if [ ! -x "$exe" ]; then
    echo "| $t | not built ($exe) | |" >>"$report"
    failed=1
    continue
  fi
  start=$SECONDS
  MUPC_TEST_DEVICES=$device MUPC_REQUIRE_DEVICES=$device RUSTICL_ENABLE=${RUSTICL_ENABLE:-llvmpipe} \
    MUPC_SOURCE_DIR=$root "$exe" >"$out/test_$t.log" 2>&1
  rc=$?
  if [ $rc -eq 0 ]; then result=pass; else result="FAIL (exit $rc, see test_$t.log)"; failed=1; fi
  echo "| $t | $result | $((SECONDS - start)) |" >>"$report"
  echo "  $t: $result"
done

if [ "$against" != none ]; then
  echo "$prog: the same job on $device and $against ..."
  job=(--steps "$steps")
  [ $quick = 1 ] && job=(--steps 2 --depth 4 --width 16 --batch 32 --infer-steps 3)
  job+=(${data[@]+"${data[@]}"})
  {
    echo
    echo "## The same job on two devices"
    echo
    echo "\`mupc compare --devices $device,$against ${job[*]}\` (the jpc example network unless --quick):"
    echo
  } >>"$report"
  if "$mupc" compare --devices "$device,$against" "${job[@]}" --json >"$out/compare.json" \
    2>"$out/compare.err"; then
    if ! python3 - "$out/compare.json" >>"$report" <<'PY'; then failed=1; fi
import json, sys
rows = json.load(open(sys.argv[1]))["rows"]
print("| device | platform | driver | s/step (median) | final train loss | test acc | max rel weight diff | max rel loss diff | error |")
print("|---|---|---|---|---|---|---|---|---|")
bad = False
for r in rows:
    if r["error"]:
        bad = True
        print(f"| {r['spec']} | | | | | | | | {r['error']} |")
        continue
    print(f"| {r['device']} | {r['platform']} | {r['driver']} | {r['seconds_per_step_median']:.4g} | "
          f"{r['final_train_loss']:.6f} | {100 * r['final_test_acc']:.2f}% | "
          f"{r['max_rel_weight_diff']:.2e} | {r['max_rel_loss_diff']:.2e} | - |")
    bad |= r["max_rel_weight_diff"] > 1e-3
ok = [r for r in rows if not r["error"]]
if len(ok) == 2:
    a, b = ok
    print(f"\n{a['device']} took {a['seconds_per_step_median']:.4g} s a step, {b['device']} "
          f"{b['seconds_per_step_median']:.4g} s ({b['seconds_per_step_median'] / a['seconds_per_step_median']:.3g}x).")
print("\nAgreement: " + ("FAILED (an error, or weights more than 1e-3 apart)" if bad else "ok (weights within 1e-3)"))
sys.exit(1 if bad else 0)
PY
  else
    failed=1
    { echo "compare failed:"; echo; sed 's/^/    /' "$out/compare.err"; } >>"$report"
  fi
fi

if [ $quick = 0 ]; then
  echo "$prog: benchmark table on $device ..."
  {
    echo
    echo "## Benchmark (tools/bench_table.sh --device $device)"
    echo
  } >>"$report"
  if ! MUPC=$mupc "$tools/bench_table.sh" --device "$device" >>"$report" 2>"$out/bench.err"; then
    failed=1
    { echo "bench_table.sh failed:"; echo; sed 's/^/    /' "$out/bench.err"; } >>"$report"
  fi
fi

echo "$prog: wrote $report"
if [ $failed -ne 0 ]; then
  echo "$prog: FAILED (see $report)" >&2
  exit 1
fi
echo "$prog: all checks passed on $device"
