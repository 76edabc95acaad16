import { createHash } from 'node:crypto';
import type { Encoded } from '../destinations/destination.js';
import type { Remembered } from '../state/state-store.js';

/**
 * A batch's id, and so its Idempotency-Key: from what it holds and from what the state remembered
 * for each of its profiles when the batch was formed.
 *
 * - A batch in flight when the process was killed is formed again by the rerun from the same
 *   records against the same state (its answer was never recorded): same key, so the platform can
 *   answer it from its idempotency store instead of processing it twice.
 * - A new send of old content is formed against another state: every acceptance is stamped with
 *   its own time, so A, then B, then A again (or `--full` after the platform lost its data) gets a
 *   new key and is processed, never answered with the stored reply of an older intent.
 * - A profile the state holds nothing for is formed against the state's generation, which is
 *   random per state and changes whenever it forgets an email: the same content sent again after
 *   `sync state forget`, a reset, a conflict between runs, or from another state is a new key.
 */
export function batchKey(items: readonly Encoded[], basisOf: (item: Encoded) => Remembered | undefined, generation: string): string {
  const hash = createHash('sha256');
  for (const item of items) {
    const basis = basisOf(item);
    hash.update(item.fragment);
    hash.update(basis ? `
${basis.digest}:${basis.textDigest}:${basis.acceptedAt}:${basis.repeated ? 1 : 0}
` : `
-${generation}
`);
  }
  return `b-${hash.digest('hex').slice(0, 20)}`;
}
