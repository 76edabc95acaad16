import { spawn, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { BIN } from '../helpers/cli.js';
import { useTempDir } from '../helpers/tmp.js';

const hasScript = spawnSync('script', ['--version']).status === 0;

/** Runs a shell command inside a pseudo-terminal (util-linux `script`), as `docker run -t` gives one; bounded by `timeoutMs`. */
function inTerminal(command: string, timeoutMs: number): Promise<{ code: number | null; output: string; killed: boolean }> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', CI: undefined }; // the spinner only runs for a person at a terminal
    const child = spawn('script', ['-qec', command, '/dev/null'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let killed = false;
    child.stdout.on('data', (chunk) => (output.length < 1_000_000 ? (output += chunk) : undefined));
    // SIGTERM first: `script` then kills the session it started; SIGKILL would orphan it.
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 2000).unref();
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output, killed });
    });
  });
}

describe('a terminal that reports 0 columns (spawned in a pseudo-terminal)', () => {
  const tempDir = useTempDir();

  it.skipIf(!hasScript)('runs without the spinner and ends (it used to spin forever)', { timeout: 30_000 }, async () => {
    const result = await inTerminal(`stty cols 0 rows 0; ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} demo --out-dir ${JSON.stringify(tempDir())}`, 20_000);
    expect(result.killed).toBe(false);
    expect(result.code).toBe(0);
    expect(result.output.length).toBeLessThan(50_000); // the runaway spinner wrote megabytes of escape codes
    expect(result.output).toMatch(/push/);
  });
});

describe('push at a terminal (spawned in a pseudo-terminal)', () => {
  const tempDir = useTempDir();

  it.skipIf(!hasScript)('shows what was read, delivered, the rate and an ETA, and logs no line per batch', { timeout: 40_000 }, async () => {
    const dir = tempDir();
    const { writeFileSync } = await import('node:fs');
    const { startServer } = await import('../helpers/cli.js');
    const mock = await startServer(['mock', 'downstream', '--port', '0', '--rate', '50', '--latency', '100']);
    try {
      const file = `${dir}/profiles.ndjson`;
      writeFileSync(file, Array.from({ length: 1000 }, (_, i) => JSON.stringify({ email: `p${i}@example.com`, firstName: 'P', lastName: 'Q' })).join('\n'));
      const command = [process.execPath, BIN, 'push', file, '--downstream-url', mock.url, '--batch-size', '50', '--rate', '20', '--dead-letter', `${dir}/dl.ndjson`]
        .map((part) => JSON.stringify(part))
        .join(' ');
      const result = await inTerminal(`stty cols 120 rows 40; XDG_STATE_HOME=${JSON.stringify(dir)} ${command}`, 30_000);
      expect(result.killed).toBe(false);
      expect(result.code).toBe(0);
      expect(result.output).toMatch(/Pushing: read [\d,]+ \(\d+%\) · delivered [\d,]+ · [\d,]+\/s · ETA \d+ s/);
      expect(result.output).not.toMatch(/batch b-[0-9a-f]+ done/);
      expect(result.output).toMatch(/Delivered 1000 of 1000 profiles in 20 batches/);
    } finally {
      await mock.stop();
    }
  });
});
