import type { Command } from 'commander';
import { action } from '../../cli/action.js';
import { programName } from '../../cli/program-name.js';
import { BOUNDS, integer, mockRateOrUnlimited, port, positiveInt, probability } from '../../cli/parsers.js';
import { UsageError } from '../../errors.js';
import { randomFor, serveUntilSignal, type CommonFlags } from './serve-mock.js';

interface ReqresFlags extends CommonFlags {
  rate: number;
  shift?: boolean;
  perPage: number;
  fixture?: string;
}

/** `sync mock reqres`: the source side, reqres.in's users listing. */
export function registerReqresMock(mock: Command): void {
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
        const { createReqresMock, DEFAULT_USERS_FIXTURE, loadUsers } = await import('../../mock/reqres-server.js');
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
}
