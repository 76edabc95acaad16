import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { open } from 'lmdb';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { UsageError, WriteError } from '../../src/errors.js';
import { emailKey, loadHasher, profileDigest, textDigest } from '../../src/state/digest.js';
import { LmdbStateStore } from '../../src/state/lmdb-state-store.js';
import { platformOf } from '../../src/state/state-store.js';
import { useTempDir } from '../helpers/tmp.js';
import { tryMountTmpfs } from '../helpers/tmpfs.js';

// Pass-through, so every test runs on the real filesystem; only the tests of a permission error
// make mkdir fail: as root (CI) no real directory refuses it.
vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  return { ...actual, mkdir: vi.fn(actual.mkdir) };
});

const ann = { email: 'ann@example.com', firstName: 'Ann', lastName: 'Lee' };

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
    const remembered = { digest: profileDigest(ann), textDigest: textDigest(JSON.stringify(ann)) };
    const first = (await LmdbStateStore.open(dir, 'http://a'))!;
    expect(first.lookup(ann.email)).toBeUndefined();
    await first.recordAccepted([{ email: ann.email, ...remembered }]);
    expect(first.lookup(ann.email)).toEqual(remembered);
    await first.close();

    const again = (await LmdbStateStore.open(dir, 'http://a'))!;
    expect(again.lookup(ann.email)).toEqual(remembered);
    const other = (await LmdbStateStore.open(dir, 'http://b'))!;
    expect(other.lookup(ann.email)).toBeUndefined();
    await Promise.all([again.close(), other.close()]);
  });

  it('creates the state directory, parents included, with the environment inside it', async () => {
    const dir = join(tmp(), 'a', 'b');
    const store = (await LmdbStateStore.open(dir, 'http://a'))!;
    await store.close();
    expect(existsSync(join(dir, 'push-accepted', 'data.mdb'))).toBe(true);
  });

  it('keeps each entry as 8 bytes of key (platform + email) to 16 bytes: the two digests, big-endian', async () => {
    const dir = tmp();
    const store = (await LmdbStateStore.open(dir, 'http://a'))!;
    await store.recordAccepted([
      { email: 'ann@example.com', digest: 0x0123456789abcdefn, textDigest: 0xfedcba9876543210n },
      { email: 'bob@example.com', digest: 1n, textDigest: 2n },
    ]);
    expect(store.lookup('ann@example.com')).toStrictEqual({ digest: 0x0123456789abcdefn, textDigest: 0xfedcba9876543210n });
    expect(store.lookup('bob@example.com')).toStrictEqual({ digest: 1n, textDigest: 2n });
    await store.close();

    const raw = open<Buffer, Buffer>({ path: join(dir, 'push-accepted'), encoding: 'binary', keyEncoding: 'binary', compression: false, readOnly: true });
    const key = Buffer.alloc(8);
    key.writeBigUInt64BE(emailKey('http://a', 'ann@example.com'));
    expect(raw.getBinary(key)?.toString('hex')).toBe('0123456789abcdeffedcba9876543210');
    expect(raw.getKeysCount()).toBe(2);
    await raw.close();
  });

  it('an entry that is not 16 bytes (not one of ours) is not remembered', async () => {
    const dir = tmp();
    await (await LmdbStateStore.open(dir, 'http://a'))!.close();
    const raw = open<Buffer, Buffer>({ path: join(dir, 'push-accepted'), encoding: 'binary', keyEncoding: 'binary', compression: false });
    const key = (email: string): Buffer => {
      const bytes = Buffer.alloc(8);
      bytes.writeBigUInt64BE(emailKey('http://a', email));
      return bytes;
    };
    await raw.put(key('short@example.com'), Buffer.alloc(8, 1));
    await raw.put(key('long@example.com'), Buffer.alloc(24, 1));
    await raw.close();
    const store = (await LmdbStateStore.open(dir, 'http://a'))!;
    expect(store.lookup('short@example.com')).toBeUndefined();
    expect(store.lookup('long@example.com')).toBeUndefined();
    await store.close();
  });

  it('close waits for the commits still in flight: the last batch of a run is not lost', async () => {
    const dir = tmp();
    const store = (await LmdbStateStore.open(dir, 'http://a'))!;
    let committed = false;
    const recording = store.recordAccepted([{ email: ann.email, digest: 3n, textDigest: 4n }]).then(() => (committed = true));
    await store.close();
    expect(committed).toBe(true);
    await recording;
    const again = (await LmdbStateStore.open(dir, 'http://a'))!;
    expect(again.lookup(ann.email)).toStrictEqual({ digest: 3n, textDigest: 4n });
    await again.close();
  });

  it('read-only (dry run): no state yet is undefined and creates nothing', async () => {
    const dir = join(tmp(), 'state');
    expect(await LmdbStateStore.open(dir, 'http://a', { readOnly: true })).toBeUndefined();
    expect(existsSync(dir)).toBe(false);
    // A directory without the environment in it is no state either.
    mkdirSync(join(dir, 'push-accepted'), { recursive: true });
    expect(await LmdbStateStore.open(dir, 'http://a', { readOnly: true })).toBeUndefined();
    expect(existsSync(join(dir, 'push-accepted', 'data.mdb'))).toBe(false);
  });

  it('read-only (dry run) on an existing state reads what was remembered', async () => {
    const dir = tmp();
    const writer = (await LmdbStateStore.open(dir, 'http://a'))!;
    await writer.recordAccepted([{ email: ann.email, digest: 7n, textDigest: 8n }]);
    await writer.close();
    const reader = await LmdbStateStore.open(dir, 'http://a', { readOnly: true });
    expect(reader).toBeInstanceOf(LmdbStateStore);
    expect(reader!.lookup(ann.email)).toStrictEqual({ digest: 7n, textDigest: 8n });
    await reader!.close();
  });

  it('a state path that is a file, or under a file, is a usage error naming it: not a directory', async () => {
    const file = join(tmp(), 'file');
    writeFileSync(file, 'x');
    const error = await LmdbStateStore.open(file, 'http://a').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toBe(`--state ${file}: cannot open the state (not a directory)`);
    expect((error as Error).cause).toMatchObject({ code: 'ENOTDIR' });
    await expect(LmdbStateStore.open(join(file, 'sub'), 'http://a')).rejects.toThrow(new UsageError(`--state ${join(file, 'sub')}: cannot open the state (not a directory)`));
  });

  it('a file where the environment directory should be is a usage error: not a directory', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'push-accepted'), 'x');
    const error = await LmdbStateStore.open(dir, 'http://a').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toBe(`--state ${dir}: cannot open the state (not a directory)`);
    expect((error as Error).cause).toMatchObject({ code: 'EEXIST' });
  });

  it.each(['EACCES', 'EPERM'])('a directory the run may not create (%s) is a usage error: permission denied', async (code) => {
    const dir = join(tmp(), 'state');
    const denied = Object.assign(new Error(`${code}: mkdir '${dir}'`), { code });
    vi.mocked(mkdir).mockRejectedValueOnce(denied);
    const error = await LmdbStateStore.open(dir, 'http://a').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toBe(`--state ${dir}: cannot open the state (permission denied)`);
    expect((error as Error).cause).toBe(denied);
  });

  it('any other failure to open is a usage error with the failure in its words', async () => {
    const dir = join(tmp(), 'state');
    vi.mocked(mkdir).mockRejectedValueOnce(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }));
    await expect(LmdbStateStore.open(dir, 'http://a')).rejects.toThrow(new UsageError(`--state ${dir}: cannot open the state (EIO: i/o error)`));
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
    expect(existsSync(join(disk, 'push-accepted', 'data.mdb'))).toBe(false);
  });

  it('opens on a disk with exactly 4 MB free', async (context) => {
    const disk = smallDisk('4m', () => context.skip());
    const store = (await LmdbStateStore.open(disk, 'http://a'))!;
    expect(store).toBeInstanceOf(LmdbStateStore);
    await store.close();
  });

  it('a batch is remembered whole or not at all: a disk that fills midway leaves none of it', async (context) => {
    const disk = smallDisk('8m', () => context.skip());
    const store = (await LmdbStateStore.open(disk, 'http://a'))!;
    await store.recordAccepted([{ email: ann.email, digest: 1n, textDigest: 2n }]);
    const { bavail, bsize } = await statfs(disk);
    // Room for some pages of the batch, not for all of them.
    writeFileSync(join(disk, 'filler'), Buffer.alloc(bavail * bsize - 64 * 1024));
    const batch = Array.from({ length: 20_000 }, (_, i) => ({ email: `u${i}@example.com`, digest: BigInt(i), textDigest: 0n }));
    await expect(store.recordAccepted(batch)).rejects.toBeInstanceOf(WriteError);
    await store.close();
    rmSync(join(disk, 'filler'));
    const again = (await LmdbStateStore.open(disk, 'http://a'))!;
    expect(again.lookup(ann.email)).toStrictEqual({ digest: 1n, textDigest: 2n });
    expect([again.lookup('u0@example.com'), again.lookup('u9999@example.com'), again.lookup('u19999@example.com')]).toStrictEqual([undefined, undefined, undefined]);
    await again.close();
  });

  it('a commit that fails (the disk filled up meanwhile) is a WriteError naming the environment and the real cause', async (context) => {
    const disk = smallDisk('8m', () => context.skip());
    const store = (await LmdbStateStore.open(disk, 'http://a'))!;
    const { bavail, bsize } = await statfs(disk);
    writeFileSync(join(disk, 'filler'), Buffer.alloc(bavail * bsize));
    const error = await store.recordAccepted([{ email: ann.email, digest: 1n, textDigest: 2n }]).catch((caught: unknown) => caught);
    // lmdb never finishes closing after a failed commit: the run must still end.
    await expect(store.close()).resolves.toBeUndefined();
    expect(error).toBeInstanceOf(WriteError);
    expect((error as WriteError).path).toBe(join(disk, 'push-accepted'));
    expect((error as Error).message).toMatch(new RegExp(`^${join(disk, 'push-accepted')}: No space left on device`));
    expect((error as Error).cause).toBeInstanceOf(Error);
    expect(((error as Error).cause as Error).message).toMatch(/^No space left on device/);
  });
});

describe('profileDigest and platformOf', () => {
  beforeAll(loadHasher);

  it('a digest changes with any field of the wire form, and only then', () => {
    const base = profileDigest(ann);
    expect(profileDigest({ ...ann })).toBe(base);
    expect(profileDigest({ ...ann, metadata: {} })).toBe(base); // the wire always carries metadata: {}
    expect(profileDigest({ ...ann, lastName: 'Lea' })).not.toBe(base);
    expect(profileDigest({ ...ann, metadata: { tags: ['x'] } })).not.toBe(base);
  });

  it('a platform is the origin and path of the downstream URL', () => {
    expect(platformOf('https://p.example/api/')).toBe('https://p.example/api');
    expect(platformOf('https://p.example:443/api?x=1')).toBe('https://p.example/api');
    expect(platformOf('http://127.0.0.1:4020')).toBe('http://127.0.0.1:4020');
  });
});
