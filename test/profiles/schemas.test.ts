import { describe, expect, it } from 'vitest';
import { BatchResponseSchema, DeadLetterSchema, describeErrors, PROFILE_FIELDS, toWire, validateProfile } from '../../src/profiles/schemas.js';

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

describe('validateProfile: limits', () => {
  // A valid address of exactly `length` characters (the regex sets no limit of its own).
  const emailOf = (length: number) => `${'a'.repeat(length - '@example.com'.length)}@example.com`;

  it('accepts a 254-character email, trimmed and lower-cased first, and refuses 255', () => {
    expect(validateProfile({ ...valid, email: ` ${emailOf(254).toUpperCase()}  ` })).toMatchObject({ ok: true, profile: { email: emailOf(254) } });
    expect(errorsOf({ ...valid, email: emailOf(255) })).toBe('email: must be at most 254 characters');
  });

  it('accepts 200-character names and refuses 201, counted on the name as it is sent', () => {
    expect(validateProfile({ ...valid, firstName: 'a'.repeat(200), lastName: 'b'.repeat(200) })).toMatchObject({ ok: true, profile: { firstName: `A${'a'.repeat(199)}` } });
    expect(errorsOf({ ...valid, firstName: 'a'.repeat(201) })).toBe('firstName: must be at most 200 characters');
    // Blanks trimmed off are not sent.
    expect(validateProfile({ ...valid, lastName: ` ${'b'.repeat(200)}  ` })).toMatchObject({ ok: true, profile: { lastName: `B${'b'.repeat(199)}` } });
  });

  it('counts what case mapping makes of a name: ligatures and dotted capitals grow', () => {
    // 199 characters as given; `ﬀ` capitalised is `FF`, so 100 words of it go out as 299.
    const ligatures = 'ﬀ '.repeat(100).trim();
    expect(ligatures).toHaveLength(199);
    expect(errorsOf({ ...valid, firstName: ligatures })).toBe('firstName: must be at most 200 characters');
    // `İ` lower-cases to `i` + U+0307: 150 characters become 300.
    expect(errorsOf({ ...valid, lastName: 'İ'.repeat(150) })).toBe('lastName: must be at most 200 characters');
    expect(validateProfile({ ...valid, lastName: 'İ'.repeat(100) })).toMatchObject({ ok: true });
  });

  it('accepts 100 tags of 100 characters, and refuses a 101st tag or a 101st character', () => {
    const tags = Array.from({ length: 100 }, (_, i) => `${i}`.padEnd(100, 't'));
    expect(validateProfile({ ...valid, metadata: { tags } })).toMatchObject({ ok: true, profile: { metadata: { tags } } });
    expect(errorsOf({ ...valid, metadata: { tags: [...tags, 'x'] } })).toBe('metadata.tags: must have at most 100 tags');
    expect(errorsOf({ ...valid, metadata: { tags: ['ok', 'u'.repeat(101)] } })).toBe('metadata.tags.1: must be at most 100 characters');
  });

  it('accepts nesting 32 levels below the profile and refuses 33, naming where', () => {
    const nest = (levels: number): unknown => {
      let value: unknown = 1;
      for (let i = 0; i < levels; i++) value = { d: value };
      return value;
    };
    // metadata and preferences are two of the levels.
    expect(validateProfile({ ...valid, metadata: { preferences: nest(31) } })).toMatchObject({ ok: true });
    const result = validateProfile({ ...valid, metadata: { preferences: nest(32) } });
    expect(result).toEqual({ ok: false, errors: [{ path: `metadata.preferences${'.d'.repeat(31)}`, message: 'is nested more than 32 levels deep' }] });
  });

  it('counts arrays as levels too', () => {
    let deep: unknown = [];
    for (let i = 0; i < 32; i++) deep = [deep];
    expect(errorsOf({ ...valid, metadata: { preferences: { x: deep } } })).toBe(`metadata.preferences.x${'.0'.repeat(30)}: is nested more than 32 levels deep`);
  });

  it('rejects a forbidden key with exactly its path, prototype included, and lets a harmless lookalike through', () => {
    expect(validateProfile(JSON.parse('{"email":"a@b.co","firstName":"A","lastName":"B","metadata":{"prototype":1}}'))).toEqual({
      ok: false,
      errors: [{ path: 'metadata.prototype', message: 'is a forbidden key' }],
    });
    expect(errorsOf(JSON.parse('{"email":"a@b.co","firstName":"A","lastName":"B","metadata":{"tags":[{"constructor":1}]}}'))).toBe('metadata.tags.0.constructor: is a forbidden key');
    expect(validateProfile({ ...valid, metadata: { preferences: { proto: { constructors: null } } } })).toMatchObject({ ok: true });
  });
});

