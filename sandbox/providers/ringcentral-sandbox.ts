/**
 * An HTTP simulator of the RingCentral platform as documented (seeds 001 and 002, providers.md (b)):
 * the token endpoint (JWT grant with the app's Basic credentials, single-use refresh tokens, an Auth
 * group that answers 429, about five parallel sessions per user), webhook subscriptions with the real
 * handshake (`Validation-Token` echo, SUB-525 on a wrong reply) and statuses Active / Blacklisted /
 * Suspended, telephony-session event deliveries with `Verification-Token`, the Detailed company call
 * log with paging and legs, a media host on its own port serving MP3 or WAV (404 until the content is
 * ready after hang-up), rate groups with X-Rate-Limit-* headers and 429 + Retry-After, the recording
 * delete by id, and switchable faults. Used by tests and demos; it holds no real data.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Clock } from '../../functions/core/ports';
import { systemClock } from '../../functions/core/ports';
import {
  buildSandboxCall,
  callLogRecord,
  contentTypeOf,
  DEFAULT_EXTENSIONS,
  recordingChunks,
  recordingSha256,
  type SandboxAudioFormat,
  type SandboxCall,
  type SandboxCallInput,
  type SandboxCallKind,
  type SandboxExtension,
  type SandboxOrigins,
  telephonySessionEvent,
} from './ringcentral-sandbox-calls';
import {
  type RingCentralFault,
  type RingCentralFaultHandle,
  RingCentralFaultRegistry,
  type RingCentralFaultTarget,
  type RingCentralRoute,
} from './ringcentral-sandbox-faults';

export {
  DEFAULT_EXTENSIONS,
  type SandboxAudioFormat,
  type SandboxCall,
  type SandboxCallInput,
  type SandboxCallKind,
  type SandboxExtension,
} from './ringcentral-sandbox-calls';
export type {
  RingCentralFault,
  RingCentralFaultHandle,
  RingCentralFaultTarget,
  RingCentralRoute,
} from './ringcentral-sandbox-faults';

export type RateGroupName = 'heavy' | 'medium' | 'light' | 'auth';

export interface RateLimit {
  limit: number;
  windowSeconds: number;
}

export const JWT_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
/** The app permissions callvault's endpoints need (README: RingCentral, App). */
export const ALL_APP_PERMISSIONS = [
  'ReadCallLog',
  'ReadCallRecording',
  'EditCallLog',
  'ReadAccounts',
  'SubscriptionWebhook',
  'CallControl',
] as const;
export const TELEPHONY_SESSIONS_FILTER = '/restapi/v1.0/account/~/telephony/sessions';

export interface RingCentralSandboxOptions {
  /** Interface to listen on; default 127.0.0.1. */
  host?: string;
  /** Ports of the API and the media host; default 0 (any free port). */
  port?: number;
  mediaPort?: number;
  /** Host name put into content URIs; default `localhost`, another name than the API's. */
  mediaHost?: string;
  clientId?: string;
  clientSecret?: string;
  /** The JWT credential the token endpoint accepts. */
  jwt?: string;
  accountId?: string;
  /** Default 3600 s and 604800 s, RingCentral's defaults. */
  accessTokenTtlSeconds?: number;
  refreshTokenTtlSeconds?: number;
  /** Per group; default the documented example plan: Heavy 10, Medium 40, Light 50, Auth 5 a minute. */
  rateLimits?: Partial<Record<RateGroupName, RateLimit>>;
  /** Parallel sessions per user; a further login ends the oldest. Default 5. */
  sessionLimit?: number;
  /** The company's recording format; default mp3. */
  recordingFormat?: SandboxAudioFormat;
  /** Content answers 404 for this long after hang-up. Default 0. */
  recordingReadyDelayMs?: number;
  /** Calls appear in the call log this long after hang-up. Default 0. */
  callLogLagMs?: number;
  /** Consecutive failed deliveries after which a subscription is blacklisted. Default 3. */
  blacklistAfterFailures?: number;
  extensions?: readonly SandboxExtension[];
  /**
   * The header deliveries carry the subscription's verificationToken in: `Verification-Token` (the API
   * schema and the older "Receiving webhooks" page; the default) or `Validation-Token` (that page since
   * its December 2023 edit).
   */
  deliveryTokenHeader?: 'Verification-Token' | 'Validation-Token';
  /**
   * The app's permissions: reported as the token answer's `scope` and enforced per endpoint (403
   * InsufficientPermissions / CMN-401 naming the permission), the telephony-sessions event filter
   * included (CallControl). Default every permission callvault uses (`ALL_APP_PERMISSIONS`).
   */
  appPermissions?: readonly string[];
  /**
   * How a subscription whose event filter lacks its permission is answered: `refuse` (403, the default)
   * or `disable` (created, with the filter in `disabledFilters`); which one RingCentral does is not
   * confirmed.
   */
  unpermittedFilter?: 'refuse' | 'disable';
  /**
   * The rate group the media host counts content requests in and names in `X-Rate-Limit-Group`. The API
   * reference says Heavy (the default); a media host reporting another group is what the gate must
   * keep apart.
   */
  contentRateGroup?: RateGroupName;
  /** Whether the media host answers HEAD (undocumented); false answers 405. Default true. */
  contentHeadAllowed?: boolean;
  /**
   * The media host's Content-Type: the format's own (`audio/mpeg`, `audio/wav`; default) or `generic`,
   * `application/octet-stream` for every file, as a file host that does not know what it serves does.
   */
  mediaContentType?: 'format' | 'generic';
  clock?: Clock;
}

export interface RequestLogEntry {
  atMs: number;
  method: string;
  server: 'api' | 'media';
  /** Path without the query. */
  path: string;
  /** The query string (`?…`), or empty. */
  query: string;
  /** The Authorization header's scheme (`Bearer`, `Basic`), if any; never its value. */
  authorization?: string;
  /** The Accept header as sent. */
  accept?: string;
  route: RingCentralRoute | 'call-log-delete' | 'other';
  group?: RateGroupName;
  status: number;
}

export interface RingCentralSandboxCounters {
  requests: number;
  tokenRequests: number;
  logins: number;
  refreshes: number;
  refusedLogins: number;
  /** Sessions ended because the user exceeded the parallel-session limit. */
  sessionsEvicted: number;
  callLogCalls: number;
  contentRequests: number;
  contentHeads: number;
  deleteCalls: number;
  /** Call-log row deletes (`DELETE …/call-log`); callvault must never make one. */
  callLogDeletes: number;
  directoryCalls: number;
  unauthorizedRequests: number;
  /** 429 answers per group. */
  throttled: Record<RateGroupName, number>;
  handshakes: number;
  deliveries: number;
}

