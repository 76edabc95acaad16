import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExportDocumentSchema, PulledProfileSchema } from '../../src/pull/schemas.js';
import { runCli, startServer, type RunningServer } from '../helpers/cli.js';
import { useTempDir } from '../helpers/tmp.js';

// What cannot start (parsing and refusal only): pull-profiles.test.ts, in process.
describe('sync pull --profiles against sync mock reqres (spawned)', () => {
  const tmp = useTempDir();
  let source: RunningServer;
  let down: RunningServer;

  beforeAll(async () => {
    source = await startServer(['mock', 'reqres', '--port', '0']);
    down = await startServer(['mock', 'reqres', '--port', '0', '--fail-rate', '1', '--seed', '1']);
  });

  afterAll(async () => {
    const results = await Promise.all([source.stop(), down.stop()]);
    expect(results.map((r) => r.code)).toEqual([0, 0]);
  });

  it("writes profiles that `sync push` takes: the issue's `total 282, invalid 282` becomes one invalid, the customer without a first name", async () => {
    const out = join(tmp(), 'customers.json');
    const profiles = join(tmp(), 'profiles.ndjson');
    const pull = await runCli(['pull', '--base-url', `${source.url}/api`, '--out', out, '--profiles', profiles, '--json']);
    expect(pull.code, pull.stderr).toBe(0);
    const document = ExportDocumentSchema.parse(JSON.parse(readFileSync(out, 'utf8')));
    const lines = readFileSync(profiles, 'utf8').split('\n').filter(Boolean).map((line) => PulledProfileSchema.parse(JSON.parse(line)));
    expect(lines).toHaveLength(21);
    expect(document.metadata).toMatchObject({ profiles_written: 21, profiles_without_email: 3 });
    // The summary keeps the contract's keys.
    expect(Object.keys(JSON.parse(pull.stdout))).not.toContain('profiles');

    const push = await runCli(['push', profiles, '--dry-run', '--json']);
    expect(push.code).toBe(3);
    expect(JSON.parse(push.stdout)).toMatchObject({ total: 21, valid: 20, invalid: 1 });
    expect(push.stderr).toMatch(/line 14: firstName: must not be empty/);
  });

  it('--profiles - writes the profiles to stdout and nothing else there; the export goes to its file; the report names both', async () => {
    const out = join(tmp(), 'customers.json');
    const result = await runCli(['pull', '--base-url', `${source.url}/api`, '--out', out, '--profiles', '-', '--log-format', 'pretty']);
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout.split('\n');
    expect(lines.pop()).toBe('');
    expect(lines.map((line) => PulledProfileSchema.parse(JSON.parse(line)))).toHaveLength(21);
    expect(ExportDocumentSchema.parse(JSON.parse(readFileSync(out, 'utf8'))).customers).toHaveLength(24);
    expect(result.stderr).toMatch(/^Exported 24 customers to .*customers\.json\.$/m);
    expect(result.stderr).toMatch(/^Wrote 21 profiles to stdout \(3 customers without a valid email left out\)\.$/m);
  });

  it('--out - with --profiles FILE: the export on stdout, the profiles in the file', async () => {
    const profiles = join(tmp(), 'profiles.ndjson');
    const result = await runCli(['pull', '--base-url', `${source.url}/api`, '--out', '-', '--profiles', profiles, '--quiet']);
    expect(result.code, result.stderr).toBe(0);
    expect(ExportDocumentSchema.parse(JSON.parse(result.stdout)).metadata).toMatchObject({ profiles_written: 21 });
    expect(readFileSync(profiles, 'utf8').split('\n').filter(Boolean)).toHaveLength(21);
  });

  it('exits 1 when the source stays down, leaving the previous export and profiles untouched', async () => {
    const out = join(tmp(), 'customers.json');
    const profiles = join(tmp(), 'profiles.ndjson');
    writeFileSync(out, 'previous export');
    writeFileSync(profiles, 'previous profiles\n');
    const result = await runCli(['pull', '--base-url', `${down.url}/api`, '--max-retries', '0', '--out', out, '--profiles', profiles]);
    expect(result.code).toBe(1);
    expect(readFileSync(out, 'utf8')).toBe('previous export');
    expect(readFileSync(profiles, 'utf8')).toBe('previous profiles\n');
    expect(readdirSync(tmp()).sort()).toEqual(['customers.json', 'profiles.ndjson']);
  });
});
