import { describe, expect, it } from 'vitest';
import { checkContentType, HttpProblem } from '../../src/serve/request-body.js';

describe('checkContentType', () => {
  it.each(['application/json', 'application/json; charset=utf-8', 'Application/JSON;charset="UTF-8"', 'application/json ; charset=utf8'])('accepts %s', (type) => {
    expect(() => checkContentType(type)).not.toThrow();
  });

  it.each([undefined, '', 'text/plain', 'text/plain;charset=UTF-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonx', 'application/json; charset=latin1'])(
    'refuses %s with 415',
    (type) => {
      let thrown: unknown;
      try {
        checkContentType(type);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(HttpProblem);
      expect(thrown).toMatchObject({ status: 415, body: { status: 'invalid', errors: [{ path: '', message: expect.stringMatching(/^expected a body of type application\/json/) }] } });
    },
  );
});
