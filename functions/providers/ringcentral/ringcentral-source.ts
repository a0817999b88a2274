/**
 * The RingCentral adapter. Webhooks are hints; the Detailed company call log is the truth for listings,
 * hints and gone checks. Content comes from the media host (Bearer token in the header); deletes remove
 * the recording file by id, never a call-log row. All three spend the Heavy group through the source's gate.
 */
import { NotReadyError, PermanentError, TransientError } from '../../core/errors';
import type { HintJob } from '../../core/jobs';
import {
  type Clock,
  type DownloadRequest,
  type DownloadStream,
  type ListingScope,
  type Log,
  type RecordingSource,
  type SourceProblem,
  silentLog,
  systemClock,
  type WebhookOutcome,
  type WebhookRequest,
  type WebhookSubscriptionPlan,
} from '../../core/ports';
import type { SourceRecording, TimeWindow } from '../../core/recording';
import type { RateGateStore, TokenStore } from '../../core/shared-state';
import { assertAllowedUrl, errorForStatus, httpStatusOf, MEDIA_ACCEPT, rangeHeaders } from '../http';
import { describeAndDrop, downloadOf, type OpenAnswer } from '../shared/authorised-client';
import { deleteOutcome } from '../shared/delete-outcome';
import { pinDownloadHosts } from '../shared/download-hosts';
import { type Json, jsonObject } from '../shared/json';
import { parseOrSkip, uniqueInWindow } from '../shared/listing';
import { judgeMissingContent } from '../shared/missing-content';
import { followPages, nextLink } from '../shared/paging';
import { CALL_LOG_PAGE_SIZE, PERMISSION_MISSING_CODE } from './descriptor';
import { HeavyGate, type RateGroup, RingCentralApi } from './ringcentral-api';
import { RingCentralAuth } from './ringcentral-auth';
import {
  DirectoryCache,
  type ExtensionDirectory,
  extensionKeysOf,
  hasShortRecording,
  idText,
  parseCallLogRecord,
  parseDirectoryEntry,
  recordingsOfRecord,
} from './ringcentral-call-log';
import {
  type RingCentralCredentials,
  type RingCentralSourceConfig,
  ringCentralDownloadHosts,
} from './ringcentral-config';
import { RingCentralSubscriptionApi } from './ringcentral-subscriptions';
import { handleRingCentralWebhook, isHandshakeWithBody } from './ringcentral-webhook';

export interface RingCentralTuning {
  /** Call-log page size; RingCentral allows up to 1000. */
  perPage: number;
  /** Longest wait for a Heavy slot inside one invocation before the job is handed back (RateLimitedError). */
  maxGateWaitMs: number;
  /** A content 404 this soon after hang-up is "not ready" unasked; later ones ask the call log. */
  goneCheckAfterMs: number;
  // Passed on; the defaults are http.ts's and shared/oauth-token.ts's (60 s, 15 s, 15 min, 200 ms).
  idleTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** How long a refused JWT blocks further logins with the same credentials. */
  refusalCooldownMs?: number;
  leasePollMs?: number;
}

const DEFAULT_TUNING: RingCentralTuning = {
  perPage: CALL_LOG_PAGE_SIZE,
  maxGateWaitMs: 20_000,
  goneCheckAfterMs: 60 * 60_000,
};

/** How far before a hint's event time the call log is searched (calls can last hours). */
const HINT_LOOKBACK_MS = 24 * 3_600_000;

/**
 * App permissions, read at login from the token's space-separated `scope` ("Call Log Access Control"),
 * before a request fails with CMN-401. CallControl: "Account Telephony Sessions Event", Required Permissions.
 */
const PERMISSIONS: readonly { permission: string; neededFor: string; only?: 'webhooks' | 'deletes' }[] = [
  { permission: 'ReadCallLog', neededFor: 'the call log: listing, webhook hints and gone checks' },
  { permission: 'ReadCallRecording', neededFor: 'downloading recording content' },
  { permission: 'ReadAccounts', neededFor: 'the extension directory (parties, extensions scope)' },
  { permission: 'SubscriptionWebhook', neededFor: 'creating the webhook subscription', only: 'webhooks' },
  {
    permission: 'CallControl',
    neededFor: 'the account telephony-sessions event filter of the webhook subscription',
    only: 'webhooks',
  },
  { permission: 'EditCallLog', neededFor: 'deleting recordings at the source (retention)', only: 'deletes' },
];

