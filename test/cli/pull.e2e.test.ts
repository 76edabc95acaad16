import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExportDocumentSchema } from '../../src/pull/schemas.js';
import { runCli, startServer, type RunningServer } from '../helpers/cli.js';
import { startDripServer } from '../helpers/drip-server.js';
import { useTempDir } from '../helpers/tmp.js';

const SUMMARY_KEYS = ['pages', 'requests', 'retries', 'rateLimited', 'fetched', 'skipped', 'duplicatesRemoved', 'exported', 'qualitySummary', 'out', 'durationMs'];

describe('sync pull against sync mock reqres (spawned)', () => {
  const tmp = useTempDir();
  let flaky: RunningServer;
  let down: RunningServer;

  beforeAll(async () => {
    // Failures on both sides: the mock drops 20% (500/503/resets), the client injects 20% more.
    flaky = await startServer(['mock', 'reqres', '--port', '0', '--fail-rate', '0.2', '--seed', '11']);
    down = await startServer(['mock', 'reqres', '--port', '0', '--fail-rate', '1', '--seed', '1']);
  });

  afterAll(async () => {
    const results = await Promise.all([flaky.stop(), down.stop()]);
    expect(results.map((r) => r.code)).toEqual([0, 0]);
  });

  it('exports every customer through the failures and exits 0', async () => {
    const out = join(tmp(), 'customers.json');
    // Seed 7's first draw fails page 1, so at least one retry is certain; 10 retries make a lost page (p≈1e-5) moot.
    const result = await runCli(['pull', '--base-url', `${flaky.url}/api`, '--fault-rate', '0.2', '--seed', '7', '--max-retries', '10', '--out', out, '--json']);
    expect(result.code, result.stderr).toBe(0);

    const summary = JSON.parse(result.stdout);
    expect(Object.keys(summary).sort()).toEqual([...SUMMARY_KEYS].sort());
    expect(summary.retries).toBeGreaterThan(0);
    expect(summary.requests).toBe(summary.pages + summary.retries);
    expect(summary.exported).toBe(24);

    const document = ExportDocumentSchema.parse(JSON.parse(readFileSync(out, 'utf8')));
    expect(document.metadata.total_customers).toBe(24);
    expect(document.metadata.data_quality_summary).toEqual(summary.qualitySummary);

    // Logs on stderr are JSON lines (not a TTY) with one run id, and each retry is logged.
    const lines = result.stderr.trim().split('\n').map((line) => JSON.parse(line));
    expect(new Set(lines.map((line) => line.runId)).size).toBe(1);
    expect(lines.filter((line) => line.retryAt).length).toBe(summary.retries);
  });

  it('writes the export to stdout with --out -', async () => {
    const result = await runCli(['pull', '--base-url', `${flaky.url}/api`, '--max-retries', '10', '--out', '-', '--quiet']);
    expect(result.code, result.stderr).toBe(0);
    expect(ExportDocumentSchema.parse(JSON.parse(result.stdout)).customers).toHaveLength(24);
  });

  it('exits 1 when the source stays down, leaving the previous export untouched', async () => {
    const out = join(tmp(), 'customers.json');
    writeFileSync(out, 'previous export');
    const metricsFile = join(tmp(), 'pull.prom');
    const result = await runCli(['pull', '--base-url', `${down.url}/api`, '--max-retries', '1', '--out', out, '--metrics-file', metricsFile]);
    expect(result.code).toBe(1);
    expect(readFileSync(out, 'utf8')).toBe('previous export');
    expect(readdirSync(tmp()).sort()).toEqual(['customers.json', 'pull.prom']);
    // The metrics file is written for a failed run too: the exit code is what alerting needs.
    expect(readFileSync(metricsFile, 'utf8')).toMatch(/^sync_run_exit_code\{command="pull"\} 1$/m);
    const errors = result.stderr.trim().split('\n').map((line) => JSON.parse(line)).filter((line) => line.level === 'error');
    expect(errors.at(-1)).toMatchObject({ errorClass: 'server', exitCode: 1 });
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('--request-timeout ends a source that drips its body one byte every 2 s: a timeout (exit 1), not a hang', async () => {
    const drip = await startDripServer(JSON.stringify({ page: 1, per_page: 1, total: 1, total_pages: 1, data: [{ id: 1 }] }), 2000);
    try {
      const out = join(tmp(), 'customers.json');
      const started = performance.now();
      const result = await runCli(['pull', '--base-url', `${drip.url}/api`, '--max-retries', '0', '--request-timeout', '500ms', '--out', out]);
      expect(result.code, result.stderr).toBe(1);
      expect(performance.now() - started).toBeLessThan(8000);
      const errors = result.stderr.trim().split('\n').map((line) => JSON.parse(line)).filter((line) => line.level === 'error');
      expect(errors.at(-1)).toMatchObject({ errorClass: 'server', exitCode: 1 });
      expect(errors.at(-1).msg).toMatch(/page 1: timed out \(no complete answer within 500 ms\)/);
      expect(existsSync(out)).toBe(false);
    } finally {
      await drip.close();
    }
  });

  it('exits 130 on SIGINT with the previous export untouched', async () => {
    const out = join(tmp(), 'customers.json');
    writeFileSync(out, 'previous export');
    const result = await runCli(['pull', '--base-url', `${down.url}/api`, '--out', out], {
      onSpawn: (child) => {
        child.stderr?.on('data', (chunk: Buffer) => {
          if (chunk.toString().includes('"retryAt"')) child.kill('SIGINT');
        });
      },
    });
    expect(result.code).toBe(130);
    expect(readFileSync(out, 'utf8')).toBe('previous export');
  });
});

describe('sync pull against a listing that moves while it is paged (sync mock reqres --shift)', () => {
  const tmp = useTempDir();

  it('exits 1 with one line saying the source changed while paging, and leaves the previous export untouched', async () => {
    // 30 users, newest first; the mock adds one before each page and drops the oldest.
    const fixture = join(tmp(), 'users.json');
    const users = Array.from({ length: 30 }, (_, i) => ({ id: 30 - i, email: `user${30 - i}@example.com`, first_name: 'User', last_name: `N${30 - i}` }));
    writeFileSync(fixture, JSON.stringify(users));
    const moving = await startServer(['mock', 'reqres', '--port', '0', '--shift', '--fixture', fixture, '--rate', '0']);
    try {
      const out = join(tmp(), 'customers.json');
      writeFileSync(out, 'previous export');
      const result = await runCli(['pull', '--base-url', `${moving.url}/api`, '--concurrency', '1', '--out', out, '--json']);
      expect(result.code, result.stderr).toBe(1);
      expect(readFileSync(out, 'utf8')).toBe('previous export');
      const summary = JSON.parse(result.stdout);
      // Five pages of six, each starting with the record the page before ended with; page 1 fetched again to be sure.
      expect(summary).toMatchObject({ pages: 5, requests: 6, fetched: 30, exported: 0, out: null });
      const errors = result.stderr.trim().split('\n').map((line) => JSON.parse(line)).filter((line) => line.level === 'error');
      expect(errors.at(-1)).toMatchObject({
        errorClass: 'server',
        exitCode: 1,
        msg: 'the source changed while paging: it announced 30 users, 26 different ones arrived (4 seen again on a later page); nothing exported, run again',
      });
    } finally {
      expect((await moving.stop()).code).toBe(0);
    }
  });
});
