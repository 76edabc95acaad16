/**
 * The name this run was started by, for every hint the tool prints (help, usage errors, the
 * replay line, advice in errors), so a user can paste the hint as it is. `sync` is also coreutils'
 * command in /bin: installed for cron the tool is `sync-cli`, and a hint saying `sync push …` there
 * would run coreutils. Each launcher in bin/ says its own name once, before the CLI runs.
 */
const DEFAULT_NAME = 'sync';

let invokedAs = DEFAULT_NAME;

/**
 * Called by the launcher with the name it is installed under. Run through npx (`npx sync demo` in
 * the repository), the hint must say `npx sync` too: `sync` alone at that prompt is coreutils'. npx
 * says so in the environment of the program it starts (the event `npx`, the script it ran); a
 * program started further down (a test runner's children) sees another script there.
 */
export function setProgramName(binName: string, env: NodeJS.ProcessEnv = process.env): void {
  const viaNpx = env.npm_lifecycle_event === 'npx' && firstWord(env.npm_lifecycle_script) === binName;
  invokedAs = viaNpx ? `npx ${binName}` : binName;
}

/** What to type to run this tool again: `sync-cli`, `sync`, or `npx sync`. */
export function programName(): string {
  return invokedAs;
}

/** npm quotes the command it runs (`'sync'`); the first word, unquoted. */
function firstWord(script: string | undefined): string | undefined {
  return script?.trim().split(/\s+/)[0]?.replace(/^'(.*)'$/, '$1').replace(/^"(.*)"$/, '$1');
}
