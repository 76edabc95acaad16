import { describe, expect, it } from 'vitest';
import { runMain } from '../helpers/in-process-cli.js';
import { usageRefusal as refusal } from '../helpers/refusal.js';

/** The one JSON error line a refused start prints (stderr is no TTY: JSON logs). */
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
