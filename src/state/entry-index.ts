/**
 * The remembered entries of one platform, in this process: email hash (64 bits, as two 32-bit
 * halves) → a fixed-size value. An open-addressing table over typed arrays: about 45 bytes an
 * email (a million emails in ~45 MB, no object per entry for the GC to walk), a lookup in well
 * under a microsecond. Linear probing with backward-shift deletion (no tombstones).
 */
export class EntryIndex {
  private hi: Uint32Array;
  private lo: Uint32Array;
  /** Slot → 1 + position in `values` (0: empty slot). */
  private at: Uint32Array;
  private values: Buffer;
  /** Positions in `values` freed by deletions, reused first. */
  private readonly free: number[] = [];
  private used = 0;
  private entries = 0;

  constructor(
    readonly valueBytes: number,
    expected = 0,
  ) {
    const capacity = capacityFor(expected);
    this.hi = new Uint32Array(capacity);
    this.lo = new Uint32Array(capacity);
    this.at = new Uint32Array(capacity);
    this.values = Buffer.alloc(Math.max(16, expected) * valueBytes);
  }

  get size(): number {
    return this.entries;
  }

  /** The value stored for this key (a view, valid until the next change), or undefined. */
  get(hi: number, lo: number): Buffer | undefined {
    const slot = this.find(hi, lo);
    if (slot < 0) return undefined;
    const offset = (this.at[slot]! - 1) * this.valueBytes;
    return this.values.subarray(offset, offset + this.valueBytes);
  }

  /** Copies the value stored for this key into `target` (no view made); false when there is none. */
  read(hi: number, lo: number, target: Uint8Array): boolean {
    const slot = this.find(hi, lo);
    if (slot < 0) return false;
    copyValue(this.values, (this.at[slot]! - 1) * this.valueBytes, target, this.valueBytes);
    return true;
  }

  set(hi: number, lo: number, value: Uint8Array): void {
    let slot = this.find(hi, lo);
    if (slot < 0) {
      if ((this.entries + 1) * 10 > this.hi.length * 7) this.grow();
      slot = this.emptySlotFor(hi, lo);
      this.hi[slot] = hi;
      this.lo[slot] = lo;
      this.at[slot] = this.allocate() + 1;
      this.entries += 1;
    }
    this.values.set(value.subarray(0, this.valueBytes), (this.at[slot]! - 1) * this.valueBytes);
  }

  delete(hi: number, lo: number): boolean {
    let slot = this.find(hi, lo);
    if (slot < 0) return false;
    this.free.push(this.at[slot]! - 1);
    this.entries -= 1;
    // Backward shift: move later members of the probe run into the hole, so lookups never stop early.
    const mask = this.hi.length - 1;
    for (let next = (slot + 1) & mask; this.at[next] !== 0; next = (next + 1) & mask) {
      const home = this.lo[next]! & mask;
      // Can the entry at `next` move to `slot`? Only if its home is not cyclically within (slot, next].
      const between = slot <= next ? home > slot && home <= next : home > slot || home <= next;
      if (between) continue;
      this.hi[slot] = this.hi[next]!;
      this.lo[slot] = this.lo[next]!;
      this.at[slot] = this.at[next]!;
      slot = next;
    }
    this.at[slot] = 0;
    return true;
  }

  /** Every key, in no particular order. */
  *keys(): Generator<[number, number]> {
    for (let slot = 0; slot < this.at.length; slot++) if (this.at[slot] !== 0) yield [this.hi[slot]!, this.lo[slot]!];
  }

  clear(): void {
    this.at.fill(0);
    this.free.length = 0;
    this.used = 0;
    this.entries = 0;
  }

  private find(hi: number, lo: number): number {
    const mask = this.hi.length - 1;
    for (let slot = lo & mask; this.at[slot] !== 0; slot = (slot + 1) & mask) {
      if (this.lo[slot] === lo && this.hi[slot] === hi) return slot;
    }
    return -1;
  }

  private emptySlotFor(_hi: number, lo: number): number {
    const mask = this.hi.length - 1;
    let slot = lo & mask;
    while (this.at[slot] !== 0) slot = (slot + 1) & mask;
    return slot;
  }

