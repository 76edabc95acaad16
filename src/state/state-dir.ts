import { constants } from 'node:fs';
import { access, mkdir, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { describeFsError, UsageError } from '../errors.js';

/** `$XDG_STATE_HOME/sync`, else `~/.local/state/sync` (the XDG base directory default). */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_STATE_HOME && env.XDG_STATE_HOME.startsWith('/') ? env.XDG_STATE_HOME : join(homedir(), '.local', 'state');
  return join(base, 'sync');
}

/**
 * Creates `path` (the state directory, or a folder in it) as needed; a failure is a usage error
 * naming the --state directory in the words of its cause. Push's state and the run history both
 * create it this way, so either says the same of the same directory.
 */
export async function createStateDirectory(dir: string, path = dir): Promise<void> {
  try {
    await makeDirectories(path);
  } catch (error) {
    const cause = (error as NodeJS.ErrnoException).code === 'ENOENT' ? await whyNotCreated(path, error) : error;
    throw new UsageError(`--state ${dir}: cannot create the state (${fsFailure(cause)})`, { cause });
  }
}

/**
 * `mkdir -p`, one level at a time. Node 20's `mkdir(path, { recursive: true })` never settles, at
 * full CPU, when mkdir says ENOENT under a parent that exists (a relative path in a working
 * directory deleted under the process, /proc): it creates the parent again and retries, forever.
 * Here every level is tried once, and that ENOENT is the answer.
 */
async function makeDirectories(path: string): Promise<void> {
  const missing: string[] = [];
  // dirname, not resolve: resolving a relative path asks for the working directory, which may be gone.
  for (let folder = path; ; folder = dirname(folder)) {
    const info = await stat(folder).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    if (info?.isDirectory()) break;
    // A file in the way: its mkdir below says so (EEXIST).
    missing.push(folder);
    if (info || dirname(folder) === folder) break;
  }
  for (const folder of missing.reverse()) {
    await mkdir(folder).catch(async (error: NodeJS.ErrnoException) => {
      // Another run created it meanwhile (two cron jobs starting at once): fine, if it is a folder.
      const created = error.code === 'EEXIST' && (await stat(folder).then((info) => info.isDirectory(), () => false));
      if (!created) throw error;
    });
  }
}

/**
 * Node's recursive mkdir says ENOENT for a folder it could not create on a read-only filesystem
 * (Node 20): the nearest folder that exists says what is really wrong.
 */
async function whyNotCreated(path: string, error: unknown): Promise<unknown> {
  for (let folder = dirname(path); ; folder = dirname(folder)) {
    const exists = await stat(folder).then(
      () => true,
      () => false,
    );
    if (exists) return access(folder, constants.W_OK).then(() => error, (refused: unknown) => refused);
    if (dirname(folder) === folder) return error;
  }
}

/** A filesystem refusal about the state directory, in a person's words. */
export function fsFailure(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'ENOTDIR' || code === 'EEXIST') return 'not a directory';
  return describeFsError(error);
}
