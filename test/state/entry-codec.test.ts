import { beforeAll, describe, expect, it } from 'vitest';
import xxhash from 'xxhash-wasm';
import { seededRandom } from '../../src/engine/random.js';
import { hasher } from '../../src/hash/xxhash.js';
import { loadHasher } from '../../src/state/digest.js';
import { checkStored, decodeIndexed, emailId, encodeIndexed, encodeStored, readEmailId, storedCheckHolds, writeEmailId } from '../../src/state/entry-codec.js';

const entry = { digest: 0x0123456789abcdefn, textDigest: 0xfedcba9876543210n, acceptedAt: 1_764_000_000_123.5, repeated: true };
const platform = Buffer.from('0102030405060708', 'hex');

describe('entry codec', () => {
  beforeAll(loadHasher);

  it('an email id is the two halves of its xxHash64', () => {
    const hash = hasher()('ann@example.com');
    expect(emailId('ann@example.com')).toEqual({ hi: Number(hash >> 32n), lo: Number(hash & 0xffffffffn) });
    const bytes = Buffer.alloc(10);
    writeEmailId(emailId('ann@example.com'), bytes, 2);
    expect(bytes.readBigUInt64BE(2)).toBe(hash);
    expect(readEmailId(bytes, 2)).toEqual(emailId('ann@example.com'));
  });

  it('an entry survives the round trip, in memory and as stored', () => {
    expect(decodeIndexed(encodeIndexed(entry))).toStrictEqual(entry);
    expect(decodeIndexed(encodeIndexed({ ...entry, repeated: false }))).toStrictEqual({ ...entry, repeated: false });
    const stored = encodeStored(platform, emailId('ann@example.com'), entry);
    expect(stored.length).toBe(32);
    expect(decodeIndexed(checkStored(platform, emailId('ann@example.com'), stored)!)).toStrictEqual(entry);
  });

  it('a stored value checks out only for its own platform and email, and only with every byte intact', () => {
    const id = emailId('ann@example.com');
    const stored = encodeStored(platform, id, entry);
    expect(checkStored(Buffer.from('0102030405060709', 'hex'), id, stored)).toBeUndefined();
    expect(checkStored(platform, emailId('bob@example.com'), stored)).toBeUndefined();
    for (let byte = 0; byte < 32; byte++) {
      const damaged = Buffer.from(stored);
      damaged[byte] = damaged[byte]! ^ 0x10;
      expect(checkStored(platform, id, damaged), `byte ${byte}`).toBeUndefined();
    }
    expect(checkStored(platform, id, stored.subarray(0, 31))).toBeUndefined();
  });

  it('checked where it lies in a chunk of entries (as they load), a stored value holds for its own platform and email, every byte intact, and no other', () => {
    const id = emailId('ann@example.com');
    const stored = encodeStored(platform, id, entry);
    // Inside a larger buffer, not at its start (the keeper's chunk: keys, then values).
    const chunk = Buffer.alloc(77, 0xee);
    stored.copy(chunk, 40);
    expect(storedCheckHolds(platform, id.hi, id.lo, chunk, 40)).toBe(true);
    expect(storedCheckHolds(platform, id.hi, id.lo, chunk, 39)).toBe(false);
    expect(storedCheckHolds(Buffer.from('0102030405060709', 'hex'), id.hi, id.lo, chunk, 40)).toBe(false);
    expect([storedCheckHolds(platform, id.hi ^ 1, id.lo, chunk, 40), storedCheckHolds(platform, id.hi, id.lo ^ 0x80000000, chunk, 40)]).toEqual([false, false]);
    for (let byte = 0; byte < 32; byte++) {
      const damaged = Buffer.from(chunk);
      damaged[40 + byte] = damaged[40 + byte]! ^ 0x10;
      expect(storedCheckHolds(platform, id.hi, id.lo, damaged, 40), `byte ${byte}`).toBe(false);
    }
  });

  it('the checksum is xxHash32 of platform, email and entry bytes as states on disk hold it (written before it was computed in JavaScript)', async () => {
    const { h32Raw } = await xxhash();
    const random = seededRandom(5);
    for (let trial = 0; trial < 200; trial++) {
      const id = { hi: Math.floor(random() * 2 ** 32), lo: Math.floor(random() * 2 ** 32) };
      const onDisk = Buffer.from(Array.from({ length: 32 }, () => Math.floor(random() * 256)));
      const forPlatform = Buffer.from(Array.from({ length: 8 }, () => Math.floor(random() * 256)));
      const input = Buffer.alloc(44);
      forPlatform.copy(input, 0);
      writeEmailId(id, input, 8);
      onDisk.copy(input, 16, 0, 28);
      onDisk.writeUInt32BE(h32Raw(input), 28);
      expect(checkStored(forPlatform, id, onDisk), `trial ${trial}`).toEqual(onDisk.subarray(0, 28));
      // Any other email: refused.
      expect(checkStored(forPlatform, { hi: id.hi, lo: (id.lo + 1) >>> 0 }, onDisk)).toBeUndefined();
    }
  });

  it('checks a value handed over as a plain Uint8Array (an IPC message) as it checks a Buffer', () => {
    const id = emailId('ann@example.com');
    const stored = encodeStored(platform, id, entry);
    const plain = new Uint8Array(40);
    plain.set(stored, 8);
    expect(decodeIndexed(checkStored(platform, id, plain.subarray(8))!)).toStrictEqual(entry);
  });
});
