import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InterruptedError } from '../../src/errors.js';
import { removeStaleTempFiles, replaceTogether, stageFile, writeFileAtomic, writeFileAtomicSync } from '../../src/io/atomic-write.js';
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

describe('stageFile and replaceTogether', () => {
  const tmp = useTempDir();

  it('staging touches no target; replacing puts every staged file in place', async () => {
    const [a, b] = [join(tmp(), 'a.json'), join(tmp(), 'b.ndjson')];
    writeFileSync(a, 'old a');
    const staged = [await stageFile(a, 'new a'), await stageFile(b, 'new b')];
    expect(readFileSync(a, 'utf8')).toBe('old a');
    expect(existsSync(b)).toBe(false);
    await replaceTogether(staged);
    expect([readFileSync(a, 'utf8'), readFileSync(b, 'utf8')]).toEqual(['new a', 'new b']);
    expect(readdirSync(tmp()).sort()).toEqual(['a.json', 'b.ndjson']);
  });

  it('aborted before the renames, replaces none of them and removes the staged files', async () => {
    const [a, b] = [join(tmp(), 'a.json'), join(tmp(), 'b.ndjson')];
    writeFileSync(a, 'old a');
    writeFileSync(b, 'old b');
    const staged = [await stageFile(a, 'new a'), await stageFile(b, 'new b')];
    await expect(replaceTogether(staged, AbortSignal.abort())).rejects.toBeInstanceOf(InterruptedError);
    expect([readFileSync(a, 'utf8'), readFileSync(b, 'utf8')]).toEqual(['old a', 'old b']);
    expect(readdirSync(tmp()).sort()).toEqual(['a.json', 'b.ndjson']);
  });
});

// An operator links the name a job writes to where the file is read (`customers.json` → the web
// root, `sync_push.prom` → the textfile collector's folder). A rename over the link replaced the link
// with a regular file: the file read stayed last week's, silently, every night after.
describe.each([
  ['writeFileAtomic', (target: string, data: string) => writeFileAtomic(target, data)],
  ['writeFileAtomicSync', async (target: string, data: string) => writeFileAtomicSync(target, data)],
])('%s through a symbolic link', (_name, write) => {
  const tmp = useTempDir();

  it('replaces the file the link points to (relative link, via a second link); the links stay links', async () => {
    mkdirSync(join(tmp(), 'published'));
    const real = join(tmp(), 'published', 'customers.json');
    writeFileSync(real, 'last week');
    symlinkSync('published/customers.json', join(tmp(), 'hop.json'));
    symlinkSync(join(tmp(), 'hop.json'), join(tmp(), 'customers.json'));
    await write(join(tmp(), 'customers.json'), 'tonight');
    expect(readFileSync(real, 'utf8')).toBe('tonight');
    expect(lstatSync(join(tmp(), 'customers.json')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(tmp(), 'hop.json'))).toBe('published/customers.json');
    expect(readdirSync(join(tmp(), 'published'))).toEqual(['customers.json']);
  });

  it('a link to a file not yet there creates that file', async () => {
    mkdirSync(join(tmp(), 'textfile'));
    symlinkSync(join(tmp(), 'textfile', 'sync_push.prom'), join(tmp(), 'm.prom'));
    await write(join(tmp(), 'm.prom'), 'metrics');
    expect(readFileSync(join(tmp(), 'textfile', 'sync_push.prom'), 'utf8')).toBe('metrics');
    expect(lstatSync(join(tmp(), 'm.prom')).isSymbolicLink()).toBe(true);
  });

  it('a loop of links is refused, naming the path given', async () => {
    symlinkSync(join(tmp(), 'b'), join(tmp(), 'a'));
    symlinkSync(join(tmp(), 'a'), join(tmp(), 'b'));
    await expect(write(join(tmp(), 'a'), 'x')).rejects.toThrow(join(tmp(), 'a'));
    expect(lstatSync(join(tmp(), 'a')).isSymbolicLink()).toBe(true);
  });
});
