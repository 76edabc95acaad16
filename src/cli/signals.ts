import { setMaxListeners } from 'node:events';
import { ExitCode } from '../errors.js';

export interface Interruption {
  signal: AbortSignal;
  dispose(): void;
}

/**
 * SIGINT/SIGTERM abort the run's signal so in-flight work stops and what finished is reported.
 * A second signal means "now": exit 130 without waiting.
 */
export function onInterrupt(): Interruption {
  const controller = new AbortController();
  // The whole run listens to it (every request, every backoff): no listener cap.
  setMaxListeners(0, controller.signal);
  const handler = (name: NodeJS.Signals): void => {
    if (controller.signal.aborted) process.exit(ExitCode.interrupted);
    controller.abort(new Error(`received ${name}`));
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}
