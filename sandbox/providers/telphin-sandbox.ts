/**
 * An HTTP simulator of Telphin's REST ver1.0 as documented (seed 000, providers.md (a)): OAuth2 client
 * credentials, record lists per client / extension group / extension with the month-window rule,
 * stats, permanent storage URLs served from a distinct path (and host name), direct downloads with the
 * Bearer token, single delete, and a range delete that only counts calls. Faults are switchable.
 * Used by the tests and by the `npm start` demo; it holds no real data and needs no network.
 */
import { randomBytes } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Clock } from '../../functions/core/ports';
import { systemClock } from '../../functions/core/ports';
import {
  parseTelphinQueryDateTime,
  violatesTelphinMonthRule,
} from '../../functions/providers/telphin/telphin-windows';
import {
  type FaultHandle,
  FaultRegistry,
  type FaultTarget,
  type SandboxFault,
  type SandboxRoute,
} from './sandbox-faults';
import { AUDIO_CHUNK_BYTES, syntheticAudioChunks } from './synthetic-audio';
import {
  buildSandboxRecording,
  expectedRecordingSha256,
  type SandboxRecording,
  type SandboxRecordingInput,
  serialiseTelphinRecord,
  type TelphinFieldSpelling,
} from './telphin-sandbox-records';

export type { FaultHandle, FaultTarget, SandboxFault, SandboxRoute } from './sandbox-faults';
export {
  expectedRecordingSha256,
  type SandboxRecording,
  type SandboxRecordingInput,
  type TelphinFieldSpelling,
  telphinHangupWebhookBody,
} from './telphin-sandbox-records';

export interface TelphinSandboxOptions {
  /** Default 0 (any free port). */
  port?: number;
  /** Interface to listen on; default 127.0.0.1. */
  host?: string;
  /** Host name put into storage URLs; default `localhost`, a different name from the API's 127.0.0.1. */
  storageHost?: string;
  /**
   * Origin put into storage URLs instead of this server's own (`storageHost` is then ignored), as an
   * installation whose storage sits on another host hands them out. The sandbox serves nothing there.
   */
  storageOrigin?: string;
  /** OAuth client credentials the sandbox accepts. */
  clientId?: string;
  clientSecret?: string;
  /** The Telphin client id of the account (`@me`); default 37649. */
  telphinClientId?: number;
  /** Lifetime of issued tokens; default 3600 s. */
  tokenTtlSeconds?: number;
  /** Field names of listed records; default `gmt` (`init_time_gmt` …). */
  fieldSpelling?: TelphinFieldSpelling;
  /** Time each list/stats answer takes, so overlapping calls are observable; default 0. */
  listLatencyMs?: number;
  /** Decides token expiry and "listed after"; default the system clock. */
  clock?: Clock;
}

export interface TelphinSandboxCounters {
  requests: number;
  tokenRequests: number;
  listCalls: number;
  statsCalls: number;
  /** Highest number of list + stats requests in flight at once. */
  maxConcurrentListCalls: number;
  /** Stats requests refused because another list/stats request was in flight (real API behaviour). */
  concurrentRejections: number;
  storageUrlRequests: number;
  storageDownloads: number;
  fileDownloads: number;
  deleteCalls: number;
  /** Range-delete calls (`DELETE …/record/?start_datetime=…`); callvault must never make one. */
  rangeDeleteCalls: number;
  /** 400 answers for bad or too-wide datetime windows. */
  badWindowRequests: number;
  unauthorizedRequests: number;
}

export interface ListQuery {
  route: 'list' | 'stats';
  path: string;
  start: string;
  end: string;
}

