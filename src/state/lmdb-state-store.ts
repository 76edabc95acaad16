import { constants } from 'node:fs';
import { access, lstat, rename, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { programName } from '../cli/program-name.js';
import { UsageError, WriteError } from '../errors.js';
import { loadHasher, platformKey, type Digest } from './digest.js';
import { EntryLoader, type LoadedEntries } from './entry-index.js';
import { checkStored, decodeIndexed, emailId, encodeStored, storedCheckHolds, TEXT_DIGEST_AT, writeEmailId, type EmailId } from './entry-codec.js';
import { KeeperClient, KeeperFailure } from './keeper-client.js';
import { EMAIL_BYTES, FORGOTTEN, GENERATION_BYTES, RECORDED, STORED_BYTES } from './keeper-protocol.js';
import type { Accepted, Recorded, Remembered, StateStore } from './state-store.js';
import { createStateDirectory, fsFailure } from './state-dir.js';

/** A digest's two 32-bit halves, without a bigint operation (each allocates). */
const digestHalves = new DataView(new ArrayBuffer(8));

/** The LMDB environment inside the state directory. No dot: lmdb-js opens a name with an extension as a single file. */
export const ENVIRONMENT = 'platform-state';
const MIN_FREE_BYTES = 4 * 1024 * 1024;

/** Where a state directory keeps its environment. */
export const environmentOf = (dir: string): string => join(dir, ENVIRONMENT);

/**
 * The state on disk: LMDB, 16-byte keys (platform, then email) to 32-byte values (entry-codec.ts).
 * ACID, many readers and one writer at a time across processes, so two cron jobs can share a
 * directory; a kill at any moment leaves the last committed transaction.
 *
 * LMDB itself runs in a child process (lmdb-keeper.ts): a damaged file crashes that process, not
 * this one. Opening loads this platform's entries into an index here, so a lookup (one per record)
 * never crosses processes; each batch's acceptances go to the keeper as one transaction.
 */
export class LmdbStateStore implements StateStore {
  private readonly platformBytes: Buffer;
  /** A commit failed: lmdb never finishes closing after that, so the keeper is ended instead. */
  private failed = false;
  private readonly writing = new Set<Promise<unknown>>();
  private generationBytes: Buffer;
  private readonly scratch = Buffer.alloc(STORED_BYTES);

  private constructor(
    private readonly keeper: KeeperClient,
    private readonly index: LoadedEntries,
    platformId: bigint,
    private readonly dir: string,
    /** The environment did not exist before this open. */
    readonly created: boolean,
    generation: Uint8Array | undefined,
  ) {
    this.platformBytes = Buffer.alloc(8);
    this.platformBytes.writeBigUInt64BE(platformId);
    // A read-only open of a state written before generations existed has none: nothing is sent then.
    this.generationBytes = generation ? Buffer.from(generation) : Buffer.alloc(GENERATION_BYTES);
  }

  get generation(): string {
    return this.generationBytes.toString('hex');
  }

  /**
   * Opens (creating if needed) the state in `dir` for one platform. A directory that cannot be
   * created or read is a usage error: the run must not start without a place to remember.
   * `readOnly` (for --dry-run): undefined when there is no state yet; nothing is created.
   */
  static async open(dir: string, platform: string, { readOnly = false } = {}): Promise<LmdbStateStore | undefined> {
    await loadHasher();
    const path = environmentOf(dir);
    // Writing, the creation below names what is wrong in its own words.
    const existed = readOnly ? await stateExists(dir) : await stateExists(dir).catch(() => false);
    if (readOnly && !existed) return undefined;
    if (!readOnly) await prepareDirectory(dir, path);
    // A file the run may not read or write is said as such (LMDB itself would crash the keeper on
    // an unreadable lock file, and the advice to move the state aside would be wrong).
    await checkAccess(dir, path, readOnly);
    const platformId = platformKey(platform);
    const platformBytes = Buffer.alloc(8);
    platformBytes.writeBigUInt64BE(platformId);
    const keeper = KeeperClient.spawn();
    // Indexed as they arrive, while the keeper is still walking: checksums checked then (push
    // would otherwise wait idle for the walk), the text digest kept beside each key.
    const loader = new EntryLoader(STORED_BYTES, await entriesAtMost(path), {
      tagAt: TEXT_DIGEST_AT,
      accept: (hi, lo, chunk, at) => storedCheckHolds(platformBytes, hi, lo, chunk, at),
    });
    let opened;
    try {
      opened = await keeper.request({ op: 'open', path, platform: platformId, readOnly }, (data) => loader.add(data));
    } catch (error) {
      await keeper.kill();
      throw openError(dir, error as KeeperFailure);
    }
    return new LmdbStateStore(keeper, loader.finish(), platformId, dir, !existed, opened.generation);
  }

  lookup(email: string, id: EmailId = emailId(email)): Remembered | undefined {
    const entry = this.checked(id);
    return entry && decodeIndexed(entry);
  }

  rememberedTextDigest(email: string, id: EmailId = emailId(email)): Digest | undefined {
    return this.checked(id)?.readBigUInt64BE(TEXT_DIGEST_AT);
  }

  /** From the copy of the text digest beside the key (its checksum was checked as it loaded). */
  remembersText(email: string, textDigest: Digest, id: EmailId = emailId(email)): boolean {
    digestHalves.setBigUint64(0, textDigest);
    return this.index.hasTag(id.hi, id.lo, digestHalves.getUint32(0), digestHalves.getUint32(4));
  }

  touch(id: EmailId): number {
    return this.index.touch(id.hi);
  }

  /**
   * The entry stored for the email if its checksum holds (checked here rather than at load: only
   * what is looked up pays for it), in a buffer reused by the next call: no garbage per record.
   */
  private checked(id: EmailId): Buffer | undefined {
    if (!this.index.read(id.hi, id.lo, this.scratch)) return undefined;
    return checkStored(this.platformBytes, id, this.scratch);
  }

  /**
   * One transaction per batch answer, committed whole or not at all (a disk filling up midway
   * must not leave half a batch remembered), each entry a compare-and-set against the basis its
   * batch was formed on (see `Accepted`). Resolves once committed: visible to other processes and
   * kept if this one is killed.
   */
  async recordAccepted(accepted: readonly Accepted[]): Promise<Recorded> {
    const count = accepted.length;
    const emails = Buffer.allocUnsafe(count * EMAIL_BYTES);
    const values = Buffer.allocUnsafe(count * STORED_BYTES);
    const bases = Buffer.alloc(count * STORED_BYTES);
    const hasBasis = new Uint8Array(count);
    const generations = Buffer.alloc(count * GENERATION_BYTES);
    const ids: EmailId[] = [];
    accepted.forEach((item, i) => {
      const id = emailId(item.email);
      ids.push(id);
      writeEmailId(id, emails, i * EMAIL_BYTES);
      encodeStored(this.platformBytes, id, item.entry).copy(values, i * STORED_BYTES);
      generations.write(item.generation, i * GENERATION_BYTES, GENERATION_BYTES, 'hex');
      if (item.basis) {
        hasBasis[i] = 1;
        encodeStored(this.platformBytes, id, item.basis).copy(bases, i * STORED_BYTES);
      }
    });
    const { decisions } = await this.write({ op: 'record', emails, values, bases, hasBasis, generations });
    const conflicts: string[] = [];
    accepted.forEach((item, i) => {
      const { hi, lo } = ids[i]!;
      if (decisions![i] === RECORDED) this.index.set(hi, lo, values.subarray(i * STORED_BYTES, (i + 1) * STORED_BYTES));
      else {
        this.index.delete(hi, lo);
        if (decisions![i] === FORGOTTEN) conflicts.push(item.email);
      }
    });
    return { conflicts };
  }

  count(): number {
    return this.index.size;
  }

  /** The process that holds the LMDB files (for diagnostics and fault tests). */
  get keeperPid(): number | undefined {
    return this.keeper.pid;
  }

  async forget(emails: readonly string[]): Promise<number> {
    const bytes = Buffer.allocUnsafe(emails.length * EMAIL_BYTES);
    const ids = emails.map((email, i) => {
      const id = emailId(email);
      writeEmailId(id, bytes, i * EMAIL_BYTES);
      return id;
    });
    const { forgotten } = await this.write({ op: 'forget', emails: bytes });
    for (const { hi, lo } of ids) this.index.delete(hi, lo);
    return forgotten ?? 0;
  }

  async forgetAll(): Promise<number> {
    const { forgotten } = await this.write({ op: 'forgetAll' });
    this.index.clear();
    return forgotten ?? 0;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.writing]);
    if (this.failed) await this.keeper.kill();
    else await this.keeper.close();
  }

  private async write(request: Parameters<KeeperClient['request']>[0]): ReturnType<KeeperClient['request']> {
    const done = this.keeper.request(request);
    this.writing.add(done);
    try {
      const answer = await done;
      if (answer.generation) this.generationBytes = Buffer.from(answer.generation);
      return answer;
    } catch (error) {
      this.failed = true;
      const failure = error as KeeperFailure;
      // LMDB's own refusals (negative codes) and crashes point at the file, not the disk or the run.
      const damaged = failure.crashed || failure.code === 'MDB_ERROR';
      throw new WriteError(
        environmentOf(this.dir),
        damaged
          ? new Error(`${failure.message}; the state may be damaged: if the next run fails the same way, move it aside with \`${programName()} state reset --state ${this.dir}\``)
          : Object.assign(new Error(failure.message), { code: failure.code }),
      );
    } finally {
      this.writing.delete(done);
    }
  }
}

