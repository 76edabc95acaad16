import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { describe, expect, it, vi, type TestContext } from 'vitest';
import { seededRandom } from '../../src/engine/random.js';
import { createHubspotMock, type HubspotMockOptions } from '../../src/mock/hubspot-server.js';
import { parsePropertySpec } from '../../src/mock/hubspot-properties.js';
import { createMailchimpMock, type MailchimpMockOptions } from '../../src/mock/mailchimp-server.js';
import { mergeFields } from '../../src/mock/mailchimp-options.js';
import { runCli } from '../helpers/cli.js';
import { serveMock, spawnMock } from '../helpers/mocks.js';
import { testDir } from '../helpers/tmp.js';

/**
 * --to hubspot and --to mailchimp, spawned against `sync mock hubspot|mailchimp`: good, invalid
 * and refused profiles, the platforms' limits under injected failures and latency, preflight
 * refusals, reruns, kill -9, and credentials that never show.
 */

const HUBSPOT_TOKEN = 'pat-na1-7f3c0e-SECRET-hubspot';
const MAILCHIMP_KEY = '0123456789abcdef0123456789abcdef-us21';
const LIST = 'a1b2c3d4e5';

const profile = (i: number, extra: Record<string, unknown> = {}) => ({ email: `user${i}@example.com`, firstName: 'ann', lastName: 'lee', ...extra });
const ndjson = (values: unknown[]) => values.map((value) => (typeof value === 'string' ? value : JSON.stringify(value))).join('\n') + '\n';
const jsonLines = (text: string) => text.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);
const readLines = (path: string) => (existsSync(path) ? jsonLines(readFileSync(path, 'utf8')) : []);

interface Mock {
  url: string;
}

// Each test has its own simulators (the ones `sync mock hubspot|mailchimp` serves, in the test's
// process) and folders: two run at once, each mostly waiting on its platform's limits and latency.
vi.setConfig({ maxConcurrency: 2 });
// A test whose runs wait on a platform's limits, latency and retries for several seconds, or that
// spawns several runs one after the other, next to another test on a busy machine: over the 20 s default.
const LONG_RUN = 60_000;

const hubspot = (context: TestContext, options: Partial<HubspotMockOptions> = {}) => serveMock(createHubspotMock({ random: Math.random, ...options }), context.onTestFinished);
const mailchimp = (context: TestContext, options: Partial<MailchimpMockOptions> = {}) => serveMock(createMailchimpMock({ random: Math.random, ...options }), context.onTestFinished);

