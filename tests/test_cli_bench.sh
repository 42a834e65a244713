#!/bin/sh
# `mupc bench` and `mupc tune` end to end: the report's fields, flag errors,
# the tuning cache being written, read and applied, and a broken cache being
# ignored; the OpenCL calls per step under the call counter.
# Usage: test_cli_bench.sh path/to/mupc [path/to/libmupc_clcount.so]
set -u
mupc=${1:?usage: test_cli_bench.sh path/to/mupc [path/to/libmupc_clcount.so]}
clcount=${2:-}
unset MUPC_DEVICE MUPC_NO_TUNE
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"
export MUPC_TUNE_CACHE="$tmp/cache/tune.json"
json() { python3 -c "import json,sys; d=json.load(open('$tmp/out')); $1"; }

small="--depth 5 --width 16 --batch 8 --infer-steps 4 --steps 2 --warmup 1"

for dev in pocl llvmpipe; do
  case ",${MUPC_REQUIRE_DEVICES:-}," in *",$dev,"*) ;; *)
    RUSTICL_ENABLE=llvmpipe "$mupc" devices --device "$dev" >/dev/null 2>&1 || continue ;;
  esac
  # shellcheck disable=SC2086
  run "$mupc" bench --device "$dev" $small --json
  [ "$rc" -eq 0 ] || fail "$dev: bench --json exited $rc"
  json "
keys = ['seconds_per_step_median', 'seconds_per_step_min', 'seconds_per_step_max',
        'flops_dense_per_step', 'flops_executed_per_step', 'gflops_dense', 'gflops_executed',
        'device_sgemm_gflops', 'efficiency', 'enqueues_per_inference_step', 'device_bytes',
        'seconds_gemm_median', 'seconds_kernels_median', 'seconds_wait_median']
missing = [k for k in keys if not isinstance(d.get(k), (int, float))]
assert not missing, missing
assert d['seconds_per_step_min'] <= d['seconds_per_step_median'] <= d['seconds_per_step_max']
# dense: (2 + 2T) passes of 2*B*(D*N + (L-2)*N^2 + N*C) with D=784, C=10
assert d['flops_dense_per_step'] == 10 * 2 * 8 * (784 * 16 + 3 * 16 * 16 + 16 * 10), d['flops_dense_per_step']
assert 0 < d['flops_executed_per_step'] <= d['flops_dense_per_step'] * 1.5
# 7 enqueues per inference step at any depth; where the host provider has
# LIBXSMM it runs a batch's whole inference as one host call.
whole_host = d['gemm_provider'] == 'host' and 'LIBXSMM' in (d['host_blas'] or '')
assert d['enqueues_per_inference_step'] == (1 if whole_host else 7), d['enqueues_per_inference_step']
# The step in parts: GEMMs and other kernels were timed, and together they
# fit in the step (the rest is dispatch and waiting).
assert d['seconds_gemm_median'] > 0 and d['seconds_kernels_median'] > 0
assert d['seconds_gemm_median'] + d['seconds_kernels_median'] <= 1.05 * d['seconds_per_step_max']
assert d['device_bytes'] > 0 and d['device_sgemm_gflops'] > 0
assert d['config']['depth'] == 5 and d['config']['width'] == 16
assert d['device']['tuned'] is False
assert 'api_calls_per_step' not in d  # only under the call counter
# A CPU device sharing the host's memory runs its GEMMs on the host BLAS,
# measured in the same run: efficiency is also against the better of the two.
if d['host_blas']:
    assert d['gemm_provider'] == 'host', d['gemm_provider']
    assert d['host_gemm_dispatch'] == ('native kernel' if '$dev' == 'pocl' else 'map')
    assert d['host_sgemm_gflops'] > 0
else:
    assert d['gemm_provider'] == 'clblast' and d['host_sgemm_gflops'] is None
