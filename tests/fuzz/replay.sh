#!/bin/sh
# The fuzz_replay test: every stored input of every harness (its seed
# corpus, and its regressions: the inputs that once crashed it) through the
# harness built without libFuzzer.
# Usage: replay.sh FUZZ_SRC_DIR NAME EXE [NAME EXE ...]; the inputs of NAME
# are in FUZZ_SRC_DIR/corpus/NAME and FUZZ_SRC_DIR/regressions/NAME.
set -u
src=${1:?usage: replay.sh FUZZ_SRC_DIR NAME EXE [NAME EXE ...]}
shift
[ $# -ge 2 ] || { echo "replay.sh: no harness given" >&2; exit 1; }
status=0
while [ $# -ge 2 ]; do
  name=$1 exe=$2
  shift 2
  # git keeps no empty directory: a harness that never crashed has none.
  if [ -d "$src/regressions/$name" ]; then
    "$exe" "$src/corpus/$name" "$src/regressions/$name" || status=1
  else
    "$exe" "$src/corpus/$name" || status=1
  fi
done
exit $status