  private allocate(): number {
    const reused = this.free.pop();
    if (reused !== undefined) return reused;
    if ((this.used + 1) * this.valueBytes > this.values.length) {
      const bigger = Buffer.alloc(Math.ceil(this.values.length * 1.5) + this.valueBytes);
      this.values.copy(bigger);
      this.values = bigger;
    }
    return this.used++;
  }

  private grow(): void {
    const { hi, lo, at } = this;
    const capacity = hi.length * 2;
    this.hi = new Uint32Array(capacity);
    this.lo = new Uint32Array(capacity);
    this.at = new Uint32Array(capacity);
    for (let slot = 0; slot < at.length; slot++) {
      if (at[slot] === 0) continue;
      const target = this.emptySlotFor(hi[slot]!, lo[slot]!);
      this.hi[target] = hi[slot]!;
      this.lo[target] = lo[slot]!;
      this.at[target] = at[slot]!;
    }
  }
}

/** Byte by byte: for a few dozen bytes, cheaper than the call into Buffer#copy or a view for `set`. */
function copyValue(from: Uint8Array, offset: number, to: Uint8Array, length: number): void {
  for (let i = 0; i < length; i++) to[i] = from[offset + i]!;
}

/** A power of two with room for `expected` entries below 70% load. */
function capacityFor(expected: number): number {
  let capacity = 64;
  while (capacity * 7 < expected * 10) capacity *= 2;
  return capacity;
}

/** What a load keeps beside each key, besides its value (see EntryLoader). */
export interface LoadOptions {
  /**
   * Where in a value 8 bytes sit that are compared far more often than the value is read (push's
   * text digest: every record read asks for it): copied beside the key, in the same cache line, so
   * that comparison never touches the value.
   */
  tagAt?: number;
  /**
   * Whether a loaded entry is one to keep (its checksum holds): asked once per entry as it
   * arrives, while the keeper is still walking, instead of at every lookup. One refused is not loaded.
   */
  accept?: (hi: number, lo: number, chunk: Uint8Array, valueAt: number) => boolean;
}

/** Words per key in a load: the key's two halves, then its tag's two (see LoadOptions.tagAt). */
const KEY_WORDS = 4;

/**
 * A platform's entries as the keeper streams them (sorted by key), gathered chunk by chunk while
 * it is still walking, so the copy here overlaps its walk instead of following it. Each chunk is
 * n keys (8 bytes: the two 32-bit halves, big-endian) then their n values: the values are copied
 * in one `set` per chunk (a copy per entry was 0.5 s of a million-entry load, all of it after the
 * walk).
 */
export class EntryLoader {
  private keys: Uint32Array;
  private values: Buffer;
  private count = 0;
  /** Positions of the entries `accept` refused. */
  private readonly refused: number[] = [];

  /**
   * `expected`: room for this many from the start. An estimate from above costs address space,
   * not memory (the pages never written are never mapped); one from below costs copies as it grows
   * (and growing a million-entry load by doubling was 0.3 s).
   */
  constructor(
    readonly valueBytes: number,
    expected = 0,
    private readonly options: LoadOptions = {},
  ) {
    const capacity = Math.max(1024, expected);
    this.keys = new Uint32Array(capacity * KEY_WORDS);
    this.values = Buffer.allocUnsafe(capacity * valueBytes);
  }

  add(chunk: Uint8Array): void {
    const { valueBytes, options } = this;
    const n = Math.floor(chunk.length / (8 + valueBytes));
    this.reserve(this.count + n);
    const keys = this.keys;
    const at = this.count * KEY_WORDS;
    for (let i = 0; i < n; i++) {
      const hi = wordAt(chunk, i * 8);
      const lo = wordAt(chunk, i * 8 + 4);
      const valueAt = n * 8 + i * valueBytes;
      keys[at + i * KEY_WORDS] = hi;
      keys[at + i * KEY_WORDS + 1] = lo;
      if (options.tagAt !== undefined) {
        keys[at + i * KEY_WORDS + 2] = wordAt(chunk, valueAt + options.tagAt);
        keys[at + i * KEY_WORDS + 3] = wordAt(chunk, valueAt + options.tagAt + 4);
      }
      if (options.accept && !options.accept(hi, lo, chunk, valueAt)) this.refused.push(this.count + i);
    }
    this.values.set(chunk.subarray(n * 8, n * (8 + valueBytes)), this.count * valueBytes);
    this.count += n;
  }

