import type { Logger } from '../logging/logger.js';
import { UsageError } from '../errors.js';
import { normalizeEmail } from '../normalize/email.js';
import { environmentOf, LmdbStateStore, moveAside, stateExists } from './lmdb-state-store.js';
import { resolveTarget, type TargetFlags } from '../destinations/registry.js';
import { count } from '../ui/count.js';

/** Which state and which platform in it: what push would use with the same flags. */
export interface StateTarget extends TargetFlags {
  stateDir: string;
  /** SYNC_DOWNSTREAM_TOKEN: Mailchimp's names the data centre when --downstream-url does not. */
  credential?: string;
}

export interface ShownEmail {
  email: string;
  remembered: boolean;
  /** When the platform's acceptance was recorded (ISO 8601), if remembered. */
  acceptedAt?: string;
}

/** The platform's identity in the state, as push names it for the same flags. */
function platformFor(flags: StateTarget): string {
  const { target } = resolveTarget(flags, flags.credential, { contactless: true });
  const platform = target.baseUrl ? target.destination.identity(target) : undefined;
  if (platform) return platform;
  const { name, title, needs } = target.destination;
  if (needs.credential && !flags.credential) throw new UsageError(`SYNC_DOWNSTREAM_TOKEN is required with --to ${name}: it names the ${title} account whose state this is`);
  throw new UsageError('--downstream-url (or SYNC_DOWNSTREAM_URL) is required: it names the platform whose state this is');
}

/** The email as push keys it (trimmed, lower-cased, its domain in ASCII). */
const keyOf = normalizeEmail;

/** Whether each email is remembered for the platform, and since when. Reads only. */
export async function showState(target: StateTarget, emails: readonly string[], logger: Logger): Promise<ShownEmail[]> {
  const platform = platformFor(target);
  const store = await LmdbStateStore.open(target.stateDir, platform, { readOnly: true });
  // A mistyped --state must not look like a state that remembers nothing of these emails.
  if (!store) logger.warn({ stage: 'run', state: target.stateDir, platform }, `no state in ${target.stateDir}: nothing is remembered there for any platform (is --state or SYNC_STATE_DIR right?)`);
  try {
    return emails.map((given) => {
      const email = keyOf(given);
      const entry = store?.lookup(email);
      return entry ? { email, remembered: true, acceptedAt: new Date(entry.acceptedAt).toISOString() } : { email, remembered: false };
    });
  } finally {
    await store?.close();
  }
}

/** Makes the next push send these emails (or every email, `all`) again; returns how many were remembered. */
export async function forgetState(target: StateTarget, emails: readonly string[] | 'all', logger: Logger): Promise<{ forgotten: number; platform: string }> {
  const platform = platformFor(target);
  // Nothing remembered anywhere: nothing to forget, and no state is created for it.
  if (!(await stateExists(target.stateDir))) return { forgotten: 0, platform };
  const writable = (await LmdbStateStore.open(target.stateDir, platform))!;
  try {
    const forgotten = emails === 'all' ? await writable.forgetAll() : await writable.forget(emails.map(keyOf));
    logger.info({ stage: 'run', state: target.stateDir, platform, forgotten }, `forgot ${count(forgotten, 'profile')} of ${platform} in ${target.stateDir}`);
    return { forgotten, platform };
  } finally {
    await writable.close();
  }
}

/** What `forgetState` did, for a person: "Forgot 0 profiles … sends them again" would promise a send that never comes. */
export function forgotSentence(forgotten: number, platform: string, asked: readonly string[] | 'all'): string {
  if (forgotten > 0) return `Forgot ${count(forgotten, 'profile')} of ${platform}: the next push sends ${forgotten === 1 ? 'it' : 'them'} again.`;
  if (asked === 'all') return `Nothing to forget: no profile of ${platform} is remembered.`;
  return `Nothing to forget: ${asked.length === 1 ? 'that email is not' : 'none of those emails is'} remembered for ${platform}.`;
}

/**
 * Moves the whole state (every platform) aside without opening it, so that a damaged one can be
 * set aside; the next push starts a new state and sends every profile once.
 */
export async function resetState(stateDir: string, logger: Logger): Promise<{ movedTo: string | null }> {
  const movedTo = await moveAside(stateDir);
  if (movedTo) logger.info({ stage: 'run', state: stateDir, movedTo }, `state moved aside to ${movedTo}: the next push starts a new one and sends every profile once`);
  else logger.info({ stage: 'run', state: stateDir }, `no state in ${environmentOf(stateDir)}: nothing to move`);
  return { movedTo: movedTo ?? null };
}
