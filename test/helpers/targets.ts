import { DESTINATIONS } from '../../src/destinations/registry.js';
import type { Encoded, Target } from '../../src/destinations/destination.js';
import type { DestinationName } from '../../src/destinations/destination.js';
import { parseMaps } from '../../src/destinations/field-map.js';
import type { Profile } from '../../src/profiles/schemas.js';

/** A target for tests: a destination at a URL, with a credential, list and maps as given. */
export function targetOf(name: DestinationName, baseUrl: string, extra: { credential?: string; list?: string; maps?: string[] } = {}): Target {
  return { destination: DESTINATIONS[name], baseUrl, credential: extra.credential, list: extra.list, maps: parseMaps(extra.maps ?? []) };
}

/** A profile as the destination encodes it (throws if it refuses it). */
export function encoded(target: Target, profile: Profile): Encoded {
  const encoding = target.destination.encode(profile, target);
  if ('refused' in encoding) throw new Error(`fixture refused: ${encoding.refused}`);
  return { profile, fragment: encoding.fragment, bytes: Buffer.byteLength(encoding.fragment) };
}
