import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, lstatSync, openSync, readlinkSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { lstat, open, readdir, readlink, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { InterruptedError, WriteError } from '../errors.js';

const TEMP_PATTERN = /^\.(.+)\.(\d+)\.[0-9a-f]+\.tmp$/;

function tempName(target: string): string {
  return `.${basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
}

/** Links followed before giving up, as the kernel does (ELOOP). */
const MAX_LINKS = 40;

/**
 * The file a path names, through its symbolic links: what an atomic write must rename over. A
 * rename onto the link itself would replace the link with a regular file and leave the file it
 * pointed to (a web root's export, a textfile collector's metrics) stale, silently, for good. A
 * link to a file not yet there names that file. Only the last component is followed: a rename
 * goes through links among the folders by itself.
 */
export async function linkTarget(path: string): Promise<string> {
  let at = path;
  for (let hops = 0; (await lstat(at).catch(() => undefined))?.isSymbolicLink(); hops++) {
    if (hops === MAX_LINKS) throw tooManyLinks();
    at = linkedFrom(at, await readlink(at));
  }
  return at;
}

/** The same, for a process that is exiting now. */
export function linkTargetSync(path: string): string {
  let at = path;
  for (let hops = 0; lstatSync(at, { throwIfNoEntry: false })?.isSymbolicLink(); hops++) {
    if (hops === MAX_LINKS) throw tooManyLinks();
    at = linkedFrom(at, readlinkSync(at));
  }
  return at;
}

/** A link's text is relative to the link's folder, not to the working directory. */
const linkedFrom = (link: string, to: string): string => (isAbsolute(to) ? to : join(dirname(link), to));

const tooManyLinks = (): Error => Object.assign(new Error('too many levels of symbolic links'), { code: 'ELOOP' });

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
  let file: string;
  try {
    file = linkTargetSync(target);
  } catch (error) {
    throw new WriteError(target, error);
  }
  const existing = statSync(file, { throwIfNoEntry: false });
  if (existing && !existing.isFile()) throw new WriteError(target, Object.assign(new Error('is not a regular file'), { code: 'ENOTREG' }));
  const temp = join(dirname(file), tempName(file));
  try {
    const fd = openSync(temp, 'wx', 0o644);
    try {
      const bytes = Buffer.from(data, 'utf8');
      for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, bytes.length - done);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, file);
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
  /** The path given: what errors name. */
  readonly target: string;
  /** The file it names, through its links: what the temp file is renamed over. */
  readonly file: string;
  readonly temp: string;
}

/** The write half of writeFileAtomic: the target is not touched. Errors name the target. */
export async function stageFile(target: string, data: string): Promise<StagedFile> {
  const file = await linkTarget(target).catch((error) => {
    throw new WriteError(target, error);
  });
  // A rename would replace whatever is there, a device included (as root, /dev/full becomes a file).
  const existing = await stat(file).catch(() => undefined);
  if (existing && !existing.isFile()) throw new WriteError(target, Object.assign(new Error('is not a regular file'), { code: 'ENOTREG' }));
  await removeStaleTempFiles(file);
  // Beside the file itself: a rename is atomic only within one filesystem.
  const temp = join(dirname(file), tempName(file));
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
  return { target, file, temp };
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
      await rename(file.temp, file.file);
    } catch (error) {
      await discardStaged(files.slice(index));
      throw new WriteError(file.target, error);
    }
  }
  for (const file of files) {
    await syncDirectory(dirname(file.file)).catch((error) => {
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
