import type { Profile } from '../profiles/schemas.js';
import { hasher } from '../hash/xxhash.js';
import type { Digest } from '../state/digest.js';
import type { Encoded, Target } from '../destinations/destination.js';
import { mapsFingerprint } from '../destinations/field-map.js';

/**
 * Profiles as one destination takes them, with what push remembers of them. A profile that no
 * request to this platform could carry (too large as sent, a value its fields cannot take) is
 * refused here, with the reason, before it costs its neighbours a request.
 */
export interface ProfileEncoder {
  encode(profile: Profile): Encoded | { refused: string };
  /** Of what is sent: "unchanged" means the platform would get the very same item. */
  digest(item: Encoded): Digest;
  /** Of a record's text, for this destination and field map: equal texts would send equal items. */
  textDigest(text: string): Digest;
}

export function encoderFor(target: Target): ProfileEncoder {
  const { destination } = target;
  const { maxItemBytes, maxBytes } = destination.limits;
  // Another destination or another --map sends other bytes for the same record.
  const salt = `${destination.name}\n${mapsFingerprint(target.maps)}\n`;
  const hash = hasher();
  return {
    encode(profile) {
      const encoding = destination.encode(profile, target);
      if ('refused' in encoding) return encoding;
      const bytes = Buffer.byteLength(encoding.fragment);
      if (maxItemBytes !== undefined && bytes > maxItemBytes) {
        return { refused: `${bytesText(bytes)} as sent to ${destination.title}, over its limit of ${bytesText(maxItemBytes)} a profile` };
      }
      if (maxBytes !== undefined && bytes + destination.envelopeBytes(1) > maxBytes) {
        return { refused: `${bytesText(bytes)} as sent to ${destination.title}, more than one request may carry (${bytesText(maxBytes)})` };
      }
      return { profile, fragment: encoding.fragment, bytes };
    },
    digest: (item) => hash(salt + item.fragment),
    textDigest: (text) => hash(salt + text),
  };
}

// Exact: a limit in decimal units (Customer.io's 32,000) rounded to KiB would read the same as a size just over it.
const bytesText = (bytes: number): string => `${bytes.toLocaleString('en-US')} bytes`;
