import { PassThrough } from 'node:stream';
import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { KeeperClient, KeeperFailure, keeperScript, REQUEST_TIMEOUT_MS } from '../../src/state/keeper-client.js';
import { fakeKeeper, ManualTimers } from '../helpers/fake-keeper.js';
import { useTempDir } from '../helpers/tmp.js';

const tmp = useTempDir();

/** Keepers a test started: none outlives it. */
const started: KeeperClient[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((keeper) => keeper.kill()));
});

function start(onRequest: string, timers = new ManualTimers()): { keeper: KeeperClient; timers: ManualTimers } {
  const keeper = KeeperClient.start({ script: fakeKeeper(tmp(), onRequest), timers });
  started.push(keeper);
  return { keeper, timers };
}

const rejection = (promise: Promise<unknown>): Promise<unknown> => promise.then(
  () => {
    throw new Error('resolved, a rejection was expected');
  },
  (error: unknown) => error,
);

/** A keeper's start or answer takes seconds on a loaded machine: polled often, given time. */
const patiently = { timeout: 4000, interval: 5 };

/** Whether the process is still there (a reaped child has no /proc entry). */
const running = (pid: number | undefined): boolean => existsSync(`/proc/${pid}`);

/** Lets the handles of exited keepers finish closing (they are counted until then). */
async function settled(): Promise<void> {
  for (let turn = 0; turn < 3; turn++) await new Promise((resolve) => setImmediate(resolve));
}

/** The referenced child-process handles and pipes of this thread: what keeps it from exiting. */
function holding(): { processes: number; pipes: number } {
  const resources = process.getActiveResourcesInfo();
  return { processes: resources.filter((name) => name === 'ProcessWrap').length, pipes: resources.filter((name) => name === 'PipeWrap').length };
}

