import type { Digest } from './digest.js';


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
}

export interface Accepted extends Remembered {
  email: string;
}

/**
 * What push remembers per platform: for each email, the digest of the profile the platform last
 * accepted. Push asks before sending (`lookup`) and tells it each batch's accepted profiles as the
 * answer arrives (`recordAccepted`), so a rerun after any stop skips what was confirmed.
 */
export interface StateStore {
  lookup(email: string): Remembered | undefined;
  /** Resolves once the entries are committed (they survive a kill of this process). */
  recordAccepted(accepted: readonly Accepted[]): Promise<void>;
  close(): Promise<void>;
}

/** For tests and `sync demo`: a state that lives as long as the process. */
export class MemoryStateStore implements StateStore {
  readonly entries = new Map<string, Remembered>();

  lookup(email: string): Remembered | undefined {
    return this.entries.get(email);
  }

  async recordAccepted(accepted: readonly Accepted[]): Promise<void> {
    for (const { email, digest, textDigest } of accepted) this.entries.set(email, { digest, textDigest });
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
