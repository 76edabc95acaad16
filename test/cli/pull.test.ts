import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runMain } from '../helpers/in-process-cli.js';

// Parsing and refusal only: sync runs in this process (test/helpers/in-process-cli.ts). Pulls that
// reach a source are in pull.e2e.test.ts.
describe('sync pull: bad input exits 2 with one line', () => {
  it.each([
    [['pull', '--rate', 'fast'], /--rate/],
    [['pull', '--concurrency', '0'], /--concurrency/],
    [['pull', '--fault-rate', '1.5'], /--fault-rate/],
    [['pull', '--base-url', 'ftp://example.com'], /--base-url/],
    [['pull', '--base-url', 'not a url'], /--base-url/],
    [['pull', '--no-such-flag'], /unknown option/],
    [['pull', '--out', '-', '--json'], /--out - and --json/],
    [['pull', '--request-timeout', 'soon'], /--request-timeout/],
    [['pull', '--retry-for', '25h'], /--retry-for.*expected a duration from 1s to 24h/],
    [['pull', '--retry-for', 'forever'], /--retry-for/],
  ])('%j', async (args, message) => {
    const result = await runMain(args);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(message);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('validates SYNC_SOURCE_URL like the flag', async () => {
    const result = await runMain(['pull'], { env: { SYNC_SOURCE_URL: 'nope' } });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/SYNC_SOURCE_URL|--base-url/);
  });

  it('an unknown command exits 2', async () => {
    const result = await runMain(['pul']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/pull/);
  });

  it('--help exits 0 and shows an example', async () => {
    const result = await runMain(['pull', '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/Example:\n\s+\$ sync pull/);
    expect(existsSync(BIN_CHECK)).toBe(true);
  });
});

const BIN_CHECK = new URL('../../bin/sync.js', import.meta.url);
