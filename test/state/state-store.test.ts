import { describe, expect, it } from 'vitest';
import { MemoryStateStore, platformOf, resolveAccepted, type Accepted, type Remembered } from '../../src/state/state-store.js';

const entry = (digest: bigint, acceptedAt = 1): Remembered => ({ digest, textDigest: digest + 100n, acceptedAt, repeated: false });
/** An acceptance formed against `basis`, or (none) against the state's generation at the time. */
const accepted = (email: string, next: Remembered, basis: Remembered | undefined, generation = ''): Accepted => ({ email, entry: next, basis, generation });

describe('MemoryStateStore', () => {
  it('remembers the last accepted profile per email, when it was formed against what the state held', async () => {
    const state = new MemoryStateStore();
    expect(state.lookup('ann@example.com')).toBeUndefined();
    await state.recordAccepted([
      accepted('ann@example.com', entry(1n), undefined, state.generation),
      accepted('bob@example.com', entry(3n), undefined, state.generation),
    ]);
    await state.recordAccepted([accepted('ann@example.com', entry(5n, 2), entry(1n))]);
    expect(state.lookup('ann@example.com')).toStrictEqual(entry(5n, 2));
    expect(state.lookup('bob@example.com')).toStrictEqual(entry(3n));
    expect(state.count()).toBe(2);
    // The text digest of what was accepted last, and no other.
    expect([state.remembersText('ann@example.com', 105n), state.remembersText('ann@example.com', 101n), state.remembersText('carl@example.com', 105n)]).toEqual([true, false, false]);
    await expect(state.close()).resolves.toBeUndefined();
  });

  it('forgets an email whose batch was formed against something another run has replaced since (nobody knows which the platform kept)', async () => {
    const state = new MemoryStateStore();
    await state.recordAccepted([accepted('ann@example.com', entry(1n), undefined, state.generation)]);
    // Two runs formed their batches against entry(1n); the second commit finds the first one's entry.
    expect(await state.recordAccepted([accepted('ann@example.com', entry(2n, 5), entry(1n))])).toEqual({ conflicts: [] });
    expect(await state.recordAccepted([accepted('ann@example.com', entry(3n, 6), entry(1n))])).toEqual({ conflicts: ['ann@example.com'] });
    expect(state.lookup('ann@example.com')).toBeUndefined();
  });

  it('records over another run\'s entry when both accepted the very same profile', async () => {
    const state = new MemoryStateStore();
    await state.recordAccepted([accepted('ann@example.com', entry(2n, 5), undefined, state.generation)]);
    expect(await state.recordAccepted([accepted('ann@example.com', entry(2n, 6), undefined, state.generation)])).toEqual({ conflicts: [] });
    expect(state.lookup('ann@example.com')).toStrictEqual(entry(2n, 6));
  });

  it('a forgotten email is not recorded by an acceptance formed before it was forgotten (another run, or `sync state forget`)', async () => {
    const state = new MemoryStateStore();
    const before = state.generation;
    await state.recordAccepted([accepted('ann@example.com', entry(1n), undefined, before)]);
    // Formed when the state held nothing for Bob and Ann, in the same generation.
    const late = [accepted('ann@example.com', entry(2n, 5), undefined, before), accepted('bob@example.com', entry(3n, 5), undefined, before)];
    expect(await state.forget(['ann@example.com'])).toBe(1);
    expect(state.generation).not.toBe(before);
    expect(await state.recordAccepted(late)).toEqual({ conflicts: [] });
    // Nobody can tell whether Ann's late acceptance came before the forget: not remembered, sent again.
    expect(state.lookup('ann@example.com')).toBeUndefined();
    expect(state.lookup('bob@example.com')).toBeUndefined();
    // Formed in the new generation, it is recorded.
    await state.recordAccepted([accepted('bob@example.com', entry(3n, 6), undefined, state.generation)]);
    expect(state.lookup('bob@example.com')).toStrictEqual(entry(3n, 6));
  });

  it('a new generation after each conflict and each forget that forgot something; none otherwise', async () => {
    const state = new MemoryStateStore();
    const other = new MemoryStateStore();
    expect(state.generation).toMatch(/^[0-9a-f]{16}$/);
    expect(other.generation).not.toBe(state.generation);
    const first = state.generation;
    await state.recordAccepted([accepted('ann@example.com', entry(1n), undefined, first)]);
    expect(state.generation).toBe(first);
    expect(await state.forget(['nobody@example.com'])).toBe(0);
    expect(await new MemoryStateStore().forgetAll()).toBe(0);
    expect(state.generation).toBe(first);
    expect(await state.recordAccepted([accepted('ann@example.com', entry(2n, 5), entry(9n))])).toEqual({ conflicts: ['ann@example.com'] });
    const second = state.generation;
    expect(second).not.toBe(first);
    await state.recordAccepted([accepted('bob@example.com', entry(1n), undefined, second)]);
    expect(await state.forgetAll()).toBe(1);
    expect(state.generation).not.toBe(second);
  });

  it('forgets chosen emails, or all of them, saying how many were remembered', async () => {
    const state = new MemoryStateStore();
    await state.recordAccepted(['a', 'b', 'c'].map((name, i) => accepted(`${name}@x.com`, entry(BigInt(i)), undefined, state.generation)));
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
    expect(resolveAccepted(current, accepted('a@x.com', next, basis, 'g1'), 'g1')).toBe(decision);
  });

  it('nothing held and nothing expected, but in another generation (forgotten meanwhile) → forget', () => {
    expect(resolveAccepted(undefined, accepted('a@x.com', entry(2n), undefined, 'g1'), 'g2')).toBe('forget');
    // The generation plays no part when something was expected, or the same profile is held.
    expect(resolveAccepted(entry(1n), accepted('a@x.com', entry(2n), entry(1n), 'g1'), 'g2')).toBe('record');
    expect(resolveAccepted(entry(2n, 9), accepted('a@x.com', entry(2n), undefined, 'g1'), 'g2')).toBe('record');
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
