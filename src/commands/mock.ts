import type { Server } from 'node:http';
import type { Command } from 'commander';
import { action, type CommandOutcome } from '../cli/action.js';
import type { RunContext } from '../cli/context.js';
import { BOUNDS, integer, latency, mockRate, mockRateOrUnlimited, port, positiveInt, probability } from '../cli/parsers.js';
import { ExitCode, UsageError } from '../errors.js';
import { seededRandom } from '../engine/random.js';

interface CommonFlags {
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

/**
 * Listen, print `listening URL` on stdout (scripts read the port from it), serve until
 * SIGINT/SIGTERM, then close and report what the mock saw.
 */
async function serveUntilSignal(server: Server, flags: CommonFlags, context: RunContext, describe: () => object): Promise<CommandOutcome> {
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

const randomFor = (seed: number | undefined) => (seed === undefined ? Math.random : seededRandom(seed));

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
    .addHelpText('after', '\nExample:\n  $ sync mock reqres --port 4010 --fail-rate 0.2\n  $ sync pull --base-url http://127.0.0.1:4010/api')
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
      '\nAddresses @suppressed.example are rejected per profile. GET /stats shows what the mock saw.\n\nExample:\n  $ sync mock downstream --port 4020 --fail-rate 0.2 --latency 150\n  $ sync push fixtures/profiles/profiles.ndjson --downstream-url http://127.0.0.1:4020',
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
}
