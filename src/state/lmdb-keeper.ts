import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { constants } from 'node:os';
import type { RootDatabase } from 'lmdb';
import { EMAIL_BYTES, FORGOTTEN, GENERATION_BYTES, NOTHING, RECORDED, STORED_BYTES, type KeeperReply, type KeeperRequest } from './keeper-protocol.js';
import { count } from '../ui/count.js';

/**
 * The only process that touches the LMDB files, run as a child of push (see lmdb-state-store.ts).
 * LMDB maps its file into memory and trusts it: a file cut short is a SIGBUS, a damaged page a
 * SIGSEGV or an assertion's abort, and no code can catch those. Here they end this process only,
 * and push reports a damaged state in one sentence instead of dying with a signal.
 */

const KEY_BYTES = 16;
/**
 * The state's generation (state-store.ts, `StateStore.generation`). Not 16 bytes long, so never
 * taken for an entry by a walk over a platform's range, whichever range it sorts into.
 */
const GENERATION_KEY = Buffer.from('sync:generation');
/**
 * Entries per message while loading a platform: 60 KB, under the 64 KB a read of the IPC pipe
 * takes, so push puts few messages back together from pieces (at 16,384 entries, 655 KB each, that
 * reassembly was 0.2 s of a million-entry load).
 */
const CHUNK = 1536;

/**
 * This process starts for every push, and loading lmdb is most of what it does before it answers
 * (docs/benchmarks.md, start-up, third session): lmdb's one-file CommonJS build rather than its ES
 * modules (node-index.js and a dozen more, each resolved and compiled as a module), and without
 * msgpackr's native decoder, a second addon to load, which values stored as raw bytes
 * (`encoding: 'binary'`) never use.
 */
process.env.MSGPACKR_NATIVE_ACCELERATION_DISABLED ??= 'true';
const { open } = createRequire(import.meta.url)('lmdb') as typeof import('lmdb');

let db: RootDatabase<Buffer, Buffer> | undefined;
let platform = Buffer.alloc(8);

function reply(message: KeeperReply): void {
  process.send!(message);
}

/**
 * Sends a part of a long answer, and resolves once the channel has taken it if Node holds too much
 * unsent (over 128 KB): then the walk waits for push to read. Without the wait a walk of a million
 * entries ran in one event-loop turn, so the channel could not write meanwhile: push got the first
 * 64 KB, then everything after the walk, and indexed it all after the walk too (~1 s at load 7).
 */
function replyPart(message: KeeperReply): Promise<void> | undefined {
  let written!: () => void;
  const taken = new Promise<void>((resolve) => (written = resolve));
  return process.send!(message, undefined, undefined, () => written()) ? undefined : taken;
}

function key(email: Uint8Array, offset = 0): Buffer {
  const bytes = Buffer.allocUnsafe(KEY_BYTES);
  platform.copy(bytes, 0);
  bytes.set(email.subarray(offset, offset + EMAIL_BYTES), 8);
  return bytes;
}

/** What lmdb-js calls to read each key and value of a range (RootDatabase's own members). */
interface RangeReading {
  readKey: (bytes: Uint8Array, start: number, end: number) => unknown;
  decoder?: { decode(bytes: Uint8Array, size: number): unknown };
  decoderCopies?: boolean;
}

/**
 * For one walk, until the returned function is called: each entry of our sizes (16-byte key,
 * 32-byte value) is copied by `key` then `value` straight out of lmdb-js's own reused buffers, and
 * the range yields `true` as its value (false for an entry of other sizes). By default lmdb-js
 * copies each key and each value into a new Buffer: two objects per entry for the collector, a
 * third of a million-entry walk (0.45-0.62 s against 0.35-0.45 s for the walk alone, measured).
 */
function copyingReads(store: RootDatabase<Buffer, Buffer>, copy: { key(bytes: Uint8Array, at: number): void; value(bytes: Uint8Array): void }): () => void {
  const reading = store as unknown as RangeReading;
  const { readKey, decoder, decoderCopies } = reading;
  // The current key stays readable as lmdb-js expects (it repositions a cursor from it).
  const current = Buffer.alloc(KEY_BYTES);
  let ours = false;
  reading.readKey = (bytes, start, end) => {
    ours = end - start === KEY_BYTES;
    if (!ours) return readKey(bytes, start, end);
    for (let i = 0; i < KEY_BYTES; i++) current[i] = bytes[start + i]!;
    copy.key(bytes, start);
    return current;
  };
  // decoderCopies: the decoder copies what it needs, so lmdb-js hands it its own buffer as is.
  reading.decoder = {
    decode: (bytes, size) => {
      if (!ours || size !== STORED_BYTES) return false;
      copy.value(bytes);
      return true;
    },
  };
  reading.decoderCopies = true;
  return () => Object.assign(reading, { readKey, decoder, decoderCopies });
}