export interface SubscriptionView {
  id: string;
  uri: string;
  eventFilters: string[];
  expirationTime: string;
  expiresIn: number;
  status: 'Active' | 'Blacklisted' | 'Suspended';
  creationTime: string;
  deliveryMode: { transportType: 'WebHook'; address: string; encryption: false };
  disabledFilters?: { filter: string; reason: string }[];
}

export interface DeliveryResult {
  subscriptionId: string;
  /** The receiver's status, or undefined when it could not be reached. */
  status?: number;
  error?: string;
  /** The subscription is blacklisted after this delivery. */
  blacklisted: boolean;
}

export interface GenerateCallsOptions {
  count: number;
  from: Date;
  to: Date;
  kinds?: readonly SandboxCallKind[];
  durationSeconds?: number;
  size?: number;
}

export interface RingCentralSandbox {
  /** API origin (`serverUrl`), e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** Media origin (`mediaUrl`), e.g. `http://localhost:41235`. */
  readonly mediaUrl: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly jwt: string;
  readonly accountId: string;
  readonly counters: Readonly<RingCentralSandboxCounters>;
  /** Every request received on either host, in order of arrival, with its answer's status. */
  readonly requestLog: readonly RequestLogEntry[];
  addCall(input?: SandboxCallInput): SandboxCall;
  /** A call in progress: not in the call log; hang it up to finish it. */
  startCall(input?: SandboxCallInput): SandboxCall;
  /** `count` finished calls with starts spread evenly over `[from, to)`, cycling through `kinds`. */
  generateCalls(options: GenerateCallsOptions): SandboxCall[];
  /** Ends a live call now and delivers its `Disconnected` event (recordings stopped) to the subscriptions. */
  hangUp(telephonySessionId: string, options?: { deliver?: boolean }): Promise<DeliveryResult[]>;
  /** Delivers one telephony-session event for the call with the given party status. */
  deliverEvent(
    telephonySessionId: string,
    event: { statusCode: string; recordingActive?: boolean },
  ): Promise<DeliveryResult[]>;
  calls(): SandboxCall[];
  callByRecordingId(recordingId: string): SandboxCall | undefined;
  /** The platform's own retention removes the file (the call-log row stays, without its recording). */
  expireRecording(recordingId: string): void;
  deletedRecordingIds(): string[];
  /** SHA-256 (hex) of a recording's bytes, also after it was deleted. */
  expectedSha256(recordingId: string): string;
  /** The file's size in bytes. */
  recordingSize(recordingId: string): number;
  subscriptions(): SubscriptionView[];
  setSubscriptionStatus(id: string, status: SubscriptionView['status']): void;
  /** Ends every session: their access and refresh tokens answer 401 / invalid_grant. */
  revokeTokens(): void;
  /** From now on the JWT credential is refused (revoked in the developer console). */
  refuseJwt(refused: boolean): void;
  setAccessTokenTtl(seconds: number): void;
  injectFault(fault: RingCentralFault, target?: RingCentralFaultTarget): RingCentralFaultHandle;
  clearFaults(): void;
  /**
   * The JWT user may not read this extension's call log (`GET …/extension/{id}/call-log` answers 403
   * CMN-408, as RingCentral does for a resource outside the user's permissions); `false` lifts it.
   */
  refuseExtensionCallLog(extensionId: number, refused?: boolean): void;
  close(): Promise<void>;
}

const DEFAULT_RATE_LIMITS: Record<RateGroupName, RateLimit> = {
  heavy: { limit: 10, windowSeconds: 60 },
  medium: { limit: 40, windowSeconds: 60 },
  light: { limit: 50, windowSeconds: 60 },
  auth: { limit: 5, windowSeconds: 60 },
};

class HttpReply {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers: Record<string, string> = {},
  ) {}
}

/** A recording's bytes (or a range of them), produced on demand. */
class ContentReply {
  constructor(
    readonly call: SandboxCall & { recording: NonNullable<SandboxCall['recording']> },
    readonly range: { start: number; end: number } | undefined,
    readonly headOnly: boolean,
  ) {}
}

const json = (status: number, body: unknown, headers?: Record<string, string>) =>
  new HttpReply(status, body, headers);
/** RingCentral's error body: errorCode, message, and the same in `errors[]`. */
const apiError = (status: number, errorCode: string, message: string, headers?: Record<string, string>) =>
  json(status, { errorCode, message, errors: [{ errorCode, message }] }, headers);
const oauthError = (status: number, error: string, description: string) =>
  json(status, { error, error_description: description });
/** RingCentral's answer to an endpoint the app has no permission for. */
const insufficientPermissions = (permission: string, message?: string) => {
  const text =
    message ?? `In order to call this API endpoint, application needs to have [${permission}] permission`;
  return json(403, {
    errorCode: 'InsufficientPermissions',
    message: text,
    errors: [{ errorCode: 'CMN-401', message: text, permissionName: permission }],
    permissionName: permission,
  });
};
const notFound = (parameter: string) =>
  apiError(404, 'CMN-102', `Resource for parameter [${parameter}] is not found`);

interface Session {
  id: number;
  accessToken: string;
  accessExpiresAtMs: number;
  refreshToken: string;
  refreshExpiresAtMs: number;
  startedAtMs: number;
}

interface SubscriptionState extends SubscriptionView {
  verificationToken?: string;
  /** Filters that deliver nothing, with why (listed as `disabledFilters`). */
  disabledFilters: { filter: string; reason: string }[];
  failures: number;
  expiresAtMs: number;
}

