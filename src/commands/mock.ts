import type { Server } from 'node:http';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { action, type CommandOutcome } from '../cli/action.js';
import type { RunContext } from '../cli/context.js';
import { programName } from '../cli/program-name.js';
import { BOUNDS, dailyLimit, integer, latency, mockRate, mockRateOrUnlimited, port, positiveInt, probability, rateWindow, wholeNumber } from '../cli/parsers.js';
import { ExitCode, UsageError } from '../errors.js';
import { seededRandom } from '../engine/random.js';
import { maskEmail } from '../logging/logger.js';
import { parsePropertySpec, type CustomPropertySpec } from '../mock/hubspot-properties.js';
import type { MergeFieldSpec } from '../mock/mailchimp-merge-fields.js';
import * as mailchimpFlags from '../mock/mailchimp-options.js';
import { registerBrazeMock } from './mock/braze.js';
import { registerCustomerioMock } from './mock/customerio.js';
import { registerIterableMock } from './mock/iterable.js';

export interface CommonFlags {
  port: number;
  failRate: number;
  seed?: number;
}

interface ReqresFlags extends CommonFlags {
  rate: number;
  shift?: boolean;
  perPage: number;
  fixture?: string;
}

interface DownstreamFlags extends CommonFlags {
  rate: number;
  maxBatch: number;
  latency: number;
}

interface HubspotFlags extends CommonFlags {
  rate: { limit: number; windowMs: number };
  daily: number;
  token?: string;
  readOnlyToken?: string[];
  property?: CustomPropertySpec[];
  latency: number;
}

