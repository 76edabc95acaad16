import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { seededRandom } from '../../src/engine/random.js';
import { createCustomerioMock } from '../../src/mock/customerio-server.js';
import { runCli } from '../helpers/cli.js';
import { serveMock } from '../helpers/mocks.js';
import { useTempDir } from '../helpers/tmp.js';

/**
 * --to customerio, spawned against `sync mock customerio` under injected failures: good, invalid,
 * refused and oversized profiles; batches cut by bytes; reruns; a malformed credential. Four CLI
 * runs in all.
 */

const SITE = 'site1';
const KEY = 'cio-KEY-SECRET-0123456789';
const CREDENTIAL = `${SITE}:${KEY}`;
const GOOD = 1000;

const pad = (i: number) => String(i).padStart(4, '0');
// Equal-sized entries (the note keeps each attribute value under Customer.io's 1,000 bytes), so the
// number of requests the byte limit needs can be worked out from the size the simulator saw.
const good = (i: number, extra: Record<string, unknown> = {}) => ({ email: `user${pad(i)}@example.com`, firstName: 'ann', lastName: 'lee', metadata: { tags: ['vip'], plan: 'pro', note: 'x'.repeat(900), ...extra } });
const invalid = { email: 'not-an-email', firstName: 'x', lastName: 'y' };
const refused = { email: 'blocked@suppressed.example', firstName: 'Bo', lastName: 'Cked' };
// Its mapped note alone is 40,000 bytes: over Customer.io's 32 KB an entry.
const huge = { email: 'huge@example.com', firstName: 'Hu', lastName: 'Ge', metadata: { note: 'n'.repeat(40_000) } };

const ndjson = (values: unknown[]) => values.map((value) => JSON.stringify(value)).join('\n') + '\n';
const jsonLines = (text: string) => text.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);
const readLines = (path: string) => (existsSync(path) ? jsonLines(readFileSync(path, 'utf8')) : []);

interface Stats {
  requests: number;
  unauthorized: number;
  rateLimited: number;
  badRequests: number;
  failures: number;
  people: number;
  maxRequestsPerSecond: number;
  maxConcurrent: number;
  maxRequestBytes: number;
  maxEntryBytes: number;
  maxEntries: number;
  oversizedRequests: number;
  oversizedEntries: number;
}

