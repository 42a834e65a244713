#!/bin/sh
# The shared library exports the public API and nothing else: every
# exported symbol is a function declared MUPC_API in include/mupc.h, no
# mupc__ internal is among them, and every declared function is defined and
# exported: a declaration without a definition would link nowhere.
# Usage: test_exports.sh libmupc.so libmupc.a mupc.h
set -u
so=${1:?usage: test_exports.sh libmupc.so libmupc.a mupc.h}
static=${2:?usage: test_exports.sh libmupc.so libmupc.a mupc.h}
header=${3:?usage: test_exports.sh libmupc.so libmupc.a mupc.h}

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"

# The names declared MUPC_API: the header without preprocessor lines and
# comments, cut into statements at ';', each one's name the identifier
# before its first '('.
awk '!/^[ \t]*#/ { text = text " " $0 }
  END {
    while ((i = index(text, "/*")) > 0) {
      rest = substr(text, i + 2)
      j = index(rest, "*/")
      text = substr(text, 1, i - 1) " " (j ? substr(rest, j + 2) : "")
    }
    n = split(text, stmt, ";")
    for (s = 1; s <= n; s++) {
      if (stmt[s] !~ /(^|[^A-Za-z0-9_])MUPC_API[ \t]/) continue
      head = stmt[s]
      sub(/\(.*/, "", head)
      if (match(head, /[A-Za-z_][A-Za-z0-9_]*[ \t]*$/)) {
        name = substr(head, RSTART, RLENGTH)
        sub(/[ \t]+$/, "", name)
        print name
      }
    }
  }' "$header" | sort -u >"$tmp/declared"
[ "$(lines "$tmp/declared")" -ge 50 ] ||
  fail "found only $(lines "$tmp/declared") MUPC_API declarations in $header"

nm -D --defined-only "$so" | awk 'NF == 3 { print $3 }' | sort -u >"$tmp/exported"
[ -s "$tmp/exported" ] || fail "nm -D --defined-only $so listed nothing"
nm -g --defined-only "$static" | awk 'NF == 3 { print $3 }' | sort -u >"$tmp/defined"

grep '^mupc__' "$tmp/exported" >"$tmp/internal" &&
  fail "internal symbols exported from $so: $(tr '\n' ' ' <"$tmp/internal")"
comm -23 "$tmp/exported" "$tmp/declared" >"$tmp/extra"
[ -s "$tmp/extra" ] &&
  fail "exported from $so but not declared MUPC_API in $header: $(tr '\n' ' ' <"$tmp/extra")"
# Defined in the library but hidden: a definition that lost its MUPC_API.
comm -23 "$tmp/declared" "$tmp/exported" >"$tmp/unexported"
comm -12 "$tmp/unexported" "$tmp/defined" >"$tmp/hidden"
[ -s "$tmp/hidden" ] &&
  fail "declared MUPC_API and defined, but not exported from $so: $(tr '\n' ' ' <"$tmp/hidden")"
comm -23 "$tmp/unexported" "$tmp/defined" >"$tmp/missing"
[ -s "$tmp/missing" ] &&
  fail "declared MUPC_API in $header but defined nowhere: $(tr '\n' ' ' <"$tmp/missing")"
echo "$(lines "$tmp/exported") exported, $(lines "$tmp/declared") declared MUPC_API"

finish test_exports
