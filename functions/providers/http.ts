/** Every adapter's HTTP client; no message holds a full URL (`?access_token=` URLs are credentials). */
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import { PassThrough } from 'node:stream';
import {
  type CallvaultError,
  isCallvaultError,
  NotReadyError,
  PermanentError,
  RateLimitedError,
  TransientError,
  UnauthenticatedError,
} from '../core/errors';
import type { DownloadStream } from '../core/ports';
import { hostAllowed, isLoopbackHost } from './host-patterns';
import { jsonObject, tryJson } from './shared/json';

/** Media hosts may answer 406 to an Accept their content does not match (RFC 9110, section 12.5.1). */
export const MEDIA_ACCEPT = '*/*';

/** A URL refused by the allow-list. A subclass so callers can tell it from other permanent failures. */
export class DisallowedUrlError extends PermanentError {
  constructor(
    message: string,
    /** `host[:port]` when parsed; `offAllowList`: only listing the host would make it fetchable. */
    readonly refused: { host?: string; offAllowList?: boolean } = {},
  ) {
    super(message);
  }
}

/** `host:port/path`, no query (it may hold a token), long segments elided (Telphin links are credentials). */
export function describeUrl(url: URL | string): string {
  const parsed = typeof url === 'string' ? URL.parse(url) : url;
  if (!parsed) return '(unparseable URL)';
  const path = parsed.pathname.replace(/[^/]{41,}/g, (segment) => `${segment.slice(0, 4)}…`);
  return `${parsed.host}${path}`;
}

/** The parsed URL or a DisallowedUrlError (permanent: no retry makes a foreign host acceptable). */
export function assertAllowedUrl(url: string, allowedHosts: readonly string[]): URL {
  const parsed = URL.parse(url);
  if (!parsed) throw new DisallowedUrlError('refusing to fetch a malformed URL');
  const { host, protocol } = parsed;
  const where = describeUrl(parsed);
  const refusal =
    parsed.username || parsed.password
      ? `refusing URL with embedded credentials (${host})`
      : protocol !== 'https:' && protocol !== 'http:'
        ? `refusing ${protocol} URL ${where}: only https is allowed`
        : protocol === 'http:' && !isLoopbackHost(parsed.hostname)
          ? `refusing plain http URL ${where}: https is required off loopback`
          : undefined;
  if (refusal) throw new DisallowedUrlError(refusal, { host });
  if (!hostAllowed(parsed, allowedHosts)) {
    throw new DisallowedUrlError(
      `refusing URL ${where}: host ${host} is not in the allowed hosts (${allowedHosts.join(', ') || 'none'})`,
      { host, offAllowList: true },
    );
  }
  return parsed;
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

/** Seconds to wait from `Retry-After` (seconds or HTTP date) or `X-RateLimit-Reset`, if either is usable. */
export function retryAfterSeconds(headers: IncomingHttpHeaders, now: Date = new Date()): number | undefined {
  const retryAfter = headerValue(headers, 'retry-after')?.trim();
  if (retryAfter) {
    if (/^\d+$/.test(retryAfter)) return Number(retryAfter);
    const date = Date.parse(retryAfter);
    if (!Number.isNaN(date)) return Math.max(0, Math.ceil((date - now.getTime()) / 1000));
  }
  const reset = headerValue(headers, 'x-ratelimit-reset')?.trim();
  if (reset && /^\d+(\.\d+)?$/.test(reset)) {
    const value = Number(reset);
    // A few APIs send the reset instant as epoch seconds instead of a countdown.
    if (value > 1_000_000_000) return Math.max(0, Math.ceil(value - now.getTime() / 1000));
    return Math.ceil(value);
  }
  return undefined;
}

/** The typed error for a non-2xx status; `detail` is short, log-safe text, `where` host + path. */
export function errorForStatus(
  status: number,
  headers: IncomingHttpHeaders,
  where: string,
  detail?: string,
): CallvaultError {
  const text = `HTTP ${status} from ${where}${detail ? `: ${detail}` : ''}`;
  let error: CallvaultError;
  if (status === 429) error = new RateLimitedError(text, retryAfterSeconds(headers));
  else if (status >= 500 || status === 408) error = new TransientError(text);
  else if (status === 401 || status === 403) error = new UnauthenticatedError(text);
  else if (status === 404) error = new NotReadyError(text);
  else error = new PermanentError(text);
  httpStatuses.set(error, status);
  return error;
}

const httpStatuses = new WeakMap<object, number>();

/** The HTTP status an error was made from by `errorForStatus`, so callers can re-map e.g. 401 vs 403. */
export function httpStatusOf(error: unknown): number | undefined {
  return typeof error === 'object' && error !== null ? httpStatuses.get(error) : undefined;
}

/** Pulls a short human message out of an error body (`{"message": …}` or the first line of text). */
export function summariseErrorBody(text: string): string | undefined {
  const trimmed = text.trim();
  if (!trimmed) return undefined;
  const record = jsonObject(tryJson(trimmed)) ?? {};
  for (const field of ['message', 'error_description', 'error', 'detail'].map((key) => record[key])) {
    if (typeof field === 'string' && field) return field.slice(0, 200);
  }
  if (/^\s*</.test(trimmed)) return 'an HTML page';
  return trimmed.split('\n')[0]?.slice(0, 200);
}

export interface HttpOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Host patterns the first URL and every redirect must match (see `assertAllowedUrl`). */
  allowedHosts: readonly string[];
  signal?: AbortSignal;
  /** Longest silence before the response (or between body chunks) counts as a stall. Default 60 s. */
  idleTimeoutMs?: number;
  /** Longest wait for the TCP/TLS connection. Default 15 s. */
  connectTimeoutMs?: number;
  /** Redirects followed; every hop is re-checked against `allowedHosts`. Default 3. */
  maxRedirects?: number;
  /** Downloads only: ask for the bytes from this offset on (`Range: bytes={fromByte}-`). */
  fromByte?: number;
  /** Answers read whole only: the largest body kept in memory (default 64 MiB). */
  maxResponseBytes?: number;
}

