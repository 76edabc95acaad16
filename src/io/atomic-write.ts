import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { InterruptedError, WriteError } from '../errors.js';

const TEMP_PATTERN = /^\.(.+)\.(\d+)\.[0-9a-f]+\.tmp$/;

function tempName(target: string): string {
  return `.${basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
}

/** Whether a process with this id exists (ours or not): a file it owns is not stale. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Temp files of ours for `target` left by a process that no longer exists (killed mid-write). */
export async function removeStaleTempFiles(target: string): Promise<string[]> {
  const dir = dirname(target);
  const removed: string[] = [];
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return removed;
  }
  for (const entry of entries) {
    const match = TEMP_PATTERN.exec(entry);
    if (!match || match[1] !== basename(target) || isAlive(Number(match[2]))) continue;
    await unlink(join(dir, entry)).catch(() => undefined);
    removed.push(entry);
  }
  return removed;
}

/**
 * Write-then-rename in the target's own folder (rename is atomic only within one filesystem),
 * with fsync before the rename so a crash cannot leave a renamed but empty file. Readers see the
 * old file or the new one, never half of one. If `signal` fires before the rename, nothing changes.
 */
export async function writeFileAtomic(target: string, data: string, signal?: AbortSignal): Promise<void> {
  await replaceTogether([await stageFile(target, data)], signal);
}

/**
 * writeFileAtomic for a process that is exiting now (an 'exit' listener runs no promise): the same
 * temp file, fsync and rename, synchronously. Stale temp files are left to the next async write.
 */
export function writeFileAtomicSync(target: string, data: string): void {
  const existing = statSync(target, { throwIfNoEntry: false });
  if (existing && !existing.isFile()) throw new WriteError(target, Object.assign(new Error('is not a regular file'), { code: 'ENOTREG' }));
  const temp = join(dirname(target), tempName(target));
  try {
    const fd = openSync(temp, 'wx', 0o644);
    try {
      const bytes = Buffer.from(data, 'utf8');
      for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, bytes.length - done);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, target);
  } catch (error) {
    try {
      unlinkSync(temp);
    } catch {
      // Never created, or already renamed.
    }
    throw new WriteError(target, error);
  }
}

/** A file written in full beside its target (fsynced), not yet in its place. */
export interface StagedFile {
  readonly target: string;
  readonly temp: string;
}

/** The write half of writeFileAtomic: the target is not touched. Errors name the target. */
export async function stageFile(target: string, data: string): Promise<StagedFile> {
  // A rename would replace whatever is there, a device included (as root, /dev/full becomes a file).
  const existing = await stat(target).catch(() => undefined);
  if (existing && !existing.isFile()) throw new WriteError(target, Object.assign(new Error('is not a regular file'), { code: 'ENOTREG' }));
  await removeStaleTempFiles(target);
  const temp = join(dirname(target), tempName(target));
  // Errors name the target, never our hidden temp file: that is the path the user gave.
  const handle = await open(temp, 'wx', 0o644).catch((error) => {
    throw new WriteError(target, error);
  });
  try {
    try {
      await handle.writeFile(data, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw new WriteError(target, error);
  }
  return { target, temp };
}

/**
 * Puts staged files in their places, or, if `signal` fired first, none of them. One run's outputs
 * (pull's export and its profiles) are all written in full before any is renamed, so a disk that
 * fills up on the second leaves both old files, not a new export beside old profiles. The renames
 * themselves cannot be one atomic step; they are quick and do not need space.
 */
export async function replaceTogether(files: readonly StagedFile[], signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) {
    await discardStaged(files);
    throw new InterruptedError();
  }
  for (const [index, file] of files.entries()) {
    try {
      await rename(file.temp, file.target);
    } catch (error) {
      await discardStaged(files.slice(index));
      throw new WriteError(file.target, error);
    }
  }
  for (const file of files) {
    await syncDirectory(dirname(file.target)).catch((error) => {
      throw new WriteError(file.target, error);
    });
  }
}

/** Removes staged files that will not be put in place. */
export async function discardStaged(files: readonly StagedFile[]): Promise<void> {
  await Promise.all(files.map((file) => unlink(file.temp).catch(() => undefined)));
}

/** Makes a rename durable: the new directory entry is on disk, not only the file's data. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
