// A Node HTTP client in a thread of its own, posting a large body the way a caller using
// `agent: false` does (so with `Connection: close`). It must run beside the server, not on its
// event loop: in one thread the client reads the answer before the server's next turn closes
// the socket, and the lost answers of a real caller never show.
import http from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';

/** @typedef {{ url: string, size: number, chunked: boolean, tries: number, headers?: Record<string, string> }} Job */
/** @typedef {{ status?: number, body?: string, error?: string }} Outcome */

/** @param {string} url @param {Buffer} body @param {boolean} chunked @param {Record<string, string>} extra @returns {Promise<Outcome>} */
function post(url, body, chunked, extra) {
  return new Promise((resolve) => {
    const headers = { 'content-type': 'application/json', ...extra, ...(chunked ? {} : { 'content-length': body.length }) };
    const req = http.request(url, { method: 'POST', agent: false, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode, body: text }));
      res.on('error', (error) => resolve({ status: res.statusCode, error: error.code ?? error.message }));
    });
    req.on('error', (error) => resolve({ error: error.code ?? error.message }));
    if (!chunked) return void req.end(body);
    for (let offset = 0; offset < body.length; offset += 64 * 1024) req.write(body.subarray(offset, offset + 64 * 1024));
    req.end();
  });
}

/** @type {Job} */
const job = workerData;
const body = Buffer.alloc(job.size, 0x20);
/** @type {Outcome[]} */
const outcomes = [];
for (let i = 0; i < job.tries; i++) outcomes.push(await post(job.url, body, job.chunked, job.headers ?? {}));
parentPort?.postMessage(outcomes);