describe('validateProfile: messages', () => {
  it.each([
    [{ ...valid, email: 5 }, 'email: must be a string'],
    [{ ...valid, email: null }, 'email: must be a string'],
    [{ email: 'a@b.co', lastName: 'B' }, 'firstName: is required'],
    [{ ...valid, firstName: null }, 'firstName: must be a string'],
    [{ ...valid, lastName: '' }, 'lastName: must not be empty'],
    [{ ...valid, metadata: 'x' }, 'metadata: must be an object'],
    [{ ...valid, metadata: { preferences: 'x' } }, 'metadata.preferences: must be an object'],
    [{ ...valid, plan: 1, zone: 2 }, 'plan,zone: is not an accepted field'],
    [null, 'must be a JSON object'],
  ])('%j → %s', (input, message) => {
    expect(errorsOf(input)).toBe(message);
  });

  it('lets metadata be absent, and keeps unknown keys inside it', () => {
    expect(validateProfile(valid)).toEqual({ ok: true, profile: valid });
    expect(validateProfile({ ...valid, metadata: { plan: { tier: 1 } } })).toEqual({ ok: true, profile: { ...valid, metadata: { plan: { tier: 1 } } } });
  });
});

describe('describeErrors', () => {
  it('prefixes each message with its path, when it has one, and joins them with "; "', () => {
    expect(describeErrors([{ path: '', message: 'must be a JSON object' }, { path: 'a.b', message: 'is wrong' }])).toBe('must be a JSON object; a.b: is wrong');
    expect(describeErrors([])).toBe('');
  });
});

describe('PROFILE_FIELDS, DeadLetterSchema, BatchResponseSchema, toWire', () => {
  it('lists the top-level fields in order', () => {
    expect(PROFILE_FIELDS).toEqual(['email', 'firstName', 'lastName', 'metadata']);
  });

  it('a dead letter has an integer line, a known class, a reason and any record', () => {
    const letter = { line: 3, class: 'client', reason: 'r', record: null };
    expect(DeadLetterSchema.safeParse(letter).success).toBe(true);
    for (const cls of ['server', 'unexpected']) expect(DeadLetterSchema.safeParse({ ...letter, class: cls }).success).toBe(true);
    expect(DeadLetterSchema.safeParse({ ...letter, line: 1.5 }).success).toBe(false);
    expect(DeadLetterSchema.safeParse({ ...letter, line: '3' }).success).toBe(false);
    expect(DeadLetterSchema.safeParse({ ...letter, class: 'other' }).success).toBe(false);
    expect(DeadLetterSchema.safeParse({ ...letter, reason: 1 }).success).toBe(false);
  });

  it('a dead letter may carry the runId and at of the run that wrote it, as strings; no other key', () => {
    const letter = { line: 3, runId: '0a1b2c3d', at: '2026-01-20T02:00:00.000Z', class: 'client', reason: 'r', record: { a: 1 } };
    expect(DeadLetterSchema.parse(letter)).toEqual(letter);
    expect(DeadLetterSchema.safeParse({ ...letter, runId: 7 }).success).toBe(false);
    expect(DeadLetterSchema.safeParse({ ...letter, at: null }).success).toBe(false);
    expect(DeadLetterSchema.safeParse({ ...letter, note: 'x' }).success).toBe(false);
  });

  it('a batch response has a batchId and results of accepted or rejected emails, with an optional error', () => {
    const response = { batchId: 'b1', results: [{ email: 'a@b.co', status: 'accepted' }, { email: 'c@d.co', status: 'rejected', error: 'bad' }] };
    expect(BatchResponseSchema.parse(response)).toEqual(response);
    expect(BatchResponseSchema.safeParse({ ...response, batchId: 1 }).success).toBe(false);
    expect(BatchResponseSchema.safeParse({ batchId: 'b1', results: [{ email: 'a@b.co', status: 'pending' }] }).success).toBe(false);
    expect(BatchResponseSchema.safeParse({ batchId: 'b1', results: [{ email: 1, status: 'accepted' }] }).success).toBe(false);
    expect(BatchResponseSchema.safeParse({ batchId: 'b1', results: [{ email: 'a@b.co', status: 'rejected', error: 2 }] }).success).toBe(false);
    expect(BatchResponseSchema.safeParse({ batchId: 'b1', results: {} }).success).toBe(false);
  });

  it('toWire always carries metadata, keeping what is there', () => {
    expect(toWire(valid)).toEqual({ ...valid, metadata: {} });
    expect(toWire({ ...valid, metadata: { tags: ['a'] } })).toEqual({ ...valid, metadata: { tags: ['a'] } });
  });
});

