import type { EmailId } from '../state/entry-codec.js';

/** Bits per email and probes per lookup for about 1% false positives. */
const BITS_PER_EMAIL = 10;
const PROBES = 7;
const FIRST_CAPACITY = 1 << 16;

/**
 * The emails a run has read, to tell whether a record is not the first for its email: a Bloom
 * filter that grows by slices (each twice the last), about 1.2 bytes an email whatever the input's
 * size. It can only err one way: "seen" for an email that was not (about 1% of them), which makes
 * the next run hold that email's changed record back to the end of its input: later, never lost.
 */
export class SeenEmails {
  private readonly slices: { bits: Uint32Array; capacity: number; count: number }[] = [];

  /** Whether the email was added before; then adds it. */
  check(id: EmailId): boolean {
    const seen = this.slices.some((slice) => this.has(slice.bits, id));
    if (!seen) this.add(id);
    return seen;
  }

  private add(id: EmailId): void {
    let slice = this.slices.at(-1);
    if (!slice || slice.count >= slice.capacity) {
      const capacity = slice ? slice.capacity * 2 : FIRST_CAPACITY;
      slice = { bits: new Uint32Array(Math.ceil((capacity * BITS_PER_EMAIL) / 32)), capacity, count: 0 };
      this.slices.push(slice);
    }
    const size = slice.bits.length * 32;
    for (let i = 0; i < PROBES; i++) {
      const bit = probe(id, i, size);
      slice.bits[bit >>> 5]! |= 1 << (bit & 31);
    }
    slice.count += 1;
  }

  private has(bits: Uint32Array, id: EmailId): boolean {
    const size = bits.length * 32;
    for (let i = 0; i < PROBES; i++) {
      const bit = probe(id, i, size);
      if ((bits[bit >>> 5]! & (1 << (bit & 31))) === 0) return false;
    }
    return true;
  }
}

/** Double hashing: the i-th probe from the two halves of the email's 64-bit hash. */
function probe(id: EmailId, i: number, size: number): number {
  return ((id.hi + Math.imul(i, id.lo | 1)) >>> 0) % size;
}