export interface RingCentralSourceOptions {
  config: RingCentralSourceConfig;
  credentials: RingCentralCredentials;
  clock?: Clock;
  log?: Log;
  /** Where the session is shared: every worker of the source reads and renews it there. */
  tokenStore: TokenStore;
  /** Where the Heavy gate's schedule is shared by every worker of the source. */
  rateGateStore: RateGateStore;
  tuning?: Partial<RingCentralTuning>;
  /** Retention deletes recordings at this source (then the app needs EditCallLog). Default false. */
  deletesAtSource?: boolean;
}

/** First retry after an early content 404: content comes seconds after hang-up, well within a minute. */
const CONTENT_AFTER_HANG_UP_RETRY_SECONDS = 8;

export class RingCentralSource implements RecordingSource {
  readonly provider = 'ringcentral' as const;
  readonly sourceId: string;
  private readonly config: RingCentralSourceConfig;
  private readonly webhookSecret: string | undefined;
  private readonly api: RingCentralApi;
  private readonly auth: RingCentralAuth;
  private readonly directoryCache: DirectoryCache;
  private readonly downloadHosts: string[];
  private readonly clock: Clock;
  private readonly log: Log;
  private readonly tuning: RingCentralTuning;
  /** Permissions the app needs, each with a line naming what fails and the fix (README: RingCentral, App). */
  private readonly permissions: readonly { permission: string; message: string }[];
  /** The last scope checked at a login, so one session's missing permissions are logged once. */
  private checkedScope: string | undefined | null = null;

  constructor(options: RingCentralSourceOptions) {
    const { config, credentials } = options;
    this.config = config;
    this.sourceId = config.id;
    this.webhookSecret = credentials.webhookSecret;
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? silentLog;
    this.tuning = { ...DEFAULT_TUNING, ...options.tuning };
    const { clock, log, tuning } = this;
    const { idleTimeoutMs, connectTimeoutMs } = tuning;
    this.downloadHosts = pinDownloadHosts(
      ringCentralDownloadHosts(config),
      new URL(config.mediaUrl).protocol,
    );
    const uses = { webhooks: !!credentials.webhookSecret, deletes: options.deletesAtSource ?? false };
    this.permissions = PERMISSIONS.filter(({ only }) => !only || uses[only]).map(
      ({ permission, neededFor }) => ({
        permission,
        message:
          `RingCentral app of source ${config.id} lacks the ${permission} permission, needed for ${neededFor}: ` +
          'add it to the app in the RingCentral Developer Console (README, Configuration, RingCentral: App)',
      }),
    );
    const key = `ringcentral/${config.id}`;
    this.auth = new RingCentralAuth({
      serverUrl: config.serverUrl,
      clientId: credentials.clientId,
      clientSecret: credentials.clientSecret,
      jwt: credentials.jwt,
      key,
      store: options.tokenStore,
      clock,
      log,
      refusalCooldownMs: tuning.refusalCooldownMs,
      pollMs: tuning.leasePollMs,
      onScope: (scope) => this.checkScope(scope),
      idleTimeoutMs,
      connectTimeoutMs,
    });
    this.api = new RingCentralApi({
      serverUrl: config.serverUrl,
      token: this.auth,
      gate: new HeavyGate({
        key,
        perMinute: config.rateLimits.heavyPerMinute,
        store: options.rateGateStore,
        clock,
        log,
        maxWaitMs: tuning.maxGateWaitMs,
      }),
      log,
      sourceId: config.id,
      idleTimeoutMs,
      connectTimeoutMs,
    });
    this.directoryCache = new DirectoryCache({
      load: () => {
        const first = this.api.url(this.accountPath('/extension'), { perPage: '1000', page: '1' });
        return this.all(first, parseDirectoryEntry, undefined, 'other', 'RingCentral extension list');
      },
      required: config.scope.extensions !== undefined,
      clock,
      log,
      sourceId: config.id,
    });
  }

  /** At each login: every permission the app lacks, logged at error level by name (once per scope). */
  private checkScope(scope: string | undefined): void {
    if (scope === this.checkedScope) return;
    this.checkedScope = scope;
    for (const { permission, message } of this.missingPermissions(scope)) {
      this.log.error(message, { sourceId: this.sourceId, errorCode: PERMISSION_MISSING_CODE, permission });
    }
  }

  /** The permissions this source needs that its session's `scope` lacks (one login at most). */
  async setupProblems(signal?: AbortSignal): Promise<SourceProblem[]> {
    const missing = this.missingPermissions(await this.auth.grantedScope(signal));
    return missing.map(({ message }) => ({ code: PERMISSION_MISSING_CODE, message }));
  }