  /** The index of what was added (views: the room left over was never written, so never mapped). */
  finish(): LoadedEntries {
    const { count, valueBytes } = this;
    return new LoadedEntries(valueBytes, this.keys.subarray(0, count * KEY_WORDS), this.values.subarray(0, count * valueBytes), this.options.tagAt, this.refused);
  }

  private reserve(needed: number): void {
    if (needed * KEY_WORDS <= this.keys.length) return;
    const capacity = Math.max(needed, this.keys.length / 2);
    const [keys, values] = [new Uint32Array(capacity * KEY_WORDS), Buffer.allocUnsafe(capacity * this.valueBytes)];
    keys.set(this.keys.subarray(0, this.count * KEY_WORDS));
    values.set(this.values.subarray(0, this.count * this.valueBytes));
    [this.keys, this.values] = [keys, values];
  }
}

/** The big-endian 32-bit word at `at`. */
const wordAt = (bytes: Uint8Array, at: number): number => ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;

/**
 * A platform's entries as loaded: sorted by key, as LMDB hands them over, in two flat arrays
 * (no per-entry object, no hashing to build), found by bucket then a step or two (EntryLoader
 * builds one). Changes during the run are written in place; emails new to the platform go to an
 * EntryIndex beside it.
 */
export class LoadedEntries {
  private readonly removed: Uint8Array;
  /** How many loaded entries were ever removed: while none, `removed` is not read (a cache miss per lookup). */
  private removals = 0;
  private readonly added: EntryIndex;
  private live: number;
  /** Bucket (the top BUCKET_BITS of `hi`) → its first position; the keys are uniform hashes, so a bucket holds a handful. */
  private readonly starts: Uint32Array;

  /**
   * `keys`: each key's two halves, then its tag's two (KEY_WORDS a key: one cache line holds them
   * all, where separate arrays cost a miss each), ascending by key; `values`: theirs, `valueBytes`
   * each, in the same order. `refused`: positions loaded but not kept.
   */
  constructor(
    readonly valueBytes: number,
    private readonly keys: Uint32Array = new Uint32Array(0),
    private readonly values: Buffer = Buffer.alloc(0),
    private readonly tagAt?: number,
    refused: readonly number[] = [],
  ) {
    const count = keys.length / KEY_WORDS;
    this.removed = new Uint8Array(count);
    this.added = new EntryIndex(valueBytes);
    this.live = count;
    this.starts = bucketStarts(keys);
    for (const i of refused) this.remove(i);
  }

  get size(): number {
    return this.live + this.added.size;
  }

  get(hi: number, lo: number): Buffer | undefined {
    const i = this.search(hi, lo);
    if (i < 0) return this.added.get(hi, lo);
    return this.isRemoved(i) ? undefined : this.values.subarray(i * this.valueBytes, (i + 1) * this.valueBytes);
  }

  /** As `get`, copied into `target` instead of a view (a view per record read is garbage per record). */
  read(hi: number, lo: number, target: Uint8Array): boolean {
    const i = this.search(hi, lo);
    if (i < 0) return this.added.read(hi, lo, target);
    if (this.isRemoved(i)) return false;
    copyValue(this.values, i * this.valueBytes, target, this.valueBytes);
    return true;
  }

  /**
   * Whether the value held for this key has this tag (see LoadOptions.tagAt), without reading the
   * value: the key's own cache line answers. False when nothing is held for it.
   */
  hasTag(hi: number, lo: number, tagHi: number, tagLo: number): boolean {
    const i = this.search(hi, lo);
    if (i < 0) {
      const value = this.added.get(hi, lo);
      return value !== undefined && value.readUInt32BE(this.tagAt!) === tagHi && value.readUInt32BE(this.tagAt! + 4) === tagLo;
    }
    return this.keys[i * KEY_WORDS + 2] === tagHi && this.keys[i * KEY_WORDS + 3] === tagLo && !this.isRemoved(i);
  }

  /**
   * Reads the key where a lookup of `hi` looks first, and returns its first word (0 past the end),
   * for the caller to keep so the read is not optimized away. Run over a chunk's records in a row
   * before their lookups, with no branch on what is read, it lets the processor overlap their cache
   * misses; the lookups then find those lines in the cache (a million lookups 15-35% faster that way,
   * in pairs of runs side by side).
   */
  touch(hi: number): number {
    const bucket = hi >>> (32 - BUCKET_BITS);
    return this.keys[guess(hi, this.starts[bucket]!, this.starts[bucket + 1]!) * KEY_WORDS] ?? 0;
  }

