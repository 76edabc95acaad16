import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { describeFsError, UsageError } from '../errors.js';

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
 * Two flags naming the same file would write over each other: also a usage error.
 */
export async function checkOutputPaths(outputs: readonly OutputPath[]): Promise<void> {
  const seen = new Map<string, string>();
  for (const { flag, path, stdout = false } of outputs) {
    if (path === undefined || (stdout && path === '-')) continue;
    if (path === '-') throw new UsageError(`${flag} -: expected a file (stdout is for data or the --json summary)`);
    const absolute = resolve(path);
    const other = seen.get(absolute);
    if (other) throw new UsageError(`${other} and ${flag} name the same file (${path})`);
    seen.set(absolute, flag);
    await checkWritableFile(flag, path);
  }
}

async function checkWritableFile(flag: string, path: string): Promise<void> {
  const fail = (why: string): never => {
    throw new UsageError(`${flag} ${path}: ${why}`);
  };
  const info = await stat(path).catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? undefined : fail(describeFsError(error))));
  if (info?.isDirectory()) fail('is a directory');
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
