import { describe, expect, it } from 'vitest';
import { runMain } from '../helpers/in-process-cli.js';
import { usageRefusal as refusal } from '../helpers/refusal.js';

const KEY = '0123456789abcdef0123456789abcdef-us21';

/** The one JSON error line a refused start prints (stderr is no TTY: JSON logs). */
// Parsing and refusal only: sync runs in this process (test/helpers/in-process-cli.ts). The mock
// serving, and a refusal through the real bin/sync.js: mock-mailchimp.e2e.test.ts.
describe('sync mock mailchimp: what it refuses (in process)', () => {
  it('refuses a --key of another data centre than --dc', async () => {
    expect(refusal(await runMain(['mock', 'mailchimp', '--port', '0', '--key', KEY, '--dc', 'us6']))).toBe('--key is for data centre us21 but --dc is us6: no request could be accepted');
  });

  it.each([
    [['--merge-field', 'LTV:money'], "option '--merge-field <tag[:type][:required]>' argument 'LTV:money' is invalid. expected a type among text, number, date, birthday, phone, url, imageurl, zip, address after the tag (such as LTV:number)."],
    [['--list', 'not/an-id'], "option '--list <id>' argument 'not/an-id' is invalid. expected an audience id of 1 to 32 letters and digits, such as a1b2c3d4e5."],
    [['--connections', '0'], "option '--connections <n>' argument '0' is invalid. expected simultaneous connections from 1 to 1000."],
  ])('refuses %j with exit 2 naming the flag', async (args, message) => {
    expect(refusal(await runMain(['mock', 'mailchimp', '--port', '0', ...args]))).toBe(message);
  });
});
