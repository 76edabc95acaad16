import { Command, Option } from 'commander';
import { redactCredentials } from '../logging/redact.js';
import { version } from '../version.js';
import { COMMAND_NAMES, type CommandName } from './command-names.js';
import { programName } from './program-name.js';
import { oneLineMessage } from './usage-output.js';

export { commandsFor } from './command-names.js';

type Register = (program: Command) => void;

/**
 * Each command's module, loaded only when needed: a run loads the one it runs, not the other six
 * and what they import (`sync push` used to load every mock's and command's modules before its own
 * action started). Help, and anything commander must tell apart (a mistyped command, `help push`),
 * loads them all.
 */
const COMMANDS: Record<CommandName, () => Promise<Register>> = {
  pull: async () => (await import('../commands/pull.js')).registerPull,
  push: async () => (await import('../commands/push.js')).registerPush,
  serve: async () => (await import('../commands/serve.js')).registerServe,
  state: async () => (await import('../commands/state.js')).registerState,
  runs: async () => (await import('../commands/runs.js')).registerRuns,
  mock: async () => (await import('../commands/mock.js')).registerMock,
  demo: async () => (await import('../commands/demo.js')).registerDemo,
};

/** The program with the given commands registered (default: all of them, in the order help lists them). */
export async function createProgram({ writeErr, commands = COMMAND_NAMES }: { writeErr?: (text: string) => void; commands?: readonly string[] } = {}): Promise<Command> {
  const registers = await Promise.all(COMMAND_NAMES.filter((name) => commands.includes(name)).map((name) => COMMANDS[name]()));
  const name = programName();
  const program = new Command(name)
    .description('Pull customers from the reqres users API and push profiles to a marketing platform, reliably.')
    .version(version)
    .option('--json', 'print the run summary as one JSON object on stdout, nothing else there')
    .addOption(
      new Option('--log-format <format>', 'log format on stderr (default: pretty on a TTY, json otherwise)')
        .choices(['json', 'pretty'])
        .env('SYNC_LOG_FORMAT'),
    )
    .option('-q, --quiet', 'only warnings and errors on stderr')
    .option('--verbose', 'debug logs, unmasked emails and stack traces')
    .option('--no-color', 'no colour on stderr (NO_COLOR is honoured too)')
    .showSuggestionAfterError()
    // Commander exits 1 on its own parse errors; the contract says 2. Settings set here are
    // inherited by every `program.command(...)` registered below.
    .exitOverride()
    // Commander echoes a refused value in its message: a URL's password must not reach the terminal or the log.
    // Its hint (`(Did you mean pull?)`) stays on the error's line: one mistake, one line.
    .configureOutput({
      writeErr: writeErr ?? ((text) => process.stderr.write(text)),
      outputError: (text, write) => write(`error: ${oneLineMessage(redactCredentials(text))}\n`),
    })
    // Every command's help lists the options that work everywhere (--json, --quiet, --log-format…).
    .configureHelp({ showGlobalOptions: true })
    .addHelpText(
      'after',
      `
Examples:
  $ ${name} demo                                     # the whole flow offline, in about 2 s
  $ ${name} pull --out customers.json                # reqres users → enriched export
  $ ${name} push profiles.ndjson --downstream-url https://platform.example
  $ ${name} serve --port 3000 --downstream-url https://platform.example

Exit codes: 0 done · 1 failed · 2 could not start · 3 some records rejected · 130 interrupted`,
    );

  for (const register of registers) register(program);
  return program;
}
