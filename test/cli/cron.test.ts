import { describe, expect, it } from 'vitest';
import { runMain } from '../helpers/in-process-cli.js';
import { everyLineIsJson } from '../helpers/cli.js';

// Parsing and refusal only: sync runs in this process (test/helpers/in-process-cli.ts), as a
// child of runCli would (no TTY: JSON logs). A run against a dead platform: cron.e2e.test.ts.
describe('the CLI in cron (in process, no TTY)', () => {
  it('bare `sync` is a usage error: exit 2, not help with exit 0', async () => {
    const json = await runMain([]);
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stderr)).toMatchObject({ level: 'error', errorClass: 'client', exitCode: 2, msg: 'no command given; see sync --help' });
    const pretty = await runMain([], { env: { SYNC_LOG_FORMAT: 'pretty' } });
    expect(pretty.code).toBe(2);
    expect(pretty.stderr).toMatch(/^Usage: sync/);
  });

  it("commander's own usage errors are JSON lines in JSON log mode, plain text in pretty mode", async () => {
    const json = await runMain(['push', '--bogus']);
    expect(json.code).toBe(2);
    expect(everyLineIsJson(json.stderr)).toBe(true);
    expect(JSON.parse(json.stderr.split('\n')[0]!)).toMatchObject({ exitCode: 2, msg: "unknown option '--bogus'" });
    const pretty = await runMain(['push', '--bogus', '--log-format', 'pretty']);
    expect(pretty.stderr).toBe("error: unknown option '--bogus'\n");
  });
});
