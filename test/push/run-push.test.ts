import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import nock from 'nock';
import { describe, expect, it, vi } from 'vitest';
import { ExitCode, UsageError } from '../../src/errors.js';
import { runPush, type PushOptions } from '../../src/push/run-push.js';
import { MemoryStateStore } from '../../src/state/state-store.js';
import { LmdbStateStore } from '../../src/state/lmdb-state-store.js';
import { loadHasher } from '../../src/state/digest.js';
import { encoderFor } from '../../src/delivery/encoder.js';
import { encoded, targetOf } from '../helpers/targets.js';
import { validateProfile } from '../../src/profiles/schemas.js';
import { memoryLogger } from '../helpers/logger.js';
import { useTempDir } from '../helpers/tmp.js';
import { VirtualClock } from '../helpers/virtual-clock.js';
import { RateLimiter } from '../../src/engine/rate-limiter.js';

const DOWNSTREAM = 'http://platform.test';

interface WireBatch {
  batchId: string;
  profiles: { email: string; firstName: string; lastName: string }[];
}

/** A platform that accepts everything except @suppressed.example, remembering every call. */
function platform({ fail = () => 0 }: { fail?: (call: number) => number } = {}) {
  const calls: { key: string | undefined; batch: WireBatch }[] = [];
  const scope = nock(DOWNSTREAM)
    .post('/profiles/batch')
    .times(1000)
    .reply(function (_uri, body) {
      const batch = body as WireBatch;
      calls.push({ key: this.req.headers['idempotency-key'] as string | undefined, batch });
      const status = fail(calls.length);
      if (status) return [status, { error: 'down' }];
      return [
        200,
        {
          batchId: batch.batchId,
          results: batch.profiles.map((p) =>
            p.email.endsWith('@suppressed.example') ? { email: p.email, status: 'rejected', error: 'address is on the suppression list' } : { email: p.email, status: 'accepted' },
          ),
        },
      ];
    });
  return { calls, scope };
}

const lines = (...records: unknown[]): string => records.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n') + '\n';
const readNdjson = (path: string): Record<string, unknown>[] =>
  readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));

const ann = { email: 'ann@example.com', firstName: 'ann', lastName: 'lee' };
const bob = { email: 'BOB@example.com ', firstName: 'Bob', lastName: 'Stone' };
const sup = { email: 'x@suppressed.example', firstName: 'Sup', lastName: 'Pressed' };

