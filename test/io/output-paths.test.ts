import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { checkOutputPaths } from '../../src/io/output-paths.js';
import { useTempDir } from '../helpers/tmp.js';

describe('checkOutputPaths', () => {
  const tmp = useTempDir();

  it('accepts new files in existing folders, existing files, stdout, and unset flags; creates nothing', async () => {
    const existing = join(tmp(), 'old.ndjson');
    writeFileSync(existing, '');
    await checkOutputPaths([
      { flag: '--out', path: join(tmp(), 'new.json') },
      { flag: '--report', path: existing },
      { flag: '--out', path: '-', stdout: true },
      { flag: '--metrics-file', path: undefined },
    ]);
    const { readdirSync } = await import('node:fs');
    expect(readdirSync(tmp())).toEqual(['old.ndjson']);
  });

  it.each([
    ['a missing folder', () => '/no/such/dir/x.json', /^--out \/no\/such\/dir\/x\.json: its folder \/no\/such\/dir does not exist$/],
    ['a directory', (dir: string) => dir, /: is a directory$/],
    ['a file as its folder', (dir: string) => (writeFileSync(join(dir, 'f'), ''), join(dir, 'f', 'x.json')), /not a directory/],
  ])('refuses %s as a usage error naming the flag', async (_, path, message) => {
    const error = await checkOutputPaths([{ flag: '--out', path: path(tmp()) }]).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toMatch(message);
  });

  it('refuses two flags naming one file', async () => {
    const path = join(tmp(), 'same.ndjson');
    await expect(checkOutputPaths([{ flag: '--dead-letter', path }, { flag: '--report', path: `${tmp()}/./same.ndjson` }])).rejects.toThrow(
      '--dead-letter and --report name the same file',
    );
  });
});
