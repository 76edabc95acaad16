import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, startServer } from '../helpers/cli.js';
import { useTempDir } from '../helpers/tmp.js';

/** Runs `sync …` with its stdout read by something that hangs up, as `| head -N` does: after `keep` chunks (0: before any). */
function pipedToHead(args: string[], keep: number): Promise<{ code: number | null; stderr: string; chunks: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, CI: 'true', NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let chunks = 0;
    child.stderr.on('data', (chunk) => (stderr += chunk));
    if (keep === 0) child.stdout.destroy();
    else child.stdout.on('data', () => ++chunks === keep && child.stdout.destroy());
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, chunks });
    });
  });
}

describe('stdout closed by its reader (spawned)', () => {
  const tempDir = useTempDir();

  it('push --dry-run | head: stops at once, quietly, as cat does (141, no EPIPE stack)', async () => {
    const dir = tempDir();
    const file = join(dir, 'big.ndjson');
    writeFileSync(file, Array.from({ length: 100_000 }, (_, i) => JSON.stringify({ email: `u${i}@example.com`, firstName: 'a', lastName: 'b' })).join('\n'));
    const result = await pipedToHead(['push', file, '--dry-run'], 1);
    expect(result.stderr).not.toMatch(/EPIPE|Error|\n\s+at /);
    expect(result.code).toBe(141);
  });

  it('sync --help | head: no EPIPE stack either', async () => {
    for (const args of [['--help'], ['push', '--help']]) {
      const result = await pipedToHead(args, 0);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(141);
    }
  });
});

describe('stderr closed by its reader (spawned)', () => {
  it('sync serve keeps answering callers after its log reader hangs up, and still exits 0 on SIGTERM', async () => {
    const platform = await startServer(['mock', 'downstream', '--port', '0', '--rate', '1000']);
    const serve = await startServer(['serve', '--port', '0', '--rate', '1000', '--log-format', 'json'], { SYNC_DOWNSTREAM_URL: platform.url });
    try {
      // As `sync serve 2> >(head -n 1)`: whoever read the log lines is gone; the next line written meets EPIPE.
      serve.child.stderr!.destroy();
      for (let round = 0; round < 3; round++) {
        const statuses = await Promise.all(
          Array.from({ length: 50 }, async (_, i) => {
            const res = await fetch(`${serve.url}/profiles`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ email: `r${round}-${i}@example.com`, firstName: 'P', lastName: 'Q' }),
            });
            return res.status;
          }),
        );
        expect(statuses, `round ${round}`).toEqual(Array.from({ length: 50 }, () => 200));
      }
    } finally {
      const stopped = await serve.stop();
      await platform.stop();
      expect(stopped.code).toBe(0);
    }
  });
});
