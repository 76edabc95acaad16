// The minimal serve `sync serve` is measured against (issue 19): what a careful user would write
// instead. node:http, JSON.parse, a zod 4 schema of the profile shape, an in-memory queue flushed as
// one batch per rate slot to the same downstream (docs/wire-format.md: POST {url}/profiles/batch),
// each caller answered with its own profile's result. No retries, no breaker, no idempotency store,
// no state, no metrics beyond a count of answers (GET /stats, for the bench).
// Usage: node bench/baselines/minimal-serve.js --downstream-url URL [--port 0] [--rate 5] [--batch-size 2000]
// Prints `listening http://HOST:PORT` once ready, like `sync serve`.
import { randomBytes } from 'node:crypto';
import { Agent, createServer, request } from 'node:http';
import { parseArgs } from 'node:util';
import { z } from 'zod';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    'downstream-url': { type: 'string' },
    rate: { type: 'string', default: '5' },
    'batch-size': { type: 'string', default: '2000' },
  },
});
const downstream = `${values['downstream-url']}/profiles/batch`;
const rate = Number(values.rate);
const batchSize = Number(values['batch-size']);
// Departures (a body handed to the socket) are spaced so that no `rate + 1` of them fall within
// 1000 ms + this margin: the margin absorbs the jitter between leaving here and being counted by the
// platform, whose event loop is as busy as ours under wrk (50 ms was not enough: one 429 per run).
const MARGIN_MS = 100;
const MAX_QUEUED = 100_000;
const MAX_BODY = 1024 * 1024;
const agent = new Agent({ keepAlive: true });

const name = z.string().trim().min(1).max(200);
const Profile = z.strictObject({
  email: z.email().max(254),
  firstName: name,
  lastName: name,
  metadata: z.record(z.string(), z.unknown()).optional(),
});

/** @type {{profile: object, email: string, res: import('node:http').ServerResponse}[]} */
let queue = [];
/** @type {number[]} */
const departures = [];
let timer;
const answered = {};

function send(res, status, body, headers = {}) {
  answered[status] = (answered[status] ?? 0) + 1;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** Milliseconds until a departure keeps at most `rate` within any 1000 ms + margin. */
function waitForSlot(now) {
  if (departures.length < rate) return 0;
  return Math.max(0, departures[departures.length - rate] + 1000 + MARGIN_MS - now);
}

function schedule() {
  if (timer !== undefined || queue.length === 0) return;
  timer = setTimeout(flush, waitForSlot(performance.now()));
}

async function flush() {
  timer = undefined;
  const now = performance.now();
  if (waitForSlot(now) > 0) return schedule();
  // One email at most once per batch (the wire format): a repeat waits for the next batch.
  const batch = [];
  const later = [];
  const emails = new Set();
  for (const item of queue) {
    if (batch.length < batchSize && !emails.has(item.email)) {
      emails.add(item.email);
      batch.push(item);
    } else later.push(item);
  }
  queue = later;

  const batchId = `b-${randomBytes(10).toString('hex')}`;
  const body = JSON.stringify({ batchId, profiles: batch.map((item) => item.profile) });
  try {
    const reply = post(body, batchId);
    schedule();
    const { status, answer } = await reply;
    if (status !== 200 || answer.results?.length !== batch.length) throw new Error(`downstream answered ${status}`);
    batch.forEach((item, i) => {
      const result = answer.results[i];
      if (result.status === 'accepted') send(item.res, 200, { status: 'forwarded', email: item.email, batchId });
      else send(item.res, 422, { status: 'rejected', error: result.error });
    });
  } catch (error) {
    for (const item of batch) send(item.res, 503, { status: 'failed', error: { class: 'server', message: error.message } }, { 'retry-after': '1' });
  }
}

/** POSTs one batch; its departure is recorded once the body is handed to the socket. */
function post(body, batchId) {
  return new Promise((resolve, reject) => {
    const req = request(downstream, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'idempotency-key': batchId } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode, answer: JSON.parse(text) });
        } catch (error) {
          reject(error);
        }
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
    departures.push(performance.now());
    if (departures.length > rate) departures.shift();
  });
}

function accept(text, res) {
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    return send(res, 400, { status: 'invalid', errors: [{ path: '', message: 'malformed JSON' }] });
  }
  const parsed = Profile.safeParse(json);
  if (!parsed.success) return send(res, 400, { status: 'invalid', errors: parsed.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message })) });
  if (queue.length >= MAX_QUEUED) return send(res, 503, { status: 'failed', error: { class: 'server', message: 'queue full' } }, { 'retry-after': '1' });
  const email = parsed.data.email.toLowerCase();
  queue.push({ email, res, profile: { ...parsed.data, email, metadata: parsed.data.metadata ?? {} } });
  schedule();
}

const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/stats') return send(res, 200, { answered });
  if (req.method !== 'POST' || req.url !== '/profiles') return send(res, 404, { error: 'not found' });
  let text = '';
  req.setEncoding('utf8');
  req.on('data', (chunk) => {
    text += chunk;
    if (text.length > MAX_BODY) {
      send(res, 413, { error: 'body too large' }, { connection: 'close' });
      req.destroy();
    }
  });
  req.on('end', () => !res.headersSent && accept(text, res));
});

server.listen(Number(values.port), '127.0.0.1', () => console.log(`listening http://127.0.0.1:${server.address().port}`));
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
