import { beforeAll, describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/engine/random.js';
import { xxh32Words } from '../../src/hash/xxh32.js';
import xxhash from 'xxhash-wasm';

let h32Raw: (bytes: Uint8Array) => number;

/** The words of `bytes` as xxHash reads them: little-endian, whatever the machine's order. */
const wordsOf = (bytes: Uint8Array): number[] => Array.from({ length: bytes.length / 4 }, (_, i) => Buffer.from(bytes).readUInt32LE(i * 4));

describe('xxh32Words', () => {
  beforeAll(async () => {
    ({ h32Raw } = await xxhash());
  });

  it('is xxHash32 with seed 0: the published vector for no input, and the WebAssembly one for "abcd"', () => {
    expect(xxh32Words([], 0)).toBe(0x02cc5d05);
    expect(xxh32Words(wordsOf(Buffer.from('abcd')), 1)).toBe(h32Raw(Buffer.from('abcd')));
  });

  it('equals the WebAssembly xxHash32 for every length up to 20 words (below, at and past each 16-byte stripe), random bytes', () => {
    const random = seededRandom(11);
    for (let words = 0; words <= 20; words++) {
      for (let trial = 0; trial < 25; trial++) {
        const bytes = new Uint8Array(words * 4).map(() => Math.floor(random() * 256));
        expect(xxh32Words(wordsOf(bytes), words), `${words} words, trial ${trial}`).toBe(h32Raw(bytes));
      }
    }
  });

  it('reads only the first `count` words', () => {
    const bytes = Buffer.from('0123456789abcdefghij');
    expect(xxh32Words([...wordsOf(bytes), 0xdeadbeef], 5)).toBe(h32Raw(bytes));
  });
});
