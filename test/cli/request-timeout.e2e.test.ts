import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startDripServer } from '../helpers/drip-server.js';
import { useTempDir } from '../helpers/tmp.js';

describe('sync push --request-timeout against a platform that drips its answer (spawned)', () => {
  const tmp = useTempDir();

  it('is a timeout (class server, dead-lettered for replay, exit 1), not a hang', async () => {
    const drip = await startDripServer(JSON.stringify({ batchId: 'b', results: [{ email: 'ann@example.com', status: 'accepted' }] }), 2000);
    try {
      const file = join(tmp(), 'p.ndjson');
      writeFileSync(file, `${JSON.stringify({ email: 'ann@example.com', firstName: 'Ann', lastName: 'Lee' })}\n`);
      const deadLetter = join(tmp(), 'dead.ndjson');
      const started = performance.now();
      const result = await runCli(['push', file, '--downstream-url', drip.url, '--max-retries', '0', '--request-timeout', '500ms', '--json', '--dead-letter', deadLetter]);
      expect(result.code, result.stderr).toBe(1);
      expect(performance.now() - started).toBeLessThan(8000);
      expect(JSON.parse(result.stdout)).toMatchObject({ failed: 1, delivered: 0 });
      const [letter] = readFileSync(deadLetter, 'utf8').trim().split('\n').map((line) => JSON.parse(line));
      expect(letter).toMatchObject({ class: 'server', reason: expect.stringMatching(/timed out \(no complete answer within 500 ms\)/) });
    } finally {
      await drip.close();
    }
  });
});
