import { Command } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { JsonCommanderStderr, missingCommandMessage, oneLineMessage } from '../../src/cli/usage-output.js';

describe('oneLineMessage', () => {
  it("keeps commander's suggestion on the error's line", () => {
    expect(oneLineMessage("error: unknown command 'pul'\n(Did you mean pull?)\n")).toBe("unknown command 'pul' (did you mean pull?)");
    expect(oneLineMessage("error: unknown option '--jsn'\n(Did you mean one of --json, --no-color?)\n")).toBe(
      "unknown option '--jsn' (did you mean one of --json, --no-color?)",
    );
  });

  it('leaves a one-line error as it is, less the prefix', () => {
    expect(oneLineMessage("error: missing required argument 'file'\n")).toBe("missing required argument 'file'");
  });
});

describe('missingCommandMessage', () => {
  it('names the group as invoked and its commands', () => {
    const program = new Command('sync-cli');
    const mock = program.command('mock');
    mock.command('reqres');
    mock.command('downstream');
    mock.command('hubspot');
    expect(missingCommandMessage(mock)).toBe('sync-cli mock needs a command: reqres, downstream or hubspot; see sync-cli mock --help');
  });
});

describe('JsonCommanderStderr', () => {
  afterEach(() => vi.restoreAllMocks());

  function capture(): string[] {
    const written: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    return written;
  }

  function programWith(stderr: JsonCommanderStderr): Command {
    const program = new Command('sync')
      .exitOverride()
      .configureOutput({ writeErr: stderr.write, writeOut: () => undefined })
      .addHelpText('after', '\nExamples:\n  $ sync mock reqres');
    const mock = program.command('mock').description('local servers');
    mock.command('reqres').action(() => undefined);
    mock.command('downstream').action(() => undefined);
    stderr.watch(program);
    return program;
  }

  it('turns a help page shown for a mistake into one line', () => {
    const written = capture();
    const stderr = new JsonCommanderStderr((message) => JSON.stringify({ msg: message }));
    expect(() => programWith(stderr).parse(['mock'], { from: 'user' })).toThrow();
    expect(written).toEqual([`${JSON.stringify({ msg: 'sync mock needs a command: reqres or downstream; see sync mock --help' })}\n`]);
  });

  it('also when text is added after the page (`help nosuch` shows the program help and its examples)', () => {
    const written = capture();
    const stderr = new JsonCommanderStderr((message) => JSON.stringify({ msg: message }));
    expect(() => programWith(stderr).parse(['help', 'nosuch'], { from: 'user' })).toThrow();
    expect(written).toHaveLength(1);
    expect(JSON.parse(written[0]!).msg).toMatch(/^sync needs a command: mock; see sync --help$/);
  });

  it('writes an error with its hint as one line', () => {
    const written = capture();
    const stderr = new JsonCommanderStderr((message) => JSON.stringify({ msg: message }));
    expect(() => programWith(stderr).showSuggestionAfterError().parse(['mock', 'reqers'], { from: 'user' })).toThrow();
    expect(written).toEqual([`${JSON.stringify({ msg: "unknown command 'reqers' (did you mean reqres?)" })}\n`]);
  });

  it('leaves help asked for alone (it goes to stdout)', () => {
    const written = capture();
    const stderr = new JsonCommanderStderr((message) => JSON.stringify({ msg: message }));
    expect(() => programWith(stderr).parse(['mock', '--help'], { from: 'user' })).toThrow();
    expect(written).toEqual([]);
  });
});
