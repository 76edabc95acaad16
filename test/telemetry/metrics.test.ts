import { describe, expect, it } from 'vitest';
import { Histogram, Registry } from 'prom-client';
import { CountedHistogram, fieldLabel, SyncMetrics } from '../../src/telemetry/metrics.js';
import { validateProfile } from '../../src/profiles/schemas.js';
import { parsePrometheus } from '../helpers/prometheus.js';

const FIELD_LABELS = ['email', 'firstName', 'lastName', 'metadata', 'record', 'other'];

describe('sync_profile_field_errors_total', () => {
  it('labels each error with its known top-level field, the record itself, or other', () => {
    expect(fieldLabel('email')).toBe('email');
    expect(fieldLabel('metadata.tags.3')).toBe('metadata');
    expect(fieldLabel('')).toBe('record');
    expect(fieldLabel('plan')).toBe('other');
    expect(fieldLabel('plan,tier')).toBe('other');
    expect(fieldLabel('__proto__')).toBe('other');
  });

  it('keeps label values in a fixed set however many unknown keys callers send', async () => {
    const metrics = new SyncMetrics();
    for (let record = 0; record < 50; record++) {
      const hostile: Record<string, unknown> = { email: 'nope', firstName: 'A', lastName: 'B' };
      for (let key = 0; key < 40; key++) hostile[`k${record}_${key}`] = 1;
      const validation = validateProfile(hostile);
      metrics.recordValidation(validation.ok ? undefined : validation.errors);
    }
    const samples = parsePrometheus(await metrics.text());
    const fields = [...samples.keys()].filter((name) => name.startsWith('sync_profile_field_errors_total')).map((name) => /field="([^"]*)"/.exec(name)![1]);
    expect(fields.sort()).toEqual(['email', 'other']);
    expect(fields.every((field) => FIELD_LABELS.includes(field!))).toBe(true);
    expect(samples.get('sync_profile_field_errors_total{field="other"}')).toBe(50);
    expect(samples.get('sync_invalid_email_ratio')).toBe(1);
  });
});

describe('sync_run_records', () => {
  it("one series per outcome of the push summary; summed over outcome they are the records read, so a share of refusals is one query", async () => {
    const metrics = new SyncMetrics();
    const summary = { total: 40, valid: 37, invalid: 3, duplicates: 1, unchanged: 20, delivered: 13, rejected: 2, failed: 1, deadLettered: 6 };
    metrics.recordRecords('push', summary);
    const samples = parsePrometheus(await metrics.text());
    const records = [...samples].filter(([key]) => key.startsWith('sync_run_records{'));
    expect(Object.fromEntries(records)).toStrictEqual({
      'sync_run_records{command="push",outcome="invalid"}': 3,
      'sync_run_records{command="push",outcome="duplicates"}': 1,
      'sync_run_records{command="push",outcome="unchanged"}': 20,
      'sync_run_records{command="push",outcome="delivered"}': 13,
      'sync_run_records{command="push",outcome="rejected"}': 2,
      'sync_run_records{command="push",outcome="failed"}': 1,
    });
    expect(records.reduce((sum, [, value]) => sum + value, 0)).toBe(summary.total);
  });
});