export async function startRingCentralSandbox(
  options: RingCentralSandboxOptions = {},
): Promise<RingCentralSandbox> {
  const clock = options.clock ?? systemClock;
  const nowMs = () => clock.now().getTime();
  const clientId = options.clientId ?? 'sandbox-client-id';
  const clientSecret = options.clientSecret ?? 'sandbox-client-secret';
  const jwt = options.jwt ?? `eyJhbGciOiJSUzI1NiJ9.sandbox-jwt.${randomBytes(12).toString('hex')}`;
  const accountId = options.accountId ?? '37439510';
  const listenHost = options.host ?? '127.0.0.1';
  const extensions = options.extensions ?? DEFAULT_EXTENSIONS;
  const rateLimits = { ...DEFAULT_RATE_LIMITS, ...options.rateLimits };
  const sessionLimit = options.sessionLimit ?? 5;
  const readyDelayMs = options.recordingReadyDelayMs ?? 0;
  const callLogLagMs = options.callLogLagMs ?? 0;
  const blacklistAfter = options.blacklistAfterFailures ?? 3;
  const deliveryTokenHeader = (options.deliveryTokenHeader ?? 'Verification-Token').toLowerCase();
  const permissions = new Set<string>(options.appPermissions ?? ALL_APP_PERMISSIONS);
  let accessTtlSeconds = options.accessTokenTtlSeconds ?? 3600;
  const refreshTtlSeconds = options.refreshTokenTtlSeconds ?? 604_800;
  let jwtRefused = false;

  const calls = new Map<string, SandboxCall>();
  const byRecording = new Map<string, SandboxCall>();
  const deleted: string[] = [];
  let sessions: Session[] = [];
  let sessionSerial = 0;
  const usedRefreshTokens = new Set<string>();
  const subscriptions = new Map<string, SubscriptionState>();
  const faults = new RingCentralFaultRegistry();
  const requestLog: RequestLogEntry[] = [];
  const windows = new Map<RateGroupName, { startMs: number; count: number }>();
  const counters: RingCentralSandboxCounters = {
    requests: 0,
    tokenRequests: 0,
    logins: 0,
    refreshes: 0,
    refusedLogins: 0,
    sessionsEvicted: 0,
    callLogCalls: 0,
    contentRequests: 0,
    contentHeads: 0,
    deleteCalls: 0,
    callLogDeletes: 0,
    directoryCalls: 0,
    unauthorizedRequests: 0,
    throttled: { heavy: 0, medium: 0, light: 0, auth: 0 },
    handshakes: 0,
    deliveries: 0,
  };
  let serial = 0;
  const origins: SandboxOrigins = { api: '', media: '', accountId };

  // ------------------------------------------------------------ rate groups

  /** Counts a request in its group's fixed window; the 429 reply when the window's budget is spent. */
  function rateCheck(group: RateGroupName): { reply?: HttpReply; headers: Record<string, string> } {
    const { limit, windowSeconds } = rateLimits[group];
    const now = nowMs();
    let window = windows.get(group);
    if (!window || now >= window.startMs + windowSeconds * 1000) {
      window = { startMs: now, count: 0 };
      windows.set(group, window);
    }
    const headers = (remaining: number) => ({
      'x-rate-limit-group': group,
      'x-rate-limit-limit': String(limit),
      'x-rate-limit-remaining': String(remaining),
      'x-rate-limit-window': String(windowSeconds),
    });
    if (window.count >= limit) {
      counters.throttled[group] += 1;
      const retryAfter = Math.max(1, Math.ceil((window.startMs + windowSeconds * 1000 - now) / 1000));
      return {
        reply: apiError(429, 'CMN-301', 'Request rate exceeded', {
          ...headers(0),
          'retry-after': String(retryAfter),
        }),
        headers: headers(0),
      };
    }
    window.count += 1;
    return { headers: headers(limit - window.count) };
  }

  // ------------------------------------------------------------ auth

  function sessionOf(request: IncomingMessage): Session | undefined {
    const match = /^Bearer (\S+)$/i.exec(request.headers.authorization ?? '');
    const token = match?.[1];
    const session = token ? sessions.find((candidate) => candidate.accessToken === token) : undefined;
    return session && session.accessExpiresAtMs > nowMs() ? session : undefined;
  }

  function newSession(): Session {
    const now = nowMs();
    sessionSerial += 1;
    const session: Session = {
      id: sessionSerial,
      accessToken: `U1BCMDF${randomBytes(24).toString('base64url')}`,
      accessExpiresAtMs: now + accessTtlSeconds * 1000,
      refreshToken: `U1BCMDF${randomBytes(24).toString('base64url')}`,
      refreshExpiresAtMs: now + refreshTtlSeconds * 1000,
      startedAtMs: now,
    };
    sessions.push(session);
    while (sessions.length > sessionLimit) {
      sessions.shift();
      counters.sessionsEvicted += 1;
    }
    return session;
  }

  function tokenAnswer(session: Session): HttpReply {
    return json(200, {
      access_token: session.accessToken,
      token_type: 'bearer',
      expires_in: Math.round((session.accessExpiresAtMs - nowMs()) / 1000),
      refresh_token: session.refreshToken,
      refresh_token_expires_in: Math.round((session.refreshExpiresAtMs - nowMs()) / 1000),
      scope: [...permissions].join(' '),
      owner_id: String(extensions[0]?.id ?? 0),
      endpoint_id: `sandbox-${session.id}`,
    });
  }

  function issueToken(request: IncomingMessage, form: URLSearchParams): HttpReply {
    counters.tokenRequests += 1;
    const basic = /^Basic (\S+)$/i.exec(request.headers.authorization ?? '')?.[1];
    const decoded = basic ? Buffer.from(basic, 'base64').toString('utf8') : '';
    if (decoded !== `${clientId}:${clientSecret}`) {
      return oauthError(401, 'invalid_client', 'Invalid client: client authentication failed');
    }
    const grantType = form.get('grant_type');
    if (grantType === JWT_GRANT) {
      if (jwtRefused || form.get('assertion') !== jwt) {
        counters.refusedLogins += 1;
        return oauthError(400, 'invalid_grant', 'Invalid token');
      }
      counters.logins += 1;
      return tokenAnswer(newSession());
    }
    if (grantType === 'refresh_token') {
      const token = form.get('refresh_token') ?? '';
      const session = sessions.find((candidate) => candidate.refreshToken === token);
      if (!session || usedRefreshTokens.has(token) || session.refreshExpiresAtMs <= nowMs()) {
        return oauthError(400, 'invalid_grant', 'Token not found');
      }
      // Refresh tokens are single-use; the old access token stops working at once.
      usedRefreshTokens.add(token);
      sessions = sessions.filter((candidate) => candidate !== session);
      counters.refreshes += 1;
      const renewed = newSession();
      renewed.refreshExpiresAtMs = session.refreshExpiresAtMs;
      return tokenAnswer(renewed);
    }
    return oauthError(400, 'unsupported_grant_type', 'Unsupported grant type');
  }

  // ------------------------------------------------------------ call log

  const visibleInLog = (call: SandboxCall) =>
    call.hungUpAt !== undefined && nowMs() >= call.hungUpAt.getTime() + callLogLagMs;
  const hasRecording = (call: SandboxCall) => call.recording !== undefined && !call.recordingDeleted;

  function parseDate(text: string | null): Date | undefined | 'invalid' {
    if (text === null) return undefined;
    const ms = Date.parse(text);
    return Number.isNaN(ms) ? 'invalid' : new Date(ms);
  }

  const refusedExtensions = new Set<number>();

  function listCallLog(url: URL, extensionId?: string): HttpReply {
    const query = url.searchParams;
    if (extensionId !== undefined) {
      const extension = extensions.find((candidate) => String(candidate.id) === extensionId);
      if (!extension) return notFound('extensionId');
      if (refusedExtensions.has(extension.id)) {
        return apiError(
          403,
          'CMN-408',
          'In order to call this API endpoint, user needs to have [ReadCallLog] permission for requested resource.',
        );
      }
    }
    const view = query.get('view') === 'Detailed' ? 'Detailed' : 'Simple';
    const perPageText = query.get('perPage') ?? '100';
    const pageText = query.get('page') ?? '1';
    if (!/^\d+$/.test(perPageText) || Number(perPageText) < 1 || Number(perPageText) > 1000) {
      return apiError(400, 'CMN-101', 'Parameter [perPage] value is invalid');
    }
    if (!/^\d+$/.test(pageText) || Number(pageText) < 1) {
      return apiError(400, 'CMN-101', 'Parameter [page] value is invalid');
    }
    const dateTo = parseDate(query.get('dateTo'));
    const dateFrom = parseDate(query.get('dateFrom'));
    if (dateTo === 'invalid' || dateFrom === 'invalid') {
      return apiError(400, 'CMN-101', 'Parameter [dateFrom/dateTo] value is invalid');
    }
    const to = dateTo ?? clock.now();
    const from = dateFrom ?? new Date(to.getTime() - 24 * 3_600_000);
    const telephonySessionId = query.get('telephonySessionId');
    const sessionId = query.get('sessionId');
    const recordingType = query.get('recordingType');
    const withRecording = query.get('withRecording');
    const onExtension = (call: SandboxCall) =>
      extensionId === undefined ||
      String(call.extension.id) === extensionId ||
      String(call.otherExtension?.id) === extensionId;
    const selected = [...calls.values()]
      .filter(visibleInLog)
      .filter(onExtension)
      .filter((call) => call.startedAt >= from && call.startedAt < to)
      .filter((call) => !telephonySessionId || call.telephonySessionId === telephonySessionId)
      .filter((call) => !sessionId || call.sessionId === sessionId)
      .filter((call) => {
        // withRecording is deprecated and ignored when recordingType is given.
        if (recordingType === 'All') return hasRecording(call);
        if (recordingType === 'Automatic' || recordingType === 'OnDemand') {
          return hasRecording(call) && call.recording?.type === recordingType;
        }
        if (withRecording === 'true') return hasRecording(call);
        return true;
      })
      .sort((a, b) => b.startedAt.getTime() - a.startedAt.getTime() || a.recordId.localeCompare(b.recordId));
    const perPage = Number(perPageText);
    const page = Number(pageText);
    const totalPages = Math.max(1, Math.ceil(selected.length / perPage));
    const records = selected
      .slice((page - 1) * perPage, page * perPage)
      .map((call) => callLogRecord(call, origins, view));
    const pageUri = (n: number) => {
      const next = new URL(url.pathname, origins.api);
      for (const [name, value] of query) next.searchParams.set(name, value);
      next.searchParams.set('page', String(n));
      next.searchParams.set('perPage', String(perPage));
      return { uri: next.href };
    };
    return json(200, {
      uri: pageUri(page).uri,
      records,
      paging: {
        page,
        totalPages,
        perPage,
        totalElements: selected.length,
        pageStart: (page - 1) * perPage,
        pageEnd: Math.max((page - 1) * perPage, Math.min(page * perPage, selected.length) - 1),
      },
      navigation: {
        firstPage: pageUri(1),
        ...(page < totalPages ? { nextPage: pageUri(page + 1) } : {}),
        ...(page > 1 ? { previousPage: pageUri(page - 1) } : {}),
        lastPage: pageUri(totalPages),
      },
    });
  }

  function listDirectory(url: URL): HttpReply {
    const perPage = Math.min(1000, Math.max(1, Number(url.searchParams.get('perPage') ?? '100') || 100));
    const page = Math.max(1, Number(url.searchParams.get('page') ?? '1') || 1);
    const totalPages = Math.max(1, Math.ceil(extensions.length / perPage));
    const pageUri = (n: number) => ({ uri: `${origins.api}${url.pathname}?perPage=${perPage}&page=${n}` });
    return json(200, {
      uri: pageUri(page).uri,
      records: extensions.slice((page - 1) * perPage, page * perPage).map((extension) => ({
        uri: `${origins.api}/restapi/v1.0/account/${accountId}/extension/${extension.id}`,
        id: extension.id,
        extensionNumber: extension.extensionNumber,
        name: extension.name,
        type: extension.type,
        status: 'Enabled',
      })),
      paging: { page, totalPages, perPage, totalElements: extensions.length },
      navigation: { firstPage: pageUri(1), ...(page < totalPages ? { nextPage: pageUri(page + 1) } : {}) },
    });
  }

  function deleteRecordings(body: string): HttpReply {
    let value: unknown;
    try {
      value = JSON.parse(body);
    } catch {
      return apiError(400, 'CMN-101', 'Request body is not valid JSON');
    }
    const records = (value as { records?: unknown } | null)?.records;
    if (!Array.isArray(records) || records.length === 0) {
      return apiError(400, 'CMN-101', 'Parameter [records] value is invalid');
    }
    const ids = records.map((id) => String(id));
    const present = ids.filter((id) => {
      const call = byRecording.get(id);
      return call !== undefined && hasRecording(call);
    });
    if (present.length === 0) return notFound('records');
    for (const id of present) removeFile(id);
    return new HttpReply(204, '');
  }

  function removeFile(recordingId: string): void {
    const call = byRecording.get(recordingId);
    if (!call || call.recordingDeleted) return;
    call.recordingDeleted = true;
    deleted.push(recordingId);
  }

  function content(recordingId: string, request: IncomingMessage, method: string): HttpReply | ContentReply {
    const call = byRecording.get(recordingId);
    if (!call?.recording || call.recordingDeleted) return notFound('recordingId');
    // Content appears only some time after hang-up, even though events already name the recording.
    if (!call.hungUpAt || nowMs() < call.hungUpAt.getTime() + readyDelayMs) return notFound('recordingId');
    const ready = call as SandboxCall & { recording: NonNullable<SandboxCall['recording']> };
    const size = ready.recording.size;
    const rangeHeader = request.headers.range;
    let range: { start: number; end: number } | undefined;
    if (rangeHeader) {
      const match = /^bytes=(\d*)-(\d*)$/.exec(rangeHeader.trim());
      const start = match?.[1] ? Number(match[1]) : undefined;
      const end = match?.[2] ? Number(match[2]) : undefined;
      if (!match || start === undefined || start >= size || (end !== undefined && end < start)) {
        return apiError(416, 'CMN-107', 'Requested range not satisfiable', {
          'content-range': `bytes */${size}`,
        });
      }
      range = { start, end: Math.min(end ?? size - 1, size - 1) };
    }
    return new ContentReply(ready, range, method === 'HEAD');
  }

  // ------------------------------------------------------------ subscriptions

  function subscriptionView(state: SubscriptionState): SubscriptionView {
    return {
      id: state.id,
      uri: state.uri,
      eventFilters: [...state.eventFilters],
      expirationTime: new Date(state.expiresAtMs).toISOString(),
      expiresIn: Math.max(0, Math.round((state.expiresAtMs - nowMs()) / 1000)),
      status: state.status,
      creationTime: state.creationTime,
      deliveryMode: { ...state.deliveryMode },
      ...(state.disabledFilters.length > 0 ? { disabledFilters: [...state.disabledFilters] } : {}),
    };
  }

  /**
   * The handshake: POST with a Validation-Token; the receiver must answer 200 within 3 s with the same
   * header, Content-Type application/json, and at most 1024 bytes of headers and body.
   */
  async function handshake(address: string): Promise<string | undefined> {
    counters.handshakes += 1;
    const token = randomUUID();
    let response: Response;
    let body: string;
    try {
      response = await fetch(address, {
        method: 'POST',
        headers: {
          'validation-token': token,
          'content-type': 'application/json',
          'user-agent': 'RingCentral-Webhook/8.3',
        },
        signal: AbortSignal.timeout(3000),
      });
      body = await response.text();
    } catch (error) {
      return `the webhook address could not be reached (${(error as Error).message})`;
    }
    if (response.status !== 200) return `the webhook answered HTTP ${response.status}`;
    if (response.headers.get('validation-token') !== token)
      return 'the webhook did not echo the Validation-Token header';
    if (!(response.headers.get('content-type') ?? '').includes('application/json')) {
      return 'the webhook did not answer with Content-Type application/json';
    }
    let size = `HTTP/1.1 ${response.status} ${response.statusText}\r\n`.length + Buffer.byteLength(body);
    response.headers.forEach((value, name) => {
      size += `${name}: ${value}\r\n`.length;
    });
    if (size > 1024) return `the webhook's reply is ${size} bytes, over 1024`;
    return undefined;
  }

  function readSubscriptionBody(body: string): { value?: Record<string, unknown>; error?: HttpReply } {
    if (body.trim() === '') return { value: {} };
    try {
      const value = JSON.parse(body) as unknown;
      if (value && typeof value === 'object' && !Array.isArray(value))
        return { value: value as Record<string, unknown> };
    } catch {
      // Refused below.
    }
    return { error: apiError(400, 'CMN-101', 'Request body is not a JSON object') };
  }

  async function createSubscription(body: string): Promise<HttpReply> {
    const { value, error } = readSubscriptionBody(body);
    if (error || !value) return error ?? apiError(400, 'CMN-101', 'Request body is not a JSON object');
    const filters = value.eventFilters;
    const mode = value.deliveryMode as Record<string, unknown> | undefined;
    if (
      !Array.isArray(filters) ||
      filters.length === 0 ||
      !filters.every((filter) => typeof filter === 'string')
    ) {
      return apiError(400, 'CMN-101', 'Parameter [eventFilters] value is invalid');
    }
    if (
      mode?.transportType !== 'WebHook' ||
      typeof mode.address !== 'string' ||
      !/^https?:\/\//.test(mode.address)
    ) {
      return apiError(400, 'CMN-101', 'Parameter [deliveryMode] value is invalid');
    }
    // The account telephony-sessions filter needs CallControl (event filter reference, Required Permissions).
    const telephony = (filters as string[]).some((filter) =>
      /^\/restapi\/v1\.0\/account\/[^/]+\/telephony\/sessions(\?|$)/.test(filter),
    );
    const disabledFilters: { filter: string; reason: string }[] = [];
    if (telephony && !permissions.has('CallControl') && options.unpermittedFilter === 'disable') {
      for (const filter of filters as string[]) {
        disabledFilters.push({ filter, reason: 'Required application permission [CallControl] is missing' });
      }
    } else if (telephony && !permissions.has('CallControl')) {
      return insufficientPermissions(
        'CallControl',
        'Required application permission [CallControl] is missing for event filter /restapi/v1.0/account/~/telephony/sessions',
      );
    }
    const refusal = await handshake(mode.address);
    if (refusal) return apiError(400, 'SUB-525', `WebHook responds with an invalid reply: ${refusal}`);
    const expiresIn = Math.min(315_360_000, typeof value.expiresIn === 'number' ? value.expiresIn : 604_800);
    const id = randomUUID();
    const state: SubscriptionState = {
      id,
      uri: `${origins.api}/restapi/v1.0/subscription/${id}`,
      eventFilters: filters as string[],
      expirationTime: '',
      expiresIn,
      status: 'Active',
      creationTime: clock.now().toISOString(),
      deliveryMode: { transportType: 'WebHook', address: mode.address, encryption: false },
      verificationToken: typeof mode.verificationToken === 'string' ? mode.verificationToken : undefined,
      failures: 0,
      expiresAtMs: nowMs() + expiresIn * 1000,
      disabledFilters,
    };
    subscriptions.set(id, state);
    return json(200, subscriptionView(state));
  }

  async function updateSubscription(id: string, body: string, renewing = false): Promise<HttpReply> {
    const state = subscriptions.get(id);
    if (!state) return notFound('subscriptionId');
    if (state.status === 'Blacklisted') {
      return apiError(
        403,
        'SANDBOX-BLACKLISTED',
        'Subscription is blacklisted; delete it and create a new one',
      );
    }
    const { value, error } = readSubscriptionBody(body);
    if (error || !value) return error ?? apiError(400, 'CMN-101', 'Request body is not a JSON object');
    // UpdateSubscriptionRequest requires eventFilters; the renew endpoint takes no body and keeps them.
    if (!renewing && (!Array.isArray(value.eventFilters) || value.eventFilters.length === 0)) {
      return apiError(400, 'CMN-101', 'Parameter [eventFilters] value is invalid');
    }
    const mode = value.deliveryMode as Record<string, unknown> | undefined;
    if (typeof mode?.address === 'string' && mode.address !== state.deliveryMode.address) {
      const refusal = await handshake(mode.address);
      if (refusal) return apiError(400, 'SUB-525', `WebHook responds with an invalid reply: ${refusal}`);
      state.deliveryMode = { ...state.deliveryMode, address: mode.address };
    }
    if (typeof mode?.verificationToken === 'string') state.verificationToken = mode.verificationToken;
    if (Array.isArray(value.eventFilters) && value.eventFilters.length > 0) {
      state.eventFilters = value.eventFilters.filter(
        (filter): filter is string => typeof filter === 'string',
      );
    }
    const expiresIn =
      typeof value.expiresIn === 'number' ? Math.min(315_360_000, value.expiresIn) : state.expiresIn;
    state.expiresIn = expiresIn;
    state.expiresAtMs = nowMs() + expiresIn * 1000;
    return json(200, subscriptionView(state));
  }

  async function routeSubscription(method: string, rest: string, body: string): Promise<HttpReply> {
    if (rest === '' && method === 'POST') return createSubscription(body);
    if (rest === '' && method === 'GET') {
      return json(200, {
        uri: `${origins.api}/restapi/v1.0/subscription`,
        records: [...subscriptions.values()].map(subscriptionView),
      });
    }
    const match = /^\/([^/]+)(\/renew)?$/.exec(rest);
    const id = match?.[1] ? decodeURIComponent(match[1]) : '';
    const state = subscriptions.get(id);
    if (!match) return notFound('path');
    if (match[2] && method === 'POST') return updateSubscription(id, '', true);
    if (method === 'GET') return state ? json(200, subscriptionView(state)) : notFound('subscriptionId');
    if (method === 'PUT') return updateSubscription(id, body);
    if (method === 'DELETE') {
      if (!state) return notFound('subscriptionId');
      subscriptions.delete(id);
      return new HttpReply(204, '');
    }
    return apiError(405, 'SANDBOX-METHOD', 'Method not allowed');
  }

  /** Event filters of a subscription that select this event, honouring `statusCode` and `withRecordings`. */
  function matchingFilter(
    state: SubscriptionState,
    call: SandboxCall,
    statusCode: string,
  ): string | undefined {
    return state.eventFilters.find((filter) => {
      if (state.disabledFilters.some((disabled) => disabled.filter === filter)) return false;
      const url = new URL(filter, 'http://filter');
      const account = /^\/restapi\/v1\.0\/account\/([^/]+)\/telephony\/sessions$/.exec(url.pathname)?.[1];
      if (account !== '~' && account !== accountId) return false;
      const status = url.searchParams.get('statusCode');
      if (status && status !== statusCode) return false;
      if (url.searchParams.get('withRecordings') === 'true' && !call.recording) return false;
      return true;
    });
  }

  async function deliver(
    call: SandboxCall,
    statusCode: string,
    recordingActive: boolean,
  ): Promise<DeliveryResult[]> {
    call.sequence += 1;
    const results: DeliveryResult[] = [];
    for (const state of subscriptions.values()) {
      if (state.status !== 'Active' || state.expiresAtMs <= nowMs()) continue;
      const filter = matchingFilter(state, call, statusCode);
      if (!filter) continue;
      const event = telephonySessionEvent(call, {
        statusCode,
        recordingActive,
        sequence: call.sequence,
        eventTime: clock.now(),
        subscriptionId: state.id,
        accountId,
        eventFilter: filter.replace('/account/~/', `/account/${accountId}/`),
      });
      counters.deliveries += 1;
      const result: DeliveryResult = { subscriptionId: state.id, blacklisted: false };
      try {
        const response = await fetch(state.deliveryMode.address, {
          method: 'POST',
          headers: {
            'content-type': 'application/json; charset=UTF-8',
            'user-agent': 'RingCentral-Webhook/8.3',
            ...(state.verificationToken ? { [deliveryTokenHeader]: state.verificationToken } : {}),
          },
          body: JSON.stringify(event),
          signal: AbortSignal.timeout(3000),
        });
        await response.arrayBuffer();
        result.status = response.status;
      } catch (error) {
        result.error = (error as Error).message;
      }
      const ok = result.status !== undefined && result.status >= 200 && result.status < 300;
      state.failures = ok ? 0 : state.failures + 1;
      // Repeated failures blacklist the subscription for good: it must be deleted and created again.
      if (state.failures >= blacklistAfter) state.status = 'Blacklisted';
      result.blacklisted = state.status === 'Blacklisted';
      results.push(result);
    }
    return results;
  }

  // ------------------------------------------------------------ routing

  interface Routed {
    route: RingCentralRoute | 'call-log-delete' | 'other';
    group?: RateGroupName;
    recordingId?: string;
    /** Token requests are authenticated by the app's Basic credentials, not a Bearer token. */
    bearer: boolean;
    /** The app permission the endpoint needs. */
    permission?: string;
    handle: () => HttpReply | ContentReply | Promise<HttpReply>;
  }

  function accountMatches(id: string): boolean {
    return id === '~' || id === accountId;
  }

  function routeApi(method: string, url: URL, request: IncomingMessage, body: string): Routed | undefined {
    const path = url.pathname.replace(/\/+$/, '');
    if (path === '/restapi/oauth/token' && method === 'POST') {
      return {
        route: 'token',
        group: 'auth',
        bearer: false,
        handle: () => issueToken(request, new URLSearchParams(body)),
      };
    }
    const subscription = /^\/restapi\/v1\.0\/subscription(\/.*)?$/.exec(path);
    if (subscription) {
      return {
        route: 'subscription',
        group: 'medium',
        bearer: true,
        permission: 'SubscriptionWebhook',
        handle: () => routeSubscription(method, subscription[1] ?? '', body),
      };
    }
    const account = /^\/restapi\/v1\.0\/account\/([^/]+)(\/.*)$/.exec(path);
    if (!account) return undefined;
    const known = accountMatches(decodeURIComponent(account[1] ?? ''));
    const rest = account[2] ?? '';
    const guard = (reply: () => HttpReply | Promise<HttpReply>) => () =>
      known ? reply() : notFound('accountId');
    if (rest === '/call-log' && method === 'GET') {
      return {
        route: 'call-log',
        group: 'heavy',
        bearer: true,
        permission: 'ReadCallLog',
        handle: guard(() => listCallLog(url)),
      };
    }
    const extensionLog = /^\/extension\/([^/]+)\/call-log$/.exec(rest);
    if (extensionLog && method === 'GET') {
      const extensionId = decodeURIComponent(extensionLog[1] ?? '');
      return {
        route: 'call-log',
        group: 'heavy',
        bearer: true,
        handle: guard(() => listCallLog(url, extensionId)),
      };
    }
    if (/^(\/extension\/[^/]+)?\/call-log$/.test(rest) && method === 'DELETE') {
      return {
        route: 'call-log-delete',
        group: 'heavy',
        bearer: true,
        handle: () =>
          apiError(403, 'SANDBOX-REFUSED', 'call-log deletes are refused by the callvault sandbox'),
      };
    }
    if (rest === '/call-recordings' && method === 'DELETE') {
      let recordingId: string | undefined;
      try {
        const ids = (JSON.parse(body) as { records?: unknown[] }).records;
        recordingId = ids?.length === 1 ? String(ids[0]) : undefined;
      } catch {
        // Refused by the handler.
      }
      return {
        route: 'delete',
        group: 'heavy',
        recordingId,
        bearer: true,
        permission: 'EditCallLog',
        handle: guard(() => deleteRecordings(body)),
      };
    }
    if (rest === '/extension' && method === 'GET') {
      return {
        route: 'directory',
        group: 'medium',
        bearer: true,
        permission: 'ReadAccounts',
        handle: guard(() => listDirectory(url)),
      };
    }
    return undefined;
  }

  const contentGroup = options.contentRateGroup ?? 'heavy';

  function routeMedia(method: string, url: URL, request: IncomingMessage): Routed | undefined {
    const match = /^\/restapi\/v1\.0\/account\/([^/]+)\/recording\/([^/]+)\/content$/.exec(url.pathname);
    if (!match || (method !== 'GET' && method !== 'HEAD')) return undefined;
    if (method === 'HEAD' && options.contentHeadAllowed === false) {
      return {
        route: 'content',
        group: contentGroup,
        bearer: true,
        handle: () => apiError(405, 'SANDBOX-METHOD', 'Method not allowed'),
      };
    }
    const recordingId = decodeURIComponent(match[2] ?? '');
    const known = accountMatches(decodeURIComponent(match[1] ?? ''));
    return {
      route: 'content',
      group: contentGroup,
      recordingId,
      bearer: true,
      permission: 'ReadCallRecording',
      handle: () => (known ? content(recordingId, request, method) : notFound('accountId')),
    };
  }

  function countRoute(routed: Routed, method: string): void {
    if (routed.route === 'call-log') counters.callLogCalls += 1;
    else if (routed.route === 'content') {
      if (method === 'HEAD') counters.contentHeads += 1;
      else counters.contentRequests += 1;
    } else if (routed.route === 'delete') counters.deleteCalls += 1;
    else if (routed.route === 'call-log-delete') counters.callLogDeletes += 1;
    else if (routed.route === 'directory') counters.directoryCalls += 1;
  }

  function faultReply(fault: RingCentralFault, group: RateGroupName | undefined): HttpReply | undefined {
    switch (fault.kind) {
      case 'rate-limit': {
        const limit = rateLimits[group ?? 'heavy'];
        if (group) counters.throttled[group] += 1;
        return apiError(429, 'CMN-301', 'Request rate exceeded', {
          'x-rate-limit-group': group ?? 'heavy',
          'x-rate-limit-limit': String(limit.limit),
          'x-rate-limit-remaining': '0',
          'x-rate-limit-window': String(limit.windowSeconds),
          'retry-after': String(fault.retryAfterSeconds),
        });
      }
      case 'server-error':
        return apiError(fault.status ?? 503, 'SANDBOX-UNAVAILABLE', 'Service Temporary Unavailable');
      case 'unauthorized':
        return apiError(401, 'TokenInvalid', 'Invalid token');
      case 'not-found':
        return notFound('recordingId');
      case 'html-page':
        return new HttpReply(
          200,
          '<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>\n',
          { 'content-type': 'text/html; charset=utf-8' },
        );
      default:
        return undefined;
    }
  }

  async function handle(
    server: 'api' | 'media',
    request: IncomingMessage,
    response: ServerResponse,
  ): Promise<void> {
    counters.requests += 1;
    const url = new URL(request.url ?? '/', 'http://sandbox');
    const method = (request.method ?? 'GET').toUpperCase();
    const body = await readRequestBody(request);
    const entry: RequestLogEntry = {
      atMs: nowMs(),
      method,
      server,
      path: url.pathname,
      query: url.search,
      authorization: request.headers.authorization?.split(' ')[0],
      accept: request.headers.accept,
      route: 'other',
      status: 0,
    };
    requestLog.push(entry);
    const reply = async (answer: HttpReply | ContentReply, fault?: RingCentralFault, extraHeaders = {}) => {
      entry.status = answer instanceof ContentReply ? (answer.range ? 206 : 200) : answer.status;
      await writeReply(response, answer, fault, extraHeaders, options.mediaContentType ?? 'format');
    };

    const routed = server === 'api' ? routeApi(method, url, request, body) : routeMedia(method, url, request);
    if (!routed) return reply(notFound('path'));
    entry.route = routed.route;
    entry.group = routed.group;
    countRoute(routed, method);
    if (routed.bearer && !sessionOf(request)) {
      counters.unauthorizedRequests += 1;
      return reply(apiError(401, 'TokenInvalid', 'Invalid or expired access token'));
    }
    if (routed.permission && !permissions.has(routed.permission)) {
      return reply(insufficientPermissions(routed.permission));
    }
    const fault =
      routed.route === 'call-log-delete' || routed.route === 'other'
        ? undefined
        : faults.take(routed.route, routed.recordingId);
    const statusFault = fault ? faultReply(fault, routed.group) : undefined;
    if (statusFault) return reply(statusFault, fault);
    let rateHeaders: Record<string, string> = {};
    if (routed.group) {
      const check = rateCheck(routed.group);
      if (check.reply) return reply(check.reply);
      rateHeaders = check.headers;
    }
    return reply(await routed.handle(), fault, rateHeaders);
  }

  const serve = (server: 'api' | 'media') =>
    http.createServer((request, response) => {
      handle(server, request, response).catch((error: unknown) => {
        if (!response.headersSent) {
          response.writeHead(500, { 'content-type': 'application/json' });
          response.end(
            JSON.stringify({ errorCode: 'CMN-500', message: `sandbox error: ${(error as Error).message}` }),
          );
        } else {
          response.destroy();
        }
      });
    });
  const apiServer = serve('api');
  const mediaServer = serve('media');
  const listen = (server: http.Server, port = 0) =>
    new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, listenHost, () => resolve((server.address() as AddressInfo).port));
    });
  const apiPort = await listen(apiServer, options.port);
  const mediaPort = await listen(mediaServer, options.mediaPort);
  const hostInUrl = listenHost.includes(':') ? `[${listenHost}]` : listenHost;
  origins.api = `http://${hostInUrl}:${apiPort}`;
  origins.media = `http://${options.mediaHost ?? 'localhost'}:${mediaPort}`;

  function addCall(input: SandboxCallInput = {}): SandboxCall {
    serial += 1;
    const call = buildSandboxCall(input, {
      serial: `${apiPort}:${serial}`,
      now: clock.now(),
      extensions,
      defaultFormat: options.recordingFormat ?? 'mp3',
    });
    calls.set(call.telephonySessionId, call);
    if (call.recording) byRecording.set(call.recording.id, call);
    return call;
  }

  function requireCall(telephonySessionId: string): SandboxCall {
    const call = calls.get(telephonySessionId);
    if (!call) throw new Error(`sandbox holds no call ${telephonySessionId}`);
    return call;
  }

  function requireFile(recordingId: string) {
    const file = byRecording.get(recordingId)?.recording;
    if (!file) throw new Error(`sandbox holds no recording ${recordingId}`);
    return file;
  }

  return {
    url: origins.api,
    mediaUrl: origins.media,
    clientId,
    clientSecret,
    jwt,
    accountId,
    counters,
    requestLog,
    addCall,
    startCall: (input = {}) => addCall({ ...input, live: true }),
    generateCalls(generate) {
      const span = generate.to.getTime() - generate.from.getTime();
      const kinds = generate.kinds?.length ? generate.kinds : (['ringout', 'inbound', 'outbound'] as const);
      return Array.from({ length: generate.count }, (_, index) =>
        addCall({
          kind: kinds[index % kinds.length],
          startedAt: new Date(generate.from.getTime() + Math.floor((span * index) / generate.count)),
          durationSeconds: generate.durationSeconds ?? 30 + ((index * 37) % 300),
          size: generate.size,
        }),
      );
    },
    async hangUp(telephonySessionId, hangUpOptions = {}) {
      const call = requireCall(telephonySessionId);
      if (!call.hungUpAt) {
        call.hungUpAt = clock.now();
        call.durationSeconds = Math.max(
          0,
          Math.round((call.hungUpAt.getTime() - call.startedAt.getTime()) / 1000),
        );
      }
      if (hangUpOptions.deliver === false) return [];
      return deliver(call, 'Disconnected', false);
    },
    deliverEvent: (telephonySessionId, event) =>
      deliver(requireCall(telephonySessionId), event.statusCode, event.recordingActive ?? true),
    calls: () => [...calls.values()],
    callByRecordingId: (recordingId) => byRecording.get(recordingId),
    expireRecording: (recordingId) => removeFile(recordingId),
    deletedRecordingIds: () => [...deleted],
    expectedSha256: (recordingId) => recordingSha256(requireFile(recordingId)),
    recordingSize: (recordingId) => requireFile(recordingId).size,
    subscriptions: () => [...subscriptions.values()].map(subscriptionView),
    setSubscriptionStatus(id, status) {
      const state = subscriptions.get(id);
      if (!state) throw new Error(`sandbox holds no subscription ${id}`);
      state.status = status;
    },
    revokeTokens() {
      sessions = [];
    },
    refuseJwt(refused) {
      jwtRefused = refused;
    },
    setAccessTokenTtl(seconds) {
      accessTtlSeconds = seconds;
    },
    injectFault: (fault, target) => faults.inject(fault, target),
    refuseExtensionCallLog(extensionId, refused = true) {
      if (refused) refusedExtensions.add(extensionId);
      else refusedExtensions.delete(extensionId);
    },
    clearFaults: () => faults.clear(),
    close: () =>
      Promise.all(
        [apiServer, mediaServer].map(
          (server) =>
            new Promise<void>((resolve) => {
              server.close(() => resolve());
              // Stalled and slow downloads would otherwise hold the servers open.
              server.closeAllConnections();
            }),
        ),
      ).then(() => undefined),
  };
}