describe('validateProfile: numbers the text held that a double cannot', () => {
  const found = { path: ['metadata', 'id'], text: '9007199254740993123', why: 'more than 15 significant digits' };
  const message = 'number 9007199254740993123 cannot be kept exactly (more than 15 significant digits); send it as a string';

  it('makes an otherwise valid profile invalid, one error per number', () => {
    expect(validateProfile({ ...valid, metadata: { id: 9007199254740993000 } }, [found, { ...found, path: ['metadata', 'list', 2] }])).toEqual({
      ok: false,
      errors: [
        { path: 'metadata.id', message },
        { path: 'metadata.list.2', message },
      ],
    });
  });

  it('comes after the field errors; none given, none added', () => {
    expect(errorsOf({ ...valid, email: 'nope' })).toBe('email: must be a valid email address');
    const result = validateProfile({ ...valid, email: 'nope' }, [found]);
    expect(result).toEqual({ ok: false, errors: [{ path: 'email', message: 'must be a valid email address' }, { path: 'metadata.id', message }] });
  });
});

describe('validateProfile: what a name may contain', () => {
  const hidden = (code: string) => `must not contain control or invisible formatting characters (${code})`;

  it.each([
    ['only zero-width spaces', '\u200B\u200B', hidden('U+200B')],
    ['a zero-width joiner alone', '\u200D', 'must contain letters'],
    ['word joiners and joiners', '\u2060\u200C', hidden('U+2060')],
    ['combining marks alone', '\u0301\u0308', 'must contain letters'],
    ['digits', '12345', 'must contain letters'],
    ['punctuation', "-'-", 'must contain letters'],
    ['a right-to-left override', 'Ann\u202Eeel', hidden('U+202E')],
    ['a bidi isolate', '\u2066Ann\u2069', hidden('U+2066')],
    ['NUL', 'Ann\u0000', hidden('U+0000')],
    ['another C0 control', 'An\u0007n', hidden('U+0007')],
    ['DEL', 'Ann\u007F', hidden('U+007F')],
    ['a C1 control (NEL)', 'Ann\u0085Lee', hidden('U+0085')],
    ['a lone high surrogate', 'Ann\uD800', hidden('U+D800')],
    ['a lone low surrogate', '\uDC00Ann', hidden('U+DC00')],
    ['a soft hyphen', 'Ann\u00ADLee', hidden('U+00AD')],
    ['a left-to-right mark', 'Ann\u200E', hidden('U+200E')],
    ['a combining mark starting the name', '\u0301ann', 'a combining mark must follow a letter'],
    ['a combining mark starting a word', 'Ann \u0308lee', 'a combining mark must follow a letter'],
  ])('refuses %s', (_what, name, message) => {
    expect(validateProfile({ ...valid, firstName: name })).toEqual({ ok: false, errors: [{ path: 'firstName', message }] });
    expect(validateProfile({ ...valid, lastName: name })).toEqual({ ok: false, errors: [{ path: 'lastName', message }] });
  });

  it.each([
    ['a Persian name with a zero-width non-joiner', 'علی\u200Cرضا', 'علی\u200Cرضا'],
    ['a Devanagari name with a zero-width joiner', 'क्\u200Dष', 'क्\u200Dष'],
    ['a Thai name, its vowel and tone marks combining', 'สมศักดิ์', 'สมศักดิ์'],
    ['combining marks after a letter, composed', 'zoe\u0308', 'Zoë'],
    ['a combining mark with no composed form', 'ann\u0332', 'Ann\u0332'],
    ['an emoji joined to a letter name', 'ann 👩\u200D💻', 'Ann 👩\u200D💻'],
    ['tabs and line breaks, which are whitespace', '\tann\nmarie\r', 'Ann Marie'],
    ['a byte-order mark at the edge, which is whitespace', '\uFEFFann', 'Ann'],
    ['a private-use character beside letters', 'ann\uE000', 'Ann\uE000'],
  ])('accepts %s', (_what, name, sent) => {
    expect(validateProfile({ ...valid, firstName: name })).toEqual({ ok: true, profile: { ...valid, firstName: sent } });
  });

  it('a name of zero-width no-break spaces only is empty once trimmed', () => {
    expect(errorsOf({ ...valid, firstName: '\uFEFF\uFEFF' })).toBe('firstName: must not be empty');
  });

  it('refuses controls and invisible characters in an email too', () => {
    expect(errorsOf({ ...valid, email: 'ann\u0000@example.com' })).toBe(`email: ${hidden('U+0000')}`);
    expect(errorsOf({ ...valid, email: 'ann@exa\u200Bmple.com' })).toBe(`email: ${hidden('U+200B')}`);
    expect(errorsOf({ ...valid, email: 'ann@example.com\u202E' })).toBe(`email: ${hidden('U+202E')}`);
    expect(errorsOf({ ...valid, email: 'ann@exam\uD800ple.com' })).toBe(`email: ${hidden('U+D800')}`);
  });
});

