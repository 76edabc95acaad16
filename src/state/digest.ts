import { hasher } from '../hash/xxhash.js';

/**
 * 64 bits of what a platform would get for a profile (delivery/encoder.ts): equal digests mean
 * the platform would get the same bytes.
 */
export type Digest = bigint;

export { loadHasher, streamDigest, type StreamDigest } from '../hash/xxhash.js';

/** The first half of every state key: all of a platform's emails sort together (count, forget all). */
export function platformKey(platform: string): bigint {
  return hasher()(`platform\n${platform}`);
}

/** The second half: the email (already normalized). */
export function emailKey(email: string): bigint {
  return hasher()(email);
}
