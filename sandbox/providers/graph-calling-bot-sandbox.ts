/**
 * An HTTP simulator of what a Microsoft Graph calling bot meets around `recordResponse`: the OpenID
 * configurations and JWKS that vouch for notification tokens, for both signers Microsoft uses (the Bot
 * Framework's, and Microsoft Entra's as login.microsoftonline.com publishes a tenant's), with key
 * rotation and a count of every key-endpoint request; a signer for those tokens; builders for the
 * `commsNotifications` documents (the current form and older ones without `resourceData.id`); and the
 * recording host: `GET recordingLocation` with the bearer
 * `recordingAccessToken`, answered chunked without Content-Length as `application/octet-stream`; the
 * token expires after a configurable time and the file is discarded after another. Faults are
 * switchable. It holds no real data and needs no network.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Clock } from '../../functions/core/ports';
import { systemClock } from '../../functions/core/ports';
import { syntheticWavChunks, syntheticWavSha256 } from './graph-calling-bot-sandbox-audio';
import { SandboxKeyRing, type SignOptions, signNotificationToken } from './graph-calling-bot-sandbox-tokens';

export type {
  NotificationSignerName,
  NotificationTokenFault,
  SignOptions,
} from './graph-calling-bot-sandbox-tokens';

export const SANDBOX_BOT_APP_ID = '7a6c3f52-1f1e-4d0c-9a53-2f8d9e4b6c10';
export const SANDBOX_TENANT_ID = '3f0b9c1e-8d4a-4e7b-b2a6-5c9d1e0f7a24';

export type GraphSandboxRoute = 'openid-configuration' | 'keys' | 'recording';

export type GraphSandboxFault =
  /** A 5xx answer (default 503). */
  | { kind: 'server-error'; status?: number }
  /** Status 200, `text/html`: an error page instead of audio. */
  | { kind: 'html-page' }
  /** Sends `afterBytes` (default half) of the body, then resets the connection. */
  | { kind: 'reset-mid-body'; afterBytes?: number }
  /** Throttles the whole body to `bytesPerSecond`. */
  | { kind: 'slow-body'; bytesPerSecond: number }
  /** Answers 401 as if the recording's token had expired, whatever its age. */
  | { kind: 'expired-token' }
  /** 429 with Retry-After (seconds), Graph's throttling answer ("Microsoft Graph throttling guidance"). */
  | { kind: 'throttle'; retryAfterSeconds: number };

export interface GraphSandboxOptions {
  /** Interface to listen on; default 127.0.0.1. */
  host?: string;
  /** Host name put into recording locations; default the listen address. */
  recordingHost?: string;
  botAppId?: string;
  tenantId?: string;
  /** Lifetime of recording access tokens; default 120 s. */
  recordingTokenTtlSeconds?: number;
  /** Recordings are discarded this long after they were made; default 600 s. */
  discardAfterSeconds?: number;
  /** Overrides the `jwks_uri` the OpenID configuration names (to simulate a foreign key host). */
  jwksUri?: string;
  /** Decides token times, expiry and discarding; default the system clock. */
  clock?: Clock;
}

export interface GraphSandboxCounters {
  requests: number;
  openIdConfigurationRequests: number;
  /** Requests to the JWKS (`jwks_uri`): what a verifier's key caching is judged by. */
  keySetRequests: number;
  /** Requests to the Entra signer's OpenID configuration and keys. */
  azureAdKeyRequests: number;
  recordingRequests: number;
  /** Downloads refused: no or wrong token (401), expired token (401), discarded file (404). */
  unauthorizedRecordingRequests: number;
  expiredTokenRequests: number;
  discardedRecordingRequests: number;
  /** Recording bodies sent in full. */
  completedDownloads: number;
  /** Recording requests answered 429 (the `throttle` fault). */
  throttledRecordingRequests: number;
}

export interface GraphSandboxRecording {
  operationId: string;
  callId: string;
  clientContext: string;
  recordingLocation: string;
  recordingAccessToken: string;
  size: number;
  sha256: string;
  createdAt: Date;
  tokenExpiresAt: Date;
  discardAt: Date;
}

export interface AddGraphRecordingInput {
  operationId?: string;
  callId?: string;
  clientContext?: string;
  /** Bytes of WAV; default 160,696 (the size in Microsoft's example). */
  size?: number;
  tokenTtlSeconds?: number;
  discardAfterSeconds?: number;
}

