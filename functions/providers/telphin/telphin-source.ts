/**
 * The Telphin adapter behind `RecordingSource` over REST ver1.0 with an OAuth2 client-credentials token:
 * record lists and stats per client / extension group / extension, download through the permanent
 * storage URL (Telphin's preferred route) or directly from the API, single-record delete, and event hooks
 * as hints. The range delete is deliberately absent. Secrets never reach a message or log line.
 */
import { abortableSleep } from '../../core/abortable-sleep';
import {
  NotReadyError,
  PermanentError,
  RateLimitedError,
  TransientError,
  UnauthenticatedError,
} from '../../core/errors';
import type { HintJob } from '../../core/jobs';
import {
  type Clock,
  type DownloadRequest,
  type DownloadStream,
  type Log,
  type RecordingSource,
  type SourceStats,
  silentLog,
  systemClock,
  type WebhookOutcome,
  type WebhookRequest,
  type WebhookSubscriptionPlan,
} from '../../core/ports';
import type { SourceRecording, TimeWindow } from '../../core/recording';
import { InProcessTokenStore } from '../../core/shared-state';
import { DisallowedUrlError, openHttpDownload, rangeHeaders } from '../http';
import { AuthorisedClient, jsonOf } from '../shared/authorised-client';
import { deleteOutcome } from '../shared/delete-outcome';
import { assertPinnedUrl, pinDownloadHosts } from '../shared/download-hosts';
import { jsonObject } from '../shared/json';
import { inWindow, parseOrSkip, uniqueInWindow } from '../shared/listing';
import { judgeMissingContent } from '../shared/missing-content';
import { credentialsFingerprint, requestOAuthToken, SharedOAuthToken } from '../shared/oauth-token';
import type { TelphinCredentials, TelphinSourceConfig } from './telphin-config';
import { hangupFilter, TelphinEventHookApi } from './telphin-event-hooks';
import { parseTelphinRecord, recordClientId, recordUuidSuffix } from './telphin-records';
import { handleTelphinWebhook } from './telphin-webhook';
import { splitTelphinWindow, windowQuery } from './telphin-windows';

export interface TelphinSourceOptions {
  config: TelphinSourceConfig;
  credentials: TelphinCredentials;
  clock?: Clock;
  log?: Log;
  /** Tuning, mainly for tests; production uses the defaults. */
  tuning?: Partial<TelphinTuning>;
  /** Position of this source in the config's `sources`, so warnings can name the field to change. */
  configIndex?: number;
}

export interface TelphinTuning {
  /** Retries after a "concurrent request not allowed" 429 before surfacing RateLimitedError. */
  concurrentRetries: number;
  /** First wait after such a 429; doubles per retry. */
  concurrentRetryDelayMs: number;
  /** Stall limit for API calls and downloads. */
  idleTimeoutMs: number;
  connectTimeoutMs: number;
  /** Lists start this early: the API selects by init time, so a call that rang into the window is kept. */
  listLeadMs: number;
}

const DEFAULT_TUNING: TelphinTuning = {
  concurrentRetries: 4,
  concurrentRetryDelayMs: 500,
  idleTimeoutMs: 60_000,
  connectTimeoutMs: 15_000,
  listLeadMs: 60 * 60 * 1000,
};

/** A re-list looks this far either side of the recording's start (it is matched by id). */
const RELIST_SLACK_MS = 60 * 1000;

/** Around a hangup event: the call started at most `Duration` before it; 15 min of slack either side. */
const HINT_SLACK_MS = 15 * 60 * 1000;
/** A hint listing serves later hints this long: Telphin serialises list calls, under an account-wide quota. */
const HINT_LISTING_TTL_MS = 60 * 1000;
/** A recent event's listing reaches this far back, for the rest of its burst; older events list their own. */
const HINT_LISTING_REACH_MS = 30 * 60 * 1000;

/** Stats field names. The sandbox serves `size`/`count`; the aliases cover other plausible spellings. */
const STATS_SIZE_FIELDS = ['size', 'total_size', 'record_file_size', 'records_size', 'file_size'];
const STATS_COUNT_FIELDS = ['count', 'total_count', 'record_count', 'records_count'];

/** Encodes one path segment, keeping `@` (legal in paths) so `@me` reaches the API as written. */
function pathSegment(value: string): string {
  return encodeURIComponent(value).replace(/%40/g, '@');
}

