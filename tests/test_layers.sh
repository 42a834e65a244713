#!/bin/sh
# The library's files call each other in one direction only (DESIGN §6): no
# circle of calls between files. The call graph comes from the compiled
# objects, not from reading the sources: each object's undefined symbols
# are matched to the object of the static library that defines them, so
# what is checked is what the linker joins. Prints the graph (file -> file:
# the symbols) for review, then every circle, and fails on any.
# Usage: test_layers.sh path/to/libmupc.a
set -u
lib=${1:?usage: test_layers.sh path/to/libmupc.a}

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"

# Objects are named after their source path with '/' turned into '_'
# (meson's src_tune_store.c.o); the sources say which '_' was a '/'.
srcdir=${MUPC_SOURCE_DIR:-$(dirname "$0")/..}
(cd "$srcdir" && find src -name '*.c' ! -path 'src/cli/*') >"$tmp/sources"

# edges: "FROM TO SYMBOL" for every symbol FROM uses and TO defines.
edges() {
  nm -A -P -g "$1" | awk -v sources="$tmp/sources" '
    BEGIN {
      while ((getline path < sources) > 0) {
        mangled = path
        gsub("/", "_", mangled)
        name[mangled ".o"] = substr(path, 5) # without "src/"
      }
    }
    {
      member = $1
      sub(/^.*\[/, "", member)
      sub(/\]:$/, "", member)
      if (!(member in name)) { # generated sources: the file name alone
        n = member
        sub(/^.*_\.\._/, "", n)
        sub(/\.o$/, "", n)
        name[member] = n
      }
      if ($3 == "U") used[++nu] = name[member] " " $2
      else defined[$2] = name[member]
    }
    END {
      for (i = 1; i <= nu; i++) {
        split(used[i], f, " ")
        if ((f[2] in defined) && defined[f[2]] != f[1]) print f[1], defined[f[2]], f[2]
      }
    }' | sort -u
}

# graph: one line per pair of files, "FROM -> TO: SYMBOL, ...".
graph() {
  awk '{
    key = $1 " -> " $2
    if (key in syms) syms[key] = syms[key] ", " $3
    else { syms[key] = $3; order[++n] = key }
  }
  END { for (i = 1; i <= n; i++) print order[i] ": " syms[order[i]] }' "$1"
}

# cycles: every elementary circle of the edges, "a -> b -> a", each once
# (rooted at its first file in name order, which the search never leaves
# for a smaller one).
cycles() {
  awk '
    function dfs(v, depth,   i, w) {
      path[depth] = v
      onpath[v] = 1
      for (i = 1; i <= nsucc[v]; i++) {
        w = succ[v, i]
        if (w == root) {
          line = ""
          for (j = 0; j <= depth; j++) line = line path[j] " -> "
          print line root
          if (++found >= 200) exit
        } else if (!(w in onpath) && rank[w] > rank[root]) {
          dfs(w, depth + 1)
        }
      }
      delete onpath[v]
    }
    {
      if (!(($1, $2) in seen)) {
        seen[$1, $2] = 1
        succ[$1, ++nsucc[$1]] = $2
      }
      node[$1] = node[$2] = 1
    }
    END {
      # Rank files by name (a plain insertion sort: mawk has no asort).
      for (v in node) sorted[++n] = v
      for (i = 2; i <= n; i++)
        for (j = i; j > 1 && sorted[j - 1] > sorted[j]; j--) {
          t = sorted[j]; sorted[j] = sorted[j - 1]; sorted[j - 1] = t
        }
      for (i = 1; i <= n; i++) rank[sorted[i]] = i
      for (i = 1; i <= n; i++) {
        root = sorted[i]
        dfs(root, 0)
      }
    }' "$1"
}

# The circle finder itself, on graphs whose answer is known: a test that
# could not see a circle would pass on anything.
printf 'a.c b.c f\nb.c c.c g\nc.c a.c h\nc.c d.c i\nd.c b.c j\n' >"$tmp/known"
cycles "$tmp/known" >"$tmp/found"
printf 'a.c -> b.c -> c.c -> a.c\nb.c -> c.c -> d.c -> b.c\n' >"$tmp/want"
cmp -s "$tmp/found" "$tmp/want" ||
  fail "the circle finder missed the known circles: $(cat "$tmp/found")"
printf 'a.c b.c f\nb.c c.c g\na.c c.c h\n' >"$tmp/known"
cycles "$tmp/known" >"$tmp/found"
[ -s "$tmp/found" ] && fail "the circle finder reported a circle in a graph without one"

edges "$lib" >"$tmp/edges"
[ -s "$tmp/edges" ] || fail "no calls between the objects of $lib (nm found nothing?)"
echo "call graph of $lib (file -> file: symbols):"
graph "$tmp/edges" | sed 's/^/  /'

cycles "$tmp/edges" >"$tmp/cycles"
if [ -s "$tmp/cycles" ]; then
  echo "circles of calls:"
  sed 's/^/  /' "$tmp/cycles"
  fail "$(lines "$tmp/cycles") circle(s) of calls between library files (listed above)"
fi

# Data files never reach the device code (DESIGN §6): their calls stay
# among themselves and status.c, so the readers work without OpenCL.
# atomic.c counts among them: it is plain POSIX file I/O on status.c alone
# (the one atomic file replace safetensors.c and the tuning cache share),
# and being in the list holds it to the same rule.
data=" atomic.c cifar.c dataset.c idx.c normalise.c rng.c safetensors.c status.c "
awk -v data="$data" 'index(data, " " $1 " ") && !index(data, " " $2 " ")' "$tmp/edges" \
  >"$tmp/data_out"
[ -s "$tmp/data_out" ] &&
  fail "data files call outside the data files and status.c: $(awk '{ printf "%s -> %s (%s) ", $1, $2, $3 }' "$tmp/data_out")"

finish test_layers
