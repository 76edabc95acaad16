import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/engine/random.js';
import { EntryIndex, EntryLoader, LoadedEntries } from '../../src/state/entry-index.js';

const value = (n: number, bytes = 4): Buffer => {
  const buffer = Buffer.alloc(bytes);
  buffer.writeUInt32BE(n >>> 0);
  return buffer;
};

/** Random operations against both the index and a Map; they must always agree. */
function agreesWithAMap(make: (records: Map<string, number>) => EntryIndex | LoadedEntries, seed: number, keySpace: number): void {
  const random = seededRandom(seed);
  const key = () => [Math.floor(random() * 4), Math.floor(random() * keySpace)] as const;
  const initial = new Map<string, number>();
  for (let i = 0; i < keySpace / 4; i++) initial.set(key().join(':'), i);
  const model = new Map(initial);
  const index = make(initial);
  for (let step = 0; step < 20_000; step++) {
    const [hi, lo] = key();
    const name = `${hi}:${lo}`;
    const draw = random();
    if (draw < 0.4) {
      index.set(hi, lo, value(step));
      model.set(name, step);
    } else if (draw < 0.7) {
      expect(index.delete(hi, lo)).toBe(model.delete(name));
    } else {
      const found = index.get(hi, lo);
      expect(found === undefined ? undefined : found.readUInt32BE(0)).toBe(model.get(name));
      // The same answer copied into a buffer of the caller's (the lookup path's): only the value's bytes.
      const target = Buffer.alloc(6, 0xee);
      expect(index.read(hi, lo, target)).toBe(model.has(name));
      expect(target.toString('hex')).toBe(model.has(name) ? `${value(model.get(name)!).toString('hex')}eeee` : 'eeeeeeeeeeee');
    }
    expect(index.size).toBe(model.size);
  }
  for (const [name, stored] of model) {
    const [hi, lo] = name.split(':').map(Number) as [number, number];
    expect(index.get(hi, lo)?.readUInt32BE(0)).toBe(stored);
  }
}

/** Records sorted by key, in chunks as the keeper sends them: each n keys (8 bytes), then n values of 4. */
function loaded(records: Map<string, number>, chunks = 2, expected = 0): LoadedEntries {
  const sorted = [...records].map(([name, stored]) => [...name.split(':').map(Number), stored] as [number, number, number]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const loader = new EntryLoader(4, expected);
  const per = Math.ceil(sorted.length / chunks);
  for (let from = 0; from < sorted.length; from += per) {
    const part = sorted.slice(from, from + per);
    // Sent inside a larger message: the chunk need not start its buffer.
    const bytes = Buffer.alloc(3 + part.length * 12).subarray(3);
    part.forEach(([hi, lo, stored], i) => {
      bytes.writeUInt32BE(hi, i * 8);
      bytes.writeUInt32BE(lo, i * 8 + 4);
      bytes.writeUInt32BE(stored, part.length * 8 + i * 4);
    });
    loader.add(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length));
  }
  return loader.finish();
}

describe('EntryIndex', () => {
  it.each([1, 2, 3])('agrees with a Map through random sets, deletes and gets, growth and probe runs included (seed %i)', (seed) => {
    agreesWithAMap((records) => {
      const index = new EntryIndex(4);
      for (const [name, stored] of records) {
        const [hi, lo] = name.split(':').map(Number) as [number, number];
        index.set(hi, lo, value(stored));
      }
      return index;
    }, seed, 3000);
  });

  it('keys that share their low bits collide into one probe run; deleting from its middle keeps the rest findable', () => {
    const index = new EntryIndex(4);
    for (let hi = 0; hi < 10; hi++) index.set(hi, 7, value(hi));
    expect(index.delete(4, 7)).toBe(true);
    expect(index.delete(4, 7)).toBe(false);
    for (let hi = 0; hi < 10; hi++) expect(index.get(hi, 7)?.readUInt32BE(0)).toBe(hi === 4 ? undefined : hi);
    expect([...index.keys()].length).toBe(9);
    index.clear();
    expect([index.size, index.get(1, 7)]).toEqual([0, undefined]);
  });
});

