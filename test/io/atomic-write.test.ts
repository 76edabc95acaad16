import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InterruptedError } from '../../src/errors.js';
import { removeStaleTempFiles, writeFileAtomic } from '../../src/io/atomic-write.js';
import { useTempDir } from '../helpers/tmp.js';

describe('writeFileAtomic', () => {
  const tmp = useTempDir();

  it('replaces the file and leaves no temp file behind', async () => {
    const target = join(tmp(), 'out.json');
    writeFileSync(target, 'old');
    await writeFileAtomic(target, 'new');
    expect(readFileSync(target, 'utf8')).toBe('new');
    expect(readdirSync(tmp())).toEqual(['out.json']);
  });

  it('leaves the previous file untouched when aborted before the rename', async () => {
    const target = join(tmp(), 'out.json');
    writeFileSync(target, 'old');
    const controller = new AbortController();
    controller.abort();
    await expect(writeFileAtomic(target, 'new', controller.signal)).rejects.toBeInstanceOf(InterruptedError);
    expect(readFileSync(target, 'utf8')).toBe('old');
    expect(readdirSync(tmp())).toEqual(['out.json']);
  });

  it('fails cleanly when the folder does not exist', async () => {
    await expect(writeFileAtomic(join(tmp(), 'missing', 'out.json'), 'x')).rejects.toThrow(/ENOENT/);
  });

  it('cleans temp files left by a dead process, not by a live one', async () => {
    const target = join(tmp(), 'out.json');
    const dead = join(tmp(), '.out.json.999999999.abcd1234.tmp');
    const live = join(tmp(), `.out.json.${process.pid}.abcd1234.tmp`);
    const other = join(tmp(), '.other.json.999999999.abcd1234.tmp');
    for (const file of [dead, live, other]) writeFileSync(file, 'half');
    expect(await removeStaleTempFiles(target)).toEqual(['.out.json.999999999.abcd1234.tmp']);
    expect(existsSync(dead)).toBe(false);
    expect(existsSync(live)).toBe(true);
    expect(existsSync(other)).toBe(true);
  });
});