describe('runPush', () => {
  const tmp = useTempDir();

  async function run(
    input: string,
    overrides: Partial<PushOptions> = {},
    extra: { verbose?: boolean; stdout?: PassThrough; signal?: AbortSignal; clock?: VirtualClock; runId?: string } = {},
  ) {
    const file = overrides.file ?? join(tmp(), 'profiles.ndjson');
    if (!overrides.file) writeFileSync(file, input);
    const log = await memoryLogger();
    let ids = 0;
    const outcome = await runPush(
      {
        file,
        downstreamUrl: DOWNSTREAM,
        rate: 5,
        batchSize: 500,
        maxRetries: 3,
        deadLetter: join(tmp(), 'dead-letter.ndjson'),
        dryRun: false,
        stateDir: join(tmp(), 'state'),
        full: false,
        ...overrides,
      },
      { logger: log.logger, runId: 'run-1', clock: new VirtualClock(0), jitter: () => 1, newBatchId: () => `b-${++ids}`, ...extra },
    );
    return { ...outcome, log, deadLetter: join(tmp(), 'dead-letter.ndjson') };
  }

  it('opens a state already there while the platform is asked its preflight; a run refused there closes it, and creates none where there was none', async () => {
    const open = vi.spyOn(LmdbStateStore, 'open');
    const close = vi.spyOn(LmdbStateStore.prototype, 'close');
    try {
      // HubSpot answers the preflight's read of its properties with 401: the run is refused.
      const refusing = () => nock(DOWNSTREAM).get('/crm/v3/properties/contacts').reply(401, { message: 'bad token' });
      const hubspot = { to: 'hubspot', token: 'pat-na1-x', batchSize: 100 };
      refusing();
      await expect(run(lines(ann), hubspot)).rejects.toThrow(/HubSpot refused SYNC_DOWNSTREAM_TOKEN/);
      expect([open.mock.calls.length, existsSync(join(tmp(), 'state'))]).toEqual([0, false]);

      platform();
      expect((await run(lines(ann))).summary).toMatchObject({ delivered: 1 });
      expect(open).toHaveBeenCalledTimes(1);
      await vi.waitFor(() => expect(close).toHaveBeenCalledTimes(1));
      refusing();
      await expect(run(lines(ann), hubspot)).rejects.toThrow(/HubSpot refused SYNC_DOWNSTREAM_TOKEN/);
      // Opened ahead (HubSpot's entries of this state: none), then closed once the run stopped.
      expect(open).toHaveBeenCalledTimes(2);
      const hubspotTarget = targetOf('hubspot', DOWNSTREAM, { credential: hubspot.token });
      expect(open.mock.calls[1]!.slice(0, 2)).toEqual([join(tmp(), 'state'), hubspotTarget.destination.identity(hubspotTarget)]);
      await vi.waitFor(() => expect(close).toHaveBeenCalledTimes(2));
    } finally {
      open.mockRestore();
      close.mockRestore();
    }
  });

  it('creates a new state before the HTTP client loads when only the input could still refuse the run; a missing input creates none', async () => {
    const open = vi.spyOn(LmdbStateStore, 'open');
    // The delivery stack reads `breaker` from push's dependencies as it is created, after the HTTP client has loaded.
    const deliveryCreated = vi.fn();
    const pushWith = async (file: string) => {
      const log = await memoryLogger();
      const deps = {
        logger: log.logger,
        runId: 'run-1',
        clock: new VirtualClock(0),
        jitter: () => 1,
        get breaker() {
          deliveryCreated();
          return undefined;
        },
      };
      const options = { file, downstreamUrl: DOWNSTREAM, rate: 5, batchSize: 500, maxRetries: 0, deadLetter: join(tmp(), 'dl.ndjson'), dryRun: false, stateDir: join(tmp(), 'state'), full: false };
      return runPush(options, deps);
    };
    try {
      await expect(pushWith(join(tmp(), 'missing.ndjson'))).rejects.toThrow(/missing.ndjson: no such file/);
      expect([open.mock.calls.length, existsSync(join(tmp(), 'state'))]).toEqual([0, false]);

      platform();
      writeFileSync(join(tmp(), 'profiles.ndjson'), lines(ann));
      expect((await pushWith(join(tmp(), 'profiles.ndjson'))).summary).toMatchObject({ delivered: 1 });
      expect(open).toHaveBeenCalledTimes(1);
      expect(deliveryCreated).toHaveBeenCalledTimes(1);
      // The keeper creates the state's files while this process loads the HTTP client.
      expect(open.mock.invocationCallOrder[0]!).toBeLessThan(deliveryCreated.mock.invocationCallOrder[0]!);
    } finally {
      open.mockRestore();
    }
  });

  it('delivers valid profiles, dead-letters the rest with line, class and reason, and the counts add up', async () => {
    const { calls } = platform();
    const input = lines(ann, { email: 'bad', firstName: 'X', lastName: 'Y' }, bob, '{"broken":', sup, { ...ann, firstName: 'Annie' });
    const { summary, exitCode, deadLetter } = await run(input, { report: join(tmp(), 'report.ndjson') });

    expect(exitCode).toBe(ExitCode.partial);
    expect(summary).toMatchObject({ total: 6, valid: 4, invalid: 2, duplicates: 1, delivered: 2, rejected: 1, failed: 0, deadLettered: 3, batches: 1, requests: 1 });
    expect(summary.invalid + summary.duplicates + summary.delivered + summary.rejected + summary.failed).toBe(summary.total);

    // Normalized on the wire; the two Ann records merged, the later one wins.
    expect(calls[0]!.batch.profiles).toEqual([
      { email: 'ann@example.com', firstName: 'Annie', lastName: 'Lee', metadata: {} },
      { email: 'bob@example.com', firstName: 'Bob', lastName: 'Stone', metadata: {} },
      { email: 'x@suppressed.example', firstName: 'Sup', lastName: 'Pressed', metadata: {} },
    ]);

    const stamp = { runId: 'run-1', at: '1970-01-01T00:00:00.000Z' };
    expect(readNdjson(deadLetter)).toEqual([
      { line: 2, ...stamp, class: 'client', reason: 'email: must be a valid email address', record: { email: 'bad', firstName: 'X', lastName: 'Y' } },
      { line: 4, ...stamp, class: 'client', reason: expect.stringMatching(/^not valid JSON/), record: '{"broken":' },
      { line: 5, ...stamp, class: 'client', reason: 'address is on the suppression list', record: sup },
    ]);
    const report = readNdjson(join(tmp(), 'report.ndjson'));
    expect(report).toHaveLength(6);
    for (const line of report) expect(line).toMatchObject(stamp);
    expect(Object.keys(report.find((r) => r.status === 'rejected')!)).toEqual(['line', 'runId', 'at', 'email', 'status', 'batchId', 'class', 'reason']);
    expect(report.map((r) => [r.line, r.status]).sort((a, b) => (a[0] as number) - (b[0] as number))).toEqual([
      [1, 'duplicate'],
      [2, 'invalid'],
      [3, 'delivered'],
      [4, 'invalid'],
      [5, 'rejected'],
      [6, 'delivered'],
    ]);
  });

  it('retries an ambiguous 500 with the same Idempotency-Key', async () => {
    const { calls } = platform({ fail: (call) => (call === 1 ? 500 : 0) });
    const { summary, exitCode } = await run(lines(ann, bob));
    expect(exitCode).toBe(ExitCode.ok);
    expect(summary).toMatchObject({ delivered: 2, requests: 2, retries: 1 });
    expect(calls.map((c) => c.key)).toEqual(['b-1', 'b-1']);
    expect(calls[1]!.batch.batchId).toBe('b-1');
  });

  it('exits 1 with every profile dead-lettered as a server failure when the downstream stays down', async () => {
    platform({ fail: () => 503 });
    const { summary, exitCode, error, deadLetter, log } = await run(lines(ann, bob));
    expect(exitCode).toBe(ExitCode.failed);
    expect(error?.message).toMatch(/2 profiles could not be delivered/);
    expect(summary).toMatchObject({ failed: 2, delivered: 0, requests: 4, retries: 3, deadLettered: 2 });
    expect(readNdjson(deadLetter).map((d) => [d.class, d.reason])).toEqual([
      ['server', 'batch b-1: HTTP 503 (gave up after 3 retries)'],
      ['server', 'batch b-1: HTTP 503 (gave up after 3 retries)'],
    ]);
    const retries = log.lines().filter((l) => l.retryAt);
    expect(retries.map((l) => [l.stage, l.batchId, l.attempt, l.status, l.delayMs])).toEqual([
      ['send', 'b-1', 1, 503, 1000],
      ['send', 'b-1', 2, 503, 2000],
      ['send', 'b-1', 3, 503, 4000],
    ]);
  });

  describe('a downstream down for 5 minutes, then back', () => {
    const profiles = Array.from({ length: 20 }, (_, i) => ({ email: `p${i}@example.com`, firstName: 'P', lastName: `N${i}` }));
    const OUTAGE_MS = 300_000;

    function outage(clock: VirtualClock) {
      const sentAt: number[] = [];
      const { calls } = platform({
        fail: () => {
          sentAt.push(clock.now());
          return clock.now() < OUTAGE_MS ? 503 : 0;
        },
      });
      return { calls, sentAt };
    }

    it('with --retry-for 10m every profile is delivered (exit 0), the breaker probing meanwhile instead of failing the queue', async () => {
      const clock = new VirtualClock(0);
      const { sentAt } = outage(clock);
      const { summary, exitCode, deadLetter, log } = await run(lines(...profiles), { batchSize: 2, retryForMs: 600_000 }, { clock });
      expect(exitCode).toBe(ExitCode.ok);
      expect(summary).toMatchObject({ total: 20, delivered: 20, failed: 0, deadLettered: 0 });
      expect(existsSync(deadLetter)).toBe(false);
      expect(log.lines().some((l) => l.breaker === 'open')).toBe(true);
      // The circuit opens at the 10th failure in a row; from then on one probe per 15 s cool-down
      // (give or take a request that was already on its way), not every batch retrying on its own.
      const during = sentAt.filter((t) => t < OUTAGE_MS);
      const afterOpen = during.filter((t) => t > during[9]!);
      expect(afterOpen.length).toBeLessThanOrEqual(Math.ceil((OUTAGE_MS - during[9]!) / 15_000) + 2);
      // Delivered once the platform is back: within a cool-down and the longest backoff (60 s).
      expect(Math.max(...sentAt)).toBeLessThan(OUTAGE_MS + 15_000 + 60_000 + 5_000);
    });

    it('without --retry-for the same outage fails them (exit 1), dead-lettered as server', async () => {
      const clock = new VirtualClock(0);
      outage(clock);
      const { summary, exitCode, deadLetter } = await run(lines(...profiles), { batchSize: 2 }, { clock });
      expect(exitCode).toBe(ExitCode.failed);
      expect(summary).toMatchObject({ total: 20, delivered: 0, failed: 20, deadLettered: 20 });
      expect(readNdjson(deadLetter).every((d) => d.class === 'server')).toBe(true);
    });

    it('with --retry-for shorter than the outage, the run ends about --retry-for into it, not --retry-for per batch', async () => {
      const clock = new VirtualClock(0);
      outage(clock);
      const { summary, exitCode, error } = await run(lines(...profiles), { batchSize: 2, retryForMs: 60_000 }, { clock });
      expect(exitCode).toBe(ExitCode.failed);
      expect(summary).toMatchObject({ delivered: 0, failed: 20 });
      expect(error?.message).toMatch(/20 profiles could not be delivered/);
      expect(clock.now()).toBeLessThan(60_000 + 15_000 + 5_000);
    });
  });

  it('replays a dead-letter file: the records go out again and the delivered file is consumed', async () => {
    platform({ fail: () => 503 });
    const first = await run(lines(ann, bob));
    expect(first.exitCode).toBe(ExitCode.failed);
    nock.cleanAll();

    const { calls } = platform();
    const replay = await run('', { file: first.deadLetter });
    expect(replay.exitCode).toBe(ExitCode.ok);
    expect(replay.summary).toMatchObject({ total: 2, delivered: 2, deadLettered: 0 });
    expect(calls[0]!.batch.profiles.map((p) => p.email)).toEqual(['ann@example.com', 'bob@example.com']);
    expect(existsSync(first.deadLetter)).toBe(false);
  });

  it('a replay whose last line is unfinished sends the whole lines, leaves that line in the file and says so', async () => {
    platform({ fail: () => 503 });
    const first = await run(lines(ann, bob));
    nock.cleanAll();
    appendFileSync(first.deadLetter, '{"line":3,"record":{"email":"c'); // a writer's line seen halfway

    const { calls } = platform();
    const replay = await run('', { file: first.deadLetter });
    expect(replay.exitCode).toBe(ExitCode.ok);
    expect(replay.summary).toMatchObject({ total: 2, delivered: 2 });
    expect(calls.flatMap((call) => call.batch.profiles.map((p) => p.email))).toEqual(['ann@example.com', 'bob@example.com']);
    expect(readFileSync(first.deadLetter, 'utf8')).toBe('{"line":3,"record":{"email":"c');
    expect(replay.log.lines().find((line) => line.level === 'warn' && line.bytes === 30)?.msg).toBe(
      `${first.deadLetter}: its last line is unfinished (no newline, not JSON), 30 bytes: left in the file for the next replay`,
    );
  });

  it('two runs on one dead-letter and report file: each line says which run wrote it and when', async () => {
    platform();
    const report = join(tmp(), 'report.ndjson');
    const input = lines(ann, { email: 'bad' });
    await run(input, { report, full: true }, { runId: 'night-1', clock: new VirtualClock(Date.parse('2026-01-20T02:00:00.000Z')) });
    await run(input, { report, full: true }, { runId: 'night-2', clock: new VirtualClock(Date.parse('2026-01-20T14:00:00.000Z')) });
    const stamps = (path: string) => readNdjson(path).map(({ line, runId, at, status }) => ({ line, runId, at, ...(status ? { status } : {}) }));
    expect(stamps(join(tmp(), 'dead-letter.ndjson'))).toEqual([
      { line: 2, runId: 'night-1', at: '2026-01-20T02:00:00.000Z' },
      { line: 2, runId: 'night-2', at: '2026-01-20T14:00:00.000Z' },
    ]);
    expect(stamps(report).sort((a, b) => String(a.runId).localeCompare(String(b.runId)) || Number(a.line) - Number(b.line))).toEqual([
      { line: 1, runId: 'night-1', at: '2026-01-20T02:00:00.000Z', status: 'delivered' },
      { line: 2, runId: 'night-1', at: '2026-01-20T02:00:00.000Z', status: 'invalid' },
      { line: 1, runId: 'night-2', at: '2026-01-20T14:00:00.000Z', status: 'delivered' },
      { line: 2, runId: 'night-2', at: '2026-01-20T14:00:00.000Z', status: 'invalid' },
    ]);
  });

  it("a replay keeps each record's original line and stamps it with the replaying run; older lines without a stamp replay too", async () => {
    platform({ fail: () => 503 });
    const deadLetter = join(tmp(), 'dead-letter.ndjson');
    // A line from before runId and at, then the failing run's own.
    writeFileSync(deadLetter, `${JSON.stringify({ line: 9, class: 'server', reason: 'HTTP 503', record: bob })}\n`);
    await run(lines({ email: 'x' }, ann, bob), {}, { runId: 'first', clock: new VirtualClock(Date.parse('2026-01-20T02:00:00.000Z')) });
    expect(readNdjson(deadLetter).map(({ line, runId }) => [line, runId])).toEqual([[9, undefined], [1, 'first'], [2, 'first'], [3, 'first']]);
    const replay = await run('', { file: deadLetter }, { runId: 'replay', clock: new VirtualClock(Date.parse('2026-01-21T08:00:00.000Z')) });
    expect(replay.summary).toMatchObject({ total: 4, invalid: 1, failed: 2, duplicates: 1 });
    // The consumed lines are gone; what is still undeliverable is back with its first line number.
    expect(readNdjson(deadLetter).map(({ line, runId, at, class: errorClass }) => ({ line, runId, at, errorClass })).sort((a, b) => Number(a.line) - Number(b.line))).toEqual([
      { line: 1, runId: 'replay', at: '2026-01-21T08:00:00.000Z', errorClass: 'client' },
      { line: 2, runId: 'replay', at: expect.stringMatching(/^2026-01-21T08:0/), errorClass: 'server' },
      { line: 3, runId: 'replay', at: expect.stringMatching(/^2026-01-21T08:0/), errorClass: 'server' },
    ]);
  });

  it("keeps an earlier run's dead letters when a new run adds its own", async () => {
    platform();
    const deadLetter = join(tmp(), 'dead-letter.ndjson');
    writeFileSync(deadLetter, `${JSON.stringify({ line: 9, class: 'server', reason: 'yesterday', record: bob })}\n`);
    await run(lines(ann, { email: 'bad' }));
    expect(readNdjson(deadLetter).map((d) => d.reason)).toEqual(['yesterday', 'email: must be a valid email address; firstName: is required; lastName: is required']);
  });

  it('dry run sends nothing, prints the normalized profiles and writes no dead-letter file', async () => {
    const stdout = new PassThrough();
    const chunks: string[] = [];
    stdout.on('data', (c) => chunks.push(String(c)));
    const { summary, exitCode, deadLetter } = await run(lines(ann, { email: 'bad' }), { dryRun: true, downstreamUrl: undefined }, { stdout });
    expect(exitCode).toBe(ExitCode.partial);
    expect(summary).toMatchObject({ total: 2, valid: 1, invalid: 1, requests: 0, batches: 0, deadLettered: 0 });
    expect(chunks.join('')).toBe(`${JSON.stringify({ email: 'ann@example.com', firstName: 'Ann', lastName: 'Lee', metadata: {} })}\n`);
    expect(existsSync(deadLetter)).toBe(false);
  });

  it('a dry run that cannot name the account (HubSpot without a token) says it compares with no state, instead of saying nothing', async () => {
    // A state that remembers ann for this account: without the token the dry run cannot find it.
    const target = targetOf('hubspot', DOWNSTREAM, { credential: 'pat-na1-x' });
    const store = await LmdbStateStore.open(join(tmp(), 'state'), target.destination.identity(target)!);
    await store!.close();
    const { summary, log } = await run(lines(ann), { to: 'hubspot', token: undefined, dryRun: true, batchSize: 100 });
    expect(summary).toMatchObject({ valid: 1, unchanged: 0 });
    const said = log.lines().filter((line) => line.stage === 'run' && line.state === join(tmp(), 'state'));
    expect(said.map((line) => [line.level, line.msg])).toEqual([
      ['warn', `SYNC_DOWNSTREAM_TOKEN is not set: the HubSpot account whose state ${join(tmp(), 'state')} remembers is unknown, so this dry run compares with no state (every valid profile shows as changed)`],
    ]);
  });

  it('reads a JSON array file too', async () => {
    platform();
    const { summary } = await run(JSON.stringify([ann, bob], null, 2));
    expect(summary).toMatchObject({ total: 2, delivered: 2 });
  });

  it('masks emails in logs unless verbose', async () => {
    platform();
    const masked = await run(lines(sup));
    expect(masked.log.lines().find((l) => l.line === 1)?.email).toBe('x***@suppressed.example');
    nock.cleanAll();
    platform();
    const verbose = await run(lines(sup), {}, { verbose: true });
    expect(verbose.log.lines().find((l) => l.line === 1)?.email).toBe('x@suppressed.example');
  });

  it('on interruption exits 130, dead-letters what was still queued, and writes its files whole', async () => {
    const controller = new AbortController();
    // SIGINT arrives while the first batch is on the wire and about to fail.
    platform({
      fail: () => {
        controller.abort();
        return 503;
      },
    });
    const { exitCode, summary, deadLetter } = await run(lines(ann, bob, sup), { report: join(tmp(), 'report.ndjson') }, { signal: controller.signal });
    expect(exitCode).toBe(ExitCode.interrupted);
    const letters = readNdjson(deadLetter);
    expect(letters.length).toBe(summary.deadLettered);
    expect(summary.failed).toBeGreaterThan(0);
    expect(letters.every((l) => l.class === 'unexpected' && /interrupted/.test(String(l.reason)))).toBe(true);
    expect(readNdjson(join(tmp(), 'report.ndjson'))).toHaveLength(summary.total);
  });

  /**
   * `total` records handed over as fast as they are asked for (no event-loop turn between them), as
   * from a file already in the page cache, and a platform accepting each batch that notes how many
   * had been handed over when it arrived.
   */
  function watchedReader(total: number, batches: number): { readWhenSent: number[]; input: AsyncGenerator<string> } {
    const readWhenSent: number[] = [];
    let read = 0;
    nock(DOWNSTREAM)
      .post('/profiles/batch')
      .times(batches)
      .reply((_uri, body) => {
        readWhenSent.push(read);
        const { batchId, profiles } = body as WireBatch;
        return [200, { batchId, results: profiles.map((p) => ({ email: p.email, status: 'accepted' })) }];
      });
    async function* input(): AsyncGenerator<string> {
      for (; read < total; ) yield `${JSON.stringify({ email: `u${++read}@example.com`, firstName: 'A', lastName: 'B' })}\n`;
    }
    return { readWhenSent, input: input() };
  }

  it('sends the first batch as soon as one is queued: the reader waits for it to leave before reading on', async () => {
    const { readWhenSent, input } = watchedReader(2400, 10);
    const log = await memoryLogger();
    const { summary } = await runPush(
      { file: '-', downstreamUrl: DOWNSTREAM, rate: 5, batchSize: 500, maxRetries: 3, deadLetter: join(tmp(), 'dl.ndjson'), dryRun: false, stateDir: join(tmp(), 'state'), full: false },
      { logger: log.logger, runId: 'run-1', clock: new VirtualClock(0), jitter: () => 1, stdin: input },
    );
    expect(summary).toMatchObject({ total: 2400, delivered: 2400, requests: 5 });
    // Without the wait, all 2,400 (under the reader's high-water mark of 3,000) were read first.
    expect(readWhenSent[0]).toBeGreaterThanOrEqual(500);
    expect(readWhenSent[0]).toBeLessThan(600);
  });

  it.each([
    ['the in-process limiter: two batches (the next slot\'s and one more)', false, [200, ...Array<number>(17).fill(100), 0]],
    ['a shared quota, which may open a window of slots at once: six', true, [600, ...Array<number>(13).fill(100), 0, 0, 0, 0, 0]],
  ])('reads one batch on after each request leaves, not three or four at once; queued at most: %s', async (_name, shared, expected) => {
    const { readWhenSent, input } = watchedReader(2000, 20);
    const log = await memoryLogger();
    const clock = new VirtualClock(0);
    const { summary } = await runPush(
      { file: '-', downstreamUrl: DOWNSTREAM, rate: 5, batchSize: 100, maxRetries: 3, deadLetter: join(tmp(), 'dl.ndjson'), dryRun: false, stateDir: join(tmp(), 'state'), full: false },
      {
        logger: log.logger,
        runId: 'run-1',
        clock,
        jitter: () => 1,
        stdin: input,
        // As a shared quota is wired in (commands/push.ts): a limiter handed in.
        limiter: shared ? RateLimiter.perSecond(5, clock, { smooth: true }) : undefined,
      },
    );
    expect(summary).toMatchObject({ total: 2000, delivered: 2000, requests: 20 });
    // Read on between two requests: the queue filled after the first, then one batch after each,
    // until the input ran out. (Refilled once half of six batches was gone, it read 400 every fourth.)
    const between = readWhenSent.slice(1).map((count, i) => count - readWhenSent[i]!);
    expect(between).toEqual(expected);
  });

  it('refuses to start without a readable file or a downstream', async () => {
    await expect(run('', { file: join(tmp(), 'missing.ndjson') })).rejects.toThrow(/missing.ndjson: no such file/);
    await expect(run('', { file: tmp() })).rejects.toBeInstanceOf(UsageError);
    await expect(run(lines(ann), { downstreamUrl: undefined })).rejects.toThrow(/--downstream-url/);
    const csv = await run('email,firstName\n');
    expect(csv.exitCode).toBe(ExitCode.usage);
    expect(csv.error?.message).toMatch(/profiles.ndjson: not a JSON array or NDJSON/);
  });
});

