import { checksum32 } from '../hash/xxhash.js';
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
  const hash = emailKey(email);
  return { hi: Number(hash >> 32n), lo: Number(hash & 0xffff_ffffn) };
}

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

export function encodeIndexed(entry: Remembered, target = Buffer.allocUnsafe(INDEXED_BYTES)): Buffer {
  target.writeBigUInt64BE(entry.digest, 0);
  target.writeBigUInt64BE(entry.textDigest, 8);
  target.writeDoubleBE(entry.acceptedAt, 16);
  target.writeUInt32BE(entry.repeated ? REPEATED : 0, 24);
  return target;
}

export function decodeIndexed(value: Buffer): Remembered {
  return {
    digest: value.readBigUInt64BE(0),
    textDigest: value.readBigUInt64BE(8),
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
  const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  return bytes.readUInt32BE(INDEXED_BYTES) === storedCheck(platform, email, bytes) ? bytes.subarray(0, INDEXED_BYTES) : undefined;
}

const checked = Buffer.allocUnsafe(8 + EMAIL_BYTES + INDEXED_BYTES);

function storedCheck(platform: Buffer, email: EmailId, value: Buffer): number {
  // Byte by byte: Buffer#copy costs more per call than these 36 bytes do (it runs once per record read).
  for (let i = 0; i < 8; i++) checked[i] = platform[i]!;
  checked.writeUInt32BE(email.hi >>> 0, 8);
  checked.writeUInt32BE(email.lo >>> 0, 12);
  for (let i = 0; i < INDEXED_BYTES; i++) checked[16 + i] = value[i]!;
  return checksum32(checked);
}
