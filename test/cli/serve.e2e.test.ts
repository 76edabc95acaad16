import { describe, expect, it, onTestFinished } from 'vitest';
import { createDownstreamMock } from '../../src/mock/downstream-server.js';
import { runCli, startServer } from '../helpers/cli.js';
import { serveMock } from '../helpers/mocks.js';
import { exchange } from '../helpers/raw-http.js';

/** The platform `sync mock downstream` serves, in the test's process: only `serve` needs a process of its own here. */
const downstream = (latencyMs = 0) => serveMock(createDownstreamMock({ latencyMs, random: Math.random }), onTestFinished);

describe('sync serve against sync mock downstream (spawned)', () => {
  it('answers concurrent callers with their own outcomes, within the platform limit, and exits 0 on SIGTERM', async () => {
    const platform = await downstream(20);
    const serve = await startServer(['serve', '--port', '0', '--batch-size', '100'], { SYNC_DOWNSTREAM_URL: platform.url });
    try {
      const emails = Array.from({ length: 300 }, (_, i) => (i % 50 === 7 ? `p${i}@suppressed.example` : `p${i}@example.com`));
      const answers = await Promise.all(
        emails.map(async (email) => {
          const res = await fetch(`${serve.url}/profiles`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, firstName: 'P', lastName: 'Q' }) });
          return { email, status: res.status, body: (await res.json()) as { status: string; email?: string } };
        }),
      );
      for (const answer of answers) {
        if (answer.email.endsWith('@suppressed.example')) expect(answer).toMatchObject({ status: 422, body: { status: 'rejected' } });
        else expect(answer).toMatchObject({ status: 200, body: { status: 'forwarded', email: answer.email } });
      }
      const stats = (await (await fetch(`${platform.url}/stats`)).json()) as { accepted: number; rateLimited: number; maxRequestsPerSecond: number };
      expect(stats).toMatchObject({ accepted: 294, rateLimited: 0 });
      expect(stats.maxRequestsPerSecond).toBeLessThanOrEqual(5);
      expect((await fetch(`${serve.url}/healthz`)).status).toBe(200);
    } finally {
      const stopped = await serve.stop();
      expect(stopped.code).toBe(0);
      expect(stopped.stdout).toMatch(/^listening http:\/\/127\.0\.0\.1:\d+\n/);
    }
  });

  it('413 reaches a client still sending a body over 1 MiB: the server reads on before closing', async () => {
    const platform = await downstream();
    const running = await startServer(['serve', '--port', '0'], { SYNC_DOWNSTREAM_URL: platform.url });
    try {
      const size = 4 * 1024 * 1024;
      const body = Buffer.alloc(size, 0x20);
      // Before the fix, most of these ended in EPIPE/ECONNRESET with nothing received.
      // Keep-alive, and `Connection: close` (which Node's server used to destroy as soon as the 413 was written).
      for (const connection of ['', 'connection: close\r\n']) {
        for (const announce of [`content-length: ${size}`, 'transfer-encoding: chunked']) {
          for (let attempt = 0; attempt < 5; attempt++) {
            const payload = announce.startsWith('transfer') ? Buffer.concat([Buffer.from(`${size.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')]) : body;
            const head = `POST /profiles HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n${connection}${announce}\r\n\r\n`;
            const result = await exchange(running.url, head, payload, /\r\n\r\n[^]*\}\]\}/);
            expect(result.received, `${connection}${announce}, attempt ${attempt}: ${result.error ?? 'no error'}`).toMatch(/^HTTP\/1\.1 413 /);
            expect(result.received).toContain('body larger than 1048576 bytes');
          }
        }
      }
      expect((await fetch(`${running.url}/healthz`)).status).toBe(200);
    } finally {
      await running.stop();
    }
  });

  it('exits 2 with one line when its port is taken', async () => {
    const first = await downstream();
    const port = new URL(first.url).port;
    const result = await runCli(['serve', '--port', port, '--downstream-url', first.url]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(new RegExp(`cannot listen on 127.0.0.1:${port}: the port is already in use`));
  });

  it('refuses to start without a downstream URL (exit 2)', async () => {
    const result = await runCli(['serve', '--port', '0']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--downstream-url/);
  });
});
