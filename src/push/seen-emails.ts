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

  /**
   * `expected`: how many emails the run will likely read (the state's count): the first slice
   * holds that many, so a rerun of a known file probes one slice, not five (7 probes in each of 5
   * slices was 5% of an incremental push's CPU).
   */
  constructor(private readonly expected = 0) {}

  /** Whether the email was added before; then adds it. */
  check(id: EmailId): boolean {
    for (const slice of this.slices) if (this.has(slice.bits, id)) return true;
    this.add(id);
    return false;
  }

  /**
   * Reads the email's block in the newest slice and changes nothing: run ahead of `check` for a
   * chunk's records, in a row, it brings their blocks into the cache while the misses overlap (one
   * by one, `check` was 6.7% of an incremental push at load 7, most of it waiting on memory).
   * Returns the block's words or-ed (0: no email in it yet), for the caller to keep so the read is
   * not optimized away.
   */
  touch(id: EmailId): number {
    const slice = this.slices.at(-1);
    if (!slice) return 0;
    const base = blockOf(slice.bits, id);
    let any = 0;
    for (let i = 0; i < BLOCK_WORDS; i++) any |= slice.bits[base + i]!;
    return any;
  }

  private add(id: EmailId): void {
    let slice = this.slices.at(-1);
    if (!slice || slice.count >= slice.capacity) {
      const capacity = slice ? slice.capacity * 2 : Math.max(FIRST_CAPACITY, this.expected);
      slice = { bits: new Uint32Array(Math.ceil((capacity * BITS_PER_EMAIL) / (BLOCK_WORDS * 32)) * BLOCK_WORDS), capacity, count: 0 };
      this.slices.push(slice);
    }
    const base = blockOf(slice.bits, id);
    const mixed = mix(id);
    const step = (mixed >>> 9) | 1;
    for (let i = 0, bit = mixed; i < PROBES; i++, bit += step) slice.bits[base + ((bit & BLOCK_MASK) >>> 5)]! |= 1 << (bit & 31);
    slice.count += 1;
  }

  private has(bits: Uint32Array, id: EmailId): boolean {
    const base = blockOf(bits, id);
    const mixed = mix(id);
    const step = (mixed >>> 9) | 1;
    for (let i = 0, bit = mixed; i < PROBES; i++, bit += step) {
      if ((bits[base + ((bit & BLOCK_MASK) >>> 5)]! & (1 << (bit & 31))) === 0) return false;
    }
    return true;
  }
}

/**
 * Blocked: all of an email's probes fall in one 512-bit block (a cache line), chosen by the high
 * half of its hash; 7 probes spread over a megabyte were 7 cache misses per record read (5% of an
 * incremental push). The price is a slightly higher error rate for the same bits (about 1.2%).
 */
const BLOCK_WORDS = 16;
const BLOCK_MASK = BLOCK_WORDS * 32 - 1;

const blockOf = (bits: Uint32Array, id: EmailId): number => ((id.hi >>> 0) % (bits.length / BLOCK_WORDS)) * BLOCK_WORDS;

/**
 * Both halves mixed (murmur3's finalizer), for the probes inside the block: the first from its
 * low 9 bits, then odd steps from the next 23 (double hashing), so the 7 probes are distinct bits.
 */
function mix({ hi, lo }: EmailId): number {
  let h = (lo ^ Math.imul(hi, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