rates = {'clblast': d['device_sgemm_gflops'], 'host': d['host_sgemm_gflops'] or 0}
assert d['best_gemm'] == max(rates, key=rates.get) and d['best_gemm_gflops'] == max(rates.values())
assert abs(d['efficiency_vs_best_gemm'] - d['gflops_dense'] / d['best_gemm_gflops']) < 1e-9
assert d['efficiency_vs_best_gemm'] <= d['efficiency'] + 1e-12
" || fail "$dev: bench --json fields"
  # shellcheck disable=SC2086
  run "$mupc" bench --device "$dev" $small
  [ "$rc" -eq 0 ] && grep -Eq '^enqueues    (1|7) per inference step' "$tmp/out" &&
    grep -q '^time in     GEMMs .* other kernels .* dispatch and waiting' "$tmp/out" &&
    grep -q '^gemm        host (.*thread' "$tmp/out" &&
    grep -q '^efficiency  .* against CLBlast, .* against the best GEMM' "$tmp/out" ||
    fail "$dev: bench text report"
  # Under the call counter (tools/clcount.c): after the warm-up the step's
  # own path creates nothing, asks the driver nothing and sets only the
  # kernel arguments whose values changed.
  if [ -n "$clcount" ]; then
    # shellcheck disable=SC2086
    run env LD_PRELOAD="$clcount" "$mupc" bench --device "$dev" $small --json
    [ "$rc" -eq 0 ] && json "
api = d['api_calls_per_step']
assert api.get('clEnqueueNDRangeKernel', 0) > 0, api
banned = [f for f in api if f.startswith(('clCreate', 'clGet', 'clBuild', 'clRelease'))]
assert not banned, banned
assert api.get('clSetKernelArg', 0) <= api['clEnqueueNDRangeKernel'], api
assert d['api_seconds_per_step'] >= 0 and d['api_wait_seconds_per_step'] >= 0
" || fail "$dev: api_calls_per_step under the call counter"
    # The library's own GEMM kernel likewise: its kernel objects are made
    # at their first product, during the warm-up.
    # shellcheck disable=SC2086
    run env LD_PRELOAD="$clcount" "$mupc" bench --device "$dev" $small --gemm kernels --json
    [ "$rc" -eq 0 ] && json "
api = d['api_calls_per_step']
assert d['gemm_provider'] == 'kernels', d['gemm_provider']
# fused inference: 5 enqueues a step, 6 while the band holds layer 1
assert d['enqueues_per_inference_step'] == 6, d['enqueues_per_inference_step']
banned = [f for f in api if f.startswith(('clCreate', 'clGet', 'clBuild', 'clRelease'))]
assert not banned, banned
assert api.get('clSetKernelArg', 0) < api['clEnqueueNDRangeKernel'], api
" || fail "$dev: --gemm kernels: api_calls_per_step"
  fi
  # --gemm forces CLBlast; the host BLAS is still measured for the yardstick.
  # shellcheck disable=SC2086
  run "$mupc" bench --device "$dev" $small --gemm clblast --json
  [ "$rc" -eq 0 ] && json "assert d['gemm_provider'] == 'clblast' and d['host_sgemm_gflops'] > 0" ||
    fail "$dev: bench --gemm clblast"
  # shellcheck disable=SC2086
  run env MUPC_GEMM=clblast "$mupc" bench --device "$dev" $small --gemm host --json
  [ "$rc" -eq 0 ] && json "assert d['gemm_provider'] == 'host'" ||
    fail "$dev: --gemm host must win over MUPC_GEMM"
done