function range(): { start: Buffer; end?: Buffer } {
  const id = platform.readBigUInt64BE(0);
  const start = Buffer.alloc(KEY_BYTES);
  platform.copy(start, 0);
  if (id === 0xffff_ffff_ffff_ffffn) return { start };
  const end = Buffer.alloc(KEY_BYTES);
  end.writeBigUInt64BE(id + 1n, 0);
  return { start, end };
}

function generation(): Buffer | undefined {
  const stored = db!.getBinary(GENERATION_KEY);
  return stored?.length === GENERATION_BYTES ? Buffer.from(stored) : undefined;
}

/** A new generation, inside a write transaction: the state forgot something, or was just created. */
function renewGeneration(): void {
  db!.putSync(GENERATION_KEY, randomBytes(GENERATION_BYTES));
}

async function openEnvironment(request: Extract<KeeperRequest, { op: 'open' }>): Promise<Buffer | undefined> {
  platform = Buffer.alloc(8);
  platform.writeBigUInt64BE(request.platform, 0);
  db = open<Buffer, Buffer>({
    path: request.path,
    encoding: 'binary',
    keyEncoding: 'binary',
    compression: false,
    readOnly: request.readOnly,
    // Not lmdb's event-turn batching: after a failed commit it rejects a promise of its own that
    // nothing handles. Each request is its own transaction instead.
    eventTurnBatching: false,
  });
  let chunk = Buffer.allocUnsafe(CHUNK * (EMAIL_BYTES + STORED_BYTES));
  let filled = 0;
  let walked = 0;
  // Keys first, values after them (see the `entries` reply): push copies the values in one piece.
  const restore = copyingReads(db, {
    key: (bytes, at) => {
      for (let i = 0; i < EMAIL_BYTES; i++) chunk[filled * EMAIL_BYTES + i] = bytes[at + 8 + i]!;
    },
    value: (bytes) => {
      const at = CHUNK * EMAIL_BYTES + filled * STORED_BYTES;
      for (let i = 0; i < STORED_BYTES; i++) chunk[at + i] = bytes[i]!;
    },
  });
  try {
    for (const { value } of db.getRange(range())) {
      walked += 1;
      // While copyingReads is in place the value is whether the entry was copied, not bytes.
      if ((value as unknown) !== true || ++filled < CHUNK) continue;
      const backlog = replyPart({ id: request.id, type: 'entries', data: chunk });
      chunk = Buffer.allocUnsafe(CHUNK * (EMAIL_BYTES + STORED_BYTES));
      filled = 0;
      // The range keeps its snapshot (one read transaction) across the wait.
      if (backlog) await backlog;
    }
  } finally {
    restore();
  }
  if (filled > 0) {
    chunk.copyWithin(filled * EMAIL_BYTES, CHUNK * EMAIL_BYTES, CHUNK * EMAIL_BYTES + filled * STORED_BYTES);
    reply({ id: request.id, type: 'entries', data: chunk.subarray(0, filled * (EMAIL_BYTES + STORED_BYTES)) });
  }
  // A damaged branch page can hide entries from a walk without any error: LMDB's own count of
  // entries (kept in its header) says how many there must be.
  const expected = (db.getStats() as { entryCount: number }).entryCount;
  const stored = generation();
  const found = walked + (stored ? 1 : 0) === expected ? expected : db.getKeysCount();
  if (found !== expected) throw new Error(`its header counts ${count(expected, 'entry', 'entries')}, ${found} can be read`);
  if (request.readOnly) return stored;
  // Written at every open (the same bytes again once there are some): a file damaged where only
  // writing goes (its free pages, a page past a short end) is refused here, before anything is
  // sent, rather than at the first commit after the first batch.
  // Read again inside the transaction: another process may have renewed it since the walk, and
  // writing back the one read then would revive a generation that forgot something.
  await write(() => {
    const current = generation();
    if (current) db!.putSync(GENERATION_KEY, current);
    else renewGeneration();
  });
  return generation();
}

