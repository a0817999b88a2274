import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Log, WebhookRequest } from '../core/ports';
import { maxWebhookBodyBytes, receiveWebhook, type WebhookDependencies } from '../core/receive-webhook';

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
      const body = await readBody(req, maxWebhookBodyBytes(route[1] ?? ''));
      if (body === undefined) return send(413, JSON.stringify({ message: 'webhook body too large' }));
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

/** The body as text, or undefined once it exceeds `limit` bytes (the rest is not read). */
async function readBody(req: IncomingMessage, limit: number): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      req.destroy();
      return undefined;
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
