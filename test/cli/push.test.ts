import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runMain } from '../helpers/in-process-cli.js';

const FIXTURE = fileURLToPath(new URL('../../fixtures/profiles/profiles.ndjson', import.meta.url));

// Parsing and refusal only: sync runs in this process (test/helpers/in-process-cli.ts). A refusal
// through the real bin/sync.js, and every push that sends: push.e2e.test.ts.
describe('sync push: bad invocations exit 2 with one line', () => {
  it.each([
    [['push', FIXTURE], /--downstream-url/],
    [['push', FIXTURE, '--downstream-url', 'ftp://x'], /--downstream-url/],
    [['push', FIXTURE, '--batch-size', '0', '--dry-run'], /--batch-size/],
    [['push'], /missing required argument 'file'/],
  ])('%j', async (args, message) => {
    const result = await runMain(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });
});