export interface OpenResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body; errors with a `TransientError` on reset, stall or abort. */
  body: PassThrough;
  url: URL;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

function toTransient(error: unknown, what: string): CallvaultError {
  if (isCallvaultError(error)) return error;
  const code = (error as { code?: string } | undefined)?.code;
  const message = error instanceof Error ? error.message : String(error);
  return new TransientError(`${what} failed: ${code ?? message}`, { cause: error });
}

function abortError(where: string): TransientError {
  return new TransientError(`request to ${where} was aborted`);
}

/** One request, no redirects: resolves once headers arrive, with a guarded body stream. */
function sendOnce(url: URL, options: HttpOptions): Promise<OpenResponse> {
  const where = describeUrl(url);
  const { method, headers, signal, idleTimeoutMs = 60_000, connectTimeoutMs = 15_000 } = options;
  if (signal?.aborted) return Promise.reject(abortError(where));

  return new Promise<OpenResponse>((resolve, reject) => {
    const transport = url.protocol === 'https:' ? https : http;
    const request = transport.request(url, { method, headers });
    let connectTimer: NodeJS.Timeout | undefined;
    // A promise settles once: a failure after the response (or a second one) only destroys the request.
    const fail = (error: CallvaultError) => {
      clearTimeout(connectTimer);
      reject(error);
      request.destroy();
    };
    const onAbort = () => fail(abortError(where));
    signal?.addEventListener('abort', onAbort, { once: true });

    connectTimer = setTimeout(
      () => fail(new TransientError(`no connection to ${url.host} within ${connectTimeoutMs} ms`)),
      connectTimeoutMs,
    );
    request.on('socket', (socket) => {
      // A kept-alive socket is already connected; a new one reports when it is.
      if (!socket.connecting) clearTimeout(connectTimer);
      else socket.once('connect', () => clearTimeout(connectTimer));
    });
    // Until the headers arrive, a silent socket is a stall.
    request.setTimeout(idleTimeoutMs, () =>
      fail(new TransientError(`no response from ${where} within ${idleTimeoutMs} ms`)),
    );
    request.on('error', (error) => fail(toTransient(error, `request to ${where}`)));
    request.on('response', (response) => {
      clearTimeout(connectTimer);
      request.setTimeout(0);
      signal?.removeEventListener('abort', onAbort);
      resolve({
        status: response.statusCode ?? 0,
        headers: response.headers,
        body: guardBody(response, where, idleTimeoutMs, signal),
        url,
      });
    });
    request.end(options.body);
  });
}

