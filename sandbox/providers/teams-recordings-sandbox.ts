/**
 * An HTTP simulator of what the Teams recordings source uses of Microsoft Graph, as documented: the Entra
 * token endpoint (client credentials), `/users` with paging, per-user `adhocCalls/getAllRecordings` and
 * `onlineMeetings/getAllRecordings` with their function parameters and `@odata.nextLink`, callRecording
 * metadata by user only (the paths the `callRecording: get` reference lists), `…/content` answered with
 * a 302 to a separate "SharePoint" host that serves generated MP4 bytes of any size, and subscriptions
 * on `/v1.0` or `/beta` (which versions offer which resource is an option) with the validation handshake
 * (both URLs), the 4,320-minute lifetime, `created` notifications in a chosen resource spelling
 * (`TeamsResourceSpelling`), and lifecycle events.
 * JSON batching (`POST /v1.0/$batch`, at most 20 requests, each answered on its own: a fault or refusal of
 * one, such as a 429 with its own Retry-After or a 403, leaves the others served; answers in any order).
 * A generated tenant (`generateTenant`) of any number of users with a number of recordings a day, made up
 * when asked for (users by index, a user's recordings by day), so 10,000 users and 50,000 recordings a
 * day cost no memory until listed; `listLatencyMs` gives each listing read Graph's server time, and the
 * counters keep the requests in flight at most.
 * Faults: 429/503 storms with Retry-After, resets mid-body, content not ready yet (processing), expired
 * recordings (metadata and content 404), the application access policy 403 (per user, optionally on one
 * kind's paths only), and 402 for metered meeting-recording content without billing. Used by tests and demos;
 * it holds no real data.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Clock } from '../../functions/core/ports';
import { systemClock } from '../../functions/core/ports';
import { syntheticMp4Chunks, syntheticMp4Sha256 } from './teams-recordings-sandbox-media';

export const SANDBOX_TEAMS_TENANT_ID = '2432b57b-0abd-43db-aa7b-16eadd115d34';
export const SANDBOX_TEAMS_CLIENT_ID = '9f3c2a41-7d5e-4b8a-a0c1-3e2f6d7b8c90';
export const MAX_SUBSCRIPTION_MINUTES = 4_320;
export const ACCESS_POLICY_MESSAGE = 'No application access policy found for this app.';

export type TeamsKind = 'adhocCalls' | 'onlineMeetings';
export type GraphVersion = 'v1.0' | 'beta';

/**
 * How a `created` notification spells its resource. Every one is a spelling Microsoft has shown or one
 * Graph's OData paths allow ("Get change notifications for Teams recordings and transcripts"):
 * - `docs` (default): `users/{id}/onlineMeetings('…')/recordings('…')`; for ad hoc calls
 *   `users/{id}/adhoccalls('…')/recordings('…')` with `@odata.id` `…/recordings(…)` (key unquoted);
 * - `doubled`: `users/{id}/adhoccalls/adhocCalls/{callId}/recordings('…')` (and `@odata.id` without the
 *   doubled segment);
 * - `tenant-wide`: `communications/{kind}('…')/recordings('…')`, no user (older revisions of the page);
 * - `odata-user`: `users('{id}')/{kind}('…')/recordings('…')`;
 * - `slashes`: `/v1.0/users/{id}/{kind}/{id}/recordings/{id}`, keys percent-encoded;
 * - `upper-beta`: `beta/USERS('{id}')/ADHOCCALLS('…')/RECORDINGS('…')` (any casing);
 * - `unreadable-user`: a path under the user that names no recording callvault can read;
 * - `unreadable`: a path that names neither a user nor a recording callvault can read.
 */
export type TeamsResourceSpelling =
  | 'docs'
  | 'doubled'
  | 'tenant-wide'
  | 'odata-user'
  | 'slashes'
  | 'upper-beta'
  | 'unreadable-user'
  | 'unreadable';

export const TEAMS_RESOURCE_SPELLINGS: readonly TeamsResourceSpelling[] = [
  'docs',
  'doubled',
  'tenant-wide',
  'odata-user',
  'slashes',
  'upper-beta',
  'unreadable-user',
  'unreadable',
];
export type TeamsRoute =
  | 'token'
  | 'users'
  | 'list'
  | 'metadata'
  | 'content'
  | 'download'
  | 'subscriptions'
  | 'batch';
export type LifecycleEventName = 'subscriptionRemoved' | 'reauthorizationRequired' | 'missed';

export type TeamsFault =
  /** 429 (default) or 503 with Retry-After, Graph's throttling answer. */
  | { kind: 'throttle'; status?: 429 | 503; retryAfterSeconds?: number }
  /** Sends `afterBytes` (default half) of the content, then resets the connection. */
  | { kind: 'reset-mid-body'; afterBytes?: number };

export interface TeamsFaultTarget {
  routes?: TeamsRoute | readonly TeamsRoute[];
  /** How many matching requests it affects; default 1, `Infinity` until cleared. */
  times?: number;
}

export interface TeamsSandboxUser {
  id: string;
  userPrincipalName: string;
  displayName: string;
  /** An application access policy covers this user; otherwise recordings answer 403. */
  policyGranted: boolean;
  /**
   * The kinds whose paths answer the policy 403 while `policyGranted` is false; default both. Graph
   * evaluates the policy on the user in the path, and a tenant seen in the field refused one user's
   * `onlineMeetings` paths only.
   */
  refusedKinds?: readonly TeamsKind[];
  /** No Teams account (a room, a shared mailbox): its recordings listings answer 404. */
  noTeamsAccount?: boolean;
}

/** A generated tenant: users by index, each user's recordings made up per UTC day when listed. */
export interface GeneratedTenantInput {
  users: number;
  /** Recordings a day across the tenant, spread over the users, both kinds alternately. */
  recordingsPerDay: number;
  /** Principal names are `user{index}@{domain}`; default `tenant.example`. */
  domain?: string;
  /** Bytes of each generated recording's content; default 64 KiB. */
  size?: number;
}

export interface GeneratedRecordingView {
  id: string;
  kind: TeamsKind;
  organizerId: string;
  createdDateTime: string;
}

/**
 * Metered-API billing of the app, for meeting-recording content (`callRecording: get` calls it metered):
 * `linked` serves it; `unlinked` answers 402 Payment Required; `evaluation-quota-spent` answers 402 naming
 * the spent evaluation quota. The error wording is the sandbox's own (Microsoft documents the status, not
 * the text), so callvault must not depend on it.
 */
export type TeamsMeteredBilling = 'linked' | 'unlinked' | 'evaluation-quota-spent';

export interface TeamsSandboxRecording {
  id: string;
  kind: TeamsKind;
  /** The organizer (meeting) or initiator (ad hoc call). */
  organizerId: string;
  /** The call id or meeting id. */
  containerId: string;
  createdDateTime: string;
  endDateTime: string;
  contentCorrelationId: string;
  size: number;
  seed: string;
  /** Content answers 404 until ready (Teams still processing it). */
  ready: boolean;
  /** Gone at Teams (expired or deleted): metadata and content answer 404, listings omit it. */
  expired: boolean;
}

export interface AddRecordingInput {
  kind?: TeamsKind;
  organizerId: string;
  createdAt: Date;
  durationSeconds?: number;
  size?: number;
  ready?: boolean;
  /** Reuse a call or meeting id (several recordings of one meeting). */
  containerId?: string;
  /** Shape the recording id (ids of one organizer share long prefixes at Teams). */
  id?: string;
}

export interface TeamsSubscriptionView {
  id: string;
  resource: string;
  /** The API version the subscription was created on (`v1.0` or `beta`). */
  apiVersion: GraphVersion;
  changeType: string;
  notificationUrl: string;
  lifecycleNotificationUrl?: string;
  expirationDateTime: string;
  clientState?: string;
  reauthorizations: number;
}

