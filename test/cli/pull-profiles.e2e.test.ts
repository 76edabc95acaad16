import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExportDocumentSchema, PulledProfileSchema } from '../../src/pull/schemas.js';
import { runCli, startServer, type RunningServer } from '../helpers/cli.js';
import { useTempDir } from '../helpers/tmp.js';

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

describe('sync pull --profiles: what cannot start exits 2 with one line, before any request', () => {
  const tmp = useTempDir();
  // Nothing listens here: a request would be ECONNREFUSED and retries (exit 1), not exit 2.
  const closed = ['--base-url', 'http://127.0.0.1:9/api'];

  it.each([
    [['--out', '-', '--profiles', '-'], /^error: --out - and --profiles - both want stdout; write one of them to a file$/],
    [['--profiles', '-', '--json'], /^error: --profiles - and --json both want stdout; pick one$/],
    [['--out', '-', '--json', '--profiles', 'p.ndjson'], /^error: --out - and --json both want stdout; pick one$/],
    [['--profiles', ''], /--profiles.*non-empty/],
  ])('%j', async (args, message) => {
    const result = await runCli(['pull', ...closed, ...args, '--log-format', 'pretty'], { cwd: tmp() });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim()).toMatch(message);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('a folder that does not exist, a directory, or the export file itself', async () => {
    mkdirSync(join(tmp(), 'dir'));
    const cases: [string[], RegExp][] = [
      [['--profiles', join(tmp(), 'missing', 'p.ndjson')], /^error: --profiles .*missing\/p\.ndjson: its folder .*missing does not exist$/],
      [['--profiles', join(tmp(), 'dir')], /^error: --profiles .*dir: is a directory$/],
      [['--out', join(tmp(), 'same.json'), '--profiles', join(tmp(), '.', 'same.json')], /^error: --out and --profiles name the same file/],
    ];
    for (const [args, message] of cases) {
      const result = await runCli(['pull', ...closed, ...args, '--log-format', 'pretty']);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr.trim()).toMatch(message);
      expect(result.stderr).not.toMatch(/ECONNREFUSED|retry/);
    }
    expect(readdirSync(tmp())).toEqual(['dir']);
  });

  it('--help shows the flag and the nightly pipe', async () => {
    const result = await runCli(['pull', '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/--profiles <file>/);
    expect(result.stdout).toContain('$ sync pull --profiles - --out customers.json | sync push - --to hubspot --map metadata.customer_tier=tier');
  });
});
