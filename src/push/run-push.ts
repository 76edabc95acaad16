import { createReadStream } from 'node:fs';
import { realpath, stat, unlink } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import {
  ExitCode,
  InterruptedError,
  toSyncError,
  UnavailableError,
  UsageError,
  type ErrorClass,
  type SyncError,
} from '../errors.js';
import type { DeliveryOutcome } from '../engine/batch-engine.js';
import { systemClock } from '../engine/clock.js';
import { createDelivery, type DeliveryDependencies } from '../downstream/delivery.js';
import { NdjsonFile } from '../io/ndjson-file.js';
import { maskEmail } from '../logging/logger.js';
import type { Progress } from '../ui/terminal.js';
import { readRecordChunks, type RawRecord } from './record-reader.js';
import { DeadLetterSchema, describeErrors, toWire, validateProfile, type FieldError, type Profile } from '../profiles/schemas.js';

/** Batches' worth of profiles read ahead at most. */
const MAX_BURST_BATCHES = 5;
/** Invalid records logged one by one before the log switches to a count (they are all in the dead-letter file). */
const LOGGED_INVALID = 20;

export interface PushOptions {
  /** A path, or `-` for stdin. */
  file: string;
  downstreamUrl?: string;
  token?: string;
  rate: number;
  batchSize: number;
  maxRetries: number;
  deadLetter: string;
  report?: string;
  dryRun: boolean;
}

export interface PushDependencies extends DeliveryDependencies {
  /** Unmasked emails in logs. */
  verbose?: boolean;
  signal?: AbortSignal;
  progress?: Progress;
  /** Where --dry-run prints the profiles it would send (nothing when absent, e.g. with --json). */
  stdout?: Writable;
  stdin?: AsyncIterable<Buffer | string>;
}

/** The `--json` summary; the keys are the contract. */
export interface PushSummary {
  total: number;
  valid: number;
  invalid: number;
  duplicates: number;
  delivered: number;
  rejected: number;
  failed: number;
  batches: number;
  requests: number;
  retries: number;
  rateLimited: number;
  deadLettered: number;
  durationMs: number;
}

export interface PushOutcome {
  summary: PushSummary;
  exitCode: ExitCode;
  error?: SyncError;
}

interface Source {
  input: AsyncIterable<Buffer | string>;
  size?: number;
  /** Resolved path, to tell a replay of the dead-letter file from a fresh run. */
  path?: string;
}

