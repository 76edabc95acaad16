import { symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createDownstreamMock } from '../../src/mock/downstream-server.js';
import { runMain } from '../helpers/in-process-cli.js';
import { serveMock } from '../helpers/mocks.js';
import { testDir } from '../helpers/tmp.js';

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

// The same family through the real launcher (bin/sync.js, its state process started ahead and
// withdrawn), a missing folder and a --state that is a file: push-faults.e2e.test.ts.
describe('sync push: unusable output paths stop the run before the first request (exit 2, one line)', () => {
  it('a directory, one file named twice (also through a symlink), a --metrics-file in a missing folder, /dev/full', async (context) => {
    const tmp = testDir(context.onTestFinished);
    const { url, server } = await serveMock(createDownstreamMock({ random: Math.random }), context.onTestFinished);
    const input = join(tmp(), 'p.ndjson');
    writeFileSync(input, `${JSON.stringify({ email: 'user1@example.com', firstName: 'Ann', lastName: 'Lee' })}\n`);
    writeFileSync(join(tmp(), 'target.ndjson'), '');
    symlinkSync(join(tmp(), 'target.ndjson'), join(tmp(), 'link.ndjson'));
    const cases: [string[], RegExp][] = [
      [['--dead-letter', tmp()], /--dead-letter .*: is a directory/],
      [['--report', join(tmp(), 'same.ndjson'), '--dead-letter', join(tmp(), 'same.ndjson')], /--dead-letter and --report name the same file/],
      [['--metrics-file', '/no/such/dir/m.prom'], /--metrics-file \/no\/such\/dir\/m\.prom/],
      [['--dead-letter', '/dev/full'], /--dead-letter \/dev\/full: is not a regular file/],
      [['--report', join(tmp(), 'link.ndjson'), '--dead-letter', join(tmp(), 'target.ndjson')], /--dead-letter and --report name the same file/],
    ];
    for (const [extra, message] of cases) {
      const result = await runMain(['push', input, '--downstream-url', url, '--dead-letter', join(tmp(), 'dl.ndjson'), ...extra]);
      expect(result.code, `${extra.join(' ')}\n${result.stderr}`).toBe(2);
      expect(result.stderr.trim().split('\n'), extra.join(' ')).toHaveLength(1);
      expect(result.stderr).toMatch(message);
    }
    expect(server.stats().requests).toBe(0);
  });
});
