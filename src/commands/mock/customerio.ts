import type { Command } from 'commander';
import { action } from '../../cli/action.js';
import { BOUNDS, integer, latency, mockRate, port, probability } from '../../cli/parsers.js';
import { programName } from '../../cli/program-name.js';
import type { CommonFlags } from './serve-mock.js';

interface CustomerioFlags extends CommonFlags {
  rate: number;
  siteId?: string;
  apiKey?: string;
  latency: number;
}

/** `sync mock customerio`: Customer.io's Track API v2 batch call, as its public reference describes it. */
export function registerCustomerioMock(mock: Command): void {
  mock
    .command('customerio')
    .description("imitate Customer.io's Track API batch call (POST /api/v2/batch): Basic auth, 500 KB a request, 32 KB an entry, per-entry errors (207)")
    .option('--port <n>', 'port (0 = any free port)', port, 4060)
    .option('--rate <n>', `requests admitted in any 1000 ms before 429 + Retry-After (Customer.io's fair use: 100; at most ${BOUNDS.mockRate.max})`, mockRate, 100)
    .option('--site-id <id>', 'the only site id accepted (default: any non-empty one)')
    .option('--api-key <key>', 'the only API key accepted (default: any non-empty one)')
    .option('--fail-rate <p>', 'share of requests answered 500/502/503/504 or reset (some 500s after the batch was processed)', probability, 0)
    .option('--latency <ms>', `delay before each answer, in ms (at most ${BOUNDS.latencyMs.max})`, latency, 0)
    .option('--seed <n>', 'seed for the failure draws (default: random)', integer)
    .addHelpText(
      'after',
      [
        '',
        'Authenticate with HTTP Basic, SITE_ID:API_KEY. Addresses @suppressed.example are refused per entry.',
        'A request over 500,000 bytes is refused whole (400); an entry over 32,000 bytes, an attribute value',
        'over 1,000 bytes or a name over 150 bytes is refused alone in a 207. GET /__mock/stats shows what the',
        'mock saw (largest request and entry, anything over the limits); GET /__mock/people?email=… a person.',
        '',
        'Example:',
        `  $ ${programName()} mock customerio --port 4060 --fail-rate 0.1`,
        `  $ SYNC_DOWNSTREAM_TOKEN=site:key ${programName()} push fixtures/profiles/profiles.ndjson --to customerio --downstream-url http://127.0.0.1:4060`,
      ].join('\n'),
    )
    .action(
      action<CustomerioFlags>(async (flags, context) => {
        const { serveUntilSignal, randomFor } = await import('./serve-mock.js');
        const { createCustomerioMock } = await import('../../mock/customerio-server.js');
        const server = createCustomerioMock({
          siteId: flags.siteId,
          apiKey: flags.apiKey,
          rate: flags.rate,
          failRate: flags.failRate,
          latencyMs: flags.latency,
          random: randomFor(flags.seed),
          logger: context.logger,
        });
        return serveUntilSignal(server, flags, context, () => server.stats());
      }),
    );
}
