import { mkdir, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { open, type RootDatabase } from 'lmdb';
import { UsageError, WriteError } from '../errors.js';
import { emailKey, loadHasher } from './digest.js';
import type { Accepted, Remembered, StateStore } from './state-store.js';

/** The LMDB environment inside the state directory (data.mdb and lock.mdb). */
const ENVIRONMENT = 'push-accepted';
const MIN_FREE_BYTES = 4 * 1024 * 1024;

/**
 * The state on disk: LMDB, one 8-byte key (platform + email) to 16 bytes (two digests). Memory-mapped
 * and ACID, with many readers and one writer at a time across processes, so two cron jobs can
 * share a directory; a kill at any moment leaves the last committed transaction. Keys are hashed
 * so a million emails take ~50 MB on disk (and at most that much of the page cache), not ~100 MB.
 */
export class LmdbStateStore implements StateStore {
  private readonly key = Buffer.alloc(8);
  /** A commit failed: the environment waits for it forever, so closing must not. */
  private failed = false;
  /** Batches being committed. */
  private readonly writing = new Set<Promise<unknown>>();

  private constructor(
    private readonly db: RootDatabase<Buffer, Buffer>,
    private readonly platform: string,
    private readonly dir: string,
  ) {}

  /**
   * Opens (creating if needed) the state in `dir` for one platform. A directory that cannot be
   * created or opened is a usage error: the run must not start without a place to remember.
   * `readOnly` (for --dry-run): undefined when there is no state yet; nothing is created.
   */
  static async open(dir: string, platform: string, { readOnly = false } = {}): Promise<LmdbStateStore | undefined> {
    await loadHasher();
    const path = join(dir, ENVIRONMENT);
    try {
      if (readOnly) {
        const exists = await stat(join(path, 'data.mdb')).then(
          () => true,
          // Stryker disable next-line ArrowFunction: undefined is as false as false here
          () => false,
        );
        if (!exists) return undefined;
      } else {
        await mkdir(path, { recursive: true });
        // LMDB maps its file: on a full disk a write through the map is a SIGBUS, which no code can
        // catch. Refuse at the start instead, with room for a run's worth of new entries.
        const { bavail, bsize } = await statfs(path);
        if (bavail * bsize < MIN_FREE_BYTES) {
          throw new UsageError(`--state ${dir}: not enough free space (${Math.floor((bavail * bsize) / 1024)} KB free; at least ${MIN_FREE_BYTES / 1024 / 1024} MB needed)`);
        }
      }
      // Not lmdb's event-turn batching: after a failed commit (a disk filled by someone else) it
      // rejects a promise of its own that nothing handles, which ends the process with a stack
      // instead of the one-line WriteError. Each batch is its own transaction instead (recordAccepted).
      const db = open<Buffer, Buffer>({
        path,
        encoding: 'binary',
        // Stryker disable next-line StringLiteral: Buffer keys are stored as their own bytes under the default key encoding too
        keyEncoding: 'binary',
        // Stryker disable next-line BooleanLiteral: lmdb compresses only values over its threshold (1000 bytes); ours are 16
        compression: false,
        readOnly,
        eventTurnBatching: false,
      });
      // Opening is lazy about some failures (a read-only filesystem): touch it now, before any send.
      db.getBinaryFast(Buffer.alloc(8));
      return new LmdbStateStore(db, platform, dir);
    } catch (error) {
      if (error instanceof UsageError) throw error;
      const code = (error as NodeJS.ErrnoException).code;
      const why = code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'ENOTDIR' || code === 'EEXIST' ? 'not a directory' : (error as Error).message;
      throw new UsageError(`--state ${dir}: cannot open the state (${why})`, { cause: error });
    }
  }

  lookup(email: string): Remembered | undefined {
    this.key.writeBigUInt64BE(emailKey(this.platform, email));
    // getBinaryFast returns a view of a shared buffer, valid until the next get: read it at once.
    const value = this.db.getBinaryFast(this.key);
    if (!value || value.length !== 16) return undefined;
    return { digest: value.readBigUInt64BE(0), textDigest: value.readBigUInt64BE(8) };
  }

  async recordAccepted(accepted: readonly Accepted[]): Promise<void> {
    // One transaction per batch answer, committed whole or not at all (a disk filling up midway
    // must not leave half a batch remembered). Resolves once committed: visible to other processes
    // and kept if this one is killed; LMDB flushes it to disk right after.
    const write = () => {
      for (const { email, digest, textDigest } of accepted) {
        const key = Buffer.allocUnsafe(8);
        key.writeBigUInt64BE(emailKey(this.platform, email));
        const value = Buffer.allocUnsafe(16);
        value.writeBigUInt64BE(digest, 0);
        value.writeBigUInt64BE(textDigest, 8);
        void this.db.put(key, value);
      }
    };
    const committed = this.db.transaction(write);
    this.writing.add(committed);
    try {
      await committed;
    } catch (error) {
      // lmdb rejects with "Commit failed" and the real cause on a promise of its own,
      // which must be handled too (else it is an unhandled rejection that ends the process).
      // Stryker disable next-line OptionalChaining: lmdb rejects a transaction only as a failed commit, which always carries commitError
      const cause = await (error as { commitError?: Promise<unknown> }).commitError?.catch((reason: unknown) => reason);
      this.failed = true;
      throw new WriteError(join(this.dir, ENVIRONMENT), cause ?? error);
    } finally {
      this.writing.delete(committed);
    }
  }

  async close(): Promise<void> {
    // A queued transaction runs only later: closing first would fail it ("Database is closed").
    await Promise.allSettled([...this.writing]);
    const closed = this.db.close();
    // After a failed commit lmdb never finishes closing; what was committed before is on disk.
    if (!this.failed) await closed;
  }
}
