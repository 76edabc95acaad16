import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { seededRandom } from '../../src/engine/random.js';
import { createBrazeMock } from '../../src/mock/braze-server.js';
import { runCli } from '../helpers/cli.js';
import { serveMock } from '../helpers/mocks.js';
import { useTempDir } from '../helpers/tmp.js';

/**
 * --to braze, spawned against `sync mock braze` (spawned too) under injected 5xx and resets: good,
 * invalid and refused profiles, Braze's limits, the state across reruns, a refused key, and the
 * key never shown. Four push runs in all.
 */

const KEY = 'braze-rest-key-e2e-SECRET';
const INVALID_EMAIL = "The value provided for the 'email' field is not a valid email.";
const GOOD = 149;
/** Where, among the good ones, one refused profile sits: inside a batch Braze answers 201 "success" with errors[]. */
const AMID = 10;

const profile = (i: number, extra: Record<string, unknown> = {}) => ({ email: `user${i}@example.com`, firstName: 'ann', lastName: 'lee', metadata: { tags: ['vip'], plan: `p${i}` }, ...extra });
const ndjson = (values: unknown[]) => values.map((value) => JSON.stringify(value)).join('\n') + '\n';
const jsonLines = (text: string) => text.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);
const readLines = (path: string) => (existsSync(path) ? jsonLines(readFileSync(path, 'utf8')) : []);

interface Stats {
  requests: number;
  badRequests: number;
  accepted: number;
  rejected: number;
  failures: number;
  users: number;
  rateLimited: number;
  overObjectLimit: number;
  maxObjectsPerRequest: number;
  maxRequestsPerSecond: number;
  maxConcurrent: number;
}

