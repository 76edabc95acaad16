import { createServer, type IncomingMessage, type Server } from 'node:http';
import { z } from 'zod';
import { systemClock, type Clock } from '../engine/clock.js';
import type { Random } from '../engine/random.js';
import { RateLimiter } from '../engine/rate-limiter.js';
import type { Logger } from '../logging/logger.js';
import { requestUrl, sendJson } from '../http/server.js';
import { EMAIL_PATTERN } from '../normalize/email.js';
import { count } from '../ui/count.js';

/** Addresses at this domain are on the mock platform's suppression list and are rejected one by one. */
export const SUPPRESSED_DOMAIN = 'suppressed.example';
const MAX_BODY_BYTES = 32 * 1024 * 1024;
const REMEMBERED_KEYS = 100_000;

export interface DownstreamMockOptions {
  /** Requests allowed to arrive in any 1000 ms; the one past it gets 429 + Retry-After. */
  rate?: number;
  maxBatch?: number;
  /** Share of requests that fail: 500 (half of them after processing: the ambiguous case), 502, 503, 504, or a reset. */
  failRate?: number;
  latencyMs?: number;
  random: Random;
  clock?: Clock;
  logger?: Logger;
}

export interface DownstreamMockStats {
  /** Every request that arrived, 429s included. */
  requests: number;
  rateLimited: number;
  failures: number;
  /** Retries answered from the idempotency store instead of being processed again. */
  replayed: number;
  accepted: number;
  rejected: number;
  /** Most requests that arrived within any 1000 ms. */
  maxRequestsPerSecond: number;
  /** Emails accepted more than once (should stay empty when clients use Idempotency-Key). */
  deliveredMoreThanOnce: Record<string, number>;
}

const BatchRequestSchema = z.object({
  batchId: z.string().min(1),
  profiles: z.array(
    z.object({
      email: z.string(),
      firstName: z.string(),
      lastName: z.string(),
      metadata: z.record(z.string(), z.unknown()).optional(),
    }),
  ),
});

const emailSchema = z.email({ pattern: EMAIL_PATTERN });

function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        resolve(undefined);
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/**
 * Imitates the marketing platform of the wire contract: `POST /profiles/batch` with a strict
 * sliding-window rate limit counted on arrival, a max batch size, per-profile results, and
 * Idempotency-Key replay. `GET /stats` tells what it saw, so tests and benchmarks can check
 * "at most R per second" and "each profile exactly once"; `GET /accepted` lists the emails it holds,
 * `GET /profiles?email=…` the profile it holds for one.
 */
