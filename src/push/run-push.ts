import type { Writable } from 'node:stream';
import { ExitCode, InterruptedError, SyncError, toSyncError, UsageError, type ErrorClass } from '../errors.js';
import type { DeliveryOutcome } from '../engine/batch-engine.js';
import { systemClock } from '../engine/clock.js';
import type { DeliveryDependencies } from '../delivery/delivery.js';
import type { Encoded, Target } from '../destinations/destination.js';
import { encoderFor } from '../delivery/encoder.js';
import { resolveTarget, type ResolvedTarget, type TargetFlags } from '../destinations/registry.js';
import { recoverConsumed, removeHead } from '../io/append-log.js';
import { checkOutputPaths, fileIdentity } from '../io/output-paths.js';
import { maskEmail, type Logger } from '../logging/logger.js';
import { loadHasher, streamDigest, type StreamDigest } from '../state/digest.js';
import { LmdbStateStore, stateExists } from '../state/lmdb-state-store.js';
import type { Accepted, Remembered, StateStore } from '../state/state-store.js';
import { batchKey } from './batch-key.js';
import { SeenEmails } from './seen-emails.js';
import { progressLine, type PushProgress } from './progress.js';
import { emailId, type EmailId } from '../state/entry-codec.js';
import type { Digest } from '../state/digest.js';
import type { Progress } from '../ui/terminal.js';
import { emailOf, parseRecord, validateParsed } from './checked-record.js';
import { openInput, stdinIdentity } from './input.js';
import { PushOutputs } from './outputs.js';
import { readRecordChunks, type RawRecord } from './record-reader.js';
import { leadingEmail } from './leading-email.js';
import { count } from '../ui/count.js';

/** Records held back at most (see `heldBack`): past it the oldest is sent, in order, as without holding. */
const MAX_HELD_BACK = 10_000;

/** A valid record on its way to the engine. */
interface Held {
  line: number;
  recordJson: string;
  item: Encoded;
  repeated: boolean;
}

/** A record submitted to the engine, with what the state will remember of it if it is accepted. */
interface Submitted extends Held {
  /** Undefined for the records of the first batch: hashed at their answer, not before the first request. */
  digest?: Digest;
  textDigest?: Digest;
}

/** How often the progress line is redrawn, and how often a person's log gets a line of progress. */
const PROGRESS_EVERY_MS = 250;
const PROGRESS_LOG_MS = 10_000;

/** Batches' worth of profiles read ahead at most, for a shared quota's burst of slots. */
const MAX_BURST_BATCHES = 5;
/** Invalid records logged one by one before the log switches to a count (they are all in the dead-letter file). */
const LOGGED_INVALID = 20;

export interface PushOptions extends TargetFlags {
  /** A path, or `-` for stdin. */
  file: string;
  /** SYNC_DOWNSTREAM_TOKEN. */
  token?: string;
  /** The destination already resolved from these flags (the command resolves it to open the quota). */
  resolved?: ResolvedTarget;
  maxRetries: number;
  /** --retry-for (ms): instead of --max-retries, retry a failing batch until this long after its first failure. */
  retryForMs?: number;
  deadLetter: string;
  report?: string;
  /** Only checked before the run (the command writes it at the end). */
  metricsFile?: string;
  dryRun: boolean;
  /** Where the state lives (see src/state); ignored when a `state` dependency is given. */
  stateDir: string;
  /** Send every valid profile, whatever the state says. */
  full: boolean;
}

export interface PushDependencies extends DeliveryDependencies {
  /** This run's id (the one on every log line): every dead-letter and report line carries it. */
  runId: string;
  /** Unmasked emails in logs. */
  verbose?: boolean;
  /**
   * For a person at a terminal: a line per batch is noise (2,000 for a million profiles), so those
   * go to debug and one line of progress is logged every PROGRESS_LOG_MS instead.
   */
  quietBatches?: boolean;
  /** How often that line of progress is logged (tests shorten it). */
  progressLogMs?: number;
  signal?: AbortSignal;
  progress?: Progress;
  /** Where --dry-run prints the profiles it would send (nothing when absent, e.g. with --json). */
  stdout?: Writable;
  stdin?: AsyncIterable<Buffer | string>;
  /** Instead of the state on disk (tests, `sync demo`). */
  state?: StateStore;
}

