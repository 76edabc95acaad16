import { describe, expect, it, vi } from 'vitest';

type XxhashModule = typeof import('../../src/hash/xxhash.js');

// The module keeps the loaded WebAssembly in module state: each test gets a fresh copy, so
// "before loadHasher()" really is before it.
async function freshModule(): Promise<XxhashModule> {
  vi.resetModules();
  return import('../../src/hash/xxhash.js');
}

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

describe('xxhash', () => {
  it('hashing before loadHasher() is a programming error, said plainly', async () => {
    const { hasher, streamDigest } = await freshModule();
    expect(() => hasher()).toThrow(new Error('loadHasher() must be awaited before hashing'));
    expect(() => streamDigest()).toThrow(new Error('loadHasher() must be awaited before hashing'));
  });

  it('is xxHash64 with seed 0 (the published test vectors), as 64-bit bigints', async () => {
    const { hasher, loadHasher } = await freshModule();
    await loadHasher();
    const h64 = hasher();
    expect(h64('')).toBe(0xef46db3751d8e999n);
    expect(h64('a')).toBe(0xd24ec4f1a98c6e5bn);
    expect(h64('abc')).toBe(0x44bc2cf5ad770999n);
  });

  it('a streamed digest equals the one-shot digest of the same bytes, however they are split', async () => {
    const { hasher, loadHasher, streamDigest } = await freshModule();
    await loadHasher();
    expect(streamDigest().update(bytes('ab')).update(bytes('c')).digest()).toBe(0x44bc2cf5ad770999n);
    expect(streamDigest().update(bytes('abc')).digest()).toBe(hasher()('abc'));
    // Each call starts a digest of its own: one in progress does not leak into the next.
    const first = streamDigest().update(bytes('a'));
    expect(streamDigest().digest()).toBe(0xef46db3751d8e999n);
    expect(first.digest()).toBe(0xd24ec4f1a98c6e5bn);
  });

  it('loads the WebAssembly once: later calls keep the same instance', async () => {
    const { hasher, loadHasher } = await freshModule();
    await loadHasher();
    const first = hasher();
    await loadHasher();
    expect(hasher()).toBe(first);
  });
});
