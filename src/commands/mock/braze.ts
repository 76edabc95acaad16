import type { Command } from 'commander';
import { action } from '../../cli/action.js';
import { BOUNDS, integer, latency, port, probability } from '../../cli/parsers.js';
import { programName } from '../../cli/program-name.js';
import { maskEmail } from '../../logging/logger.js';
import { randomFor, serveUntilSignal, type CommonFlags } from './serve-mock.js';

interface BrazeFlags extends CommonFlags {
  key?: string;
  latency: number;
}

/**
 * `sync mock braze`: Braze's `POST /users/track`, as its public reference describes it. Its rate
 * limit is Braze's own (3,000 requests per 3 s per workspace): the SPEC gives this mock no --rate.
 */
export function registerBrazeMock(mock: Command): void {
  mock
    .command('braze')
    .description("imitate Braze's user track call (POST /users/track): REST API key, 75 objects a request, per-object errors, 3,000 requests per 3 s")
    .option('--port <n>', 'port (0 = any free port)', port, 4050)
    .option('--key <key>', 'the only REST API key accepted (default: any non-empty one)')
    .option('--fail-rate <p>', 'share of requests answered 500/502/503/504 or reset (some 500s after processing)', probability, 0)
    .option('--latency <ms>', `delay before each answer, in ms (at most ${BOUNDS.latencyMs.max})`, latency, 0)
    .option('--seed <n>', 'seed for the failure draws (default: random)', integer)
    .addHelpText(
      'after',
      [
        '',
        "Objects with an address Braze would not take (such as any @suppressed.example) are refused one by one",
        "inside the 201 \"success\" (errors[].index), or with a 400 when no object in the request is valid.",
        'GET /__mock/stats shows what the mock saw; GET /__mock/users?email=… what it holds for one user.',
        '',
        'Example:',
        `  $ ${programName()} mock braze --port 4050 --fail-rate 0.1`,
        `  $ SYNC_DOWNSTREAM_TOKEN=any ${programName()} push profiles.ndjson --to braze --downstream-url http://127.0.0.1:4050`,
      ].join('\n'),
    )
    .action(
      action<BrazeFlags>(async (flags, context) => {
        const { createBrazeMock } = await import('../../mock/braze-server.js');
        const server = createBrazeMock({ key: flags.key, failRate: flags.failRate, latencyMs: flags.latency, random: randomFor(flags.seed), logger: context.logger });
        // The summary goes to the log: the addresses it names are masked there.
        const summary = (): object => {
          const stats = server.stats();
          return { ...stats, updatedMoreThanOnce: Object.fromEntries(Object.entries(stats.updatedMoreThanOnce).map(([who, times]) => [who.includes('@') ? maskEmail(who) : who, times])) };
        };
        return serveUntilSignal(server, flags, context, summary);
      }),
    );
}
