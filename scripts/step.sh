#!/usr/bin/env bash
# Progress lines of `make run` / `make test`: `step.sh begin NAME` when a build step starts, `step.sh end NAME` when it
# is done. Each line has the time since make started (KEFU_MAKE_START, set by the Makefile) and the load average: a
# duration on a busy machine means little without it. The durations also go to var/stamps/steps.log (one line per
# finished step: name, seconds, load average), which scripts/bare_clone_check.sh prints.
set -euo pipefail
what=${1:?begin or end}; shift
name=$*
dir=var/stamps/steps
mkdir -p "$dir"
now=$(date +%s)
start=${KEFU_MAKE_START:-$now}
load=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || sysctl -n vm.loadavg 2>/dev/null | tr -d '{}' || echo '?')
mmss() { printf '%d:%02d' $(($1 / 60)) $(($1 % 60)); }
key=$dir/$(printf '%s' "$name" | tr -c 'A-Za-z0-9' '_')
case $what in
  begin)
    echo "$now" >"$key"
    printf '\n==> [%s] %s ... (load average %s)\n' "$(mmss $((now - start)))" "$name" "$load"
    ;;
  end)
    t0=$(cat "$key" 2>/dev/null || echo "$now")
    printf '==> [%s] %s: done in %s (load average %s)\n' "$(mmss $((now - start)))" "$name" "$(mmss $((now - t0)))" \
      "$load"
    printf '%s\t%d\t%s\n' "$name" $((now - t0)) "$load" >>var/stamps/steps.log
    ;;
  *) echo "usage: step.sh begin|end NAME" >&2; exit 2 ;;
esac
