import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { mapStackTraces, mappedStackTrace } from '../../src/cli/mapped-stacks.js';
import { useTempDir } from '../helpers/tmp.js';

/**
 * A built file and its map, as the build writes them (`x.js` beside `x.js.map`, sources relative to
 * the map): line 2 of the built file (from column 3) comes from line 10, column 5 of src/thrower.ts.
 */
function built(dir: string, name: string): string {
  mkdirSync(join(dir, 'dist'), { recursive: true });
  const file = join(dir, 'dist', `${name}.js`);
  writeFileSync(file, "export function boom() {\n  throw new Error('boom');\n}\nexport class Thing {\n  constructor() {\n    throw new Error('made');\n  }\n}\n");
  // VLQ: line 1 [0,0,0,0]; line 2 [+2 columns, same source, +9 lines, +4 columns].
  writeFileSync(`${file}.map`, JSON.stringify({ version: 3, sources: ['../src/thrower.ts'], names: [], mappings: 'AAAA;EASI' }));
  return file;
}

/** The stack of what `run` throws, formatted while `mappedStackTrace` is Error.prepareStackTrace. */
function stackOf(run: () => unknown): string {
  const previous = Error.prepareStackTrace;
  Error.prepareStackTrace = mappedStackTrace;
  try {
    run();
    throw new Error('did not throw');
  } catch (error) {
    return (error as Error).stack!;
  } finally {
    Error.prepareStackTrace = previous;
  }
}

describe('stack traces mapped to the sources when formatted (--verbose)', () => {
  const tmp = useTempDir();
  const previous = Error.prepareStackTrace;
  afterEach(() => {
    Error.prepareStackTrace = previous;
  });

  it('a frame in a built file names the source line its map gives, as Node writes it; a frame without a map stays as it is', async () => {
    const file = built(tmp(), 'thrower');
    const { boom } = (await import(pathToFileURL(file).href)) as { boom: () => void };
    const lines = stackOf(boom).split('\n');
    expect(lines[0]).toBe('Error: boom');
    expect(lines[1]).toBe(`    at boom (${join(tmp(), 'src', 'thrower.ts')}:10:5)`);
    // This test file has no map beside it: V8's own words for the frame.
    expect(lines.find((line) => line.includes('mapped-stacks.test.ts'))).toMatch(/^ {4}at .*mapped-stacks\.test\.ts:\d+:\d+\)?$/);
  });

  it('keeps the error name and message of its first line and "new" on a constructor frame', async () => {
    const file = built(tmp(), 'again');
    const { Thing } = (await import(pathToFileURL(file).href)) as { Thing: new () => unknown };
    const stack = stackOf(() => new Thing());
    // Line 6 of the built file has no mapping of its own: the last one before it (line 2) holds.
    expect(stack.split('\n').slice(0, 2)).toEqual(['Error: made', `    at new Thing (${join(tmp(), 'src', 'thrower.ts')}:10:5)`]);
    class Refused extends Error {
      override name = 'Refused';
    }
    expect(stackOf(() => {
      throw new Refused('no');
    }).split('\n')[0]).toBe('Refused: no');
  });

  it('mapStackTraces makes it the way every stack is formatted', () => {
    mapStackTraces();
    expect(Error.prepareStackTrace).toBe(mappedStackTrace);
  });
});