export interface TelphinSandbox {
  /** API base URL (what `apiUrl` is configured to), e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** Origin of storage URLs, e.g. `http://localhost:41234`. */
  readonly storageOrigin: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly telphinClientId: number;
  readonly counters: Readonly<TelphinSandboxCounters>;
  /** Every list and stats query received, in order. */
  readonly listQueries: readonly ListQuery[];
  addRecording(input: SandboxRecordingInput): SandboxRecording;
  /** `count` recordings with starts spread evenly over `[from, to)`, cycling through `extensions`. */
  generateRecordings(options: GenerateOptions): SandboxRecording[];
  /** Recordings not deleted (listed or not yet). */
  recordings(): SandboxRecording[];
  recording(recordUuid: string): SandboxRecording | undefined;
  /** Recordings deleted through the API (`DELETE …/record/{uuid}/`), i.e. by callvault's retention. */
  deletedIds(): string[];
  /**
   * Deletes a recording as someone else would (a user in the web UI, another app, the platform's own
   * retention): it leaves the lists and its downloads answer 404. Not one of `deletedIds()`.
   */
  removeRecording(recordUuid: string): void;
  /** Recordings removed with `removeRecording`. */
  removedIds(): string[];
  /** Makes a "not listed yet" recording visible now (or hides it again with a future date). */
  setListedAt(recordUuid: string, listedAt: Date | undefined): void;
  setFieldSpelling(spelling: TelphinFieldSpelling): void;
  /** Lifetime of tokens issued from now on. */
  setTokenTtl(seconds: number): void;
  /** Invalidates every issued token: the next API call with one gets 401. */
  revokeTokens(): void;
  injectFault(fault: SandboxFault, target?: FaultTarget): FaultHandle;
  clearFaults(): void;
  /** SHA-256 (hex) of a recording's bytes, also after it was deleted. */
  expectedSha256(recordUuid: string): string;
  /** The storage URL the API hands out for a recording. */
  storageUrlFor(recordUuid: string): string;
  /** Event hooks registered through `POST /extension/{id}/event/`, in creation order. */
  eventHooks(): SandboxEventHook[];
  close(): Promise<void>;
}

/** An extension's event hook as Telphin lists it. */
export interface SandboxEventHook {
  id: number;
  extension_id: number;
  url: string;
  method: 'GET' | 'POST';
  event_type: string;
}

/** Event types Telphin documents for extension hooks. */
const EVENT_TYPES = ['dial-in', 'dial-out', 'answer', 'hangup', 'message-in', 'message-out'];
/** Hooks per extension; Telphin caps them (see `/limit/`), the figure here is the sandbox's. */
const MAX_HOOKS_PER_EXTENSION = 10;

export interface GenerateOptions {
  count: number;
  from: Date;
  to: Date;
  extensions?: readonly { id: number; groupId?: number | null }[];
  flow?: 'in' | 'out' | 'alternate';
  durationSeconds?: number;
  size?: number;
}

const API_PREFIX = '/api/ver1.0';
const CONCURRENT_MESSAGE = 'Stats request already exists, concurrent request not allowed';

class HttpReply {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers: Record<string, string> = {},
  ) {}
}

const json = (status: number, body: unknown, headers?: Record<string, string>) =>
  new HttpReply(status, body, headers);
const message = (status: number, text: string) => json(status, { message: text });