describe('runPush for a person at a terminal (quietBatches)', () => {
  const tmp = useTempDir();

  it('logs each batch at debug instead of info, and a line of progress every so often at info', async () => {
    nock(DOWNSTREAM)
      .post('/profiles/batch')
      .times(10)
      .delay(150)
      .reply(200, (_uri, body) => ({ batchId: (body as WireBatch).batchId, results: (body as WireBatch).profiles.map((p) => ({ email: p.email, status: 'accepted' })) }));
    const file = join(tmp(), 'profiles.ndjson');
    writeFileSync(file, lines(...Array.from({ length: 6 }, (_, i) => ({ ...ann, email: `p${i}@example.com` }))));
    const log = await memoryLogger();
    const result = await runPush(
      { file, downstreamUrl: DOWNSTREAM, rate: 20, batchSize: 1, maxRetries: 0, deadLetter: join(tmp(), 'dl.ndjson'), dryRun: false, stateDir: '', full: false },
      { logger: log.logger, runId: 'run-1', quietBatches: true, progressLogMs: 100, state: new MemoryStateStore() },
    );
    expect(result.summary.delivered).toBe(6);
    const batchLines = log.lines().filter((line) => String(line.msg).endsWith(' done'));
    expect(batchLines).toHaveLength(6);
    expect(batchLines.every((line) => line.level === 'debug')).toBe(true);
    const progress = log.lines().filter((line) => String(line.msg).startsWith('so far: read '));
    expect(progress.length).toBeGreaterThan(0);
    expect(progress[0]).toMatchObject({ level: 'info', stage: 'send' });
  });
});

