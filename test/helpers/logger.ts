import { createLogger, type Logger } from '../../src/logging/logger.js';

/** A JSON logger whose lines are kept for assertions. */
export async function memoryLogger(): Promise<{ logger: Logger; lines: () => Record<string, unknown>[] }> {
  const chunks: string[] = [];
  const logger = await createLogger({
    format: 'json',
    level: 'debug',
    runId: 'test-run',
    color: false,
    destination: { write: (chunk: string) => void chunks.push(chunk) },
  });
  return {
    logger,
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}