interface MailchimpFlags extends CommonFlags {
  connections: number;
  latency: number;
  key?: string;
  dc?: string;
  list?: string[];
  mergeField?: MergeFieldSpec[];
  maxMembers: number;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

function propertySpecs(value: string, previous: CustomPropertySpec[] = []): CustomPropertySpec[] {
  try {
    return [...previous, parsePropertySpec(value)];
  } catch (error) {
    throw new InvalidArgumentError(`${(error as Error).message}.`);
  }
}

/**
 * Listen, print `listening URL` on stdout (scripts read the port from it), serve until
 * SIGINT/SIGTERM, then close and report what the mock saw.
 */
export async function serveUntilSignal(server: Server, flags: CommonFlags, context: RunContext, describe: () => object): Promise<CommandOutcome> {
  const { close, listen } = await import('../http/server.js');
  // Listening for the signals before saying `listening`: a script that reads the line and stops
  // the mock at once must not find Node's default action (death by signal) still in place.
  const stopped = new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  const url = await listen(server, flags.port);
  process.stdout.write(`listening ${url}\n`);
  context.logger.info({ stage: 'mock', url, failRate: flags.failRate }, 'mock ready');
  const signal = await stopped;
  await close(server);
  const summary = describe();
  context.logger.info({ stage: 'mock', signal, ...summary }, 'mock stopped');
  return { exitCode: ExitCode.ok, summary, stage: 'mock' };
}

export const randomFor = (seed: number | undefined) => (seed === undefined ? Math.random : seededRandom(seed));

export function registerMock(program: Command): void {
  const mock = program.command('mock').description('local servers that imitate the remote sides, with failure injection');

  mock
    .command('reqres')
    .description('serve the fixture users in reqres.in format (GET /api/users?page=N)')
    .option('--port <n>', 'port (0 = any free port)', port, 4010)
    .option('--fail-rate <p>', 'share of requests answered 500/503 or reset', probability, 0)
    .option('--rate <n>', `requests allowed in any 1000 ms before 429 (0 = unlimited; at most ${BOUNDS.mockRate.max})`, mockRateOrUnlimited, 10)
    .option('--per-page <n>', 'users per page', positiveInt, 6)
    .option('--seed <n>', 'seed for the failure draws (default: random)', integer)
    .option('--fixture <file>', 'JSON array of users to serve (default: fixtures/reqres/users.json)')
    .option('--shift', 'a listing that moves: before each page served, one new user arrives first and the oldest drops off the end')
    .addHelpText('after', `\nExample:\n  $ ${programName()} mock reqres --port 4010 --fail-rate 0.2\n  $ ${programName()} pull --base-url http://127.0.0.1:4010/api`)
    .action(
      action<ReqresFlags>(async (flags, context) => {
        const { createReqresMock, DEFAULT_USERS_FIXTURE, loadUsers } = await import('../mock/reqres-server.js');
        let users: unknown[];
        try {
          users = loadUsers(flags.fixture ?? DEFAULT_USERS_FIXTURE);
        } catch (error) {
          throw new UsageError(`${flags.fixture ?? 'fixture'}: cannot read users (${(error as Error).message})`);
        }
        if (!Array.isArray(users)) throw new UsageError(`${flags.fixture}: expected a JSON array of users`);
        const server = createReqresMock({
          users,
          perPage: flags.perPage,
          failRate: flags.failRate,
          rate: flags.rate,
          shift: Boolean(flags.shift),
          random: randomFor(flags.seed),
          logger: context.logger,
        });
        return serveUntilSignal(server, flags, context, () => server.stats);
      }),
    );

  mock
    .command('downstream')
    .description('serve the marketing platform contract (POST /profiles/batch), enforcing its rate limit with 429s')
    .option('--port <n>', 'port (0 = any free port)', port, 4020)
    .option('--rate <n>', `requests allowed to arrive in any 1000 ms (at most ${BOUNDS.mockRate.max})`, mockRate, 5)
    .option('--max-batch <n>', 'most profiles per request (more: 413)', positiveInt, 1000)
    .option('--fail-rate <p>', 'share of requests answered 500/502/503/504 or reset (some 500s after processing)', probability, 0)
    .option('--latency <ms>', `delay before each answer, in ms (at most ${BOUNDS.latencyMs.max})`, latency, 0)
    .option('--seed <n>', 'seed for the failure draws (default: random)', integer)
    .addHelpText(
      'after',
      `\nAddresses @suppressed.example are rejected per profile. GET /stats shows what the mock saw.\n\nExample:\n  $ ${programName()} mock downstream --port 4020 --fail-rate 0.2 --latency 150\n  $ ${programName()} push fixtures/profiles/profiles.ndjson --downstream-url http://127.0.0.1:4020`,
    )
    .action(
      action<DownstreamFlags>(async (flags, context) => {
        const { createDownstreamMock } = await import('../mock/downstream-server.js');
        const server = createDownstreamMock({
          rate: flags.rate,
          maxBatch: flags.maxBatch,
          failRate: flags.failRate,
          latencyMs: flags.latency,
          random: randomFor(flags.seed),
          logger: context.logger,
        });
        return serveUntilSignal(server, flags, context, () => server.stats());
      }),
    );

  // ── mock hubspot ────────────────────────────────────────────────────────────────────────────
  mock
    .command('hubspot')
    .description("imitate HubSpot's batch contact upsert (POST /crm/v3/objects/contacts/batch/upsert) and contact properties")
    .option('--port <n>', 'port (0 = any free port)', port, 4030)
    .addOption(
      new Option('--rate <n/duration>', 'requests allowed to arrive in a rolling window (429 TEN_SECONDLY_ROLLING past it)')
        .argParser(rateWindow)
        .default({ limit: 100, windowMs: 10_000 }, '100/10s'),
    )
    .option('--daily <n>', 'requests allowed per day, UTC (429 DAILY past it)', dailyLimit, 250_000)
    .option('--token <token>', 'the only Bearer token accepted (default: any non-empty one)')
    .option('--read-only-token <token>', 'a token accepted without the write scope: upserts get 403 MISSING_SCOPES (repeatable)', collect)
    .option('--property <name[:type[:a,b,c]]>', 'a custom contact property; type string|number|date|datetime|bool|enumeration|checkbox (repeatable)', propertySpecs)
    .option('--fail-rate <p>', 'share of requests answered 500/502/503/504 or reset (some 500s after the upsert)', probability, 0)
    .option('--latency <ms>', `delay before each answer, in ms (at most ${BOUNDS.latencyMs.max})`, latency, 0)
    .option('--seed <n>', 'seed for the failure draws (default: random)', integer)
    .addHelpText(
      'after',
      [
        '',
        'Addresses @suppressed.example are refused per input (BLOCKED_EMAIL). Every input carrying an',
        'objectWriteTraceId gets per-input answers (207); otherwise one bad input refuses the batch (400).',
        'GET /__mock/stats shows what the mock saw; GET /__mock/contacts?email=… what it holds for one.',
        '',
        'Example:',
        `  $ ${programName()} mock hubspot --port 4030 --property plan:enumeration:free,pro --fail-rate 0.1`,
        `  $ SYNC_DOWNSTREAM_TOKEN=any ${programName()} push profiles.ndjson --to hubspot --downstream-url http://127.0.0.1:4030`,
      ].join('\n'),
    )
    .action(
      action<HubspotFlags>(async (flags, context) => {
        const { createHubspotMock } = await import('../mock/hubspot-server.js');
        // A custom property that clashes with another (or a default) is a UsageError: exit 2.
        const server = createHubspotMock({
          token: flags.token,
          readOnlyTokens: flags.readOnlyToken,
          rate: flags.rate,
          daily: flags.daily,
          properties: flags.property,
          failRate: flags.failRate,
          latencyMs: flags.latency,
          random: randomFor(flags.seed),
          logger: context.logger,
        });
        // The summary goes to the log: the addresses it names are masked there.
        const summary = (): object => {
          const stats = server.stats();
          return { ...stats, upsertedMoreThanOnce: Object.fromEntries(Object.entries(stats.upsertedMoreThanOnce).map(([email, times]) => [maskEmail(email), times])) };
        };
        return serveUntilSignal(server, flags, context, summary);
      }),
    );

  // ─── sync mock mailchimp ────────────────────────────────────────────────────────────────────
  // Mailchimp Marketing API v3's batch list-member call, as its public reference describes it.


  mock
    .command('mailchimp')
    .description("imitate Mailchimp's batch subscribe call (POST /3.0/lists/{list_id}): API-key auth, merge fields, per-member errors, 10 simultaneous connections")
    .option('--port <n>', 'port (0 = any free port)', port, 4040)
    .option('--connections <n>', 'requests open at once (latency included) before the next gets 429, as Mailchimp allows 10', wholeNumber(1, 1000, 'simultaneous connections'), 10)
    .option('--key <key>', 'the only API key accepted (default: any key of the form <32 hex>-us21)', mailchimpFlags.apiKey)
    .option('--dc <dc>', "the data centre this mock stands for: a key of another one gets 403 (default: any)", mailchimpFlags.dataCentre)
    .option('--list <id>', 'an audience id the mock serves, repeatable (default: a1b2c3d4e5)', mailchimpFlags.listIds)
    .option('--merge-field <tag[:type][:required]>', 'a merge field every audience has besides FNAME and LNAME (text), repeatable; e.g. LTV:number, FNAME:text:required', mailchimpFlags.mergeFields)
    .option('--max-members <n>', 'members held across all audiences; past it a new member is refused per member', wholeNumber(1, 1_000_000, 'members'), 100_000)
    .option('--fail-rate <p>', 'share of requests answered 500 (half of the batch ones after processing), 503, or reset', probability, 0)
    .option('--latency <ms>', `how long each request is held open before its answer, in ms (at most ${BOUNDS.latencyMs.max})`, latency, 0)
    .option('--seed <n>', 'seed for the failure draws (default: random)', integer)
    .addHelpText(
      'after',
      [
        '',
        'Authenticate with HTTP Basic, any user name, the API key as password. Addresses @suppressed.example',
        'are refused as "looks fake or invalid". GET /__mock/stats shows what the mock saw, and',
        'GET /__mock/members?list=ID&email=ADDRESS the member it holds.',
        '',
        'Example:',
        `  $ ${programName()} mock mailchimp --port 4040 --merge-field LTV:number`,
        `  $ SYNC_DOWNSTREAM_TOKEN=0123456789abcdef0123456789abcdef-us21 ${programName()} push fixtures/profiles/profiles.ndjson \\`,
        '      --to mailchimp --list a1b2c3d4e5 --downstream-url http://127.0.0.1:4040',
      ].join('\n'),
    )
    .action(
      action<MailchimpFlags>(async (flags, context) => {
        mailchimpFlags.checkKeyAndDataCentre(flags.key, flags.dc);
        const { createMailchimpMock } = await import('../mock/mailchimp-server.js');
        const server = createMailchimpMock({
          key: flags.key,
          dc: flags.dc,
          lists: flags.list,
          mergeFields: flags.mergeField,
          connections: flags.connections,
          maxMembers: flags.maxMembers,
          failRate: flags.failRate,
          latencyMs: flags.latency,
          random: randomFor(flags.seed),
          logger: context.logger,
        });
        return serveUntilSignal(server, flags, context, () => server.stats());
      }),
    );

  registerBrazeMock(mock);
  registerCustomerioMock(mock);
  registerIterableMock(mock);
}
