import type { Command } from 'commander';
import { action } from '../cli/action.js';
import { integer, nonNegativeInt, port, positiveInt, probability } from '../cli/parsers.js';
import { ExitCode, UsageError } from '../errors.js';
import { seededRandom } from '../engine/random.js';

interface ReqresFlags {
  port: number;
  failRate: number;
  rate: number;
  seed?: number;
  perPage: number;
  fixture?: string;
}

/** Resolves on SIGINT/SIGTERM: a mock is a foreground server that stops cleanly with Ctrl-C. */
function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
}

export function registerMock(program: Command): void {
  const mock = program.command('mock').description('local servers that imitate the remote sides, with failure injection');

  mock
    .command('reqres')
    .description('serve the fixture users in reqres.in format (GET /api/users?page=N)')
    .option('--port <n>', 'port (0 = any free port)', port, 4010)
    .option('--fail-rate <p>', 'share of requests answered 500/503 or reset', probability, 0)
    .option('--rate <n>', 'requests allowed in any 1000 ms before 429 (0 = unlimited)', nonNegativeInt, 10)
    .option('--per-page <n>', 'users per page', positiveInt, 6)
    .option('--seed <n>', 'seed for the failure draws (default: random)', integer)
    .option('--fixture <file>', 'JSON array of users to serve (default: fixtures/reqres/users.json)')
    .addHelpText('after', '\nExample:\n  $ sync mock reqres --port 4010 --fail-rate 0.2\n  $ sync pull --base-url http://127.0.0.1:4010/api')
    .action(
      action<ReqresFlags>(async (flags, context) => {
        const { close, listen } = await import('../mock/http.js');
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
          random: flags.seed === undefined ? Math.random : seededRandom(flags.seed),
          logger: context.logger,
        });
        const url = await listen(server, flags.port);
        process.stdout.write(`listening ${url}\n`);
        context.logger.info({ stage: 'mock', url, users: users.length, failRate: flags.failRate, rate: flags.rate }, 'reqres mock ready');
        const signal = await untilSignal();
        await close(server);
        context.logger.info({ stage: 'mock', signal, ...server.stats }, 'reqres mock stopped');
        return { exitCode: ExitCode.ok, summary: server.stats };
      }),
    );
}
