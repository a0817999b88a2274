/**
 * `npm run console`: a small web page on the loopback interface that asks the catalogue the same
 * questions as `npm run find` (parsed by `parseFindFilters`, answered by `findQuery` through a backend),
 * plays each hit and holds or releases it. Plain `node:http`, no framework.
 *
 * Any web page open in the operator's browser can send requests to 127.0.0.1, so:
 * - only loopback addresses are bound (a public interface is refused before anything listens);
 * - the `Host` header must name the bound address and port, which defeats DNS rebinding (a hostile
 *   name that resolves to 127.0.0.1 still sends its own name);
 * - every API and media request carries a random per-run token (in a header, or for the media element,
 *   which cannot send headers, in the query), compared in constant time; changes are POSTs with a JSON
 *   body and, where the browser sends one, an `Origin` equal to the console's own;
 * - no CORS headers are ever sent, and the page runs under a Content-Security-Policy that allows its
 *   own script and style only.
 * https://developer.mozilla.org/en-US/docs/Web/Security/Attacks/DNS_rebinding
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { FilterError, type FindFilters, type FindRow, parseFindFilters } from '../core/catalogue-query';
import type { ProviderName } from '../core/recording';

/** The addresses the console may listen on: IPv4 and IPv6 loopback, nothing else. */
export const LOOPBACK_HOSTS = ['127.0.0.1', '::1'] as const;

export function isLoopbackHost(host: string): boolean {
  return (LOOPBACK_HOSTS as readonly string[]).includes(host);
}

/** One hit as the page shows it: the catalogue row, a way to play it, and whether it is held. */
export interface ConsoleHit extends FindRow {
  /** A URL the media element can load (the console's own `/media?key=…`, or a presigned GET); null: nothing to play. */
  play: string | null;
  /** True when a legal hold is on; null when the backend cannot say. */
  held: boolean | null;
}

/** A file the console may serve, already resolved inside the archive. */
export interface MediaFile {
  path: string;
  size: number;
  contentType: string;
}

export interface ConsoleHoldOutcome {
  objectKey: string;
  held: boolean;
  /** What the hold core did: held, already-held, released, not-held. */
  outcome: string;
  /** Which protection applies (S3 Object Lock legal hold, or callvault's own hold record), in words. */
  protection: string;
}

/** Holds or releases one recording the console has shown; `query` is the question that showed it. */
export type ConsoleHold = (
  row: FindRow,
  options: { release: boolean; query: Record<string, unknown> },
) => Promise<ConsoleHoldOutcome>;

/** Where the console's answers come from: the local archive, or the deployed stack. */
export interface ConsoleBackend {
  readonly mode: 'local' | 'aws';
  /** One line for the page's header: which archive or stack it reads. */
  readonly where: string;
  readonly sources: readonly { id: string; provider: ProviderName }[];
  /** Origins the media element loads from besides the console itself (presigned URLs' S3 endpoint). */
  readonly mediaOrigins: readonly string[];
  find(filters: FindFilters, limit: number): Promise<ConsoleHit[]>;
  /** The sidecar at a key under `recordings/`; undefined when there is none. */
  sidecar(key: string): Promise<unknown>;
  /** A local copy to stream (local mode only); undefined when the key names no file in the archive. */
  mediaFile?(key: string): Promise<MediaFile | undefined>;
  /** Sets or releases the legal hold on one recording; absent where the backend cannot hold. */
  readonly hold?: ConsoleHold;
}

/** A refusal the page may show as it is (bad input, nothing there); other errors are logged, not shown. */
export class ConsoleRequestError extends Error {
  override name = 'ConsoleRequestError';
  constructor(
    readonly status: number,
    message: string,
    readonly flag?: string,
  ) {
    super(message);
  }
}

