import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { seededRandom } from '../../src/engine/random.js';
import { createIterableMock, type IterableMockOptions } from '../../src/mock/iterable-server.js';
import { runCli } from '../helpers/cli.js';
import { serveMock } from '../helpers/mocks.js';
import { useTempDir } from '../helpers/tmp.js';

/**
 * --to iterable, spawned against the simulator `sync mock iterable` serves (in the test's process): good, invalid, refused and mistyped
 * profiles under injected failures; Iterable's field-type trap answered both ways it may be (the
 * user alone in invalidDataEmails, or the whole request refused and bisected); what the simulator
 * holds, its limits, the key never shown, and reruns that send only what changed. Four push runs in all.
 */

const KEY = 'a1b2c3d4e5f60718293a4b5c6d7e8f90-SECRET';
const GOOD = 30;
/** The two profiles sending a number where the project fixed a string, one in each half of the batch. */
const MISTYPED = [7, 24];

const ndjson = (values: unknown[]) => values.map((value) => JSON.stringify(value)).join('\n') + '\n';
const readLines = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>) : []);
const good = (i: number, plan = 'pro') => ({ email: `user${i}@example.com`, firstName: 'ann', lastName: 'lee', metadata: { plan, ...(i % 3 === 0 ? { tags: ['vip'] } : {}) } });
/** Good profiles (lines 1–30), two of them mistyped (lines 8 and 25), then an invalid one (31) and a forgotten one (32). */
function profiles(): unknown[] {
  const list: unknown[] = Array.from({ length: GOOD }, (_, i) => good(i));
  for (const i of MISTYPED) list[i] = { ...good(i), metadata: { plan: 100 + i } };
  return [...list, { email: 'not-an-email', firstName: 'x', lastName: 'y' }, { email: 'gone@suppressed.example', firstName: 'Go', lastName: 'Ne' }];
}

interface Stats {
  requests: number;
  rateLimited: number;
  failures: number;
  usersAccepted: number;
  typeMismatches: number;
  maxRequestsPerSecondPerKey: number;
  maxConcurrent: number;
  overLimit: { users: number; bytes: number };
  largestRequestUsers: number;
  users: number;
}