describe('LoadedEntries', () => {
  it.each([1, 2, 3])('agrees with a Map: loaded entries found by binary search, changed in place, new ones beside them (seed %i)', (seed) => {
    agreesWithAMap(loaded, seed, 3000);
  });

  it('finds every loaded key and no other, whichever bucket of the high half it falls in, at the buckets\' edges too', () => {
    const random = seededRandom(7);
    const records = new Map<string, number>();
    const edges = [0, 0xffff, 0x10000, 0x1ffff, 0x7fffffff, 0x80000000, 0xfffeffff, 0xffff0000, 0xffffffff];
    edges.forEach((hi, i) => records.set(`${hi}:${i}`, i));
    for (let i = 0; records.size < 5000; i++) records.set(`${Math.floor(random() * 2 ** 32)}:${Math.floor(random() * 2 ** 32)}`, 1000 + i);
    const entries = loaded(records);
    for (const [name, stored] of records) {
      const [hi, lo] = name.split(':').map(Number) as [number, number];
      expect(entries.get(hi, lo)?.readUInt32BE(0)).toBe(stored);
      // The same high half with another low half, and a neighbour of the high half: not loaded.
      if (!records.has(`${hi}:${(lo + 1) >>> 0}`)) expect(entries.get(hi, (lo + 1) >>> 0)).toBeUndefined();
      if (!records.has(`${(hi + 1) >>> 0}:${lo}`)) expect(entries.get((hi + 1) >>> 0, lo)).toBeUndefined();
    }
    expect(entries.size).toBe(records.size);
  });

  it('loads the same entries however they are cut into chunks (one, many, one entry each), whatever room it was told to expect (none, too little, enough, much more)', () => {
    const random = seededRandom(9);
    const records = new Map<string, number>();
    for (let i = 0; records.size < 3000; i++) records.set(`${Math.floor(random() * 2 ** 32)}:${Math.floor(random() * 2 ** 32)}`, i);
    for (const [chunks, expected] of [[1, 0], [7, 0], [3000, 0], [7, 10], [7, 2999], [7, 3000], [7, 100_000]] as const) {
      const entries = loaded(records, chunks, expected);
      expect(entries.size).toBe(3000);
      for (const [name, stored] of records) {
        const [hi, lo] = name.split(':').map(Number) as [number, number];
        expect(entries.get(hi, lo)?.readUInt32BE(0)).toBe(stored);
      }
    }
  });

  it('the first and the last loaded keys are changed in place, deleted and set again like any other', () => {
    const entries = loaded(new Map([['1:1', 1], ['5:5', 2], ['9:9', 3]]));
    for (const [hi, lo] of [[1, 1], [9, 9]] as const) {
      entries.set(hi, lo, value(40 + hi));
      expect([entries.size, entries.get(hi, lo)?.readUInt32BE(0)]).toEqual([3, 40 + hi]);
      expect(entries.delete(hi, lo)).toBe(true);
      expect([entries.size, entries.get(hi, lo), entries.read(hi, lo, Buffer.alloc(4))]).toEqual([2, undefined, false]);
      entries.set(hi, lo, value(50 + hi));
      expect([entries.size, entries.get(hi, lo)?.readUInt32BE(0)]).toEqual([3, 50 + hi]);
    }
  });

  it('touch reads the key where a lookup of that hash looks first (its place in proportion within its bucket): its high word, 0 past the last key', () => {
    // Bucket 0 (the top 16 bits 0) holds four keys; bucket 0xffff one; those between none.
    const entries = loaded(new Map([['0:1', 1], ['16384:2', 2], ['32768:3', 3], ['49152:4', 4], ['4294901760:5', 5]]));
    expect([0, 16383, 16384, 32768, 49151, 49152, 65535].map((hi) => entries.touch(hi))).toEqual([0, 0, 16384, 32768, 32768, 49152, 49152]);
    // A bucket of one key: that key; an empty bucket: where the next one starts.
    expect([entries.touch(0xffff0000), entries.touch(0xffffffff), entries.touch(0x00010000), entries.touch(0xfffe1234)]).toEqual([0xffff0000, 0xffff0000, 0xffff0000, 0xffff0000]);
    // Past the last key there is nothing to read.
    expect(loaded(new Map([['0:1', 1]])).touch(0xffff0000)).toBe(0);
    expect(new EntryLoader(4).finish().touch(12345)).toBe(0);
  });

  it('an empty load finds nothing and takes new keys beside it', () => {
    const entries = new EntryLoader(4).finish();
    expect(entries.get(0, 0)).toBeUndefined();
    expect(entries.get(0xffffffff, 0xffffffff)).toBeUndefined();
    entries.set(0xffffffff, 1, value(9));
    expect([entries.size, entries.get(0xffffffff, 1)?.readUInt32BE(0)]).toEqual([1, 9]);
  });

  it('finds keys whose halves compare as unsigned 32-bit numbers, at both ends of the range', () => {
    const entries = loaded(new Map([['0:0', 1], ['0:4294967295', 2], ['4294967295:0', 3], ['4294967295:4294967295', 4]]));
    expect([entries.get(0, 0), entries.get(0, 0xffffffff), entries.get(0xffffffff, 0), entries.get(0xffffffff, 0xffffffff)].map((found) => found?.readUInt32BE(0))).toEqual([1, 2, 3, 4]);
    entries.clear();
    expect(entries.size).toBe(0);
    expect(entries.get(0, 0)).toBeUndefined();
  });
});

