import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { everyLineIsJson, runCli } from '../helpers/cli.js';
import { useTempDir } from '../helpers/tmp.js';

describe('the CLI in cron (spawned, no TTY)', () => {
  const tmp = useTempDir();

  // Bare `sync` and commander's usage errors: cron.test.ts, in process.
  it('3,000 profiles with --report against a dead platform: every stderr line is JSON (no listener warnings)', async () => {
    const input = join(tmp(), 'p.ndjson');
    writeFileSync(input, Array.from({ length: 3000 }, (_, i) => JSON.stringify({ email: `u${i}@example.com`, firstName: 'A', lastName: 'B' })).join('\n'));
    const result = await runCli(
      ['push', input, '--downstream-url', 'http://127.0.0.1:9', '--max-retries', '0', '--rate', '50', '--batch-size', '10', '--report', join(tmp(), 'r.ndjson'), '--dead-letter', join(tmp(), 'dl.ndjson')],
      { timeoutMs: 30_000 },
    );
    expect(result.code, result.stderr.slice(-500)).toBe(1);
    expect(result.stderr).not.toMatch(/MaxListenersExceededWarning/);
    expect(everyLineIsJson(result.stderr)).toBe(true);
  });
});
