/** The commands whose runs end with a metrics file and a run-history line. */
const RUN_COMMANDS = ['pull', 'push'] as const;
export type RunCommand = (typeof RUN_COMMANDS)[number];

/** Global options that take a value (they may stand before the command). */
const GLOBAL_OPTIONS_WITH_VALUE = new Set(['--log-format']);

/** What the raw arguments say about a pull or push, read before commander has parsed them. */
export interface RunArgs {
  command?: RunCommand;
  /** `--metrics-file`'s value, if given. */
  metricsFile?: string;
  /** `--state`'s value (the last one, as commander takes it); `null` when the flag is given without one. */
  state?: string | null;
  dryRun: boolean;
}

/**
 * The pull or push the raw arguments name, if any, with the flags that must be honoured even when
 * commander refuses the run before any action (exit 2): its metrics file and its run history.
 */
export function readRunArgs(args: readonly string[]): RunArgs {
  const found: RunArgs = { dryRun: false };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') break;
    if (found.command === undefined) {
      if (GLOBAL_OPTIONS_WITH_VALUE.has(arg)) i++;
      else if (!arg.startsWith('-')) {
        if (!(RUN_COMMANDS as readonly string[]).includes(arg)) return { dryRun: false };
        found.command = arg as RunCommand;
      }
      continue;
    }
    if (arg === '--dry-run') found.dryRun = true;
    else if (arg === '--metrics-file') found.metricsFile = args[++i];
    else if (arg.startsWith('--metrics-file=')) found.metricsFile = arg.slice('--metrics-file='.length);
    else if (arg === '--state') found.state = valueAt(args, ++i);
    else if (arg.startsWith('--state=')) found.state = arg.slice('--state='.length) || null;
  }
  return found;
}

/** A flag's value, or null when the flag is last or followed by another flag (commander refuses that). */
function valueAt(args: readonly string[], i: number): string | null {
  const value = args[i];
  return value === undefined || value.startsWith('-') ? null : value;
}
