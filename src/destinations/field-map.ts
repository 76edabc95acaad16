import { UsageError } from '../errors.js';
import type { Profile } from '../profiles/schemas.js';

/** `--map metadata.KEY=TARGET`: a value inside the profile's metadata, sent as the platform field TARGET. */
export interface MappedField {
  /** As written: `metadata.preferences.plan`. */
  source: string;
  /** The keys inside metadata: ['preferences', 'plan']. */
  path: readonly string[];
  target: string;
}

const SOURCE = /^metadata(\.[^.=\s]+)+$/;

/** Parses the repeated `--map` flags; a malformed one, or two for one target, is exit 2. */
export function parseMaps(values: readonly string[]): MappedField[] {
  const maps = values.map((value) => {
    const at = value.indexOf('=');
    const source = (at < 0 ? value : value.slice(0, at)).trim();
    const target = at < 0 ? '' : value.slice(at + 1).trim();
    if (!SOURCE.test(source) || target === '' || /\s/.test(target)) {
      throw new UsageError(`--map ${value}: expected metadata.KEY=TARGET (dots reach inside metadata, e.g. metadata.preferences.plan=plan)`);
    }
    return { source, path: source.split('.').slice(1), target };
  });
  const seen = new Map<string, string>();
  for (const map of maps) {
    const other = seen.get(map.target.toLowerCase());
    if (other) throw new UsageError(`--map ${map.source}=${map.target}: ${other} is already sent as ${map.target}`);
    seen.set(map.target.toLowerCase(), map.source);
  }
  return maps;
}

/**
 * An object to put platform fields in, with no prototype: a `--map …=__proto__` is a field like any
 * other (on a plain object the assignment would set its prototype, and the field would never be sent).
 */
export function fieldsObject(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.assign(Object.create(null) as Record<string, unknown>, fields);
}

/** The value a map takes from a profile: undefined when any step of the path is missing. */
export function mappedValue(profile: Profile, map: MappedField): unknown {
  let value: unknown = profile.metadata;
  for (const key of map.path) {
    if (value === null || typeof value !== 'object' || Array.isArray(value) || !Object.hasOwn(value, key)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/** A stable text of the maps, part of what "unchanged" is decided on: another map sends other fields. */
export function mapsFingerprint(maps: readonly MappedField[]): string {
  return maps.map((map) => `${map.source}=${map.target}`).join('\n');
}
