import { describe, expect, it } from 'vitest';
import { runCli, startServer, type CliResult } from '../helpers/cli.js';
import { usageRefusal as refusal } from '../helpers/refusal.js';

const KEY = '0123456789abcdef0123456789abcdef-us21';
const auth = (key: string) => ({ authorization: `Basic ${Buffer.from(`anystring:${key}`).toString('base64')}` });

/** The one JSON error line a refused start prints (stderr is no TTY: JSON logs). */
describe('sync mock mailchimp (spawned)', () => {
  it('prints `listening URL` first, serves the flags it was given, and stops on SIGTERM with exit 0', async () => {
    const server = await startServer(['mock', 'mailchimp', '--port', '0', '--key', KEY, '--dc', 'us21', '--list', 'aud111', '--merge-field', 'ltv:number:required']);
    let result: CliResult | undefined;
    try {
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

      expect(await (await fetch(`${server.url}/3.0/ping`, { headers: auth(KEY) })).json()).toEqual({ health_status: "Everything's Chimpy!" });
      expect((await fetch(`${server.url}/3.0/ping`, { headers: auth(`${'f'.repeat(32)}-us21`) })).status).toBe(401);

      const fields = (await (await fetch(`${server.url}/3.0/lists/aud111/merge-fields?count=1000`, { headers: auth(KEY) })).json()) as { merge_fields: { tag: string; type: string; required: boolean }[] };
      expect(fields.merge_fields.map((field) => [field.tag, field.type, field.required])).toEqual([
        ['FNAME', 'text', false],
        ['LNAME', 'text', false],
        ['LTV', 'number', true],
      ]);
      expect((await fetch(`${server.url}/3.0/lists/a1b2c3d4e5/merge-fields`, { headers: auth(KEY) })).status).toBe(404);

      const members = [
        { email_address: 'ann@example.com', status_if_new: 'subscribed', merge_fields: { FNAME: 'Ann', LTV: 3 } },
        { email_address: 'bob@example.com', status_if_new: 'subscribed', merge_fields: { FNAME: 'Bob' } },
      ];
      const answer = await fetch(`${server.url}/3.0/lists/aud111`, { method: 'POST', headers: { ...auth(KEY), 'content-type': 'application/json' }, body: JSON.stringify({ members, update_existing: true }) });
      expect(answer.status).toBe(200);
      expect(await answer.json()).toMatchObject({ total_created: 1, error_count: 1, errors: [{ email_address: 'bob@example.com', field: 'LTV', field_message: 'Please enter a value' }] });

      expect(await (await fetch(`${server.url}/__mock/members?email=ann@example.com`)).json()).toMatchObject({ status: 'subscribed', merge_fields: { FNAME: 'Ann', LTV: 3 } });
      expect(await (await fetch(`${server.url}/__mock/stats`)).json()).toMatchObject({ requests: 5, created: 1, errors: 1 });
    } finally {
      result = await server.stop();
    }
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(`listening ${server.url}\n`);
    expect(result.stderr).toContain('mock stopped');
    expect(result.stderr).not.toContain(KEY);
  });

  it('stops on SIGTERM at once (exit 0) even while it holds a request for its --latency', async () => {
    const server = await startServer(['mock', 'mailchimp', '--port', '0', '--latency', '600000']);
    const heldRequest = fetch(`${server.url}/3.0/ping`, { headers: auth(KEY) }).then(
      (answer) => `answered ${answer.status}`,
      () => 'cut',
    );
    // Accepted (and now held) once it counts as open.
    while (((await (await fetch(`${server.url}/__mock/stats`)).json()) as { maxConcurrent: number }).maxConcurrent < 1);
    const started = performance.now();
    const result = await server.stop();
    expect(result.code, result.stderr).toBe(0);
    expect(performance.now() - started).toBeLessThan(5000);
    expect(await heldRequest).toBe('cut');
  });

  // The other refusals, in process: mock-mailchimp.test.ts.
  it('refuses a malformed --key with exit 2, without printing it', async () => {
    const message = refusal(await runCli(['mock', 'mailchimp', '--port', '0', '--key', 'my-secret-key']));
    expect(message).toBe('--key: expected a Mailchimp API key: 32 hexadecimal digits (lower case), a dash and the data centre, such as 0123456789abcdef0123456789abcdef-us21');
    expect(message).not.toContain('my-secret-key');
  });
});