/**
 * Whether `dir` holds a state. Only "no such file" means none: a folder that cannot be searched,
 * or a data file that is a broken link, is a state that cannot be opened, and reading it as "no
 * state" would have `sync state show` say nothing is remembered and `--dry-run` preview a full resend.
 */
export async function stateExists(dir: string): Promise<boolean> {
  try {
    await lstat(join(environmentOf(dir), 'data.mdb'));
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new UsageError(`--state ${dir}: cannot open the state (${fsFailure(error)})`, { cause: error });
  }
}

/**
 * At most how many entries the environment can hold, from its file's size: each takes at least
 * its key, its value and LMDB's 8-byte node header (capped: the room is reserved, not written).
 */
async function entriesAtMost(path: string): Promise<number> {
  const size = await stat(join(path, 'data.mdb')).then(
    (found) => found.size,
    () => 0,
  );
  return Math.min(MAX_RESERVED_ENTRIES, Math.ceil(size / (16 + STORED_BYTES + 8)));
}

/** 16M entries: 640 MB of address space, never more, whatever the file's size (more grows as needed). */
const MAX_RESERVED_ENTRIES = 16 * 1024 * 1024;

async function checkAccess(dir: string, path: string, readOnly: boolean): Promise<void> {
  for (const name of ['data.mdb', 'lock.mdb']) {
    const file = join(path, name);
    const mode = readOnly ? constants.R_OK : constants.R_OK | constants.W_OK;
    const refused = await access(file, mode).then(
      () => undefined,
      (error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? undefined : error),
    );
    if (refused) throw new UsageError(`--state ${dir}: cannot open the state (${fsFailure(refused)}: ${file})`, { cause: refused });
  }
}

