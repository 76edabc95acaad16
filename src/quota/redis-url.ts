import { UsageError } from '../errors.js';

/**
 * `redis://:s3cret@host:6379/0` → `redis://:***@host:6379/0`. Every message and log line that names
 * a Redis URL goes through this: the URL is where its password usually lives.
 */
export function redactRedisUrl(value: string): string {
  try {
    const url = new URL(value);
    if (url.password) url.password = '***';
    if (url.username && url.password) return url.toString();
    if (url.username) url.username = '***';
    return url.toString();
  } catch {
    // Not a URL at all: hide anything between the scheme and an @, where credentials would be.
    return value.replace(/\/\/[^/@]*@/, '//***@');
  }
}

/** Checks `--redis-url` / SYNC_REDIS_URL; a bad one is a usage error (exit 2) that never echoes a password. */
export function checkRedisUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`--redis-url ${redactRedisUrl(value)}: expected redis://[:password@]host[:port][/db]`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new UsageError(`--redis-url ${redactRedisUrl(value)}: expected a redis:// or rediss:// URL`);
  }
  if (!url.hostname) throw new UsageError(`--redis-url ${redactRedisUrl(value)}: no host`);
  return value;
}
