import { xxh32Words } from '../hash/xxh32.js';
import { emailKey } from './digest.js';
import { EMAIL_BYTES, STORED_BYTES } from './keeper-protocol.js';
import type { Remembered } from './state-store.js';

/** A remembered entry in memory: the stored value without its checksum. */
export const INDEXED_BYTES = 28;
const REPEATED = 1;

/** An email's 64-bit hash as the two 32-bit halves the index and the keeper use. */
export interface EmailId {
  hi: number;
  lo: number;
}

export function emailId(email: string): EmailId {
  halves.setBigUint64(0, emailKey(email));
  return { hi: halves.getUint32(0), lo: halves.getUint32(4) };
}

/** A hash's two halves without a bigint shift and mask (each allocates: twice per record read). */
const halves = new DataView(new ArrayBuffer(8));

/** The 8 bytes of an email in a stored key. */
export function writeEmailId(id: EmailId, target: Uint8Array, offset: number): void {
  const view = new DataView(target.buffer, target.byteOffset, target.byteLength);
  view.setUint32(offset, id.hi);
  view.setUint32(offset + 4, id.lo);
}

export function readEmailId(source: Uint8Array, offset: number): EmailId {
  const view = new DataView(source.buffer, source.byteOffset, source.byteLength);
  return { hi: view.getUint32(offset), lo: view.getUint32(offset + 4) };
}

/** Where an indexed (and a stored) entry holds its text digest. */
export const TEXT_DIGEST_AT = 8;

export function encodeIndexed(entry: Remembered, target = Buffer.allocUnsafe(INDEXED_BYTES)): Buffer {
  target.writeBigUInt64BE(entry.digest, 0);
  target.writeBigUInt64BE(entry.textDigest, TEXT_DIGEST_AT);
  target.writeDoubleBE(entry.acceptedAt, 16);
  target.writeUInt32BE(entry.repeated ? REPEATED : 0, 24);
  return target;
}

export function decodeIndexed(value: Buffer): Remembered {
  return {
    digest: value.readBigUInt64BE(0),
    textDigest: value.readBigUInt64BE(TEXT_DIGEST_AT),
    acceptedAt: value.readDoubleBE(16),
    repeated: (value.readUInt32BE(24) & REPEATED) !== 0,
  };
}

/**
 * The 32 bytes stored on disk: the entry, then a checksum over the platform, the email and the
 * entry. Bytes a damaged page hands back for a key never pass for a remembered profile (which
 * could skip a changed one): they read as "not remembered", and the profile is sent again.
 */
export function encodeStored(platform: Buffer, email: EmailId, entry: Remembered): Buffer {
  const value = Buffer.allocUnsafe(STORED_BYTES);
  encodeIndexed(entry, value);
  value.writeUInt32BE(storedCheck(platform, email, value), INDEXED_BYTES);
  return value;
}

/** The entry part of a stored value, if its checksum holds. */
export function checkStored(platform: Buffer, email: EmailId, value: Uint8Array): Buffer | undefined {
  if (value.length !== STORED_BYTES) return undefined;
  const bytes = Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  return bytes.readUInt32BE(INDEXED_BYTES) === storedCheck(platform, email, bytes) ? bytes.subarray(0, INDEXED_BYTES) : undefined;
}

/**
 * Whether the stored value at `at` in `bytes` (a chunk of entries as the keeper sends them) holds
 * its checksum for this platform and email: `checkStored` without a view or an object per entry,
 * for a million entries checked as they load.
 */
export function storedCheckHolds(platform: Buffer, hi: number, lo: number, bytes: Uint8Array, at: number): boolean {
  const stored = ((bytes[at + INDEXED_BYTES]! << 24) | (bytes[at + INDEXED_BYTES + 1]! << 16) | (bytes[at + INDEXED_BYTES + 2]! << 8) | bytes[at + INDEXED_BYTES + 3]!) >>> 0;
  return stored === checksum(platform, hi, lo, bytes, at);
}

/** The checksum's input as xxHash reads it: 9 little-endian words of platform (2), email (2), entry (7). */
const words = new Uint32Array((8 + EMAIL_BYTES + INDEXED_BYTES) / 4);

/** Little-endian word at `at` of `bytes`. */
const wordAt = (bytes: Uint8Array, at: number): number => (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;

/** A 32-bit number written big-endian, read back little-endian. */
const swapped = (n: number): number => (((n >>> 24) & 0xff) | ((n >>> 8) & 0xff00) | ((n & 0xff00) << 8) | ((n & 0xff) << 24)) >>> 0;

/**
 * xxHash32 of the platform's 8 bytes, the email's 8 (big-endian halves) and the entry's 28, as
 * written on disk since the state began: computed from the bytes where they are (it runs once
 * per record read: a copy into one buffer and a WebAssembly call were 1 s of a million-record push).
 */
function storedCheck(platform: Buffer, email: EmailId, value: Uint8Array): number {
  return checksum(platform, email.hi, email.lo, value, 0);
}

/** `storedCheck` of the entry at `at` in `bytes`. */
function checksum(platform: Buffer, hi: number, lo: number, bytes: Uint8Array, at: number): number {
  words[0] = wordAt(platform, 0);
  words[1] = wordAt(platform, 4);
  words[2] = swapped(hi);
  words[3] = swapped(lo);
  for (let i = 0; i < INDEXED_BYTES / 4; i++) words[4 + i] = wordAt(bytes, at + i * 4);
  return xxh32Words(words, words.length);
}