export interface TeamsDelivery {
  subscriptionId: string;
  status?: number;
  error?: string;
}

export interface TeamsRequestLogEntry {
  server: 'graph' | 'content';
  method: string;
  path: string;
  route: TeamsRoute | 'other';
  /** The Authorization scheme (`Bearer`), if any; never its value. */
  authorization?: string;
  /** The Accept header as sent. */
  accept?: string;
  status: number;
  /** One request of a `$batch` (its path is the one the batch named). */
  inBatch?: boolean;
  /** When the sandbox received it (wall clock, ms). */
  atMs?: number;
}

export interface TeamsSandboxCounters {
  tokenRequests: number;
  userRequests: number;
  listRequests: number;
  metadataRequests: number;
  contentRequests: number;
  downloads: number;
  throttled: number;
  validations: number;
  deliveries: number;
  /** Bytes the content host has written to sockets so far (all downloads). */
  contentBytesSent: number;
  /** HTTP requests the Graph host received (token requests excepted); a `$batch` counts once. */
  graphRequests: number;
  /** `$batch` requests, and the requests they carried. */
  batchRequests: number;
  batchedRequests: number;
  /** Most Graph HTTP requests (token requests excepted) being answered at once. */
  maxInFlight: number;
  /** Most recordings listings being answered at once, batched or not. */
  maxListsInFlight: number;
}

export interface TeamsSandboxOptions {
  host?: string;
  /** Host name of the content ("SharePoint") origin; default `localhost`, another name than Graph's. */
  contentHost?: string;
  tenantId?: string;
  clientId?: string;
  clientSecret?: string;
  /** Fixed ports (`npm run sandbox -- msteams`); default: free ones. */
  port?: number;
  contentPort?: number;
  accessTokenTtlSeconds?: number;
  /** Items per page of recording listings and of /users. Default 2, so paging is exercised. */
  pageSize?: number;
  /** Items per page of /users; default `pageSize`. */
  usersPageSize?: number;
  /** How long each recordings listing takes to answer (Graph's own time), batched or not. Default 0. */
  listLatencyMs?: number;
  /** How long a subscription's validation request may take. Default 10 s, Graph's figure. */
  validationTimeoutMs?: number;
  /**
   * The API versions on which each recording kind may be subscribed to; default both. Microsoft's examples
   * create ad hoc call subscriptions on `/beta` and meeting ones on `/v1.0`.
   */
  subscriptionVersions?: Partial<Record<TeamsKind, readonly GraphVersion[]>>;
  clock?: Clock;
}

export interface TeamsSandbox {
  /** Graph and login origin (`graphUrl`, `loginUrl`), e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** The content origin Graph redirects to, e.g. `http://localhost:41235`. */
  readonly contentUrl: string;
  readonly tenantId: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly counters: Readonly<TeamsSandboxCounters>;
  readonly requestLog: readonly TeamsRequestLogEntry[];
  addUser(input: {
    userPrincipalName: string;
    displayName?: string;
    policyGranted?: boolean;
    refusedKinds?: readonly TeamsKind[];
    id?: string;
  }): TeamsSandboxUser;
  /** `kinds`: refuse only these kinds' paths (default both) while not granted. */
  setPolicyGranted(userId: string, granted: boolean, options?: { kinds?: readonly TeamsKind[] }): void;
  /** Meeting-recording content answers 402 unless billing is `linked` (the default). */
  setMeteredBilling(state: TeamsMeteredBilling): void;
  addRecording(input: AddRecordingInput): TeamsSandboxRecording;
  /** Adds generated users after the ones added by hand (once per sandbox). */
  generateTenant(input: GeneratedTenantInput): void;
  /** The object id of generated user `index` (0-based). */
  generatedUserId(index: number): string;
  /** Every generated recording created inside the window and before now: what a full sweep must find. */
  generatedRecordings(window: { from: Date; to: Date }): Iterable<GeneratedRecordingView>;
  /** Graph answers this user's recordings listings 404 (no Teams account) while set. */
  setNoTeamsAccount(userId: string, missing: boolean): void;
  /** Starts counting `maxInFlight` and `maxListsInFlight` afresh. */
  resetPeaks(): void;
  recording(id: string): TeamsSandboxRecording;
  /** Teams finished processing: the content is served from now on. */
  setReady(id: string, ready: boolean): void;
  /** Teams' own expiry (120 days by default) or a deletion removed the recording. */
  expire(id: string): void;
  expectedSha256(id: string): string;
  subscriptions(): TeamsSubscriptionView[];
  /** Delivers a `created` notification for the recording to every matching subscription. */
  notifyRecording(
    id: string,
    options?: { withUser?: boolean; spelling?: TeamsResourceSpelling },
  ): Promise<TeamsDelivery[]>;
  /** The `resource` and `@odata.id` a notification of the recording carries in that spelling. */
  resourceOf(id: string, spelling: TeamsResourceSpelling): { resource: string; odataId: string };
  /** Sends a lifecycle notification to the subscription's lifecycle URL; `subscriptionRemoved` removes it. */
  sendLifecycleEvent(subscriptionId: string, event: LifecycleEventName): Promise<TeamsDelivery>;
  /** The sandbox's clock passed the expiry: the subscription is gone. */
  dropExpiredSubscriptions(): void;
  injectFault(fault: TeamsFault, target?: TeamsFaultTarget): { readonly hits: number; cancel(): void };
  clearFaults(): void;
  /**
   * Invalidates every access token issued so far, as Entra does when it revokes an app's tokens: Graph
   * answers them 401 InvalidAuthenticationToken until the app gets a new one.
   */
  revokeTokens(): void;
  close(): Promise<void>;
}

class Reply {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers: Record<string, string> = {},
  ) {}
}

const json = (status: number, body: unknown, headers?: Record<string, string>) =>
  new Reply(status, body, headers);
const graphError = (status: number, code: string, message: string, headers?: Record<string, string>) =>
  json(
    status,
    { error: { code, message, innerError: { date: new Date().toISOString(), 'request-id': randomUUID() } } },
    headers,
  );

const DEFAULT_FAULT_ROUTES: Record<TeamsFault['kind'], readonly TeamsRoute[]> = {
  throttle: ['users', 'list', 'metadata', 'content', 'subscriptions'],
  'reset-mid-body': ['download'],
};

const SUBSCRIBABLE: Record<string, TeamsKind> = {
  'communications/adhoccalls/getallrecordings': 'adhocCalls',
  'communications/onlinemeetings/getallrecordings': 'onlineMeetings',
};

/** A Teams-like opaque id: base64 of a long, organizer-prefixed string (~270 characters). */
function teamsId(prefix: string, unique: string): string {
  return Buffer.from(`${prefix}${unique}`, 'utf8').toString('base64');
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** POSTs JSON or plain text to a receiver; resolves with its status and body (never throws). */
function post(
  url: string,
  body: string,
  contentType: string,
  timeoutMs: number,
): Promise<{ status?: number; contentType?: string; text: string; error?: string }> {
  return new Promise((resolve) => {
    const request = http.request(url, {
      method: 'POST',
      headers: { 'content-type': contentType, 'content-length': String(Buffer.byteLength(body)) },
    });
    const timer = setTimeout(() => {
      request.destroy();
      resolve({ text: '', error: `no answer within ${timeoutMs} ms` });
    }, timeoutMs);
    request.on('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        clearTimeout(timer);
        resolve({
          status: response.statusCode,
          contentType: response.headers['content-type'],
          text: Buffer.concat(chunks).toString('utf8'),
        });
      });
      response.on('error', (error) => {
        clearTimeout(timer);
        resolve({ text: '', error: error.message });
      });
    });
    request.on('error', (error) => {
      clearTimeout(timer);
      resolve({ text: '', error: error.message });
    });
    request.end(body);
  });
}

