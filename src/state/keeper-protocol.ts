/**
 * What push says to the process that keeps the LMDB state (lmdb-keeper.ts), and what it answers.
 * Keys travel as 8 bytes of email hash (the keeper adds the platform's 8); values as the 32
 * bytes stored on disk. Messages use Node's advanced IPC serialization (Buffers, bigints).
 */

export type KeeperRequest =
  | { id: number; op: 'open'; path: string; platform: bigint; readOnly: boolean }
  /**
   * n × 8 bytes of email, n × 32 of the new value, n × 32 of the basis, n flags: 1 = has a basis,
   * n × 8 of the generation each item was formed in (what "no basis" means).
   */
  | { id: number; op: 'record'; emails: Uint8Array; values: Uint8Array; bases: Uint8Array; hasBasis: Uint8Array; generations: Uint8Array }
  | { id: number; op: 'forget'; emails: Uint8Array }
  | { id: number; op: 'forgetAll' }
  | { id: number; op: 'close' };

export type KeeperReply =
  /** Part of the answer to `open`: n × 8 bytes of email, then their n × 32 of value, in key order. */
  | { id: number; type: 'entries'; data: Uint8Array }
  /** `generation`: the state's, after the request (8 bytes; absent from a read-only state that has none yet). */
  | { id: number; type: 'done'; created?: boolean; decisions?: Uint8Array; forgotten?: number; generation?: Uint8Array }
  | { id: number; type: 'error'; message: string; code?: string };

/** Per record item: what the keeper did. */
export const RECORDED = 1;
export const FORGOTTEN = 2;
export const NOTHING = 0;

export const EMAIL_BYTES = 8;
export const GENERATION_BYTES = 8;
export const STORED_BYTES = 32;
