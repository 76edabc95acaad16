import type { ErrorClass, WriteError } from '../errors.js';
import { AppendLog } from '../io/append-log.js';
import { deadLetterLine } from './checked-record.js';

/** Characters of dead letters and report lines queued before the reader waits for the disk. */
const MAX_BACKLOG = 4 * 1024 * 1024;

/**
 * The files push writes as it goes: the dead-letter file and, with --report, one outcome line per
 * record. Both are append-only (several runs may share them); `deadLettered` counts only the lines
 * that reached the file, so the summary never claims a dead letter that was not written.
 */
export class PushOutputs {
  private readonly deadLetters: AppendLog;
  private readonly reportLog: AppendLog | undefined;

  constructor(paths: { deadLetter: string; report?: string }, onError: (error: WriteError) => void) {
    this.deadLetters = new AppendLog(paths.deadLetter, onError);
    this.reportLog = paths.report ? new AppendLog(paths.report, onError) : undefined;
  }

  deadLetter(line: number, errorClass: ErrorClass, reason: string, recordJson: string): void {
    this.deadLetters.append(deadLetterLine(line, errorClass, reason, recordJson));
  }

  /** Report lines carry no record, only small known fields: safe to serialize. */
  report(outcome: { line: number; status: string; email?: string; batchId?: string; class?: ErrorClass; reason?: string }): void {
    this.reportLog?.append(JSON.stringify(outcome));
  }

  get deadLettered(): number {
    return this.deadLetters.written;
  }

  get error(): WriteError | undefined {
    return this.deadLetters.error ?? this.reportLog?.error;
  }

  /** A promise to wait on when the disk falls behind the reader, else undefined (no await per record). */
  backpressure(): Promise<void> | undefined {
    return this.deadLetters.backlog + (this.reportLog?.backlog ?? 0) > MAX_BACKLOG ? this.flush() : undefined;
  }

  async flush(): Promise<void> {
    await Promise.all([this.deadLetters.flush(), this.reportLog?.flush()]);
  }
}
