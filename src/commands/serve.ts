import { Option, type Command } from 'commander';
import { action } from '../cli/action.js';
import { baseUrl, batchSize, BOUNDS, duration, maxRetries, nonEmpty, port, rate, redisUrl, retryFor } from '../cli/parsers.js';
import { ExitCode } from '../errors.js';

interface ServeFlags {
  port: number;
  host: string;
  downstreamUrl: string;
  rate: number;
  batchSize: number;
  maxRetries: number;
  retryFor?: number;
  requestTimeout: number;
  redisUrl?: string;
  quotaKey?: string;
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('HTTP front door: POST /profiles waits for its own downstream outcome')
    .addOption(new Option('--port <n>', 'port (0 = any free port)').env('PORT').default(3000).argParser(port))
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .addOption(new Option('--downstream-url <url>', 'marketing platform base URL').env('SYNC_DOWNSTREAM_URL').argParser(baseUrl('--downstream-url', 'SYNC_DOWNSTREAM_URL')).makeOptionMandatory())
    .option('--rate <n>', `downstream requests per second, retries included (${BOUNDS.rate.min}–${BOUNDS.rate.max})`, rate, 5)
    .option('--batch-size <n>', `most profiles per request (at most ${BOUNDS.batchSize.max})`, batchSize, 500)
    .option('--max-retries <n>', `retries per batch for 5xx, timeouts and resets (at most ${BOUNDS.maxRetries.max})`, maxRetries, 3)
    .option('--retry-for <duration>', 'keep retrying a failing batch until this long after its first failure (30s, 30m, 2h; at most 24h), instead of stopping after --max-retries: backoff grows to 60 s, 429 waits count', retryFor)
    .option('--request-timeout <duration>', 'longest a caller waits before 504 (10s, 500ms, or milliseconds; at most 3600s)', duration, 10_000)
    .addOption(new Option('--redis-url <url>', 'share the rate limit with other instances through this Redis').env('SYNC_REDIS_URL').argParser(redisUrl()))
    .option('--quota-key <name>', "the shared rate limit's name (default: the SYNC_DOWNSTREAM_TOKEN's fingerprint, else the downstream's address)", nonEmpty)
    .addHelpText(
      'after',
      `
Endpoints: POST /profiles, POST /profiles/batch, GET /healthz, GET /livez, GET /metrics.

Several instances behind a load balancer share one limit with the same --redis-url (or
SYNC_REDIS_URL) and --quota-key.

Example:
  $ sync serve --port 3000 --downstream-url http://127.0.0.1:4020
  $ curl -s localhost:3000/profiles -H 'content-type: application/json' \\
      -d '{"email":"ann@example.com","firstName":"Ann","lastName":"Lee"}'`,
    )
    .action(
      action<ServeFlags>(async (flags, context) => {
        const { startServe } = await import('../serve/run-serve.js');
        const running = await startServe(
          {
            host: flags.host,
            port: flags.port,
            downstreamUrl: flags.downstreamUrl,
            token: process.env.SYNC_DOWNSTREAM_TOKEN || undefined,
            rate: flags.rate,
            batchSize: flags.batchSize,
            maxRetries: flags.maxRetries,
            retryForMs: flags.retryFor,
            requestTimeoutMs: flags.requestTimeout,
            redisUrl: flags.redisUrl,
            quotaKey: flags.quotaKey,
          },
          { logger: context.logger, verbose: context.verbose },
        );
        process.stdout.write(`listening ${running.url}\n`);
        context.logger.info({ stage: 'serve', url: running.url, rate: flags.rate, batchSize: flags.batchSize }, 'ready');
        // SIGTERM/SIGINT is a normal shutdown here: flush, answer everyone, exit 0.
        const signal = await new Promise<NodeJS.Signals>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        context.logger.info({ stage: 'serve', signal }, 'signal received');
        await running.shutdown();
        return { exitCode: ExitCode.ok, summary: running.delivery.executor.stats, stage: 'serve' };
      }),
    );
}
