import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, startServer, type RunningServer } from '../helpers/cli.js';
import { useTempDir } from '../helpers/tmp.js';

describe('sync push --retry-for against a platform that is down when the run starts (spawned)', () => {
  const tmp = useTempDir();

  it('keeps retrying past --max-retries until the platform is back, then delivers every profile (exit 0)', async () => {
    // Learn a free port, then stop the platform: the push starts against a closed port.
    const first = await startServer(['mock', 'downstream', '--port', '0']);
    const url = first.url;
    const port = new URL(url).port;
    expect((await first.stop()).code).toBe(0);

    const file = join(tmp(), 'profiles.ndjson');
    writeFileSync(file, Array.from({ length: 12 }, (_, i) => JSON.stringify({ email: `p${i}@example.com`, firstName: 'P', lastName: `N${i}` })).join('\n') + '\n');
    const started = performance.now();
    let platform: RunningServer | undefined;
    let restarting: Promise<RunningServer> | undefined;
    try {
      // --max-retries 0 would give up at the first refusal: --retry-for is what keeps it going.
      const result = await runCli(
        ['push', file, '--downstream-url', url, '--max-retries', '0', '--retry-for', '30s', '--dead-letter', join(tmp(), 'dl.ndjson'), '--json'],
        {
          timeoutMs: 40_000,
          onSpawn: (child) => {
            let stderr = '';
            child.stderr?.on('data', (chunk: Buffer) => {
              stderr += chunk.toString();
              // Back once the push has been refused twice (it is past --max-retries 0 by then):
              // two retry lines, each naming the refusal (a line names it twice: code and message).
              const refusals = stderr.split('\n').filter((line) => line.includes('"kind":"transient"') && line.includes('ECONNREFUSED'));
              if (!restarting && refusals.length >= 2) {
                restarting = startServer(['mock', 'downstream', '--port', port]);
              }
            });
          },
        },
      );
      platform = await restarting;
      expect(result.code, result.stderr).toBe(0);
      const summary = JSON.parse(result.stdout);
      expect(summary).toMatchObject({ total: 12, delivered: 12, failed: 0, deadLettered: 0 });
      expect(summary.retries).toBeGreaterThanOrEqual(2);
      const stats = (await (await fetch(`${platform!.url}/stats`)).json()) as { accepted: number };
      expect(stats.accepted).toBe(12);
      expect(performance.now() - started).toBeLessThan(15_000);
    } finally {
      platform ??= await restarting?.catch(() => undefined);
      await platform?.stop();
    }
  }, 45_000);
});