  set(hi: number, lo: number, value: Uint8Array): void {
    const i = this.search(hi, lo);
    if (i < 0) return this.added.set(hi, lo, value);
    this.values.set(value.subarray(0, this.valueBytes), i * this.valueBytes);
    if (this.tagAt !== undefined) {
      this.keys[i * KEY_WORDS + 2] = wordAt(value, this.tagAt);
      this.keys[i * KEY_WORDS + 3] = wordAt(value, this.tagAt + 4);
    }
    if (this.removed[i]) {
      this.removed[i] = 0;
      this.live += 1;
    }
  }

  delete(hi: number, lo: number): boolean {
    const i = this.search(hi, lo);
    if (i < 0) return this.added.delete(hi, lo);
    return this.remove(i);
  }

  clear(): void {
    this.removed.fill(1);
    this.removals += 1;
    this.live = 0;
    this.added.clear();
  }

  private remove(i: number): boolean {
    if (this.removed[i]) return false;
    this.removed[i] = 1;
    this.removals += 1;
    this.live -= 1;
    return true;
  }

  private isRemoved(i: number): boolean {
    return this.removals > 0 && this.removed[i] === 1;
  }

  private search(hi: number, lo: number): number {
    // Only the bucket's few keys are looked at: a binary search over all of them was a sixth of an
    // incremental push's time, each of its 20 steps a cache miss. The keys are uniform hashes, so
    // where `hi` falls between the bucket's ends is where its key most likely is: a step or two
    // from there, on one or two cache lines (a binary search of the bucket touched three or four).
    const { keys } = this;
    const bucket = hi >>> (32 - BUCKET_BITS);
    const first = this.starts[bucket]!;
    const end = this.starts[bucket + 1]!;
    let i: number;
    if (end - first <= SCANNED_BUCKET) {
      i = guess(hi, first, end);
      // Left while the key before is not below the one asked for, then right past every key below it.
      while (i > first && !before(keys, i - 1, hi, lo)) i -= 1;
      while (i < end && before(keys, i, hi, lo)) i += 1;
    } else i = lowerBound(keys, first, end, hi, lo);
    return i < end && keys[i * KEY_WORDS] === hi && keys[i * KEY_WORDS + 1] === lo ? i : -1;
  }
}

/** Where in its bucket [first, end) a uniform hash `hi` most likely sits. */
function guess(hi: number, first: number, end: number): number {
  return first + Math.floor(((hi & BUCKET_REST) * (end - first)) / (BUCKET_REST + 1));
}

/**
 * Buckets larger than this (keys that are not uniform: never seen with hashed emails, but a bound
 * on the steps all the same) are searched by halves.
 */
const SCANNED_BUCKET = 64;

/** The first position in [from, to) whose key does not sort before (hi, lo). */
function lowerBound(keys: Uint32Array, from: number, to: number, hi: number, lo: number): number {
  let [low, high] = [from, to];
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (before(keys, middle, hi, lo)) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** Whether the key at position `i` sorts before (hi, lo). */
const before = (keys: Uint32Array, i: number, hi: number, lo: number): boolean => {
  const h = keys[i * KEY_WORDS]!;
  return h < hi || (h === hi && keys[i * KEY_WORDS + 1]! < lo);
};

/** 65,536 buckets: 256 KB, about 15 keys each for a million. */
const BUCKET_BITS = 16;
/** The bits of `hi` below its bucket's. */
const BUCKET_REST = 2 ** (32 - BUCKET_BITS) - 1;

/** Where each bucket starts among the (sorted) keys, and where the last ends: BUCKETS + 1 positions. */
function bucketStarts(keys: Uint32Array): Uint32Array {
  const buckets = 1 << BUCKET_BITS;
  const count = keys.length / KEY_WORDS;
  const starts = new Uint32Array(buckets + 1);
  let position = 0;
  for (let bucket = 0; bucket < buckets; bucket++) {
    starts[bucket] = position;
    while (position < count && keys[position * KEY_WORDS]! >>> (32 - BUCKET_BITS) === bucket) position++;
  }
  starts[buckets] = count;
  return starts;
}
