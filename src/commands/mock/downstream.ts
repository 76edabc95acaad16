import type { Command } from 'commander';
import { action } from '../../cli/action.js';
import { programName } from '../../cli/program-name.js';
import { BOUNDS, integer, latency, mockRate, port, positiveInt, probability } from '../../cli/parsers.js';
import { randomFor, serveUntilSignal, type CommonFlags } from './serve-mock.js';

interface DownstreamFlags extends CommonFlags {
  rate: number;
  maxBatch: number;
  latency: number;
}

/** `sync mock downstream`: a platform speaking sync's own wire format (docs/wire-format.md). */
export function registerDownstreamMock(mock: Command): void {
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
        const { createDownstreamMock } = await import('../../mock/downstream-server.js');
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
}
