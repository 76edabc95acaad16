import { InvalidArgumentError } from 'commander';
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { describeFsError, UsageError } from '../errors.js';
import { makeDirectory } from '../io/make-directory.js';

/** `$XDG_STATE_HOME/sync`, else `~/.local/state/sync` (the XDG base directory default). */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_STATE_HOME && env.XDG_STATE_HOME.startsWith('/') ? env.XDG_STATE_HOME : join(homedir(), '.local', 'state');
  return join(base, 'sync');
}

/**
 * `--state`'s parser, wherever the flag is taken: `--state=` and an exported but empty
 * SYNC_STATE_DIR (commander hands the variable over as it is) would otherwise name the working
 * directory, where `state reset` would move a stray platform-state aside and push said only ENOENT.
 */
export function parseStateDir(value: string): string {
  if (value === '') throw new InvalidArgumentError('it is empty: name a directory, or unset SYNC_STATE_DIR for the default.');
  return value;
}

/**
 * Creates `path` (the state directory, or a folder in it) as needed; a failure is a usage error
 * naming the --state directory in the words of its cause. Push's state and the run history both
 * create it this way, so either says the same of the same directory.
 */
export async function createStateDirectory(dir: string, path = dir): Promise<void> {
  // commander hands over `--state=` and an exported but empty SYNC_STATE_DIR as '': the mkdir's
  // ENOENT named neither.
  if (dir === '') throw new UsageError('--state (or SYNC_STATE_DIR) is empty: name a directory, or unset SYNC_STATE_DIR for the default');
  try {
    await makeDirectory(path);
  } catch (error) {
    const cause = (error as NodeJS.ErrnoException).code === 'ENOENT' ? await whyNotCreated(path, error) : error;
    throw new UsageError(`--state ${dir}: cannot create the state (${fsFailure(cause)})`, { cause });
  }
}

/**
 * A folder that cannot be created on a read-only filesystem may say ENOENT
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
