import { randomBytes } from 'node:crypto';

/**
 * A run's id, on every log line. Its own module: main.ts stamps its early error lines with one
 * without loading pino (`sync --version` needs neither).
 */
export function newRunId(): string {
  return randomBytes(4).toString('hex');
}