/** The `--json` summary; the keys are the contract. */
export interface PushSummary {
  total: number;
  valid: number;
  invalid: number;
  duplicates: number;
  unchanged: number;
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

/**
 * read → validate → skip what the platform already has → batch → send, streaming: a bounded
 * number of batches is read ahead. Every record read ends invalid, unchanged, delivered, a
 * duplicate merged into a later one, or in the dead-letter file; every accepted profile is
 * remembered as its batch's answer arrives, so a rerun after any stop continues where this one was.
 * Never throws for the run's own failures: they come back in the outcome.
 */
export async function runPush(options: PushOptions, deps: PushDependencies): Promise<PushOutcome> {
  const early: EarlyState = { taken: false };
  try {
    return await push(options, deps, early);
  } finally {
    // The run stopped before it used the state it had begun to open (a refusal, a missing input).
    if (early.opening && !early.taken) void early.opening.then((store) => store?.close(), () => undefined);
  }
}

/** A state opened ahead of its use (see `push`), and whether the run took it. */
interface EarlyState {
  opening?: Promise<LmdbStateStore | undefined>;
  taken: boolean;
}

async function push(options: PushOptions, deps: PushDependencies, early: EarlyState): Promise<PushOutcome> {
  const clock = deps.clock ?? systemClock;
  const { logger, signal, progress } = deps;
  const started = clock.now();
  const summary: PushSummary = {
    total: 0,
    valid: 0,
    invalid: 0,
    duplicates: 0,
    unchanged: 0,
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
  const { dryRun } = options;

  // Everything that can stop the run from starting is checked before the first request.
  const resolved = options.resolved ?? resolveTarget(options, options.token, { contactless: dryRun });
  const { target } = resolved;
  // The same file by any name (a symlink, a hard link): identities, not spellings, are compared.
  const inputId = options.file === '-' ? await stdinIdentity() : await fileIdentity(options.file);
  const deadLetterId = await fileIdentity(options.deadLetter);
  const replaying = !dryRun && options.file !== '-' && inputId === deadLetterId;
  if (!dryRun && options.file === '-' && inputId === deadLetterId) {
    throw new UsageError(`stdin is the --dead-letter file ${options.deadLetter}: name it as the input to replay it`);
  }
  if (!dryRun) {
    await checkOutputPaths([
      { flag: '--dead-letter', path: options.deadLetter },
      { flag: '--report', path: options.report },
      { flag: '--metrics-file', path: options.metricsFile },
    ]);
    for (const [flag, path] of [['--report', options.report], ['--metrics-file', options.metricsFile]] as const) {
      if (path !== undefined && (await fileIdentity(path)) === inputId) throw new UsageError(`${flag} ${path}: that is the input file`);
    }
    // A replay killed while dropping the lines it had consumed left them aside: put them back first.
    await recoverConsumed(options.deadLetter);
  }
  // Without a platform check to come (no preflight: a dry run, or a platform that has none), the
  // input is the last thing that can refuse the run: it is opened now, so that the state can be.
  // Not a replay's: its file is opened then and there (see openInput), and held from then on, so it
  // is opened once the platform's check is behind it, as before.
  const checksLeft = replaying || (!dryRun && target.destination.preflight !== undefined);
  const opened = checksLeft ? undefined : await openInput(options.file, deps.stdin ?? process.stdin, { bounded: replaying });
  // The state is opened now, its keeper working on the other core (walking the entries, ~1 s for a
  // million; creating a new state's files) while this process loads the HTTP client and asks the
  // platform's preflight. A state not there yet is created only once nothing can refuse the run.
  const platform = target.baseUrl ? target.destination.identity(target) : undefined;
  if (!deps.state && platform && (!checksLeft || (await stateExists(options.stateDir).catch(() => false)))) {
    early.opening = LmdbStateStore.open(options.stateDir, platform, { readOnly: dryRun });
    // Its failure is reported where the state is awaited, after the refusals that come first.
    early.opening.catch(() => undefined);
  }
  await loadHasher();
  const encoder = encoderFor(target);
  let state: StateStore | undefined = undefined;
  let fatal: SyncError | undefined;
  // Accepted in this run and not yet committed: what the platform holds now, as far as we know.
  const acceptedNow = new Map<string, Remembered>();
  // What the state held for each submitted profile when its batch was formed (see batchKey).
  const formedOn = new WeakMap<Encoded, { basis: Remembered | undefined; generation: string }>();
  const formBatch = (items: readonly Encoded[]): string => {
    const generation = state?.generation ?? '';
    for (const item of items) formedOn.set(item, { basis: acceptedNow.get(item.profile.email) ?? state?.lookup(item.profile.email), generation });
    return (deps.newBatchId ?? ((batch) => batchKey(batch, (item) => formedOn.get(item)?.basis, generation)))(items);
  };
  // A dry run sends nothing: it does not load the HTTP client and the engine (axios alone is ~0.15 s of CPU).
  const delivery = dryRun
    ? undefined
    : (await import('../delivery/delivery.js')).createDelivery(
        { ...options, target, rate: resolved.rate, batchSize: resolved.batchSize, concurrency: resolved.concurrency, autoStart: false },
        { ...deps, clock, newBatchId: formBatch, batchLogLevel: deps.quietBatches ? 'debug' : 'info', catchUp: () => remember.behind() },
      );
  try {
    await delivery?.preflight(signal);
  } catch (caught) {
    // A refusal (token, list, field map) could not start the run: exit 2, as before. A platform that
    // stayed down, or an interrupt, ends a run that started: it is reported like any other, summary
    // included, so `--json` still prints its one object.
    const error = toSyncError(caught);
    if (error instanceof UsageError) throw error;
    const { requests, retries, rateLimited } = delivery!.executor.stats;
    Object.assign(summary, { requests, retries, rateLimited, durationMs: Math.round(clock.now() - started) });
    return { summary, exitCode: error.exitCode, error };
  }
  const source = opened ?? (await openInput(options.file, deps.stdin ?? process.stdin, { bounded: replaying }));
  // Said, since the run cannot tell a line still being written from one a crash cut short: if it
  // stays unfinished, a person must look.
  if (source.leftUnfinished) logger.warn({ stage: 'validate', bytes: source.leftUnfinished }, `${options.file}: its last line is unfinished (no newline, not JSON), ${source.leftUnfinished} bytes: left in the file for the next replay`);
  const consumed = replaying ? streamDigest() : undefined;
  early.taken = true;
  if (!deps.state && !platform) unnamedState(target, options.stateDir, logger);
  state = deps.state ?? (platform ? await openState(early.opening ?? LmdbStateStore.open(options.stateDir, platform, { readOnly: dryRun }), options.stateDir, platform, logger) : undefined);
  const engine = delivery?.engine;
  const stopOn = (error: SyncError): void => {
    if (fatal) return;
    // Reported once, at the end; stop sending now, since a failure could no longer be recorded.
    fatal = error;
    void engine?.abort();
  };
  const outputs = dryRun ? undefined : new PushOutputs({ deadLetter: options.deadLetter, report: options.report }, { runId: deps.runId, now: () => clock.now() }, stopOn);
  // Emails submitted and not yet settled: a later record for one of them is never "unchanged",
  // since the earlier one may still change what the platform holds.
  const unsettled = new Map<string, number>();
  const release = (email: string): void => {
    const left = (unsettled.get(email) ?? 1) - 1;
    if (left > 0) unsettled.set(email, left);
    else unsettled.delete(email);
  };
  const remember = new AcceptedQueue(
    state,
    (error) => stopOn(toSyncError(error)),
    (conflicts) =>
      logger.warn(
        { stage: 'send', conflicts: conflicts.length },
        conflicts.length === 1
          ? '1 profile was accepted from another run sharing this state at the same time: nobody can tell which version the platform kept, so it is forgotten and the next run sends it again'
          : `${conflicts.length} profiles were accepted from another run sharing this state at the same time: nobody can tell which version the platform kept, so they are forgotten and the next run sends them again`,
      ),
    // Once the state holds them, the accepted profiles of a commit are no longer on their way.
    (committed) => {
      for (const { email, entry } of committed) {
        if (acceptedNow.get(email) === entry) acceptedNow.delete(email);
        release(email);
      }
    },
  );
  const bytesRead = { value: 0 };
  let lineReached = 0;
  /** Failed profiles by class: the first reason seen and how many. */
  const failures = new Map<ErrorClass, [string, number]>();

  const settle = ({ line, recordJson, item, repeated, digest, textDigest }: Submitted, delivered: DeliveryOutcome): void => {
    const { profile } = item;
    // A failed record whose email has a later record on its way is superseded by it: the later one
    // carries what the platform should end with. Dead-lettering this one would let a replay roll the
    // platform back to it after the later one was accepted.
    const superseded = delivered.status === 'failed' && (unsettled.get(profile.email) ?? 0) > 1;
    const outcome: DeliveryOutcome = superseded ? { status: 'duplicate', batchId: delivered.batchId ?? '' } : delivered;
    summary[outcome.status === 'duplicate' ? 'duplicates' : outcome.status] += 1;
    const errorClass = 'errorClass' in outcome ? outcome.errorClass : undefined;
    deps.metrics?.submissions.inc({ outcome: outcome.status, error_class: errorClass ?? '' });
    const reason = superseded ? 'superseded by a later record for the same email' : 'reason' in outcome ? outcome.reason : undefined;
    outputs?.report({ line, email: profile.email, status: outcome.status, batchId: outcome.batchId || undefined, class: errorClass, reason });
    // An accepted profile stays "on its way" until the state holds it: a later record for the same
    // email read in between must not be compared with what the state held before.
    if (outcome.status === 'delivered') {
      const entry: Remembered = { digest: digest ?? encoder.digest(item), textDigest: textDigest ?? encoder.textDigest(recordJson), acceptedAt: clock.now(), repeated };
      acceptedNow.set(profile.email, entry);
      const formed = formedOn.get(item);
      remember.add({ email: profile.email, entry, basis: formed?.basis, generation: formed?.generation ?? '' });
    } else release(profile.email);
    if (outcome.status === 'failed') {
      const seen = failures.get(outcome.errorClass);
      failures.set(outcome.errorClass, [seen?.[0] ?? outcome.reason, (seen?.[1] ?? 0) + 1]);
    }
    if (outcome.status === 'rejected' || outcome.status === 'failed') {
      if (outcome.status === 'rejected') {
        logger.warn({ stage: 'send', line, batchId: outcome.batchId, email: show(profile.email) }, `line ${line}: rejected by the downstream: ${outcome.reason}`);
      }
      outputs?.deadLetter(line, outcome.errorClass, outcome.reason, recordJson);
    }
  };

  const invalidRecord = (line: number, recordJson: string, reason: string): void => {
    summary.invalid += 1;
    deps.metrics?.submissions.inc({ outcome: 'invalid', error_class: 'client' });
    if (summary.invalid <= LOGGED_INVALID) logger.warn({ stage: 'validate', line }, `${options.file} line ${line}: ${reason}`);
    if (summary.invalid === LOGGED_INVALID + 1) logger.warn({ stage: 'validate' }, 'more invalid records: see the dead-letter file');
    outputs?.report({ line, status: 'invalid', class: 'client', reason });
    outputs?.deadLetter(line, 'client', reason, recordJson);
  };

  /** Submitted items whose outcome is not settled yet, and what wakes the run's end when none is left. */
  const settling = { count: 0, drained: undefined as (() => void) | undefined, failure: undefined as { error: unknown } | undefined };
  const settleSubmitted = (submitted: Submitted, outcome: DeliveryOutcome): void => {
    try {
      settle(submitted, outcome);
    } catch (error) {
      settling.failure ??= { error };
    } finally {
      if (--settling.count === 0) settling.drained?.();
    }
  };
  // Sized for a rerun of the file the state came from: most runs read about the emails it holds.
  const seen = new SeenEmails(state?.count() ?? 0);
  /** Records held back by email (see below), in the order they were read. */
  const heldBack = new Map<string, Held>();
  const holdBack = (held: Held): void => void heldBack.set(held.item.profile.email, held);
  /** A later valid record for this email was read: the one held back for it is never sent. */
  const supersede = (email: string): void => {
    const held = heldBack.get(email);
    if (!held) return;
    heldBack.delete(email);
    summary.duplicates += 1;
    deps.metrics?.submissions.inc({ outcome: 'duplicate', error_class: '' });
    outputs?.report({ line: held.line, email, status: 'duplicate', reason: 'superseded by a later record for the same email' });
  };
  /**
   * Into the engine (or, for a dry run, onto stdout); waits when the reader is ahead of the
   * platform or the disk. A promise only when there may be something to wait for: a dry run's
   * million records cost no await.
   */
  const send = (held: Held, releasing = false): Promise<void> | undefined => {
    const { item } = held;
    if (releasing) heldBack.delete(item.profile.email);
    if (engine) return submit(engine, held);
    // As a real run would: a later record for this email is sent too, whatever the state says.
    if (state) unsettled.set(item.profile.email, 1);
    return writeText(deps.stdout, item.fragment);
  };
  /** A promise only when the reader must wait (the engine's queue is full, or the disk is slow): no await per record. */
  const submit = (engine: NonNullable<typeof delivery>['engine'], held: Held): Promise<void> | undefined => {
    const { item, recordJson } = held;
    unsettled.set(item.profile.email, (unsettled.get(item.profile.email) ?? 0) + 1);
    const starting = !engine.started;
    // What the state will remember of it is hashed now, while the reader runs after a departure,
    // not when its batch's answer arrives, shortly before the next request is due to leave. Not for
    // the first batch, read while the first request (free to leave at once) waits for it.
    const submitted: Submitted = starting ? held : { ...held, digest: encoder.digest(item), textDigest: encoder.textDigest(recordJson) };
    settling.count += 1;
    void engine.submit(item).then((outcome) => settleSubmitted(submitted, outcome));
    let room: Promise<void> | undefined;
    if (starting && engine.started) {
      // One batch queued: the engine has started on its own, and the reader steps aside until that
      // batch has left. Read on, it kept the event loop until the whole burst (highWater) was
      // queued, with cold code, while the first request (free to go at once) waited for it.
      room = engine.whenQueueBelow(engine.queued);
    } else if (engine.queued >= highWater) {
      engine.start();
      // Woken (as a batch leaves) once a batch fits: each departure is followed by one batch's
      // reading (~25 ms), not every third by three or four (~100 ms idle, 250 ms with a core busy),
      // which ran into the next request's instant.
      room = engine.whenQueueBelow(highWater - resolved.batchSize + 1);
    }
    return room ? room.then(() => outputs?.backpressure()) : outputs?.backpressure();
  };
  // Enough queued for the slots to come (the reader refills far faster than slots open), and no
  // more: every queued profile costs about 2 KB, so memory stays flat at any rate. The in-process
  // limiter opens slots one at a time, a spacing apart (smooth pacing), and the reader refills a
  // batch as each request leaves: one batch beyond the next slot's is enough. Six batches
  // (for a window's burst) kept every profile alive ~1.2 s, long enough to be copied by two or three
  // scavenges and promoted: scavenges of 6-23 ms every ~400 ms at load 3 (--trace-gc), the old
  // space swelling to ~95 MB between mark-compacts, one pause in twenty at a departure's instant.
  // A shared quota may hand out a window's slots at once: it keeps the burst.
  const bursts = deps.limiter ? Math.min(Math.ceil(resolved.rate), MAX_BURST_BATCHES) : 1;
  const highWater = resolved.batchSize * (bursts + 1);

  /**
   * Each record of a chunk read, looked at ahead (see `lookAhead`): the email off its text's head,
   * its hash and its text's digest, and whether the state remembers that text for that email as of
   * `changes` (AcceptedQueue.changes; -1: not looked at).
   */
  const ahead = { emails: [] as (string | undefined)[], ids: [] as EmailId[], digests: [] as Digest[], remembered: new Uint8Array(0), changes: -1, touched: 0 };
  /**
   * The state's half of `unchangedText` for a whole chunk, before any of its records is handled:
   * first the hashes, then the lookups in a row. Each lookup is a cache miss or two into an index of
   * tens of megabytes; back to back, with nothing between them that depends on the one before, the
   * processor overlaps them (one by one, between the hashing of records, they were 8-12% of an
   * incremental push, 1.1 µs each at load 8).
   */
  const lookAhead = (chunk: readonly RawRecord[]): void => {
    ahead.changes = -1;
    // An empty state (a first push) remembers no text: the digests would be wasted.
    if (!state || options.full || state.count() === 0) return;
    const { emails, ids, digests } = ahead;
    emails.length = chunk.length;
    for (let k = 0; k < chunk.length; k++) {
      const record = chunk[k]!;
      const email = record.problem === undefined ? leadingEmail(record.text) : undefined;
      emails[k] = email;
      if (email === undefined) continue;
      ids[k] = emailId(email);
      digests[k] = encoder.textDigest(record.text.trim());
    }
    if (ahead.remembered.length < chunk.length) ahead.remembered = new Uint8Array(chunk.length * 2);
    let touched = 0;
    // Where each lookup will look first, read in a row with nothing that branches on it: the misses overlap.
    if (state.touch) for (let k = 0; k < chunk.length; k++) if (emails[k] !== undefined) touched ^= state.touch(ids[k]!);
    for (let k = 0; k < chunk.length; k++) {
      if (emails[k] === undefined) continue;
      ahead.remembered[k] = state.remembersText(emails[k]!, digests[k]!, ids[k]) ? 1 : 0;
      // Each record's block of the seen-emails filter too, while these misses overlap (see SeenEmails.touch).
      if (!dryRun) touched ^= seen.touch(ids[k]!);
    }
    ahead.touched = touched;
    ahead.changes = remember.changes;
  };

  /**
   * The text the platform last accepted for its email, again (record `k` of the chunk `lookAhead`
   * saw): unchanged, without parsing or validating it (99% of an incremental push's records). The
   * email is read off the text's head (leadingEmail); a wrong guess cannot pass, since the digest of
   * this text is then not the one remembered for that email. Anything else goes the long way, below,
   * which decides the same: false is never wrong here, only slower.
   */
  const unchangedText = (record: RawRecord, k: number): boolean => {
    if (ahead.changes < 0) return false;
    const email = ahead.emails[k];
    if (email === undefined || unsettled.has(email)) return false;
    const id = ahead.ids[k]!;
    // The state changed since the look ahead (a batch's acceptances committed while this chunk
    // waited on the engine): asked again. An email accepted in this run is unsettled until its
    // commit has counted in `changes`, so no answer from before that commit is used for it.
    const remembered = ahead.changes === remember.changes ? ahead.remembered[k] === 1 : state!.remembersText(email, ahead.digests[k]!, id);
    if (!remembered) return false;
    if (!dryRun) seen.check(id);
    supersede(email);
    summary.valid += 1;
    summary.unchanged += 1;
    deps.metrics?.recordValidation(undefined);
    // Only with --report: the line's object alone was 1.3% of an incremental push.
    if (outputs?.reporting) outputs.report({ line: record.line, email, status: 'unchanged' });
    return true;
  };

  // A signal at any point (reading, or the final flush) stops the engine: queued profiles fail as
  // interrupted, in-flight requests are cancelled, no retry waits out its backoff.
  const stopEngine = (): void => void engine?.abort();
  const progressNow = (): PushProgress => ({
    read: summary.total,
    bytes: bytesRead.value,
    size: source.size,
    delivered: summary.delivered,
    unchanged: summary.unchanged,
    failed: summary.failed + summary.rejected,
    elapsedMs: clock.now() - started,
  });
  const ticker = progress ? setInterval(() => progress.update(progressLine(progressNow())), PROGRESS_EVERY_MS) : undefined;
  let lastLogged = started;
  const progressLog =
    deps.quietBatches && !dryRun
      ? setInterval(() => {
          if (clock.now() - lastLogged < (deps.progressLogMs ?? PROGRESS_LOG_MS)) return;
          lastLogged = clock.now();
          logger.info({ stage: 'send', ...progressNow() }, progressLine(progressNow()).replace(/^Pushing: /, 'so far: '));
        }, PROGRESS_EVERY_MS)
      : undefined;
  ticker?.unref();
  progressLog?.unref();
  signal?.addEventListener('abort', stopEngine, { once: true });
  let readToEnd = false;
  try {
    // Awaits once per chunk read, and per record only when a write or backpressure needs it.
    reading: for await (const chunk of readRecordChunks(countBytes(source.stream, bytesRead, consumed))) {
      lookAhead(chunk);
      for (let k = 0; k < chunk.length; k++) {
        const record = chunk[k]!;
        if (signal?.aborted || fatal) break reading;
        summary.total += 1;
        lineReached = record.line;
        if (unchangedText(record, k)) continue;
        const parsed = parseRecord(record);
        const email = 'reason' in parsed ? undefined : emailOf(parsed.value);
        const id = email !== undefined && (!dryRun || state) ? emailId(email) : undefined;
        // Not the first record for this email in this run (see Remembered.repeated).
        // (Only a real run remembers it: a dry run skips the filter.)
        const repeated = !dryRun && id !== undefined && seen.check(id);
        const found = id === undefined ? undefined : state?.lookup(email!, id);
        // What the platform last accepted for this email, unless an earlier record for it is still
        // on its way (then this one must follow it, whatever the state says).
        const remembered = !options.full && email !== undefined && !unsettled.has(email) ? found : undefined;
        // The very text that was accepted: unchanged, without validating it again.
        if (remembered && remembered.textDigest === encoder.textDigest(parsed.recordJson)) {
          supersede(email!);
          summary.valid += 1;
          summary.unchanged += 1;
          deps.metrics?.recordValidation(undefined);
          outputs?.report({ line: parsed.line, email, status: 'unchanged' });
          continue;
        }
        const checked = 'reason' in parsed ? parsed : validateParsed(parsed);
        const { line, recordJson } = checked;
        deps.metrics?.recordValidation('errors' in checked ? checked.errors : undefined);
        if ('reason' in checked) {
          invalidRecord(line, recordJson, checked.reason);
          continue;
        }
        const item = encoder.encode(checked.profile);
        if ('refused' in item) {
          // Valid, but no request to this platform can carry it: refused here, without a request.
          invalidRecord(line, recordJson, `${item.refused}`);
          continue;
        }
        summary.valid += 1;
        supersede(item.profile.email);
        if (remembered && remembered.digest === encoder.digest(item)) {
          summary.unchanged += 1;
          outputs?.report({ line, email: item.profile.email, status: 'unchanged' });
          continue;
        }
        const held = { line, recordJson, item, repeated };
        if (!options.full && found?.repeated) {
          // The run that sent this email last read more than one record for it: this one may not be
          // the last for it in this input either. Held back until a later one comes (then this one
          // is superseded and never sent: the platform is not rolled back) or the input ends.
          holdBack(held);
          const sending = heldBack.size > MAX_HELD_BACK ? send(heldBack.values().next().value!, true) : undefined;
          if (sending) await sending;
          continue;
        }
        const sending = send(held);
        if (sending) await sending;
      }
      const slowDisk = outputs?.backpressure();
      if (slowDisk) await slowDisk;
    }
    readToEnd = !signal?.aborted && !fatal;
  } catch (error) {
    fatal ??= error instanceof UsageError ? new UsageError(`${options.file}: ${error.message}`) : toSyncError(error);
  }
  // No later record came for these: each is what the platform should end with. (After a stop they
  // go the way of anything still queued: failed as interrupted, dead-lettered for replay.)
  try {
    for (const held of [...heldBack.values()]) await send(held, true);
  } catch (error) {
    fatal ??= toSyncError(error);
  }

  if (engine) {
    if (signal?.aborted || fatal) await engine.abort();
    else await engine.close();
  }
  clearInterval(ticker);
  clearInterval(progressLog);
  signal?.removeEventListener('abort', stopEngine);
  if (settling.count > 0) await new Promise<void>((resolve) => (settling.drained = resolve));
  if (settling.failure) throw settling.failure.error;
  await remember.flush();
  await outputs?.flush();
  // Every record of a replayed file is now delivered, unchanged or in the new lines appended to
  // it: the lines it had at the start can go (other processes' appends are kept).
  if (replaying && readToEnd && !fatal && consumed && bytesRead.value === source.size) {
    await removeHead(options.deadLetter, source.size, consumed.digest()).catch((error: SyncError) => (fatal ??= error));
  }
  if (!deps.state) await state?.close();

  Object.assign(summary, {
    batches: engine?.stats.batches ?? 0,
    requests: delivery?.executor.stats.requests ?? 0,
    retries: delivery?.executor.stats.retries ?? 0,
    rateLimited: delivery?.executor.stats.rateLimited ?? 0,
    deadLettered: outputs?.deadLettered ?? 0,
    durationMs: Math.round(clock.now() - started),
  });

  if (fatal && summary.total === 0 && fatal instanceof UsageError) return { summary, exitCode: fatal.exitCode, error: fatal };
  if (fatal) return { summary, exitCode: ExitCode.failed, error: fatal };
  if (signal?.aborted) {
    const where = options.file === '-' ? `record ${summary.total} of stdin` : `line ${lineReached} of ${options.file}`;
    const message = `interrupted at ${where}: run the same command again to continue (what the platform accepted is skipped)`;
    return { summary, exitCode: ExitCode.interrupted, error: new InterruptedError(message) };
  }
  if (summary.failed > 0) {
    // The closing line names the same class as the dead letters (the commonest, if they differ).
    const [errorClass, [reason]] = [...failures].sort(([, a], [, b]) => b[1] - a[1])[0]!;
    const they = summary.failed === 1 ? 'it is' : 'they are';
    const message = `${count(summary.failed, 'profile')} could not be delivered (${reason}); ${they} in ${options.deadLetter} for replay`;
    return { summary, exitCode: ExitCode.failed, error: new SyncError(message, errorClass, ExitCode.failed) };
  }
  return { summary, exitCode: summary.invalid + summary.rejected > 0 ? ExitCode.partial : ExitCode.ok };
}

/**
 * A dry run (the only run that goes on without it) whose platform cannot be named: no token for a
 * platform whose state is per account, or no --downstream-url. It compares with no state, so every
 * valid profile shows as changed: said, so that this is not read as "the state remembers nothing".
 */
function unnamedState(target: Target, dir: string, logger: Logger): void {
  const missing = target.destination.needs.credential && !target.credential ? 'SYNC_DOWNSTREAM_TOKEN' : '--downstream-url';
  const whose = missing === 'SYNC_DOWNSTREAM_TOKEN' ? `the ${target.destination.title} account` : 'the platform';
  logger.warn({ stage: 'run', state: dir }, `${missing} is not set: ${whose} whose state ${dir} remembers is unknown, so this dry run compares with no state (every valid profile shows as changed)`);
}

/** The state on disk, saying which one and how much it holds: a mistyped directory must not silently resend everything. */
async function openState(opening: Promise<LmdbStateStore | undefined>, dir: string, platform: string, logger: Logger): Promise<StateStore | undefined> {
  const store = await opening;
  if (!store) logger.info({ stage: 'run', state: dir, platform, remembered: 0 }, `no state in ${dir} yet: every valid profile would be sent`);
  else if (store.created) logger.warn({ stage: 'run', state: dir, platform, remembered: 0 }, `new state created in ${dir}: nothing remembered for ${platform} yet, so every valid profile is sent`);
  // A state that knows other platforms only (another account, a rotated token): as loud as a new one.
  else if (store.count() === 0) logger.warn({ stage: 'run', state: dir, platform, remembered: 0 }, `state ${dir}: nothing remembered for ${platform} (a platform, account or token new to it, or all forgotten), so every valid profile counts as changed`);
  else logger.info({ stage: 'run', state: dir, platform, remembered: store.count() }, `state ${dir}: ${count(store.count(), 'profile')} remembered for ${platform}`);
  return store;
}

/**
 * Accepted profiles on their way to the state: gathered for one event-loop turn (a batch's answer
 * settles all its profiles in one turn) and committed as one transaction.
 */
class AcceptedQueue {
  private batch: Accepted[] = [];
  /** Commits settled so far: counted before their profiles are released (see `unchangedText`). */
  changes = 0;
  private readonly commits = new Set<Promise<void>>();

  constructor(
    private readonly state: StateStore | undefined,
    private readonly onError: (error: unknown) => void,
    private readonly onConflicts: (emails: string[]) => void,
    /** Runs once per commit with its profiles, once the state holds them (at once, without a state). */
    private readonly onCommitted: (committed: readonly Accepted[]) => void,
  ) {}

  add(accepted: Accepted): void {
    if (!this.state) return this.onCommitted([accepted]);
    if (this.batch.length === 0) setImmediate(() => this.commit());
    this.batch.push(accepted);
  }

  /**
   * A promise while more than one commit is outstanding (the state is behind the platform), else
   * undefined: the engine forms no batch meanwhile, so a kill sends again at most the batches in flight.
   */
  behind(): Promise<void> | undefined {
    return this.commits.size + (this.batch.length > 0 ? 1 : 0) > 1 ? this.flush() : undefined;
  }

  async flush(): Promise<void> {
    this.commit();
    while (this.commits.size > 0) await Promise.all(this.commits);
  }

  private commit(): void {
    if (!this.state || this.batch.length === 0) return;
    const batch = this.batch;
    this.batch = [];
    // Released after a failed commit too: the run is stopping, and nothing was remembered.
    const commit = this.state
      .recordAccepted(batch)
      .then(({ conflicts }) => {
        if (conflicts.length > 0) this.onConflicts(conflicts);
      })
      .catch(this.onError)
      .finally(() => {
        this.changes += 1;
        this.onCommitted(batch);
      });
    this.commits.add(commit);
    void commit.finally(() => this.commits.delete(commit));
  }
}

/** Counts what is read (progress) and, for a replay, hashes it (see `removeHead`). */
async function* countBytes(input: AsyncIterable<Buffer | string>, counter: { value: number }, hash?: StreamDigest): AsyncGenerator<Buffer | string> {
  for await (const chunk of input) {
    counter.value += chunk.length;
    hash?.update(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    yield chunk;
  }
}

/** Returns a promise only when the stream asks us to wait (no await per line otherwise). */
function writeText(stream: Writable | undefined, line: string): Promise<void> | undefined {
  if (!stream || stream.write(`${line}\n`)) return undefined;
  return new Promise<void>((resolve) => stream.once('drain', () => resolve()));
}

