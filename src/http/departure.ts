import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';

type RequestFn = (options: http.RequestOptions, callback?: (res: http.IncomingMessage) => void) => http.ClientRequest;

export interface DepartureOptions {
  /** Hold the request's bytes until this instant (epoch ms, Date.now's clock). */
  notBefore?: number;
  /** Called once, the moment the request is written to a connected socket. */
  onDeparture: () => void;
}

/**
 * An axios `transport` (node:http / node:https, as axios uses with `maxRedirects: 0`) that controls
 * and reports the moment a request leaves. The platform counts arrivals, and between a rate grant
 * and the wire lie the batch's serialization, the HTTP client's own steps, a busy event loop, a
 * TCP handshake. So the request is prepared early and its socket corked: the bytes go out when the
 * timer for `notBefore` fires (a socket write, not a chain of promises), and that instant, or the
 * end of the handshake if it is later, is reported as the departure the rate window follows.
 */
export function departureTransport({ notBefore = 0, onDeparture }: DepartureOptions): { request: RequestFn } {
  return {
    request(options, callback) {
      // Looked up at call time (not destructured) so that nock's interception still applies in tests.
      const transport = options.protocol === 'https:' ? https : http;
      const req = transport.request(options, callback);
      let departed = false;
      const depart = (): void => {
        if (departed) return;
        departed = true;
        onDeparture();
      };
      // Emitted just before the request flushes its buffered headers and body to the socket.
      req.once('socket', (socket: Socket) => {
        let held = false;
        const holdMs = notBefore - Date.now();
        if (holdMs > 0) {
          held = true;
          socket.cork();
          const timer = setTimeout(() => {
            held = false;
            socket.uncork();
            if (!socket.connecting) depart();
          }, holdMs);
          req.once('close', () => clearTimeout(timer));
        }
        if (socket.connecting) {
          socket.once('encrypted' in socket ? 'secureConnect' : 'connect', () => {
            if (!held) depart();
          });
        } else if (!held) depart();
      });
      return req;
    },
  };
}
