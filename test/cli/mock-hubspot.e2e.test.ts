import { describe, expect, it } from 'vitest';
import { runCli, startServer, type CliResult } from '../helpers/cli.js';
import { usageRefusal as refusal } from '../helpers/refusal.js';

const UPSERT = '/crm/v3/objects/contacts/batch/upsert';

/* eslint-disable @typescript-eslint/no-explicit-any -- answers are read as the JSON they are */

async function post(url: string, body: unknown, token?: string): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${url}${UPSERT}`, { method: 'POST', headers, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

const input = (email: string, properties: Record<string, string>, traceId: string) => ({ idProperty: 'email', id: email, properties, objectWriteTraceId: traceId });

/** The one JSON error line a refused start prints (stderr is no TTY: JSON logs). */
describe('sync mock hubspot (spawned)', () => {
  it('serves the upsert with its token, custom properties and rate window; SIGTERM stops it with exit 0 and its stats logged', async () => {
    const token = 'pat-na1-e2e-secret';
    const mock = await startServer(['mock', 'hubspot', '--port', '0', '--token', token, '--rate', '3/10s', '--property', 'plan:enumeration:free,pro']);
    let stopped: CliResult | undefined;
    try {
      expect(mock.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const created = await post(mock.url, { inputs: [input('Ann@Example.com', { firstname: 'Ann', plan: 'pro' }, 'r1')] }, token);
      expect(created).toMatchObject({ status: 200, body: { status: 'COMPLETE', results: [{ new: true, objectWriteTraceId: 'r1', properties: { email: 'ann@example.com', plan: 'pro' } }] } });
      expect((await post(mock.url, { inputs: [] }, 'another-token')).status).toBe(401);

      const partial = await post(mock.url, { inputs: [input('ann@example.com', { plan: 'pro' }, 'r2'), input('bob@example.com', { plan: 'gold' }, 'r3')] }, token);
      expect(partial.status).toBe(207);
      expect(partial.body.errors).toEqual([expect.objectContaining({ context: { objectWriteTraceId: ['r3'] } })]);

      const properties = await fetch(`${mock.url}/crm/v3/properties/contacts`, { headers: { authorization: `Bearer ${token}` } });
      expect(properties.headers.get('x-hubspot-ratelimit-remaining')).toBe('0');
      expect(((await properties.json()) as { results: { name: string }[] }).results.map((property) => property.name)).toContain('plan');

      const limited = await post(mock.url, { inputs: [] }, token);
      expect(limited).toMatchObject({ status: 429, body: { policyName: 'TEN_SECONDLY_ROLLING', errorType: 'RATE_LIMIT' } });

      const stats = (await (await fetch(`${mock.url}/__mock/stats`)).json()) as Record<string, unknown>;
      expect(stats).toMatchObject({ requests: 5, rateLimited: 1, unauthorized: 1, accepted: 2, rejected: 1, contacts: 1, upsertedMoreThanOnce: { 'ann@example.com': 2 } });
    } finally {
      stopped = await mock.stop();
    }
    expect(stopped.code).toBe(0);
    expect(stopped.stdout).toMatch(/^listening http:\/\/127\.0\.0\.1:\d+\n$/);
    const stop = stopped.stderr
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((line) => line.msg === 'mock stopped');
    expect(stop).toMatchObject({ signal: 'SIGTERM', requests: 5, accepted: 2, rateLimited: 1, upsertedMoreThanOnce: { 'a***@example.com': 2 } });
    expect(stopped.stderr).not.toContain(token);
    expect(stopped.stderr).not.toContain('ann@example.com');
  });

  // The other refusals, in process: mock-hubspot.test.ts.
  it.each([
    [['--rate', '100/xyz'], /--rate.*expected a duration/],
  ])('refuses %j with one line, exit 2', async (flags, message) => {
    expect(refusal(await runCli(['mock', 'hubspot', '--port', '0', ...flags]))).toMatch(message);
  });
});