describe('push --to iterable (spawned, against sync mock iterable)', () => {
  const tmp = useTempDir();
  // `sync mock iterable --field plan:string …`, in this process: nothing here kills or restarts
  // the simulator, and its process start cost ~0.5 s of CPU and ~1 s before it listened.
  const start = (options: Partial<IterableMockOptions> = {}) => serveMock(createIterableMock({ fields: [{ name: 'plan', type: 'string' }], random: Math.random, ...options }), onTestFinished);
  type Mock = Awaited<ReturnType<typeof start>>;
  const get = async <T,>(server: Mock, path: string): Promise<{ status: number; body: T }> => {
    const res = await fetch(`${server.url}${path}`);
    return { status: res.status, body: (await res.json()) as T };
  };
  const push = (mock: Mock, file: string, name: string, ...extra: string[]) =>
    runCli(
      ['push', file, '--to', 'iterable', '--downstream-url', mock.url, '--map', 'metadata.plan=plan', '--dead-letter', join(tmp(), `${name}-dl.ndjson`), '--report', join(tmp(), `${name}-report.ndjson`), '--json', ...extra],
      { env: { SYNC_DOWNSTREAM_TOKEN: KEY, SYNC_STATE_DIR: join(tmp(), `${name}-state`) }, timeoutMs: 40_000 },
    );
  const shown: string[] = [];
  const keep = (run: { stdout: string; stderr: string }, name: string) => {
    shown.push(run.stdout, run.stderr, ...['dl', 'report'].map((kind) => (existsSync(join(tmp(), `${name}-${kind}.ndjson`)) ? readFileSync(join(tmp(), `${name}-${kind}.ndjson`), 'utf8') : '')));
  };

  const forgotten = 'forgottenEmails: the user was forgotten (GDPR) in this Iterable project, which refuses new data for it';

  it("a mistyped field refuses the user alone (the default, failedUpdates.invalidDataEmails): under 5xx each refusal dead-lettered with Iterable's list; reruns send only what changed", async () => {
    // Seed 19: the first request to arrive gets a 500 after its users were updated (the ambiguous one).
    const mock = await start({ failRate: 0.25, random: seededRandom(19) });
    const file = join(tmp(), 'profiles.ndjson');
    writeFileSync(file, ndjson(profiles()));
    const run = await push(mock, file, 'a', '--max-retries', '8', '--batch-size', '8');
    keep(run, 'a');
    expect(run.code, run.stderr).toBe(3);
    expect(JSON.parse(run.stdout)).toMatchObject({ total: 32, valid: 31, invalid: 1, delivered: GOOD - 2, rejected: 3, failed: 0, deadLettered: 4 });

    // What Iterable holds: every good profile with its typed field and tags; neither mistyped one, nor the forgotten one.
    const held = await get<{ email: string; dataFields: Record<string, unknown> }>(mock, '/__mock/users?email=user3@example.com');
    expect(held.body).toMatchObject({ email: 'user3@example.com', dataFields: { firstName: 'Ann', lastName: 'Lee', plan: 'pro', tags: ['vip'] } });
    for (const email of ['user7@example.com', 'user24@example.com', 'gone@suppressed.example']) expect((await get(mock, `/__mock/users?email=${email}`)).status).toBe(404);
    expect((await get<Record<string, string>>(mock, '/__mock/fields')).body).toMatchObject({ plan: 'string', firstName: 'string', tags: 'array' });

    const refused = "invalidDataEmails: a data field's type differs from the type Iterable fixed for it";
    const letters = readLines(join(tmp(), 'a-dl.ndjson')).sort((a, b) => Number(a.line) - Number(b.line));
    expect(letters.map((letter) => [letter.line, letter.class, letter.reason])).toEqual([
      [8, 'client', refused],
      [25, 'client', refused],
      [31, 'client', 'email: must be a valid email address'],
      [32, 'client', forgotten],
    ]);
    const stats = (await get<Stats>(mock, '/__mock/stats')).body;
    expect(stats.failures).toBeGreaterThan(0);
    expect(stats.typeMismatches).toBeGreaterThanOrEqual(2);
    expect(stats.users).toBe(GOOD - 2);
    expect(stats.maxRequestsPerSecondPerKey).toBeLessThanOrEqual(5);
    expect(stats.maxConcurrent).toBeLessThanOrEqual(5);
    expect(stats.rateLimited).toBe(0);
    expect(stats.overLimit).toEqual({ users: 0, bytes: 0 });

    // Rerun of the good profiles: all remembered for this project, nothing sent.
    const goodOnly = join(tmp(), 'good.ndjson');
    const kept = Array.from({ length: GOOD }, (_, i) => good(i)).filter((_, i) => !MISTYPED.includes(i));
    writeFileSync(goodOnly, ndjson(kept));
    const before = stats.requests;
    const rerun = await push(mock, goodOnly, 'a');
    keep(rerun, 'a');
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(JSON.parse(rerun.stdout)).toMatchObject({ delivered: 0, unchanged: GOOD - 2, requests: 0 });
    expect((await get<Stats>(mock, '/__mock/stats')).body.requests).toBe(before);

    // One profile changed: exactly that one is sent.
    writeFileSync(goodOnly, ndjson(kept.map((profile, i) => (i === 5 ? { ...profile, metadata: { plan: 'team' } } : profile))));
    const changed = await push(mock, goodOnly, 'a', '--max-retries', '8');
    keep(changed, 'a');
    expect(changed.code, changed.stderr).toBe(0);
    expect(JSON.parse(changed.stdout)).toMatchObject({ delivered: 1, unchanged: GOOD - 3 });
    const after = (await get<Stats>(mock, '/__mock/stats')).body;
    expect(after.largestRequestUsers).toBeLessThanOrEqual(1000);
    expect(after.overLimit).toEqual({ users: 0, bytes: 0 });
    expect((await get<{ dataFields: { plan: string } }>(mock, '/__mock/users?email=user5@example.com')).body.dataFields.plan).toBe('team');
  }, 60_000);

  it("the whole request refused for a mistyped field (--type-mismatch request, 400 RequestFieldsTypesMismatched): bisected to the two profiles, each dead-lettered with Iterable's words, their neighbours delivered", async () => {
    const mock = await start({ typeMismatch: 'request' });
    const file = join(tmp(), 'profiles.ndjson');
    writeFileSync(file, ndjson(profiles()));
    const run = await push(mock, file, 'b');
    keep(run, 'b');
    expect(run.code, run.stderr).toBe(3);
    expect(JSON.parse(run.stdout)).toMatchObject({ total: 32, invalid: 1, delivered: GOOD - 2, rejected: 3, failed: 0, deadLettered: 4 });
    const mismatch = /^batch b-\S+: HTTP 400: Project 10216: The request does not have the same data types as the data previously submitted\. Field 'plan' already exists for type 'user' and has a data type of 'string' but possible types 'long' in the request\. \(RequestFieldsTypesMismatched\)$/;
    const letters = readLines(join(tmp(), 'b-dl.ndjson')).sort((a, b) => Number(a.line) - Number(b.line));
    expect(letters.map((letter) => [letter.line, letter.class, letter.reason])).toEqual([
      [8, 'client', expect.stringMatching(mismatch)],
      [25, 'client', expect.stringMatching(mismatch)],
      [31, 'client', 'email: must be a valid email address'],
      [32, 'client', forgotten],
    ]);
    const stats = (await get<Stats>(mock, '/__mock/stats')).body;
    // Both halves of the first split hold a mistyped profile and say the same words: split on regardless.
    expect(stats.typeMismatches).toBeGreaterThan(2);
    expect(stats).toMatchObject({ users: GOOD - 2, rateLimited: 0, overLimit: { users: 0, bytes: 0 } });
    expect(stats.maxRequestsPerSecondPerKey).toBeLessThanOrEqual(5);
    expect((await get<{ dataFields: Record<string, unknown> }>(mock, '/__mock/users?email=user8@example.com')).body.dataFields).toEqual({ firstName: 'Ann', lastName: 'Lee', plan: 'pro' });

    // The key never shows, in any run of this file: stdout, stderr, dead letters, reports.
    const everything = shown.join('\n');
    expect(everything.length).toBeGreaterThan(1000);
    for (const secret of [KEY, 'SECRET', KEY.slice(0, 32)]) expect(everything).not.toContain(secret);
  }, 60_000);
});
