import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runMain } from '../helpers/in-process-cli.js';
import { useTempDir } from '../helpers/tmp.js';

// Parsing and refusal only: sync runs in this process (test/helpers/in-process-cli.ts). Pulls that
// reach a source: pull-profiles.e2e.test.ts.
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
    const result = await runMain(['pull', ...closed, ...args, '--log-format', 'pretty'], { cwd: tmp() });
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
      const result = await runMain(['pull', ...closed, ...args, '--log-format', 'pretty']);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr.trim()).toMatch(message);
      expect(result.stderr).not.toMatch(/ECONNREFUSED|retry/);
    }
    expect(readdirSync(tmp())).toEqual(['dir']);
  });

  it('--help shows the flag and the nightly pipe', async () => {
    const result = await runMain(['pull', '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/--profiles <file>/);
    expect(result.stdout).toContain('$ sync pull --profiles - --out customers.json | sync push - --to hubspot --map metadata.customer_tier=tier');
  });
});
