import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, openSync, closeSync, readdirSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { access, mkdir, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from 'lmdb';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { setProgramName } from '../../src/cli/program-name.js';
import { UsageError, WriteError } from '../../src/errors.js';
import { loadHasher, platformKey } from '../../src/state/digest.js';
import { checkStored, emailId, encodeStored, writeEmailId } from '../../src/state/entry-codec.js';
import { ENVIRONMENT, LmdbStateStore, moveAside } from '../../src/state/lmdb-state-store.js';
import { seededRandom } from '../../src/engine/random.js';
import { forgetState } from '../../src/state/state-commands.js';
import { platformOf, type Accepted, type Remembered } from '../../src/state/state-store.js';
import { memoryLogger } from '../helpers/logger.js';
import { useTempDir } from '../helpers/tmp.js';
import { tryMountTmpfs } from '../helpers/tmpfs.js';

// Pass-through, so every test runs on the real filesystem; only the tests of a permission error
// make mkdir fail: as root (CI) no real directory refuses it.
vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  return { ...actual, mkdir: vi.fn(actual.mkdir), access: vi.fn(actual.access) };
});

const ann = { email: 'ann@example.com', firstName: 'Ann', lastName: 'Lee' };
const entry = (digest: bigint, textDigest = 0n, acceptedAt = 1): Remembered => ({ digest, textDigest, acceptedAt, repeated: false });
/** A first acceptance: formed when the state held nothing for the email. */
const fresh = (store: { generation: string }, email: string, remembered: Remembered): Accepted => ({ email, entry: remembered, basis: undefined, generation: store.generation });
/** A later acceptance: formed against `basis` (the generation then plays no part). */
const later = (email: string, remembered: Remembered, basis: Remembered): Accepted => ({ email, entry: remembered, basis, generation: '' });
const platformBytes = (platform: string): Buffer => {
  const bytes = Buffer.alloc(8);
  bytes.writeBigUInt64BE(platformKey(platform));
  return bytes;
};
/** The key LMDB holds for (platform, email): 8 bytes each. */
const stateKey = (platform: string, email: string): Buffer => {
  const key = Buffer.alloc(16);
  platformBytes(platform).copy(key);
  writeEmailId(emailId(email), key, 8);
  return key;
};

