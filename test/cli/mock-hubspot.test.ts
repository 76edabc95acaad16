import { describe, expect, it } from 'vitest';
import type { CliResult } from '../helpers/cli.js';
import { runMain } from '../helpers/in-process-cli.js';

/** The one JSON error line a refused start prints (stderr is no TTY: JSON logs). */
function refusal(result: CliResult): string {
  expect(result.code, result.stderr).toBe(2);
  const lines = result.stderr.split('\n').filter((line) => line.trim() !== '');
  expect(lines, result.stderr).toHaveLength(1);
  expect(result.stdout).toBe('');
  return (JSON.parse(lines[0]!) as { msg: string }).msg;
}

// Parsing and refusal only: sync runs in this process (test/helpers/in-process-cli.ts). The mock
// serving, and a refusal through the real bin/sync.js: mock-hubspot.e2e.test.ts.
describe('sync mock hubspot: what it refuses (in process)', () => {
  it.each([
    [['--property', 'tags:checkbox'], /--property.*needs its options/],
    [['--property', 'lifecyclestage'], /--property "lifecyclestage" is already defined/],
    [['--daily', '0'], /--daily.*requests per day/],
  ])('refuses %j with one line, exit 2', async (flags, message) => {
    expect(refusal(await runMain(['mock', 'hubspot', '--port', '0', ...flags]))).toMatch(message);
  });
});