function numberField(body: Record<string, unknown>, names: readonly string[]): number | undefined {
  for (const name of names) {
    const value = body[name];
    const number = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
    if (typeof number === 'number' && Number.isFinite(number) && number >= 0) return number;
  }
  return undefined;
}

export class TelphinSource implements RecordingSource {
  readonly provider = 'telphin' as const;
  readonly sourceId: string;
  private readonly config: TelphinSourceConfig;
  private readonly webhookSecret: string | undefined;
  /** The apiUrl without its trailing slash; API calls go to its host only. */
  private readonly apiBase: URL;
  private readonly client: AuthorisedClient;
  private readonly log: Log;
  private readonly tuning: TelphinTuning;
  /** Telphin answers a second concurrent list or stats request with 429: they go one at a time. */
  private listTail: Promise<unknown> = Promise.resolve();
  private readonly clock: Clock;
  /** `sources[i].allowedDownloadHosts`, as warnings name it. */
  private readonly allowedHostsField: string;
  /** Storage hosts already warned about: the warning comes once per source and host, not per recording. */
  private readonly refusedStorageHosts = new Set<string>();
  /** The last listing made for a hint, reused while fresh (see HINT_LISTING_TTL_MS). */
  private hintListing:
    | { from: number; to: number; listedAtMs: number; recordings: SourceRecording[] }
    | undefined;

  constructor(options: TelphinSourceOptions) {
    this.config = options.config;
    this.sourceId = options.config.id;
    this.webhookSecret = options.credentials.webhookSecret;
    this.log = options.log ?? silentLog;
    this.tuning = { ...DEFAULT_TUNING, ...options.tuning };
    this.clock = options.clock ?? systemClock;
    this.allowedHostsField = `sources[${options.configIndex ?? `id=${options.config.id}`}].allowedDownloadHosts`;
    const { clientId, clientSecret } = options.credentials;
    const { clock, log } = this;
    const { idleTimeoutMs, connectTimeoutMs } = this.tuning;
    this.apiBase = new URL(options.config.apiUrl.replace(/\/+$/, ''));
    // The token is held in this process only (one instance serves one source). A refusal is not
    // remembered (cooldown 0): each request tries the credentials again.
    const store = new InProcessTokenStore();
    const token = new SharedOAuthToken(
      { key: `telphin/${this.sourceId}`, store, clock, log, refusalCooldownMs: 0 },
      {
        credentials: credentialsFingerprint(options.config.apiUrl, clientId, clientSecret),
        what: 'the Telphin token',
        // Renew a little early so a token never expires between our check and the server's.
        renewalCapSeconds: 60,
        droppedMessage: 'telphin token refused by the API; the next request gets a new one',
        throttledName: 'Telphin token endpoint',
        grant: async (_record, signal) => {
          const answer = await requestOAuthToken({
            url: this.apiUrl('/oauth/token').href,
            form: { grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret },
            signal,
            idleTimeoutMs,
            connectTimeoutMs,
            provider: 'Telphin',
            defaultExpiresIn: 3600,
            now: clock.now(),
          });
          log.debug('telphin token issued', { expiresIn: answer.expiresIn });
          return { accessToken: answer.accessToken, expiresIn: answer.expiresIn };
        },
        refusedError: (detail) =>
          new UnauthenticatedError(`Telphin refused the client credentials (${detail})`),
      },
    );
    const retryMessage = 'telphin token refused; requesting a new one';
    this.client = new AuthorisedClient({ token, log, retryMessage, idleTimeoutMs, connectTimeoutMs });
  }

  /** `path` under the apiUrl's own path. */
  private apiUrl(path: string): URL {
    return new URL(`${this.apiBase.pathname.replace(/\/$/, '')}${path}`, this.apiBase);
  }

  /** An API call, answered whatever its status (for 404 and 429 bodies); a 401 renews the token once. */
  private send(method: string, path: string, signal?: AbortSignal, json?: unknown) {
    return this.client.send({ ...this.request(method, path, signal), json });
  }

  private request(method: string, path: string, signal?: AbortSignal, query: Record<string, string> = {}) {
    const url = this.apiUrl(`/api/ver1.0${path}`);
    for (const [name, value] of Object.entries(query)) url.searchParams.set(name, value);
    return { method, url: url.href, allowedHosts: [this.apiBase.host], signal };
  }