describe('push --to braze (spawned, against sync mock braze)', () => {
  const tmp = useTempDir();
  // `sync mock braze …` in this process: nothing here stops, restarts or reads the simulator's process.
  let mock: { url: string } | undefined;
  const get = async <T,>(path: string): Promise<T> => (await fetch(`${mock!.url}${path}`)).json() as Promise<T>;

  it('good profiles held with their mapped fields, invalid and refused ones dead-lettered with their reasons, within Braze\'s limits, under failures; reruns send only what changed; a refused key stops the run; the key never shows', async () => {
    mock = await serveMock(createBrazeMock({ key: KEY, failRate: 0.3, random: seededRandom(7) }), onTestFinished);
    const file = join(tmp(), 'profiles.ndjson');
    const deadLetter = join(tmp(), 'dl.ndjson');
    const report = join(tmp(), 'report.ndjson');
    // One refused profile amid the good ones: Braze answers its batch 201 "success" and names it in
    // errors[] (the trap: it must not count as delivered). Three more come last: after two full
    // batches of 75 valid profiles, they make a batch of their own, which Braze refuses whole (400,
    // naming each object).
    const good = Array.from({ length: GOOD }, (_, i) => profile(i));
    const records: Record<string, unknown>[] = [
      ...good.slice(0, AMID),
      { email: 'amid@suppressed.example', firstName: 'Sup', lastName: 'Pressed' },
      ...good.slice(AMID),
      { email: 'not-an-email', firstName: 'x', lastName: 'y' },
      { email: 'nolast@example.com', firstName: 'x' },
      ...[1, 2, 3].map((i) => ({ email: `gone${i}@suppressed.example`, firstName: 'Sup', lastName: 'Pressed' })),
    ];
    writeFileSync(file, ndjson(records));
    const env = { SYNC_DOWNSTREAM_TOKEN: KEY, SYNC_STATE_DIR: join(tmp(), 'state') };
    const push = (...extra: string[]) =>
      runCli(['push', file, '--to', 'braze', '--downstream-url', mock!.url, '--map', 'metadata.plan=plan', '--dead-letter', deadLetter, '--json', '--max-retries', '10', ...extra], {
        env,
        timeoutMs: 60_000,
      });

    const first = await push('--report', report, '--verbose');
    expect(first.code, first.stderr).toBe(3);
    expect(JSON.parse(first.stdout)).toMatchObject({ total: GOOD + 6, valid: GOOD + 4, invalid: 2, delivered: GOOD, rejected: 4, failed: 0, deadLettered: 6 });
    // What Braze holds: every good profile, as sent (names capitalised by push, tags, the mapped plan).
    expect(await get('/__mock/users?email=user0@example.com')).toEqual({ email: 'user0@example.com', first_name: 'Ann', last_name: 'Lee', tags: ['vip'], plan: 'p0' });
    expect(await get('/__mock/users?email=user148@example.com')).toMatchObject({ plan: 'p148' });
    const stats = await get<Stats>('/__mock/stats');
    expect(stats.users).toBe(GOOD);
    expect(stats.failures).toBeGreaterThan(0);
    // Nothing over Braze's limits, and nothing over the client's own pace.
    expect(stats).toMatchObject({ overObjectLimit: 0, rateLimited: 0 });
    // The last batch, only refused objects, was answered 400 (naming each) and still dead-lettered per profile.
    expect(stats.badRequests).toBeGreaterThanOrEqual(1);
    expect(stats.rejected).toBeGreaterThanOrEqual(4);
    expect(stats.maxObjectsPerRequest).toBeLessThanOrEqual(75);
    expect(stats.maxRequestsPerSecond).toBeLessThanOrEqual(10);
    expect(stats.maxConcurrent).toBeLessThanOrEqual(10);
    expect(await get('/__mock/users?email=amid@suppressed.example')).toEqual({ error: 'no such user' });
    const letters = readLines(deadLetter).map((letter) => [letter.line, letter.class, letter.reason] as [number, string, string]);
    expect(letters.sort((a, b) => a[0] - b[0])).toEqual([
      [AMID + 1, 'client', INVALID_EMAIL],
      [GOOD + 2, 'client', 'email: must be a valid email address'],
      [GOOD + 3, 'client', 'lastName: is required'],
      [GOOD + 4, 'client', INVALID_EMAIL],
      [GOOD + 5, 'client', INVALID_EMAIL],
      [GOOD + 6, 'client', INVALID_EMAIL],
    ]);

    // The same file again: no good profile is sent (the state); the refused ones are tried again.
    const before = await get<Stats>('/__mock/stats');
    const rerun = await push();
    expect(rerun.code, rerun.stderr).toBe(3);
    expect(JSON.parse(rerun.stdout)).toMatchObject({ unchanged: GOOD, delivered: 0, rejected: 4 });
    const after = await get<Stats>('/__mock/stats');
    expect(after.accepted).toBe(before.accepted);

    // One profile changed: exactly that one is sent, and Braze holds its new value.
    records[AMID + 1 + 42] = profile(42, { lastName: 'changed' });
    writeFileSync(file, ndjson(records));
    const changed = await push();
    expect(JSON.parse(changed.stdout)).toMatchObject({ unchanged: GOOD - 1, delivered: 1 });
    expect((await get<Stats>('/__mock/stats')).accepted).toBe(after.accepted + 1);
    expect(await get('/__mock/users?email=user42@example.com')).toMatchObject({ last_name: 'Changed' });

    // A key Braze refuses: the run stops on the first answer, naming the variable, never the key.
    const refused = await runCli(['push', file, '--to', 'braze', '--downstream-url', mock.url, '--full', '--dead-letter', join(tmp(), 'refused.ndjson'), '--json'], {
      env: { SYNC_DOWNSTREAM_TOKEN: 'braze-wrong-key-SECRET', SYNC_STATE_DIR: join(tmp(), 'state') },
      timeoutMs: 30_000,
    });
    expect(refused.code, refused.stderr).toBe(1);
    const errors = jsonLines(refused.stderr).filter((line) => line.level === 'error');
    expect(errors.map((line) => line.msg)).toContainEqual(expect.stringMatching(/HTTP 401: Invalid API Key: Braze refused the token; check SYNC_DOWNSTREAM_TOKEN/));

    const written = [deadLetter, report, join(tmp(), 'refused.ndjson')].map((path) => (existsSync(path) ? readFileSync(path, 'utf8') : ''));
    const everything = [...[first, rerun, changed, refused].flatMap((run) => [run.stdout, run.stderr]), ...written].join('\n');
    expect(everything.length).toBeGreaterThan(10_000);
    for (const secret of [KEY, 'braze-wrong-key-SECRET', 'SECRET']) expect(everything).not.toContain(secret);
  }, 120_000);
});