export async function startTelphinSandbox(options: TelphinSandboxOptions = {}): Promise<TelphinSandbox> {
  const clock = options.clock ?? systemClock;
  const clientId = options.clientId ?? 'sandbox-client-id';
  const clientSecret = options.clientSecret ?? 'sandbox-client-secret';
  const telphinClientId = options.telphinClientId ?? 37649;
  const listenHost = options.host ?? '127.0.0.1';
  let tokenTtlSeconds = options.tokenTtlSeconds ?? 3600;
  let spelling: TelphinFieldSpelling = options.fieldSpelling ?? 'gmt';

  const records = new Map<string, SandboxRecording>();
  const byStorageKey = new Map<string, string>();
  /** Deleted recordings stay known so their expected hash can still be computed. */
  const deleted = new Map<string, SandboxRecording>();
  const removed = new Map<string, SandboxRecording>();
  const tokens = new Map<string, number>();
  const faults = new FaultRegistry();
  const listQueries: ListQuery[] = [];
  const counters: TelphinSandboxCounters = {
    requests: 0,
    tokenRequests: 0,
    listCalls: 0,
    statsCalls: 0,
    maxConcurrentListCalls: 0,
    concurrentRejections: 0,
    storageUrlRequests: 0,
    storageDownloads: 0,
    fileDownloads: 0,
    deleteCalls: 0,
    rangeDeleteCalls: 0,
    badWindowRequests: 0,
    unauthorizedRequests: 0,
  };
  let listsInFlight = 0;
  let serial = 0;
  let storageOrigin = '';

  const isListed = (recording: SandboxRecording) => !recording.listedAt || recording.listedAt <= clock.now();
  const visible = (uuid: string) => {
    const recording = records.get(uuid);
    return recording && isListed(recording) ? recording : undefined;
  };

  // ------------------------------------------------------------ auth

  function issueToken(body: URLSearchParams): HttpReply {
    counters.tokenRequests += 1;
    if (body.get('grant_type') !== 'client_credentials') {
      return json(400, { error: 'unsupported_grant_type' });
    }
    if (body.get('client_id') !== clientId || body.get('client_secret') !== clientSecret) {
      return json(401, { error: 'invalid_client' });
    }
    const token = randomBytes(24).toString('hex');
    tokens.set(token, clock.now().getTime() + tokenTtlSeconds * 1000);
    return json(200, {
      access_token: token,
      token_type: 'Bearer',
      expires_in: tokenTtlSeconds,
      scope: 'all',
    });
  }

  function authorised(request: IncomingMessage): boolean {
    const header = request.headers.authorization ?? '';
    const match = /^Bearer (\S+)$/i.exec(header);
    const expiresAt = match?.[1] ? tokens.get(match[1]) : undefined;
    return expiresAt !== undefined && expiresAt > clock.now().getTime();
  }

  // ------------------------------------------------------------ lists and stats

  function readWindow(query: URLSearchParams): { start: Date; end: Date } | HttpReply {
    const startText = query.get('start_datetime');
    const endText = query.get('end_datetime');
    if (!startText || !endText) return message(400, 'start_datetime and end_datetime are required');
    const start = parseTelphinQueryDateTime(startText);
    const end = parseTelphinQueryDateTime(endText);
    if (!start || !end) return message(400, 'datetime format must be YYYY-MM-DD HH:MM:SS');
    if (end < start) return message(400, 'end_datetime is earlier than start_datetime');
    if (violatesTelphinMonthRule(start, end)) {
      return message(400, "end_datetime can't be later than the end of the month following start_datetime");
    }
    return { start, end };
  }

  function selectRecords(scope: Scope, window: { start: Date; end: Date }): SandboxRecording[] {
    return [...records.values()].filter(
      (recording) =>
        isListed(recording) &&
        matchesScope(recording, scope) &&
        recording.initAt.getTime() >= window.start.getTime() &&
        // The API's resolution is one second: an end of 12:00:00 includes 12:00:00.xx.
        recording.initAt.getTime() < window.end.getTime() + 1000,
    );
  }

  function matchesScope(recording: SandboxRecording, scope: Scope): boolean {
    if (scope.kind === 'client') return recording.clientOwnerId === telphinClientId;
    if (scope.kind === 'extension_group') return String(recording.extensionGroupId) === scope.id;
    return String(recording.extensionId) === scope.id;
  }

  async function listOrStats(route: 'list' | 'stats', scope: Scope, url: URL): Promise<HttpReply> {
    if (route === 'stats' && listsInFlight > 0) {
      counters.concurrentRejections += 1;
      return message(429, CONCURRENT_MESSAGE);
    }
    const window = readWindow(url.searchParams);
    if (window instanceof HttpReply) {
      counters.badWindowRequests += 1;
      return window;
    }
    listQueries.push({
      route,
      path: url.pathname,
      start: url.searchParams.get('start_datetime') ?? '',
      end: url.searchParams.get('end_datetime') ?? '',
    });
    listsInFlight += 1;
    counters.maxConcurrentListCalls = Math.max(counters.maxConcurrentListCalls, listsInFlight);
    try {
      if (options.listLatencyMs) await new Promise((resolve) => setTimeout(resolve, options.listLatencyMs));
      const selected = selectRecords(scope, window);
      if (route === 'stats') {
        return json(200, { count: selected.length, size: selected.reduce((sum, r) => sum + r.size, 0) });
      }
      const descending = (url.searchParams.get('order') ?? 'desc') !== 'asc';
      selected.sort((a, b) => (a.initAt.getTime() - b.initAt.getTime()) * (descending ? -1 : 1));
      return json(
        200,
        selected.map((recording) => serialiseTelphinRecord(recording, spelling)),
      );
    } finally {
      listsInFlight -= 1;
    }
  }

  // ------------------------------------------------------------ routing

  /** Every API request counts, refused or faulted or not: tests assert on calls made. */
  function countRoute(route: SandboxRoute): void {
    if (route === 'list') counters.listCalls += 1;
    else if (route === 'stats') counters.statsCalls += 1;
    else if (route === 'storage-url') counters.storageUrlRequests += 1;
    else if (route === 'file') counters.fileDownloads += 1;
    else if (route === 'delete') counters.deleteCalls += 1;
    else if (route === 'range-delete') counters.rangeDeleteCalls += 1;
  }

  type Scope = { kind: 'client' | 'extension_group' | 'extension'; id: string };

  interface Routed {
    route: SandboxRoute;
    recordUuid?: string;
    handle: () => HttpReply | Promise<HttpReply> | AudioReply;
  }

  function clientMatches(id: string): boolean {
    return id === '@me' || id === String(telphinClientId);
  }

  const hooks = new Map<number, SandboxEventHook>();
  let hookSerial = 0;

  function routeEvents(method: string, extensionId: string, rest: string, body: string): Routed | undefined {
    const extension = Number(extensionId);
    if (!/^\d+$/.test(extensionId))
      return { route: 'event', handle: () => message(404, 'Extension not found') };
    if (rest === '' && method === 'GET') {
      return {
        route: 'event',
        handle: () =>
          json(
            200,
            [...hooks.values()].filter((hook) => hook.extension_id === extension),
          ),
      };
    }
    if (rest === '' && method === 'POST') {
      return {
        route: 'event',
        handle: () => {
          let fields: Record<string, unknown>;
          try {
            fields = JSON.parse(body) as Record<string, unknown>;
          } catch {
            return message(400, 'Invalid JSON');
          }
          const { url: target, method: hookMethod, event_type: eventType } = fields ?? {};
          if (typeof target !== 'string' || !/^https?:\/\//.test(target)) return message(400, 'Invalid url');
          if (hookMethod !== 'GET' && hookMethod !== 'POST') return message(400, 'Invalid method');
          if (typeof eventType !== 'string' || !EVENT_TYPES.includes(eventType))
            return message(400, 'Invalid event_type');
          if (
            [...hooks.values()].filter((hook) => hook.extension_id === extension).length >=
            MAX_HOOKS_PER_EXTENSION
          )
            return message(400, 'Event limit exceeded');
          hookSerial += 1;
          const hook: SandboxEventHook = {
            id: hookSerial,
            extension_id: extension,
            url: target,
            method: hookMethod,
            event_type: eventType,
          };
          hooks.set(hook.id, hook);
          return json(200, hook);
        },
      };
    }
    const one = /^(\d+)$/.exec(rest);
    if (one && method === 'DELETE') {
      return {
        route: 'event',
        handle: () => {
          const hook = hooks.get(Number(one[1]));
          if (!hook || hook.extension_id !== extension) return message(404, 'Event not found');
          hooks.delete(hook.id);
          return json(200, { message: 'Event deleted' });
        },
      };
    }
    return undefined;
  }

  function routeApi(method: string, path: string, url: URL, body = ''): Routed | undefined {
    const events = /^\/extension\/([^/]+)\/event(?:\/(.*))?$/.exec(path);
    if (events) {
      return routeEvents(
        method,
        decodeURIComponent(events[1] ?? ''),
        (events[2] ?? '').replace(/\/$/, ''),
        body,
      );
    }
    if (path === '/user' && method === 'GET') {
      return {
        route: 'user',
        handle: () =>
          json(200, {
            id: 1001,
            login: 'sandbox',
            client_id: telphinClientId,
            extension_id: null,
            dealer_id: null,
            timezone: 'Europe/Moscow',
          }),
      };
    }
    const scoped = /^\/(client|extension_group|extension)\/([^/]+)\/record(?:\/(.*))?$/.exec(path);
    if (!scoped) return undefined;
    const scope: Scope = { kind: scoped[1] as Scope['kind'], id: decodeURIComponent(scoped[2] ?? '') };
    const rest = (scoped[3] ?? '').replace(/\/$/, '');
    const denied =
      scope.kind === 'client' && !clientMatches(scope.id) ? message(403, 'Access denied') : undefined;
    const guard = (reply: () => HttpReply | Promise<HttpReply> | AudioReply) => () => denied ?? reply();

    if (rest === '' && method === 'GET')
      return { route: 'list', handle: guard(() => listOrStats('list', scope, url)) };
    if (rest === '' && method === 'DELETE') {
      return {
        route: 'range-delete',
        handle: () => message(403, 'range delete is refused by the callvault sandbox'),
      };
    }
    if (rest === 'stats' && method === 'GET')
      return { route: 'stats', handle: guard(() => listOrStats('stats', scope, url)) };

    const single = /^([^/]+)(?:\/(storage_url))?$/.exec(rest);
    if (!single || scope.kind !== 'client') return undefined;
    const uuid = decodeURIComponent(single[1] ?? '');
    if (single[2] === 'storage_url' && method === 'GET') {
      return {
        route: 'storage-url',
        recordUuid: uuid,
        handle: guard(() => {
          const recording = visible(uuid);
          if (!recording) return message(404, 'Record not found');
          return json(200, { record_url: `${storageOrigin}/storage/${recording.storageKey}` });
        }),
      };
    }
    if (single[2]) return undefined;
    if (method === 'GET') {
      return {
        route: 'file',
        recordUuid: uuid,
        handle: guard(() => {
          const recording = visible(uuid);
          return recording ? new AudioReply(recording) : message(404, 'Record not found');
        }),
      };
    }
    if (method === 'DELETE') {
      return {
        route: 'delete',
        recordUuid: uuid,
        handle: guard(() => {
          if (!records.has(uuid)) return message(404, 'Record not found');
          const recording = records.get(uuid);
          records.delete(uuid);
          if (recording) {
            byStorageKey.delete(recording.storageKey);
            deleted.set(uuid, recording);
          }
          return json(200, { message: 'Record deleted' });
        }),
      };
    }
    return undefined;
  }

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    counters.requests += 1;
    const url = new URL(request.url ?? '/', 'http://sandbox');
    const method = (request.method ?? 'GET').toUpperCase();
    const body = await readRequestBody(request);

    if (url.pathname === '/oauth/token' && method === 'POST') {
      const fault = faults.take('token');
      const statusFault = fault ? faultReply(fault) : undefined;
      return send(response, statusFault ?? issueToken(new URLSearchParams(body)), fault);
    }
    const storage = /^\/storage\/([^/]+)$/.exec(url.pathname);
    if (storage && method === 'GET') {
      const uuid = byStorageKey.get(storage[1] ?? '');
      counters.storageDownloads += 1;
      const fault = faults.take('storage', uuid);
      const statusFault = fault ? faultReply(fault) : undefined;
      if (statusFault) return send(response, statusFault, fault);
      const recording = uuid ? visible(uuid) : undefined;
      return send(response, recording ? new AudioReply(recording) : message(404, 'Not found'), fault);
    }
    if (!url.pathname.startsWith(`${API_PREFIX}/`)) return send(response, message(404, 'Not found'));

    const path = url.pathname.slice(API_PREFIX.length).replace(/\/+$/, '') || '/';
    const routed = routeApi(method, path, url, body);
    if (!routed) return send(response, message(404, 'Not found'));
    countRoute(routed.route);
    if (!authorised(request)) {
      counters.unauthorizedRequests += 1;
      return send(response, json(401, { message: 'Unauthorized' }));
    }
    const fault = faults.take(routed.route, routed.recordUuid);
    const statusFault = fault ? faultReply(fault) : undefined;
    if (statusFault) return send(response, statusFault, fault);
    return send(response, await routed.handle(), fault);
  }

  const server = http.createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (!response.headersSent) {
        response.writeHead(500, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ message: `sandbox error: ${(error as Error).message}` }));
      } else {
        response.destroy();
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, listenHost, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const apiHost = listenHost.includes(':') ? `[${listenHost}]` : listenHost;
  const url = `http://${apiHost}:${port}`;
  storageOrigin =
    options.storageOrigin?.replace(/\/+$/, '') ?? `http://${options.storageHost ?? 'localhost'}:${port}`;

  function addRecording(input: SandboxRecordingInput): SandboxRecording {
    serial += 1;
    const recording = buildSandboxRecording(input, {
      clientId: telphinClientId,
      serial: `${port}:${serial}`,
    });
    if (records.has(recording.recordUuid)) throw new Error(`sandbox already holds ${recording.recordUuid}`);
    records.set(recording.recordUuid, recording);
    byStorageKey.set(recording.storageKey, recording.recordUuid);
    return recording;
  }

  return {
    url,
    storageOrigin,
    clientId,
    clientSecret,
    telphinClientId,
    counters,
    listQueries,
    addRecording,
    generateRecordings(generate) {
      const span = generate.to.getTime() - generate.from.getTime();
      const extensions = generate.extensions?.length ? generate.extensions : [{ id: 468944, groupId: null }];
      return Array.from({ length: generate.count }, (_, index) => {
        const extension = extensions[index % extensions.length] ?? { id: 468944 };
        const flow =
          generate.flow === 'alternate' || generate.flow === undefined
            ? index % 2
              ? 'in'
              : 'out'
            : generate.flow;
        return addRecording({
          startedAt: new Date(generate.from.getTime() + Math.floor((span * index) / generate.count)),
          extensionId: extension.id,
          extensionGroupId: extension.groupId ?? null,
          flow,
          durationSeconds: generate.durationSeconds ?? 30 + ((index * 37) % 300),
          size: generate.size,
        });
      });
    },
    recordings: () => [...records.values()],
    recording: (uuid) => records.get(uuid),
    deletedIds: () => [...deleted.keys()],
    removeRecording(uuid) {
      const recording = records.get(uuid);
      if (!recording) throw new Error(`sandbox holds no recording ${uuid}`);
      records.delete(uuid);
      byStorageKey.delete(recording.storageKey);
      removed.set(uuid, recording);
    },
    removedIds: () => [...removed.keys()],
    setListedAt(uuid, listedAt) {
      const recording = records.get(uuid);
      if (!recording) throw new Error(`sandbox holds no recording ${uuid}`);
      recording.listedAt = listedAt;
    },
    setFieldSpelling(next) {
      spelling = next;
    },
    setTokenTtl(seconds) {
      tokenTtlSeconds = seconds;
    },
    revokeTokens: () => tokens.clear(),
    injectFault: (fault, target) => faults.inject(fault, target),
    clearFaults: () => faults.clear(),
    expectedSha256(uuid) {
      const recording = records.get(uuid) ?? deleted.get(uuid) ?? removed.get(uuid);
      if (!recording) throw new Error(`sandbox holds no recording ${uuid}`);
      return expectedRecordingSha256(recording);
    },
    storageUrlFor(uuid) {
      const recording = records.get(uuid);
      if (!recording) throw new Error(`sandbox holds no recording ${uuid}`);
      return `${storageOrigin}/storage/${recording.storageKey}`;
    },
    eventHooks: () => [...hooks.values()].map((hook) => ({ ...hook })),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Stalled and slow downloads would otherwise hold the server open.
        server.closeAllConnections();
      }),
  };
}

