import type { Command } from 'commander';

/*
 * Commander's own output on stderr: its usage errors, and the help it shows when a command group
 * (`sync mock`, `sync state`) is called without a command. One mistake is one line, in either log
 * format: a log reader, a cron mail or `grep error` must not get a hint as a second error, nor a
 * help page as a dozen errors with a dozen run ids.
 */

/**
 * Commander's error text as one sentence: `error: unknown command 'pul'\n(Did you mean pull?)\n`
 * becomes `unknown command 'pul' (did you mean pull?)`. A hint in parentheses stays one; any other
 * continuation line is joined with a space.
 */
export function oneLineMessage(text: string): string {
  const [first = '', ...rest] = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  const tail = rest.map((line) => {
    const hint = /^\((.*)\)$/.exec(line)?.[1];
    return hint === undefined ? line : `(${hint.charAt(0).toLowerCase()}${hint.slice(1)})`;
  });
  return [first.replace(/^error: /, ''), ...tail].join(' ');
}

/** `sync mock` (the path as invoked, whatever the program is called). */
function commandPath(command: Command): string {
  const names: string[] = [];
  for (let at: Command | null = command; at; at = at.parent) names.unshift(at.name());
  return names.join(' ');
}

/** What a command group called without a command says instead of its help, where help cannot go. */
export function missingCommandMessage(command: Command): string {
  const path = commandPath(command);
  const names = command.commands.map((sub) => sub.name());
  const choices = names.length > 1 ? `${names.slice(0, -1).join(', ')} or ${names.at(-1)}` : names.join('');
  return `${path} needs a command: ${choices}; see ${path} --help`;
}

/**
 * Commander's stderr in JSON log mode: each write of commander's is one message, written as one
 * JSON line by `toJsonLine`. A help page shown for a mistake (a group without its command, `help
 * nosuch`) is several writes (the page, then any text added after it): they are all replaced by
 * the one line `missingCommandMessage` says.
 */
export class JsonCommanderStderr {
  /** The command whose help commander is printing for a mistake, while it does. */
  private helpFor: Command | undefined;

  constructor(private readonly toJsonLine: (message: string) => string) {}

  /** Learn from the program's help events (emitted for every command's help) when a help page is a mistake's. */
  watch(program: Command): void {
    program.on('beforeAllHelp', ({ error, command }: { error: boolean; command: Command }) => {
      if (error) this.helpFor = command;
    });
    program.on('afterAllHelp', () => {
      if (!this.helpFor) return;
      this.line(missingCommandMessage(this.helpFor));
      this.helpFor = undefined;
    });
  }

  readonly write = (text: string): void => {
    if (this.helpFor) return;
    this.line(oneLineMessage(text));
  };

  private line(message: string): void {
    if (message !== '') process.stderr.write(`${this.toJsonLine(message)}\n`);
  }
}
