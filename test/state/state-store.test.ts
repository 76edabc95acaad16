import { describe, expect, it } from 'vitest';
import { MemoryStateStore, platformOf } from '../../src/state/state-store.js';

describe('MemoryStateStore', () => {
  it('remembers the digests of the last accepted profile per email, and only those fields', async () => {
    const state = new MemoryStateStore();
    expect(state.lookup('ann@example.com')).toBeUndefined();
    await state.recordAccepted([
      { email: 'ann@example.com', digest: 1n, textDigest: 2n },
      { email: 'bob@example.com', digest: 3n, textDigest: 4n },
    ]);
    await state.recordAccepted([{ email: 'ann@example.com', digest: 5n, textDigest: 6n }]);
    expect(state.lookup('ann@example.com')).toStrictEqual({ digest: 5n, textDigest: 6n });
    expect(state.lookup('bob@example.com')).toStrictEqual({ digest: 3n, textDigest: 4n });
    expect(state.entries.size).toBe(2);
    await expect(state.close()).resolves.toBeUndefined();
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