  /** The needs the token's `scope` lacks; none when the answer reported no scope (nothing to judge). */
  private missingPermissions(scope: string | undefined): typeof this.permissions {
    if (scope === undefined) return [];
    const granted = new Set(scope.split(/\s+/));
    return this.permissions.filter(({ permission }) => !granted.has(permission));
  }

  private accountPath(rest: string): string {
    return `/account/${encodeURIComponent(this.config.scope.account)}${rest}`;
  }

  // ------------------------------------------------------------ listing

  /** One part per configured extension, so one refused (403) or gone fails alone; none for the account. */
  async listingScopes(): Promise<ListingScope[]> {
    const wanted = this.config.scope.extensions;
    if (!wanted) return [];
    return wanted.map((entry) => ({ id: entry, subject: entry, label: `extension ${entry}` }));
  }

  /** The window's recordings, each once, from the account's Detailed call log or one extension's own. */
  async *listRecordings(
    window: TimeWindow,
    signal?: AbortSignal,
    scope?: ListingScope,
  ): AsyncIterable<SourceRecording> {
    const directory = await this.directoryCache.get();
    let path = this.accountPath('/call-log');
    if (scope) {
      const entry = directory.byId(scope.id) ?? directory.byNumber(scope.id);
      if (!entry) {
        throw new PermanentError(
          `RingCentral extension ${scope.id} is not in the account's directory (deleted, or misspelt): fix scope.extensions in the configuration`,
        );
      }
      path = this.accountPath(`/extension/${encodeURIComponent(entry.id)}/call-log`);
    }
    // recordingType=All: calls with a recording of any type (the call-log reference's replacement for
    // the deprecated withRecording, still sent to an extension's own call log only).
    const first = this.api.url(path, {
      view: 'Detailed',
      dateFrom: window.from.toISOString(),
      dateTo: window.to.toISOString(),
      recordingType: 'All',
      ...(scope ? { withRecording: 'true' } : {}),
      perPage: String(this.tuning.perPage),
      page: '1',
    });
    const wanted = uniqueInWindow(window);
    try {
      for await (const raw of this.records(first, signal)) {
        yield* this.recordingsInScope(raw, directory).filter(wanted);
      }
    } catch (error) {
      // A login refusal is the source's; a 403 on one extension's log is that extension's alone.
      if (!scope || httpStatusOf(error) !== 403) throw error;
      throw new PermanentError(
        `RingCentral refused the call log of extension ${scope.id} (${(error as Error).message}): the JWT user ` +
          'may not read this extension (an admin role with ReadCallLog for every extension in scope is needed)',
        { cause: error },
      );
    }
  }

  /** Every record of a RingCentral collection (the call log by default), following `navigation.nextPage`. */
  private records(
    first: string,
    signal?: AbortSignal,
    group: RateGroup = 'heavy',
    what = 'RingCentral call-log',
  ) {
    return followPages<unknown>(
      first,
      async (url) => {
        const request = { method: 'GET', url, group, allowedHosts: this.api.apiHosts, signal };
        const body = jsonObject(await this.api.json(request));
        if (!body || !Array.isArray(body.records))
          throw new TransientError(`${what} answer has no records array`);
        return {
          items: body.records,
          next: nextLink(jsonObject(jsonObject(body.navigation)?.nextPage)?.uri),
        };
      },
      what,
    );
  }

  /** The record's recordings when the call is in scope; a malformed record is skipped with a warning. */
  private recordingsInScope(raw: unknown, directory: ExtensionDirectory): SourceRecording[] {
    const record = jsonObject(raw);
    if (!record) return [];
    const wanted = this.config.scope.extensions;
    if (wanted) {
      const keys = extensionKeysOf(record, directory);
      if (!wanted.some((extension) => keys.has(extension))) return [];
    }
    const { sourceId } = this;
    const recordingFormat = this.config.recordingFormat;
    return (
      parseOrSkip(
        () => parseCallLogRecord(record, { sourceId, recordingFormat, directory }),
        this.log,
        'skipping malformed RingCentral call-log record',
        { sourceId, recordId: idText(record.id) },
      ) ?? []
    );
  }

  /** Call-log records of one call (by telephony session, else legacy session), since `fromMs`. */
  private async callRecords(
    telephonySessionId: string | undefined,
    sessionId: string | undefined,
    fromMs: number,
    signal?: AbortSignal,
  ): Promise<Json[]> {
    const url = this.api.url(this.accountPath('/call-log'), {
      view: 'Detailed',
      telephonySessionId,
      sessionId: telephonySessionId ? undefined : sessionId,
      dateFrom: new Date(fromMs).toISOString(),
      perPage: '100',
    });
    return this.all(url, jsonObject, signal);
  }

