import { describe, expect, it } from 'vitest';
import { EMAIL_PATTERN, emailProblem, normalizeEmail } from '../../src/normalize/email.js';

describe('normalizeEmail', () => {
  it.each([
    [' Ann.Lee@Example.COM ', 'ann.lee@example.com'],
    ['ann@bücher.de', 'ann@xn--bcher-kva.de'],
    ['ANN@BÜCHER.DE', 'ann@xn--bcher-kva.de'],
    ['ann@xn--bcher-kva.de', 'ann@xn--bcher-kva.de'],
    ['a@b@bücher.de', 'a@b@xn--bcher-kva.de'],
    // Not convertible, or nothing to convert: left for validation to refuse.
    ['ann@bü cher.de', 'ann@bü cher.de'],
    ['bücher.de', 'bücher.de'],
    ['jürgen@example.com', 'jürgen@example.com'],
  ])('%j → %j', (given, sent) => {
    expect(normalizeEmail(given)).toBe(sent);
  });
});

describe('emailProblem', () => {
  const local = 'must be ASCII before the @ (a mailbox name in other characters needs SMTPUTF8, which the marketing platforms do not take)';

  it.each([
    ['jürgen@example.com', local],
    [' é@example.com ', local],
    ['a\u200B@example.com', 'must not contain control or invisible formatting characters (U+200B)'],
    ['ü@exa\u0000mple.com', 'must not contain control or invisible formatting characters (U+0000)'],
  ])('%j: %s', (given, problem) => {
    expect(emailProblem(given)).toBe(problem);
  });

  it.each(['ann@example.com', 'ann@bücher.de', '\tann@example.com\n', '@bücher.de', 'ü', 'nope', ''])('%j: none (its format is checked elsewhere)', (given) => {
    expect(emailProblem(given)).toBeUndefined();
  });
});

describe('EMAIL_PATTERN', () => {
  it.each(['a@b.co', "o'neil+tag@mail.example.org", 'ann@xn--bcher-kva.de', 'ann@xn--e1afmkfd.xn--p1ai', 'A@B.CO'])('accepts %s', (email) => {
    expect(EMAIL_PATTERN.test(email)).toBe(true);
  });

  it.each(['a@b.c', 'a@b.c0m', 'a@b.xn-p1ai', 'a@b.xn--', 'a@-b.co', 'a@b..co', '.a@b.co', 'a.@b.co', 'a b@c.co', 'a@b.co ', 'ü@b.co', 'a@bü.co'])('refuses %s', (email) => {
    expect(EMAIL_PATTERN.test(email)).toBe(false);
  });
});
