import { constants, type Stats } from 'node:fs';
import { access, realpath, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { describeFsError, OutputPathError, UsageError } from '../errors.js';

/** An output a command will write, named by the flag that chose it (for the error line). */
export interface OutputPath {
  flag: string;
  path: string | undefined;
  /** `-` means stdout for this flag (pull's --out); elsewhere it would be a file named `-`. */
  stdout?: boolean;
}

/**
 * Checks, before the first request, that every output can be written: an unusable path is a run
 * that cannot start (exit 2), not one that fails after an hour of fetching. Creates nothing.
 * Outputs are regular files: a FIFO would block a write forever, and an atomic rename would
 * replace a device. Two flags naming the same file, by any path (a symlink, a hard link), would
 * write over each other: also a usage error.
 */
export async function checkOutputPaths(outputs: readonly OutputPath[]): Promise<void> {
  const seen = new Map<string, string>();
  for (const { flag, path, stdout = false } of outputs) {
    if (path === undefined || (stdout && path === '-')) continue;
    if (path === '-') throw new OutputPathError(flag, '-', 'expected a file (stdout is for data or the --json summary)');
    await checkWritableFile(flag, path);
    const identity = await fileIdentity(path);
    const other = seen.get(identity);
    if (other) throw new UsageError(`${other} and ${flag} name the same file (${path})`);
    seen.set(identity, flag);
  }
}

/**
 * What a path names, whatever way it is spelled: device and inode for a file that exists, else
 * the real path of its folder and its name. Two paths with the same identity are the same file.
 */
export async function fileIdentity(path: string): Promise<string> {
  const info = await stat(path).catch(() => undefined);
  if (info) return identityOf(info);
  const folder = await realpath(dirname(path)).catch(() => dirname(path));
  return join(folder, basename(path));
}

export function identityOf(info: Pick<Stats, 'dev' | 'ino'>): string {
  return `${info.dev}:${info.ino}`;
}

async function checkWritableFile(flag: string, path: string): Promise<void> {
  const fail = (why: string): never => {
    throw new OutputPathError(flag, path, why);
  };
  const info = await stat(path).catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? undefined : fail(describeFsError(error))));
  if (info?.isDirectory()) fail('is a directory');
  if (info && !info.isFile()) fail('is not a regular file (a device or a pipe)');
  if (info) {
    await access(path, constants.W_OK).catch((error) => fail(describeFsError(error)));
    return;
  }
  const parent = dirname(path);
  const folder = await stat(parent).catch(() => undefined);
  if (!folder) fail(`its folder ${parent} does not exist`);
  if (!folder!.isDirectory()) fail(`${parent} is not a directory`);
  await access(parent, constants.W_OK).catch((error) => fail(`cannot create files in ${parent}: ${describeFsError(error)}`));
}
