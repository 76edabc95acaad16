import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { apiKey, checkKeyAndDataCentre, dataCentre, listIds, mergeFields } from '../../src/mock/mailchimp-options.js';

describe('--merge-field', () => {
  it('reads TAG[:type][:required], upper-casing the tag; the type defaults to text', () => {
    expect(mergeFields('ltv:number')).toEqual([{ tag: 'LTV', type: 'number', required: false }]);
    expect(mergeFields('PLAN')).toEqual([{ tag: 'PLAN', type: 'text', required: false }]);
    expect(mergeFields('FNAME:text:required')).toEqual([{ tag: 'FNAME', type: 'text', required: true }]);
  });

  it('accumulates, a later one for the same tag replacing the earlier', () => {
    const once = mergeFields('A:number');
    expect(mergeFields('B:date', once)).toEqual([{ tag: 'A', type: 'number', required: false }, { tag: 'B', type: 'date', required: false }]);
    expect(mergeFields('a:text:required', once)).toEqual([{ tag: 'A', type: 'text', required: true }]);
  });

  it.each([
    ['', /merge tag/],
    ['1ABC', /merge tag/],
    ['TOO_LONG_TAG', /merge tag/],
    ['__proto__', /merge tag/],
    ['LTV:money', /type among text, number/],
    ['LTV:number:yes', /TAG\[:type\]\[:required\]/],
    ['LTV:number:required:x', /TAG\[:type\]\[:required\]/],
  ])('refuses %j', (value, message) => {
    expect(() => mergeFields(value)).toThrow(message);
  });
});

describe('--list, --dc, --key', () => {
  it('--list accumulates ids and drops a repeat', () => {
    expect(listIds('b', listIds('a'))).toEqual(['a', 'b']);
    expect(listIds('a', ['a'])).toEqual(['a']);
    expect(() => listIds('a b')).toThrow(/audience id/);
  });

  it('--dc takes a data centre name', () => {
    expect(dataCentre('us21')).toBe('us21');
    expect(() => dataCentre('US21')).toThrow(/data centre/);
  });

  it('--key takes a Mailchimp key and refuses anything else with a UsageError that does not hold it', () => {
    const key = `${'a'.repeat(32)}-us6`;
    expect(apiKey(key)).toBe(key);
    let thrown: unknown;
    try {
      apiKey('hunter2-us21');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(UsageError);
    expect((thrown as Error).message).not.toContain('hunter2');
  });

  it('a key for another data centre than --dc is refused; either alone is fine', () => {
    const key = `${'a'.repeat(32)}-us6`;
    expect(() => checkKeyAndDataCentre(key, 'us21')).toThrow(UsageError);
    expect(() => checkKeyAndDataCentre(key, 'us6')).not.toThrow();
    expect(() => checkKeyAndDataCentre(key, undefined)).not.toThrow();
    expect(() => checkKeyAndDataCentre(undefined, 'us21')).not.toThrow();
  });
});
