import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeDirectory } from '../../src/io/make-directory.js';
import { createStateDirectory } from '../../src/state/state-dir.js';

describe('makeDirectory', () => {
  const dirs: string[] = [];
  afterEach(() => dirs.splice(0).forEach((dir) => rmSync(dir, { recursive: true, force: true })));
  const tmp = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'sync-mkdir-'));
    dirs.push(dir);
    return dir;
  };

  it('creates every missing folder, and is content with one that exists', async () => {
    const path = join(tmp(), 'a', 'b', 'c');
    await makeDirectory(path);
    expect(statSync(path).isDirectory()).toBe(true);
    await expect(makeDirectory(path)).resolves.toBeUndefined();
  });

  it('fails with the reason where a file stands in the way, or is the path itself', async () => {
    const file = join(tmp(), 'file');
    writeFileSync(file, 'x');
    await expect(makeDirectory(join(file, 'state'))).rejects.toMatchObject({ code: 'ENOTDIR' });
    await expect(makeDirectory(file)).rejects.toMatchObject({ code: 'EEXIST' });
  });

  it('settles where a folder cannot be made although its parent exists (/proc: Node 20 recursive mkdir spins there for ever)', async () => {
    await expect(makeDirectory('/proc/sync-test/state')).rejects.toMatchObject({ code: 'ENOENT' });
    expect(existsSync('/proc/sync-test')).toBe(false);
    // So `--state /proc/x` is a usage error naming it, not a run stuck at 100% CPU.
    await expect(createStateDirectory('/proc/x')).rejects.toThrow('--state /proc/x: cannot create the state');
  });
});
