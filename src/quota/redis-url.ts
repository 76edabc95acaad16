import { UsageError } from '../errors.js';
import { redactValue } from '../logging/redact.js';

/**
 * `redis://:s3cret@host:6379/0` → `redis://***@host:6379/0`. Every message and log line that names
 * a Redis URL goes through this: the URL is where its password usually lives. It does not parse
 * the URL (a password with an unencoded `#`, `/` or `?` defeats parsers): see `redactValue`.
 */
export const redactRedisUrl = redactValue;

const FORM = 'expected a URL such as redis://host:6379/0 or rediss://host:6380, any password as :PASSWORD@ before the host';

/**
 * Checks `--redis-url` / SYNC_REDIS_URL; a bad one is a usage error (exit 2) naming `name` (the
 * flag, or the variable the value came from) and never echoing the value, which may hold a password.
 */
export function checkRedisUrl(value: string, name = '--redis-url'): string {
  if (atOutsideAuthority(value)) {
    throw new UsageError(`${name}: the part before @ holds / ? or #, which end the host early; percent-encode them in the password (%2F %3F %23)`);
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`${name}: ${FORM}`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new UsageError(`${name}: expected a redis:// or rediss:// URL`);
  if (!url.hostname) throw new UsageError(`${name}: no host`);
  return value;
}

/**
 * An `@` after the point where a URL parser ends the authority (the first `/`, `?` or `#` after
 * `//`): the user meant it to end a password, the parser (and Redis's client) would take a host
 * out of the password instead, and connect there.
 */
function atOutsideAuthority(value: string): boolean {
  const start = value.indexOf('//');
  if (start < 0) return false;
  const rest = value.slice(start + 2);
  const end = rest.search(/[/?#]/);
  return end >= 0 && rest.lastIndexOf('@') > end;
}
