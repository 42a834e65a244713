#!/bin/sh
# `mupc devices` end to end: exit codes, the table, the JSON, and one-line
# errors. Usage: test_cli_devices.sh path/to/mupc
set -u
mupc=${1:?usage: test_cli_devices.sh path/to/mupc}
unset MUPC_DEVICE
required=",${MUPC_REQUIRE_DEVICES:-},"

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"

# Table rows: "*" or blank, then P:D.
rows() { grep -Ec '^[* ]  [0-9]+:[0-9]+ ' "$out"; }

run "$mupc" devices
if [ "$rc" -eq 2 ] && grep -q 'no OpenCL platform' "$err" && [ "$required" = ",," ]; then
  echo "no OpenCL platform on this machine: skipped"
  exit 77
fi
[ "$rc" -eq 0 ] || fail "mupc devices: exit $rc"
[ -s "$err" ] && fail "mupc devices: wrote to stderr"
[ "$(grep -Ec '^\*  [0-9]+:' "$out")" -eq 1 ] || fail "mupc devices: want exactly one default (*) row"
head -n 1 "$out" | grep -q 'P:D  PLATFORM' || fail "mupc devices: no header line"
case $required in *,pocl,*)
  grep -q 'Portable Computing Language' "$out" || fail "mupc devices: PoCL not listed" ;;
esac
case $required in *,llvmpipe,*)
  grep -q 'llvmpipe' "$out" || fail "mupc devices: llvmpipe not listed" ;;
esac
ndev=$(rows)

run "$mupc" devices --json
[ "$rc" -eq 0 ] || fail "mupc devices --json: exit $rc"
cp "$out" "$tmp/json"
if ! python3 - "$tmp/json" "$ndev" >"$tmp/indices" 2>"$err" <<'EOF'
import json, re, sys
with open(sys.argv[1]) as f:
    devices = json.load(f)
keys = {"index", "platform", "device", "type", "vendor", "compute_units", "global_mem_bytes",
        "max_work_group_size", "opencl_c_version", "driver_version", "default"}
assert isinstance(devices, list) and len(devices) == int(sys.argv[2]), "one object per table row"
for d in devices:
    assert set(d) == keys, sorted(set(d) ^ keys)
    assert re.fullmatch(r"\d+:\d+", d["index"]), d["index"]
    assert d["type"] in ("cpu", "gpu", "accel", "other"), d["type"]
    for k in ("compute_units", "global_mem_bytes", "max_work_group_size"):
        assert isinstance(d[k], int) and d[k] > 0, k
    assert isinstance(d["default"], bool)
assert sum(d["default"] for d in devices) == 1, "exactly one default"
for d in devices:
    print(d["index"])
EOF
then
  fail "mupc devices --json: not the JSON promised"
fi

# --device P:D prints exactly that device, in both forms.
for index in $(cat "$tmp/indices"); do
  run "$mupc" devices --device "$index"
  if [ "$rc" -ne 0 ] || [ "$(rows)" -ne 1 ] || ! grep -q "^[* ]  $index " "$out"; then
    fail "mupc devices --device $index: want exactly that row"
  fi
  run "$mupc" devices --json --device="$index"
  if [ "$rc" -ne 0 ] || ! python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d) == 1 and d[0]["index"] == sys.argv[2]' "$out" "$index"; then
    fail "mupc devices --json --device=$index: want a one-element array"
  fi
  run env MUPC_DEVICE="$index" "$mupc" devices
  if [ "$rc" -ne 0 ] || [ "$(rows)" -ne 1 ] || ! grep -q "^[* ]  $index " "$out"; then
    fail "MUPC_DEVICE=$index mupc devices: want exactly that row"
  fi
done

case $required in *,pocl,*)
  run "$mupc" devices --device POCL
  { [ "$rc" -eq 0 ] && [ "$(rows)" -eq 1 ] && grep -q 'Portable Computing Language' "$out"; } ||
    fail "mupc devices --device POCL: want the PoCL device" ;;
esac
case $required in *,llvmpipe,*)
  run "$mupc" devices --device llvmpipe
  { [ "$rc" -eq 0 ] && [ "$(rows)" -eq 1 ] && grep -q 'rusticl' "$out"; } ||
    fail "mupc devices --device llvmpipe: want the rusticl llvmpipe device" ;;
esac

expect_usage_error "'nosuch'" "$mupc" devices --device nosuch
grep -q 'available: ' "$err" || fail "--device nosuch: the message should list what exists"
expect_usage_error "'9:9'" "$mupc" devices --device 9:9
expect_usage_error "MUPC_DEVICE 'nosuch'" env MUPC_DEVICE=nosuch "$mupc" devices
expect_usage_error "'--bogus'" "$mupc" devices --bogus
expect_usage_error "--device" "$mupc" devices --device
expect_usage_error "'extra'" "$mupc" devices extra
expect_usage_error "'frobnicate'" "$mupc" frobnicate
expect_usage_error "'--bogus'" "$mupc" --bogus

run "$mupc"
{ [ "$rc" -eq 2 ] && [ ! -s "$out" ] && grep -q '^usage: mupc' "$err"; } ||
  fail "mupc without a command: want usage on stderr, exit 2"
run "$mupc" --version
{ [ "$rc" -eq 0 ] && grep -Eq '^mupc [0-9]+\.[0-9]+\.[0-9]+$' "$out"; } || fail "mupc --version"
run "$mupc" --help
{ [ "$rc" -eq 0 ] && grep -q '^  devices ' "$out" && [ ! -s "$err" ]; } || fail "mupc --help"
run "$mupc" devices --help
{ [ "$rc" -eq 0 ] && grep -q '^usage: mupc devices' "$out"; } || fail "mupc devices --help"
if [ -w /dev/full ]; then
  "$mupc" devices >/dev/full 2>"$err"
  rc=$?
  : >"$out"
  [ "$rc" -eq 1 ] || fail "mupc devices >/dev/full: want exit 1, got $rc"
fi

finish "devices ($ndev device(s))"
