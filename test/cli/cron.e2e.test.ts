import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { useTempDir } from '../helpers/tmp.js';

/** In cron (no TTY) stderr is a JSON log: every line a JSON object, whatever goes wrong. */
const everyLineIsJson = (stderr: string) =>
  stderr
    .split('\n')
    .filter(Boolean)
    .every((line) => {
      try {
        return typeof JSON.parse(line) === 'object';
      } catch {
        return false;
      }
    });

describe('the CLI in cron (spawned, no TTY)', () => {
  const tmp = useTempDir();

  it('bare `sync` is a usage error: exit 2, not help with exit 0', async () => {
    const json = await runCli([]);
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stderr)).toMatchObject({ level: 'error', errorClass: 'client', exitCode: 2, msg: 'no command given; see sync --help' });
    const pretty = await runCli([], { env: { SYNC_LOG_FORMAT: 'pretty' } });
    expect(pretty.code).toBe(2);
    expect(pretty.stderr).toMatch(/^Usage: sync/);
  });

  it("commander's own usage errors are JSON lines in JSON log mode, plain text in pretty mode", async () => {
    const json = await runCli(['push', '--bogus']);
    expect(json.code).toBe(2);
    expect(everyLineIsJson(json.stderr)).toBe(true);
    expect(JSON.parse(json.stderr.split('\n')[0]!)).toMatchObject({ exitCode: 2, msg: "unknown option '--bogus'" });
    const pretty = await runCli(['push', '--bogus', '--log-format', 'pretty']);
    expect(pretty.stderr).toBe("error: unknown option '--bogus'\n");
  });

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
