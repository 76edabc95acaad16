import { randomBytes } from 'node:crypto';
import type { Digest } from './digest.js';
import type { EmailId } from './entry-codec.js';

/** What is remembered of the profile a platform accepted for one email. */
export interface Remembered {
  /** Of the normalized profile: what "unchanged" is decided on. */
  digest: Digest;
  /**
   * Of the record's text as read. Byte-identical text normalizes to the identical profile, so a
   * record whose text matches is unchanged without being validated again: nightly runs over a
   * mostly unchanged file skip the costliest step for almost every record.
   */
  textDigest: Digest;
  /** When the platform's acceptance was recorded (epoch ms). Every acceptance has its own. */
  acceptedAt: number;
  /**
   * The run that recorded it had read another record for this email before this one: a rerun of
   * the same input holds an earlier record back until it knows whether a later one follows.
   */
  repeated: boolean;
}

export interface Accepted {
  email: string;
  entry: Remembered;
  /**
   * What the state held for this email when its batch was formed. The entry is recorded only if
   * that is still what it holds: otherwise another run recorded an acceptance in between, nobody
   * can tell which of the two the platform processed last, and the email is forgotten so that the
   * next run of either input sends it again.
   */
  basis: Remembered | undefined;
  /**
   * The state's generation when the batch was formed (see `StateStore.generation`). With no
   * basis, "still holds nothing" is true only in the same generation: an email forgotten since
   * (by `sync state forget`, or a conflict between runs) also holds nothing, and an acceptance
   * formed before that must not be recorded over it.
   */
  generation: string;
}

export interface Recorded {
  /** Emails forgotten because another run recorded an acceptance for them in between. */
  conflicts: string[];
}

/**
 * What push remembers per platform: for each email, the profile the platform last accepted. Push
 * asks before sending (`lookup`) and tells it each batch's accepted profiles as the answer arrives
 * (`recordAccepted`), so a rerun after any stop skips what was confirmed.
 */
export interface StateStore {
  /** `id`: the email's hash (entry-codec.ts `emailId`) when the caller has it already: not hashed again. */
  lookup(email: string, id?: EmailId): Remembered | undefined;
  /** `lookup(email)?.textDigest`, without building the rest of the answer (it is asked once per record read). */
  rememberedTextDigest(email: string, id?: EmailId): Digest | undefined;
  /**
   * `rememberedTextDigest(email) === textDigest`, answered from the least memory the store can
   * read: push asks it for every record of an incremental run, and nearly every answer is yes.
   */
  remembersText(email: string, textDigest: Digest, id?: EmailId): boolean;
  /**
   * Optional, and only a hint: reads where a lookup of this email will look, returning something of
   * it to keep (see LoadedEntries.touch). Asked for a chunk's records in a row before their lookups.
   */
  touch?(id: EmailId): number;
  /**
   * Random, and new whenever the state forgets a remembered email (or is created): what a batch
   * is formed against for a profile the state holds nothing for. "Nothing" after a forget, a
   * reset, or in another state is never the "nothing" of an earlier send, so the same content
   * sent again then is a new intent with a new Idempotency-Key (see batchKey). Learned from the
   * store's answers: it may change during a run.
   */
  readonly generation: string;
  /** Resolves once the entries are committed (they survive a kill of this process). */
  recordAccepted(accepted: readonly Accepted[]): Promise<Recorded>;
  /** How many emails are remembered for this platform. */
  count(): number;
  /** Makes the next push send these emails again; resolves with how many were remembered. */
  forget(emails: readonly string[]): Promise<number>;
  /** Forgets every email of this platform; resolves with how many there were. */
  forgetAll(): Promise<number>;
  close(): Promise<void>;
}

export function sameRemembered(a: Remembered | undefined, b: Remembered | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.digest === b.digest && a.textDigest === b.textDigest && a.acceptedAt === b.acceptedAt && a.repeated === b.repeated;
}

/**
 * The decision of one compare-and-set, shared by every store: record the entry when the state
 * still holds what the batch was formed against (or already holds this very profile), else forget.
 */
export function resolveAccepted(current: Remembered | undefined, accepted: Accepted, generation: string): 'record' | 'forget' {
  const unchanged = accepted.basis ? sameRemembered(current, accepted.basis) : current === undefined && accepted.generation === generation;
  if (unchanged || current?.digest === accepted.entry.digest) return 'record';
  return 'forget';
}

export function newGeneration(): string {
  return randomBytes(8).toString('hex');
}

/** For tests and `sync demo`: a state that lives as long as the process. */
export class MemoryStateStore implements StateStore {
  readonly entries = new Map<string, Remembered>();
  generation = newGeneration();

  lookup(email: string): Remembered | undefined {
    return this.entries.get(email);
  }

  rememberedTextDigest(email: string): Digest | undefined {
    return this.lookup(email)?.textDigest;
  }

  remembersText(email: string, textDigest: Digest): boolean {
    return this.lookup(email)?.textDigest === textDigest;
  }

  async recordAccepted(accepted: readonly Accepted[]): Promise<Recorded> {
    const conflicts: string[] = [];
    for (const item of accepted) {
      if (resolveAccepted(this.entries.get(item.email), item, this.generation) === 'record') this.entries.set(item.email, item.entry);
      else if (this.entries.delete(item.email)) conflicts.push(item.email);
    }
    if (conflicts.length > 0) this.generation = newGeneration();
    return { conflicts };
  }

  count(): number {
    return this.entries.size;
  }

  async forget(emails: readonly string[]): Promise<number> {
    return this.forgotten(emails.filter((email) => this.entries.delete(email)).length);
  }

  async forgetAll(): Promise<number> {
    const count = this.entries.size;
    this.entries.clear();
    return this.forgotten(count);
  }

  private forgotten(count: number): number {
    if (count > 0) this.generation = newGeneration();
    return count;
  }

  async close(): Promise<void> {}
}

/**
 * The platform a state belongs to: the downstream URL's origin and path. Query and fragment are
 * not part of it, nor a trailing slash: they do not name another platform.
 */
export function platformOf(downstreamUrl: string): string {
  const url = new URL(downstreamUrl);
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}