// ---------------------------------------------------------------- responses

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

/** The bytes `[start, end]` of a chunk sequence. */
function* sliceChunks(chunks: Iterable<Buffer>, start: number, end: number): Generator<Buffer> {
  let offset = 0;
  for (const chunk of chunks) {
    const from = Math.max(0, start - offset);
    const to = Math.min(chunk.length, end + 1 - offset);
    if (to > from) yield chunk.subarray(from, to);
    offset += chunk.length;
    if (offset > end) return;
  }
}

/** Writes a reply, shaping its body as a body fault says (reset, short, stall, slow). */
async function writeReply(
  response: ServerResponse,
  reply: HttpReply | ContentReply,
  fault: RingCentralFault | undefined,
  extraHeaders: Record<string, string>,
  mediaContentType: 'format' | 'generic',
): Promise<void> {
  let status: number;
  let headers: Record<string, string>;
  let length: number;
  let chunks: Iterable<Buffer>;
  if (reply instanceof ContentReply) {
    const file = reply.call.recording;
    const type = mediaContentType === 'generic' ? 'application/octet-stream' : contentTypeOf(file.format);
    headers = { 'content-type': type, 'accept-ranges': 'bytes', ...extraHeaders };
    if (reply.range) {
      status = 206;
      length = reply.range.end - reply.range.start + 1;
      headers['content-range'] = `bytes ${reply.range.start}-${reply.range.end}/${file.size}`;
      chunks = sliceChunks(recordingChunks(file), reply.range.start, reply.range.end);
    } else {
      status = 200;
      length = file.size;
      chunks = recordingChunks(file);
    }
    if (reply.headOnly) {
      response.writeHead(status, { ...headers, 'content-length': String(length) });
      response.end();
      return;
    }
  } else {
    const text = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
    const buffer = Buffer.from(text, 'utf8');
    status = reply.status;
    headers = { 'content-type': 'application/json; charset=utf-8', ...extraHeaders, ...reply.headers };
    length = buffer.length;
    chunks = [buffer];
    if (status === 204) {
      response.writeHead(status, extraHeaders);
      response.end();
      return;
    }
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
      await new Promise<void>((resolve) => response.write(slice, () => resolve()));
      sent += slice.length;
      piece = piece.subarray(slice.length);
      if (bytesPerSecond) {
        await new Promise((resolve) =>
          setTimeout(resolve, Math.max(100, Math.ceil((slice.length * 1000) / bytesPerSecond))),
        );
      }
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
