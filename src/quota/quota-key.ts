import { createHash } from 'node:crypto';
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';

/** Resolves a host name to every address it has (dns.lookup with `all: true`). */
export type LookupAll = (hostname: string) => Promise<readonly { address: string }[]>;

export interface QuotaKeyInput {
  /** The remote the quota protects. */
  remoteUrl: string;
  /**
   * The run's credential for that remote (SYNC_DOWNSTREAM_TOKEN), if any. A platform limits an
   * account, whatever host name reaches it, so a credential names the budget instead of the host.
   */
  credential?: string;
  /**
   * Prefixed to the key, so that one credential or host used by two kinds of remote (the later
   * `--to` destinations) does not share a budget between them. Absent for `sync`'s own format.
   */
  namespace?: string;
  lookup?: LookupAll;
}

const systemLookup: LookupAll = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

/** Enough of a SHA-256 to tell accounts apart; the credential itself never leaves the process. */
export function credentialFingerprint(credential: string): string {
  return createHash('sha256').update(credential).digest('hex').slice(0, 16);
}

/**
 * The shared budget's name when `--quota-key` is not given. Processes that reach one platform must
 * agree on it however the platform is spelled: with a credential it is `token:<fingerprint>`;
 * without, the origin with the scheme lower-case, the port explicit, and the host replaced by one
 * address, the first of all it resolves to in a fixed order (IPv4 first; `::1` counted as
 * `127.0.0.1`), so `http://localhost:4020`, `HTTP://127.0.0.1:4020/` and `http://[::1]:4020` are one
 * budget. One address rather than the whole list: machines whose resolvers return different
 * subsets (one drops IPv6 answers, a pool rotates) still agree whenever their first address does,
 * and a name and its address written out agree. Two budgets where there is one platform would
 * exceed its limit; one budget for two platforms on the same address only shares their pace. A
 * name that does not resolve keeps its (lower-case) name: the run fails on it soon enough.
 */
export async function defaultQuotaKey({ remoteUrl, credential, namespace, lookup = systemLookup }: QuotaKeyInput): Promise<string> {
  const key = credential ? `token:${credentialFingerprint(credential)}` : await canonicalOrigin(remoteUrl, lookup);
  return namespace ? `${namespace}:${key}` : key;
}

async function canonicalOrigin(remoteUrl: string, lookup: LookupAll): Promise<string> {
  const url = new URL(remoteUrl);
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  const host = await firstAddress(url.hostname, lookup);
  return `${url.protocol}//${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
}

async function firstAddress(hostname: string, lookup: LookupAll): Promise<string> {
  const host = hostname.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
  if (isIP(host)) return canonicalAddress(host);
  let found: readonly { address: string }[];
  try {
    found = await lookup(host);
  } catch {
    return host;
  }
  // A fixed order: IPv4 first, then by code units (not the locale's collation).
  const sorted = found.map(({ address }) => canonicalAddress(address)).sort((a, b) => isIP(a) - isIP(b) || (a < b ? -1 : a > b ? 1 : 0));
  return sorted[0] ?? host;
}

/**
 * One spelling per address: IPv4-mapped IPv6 as IPv4, and the IPv6 loopback as the IPv4 one (a
 * `localhost` that resolves to both is this machine either way).
 */
function canonicalAddress(address: string): string {
  const lower = address.toLowerCase();
  if (lower === '::1') return '127.0.0.1';
  const mapped = /^::ffff:(?:(\d+\.\d+\.\d+\.\d+)|([0-9a-f]{1,4}):([0-9a-f]{1,4}))$/.exec(lower);
  if (!mapped) return lower;
  return mapped[1] ?? [mapped[2]!, mapped[3]!].flatMap((group) => [parseInt(group, 16) >> 8, parseInt(group, 16) & 0xff]).join('.');
}
