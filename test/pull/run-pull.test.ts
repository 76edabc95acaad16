import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import nock from 'nock';
import { describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { runPull, type PullOptions } from '../../src/pull/run-pull.js';
import { ExportDocumentSchema, PulledProfileSchema } from '../../src/pull/schemas.js';
import { memoryLogger } from '../helpers/logger.js';
import { useTempDir } from '../helpers/tmp.js';
import { VirtualClock } from '../helpers/virtual-clock.js';

const BASE = 'http://reqres.test/api';
const users = JSON.parse(readFileSync(new URL('../../fixtures/reqres/users.json', import.meta.url), 'utf8')) as { id: number }[];
const PER_PAGE = 6;
const TOTAL_PAGES = Math.ceil(users.length / PER_PAGE);

function body(page: number) {
  return {
    page,
    per_page: PER_PAGE,
    total: users.length,
    total_pages: TOTAL_PAGES,
    data: users.slice((page - 1) * PER_PAGE, page * PER_PAGE),
  };
}

/** Serve every fixture page; `failures[page]` = how many 503s that page answers first. */
function serveFixtures(failures: Record<number, number> = {}) {
  const scope = nock(BASE);
  for (let page = 1; page <= TOTAL_PAGES; page++) {
    const fails = failures[page] ?? 0;
    if (fails > 0) scope.get('/users').query({ page }).times(fails).reply(503);
    scope.get('/users').query({ page }).reply(200, body(page));
  }
  return scope;
}

describe('runPull', () => {
  const tmp = useTempDir();

  function options(overrides: Partial<PullOptions> = {}): PullOptions {
    return {
      baseUrl: BASE,
      apiKey: 'k',
      out: join(tmp(), 'customers.json'),
      maxRetries: 3,
      rate: 10,
      concurrency: 4,
      faultRate: 0,
      seed: 0,
      allowPartial: false,
      maxPages: 1000,
      ...overrides,
    };
  }

  async function deps() {
    const clock = new VirtualClock(Date.parse('2026-11-22T12:00:00.000Z'));
    const log = await memoryLogger();
    return { clock, log, deps: { clock, logger: log.logger, jitter: () => 1 } };
  }

  it('fetches every page and writes a valid, sorted, deduplicated export', async () => {
    const scope = serveFixtures({ 2: 1, 4: 2 });
    const { deps: d } = await deps();
    const { summary, error } = await runPull(options(), d);
    expect(error).toBeUndefined();
    expect(scope.isDone()).toBe(true);

    const document = ExportDocumentSchema.parse(JSON.parse(readFileSync(options().out, 'utf8')));
    const uniqueIds = new Set(users.map((u) => u.id));
    expect(document.metadata.total_customers).toBe(uniqueIds.size);
    expect(document.customers.map((c) => c.customer_id).sort((a, b) => a - b)).toEqual([...uniqueIds].sort((a, b) => a - b));
    const names = document.customers.map((c) => c.full_name);
    expect(names).toEqual([...names].sort(new Intl.Collator('en').compare));
    const bands = document.metadata.data_quality_summary;
    expect(bands.high_quality + bands.medium_quality + bands.low_quality).toBe(document.metadata.total_customers);
    // The fixture repeats id 14 with a better record on a later page: the better one wins.
    expect(document.customers.find((c) => c.customer_id === 14)).toMatchObject({ full_name: 'Mary-Jane Watson', data_quality_score: 100 });

    expect(summary).toMatchObject({
      pages: TOTAL_PAGES,
      requests: TOTAL_PAGES + 3,
      retries: 3,
      rateLimited: 0,
      fetched: users.length,
      duplicatesRemoved: users.length - uniqueIds.size,
      exported: uniqueIds.size,
      qualitySummary: bands,
    });
  });

  it('gives up on a page after 3 retries, exits 1 and leaves the previous export intact', async () => {
    serveFixtures({ 3: 4 });
    const out = options().out;
    writeFileSync(out, '{"previous":true}');
    const { clock, log, deps: d } = await deps();
    const { summary, error } = await runPull(options(), d);
    expect(error?.exitCode).toBe(ExitCode.failed);
    expect(error?.message).toMatch(/1 of 5 pages stayed unavailable \(page 3: HTTP 503 \(gave up after 3 retries\)\)/);
    expect(readFileSync(out, 'utf8')).toBe('{"previous":true}');
    // What was fetched is counted, what was not written is not: `out` names no file.
    expect(summary).toMatchObject({ pages: 4, exported: 0, out: null });
    expect(summary.fetched).toBeGreaterThan(0);
    expect(clock.sleeps.filter((ms) => ms >= 1000)).toEqual([1000, 2000, 4000]);
    const retries = log.lines().filter((line) => line.msg?.toString().includes('retry'));
    expect(retries.map((line) => [line.page, line.attempt, line.status, line.delayMs])).toEqual([
      [3, 1, 503, 1000],
      [3, 2, 503, 2000],
      [3, 3, 503, 4000],
    ]);
    expect(retries.every((line) => line.stage === 'fetch' && typeof line.retryAt === 'string')).toBe(true);
  });

  it('with --allow-partial writes what it has, marked incomplete, and still exits 1', async () => {
    serveFixtures({ 5: 4 });
    const { deps: d } = await deps();
    const { summary, error } = await runPull(options({ allowPartial: true }), d);
    expect(error?.exitCode).toBe(ExitCode.failed);
    const document = JSON.parse(readFileSync(options().out, 'utf8'));
    expect(document.metadata).toMatchObject({ incomplete: true, missing_pages: [5], total_pages: TOTAL_PAGES, pages_fetched: TOTAL_PAGES - 1 });
    expect(summary.pages).toBe(TOTAL_PAGES - 1);
    expect(summary.out).toBe(options().out);
    expect(summary.exported).toBe(document.metadata.total_customers);
  });

  it('with --retry-for 10m rides out a source that is down for 5 minutes; without it the run fails', async () => {
    const downFor = (clock: VirtualClock) =>
      nock(BASE).get('/users').query(true).times(100).reply((uri) => {
        if (clock.now() - T0 < 300_000) return [503, {}];
        return [200, body(Number(new URL(uri, BASE).searchParams.get('page')))];
      });
    const T0 = Date.parse('2026-11-22T12:00:00.000Z');

    const patient = await deps();
    downFor(patient.clock);
    const ok = await runPull(options({ retryForMs: 600_000 }), patient.deps);
    expect(ok.error).toBeUndefined();
    expect(ok.summary.exported).toBe(24);
    expect(patient.clock.now() - T0).toBeGreaterThanOrEqual(300_000);
    nock.cleanAll();

    const plain = await deps();
    downFor(plain.clock);
    const failed = await runPull(options(), plain.deps);
    expect(failed.error?.message).toMatch(/page 1: HTTP 503 \(gave up after 3 retries\)/);
    expect(failed.summary.out).toBeNull();
  });

  it('injects seeded faults with --fault-rate and still completes', async () => {
    nock(BASE).get('/users').query(true).times(100).reply((uri) => {
      const page = Number(new URL(uri, BASE).searchParams.get('page'));
      return [200, body(page)];
    });
    const run = async () => {
      const { deps: d } = await deps();
      return runPull(options({ faultRate: 0.3, seed: 42, maxRetries: 6 }), d);
    };
    const first = await run();
    const second = await run();
    expect(first.error).toBeUndefined();
    expect(first.summary.retries).toBeGreaterThan(0);
    // The same seed fails the same attempts.
    expect(second.summary.retries).toBe(first.summary.retries);
  });

  it('is deterministic: two runs over the same data write the same customers', async () => {
    serveFixtures();
    const { deps: a } = await deps();
    await runPull(options(), a);
    const first = JSON.parse(readFileSync(options().out, 'utf8'));
    serveFixtures();
    const { deps: b } = await deps();
    await runPull(options(), b);
    const second = JSON.parse(readFileSync(options().out, 'utf8'));
    expect(second.customers).toEqual(first.customers);
  });

  it('skips a record without a usable id with a warning that names its page and position', async () => {
    nock(BASE)
      .get('/users')
      .query({ page: 1 })
      .reply(200, { page: 1, total_pages: 1, data: [{ id: 1, first_name: 'Ann' }, { email: 'ghost@example.com' }, { id: 'x' }] });
    const { log, deps: d } = await deps();
    const { summary, error } = await runPull(options(), d);
    expect(error).toBeUndefined();
    // Every record received is counted: fetched = exported + skipped + duplicatesRemoved.
    expect(summary).toMatchObject({ fetched: 3, skipped: 2, duplicatesRemoved: 0, exported: 1 });
    const warnings = log.lines().filter((line) => line.level === 'warn');
    expect(warnings.map((line) => [line.page, line.index, line.msg])).toEqual([
      [1, 1, 'page 1, record 2: skipped, no usable id'],
      [1, 2, 'page 1, record 3: skipped, no usable id'],
    ]);
  });

  it('logs a reset by its code and a 5xx by its status', async () => {
    nock(BASE)
      .get('/users').query({ page: 1 }).replyWithError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }))
      .get('/users').query({ page: 1 }).reply(500)
      .get('/users').query({ page: 1 }).reply(200, { page: 1, total_pages: 1, data: [] });
    const { log, deps: d } = await deps();
    await runPull(options(), d);
    const retries = log.lines().filter((line) => line.retryAt);
    expect(retries.map((line) => [line.code, line.status])).toEqual([
      ['ECONNRESET', undefined],
      [undefined, 500],
    ]);
  });

  describe('a listing that moves while it is paged', () => {
    const user = (id: number) => ({ id, email: `user${id}@example.com`, first_name: 'User', last_name: `N${id}` });

    /**
     * A newest-first source that gains one user before each request and drops its oldest, so its
     * total and page count never change: every later page starts with the record the page before
     * ended with, and the oldest records fall off the end before they are reached.
     */
    function shiftingSource({ size = 30, perPage = 6 } = {}) {
      let newest = size;
      let listing = Array.from({ length: size }, (_, i) => user(size - i));
      const scope = nock(BASE)
        .get('/users')
        .query(true)
        .times(100)
        .reply((uri) => {
          newest += 1;
          listing = [user(newest), ...listing.slice(0, -1)];
          const page = Number(new URL(uri, BASE).searchParams.get('page'));
          return [200, { page, per_page: perPage, total: size, total_pages: Math.ceil(size / perPage), data: listing.slice((page - 1) * perPage, page * perPage) }];
        });
      return scope;
    }

    it('exits 1, says the source changed while paging, and leaves the previous export untouched', async () => {
      shiftingSource();
      const out = options().out;
      writeFileSync(out, '{"previous":true}');
      const { log, deps: d } = await deps();
      const { summary, error } = await runPull(options({ concurrency: 1 }), d);
      expect(error?.exitCode).toBe(ExitCode.failed);
      expect(error?.errorClass).toBe('server');
      expect(error?.message).toMatch(/^the source changed while paging: it announced 30 users, 26 different ones arrived \(4 seen again on a later page\); nothing exported, run again$/);
      expect(readFileSync(out, 'utf8')).toBe('{"previous":true}');
      expect(summary).toMatchObject({ pages: 5, fetched: 30, exported: 0, out: null });
      expect(log.lines().some((line) => line.level === 'error' && line.stage === 'export')).toBe(true);
    });

    it('with --allow-partial writes what arrived, marked incomplete and source_changed, and still exits 1', async () => {
      shiftingSource();
      const { deps: d } = await deps();
      const { summary, error } = await runPull(options({ concurrency: 1, allowPartial: true }), d);
      expect(error?.exitCode).toBe(ExitCode.failed);
      expect(error?.message).toMatch(/; exported what arrived, marked incomplete, run again$/);
      const document = ExportDocumentSchema.parse(JSON.parse(readFileSync(options().out, 'utf8')));
      expect(document.metadata).toMatchObject({ incomplete: true, source_changed: true, source_total: 30, missing_pages: [], total_customers: 26 });
      expect(summary).toMatchObject({ fetched: 30, duplicatesRemoved: 4, exported: 26, out: options().out });
    });

    it('a source at rest that holds one row twice, word for word, is exported (exit 0) after page 1 is fetched once more', async () => {
      const rows = [user(1), user(2), user(2), user(3)];
      const scope = nock(BASE)
        .get('/users').query({ page: 1 }).times(2).reply(200, { page: 1, total: 4, total_pages: 2, data: rows.slice(0, 2) })
        .get('/users').query({ page: 2 }).reply(200, { page: 2, total: 4, total_pages: 2, data: rows.slice(2) });
      const { log, deps: d } = await deps();
      const { summary, error } = await runPull(options(), d);
      expect(error).toBeUndefined();
      expect(scope.isDone()).toBe(true);
      expect(summary).toMatchObject({ pages: 2, requests: 3, fetched: 4, duplicatesRemoved: 1, exported: 3 });
      expect(log.lines().find((line) => line.duplicateRows === 1)?.msg).toBe('the source holds 1 row twice, word for word (checked: its pages did not move)');
    });
  });

  describe('--profiles', () => {
    const profilesPath = () => join(tmp(), 'profiles.ndjson');
    const readProfiles = () =>
      readFileSync(profilesPath(), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => PulledProfileSchema.parse(JSON.parse(line)));

    it('writes the customers with a valid address as profiles beside the export, counted in its metadata and the log', async () => {
      serveFixtures();
      const { log, deps: d } = await deps();
      const outcome = await runPull(options({ profiles: profilesPath() }), d);
      expect(outcome.error).toBeUndefined();
      const document = ExportDocumentSchema.parse(JSON.parse(readFileSync(options().out, 'utf8')));
      const profiles = readProfiles();
      // Sorted like the export; exactly its customers that have an address.
      const reachable = document.customers.filter((customer) => customer.email_domain !== 'unknown');
      expect(profiles.map((p) => p.metadata.customer_id)).toEqual(reachable.map((c) => c.customer_id));
      expect(profiles).toHaveLength(21);
      expect(document.metadata).toMatchObject({ profiles_written: 21, profiles_without_email: 3 });
      expect(outcome.profiles).toEqual({ path: profilesPath(), written: 21, withoutEmail: 3 });
      // The summary keeps the contract's keys: no profile count there.
      expect(Object.keys(outcome.summary)).not.toContain('profiles');
      const line = log.lines().find((l) => l.written === 21);
      // Ids in the export's order: Lee (21, no first name, empty email), Lukas Becker (17, malformed), Priya Raman (16, none).
      expect(line).toMatchObject({ stage: 'export', profiles: profilesPath(), withoutEmail: 3, customerIds: [21, 17, 16] });
      expect(line?.msg).toBe('profiles written: 21; 3 customers without a valid email left out (customer_id 21, 17, 16)');
      // Logs name customers by id, never by address.
      expect(JSON.stringify(log.lines())).not.toMatch(/@example\.|@reqres\.in/);
      expect(readdirSync(tmp()).sort()).toEqual(['customers.json', 'profiles.ndjson']);
    });

    it('without --profiles, the export says nothing about profiles', async () => {
      serveFixtures();
      const { deps: d } = await deps();
      const outcome = await runPull(options(), d);
      const document = JSON.parse(readFileSync(options().out, 'utf8'));
      expect(Object.keys(document.metadata).filter((key) => key.startsWith('profiles'))).toEqual([]);
      expect(outcome.profiles).toBeUndefined();
    });

    it('a failed run leaves the previous profiles untouched, as it does the export', async () => {
      serveFixtures({ 3: 4 });
      writeFileSync(options().out, 'previous export');
      writeFileSync(profilesPath(), 'previous profiles\n');
      const { deps: d } = await deps();
      const outcome = await runPull(options({ profiles: profilesPath() }), d);
      expect(outcome.error?.exitCode).toBe(ExitCode.failed);
      expect(outcome.profiles).toBeUndefined();
      expect(readFileSync(options().out, 'utf8')).toBe('previous export');
      expect(readFileSync(profilesPath(), 'utf8')).toBe('previous profiles\n');
      expect(readdirSync(tmp()).sort()).toEqual(['customers.json', 'profiles.ndjson']);
    });

    it('with --allow-partial both are written, from the same customers', async () => {
      serveFixtures({ 5: 4 });
      const { deps: d } = await deps();
      const outcome = await runPull(options({ allowPartial: true, profiles: profilesPath() }), d);
      expect(outcome.error?.exitCode).toBe(ExitCode.failed);
      const document = ExportDocumentSchema.parse(JSON.parse(readFileSync(options().out, 'utf8')));
      expect(document.metadata).toMatchObject({ incomplete: true, missing_pages: [5] });
      const profiles = readProfiles();
      expect(profiles.length).toBe(document.metadata.profiles_written);
      expect(profiles.length + Number(document.metadata.profiles_without_email)).toBe(document.metadata.total_customers);
      const ids = new Set(document.customers.map((c) => c.customer_id));
      expect(profiles.every((p) => ids.has(p.metadata.customer_id))).toBe(true);
    });

    it('a profiles file that cannot be written leaves the export as it was too (exit 1, naming the file)', async () => {
      serveFixtures();
      writeFileSync(options().out, 'previous export');
      const { deps: d } = await deps();
      const missing = join(tmp(), 'gone', 'profiles.ndjson');
      const outcome = await runPull(options({ profiles: missing }), d);
      expect(outcome.error?.exitCode).toBe(ExitCode.failed);
      expect(outcome.error?.message).toContain(missing);
      expect(outcome.summary.out).toBeNull();
      expect(readFileSync(options().out, 'utf8')).toBe('previous export');
      expect(readdirSync(tmp())).toEqual(['customers.json']);
    });
  });

  it('reports an interruption as exit 130 and writes nothing', async () => {
    nock(BASE).get('/users').query(true).times(10).reply(503);
    const out = options().out;
    writeFileSync(out, 'previous');
    const controller = new AbortController();
    const { deps: d } = await deps();
    const pending = runPull(options(), { ...d, signal: controller.signal });
    setImmediate(() => controller.abort());
    const { error } = await pending;
    expect(error?.exitCode).toBe(ExitCode.interrupted);
    expect(readFileSync(out, 'utf8')).toBe('previous');
  });
});