describe.concurrent('push to real platforms (spawned, against their simulators)', () => {
  const get = async <T,>(server: Mock, path: string): Promise<T> => (await fetch(`${server.url}${path}`)).json() as Promise<T>;

  const argsIn = (tmp: () => string) => ({
    hubspotArgs: (mock: Mock, file: string, ...extra: string[]) => ['push', file, '--to', 'hubspot', '--downstream-url', mock.url, '--dead-letter', join(tmp(), 'dl.ndjson'), '--json', ...extra],
    mailchimpArgs: (mock: Mock, file: string, ...extra: string[]) => ['push', file, '--to', 'mailchimp', '--list', LIST, '--downstream-url', mock.url, '--dead-letter', join(tmp(), 'dl.ndjson'), '--json', ...extra],
  });

  it('hubspot: good profiles upserted with the mapped field, invalid and refused ones dead-lettered with their reasons (class client), replayable', async (context) => {
    const tmp = testDir(context.onTestFinished);
    const { hubspotArgs } = argsIn(tmp);
    const mock = await hubspot(context, { token: HUBSPOT_TOKEN, properties: [parsePropertySpec('tier')] });
    const file = join(tmp(), 'profiles.ndjson');
    writeFileSync(file, ndjson([profile(1, { metadata: { customer_tier: 'gold' } }), { email: 'not-an-email', firstName: 'x', lastName: 'y' }, profile(2), { email: 'blocked@suppressed.example', firstName: 'Bo', lastName: 'Cked' }]));
    const env = { SYNC_DOWNSTREAM_TOKEN: HUBSPOT_TOKEN, SYNC_STATE_DIR: join(tmp(), 'state') };
    const result = await runCli(hubspotArgs(mock, file, '--map', 'metadata.customer_tier=tier'), { env });
    expect(result.code, result.stderr).toBe(3);
    expect(JSON.parse(result.stdout)).toMatchObject({ total: 4, valid: 3, invalid: 1, delivered: 2, rejected: 1, deadLettered: 2 });
    const contact = await get<Record<string, string>>(mock, '/__mock/contacts?email=user1@example.com');
    expect(contact).toMatchObject({ email: 'user1@example.com', firstname: 'Ann', lastname: 'Lee', tier: 'gold' });
    const letters = readLines(join(tmp(), 'dl.ndjson'));
    expect(letters.map((letter) => [letter.line, letter.class, letter.reason])).toEqual([
      [2, 'client', 'email: must be a valid email address'],
      [4, 'client', expect.stringMatching(/^email: .*blocked.* \(BLOCKED_EMAIL\)$/)],
    ]);
    // Replaying the dead letters: the refused one is refused again and stays in the file.
    const replay = await runCli(hubspotArgs(mock, join(tmp(), 'dl.ndjson'), '--map', 'metadata.customer_tier=tier'), { env });
    expect(replay.code, replay.stderr).toBe(3);
    expect(readLines(join(tmp(), 'dl.ndjson')).map((letter) => letter.line)).toEqual([2, 4]);
  });

  it('hubspot under 20% failures and 1.5 s latency: every profile delivered, never more than 100 arrivals in any rolling 10 s or 10 in any second', async (context) => {
    const tmp = testDir(context.onTestFinished);
    const { hubspotArgs } = argsIn(tmp);
    // Spawned, not on this worker's event loop (shared with the file's other tests): it counts
    // arrivals per second against a run paced to its limit with 20 ms of margin (docs/development.md).
    const mock = await spawnMock(['hubspot', '--fail-rate', '0.2', '--latency', '1500', '--seed', '3'], context.onTestFinished);
    const file = join(tmp(), 'profiles.ndjson');
    writeFileSync(file, ndjson(Array.from({ length: 1500 }, (_, i) => profile(i))));
    const result = await runCli(hubspotArgs(mock, file, '--max-retries', '8'), { env: { SYNC_DOWNSTREAM_TOKEN: HUBSPOT_TOKEN }, timeoutMs: 60_000 });
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ delivered: 1500, failed: 0 });
    const stats = await get<{ contacts: number; maxRequestsPer10s: number; maxRequestsPerSecond: number; maxConcurrent: number; rateLimited: number; failures: number }>(mock, '/__mock/stats');
    expect(stats.contacts).toBe(1500);
    expect(stats.failures).toBeGreaterThan(0);
    expect(stats.maxRequestsPer10s).toBeLessThanOrEqual(100);
    expect(stats.maxRequestsPerSecond).toBeLessThanOrEqual(10);
    expect(stats.maxConcurrent).toBeLessThanOrEqual(10);
    expect(stats.rateLimited).toBe(0);
  }, LONG_RUN);

  it('mailchimp under 20% failures and 1.5 s latency: every member added, never more than 10 connections open', async (context) => {
    const tmp = testDir(context.onTestFinished);
    const { mailchimpArgs } = argsIn(tmp);
    const mock = await mailchimp(context, { failRate: 0.2, latencyMs: 1500, random: seededRandom(5) });
    const file = join(tmp(), 'profiles.ndjson');
    // 20 batches at 20 a second, each held 1.5 s: the client reaches the 10 connections many times over.
    writeFileSync(file, ndjson(Array.from({ length: 2000 }, (_, i) => profile(i))));
    const result = await runCli(mailchimpArgs(mock, file, '--batch-size', '100', '--rate', '20', '--max-retries', '8'), { env: { SYNC_DOWNSTREAM_TOKEN: MAILCHIMP_KEY }, timeoutMs: 60_000 });
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ delivered: 2000, failed: 0 });
    const stats = await get<{ created: number; maxConcurrent: number; tooManyConnections: number; failures: number }>(mock, '/__mock/stats');
    expect(stats.created).toBe(2000);
    expect(stats.failures).toBeGreaterThan(0);
    expect(stats.maxConcurrent).toBeLessThanOrEqual(10);
    expect(stats.tooManyConnections).toBe(0);
  }, LONG_RUN);

  it('mailchimp: a member refused inside the 200 is dead-lettered with Mailchimp\'s words; new members subscribed, tags sent, status never changed', async (context) => {
    const tmp = testDir(context.onTestFinished);
    const { mailchimpArgs } = argsIn(tmp);
    const mock = await mailchimp(context, { mergeFields: mergeFields('TIER') });
    const file = join(tmp(), 'profiles.ndjson');
    writeFileSync(file, ndjson([profile(1, { metadata: { tags: ['vip'], tier: 'gold' } }), { email: 'fake@suppressed.example', firstName: 'F', lastName: 'K' }]));
    const result = await runCli(mailchimpArgs(mock, file, '--map', 'metadata.tier=TIER'), { env: { SYNC_DOWNSTREAM_TOKEN: MAILCHIMP_KEY } });
    expect(result.code, result.stderr).toBe(3);
    const member = await get<{ status: string; merge_fields: Record<string, string>; tags: { name: string }[] }>(mock, `/__mock/members?list=${LIST}&email=user1@example.com`);
    expect(member).toMatchObject({ status: 'subscribed', merge_fields: { FNAME: 'Ann', LNAME: 'Lee', TIER: 'gold' } });
    expect(member.tags.map((tag) => tag.name)).toEqual(['vip']);
    expect(readLines(join(tmp(), 'dl.ndjson'))).toEqual([
      expect.objectContaining({ line: 2, class: 'client', reason: 'fake@suppressed.example looks fake or invalid, please enter a real email address.' }),
    ]);
  });

  it.for([
    ['hubspot: a refused token', 'hubspot', { token: HUBSPOT_TOKEN }, [], { SYNC_DOWNSTREAM_TOKEN: 'pat-na1-wrong-SECRET' }, /^HubSpot refused SYNC_DOWNSTREAM_TOKEN \(HTTP 401/],
    ['hubspot: a --map to a property it does not have', 'hubspot', {}, ['--map', 'metadata.tier=tier'], { SYNC_DOWNSTREAM_TOKEN: HUBSPOT_TOKEN }, /^--map metadata\.tier=tier: HubSpot has no contact property "tier"/],
    ['mailchimp: an unknown audience', 'mailchimp', {}, ['--list', 'nope'], { SYNC_DOWNSTREAM_TOKEN: MAILCHIMP_KEY }, /^--list nope: Mailchimp has no audience with this id/],
    ['mailchimp: a --map to a merge field it does not have', 'mailchimp', {}, ['--list', LIST, '--map', 'metadata.tier=TIER'], { SYNC_DOWNSTREAM_TOKEN: MAILCHIMP_KEY }, /^--map metadata\.tier=TIER: the audience a1b2c3d4e5 has no merge field TIER/],
    ['mailchimp: a refused key', 'mailchimp', { key: MAILCHIMP_KEY }, ['--list', LIST], { SYNC_DOWNSTREAM_TOKEN: 'ffffffffffffffffffffffffffffffff-us21' }, /^Mailchimp refused SYNC_DOWNSTREAM_TOKEN \(HTTP 401/],
  ] as const)('preflight, %s: exit 2 with one line, nothing read or sent', async ([, to, mockOptions, pushArgs, env, message], context) => {
    const tmp = testDir(context.onTestFinished);
    const mock = await (to === 'hubspot' ? hubspot(context, mockOptions) : mailchimp(context, mockOptions));
    const file = join(tmp(), 'profiles.ndjson');
    writeFileSync(file, ndjson([profile(1)]));
    const result = await runCli(['push', file, '--to', to, '--downstream-url', mock.url, '--dead-letter', join(tmp(), 'dl.ndjson'), ...pushArgs], { env });
    expect(result.code, result.stderr).toBe(2);
    const errors = jsonLines(result.stderr).filter((line) => line.level === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]!.msg).toMatch(message);
    const stats = await get<{ accepted?: number; created?: number }>(mock, '/__mock/stats');
    expect(stats.accepted ?? stats.created).toBe(0);
    expect(existsSync(join(tmp(), 'dl.ndjson'))).toBe(false);
  });

  it.for(['hubspot', 'mailchimp'])('preflight, %s down (503 after every retry): exit 1, and --json still prints the one summary', async (to, context) => {
    const tmp = testDir(context.onTestFinished);
    let reads = 0;
    const down = createServer((_req, res) => {
      reads += 1;
      res.writeHead(503, { 'content-type': 'text/html' }).end('<html>503 Service Temporarily Unavailable</html>');
    });
    await new Promise<void>((resolve) => down.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(down.address() as { port: number }).port}`;
    try {
      const file = join(tmp(), 'profiles.ndjson');
      writeFileSync(file, ndjson([profile(1)]));
      const args = to === 'hubspot' ? ['--to', 'hubspot'] : ['--to', 'mailchimp', '--list', LIST];
      const result = await runCli(['push', file, ...args, '--downstream-url', url, '--max-retries', '1', '--dead-letter', join(tmp(), 'dl.ndjson'), '--json'], {
        env: { SYNC_DOWNSTREAM_TOKEN: to === 'hubspot' ? HUBSPOT_TOKEN : MAILCHIMP_KEY },
      });
      expect(result.code, result.stderr).toBe(1);
      expect(reads).toBe(2);
      expect(JSON.parse(result.stdout)).toMatchObject({ total: 0, delivered: 0, failed: 0, requests: 2, retries: 1, deadLettered: 0 });
      const errors = jsonLines(result.stderr).filter((line) => line.level === 'error');
      expect(errors.map((line) => line.msg)).toEqual([expect.stringMatching(/^GET \/\S+: HTTP 503 \(gave up after 1 retry\)$/)]);
    } finally {
      await new Promise((resolve) => down.close(resolve));
    }
  });

  it('a rerun sends only what changed; a HubSpot push does not make a Mailchimp push skip anything (state per destination)', async (context) => {
    const tmp = testDir(context.onTestFinished);
    const { hubspotArgs, mailchimpArgs } = argsIn(tmp);
    const [hubspotMock, mailchimpMock] = await Promise.all([hubspot(context), mailchimp(context)]);
    const file = join(tmp(), 'profiles.ndjson');
    const state = { SYNC_STATE_DIR: join(tmp(), 'state') };
    writeFileSync(file, ndjson([profile(1), profile(2), profile(3)]));
    const hub = (...extra: string[]) => runCli(hubspotArgs(hubspotMock, file, ...extra), { env: { ...state, SYNC_DOWNSTREAM_TOKEN: HUBSPOT_TOKEN } });
    const chimp = () => runCli(mailchimpArgs(mailchimpMock, file), { env: { ...state, SYNC_DOWNSTREAM_TOKEN: MAILCHIMP_KEY } });
    const summary = async (run: Promise<{ stdout: string }>) => JSON.parse((await run).stdout) as unknown;
    // Mailchimp's first push comes after HubSpot's: what HubSpot accepted must not make it skip.
    expect(await summary(hub())).toMatchObject({ delivered: 3, unchanged: 0 });
    expect(await summary(chimp())).toMatchObject({ delivered: 3, unchanged: 0 });
    // Another HubSpot account (another token) behind the same URL has accepted nothing yet.
    const otherAccount = await runCli(hubspotArgs(hubspotMock, file), { env: { ...state, SYNC_DOWNSTREAM_TOKEN: `${HUBSPOT_TOKEN}-other-account` } });
    expect(JSON.parse(otherAccount.stdout)).toMatchObject({ delivered: 3, unchanged: 0 });
    // Said, as for a new state: a rotated token or a mistyped account must not resend everything silently.
    expect(otherAccount.stderr).toMatch(/"level":"warn".*"remembered":0.*nothing remembered for hubspot \S+ token:[0-9a-f]{16} \(a platform, account or token new to it/);
    writeFileSync(file, ndjson([profile(1), profile(2, { lastName: 'changed' }), profile(3)]));
    // Each platform's rerun reads only its own part of the state: the two go at once.
    const [hubRerun, chimpRerun] = await Promise.all([summary(hub()), summary(chimp())]);
    expect(hubRerun).toMatchObject({ delivered: 1, unchanged: 2 });
    expect(chimpRerun).toMatchObject({ delivered: 1, unchanged: 2 });
    // Another field map sends other fields: everything is sent again.
    expect(await summary(hub('--map', 'metadata.x=company'))).toMatchObject({ delivered: 3, unchanged: 0 });
    // sync state names the platform as push does (HubSpot's account by the token); forgetting on
    // HubSpot leaves Mailchimp as it was.
    const hubEnv = { ...state, SYNC_DOWNSTREAM_TOKEN: HUBSPOT_TOKEN };
    const show = (args: string[], env: Record<string, string> = state) =>
      runCli(['state', 'show', 'user1@example.com', ...args], { env }).then((run) => JSON.parse(run.stdout) as { remembered: boolean });
    expect(await show(['--to', 'hubspot', '--downstream-url', hubspotMock.url], hubEnv)).toMatchObject({ remembered: true });
    await runCli(['state', 'forget', '--all', '--to', 'hubspot', '--downstream-url', hubspotMock.url], { env: hubEnv });
    const [hubAfter, chimpAfter, otherList] = await Promise.all([
      show(['--to', 'hubspot', '--downstream-url', hubspotMock.url], hubEnv),
      show(['--to', 'mailchimp', '--list', LIST, '--downstream-url', mailchimpMock.url]),
      show(['--to', 'mailchimp', '--list', 'other', '--downstream-url', mailchimpMock.url]),
    ]);
    expect(hubAfter).toMatchObject({ remembered: false });
    expect(chimpAfter).toMatchObject({ remembered: true });
    expect(otherList).toMatchObject({ remembered: false });
    // Twelve CLI runs, eight one after the other: up to 20 s on a busy 2-core machine, where 20 s is the default limit.
  }, LONG_RUN);

  it('hubspot: kill -9 in the middle, then the same command: every profile delivered', async (context) => {
    const tmp = testDir(context.onTestFinished);
    const { hubspotArgs } = argsIn(tmp);
    const mock = await hubspot(context, { latencyMs: 200 });
    const file = join(tmp(), 'profiles.ndjson');
    writeFileSync(file, ndjson(Array.from({ length: 2000 }, (_, i) => profile(i))));
    const env = { SYNC_DOWNSTREAM_TOKEN: HUBSPOT_TOKEN, SYNC_STATE_DIR: join(tmp(), 'state') };
    const killMidRun = (child: ChildProcess) => {
      const poll = setInterval(() => {
        void get<{ contacts: number }>(mock, '/__mock/stats').then((stats) => {
          if (stats.contacts < 1000) return;
          clearInterval(poll);
          child.kill('SIGKILL');
        });
      }, 25);
      child.on('close', () => clearInterval(poll));
    };
    // Two requests in flight at most (HubSpot's default is 10): at 10/s and 200 ms that is the pace
    // anyway, and the bound below then holds however slowly a busy machine's mock answers (with 10,
    // a busy run once had seven batches in flight at the kill).
    const args = hubspotArgs(mock, file, '--concurrency', '2');
    const killed = await runCli(args, { env, onSpawn: killMidRun, timeoutMs: 60_000 });
    expect(killed.code).toBeNull();
    const before = await get<{ contacts: number }>(mock, '/__mock/stats');
    const rerun = await runCli(args, { env, timeoutMs: 60_000 });
    expect(rerun.code, rerun.stderr).toBe(0);
    const summary = JSON.parse(rerun.stdout) as { unchanged: number; delivered: number };
    const after = await get<{ contacts: number; accepted: number }>(mock, '/__mock/stats');
    const why = `the platform held ${before.contacts} contacts after the kill`;
    expect(summary.unchanged + summary.delivered).toBe(2000);
    expect(after.contacts).toBe(2000);
    // What may go twice is what the platform took but the state had not recorded: two batches of 100
    // in flight, one answered but not yet committed, and slack for a slow machine. A run that
    // recorded nothing before the kill would resend 1,000 or more.
    expect(after.accepted - 2000, why).toBeLessThanOrEqual(500);
    expect(summary.unchanged, why).toBeGreaterThanOrEqual(before.contacts - 500);
  }, LONG_RUN);

  it('credentials never show: not in stdout, stderr (even --verbose), dead letters, reports or the metrics file', async (context) => {
    const tmp = testDir(context.onTestFinished);
    const { hubspotArgs, mailchimpArgs } = argsIn(tmp);
    const [hubspotMock, mailchimpMock] = await Promise.all([
      hubspot(context, { token: HUBSPOT_TOKEN, failRate: 0.3, random: seededRandom(1) }),
      mailchimp(context, { failRate: 0.3, random: seededRandom(1) }),
    ]);
    const file = join(tmp(), 'profiles.ndjson');
    writeFileSync(file, ndjson([profile(1), { email: 'x@suppressed.example', firstName: 'X', lastName: 'Y' }, '{"broken":']));
    const files = (name: string) => ['--report', join(tmp(), `${name}-report.ndjson`), '--metrics-file', join(tmp(), `${name}.prom`), '--verbose', '--max-retries', '0'];
    // Three runs that share nothing but the dead-letter file (appended to by whole lines): at once.
    const runs = await Promise.all([
      runCli(hubspotArgs(hubspotMock, file, ...files('h')), { env: { SYNC_DOWNSTREAM_TOKEN: HUBSPOT_TOKEN } }),
      runCli(mailchimpArgs(mailchimpMock, file, ...files('m')), { env: { SYNC_DOWNSTREAM_TOKEN: MAILCHIMP_KEY } }),
      runCli(hubspotArgs(hubspotMock, file), { env: { SYNC_DOWNSTREAM_TOKEN: 'pat-na1-wrong-SECRET' } }),
    ]);
    const written = ['dl.ndjson', 'h-report.ndjson', 'm-report.ndjson', 'h.prom', 'm.prom'].map((name) => (existsSync(join(tmp(), name)) ? readFileSync(join(tmp(), name), 'utf8') : ''));
    const everything = [...runs.flatMap((run) => [run.stdout, run.stderr]), ...written].join('\n');
    expect(everything.length).toBeGreaterThan(1000);
    for (const secret of [HUBSPOT_TOKEN, 'SECRET', MAILCHIMP_KEY, MAILCHIMP_KEY.slice(0, 32), Buffer.from(`sync:${MAILCHIMP_KEY}`).toString('base64')]) {
      expect(everything).not.toContain(secret);
    }
  });
});
