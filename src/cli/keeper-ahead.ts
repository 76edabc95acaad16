import { commandsFor } from './command-names.js';

/**
 * A push's state process (src/state/keeper-client.ts, a Node process loading LMDB: 0.3–0.6 s
 * before it answers) started before push's own modules load and its flags are parsed, not after:
 * it is what the first request waits for (the state must be open to know what changed). Only for
 * `push` without --dry-run (a dry run reads an existing state, if any) and without help.
 * Returns how to withdraw it when the run is refused before push's action takes it (a flag
 * refused by the parser): killed at once rather than left to finish loading for nothing.
 */
export async function startKeeperAhead(args: readonly string[]): Promise<(() => Promise<void>) | undefined> {
  const commands = commandsFor(args);
  if (commands.length !== 1 || commands[0] !== 'push') return undefined;
  const options = args.slice(0, args.indexOf('--') === -1 ? undefined : args.indexOf('--'));
  if (options.some((arg) => arg === '--dry-run' || arg === '-h' || arg === '--help')) return undefined;
  const { KeeperClient } = await import('../state/keeper-client.js');
  KeeperClient.startAhead();
  // Refused before the action: nobody took it, so spawn() hands back this very one.
  return () => KeeperClient.spawn().kill();
}
