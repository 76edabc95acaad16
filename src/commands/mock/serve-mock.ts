import type { Server } from 'node:http';
import type { CommandOutcome } from '../../cli/action.js';
import type { RunContext } from '../../cli/context.js';
import { ExitCode } from '../../errors.js';
import { seededRandom } from '../../engine/random.js';

/** Flags every simulator takes. */
export interface CommonFlags {
  port: number;
  failRate: number;
  seed?: number;
}

/**
 * Listen, print `listening URL` on stdout (scripts read the port from it), serve until
 * SIGINT/SIGTERM, then close and report what the mock saw.
 */
export async function serveUntilSignal(server: Server, flags: CommonFlags, context: RunContext, describe: () => object): Promise<CommandOutcome> {
  const { close, listen } = await import('../../http/server.js');
  // Listening for the signals before saying `listening`: a script that reads the line and stops
  // the mock at once must not find Node's default action (death by signal) still in place.
  const stopped = new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  const url = await listen(server, flags.port);
  process.stdout.write(`listening ${url}\n`);
  context.logger.info({ stage: 'mock', url, failRate: flags.failRate }, 'mock ready');
  const signal = await stopped;
  await close(server);
  const summary = describe();
  context.logger.info({ stage: 'mock', signal, ...summary }, 'mock stopped');
  return { exitCode: ExitCode.ok, summary, stage: 'mock' };
}

export const randomFor = (seed: number | undefined) => (seed === undefined ? Math.random : seededRandom(seed));
