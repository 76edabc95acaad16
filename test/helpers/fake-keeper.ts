import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KeeperTimer, KeeperTimers } from '../../src/state/keeper-client.js';

/**
 * A keeper process that misbehaves on purpose, for `KeeperClient.start({ script })`: writes an ES
 * module to `dir` that runs `onRequest` (JavaScript, may `await`) for each request it is sent
 * (`request`: the keeper protocol's request, `op` and `id`), with these at hand:
 * - `done(request, more)`: answers it; `refuse(request, message, code)`: refuses it;
 * - `say(text)`: writes on stderr, resolved once written (before dying, so the reason is in the pipe);
 * - `stay()`: keeps running whatever happens to the channel;
 * - `close(request)`: what the real keeper does on `close`: answers, lets go of the channel (a turn
 *   later, as the real one does after lmdb's close: inside the handler of the message being read,
 *   Node's channel code throws), exits 0.
 * It only speaks the protocol's envelope (`id`, `type`), not what a request carries.
 */
export function fakeKeeper(dir: string, onRequest: string): string {
  const script = join(dir, `keeper-${Math.random().toString(36).slice(2)}.mjs`);
  writeFileSync(
    script,
    `const done = (request, more = {}) => process.send({ id: request.id, type: 'done', ...more });
const refuse = (request, message, code) => process.send({ id: request.id, type: 'error', message, code });
const say = (text) => new Promise((resolve) => process.stderr.write(text, resolve));
const stay = () => setInterval(() => {}, 60_000);
const close = (request) => { done(request); setImmediate(() => process.disconnect()); };
process.on('message', async (request) => {
${onRequest}
});
`,
  );
  return script;
}

interface ManualTimer extends KeeperTimer {
  readonly ms: number;
  readonly callback: () => void;
  /** False once unref'd: a pending timer that would not hold the process up. */
  held: boolean;
}

/** Timers that run only when a test says their time has come: deadlines asserted without waiting. */
export class ManualTimers implements KeeperTimers {
  readonly pending = new Set<ManualTimer>();

  setTimeout(callback: () => void, ms: number): ManualTimer {
    const timer: ManualTimer = {
      ms,
      callback,
      held: true,
      unref() {
        timer.held = false;
      },
    };
    this.pending.add(timer);
    return timer;
  }

  clearTimeout(timer: KeeperTimer): void {
    this.pending.delete(timer as ManualTimer);
  }

  /** The pending timers' durations, in the order they were set. */
  get durations(): number[] {
    return [...this.pending].map((timer) => timer.ms);
  }

  /** The pending timer of `ms`: its time has come. */
  fire(ms: number): void {
    const timer = [...this.pending].find((pending) => pending.ms === ms);
    if (!timer) throw new Error(`no timer of ${ms} ms pending (pending: ${this.durations.join(', ') || 'none'})`);
    this.pending.delete(timer);
    timer.callback();
  }
}
