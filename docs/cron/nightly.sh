#!/usr/bin/env bash
# The nightly job: pull the customers, then push them to the platform. Installed as the README's
# "Running it from cron" says; run by cron as
#
#   15 2 * * * sync-cli /opt/sync-cli/nightly.sh /etc/sync-cli/nightly.env
#
# Cron gives a bare environment, so everything comes from the env file (default
# /etc/sync-cli/nightly.env): the platform (SYNC_DESTINATION, SYNC_DOWNSTREAM_URL,
# SYNC_DOWNSTREAM_TOKEN, SYNC_LIST_ID), the source (SYNC_SOURCE_URL, SYNC_API_KEY), the state
# (SYNC_STATE_DIR, default ~/.local/state/sync) and the settings read below. It creates the
# folders it writes to, says on stderr (the cron mail) why it stopped, and exits with the code of
# the step that stopped it: 0 done, 1 failed, 2 could not start, 3 done but some records refused,
# 130 interrupted. Each run's files carry its start time: logs/, runs/, dead-letters/, reports/.
set -uo pipefail

stamp=$(date +%Y-%m-%dT%H%M%S)
say() { printf 'sync-cli nightly %s: %s\n' "$stamp" "$*" >&2; }
# A shutdown or Ctrl-C: the running step stops cleanly (exit 130) and the script says so below.
stopped=
trap 'stopped=1' INT TERM

env_file=${1:-/etc/sync-cli/nightly.env}
if [ -n "${1:-}" ] || [ -e "$env_file" ]; then
  set -a # every variable the file sets reaches sync-cli
  # shellcheck source=/dev/null
  . "$env_file" || { say "cannot read $env_file; nothing ran"; exit 2; }
  set +a
fi

cli=${SYNC_CLI:-/opt/sync-cli/bin/sync-cli}   # never plain `sync`: on cron's PATH that is coreutils'
dir=${NIGHTLY_DIR:-$HOME/sync-cli}            # exports/ logs/ runs/ dead-letters/ reports/
metrics=${NIGHTLY_METRICS_DIR:-$dir/metrics}  # node_exporter's textfile collector directory
retry_for=${NIGHTLY_RETRY_FOR:-30m}           # ride out an outage of the source or platform this long
# Extra flags, as bash arrays in the env file, e.g. NIGHTLY_PUSH_FLAGS=(--map metadata.customer_tier=tier)
# NIGHTLY_PROFILES=FILE: push this file (another job's) instead of pulling.

for folder in "$dir/exports" "$dir/logs" "$dir/runs" "$dir/dead-letters" "$dir/reports" "$metrics"; do
  mkdir -p "$folder" || { say "cannot create $folder; nothing ran"; exit 2; }
done
cd "$dir" || { say "cannot enter $dir; nothing ran"; exit 2; }
[ -x "$cli" ] || { say "$cli is not installed (README: Running it from cron); nothing ran"; exit 2; }
command -v node > /dev/null || { say "node is not on PATH ($PATH): set PATH in $env_file; nothing ran"; exit 2; }

# Why a step stopped, in the tool's words: the message of the last error line of its log (else
# the log's last line: what node or the shell said).
why() {
  local line
  line=$(grep -F '"level":"error"' "$1" | tail -n 1 | sed -e 's/.*"msg":"//' -e 's/"}$//')
  [ -n "$line" ] || line=$(tail -n 1 "$1")
  printf '%s (see %s)' "${line:-nothing logged}" "$dir/$1"
}
# A count from a run's --json summary.
count() { sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p" "$1"; }

profiles=${NIGHTLY_PROFILES:-exports/profiles.ndjson}
if [ -z "${NIGHTLY_PROFILES:-}" ]; then
  log=logs/pull-$stamp.ndjson
  "$cli" pull --json --out exports/customers.json --profiles "$profiles" --retry-for "$retry_for" \
    --metrics-file "$metrics/sync_pull.prom" "${NIGHTLY_PULL_FLAGS[@]}" \
    > "runs/pull-$stamp.json" 2> "$log"
  code=$?
  case $code in
    0) ;;
    1) say "pull failed, nothing pushed, the previous export kept: $(why "$log")"; exit 1 ;;
    2) say "pull could not start, nothing pushed: $(why "$log")"; exit 2 ;;
    130) say "pull interrupted, nothing pushed; the previous export kept"; exit 130 ;;
    *) say "pull ended with exit code $code, nothing pushed: $(why "$log")"; exit "$code" ;;
  esac
  [ -z "$stopped" ] || { say "stopped by a signal after the pull, nothing pushed"; exit 130; }
fi

log=logs/push-$stamp.ndjson
summary=runs/push-$stamp.json
dead=dead-letters/$stamp.ndjson
"$cli" push "$profiles" --json --retry-for "$retry_for" --dead-letter "$dead" --report "reports/$stamp.ndjson" \
  --metrics-file "$metrics/sync_push.prom" "${NIGHTLY_PUSH_FLAGS[@]}" \
  > "$summary" 2> "$log"
code=$?
counts="delivered $(count "$summary" delivered) of $(count "$summary" total) (unchanged $(count "$summary" unchanged), invalid $(count "$summary" invalid), rejected $(count "$summary" rejected), failed $(count "$summary" failed))"
case $code in
  0) say "done: $counts" ;;
  3) say "done, some records refused: $counts; each is in $dir/$dead with its reason; fix them at the source, the next run sends them again" ;;
  1) say "push failed: $(why "$log"); $counts; run this script again: what the platform accepted is skipped" ;;
  2) say "push could not start, nothing sent: $(why "$log")" ;;
  130) say "push interrupted: $counts; run this script again to continue where it stopped" ;;
  *) say "push ended with exit code $code: $(why "$log")" ;;
esac
exit "$code"