run "$mupc" bench --steps 0
[ "$rc" -eq 2 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q -- '--steps' "$tmp/err" ||
  fail "bench --steps 0 must be one usage error"
run "$mupc" bench --width 0
[ "$rc" -eq 2 ] && grep -q -- '--width' "$tmp/err" || fail "bench --width 0 must name --width"
run "$mupc" bench --act swish
[ "$rc" -eq 2 ] && grep -q 'relu' "$tmp/err" || fail "bench --act swish must list the choices"
run "$mupc" bench --warmpu 1
[ "$rc" -eq 2 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] &&
  grep -qF "mupc bench: unknown flag '--warmpu'; did you mean '--warmup'? (see 'mupc bench --help')" \
    "$tmp/err" || fail "bench --warmpu: want the closest flag"
run "$mupc" help bench
[ "$rc" -eq 0 ] && grep -q '^usage: mupc bench' "$tmp/out" && grep -q 'exceeds 1 when the wavefront' "$tmp/out" ||
  fail "mupc help bench: want the help, with what efficiency is"
expect_usage_error 'auto, clblast, host or kernels' "$mupc" bench --gemm cublas
# Provider names, like every enum value, in any case.
# shellcheck disable=SC2086
run "$mupc" bench --device pocl $small --gemm CLBlast --json
[ "$rc" -eq 0 ] && json "assert d['gemm_provider'] == 'clblast'" || fail "bench --gemm CLBlast"
expect_usage_error "MUPC_GEMM: 'cublas'" env MUPC_GEMM=cublas "$mupc" bench --device pocl --steps 1

# A hand-written cache entry for PoCL is applied; a broken cache is ignored.
run "$mupc" devices --device pocl --json
key=$(json "x = d[0] if isinstance(d, list) else d; print(x['platform'] + '|' + x['device'] + '|' + x['driver_version'])")
mkdir -p "$tmp/cache"
python3 - "$MUPC_TUNE_CACHE" "$key" <<'PY'
import json, sys
params = dict(WGD=32, MDIMCD=8, NDIMCD=8, MDIMAD=8, NDIMBD=8, KWID=2, VWMD=2, VWND=2, PADA=1, PADB=1)
json.dump({sys.argv[2]: {"XgemmDirect": params}}, open(sys.argv[1], "w"))
PY
# shellcheck disable=SC2086
run "$mupc" bench --device pocl $small --json
[ "$rc" -eq 0 ] && json "assert d['device']['tuned'] is True" || fail "cached parameters not applied"
# shellcheck disable=SC2086
MUPC_NO_TUNE=1 run "$mupc" bench --device pocl $small --json
[ "$rc" -eq 0 ] && json "assert d['device']['tuned'] is False" || fail "MUPC_NO_TUNE=1 ignored"
echo '{"broken' >"$MUPC_TUNE_CACHE"
# shellcheck disable=SC2086
run "$mupc" bench --device pocl $small --json
[ "$rc" -eq 0 ] && json "assert d['device']['tuned'] is False" || fail "a broken cache must be ignored"

# tune: one candidate (the budget is checked before each), then the cache
# holds a complete entry for this device, or says the defaults were kept.
rm -f "$MUPC_TUNE_CACHE"
run "$mupc" tune --device pocl --depth 4 --width 16 --batch 8 --budget 0.001
if [ "$rc" -ne 0 ] || ! grep -q 'GFLOP/s' "$tmp/out"; then
  fail "tune exited $rc"
elif grep -q 'defaults kept' "$tmp/out"; then
  [ ! -e "$MUPC_TUNE_CACHE" ] || fail "tune kept the defaults but wrote a cache"
else
  python3 -c "
import json, sys
d = json.load(open('$MUPC_TUNE_CACHE'))['$key']
assert sorted(d['XgemmDirect']) == sorted(['WGD','MDIMCD','NDIMCD','MDIMAD','NDIMBD','KWID','VWMD','VWND','PADA','PADB'])
assert d['gflops_after'] > d['gflops_before'] > 0
" || fail "tune cache entry"
fi
run "$mupc" tune --show-cache
[ "$rc" -eq 0 ] && [ "$(cat "$tmp/out")" = "$MUPC_TUNE_CACHE" ] || fail "tune --show-cache"
run "$mupc" tune --budget -1
[ "$rc" -eq 2 ] && grep -q -- '--budget' "$tmp/err" || fail "tune --budget -1"

finish "bench/tune"