async function openInput(file: string, stdin?: AsyncIterable<Buffer | string>): Promise<Source> {
  if (file === '-') return { input: stdin ?? process.stdin };
  try {
    const info = await stat(file);
    if (info.isDirectory()) throw new UsageError(`${file}: is a directory, expected a JSON or NDJSON file`);
    // Default 64 KB reads: bigger chunks keep more records alive at once and cost RSS (1 MiB: +50 MB).
    return { input: createReadStream(file), size: info.size, path: await realpath(file) };
  } catch (error) {
    if (error instanceof UsageError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(`${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (error as Error).message}`);
  }
}

async function samePath(a: string | undefined, b: string): Promise<boolean> {
  if (!a) return false;
  return realpath(b).then(
    (resolved) => resolved === a,
    () => false,
  );
}

/** A record read, parsed and validated: a profile to send, or the reason it cannot be sent. */
type Checked = { line: number; raw: unknown; profile: Profile } | { line: number; raw: unknown; reason: string; errors: FieldError[] };

/** JSON text → valid profile. A dead-letter line is unwrapped to the record it carries (that is the replay). */
export function toProfile(record: RawRecord): Checked {
  const { line } = record;
  if ('error' in record) return { line, raw: null, reason: record.error, errors: [{ path: '', message: record.error }] };
  let raw: unknown;
  try {
    raw = JSON.parse(record.text);
  } catch (error) {
    const reason = `not valid JSON (${(error as Error).message})`;
    return { line, raw: record.text, reason, errors: [{ path: '', message: reason }] };
  }
  const deadLetter = DeadLetterSchema.safeParse(raw);
  if (deadLetter.success && Object.keys(raw as object).length === 4) raw = deadLetter.data.record;
  const validation = validateProfile(raw);
  return validation.ok
    ? { line, raw, profile: validation.profile }
    : { line, raw, reason: describeErrors(validation.errors), errors: validation.errors };
}

/**
 * read → validate → batch → send, streaming: at most min(rate, 5) + 1 batches are read ahead.
 * Every record ends delivered, a duplicate merged into a later one, or in the dead-letter file.
 * Never throws for the run's own failures: they come back in the outcome.
 */
export async function runPush(options: PushOptions, deps: PushDependencies): Promise<PushOutcome> {
  const clock = deps.clock ?? systemClock;
  const { logger, signal, progress } = deps;
  const started = clock.now();
  const summary: PushSummary = {
    total: 0,
    valid: 0,
    invalid: 0,
    duplicates: 0,
    delivered: 0,
    rejected: 0,
    failed: 0,
    batches: 0,
    requests: 0,
    retries: 0,
    rateLimited: 0,
    deadLettered: 0,
    durationMs: 0,
  };
  const show = (email: string): string => (deps.verbose ? email : maskEmail(email));

  if (!options.dryRun && !options.downstreamUrl) {
    throw new UsageError('--downstream-url (or SYNC_DOWNSTREAM_URL) is required unless --dry-run');
  }
  const source = await openInput(options.file, deps.stdin);
  const replaying = await samePath(source.path, options.deadLetter);
  const deadLetter = options.dryRun ? undefined : await NdjsonFile.create(options.deadLetter, { keepExisting: !replaying });
  const report = options.report ? await NdjsonFile.create(options.report) : undefined;

  const delivery = options.downstreamUrl
    ? createDelivery(
        { ...options, downstreamUrl: options.downstreamUrl, autoStart: false },
        { ...deps, clock },
      )
    : undefined;
  const engine = delivery?.engine;

  let deadLettered = 0;
  const toDeadLetter = async (line: number, errorClass: ErrorClass, reason: string, record: unknown): Promise<void> => {
    if (!deadLetter) return;
    deadLettered += 1;
    await deadLetter.write({ line, class: errorClass, reason, record });
  };
  const bytesRead = { value: 0 };

  const settle = async (line: number, raw: unknown, profile: Profile, outcome: DeliveryOutcome): Promise<void> => {
    summary[outcome.status === 'duplicate' ? 'duplicates' : outcome.status] += 1;
    deps.metrics?.submissions.inc({ outcome: outcome.status, error_class: 'errorClass' in outcome ? outcome.errorClass : '' });
    const { status } = outcome;
    await report?.write({ line, email: profile.email, ...outcome });
    if (status === 'rejected' || status === 'failed') {
      if (status === 'rejected') {
        logger.warn({ stage: 'send', line, batchId: outcome.batchId, email: show(profile.email) }, `line ${line}: rejected by the downstream: ${outcome.reason}`);
      }
      await toDeadLetter(line, outcome.errorClass, outcome.reason, raw);
    }
    const done = summary.delivered + summary.rejected + summary.failed + summary.duplicates;
    if (done % 500 === 0) progress?.update(progressText(done, clock.now() - started, source, bytesRead.value));
  };

  const settling = new Set<Promise<void>>();
  // Enough queued for one window's burst of slots (the reader refills far faster than slots open),
  // and no more: every queued profile costs about 2 KB, so memory stays flat at any rate.
  const highWater = options.batchSize * (Math.min(Math.ceil(options.rate), MAX_BURST_BATCHES) + 1);
  let fatal: SyncError | undefined;

  // A signal at any point (reading, or the final flush) stops the engine: queued profiles fail as
  // interrupted, in-flight requests are cancelled, no retry waits out its backoff.
  const stopEngine = (): void => void engine?.abort();
  signal?.addEventListener('abort', stopEngine, { once: true });
  try {
    // Awaits once per chunk read, and per record only when a write or backpressure needs it.
    reading: for await (const chunk of readRecordChunks(countBytes(source.input, bytesRead))) {
      for (const record of chunk) {
        if (signal?.aborted) break reading;
        summary.total += 1;
        const checked = toProfile(record);
        const { line, raw } = checked;
        deps.metrics?.recordValidation('errors' in checked ? checked.errors : undefined);
        if ('reason' in checked) {
          const { reason } = checked;
          summary.invalid += 1;
          deps.metrics?.submissions.inc({ outcome: 'invalid', error_class: 'client' });
          if (summary.invalid <= LOGGED_INVALID) logger.warn({ stage: 'validate', line }, `${options.file} line ${line}: ${reason}`);
          if (summary.invalid === LOGGED_INVALID + 1) logger.warn({ stage: 'validate' }, 'more invalid records: see the dead-letter file');
          await report?.write({ line, status: 'invalid', class: 'client', reason });
          await toDeadLetter(line, 'client', reason, raw);
          continue;
        }
        summary.valid += 1;
        const { profile } = checked;
        if (!engine) {
          const written = writeLine(deps.stdout, toWire(profile));
          if (written) await written;
          continue;
        }
        const pending = engine.submit(profile).then((outcome) => settle(line, raw, profile, outcome));
        settling.add(pending);
        void pending.finally(() => settling.delete(pending));
        if (engine.queued >= highWater) {
          engine.start();
          await engine.whenQueueBelow(highWater / 2);
        }
      }
    }
  } catch (error) {
    fatal = error instanceof UsageError ? new UsageError(`${options.file}: ${error.message}`) : toSyncError(error);
  }

  if (engine) {
    if (signal?.aborted || fatal) await engine.abort();
    else await engine.close();
  }
  signal?.removeEventListener('abort', stopEngine);
  while (settling.size > 0) await Promise.all(settling);

  if (deadLetter) {
    if (deadLettered > 0) await deadLetter.commit();
    else {
      await deadLetter.discard();
      // A replay that delivered everything has consumed its file.
      if (replaying && !signal?.aborted && !fatal) await unlink(options.deadLetter).catch(() => undefined);
    }
  }
  await report?.commit();

  Object.assign(summary, {
    batches: engine?.stats.batches ?? 0,
    requests: delivery?.executor.stats.requests ?? 0,
    retries: delivery?.executor.stats.retries ?? 0,
    rateLimited: delivery?.executor.stats.rateLimited ?? 0,
    deadLettered,
    durationMs: Math.round(clock.now() - started),
  });

  if (fatal && summary.total === 0) return { summary, exitCode: fatal.exitCode, error: fatal };
  if (signal?.aborted) return { summary, exitCode: ExitCode.interrupted, error: new InterruptedError() };
  if (fatal) return { summary, exitCode: ExitCode.failed, error: fatal };
  if (summary.failed > 0) {
    return {
      summary,
      exitCode: ExitCode.failed,
      error: new UnavailableError(`${summary.failed} profiles could not be delivered; they are in ${options.deadLetter} for replay`),
    };
  }
  return { summary, exitCode: summary.invalid + summary.rejected > 0 ? ExitCode.partial : ExitCode.ok };
}

async function* countBytes(input: AsyncIterable<Buffer | string>, counter: { value: number }): AsyncGenerator<Buffer | string> {
  for await (const chunk of input) {
    counter.value += chunk.length;
    yield chunk;
  }
}

/** Returns a promise only when the stream asks us to wait (no await per line otherwise). */
function writeLine(stream: Writable | undefined, value: unknown): Promise<void> | undefined {
  if (!stream || stream.write(`${JSON.stringify(value)}\n`)) return undefined;
  return new Promise<void>((resolve) => stream.once('drain', () => resolve()));
}

function progressText(done: number, elapsedMs: number, source: Source, bytes: number): string {
  const perSecond = elapsedMs > 0 ? Math.round((done * 1000) / elapsedMs) : 0;
  if (!source.size) return `Pushing: ${done.toLocaleString('en')} done · ${perSecond.toLocaleString('en')}/s`;
  const fraction = Math.min(1, bytes / source.size);
  const eta = fraction > 0 ? Math.round(((1 - fraction) * elapsedMs) / fraction / 1000) : 0;
  return `Pushing: ${done.toLocaleString('en')} done · ${perSecond.toLocaleString('en')}/s · ${Math.round(fraction * 100)}% · ETA ${eta} s`;
}