  /** Every record of a collection that `parse` takes, read whole. */
  private async all<T>(
    first: string,
    parse: (raw: unknown) => T | undefined,
    signal?: AbortSignal,
    group?: RateGroup,
    what?: string,
  ): Promise<T[]> {
    const items: T[] = [];
    for await (const raw of this.records(first, signal, group, what)) {
      const item = parse(raw);
      if (item) items.push(item);
    }
    return items;
  }

  // ------------------------------------------------------------ hints

  /** The hinted call's recordings from the call log; not ready while it or a hinted recording is unlisted. */
  async resolveHint(job: HintJob, signal?: AbortSignal): Promise<SourceRecording[]> {
    const { hint } = job;
    const telephonySessionId = hint.telephonySessionId?.trim() || undefined;
    const sessionId = hint.sessionId?.trim() || undefined;
    if (!telephonySessionId && !sessionId) {
      throw new PermanentError('RingCentral hint has neither telephonySessionId nor sessionId');
    }
    const eventMs = Date.parse(job.eventTime);
    if (Number.isNaN(eventMs)) throw new PermanentError(`hint has an invalid eventTime "${job.eventTime}"`);
    const call = telephonySessionId ?? sessionId;
    const records = await this.callRecords(telephonySessionId, sessionId, eventMs - HINT_LOOKBACK_MS, signal);
    if (records.length === 0) {
      throw new NotReadyError(
        `RingCentral call ${call} is not in the call log yet (event at ${job.eventTime})`,
      );
    }
    const hinted = (hint.recordingIds ?? '').split(',').filter((id) => id !== '');
    const listed = new Set(records.flatMap((record) => recordingsOfRecord(record).map(({ id }) => id)));
    const missing = hinted.filter((id) => !listed.has(id));
    if (missing.length > 0) {
      // Recordings under RingCentral's minimum length are never kept; the log says so with shortRecording,
      // on the call or on one of its legs.
      if (!records.some(hasShortRecording)) {
        throw new NotReadyError(`RingCentral call ${call} does not list recording ${missing.join(', ')} yet`);
      }
      this.log.info('ringcentral recording too short to be kept', { sourceId: this.sourceId, call, missing });
    }
    const directory = await this.directoryCache.get();
    const found = records.flatMap((record) => this.recordingsInScope(record, directory));
    return found.filter(
      (recording, index) => found.findIndex((first) => first.recordingId === recording.recordingId) === index,
    );
  }

  // ------------------------------------------------------------ content

  /** A Heavy request for the recording's content on the media host (the token in the header only). */
  private openContent(
    method: string,
    recording: SourceRecording,
    signal?: AbortSignal,
    headers: Record<string, string> = {},
  ): Promise<OpenAnswer> {
    const record = jsonObject(recording.raw);
    const listed =
      record && recordingsOfRecord(record).find(({ id }) => id === recording.recordingId)?.contentUri;
    const url = new URL(
      listed ??
        `${this.config.mediaUrl.replace(/\/+$/, '')}/restapi/v1.0${this.accountPath(`/recording/${encodeURIComponent(recording.recordingId)}/content`)}`,
    );
    // The token goes in the Authorization header only; a URL that carries one is cleaned of it.
    url.searchParams.delete('access_token');
    const allowedHosts = this.downloadHosts;
    assertAllowedUrl(url.href, allowedHosts);
    const accept = { accept: MEDIA_ACCEPT, ...headers };
    return this.api.open({ method, url: url.href, group: 'heavy', allowedHosts, headers: accept, signal });
  }

  async openDownload(
    recording: SourceRecording,
    signal?: AbortSignal,
    request: DownloadRequest = {},
  ): Promise<DownloadStream> {
    const answer = await this.openContent('GET', recording, signal, rangeHeaders(request.fromByte));
    // The call log names no format (MP3 or WAV, company-wide) and metadata costs a Heavy request: the
    // archive names the copy from this response's first bytes and Content-Type instead.
    if (answer.status >= 200 && answer.status < 300) return downloadOf(answer);
    const detail = await describeAndDrop(answer);
    if (answer.status === 404) return this.throwForMissingContent(recording, detail, signal);
    throw errorForStatus(answer.status, answer.headers, answer.where, detail);
  }

