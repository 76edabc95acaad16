import { EventEmitter } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { KeeperClient, KeeperFailure } from '../../src/state/keeper-client.js';

describe('KeeperClient', () => {
  const dirs: string[] = [];
  afterEach(() => dirs.splice(0).forEach((dir) => rmSync(dir, { recursive: true, force: true })));

  it('a keeper that stops answering (SIGSTOP, a frozen disk) is ended after the deadline, and the run is told why', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sync-keeper-'));
    dirs.push(dir);
    const keeper = KeeperClient.spawn();
    await keeper.request({ op: 'open', path: join(dir, 'env'), platform: 1n, readOnly: false });
    process.kill(keeper.pid!, 'SIGSTOP');
    const started = performance.now();
    const error = await keeper.request({ op: 'forgetAll' }, undefined, 300).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(KeeperFailure);
    expect(error).toMatchObject({ message: 'the process reading it did not answer within 300 ms', crashed: true });
    expect(performance.now() - started).toBeLessThan(5000);
    await expect(keeper.request({ op: 'forgetAll' })).rejects.toBe(error);
    await keeper.kill();
  });

  it('a keeper started ahead is the one the next spawn takes, once; one that died meanwhile is replaced', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sync-keeper-'));
    dirs.push(dir);
    // This process's children, as Linux lists them (per thread: a test may run in a worker thread).
    const children = (): number[] =>
      readdirSync(`/proc/${process.pid}/task`).flatMap((task) =>
        readFileSync(`/proc/${process.pid}/task/${task}/children`, 'utf8').split(' ').filter(Boolean).map(Number),
      );
    const before = children();
    KeeperClient.startAhead();
    KeeperClient.startAhead();
    const started = children().filter((pid) => !before.includes(pid));
    expect(started).toHaveLength(1);
    const ahead = KeeperClient.spawn();
    expect(ahead.pid).toBe(started[0]);
    const next = KeeperClient.spawn();
    try {
      expect(next.pid).not.toBe(ahead.pid);
      await expect(ahead.request({ op: 'open', path: join(dir, 'env'), platform: 1n, readOnly: false })).resolves.toMatchObject({ type: 'done' });
    } finally {
      await Promise.all([ahead.close(), next.kill()]);
    }

    const beforeDead = children();
    KeeperClient.startAhead();
    const [doomed] = children().filter((pid) => !beforeDead.includes(pid));
    process.kill(doomed!, 'SIGKILL');
    await vi.waitFor(() => expect(children()).not.toContain(doomed));
    const fresh = KeeperClient.spawn();
    try {
      expect(fresh.pid).not.toBe(doomed);
      await expect(fresh.request({ op: 'open', path: join(dir, 'env'), platform: 1n, readOnly: false })).resolves.toMatchObject({ type: 'done' });
    } finally {
      await fresh.close();
    }
  });

  it('a keeper that died as a request is sent is reported by how it died, not by the broken pipe seen first', async () => {
    // The order a loaded machine produces: the send fails (EPIPE) before the child's exit is seen.
    class DyingChild extends EventEmitter {
      readonly stderr = null;
      readonly channel = null;
      readonly pid = 1;
      send(_message: unknown, callback: (error: Error | null) => void): boolean {
        setImmediate(() => callback(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' })));
        setTimeout(() => this.emit('exit', null, 'SIGSEGV'), 50);
        return false;
      }
      ref(): void {}
      unref(): void {}
      kill(): boolean {
        return true;
      }
    }
    const keeper = new (KeeperClient as unknown as new (child: unknown) => KeeperClient)(new DyingChild());
    const error = await keeper.request({ op: 'forgetAll' }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(KeeperFailure);
    expect((error as Error).message).toBe('the process reading it crashed (SIGSEGV)');
  });

  it('its environment holds none of the run\'s SYNC_ variables (the credentials), and the rest of it', async () => {
    process.env.SYNC_DOWNSTREAM_TOKEN = 'keeper-must-not-see-this';
    // What the keeper may need (HOME, TMPDIR, a library path) passes through.
    process.env.KEEPER_TEST_KEPT = 'kept';
    try {
      const keeper = KeeperClient.spawn();
      const { readFileSync } = await import('node:fs');
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