/**
 * One transaction, each item a compare-and-set: the new value is written if the stored bytes are
 * still the basis the batch was formed on (or already hold the same profile digest), else the
 * email is forgotten (see state-store.ts, `Accepted`).
 */
async function record(request: Extract<KeeperRequest, { op: 'record' }>): Promise<Uint8Array> {
  const count = request.hasBasis.length;
  const decisions = new Uint8Array(count);
  await write(() => {
    const now = generation();
    let forgotten = false;
    for (let i = 0; i < count; i++) {
      const at = key(request.emails, i * EMAIL_BYTES);
      const value = Buffer.from(request.values.subarray(i * STORED_BYTES, (i + 1) * STORED_BYTES));
      const current = db!.getBinary(at);
      const basis = request.hasBasis[i] ? request.bases.subarray(i * STORED_BYTES, (i + 1) * STORED_BYTES) : undefined;
      const formedIn = request.generations.subarray(i * GENERATION_BYTES, (i + 1) * GENERATION_BYTES);
      const expected =
        basis === undefined ? current === undefined && now !== undefined && Buffer.compare(now, formedIn) === 0 : current !== undefined && Buffer.compare(current, basis) === 0;
      const sameProfile = current !== undefined && current.length === STORED_BYTES && Buffer.compare(current.subarray(0, 8), value.subarray(0, 8)) === 0;
      if (expected || sameProfile) {
        db!.putSync(at, value);
        decisions[i] = RECORDED;
      } else if (db!.removeSync(at)) {
        decisions[i] = FORGOTTEN;
        forgotten = true;
      } else decisions[i] = NOTHING;
    }
    if (forgotten) renewGeneration();
  });
  return decisions;
}

async function forget(emails: Uint8Array): Promise<number> {
  let forgotten = 0;
  await write(() => {
    for (let offset = 0; offset < emails.length; offset += EMAIL_BYTES) if (db!.removeSync(key(emails, offset))) forgotten += 1;
    if (forgotten > 0) renewGeneration();
  });
  return forgotten;
}

async function forgetAll(): Promise<number> {
  let forgotten = 0;
  await write(() => {
    for (const stored of db!.getKeys(range())) if (stored.length === KEY_BYTES && db!.removeSync(stored)) forgotten += 1;
    if (forgotten > 0) renewGeneration();
  });
  return forgotten;
}

async function write(action: () => void): Promise<void> {
  try {
    await db!.transaction(action);
  } catch (error) {
    // lmdb rejects with "Commit failed" and the real cause on a promise of its own.
    const cause = await (error as { commitError?: Promise<unknown> }).commitError?.catch((reason: unknown) => reason);
    throw cause ?? error;
  }
}

/** lmdb reports the system's errors by number (13 for EACCES) and its own as negative numbers. */
function codeName(code: unknown): string | undefined {
  if (typeof code === 'string') return code;
  if (typeof code !== 'number') return undefined;
  if (code < 0) return 'MDB_ERROR';
  return Object.entries(constants.errno).find(([, number]) => number === code)?.[0];
}

async function handle(request: KeeperRequest): Promise<void> {
  try {
    switch (request.op) {
      case 'open':
        return reply({ id: request.id, type: 'done', generation: await openEnvironment(request) });
      case 'record': {
        const decisions = await record(request);
        return reply({ id: request.id, type: 'done', decisions, generation: generation() });
      }
      case 'forget': {
        const forgotten = await forget(request.emails);
        return reply({ id: request.id, type: 'done', forgotten, generation: generation() });
      }
      case 'forgetAll': {
        const forgotten = await forgetAll();
        return reply({ id: request.id, type: 'done', forgotten, generation: generation() });
      }
      case 'close':
        await db?.close();
        reply({ id: request.id, type: 'done' });
        return process.disconnect();
    }
  } catch (error) {
    const { message, code } = error as { message?: string; code?: unknown };
    reply({ id: request.id, type: 'error', message: String(message ?? error), code: codeName(code) });
  }
}

// Requests are handled in order; a transaction queued behind another waits for it inside lmdb.
let queue = Promise.resolve();
process.on('message', (request: KeeperRequest) => {
  queue = queue.then(() => handle(request));
});
// Push ended (or was killed): nothing more will be asked. A transaction under way commits first.
process.on('disconnect', () => void queue.then(() => process.exit(0)));
