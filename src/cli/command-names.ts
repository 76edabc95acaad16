// No imports: the launchers read this before the rest of the program loads (keeper-ahead.ts).

/** The commands, in the order help lists them (each module is loaded only when needed: program.ts). */
export const COMMAND_NAMES = ['pull', 'push', 'serve', 'state', 'runs', 'mock', 'demo'] as const;
export type CommandName = (typeof COMMAND_NAMES)[number];

/** Global options that take a value (they may stand before the command). */
const GLOBAL_OPTIONS_WITH_VALUE = new Set(['--log-format']);
const VERSION_FLAGS = new Set(['-V', '--version']);
const HELP_FLAGS = new Set(['-h', '--help']);

/**
 * The commands these arguments (without node and the script) need registered: the one they name,
 * none for a bare `--version`, all otherwise (help, a mistake, `help <command>`).
 */
export function commandsFor(args: readonly string[]): string[] {
  const all: string[] = [...COMMAND_NAMES];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') return all;
    if (GLOBAL_OPTIONS_WITH_VALUE.has(arg)) i++;
    else if (!arg.startsWith('-')) return all.includes(arg) ? [arg] : all;
  }
  return args.some((arg) => VERSION_FLAGS.has(arg)) && !args.some((arg) => HELP_FLAGS.has(arg)) ? [] : all;
}
