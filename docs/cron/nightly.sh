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
# One night at a time per NIGHTLY_DIR (where flock(1) exists): a second one says so and exits 2.
# A night that stops before its first step still writes its exit code to that step's metrics file.
set -uo pipefail

stamp=$(date +%Y-%m-%dT%H%M%S)
say() { printf 'sync-cli nightly %s: %s\n' "$stamp" "$*" >&2; }
# A shutdown or Ctrl-C: the running step stops cleanly (exit 130) and the script says so below.
stopped=
trap 'stopped=1' INT TERM

# Stops the night before any step ran: says why, and puts the exit code in the metrics file of the
# step it would have run first, since that file is what the alert reads (last night's exit 0 must
# not stay there). Written like the tool writes it: a temp file renamed over the file a link names.
not_started() {
  local code=$1 step=pull; shift
  say "$*; nothing ran"
  [ -z "${NIGHTLY_PROFILES:-}" ] || step=push
  local folder=${NIGHTLY_METRICS_DIR:-${NIGHTLY_DIR:-${HOME:-}/sync-cli}/metrics}
  local file temp
  if [ -d "$folder" ]; then
    file=$(readlink -f -- "$folder/sync_$step.prom" 2> /dev/null) || file=$folder/sync_$step.prom
    temp=$(dirname -- "$file")/.sync_$step.prom.$$.tmp
    if ! printf '# HELP %s %s\n# TYPE %s gauge\n%s{command="%s"} %s\n\n' \
      sync_run_exit_code 'Exit code of the last run' sync_run_exit_code sync_run_exit_code "$step" "$code" \
      sync_run_duration_seconds 'Duration of the last run' sync_run_duration_seconds sync_run_duration_seconds "$step" 0 \
      sync_run_last_timestamp_seconds 'When the last run ended (Unix time)' sync_run_last_timestamp_seconds sync_run_last_timestamp_seconds "$step" "$(date +%s)" \
      2> /dev/null > "$temp" || ! mv -f -- "$temp" "$file" 2> /dev/null; then
      rm -f -- "$temp"
      say "exit $code not recorded in $file"
    fi
  fi
  exit "$code"
}

env_file=${1:-/etc/sync-cli/nightly.env}
if [ -n "${1:-}" ] || [ -e "$env_file" ]; then
  set -a # every variable the file sets reaches sync-cli
  # shellcheck source=/dev/null
  . "$env_file" || not_started 2 "cannot read $env_file"
  set +a
fi

cli=${SYNC_CLI:-/opt/sync-cli/bin/sync-cli}   # never plain `sync`: on cron's PATH that is coreutils'
dir=${NIGHTLY_DIR:-$HOME/sync-cli}            # exports/ logs/ runs/ dead-letters/ reports/
metrics=${NIGHTLY_METRICS_DIR:-$dir/metrics}  # node_exporter's textfile collector directory
retry_for=${NIGHTLY_RETRY_FOR:-30m}           # ride out an outage of the source or platform this long
# Extra flags, as bash arrays in the env file, e.g. NIGHTLY_PUSH_FLAGS=(--map metadata.customer_tier=tier)
# NIGHTLY_PROFILES=FILE: push this file (another job's) instead of pulling.

for folder in "$dir/exports" "$dir/logs" "$dir/runs" "$dir/dead-letters" "$dir/reports" "$metrics"; do
  mkdir -p "$folder" || not_started 2 "cannot create $folder"
done
cd "$dir" || not_started 2 "cannot enter $dir"
# One night at a time in a folder: one started while the last is still at it (an outage ridden out
# with --retry-for, a rerun by hand) would push the same profiles twice at once and, started in the
# same second, write over the other's logs. The lock is the night's, its steps included.
if command -v flock > /dev/null; then
  { exec 9>> .nightly.lock; } 2> /dev/null || not_started 2 "cannot write in $dir"
  flock -n 9 || not_started 2 "another night is still running in $dir (pid $(cat .nightly.lock 2> /dev/null))"
  printf '%s\n' "$$" > .nightly.lock
fi
[ -x "$cli" ] || not_started 2 "$cli is not installed (README: Running it from cron)"
command -v node > /dev/null || not_started 2 "node is not on PATH ($PATH): set PATH in $env_file"

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
    1)
      # --allow-partial (or a run it could not record) writes the export and still fails: say which.
      if grep -q '"out":"' "runs/pull-$stamp.json"; then
        say "pull failed after writing exports/customers.json and $profiles (incomplete, or not recorded), nothing pushed: $(why "$log")"
      else
        say "pull failed, nothing pushed, the previous export kept: $(why "$log")"
      fi
      exit 1 ;;
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
