import type { RetryEvent } from '../engine/executor.js';
import { failureFields } from '../errors.js';
import type { Logger, Stage } from './logger.js';

/**
 * One warn line per retry, the same shape everywhere: where (page or batch), attempt, HTTP status
 * or socket code, kind, the delay chosen and the time the retry will go out.
 */
export function logRetry(logger: Logger, stage: Stage, where: { page: number } | { batchId: string }, event: RetryEvent): void {
  logger.warn(
    {
      stage,
      ...where,
      attempt: event.attempt,
      ...failureFields(event.error),
      kind: event.kind,
      delayMs: event.delayMs,
      retryAt: new Date(event.retryAt).toISOString(),
    },
    `${event.error.message}; retry ${event.attempt} in ${event.delayMs} ms`,
  );
}
