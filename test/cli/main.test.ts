import { describe, expect, it } from 'vitest';
import { runMain } from '../helpers/in-process-cli.js';

const lines = (stderr: string): string[] => stderr.split('\n').filter((line) => line.trim() !== '');

describe("commander's usage errors: one mistake, one line, exit 2 (in process; the same outputs from the real bin/sync.js: test/helpers/in-process-cli.e2e.test.ts)", () => {
  it.each([
    ['mock', 'sync mock needs a command: reqres, downstream, hubspot, mailchimp, braze, customerio or iterable; see sync mock --help'],
    ['state', 'sync state needs a command: show, forget or reset; see sync state --help'],
  ])('`sync %s` without its command in a pipe: exit 2 and one JSON error line, not its help as one error per line', async (group, msg) => {
    const result = await runMain([group]);
    expect(result.code).toBe(2);
    expect(lines(result.stderr)).toHaveLength(1);
    expect(JSON.parse(result.stderr)).toMatchObject({ level: 'error', errorClass: 'client', exitCode: 2, msg });
    expect(result.stdout).toBe('');
  });

  it('`sync mock` without its command on a terminal (pretty): its help on stderr, still exit 2', async () => {
    const result = await runMain(['mock', '--log-format', 'pretty']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^Usage: sync mock \[options\] \[command\]/);
    expect(result.stderr).toContain('hubspot');
  });

  it('a mistyped command: the suggestion is part of the one error line, in both formats', async () => {
    const json = await runMain(['pul']);
    expect(json.code).toBe(2);
    expect(lines(json.stderr)).toHaveLength(1);
    expect(JSON.parse(json.stderr)).toMatchObject({ exitCode: 2, msg: "unknown command 'pul' (did you mean pull?)" });
    const pretty = await runMain(['pul', '--log-format', 'pretty']);
    expect(pretty.code).toBe(2);
    expect(pretty.stderr).toBe("error: unknown command 'pul' (did you mean pull?)\n");
  });

  it('help asked for is still exit 0 on stdout', async () => {
    const result = await runMain(['mock', '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: sync mock/);
    expect(result.stderr).toBe('');
  });
});