  /** A content 404: normal soon after the call; later, gone only if the call log no longer lists it. */
  private async throwForMissingContent(
    recording: SourceRecording,
    detail: string | undefined,
    signal?: AbortSignal,
  ): Promise<never> {
    const endedMs = (recording.endedAt ?? recording.startedAt).getTime();
    const sinceEndMs = this.clock.now().getTime() - endedMs;
    if (sinceEndMs < this.tuning.goneCheckAfterMs) {
      throw new NotReadyError(
        `RingCentral has no content yet for recording ${recording.recordingId} (${detail ?? 'HTTP 404'}); normal shortly after hang-up`,
        { retrySoonerSeconds: CONTENT_AFTER_HANG_UP_RETRY_SECONDS },
      );
    }
    return judgeMissingContent({
      stillAtSource: () => this.stillInCallLog(recording, signal),
      notReady: `RingCentral lists recording ${recording.recordingId} but serves no content for it yet (${detail ?? 'HTTP 404'})`,
      gone: `RingCentral recording ${recording.recordingId} is gone at the source: its content answers 404 and the call log no longer lists it`,
    });
  }

  /** Whether the call log still lists the recording on its call. */
  private async stillInCallLog(recording: SourceRecording, signal?: AbortSignal): Promise<boolean> {
    const raw = jsonObject(recording.raw);
    const records = await this.callRecords(
      idText(raw?.telephonySessionId),
      idText(raw?.sessionId) ?? recording.callId,
      recording.startedAt.getTime() - 3_600_000,
      signal,
    );
    return records.some((record) =>
      recordingsOfRecord(record).some((listed) => listed.id === recording.recordingId),
    );
  }

  /**
   * The media host's size (HEAD's Content-Length, else a one-byte range's total), `'gone'` on 404. The call
   * log reports no size, so retention asks this (one Heavy request) to vouch for a copy.
   */
  async reportedSize(recording: SourceRecording, signal?: AbortSignal): Promise<number | 'gone' | undefined> {
    const head = await this.openContent('HEAD', recording, signal);
    head.body.destroy();
    if (head.status === 404) return 'gone';
    const length = downloadOf(head).contentLength;
    if (head.status >= 200 && head.status < 300 && length !== undefined) return length;
    if (head.status >= 300 && head.status !== 405 && head.status !== 501) {
      throw errorForStatus(head.status, head.headers, head.where);
    }
    // No length on HEAD (or HEAD refused): ask for one byte and read the total from Content-Range.
    const range = await this.openContent('GET', recording, signal, { range: 'bytes=0-0' });
    range.body.destroy();
    if (range.status === 404) return 'gone';
    const total = /\/(\d+)\s*$/.exec(String(range.headers['content-range'] ?? ''))?.[1];
    if (range.status === 206 && total) return Number(total);
    const fullLength = downloadOf(range).contentLength;
    if (range.status === 200 && fullLength !== undefined) return fullLength;
    if (range.status >= 300) throw errorForStatus(range.status, range.headers, range.where);
    return undefined;
  }

  // ------------------------------------------------------------ retention

  /** Deletes the recording's file by id (`DELETE /account/~/call-recordings`), not the call-log row. */
  async deleteRecording(
    recording: SourceRecording,
    signal?: AbortSignal,
  ): Promise<'deleted' | 'already-gone'> {
    const response = await this.api.send({
      method: 'DELETE',
      url: this.api.url(this.accountPath('/call-recordings')),
      group: 'heavy',
      allowedHosts: this.api.apiHosts,
      json: { records: [recording.recordingId] },
      signal,
    });
    return deleteOutcome(response, `RingCentral recording ${recording.recordingId}`);
  }

  // ------------------------------------------------------------ webhooks

  /** One account telephony-session subscription; none without a secret (every delivery would be refused). */
  async webhookSubscriptions(): Promise<WebhookSubscriptionPlan | undefined> {
    if (!this.webhookSecret) return undefined;
    return {
      api: new RingCentralSubscriptionApi(this.api),
      // `~` whatever the scope's account: the JWT user's account is the one whose sessions we may watch.
      filters: ['/restapi/v1.0/account/~/telephony/sessions'],
      secret: this.webhookSecret,
      address: (webhookUrl) => webhookUrl,
    };
  }

  async handleWebhook(request: WebhookRequest): Promise<WebhookOutcome> {
    if (isHandshakeWithBody(request)) {
      // Which header RingCentral really sends is not settled (README, Known limits): each such request
      // is logged, accepted or refused, so the first real account shows it (`event` for a metric filter).
      this.log.warn('ringcentral request carries Validation-Token with a body: handled as a delivery', {
        sourceId: this.sourceId,
        event: 'RINGCENTRAL_HANDSHAKE_WITH_BODY',
        verificationTokenHeader: request.headers['verification-token'] !== undefined,
      });
    }
    return handleRingCentralWebhook(request, { sourceId: this.sourceId, webhookSecret: this.webhookSecret });
  }
}
