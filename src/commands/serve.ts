import { Option, type Command } from 'commander';
import { action } from '../cli/action.js';
import { addDeliveryOptions, destinationsHelp, downstreamToken } from '../cli/destination-options.js';
import { BOUNDS, durationOption, maxRetries, nonEmpty, port, redisUrl, retryFor } from '../cli/parsers.js';
import { programName } from '../cli/program-name.js';
import type { TargetFlags } from '../destinations/registry.js';
import { ExitCode } from '../errors.js';

interface ServeFlags extends TargetFlags {
  port: number;
  host: string;
  maxRetries: number;
  retryFor?: number;
  requestTimeout: number;
  redisUrl?: string;
  quotaKey?: string;
}

export function registerServe(program: Command): void {
  addDeliveryOptions(
    program
      .command('serve')
      .description('HTTP front door: POST /profiles waits for its own outcome from the platform')
      .addOption(new Option('--port <n>', 'port (0 = any free port)').env('PORT').default(3000).argParser(port))
      .option('--host <host>', 'address to bind', '127.0.0.1'),
  )
    .option('--max-retries <n>', `retries per batch for 5xx, timeouts and resets (at most ${BOUNDS.maxRetries.max})`, maxRetries, 3)
    .option('--retry-for <duration>', 'keep retrying a failing batch until this long after its first failure (30s, 30m, 2h; at most 24h), instead of stopping after --max-retries: backoff grows to 60 s, 429 waits count', retryFor)
    .addOption(durationOption('--request-timeout <duration>', 'longest a caller waits before 504 (10s, 500ms, or milliseconds; at most 3600s)', 10_000))
    .addOption(new Option('--redis-url <url>', 'share the rate limit with other instances through this Redis').env('SYNC_REDIS_URL').argParser(redisUrl()))
    .option('--quota-key <name>', "the shared rate limit's name (default: the SYNC_DOWNSTREAM_TOKEN's fingerprint, else the downstream's address)", nonEmpty)
    .addHelpText(
      'after',
      `
Endpoints: POST /profiles, POST /profiles/batch, GET /healthz, GET /livez, GET /metrics.

Several instances behind a load balancer share one limit with the same --redis-url (or
SYNC_REDIS_URL) and --quota-key.

${destinationsHelp()}

Example:
  $ ${programName()} serve --port 3000 --downstream-url http://127.0.0.1:4020
  $ curl -s localhost:3000/profiles -H 'content-type: application/json' \\
      -d '{"email":"ann@example.com","firstName":"Ann","lastName":"Lee"}'`,
    )
    .action(
      action<ServeFlags>(async (flags, context) => {
        const { startServe } = await import('../serve/run-serve.js');
        const running = await startServe(
          {
            ...flags,
            token: downstreamToken(),
            maxRetries: flags.maxRetries,
            retryForMs: flags.retryFor,
            requestTimeoutMs: flags.requestTimeout,
            redisUrl: flags.redisUrl,
            quotaKey: flags.quotaKey,
          },
          { logger: context.logger, verbose: context.verbose },
        );
        process.stdout.write(`listening ${running.url}\n`);
        // One access line per caller: written once per event-loop turn while serving, not one write each.
        const writeEachLine = context.terminal.gatherLines();
        const { rate, batchSize, concurrency, target } = running.resolved;
        context.logger.info({ stage: 'serve', url: running.url, to: target.destination.name, rate, batchSize, concurrency }, 'ready');
        // SIGTERM/SIGINT is a normal shutdown here: flush, answer everyone, exit 0.
        const signal = await new Promise<NodeJS.Signals>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        context.logger.info({ stage: 'serve', signal }, 'signal received');
        try {
          await running.shutdown();
        } finally {
          writeEachLine();
        }
        return { exitCode: ExitCode.ok, summary: running.delivery.executor.stats, stage: 'serve' };
      }),
    );
}