describe('LmdbStateStore', () => {
  const tmp = useTempDir();
  const mounted: string[] = [];
  // Registered after useTempDir, so it runs before the temp folder is removed. Lazy: an
  // environment whose commit failed keeps its files open until the process ends.
  afterEach(() => {
    for (const dir of mounted.splice(0)) execFileSync('umount', ['-l', dir]);
  });
  beforeAll(loadHasher);

  /** A tmpfs of `size` (root only; the test is skipped otherwise, saying why). */
  function smallDisk(size: string, skip: () => void): string {
    const disk = join(tmp(), `disk-${size}`);
    mkdirSync(disk);
    if (!tryMountTmpfs(disk, size)) {
      // eslint-disable-next-line no-console -- the skip must be visible in the test output
      console.warn('skipped: mounting a small tmpfs needs root (CI runs as root)');
      skip();
    }
    mounted.push(disk);
    return disk;
  }

  it('remembers accepted digests per platform and email, across opens', async () => {
    const dir = tmp();
    const remembered = { digest: 0x1234n, textDigest: 0xffff_ffff_ffff_fffen, acceptedAt: 1_700_000_000_123.5, repeated: true };
    const first = (await LmdbStateStore.open(dir, 'http://a'))!;
    expect(first.lookup(ann.email)).toBeUndefined();
    expect(first.rememberedTextDigest(ann.email)).toBeUndefined();
    await first.recordAccepted([fresh(first, ann.email, remembered)]);
    expect(first.lookup(ann.email)).toEqual(remembered);
    expect(first.rememberedTextDigest(ann.email, emailId(ann.email))).toBe(remembered.textDigest);
    // Both halves of the digest count.
    expect([first.remembersText(ann.email, remembered.textDigest), first.remembersText(ann.email, remembered.textDigest ^ 1n), first.remembersText(ann.email, remembered.textDigest ^ (1n << 63n))]).toEqual([true, false, false]);
    await first.close();

    const again = (await LmdbStateStore.open(dir, 'http://a'))!;
    expect(again.lookup(ann.email)).toEqual(remembered);
    expect(again.rememberedTextDigest(ann.email)).toBe(remembered.textDigest);
    expect([again.remembersText(ann.email, remembered.textDigest, emailId(ann.email)), again.remembersText(ann.email, remembered.textDigest ^ 1n), again.remembersText(ann.email, remembered.textDigest ^ (1n << 32n))]).toEqual([true, false, false]);
    expect(again.remembersText('bob@example.com', remembered.textDigest)).toBe(false);
    // Accepted again with another text: the copy beside the key follows.
    await again.recordAccepted([later(ann.email, { ...remembered, textDigest: 5n }, remembered)]);
    expect([again.remembersText(ann.email, 5n), again.remembersText(ann.email, remembered.textDigest)]).toEqual([true, false]);
    const other = (await LmdbStateStore.open(dir, 'http://b'))!;
    expect(other.lookup(ann.email)).toBeUndefined();
    expect(other.rememberedTextDigest(ann.email)).toBeUndefined();
    expect(other.remembersText(ann.email, remembered.textDigest)).toBe(false);
    await Promise.all([again.close(), other.close()]);
  });

  it('loads a state of several thousand entries whole: every message the keeper sends (full ones and the last, shorter one), only its own platform', async () => {
    const dir = tmp();
    const store = (await LmdbStateStore.open(dir, 'http://a'))!;
    const emails = Array.from({ length: 4000 }, (_, i) => `user${i}@example.com`);
    await store.recordAccepted(emails.map((email, i) => fresh(store, email, entry(BigInt(i), BigInt(i) << 32n, i))));
    await store.close();
    const neighbour = (await LmdbStateStore.open(dir, 'http://b'))!;
    await neighbour.recordAccepted([fresh(neighbour, 'user1@example.com', entry(99n))]);
    await neighbour.close();

    const again = (await LmdbStateStore.open(dir, 'http://a'))!;
    expect(again.count()).toBe(4000);
    emails.forEach((email, i) => {
      if (again.rememberedTextDigest(email) !== BigInt(i) << 32n) expect.fail(`${email}: text digest ${again.rememberedTextDigest(email)}`);
      if (!again.remembersText(email, BigInt(i) << 32n) || again.remembersText(email, BigInt(i + 1) << 32n)) expect.fail(`${email}: remembersText`);
    });
    expect([again.lookup(emails[0]!), again.lookup(emails[1]!), again.lookup(emails[3999]!)]).toStrictEqual([entry(0n, 0n, 0), entry(1n, 1n << 32n, 1), entry(3999n, 3999n << 32n, 3999)]);
    await again.close();
  });

  it('creates the state directory, parents included, with the environment inside it', async () => {
    const dir = join(tmp(), 'a', 'b');
    const store = (await LmdbStateStore.open(dir, 'http://a'))!;
    await store.close();
    expect(existsSync(join(dir, ENVIRONMENT, 'data.mdb'))).toBe(true);
  });

  it('keeps each entry as 16 bytes of key (platform, then email) to 32 bytes: digests, acceptedAt, flags, checksum', async () => {
    const dir = tmp();
    const store = (await LmdbStateStore.open(dir, 'http://a'))!;
    await store.recordAccepted([
      fresh(store, 'ann@example.com', { digest: 0x0123456789abcdefn, textDigest: 0xfedcba9876543210n, acceptedAt: 2, repeated: true }),
      fresh(store, 'bob@example.com', entry(1n, 2n)),
    ]);
    expect(store.lookup('ann@example.com')).toStrictEqual({ digest: 0x0123456789abcdefn, textDigest: 0xfedcba9876543210n, acceptedAt: 2, repeated: true });
    expect(store.lookup('bob@example.com')).toStrictEqual(entry(1n, 2n));
    const { generation } = store;
    await store.close();

    const raw = open<Buffer, Buffer>({ path: join(dir, ENVIRONMENT), encoding: 'binary', keyEncoding: 'binary', compression: false, readOnly: true });
    const key = stateKey('http://a', 'ann@example.com');
    expect(key.subarray(0, 8).readBigUInt64BE()).toBe(platformKey('http://a'));
    const stored = raw.getBinary(key)!;
    expect(stored.subarray(0, 28).toString('hex')).toBe('0123456789abcdeffedcba9876543210' + '4000000000000000' + '00000001');
    expect(stored.length).toBe(32);
    expect(checkStored(platformBytes('http://a'), emailId('ann@example.com'), stored)).toBeDefined();
    // Beside the entries, the state's generation: 8 bytes under a key of another length.
    expect(raw.getKeysCount()).toBe(3);
    expect(raw.getBinary(Buffer.from('sync:generation'))!.toString('hex')).toBe(generation);
    await raw.close();
  });

  it('a generation per state, kept across opens, new once the state forgot something (forget, forget all, a conflict)', async () => {
    const [dir, other] = [tmp(), join(tmp(), 'other')];
    const store = (await LmdbStateStore.open(dir, 'http://a'))!;
    const first = store.generation;
    expect(first).toMatch(/^[0-9a-f]{16}$/);
    const elsewhere = (await LmdbStateStore.open(other, 'http://a'))!;
    expect(elsewhere.generation).not.toBe(first);
    await elsewhere.close();
    await store.recordAccepted([fresh(store, ann.email, entry(1n)), fresh(store, 'bob@example.com', entry(2n))]);
    expect(await store.forget(['nobody@example.com'])).toBe(0);
    expect(store.generation).toBe(first);
    await store.close();
    const reader = (await LmdbStateStore.open(dir, 'http://a', { readOnly: true }))!;
    expect(reader.generation).toBe(first);
    await reader.close();

    const [one, two] = [(await LmdbStateStore.open(dir, 'http://a'))!, (await LmdbStateStore.open(dir, 'http://a'))!];
    expect([one.generation, two.generation]).toEqual([first, first]);
    expect(await one.forget([ann.email])).toBe(1);
    const second = one.generation;
    expect(second).not.toBe(first);
    // The other process learns it from its next answer.
    await two.recordAccepted([later('bob@example.com', entry(3n, 0n, 5), entry(2n))]);
    expect(two.generation).toBe(second);
    // A conflict forgets Bob: a new generation again.
    expect(await one.recordAccepted([later('bob@example.com', entry(4n, 0n, 6), entry(2n))])).toEqual({ conflicts: ['bob@example.com'] });
    const third = one.generation;
    expect(third).not.toBe(second);
    await one.recordAccepted([fresh(one, 'cy@example.com', entry(5n))]);
    expect(await one.forgetAll()).toBe(1);
    expect(one.generation).not.toBe(third);
    await Promise.all([one.close(), two.close()]);
  });

  it('an acceptance formed when the state held nothing is not recorded over an email forgotten since (by another run, or `forget`)', async () => {
    const dir = tmp();
    const [one, two, three] = [(await LmdbStateStore.open(dir, 'http://a'))!, (await LmdbStateStore.open(dir, 'http://a'))!, (await LmdbStateStore.open(dir, 'http://a'))!];
    // Three runs form batches for Ann against nothing: A, B, then A again. The platform processes
    // A, then B (the third run's A was answered from the idempotency store, or came first).
    const formed = one.generation;
    await one.recordAccepted([fresh(one, ann.email, entry(1n, 0n, 1))]);
    expect(await two.recordAccepted([{ email: ann.email, entry: entry(2n, 0n, 2), basis: undefined, generation: formed }])).toEqual({ conflicts: [ann.email] });
    // The third's A finds nothing, as when it was formed, but the email was forgotten meanwhile.
    expect(await three.recordAccepted([{ email: ann.email, entry: entry(1n, 0n, 3), basis: undefined, generation: formed }])).toEqual({ conflicts: [] });
    expect(three.lookup(ann.email)).toBeUndefined();
    await Promise.all([one.close(), two.close(), three.close()]);
    const after = (await LmdbStateStore.open(dir, 'http://a'))!;
    expect(after.lookup(ann.email)).toBeUndefined();
    // Formed now, in the new generation, Ann is recorded.
    await after.recordAccepted([fresh(after, ann.email, entry(1n, 0n, 4))]);
    expect(after.lookup(ann.email)).toStrictEqual(entry(1n, 0n, 4));
    await after.close();
  });

  it('an entry that is not one of ours (wrong size, or bytes that do not match their checksum) is not remembered', async () => {
    const dir = tmp();
    await (await LmdbStateStore.open(dir, 'http://a'))!.close();
    const raw = open<Buffer, Buffer>({ path: join(dir, ENVIRONMENT), encoding: 'binary', keyEncoding: 'binary', compression: false });
    const key = (email: string): Buffer => stateKey('http://a', email);
    const stored = (email: string): Buffer => encodeStored(platformBytes('http://a'), emailId(email), entry(7n));
    await raw.put(key('short@example.com'), Buffer.alloc(16, 1));
    await raw.put(key('long@example.com'), Buffer.alloc(40, 1));
    const flipped = stored('flip@example.com');
    flipped[3] = flipped[3]! ^ 1;
    await raw.put(key('flip@example.com'), flipped);
    // A valid value of another key (bytes a damaged page could hand back for this one).
    await raw.put(key('moved@example.com'), stored('elsewhere@example.com'));
    await raw.put(key('fine@example.com'), stored('fine@example.com'));
    // Keys of other lengths inside the platform's range, around an email's: not entries either, even
    // when the bytes where an email's would be, and the value, are those of a good entry.
    await raw.put(Buffer.concat([key('odd@example.com'), Buffer.alloc(1)]), stored('odd@example.com'));
    await raw.put(key('odd@example.com').subarray(0, 15), stored('odd@example.com'));
    await raw.close();
    const store = (await LmdbStateStore.open(dir, 'http://a'))!;
    for (const email of ['short', 'long', 'flip', 'moved', 'odd']) {
      expect(store.lookup(`${email}@example.com`)).toBeUndefined();
      expect(store.rememberedTextDigest(`${email}@example.com`)).toBeUndefined();
      // Checked as it loaded: the text digest beside the key is not trusted either.
      expect(store.remembersText(`${email}@example.com`, 0n)).toBe(false);
    }
    expect(store.lookup('fine@example.com')).toStrictEqual(entry(7n));
    expect(store.rememberedTextDigest('fine@example.com')).toBe(0n);
    expect(store.remembersText('fine@example.com', 0n)).toBe(true);
    // Only what is remembered is counted.
    expect(store.count()).toBe(1);
    await store.close();
  });

  it('records an acceptance only if the state still holds what its batch was formed against; else forgets the email', async () => {
    const dir = tmp();
    const [one, two] = [(await LmdbStateStore.open(dir, 'http://a'))!, (await LmdbStateStore.open(dir, 'http://a'))!];
    await one.recordAccepted([fresh(one, ann.email, entry(1n))]);
    // Two runs formed batches against entry(1n); the platform processed both in some order.
    expect(await two.recordAccepted([later(ann.email, entry(2n, 0n, 5), entry(1n))])).toEqual({ conflicts: [] });
    expect(await one.recordAccepted([later(ann.email, entry(3n, 0n, 6), entry(1n))])).toEqual({ conflicts: [ann.email] });
    expect(one.lookup(ann.email)).toBeUndefined();
    // Within one transaction, entries are applied in order: the second sees the first.
    await one.recordAccepted([fresh(one, 'bob@example.com', entry(4n, 0n, 7)), later('bob@example.com', entry(5n, 0n, 8), entry(4n, 0n, 7))]);
    expect(one.lookup('bob@example.com')).toStrictEqual(entry(5n, 0n, 8));
    await Promise.all([one.close(), two.close()]);
    // What the disk holds: Ann forgotten (the next run of either input sends her), Bob recorded.
    const after = (await LmdbStateStore.open(dir, 'http://a'))!;
    expect([after.lookup(ann.email), after.lookup('bob@example.com')]).toStrictEqual([undefined, entry(5n, 0n, 8)]);
    await after.close();
  });

  it('counts and forgets per platform: another platform in the same directory is untouched', async () => {
    const dir = tmp();
    const a = (await LmdbStateStore.open(dir, 'http://a'))!;
    const b = (await LmdbStateStore.open(dir, 'http://b'))!;
    expect(a.created).toBe(true);
    await a.recordAccepted(['p', 'q', 'r'].map((name) => fresh(a, `${name}@x.com`, entry(1n))));
    await b.recordAccepted([fresh(b, 'p@x.com', entry(1n))]);
    expect([a.count(), b.count()]).toEqual([3, 1]);
    expect(await a.forget(['p@x.com', 'nobody@x.com'])).toBe(1);
    expect([a.count(), b.count()]).toEqual([2, 1]);
    expect(await a.forgetAll()).toBe(2);
    expect([a.count(), b.count()]).toEqual([0, 1]);
    expect(b.lookup('p@x.com')).toStrictEqual(entry(1n));
    await Promise.all([a.close(), b.close()]);
    const again = (await LmdbStateStore.open(dir, 'http://b'))!;
    expect(again.created).toBe(false);
    await again.close();
  });

  it('close waits for the commits still in flight: the last batch of a run is not lost', async () => {
    const dir = tmp();
    const store = (await LmdbStateStore.open(dir, 'http://a'))!;
    let committed = false;
    const recording = store.recordAccepted([fresh(store, ann.email, entry(3n, 4n))]).then(() => (committed = true));
    await store.close();
    expect(committed).toBe(true);
    await recording;
    const again = (await LmdbStateStore.open(dir, 'http://a'))!;
    expect(again.lookup(ann.email)).toStrictEqual(entry(3n, 4n));
    await again.close();
  });

  it('read-only (dry run): no state yet is undefined and creates nothing', async () => {
    const dir = join(tmp(), 'state');
    expect(await LmdbStateStore.open(dir, 'http://a', { readOnly: true })).toBeUndefined();
    expect(existsSync(dir)).toBe(false);
    // A directory without the environment in it is no state either.
    mkdirSync(join(dir, ENVIRONMENT), { recursive: true });
    expect(await LmdbStateStore.open(dir, 'http://a', { readOnly: true })).toBeUndefined();
    expect(existsSync(join(dir, ENVIRONMENT, 'data.mdb'))).toBe(false);
  });

  it('a state that exists but cannot be reached is a usage error naming it, not "no state" (read-only and `forget` alike)', async () => {
    // As root no permission refuses a stat, so: the environment's folder replaced by a file
    // (ENOTDIR), and data.mdb a symbolic link to itself (ELOOP).
    const blocked = tmp();
    writeFileSync(join(blocked, ENVIRONMENT), 'x');
    const looped = join(tmp(), 'looped');
    mkdirSync(join(looped, ENVIRONMENT), { recursive: true });
    symlinkSync('data.mdb', join(looped, ENVIRONMENT, 'data.mdb'));
    for (const dir of [blocked, looped]) {
      const error = await LmdbStateStore.open(dir, 'http://a', { readOnly: true }).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(UsageError);
      expect((error as Error).message).toMatch(new RegExp(`^--state ${dir}: cannot open the state \\(`));
      await expect(forgetState({ stateDir: dir, downstreamUrl: 'http://a' }, 'all', (await memoryLogger()).logger)).rejects.toThrow(UsageError);
    }
  });

  it('read-only (dry run) on an existing state reads what was remembered', async () => {
    const dir = tmp();
    const writer = (await LmdbStateStore.open(dir, 'http://a'))!;
    await writer.recordAccepted([fresh(writer, ann.email, entry(7n, 8n))]);
    await writer.close();
    const reader = await LmdbStateStore.open(dir, 'http://a', { readOnly: true });
    expect(reader).toBeInstanceOf(LmdbStateStore);
    expect(reader!.lookup(ann.email)).toStrictEqual(entry(7n, 8n));
    await reader!.close();
  });

  it('a state path that is a file, or under a file, is a usage error naming it: not a directory', async () => {
    const file = join(tmp(), 'file');
    writeFileSync(file, 'x');
    const error = await LmdbStateStore.open(file, 'http://a').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toBe(`--state ${file}: cannot create the state (not a directory)`);
    expect((error as Error).cause).toMatchObject({ code: 'ENOTDIR' });
    await expect(LmdbStateStore.open(join(file, 'sub'), 'http://a')).rejects.toThrow(new UsageError(`--state ${join(file, 'sub')}: cannot create the state (not a directory)`));
  });

  it('a file where the environment directory should be is a usage error: not a directory', async () => {
    const dir = tmp();
    writeFileSync(join(dir, ENVIRONMENT), 'x');
    const error = await LmdbStateStore.open(dir, 'http://a').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toBe(`--state ${dir}: cannot create the state (not a directory)`);
    expect((error as Error).cause).toMatchObject({ code: 'EEXIST' });
  });

  it.each(['EACCES', 'EPERM'])('a directory the run may not create (%s) is a usage error: permission denied', async (code) => {
    const dir = join(tmp(), 'state');
    const denied = Object.assign(new Error(`${code}: mkdir '${dir}'`), { code });
    vi.mocked(mkdir).mockRejectedValueOnce(denied);
    const error = await LmdbStateStore.open(dir, 'http://a').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toBe(`--state ${dir}: cannot create the state (permission denied)`);
    expect((error as Error).cause).toBe(denied);
  });

  it('a lock or data file the run may not use is said as such, before LMDB is asked (it crashes on an unreadable lock file)', async () => {
    const dir = tmp();
    await (await LmdbStateStore.open(dir, 'http://a'))!.close();
    const lock = join(dir, ENVIRONMENT, 'lock.mdb');
    const real = vi.mocked(access).getMockImplementation()!;
    vi.mocked(access).mockImplementation(async (file, mode) => {
      if (file === lock) throw Object.assign(new Error(`EACCES: permission denied, access '${lock}'`), { code: 'EACCES' });
      return real(file, mode);
    });
    try {
      await expect(LmdbStateStore.open(dir, 'http://a')).rejects.toThrow(new UsageError(`--state ${dir}: cannot open the state (permission denied: ${lock})`));
      await expect(LmdbStateStore.open(dir, 'http://a', { readOnly: true })).rejects.toThrow(/permission denied/);
    } finally {
      vi.mocked(access).mockImplementation(real);
    }
  });

  it('any other failure to open is a usage error with the failure in its words', async () => {
    const dir = join(tmp(), 'state');
    vi.mocked(mkdir).mockRejectedValueOnce(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }));
    await expect(LmdbStateStore.open(dir, 'http://a')).rejects.toThrow(new UsageError(`--state ${dir}: cannot create the state (input/output error (EIO))`));
  });

  it('refuses a disk with less than 4 MB free, before opening anything, saying how much is free', async (context) => {
    const disk = smallDisk('4m', () => context.skip());
    // One 4 KB page taken: 4092 KB left, one page short.
    writeFileSync(join(disk, 'taken'), 'x');
    const { bavail, bsize } = await statfs(disk);
    expect(bavail * bsize).toBe(4 * 1024 * 1024 - 4096);
    const error = await LmdbStateStore.open(disk, 'http://a').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toBe(`--state ${disk}: not enough free space (4092 KB free; at least 4 MB needed)`);
    expect(existsSync(join(disk, ENVIRONMENT, 'data.mdb'))).toBe(false);
  });

  it('opens on a disk with exactly 4 MB free', async (context) => {
    const disk = smallDisk('4m', () => context.skip());
    const store = (await LmdbStateStore.open(disk, 'http://a'))!;
    expect(store).toBeInstanceOf(LmdbStateStore);
    await store.close();
  });

  it('a read-only filesystem is named as such: where the state exists, and where it would be created', async (context) => {
    const disk = smallDisk('8m', () => context.skip());
    await (await LmdbStateStore.open(join(disk, 'existing'), 'http://a'))!.close();
    execFileSync('mount', ['-o', 'remount,ro', disk]);
    await expect(LmdbStateStore.open(join(disk, 'existing'), 'http://a')).rejects.toThrow(
      new UsageError(`--state ${join(disk, 'existing')}: cannot open the state (read-only file system (EROFS): ${join(disk, 'existing', ENVIRONMENT, 'data.mdb')})`),
    );
    await expect(LmdbStateStore.open(join(disk, 'new', 'state'), 'http://a')).rejects.toThrow(
      new UsageError(`--state ${join(disk, 'new', 'state')}: cannot create the state (read-only file system (EROFS))`),
    );
    // Reading it (a dry run) still works.
    const reader = (await LmdbStateStore.open(join(disk, 'existing'), 'http://a', { readOnly: true }))!;
    expect(reader.count()).toBe(0);
    await reader.close();
  });

  it('the keeper process dying mid-run is a WriteError naming the state, never a signal here', async () => {
    const dir = tmp();
    const store = (await LmdbStateStore.open(dir, 'http://a'))!;
    process.kill(store.keeperPid!, 'SIGSEGV');
    const error = await store.recordAccepted([fresh(store, ann.email, entry(1n))]).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(WriteError);
    expect((error as Error).message).toBe(
      `${join(dir, ENVIRONMENT)}: the process reading it crashed (SIGSEGV); the state may be damaged: if the next run fails the same way, move it aside with \`sync state reset --state ${dir}\``,
    );
    await expect(store.close()).resolves.toBeUndefined();
  });

  it('a batch is remembered whole or not at all: a disk that fills midway leaves none of it', async (context) => {
    const disk = smallDisk('8m', () => context.skip());
    const store = (await LmdbStateStore.open(disk, 'http://a'))!;
    await store.recordAccepted([fresh(store, ann.email, entry(1n, 2n))]);
    const { bavail, bsize } = await statfs(disk);
    // Room for some pages of the batch, not for all of them.
    writeFileSync(join(disk, 'filler'), Buffer.alloc(bavail * bsize - 64 * 1024));
    const batch = Array.from({ length: 20_000 }, (_, i) => fresh(store, `u${i}@example.com`, entry(BigInt(i))));
    await expect(store.recordAccepted(batch)).rejects.toBeInstanceOf(WriteError);
    await store.close();
    rmSync(join(disk, 'filler'));
    const again = (await LmdbStateStore.open(disk, 'http://a'))!;
    expect(again.lookup(ann.email)).toStrictEqual(entry(1n, 2n));
    expect([again.lookup('u0@example.com'), again.lookup('u9999@example.com'), again.lookup('u19999@example.com')]).toStrictEqual([undefined, undefined, undefined]);
    await again.close();
  });

  it('a commit that fails (the disk filled up meanwhile) is a WriteError naming the environment and the real cause', async (context) => {
    const disk = smallDisk('8m', () => context.skip());
    const store = (await LmdbStateStore.open(disk, 'http://a'))!;
    const { bavail, bsize } = await statfs(disk);
    writeFileSync(join(disk, 'filler'), Buffer.alloc(bavail * bsize));
    const error = await store.recordAccepted([fresh(store, ann.email, entry(1n, 2n))]).catch((caught: unknown) => caught);
    // lmdb never finishes closing after a failed commit: the run must still end.
    await expect(store.close()).resolves.toBeUndefined();
    expect(error).toBeInstanceOf(WriteError);
    expect((error as WriteError).path).toBe(join(disk, ENVIRONMENT));
    expect((error as Error).message).toBe(`${join(disk, ENVIRONMENT)}: no space left on device (ENOSPC)`);
    expect((error as Error).cause).toMatchObject({ code: 'ENOSPC' });
  });
});