interface SubscriptionState extends TeamsSubscriptionView {
  expiresAtMs: number;
}

export async function startTeamsSandbox(options: TeamsSandboxOptions = {}): Promise<TeamsSandbox> {
  const clock = options.clock ?? systemClock;
  const nowMs = () => clock.now().getTime();
  const tenantId = options.tenantId ?? SANDBOX_TEAMS_TENANT_ID;
  const clientId = options.clientId ?? SANDBOX_TEAMS_CLIENT_ID;
  const clientSecret = options.clientSecret ?? `sandbox~secret.${randomBytes(12).toString('base64url')}`;
  const tokenTtlSeconds = options.accessTokenTtlSeconds ?? 3599;
  const pageSize = options.pageSize ?? 2;
  const validationTimeoutMs = options.validationTimeoutMs ?? 10_000;
  const subscriptionVersions: Record<TeamsKind, readonly GraphVersion[]> = {
    adhocCalls: ['v1.0', 'beta'],
    onlineMeetings: ['v1.0', 'beta'],
    ...options.subscriptionVersions,
  };
  const listenHost = options.host ?? '127.0.0.1';

  const users = new Map<string, TeamsSandboxUser>();
  const recordings = new Map<string, TeamsSandboxRecording>();
  const order: string[] = [];
  const tokens = new Map<string, number>();
  const tempauth = new Map<string, string>();
  const subscriptionStates = new Map<string, SubscriptionState>();
  const requestLog: TeamsRequestLogEntry[] = [];
  const counters: TeamsSandboxCounters = {
    tokenRequests: 0,
    userRequests: 0,
    listRequests: 0,
    metadataRequests: 0,
    contentRequests: 0,
    downloads: 0,
    throttled: 0,
    validations: 0,
    deliveries: 0,
    contentBytesSent: 0,
    graphRequests: 0,
    batchRequests: 0,
    batchedRequests: 0,
    maxInFlight: 0,
    maxListsInFlight: 0,
  };
  const usersPageSize = options.usersPageSize ?? pageSize;
  const listLatencyMs = options.listLatencyMs ?? 0;
  const inFlight = { graph: 0, lists: 0 };
  let generated: Required<GeneratedTenantInput> | undefined;
  /** Generated users changed by the test (policy, Teams account); the rest are made up when asked for. */
  const generatedOverrides = new Map<number, TeamsSandboxUser>();
  let faults: { fault: TeamsFault; routes: Set<TeamsRoute>; remaining: number; hits: number }[] = [];
  let serial = 0;
  let meteredBilling: TeamsMeteredBilling = 'linked';
  const origins = { graph: '', content: '' };

  const userOf = (idOrUpn: string): TeamsSandboxUser | undefined =>
    users.get(idOrUpn.toLowerCase()) ??
    generatedUser(generatedIndexOf(idOrUpn)) ??
    [...users.values()].find((user) => user.userPrincipalName.toLowerCase() === idOrUpn.toLowerCase());

  // ------------------------------------------------------------ generated tenant

  const GENERATED_ID_PREFIX = '7e4a0000-0000-4000-8000-';
  const generatedId = (index: number) => `${GENERATED_ID_PREFIX}${index.toString(16).padStart(12, '0')}`;

  /** The index of a generated user named by object id or principal name; undefined for anyone else. */
  function generatedIndexOf(idOrUpn: string): number | undefined {
    if (!generated) return undefined;
    const text = idOrUpn.toLowerCase();
    let index: number | undefined;
    if (text.startsWith(GENERATED_ID_PREFIX) && /^[0-9a-f]{12}$/.test(text.slice(GENERATED_ID_PREFIX.length)))
      index = Number.parseInt(text.slice(GENERATED_ID_PREFIX.length), 16);
    const upn = /^user(\d+)@(.+)$/.exec(text);
    if (upn && upn[2] === generated.domain.toLowerCase()) index = Number(upn[1]);
    return index !== undefined && index < generated.users ? index : undefined;
  }

  function generatedUser(index: number | undefined): TeamsSandboxUser | undefined {
    if (index === undefined || !generated) return undefined;
    return (
      generatedOverrides.get(index) ?? {
        id: generatedId(index),
        userPrincipalName: `user${index}@${generated.domain}`,
        displayName: `User ${index}`,
        policyGranted: true,
      }
    );
  }

  /** A small integer hash (splitmix-like), so a generated day looks irregular and is the same every time. */
  function mix(a: number, b: number, c: number): number {
    let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x632be5ab, 0xc2b2ae35) ^ (c * 0x27d4eb2f);
    h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
    h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
    return (h ^ (h >>> 16)) >>> 0;
  }

  const DAY_MS = 86_400_000;

  /** How many recordings generated user `index` has on UTC day `day`: the day's total spread evenly. */
  function generatedCount(index: number, day: number): number {
    if (!generated) return 0;
    const { users: count, recordingsPerDay } = generated;
    const base = Math.floor(recordingsPerDay / count);
    const extra = recordingsPerDay % count;
    const turn = (((index + day * 7919) % count) + count) % count;
    return base + (turn < extra ? 1 : 0);
  }

  function generatedCreatedMs(index: number, day: number, serialOfDay: number): number {
    return day * DAY_MS + (mix(index, day, serialOfDay) % 86_400) * 1000;
  }

  function generatedRecording(index: number, day: number, serialOfDay: number): TeamsSandboxRecording {
    const tenant = generated as Required<GeneratedTenantInput>;
    const organizerId = generatedId(index);
    const kind: TeamsKind = (index + day + serialOfDay) % 2 === 0 ? 'onlineMeetings' : 'adhocCalls';
    const hash = mix(index, day, serialOfDay);
    const createdMs = generatedCreatedMs(index, day, serialOfDay);
    const durationSeconds = 300 + (hash % 3_300);
    const tag = `gen-${index}-${day}-${serialOfDay}`;
    const prefix = `VjIjIzE${organizerId}${tenantId}${'0'.repeat(60)}${kind}`;
    const hex = (value: number, width: number) => value.toString(16).padStart(width, '0').slice(-width);
    return {
      id: teamsId(prefix, `#${tag}-Recording`),
      kind,
      organizerId,
      containerId:
        kind === 'onlineMeetings'
          ? Buffer.from(`1*${organizerId}*0**19:meeting_${tag}@thread.v2`).toString('base64')
          : `ca11${hex(serialOfDay, 4)}-${hex(day, 4)}-4000-8000-${hex(index, 12)}`,
      createdDateTime: new Date(createdMs).toISOString(),
      endDateTime: new Date(createdMs + durationSeconds * 1000).toISOString(),
      contentCorrelationId: `${hex(hash, 8)}-0000-4000-8000-${hex(index, 12)}-${tag}`,
      size: tenant.size,
      seed: `generated:${tag}`,
      ready: true,
      expired: false,
    };
  }

  /** A generated recording named by id, kept once asked for (so setReady and expire stick). */
  function generatedById(id: string): TeamsSandboxRecording | undefined {
    if (!generated) return undefined;
    let text: string;
    try {
      text = Buffer.from(id, 'base64').toString('utf8');
    } catch {
      return undefined;
    }
    const match = /#gen-(\d+)-(\d+)-(\d+)-Recording$/.exec(text);
    if (!match) return undefined;
    const [index, day, serialOfDay] = [Number(match[1]), Number(match[2]), Number(match[3])];
    if (index >= generated.users || serialOfDay >= generatedCount(index, day)) return undefined;
    const made = generatedRecording(index, day, serialOfDay);
    if (made.id !== id) return undefined;
    recordings.set(id, made);
    return made;
  }

  /** Generated user `index`'s recordings created in [fromMs, toMs) and before now, oldest first. */
  function* generatedOf(index: number, fromMs: number, toMs: number): Iterable<TeamsSandboxRecording> {
    const until = Math.min(toMs, nowMs());
    // No start given: Teams keeps recordings 120 days by default.
    const since = Number.isFinite(fromMs) ? fromMs : until - 120 * DAY_MS;
    for (let day = Math.floor(since / DAY_MS); day * DAY_MS < until; day++) {
      const made: TeamsSandboxRecording[] = [];
      for (let serialOfDay = 0; serialOfDay < generatedCount(index, day); serialOfDay++) {
        // Made up only when inside the window: a listing costs what it returns.
        const created = generatedCreatedMs(index, day, serialOfDay);
        if (created < since || created >= until) continue;
        const candidate = generatedRecording(index, day, serialOfDay);
        made.push(recordings.get(candidate.id) ?? candidate);
      }
      made.sort((a, b) => Date.parse(a.createdDateTime) - Date.parse(b.createdDateTime));
      yield* made;
    }
  }

  const lookupRecording = (id: string) => recordings.get(id) ?? generatedById(id);

  function takeFault(route: TeamsRoute): TeamsFault | undefined {
    const entry = faults.find((candidate) => candidate.remaining > 0 && candidate.routes.has(route));
    if (!entry) return undefined;
    entry.remaining -= 1;
    entry.hits += 1;
    if (entry.remaining <= 0) faults = faults.filter((candidate) => candidate !== entry);
    return entry.fault;
  }

  function metadataOf(recording: TeamsSandboxRecording): Record<string, unknown> {
    const user = userOf(recording.organizerId);
    const path = `users/${recording.organizerId}/${recording.kind}/${recording.containerId}/recordings/${recording.id}`;
    return {
      '@odata.type': '#microsoft.graph.callRecording',
      id: recording.id,
      ...(recording.kind === 'adhocCalls'
        ? { callId: recording.containerId }
        : { meetingId: recording.containerId }),
      contentCorrelationId: recording.contentCorrelationId,
      createdDateTime: recording.createdDateTime,
      endDateTime: recording.endDateTime,
      recordingContentUrl: `${origins.graph}/v1.0/${path}/content`,
      meetingOrganizer: {
        application: null,
        device: null,
        user: {
          '@odata.type': '#microsoft.graph.teamworkUserIdentity',
          id: recording.organizerId,
          displayName: user?.displayName ?? null,
          userIdentityType: 'aadUser',
          tenantId,
        },
      },
    };
  }

  // ------------------------------------------------------------ routes

  function token(form: URLSearchParams, path: string): Reply {
    counters.tokenRequests += 1;
    if (path !== `/${tenantId}/oauth2/v2.0/token`) {
      return json(400, {
        error: 'invalid_request',
        error_description: `AADSTS90002: Tenant '${path.split('/')[1]}' not found.`,
      });
    }
    if (form.get('grant_type') !== 'client_credentials') {
      return json(400, {
        error: 'unsupported_grant_type',
        error_description: 'AADSTS70003: unsupported grant type',
      });
    }
    if (form.get('client_id') !== clientId) {
      return json(400, {
        error: 'unauthorized_client',
        error_description: `AADSTS700016: Application with identifier '${form.get('client_id')}' was not found in the directory.`,
      });
    }
    if (form.get('client_secret') !== clientSecret) {
      return json(401, {
        error: 'invalid_client',
        error_description: 'AADSTS7000215: Invalid client secret provided.',
      });
    }
    if (form.get('scope') !== `${origins.graph}/.default`) {
      return json(400, {
        error: 'invalid_scope',
        error_description: 'AADSTS1002012: The provided value for scope is not valid.',
      });
    }
    const accessToken = `eyJ0eXAiOiJKV1Qi.${randomBytes(24).toString('base64url')}`;
    tokens.set(accessToken, nowMs() + tokenTtlSeconds * 1000);
    return json(200, {
      token_type: 'Bearer',
      expires_in: tokenTtlSeconds,
      ext_expires_in: tokenTtlSeconds,
      access_token: accessToken,
    });
  }

  function authorised(request: IncomingMessage): boolean {
    const bearer = /^Bearer (\S+)$/i.exec(request.headers.authorization ?? '')?.[1];
    const expiresAt = bearer ? tokens.get(bearer) : undefined;
    return expiresAt !== undefined && expiresAt > nowMs();
  }

  function page(items: unknown[], url: URL, context: string): Reply {
    const skip = Number(url.searchParams.get('$skiptoken') ?? '0') || 0;
    const slice = items.slice(skip, skip + pageSize);
    const body: Record<string, unknown> = { '@odata.context': context, value: slice };
    if (skip + pageSize < items.length) {
      const next = new URL(url.href);
      next.searchParams.set('$skiptoken', String(skip + pageSize));
      body['@odata.nextLink'] = `${origins.graph}${next.pathname}${next.search}`;
    }
    return json(200, body);
  }

  /** A page of /users: the users added by hand, then the generated ones, made up for this page only. */
  function usersPage(url: URL): Reply {
    const explicit = [...users.values()];
    const total = explicit.length + (generated?.users ?? 0);
    const skip = Number(url.searchParams.get('$skiptoken') ?? '0') || 0;
    const value: Record<string, unknown>[] = [];
    for (let at = skip; at < Math.min(total, skip + usersPageSize); at++) {
      const user = at < explicit.length ? explicit[at] : generatedUser(at - explicit.length);
      if (user)
        value.push({ id: user.id, userPrincipalName: user.userPrincipalName, displayName: user.displayName });
    }
    const body: Record<string, unknown> = {
      '@odata.context': `${origins.graph}/v1.0/$metadata#users`,
      value,
    };
    if (skip + usersPageSize < total) {
      const next = new URL(url.href);
      next.searchParams.set('$skiptoken', String(skip + usersPageSize));
      body['@odata.nextLink'] = `${origins.graph}${next.pathname}${next.search}`;
    }
    return json(200, body);
  }

  function policyRefusal(user: TeamsSandboxUser | undefined, kind: TeamsKind): Reply | undefined {
    if (user && !user.policyGranted && (user.refusedKinds ?? [kind]).includes(kind))
      return graphError(403, 'Forbidden', ACCESS_POLICY_MESSAGE);
    return undefined;
  }

  function meteredRefusal(kind: TeamsKind): Reply | undefined {
    if (kind !== 'onlineMeetings' || meteredBilling === 'linked') return undefined;
    return meteredBilling === 'unlinked'
      ? graphError(
          402,
          'PaymentRequired',
          'Payment Required. This API is metered: the application has no billing set up for it.',
        )
      : graphError(
          402,
          'PaymentRequired',
          'Payment Required. The evaluation quota of this metered API is spent for the application this month.',
        );
  }

  /** `getAllRecordings(userId='…',startDateTime=…,endDateTime=…)` parameters. */
  function functionParameters(text: string): Map<string, string> {
    const parameters = new Map<string, string>();
    for (const part of text.split(',')) {
      const [name, ...rest] = part.split('=');
      if (!name || rest.length === 0) continue;
      parameters.set(
        name.trim(),
        rest
          .join('=')
          .trim()
          .replace(/^'(.*)'$/, '$1')
          .replace(/''/g, "'"),
      );
    }
    return parameters;
  }

  /** A listing takes Graph's time (`listLatencyMs`); the listings being answered at once are counted. */
  async function timedList(
    kind: TeamsKind,
    userRef: string,
    parameterText: string,
    url: URL,
  ): Promise<Reply> {
    inFlight.lists += 1;
    counters.maxListsInFlight = Math.max(counters.maxListsInFlight, inFlight.lists);
    try {
      if (listLatencyMs > 0) await new Promise((resolve) => setTimeout(resolve, listLatencyMs));
      return list(kind, userRef, parameterText, url);
    } finally {
      inFlight.lists -= 1;
    }
  }

  function list(kind: TeamsKind, userRef: string, parameterText: string, url: URL): Reply {
    counters.listRequests += 1;
    const user = userOf(userRef);
    if (!user) return graphError(404, 'NotFound', `User ${userRef} not found`);
    if (user.noTeamsAccount) return graphError(404, 'NotFound', `User ${userRef} has no Teams account`);
    const refusal = policyRefusal(user, kind);
    if (refusal) return refusal;
    const parameters = functionParameters(parameterText);
    const organizer = parameters.get(kind === 'adhocCalls' ? 'userId' : 'meetingOrganizerUserId');
    if (!organizer) {
      return graphError(
        400,
        'BadRequest',
        `The ${kind === 'adhocCalls' ? 'userId' : 'meetingOrganizerUserId'} parameter is required.`,
      );
    }
    const organizerUser = userOf(organizer);
    const fromMs = parameters.has('startDateTime')
      ? Date.parse(parameters.get('startDateTime') ?? '')
      : Number.NEGATIVE_INFINITY;
    const toMs = parameters.has('endDateTime')
      ? Date.parse(parameters.get('endDateTime') ?? '')
      : Number.POSITIVE_INFINITY;
    if (Number.isNaN(fromMs) || Number.isNaN(toMs))
      return graphError(400, 'BadRequest', 'Invalid DateTimeOffset parameter.');
    const items = order
      .map((id) => recordings.get(id) as TeamsSandboxRecording)
      .filter(
        (recording) =>
          recording.kind === kind &&
          !recording.expired &&
          recording.organizerId === organizerUser?.id &&
          Date.parse(recording.createdDateTime) >= fromMs &&
          Date.parse(recording.createdDateTime) < toMs,
      );
    const index = generatedIndexOf(organizerUser?.id ?? '');
    if (index !== undefined) {
      for (const recording of generatedOf(index, fromMs, toMs)) {
        if (recording.kind === kind && !recording.expired) items.push(recording);
      }
    }
    return page(items.map(metadataOf), url, `${origins.graph}/v1.0/$metadata#Collection(callRecording)`);
  }

  function findRecording(kind: TeamsKind, containerId: string, recordingId: string) {
    const recording = lookupRecording(recordingId);
    if (!recording || recording.kind !== kind || recording.containerId !== containerId || recording.expired)
      return undefined;
    return recording;
  }

  function recordingRoute(
    kind: TeamsKind,
    userRef: string | undefined,
    containerId: string,
    recordingId: string,
    content: boolean,
  ): Reply {
    if (content) counters.contentRequests += 1;
    else counters.metadataRequests += 1;
    const user = userRef === undefined ? undefined : userOf(userRef);
    if (userRef !== undefined && !user) return graphError(404, 'NotFound', `User ${userRef} not found`);
    const recording = findRecording(kind, containerId, recordingId);
    const refusal = policyRefusal(user ?? (recording ? userOf(recording.organizerId) : undefined), kind);
    if (refusal) return refusal;
    if (!recording || (user && recording.organizerId !== user.id)) {
      return graphError(404, 'NotFound', 'The requested recording was not found.');
    }
    if (!content)
      return json(200, {
        '@odata.context': `${origins.graph}/v1.0/$metadata#callRecording`,
        ...metadataOf(recording),
      });
    if (!recording.ready) return graphError(404, 'NotFound', 'Recording content is not available yet.');
    const metered = meteredRefusal(kind);
    if (metered) return metered;
    const auth = randomBytes(18).toString('base64url');
    tempauth.set(auth, recording.id);
    const unique = createHash('sha256').update(recording.id).digest('hex').slice(0, 32);
    return new Reply(302, '', {
      location: `${origins.content}/personal/sandbox/_layouts/15/download.aspx?UniqueId=${unique}&tempauth=${auth}`,
    });
  }

  async function createSubscription(body: string, version: GraphVersion): Promise<Reply> {
    let input: Record<string, unknown>;
    try {
      input = JSON.parse(body) as Record<string, unknown>;
    } catch {
      return graphError(400, 'BadRequest', 'Invalid request body.');
    }
    const resource = String(input.resource ?? '').replace(/^\/+/, '');
    const kind = SUBSCRIBABLE[resource.toLowerCase()];
    if (!kind || !subscriptionVersions[kind].includes(version)) {
      return graphError(400, 'ExtensionError', `Resource '${resource}' is not supported.`);
    }
    if (input.changeType !== 'created')
      return graphError(400, 'ExtensionError', 'Only changeType created is supported.');
    const expiresAtMs = Date.parse(String(input.expirationDateTime ?? ''));
    if (Number.isNaN(expiresAtMs) || expiresAtMs <= nowMs()) {
      return graphError(400, 'ExtensionError', 'expirationDateTime must be in the future.');
    }
    if (expiresAtMs > nowMs() + MAX_SUBSCRIPTION_MINUTES * 60_000) {
      return graphError(
        400,
        'ExtensionError',
        `Subscription expiration can only be ${MAX_SUBSCRIPTION_MINUTES} minutes in the future.`,
      );
    }
    const notificationUrl = typeof input.notificationUrl === 'string' ? input.notificationUrl : '';
    const lifecycleUrl =
      typeof input.lifecycleNotificationUrl === 'string' ? input.lifecycleNotificationUrl : undefined;
    if (!lifecycleUrl && expiresAtMs > nowMs() + 3_600_000) {
      return graphError(
        400,
        'ValidationError',
        'lifecycleNotificationUrl is required for subscription creation on this resource when the expirationDateTime value exceeds 1 hour.',
      );
    }
    for (const url of [notificationUrl, ...(lifecycleUrl ? [lifecycleUrl] : [])]) {
      const validationToken = `Validation: Testing client application reachability for subscription Request-Id: ${randomUUID()}`;
      counters.validations += 1;
      const target = new URL(url);
      target.searchParams.set('validationToken', validationToken);
      const answer = await post(target.href, '', 'text/plain; charset=utf-8', validationTimeoutMs);
      const ok =
        answer.status === 200 &&
        /^text\/plain/i.test(answer.contentType ?? '') &&
        answer.text === validationToken;
      if (!ok) {
        return graphError(
          400,
          'ValidationError',
          `Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request. (${answer.error ?? `HTTP ${answer.status}`})`,
        );
      }
    }
    const state: SubscriptionState = {
      id: randomUUID(),
      resource,
      apiVersion: version,
      changeType: 'created',
      notificationUrl,
      lifecycleNotificationUrl: lifecycleUrl,
      expirationDateTime: new Date(expiresAtMs).toISOString(),
      expiresAtMs,
      clientState: typeof input.clientState === 'string' ? input.clientState : undefined,
      reauthorizations: 0,
    };
    subscriptionStates.set(state.id, state);
    return json(201, subscriptionBody(state));
  }

  function subscriptionBody(state: SubscriptionState): Record<string, unknown> {
    // Graph never returns the clientState it holds.
    return {
      '@odata.context': `${origins.graph}/v1.0/$metadata#subscriptions/$entity`,
      id: state.id,
      resource: state.resource,
      applicationId: clientId,
      changeType: state.changeType,
      clientState: null,
      notificationUrl: state.notificationUrl,
      lifecycleNotificationUrl: state.lifecycleNotificationUrl ?? null,
      expirationDateTime: state.expirationDateTime,
      includeResourceData: false,
    };
  }

  function updateSubscription(id: string, body: string): Reply {
    const state = subscriptionStates.get(id);
    if (!state) return graphError(404, 'ResourceNotFound', 'The object was not found.');
    let input: Record<string, unknown> = {};
    try {
      input = JSON.parse(body) as Record<string, unknown>;
    } catch {
      return graphError(400, 'BadRequest', 'Invalid request body.');
    }
    const expiresAtMs = Date.parse(String(input.expirationDateTime ?? ''));
    if (
      Number.isNaN(expiresAtMs) ||
      expiresAtMs <= nowMs() ||
      expiresAtMs > nowMs() + MAX_SUBSCRIPTION_MINUTES * 60_000
    ) {
      return graphError(400, 'ExtensionError', 'Invalid expirationDateTime.');
    }
    state.expiresAtMs = expiresAtMs;
    state.expirationDateTime = new Date(expiresAtMs).toISOString();
    state.reauthorizations += 1;
    return json(200, subscriptionBody(state));
  }

  async function routeGraph(
    method: string,
    url: URL,
    body: string,
  ): Promise<
    { route: TeamsRoute | 'other'; handle: () => Reply | Promise<Reply>; bearer: boolean } | undefined
  > {
    const path = url.pathname;
    if (method === 'POST' && /\/oauth2\/v2\.0\/token$/.test(path)) {
      return { route: 'token', bearer: false, handle: () => token(new URLSearchParams(body), path) };
    }
    let decoded: string;
    try {
      decoded = decodeURIComponent(path);
    } catch {
      return undefined;
    }
    if (method === 'GET' && path === '/v1.0/users') {
      return {
        route: 'users',
        bearer: true,
        handle: () => {
          counters.userRequests += 1;
          return usersPage(url);
        },
      };
    }
    const segments = path
      .split('/')
      .slice(1)
      .map((segment) => {
        try {
          return decodeURIComponent(segment);
        } catch {
          return segment;
        }
      });
    if (method === 'GET' && segments.length === 3 && segments[0] === 'v1.0' && segments[1] === 'users') {
      return {
        route: 'users',
        bearer: true,
        handle: () => {
          counters.userRequests += 1;
          const user = userOf(segments[2] ?? '');
          if (!user)
            return graphError(404, 'Request_ResourceNotFound', `Resource '${segments[2]}' does not exist.`);
          return json(200, {
            id: user.id,
            userPrincipalName: user.userPrincipalName,
            displayName: user.displayName,
          });
        },
      };
    }
    const listing = /^\/v1\.0\/users\/([^/]+)\/(adhocCalls|onlineMeetings)\/getAllRecordings\((.*)\)$/.exec(
      decoded,
    );
    if (method === 'GET' && listing) {
      const [, userRef, kind, parameters] = listing;
      return {
        route: 'list',
        bearer: true,
        handle: () => timedList(kind as TeamsKind, userRef ?? '', parameters ?? '', url),
      };
    }
    // Only through a user, as the `callRecording: get` reference lists it; `/communications/{kind}/…` is
    // not documented there, so the sandbox does not serve it.
    if (method === 'POST' && path === '/v1.0/$batch') {
      return { route: 'batch', bearer: true, handle: () => batch(body) };
    }
    const byUser = segments[0] === 'v1.0' && segments[1] === 'users';
    if (method === 'GET' && byUser) {
      const rest = segments.slice(3);
      const [kind, containerId, recordingsWord, recordingId, contentWord, ...extra] = rest;
      if (
        (kind === 'adhocCalls' || kind === 'onlineMeetings') &&
        containerId &&
        recordingsWord === 'recordings' &&
        recordingId &&
        (contentWord === undefined || contentWord === 'content') &&
        extra.length === 0
      ) {
        const content = contentWord === 'content';
        return {
          route: content ? 'content' : 'metadata',
          bearer: true,
          handle: () => recordingRoute(kind, segments[2], containerId, recordingId, content),
        };
      }
    }
    const created = /^\/(v1\.0|beta)\/subscriptions$/.exec(path);
    if (created && method === 'POST') {
      const version = created[1] as GraphVersion;
      return { route: 'subscriptions', bearer: true, handle: () => createSubscription(body, version) };
    }
    if (path === '/v1.0/subscriptions' && method === 'GET') {
      return {
        route: 'subscriptions',
        bearer: true,
        handle: () =>
          page(
            [...subscriptionStates.values()].map(subscriptionBody),
            url,
            `${origins.graph}/v1.0/$metadata#subscriptions`,
          ),
      };
    }
    const subscription = /^\/v1\.0\/subscriptions\/([^/]+)(\/reauthorize)?$/.exec(path);
    if (subscription?.[1]) {
      const id = decodeURIComponent(subscription[1]);
      if (subscription[2] && method === 'POST') {
        return {
          route: 'subscriptions',
          bearer: true,
          handle: () => {
            const state = subscriptionStates.get(id);
            if (!state) return graphError(404, 'ResourceNotFound', 'The object was not found.');
            state.reauthorizations += 1;
            return new Reply(204, '');
          },
        };
      }
      if (method === 'PATCH')
        return { route: 'subscriptions', bearer: true, handle: () => updateSubscription(id, body) };
      if (method === 'DELETE') {
        return {
          route: 'subscriptions',
          bearer: true,
          handle: () =>
            subscriptionStates.delete(id)
              ? new Reply(204, '')
              : graphError(404, 'ResourceNotFound', 'The object was not found.'),
        };
      }
      if (method === 'GET') {
        return {
          route: 'subscriptions',
          bearer: true,
          handle: () => {
            const state = subscriptionStates.get(id);
            return state
              ? json(200, subscriptionBody(state))
              : graphError(404, 'ResourceNotFound', 'The object was not found.');
          },
        };
      }
    }
    return undefined;
  }

  // ------------------------------------------------------------ server

  async function handle(server: 'graph' | 'content', request: IncomingMessage, response: ServerResponse) {
    const url = new URL(request.url ?? '/', 'http://sandbox');
    const method = (request.method ?? 'GET').toUpperCase();
    const body = await readBody(request);
    const entry: TeamsRequestLogEntry = {
      server,
      method,
      path: url.pathname,
      route: 'other',
      authorization: request.headers.authorization?.split(' ')[0],
      accept: request.headers.accept,
      status: 0,
    };
    requestLog.push(entry);
    if (server === 'content') {
      entry.route = 'download';
      const id = tempauth.get(url.searchParams.get('tempauth') ?? '');
      const recording = id ? lookupRecording(id) : undefined;
      if (method !== 'GET' || !recording || recording.expired) {
        entry.status = 401;
        return writeJson(response, graphError(401, 'accessDenied', 'Access denied.'));
      }
      counters.downloads += 1;
      entry.status = 200;
      return writeContent(response, recording, takeFault('download'));
    }
    entry.atMs = Date.now();
    const counted = !/\/oauth2\/v2\.0\/token$/.test(url.pathname);
    if (counted) {
      counters.graphRequests += 1;
      inFlight.graph += 1;
      counters.maxInFlight = Math.max(counters.maxInFlight, inFlight.graph);
    }
    try {
      const reply = await answerGraph(method, url, body, authorised(request), entry);
      entry.status = reply.status;
      writeJson(response, reply);
    } finally {
      if (counted) inFlight.graph -= 1;
    }
  }

  /** One Graph request, sent alone or inside a `$batch`: routed, its fault taken, answered. */
  async function answerGraph(
    method: string,
    url: URL,
    body: string,
    bearerValid: boolean,
    entry: TeamsRequestLogEntry,
  ): Promise<Reply> {
    const routed = await routeGraph(method, url, body);
    if (!routed)
      return graphError(400, 'BadRequest', `Resource not found for the segment '${url.pathname}'.`);
    entry.route = routed.route;
    if (routed.bearer && !bearerValid) {
      return graphError(401, 'InvalidAuthenticationToken', 'Access token is empty or invalid.');
    }
    const fault = routed.route === 'other' ? undefined : takeFault(routed.route);
    if (fault?.kind === 'throttle') {
      counters.throttled += 1;
      const status = fault.status ?? 429;
      return graphError(
        status,
        status === 429 ? 'TooManyRequests' : 'ServiceUnavailable',
        status === 429 ? 'Too many requests.' : 'The service is temporarily unavailable.',
        { 'retry-after': String(fault.retryAfterSeconds ?? 1) },
      );
    }
    return routed.handle();
  }

  /**
   * `POST /v1.0/$batch`: at most 20 requests, each with a unique id and a URL relative to the version.
   * Each is answered on its own, as if sent alone (its own throttling, refusal or 404), all at once, and
   * the answers come back in another order than asked: callers match them by id.
   */
  async function batch(body: string): Promise<Reply> {
    counters.batchRequests += 1;
    let requests: unknown;
    try {
      requests = (JSON.parse(body) as { requests?: unknown }).requests;
    } catch {
      return graphError(400, 'BadRequest', 'Invalid batch payload: not JSON.');
    }
    if (!Array.isArray(requests) || requests.length === 0)
      return graphError(400, 'BadRequest', 'Invalid batch payload: requests must be a non-empty array.');
    if (requests.length > 20)
      return graphError(400, 'BadRequest', 'The batch holds more than the limit of 20 requests.');
    const ids = new Set<string>();
    for (const item of requests as { id?: unknown; method?: unknown; url?: unknown }[]) {
      if (typeof item?.id !== 'string' || typeof item.method !== 'string' || typeof item.url !== 'string')
        return graphError(400, 'BadRequest', 'Each batch request needs a string id, method and url.');
      if (ids.has(item.id)) return graphError(400, 'BadRequest', `Duplicate batch request id '${item.id}'.`);
      ids.add(item.id);
    }
    counters.batchedRequests += requests.length;
    const answers = await Promise.all(
      (requests as { id: string; method: string; url: string; body?: unknown }[]).map(async (item) => {
        const relative = item.url.startsWith('/') ? item.url : `/${item.url}`;
        const url = new URL(`/v1.0${relative}`, 'http://sandbox');
        const method = item.method.toUpperCase();
        const entry: TeamsRequestLogEntry = {
          server: 'graph',
          method,
          path: url.pathname,
          route: 'other',
          authorization: 'Bearer',
          accept: 'application/json',
          status: 0,
          inBatch: true,
          atMs: Date.now(),
        };
        requestLog.push(entry);
        let reply: Reply;
        if (/^[a-z]+:/i.test(item.url) || /\/(\$batch|oauth2)\b/i.test(url.pathname)) {
          reply = graphError(400, 'BadRequest', 'A batch request must name a relative Graph URL.');
        } else {
          const itemBody = item.body === undefined ? '' : JSON.stringify(item.body);
          reply = await answerGraph(method, url, itemBody, true, entry);
        }
        entry.status = reply.status;
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(reply.headers)) {
          headers[name.toLowerCase() === 'retry-after' ? 'Retry-After' : name] = value;
        }
        if (reply.status !== 204 && reply.status !== 302) headers['Content-Type'] = 'application/json';
        return {
          id: item.id,
          status: reply.status,
          headers,
          ...(reply.status === 204 || reply.status === 302 ? {} : { body: reply.body }),
        };
      }),
    );
    return json(200, { responses: answers.reverse() });
  }

  async function writeContent(
    response: ServerResponse,
    recording: TeamsSandboxRecording,
    fault?: TeamsFault,
  ) {
    response.writeHead(200, {
      'content-type': 'video/mp4',
      'content-length': String(recording.size),
      'content-disposition': `attachment; filename="Recording-${recording.contentCorrelationId}.mp4"`,
    });
    const cutAt =
      fault?.kind === 'reset-mid-body' ? (fault.afterBytes ?? Math.floor(recording.size / 2)) : undefined;
    let closed = false;
    response.once('close', () => {
      closed = true;
    });
    let sent = 0;
    for (const chunk of syntheticMp4Chunks(recording.seed, recording.size)) {
      if (closed) return;
      const piece = cutAt === undefined ? chunk : chunk.subarray(0, Math.max(0, cutAt - sent));
      if (piece.length > 0) {
        // Waits for the socket to take it: the host produces bytes only as fast as they are read.
        await new Promise<void>((resolve) => response.write(piece, () => resolve()));
        sent += piece.length;
        counters.contentBytesSent += piece.length;
      }
      if (cutAt !== undefined && sent >= cutAt) {
        response.socket?.resetAndDestroy();
        return;
      }
    }
    if (!closed) response.end();
  }

  const serve = (server: 'graph' | 'content') =>
    http.createServer((request, response) => {
      handle(server, request, response).catch((error: unknown) => {
        if (!response.headersSent) {
          writeJson(
            response,
            graphError(500, 'InternalServerError', `sandbox error: ${(error as Error).message}`),
          );
        } else {
          response.destroy();
        }
      });
    });
  const graphServer = serve('graph');
  const contentServer = serve('content');
  const listen = (server: http.Server, port: number) =>
    new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, listenHost, () => resolve((server.address() as AddressInfo).port));
    });
  const graphPort = await listen(graphServer, options.port ?? 0);
  const contentPort = await listen(contentServer, options.contentPort ?? 0);
  origins.graph = `http://${listenHost.includes(':') ? `[${listenHost}]` : listenHost}:${graphPort}`;
  origins.content = `http://${options.contentHost ?? 'localhost'}:${contentPort}`;

  // ------------------------------------------------------------ control

  function resourceIn(
    found: TeamsSandboxRecording,
    spelling: TeamsResourceSpelling,
  ): { resource: string; odataId: string } {
    const { organizerId: user, kind, containerId: container, id } = found;
    const lower = kind.toLowerCase();
    const quoted = (value: string) => `'${value.replace(/'/g, "''")}'`;
    const same = (resource: string) => ({ resource, odataId: resource });
    switch (spelling) {
      case 'docs':
        return kind === 'adhocCalls'
          ? {
              resource: `users/${user}/${lower}(${quoted(container)})/recordings(${quoted(id)})`,
              odataId: `users/${user}/${lower}(${quoted(container)})/recordings(${id})`,
            }
          : same(`users/${user}/${kind}(${quoted(container)})/recordings(${quoted(id)})`);
      case 'doubled':
        return {
          resource: `users/${user}/${lower}/${kind}/${container}/recordings(${quoted(id)})`,
          odataId: `users/${user}/${lower}/${container}/recordings(${quoted(id)})`,
        };
      case 'tenant-wide':
        return same(`communications/${kind}(${quoted(container)})/recordings(${quoted(id)})`);
      case 'odata-user':
        return same(`users(${quoted(user)})/${kind}(${quoted(container)})/recordings(${quoted(id)})`);
      case 'slashes':
        return same(
          `/v1.0/users/${user}/${kind}/${encodeURIComponent(container)}/recordings/${encodeURIComponent(id)}`,
        );
      case 'upper-beta':
        return same(
          `beta/USERS(${quoted(user)})/${kind.toUpperCase()}(${quoted(container)})/RECORDINGS(${quoted(id)})`,
        );
      case 'unreadable-user':
        return same(`users/${user}/${kind}(${quoted(container)})/recordingArtifacts(${quoted(id)})`);
      case 'unreadable':
        return same(`${kind}(${quoted(container)})/recordingArtifacts(${quoted(id)})`);
    }
  }

  function recording(id: string): TeamsSandboxRecording {
    const found = lookupRecording(id);
    if (!found) throw new Error(`no sandbox recording ${id.slice(0, 40)}…`);
    return found;
  }

  async function deliver(
    state: SubscriptionState,
    url: string,
    notification: Record<string, unknown>,
  ): Promise<TeamsDelivery> {
    counters.deliveries += 1;
    const answer = await post(
      url,
      JSON.stringify({ value: [notification] }),
      'application/json; charset=utf-8',
      10_000,
    );
    return { subscriptionId: state.id, status: answer.status, error: answer.error };
  }

  return {
    url: origins.graph,
    contentUrl: origins.content,
    tenantId,
    clientId,
    clientSecret,
    counters,
    requestLog,
    addUser(input) {
      const id = (input.id ?? randomUUID()).toLowerCase();
      const user: TeamsSandboxUser = {
        id,
        userPrincipalName: input.userPrincipalName,
        displayName: input.displayName ?? input.userPrincipalName.split('@')[0] ?? input.userPrincipalName,
        policyGranted: input.policyGranted ?? true,
        ...(input.refusedKinds ? { refusedKinds: [...input.refusedKinds] } : {}),
      };
      users.set(id, user);
      return user;
    },
    setPolicyGranted(userId, granted, options = {}) {
      const user = users.get(userId) ?? generatedUser(generatedIndexOf(userId));
      if (!user) throw new Error(`no sandbox user ${userId}`);
      user.policyGranted = granted;
      if (options.kinds) user.refusedKinds = [...options.kinds];
      else delete user.refusedKinds;
      const index = generatedIndexOf(user.id);
      if (index !== undefined) generatedOverrides.set(index, user);
    },
    setMeteredBilling(state) {
      meteredBilling = state;
    },
    addRecording(input) {
      serial += 1;
      const kind = input.kind ?? 'onlineMeetings';
      if (!users.has(input.organizerId)) throw new Error(`no sandbox user ${input.organizerId}`);
      const created = input.createdAt;
      const ended = new Date(created.getTime() + (input.durationSeconds ?? 600) * 1000);
      const stamp = created.toISOString().replace(/[-:]/g, '').replace('T', '_').slice(0, 15);
      // Teams ids of one organizer share a long prefix; the unique part comes last.
      const prefix = `${serial % 2 ? 'V' : 'k'}jIjIzE${input.organizerId}${tenantId}${'0'.repeat(60)}${kind}`;
      const containerId =
        input.containerId ??
        (kind === 'onlineMeetings'
          ? Buffer.from(
              `1*${input.organizerId}*0**19:meeting_${randomBytes(24).toString('base64url')}@thread.v2`,
            ).toString('base64')
          : randomUUID());
      const entry: TeamsSandboxRecording = {
        id: input.id ?? teamsId(prefix, `#${graphPort}-${serial}-${randomUUID()}-Recording`),
        kind,
        organizerId: input.organizerId,
        containerId,
        createdDateTime: created.toISOString(),
        endDateTime: ended.toISOString(),
        contentCorrelationId: `${randomUUID()}-${stamp}`,
        size: input.size ?? 256 * 1024,
        seed: `${graphPort}:${serial}`,
        ready: input.ready ?? true,
        expired: false,
      };
      recordings.set(entry.id, entry);
      order.push(entry.id);
      return entry;
    },
    generateTenant(input) {
      if (generated) throw new Error('the sandbox already has a generated tenant');
      if (!Number.isInteger(input.users) || input.users < 1 || input.users > 0xffffffffffff)
        throw new Error('generateTenant: users must be a positive integer');
      generated = {
        users: input.users,
        recordingsPerDay: Math.max(0, Math.floor(input.recordingsPerDay)),
        domain: input.domain ?? 'tenant.example',
        size: input.size ?? 64 * 1024,
      };
    },
    generatedUserId(index) {
      if (!generated || index < 0 || index >= generated.users) throw new Error(`no generated user ${index}`);
      return generatedId(index);
    },
    *generatedRecordings(window) {
      if (!generated) return;
      for (let index = 0; index < generated.users; index++) {
        for (const made of generatedOf(index, window.from.getTime(), window.to.getTime())) {
          if (made.expired) continue;
          yield {
            id: made.id,
            kind: made.kind,
            organizerId: made.organizerId,
            createdDateTime: made.createdDateTime,
          };
        }
      }
    },
    setNoTeamsAccount(userId, missing) {
      const user = userOf(userId);
      if (!user) throw new Error(`no sandbox user ${userId}`);
      user.noTeamsAccount = missing;
      const index = generatedIndexOf(user.id);
      if (index !== undefined) generatedOverrides.set(index, user);
    },
    resetPeaks() {
      counters.maxInFlight = inFlight.graph;
      counters.maxListsInFlight = inFlight.lists;
    },
    recording,
    setReady(id, ready) {
      recording(id).ready = ready;
    },
    expire(id) {
      recording(id).expired = true;
    },
    expectedSha256(id) {
      const found = recording(id);
      return syntheticMp4Sha256(found.seed, found.size);
    },
    subscriptions() {
      return [...subscriptionStates.values()].map(({ expiresAtMs: _e, ...view }) => ({ ...view }));
    },
    resourceOf(id, spelling) {
      return resourceIn(recording(id), spelling);
    },
    async notifyRecording(id, notifyOptions = {}) {
      const found = recording(id);
      const spelling =
        notifyOptions.spelling ??
        (notifyOptions.withUser === undefined
          ? 'docs'
          : notifyOptions.withUser
            ? 'odata-user'
            : 'tenant-wide');
      const { resource, odataId } = resourceIn(found, spelling);
      const deliveries: TeamsDelivery[] = [];
      for (const state of subscriptionStates.values()) {
        if (SUBSCRIBABLE[state.resource.toLowerCase()] !== found.kind || state.expiresAtMs <= nowMs())
          continue;
        deliveries.push(
          await deliver(state, state.notificationUrl, {
            subscriptionId: state.id,
            subscriptionExpirationDateTime: state.expirationDateTime,
            changeType: 'created',
            clientState: state.clientState ?? null,
            resource,
            resourceData: {
              id: found.id,
              '@odata.type': '#Microsoft.Graph.callRecording',
              '@odata.id': odataId,
            },
            tenantId,
          }),
        );
      }
      return deliveries;
    },
    async sendLifecycleEvent(subscriptionId, event) {
      const state = subscriptionStates.get(subscriptionId);
      if (!state?.lifecycleNotificationUrl)
        throw new Error(`no subscription ${subscriptionId} with a lifecycle URL`);
      if (event === 'subscriptionRemoved') subscriptionStates.delete(subscriptionId);
      return deliver(state, state.lifecycleNotificationUrl, {
        subscriptionId,
        subscriptionExpirationDateTime: state.expirationDateTime,
        tenantId,
        clientState: state.clientState ?? null,
        lifecycleEvent: event,
      });
    },
    dropExpiredSubscriptions() {
      for (const [id, state] of subscriptionStates)
        if (state.expiresAtMs <= nowMs()) subscriptionStates.delete(id);
    },
    injectFault(fault, target = {}) {
      const routes = target.routes === undefined ? DEFAULT_FAULT_ROUTES[fault.kind] : [target.routes].flat();
      const entry = { fault, routes: new Set<TeamsRoute>(routes), remaining: target.times ?? 1, hits: 0 };
      faults.push(entry);
      return {
        get hits() {
          return entry.hits;
        },
        cancel: () => {
          faults = faults.filter((candidate) => candidate !== entry);
        },
      };
    },
    revokeTokens() {
      tokens.clear();
    },
    clearFaults() {
      faults = [];
    },
    async close() {
      for (const server of [graphServer, contentServer]) {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    },
  };
}

function writeJson(response: ServerResponse, reply: Reply): void {
  if (reply.status === 204 || reply.status === 302) {
    response.writeHead(reply.status, reply.headers);
    response.end();
    return;
  }
  const text = JSON.stringify(reply.body);
  response.writeHead(reply.status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
    ...reply.headers,
  });
  response.end(text);
}
