import { InvalidArgumentError, Option, type Command } from 'commander';
import { action } from '../../cli/action.js';
import { programName } from '../../cli/program-name.js';
import { BOUNDS, dailyLimit, integer, latency, port, probability, rateWindow } from '../../cli/parsers.js';
import { maskEmail } from '../../logging/logger.js';
import { parsePropertySpec, type CustomPropertySpec } from '../../mock/hubspot-properties.js';
import { randomFor, serveUntilSignal, type CommonFlags } from './serve-mock.js';

interface HubspotFlags extends CommonFlags {
  rate: { limit: number; windowMs: number };
  daily: number;
  token?: string;
  readOnlyToken?: string[];
  property?: CustomPropertySpec[];
  latency: number;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

function propertySpecs(value: string, previous: CustomPropertySpec[] = []): CustomPropertySpec[] {
  try {
    return [...previous, parsePropertySpec(value)];
  } catch (error) {
    throw new InvalidArgumentError(`${(error as Error).message}.`);
  }
}

/** `sync mock hubspot`: HubSpot's batch contact upsert and contact properties. */
export function registerHubspotMock(mock: Command): void {
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
        const { createHubspotMock } = await import('../../mock/hubspot-server.js');
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
}
