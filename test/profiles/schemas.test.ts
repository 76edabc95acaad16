import { describe, expect, it } from 'vitest';
import { describeErrors, validateProfile } from '../../src/profiles/schemas.js';

const valid = { email: 'ann@example.com', firstName: 'Ann', lastName: 'Lee' };

function errorsOf(input: unknown): string {
  const result = validateProfile(input);
  if (result.ok) throw new Error('expected invalid');
  return describeErrors(result.errors);
}

describe('validateProfile', () => {
  it('trims and lower-cases the email and proper-cases the names', () => {
    const result = validateProfile({ email: '  Ann.Lee@Example.COM ', firstName: "o'brien", lastName: 'mary-jane', metadata: { tags: ['vip'], preferences: { a: 1 }, plan: 'x' } });
    expect(result).toEqual({
      ok: true,
      profile: { email: 'ann.lee@example.com', firstName: "O'Brien", lastName: 'Mary-Jane', metadata: { tags: ['vip'], preferences: { a: 1 }, plan: 'x' } },
    });
    expect(validateProfile({ ...valid, firstName: 'ÉLODIE' })).toMatchObject({ profile: { firstName: 'Élodie' } });
  });

  it.each([
    [{ ...valid, email: 'nope' }, 'email: must be a valid email address'],
    [{ firstName: 'A', lastName: 'B' }, 'email: is required'],
    [{ ...valid, firstName: '   ' }, 'firstName: must not be empty'],
    [{ ...valid, lastName: 7 }, 'lastName: must be a string'],
    [{ ...valid, plan: 'gold' }, 'plan: is not an accepted field'],
    [{ ...valid, metadata: { tags: 'vip' } }, 'metadata.tags: must be an array of strings'],
    [{ ...valid, metadata: { tags: [1] } }, 'metadata.tags.0: must be a string'],
    [{ ...valid, metadata: { preferences: [] } }, 'metadata.preferences: must be an object'],
    [{ ...valid, metadata: null }, 'metadata: must be an object'],
    [[valid], 'must be a JSON object'],
    ['text', 'must be a JSON object'],
  ])('%j → %s', (input, message) => {
    expect(errorsOf(input)).toBe(message);
  });

  it('reports every field error at once', () => {
    expect(errorsOf({ email: 'x', firstName: '' })).toBe('email: must be a valid email address; firstName: must not be empty; lastName: is required');
  });

  it('rejects __proto__, constructor and prototype keys at any depth', () => {
    expect(errorsOf(JSON.parse('{"email":"a@b.co","firstName":"A","lastName":"B","__proto__":{"admin":true}}'))).toBe('__proto__: is a forbidden key');
    expect(errorsOf(JSON.parse('{"email":"a@b.co","firstName":"A","lastName":"B","metadata":{"preferences":{"x":{"constructor":{}}}}}'))).toBe(
      'metadata.preferences.x.constructor: is a forbidden key',
    );
  });

  it('rejects hostile nesting', () => {
    let deep: unknown = {};
    for (let i = 0; i < 40; i++) deep = { d: deep };
    expect(errorsOf({ ...valid, metadata: { preferences: deep } })).toMatch(/nested more than 32 levels/);
  });
});
