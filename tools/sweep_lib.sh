# Sourced by tools/depth_sweep.sh and tools/lr_transfer.sh: what both sweeps
# share. They set prog, out, runs, report_only, argv, device and data first.

die() { echo "$prog: $*" >&2; exit 2; }
is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }
is_pos() { [[ $1 =~ ^[0-9]+$ ]] && [ "$1" -gt 0 ]; }
is_num() { [[ $1 =~ ^([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$ ]]; }
hms() { printf '%dh %02dm %02ds' $(($1 / 3600)) $(($1 % 3600 / 60)) $(($1 % 60)); }

# A run is done when its metrics end with the final line, or it diverged.
finished() {
  grep -q '"final":true' "$runs/$1.jsonl" 2>/dev/null || [ "$(cat "$runs/$1.rc" 2>/dev/null)" = 3 ]
}

# sweep_settings CONFIG: the settings that change a run's result; a resumed
# sweep must keep them, so a directory made with others is refused.
sweep_settings() {
  if [ -f "$out/config" ]; then
    if [ "$(cat "$out/config")" != "$1" ] && [ "$report_only" = 0 ]; then
      die "$out holds runs made with other settings ($(tr '\n' ' ' <"$out/config")); use another --out"
    fi
  else
    printf '%s\n' "$1" >"$out/config"
  fi
}

# The command of the last invocation that ran the sweep, for the report.
sweep_record_command() {
  [ "$report_only" = 0 ] || [ ! -f "$out/command" ] || return 0
  {
    printf '%stools/%s' "${MUPC:+MUPC=$MUPC }" "$prog"
    local a
    for a in "${argv[@]}"; do
      [ "$a" != --report-only ] || continue
      if [[ $a =~ ^[A-Za-z0-9_./=:,+-]+$ ]]; then printf ' %s' "$a"; else printf " '%s'" "${a//\'/\'\\\'\'}"; fi
    done
    echo
  } >"$out/command"
}

# The --device and --data flags every `mupc` call of the sweep passes on.
sweep_common_args() {
  dev_args=()
  [ -z "$device" ] || dev_args=(--device "$device")
  data_args=()
  [ -z "$data" ] || data_args=(--data "$data")
}

# sweep_exec TAG NAME MUPC-ARGS...: one `mupc` run, its command, log and
# exit status under $runs/NAME.*, and one line of result. A caller that sets
# sweep_prog (local to it) runs that program instead of $mupc, with the same
# conventions (exit 3: diverged; the last line of output: the result).
sweep_exec() {
  local tag=$1 name=$2 rc=0 msg prog_path=${sweep_prog:-$mupc}
  shift 2
  rm -f "$runs/$name.rc"
  printf '%q ' "$prog_path" "$@" >"$runs/$name.cmd"
  echo >>"$runs/$name.cmd"
  # In the background, so that a TERM from the sweep's trap reaches mupc,
  # which then ends its step and exits.
  "$prog_path" "$@" >"$runs/$name.log" 2>&1 &
  local child=$!
  trap 'kill -TERM "$child" 2>/dev/null' TERM
  wait "$child" || rc=$?
  while [ "$rc" -gt 128 ] && kill -0 "$child" 2>/dev/null; do rc=0; wait "$child" || rc=$?; done
  echo "$rc" >"$runs/$name.rc"
  case "$rc" in
    0) msg=$(tail -n 1 "$runs/$name.log") ;;
    3) msg="diverged: $(tail -n 1 "$runs/$name.log")" ;;
    *) msg="FAILED with exit status $rc, see $runs/$name.log" ;;
  esac
  echo "[$tag] $name: $msg"
}

# On INT or TERM: stop the runs in flight, say how to go on, exit 130.
sweep_trap() {
  trap 'trap - INT TERM; kill $(jobs -p) 2>/dev/null; wait; echo "$prog: stopped; run it again to continue" >&2; exit 130' INT TERM
}

# sweep_walltime_add SECONDS RAN SKIPPED: one line per invocation in
# OUT/walltime; sweep_walltime_read sets wall_total and invocations from it.
sweep_walltime_add() {
  echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) $1 $2 $3" >>"$out/walltime"
}
sweep_walltime_read() {
  wall_total=0
  invocations=0
  if [ -f "$out/walltime" ]; then
    read -r wall_total invocations < <(awk '{ s += $2; n++ } END { print s + 0, n + 0 }' "$out/walltime")
  fi
}

# The gnuplot terminal for PNGs: cairo where this gnuplot has it.
sweep_png_term() {
  if gnuplot -e 'set terminal pngcairo' >/dev/null 2>&1; then echo pngcairo; else echo png; fi
}
