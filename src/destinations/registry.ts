import { UsageError } from '../errors.js';
import type { Destination, DestinationName, Target } from './destination.js';
import { parseMaps } from './field-map.js';
import { brazeDestination } from './braze.js';
import { customerioDestination } from './customerio.js';
import { hubspotDestination } from './hubspot.js';
import { iterableDestination } from './iterable.js';
import { mailchimpDestination } from './mailchimp.js';
import { syncDestination } from './sync.js';

/** Every destination `--to` can name. */
export const DESTINATIONS: Readonly<Record<DestinationName, Destination>> = {
  sync: syncDestination,
  hubspot: hubspotDestination,
  mailchimp: mailchimpDestination,
  braze: brazeDestination,
  customerio: customerioDestination,
  iterable: iterableDestination,
};

export const DESTINATION_NAMES = Object.keys(DESTINATIONS) as DestinationName[];

/**
 * Why a credential cannot go into an HTTP header as it is (never quoting it). A control character
 * is dropped or refused on the way, and a letter outside Latin-1 goes as one byte of it: the
 * platform would get another key than ours, and an answer quoting that key back would not be
 * masked. No platform issues a key outside printable ASCII.
 */
function credentialCharacterProblem(credential: string): string | undefined {
  if (credential !== credential.trim()) return 'whitespace around it';
  if ([...credential].some((c) => c.charCodeAt(0) < 0x20 || c === '\u007f')) return 'a control character';
  if (/[^\u0020-\u007e]/.test(credential)) return 'a character outside ASCII';
  return undefined;
}

/** The flags (and their environment variables) that say where a push or serve delivers. */
export interface TargetFlags {
  to?: string;
  downstreamUrl?: string;
  list?: string;
  map?: readonly string[];
  batchSize?: number;
  rate?: number;
  concurrency?: number;
}

export interface ResolvedTarget {
  target: Target;
  batchSize: number;
  rate: number;
  /** Requests in flight at most; undefined: unbounded. */
  concurrency: number | undefined;
}

/**
 * The destination and how to reach it, from the flags, the credential and the destination's
 * defaults; everything that would stop the run is a usage error here, before anything is read.
 * `contactless` (--dry-run): nothing will be sent, so neither a credential nor a URL is required.
 */
export function resolveTarget(flags: TargetFlags, credential: string | undefined, { contactless = false } = {}): ResolvedTarget {
  const name = flags.to ?? 'sync';
  const destination = DESTINATIONS[name as DestinationName];
  if (!destination) throw new UsageError(`--to ${name}: expected one of ${DESTINATION_NAMES.join(', ')}`);
  const to = `--to ${name}`;
  if (destination.needs.list && !flags.list) throw new UsageError(`--list ID (or SYNC_LIST_ID) is required with ${to}: the audience to add members to`);
  if (!destination.needs.list && flags.list) throw new UsageError(`--list is for --to mailchimp; ${to} has no lists`);
  if (destination.needs.credential && !credential && !contactless) {
    throw new UsageError(`SYNC_DOWNSTREAM_TOKEN is required with ${to}: ${destination.title}'s credential, from the environment`);
  }
  const characters = credential ? credentialCharacterProblem(credential) : undefined;
  if (characters) {
    throw new UsageError(`SYNC_DOWNSTREAM_TOKEN holds ${characters}, which an HTTP header cannot carry as it is: check how the key was copied`);
  }
  const credentialProblem = credential ? destination.checkCredential?.(credential) : undefined;
  if (credentialProblem) throw new UsageError(`SYNC_DOWNSTREAM_TOKEN with ${to}: ${credentialProblem}`);
  const baseUrl = flags.downstreamUrl ?? (credential || !destination.needs.credential ? destination.defaultBaseUrl(credential) : undefined);
  if (!baseUrl && !contactless) {
    throw new UsageError(`--downstream-url (or SYNC_DOWNSTREAM_URL) is required with ${to}${destination.baseUrlHint ? `: ${destination.baseUrlHint}` : ''}`);
  }
  const batchSize = flags.batchSize ?? destination.defaults.batchSize;
  if (batchSize > destination.limits.maxItems) {
    throw new UsageError(`--batch-size ${batchSize}: ${destination.title} takes at most ${destination.limits.maxItems} profiles a request`);
  }
  const maps = parseMaps(flags.map ?? []);
  for (const map of maps) {
    const problem = destination.checkMap(map);
    if (problem) throw new UsageError(`--map ${map.source}=${map.target}: ${problem}`);
  }
  return {
    target: { destination, baseUrl: baseUrl ?? '', credential, list: flags.list, maps },
    batchSize,
    rate: flags.rate ?? destination.defaults.rate,
    concurrency: flags.concurrency ?? destination.defaults.concurrency,
  };
}
