import type { Command, Option } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { duration } from '../../src/cli/parsers.js';
import { setProgramName } from '../../src/cli/program-name.js';
import { commandsFor, createProgram } from '../../src/cli/program.js';

/** Every command under the program, groups (`mock`, `state`) and their commands included. */
function allCommands(command: Command): Command[] {
  return command.commands.flatMap((sub) => [sub, ...allCommands(sub)]);
}

const pathOf = (command: Command): string => (command.parent ? `${pathOf(command.parent)} ${command.name()}` : command.name());

/** One option's help text as the help shows it (description, default, choices, env). */
function optionHelp(command: Command, option: Option): string {
  const helper = command.createHelp();
  return helper.optionDescription(option);
}

describe("every command's help", async () => {
  const program = await createProgram();
  const commands = allCommands(program);

  it('covers the groups and their commands', () => {
    expect(commands.map(pathOf)).toEqual(expect.arrayContaining(['sync push', 'sync mock', 'sync mock hubspot', 'sync state', 'sync state show']));
  });

  it('lists the options that work everywhere (--json, --quiet, --log-format, --verbose, --no-color)', () => {
    for (const command of commands) {
      const help = command.helpInformation();
      for (const flag of ['--json', '--quiet', '--log-format', '--verbose', '--no-color']) {
        expect(help, `${pathOf(command)} --help lacks ${flag}`).toContain(flag);
      }
    }
  });

  it('says each default once', () => {
    for (const command of [program, ...commands]) {
      for (const option of command.options) {
        const text = optionHelp(command, option);
        expect(text.match(/default:/g)?.length ?? 0, `${pathOf(command)} ${option.flags}: ${text}`).toBeLessThanOrEqual(1);
      }
    }
  });

  it('shows a duration default as people write it (10s, 30s), one that the flag reads back as the same value', () => {
    let checked = 0;
    for (const command of commands) {
      for (const option of command.options.filter((o) => o.flags.includes('<duration>') && o.defaultValue !== undefined)) {
        const shown = /\(default: ([^,)]+)/.exec(optionHelp(command, option))?.[1];
        expect(shown, `${pathOf(command)} ${option.flags}`).toMatch(/^\d+(ms|s|m|h)$/);
        expect(duration(shown!)).toBe(option.defaultValue);
        checked++;
      }
    }
    // pull's, push's and serve's --request-timeout at least.
    expect(checked).toBeGreaterThanOrEqual(3);
  });

  it("serve's --request-timeout says 10s", () => {
    const serve = commands.find((command) => pathOf(command) === 'sync serve')!;
    expect(serve.helpInformation()).toMatch(/--request-timeout <duration>[\s\S]*?\(default: 10s\)/);
  });
});

// Installed for cron the tool is sync-cli: \`sync\` there is coreutils'. A help page that says
// \`sync runs --last 5\` to a sync-cli user runs coreutils when pasted.
describe('every help page, invoked as sync-cli', () => {
  afterEach(() => setProgramName('sync', {}));

  it('names sync-cli wherever it shows a command to type (its examples and descriptions included)', async () => {
    setProgramName('sync-cli', {});
    const program = await createProgram();
    const pages: [string, string][] = [];
    for (const command of [program, ...allCommands(program)]) {
      let page = '';
      vi.spyOn(process.stdout, 'write').mockImplementation((text) => ((page += String(text)), true));
      command.outputHelp();
      vi.mocked(process.stdout.write).mockRestore();
      pages.push([pathOf(command), page]);
    }
    expect(pages.length).toBeGreaterThan(15);
    for (const [path, page] of pages) {
      expect(path).toMatch(/^sync-cli/);
      // Help wraps lines: \`sync\` at a line's end and its command on the next is the same mistake.
      const typed = page.replace(/\s+/g, ' ').match(/(?<![\w-])sync (push|pull|serve|state|runs|mock|demo)\b/g) ?? [];
      expect(typed, `${path} --help`).toEqual([]);
    }
  });
});

describe('commandsFor: only the command a run names is loaded', () => {
  const ALL = ['pull', 'push', 'serve', 'state', 'runs', 'mock', 'demo'];

  it.each([
    [['push', 'profiles.ndjson', '--dry-run'], ['push']],
    [['--json', '-q', 'mock', 'downstream'], ['mock']],
    // The value of --log-format is not a command, even when it is spelled like one.
    [['--log-format', 'json', 'serve'], ['serve']],
    [['--log-format', 'push', 'pull'], ['pull']],
    [['--version'], []],
    [['-V', '--json'], []],
  ])('%j → %j', (args, expected) => {
    expect(commandsFor(args)).toEqual(expected);
  });

  it.each([[[]], [['--help']], [['--version', '--help']], [['puhs']], [['help', 'push']], [['--', 'push']], [['--verbose']]])(
    '%j → all of them (help, a suggestion for a mistake, `help <command>`)',
    (args) => {
      expect(commandsFor(args)).toEqual(ALL);
    },
  );

  it('a program made for one command parses that command, and knows no other', async () => {
    const program = await createProgram({ commands: ['push'] });
    expect(program.commands.map((command) => command.name())).toEqual(['push']);
    expect((await createProgram({ commands: [] })).commands).toEqual([]);
    expect((await createProgram()).commands.map((command) => command.name())).toEqual(ALL);
  });
});
