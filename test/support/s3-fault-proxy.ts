/**
 * A loopback HTTP proxy in front of an S3-compatible server (moto) that fails chosen requests the way S3
 * and networks do: an S3 error status with its XML body, or a connection reset either before the request
 * reaches S3 or after S3 carried it out (the client never learns the outcome). Everything else is
 * forwarded unchanged. Point an S3 client at `endpoint` with `forcePathStyle: true`.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type S3FaultAction =
  /** Answer with this status and an S3 XML error body; the request never reaches S3. */
  | { kind: 'status'; status: number; code: string; message?: string }
  /** Read the request, then reset the connection without forwarding it. */
  | { kind: 'reset-before' }
  /** Forward the request, let S3 carry it out, then reset the connection instead of answering. */
  | { kind: 'reset-after' };

export interface S3FaultRule {
  method: string;
  /** Which requests of that method the rule is about (path is `/{bucket}/{key}`, path-style). */
  match: (url: URL) => boolean;
  action: S3FaultAction;
  /** Matching requests let through before the first failure: `skip: 2` fails the 3rd. Default 0. */
  skip?: number;
  /** Consecutive matching requests failed once skipping is over. Default 1. */
  times?: number;
}

export interface S3FaultHandle {
  /** Matching requests seen so far, failed or not. */
  readonly seen: number;
  /** Requests this rule failed. */
  readonly hits: number;
  /** Path of each failed request. */
  readonly failedPaths: readonly string[];
}

export interface S3FaultProxy {
  readonly endpoint: string;
  inject(rule: S3FaultRule): S3FaultHandle;
  /** Drops every rule and the request log. */
  clear(): void;
  /** Every request forwarded or failed, as `METHOD path?query`. */
  readonly log: readonly string[];
  close(): Promise<void>;
}

/** `PUT /bucket/key?partNumber=…&uploadId=…`: UploadPart (and UploadPartCopy). */
export const isUploadPart = (url: URL) =>
  url.searchParams.has('partNumber') && url.searchParams.has('uploadId');
/** `POST /bucket/key?uploadId=…`: CompleteMultipartUpload. */
export const isCompleteMultipartUpload = (url: URL) => url.searchParams.has('uploadId');
/** `PUT /bucket/key?tagging`: PutObjectTagging. */
export const isPutObjectTagging = (url: URL) => url.searchParams.has('tagging');

interface ArmedRule {
  rule: S3FaultRule;
  seen: number;
  hits: number;
  failedPaths: string[];
}

export interface S3FaultProxyOptions {
  /**
   * S3 carries out conditional writes (`If-None-Match: *`) atomically: of two racing writers one gets
   * 412. moto checks and writes in two steps, so two CompleteMultipartUploads to one key that race both
   * succeed there. With this option the proxy runs conditional writes to the same key one at a time,
   * restoring S3's behaviour for race scenarios. Default false.
   */
  serialiseConditionalWrites?: boolean;
}

export async function startS3FaultProxy(
  target: string,
  options: S3FaultProxyOptions = {},
): Promise<S3FaultProxy> {
  const upstream = new URL(target);
  /** Per key: the conditional write in progress, which the next one waits for. */
  const conditionalWrites = new Map<string, Promise<void>>();
  let rules: ArmedRule[] = [];
  const log: string[] = [];
  const sockets = new Set<Socket>();

  /** The rule that fails this request, if any; every matching rule counts the request as seen. */
  function decide(method: string, url: URL): ArmedRule | undefined {
    let chosen: ArmedRule | undefined;
    for (const armed of rules) {
      if (armed.rule.method.toUpperCase() !== method || !armed.rule.match(url)) continue;
      armed.seen += 1;
      const skip = armed.rule.skip ?? 0;
      const times = armed.rule.times ?? 1;
      if (!chosen && armed.seen > skip && armed.hits < times) chosen = armed;
    }
    if (chosen) {
      chosen.hits += 1;
      chosen.failedPaths.push(url.pathname);
    }
    return chosen;
  }

  function forward(
    request: IncomingMessage,
    onResponse: (response: IncomingMessage) => void,
    onError: (error: Error) => void,
  ) {
    const headers = { ...request.headers };
    // We stream the body straight on; the client's 100-continue handshake ended at this proxy.
    delete headers.expect;
    const outgoing = http.request(
      { host: upstream.hostname, port: upstream.port, method: request.method, path: request.url, headers },
      onResponse,
    );
    outgoing.on('error', onError);
    request.pipe(outgoing);
  }

  function drained(request: IncomingMessage): Promise<void> {
    return new Promise((resolve) => {
      request.on('end', resolve);
      request.on('error', () => resolve());
      request.resume();
    });
  }

  function handle(request: IncomingMessage, response: ServerResponse): void {
    const method = (request.method ?? 'GET').toUpperCase();
    const url = new URL(request.url ?? '/', 'http://proxy');
    log.push(`${method} ${url.pathname}${url.search}`);
    const armed = decide(method, url);
    const action = armed?.rule.action;

    if (action?.kind === 'status') {
      void drained(request).then(() => {
        const body =
          `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${action.code}</Code>` +
          `<Message>${action.message ?? 'injected by the S3 fault proxy'}</Message>` +
          `<RequestId>fault-proxy</RequestId></Error>`;
        response.writeHead(action.status, {
          'content-type': 'application/xml',
          'content-length': Buffer.byteLength(body),
        });
        response.end(body);
      });
      return;
    }
    if (action?.kind === 'reset-before') {
      void drained(request).then(() => request.socket.resetAndDestroy());
      return;
    }
    const conditional =
      options.serialiseConditionalWrites === true && request.headers['if-none-match'] !== undefined;
    if (!conditional) {
      relay(request, response, action);
      return;
    }
    const previous = conditionalWrites.get(url.pathname) ?? Promise.resolve();
    const done = previous.then(
      () =>
        new Promise<void>((release) => {
          response.once('close', release);
          request.socket.once('close', release);
          relay(request, response, action);
        }),
    );
    conditionalWrites.set(url.pathname, done);
    void done.then(() => {
      if (conditionalWrites.get(url.pathname) === done) conditionalWrites.delete(url.pathname);
    });
  }

  /** Forwards to S3 and relays the answer, or resets the connection once S3 answered (`reset-after`). */
  function relay(
    request: IncomingMessage,
    response: ServerResponse,
    action: S3FaultAction | undefined,
  ): void {
    forward(
      request,
      (upstreamResponse) => {
        if (action?.kind === 'reset-after') {
          // S3 did the work; the client only sees its connection die.
          upstreamResponse.resume();
          upstreamResponse.on('end', () => request.socket.resetAndDestroy());
          return;
        }
        response.writeHead(upstreamResponse.statusCode ?? 502, upstreamResponse.headers);
        upstreamResponse.pipe(response);
      },
      () => request.socket.resetAndDestroy(),
    );
  }

  const server = http.createServer(handle);
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    log,
    inject(rule) {
      const armed: ArmedRule = { rule, seen: 0, hits: 0, failedPaths: [] };
      rules.push(armed);
      return {
        get seen() {
          return armed.seen;
        },
        get hits() {
          return armed.hits;
        },
        get failedPaths() {
          return armed.failedPaths;
        },
      };
    },
    clear() {
      rules = [];
      log.length = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
