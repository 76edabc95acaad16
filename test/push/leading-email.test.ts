import { describe, expect, it } from 'vitest';
import { leadingEmail } from '../../src/push/leading-email.js';

describe('leadingEmail', () => {
  it('reads the email of a record that begins with it, normalized as validation does', () => {
    expect(leadingEmail('{"email":"ann@example.com","firstName":"Ann"}')).toBe('ann@example.com');
    expect(leadingEmail('{"email":" Ann@Bücher.DE ","firstName":"Ann"}')).toBe('ann@xn--bcher-kva.de');
    expect(leadingEmail('{"email":""}')).toBe('');
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
  });
});
