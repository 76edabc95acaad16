import { describe, expect, it } from 'vitest';
import { contentBatchId } from '../../src/downstream/delivery.js';

const ann = { email: 'ann@example.com', firstName: 'Ann', lastName: 'Lee' };
const bob = { email: 'bob@example.com', firstName: 'Bob', lastName: 'Stone' };

describe('contentBatchId (the Idempotency-Key of a batch)', () => {
  it('is the same for the same profiles in the same order, so a batch re-sent after a kill carries the same key', () => {
    expect(contentBatchId([ann, bob])).toBe(contentBatchId([{ ...ann }, { ...bob, metadata: {} }]));
    expect(contentBatchId([ann, bob])).toMatch(/^b-[0-9a-f]{20}$/);
  });

  it('differs whenever the bytes sent would differ: a key never stands for two bodies', () => {
    const base = contentBatchId([ann, bob]);
    expect(contentBatchId([bob, ann])).not.toBe(base);
    expect(contentBatchId([ann])).not.toBe(base);
    expect(contentBatchId([ann, { ...bob, lastName: 'Stones' }])).not.toBe(base);
    expect(contentBatchId([ann, { ...bob, metadata: { tags: ['x'] } }])).not.toBe(base);
  });
});
