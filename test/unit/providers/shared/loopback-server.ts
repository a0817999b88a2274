/**
 * A real HTTP server on 127.0.0.1 whose answers a test scripts request by request: the shared toolkit is
 * tested over sockets, as the adapters use it, not against a mocked client.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Clock } from '../../../../functions/core/ports';
import { type LogLine, recordingLog } from '../../../support/recording-log';

export interface SeenRequest {
  method: string;
  /** Path and query as sent. */
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface ScriptedAnswer {
  status: number;
  headers?: Record<string, string>;
  body?: string | object;
  /** Held back this long before the answer goes out (a slow endpoint). */
  delayMs?: number;
}

export type Responder = (request: SeenRequest, index: number) => ScriptedAnswer;

export interface LoopbackServer {
  origin: string;
  host: string;
  requests: SeenRequest[];
  /** Answers every following request (the index counts all requests so far). */
  respond(responder: Responder): void;
  close(): Promise<void>;
}

export async function startLoopbackServer(responder: Responder): Promise<LoopbackServer> {
  let current = responder;
  const requests: SeenRequest[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const seen: SeenRequest = {
        method: request.method ?? '',
        url: request.url ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(seen);
      const answer = current(seen, requests.length - 1);
      const body =
        answer.body === undefined
          ? ''
          : typeof answer.body === 'string'
            ? answer.body
            : JSON.stringify(answer.body);
      const send = () => {
        response.writeHead(answer.status, {
          'content-type': typeof answer.body === 'object' ? 'application/json' : 'text/plain',
          'content-length': String(Buffer.byteLength(body)),
          ...answer.headers,
        });
        response.end(body);
      };
      if (answer.delayMs) setTimeout(send, answer.delayMs);
      else send();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    requests,
    respond: (next) => {
      current = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export { type LogLine, recordingLog };

/** A clock tests move by hand; it starts at a fixed instant so no calendar boundary is in play. */
export function manualClock(start = Date.UTC(2026, 2, 10, 12)): Clock & { advance(ms: number): void } {
  let now = start;
  return {
    now: () => new Date(now),
    advance: (ms) => {
      now += ms;
    },
  };
}