describe('KeeperClient', () => {
  it('a keeper that stops answering (SIGSTOP, a frozen disk) is ended after the deadline, and the run is told why', async () => {
    const timers = new ManualTimers();
    const keeper = KeeperClient.start({ timers });
    started.push(keeper);
    await keeper.request({ op: 'open', path: join(tmp(), 'env'), platform: 1n, readOnly: false });
    process.kill(keeper.pid!, 'SIGSTOP');
    const answer = rejection(keeper.request({ op: 'forgetAll' }));
    // The deadline alone never holds the run up: the keeper it waits for does.
    expect([...timers.pending].map(({ ms, held }) => ({ ms, held }))).toEqual([{ ms: REQUEST_TIMEOUT_MS, held: false }]);
    timers.fire(REQUEST_TIMEOUT_MS);
    const error = await answer;
    expect(error).toBeInstanceOf(KeeperFailure);
    expect(error).toMatchObject({ message: 'the process reading it did not answer within 300 s', code: 'ETIMEDOUT', crashed: true });
    expect(running(keeper.pid)).toBe(false);
    await expect(keeper.request({ op: 'forgetAll' })).rejects.toBe(error);
  });

  it.each([
    [1000, '1 s'],
    [999, '999 ms'],
    [2500, '3 s'],
  ])('a deadline of %i ms is said as "%s"; a keeper that ignores SIGTERM is still ended', async (timeoutMs, said) => {
    const { keeper, timers } = start(`process.on('SIGTERM', () => {}); if (request.op === 'open') done(request);`);
    await keeper.request({ op: 'open', path: 'x', platform: 1n, readOnly: false });
    const answer = rejection(keeper.request({ op: 'forgetAll' }, undefined, timeoutMs));
    timers.fire(timeoutMs);
    expect(await answer).toMatchObject({ message: `the process reading it did not answer within ${said}`, code: 'ETIMEDOUT', crashed: true });
    expect(running(keeper.pid)).toBe(false);
  });

  it('an answered request leaves no deadline behind (a run longer than 300 s keeps its keeper)', async () => {
    const { keeper, timers } = start(`done(request);`);
    await keeper.request({ op: 'forgetAll' });
    await keeper.request({ op: 'forgetAll' });
    expect(timers.durations).toEqual([]);
  });

  it('a refused request is a KeeperFailure with the keeper\'s words and code, not a crash; the keeper goes on', async () => {
    const { keeper } = start(`if (request.op === 'forget') refuse(request, 'MDB_MAP_FULL: Environment mapsize limit reached', 'MDB_ERROR'); else done(request, { forgotten: 7 });`);
    const error = await rejection(keeper.request({ op: 'forget', emails: new Uint8Array(8) }));
    expect(error).toBeInstanceOf(KeeperFailure);
    expect(error).toMatchObject({ message: 'MDB_MAP_FULL: Environment mapsize limit reached', code: 'MDB_ERROR', crashed: false });
    await expect(keeper.request({ op: 'forgetAll' })).resolves.toMatchObject({ type: 'done', forgotten: 7 });
  });

  it('entries reach the request that asked, in order, before its answer; stray and repeated replies are ignored', async () => {
    const { keeper } = start(`
      if (request.op === 'open') {
        process.send({ id: 99, type: 'done' });
        process.send({ id: request.id, type: 'entries', data: new Uint8Array([1, 2]) });
        process.send({ id: request.id, type: 'entries', data: new Uint8Array([3]) });
        done(request, { created: true });
        done(request, { created: false });
      } else {
        process.send({ id: request.id, type: 'entries', data: new Uint8Array([4]) });
        done(request, { forgotten: 1 });
      }`);
    const seen: number[][] = [];
    const opened = await keeper.request({ op: 'open', path: 'x', platform: 1n, readOnly: false }, (data) => seen.push([...data]));
    expect(opened).toMatchObject({ type: 'done', created: true });
    expect(seen).toEqual([[1, 2], [3]]);
    // No one asked for entries here: they are dropped, the answer still comes.
    await expect(keeper.request({ op: 'forgetAll' })).resolves.toMatchObject({ type: 'done', forgotten: 1 });
  });

  it('holds this process only while it owes an answer; idle, only its stderr pipe is held', async () => {
    // Never answers forgetAll (until killed), answers forget at once.
    await settled();
    const before = holding();
    const { keeper } = start(`if (request.op === 'forget') done(request);`);
    const held = (): { processes: number; pipes: number } => ({ processes: holding().processes - before.processes, pipes: holding().pipes - before.pipes });
    expect(held()).toEqual({ processes: 0, pipes: 1 });
    const answered = keeper.request({ op: 'forget', emails: new Uint8Array(8) });
    expect(held()).toEqual({ processes: 1, pipes: 2 });
    await answered;
    expect(held()).toEqual({ processes: 0, pipes: 1 });
    const never = rejection(keeper.request({ op: 'forgetAll' }));
    await keeper.request({ op: 'forget', emails: new Uint8Array(8) });
    // One answer of two: still owed one.
    expect(held()).toEqual({ processes: 1, pipes: 2 });
    await keeper.kill();
    expect(await never).toMatchObject({ message: 'the process reading it crashed (SIGKILL)', code: 'SIGKILL', crashed: true });
    expect(running(keeper.pid)).toBe(false);
  });

  it('close asks it to exit and resolves once it has, holding this process meanwhile; no timer is left', async () => {
    await settled();
    const before = holding();
    // Answers close, then lingers until SIGTERM: close must not let go before the exit.
    const { keeper, timers } = start(`if (request.op === 'close') { done(request); stay(); }`);
    let closed = false;
    const closing = keeper.close(5000).then(() => (closed = true));
    expect(timers.durations.sort((a, b) => a - b)).toEqual([5000, REQUEST_TIMEOUT_MS]);
    await vi.waitFor(() => expect(timers.durations).toEqual([]), patiently);
    expect(closed).toBe(false);
    expect(holding().processes - before.processes).toBe(1);
    process.kill(keeper.pid!, 'SIGTERM');
    await closing;
    expect(running(keeper.pid)).toBe(false);
  });

  it('close of a keeper that does as told: it exits 0, has ended without crashing, and says so to whatever is asked next', async () => {
    const { keeper, timers } = start(`if (request.op === 'close') close(request); else done(request);`);
    await keeper.request({ op: 'forgetAll' });
    await keeper.close();
    expect(running(keeper.pid)).toBe(false);
    expect(timers.durations).toEqual([]);
    // Ended: asked again, it says so at once.
    await expect(keeper.request({ op: 'forgetAll' })).rejects.toMatchObject({ message: 'the process reading it ended', crashed: false, code: undefined });
    await keeper.close();
    await keeper.kill();
  });

  it('close of a keeper that never answers ends it after the grace period', async () => {
    const { keeper, timers } = start(`process.on('SIGTERM', () => {});`);
    const closing = keeper.close(5000);
    timers.fire(5000);
    await closing;
    expect(running(keeper.pid)).toBe(false);
    expect(timers.durations).toEqual([]);
  });

  /**
   * A keeper that writes one of `pieces` on stderr per request, answering once it is written, then
   * does `end` at the next request: what it said was read long before it dies.
   */
  async function saysThenDies(pieces: string[], end: string): Promise<KeeperClient> {
    const { keeper } = start(`const pieces = ${JSON.stringify(pieces)}; globalThis.told ??= 0;
      if (globalThis.told < pieces.length) { await say(pieces[globalThis.told++]); done(request); } else { ${end} }`);
    for (const _piece of pieces) await keeper.request({ op: 'forgetAll' });
    return keeper;
  }

  it('a keeper that exits in the middle of requests fails each of them with its exit code and the reason it wrote, in pieces', async () => {
    const keeper = await saysThenDies(['file:///keeper.mjs:12\n', '    at walk (file:///keeper.mjs:12:3)\nMDB_CORRUPTED: Located page was wrong type\n'], 'process.exit(3);');
    const first = rejection(keeper.request({ op: 'forgetAll' }));
    const second = rejection(keeper.request({ op: 'forget', emails: new Uint8Array(8) }));
    const error = await first;
    expect(error).toBeInstanceOf(KeeperFailure);
    expect(error).toMatchObject({ message: 'the process reading it failed (exit 3): MDB_CORRUPTED: Located page was wrong type', code: undefined, crashed: true });
    expect(await second).toBe(error);
    await expect(keeper.request({ op: 'forgetAll' })).rejects.toBe(error);
  });

  it('a keeper that exits 0 unasked has ended, not crashed, whatever it wrote', async () => {
    const keeper = await saysThenDies(['closing early\n'], 'process.exit(0);');
    expect(await rejection(keeper.request({ op: 'forgetAll' }))).toMatchObject({ message: 'the process reading it ended', code: undefined, crashed: false });
  });

  it('a keeper ended by a signal is a crash named by the signal, with the reason it wrote', async () => {
    const keeper = await saysThenDies(['mdb.c:4321: page 7 is past the end of the map\n'], "process.kill(process.pid, 'SIGBUS');");
    expect(await rejection(keeper.request({ op: 'forgetAll' }))).toMatchObject({
      message: 'the process reading it crashed (SIGBUS): mdb.c:4321: page 7 is past the end of the map',
      code: 'SIGBUS',
      crashed: true,
    });
  });

  it('the reason is the first line that is not Node\'s: no blank line, stack frame, source location, caret or version', async () => {
    const noise = ['', '   ', '    at open (node:internal/x:1:1)', 'file:///dist/state/lmdb-keeper.js:88', 'node:internal/process:12', '        ^', 'Node.js v20.20.2'];
    const keeper = await saysThenDies([`${noise.join('\n')}\n   Assertion failed: mdb_cursor_sibling in file: mdb.c, node: 12 (^)  \nsecond line\n`], 'process.exit(134);');
    expect(await rejection(keeper.request({ op: 'forgetAll' }))).toMatchObject({
      message: 'the process reading it failed (exit 134): Assertion failed: mdb_cursor_sibling in file: mdb.c, node: 12 (^)',
    });
  });

  it('after an error nothing caught, the reason is the error, not the line of source Node shows where it was thrown', async () => {
    // Node's own report, word for word (measured: a keeper whose channel was closed in a message handler).
    const report = [
      'node:internal/child_process:747',
      '      target.channel[kPendingMessages] = [];',
      '                                       ^',
      '',
      "TypeError: Cannot set properties of null (setting 'Symbol(kPendingMessages)')",
      '    at Pipe.channel.onread (node:internal/child_process:747:40)',
      '',
      'Node.js v20.20.2',
    ].join('\n');
    const keeper = await saysThenDies([`${report}\n`], 'process.exit(1);');
    expect(await rejection(keeper.request({ op: 'forgetAll' }))).toMatchObject({
      message: "the process reading it failed (exit 1): TypeError: Cannot set properties of null (setting 'Symbol(kPendingMessages)')",
    });
  });

  it.each([
    [160, 'x'.repeat(160)],
    [161, `${'x'.repeat(160)}…`],
  ])('a reason of %i characters is said as its first 160', async (length, said) => {
    const keeper = await saysThenDies([`${'x'.repeat(length)}\n`], 'process.exit(1);');
    expect(await rejection(keeper.request({ op: 'forgetAll' }))).toMatchObject({ message: `the process reading it failed (exit 1): ${said}` });
  });

  it('only the first 64 KiB of what it writes is kept: a keeper flooding stderr grows nothing', async () => {
    const keeper = await saysThenDies(['\n'.repeat(70_000), 'the reason, past the limit\n'], 'process.exit(1);');
    expect(await rejection(keeper.request({ op: 'forgetAll' }))).toMatchObject({ message: 'the process reading it failed (exit 1)' });
  });

  it('a keeper whose channel closed while it kept running: a request it cannot take fails after the notice, and kill still ends it', async () => {
    // It lets go of the channel a turn after answering (inside the handler, Node's channel code throws).
    const { keeper, timers } = start(`process.on('SIGTERM', () => {}); stay(); done(request); setImmediate(() => process.disconnect());`);
    await keeper.request({ op: 'forgetAll' });
    await vi.waitFor(() => expect((keeper as unknown as { child: ChildProcess }).child.connected).toBe(false), patiently);
    const answer = rejection(keeper.request({ op: 'forgetAll' }));
    await vi.waitFor(() => expect(timers.durations).toContain(2000), patiently);
    timers.fire(2000);
    const error = await answer;
    expect(error).toBeInstanceOf(KeeperFailure);
    expect(error).toMatchObject({ message: expect.stringMatching(/^the state process did not take the request \(.+\)$/), crashed: false });
    expect(running(keeper.pid)).toBe(true);
    await keeper.kill();
    expect(running(keeper.pid)).toBe(false);
    await keeper.kill();
  });

  it('a keeper started ahead is the one the next spawn takes, once; one that died meanwhile is replaced', async () => {
    // This process's children, as Linux lists them (per thread: a test may run in a worker thread).
    const children = (): number[] =>
      readdirSync(`/proc/${process.pid}/task`).flatMap((task) =>
        readFileSync(`/proc/${process.pid}/task/${task}/children`, 'utf8').split(' ').filter(Boolean).map(Number),
      );
    const before = children();
    await settled();
    const holdingBefore = holding();
    KeeperClient.startAhead();
    KeeperClient.startAhead();
    const ahead = children().filter((pid) => !before.includes(pid));
    expect(ahead).toHaveLength(1);
    // Not taken, it holds nothing up: a run that ends early (a usage error) exits at once.
    expect(holding()).toEqual(holdingBefore);
    const taken = KeeperClient.spawn();
    started.push(taken);
    expect(taken.pid).toBe(ahead[0]);
    // Taken, its stderr is read to the end: the reason a crash gives.
    expect(holding().pipes - holdingBefore.pipes).toBe(1);
    const next = KeeperClient.spawn();
    started.push(next);
    expect(next.pid).not.toBe(taken.pid);
    await expect(taken.request({ op: 'open', path: join(tmp(), 'env'), platform: 1n, readOnly: false })).resolves.toMatchObject({ type: 'done' });
    await taken.close();

    const beforeDead = children();
    KeeperClient.startAhead();
    const [doomed] = children().filter((pid) => !beforeDead.includes(pid));
    process.kill(doomed!, 'SIGKILL');
    await vi.waitFor(() => expect(children()).not.toContain(doomed), patiently);
    const fresh = KeeperClient.spawn();
    started.push(fresh);
    expect(fresh.pid).not.toBe(doomed);
    await expect(fresh.request({ op: 'open', path: join(tmp(), 'env2'), platform: 1n, readOnly: false })).resolves.toMatchObject({ type: 'done' });
    await fresh.close();
  });

  it('a keeper that died as a request is sent is reported by how it died, not by the broken pipe seen first', async () => {
    // The order a loaded machine produces: the send fails (EPIPE) before the child's exit is seen.
    class DyingChild extends EventEmitter {
      readonly stderr = null;
      readonly channel = null;
      readonly pid = 1;
      send(_message: unknown, callback: (error: Error | null) => void): boolean {
        setImmediate(() => {
          callback(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
          setImmediate(() => {
            this.emit('exit', null, 'SIGSEGV');
            this.emit('close', null, 'SIGSEGV');
          });
        });
        return false;
      }
      ref(): void {}
      unref(): void {}
      kill(): boolean {
        return true;
      }
    }
    const timers = new ManualTimers();
    const keeper = new (KeeperClient as unknown as new (child: unknown, timers: ManualTimers) => KeeperClient)(new DyingChild(), timers);
    const error = await keeper.request({ op: 'forgetAll' }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(KeeperFailure);
    expect((error as Error).message).toBe('the process reading it crashed (SIGSEGV)');
    // The notice it waited with is gone once the exit said why: nothing holds the run after.
    await vi.waitFor(() => expect(timers.durations).toEqual([]), patiently);
  });

  it('a reason still in the pipe when the exit is seen is waited for: the failure says it', async () => {
    // The order a loaded machine produces: the child's exit is seen before the last of its stderr is read.
    class LateStderrChild extends EventEmitter {
      readonly stderr = new PassThrough();
      readonly channel = null;
      readonly pid = 1;
      send(_message: unknown, _callback: (error: Error | null) => void): boolean {
        setImmediate(() => {
          this.emit('exit', 1, null);
          this.stderr.end('MDB_CORRUPTED: Located page was wrong type\n', () => setImmediate(() => this.emit('close', 1, null)));
        });
        return true;
      }
      ref(): void {}
      unref(): void {}
      kill(): boolean {
        return true;
      }
    }
    const keeper = new (KeeperClient as unknown as new (child: unknown, timers: ManualTimers) => KeeperClient)(new LateStderrChild(), new ManualTimers());
    const error = await keeper.request({ op: 'forgetAll' }).catch((caught: unknown) => caught);
    expect((error as Error).message).toBe('the process reading it failed (exit 1): MDB_CORRUPTED: Located page was wrong type');
  });

  it('its environment holds none of the run\'s SYNC_ variables (the credentials), and the rest of it', async () => {
    process.env.SYNC_DOWNSTREAM_TOKEN = 'keeper-must-not-see-this';
    // What the keeper may need (HOME, TMPDIR, a library path) passes through.
    process.env.KEEPER_TEST_KEPT = 'kept';
    try {
      const keeper = KeeperClient.spawn();
      started.push(keeper);
      const environ = readFileSync(`/proc/${keeper.pid}/environ`, 'utf8').split('\0');
      expect(environ.join('\n')).not.toContain('keeper-must-not-see-this');
      expect(environ.filter((entry) => entry.startsWith('SYNC_'))).toEqual([]);
      expect(environ).toContain('KEEPER_TEST_KEPT=kept');
      expect(environ).toContain(`PATH=${process.env.PATH}`);
      await keeper.close();
    } finally {
      delete process.env.SYNC_DOWNSTREAM_TOKEN;
      delete process.env.KEEPER_TEST_KEPT;
    }
  });
});

describe('keeperScript', () => {
  /** A package built into build/state (its keeper beside it), with a keeper.js in src/ too. */
  function layout(withSibling: boolean): string {
    const root = tmp();
    mkdirSync(join(root, 'build', 'state'), { recursive: true });
    mkdirSync(join(root, 'src', 'state'), { recursive: true });
    if (withSibling) {
      writeFileSync(join(root, 'build', 'state', 'lmdb-keeper.js'), '');
      writeFileSync(join(root, 'src', 'state', 'lmdb-keeper.js'), '');
    }
    return root;
  }

  it('built, the keeper next to this module, wherever it was built to', () => {
    const root = layout(true);
    expect(keeperScript(join(root, 'build', 'state', 'keeper-client.js'))).toBe(join(root, 'build', 'state', 'lmdb-keeper.js'));
  });

  it('from the TypeScript sources, the built one in dist/, even with a keeper.js beside it', () => {
    const root = layout(true);
    expect(keeperScript(join(root, 'src', 'state', 'keeper-client.ts'))).toBe(join(root, 'dist', 'state', 'lmdb-keeper.js'));
  });

  it('a module with no keeper beside it: the one in dist/', () => {
    const root = layout(false);
    expect(keeperScript(join(root, 'lib', 'state', 'keeper-client.js'))).toBe(join(root, 'dist', 'state', 'lmdb-keeper.js'));
  });

  it('by default, a keeper that exists', () => {
    expect(existsSync(keeperScript())).toBe(true);
  });
});
