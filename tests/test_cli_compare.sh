#!/bin/sh
# `mupc compare` end to end on a tiny data set: a row per device in every
# format, agreement with the first device, a failing device getting its own
# row, and flag errors. Usage: test_cli_compare.sh path/to/mupc
set -u
mupc=${1:?usage: test_cli_compare.sh path/to/mupc}
here=$(dirname "$0")
unset MUPC_DEVICE
export RUSTICL_ENABLE=llvmpipe
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"
python3 "$here/make_tiny_idx.py" "$tmp/data" || exit 1

devices=pocl
"$mupc" devices --device llvmpipe >/dev/null 2>&1 && devices=pocl,llvmpipe
case ",${MUPC_REQUIRE_DEVICES:-}," in
  *,llvmpipe,*) [ "$devices" = pocl,llvmpipe ] || { echo "llvmpipe required but missing" >&2; exit 1; } ;;
esac
# Adam at the default lr 0.1: it turns any gradient that is rounding noise
# into a full ±lr step, so it shows at once if deep layers' errors are lost
# to rounding (the reason activities are kept as reference + displacement).
job="--data $tmp/data --depth 8 --width 16 --batch 32 --infer-steps 8 --steps 12"

# shellcheck disable=SC2086
run "$mupc" compare --devices "$devices,nosuch" $job --json
[ "$rc" -eq 0 ] || fail "compare --json exited $rc"
python3 - "$tmp/out" "$devices" <<'PY' || fail "compare --json rows"
import json, sys
rows = json.load(open(sys.argv[1]))["rows"]
want = sys.argv[2].split(",") + ["nosuch"]
assert [r["spec"] for r in rows] == want, rows
keys = {"platform", "device", "driver", "seconds_per_step_median", "gflops_dense",
        "final_train_loss", "final_test_acc", "max_rel_weight_diff", "max_rel_loss_diff", "error"}
for r in rows:
    assert keys <= set(r), r
ok, bad = rows[:-1], rows[-1]
for r in ok:
    assert r["error"] is None, r
    assert r["seconds_per_step_median"] > 0 and r["gflops_dense"] > 0
    assert 0 <= r["final_test_acc"] <= 1 and r["final_train_loss"] > 0
assert ok[0]["max_rel_weight_diff"] == 0 and ok[0]["max_rel_loss_diff"] == 0
for r in ok[1:]:  # another implementation, same job
    assert r["max_rel_weight_diff"] < 1e-3, r
    assert r["max_rel_loss_diff"] < 1e-3, r
assert "nosuch" in bad["error"] and bad["seconds_per_step_median"] is None
assert bad["max_rel_weight_diff"] is None
PY

# Each GEMM provider on each implementation, the same job for 20 steps: the
# host BLAS and CLBlast, PoCL and rusticl, all end within 1e-5.
both=pocl@host,pocl@clblast
[ "$devices" = pocl,llvmpipe ] && both=$both,llvmpipe@host,llvmpipe@clblast
# shellcheck disable=SC2086
run "$mupc" compare --devices "$both" --data "$tmp/data" --depth 8 --width 16 --batch 32 \
  --infer-steps 8 --steps 20 --json
[ "$rc" -eq 0 ] || fail "compare --devices $both exited $rc"
python3 - "$tmp/out" "$both" <<'PY' || fail "compare across GEMM providers"
import json, sys
rows = json.load(open(sys.argv[1]))["rows"]
want = [s.split("@")[1] for s in sys.argv[2].split(",")]
assert [r["gemm"] for r in rows] == want, rows
for r in rows:
    assert r["error"] is None, r
    assert r["max_rel_weight_diff"] < 1e-5 and r["max_rel_loss_diff"] < 1e-5, r
PY
expect_usage_error 'auto, clblast, host or kernels' "$mupc" compare --devices pocl@fastest --data "$tmp/data"

# shellcheck disable=SC2086
run "$mupc" compare --devices pocl $job --markdown
[ "$rc" -eq 0 ] && grep -q '^| platform | device | driver |' "$tmp/out" &&
  grep -q '^| Portable Computing Language | ' "$tmp/out" || fail "compare --markdown"
# shellcheck disable=SC2086
run "$mupc" compare --devices pocl $job
[ "$rc" -eq 0 ] && grep -q '^Portable Computing Language' "$tmp/out" || fail "compare text report"

# Every device failing is a failure of the command.
# shellcheck disable=SC2086
run "$mupc" compare --devices nosuch $job
[ "$rc" -ne 0 ] && grep -q nosuch "$tmp/out" || fail "compare with only a failing device must fail"

run "$mupc" compare --steps 3
[ "$rc" -eq 2 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q -- '--devices' "$tmp/err" ||
  fail "compare without --devices"
run "$mupc" compare --devices pocl --json --markdown
[ "$rc" -eq 2 ] && grep -q -- '--json' "$tmp/err" || fail "compare --json --markdown"
run "$mupc" compare --devices pocl --data "$tmp/nowhere"
[ "$rc" -eq 2 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q nowhere "$tmp/err" ||
  fail "compare --data missing"

finish compare
