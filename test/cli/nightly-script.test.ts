import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parsePrometheus } from '../helpers/prometheus.js';
import { useTempDir } from '../helpers/tmp.js';

const NIGHTLY = fileURLToPath(new URL('../../docs/cron/nightly.sh', import.meta.url));

/**
 * Stands in for sync-cli so that every exit code of each step can be had on demand: it records the
 * arguments it was given, prints a --json summary and, when it fails, a JSON error line as the
 * tool does. What the real tool does under the script is cron-install.e2e.test.ts's business; here
 * it is the script's own part: which step runs, what it passes, what the cron mail says.
 */
const STAND_IN = `#!/bin/sh
step=$1
eval "code=\\$EXIT_$step"
echo "$@" > "$RECORD/$step.args"
# A signal that reaches the script only (not this step): SIGNAL_pull=TERM.
eval "signal=\\\${SIGNAL_$step:-}"
[ -z "$signal" ] || kill -"$signal" "$PPID"
# Another night starting while this step runs: NESTED_pull=1 runs the script again, from here.
eval "nested=\\\${NESTED_$step:-}"
[ -z "$nested" ] || [ -n "\${IN_NESTED:-}" ] || { IN_NESTED=1 "$NIGHTLY" "$ENV_FILE" 2> "$RECORD/nested.mail"; echo $? > "$RECORD/nested.code"; }
default='{"total":10,"valid":9,"invalid":1,"duplicates":0,"unchanged":2,"delivered":5,"rejected":1,"failed":1,"deadLettered":3}'
eval "summary=\\"\\\${SUMMARY_$step:-\\$default}\\""
echo "$summary"
[ "$code" = 0 ] || [ "$code" = 3 ] || echo '{"level":"error","time":"t","runId":"r","stage":"run","errorClass":"client","exitCode":'"$code"',"msg":"'"$step"' said why (exit '"$code"')"}' >&2
exit "$code"
`;