/** The body, failed with a TransientError on stall, reset or abort; backpressure pauses the stall timer. */
function guardBody(
  response: IncomingMessage,
  where: string,
  idleTimeoutMs: number,
  signal?: AbortSignal,
): PassThrough {
  const body = new PassThrough();
  // The body may break before its consumer attaches (a download opened before the archive checks for a
  // copy): unheard, that 'error' would crash the process; body.errored keeps it for the next reader.
  body.on('error', () => {});
  let timer: NodeJS.Timeout | undefined;
  let done = false;
  const stop = (error?: CallvaultError) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
    if (error) {
      response.destroy();
      body.destroy(error);
    }
  };
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(
      () => stop(new TransientError(`download from ${where} stalled: no data for ${idleTimeoutMs} ms`)),
      idleTimeoutMs,
    );
  };
  const onAbort = () => stop(abortError(where));
  if (signal?.aborted) queueMicrotask(onAbort);
  else signal?.addEventListener('abort', onAbort, { once: true });

  arm();
  response.on('data', (chunk: Buffer) => {
    if (done) return;
    if (body.write(chunk)) return arm();
    clearTimeout(timer);
    response.pause();
    body.once('drain', () => {
      if (done) return;
      arm();
      response.resume();
    });
  });
  const closedEarly = () => new TransientError(`connection to ${where} closed mid-body`);
  response.on('end', () => {
    if (done) return;
    if (!response.complete) {
      return stop(new TransientError(`download from ${where} ended before the announced length`));
    }
    stop();
    body.end();
  });
  response.on('error', (error) => stop(toTransient(error, `download from ${where}`)));
  response.on('aborted', () => stop(closedEarly()));
  response.on('close', () => {
    if (!response.complete) stop(closedEarly());
  });
  // The consumer gave up (destroyed its end): release the socket.
  body.on('close', () => {
    if (!done) stop();
    if (!response.complete) response.destroy();
  });
  return body;
}

/** The headers without those whose (lower-case) name matches. */
function withoutHeaders(headers: Record<string, string>, names: RegExp): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !names.test(name.toLowerCase())));
}

/** Sends a request, following redirects within the allow-list. Any status is returned, not thrown. */
export async function openHttpResponse(url: string, options: HttpOptions): Promise<OpenResponse> {
  let target = assertAllowedUrl(url, options.allowedHosts);
  let method = (options.method ?? 'GET').toUpperCase();
  let headers: Record<string, string> = { ...options.headers };
  let body = options.body;
  const maxRedirects = options.maxRedirects ?? 3;

  for (let hop = 0; ; hop++) {
    const response = await sendOnce(target, { ...options, method, headers, body });
    const { status } = response;
    const location = headerValue(response.headers, 'location');
    if (!REDIRECT_STATUSES.has(status) || !location) return response;
    response.body.destroy();
    if (hop >= maxRedirects) {
      throw new TransientError(`too many redirects (more than ${maxRedirects}) from ${describeUrl(url)}`);
    }
    const next = URL.parse(location, target.href);
    if (!next) throw new PermanentError(`redirect from ${describeUrl(target)} has a malformed Location`);
    const checked = assertAllowedUrl(next.href, options.allowedHosts);
    if (checked.host.toLowerCase() !== target.host.toLowerCase() || checked.protocol !== target.protocol) {
      // Credentials must not follow a redirect to another origin.
      headers = withoutHeaders(headers, /^(authorization|cookie|proxy-authorization)$/);
    }
    if (status === 303 || ((status === 301 || status === 302) && method === 'POST')) {
      method = 'GET';
      body = undefined;
      headers = withoutHeaders(headers, /^content-(type|length)$/);
    }
    target = checked;
  }
}

/** Reads a body into memory up to `maxBytes` (64 MiB: larger is no API answer); a larger body is refused. */
export async function readBodyText(
  body: PassThrough,
  where: string,
  maxBytes = 64 * 1024 * 1024,
): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    const buffer = chunk as Buffer;
    total += buffer.length;
    if (total > maxBytes) {
      body.destroy();
      throw new PermanentError(`response from ${where} is larger than ${maxBytes} bytes`);
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export interface HttpTextResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** host + path of the final URL, for messages. */
  where: string;
}

