import { homedir } from 'node:os';
import { join } from 'node:path';

/** `$XDG_STATE_HOME/sync`, else `~/.local/state/sync` (the XDG base directory default). */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_STATE_HOME && env.XDG_STATE_HOME.startsWith('/') ? env.XDG_STATE_HOME : join(homedir(), '.local', 'state');
  return join(base, 'sync');
}
