import { describe, expect, it } from 'vitest';
import { SeenEmails } from '../../src/push/seen-emails.js';
import { seededRandom } from '../../src/engine/random.js';

const id = (n: number) => ({ hi: Math.imul(n, 2654435761) >>> 0, lo: Math.imul(n ^ 0x5bd1e995, 40503) >>> 0 });

describe('SeenEmails', () => {
  it('never says "no" for an email it was given, across its growing slices', () => {
    const seen = new SeenEmails();
    for (let n = 0; n < 200_000; n++) seen.check(id(n));
    for (let n = 0; n < 200_000; n++) if (!seen.check(id(n))) expect.fail(`email ${n} was read but is not seen`);
  });

  it('errs the other way about 1% of the time: "seen" for an email never read', () => {
    const seen = new SeenEmails();
    for (let n = 0; n < 100_000; n++) seen.check(id(n));
    let wrong = 0;
    for (let n = 1_000_000; n < 1_100_000; n++) if (seen.check(id(n))) wrong += 1;
    expect(wrong / 100_000).toBeLessThan(0.03);
  });

  it('sized for the emails expected, it keeps both promises, and past that size it grows', () => {
    const seen = new SeenEmails(150_000);
    for (let n = 0; n < 300_000; n++) seen.check(id(n));
    for (let n = 0; n < 300_000; n++) if (!seen.check(id(n))) expect.fail(`email ${n} was read but is not seen`);
    let wrong = 0;
    for (let n = 1_000_000; n < 1_100_000; n++) if (seen.check(id(n))) wrong += 1;
    expect(wrong / 100_000).toBeLessThan(0.03);
  });

  it('touching an email (ahead of checking it) reads its block and adds nothing: it is still unseen, then seen once checked', () => {
    const seen = new SeenEmails(1000);
    // Nothing read yet: an empty filter's block.
    expect(seen.touch(id(1))).toBe(0);
    expect(seen.check(id(1))).toBe(false);
    // Its block now holds its bits, and touching reads them.
    expect(seen.touch(id(1))).not.toBe(0);
    for (let n = 2; n < 500; n++) {
      seen.touch(id(n));
      if (seen.check(id(n))) expect.fail(`email ${n} was only touched, yet seen`);
    }
    expect(seen.check(id(1))).toBe(true);
  });

  it('touching reads only the email\'s own block: an unseen email whose block is empty reads 0 however full the blocks around it are', () => {
    const seen = new SeenEmails(1000);
    const random = seededRandom(3);
    const hashed = () => ({ hi: Math.floor(random() * 2 ** 32), lo: Math.floor(random() * 2 ** 32) });
    // 2,500 emails in 1,280 blocks: most blocks hold some, about one in seven none.
    for (let n = 0; n < 2500; n++) seen.check(hashed());
    let empty = 0;
    for (let n = 0; n < 10_000; n++) if (seen.touch(hashed()) === 0) empty += 1;
    // Reading a word past the block, or the block before, would find bits for most of those.
    expect(empty / 10_000).toBeGreaterThan(0.11);
    expect(empty / 10_000).toBeLessThan(0.17);
  });
});