/** An open answer read whole, whatever its status. */
export async function readWhole(response: OpenResponse, maxBytes?: number): Promise<HttpTextResponse> {
  const where = describeUrl(response.url);
  const text = await readBodyText(response.body, where, maxBytes);
  return { status: response.status, headers: response.headers, text, where };
}

/** A small API call read whole, whatever the status (an adapter may need the body to decide). */
export async function sendHttpRequest(url: string, options: HttpOptions): Promise<HttpTextResponse> {
  return readWhole(await openHttpResponse(url, options), options.maxResponseBytes);
}

/** The typed error for an answer read whole, with the short reason its body gives. */
export function statusError(response: HttpTextResponse, detail = summariseErrorBody): CallvaultError {
  return errorForStatus(response.status, response.headers, response.where, detail(response.text));
}

/** Parses a 2xx body as JSON; a garbled answer is a transient fault (proxies serve HTML pages). */
export function parseJsonBody(response: HttpTextResponse): unknown {
  try {
    return JSON.parse(response.text);
  } catch (error) {
    const what = summariseErrorBody(response.text) ?? 'an empty body';
    throw new TransientError(`response from ${response.where} is not JSON (got ${what.slice(0, 60)})`, {
      cause: error,
    });
  }
}

/** A 2xx answer's JSON body; the typed error for any other status. */
export function jsonOf(response: HttpTextResponse): unknown {
  if (response.status < 200 || response.status >= 300) throw statusError(response);
  return parseJsonBody(response);
}

/** A small JSON API call with the standard error mapping. */
export async function requestJson(url: string, options: HttpOptions): Promise<unknown> {
  return jsonOf(await sendHttpRequest(url, options));
}

/** A short detail of an error body: reads a little of it, then drops the connection. */
export async function describeAndDrop(
  answer: { body: PassThrough; where: string },
  detail: (text: string) => string | undefined = summariseErrorBody,
  maxBytes = 4096,
): Promise<string | undefined> {
  try {
    return detail(await readBodyText(answer.body, answer.where, maxBytes));
  } catch {
    answer.body.destroy();
    return undefined;
  }
}

/** A 2xx answer as a download; any other status throws its typed error (with a little of its body). */
export async function downloadOrThrow(response: OpenResponse): Promise<DownloadStream> {
  if (response.status >= 200 && response.status < 300) return downloadOf(response);
  const where = describeUrl(response.url);
  const detail = await describeAndDrop({ body: response.body, where });
  throw errorForStatus(response.status, response.headers, where, detail);
}

/** Opens a (possibly huge) download as a stream; non-2xx statuses throw their typed error. */
export async function openHttpDownload(url: string, options: HttpOptions): Promise<DownloadStream> {
  const headers = { accept: MEDIA_ACCEPT, ...rangeHeaders(options.fromByte), ...options.headers };
  return downloadOrThrow(await openHttpResponse(url, { ...options, headers }));
}

/** The request header that asks for a download from `fromByte` on (RFC 9110, section 14.2); none for 0. */
export function rangeHeaders(fromByte: number | undefined): Record<string, string> {
  return fromByte ? { range: `bytes=${fromByte}-` } : {};
}

/** A 2xx download answer as the archive reads it, with what a continuation checks (a 206's Content-Range). */
export function downloadOf({ headers, body }: Pick<OpenResponse, 'headers' | 'body'>): DownloadStream {
  const length = headerValue(headers, 'content-length');
  const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(headerValue(headers, 'content-range')?.trim() ?? '');
  return {
    body,
    contentLength: length !== undefined && /^\d+$/.test(length) ? Number(length) : undefined,
    contentType: headerValue(headers, 'content-type'),
    acceptRanges: /(^|,)\s*bytes\s*(,|$)/i.test(headerValue(headers, 'accept-ranges') ?? ''),
    etag: headerValue(headers, 'etag'),
    lastModified: headerValue(headers, 'last-modified'),
    contentRange: range
      ? {
          start: Number(range[1]),
          end: Number(range[2]),
          total: range[3] === '*' ? undefined : Number(range[3]),
        }
      : undefined,
  };
}