export function createDownstreamMock(options: DownstreamMockOptions): Server & { stats: () => DownstreamMockStats } {
  const { rate = 5, maxBatch = 1000, failRate = 0, latencyMs = 0, random, logger } = options;
  const clock = options.clock ?? systemClock;
  const window = new RateLimiter({ limit: rate, windowMs: 1000, clock });
  const arrivals: number[] = [];
  const counters = { requests: 0, rateLimited: 0, failures: 0, replayed: 0, accepted: 0, rejected: 0, maxRequestsPerSecond: 0 };
  const timesDelivered = new Map<string, number>();
  // What the platform holds for each email: the last profile it processed (as JSON text).
  const held = new Map<string, string>();
  // Stored as JSON text: one string per batch instead of a thousand live objects keeps the mock's
  // GC pauses (which would delay how it timestamps arrivals) short.
  const idempotency = new Map<string, string>();

  const remember = (key: string, body: unknown): void => {
    idempotency.set(key, JSON.stringify(body));
    if (idempotency.size > REMEMBERED_KEYS) idempotency.delete(idempotency.keys().next().value!);
  };

  const processBatch = (batch: z.infer<typeof BatchRequestSchema>) => ({
    batchId: batch.batchId,
    results: batch.profiles.map((profile) => {
      const email = profile.email.toLowerCase();
      let error: string | undefined;
      if (!emailSchema.safeParse(email).success) error = 'invalid email address';
      else if (email.endsWith(`@${SUPPRESSED_DOMAIN}`)) error = 'address is on the suppression list';
      else if (!profile.firstName.trim() || !profile.lastName.trim()) error = 'names are required';
      if (error) {
        counters.rejected += 1;
        return { email: profile.email, status: 'rejected' as const, error };
      }
      counters.accepted += 1;
      timesDelivered.set(email, (timesDelivered.get(email) ?? 0) + 1);
      held.set(email, JSON.stringify(profile));
      return { email: profile.email, status: 'accepted' as const };
    }),
  });

  const server = createServer(async (req, res) => {
    const now = clock.now();
    const url = requestUrl(req);
    if (url.pathname === '/stats' && req.method === 'GET') return sendJson(res, 200, stats());
    // Which emails it holds: lets a fault test check "every record delivered or still in the file".
    if (url.pathname === '/accepted' && req.method === 'GET') return sendJson(res, 200, { emails: [...timesDelivered.keys()] });
    if (url.pathname === '/healthz' && req.method === 'GET') return sendJson(res, 200, { status: 'ok' });
    // What it holds for one email: lets a test check which version of a profile the platform kept.
    if (url.pathname === '/profiles' && req.method === 'GET') {
      const profile = held.get((url.searchParams.get('email') ?? '').toLowerCase());
      return profile === undefined ? sendJson(res, 404, { error: 'no such profile' }) : sendJson(res, 200, JSON.parse(profile));
    }
    if (url.pathname !== '/profiles/batch') return sendJson(res, 404, { error: 'not found' });
    if (req.method !== 'POST') return sendJson(res, 405, { error: 'method not allowed' }, { allow: 'POST' });

    counters.requests += 1;
    arrivals.push(now);
    while (arrivals[0]! <= now - 1000) arrivals.shift();
    counters.maxRequestsPerSecond = Math.max(counters.maxRequestsPerSecond, arrivals.length);
    logger?.debug({ stage: 'mock', key: req.headers['idempotency-key'], arrivedAt: now, inWindow: arrivals.length }, 'arrival');

    const respond = (status: number, body: unknown, headers?: Record<string, string>): void => {
      if (latencyMs <= 0) return sendJson(res, status, body, headers);
      setTimeout(() => sendJson(res, status, body, headers), latencyMs);
    };

    const wait = window.tryAcquire(now);
    if (wait > 0) {
      counters.rateLimited += 1;
      logger?.warn({ stage: 'mock', waitMs: wait }, 'rate limit exceeded: 429');
      return respond(429, { error: 'rate limit exceeded' }, { 'retry-after': String(Math.ceil(wait / 1000)) });
    }

    const text = await readBody(req);
    if (text === undefined) return respond(413, { error: 'body too large' });
    const key = req.headers['idempotency-key'];
    if (typeof key !== 'string' || key === '') return respond(400, { error: 'Idempotency-Key header is required' });
    const stored = idempotency.get(key);
    if (stored !== undefined) {
      counters.replayed += 1;
      return respond(200, JSON.parse(stored));
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return respond(400, { error: 'malformed JSON' });
    }
    const batch = BatchRequestSchema.safeParse(json);
    if (!batch.success) return respond(400, { error: `malformed batch: ${batch.error.issues[0]?.message ?? 'invalid'}` });
    if (batch.data.profiles.length > maxBatch) return respond(413, { error: `at most ${count(maxBatch, 'profile')} per batch` });

    if (failRate > 0 && random() < failRate) {
      counters.failures += 1;
      const draw = random();
      if (draw < 0.15) return req.socket.destroy();
      if (draw < 0.55) {
        // The ambiguous 500: half the time the batch was processed before the error.
        if (random() < 0.5) remember(key, processBatch(batch.data));
        return respond(500, { error: 'internal error' });
      }
      return respond(draw < 0.7 ? 502 : draw < 0.85 ? 503 : 504, { error: 'temporarily unavailable' });
    }
    const body = processBatch(batch.data);
    remember(key, body);
    respond(200, body);
  });

  const stats = (): DownstreamMockStats => ({
    ...counters,
    deliveredMoreThanOnce: Object.fromEntries([...timesDelivered].filter(([, times]) => times > 1)),
  });
  return Object.assign(server, { stats });
}
