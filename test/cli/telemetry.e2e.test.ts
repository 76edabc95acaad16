import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/engine/random.js';
import { createDownstreamMock } from '../../src/mock/downstream-server.js';
import { createReqresMock, DEFAULT_USERS_FIXTURE, loadUsers } from '../../src/mock/reqres-server.js';
import { runCli } from '../helpers/cli.js';
import { serveMock } from '../helpers/mocks.js';
import { parsePrometheus } from '../helpers/prometheus.js';
import { useTempDir } from '../helpers/tmp.js';

const FIXTURE = fileURLToPath(new URL('../../fixtures/profiles/profiles.ndjson', import.meta.url));
const STAGES = new Set(['fetch', 'transform', 'validate', 'batch', 'send', 'export', 'run']);

const jsonLines = (stderr: string): Record<string, unknown>[] =>
  stderr
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));

describe('telemetry for one-shot runs (spawned)', () => {
  const tmp = useTempDir();
  let source: { url: string };
  let platform: { url: string };
  // `sync mock reqres --rate 3` and `sync mock downstream --fail-rate 0.3 --seed 5`, in this process:
  // the runs under test stay spawned; nothing here stops or restarts a simulator.
  const stops: (() => Promise<void>)[] = [];
  const keep = (stop: () => Promise<void>) => void stops.push(stop);

  beforeAll(async () => {
    [source, platform] = await Promise.all([
      serveMock(createReqresMock({ users: loadUsers(DEFAULT_USERS_FIXTURE), rate: 3, random: Math.random }), keep),
      serveMock(createDownstreamMock({ failRate: 0.3, random: seededRandom(5) }), keep),
    ]);
  });
  afterAll(async () => {
    await Promise.all(stops.map((stop) => stop()));
  });

  it('pull: the metrics file parses as Prometheus text and matches the --json summary; logs carry runId and stage', async () => {
    const metricsFile = join(tmp(), 'pull.prom');
    const result = await runCli(['pull', '--base-url', `${source.url}/api`, '--fault-rate', '0.2', '--seed', '7', '--max-retries', '10', '--out', join(tmp(), 'c.json'), '--metrics-file', metricsFile, '--json']);
    expect(result.code, result.stderr).toBe(0);
    const summary = JSON.parse(result.stdout);
    const text = readFileSync(metricsFile, 'utf8');
    const metrics = parsePrometheus(text);
    // Only pull's own families: no push or serve family listed at zero.
    expect(text).not.toMatch(/^# TYPE sync_(batch_size|submissions_total|profiles_validated|profile_field_errors|downstream_|invalid_email_ratio|caller_wait)/m);
    expect(metrics.get('sync_source_requests_total')).toBe(summary.requests);
    expect(metrics.get('sync_pull_pages_total')).toBe(summary.pages);
    expect(metrics.get('sync_pull_customers_exported')).toBe(summary.exported);
    expect(metrics.get('sync_rate_limited_total')).toBe(summary.rateLimited);
    expect((metrics.get('sync_retries_total{kind="transient"}') ?? 0) + (metrics.get('sync_retries_total{kind="rate-limited"}') ?? 0)).toBe(summary.retries);
    expect(metrics.get('sync_pull_customers_by_quality{band="high"}')).toBe(summary.qualitySummary.high_quality);
    expect(metrics.get('sync_run_exit_code{command="pull"}')).toBe(0);

    const lines = jsonLines(result.stderr);
    for (const line of lines) {
      expect(line.runId).toBe(lines[0]!.runId);
      expect(STAGES.has(line.stage as string), JSON.stringify(line)).toBe(true);
      expect(line.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    }
    const retries = lines.filter((line) => line.retryAt);
    expect(retries.length).toBe(summary.retries);
    for (const retry of retries) {
      expect(retry).toMatchObject({ stage: 'fetch', page: expect.any(Number), attempt: expect.any(Number), delayMs: expect.any(Number) });
      expect(typeof retry.status === 'number' || typeof retry.code === 'string').toBe(true);
    }
  });

  it('push: the metrics file matches the --json summary; batch lines carry their batchId', async () => {
    const metricsFile = join(tmp(), 'push.prom');
    const result = await runCli(
      ['push', FIXTURE, '--batch-size', '8', '--max-retries', '8', '--dead-letter', join(tmp(), 'dl.ndjson'), '--metrics-file', metricsFile, '--json'],
      { env: { SYNC_DOWNSTREAM_URL: platform.url } },
    );
    expect(result.code, result.stderr).toBe(3);
    const summary = JSON.parse(result.stdout);
    const text = readFileSync(metricsFile, 'utf8');
    const metrics = parsePrometheus(text);
    // Only push's own families: none of pull's, nor serve's caller waits.
    expect(text).not.toMatch(/^# TYPE sync_(pull_|source_|caller_wait)/m);
    expect(metrics.get('sync_submissions_total{outcome="delivered",error_class=""}')).toBe(summary.delivered);
    expect(metrics.get('sync_submissions_total{outcome="rejected",error_class="client"}')).toBe(summary.rejected);
    expect(metrics.get('sync_submissions_total{outcome="invalid",error_class="client"}')).toBe(summary.invalid);
    expect(metrics.get('sync_profiles_validated_total{result="invalid"}')).toBe(summary.invalid);
    expect(metrics.get('sync_batch_size_count')).toBe(summary.batches);
    const requests = [...metrics].filter(([key]) => key.startsWith('sync_downstream_requests_total')).reduce((sum, [, value]) => sum + value, 0);
    expect(requests).toBe(summary.requests);
    expect(metrics.get('sync_run_exit_code{command="push"}')).toBe(3);
    expect(metrics.get('sync_invalid_email_ratio')).toBeGreaterThan(0);

    const lines = jsonLines(result.stderr);
    for (const line of lines) expect(STAGES.has(line.stage as string), JSON.stringify(line)).toBe(true);
    const sends = lines.filter((line) => line.stage === 'send' && line.msg !== 'run finished' && !line.line);
    expect(sends.length).toBeGreaterThan(0);
    for (const send of sends) expect(send.batchId ?? send.breaker, JSON.stringify(send)).toBeDefined();
    for (const retry of lines.filter((line) => line.retryAt)) {
      expect(retry).toMatchObject({ stage: 'send', batchId: expect.any(String), attempt: expect.any(Number), delayMs: expect.any(Number) });
    }
  });
});