  /** `/client/{id}`, `/extension_group/{id}` or `/extension/{id}` for each configured scope. */
  private scopePaths(): string[] {
    const { scope } = this.config;
    if (scope.extensionGroups)
      return scope.extensionGroups.map((id) => `/extension_group/${pathSegment(id)}`);
    if (scope.extensions) return scope.extensions.map((id) => `/extension/${pathSegment(id)}`);
    return [`/client/${pathSegment(scope.client ?? '@me')}`];
  }

  private recordPath(recording: SourceRecording): string {
    const client = recordClientId(recording, this.config.scope.client);
    return `/client/${pathSegment(client)}/record/${pathSegment(recording.recordingId)}/`;
  }

  /** The list or stats answer (`{scope}/record/{suffix}`) for every scope and month of `window`. */
  private async *scopeMonths(suffix: string, window: TimeWindow, signal?: AbortSignal, extra = {}) {
    for (const scopePath of this.scopePaths()) {
      for (const chunk of splitTelphinWindow(window)) {
        const query = { ...windowQuery(chunk), ...extra };
        yield { scopePath, body: await this.serialisedGet(`${scopePath}/record/${suffix}`, query, signal) };
      }
    }
  }

  /** One GET at a time; a "concurrent request" 429 (another process of the client) is waited out. */
  private async serialisedGet(path: string, query: Record<string, string>, signal?: AbortSignal) {
    for (let attempt = 0; ; attempt++) {
      const sent = this.listTail.then(() => this.client.send(this.request('GET', path, signal, query)));
      // A failed request does not hold up the next one.
      this.listTail = sent.catch(() => undefined);
      const response = await sent;
      if (response.status !== 429 || !/concurrent/i.test(response.text)) return jsonOf(response);
      if (attempt >= this.tuning.concurrentRetries) {
        throw new RateLimitedError(
          `Telphin still reports a concurrent request for ${response.where} after ${attempt + 1} attempts`,
          Math.max(1, Math.ceil(this.tuning.concurrentRetryDelayMs / 1000)),
        );
      }
      this.log.debug('telphin concurrent-request 429; waiting', { path: response.where, attempt });
      await abortableSleep(this.tuning.concurrentRetryDelayMs * 2 ** attempt, signal, 'waiting to retry');
    }
  }

  async *listRecordings(window: TimeWindow, signal?: AbortSignal): AsyncIterable<SourceRecording> {
    const queryWindow = { from: new Date(window.from.getTime() - this.tuning.listLeadMs), to: window.to };
    const keep = uniqueInWindow(window);
    for await (const { scopePath, body } of this.scopeMonths('', queryWindow, signal, { order: 'asc' })) {
      if (!Array.isArray(body))
        throw new TransientError(`Telphin record list for ${scopePath} is not a JSON array`);
      for (const raw of body) {
        const uuid = raw?.record_uuid;
        const fields = { sourceId: this.sourceId, recordUuid: typeof uuid === 'string' ? uuid : undefined };
        const parse = () => parseTelphinRecord(raw, this.sourceId);
        const recording = parseOrSkip(parse, this.log, 'skipping malformed Telphin record', fields);
        if (keep(recording)) yield recording as SourceRecording;
      }
    }
  }

  async stats(window: TimeWindow, signal?: AbortSignal): Promise<SourceStats> {
    const total: SourceStats = { count: 0, bytes: 0 };
    for await (const { scopePath, body } of this.scopeMonths('stats/', window, signal)) {
      const fields = jsonObject(body) ?? {};
      const count = numberField(fields, STATS_COUNT_FIELDS);
      const bytes = numberField(fields, STATS_SIZE_FIELDS);
      if (count === undefined || bytes === undefined) {
        throw new TransientError(`Telphin stats for ${scopePath} lack a count or size field`);
      }
      total.count += count;
      total.bytes += bytes;
    }
    return total;
  }