export const TOKEN_HEADER = 'x-callvault-token';
const ASSETS_DIR = join(import.meta.dirname, 'console-assets');
const ASSETS: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/console.js': { file: 'console.js', type: 'text/javascript; charset=utf-8' },
  '/console.css': { file: 'console.css', type: 'text/css; charset=utf-8' },
};
const DEFAULT_LIMIT = 200;
const MAX_LIMIT = 5000;
const MAX_BODY_BYTES = 16 * 1024;

export function newConsoleToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Constant-time comparison of a presented token with the run's (hashing first evens out the lengths). */
export function tokensEqual(presented: string | undefined, expected: string): boolean {
  if (presented === undefined) return false;
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(presented), digest(expected)) && presented.length === expected.length;
}

/** `host:port` as a browser sends it in `Host` (IPv6 in brackets). */
export function hostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** True when the `Host` header names exactly the address and port the console is bound to. */
export function hostHeaderAllowed(header: string | undefined, host: string, port: number): boolean {
  return header !== undefined && header.toLowerCase() === hostPort(host, port);
}

/**
 * One `Range: bytes=…` header against a file of `size` bytes: the inclusive byte span, `undefined` for
 * no (or an ignorable multi-part) range, or `'unsatisfiable'` (answered 416).
 * https://www.rfc-editor.org/rfc/rfc9110#name-range-requests
 */
export function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | undefined | 'unsatisfiable' {
  if (!header) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  // Several ranges, or another unit: answering the whole file is allowed.
  if (!match) return undefined;
  const [, first, last] = match;
  if (first === '' && last === '') return 'unsatisfiable';
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}

/** The page's policy: its own script, style and API only; media from itself and the backend's origins. */
export function contentSecurityPolicy(mediaOrigins: readonly string[]): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    `media-src ${["'self'", ...mediaOrigins].join(' ')}`,
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

export interface ConsoleServerOptions {
  backend: ConsoleBackend;
  /** 127.0.0.1 (default) or ::1; anything else is refused. */
  host?: string;
  /** 0 (default): any free port. */
  port?: number;
  /** The run's token; a fresh random one by default. */
  token?: string;
  /** Where the console reports holds and failures (one line each). */
  log?: (line: string) => void;
}

export interface ConsoleServer {
  /** `http://127.0.0.1:port` */
  origin: string;
  /** The address to open: the page, with the token in the fragment (never sent to a server). */
  url: string;
  token: string;
  close(): Promise<void>;
}

export class ConsoleBindError extends Error {
  override name = 'ConsoleBindError';
}

