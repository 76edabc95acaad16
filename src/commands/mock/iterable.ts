import { InvalidArgumentError, Option, type Command } from 'commander';
import { action } from '../../cli/action.js';
import { BOUNDS, integer, latency, mockRate, port, probability, wholeNumber } from '../../cli/parsers.js';
import { programName } from '../../cli/program-name.js';
import { FIELD_TYPES, type FieldType } from '../../mock/iterable-project.js';
import { randomFor, serveUntilSignal } from './serve-mock.js';

interface IterableFlags {
  port: number;
  key?: string[];
  rate: number;
  typeMismatch: 'per-user' | 'request';
  newFields: 'create' | 'drop';
  field?: { name: string; type: FieldType }[];
  retryAfter?: number;
  failRate: number;
  latency: number;
  seed?: number;
}

/** `--key KEY`, repeatable; never echoed back in a message (it is a key, even if only the mock's). */
function keys(value: string, previous: string[] = []): string[] {
  if (value.trim() === '') throw new InvalidArgumentError('expected an API key (not empty).');
  return previous.includes(value) ? previous : [...previous, value];
}

/** `--field NAME:TYPE`, repeatable: a data field the project has (and whose type it fixed) from the start. */
function fields(value: string, previous: { name: string; type: FieldType }[] = []): { name: string; type: FieldType }[] {
  const at = value.lastIndexOf(':');
  const name = at < 0 ? '' : value.slice(0, at);
  const type = value.slice(at + 1);
  if (name === '' || !(FIELD_TYPES as readonly string[]).includes(type)) {
    throw new InvalidArgumentError(`expected NAME:TYPE with a type among ${FIELD_TYPES.join(', ')} (such as plan:string).`);
  }
  return [...previous.filter((field) => field.name !== name), { name, type: type as FieldType }];
}

/** `sync mock iterable`: Iterable's bulk user update, its field types, limits and answers. */
export function registerIterableMock(mock: Command): void {
  mock
    .command('iterable')
    .description("imitate Iterable's bulk user update (POST /api/users/bulkUpdate): Api-Key auth, failedUpdates by email, field types fixed once set, 5 requests/s per key")
    .option('--port <n>', 'port (0 = any free port)', port, 4070)
    .option('--key <key>', 'an API key accepted, one project each, repeatable (default: any non-empty key, a project per key)', keys)
    .option('--rate <n>', `bulk updates per API key allowed to arrive in any 1000 ms before 429 (at most ${BOUNDS.mockRate.max})`, mockRate, 5)
    .addOption(
      new Option('--type-mismatch <how>', "a data field sent with another type than the project fixed: the user alone refused (failedUpdates.invalidDataEmails), or the whole request (400 RequestFieldsTypesMismatched)")
        .choices(['per-user', 'request'])
        .default('per-user'),
    )
    .addOption(new Option('--new-fields <what>', "data fields the project does not know yet: created, or dropped and listed in filteredOutFields (a request's createNewFields decides first)").choices(['create', 'drop']).default('create'))
    .option('--field <name:type>', `a data field every project has from the start, type ${FIELD_TYPES.join('|')} (repeatable)`, fields)
    .option('--retry-after <s>', 'seconds sent as Retry-After with a 429 (Iterable documents no header; default: none)', wholeNumber(0, 3600, 'seconds'))
    .option('--fail-rate <p>', 'share of requests answered 500/502/503/504 or reset (some 500s after the update)', probability, 0)
    .option('--latency <ms>', `delay before each answer, in ms (at most ${BOUNDS.latencyMs.max})`, latency, 0)
    .option('--seed <n>', 'seed for the failure draws (default: random)', integer)
    .addHelpText(
      'after',
      [
        '',
        'Addresses @suppressed.example are refused per user as forgotten (failedUpdates.forgottenEmails).',
        'GET /__mock/stats shows what the mock saw; GET /__mock/users?email=… the user it holds and',
        'GET /__mock/fields the field types (add &key=… when several projects exist).',
        '',
        'Example:',
        `  $ ${programName()} mock iterable --port 4070 --field plan:string --fail-rate 0.1`,
        `  $ SYNC_DOWNSTREAM_TOKEN=any-key ${programName()} push profiles.ndjson --to iterable --downstream-url http://127.0.0.1:4070 --map metadata.plan=plan`,
      ].join('\n'),
    )
    .action(
      action<IterableFlags>(async (flags, context) => {
        const { createIterableMock } = await import('../../mock/iterable-server.js');
        const server = createIterableMock({
          keys: flags.key,
          rate: flags.rate,
          typeMismatch: flags.typeMismatch,
          newFields: flags.newFields,
          fields: flags.field,
          retryAfter: flags.retryAfter,
          failRate: flags.failRate,
          latencyMs: flags.latency,
          random: randomFor(flags.seed),
          logger: context.logger,
        });
        return serveUntilSignal(server, flags, context, () => server.stats());
      }),
    );
}