  async openDownload(
    recording: SourceRecording,
    signal?: AbortSignal,
    request: DownloadRequest = {},
  ): Promise<DownloadStream> {
    const path = this.recordPath(recording);
    if (this.config.download === 'storage_url') {
      try {
        return await this.openFromStorage(path, signal, request.fromByte);
      } catch (error) {
        // A disallowed storage host is never fetched, and a missing or failing storage copy is routed around:
        // the API host has the file too. 429/401 would hit the direct route the same, so they are not.
        if (error instanceof DisallowedUrlError) {
          this.warnRefusedStorageLink(error);
        } else {
          const fallBack =
            (error instanceof NotReadyError || error instanceof TransientError) && !signal?.aborted;
          if (!fallBack) throw error;
          this.log.warn('telphin storage route failed; downloading directly from the API', {
            recordingId: recording.recordingId,
            reason: (error as Error).message,
          });
        }
      }
    }
    try {
      // The direct route: the file from the API host with our token.
      const headers = rangeHeaders(request.fromByte);
      return await this.client.download({ ...this.request('GET', path, signal), headers });
    } catch (error) {
      // The direct route's 404 (NotReadyError, see http.ts): the record list decides.
      if (!(error instanceof NotReadyError)) throw error;
      return judgeMissingContent({
        stillAtSource: () => this.stillListed(recording, signal),
        notReady: `Telphin has no file yet for recording ${recording.recordingId}`,
        gone: `Telphin answered 404 for recording ${recording.recordingId} and no longer lists it`,
        cause: error,
      });
    }
  }

  /** Lists the recording's own window again and looks for it by id. */
  private async stillListed(recording: SourceRecording, signal?: AbortSignal): Promise<boolean> {
    const start = recording.startedAt.getTime();
    const window = { from: new Date(start - RELIST_SLACK_MS), to: new Date(start + RELIST_SLACK_MS) };
    for await (const listed of this.listRecordings(window, signal)) {
      if (listed.recordingId === recording.recordingId) return true;
    }
    return false;
  }

  /** Once per source and host: which host was refused and the field that would allow it. */
  private warnRefusedStorageLink(error: DisallowedUrlError): void {
    const host = error.refused.host ?? '(unparseable URL)';
    if (this.refusedStorageHosts.has(host)) {
      this.log.debug('telphin storage link refused again; downloading directly', {
        sourceId: this.sourceId,
        host,
      });
      return;
    }
    this.refusedStorageHosts.add(host);
    const remedy = error.refused.offAllowList
      ? `add "${host}" to ${this.allowedHostsField} to download storage links from it`
      : `listing it in ${this.allowedHostsField} would not help: ${error.message}`;
    this.log.warn(
      `telphin storage links of source ${this.sourceId} point at ${host}, which ${this.allowedHostsField} does not allow; downloading from the API host instead (${remedy})`,
      { sourceId: this.sourceId, refusedHost: host, field: this.allowedHostsField },
    );
  }

  /** GET …/storage_url/ → {record_url}; the link needs no auth and must be on an allowed host. */
  private async openFromStorage(
    path: string,
    signal?: AbortSignal,
    fromByte?: number,
  ): Promise<DownloadStream> {
    const response = await this.send('GET', `${path}storage_url/`, signal);
    const recordUrl = jsonObject(jsonOf(response))?.record_url;
    if (typeof recordUrl !== 'string' || recordUrl === '') {
      throw new TransientError(`Telphin storage_url answer for ${response.where} has no record_url`);
    }
    const url = assertPinnedUrl(recordUrl, this.config.allowedDownloadHosts);
    return openHttpDownload(url.href, {
      allowedHosts: pinDownloadHosts(this.config.allowedDownloadHosts, url.protocol),
      signal,
      idleTimeoutMs: this.tuning.idleTimeoutMs,
      connectTimeoutMs: this.tuning.connectTimeoutMs,
      fromByte,
    });
  }

  /** Deletes exactly one record (`DELETE /client/{id}/record/{uuid}/`). There is no range variant here. */
  async deleteRecording(
    recording: SourceRecording,
    signal?: AbortSignal,
  ): Promise<'deleted' | 'already-gone'> {
    const response = await this.send('DELETE', this.recordPath(recording), signal);
    return deleteOutcome(response, `Telphin recording ${recording.recordingId}`);
  }

