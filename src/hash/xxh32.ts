/**
 * xxHash32 (seed 0) of whole little-endian 32-bit words, in plain JavaScript: for a few dozen bytes
 * it costs less than the WebAssembly one, whose call copies its input into the module's memory
 * (the state's checksum runs once per record read: 1M times in an incremental push). Equal to
 * `h32Raw` of the same bytes (test/hash/xxh32.test.ts).
 */
const P1 = 0x9e3779b1;
const P2 = 0x85ebca77;
const P3 = 0xc2b2ae3d;
const P4 = 0x27d4eb2f;
const P5 = 0x165667b1;

const rotl = (x: number, r: number): number => (x << r) | (x >>> (32 - r));
const round = (acc: number, input: number): number => Math.imul(rotl((acc + Math.imul(input, P2)) | 0, 13), P1);

/** The hash of `count` words, i.e. of 4 × `count` bytes, word i being bytes 4i…4i+3 read little-endian. */
export function xxh32Words(words: ArrayLike<number>, count: number): number {
  let i = 0;
  let h: number;
  if (count >= 4) {
    let v1 = (P1 + P2) | 0;
    let v2 = P2 | 0;
    let v3 = 0;
    let v4 = -P1 | 0;
    for (; i + 4 <= count; i += 4) {
      v1 = round(v1, words[i]!);
      v2 = round(v2, words[i + 1]!);
      v3 = round(v3, words[i + 2]!);
      v4 = round(v4, words[i + 3]!);
    }
    h = (rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18)) | 0;
  } else h = P5;
  h = (h + count * 4) | 0;
  for (; i < count; i++) h = Math.imul(rotl((h + Math.imul(words[i]!, P3)) | 0, 17), P4);
  h ^= h >>> 15;
  h = Math.imul(h, P2);
  h ^= h >>> 13;
  h = Math.imul(h, P3);
  h ^= h >>> 16;
  return h >>> 0;
}