export interface ResultInfoInput {
  code: number;
  subcode: number;
  message: string;
}

export interface GraphSandbox {
  /** Origin of every route, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** The Bot Framework signer's OpenID configuration. */
  readonly openIdConfigurationUrl: string;
  /** The Entra (Azure AD) signer's: `/{tenantId}/.well-known/openid-configuration`, as login.microsoftonline.com. */
  readonly azureAdOpenIdConfigurationUrl: string;
  /** The issuer of Entra-signed tokens: `https://sts.windows.net/{tenantId}/`. */
  readonly azureAdIssuer: string;
  /** `notificationSigners` for a source config that accepts both of this sandbox's signers. */
  readonly notificationSigners: { openIdConfigurationUrl: string; issuers: string[] }[];
  /** The `host:port` recording locations use; what `allowedDownloadHosts` must list. */
  readonly recordingHostPort: string;
  readonly botAppId: string;
  readonly tenantId: string;
  readonly counters: Readonly<GraphSandboxCounters>;
  readonly keys: SandboxKeyRing;
  /** The Entra signer's keys, published at its own `jwks_uri`. */
  readonly azureAdKeys: SandboxKeyRing;
  /** A bearer token for one notification delivery, valid unless a fault says otherwise. */
  signNotificationToken(options?: SignOptions): Promise<string>;
  /** Publishes a new signing key and signs with it from now on; returns its `kid`. */
  rotateKeys(options?: { retirePrevious?: boolean }): Promise<string>;
  /** A recordResponse recording on the recording host. */
  addRecording(input?: AddGraphRecordingInput): GraphSandboxRecording;
  /** Discards a recording now (the platform drops it soon after the call). */
  discard(operationId: string): void;
  /** The `commsNotifications` body announcing that a recording operation completed. */
  completedNotification(
    recording: GraphSandboxRecording,
    resultInfo?: ResultInfoInput,
    variant?: NotificationVariant,
  ): string;
  injectFault(fault: GraphSandboxFault, target?: { routes?: GraphSandboxRoute[]; times?: number }): void;
  clearFaults(): void;
  close(): Promise<void>;
}

// ---------------------------------------------------------------- documents

/** Graph's notification ids: resourceUrl spells them upper case without dashes (seed 003). */
function urlId(guid: string): string {
  return guid.replaceAll('-', '').toUpperCase();
}

export function commsNotificationsBody(notifications: readonly unknown[]): string {
  return JSON.stringify({ '@odata.type': '#microsoft.graph.commsNotifications', value: notifications });
}

/**
 * How a notification spells the operation: `current` as the `call: recordResponse` example does (with
 * `resourceData.id`); `no-id` without `resourceData.id`; `older` without it and with `resource` (an
 * `/app/calls/…` path) instead of `resourceUrl`.
 */
export type NotificationVariant = 'current' | 'no-id' | 'older';

export interface RecordOperationNotificationInput {
  variant?: NotificationVariant;
  callId: string;
  operationId: string;
  clientContext?: string;
  status: 'running' | 'completed' | 'failed';
  resultInfo?: ResultInfoInput;
  recordingLocation?: string | null;
  recordingAccessToken?: string | null;
  completionReason?: string;
}

/** One `commsNotification` about a `recordOperation`, shaped like seed 003's example. */
export function recordOperationNotification(
  input: RecordOperationNotificationInput,
): Record<string, unknown> {
  const variant = input.variant ?? 'current';
  const root = variant === 'older' ? '/app/calls' : '/communications/calls';
  const path = `${root}/${urlId(input.callId)}/operations/${urlId(input.operationId)}`;
  const resourceData: Record<string, unknown> = {
    '@odata.type': '#microsoft.graph.recordOperation',
    '@odata.id': path,
    '@odata.etag': 'W/"54451"',
    ...(variant === 'current' ? { id: input.operationId } : {}),
    clientContext: input.clientContext ?? randomUUID(),
    status: input.status,
    resultInfo: input.resultInfo
      ? { '@odata.type': '#microsoft.graph.resultInfo', ...input.resultInfo }
      : null,
    recordingLocation: input.recordingLocation ?? null,
    recordingAccessToken: input.recordingAccessToken ?? null,
  };
  if (input.completionReason) resourceData.completionReason = input.completionReason;
  return {
    '@odata.type': '#microsoft.graph.commsNotification',
    changeType: input.status === 'running' ? 'updated' : 'deleted',
    ...(variant === 'older' ? { resource: path } : { resourceUrl: path }),
    resourceData,
  };
}