  /**
   * The recordings around the event that the hint names by recording id (a record_uuid or its part after
   * `{extension_id}-`) or call id; else those of the hinted extensions (the caller skips archived ones).
   */
  async resolveHint(job: HintJob, signal?: AbortSignal): Promise<SourceRecording[]> {
    const { hint } = job;
    const eventMs = Date.parse(job.eventTime);
    if (Number.isNaN(eventMs)) throw new PermanentError(`hint has an invalid eventTime "${job.eventTime}"`);
    const durationMs = /^\d+$/.test(hint.duration ?? '') ? Number(hint.duration) * 1000 : 0;
    const window = {
      from: new Date(eventMs - durationMs - HINT_SLACK_MS),
      to: new Date(eventMs + HINT_SLACK_MS),
    };

    const recId = hint.recId?.trim().toLowerCase();
    const callId = hint.callId?.trim().toLowerCase();
    const extensions = new Set(
      [hint.callerExtensionId, hint.calledExtensionId].filter((id): id is string => !!id),
    );
    const matching = (recordings: SourceRecording[]) =>
      recordings.filter((recording) => {
        const uuid = recording.recordingId.toLowerCase();
        if (recId && (uuid === recId || recordUuidSuffix(uuid) === recId)) return true;
        return !!callId && recording.callId?.toLowerCase() === callId;
      });
    let listed = this.cachedHintListing(window, eventMs);
    let byId = listed ? matching(listed) : [];
    // The cache only ever confirms: a hinted recording it lacks is looked for in a fresh listing.
    if (!listed || (recId && byId.length === 0)) {
      listed = await this.listForHints(window, eventMs, signal);
      byId = matching(listed);
    }
    if (recId) {
      if (byId.length === 0) {
        throw new NotReadyError(
          `Telphin does not list recording ${hint.recId} yet (event at ${job.eventTime})`,
        );
      }
      return byId;
    }
    if (byId.length > 0) return byId;
    if (extensions.size === 0) return listed;
    return listed.filter((recording) => recording.extension && extensions.has(recording.extension.id));
  }

  /** Recordings of `window` from the last hint listing, if it is fresh, covers the window and postdates the event. */
  private cachedHintListing(window: TimeWindow, eventMs: number): SourceRecording[] | undefined {
    const cached = this.hintListing;
    if (!cached) return undefined;
    const fresh = this.clock.now().getTime() - cached.listedAtMs < HINT_LISTING_TTL_MS;
    const covers = cached.from <= window.from.getTime() && cached.to >= window.to.getTime();
    if (!fresh || !covers || cached.listedAtMs < eventMs) return undefined;
    return cached.recordings.filter((recording) => inWindow(recording, window));
  }

  /** Lists a window wide enough for the rest of a burst of hints, remembers it, and returns `window`'s part. */
  private async listForHints(
    window: TimeWindow,
    eventMs: number,
    signal?: AbortSignal,
  ): Promise<SourceRecording[]> {
    // Taken before the call: the listing holds at least what existed at this instant.
    const listedAtMs = this.clock.now().getTime();
    const recent = eventMs >= listedAtMs - HINT_LISTING_REACH_MS;
    const wide = recent
      ? {
          from: new Date(Math.min(window.from.getTime(), listedAtMs - HINT_LISTING_REACH_MS)),
          to: new Date(Math.max(window.to.getTime(), listedAtMs + HINT_SLACK_MS)),
        }
      : window;
    const recordings: SourceRecording[] = [];
    for await (const recording of this.listRecordings(wide, signal)) recordings.push(recording);
    this.hintListing = { from: wide.from.getTime(), to: wide.to.getTime(), listedAtMs, recordings };
    return recordings.filter((recording) => inWindow(recording, window));
  }

  /** With `manageWebhooks` and a secret: a `hangup` hook per extension in scope, at our URL with the token. */
  async webhookSubscriptions(): Promise<WebhookSubscriptionPlan | undefined> {
    const extensions = this.config.scope.extensions;
    if (!this.config.manageWebhooks || !this.webhookSecret || !extensions) return undefined;
    const secret = this.webhookSecret;
    return {
      api: new TelphinEventHookApi((...call) => this.send(...call), extensions),
      filters: extensions.map(hangupFilter),
      secret,
      address: (webhookUrl) => `${webhookUrl}?token=${encodeURIComponent(secret)}`,
      // Our endpoint whatever the token: a hook with a previous secret is replaced, not left behind.
      isOurs: (listed, webhookUrl) => {
        try {
          const url = new URL(listed);
          url.search = '';
          return url.href === new URL(webhookUrl).href;
        } catch {
          return false;
        }
      },
    };
  }

  async handleWebhook(request: WebhookRequest): Promise<WebhookOutcome> {
    return handleTelphinWebhook(request, { sourceId: this.sourceId, webhookSecret: this.webhookSecret });
  }
}
