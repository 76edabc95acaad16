import { describe, expect, it, vi } from 'vitest';
import { leadingEmail } from '../../src/push/leading-email.js';
import { normalizeEmail } from '../../src/normalize/email.js';

// The real normalizeEmail, watched: an email already normal is kept as it is, without it.
vi.mock('../../src/normalize/email.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/normalize/email.js')>();
  return { ...real, normalizeEmail: vi.fn(real.normalizeEmail) };
});

describe('leadingEmail', () => {
  it('reads the email of a record that begins with it, normalized as validation does', () => {
    expect(leadingEmail('{"email":"ann@example.com","firstName":"Ann"}')).toBe('ann@example.com');
    expect(leadingEmail('{"email":" Ann@Bücher.DE ","firstName":"Ann"}')).toBe('ann@xn--bcher-kva.de');
    expect(leadingEmail('{"email":""}')).toBe('');
  });

  it('gives what normalizeEmail gives for any email: the ones already normal as they are, the others normalized', () => {
    const emails = ['ann@example.com', 'Ann@example.com', 'annZ@example.com', 'ann@example.coM', 'A@b', 'ANN@EXAMPLE.COM', '@', 'a b@c.d', ' ann@x.de', 'ann@x.de ',
      '\tann@x.de', 'ann@x.de\n', 'ann@bücher.de', 'ann~@x.de', 'ann\u007f@x.de', '\u00a0ann@x.de', 'ann@x.de\u2028', 'zoe_@x-y.org', '!#$%&*+/=?^`{|}~@[x].de'];
    for (const email of emails) expect(leadingEmail(`{"email":"${email}","firstName":"Ann"}`), email).toBe(normalizeEmail(email));
    // The characters at the edges of the range: a space, DEL, and the capitals' neighbours.
    expect(['@', 'A', 'Z', '[', '`', 'a', 'z', '{', '~', ' ', '\u007f', '!'].map((c) => leadingEmail(`{"email":"x${c}y"}`))).toStrictEqual(['x@y', 'xay', 'xzy', 'x[y', 'x`y', 'xay', 'xzy', 'x{y', 'x~y', 'x y', 'x\u007fy', 'x!y']);
  });

  it('keeps an email of printable ASCII without capitals as it is; any other goes through normalizeEmail', () => {
    const normalizing = vi.mocked(normalizeEmail);
    normalizing.mockClear();
    expect(leadingEmail('{"email":"zoe.o\'neil+1@x-y.org","a":1}')).toBe("zoe.o'neil+1@x-y.org");
    expect(leadingEmail('{"email":"!#$%&*+/=?^_`{|}~@[0]"}')).toBe('!#$%&*+/=?^_`{|}~@[0]');
    expect(normalizing).not.toHaveBeenCalled();
    for (const email of ['Ann@x.de', 'annZ@x.de', 'ann @x.de', '\tann@x.de', 'ann@bücher.de', 'ann\u007f@x.de']) leadingEmail(`{"email":"${email}"}`);
    expect(normalizing.mock.calls).toStrictEqual([['Ann@x.de'], ['annZ@x.de'], ['ann @x.de'], ['\tann@x.de'], ['ann@bücher.de'], ['ann\u007f@x.de']]);
  });

  it('does not guess for any other text: another first key, spacing, no closing quote', () => {
    expect(leadingEmail('{"firstName":"Ann","email":"ann@example.com"}')).toBeUndefined();
    expect(leadingEmail('{ "email":"ann@example.com"}')).toBeUndefined();
    expect(leadingEmail(' {"email":"ann@example.com"}')).toBeUndefined();
    expect(leadingEmail('{"email":"ann@example.com')).toBeUndefined();
    expect(leadingEmail('{"email":1}')).toBeUndefined();
    expect(leadingEmail('')).toBeUndefined();
  });

  it('never guesses for text with a backslash anywhere (an escaped key or email reads otherwise once parsed)', () => {
    expect(leadingEmail('{"email":"ann\\u0040example.com"}')).toBeUndefined();
    expect(leadingEmail('{"email":"ann@example.com","firstName":"A\\"nn"}')).toBeUndefined();
    expect(leadingEmail('{"email":"ann@example.com","\\u0065mail":"bob@example.com"}')).toBeUndefined();
  });

  it('never guesses for text with a "record" key: a dead letter\'s record is not its line', () => {
    expect(leadingEmail('{"email":"ann@example.com","line":1,"class":"client","reason":"x","record":{"email":"bob@example.com"}}')).toBeUndefined();
    expect(leadingEmail('{"email":"ann@example.com","metadata":{"record":1}}')).toBeUndefined();
    expect(leadingEmail('{"email":"ann@example.com","myrecord":1,"record":2}')).toBeUndefined();
    expect(leadingEmail('"record"{"email":"ann@example.com"}')).toBeUndefined();
    // The word in quotes anywhere (as includes('"record"') finds it); a longer word, or one without its quotes, is fine.
    expect(leadingEmail('{"email":"ann@example.com","myrecord":1,"records":"xrecord"}')).toBe('ann@example.com');
    expect(leadingEmail('{"email":"record@example.com","note":"a record\\""}')).toBeUndefined();
    expect(leadingEmail('{"email":"ann@example.com","note":"record"}')).toBeUndefined();
    expect(leadingEmail('{"email":"ann@example.com","note":"on record","x":1}')).toBe('ann@example.com');
  });
});
