import { hasher } from '../hash/xxhash.js';
import { toWire, type Profile } from '../profiles/schemas.js';

/** 64 bits of a profile's normalized wire form: equal digests mean the platform would get the same bytes. */
export type Digest = bigint;

export { loadHasher, streamDigest, type StreamDigest } from '../hash/xxhash.js';

/** The digest of what would go on the wire for this profile (key order as sent). */
export function profileDigest(profile: Profile): Digest {
  return hasher()(JSON.stringify(toWire(profile)));
}

/** The digest of a record's text as read: equal texts normalize to equal profiles. */
export function textDigest(text: string): Digest {
  return hasher()(text);
}

/** The first half of every state key: all of a platform's emails sort together (count, forget all). */
export function platformKey(platform: string): bigint {
  return hasher()(`platform\n${platform}`);
}

/** The second half: the email (already normalized). */
export function emailKey(email: string): bigint {
  return hasher()(email);
}