describe('validateProfile: internationalized addresses', () => {
  const local = 'must be ASCII before the @ (a mailbox name in other characters needs SMTPUTF8, which the marketing platforms do not take)';

  it.each([
    ['ann@bücher.de', 'ann@xn--bcher-kva.de'],
    ['  Ann@BÜCHER.de ', 'ann@xn--bcher-kva.de'],
    ['ann@пример.рф', 'ann@xn--e1afmkfd.xn--p1ai'],
    ['ann@xn--e1afmkfd.xn--p1ai', 'ann@xn--e1afmkfd.xn--p1ai'],
    ['ann@mail.münchen.de', 'ann@mail.xn--mnchen-3ya.de'],
    ['ann@ｅｘａｍｐｌｅ.com', 'ann@example.com'],
  ])('sends %j as the same mailbox in ASCII, %j', (given, sent) => {
    expect(validateProfile({ ...valid, email: given })).toEqual({ ok: true, profile: { ...valid, email: sent } });
  });

  it.each([
    ['jürgen@example.com', local],
    ['ｊ@example.com', local],
    ['伊昭傑@郵件.商務', local],
    ['ann@bü cher.de', 'must be a valid email address'],
    ['ann@bücher', 'must be a valid email address'],
    ['ann@bücher..de', 'must be a valid email address'],
    ['bücher.de', 'must be a valid email address'],
  ])('refuses %j', (given, message) => {
    expect(validateProfile({ ...valid, email: given })).toEqual({ ok: false, errors: [{ path: 'email', message }] });
  });

  it('counts the 254-character limit on the ASCII form that is sent', () => {
    // 20 ü are 20 characters as given, 26 as sent.
    const domain = `${'ü'.repeat(20)}.de`;
    const ascii = `xn--tda${'a'.repeat(19)}.de`;
    expect(validateProfile({ ...valid, email: `a@${domain}` })).toMatchObject({ profile: { email: `a@${ascii}` } });
    const localPart = 'a'.repeat(254 - 1 - ascii.length);
    expect(validateProfile({ ...valid, email: `${localPart}@${domain}` })).toMatchObject({ ok: true, profile: { email: `${localPart}@${ascii}` } });
    expect(errorsOf({ ...valid, email: `a${localPart}@${domain}` })).toBe('email: must be at most 254 characters');
    expect(`a${localPart}@${domain}`.length).toBeLessThan(254);
  });
});