/**
 * The fields of a Graph calling bot source that point callvault at this sandbox: its bot, tenant, signer
 * and recording host, with media persistence approved (every test and bench archives).
 */
export function graphBotSourceFields(sandbox: GraphSandbox, id: string) {
  return {
    provider: 'msgraph' as const,
    id,
    botAppId: sandbox.botAppId,
    tenantId: sandbox.tenantId,
    openIdConfigurationUrl: sandbox.openIdConfigurationUrl,
    allowedDownloadHosts: [sandbox.recordingHostPort],
    mediaPersistenceApproved: true,
  };
}

/** A call state change (`established`, `terminated` …): nothing to archive. */
export function callStateNotification(callId: string, state: string): Record<string, unknown> {
  const path = `/communications/calls/${callId}`;
  return {
    '@odata.type': '#microsoft.graph.commsNotification',
    changeType: state === 'terminated' ? 'deleted' : 'updated',
    resourceUrl: path,
    resourceData: {
      '@odata.type': '#microsoft.graph.call',
      '@odata.id': path,
      state,
      callChainId: randomUUID(),
    },
  };
}

// ---------------------------------------------------------------- server

interface ArmedFault {
  fault: GraphSandboxFault;
  routes: ReadonlySet<GraphSandboxRoute>;
  remaining: number;
}

const BODY_FAULT_ROUTES: GraphSandboxRoute[] = ['recording'];

function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  response.end(text);
}

