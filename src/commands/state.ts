import { Option, type Command } from 'commander';
import { action } from '../cli/action.js';
import type { RunContext } from '../cli/context.js';
import { addTargetOptions, downstreamToken } from '../cli/destination-options.js';
import { programName } from '../cli/program-name.js';
import type { TargetFlags as PlatformFlags } from '../destinations/registry.js';
import { ExitCode, UsageError } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import { defaultStateDir, parseStateDir } from '../state/state-dir.js';

interface TargetFlags extends PlatformFlags {
  state: string;
}

/** The flags that name a state and a platform in it, as push takes them. */
function withTarget(command: Command): Command {
  return addTargetOptions(command).addOption(
    new Option('--state <dir>', "push's state directory").env('SYNC_STATE_DIR').argParser(parseStateDir).default(defaultStateDir(), '$XDG_STATE_HOME/sync or ~/.local/state/sync'),
  );
}

const targetOf = (flags: TargetFlags) => ({ ...flags, stateDir: flags.state, credential: downstreamToken() });

export function registerState(program: Command): void {
  const state = program.command('state').description("what push remembers each platform accepted: show, forget, or reset it");

  withTarget(state.command('show').description('one JSON line per email: whether it is remembered and when the platform accepted it').argument('<email...>'))
    .addHelpText('after', `\nExample:\n  $ ${programName()} state show ann@example.com --downstream-url https://platform.example`)
    .action(
      action<TargetFlags>(async (flags, context, emails) => {
        const { showState } = await import('../state/state-commands.js');
        const shown = await showState(targetOf(flags), emails, context.logger);
        process.stdout.write(shown.map((line) => `${JSON.stringify(line)}\n`).join(''));
        return { exitCode: ExitCode.ok, stage: 'run' };
      }),
    );

  withTarget(state.command('forget').description('make the next push send these emails (or --all) again').argument('[email...]'))
    .option('--all', "forget every email of this platform (other platforms' are kept)")
    .addHelpText('after', `\nExample:\n  $ ${programName()} state forget --all --downstream-url https://platform.example   # after the platform lost its data`)
    .action(
      action<TargetFlags & { all?: boolean }>(async (flags, context, emails) => {
        if (flags.all === (emails.length > 0)) throw new UsageError('name the emails to forget, or --all (not both)');
        const { forgetState, forgotSentence } = await import('../state/state-commands.js');
        const { forgotten, platform } = await forgetState(targetOf(flags), flags.all ? 'all' : emails, outcomeLogger(context));
        return {
          exitCode: ExitCode.ok,
          summary: { forgotten, platform, state: flags.state },
          report: [forgotSentence(forgotten, platform, flags.all ? 'all' : emails)],
          stage: 'run',
        };
      }),
    );

  state
    .command('reset')
    .description('move the whole state aside (all platforms), e.g. when it is damaged; the next push sends everything once')
    .addOption(new Option('--state <dir>', "push's state directory").env('SYNC_STATE_DIR').argParser(parseStateDir).default(defaultStateDir(), '$XDG_STATE_HOME/sync or ~/.local/state/sync'))
    .action(
      action<{ state: string }>(async (flags, context) => {
        const { resetState } = await import('../state/state-commands.js');
        const { movedTo } = await resetState(flags.state, outcomeLogger(context));
        return {
          exitCode: ExitCode.ok,
          summary: { state: flags.state, movedTo },
          report: [movedTo ? `State moved aside to ${movedTo}; the next push starts a new one.` : `No state in ${flags.state}: nothing to move.`],
          stage: 'run',
        };
      }),
    );
}

/**
 * The logger for a command whose outcome is one sentence: for a person (pretty logs) that sentence
 * is printed, so the info line saying the same is left out (warnings stay; --verbose shows all).
 * JSON logs keep it: there the sentence is not printed.
 */
function outcomeLogger(context: RunContext): Logger {
  return context.logFormat === 'json' || context.verbose ? context.logger : context.logger.child({}, { level: 'warn' });
}