describe('runPush with a state', () => {
  const tmp = useTempDir();

  async function push(text: string, state: MemoryStateStore, overrides: Partial<PushOptions> = {}) {
    const file = join(tmp(), 'profiles.ndjson');
    writeFileSync(file, text);
    const log = await memoryLogger();
    return runPush(
      { file, downstreamUrl: DOWNSTREAM, rate: 5, batchSize: 500, maxRetries: 3, deadLetter: join(tmp(), 'dl.ndjson'), dryRun: false, stateDir: '', full: false, ...overrides },
      { logger: log.logger, runId: 'run-1', clock: new VirtualClock(0), jitter: () => 1, state },
    );
  }

  it('skips what the platform accepted as it is: the same text, or text that normalizes the same', async () => {
    const state = new MemoryStateStore();
    const { calls } = platform();
    expect((await push(lines(ann, bob), state)).summary).toMatchObject({ delivered: 2, unchanged: 0 });
    expect([...state.entries.keys()]).toEqual(['ann@example.com', 'bob@example.com']);

    // Ann as before; Bob's email in other case and spacing: the same profile on the wire.
    const second = await push(lines(ann, { ...bob, email: ' bob@EXAMPLE.com' }), state);
    expect(second.summary).toMatchObject({ valid: 2, unchanged: 2, delivered: 0, requests: 0 });
    expect(second.exitCode).toBe(ExitCode.ok);

    const third = await push(lines(ann, { ...bob, lastName: 'Stones' }), state);
    expect(third.summary).toMatchObject({ unchanged: 1, delivered: 1 });
    expect(calls.at(-1)!.batch.profiles.map((p) => p.lastName)).toEqual(['Stones']);
    expect((await push(lines(ann, bob), state, { full: true })).summary).toMatchObject({ unchanged: 0, delivered: 2 });
  });

  it('the very text the platform accepted is unchanged without being parsed again; a head naming another email than the record is no shortcut', async () => {
    const state = new MemoryStateStore();
    const { calls } = platform();
    await push(lines(ann, bob), state);
    const annText = JSON.stringify(ann);
    const parse = vi.spyOn(JSON, 'parse');
    try {
      // Its head says Ann; parsed, the record is Bob's (the last "email" key wins) with Ann's names.
      const twoEmails = '{"email":"ann@example.com","firstName":"ann","lastName":"lee","email":"bob@example.com"}';
      const second = await push(lines(ann, twoEmails), state);
      expect(second.summary).toMatchObject({ valid: 2, unchanged: 1, delivered: 1 });
      expect(calls.at(-1)!.batch.profiles).toEqual([{ email: 'bob@example.com', firstName: 'Ann', lastName: 'Lee', metadata: {} }]);
      expect(parse.mock.calls.filter(([text]) => text === annText)).toHaveLength(0);
      expect(parse.mock.calls.filter(([text]) => text === twoEmails)).toHaveLength(1);
    } finally {
      parse.mockRestore();
    }
    expect(state.lookup('bob@example.com')).toBeDefined();
  });

  it('an email accepted again while its chunk is being read: a later record of it with the text the state held before is sent, not skipped', async () => {
    const state = new MemoryStateStore();
    const { calls } = platform();
    const before = { ...ann, lastName: 'before' };
    await push(lines(before), state);
    // One chunk: Ann changed, then enough new emails for the reader to wait on the engine (her batch
    // is answered and committed meanwhile), then Ann as the state held her when the chunk was read.
    const others = Array.from({ length: 30 }, (_, i) => ({ email: `new${i}@example.com`, firstName: 'New', lastName: `n${i}` }));
    const result = await push(lines({ ...ann, lastName: 'after' }, ...others, before), state, { batchSize: 1 });
    expect(result.summary).toMatchObject({ delivered: 32, unchanged: 0, duplicates: 0 });
    // The platform ends with what the input ends with.
    expect(calls.filter((call) => call.batch.profiles[0]!.email === ann.email).map((call) => call.batch.profiles[0]!.lastName)).toEqual(['Before', 'After', 'Before']);
    const encoder = encoderFor(targetOf('sync', DOWNSTREAM));
    expect(state.lookup(ann.email)?.textDigest).toBe(encoder.textDigest(JSON.stringify(before)));
  });

  it('a number a double cannot keep is never sent altered: the record is dead-lettered with its digits; as a string it goes out exactly, and a change to it is sent', async () => {
    const state = new MemoryStateStore();
    const { calls } = platform();
    const withId = (id: string) => `{"email":"ann@example.com","firstName":"Ann","lastName":"Lee","metadata":{"id":${id}}}\n`;
    const first = await push(withId('9007199254740993123'), state);
    expect(first.summary).toMatchObject({ invalid: 1, delivered: 0, requests: 0, deadLettered: 1 });
    expect(first.exitCode).toBe(ExitCode.partial);
    const [letter] = readFileSync(join(tmp(), 'dl.ndjson'), 'utf8').split('\n');
    expect(letter).toContain('"record":{"email":"ann@example.com","firstName":"Ann","lastName":"Lee","metadata":{"id":9007199254740993123}}');
    expect(JSON.parse(letter!)).toMatchObject({
      class: 'client',
      reason: 'metadata.id: number 9007199254740993123 cannot be kept exactly (more than 15 significant digits); send it as a string',
    });
    expect(state.entries.size).toBe(0);

    await push(withId('"9007199254740993123"'), state);
    expect(calls.at(-1)!.batch.profiles[0]).toMatchObject({ metadata: { id: '9007199254740993123' } });
    // Only the last digits change: a different profile, sent again (it used to be skipped as unchanged).
    const changed = await push(withId('"9007199254740993124"'), state);
    expect(changed.summary).toMatchObject({ delivered: 1, unchanged: 0 });
    expect(calls.at(-1)!.batch.profiles[0]).toMatchObject({ metadata: { id: '9007199254740993124' } });
  });

  it('an internationalized domain is sent and remembered in its ASCII form: either spelling is the same profile', async () => {
    const state = new MemoryStateStore();
    const { calls } = platform();
    const first = await push(lines({ ...ann, email: 'Ann@Bücher.de' }), state);
    expect(first.summary).toMatchObject({ delivered: 1 });
    expect(calls.at(-1)!.batch.profiles[0]!.email).toBe('ann@xn--bcher-kva.de');
    expect([...state.entries.keys()]).toEqual(['ann@xn--bcher-kva.de']);
    const second = await push(lines({ ...ann, email: 'ann@xn--bcher-kva.de' }), state);
    expect(second.summary).toMatchObject({ valid: 1, unchanged: 1, delivered: 0, requests: 0 });
  });

  it('never remembers rejected or failed profiles, so the next run tries them again', async () => {
    const state = new MemoryStateStore();
    platform({ fail: (call) => (call <= 4 ? 503 : 0) });
    const first = await push(lines(ann, sup), state, { maxRetries: 3 });
    expect(first.summary).toMatchObject({ failed: 2, delivered: 0 });
    expect(state.entries.size).toBe(0);
    const second = await push(lines(ann, sup), state);
    expect(second.summary).toMatchObject({ delivered: 1, rejected: 1, unchanged: 0 });
    expect([...state.entries.keys()]).toEqual(['ann@example.com']);
  });

  it('a later record for an email still on its way is sent even if it matches the state: the platform ends with it', async () => {
    const state = new MemoryStateStore();
    const { calls } = platform();
    await push(lines(ann), state);
    // Annie first (changed, queued), then Ann again (what the state holds): both go, in order.
    const result = await push(lines({ ...ann, firstName: 'Annie' }, ann), state);
    expect(result.summary).toMatchObject({ unchanged: 0, duplicates: 1, delivered: 1 });
    expect(calls.at(-1)!.batch.profiles).toEqual([{ email: 'ann@example.com', firstName: 'Ann', lastName: 'Lee', metadata: {} }]);
  });

  it('a 401 from the downstream stops sending; every profile is dead-lettered as client, and the closing error agrees', async () => {
    const state = new MemoryStateStore();
    nock(DOWNSTREAM).post('/profiles/batch').times(100).reply(401, { error: 'bad token' });
    const people = Array.from({ length: 40 }, (_, i) => ({ ...ann, email: `p${i}@example.com` }));
    const result = await push(lines(...people), state, { batchSize: 2, rate: 5 });
    expect(result.summary).toMatchObject({ failed: 40, deadLettered: 40 });
    // Only the batches already on their way: the rest fail at once instead of each asking again.
    expect(result.summary.requests).toBeLessThan(20);
    expect(result.exitCode).toBe(ExitCode.failed);
    expect(result.error).toMatchObject({ errorClass: 'client' });
    expect(result.error!.message).toMatch(/^40 profiles could not be delivered \(batch .*HTTP 401: bad token: the downstream refused the token; check SYNC_DOWNSTREAM_TOKEN\)/);
    const letters = readNdjson(join(tmp(), 'dl.ndjson'));
    expect(new Set(letters.map((letter) => letter.class))).toEqual(new Set(['client']));
  });

  it('a later record read while the earlier one is accepted but not yet in the state is still sent', async () => {
    const { calls } = platform();
    const late = { ...ann, firstName: 'Late' };
    // The state holds Late (from an earlier run); this file has Early, then Late again.
    let commitStarted!: () => void;
    const committing = new Promise<void>((resolve) => (commitStarted = resolve));
    let releaseCommit!: () => void;
    const held = new Promise<void>((resolve) => (releaseCommit = resolve));
    class SlowState extends MemoryStateStore {
      override async recordAccepted(accepted: Parameters<MemoryStateStore['recordAccepted']>[0]) {
        commitStarted();
        await held;
        return super.recordAccepted(accepted);
      }
    }
    const state = new SlowState();
    await loadHasher();
    const lateProfile = validateProfile(late);
    if (!lateProfile.ok) throw new Error('fixture is invalid');
    const encoder = encoderFor(targetOf('sync', DOWNSTREAM));
    state.entries.set('ann@example.com', {
      digest: encoder.digest(encoded(targetOf('sync', DOWNSTREAM), lateProfile.profile)),
      textDigest: encoder.textDigest(JSON.stringify(late)),
      acceptedAt: -1,
      repeated: false,
    });
    async function* input() {
      yield `${JSON.stringify({ ...ann, firstName: 'Early' })}\n${JSON.stringify(bob)}\n`;
      await committing; // Early's batch is answered; its commit is on its way
      yield `${JSON.stringify(late)}\n`;
      releaseCommit();
    }
    const log = await memoryLogger();
    const result = await runPush(
      { file: '-', downstreamUrl: DOWNSTREAM, rate: 1, batchSize: 1, maxRetries: 3, deadLetter: join(tmp(), 'dl.ndjson'), dryRun: false, stateDir: '', full: false },
      { logger: log.logger, runId: 'run-1', clock: new VirtualClock(0), jitter: () => 1, state, stdin: input() },
    );
    expect(result.summary).toMatchObject({ unchanged: 0, delivered: 3 });
    expect(calls.at(-1)!.batch.profiles).toEqual([{ email: 'ann@example.com', firstName: 'Late', lastName: 'Lee', metadata: {} }]);
  });

  it('a state slow to record what was answered holds sending back: answered but unrecorded batches never pile up', async () => {
    const { calls } = platform();
    const releases: (() => void)[] = [];
    const outstanding: number[] = [];
    class StuckState extends MemoryStateStore {
      override async recordAccepted(accepted: Parameters<MemoryStateStore['recordAccepted']>[0]) {
        await new Promise<void>((resolve) => releases.push(resolve));
        return super.recordAccepted(accepted);
      }
    }
    const state = new StuckState();
    let done = false;
    const pushed = push(lines(...Array.from({ length: 30 }, (_, i) => ({ ...ann, email: `p${i}@example.com` }))), state, { batchSize: 1, rate: 50 }).finally(() => (done = true));
    // One commit released every 20 event-loop turns, however many wait: meanwhile the platform may
    // answer what is in flight, and no more may be sent.
    while (!done) {
      for (let turn = 0; turn < 20; turn++) await new Promise((resolve) => setImmediate(resolve));
      outstanding.push(calls.length - state.entries.size);
      releases.shift()?.();
    }
    expect((await pushed).summary).toMatchObject({ delivered: 30 });
    expect(state.entries.size).toBe(30);
    // Sent but not recorded: at most the 5 requests in flight (the default) and the answers of as
    // many in the one commit allowed to lag; without catching up, all 30.
    expect(Math.max(...outstanding)).toBeLessThanOrEqual(10);
    expect(Math.max(...outstanding)).toBeGreaterThan(0);
  });

  it('two runs sharing a state, answered in the other order than processed: the next run of either input sends the email again', async () => {
    const state = new MemoryStateStore();
    const holds: string[] = [];
    const answer = (_uri: string, body: unknown) => {
      const batch = body as WireBatch;
      return { batchId: batch.batchId, results: batch.profiles.map((p) => ({ email: p.email, status: 'accepted' })) };
    };
    // The platform processes X's Axel first and Yves second, but X's answer comes back last: Y
    // starts once Axel has arrived, and X's answer is held until Y's run is over (no timing).
    let axelArrived!: () => void;
    const axel = new Promise<void>((resolve) => (axelArrived = resolve));
    const y = axel.then(() => push(lines({ ...ann, firstName: 'Yves' }), state));
    nock(DOWNSTREAM)
      .post('/profiles/batch', (body: WireBatch) => body.profiles[0]!.firstName === 'Axel' && Boolean(holds.push('Axel')))
      .reply((uri, body, callback) => {
        axelArrived();
        void y.finally(() => callback(null, [200, answer(uri, body)]));
      })
      .post('/profiles/batch', (body: WireBatch) => body.profiles[0]!.firstName === 'Yves' && Boolean(holds.push('Yves')))
      .reply(200, answer);
    const x = push(lines({ ...ann, firstName: 'Axel' }), state);
    expect((await Promise.all([x, y])).map((run) => run.summary.delivered)).toEqual([1, 1]);
    expect(holds).toEqual(['Axel', 'Yves']);
    // Neither run may leave the state saying the platform has Axel (it has Yves).
    expect(state.lookup('ann@example.com')).toBeUndefined();
    const { calls } = platform();
    expect((await push(lines({ ...ann, firstName: 'Axel' }), state)).summary).toMatchObject({ delivered: 1, unchanged: 0 });
    expect(calls.map((call) => call.batch.profiles[0]!.firstName)).toEqual(['Axel']);
  });

  it('an email twice in a file (early, then late): the first run sends both in order, every rerun of the same file sends nothing', async () => {
    const state = new MemoryStateStore();
    const { calls } = platform();
    const file = lines({ ...ann, firstName: 'Early' }, bob, { ...ann, firstName: 'Late' });
    const first = await push(file, state, { batchSize: 1 });
    expect(first.summary).toMatchObject({ delivered: 3, duplicates: 0 });
    expect(calls.map((call) => call.batch.profiles[0]!.firstName)).toEqual(['Early', 'Bob', 'Late']);
    for (let run = 0; run < 2; run++) {
      const again = await push(file, state, { batchSize: 1 });
      expect(again.summary).toMatchObject({ total: 3, unchanged: 2, duplicates: 1, delivered: 0, requests: 0 });
      expect(again.exitCode).toBe(ExitCode.ok);
    }
    expect(calls).toHaveLength(3);
  });

  it('held back until its input ends, a record for a repeated email is sent when no later one comes; a changed later one goes alone', async () => {
    const state = new MemoryStateStore();
    const { calls } = platform();
    await push(lines({ ...ann, firstName: 'Early' }, { ...ann, firstName: 'Late' }), state, { batchSize: 1 });
    calls.length = 0;
    // The later record is gone: the earlier one is what the platform should end with.
    const alone = await push(lines({ ...ann, firstName: 'Early' }, bob), state, { batchSize: 1 });
    expect(alone.summary).toMatchObject({ delivered: 2, duplicates: 0 });
    expect(calls.map((call) => call.batch.profiles[0]!.firstName)).toEqual(['Bob', 'Early']);
    calls.length = 0;
    await push(lines({ ...ann, firstName: 'Early' }, { ...ann, firstName: 'Late' }), state, { batchSize: 1 });
    calls.length = 0;
    // Three records, the last one changed: only it is sent (the platform is never rolled back to an earlier one).
    const changed = await push(lines({ ...ann, firstName: 'Early' }, { ...ann, firstName: 'Middle' }, { ...ann, firstName: 'Latest' }), state, { batchSize: 1 });
    expect(changed.summary).toMatchObject({ total: 3, duplicates: 2, delivered: 1 });
    expect(calls.map((call) => call.batch.profiles[0]!.firstName)).toEqual(['Latest']);
  });

  it('--full holds nothing back: every valid record is sent, in input order', async () => {
    const state = new MemoryStateStore();
    const { calls } = platform();
    const file = lines({ ...ann, firstName: 'Early' }, { ...ann, firstName: 'Late' });
    await push(file, state, { batchSize: 1 });
    calls.length = 0;
    expect((await push(file, state, { batchSize: 1, full: true })).summary).toMatchObject({ delivered: 2, duplicates: 0 });
    expect(calls.map((call) => call.batch.profiles[0]!.firstName)).toEqual(['Early', 'Late']);
  });

  it('a failed record superseded by a later one for the same email is not dead-lettered (a replay must not roll it back)', async () => {
    const state = new MemoryStateStore();
    // The batch holding Early fails for good; the later batch holding Late is accepted.
    const scope = nock(DOWNSTREAM)
      .post('/profiles/batch', (body: WireBatch) => body.profiles[0]!.firstName === 'Early')
      .times(10)
      .reply(503, { error: 'down' })
      .post('/profiles/batch')
      .times(10)
      .reply(200, (_uri, body) => ({ batchId: (body as WireBatch).batchId, results: (body as WireBatch).profiles.map((p) => ({ email: p.email, status: 'accepted' })) }));
    const result = await push(lines({ ...ann, firstName: 'Early' }, { ...ann, firstName: 'Late' }), state, { batchSize: 1, maxRetries: 0 });
    expect(scope.pendingMocks().length).toBeGreaterThan(0);
    expect(result.summary).toMatchObject({ delivered: 1, duplicates: 1, failed: 0, deadLettered: 0 });
    expect(existsSync(join(tmp(), 'dl.ndjson'))).toBe(false);
  });
});
