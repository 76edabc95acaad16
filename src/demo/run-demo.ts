import { rm } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { programName } from '../cli/program-name.js';
import { makeDirectory } from '../io/make-directory.js';
import { seededRandom } from '../engine/random.js';
import { DESTINATION_NAMES } from '../destinations/registry.js';
import type { Logger } from '../logging/logger.js';
import { createDownstreamMock } from '../mock/downstream-server.js';
import { createHubspotMock } from '../mock/hubspot-server.js';
import { close, listen } from '../http/server.js';
import { createReqresMock, loadUsers } from '../mock/reqres-server.js';
import { runPull, type PullOutcome } from '../pull/run-pull.js';
import { MemoryStateStore } from '../state/state-store.js';
import { runPush, type PushOutcome } from '../push/run-push.js';
import { count } from '../ui/count.js';

/** The demo's HubSpot simulator accepts this private app token (a local stand-in, no secret). */
const DEMO_TOKEN = 'demo-private-app-token';

export const DEMO_PROFILES = fileURLToPath(new URL('../../fixtures/profiles/profiles.ndjson', import.meta.url));

export interface DemoOptions {
  outDir: string;
}

export interface DemoResult {
  pull: PullOutcome;
  push: PushOutcome;
  /** The same profiles pushed to a real platform's simulator: HubSpot. */
  hubspot: PushOutcome;
  files: { export: string; deadLetter: string; report: string; hubspotDeadLetter: string };
}

/**
 * The whole flow offline: both remote sides imitated in-process on free loopback ports, a pull
 * through injected failures and a tight rate limit (so retries and 429s show), then a push of the
 * bundled profiles (valid, invalid and suppressed mixed) through the batching engine.
 */
export async function runDemo({ outDir }: DemoOptions, { logger, runId }: { logger: Logger; runId: string }): Promise<DemoResult> {
  await makeDirectory(outDir);
  const files = {
    export: join(outDir, 'customers.json'),
    deadLetter: join(outDir, 'dead-letter.ndjson'),
    report: join(outDir, 'report.ndjson'),
    hubspotDeadLetter: join(outDir, 'hubspot-dead-letter.ndjson'),
  };
  // A fresh demo each time: the dead-letter file would otherwise accumulate across runs.
  await Promise.all(Object.values(files).map((file) => rm(file, { force: true })));

  const source = createReqresMock({ users: loadUsers(), rate: 3, random: seededRandom(1), logger });
  // Seed 7's first draw fails, so the push shows at least one retry with the same Idempotency-Key.
  const platform = createDownstreamMock({ rate: 5, failRate: 0.2, latencyMs: 50, random: seededRandom(7), logger });
  // HubSpot as its public reference describes it, with a custom property the demo maps a field to.
  const hubspot = createHubspotMock({ token: DEMO_TOKEN, properties: [{ name: 'lead_source' }], failRate: 0.1, latencyMs: 30, random: seededRandom(11), logger });
  const [sourceUrl, platformUrl, hubspotUrl] = await Promise.all([listen(source, 0), listen(platform, 0), listen(hubspot, 0)]);
  try {
    const pull = await runPull(
      { baseUrl: `${sourceUrl}/api`, apiKey: 'demo-key', out: files.export, maxRetries: 5, rate: 10, concurrency: 4, faultRate: 0.2, seed: 0, allowPartial: false, maxPages: 1000 },
      { logger },
    );
    const push = await runPush(
      { file: DEMO_PROFILES, downstreamUrl: platformUrl, rate: 5, batchSize: 10, maxRetries: 5, deadLetter: files.deadLetter, report: files.report, dryRun: false, stateDir: '', full: false },
      // The mock platform starts empty each time: so does the demo's memory of what it accepted.
      { logger, runId, state: new MemoryStateStore() },
    );
    const toHubspot = await runPush(
      {
        file: DEMO_PROFILES,
        to: 'hubspot',
        downstreamUrl: hubspotUrl,
        token: DEMO_TOKEN,
        map: ['metadata.source=lead_source'],
        maxRetries: 5,
        deadLetter: files.hubspotDeadLetter,
        dryRun: false,
        stateDir: '',
        full: false,
      },
      { logger, runId, state: new MemoryStateStore() },
    );
    return { pull, push, hubspot: toHubspot, files };
  } finally {
    await Promise.all([close(source), close(platform), close(hubspot)]);
  }
}

/** The readable report: what happened, in numbers, and where the files are. */
export function describeDemo({ pull, push, hubspot, files }: DemoResult, cwd = process.cwd()): string[] {
  const p = pull.summary;
  const s = push.summary;
  const h = hubspot.summary;
  const q = p.qualitySummary;
  const path = (file: string) => relative(cwd, file) || file;
  const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const name = programName();
  return [
    `${name} demo: the whole flow, offline, against local imitations of both remote sides.`,
    '',
    '1. pull: customers from the reqres users API (local mock allowing 3 requests/s; --fault-rate 0.2 fails 20% of requests)',
    `   ${count(p.pages, 'page')} · ${count(p.requests, 'request')} · ${count(p.retries, 'retry', 'retries')} (backoff with jitter) · ${p.rateLimited} answered 429 (waited Retry-After) · ${seconds(p.durationMs)}`,
    `   ${count(p.fetched, 'record')} fetched → ${count(p.duplicatesRemoved, 'duplicate')} removed → ${count(p.exported, 'customer')} enriched and exported`,
    `   data quality: ${q.high_quality} high · ${q.medium_quality} medium · ${q.low_quality} low`,
    pull.error ? `   failed: ${pull.error.message}` : `   → ${path(files.export)}`,
    '',
    `2. push: ${count(s.total, 'user profile')} to the marketing platform (local mock: 5 requests/s, 20% of requests failing)`,
    `   ${s.delivered} delivered in ${count(s.batches, 'batch', 'batches')} · ${s.invalid} invalid · ${s.rejected} rejected by the platform (suppressed) · ${count(s.duplicates, 'duplicate')} merged`,
    `   ${count(s.requests, 'request')} · ${count(s.retries, 'retry', 'retries')} (same Idempotency-Key) · ${s.rateLimited} answered 429 · ${seconds(s.durationMs)}`,
    `   ${count(s.deadLettered, 'record')} not delivered, each with its line and reason → ${path(files.deadLetter)}`,
    `   one outcome per record → ${path(files.report)}`,
    '',
    `3. push --to hubspot: the same ${count(h.total, 'profile')} to HubSpot (local simulator of its batch upsert: 100 contacts a request, 100 requests per rolling 10 s, 10% failing)`,
    `   ${count(h.delivered, 'contact')} upserted in ${count(h.batches, 'batch', 'batches')} (metadata.source → the property lead_source) · ${h.rejected} refused by HubSpot (blocked addresses) · ${count(h.retries, 'retry', 'retries')} · ${seconds(h.durationMs)}`,
    `   ${count(h.deadLettered, 'record')} not delivered → ${path(files.hubspotDeadLetter)}`,
    '',
    'Nothing was lost: every record was exported, delivered, merged, or written to the dead-letter file.',
    `Next: ${name} pull --help · ${name} push --help (destinations: --to ${DESTINATION_NAMES.join('|')}) · ${name} serve --help`,
    `Replay the failures against a platform: ${name} push ${path(files.deadLetter)} --dead-letter ${path(files.deadLetter)} --downstream-url URL`,
  ];
}
