#!/bin/sh
# tools/train_example.c, README's C example, on a tiny generated IDX data set:
# a line every 100 steps, then the test accuracy, and a checkpoint that
# `mupc eval` scores the same. Usage: test_train_example.sh path/to/train_example path/to/mupc
set -u
example=${1:?usage: test_train_example.sh path/to/train_example path/to/mupc}
mupc=${2:?usage: test_train_example.sh path/to/train_example path/to/mupc}
unset MUPC_DEVICE
dev=${MUPC_TEST_DEVICE:-pocl}

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"

need_device "$dev"
python3 "$(dirname "$0")/make_tiny_idx.py" "$tmp/data" 320 64 ||
  { echo "could not write the data set" >&2; exit 1; }

run env MUPC_DEVICE="$dev" "$example" "$tmp/data" 100 "$tmp/example.st"
if [ "$rc" -ne 0 ] || [ "$(lines "$out")" -ne 2 ] ||
  ! grep -Eq '^step 100: train loss [0-9.]+$' "$out" ||
  ! grep -Eq "^test accuracy [0-9.]+% \(loss [0-9.]+\) after 100 steps; saved to $tmp/example.st$" \
    "$out"; then
  fail "train_example: want exit 0, the progress line of step 100 and the result"
fi
acc=$(sed -n 's/^test accuracy \([0-9.]*\)%.*/\1/p' "$out")
# Chance is 10%; the stripes are easy.
python3 -c "import sys; sys.exit(float('${acc:-0}') < 50)" || fail "train_example learnt little: $acc%"
run "$mupc" eval "$tmp/example.st" --data "$tmp/data" --device "$dev"
{ [ "$rc" -eq 0 ] && grep -q "^test accuracy $acc% " "$out"; } ||
  fail "mupc eval of the example's checkpoint: want its $acc%"

finish train_example