/** Creates the directory and checks there is room, saying what is wrong in the words of the cause. */
async function prepareDirectory(dir: string, path: string): Promise<void> {
  await createStateDirectory(dir, path);
  // A write through LMDB's map on a full disk is a SIGBUS (in the keeper); refuse at the start
  // instead, with room for a run's worth of new entries.
  const { bavail, bsize } = await statfs(path);
  if (bavail * bsize < MIN_FREE_BYTES) {
    throw new UsageError(`--state ${dir}: not enough free space (${Math.floor((bavail * bsize) / 1024)} KB free; at least ${MIN_FREE_BYTES / 1024 / 1024} MB needed)`);
  }
}

/** Why opening failed: the filesystem's refusal in its words, or a damaged state and what to do. */
function openError(dir: string, failure: KeeperFailure): UsageError {
  if (!failure.crashed && failure.code && failure.code !== 'MDB_ERROR') {
    return new UsageError(`--state ${dir}: cannot open the state (${fsFailure(Object.assign(new Error(failure.message), { code: failure.code }))})`, { cause: failure });
  }
  return new UsageError(
    `--state ${dir}: the state cannot be read (${failure.message}); move it aside with \`${programName()} state reset --state ${dir}\` ` +
      '(the next push then sends every profile once; platforms upsert by email), or use a new --state directory',
    { cause: failure },
  );
}

/** Moves a state's environment aside, never opening it (it may be damaged); returns where it went. */
export async function moveAside(dir: string, now = new Date()): Promise<string | undefined> {
  const path = environmentOf(dir);
  const aside = `${path}-${now.toISOString().replace(/[:.]/g, '-')}-aside`;
  try {
    await rename(path, aside);
    return aside;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new UsageError(`--state ${dir}: cannot move the state aside (${fsFailure(error)})`, { cause: error });
  }
}
