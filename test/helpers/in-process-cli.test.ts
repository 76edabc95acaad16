import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { programName } from '../../src/cli/program-name.js';
import { runMain } from './in-process-cli.js';

/** What main touches in the process it runs in, as a test sees it. */
function globals() {
  const count = (emitter: NodeJS.EventEmitter, events: string[]) => Object.fromEntries(events.map((event) => [event, emitter.rawListeners(event).length]));
  return {
    process: count(process, ['exit', 'beforeExit', 'SIGINT', 'SIGTERM', 'uncaughtException', 'unhandledRejection']),
    stdout: count(process.stdout, ['error', 'close', 'finish', 'drain']),
    stderr: count(process.stderr, ['error', 'close', 'finish', 'drain']),
    // eslint-disable-next-line no-console -- compared, not called
    consoleError: console.error,
    env: process.env,
    cwd: process.cwd(),
    exitCode: process.exitCode,
    exit: process.exit,
    name: programName(),
    stdoutWrite: process.stdout.write,
    stderrWrite: process.stderr.write,
    stdoutTty: process.stdout.isTTY,
    stderrTty: process.stderr.isTTY,
    writeSync: fs.writeSync,
    write: fs.write,
  };
}

describe('runMain: sync in the test process, leaving nothing behind', () => {
  it('two runs of each kind (refusal, help, a run with --metrics-file, sync-cli) leave every global as it was', async () => {
    const before = globals();
    for (let round = 0; round < 2; round++) {
      expect((await runMain(['pull', '--rate', 'fast'])).code).toBe(2);
      expect((await runMain(['--help'])).code).toBe(0);
      // withExitMetrics listens for 'exit' while the run lasts; a refused pull writes its metrics file.
      expect((await runMain(['pull', '--rate', 'fast', '--metrics-file', '/nonexistent-dir/m.prom'])).code).toBe(2);
      expect((await runMain([], { programName: 'sync-cli', cwd: tmpdir() })).stderr).toContain('sync-cli --help');
      expect(globals()).toStrictEqual(before);
    }
  });

  it('gives main the environment a child gets: SYNC_* of the test process do not leak in, those given do', async () => {
    process.env.SYNC_SOURCE_URL = 'not a url';
    try {
      expect((await runMain(['pull', '--help'])).code).toBe(0);
      const given = await runMain(['pull'], { env: { SYNC_SOURCE_URL: 'nope' } });
      expect(given.code).toBe(2);
      expect(given.stderr).toContain('SYNC_SOURCE_URL');
    } finally {
      delete process.env.SYNC_SOURCE_URL;
    }
  });

  it('runs started together run one after the other, each with its own output', async () => {
    const [a, b] = await Promise.all([runMain(['pul']), runMain(['--version'])]);
    expect(a).toMatchObject({ code: 2, stdout: '' });
    expect(JSON.parse(a.stderr)).toMatchObject({ msg: "unknown command 'pul' (did you mean pull?)" });
    expect(b).toMatchObject({ code: 0, stderr: '' });
    expect(b.stdout).toMatch(/^\d+\.\d+\.\d+/);
  });
});
