import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { loadHasher, profileDigest, textDigest } from '../../src/state/digest.js';
import { LmdbStateStore } from '../../src/state/lmdb-state-store.js';
import { platformOf } from '../../src/state/state-store.js';
import { useTempDir } from '../helpers/tmp.js';

const ann = { email: 'ann@example.com', firstName: 'Ann', lastName: 'Lee' };

describe('LmdbStateStore', () => {
  const tmp = useTempDir();
  beforeAll(loadHasher);

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

  it('read-only (dry run): no state yet is undefined and creates nothing', async () => {
    const dir = join(tmp(), 'state');
    expect(await LmdbStateStore.open(dir, 'http://a', { readOnly: true })).toBeUndefined();
    const { existsSync } = await import('node:fs');
    expect(existsSync(dir)).toBe(false);
  });

  it('a state path that is a file is a usage error naming it', async () => {
    const file = join(tmp(), 'file');
    writeFileSync(file, 'x');
    await expect(LmdbStateStore.open(file, 'http://a')).rejects.toThrow(UsageError);
    await expect(LmdbStateStore.open(file, 'http://a')).rejects.toThrow(/--state .*file: cannot open the state/);
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
