import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Log, WebhookRequest } from '../core/ports';
import { receiveWebhook, type WebhookDependencies } from '../core/receive-webhook';
import { maxWebhookBodyBytes } from '../providers';

const ROUTE = /^\/webhooks\/([a-z]+)\/([A-Za-z0-9_-]+)\/?$/;

export interface WebhookServer {
  url: string;
  close(): Promise<void>;
}

/**
 * The local twin of API Gateway + the webhook function: `POST /webhooks/{provider}/{sourceId}`, plus
 * `GET /health` with whatever `health()` reports.
 */
export async function startWebhookServer(options: {
  host: string;
  port: number;
  deps: WebhookDependencies;
  log: Log;
  health?: () => unknown;
}): Promise<WebhookServer> {
  const server: Server = createServer(async (req, res) => {
    const send = (
      status: number,
      body: string,
      contentType = 'application/json',
      headers: Record<string, string> = {},
    ) => {
      res.writeHead(status, { 'content-type': contentType, ...headers });
      res.end(body);
    };
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (req.method === 'GET' && url.pathname === '/health') {
        send(200, JSON.stringify({ status: 'ok', ...(options.health?.() as object) }));
        return;
      }
      const route = ROUTE.exec(url.pathname);
      if (!route) return send(404, JSON.stringify({ message: 'not found' }));
      if (req.method !== 'POST' && req.method !== 'GET')
        return send(405, JSON.stringify({ message: 'method not allowed' }));
      const limit = maxWebhookBodyBytes(route[1] ?? '');
      const read = await readBody(req, limit);
      if (read.kind === 'too-large') {
        // The webhook function answers the same above the limit; API Gateway above its quota.
        options.log.warn('webhook refused: body too large', {
          provider: route[1],
          sourceId: route[2],
          limit,
        });
        const message = JSON.stringify({ message: 'webhook body too large', limitBytes: limit });
        if (read.complete) return send(413, message);
        return refuseStillArriving(req, res, message);
      }
      const body = read.text;
      const request: WebhookRequest = {
        method: req.method,
        query: Object.fromEntries(url.searchParams),
        headers: Object.fromEntries(
          Object.entries(req.headers).map(([name, value]) => [
            name.toLowerCase(),
            Array.isArray(value) ? value.join(', ') : value,
          ]),
        ),
        body,
      };
      const response = await receiveWebhook(route[1] ?? '', route[2] ?? '', request, options.deps);
      send(response.status, response.body, response.contentType ?? 'text/plain', response.headers);
    } catch (error) {
      options.log.error('webhook server error', { error: String(error) });
      if (!res.headersSent) send(500, JSON.stringify({ message: 'internal error' }));
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}

/**
 * API Gateway's payload quota (HTTP API, 10 MB): the deployed stack never sees a larger body; it
 * answers 413 itself. Up to it, an oversized body is read and dropped, so its connection stays usable.
 */
export const API_GATEWAY_PAYLOAD_BYTES = 10 * 1024 * 1024;

/** How long a body beyond API Gateway's quota is still read (and dropped) after its 413 went out. */
const LINGER_MS = 2_000;

type BodyRead = { kind: 'body'; text: string } | { kind: 'too-large'; complete: boolean };

/**
 * The body as text, or `too-large` once it exceeds `limit` bytes. The rest of an oversized body is read
 * and dropped up to API Gateway's quota (`complete`), so the 413 reaches a client that is still sending
 * and the connection can be used again. Destroying the request instead resets the connection, and the
 * client sees the reset, not the 413.
 */
function readBody(req: IncomingMessage, limit: number): Promise<BodyRead> {
  // Events, not `for await`: leaving such a loop early destroys the request, and with it the socket.
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = (outcome: () => void) => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
      outcome();
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > API_GATEWAY_PAYLOAD_BYTES) {
        req.pause();
        settle(() => resolve({ kind: 'too-large', complete: false }));
      } else if (size <= limit) {
        chunks.push(chunk);
      }
    };
    const onEnd = () =>
      settle(() =>
        resolve(
          size > limit
            ? { kind: 'too-large', complete: true }
            : { kind: 'body', text: Buffer.concat(chunks).toString('utf8') },
        ),
      );
    const onError = (error: Error) => settle(() => reject(error));
    const onClose = () => settle(() => reject(new Error('the request was closed before its body ended')));
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onError);
    req.once('close', onClose);
  });
}

/**
 * A 413 for a body beyond API Gateway's quota, still arriving: the answer goes out at once, whole, and
 * the connection is closed only once the client has finished sending or after LINGER_MS, reading and
 * dropping what comes meanwhile. Closing a socket with unread data makes the kernel send a reset, which
 * can destroy the answer before the client reads it.
 */
function refuseStillArriving(req: IncomingMessage, res: ServerResponse, body: string): void {
  res.writeHead(413, {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(body)),
    connection: 'close',
  });
  res.write(body);
  const finish = () => {
    clearTimeout(timer);
    if (!res.writableEnded) res.end();
  };
  const timer = setTimeout(finish, LINGER_MS);
  req.once('end', finish);
  req.once('close', finish);
  req.resume();
}