describe('docs/cron/nightly.sh: the cron mail says why it stopped, for every exit code', () => {
  const tmp = useTempDir();

  const night = (pull: number, push: number, lines: string[] = []) => {
    const cli = join(tmp(), 'sync-cli');
    writeFileSync(cli, STAND_IN);
    chmodSync(cli, 0o755);
    const env = join(tmp(), 'nightly.env');
    writeFileSync(env, [`SYNC_CLI=${cli}`, `NIGHTLY_DIR=${join(tmp(), 'work')}`, `RECORD=${tmp()}`, `NIGHTLY=${NIGHTLY}`, `ENV_FILE=${env}`, `EXIT_pull=${pull}`, `EXIT_push=${push}`, ...lines, ''].join('\n'));
    const result = spawnSync('/usr/bin/env', ['-i', 'PATH=/usr/bin:/bin', `HOME=${tmp()}`, NIGHTLY, env], { encoding: 'utf8', timeout: 10_000 });
    const args = (step: string) => (existsSync(join(tmp(), `${step}.args`)) ? readFileSync(join(tmp(), `${step}.args`), 'utf8').trim() : undefined);
    const recorded = (name: string) => (existsSync(join(tmp(), name)) ? readFileSync(join(tmp(), name), 'utf8') : undefined);
    return { code: result.status, mail: result.stderr, stdout: result.stdout, pull: args('pull'), push: args('push'), nested: { code: recorded('nested.code')?.trim(), mail: recorded('nested.mail') } };
  };
  const LINE = /^sync-cli nightly \d{4}-\d\d-\d\dT\d{6}: /;

  it('pulls the profiles, then pushes that file, each with --retry-for 30m and its own metrics file', () => {
    const run = night(0, 0, ['NIGHTLY_PUSH_FLAGS=(--to hubspot --map metadata.customer_tier=tier)']);
    expect(run.pull).toBe(`pull --json --out exports/customers.json --profiles exports/profiles.ndjson --retry-for 30m --metrics-file ${tmp()}/work/metrics/sync_pull.prom`);
    expect(run.push).toMatch(
      new RegExp(
        `^push exports/profiles\\.ndjson --json --retry-for 30m --dead-letter dead-letters/(\\S+)\\.ndjson --report reports/\\1\\.ndjson --metrics-file ${tmp()}/work/metrics/sync_push\\.prom --to hubspot --map metadata\\.customer_tier=tier$`,
      ),
    );
    for (const folder of ['exports', 'logs', 'runs', 'dead-letters', 'reports', 'metrics']) expect(existsSync(join(tmp(), 'work', folder)), folder).toBe(true);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('');
    expect(run.mail).toMatch(new RegExp(`${LINE.source}done: delivered 5 of 10 \\(unchanged 2, invalid 1, rejected 1, failed 1\\)\\n$`));
  });

  it.each([
    [1, /pull failed, nothing pushed, the previous export kept: pull said why \(exit 1\) \(see \S+\/work\/logs\/pull-\S+\.ndjson\)/],
    [2, /pull could not start, nothing pushed: pull said why \(exit 2\) \(see \S+\/logs\/pull-\S+\.ndjson\)/],
    [130, /pull interrupted, nothing pushed; the previous export kept/],
  ])('pull exits %i: nothing pushed, one line says why, the script exits the same', (code, says) => {
    const run = night(code, 0);
    expect(run.push).toBeUndefined();
    expect(run.code).toBe(code);
    expect(run.mail.split('\n').filter(Boolean)).toHaveLength(1);
    expect(run.mail).toMatch(LINE);
    expect(run.mail).toMatch(says);
  });

  it.each([
    [3, /done, some records refused: delivered 5 of 10 \(unchanged 2, invalid 1, rejected 1, failed 1\); each is in \S+\/work\/dead-letters\/\S+\.ndjson with its reason; fix them at the source, the next run sends them again/],
    [1, /push failed: push said why \(exit 1\) \(see \S+\/logs\/push-\S+\.ndjson\); delivered 5 of 10 .*; run this script again: what the platform accepted is skipped/],
    [2, /push could not start, nothing sent: push said why \(exit 2\) \(see \S+\/logs\/push-\S+\.ndjson\)/],
    [130, /push interrupted: delivered 5 of 10 .*; run this script again to continue where it stopped/],
    [137, /push ended with exit code 137: push said why \(exit 137\)/],
  ])('push exits %i: one line says why, the script exits the same', (code, says) => {
    const run = night(0, code);
    expect(run.code).toBe(code);
    expect(run.mail.split('\n').filter(Boolean)).toHaveLength(1);
    expect(run.mail).toMatch(LINE);
    expect(run.mail).toMatch(says);
  });

  it.each(['TERM', 'INT'])('SIG%s reaching the script while the pull finishes: the pull completes, nothing is pushed, exit 130 and why', (signal) => {
    const run = night(0, 0, [`SIGNAL_pull=${signal}`]);
    expect(run.pull).toBeDefined();
    expect(run.push).toBeUndefined();
    expect(run.code).toBe(130);
    expect(run.mail).toMatch(new RegExp(`${LINE.source}stopped by a signal after the pull, nothing pushed\\n$`));
  });

  it("NIGHTLY_PROFILES: another job's file is pushed, no pull", () => {
    const run = night(0, 0, [`NIGHTLY_PROFILES=${tmp()}/inbox.ndjson`]);
    expect(run.pull).toBeUndefined();
    expect(run.push).toMatch(new RegExp(`^push ${tmp()}/inbox\\.ndjson --json `));
  });

  it('what stops it before any step is said too, exit 2: an env file it cannot read, a program not installed, a folder it cannot create', () => {
    const missing = spawnSync('/usr/bin/env', ['-i', 'PATH=/usr/bin:/bin', `HOME=${tmp()}`, NIGHTLY, join(tmp(), 'absent.env')], { encoding: 'utf8' });
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(new RegExp(`${LINE.source}cannot read ${tmp()}/absent\\.env; nothing ran\\n$`, 'm'));
    const absent = night(0, 0, [`SYNC_CLI=${tmp()}/nowhere/sync-cli`]);
    expect(absent.code).toBe(2);
    expect(absent.mail).toMatch(new RegExp(`${LINE.source}${tmp()}/nowhere/sync-cli is not installed \\(README: Running it from cron\\); nothing ran\\n$`));
    writeFileSync(join(tmp(), 'a-file'), '');
    const blocked = night(0, 0, [`NIGHTLY_METRICS_DIR=${tmp()}/a-file/metrics`]);
    expect(blocked.code).toBe(2);
    expect(blocked.mail).toMatch(new RegExp(`${LINE.source}cannot create ${tmp()}/a-file/metrics; nothing ran\\n$`, 'm'));
    expect(blocked.pull).toBeUndefined();
  });

  it('a pull that fails after writing its export (--allow-partial, or its run not recorded): nothing pushed, and the mail does not claim the previous export was kept', () => {
    const run = night(1, 0, ['SUMMARY_pull=\'{"pages":3,"exported":18,"out":"exports/customers.json"}\'']);
    expect(run.push).toBeUndefined();
    expect(run.code).toBe(1);
    expect(run.mail).not.toMatch(/previous export kept/);
    expect(run.mail).toMatch(new RegExp(`${LINE.source}pull failed after writing exports/customers\\.json and exports/profiles\\.ndjson \\(incomplete, or not recorded\\), nothing pushed: pull said why \\(exit 1\\) \\(see \\S+\\)\\n$`));
    // Nothing written (out null): the previous export is still there, and the mail says so.
    expect(night(1, 0, ['SUMMARY_pull=\'{"pages":1,"exported":0,"out":null}\'']).mail).toMatch(/pull failed, nothing pushed, the previous export kept: /);
  });

  // The metrics file is what the alert reads: a night that stops before its first step must not leave
  // last night's exit 0 standing there, or only "has not run for 26 h" notices, a day later.
  it('a night that stops before any step writes exit 2 to the metrics of the step it would have run', () => {
    const metrics = join(tmp(), 'work', 'metrics');
    mkdirSync(metrics, { recursive: true });
    writeFileSync(join(metrics, 'sync_pull.prom'), 'sync_run_exit_code{command="pull"} 0\n');
    const absent = night(0, 0, [`SYNC_CLI=${tmp()}/nowhere/sync-cli`]);
    expect(absent.code).toBe(2);
    const pull = parsePrometheus(readFileSync(join(metrics, 'sync_pull.prom'), 'utf8'));
    expect(pull.get('sync_run_exit_code{command="pull"}')).toBe(2);
    expect(pull.get('sync_run_last_timestamp_seconds{command="pull"}')).toBeGreaterThan(Date.now() / 1000 - 60);
    night(0, 0, [`SYNC_CLI=${tmp()}/nowhere/sync-cli`, `NIGHTLY_PROFILES=${tmp()}/inbox.ndjson`]);
    expect(parsePrometheus(readFileSync(join(metrics, 'sync_push.prom'), 'utf8')).get('sync_run_exit_code{command="push"}')).toBe(2);
    expect(readdirSync(metrics).sort()).toEqual(['sync_pull.prom', 'sync_push.prom']);
  });

  it('a night that starts while another is still running (same NIGHTLY_DIR): it runs nothing and says so, exit 2; the running one goes on', () => {
    const run = night(0, 0, ['NESTED_pull=1']);
    expect(run.nested.code).toBe('2');
    expect(run.nested.mail).toMatch(new RegExp(`${LINE.source}another night is still running in ${tmp()}/work \\(pid \\d+\\); nothing ran\\n$`));
    expect(run.code).toBe(0);
    expect(run.push).toBeDefined();
    // The lock is released with the night: the next one runs.
    expect(night(0, 0).code).toBe(0);
  });
});
