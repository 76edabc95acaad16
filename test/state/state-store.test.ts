import { describe, expect, it } from 'vitest';
import { MemoryStateStore, platformOf, resolveAccepted, type Remembered } from '../../src/state/state-store.js';

const entry = (digest: bigint, acceptedAt = 1): Remembered => ({ digest, textDigest: digest + 100n, acceptedAt, repeated: false });

describe('MemoryStateStore', () => {
  it('remembers the last accepted profile per email, when it was formed against what the state held', async () => {
    const state = new MemoryStateStore();
    expect(state.lookup('ann@example.com')).toBeUndefined();
    await state.recordAccepted([
      { email: 'ann@example.com', entry: entry(1n), basis: undefined },
      { email: 'bob@example.com', entry: entry(3n), basis: undefined },
    ]);
    await state.recordAccepted([{ email: 'ann@example.com', entry: entry(5n, 2), basis: entry(1n) }]);
    expect(state.lookup('ann@example.com')).toStrictEqual(entry(5n, 2));
    expect(state.lookup('bob@example.com')).toStrictEqual(entry(3n));
    expect(state.count()).toBe(2);
    await expect(state.close()).resolves.toBeUndefined();
  });

  it('forgets an email whose batch was formed against something another run has replaced since (nobody knows which the platform kept)', async () => {
    const state = new MemoryStateStore();
    await state.recordAccepted([{ email: 'ann@example.com', entry: entry(1n), basis: undefined }]);
    // Two runs formed their batches against entry(1n); the second commit finds the first one's entry.
    expect(await state.recordAccepted([{ email: 'ann@example.com', entry: entry(2n, 5), basis: entry(1n) }])).toEqual({ conflicts: [] });
    expect(await state.recordAccepted([{ email: 'ann@example.com', entry: entry(3n, 6), basis: entry(1n) }])).toEqual({ conflicts: ['ann@example.com'] });
    expect(state.lookup('ann@example.com')).toBeUndefined();
  });

  it('records over another run\'s entry when both accepted the very same profile', async () => {
    const state = new MemoryStateStore();
    await state.recordAccepted([{ email: 'ann@example.com', entry: entry(2n, 5), basis: undefined }]);
    expect(await state.recordAccepted([{ email: 'ann@example.com', entry: entry(2n, 6), basis: undefined }])).toEqual({ conflicts: [] });
    expect(state.lookup('ann@example.com')).toStrictEqual(entry(2n, 6));
  });

  it('forgets chosen emails, or all of them, saying how many were remembered', async () => {
    const state = new MemoryStateStore();
    await state.recordAccepted(['a', 'b', 'c'].map((name, i) => ({ email: `${name}@x.com`, entry: entry(BigInt(i)), basis: undefined })));
    expect(await state.forget(['a@x.com', 'nobody@x.com'])).toBe(1);
    expect(state.count()).toBe(2);
    expect(await state.forgetAll()).toBe(2);
    expect(state.count()).toBe(0);
  });
});

describe('resolveAccepted', () => {
  it.each([
    ['nothing held, nothing expected', undefined, undefined, entry(2n), 'record'],
    ['held what was expected', entry(1n), entry(1n), entry(2n), 'record'],
    ['held the same profile already', entry(2n, 9), entry(1n), entry(2n), 'record'],
    ['held another acceptance of the same content', entry(1n, 9), entry(1n, 8), entry(2n), 'forget'],
    ['held something, expected nothing', entry(1n), undefined, entry(2n), 'forget'],
    ['held nothing (forgotten meanwhile), expected something', undefined, entry(1n), entry(2n), 'forget'],
  ] as const)('%s → %s', (_name, current, basis, next, decision) => {
    expect(resolveAccepted(current, { email: 'a@x.com', entry: next, basis })).toBe(decision);
  });
});

describe('platformOf', () => {
  it.each([
    ['https://p.example/api/', 'https://p.example/api'],
    ['https://p.example/api///', 'https://p.example/api'],
    ['https://p.example/v1/profiles', 'https://p.example/v1/profiles'],
    ['https://p.example:443/api?x=1#top', 'https://p.example/api'],
    ['http://127.0.0.1:4020', 'http://127.0.0.1:4020'],
    ['http://127.0.0.1:4020/', 'http://127.0.0.1:4020'],
  ])('%s → %s', (url, platform) => {
    expect(platformOf(url)).toBe(platform);
  });
});