export async function startConsoleServer(options: ConsoleServerOptions): Promise<ConsoleServer> {
  const host = options.host ?? '127.0.0.1';
  if (!isLoopbackHost(host))
    throw new ConsoleBindError(
      `--host ${host}: the console listens on loopback only (${LOOPBACK_HOSTS.join(' or ')}); it holds recordings and a token, and is never served on a public interface`,
    );
  const token = options.token ?? newConsoleToken();
  const log = options.log ?? (() => {});
  let port = 0;
  // Holds act on recordings the console has shown, by their catalogue row and the question that found
  // them (for the audit), never on whatever key a request names.
  const shown = new Map<string, { row: FindRow; query: Record<string, unknown> }>();
  const server: Server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      log(`console: ${request.method} ${request.url?.split('?')[0]}: ${(error as Error).message}`);
      if (!response.headersSent) sendJson(response, 500, { error: 'internal error; see the console log' });
      else response.destroy();
    });
  });

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    setCommonHeaders(response);
    if (!hostHeaderAllowed(request.headers.host, host, port)) {
      // 421: this server does not answer for that name (a rebinding page, or a proxy's Host).
      sendJson(response, 421, { error: `this console answers for ${hostPort(host, port)} only` });
      return;
    }
    const url = new URL(request.url ?? '/', `http://${hostPort(host, port)}`);
    const asset = ASSETS[url.pathname];
    if (asset) {
      if (request.method !== 'GET' && request.method !== 'HEAD') return methodNotAllowed(response, 'GET');
      const body = await readFile(join(ASSETS_DIR, asset.file));
      response.setHeader('Content-Security-Policy', contentSecurityPolicy(options.backend.mediaOrigins));
      response.writeHead(200, { 'Content-Type': asset.type, 'Content-Length': body.length });
      response.end(request.method === 'HEAD' ? undefined : body);
      return;
    }
    const isMedia = url.pathname === '/media';
    const presented = isMedia
      ? (url.searchParams.get('token') ?? undefined)
      : headerValue(request.headers[TOKEN_HEADER]);
    if (!url.pathname.startsWith('/api/') && !isMedia) {
      sendJson(response, 404, { error: 'not found' });
      return;
    }
    if (!tokensEqual(presented, token)) {
      sendJson(response, 403, { error: 'missing or wrong console token: open the URL the command printed' });
      return;
    }
    try {
      if (isMedia) return await serveMedia(request, response, url);
      if (url.pathname === '/api/session') {
        if (request.method !== 'GET') return methodNotAllowed(response, 'GET');
        return sendJson(response, 200, {
          mode: options.backend.mode,
          where: options.backend.where,
          sources: options.backend.sources,
          canHold: options.backend.hold !== undefined,
        });
      }
      if (url.pathname === '/api/find') {
        if (request.method !== 'GET') return methodNotAllowed(response, 'GET');
        return await find(response, url);
      }
      if (url.pathname === '/api/sidecar') {
        if (request.method !== 'GET') return methodNotAllowed(response, 'GET');
        const key = recordingsKey(url.searchParams.get('key'));
        const sidecar = await options.backend.sidecar(key);
        if (sidecar === undefined) throw new ConsoleRequestError(404, `no sidecar at ${key}`);
        return sendJson(response, 200, sidecar);
      }
      if (url.pathname === '/api/hold') {
        if (request.method !== 'POST') return methodNotAllowed(response, 'POST');
        return await hold(request, response);
      }
      sendJson(response, 404, { error: 'not found' });
    } catch (error) {
      if (error instanceof ConsoleRequestError)
        return sendJson(response, error.status, {
          error: error.message,
          ...(error.flag ? { flag: error.flag } : {}),
        });
      if (
        error instanceof Error &&
        (error.name === 'CatalogueMissingError' || error.name === 'AthenaQueryError')
      )
        return sendJson(response, 409, { error: error.message });
      throw error;
    }
  };

  const find = async (response: ServerResponse, url: URL): Promise<void> => {
    const text = (name: string) => {
      const value = url.searchParams.get(name)?.trim();
      return value ? value : undefined;
    };
    let filters: FindFilters;
    try {
      filters = parseFindFilters(
        {
          number: text('number'),
          person: text('person'),
          source: text('source'),
          provider: text('provider'),
          status: text('status'),
          from: text('from'),
          to: text('to'),
        },
        options.backend.sources,
      );
    } catch (error) {
      if (error instanceof FilterError) throw new ConsoleRequestError(400, error.message, error.flag);
      throw error;
    }
    const limitText = text('limit') ?? String(DEFAULT_LIMIT);
    if (!/^\d+$/.test(limitText) || Number(limitText) < 1 || Number(limitText) > MAX_LIMIT)
      throw new ConsoleRequestError(400, `--limit ${limitText} must be 1 to ${MAX_LIMIT}`, '--limit');
    const started = Date.now();
    const hits = await options.backend.find(filters, Number(limitText));
    if (shown.size > 100_000) shown.clear();
    const query = { ...filters, limit: Number(limitText), via: 'console' };
    for (const hit of hits) {
      const { play: _play, held: _held, ...row } = hit;
      if (hit.object_key && (hit.status === 'archived' || !shown.has(hit.object_key)))
        shown.set(hit.object_key, { row, query });
    }
    sendJson(response, 200, { hits, limit: Number(limitText), elapsedMs: Date.now() - started });
  };

  const hold = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const origin = headerValue(request.headers.origin);
    if (origin !== undefined && origin !== `http://${hostPort(host, port)}`)
      throw new ConsoleRequestError(403, `requests from ${origin} may not change anything here`);
    if (!/^application\/json\b/i.test(headerValue(request.headers['content-type']) ?? ''))
      throw new ConsoleRequestError(415, 'send the request as application/json');
    if (!options.backend.hold)
      throw new ConsoleRequestError(501, 'this console cannot set legal holds on this archive');
    const body = await readJsonBody(request);
    const objectKey = recordingsKey(typeof body.objectKey === 'string' ? body.objectKey : null);
    const release = body.release === true;
    const found = shown.get(objectKey);
    if (!found)
      throw new ConsoleRequestError(404, `${objectKey} is not among the hits shown; search for it first`);
    const outcome = await options.backend.hold(found.row, { release, query: found.query });
    log(`console: ${outcome.outcome} ${objectKey} (${outcome.protection})`);
    sendJson(response, 200, outcome);
  };

  const serveMedia = async (request: IncomingMessage, response: ServerResponse, url: URL): Promise<void> => {
    if (request.method !== 'GET' && request.method !== 'HEAD') return methodNotAllowed(response, 'GET');
    if (!options.backend.mediaFile)
      throw new ConsoleRequestError(404, 'this backend plays recordings from presigned URLs');
    const key = recordingsKey(url.searchParams.get('key'));
    const file = await options.backend.mediaFile(key);
    if (!file) throw new ConsoleRequestError(404, `no recording at ${key}`);
    const range = parseRange(headerValue(request.headers.range), file.size);
    response.setHeader('Accept-Ranges', 'bytes');
    response.setHeader('Content-Type', file.contentType);
    if (range === 'unsatisfiable') {
      response.writeHead(416, { 'Content-Range': `bytes */${file.size}` });
      response.end();
      return;
    }
    const span = range ?? { start: 0, end: file.size - 1 };
    const length = file.size === 0 ? 0 : span.end - span.start + 1;
    response.writeHead(range ? 206 : 200, {
      'Content-Length': length,
      ...(range ? { 'Content-Range': `bytes ${span.start}-${span.end}/${file.size}` } : {}),
    });
    if (request.method === 'HEAD' || length === 0) {
      response.end();
      return;
    }
    const stream = createReadStream(file.path, { start: span.start, end: span.end });
    stream.on('error', () => response.destroy());
    response.on('close', () => stream.destroy());
    stream.pipe(response);
  };

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (!address || typeof address === 'string' || !isLoopbackHost(address.address)) {
    server.close();
    throw new ConsoleBindError(`the console bound ${JSON.stringify(address)}, not a loopback address`);
  }
  port = address.port;
  const origin = `http://${hostPort(host, port)}`;
  return {
    origin,
    url: `${origin}/#token=${token}`,
    token,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A key the console may read: under `recordings/`, no empty, `.` or `..` segment, no backslash or NUL. */
export function recordingsKey(key: string | null): string {
  if (
    !key ||
    key.length > 1024 ||
    !key.startsWith('recordings/') ||
    /[\\\0]/.test(key) ||
    key.split('/').some((segment) => segment === '' || segment === '.' || segment === '..')
  )
    throw new ConsoleRequestError(400, `${JSON.stringify(key)} is not a recording key`);
  return key;
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function setCommonHeaders(response: ServerResponse): void {
  response.setHeader('X-Content-Type-Options', 'nosniff');
  response.setHeader('Referrer-Policy', 'no-referrer');
  response.setHeader('X-Frame-Options', 'DENY');
  response.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
  response.setHeader('Cache-Control', 'no-store');
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
  });
  response.end(text);
}

function methodNotAllowed(response: ServerResponse, allowed: string): void {
  response.setHeader('Allow', allowed);
  sendJson(response, 405, { error: `use ${allowed}` });
}

async function readJsonBody(request: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new ConsoleRequestError(413, 'request body too large');
    chunks.push(chunk);
  }
  try {
    const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed))
      return parsed as Record<string, unknown>;
  } catch {
    // answered below
  }
  throw new ConsoleRequestError(400, 'the body is not a JSON object');
}