describe('LoadedEntries: a tag beside each key', () => {
  /** Entries of 12 bytes: 4 of their own, then an 8-byte tag (as push's text digest sits in a stored value). */
  const tagged = (n: number, tagHi: number, tagLo: number): Buffer => {
    const bytes = Buffer.alloc(12);
    bytes.writeUInt32BE(n);
    bytes.writeUInt32BE(tagHi, 4);
    bytes.writeUInt32BE(tagLo, 8);
    return bytes;
  };
  /** Loads [hi, lo, value] (sorted) in one chunk, as the keeper sends them. */
  const load = (entries: [number, number, Buffer][], options: ConstructorParameters<typeof EntryLoader>[2]): LoadedEntries => {
    const loader = new EntryLoader(12, 0, options);
    const bytes = Buffer.alloc(entries.length * 20);
    entries.forEach(([hi, lo, stored], i) => {
      bytes.writeUInt32BE(hi, i * 8);
      bytes.writeUInt32BE(lo, i * 8 + 4);
      stored.copy(bytes, entries.length * 8 + i * 12);
    });
    loader.add(bytes);
    return loader.finish();
  };

  it('answers from the tag copied beside the key, which follows every change: set, delete, clear, and keys new to the load', () => {
    const entries = load([[1, 1, tagged(1, 0xaaaa0001, 0xbbbb0001)], [0x80000000, 7, tagged(2, 0xffffffff, 0)]], { tagAt: 4 });
    expect(entries.hasTag(1, 1, 0xaaaa0001, 0xbbbb0001)).toBe(true);
    expect(entries.hasTag(0x80000000, 7, 0xffffffff, 0)).toBe(true);
    // Either half wrong, or the tag of another key: no.
    expect([entries.hasTag(1, 1, 0xaaaa0001, 0xbbbb0002), entries.hasTag(1, 1, 0xaaaa0002, 0xbbbb0001), entries.hasTag(1, 1, 0xffffffff, 0)]).toEqual([false, false, false]);
    expect(entries.hasTag(1, 2, 0xaaaa0001, 0xbbbb0001)).toBe(false);
    entries.set(1, 1, tagged(3, 5, 6));
    expect([entries.hasTag(1, 1, 5, 6), entries.hasTag(1, 1, 0xaaaa0001, 0xbbbb0001), entries.get(1, 1)?.readUInt32BE(0)]).toEqual([true, false, 3]);
    expect(entries.delete(1, 1)).toBe(true);
    expect(entries.hasTag(1, 1, 5, 6)).toBe(false);
    // The other key is untouched by the first one's removal.
    expect(entries.hasTag(0x80000000, 7, 0xffffffff, 0)).toBe(true);
    entries.set(1, 1, tagged(4, 7, 8));
    expect([entries.hasTag(1, 1, 7, 8), entries.size]).toEqual([true, 2]);
    // A key the load did not have: kept beside it, its tag read from its value.
    entries.set(9, 9, tagged(5, 0x12345678, 0x9abcdef0));
    expect([entries.hasTag(9, 9, 0x12345678, 0x9abcdef0), entries.hasTag(9, 9, 0x12345678, 0), entries.hasTag(9, 9, 0, 0x9abcdef0), entries.hasTag(9, 8, 0x12345678, 0x9abcdef0)]).toEqual([true, false, false, false]);
    entries.clear();
    expect([entries.hasTag(1, 1, 7, 8), entries.hasTag(0x80000000, 7, 0xffffffff, 0), entries.hasTag(9, 9, 0x12345678, 0x9abcdef0), entries.size]).toEqual([false, false, false, 0]);
  });

  it('an entry refused as it loads (accept: its checksum) is not held: not found, no tag, not counted; the others are', () => {
    const seen: [number, number, number][] = [];
    const entries = load(
      [[1, 1, tagged(1, 0, 1)], [2, 2, tagged(66, 0, 2)], [3, 3, tagged(3, 0, 3)]],
      {
        tagAt: 4,
        accept: (hi, lo, chunk, at) => {
          seen.push([hi, lo, Buffer.from(chunk).readUInt32BE(at)]);
          return Buffer.from(chunk).readUInt32BE(at) !== 66;
        },
      },
    );
    // Asked once per entry, with its key and where its value is.
    expect(seen).toEqual([[1, 1, 1], [2, 2, 66], [3, 3, 3]]);
    expect([entries.size, entries.get(2, 2), entries.read(2, 2, Buffer.alloc(12)), entries.hasTag(2, 2, 0, 2)]).toEqual([2, undefined, false, false]);
    expect([entries.get(1, 1)?.readUInt32BE(0), entries.hasTag(3, 3, 0, 3)]).toEqual([1, true]);
    // Set again (accepted in this run), it is held like any other.
    entries.set(2, 2, tagged(7, 0, 9));
    expect([entries.size, entries.hasTag(2, 2, 0, 9), entries.get(2, 2)?.readUInt32BE(0)]).toEqual([3, true, 7]);
  });

  it('agrees with a Map when keys are uniform hashes (buckets of a few keys, each found a step or two from where it should be)', () => {
    const random = seededRandom(11);
    // A pool of keys spread over the whole range, as hashes are; a third loaded, the rest not.
    const pool = Array.from({ length: 6000 }, () => [Math.floor(random() * 2 ** 32), Math.floor(random() * 2 ** 32)] as const);
    const model = new Map<string, number>(pool.slice(0, 2000).map(([hi, lo], i) => [`${hi}:${lo}`, i]));
    const entries = loaded(model, 3);
    for (let step = 0; step < 20_000; step++) {
      const [hi, lo] = pool[Math.floor(random() * pool.length)]!;
      const name = `${hi}:${lo}`;
      const draw = random();
      if (draw < 0.2) {
        entries.set(hi, lo, value(step));
        model.set(name, step);
      } else if (draw < 0.4) expect(entries.delete(hi, lo)).toBe(model.delete(name));
      else {
        expect(entries.get(hi, lo)?.readUInt32BE(0)).toBe(model.get(name));
        // Its neighbours in both halves are not held unless they are in the pool too.
        if (!model.has(`${hi}:${lo + 1}`)) expect(entries.get(hi, lo + 1)).toBeUndefined();
        if (!model.has(`${hi - 1}:${lo}`)) expect(entries.get(hi - 1, lo)).toBeUndefined();
      }
    }
    expect(entries.size).toBe(model.size);
  });
});