describe('LmdbStateStore on a damaged file', () => {
  const tmp = useTempDir();
  // One state of 20,000 emails, written once through the store and closed cleanly; each test
  // damages its own copy of those files. Filling it per test cost a keeper and 20,000 writes
  // each time (12 tests, ~1 s of CPU and ~1.5 s of wall apiece), for the same bytes.
  let pristine: string;
  beforeAll(async () => {
    await loadHasher();
    pristine = mkdtempSync(join(tmpdir(), 'sync-test-pristine-'));
    const store = (await LmdbStateStore.open(pristine, 'http://a'))!;
    await store.recordAccepted(Array.from({ length: 20_000 }, (_, i) => fresh(store, `u${i}@example.com`, entry(BigInt(i)))));
    await store.close();
  });
  afterAll(() => rmSync(pristine, { recursive: true, force: true }));

  /** A copy of that state, in this test's own directory; returns the directory and its data.mdb. */
  function filled(): { dir: string; data: string } {
    const dir = tmp();
    cpSync(pristine, dir, { recursive: true });
    return { dir, data: join(dir, ENVIRONMENT, 'data.mdb') };
  }

  function writeFileAt(file: string, offset: number, bytes: Buffer): void {
    const fd = openSync(file, 'r+');
    writeSync(fd, bytes, 0, bytes.length, offset);
    closeSync(fd);
  }

  function overwrite(file: string, offset: number, length: number, seed: number): void {
    const random = seededRandom(seed);
    const bytes = Buffer.from(Array.from({ length }, () => Math.floor(random() * 256)));
    const fd = openSync(file, 'r+');
    writeSync(fd, bytes, 0, length, offset);
    closeSync(fd);
  }

  // What LMDB does with each in-process (measured): SIGBUS, SIGSEGV, SIGSEGV. Here the keeper
  // process takes the crash; this process reports it.
  it.each([
    ['cut to half its size', (data: string) => truncateSync(data, Math.floor(statSync(data).size / 2))],
    ['cut to 4 KB', (data: string) => truncateSync(data, 4096)],
    ['random bytes over its first 8 KB', (data: string) => overwrite(data, 0, 8192, 7)],
  ])('%s: a usage error naming the directory and what to do, never a signal', async (_name, damage) => {
    const { dir, data } = filled();
    damage(data);
    const error = await LmdbStateStore.open(dir, 'http://a').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(UsageError);
    const message = (error as Error).message;
    expect(message).toMatch(new RegExp(`^--state ${dir}: the state cannot be read \\(the process reading it (crashed \\(SIG[A-Z]+\\)|failed \\(exit \\d+\\))`));
    expect(message).toContain(`move it aside with \`sync state reset --state ${dir}\``);
    expect(message).not.toContain('\n');
    // The dry run reads it the same way and says the same.
    await expect(LmdbStateStore.open(dir, 'http://a', { readOnly: true })).rejects.toThrow(/the state cannot be read/);
  });

  // Damage a read never meets (LMDB finds it only when it allocates pages): measured before the
  // keeper wrote at open, the state opened, the first batch went out, and its commit failed with
  // MDB_BAD_TXN (exit 1, nothing said about the state).
  it.each([
    ['its last page zeroed', (data: string) => writeFileAt(data, statSync(data).size - 4096, Buffer.alloc(4096))],
    ['cut to a length that is not whole pages', (data: string) => truncateSync(data, statSync(data).size - 1234)],
  ])('%s: refused at open, before anything is sent', async (_name, damage) => {
    const { dir, data } = filled();
    damage(data);
    const error = await LmdbStateStore.open(dir, 'http://a').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toMatch(new RegExp(`^--state ${dir}: the state cannot be read \\(.*\\); move it aside with \`sync state reset --state ${dir}\``));
  });

  it('the advice names the program as it was started: `sync-cli state reset` once installed for cron', async () => {
    const { dir, data } = filled();
    truncateSync(data, statSync(data).size - 1234);
    setProgramName('sync-cli', {});
    try {
      const error = await LmdbStateStore.open(dir, 'http://a').catch((caught: unknown) => caught);
      expect((error as Error).message).toContain(`move it aside with \`sync-cli state reset --state ${dir}\``);
    } finally {
      setProgramName('sync', {});
    }
  });

  it.each([1, 2, 3, 4, 5, 6])('bytes damaged in the middle (seed %i): refused in one line, or read without ever taking garbage for a remembered profile', async (seed) => {
    const { dir, data } = filled();
    const pages = Math.floor(statSync(data).size / 4096);
    overwrite(data, (2 + Math.floor(seededRandom(seed)() * (pages - 4))) * 4096, 4096, seed);
    const opened = await LmdbStateStore.open(dir, 'http://a').catch((caught: unknown) => caught);
    if (opened instanceof Error) {
      expect(opened).toBeInstanceOf(UsageError);
      expect(opened.message).toMatch(/^--state .*: the state cannot be read \(.*\); move it aside with `sync state reset/);
      return;
    }
    const store = opened as LmdbStateStore;
    for (let i = 0; i < 20_000; i += 7) {
      const found = store.lookup(`u${i}@example.com`);
      if (found) expect(found.digest).toBe(BigInt(i));
    }
    const written = await store.recordAccepted([fresh(store, 'new@example.com', entry(1n))]).catch((caught: unknown) => caught);
    if (written instanceof Error) expect(written).toBeInstanceOf(WriteError);
    await store.close();
  });

  it('a state moved aside is out of the way: the next open starts a new one', async () => {
    const { dir, data } = filled();
    truncateSync(data, 4096);
    const aside = await moveAside(dir, new Date('2026-11-29T10:00:00.000Z'));
    expect(aside).toBe(join(dir, `${ENVIRONMENT}-2026-11-29T10-00-00-000Z-aside`));
    expect(readdirSync(dir).sort()).toEqual([`${ENVIRONMENT}-2026-11-29T10-00-00-000Z-aside`]);
    const store = (await LmdbStateStore.open(dir, 'http://a'))!;
    expect([store.created, store.count()]).toEqual([true, 0]);
    await store.close();
    expect(await moveAside(join(tmp(), 'nothing-here'))).toBeUndefined();
  });
});

describe('platformOf', () => {
  it('a platform is the origin and path of the downstream URL', () => {
    expect(platformOf('https://p.example/api/')).toBe('https://p.example/api');
    expect(platformOf('https://p.example:443/api?x=1')).toBe('https://p.example/api');
    expect(platformOf('http://127.0.0.1:4020')).toBe('http://127.0.0.1:4020');
  });
});