// ---------------------------------------------------------------- responses

/** A recording's bytes, produced on demand. */
class AudioReply {
  constructor(readonly recording: SandboxRecording) {}
}

/** The reply a status-type fault stands for; undefined for body faults (they shape the body instead). */
function faultReply(fault: SandboxFault): HttpReply | undefined {
  switch (fault.kind) {
    case 'hourly-quota': {
      const limit = fault.limit ?? 5000;
      return json(
        429,
        { error: 'rate_limit_exceeded', message: 'Rate limit exceeded' },
        {
          'x-ratelimit-limit': String(limit),
          'x-ratelimit-remaining': '0',
          'x-ratelimit-reset': String(fault.resetSeconds ?? 1800),
        },
      );
    }
    case 'concurrent-stats':
      return message(429, CONCURRENT_MESSAGE);
    case 'server-error':
      return message(fault.status ?? 503, 'Service Unavailable');
    case 'not-found':
      return message(404, 'Record not found');
    case 'html-page':
      return new HttpReply(
        200,
        '<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1><hr>nginx</body></html>\n',
        { 'content-type': 'text/html; charset=utf-8' },
      );
    default:
      return undefined;
  }
}

async function readRequestBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of request) {
    total += (chunk as Buffer).length;
    if (total > 1024 * 1024) throw new Error('request body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Writes a reply, shaping its body as a body fault says (reset, short, stall, slow). */
async function send(
  response: ServerResponse,
  reply: HttpReply | AudioReply,
  fault?: SandboxFault,
): Promise<void> {
  let status: number;
  let headers: Record<string, string>;
  let length: number;
  let chunks: Iterable<Buffer>;
  if (reply instanceof AudioReply) {
    const { recording } = reply;
    status = 200;
    headers = {
      'content-type': 'audio/mpeg',
      'content-disposition': `attachment; filename="${recording.fileName}"`,
    };
    length = recording.size;
    chunks = syntheticAudioChunks(recording.seed, recording.size);
  } else {
    const text = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
    const buffer = Buffer.from(text, 'utf8');
    status = reply.status;
    headers = { 'content-type': 'application/json; charset=utf-8', ...reply.headers };
    length = buffer.length;
    chunks = [buffer];
  }
  response.writeHead(status, { ...headers, 'content-length': String(length) });

  const cutAt =
    fault && (fault.kind === 'reset-mid-body' || fault.kind === 'short-body' || fault.kind === 'stall')
      ? Math.min(fault.afterBytes ?? Math.floor(length / 2), length)
      : undefined;
  const bytesPerSecond = fault?.kind === 'slow-body' ? Math.max(1, fault.bytesPerSecond) : undefined;
  let closed = false;
  response.once('close', () => {
    closed = true;
  });

  let sent = 0;
  for (const chunk of chunks) {
    let piece = cutAt !== undefined ? chunk.subarray(0, Math.max(0, cutAt - sent)) : chunk;
    while (piece.length > 0 && !closed) {
      const slice = bytesPerSecond ? piece.subarray(0, Math.max(1, Math.floor(bytesPerSecond / 10))) : piece;
      await write(response, slice);
      sent += slice.length;
      piece = piece.subarray(slice.length);
      if (bytesPerSecond) await delay(Math.max(100, Math.ceil((slice.length * 1000) / bytesPerSecond)));
    }
    if (closed || (cutAt !== undefined && sent >= cutAt)) break;
  }
  if (closed) return;
  if (cutAt === undefined) {
    response.end();
    return;
  }
  const socket = response.socket;
  if (fault?.kind === 'reset-mid-body') socket?.resetAndDestroy();
  else if (fault?.kind === 'short-body') socket?.end();
  // 'stall': keep the connection open and silent until the client (or close()) gives up.
}

function write(response: ServerResponse, chunk: Buffer): Promise<void> {
  return new Promise((resolve) => {
    // The callback fires once the bytes are handed to the socket, or with an error once it closed.
    response.write(chunk, () => resolve());
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Chunk size of synthetic downloads (re-exported for tests that reason about partial bodies). */
export const SANDBOX_CHUNK_BYTES = AUDIO_CHUNK_BYTES;
