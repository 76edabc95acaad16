import type { ErrorClass, WriteError } from '../errors.js';
import { AppendLog } from '../io/append-log.js';
import { deadLetterLine, type Stamp } from './checked-record.js';

/** Characters of dead letters and report lines queued before the reader waits for the disk. */
const MAX_BACKLOG = 4 * 1024 * 1024;

/** Who writes the lines: every line carries the run's id and the time it was written. */
export interface OutputsStamp {
  runId: string;
  /** Wall-clock milliseconds (the run's clock). */
  now: () => number;
}

/**
 * The files push writes as it goes: the dead-letter file and, with --report, one outcome line per
 * record. Both are append-only (several runs may share them), so each line carries `runId` and
 * `at`; `deadLettered` counts only the lines that reached the file, so the summary never claims a
 * dead letter that was not written.
 */
export class PushOutputs {
  private readonly deadLetters: AppendLog;
  private readonly reportLog: AppendLog | undefined;
  private readonly runId: string;
  private readonly now: () => number;
  /** The last stamp made: a burst of lines within one millisecond formats the time once. */
  private stamp: Stamp & { ms: number } = { runId: '', at: '', ms: Number.NaN };

  constructor(paths: { deadLetter: string; report?: string }, stamp: OutputsStamp, onError: (error: WriteError) => void) {
    this.deadLetters = new AppendLog(paths.deadLetter, onError);
    this.reportLog = paths.report ? new AppendLog(paths.report, onError) : undefined;
    this.runId = stamp.runId;
    this.now = stamp.now;
  }

  deadLetter(line: number, errorClass: ErrorClass, reason: string, recordJson: string): void {
    this.deadLetters.append(deadLetterLine(line, this.stamped(), errorClass, reason, recordJson));
  }

  /** Whether report lines are kept (--report): when not, the caller need not build them. */
  get reporting(): boolean {
    return this.reportLog !== undefined;
  }

  /** Report lines carry no record, only small known fields: safe to serialize. */
  report({ line, ...outcome }: { line: number; status: string; email?: string; batchId?: string; class?: ErrorClass; reason?: string }): void {
    if (!this.reportLog) return;
    const { runId, at } = this.stamped();
    this.reportLog.append(JSON.stringify({ line, runId, at, ...outcome }));
  }

  private stamped(): Stamp {
    const ms = this.now();
    if (ms !== this.stamp.ms) this.stamp = { runId: this.runId, at: new Date(ms).toISOString(), ms };
    return this.stamp;
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