function graphError(
  response: ServerResponse,
  status: number,
  code: string,
  message: string,
  headers?: Record<string, string>,
): void {
  sendJson(
    response,
    status,
    { error: { code, message, innerError: { date: new Date().toISOString() } } },
    headers,
  );
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function write(response: ServerResponse, chunk: Buffer): Promise<void> {
  return new Promise((resolve) => {
    response.write(chunk, () => resolve());
  });
}

export async function startGraphSandbox(options: GraphSandboxOptions = {}): Promise<GraphSandbox> {
  const clock = options.clock ?? systemClock;
  const listenHost = options.host ?? '127.0.0.1';
  const botAppId = options.botAppId ?? SANDBOX_BOT_APP_ID;
  const tenantId = options.tenantId ?? SANDBOX_TENANT_ID;
  const keys = await SandboxKeyRing.create();
  const azureAdKeys = await SandboxKeyRing.create();
  const azureAdIssuer = `https://sts.windows.net/${tenantId}/`;
  const recordings = new Map<string, GraphSandboxRecording & { seed: string; discarded: boolean }>();
  let faults: ArmedFault[] = [];
  const counters: GraphSandboxCounters = {
    requests: 0,
    openIdConfigurationRequests: 0,
    keySetRequests: 0,
    azureAdKeyRequests: 0,
    recordingRequests: 0,
    unauthorizedRecordingRequests: 0,
    expiredTokenRequests: 0,
    discardedRecordingRequests: 0,
    completedDownloads: 0,
    throttledRecordingRequests: 0,
  };
  let origin = '';
  let recordingOrigin = '';

  function takeFault(route: GraphSandboxRoute): GraphSandboxFault | undefined {
    const entry = faults.find((candidate) => candidate.remaining > 0 && candidate.routes.has(route));
    if (!entry) return undefined;
    entry.remaining -= 1;
    if (entry.remaining <= 0) faults = faults.filter((candidate) => candidate !== entry);
    return entry.fault;
  }

  async function serveRecording(request: IncomingMessage, response: ServerResponse, id: string) {
    counters.recordingRequests += 1;
    const fault = takeFault('recording');
    if (fault?.kind === 'server-error') {
      return graphError(response, fault.status ?? 503, 'ServiceUnavailable', 'Service unavailable');
    }
    if (fault?.kind === 'throttle') {
      counters.throttledRecordingRequests += 1;
      return graphError(response, 429, 'TooManyRequests', 'Too many requests.', {
        'retry-after': String(fault.retryAfterSeconds),
      });
    }
    const recording = recordings.get(id);
    const presented = /^Bearer (\S+)$/i.exec(request.headers.authorization ?? '')?.[1];
    if (!recording || presented !== recording.recordingAccessToken) {
      counters.unauthorizedRecordingRequests += 1;
      // An unknown location and a wrong token look alike from outside, as they should.
      return graphError(response, 401, 'InvalidAuthenticationToken', 'Access token is invalid.');
    }
    if (fault?.kind === 'expired-token' || clock.now() >= recording.tokenExpiresAt) {
      counters.unauthorizedRecordingRequests += 1;
      counters.expiredTokenRequests += 1;
      return graphError(response, 401, 'InvalidAuthenticationToken', 'Access token has expired.');
    }
    if (recording.discarded || clock.now() >= recording.discardAt) {
      counters.unauthorizedRecordingRequests += 1;
      counters.discardedRecordingRequests += 1;
      return graphError(response, 404, 'ItemNotFound', 'The recording is no longer available.');
    }
    if (fault?.kind === 'html-page') {
      const page =
        '<!DOCTYPE html>\n<html><head><title>Service Unavailable</title></head><body><h1>Service Unavailable</h1></body></html>\n';
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      response.end(page);
      return;
    }
    // No Content-Length: Node sends the body chunked, as the real host does.
    response.writeHead(200, { 'content-type': 'application/octet-stream', date: clock.now().toUTCString() });
    const cutAt =
      fault?.kind === 'reset-mid-body'
        ? Math.min(fault.afterBytes ?? Math.floor(recording.size / 2), recording.size)
        : undefined;
    const bytesPerSecond = fault?.kind === 'slow-body' ? Math.max(1, fault.bytesPerSecond) : undefined;
    let closed = false;
    response.once('close', () => {
      closed = true;
    });
    let sent = 0;
    const startedAt = performance.now();
    for (const chunk of syntheticWavChunks(recording.seed, recording.size)) {
      let piece = cutAt !== undefined ? chunk.subarray(0, Math.max(0, cutAt - sent)) : chunk;
      while (piece.length > 0 && !closed) {
        const slice = bytesPerSecond
          ? piece.subarray(0, Math.max(1, Math.floor(bytesPerSecond / 10)))
          : piece;
        await write(response, slice);
        sent += slice.length;
        piece = piece.subarray(slice.length);
        // Paced on the bytes sent so far, so the rate holds whatever the chunk size.
        if (bytesPerSecond) await delay(startedAt + (sent * 1000) / bytesPerSecond - performance.now());
      }
      if (closed || (cutAt !== undefined && sent >= cutAt)) break;
    }
    if (closed) return;
    if (cutAt !== undefined) {
      response.socket?.resetAndDestroy();
      return;
    }
    response.end();
    counters.completedDownloads += 1;
  }

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    counters.requests += 1;
    const url = new URL(request.url ?? '/', 'http://sandbox');
    const method = (request.method ?? 'GET').toUpperCase();
    // Request bodies are never needed; drain them so keep-alive sockets stay usable.
    request.resume();
    if (method !== 'GET') return graphError(response, 405, 'MethodNotAllowed', 'GET only');
    if (url.pathname.toLowerCase() === '/v1/.well-known/openidconfiguration') {
      counters.openIdConfigurationRequests += 1;
      const fault = takeFault('openid-configuration');
      if (fault?.kind === 'server-error') return graphError(response, fault.status ?? 503, 'Unavailable', '');
      return sendJson(response, 200, {
        issuer: 'https://api.botframework.com',
        authorization_endpoint: 'https://invalid.botframework.com',
        jwks_uri: options.jwksUri ?? `${origin}/v1/keys`,
        id_token_signing_alg_values_supported: ['RS256'],
        token_endpoint_auth_methods_supported: ['private_key_jwt'],
      });
    }
    // The Entra signer, laid out as login.microsoftonline.com lays out a tenant's.
    if (url.pathname === `/${tenantId}/.well-known/openid-configuration`) {
      counters.azureAdKeyRequests += 1;
      return sendJson(response, 200, {
        issuer: azureAdIssuer,
        jwks_uri: `${origin}/${tenantId}/discovery/keys`,
        id_token_signing_alg_values_supported: ['RS256'],
      });
    }
    if (url.pathname === `/${tenantId}/discovery/keys`) {
      counters.azureAdKeyRequests += 1;
      return sendJson(response, 200, azureAdKeys.jwks());
    }
    if (url.pathname === '/v1/keys') {
      counters.keySetRequests += 1;
      const fault = takeFault('keys');
      if (fault?.kind === 'server-error') return graphError(response, fault.status ?? 503, 'Unavailable', '');
      return sendJson(response, 200, keys.jwks());
    }
    const recording = /^\/recordings\/([^/]+)$/.exec(url.pathname);
    if (recording) return serveRecording(request, response, decodeURIComponent(recording[1] ?? ''));
    return graphError(response, 404, 'NotFound', 'Not found');
  }

  const server = http.createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (!response.headersSent) graphError(response, 500, 'SandboxError', (error as Error).message);
      else response.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, listenHost, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const hostPart = listenHost.includes(':') ? `[${listenHost}]` : listenHost;
  origin = `http://${hostPart}:${port}`;
  const recordingHostPort = `${options.recordingHost ?? hostPart}:${port}`;
  recordingOrigin = `http://${recordingHostPort}`;
  const signer = { keys, clock, botAppId, tenantId };
  const azureAdSigner = { ...signer, keys: azureAdKeys, issuer: azureAdIssuer };
  const openIdConfigurationUrl = `${origin}/v1/.well-known/OpenIdConfiguration`;
  const azureAdOpenIdConfigurationUrl = `${origin}/${tenantId}/.well-known/openid-configuration`;

  return {
    url: origin,
    openIdConfigurationUrl,
    azureAdOpenIdConfigurationUrl,
    azureAdIssuer,
    notificationSigners: [
      { openIdConfigurationUrl, issuers: ['https://graph.microsoft.com', 'https://api.botframework.com'] },
      { openIdConfigurationUrl: azureAdOpenIdConfigurationUrl, issuers: [azureAdIssuer] },
    ],
    recordingHostPort,
    botAppId,
    tenantId,
    counters,
    keys,
    azureAdKeys,
    signNotificationToken: (signOptions) =>
      signNotificationToken(signOptions?.signer === 'azure-ad' ? azureAdSigner : signer, signOptions),
    rotateKeys: (rotation) => keys.rotate(rotation),
    addRecording(input = {}) {
      const operationId = input.operationId ?? randomUUID();
      if (recordings.has(operationId)) throw new Error(`sandbox already holds operation ${operationId}`);
      const size = input.size ?? 160_696;
      const seed = `${port}:${operationId}`;
      const createdAt = clock.now();
      const ttl = input.tokenTtlSeconds ?? options.recordingTokenTtlSeconds ?? 120;
      const keep = input.discardAfterSeconds ?? options.discardAfterSeconds ?? 600;
      const fileId = randomUUID();
      const recording = {
        operationId,
        callId: input.callId ?? randomUUID(),
        clientContext: input.clientContext ?? randomUUID(),
        recordingLocation: `${recordingOrigin}/recordings/${fileId}`,
        recordingAccessToken: `rat.${randomBytes(32).toString('base64url')}`,
        size,
        sha256: syntheticWavSha256(seed, size),
        createdAt,
        tokenExpiresAt: new Date(createdAt.getTime() + ttl * 1000),
        discardAt: new Date(createdAt.getTime() + keep * 1000),
        seed,
        discarded: false,
      };
      recordings.set(fileId, recording);
      const { seed: _seed, discarded: _discarded, ...visible } = recording;
      return visible;
    },
    discard(operationId) {
      for (const recording of recordings.values()) {
        if (recording.operationId === operationId) recording.discarded = true;
      }
    },
    completedNotification(recording, resultInfo, variant) {
      return commsNotificationsBody([
        recordOperationNotification({
          variant,
          callId: recording.callId,
          operationId: recording.operationId,
          clientContext: recording.clientContext,
          status: 'completed',
          resultInfo: resultInfo ?? {
            code: 200,
            subcode: 8515,
            message: 'Action completed, max record duration reached.',
          },
          recordingLocation: recording.recordingLocation,
          recordingAccessToken: recording.recordingAccessToken,
        }),
      ]);
    },
    injectFault(fault, target = {}) {
      const routes = target.routes ?? (fault.kind === 'server-error' ? ['recording'] : BODY_FAULT_ROUTES);
      faults.push({ fault, routes: new Set(routes), remaining: target.times ?? 1 });
    },
    clearFaults() {
      faults = [];
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