/** The families a Prometheus text names (`# TYPE name kind`). */
const families = (text: string): string[] => [...text.matchAll(/^# TYPE (\S+) /gm)].map((match) => match[1]!).sort();

const RUN_GAUGES = ['sync_run_duration_seconds', 'sync_run_exit_code', 'sync_run_last_timestamp_seconds'];

describe("a one-shot run's metrics hold only its own command's families", () => {
  const run = { exitCode: 0, durationMs: 1000, endedAt: Date.now() };

  it('pull: the shared retry and 429 counters and the run gauges, no push or serve family at zero', async () => {
    const metrics = new SyncMetrics();
    metrics.recordRun('pull', run);
    expect(families(await metrics.text())).toEqual(['sync_rate_limited_total', 'sync_retries_total', ...RUN_GAUGES].sort());
  });

  it("push: push's families, not serve's", async () => {
    const metrics = new SyncMetrics();
    metrics.recordRun('push', run);
    const names = families(await metrics.text());
    expect(names).toEqual(
      [
        'sync_batch_size',
        'sync_downstream_request_duration_seconds',
        'sync_downstream_requests_total',
        'sync_invalid_email_ratio',
        'sync_profile_field_errors_total',
        'sync_profiles_validated_total',
        'sync_rate_limited_total',
        'sync_retries_total',
        'sync_submissions_total',
        ...RUN_GAUGES,
      ].sort(),
    );
  });

  it('serve (no run recorded) exposes every family it has, its caller waits and queue included', async () => {
    const metrics = new SyncMetrics({ queueDepth: () => 0, breakerState: () => 'closed' });
    const names = families(await metrics.text());
    expect(names).toEqual(expect.arrayContaining(['sync_caller_wait_seconds', 'sync_queue_depth', 'sync_breaker_state', 'sync_submissions_total', 'sync_batch_size']));
  });
});

describe('counted per answer, handed to prom-client when read (issue 19)', () => {
  it("a CountedHistogram's text is prom-client's Histogram's for the same observations, in the same order", async () => {
    const buckets = [0.05, 0.1, 0.5, 1, 2];
    const ours = new Registry();
    const theirs = new Registry();
    const counted = new CountedHistogram({ name: 'wait_seconds', help: 'a wait', labelName: 'status', buckets, registers: [ours] });
    const reference = new Histogram({ name: 'wait_seconds', help: 'a wait', labelNames: ['status'], buckets, registers: [theirs] });
    // On a bound (in that bucket), between bounds, over the last (only +Inf), zero, and sums that round.
    const observations: [string, number][] = [['200', 0.05], ['200', 0.07], ['499', 3], ['200', 0], ['504', 2], ['200', 0.1 + 0.2], ['499', 1e-9], ['200', 0.100000001]];
    for (const [status, value] of observations) {
      counted.observe({ status }, value);
      reference.observe({ status }, value);
    }
    expect(await ours.metrics()).toBe(await theirs.metrics());
    counted.reset();
    reference.reset();
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });

  it('a counted series shows its total once read, adds to what was counted through prom-client, and a series never counted does not appear', async () => {
    const metrics = new SyncMetrics();
    const delivered = metrics.series(metrics.submissions, { outcome: 'delivered', error_class: '' });
    expect(metrics.series(metrics.submissions, { outcome: 'delivered', error_class: '' })).toBe(delivered);
    metrics.series(metrics.submissions, { outcome: 'failed', error_class: 'server' });
    // Label values that run together the same way are still two series.
    const ab = metrics.series(metrics.submissions, { outcome: 'ab', error_class: 'c' });
    expect(metrics.series(metrics.submissions, { outcome: 'a', error_class: 'bc' })).not.toBe(ab);
    delivered.inc();
    delivered.inc(4);
    metrics.submissions.inc({ outcome: 'delivered', error_class: '' });
    const first = parsePrometheus(await metrics.text());
    expect(first.get('sync_submissions_total{outcome="delivered",error_class=""}')).toBe(6);
    expect([...first.keys()].some((key) => key.includes('outcome="failed"'))).toBe(false);
    // Read again: nothing counted twice.
    delivered.inc();
    expect(parsePrometheus(await metrics.text()).get('sync_submissions_total{outcome="delivered",error_class=""}')).toBe(7);
    expect((await metrics.submissions.get()).values).toEqual([{ labels: { outcome: 'delivered', error_class: '' }, value: 7 }]);
  });

  it('valid profiles are counted on sync_profiles_validated_total and in the invalid-email ratio', async () => {
    const metrics = new SyncMetrics();
    for (let i = 0; i < 3; i++) metrics.recordValidation(undefined);
    metrics.recordValidation([{ path: 'email' }]);
    const samples = parsePrometheus(await metrics.text());
    expect(samples.get('sync_profiles_validated_total{result="valid"}')).toBe(3);
    expect(samples.get('sync_profiles_validated_total{result="invalid"}')).toBe(1);
    expect(samples.get('sync_invalid_email_ratio')).toBe(0.25);
  });
});