describe('push --to customerio (spawned, against sync mock customerio)', () => {
  const tmp = useTempDir();
  // `sync mock customerio …` in this process: nothing here stops, restarts or reads the simulator's process.
  let mock: { url: string } | undefined;
  const get = async <T,>(path: string): Promise<{ status: number; body: T }> => {
    const res = await fetch(`${mock!.url}${path}`);
    return { status: res.status, body: (await res.json()) as T };
  };

  it('good, invalid, refused and >32 KB profiles under injected 5xx; reruns send only what changed; credentials never show', async () => {
    mock = await serveMock(createCustomerioMock({ siteId: SITE, apiKey: KEY, rate: 100, failRate: 0.3, random: seededRandom(4) }), onTestFinished);
    const file = join(tmp(), 'profiles.ndjson');
    const deadLetters = join(tmp(), 'dl.ndjson');
    const report = join(tmp(), 'report.ndjson');
    const records: object[] = Array.from({ length: GOOD }, (_, i) => good(i));
    // Lines 301, 602 and 903 of the file.
    records.splice(300, 0, invalid);
    records.splice(601, 0, huge);
    records.splice(902, 0, refused);
    writeFileSync(file, ndjson(records));
    const env = { SYNC_DOWNSTREAM_TOKEN: CREDENTIAL, SYNC_STATE_DIR: join(tmp(), 'state') };
    const push = (...extra: string[]) =>
      runCli(['push', file, '--to', 'customerio', '--downstream-url', mock!.url, '--map', 'metadata.plan=plan', '--map', 'metadata.note=note', '--max-retries', '8', '--dead-letter', deadLetters, '--json', ...extra], {
        env,
        timeoutMs: 60_000,
      });

    // 1. Everything good delivered despite the failures; the others dead-lettered with their reasons.
    const first = await push('--report', report, '--verbose');
    expect(first.code, first.stderr).toBe(3);
    const summary = JSON.parse(first.stdout) as { batches: number; requests: number };
    expect(summary).toMatchObject({ total: GOOD + 3, valid: GOOD + 1, invalid: 2, delivered: GOOD, rejected: 1, failed: 0, deadLettered: 3 });

    const held = await get<{ identifiers: unknown; attributes: Record<string, unknown> }>(`/__mock/people?email=user${pad(GOOD - 1)}@example.com`);
    expect(held.body).toMatchObject({ identifiers: { email: `user${pad(GOOD - 1)}@example.com` }, attributes: { first_name: 'Ann', last_name: 'Lee', tags: ['vip'], plan: 'pro', note: 'x'.repeat(900) } });
    expect((await get('/__mock/people?email=blocked@suppressed.example')).status).toBe(404);
    expect((await get('/__mock/people?email=huge@example.com')).status).toBe(404);

    expect(readLines(deadLetters).map((letter) => [letter.line, letter.class, letter.reason])).toEqual([
      [301, 'client', 'email: must be a valid email address'],
      [602, 'client', '40,140 bytes as sent to Customer.io, over its limit of 32,000 bytes a profile'],
      [903, 'client', 'identifiers.email: blocked@suppressed.example is suppressed: data sent for this person is dropped (suppressed)'],
    ]);

    const stats = (await get<Stats>('/__mock/stats')).body;
    expect(stats.people).toBe(GOOD);
    expect(stats.failures).toBeGreaterThan(0);
    // Nothing over Customer.io's limits reached it: no request over 500,000 bytes, no entry over 32,000.
    expect(stats).toMatchObject({ oversizedRequests: 0, oversizedEntries: 0, badRequests: 0, unauthorized: 0, rateLimited: 0 });
    expect(stats.maxEntryBytes).toBeLessThan(2000);
    expect(stats.maxRequestBytes).toBeLessThanOrEqual(500_000);
    expect(stats.maxRequestsPerSecond).toBeLessThanOrEqual(10);
    expect(stats.maxConcurrent).toBeLessThanOrEqual(10);
    // Cut by bytes, not by count: a full request holds as many of these equal entries as 500,000 bytes
    // allow (far fewer than 1,000), and it was filled to within one entry of the limit.
    const perRequest = Math.floor((500_000 - '{"batch":[]}'.length + 1) / (stats.maxEntryBytes + 1));
    expect(stats.maxEntries).toBe(perRequest);
    expect(stats.maxRequestBytes).toBeGreaterThan(500_000 - stats.maxEntryBytes - 1);
    // Every request the CLI made reached the simulator, and those not failed on purpose are exactly the
    // batches the good and refused entries need: the oversized profile cost no request of its own.
    const needed = Math.ceil((GOOD + 1) / perRequest);
    expect(summary.batches).toBe(needed);
    expect(stats.requests).toBe(summary.requests);
    expect(stats.requests - stats.failures).toBe(needed);

    // 2. The same file again: every good profile is unchanged and stays home; only the refused one is
    // tried again (refusals are not remembered), in one request.
    const second = await push();
    expect(second.code, second.stderr).toBe(3);
    expect(JSON.parse(second.stdout)).toMatchObject({ unchanged: GOOD, delivered: 0, rejected: 1, batches: 1 });
    const afterSecond = (await get<Stats>('/__mock/stats')).body;
    expect(afterSecond.requests - afterSecond.failures - (stats.requests - stats.failures)).toBe(1);

    // 3. One profile changed: exactly that one delivered.
    records[0] = good(0, { plan: 'enterprise' });
    writeFileSync(file, ndjson(records));
    const third = await push();
    expect(third.code, third.stderr).toBe(3);
    expect(JSON.parse(third.stdout)).toMatchObject({ unchanged: GOOD - 1, delivered: 1, rejected: 1 });
    expect((await get<{ attributes: { plan: string } }>('/__mock/people?email=user0000@example.com')).body.attributes.plan).toBe('enterprise');

    // 4. A credential without its site id: exit 2, one line, before anything is read or sent.
    const before = (await get<Stats>('/__mock/stats')).body.requests;
    const malformed = await runCli(['push', file, '--to', 'customerio', '--downstream-url', mock.url, '--dead-letter', deadLetters], { env: { ...env, SYNC_DOWNSTREAM_TOKEN: KEY } });
    expect(malformed.code, malformed.stderr).toBe(2);
    const errors = jsonLines(malformed.stderr).filter((line) => line.level === 'error');
    expect(errors.map((line) => line.msg)).toEqual([expect.stringMatching(/^SYNC_DOWNSTREAM_TOKEN with --to customerio: expected SITE_ID:API_KEY \(/)]);
    expect((await get<Stats>('/__mock/stats')).body.requests).toBe(before);

    // The key never shows: not alone, not as the pair, not as the Basic header's base64.
    const everything = [first, second, third, malformed].flatMap((run) => [run.stdout, run.stderr]).concat(readFileSync(deadLetters, 'utf8'), readFileSync(report, 'utf8')).join('\n');
    expect(everything.length).toBeGreaterThan(10_000);
    for (const secret of [KEY, 'SECRET', Buffer.from(CREDENTIAL).toString('base64')]) expect(everything).not.toContain(secret);
  }, 90_000);
});
