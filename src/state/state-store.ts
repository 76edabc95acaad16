import type { Digest } from './digest.js';

export interface Accepted {
  email: string;
  digest: Digest;
}

/**
 * What push remembers per platform: for each email, the digest of the profile the platform last
 * accepted. Push asks before sending (`lookup`) and tells it each batch's accepted profiles as the
 * answer arrives (`recordAccepted`), so a rerun after any stop skips what was confirmed.
 */
export interface StateStore {
  lookup(email: string): Digest | undefined;
  /** Resolves once the entries are committed (they survive a kill of this process). */
  recordAccepted(accepted: readonly Accepted[]): Promise<void>;
  close(): Promise<void>;
}

/** For tests and `sync demo`: a state that lives as long as the process. */
export class MemoryStateStore implements StateStore {
  readonly entries = new Map<string, Digest>();

  lookup(email: string): Digest | undefined {
    return this.entries.get(email);
  }

  async recordAccepted(accepted: readonly Accepted[]): Promise<void> {
    for (const { email, digest } of accepted) this.entries.set(email, digest);
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
