/**
 * Teams ad hoc call and meeting recordings (`callRecording`) through Microsoft Graph, application
 * permissions. Notifications are hints; Graph's metadata is the truth (a content 404 asks for it again).
 * Content streams from where Graph redirects (SharePoint / OneDrive), allowed hosts only. No delete.
 */
import { InvalidInputError, NotReadyError, PermanentError, TransientError } from '../../core/errors';
import type { HintJob } from '../../core/jobs';
import { listRecordingsByScope } from '../../core/listing-scopes';
import {
  type Clock,
  type DownloadRequest,
  type DownloadStream,
  type ListingScope,
  type Log,
  type RecordingSource,
  type SourceCapabilities,
  silentLog,
  systemClock,
  type WebhookRequest,
  type WebhookSubscriptionPlan,
} from '../../core/ports';
import type { SourceRecording, TimeWindow } from '../../core/recording';
import type { TokenStore } from '../../core/shared-state';
import { MEDIA_ACCEPT, parseJsonBody, rangeHeaders } from '../http';
import { downloadOf } from '../shared/authorised-client';
import { pinDownloadHosts } from '../shared/download-hosts';
import { jsonObject } from '../shared/json';
import { parseOrSkip, uniqueInWindow } from '../shared/listing';
import { judgeMissingContent } from '../shared/missing-content';
import { followPages, type Page } from '../shared/paging';
import {
  type TeamsRecordingsCredentials,
  type TeamsRecordingsRecordingKind,
  type TeamsRecordingsSourceConfig,
  teamsRecordingsDownloadHosts,
} from './teams-recordings-config';
import {
  DEFAULT_LISTING_CONCURRENCY,
  GRAPH_BATCH_LIMIT,
  GraphBatcher,
  graphErrorDetail,
  graphPage,
  TeamsRecordingsGraph,
} from './teams-recordings-graph';
import {
  listRecordingsUrl,
  organizerOf,
  type RecordingReference,
  recordingFromCallRecording,
  recordingUrl,
  referenceOf,
  sweepableUserId,
} from './teams-recordings-resources';
import {
  MSTEAMS_RENEW_BEFORE_MS,
  TeamsRecordingsSubscriptionApi,
  teamsRecordingsSubscriptionFilters,
} from './teams-recordings-subscriptions';
import { handleTeamsRecordingsWebhook, type TeamsRecordingsWebhookOutcome } from './teams-recordings-webhook';

export const MSTEAMS_CAPABILITIES: SourceCapabilities = { list: true, delete: false };

const DEFAULT_TUNING = {
  idleTimeoutMs: 60_000,
  connectTimeoutMs: 15_000,
  /** Longest Graph Retry-After waited out inside one request; longer ones go back to the queue. */
  maxInlineWaitMs: 30_000,
  maxThrottledAttempts: 4,
  /** How long the resolved user scope (ids of configured UPNs, or every tenant user) is reused. */
  usersTtlMs: 3_600_000,
  /** A hinted recording whose metadata answers 404 this soon after its notification is "not ready yet". */
  hintNotFoundGraceMs: 6 * 3_600_000,
  /** A userless notification is looked for this long before it (a recording is dated by its start) … */
  userlessHintBeforeMs: 12 * 3_600_000,
  /** … up to this long after it (clocks disagree a little). */
  userlessHintAfterMs: 15 * 60_000,
  leaseWaitMs: 30_000,
  leasePollMs: 200,
  refusalCooldownMs: 15 * 60_000,
};

export type TeamsRecordingsTuning = typeof DEFAULT_TUNING;

export interface TeamsRecordingsSourceOptions {
  config: TeamsRecordingsSourceConfig;
  credentials: TeamsRecordingsCredentials;
  /** Where the app token is shared: every worker of the source reads and renews it there. */
  tokenStore: TokenStore;
  clock?: Clock;
  log?: Log;
  tuning?: Partial<TeamsRecordingsTuning>;
}

interface ScopedUser {
  /** The object id (lower case); empty for a configured name Graph does not know (see `missing`). */
  id: string;
  userPrincipalName?: string;
  /** Why a configured user could not be resolved: listing that user's recordings fails with it. */
  missing?: string;
}

interface ListingPart {
  user: ScopedUser;
  kind: TeamsRecordingsRecordingKind;
}

const KIND_LABELS: Record<TeamsRecordingsRecordingKind, string> = {
  adhocCalls: 'ad hoc call recordings',
  onlineMeetings: 'meeting recordings',
};

/** One user's recordings of one kind: the part the access policy (granted per user) refuses or serves. */
function scopeOf(user: ScopedUser, kind: TeamsRecordingsRecordingKind): ListingScope {
  const subject = user.id || (user.userPrincipalName ?? '').toLowerCase();
  return {
    id: `${subject}/${kind}`,
    subject,
    label: `${user.userPrincipalName ?? user.id} ${KIND_LABELS[kind]}`,
  };
}

export class TeamsRecordingsSource implements RecordingSource {
  readonly provider = 'msteams' as const;
  readonly capabilities = MSTEAMS_CAPABILITIES;
  readonly sourceId: string;
  readonly graph: TeamsRecordingsGraph;
  /** The sweep's Graph reads, batched and bounded (teams-recordings-graph.ts). */
  readonly batcher: GraphBatcher;
  /** Parts listed at once (core/listing-scopes.ts): enough for every Graph request to carry a full batch. */
  readonly listingConcurrency: number;
  private readonly config: TeamsRecordingsSourceConfig;
  private readonly webhookSecret: string | undefined;
  private readonly clock: Clock;
  private readonly log: Log;
  private readonly tuning: TeamsRecordingsTuning;
  private readonly downloadHosts: string[];
  private scope: { users: ScopedUser[]; atMs: number } | undefined;
  /** The parts of the cached scope by id: a sweep asks for each of 20,000 parts of a large tenant. */
  private partsById: { users: ScopedUser[]; parts: Map<string, ListingPart> } | undefined;

  constructor(options: TeamsRecordingsSourceOptions) {
    const { config, credentials } = options;
    if (config.mediaPersistenceApproved !== true) {
      throw new PermanentError(`msteams source ${config.id}: mediaPersistenceApproved must be true`);
    }
    this.config = config;
    this.sourceId = config.id;
    this.webhookSecret = credentials.webhookSecret;
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? silentLog;
    this.tuning = { ...DEFAULT_TUNING, ...options.tuning };
    // Pinned to their ports: the one rule of ../shared/download-hosts.ts.
    this.downloadHosts = pinDownloadHosts(
      teamsRecordingsDownloadHosts(config),
      new URL(config.graphUrl).protocol,
    );
    this.graph = new TeamsRecordingsGraph({
      ...this.tuning,
      loginUrl: config.loginUrl,
      graphUrl: config.graphUrl,
      tenantId: config.tenantId,
      clientId: credentials.clientId,
      clientSecret: credentials.clientSecret,
      sourceId: config.id,
      key: `msteams/${config.id}`,
      store: options.tokenStore,
      clock: this.clock,
      log: this.log,
      pollMs: this.tuning.leasePollMs,
    });
    const concurrency = config.listingConcurrency ?? DEFAULT_LISTING_CONCURRENCY;
    const batchSize = config.listingBatchSize ?? GRAPH_BATCH_LIMIT;
    this.batcher = new GraphBatcher(this.graph, concurrency, batchSize);
    this.listingConcurrency = concurrency * batchSize;
  }

  /** The Graph side of `ensureSubscriptionsForSource` for this source (same token, same throttling). */
  subscriptionApi(): TeamsRecordingsSubscriptionApi {
    return new TeamsRecordingsSubscriptionApi(this.graph, this.clock);
  }

  // ------------------------------------------------------------ users in scope

  /** The users whose recordings are archived, resolved to object ids; cached for `usersTtlMs`. */
  async usersInScope(signal?: AbortSignal): Promise<ScopedUser[]> {
    const now = this.clock.now().getTime();
    if (this.scope && now - this.scope.atMs < this.tuning.usersTtlMs) return this.scope.users;
    const users = this.config.users === 'all' ? await this.allUsers(signal) : await this.listedUsers(signal);
    this.scope = { users, atMs: now };
    return users;
  }

  private async allUsers(signal?: AbortSignal): Promise<ScopedUser[]> {
    const users: ScopedUser[] = [];
    const first = new URL('/v1.0/users', this.config.graphUrl);
    first.searchParams.set('$select', 'id,userPrincipalName');
    first.searchParams.set('$top', '999');
    for await (const item of this.pages(first.href, signal)) {
      const record = jsonObject(item);
      const id = typeof record?.id === 'string' ? record.id : undefined;
      if (!id) continue;
      const upn = typeof record?.userPrincipalName === 'string' ? record.userPrincipalName : undefined;
      users.push({ id, ...(upn ? { userPrincipalName: upn } : {}) });
    }
    if (users.length === 0) {
      // "all" that finds nobody would archive nothing quietly: say so loudly instead.
      throw new PermanentError(`msteams source ${this.sourceId}: users is "all" but /users lists nobody`);
    }
    return users;
  }

  private async listedUsers(signal?: AbortSignal): Promise<ScopedUser[]> {
    const users: ScopedUser[] = [];
    for (const entry of this.config.users as string[]) {
      const objectId = sweepableUserId(entry);
      if (objectId) {
        users.push({ id: objectId });
        continue;
      }
      const url = new URL(`/v1.0/users/${encodeURIComponent(entry)}`, this.config.graphUrl);
      url.searchParams.set('$select', 'id,userPrincipalName');
      const answer = await this.graph.get(url.href, { signal });
      if (answer.status === 404) {
        // One user deleted (or misspelt) must not stop the others: listing that user fails, alone.
        users.push({
          id: '',
          userPrincipalName: entry,
          missing: `msteams source ${this.sourceId}: user ${entry} does not exist in the tenant (deleted, or misspelt; fix "users" in the configuration)`,
        });
        continue;
      }
      const id = jsonObject(parseJsonBody(answer))?.id;
      if (typeof id !== 'string') throw new TransientError(`Graph answered no id for user ${entry}`);
      users.push({ id: id.toLowerCase(), userPrincipalName: entry });
    }
    return users;
  }

  /**
   * Every item of a Graph collection, following `@odata.nextLink`. A user's 404 is skipped with "all"
   * (it includes accounts Teams knows nothing of); a user someone named must exist.
   */
  private async *pages(firstUrl: string, signal?: AbortSignal, userId?: string): AsyncIterable<unknown> {
    const fetchPage = async (url: string): Promise<Page<unknown>> => {
      const answer = await this.batcher.get(url, { signal, userId });
      if (answer.status !== 404) return graphPage(answer, 'Graph collection');
      const detail = graphErrorDetail(answer.text);
      if (userId && this.config.users === 'all') {
        this.log.warn('graph has no recordings collection for a user; skipped', {
          sourceId: this.sourceId,
          userId,
          detail,
        });
        return { items: [] };
      }
      if (!userId) throw this.graph.errorOf(answer);
      throw new PermanentError(
        `Graph answered 404 for the recordings of user ${userId} (${detail ?? 'not found'}): the user was ` +
          'deleted from the tenant or has no Teams account; remove it from "users" in the configuration',
      );
    };
    yield* followPages(firstUrl, fetchPage, 'Graph');
  }

  // ------------------------------------------------------------ listing

  /** One part per user and kind: the access policy is per user; one user's 403 must not stop the others. */
  async listingScopes(signal?: AbortSignal): Promise<ListingScope[]> {
    const users = await this.usersInScope(signal);
    return users.flatMap((user) => this.config.recordings.map((kind) => scopeOf(user, kind)));
  }

  /** Every recording created inside the window, per user in scope and per configured kind (or one part). */
  async *listRecordings(
    window: TimeWindow,
    signal?: AbortSignal,
    scope?: ListingScope,
  ): AsyncIterable<SourceRecording> {
    const users = await this.usersInScope(signal);
    if (this.partsById?.users !== users) {
      const parts = new Map<string, ListingPart>();
      for (const user of users) {
        for (const kind of this.config.recordings) parts.set(scopeOf(user, kind).id, { user, kind });
      }
      this.partsById = { users, parts };
    }
    const { parts } = this.partsById;
    const keep = uniqueInWindow(window);
    for (const part of scope ? [parts.get(scope.id)] : parts.values()) {
      if (!part) {
        throw new PermanentError(
          `msteams source ${this.sourceId}: ${scope?.label} is no longer in the source's scope`,
        );
      }
      const { user, kind } = part;
      if (user.missing) throw new PermanentError(user.missing);
      const first = listRecordingsUrl(this.config.graphUrl, kind, user.id, window);
      for await (const item of this.pages(first, signal, user.id)) {
        const recording = this.parse(item, kind, user.id);
        if (keep(recording)) yield recording as SourceRecording;
      }
    }
  }

  private parse(item: unknown, kind: TeamsRecordingsRecordingKind, userId: string, containerId?: string) {
    const { sourceId } = this;
    return parseOrSkip(
      () => recordingFromCallRecording(item, { sourceId, kind, userId, containerId }),
      this.log,
      'skipping malformed Teams callRecording',
      { sourceId, kind },
    );
  }

  // ------------------------------------------------------------ hints

  /** The named recording, from its metadata: not ready while Graph answers 404; none if out of scope. */
  async resolveHint(job: HintJob, signal?: AbortSignal): Promise<SourceRecording[]> {
    const named = referenceOfHint(job);
    if (!this.config.recordings.includes(named.kind)) return [];
    if (!named.userId) return this.resolveByListing(job, named, signal);
    const reference = { ...named, userId: named.userId };
    const url = recordingUrl(this.config.graphUrl, reference);
    const answer = await this.graph.get(url, { signal, userId: reference.userId });
    if (answer.status === 404) {
      this.throwWhileInGrace(job, reference, graphErrorDetail(answer.text) ?? 'HTTP 404');
      return [];
    }
    const metadata = parseJsonBody(answer);
    // A path may name its user by principal name; the scope holds object ids.
    const userId = (
      sweepableUserId(reference.userId) ??
      organizerOf(metadata)?.id ??
      reference.userId
    ).toLowerCase();
    // With "all" every organizer is in scope: no need to page the whole directory for one hint.
    const inScope =
      this.config.users === 'all' || (await this.usersInScope(signal)).some((user) => user.id === userId);
    if (!inScope) {
      this.log.debug('teams recording of a user outside the scope; not archived', {
        sourceId: this.sourceId,
        recordingId: reference.recordingId,
      });
      return [];
    }
    const recording = this.parse(metadata, reference.kind, userId, reference.containerId);
    if (!recording)
      throw new PermanentError(`Teams recording ${shortId(reference.recordingId)} has malformed metadata`);
    return [recording];
  }

  /**
   * A notification naming no user (`communications/{kind}('…')/recordings('…')`): `callRecording: get`
   * documents only paths through a user, so instead of an undocumented tenant-wide GET the users in scope
   * are listed around the notification (README "Microsoft Teams recordings: subscriptions").
   */
  private async resolveByListing(
    job: HintJob,
    reference: RecordingReference,
    signal?: AbortSignal,
  ): Promise<SourceRecording[]> {
    const notifiedMs = Date.parse(job.eventTime);
    const window: TimeWindow = {
      from: new Date(notifiedMs - this.tuning.userlessHintBeforeMs),
      to: new Date(notifiedMs + this.tuning.userlessHintAfterMs),
    };
    // User by user: one user outside the access policy must not hold back the hint of another.
    const refusals: Error[] = [];
    const onFailure = ({ error }: { error: Error }) => refusals.push(error);
    for await (const recording of listRecordingsByScope(this, window, { onFailure }, signal)) {
      if (recording.recordingId === reference.recordingId) return [recording];
    }
    // Not found, and some users could not be listed: the recording may be theirs, so their refusal (an
    // access policy missing, say) is this hint's answer, retried and alarmed as such.
    const [refusal] = refusals;
    if (refusal) throw refusal;
    this.throwWhileInGrace(job, reference, 'not in the listings of the users in scope');
    return [];
  }

  /** Not ready while the hint is young; afterwards logged once, and nothing is archived for it. */
  private throwWhileInGrace(job: HintJob, reference: RecordingReference, detail: string): void {
    const sinceMs = this.clock.now().getTime() - Date.parse(job.eventTime);
    if (sinceMs < this.tuning.hintNotFoundGraceMs) {
      throw new NotReadyError(
        `Teams recording ${shortId(reference.recordingId)} is not found yet (${detail})`,
      );
    }
    // A recording of a user outside the scope ends here too: the sweep covers every user in scope.
    this.log.warn('teams recording named by a notification was never found; nothing to archive', {
      sourceId: this.sourceId,
      kind: reference.kind,
      recordingId: reference.recordingId,
      notifiedAt: job.eventTime,
      detail,
    });
  }

  // ------------------------------------------------------------ content

  /** Streams `…/recordings/{id}/content`, following Graph's redirect to an allowed content host. */
  async openDownload(
    recording: SourceRecording,
    signal?: AbortSignal,
    request: DownloadRequest = {},
  ): Promise<DownloadStream> {
    const reference = referenceOf(recording);
    // `…/recordings/{id}/content`: video/mp4, typically a redirect to the SharePoint/OneDrive host.
    const answer = await this.graph.open({
      method: 'GET',
      url: `${recordingUrl(this.config.graphUrl, reference)}/content`,
      allowedHosts: this.downloadHosts,
      headers: { accept: MEDIA_ACCEPT, ...rangeHeaders(request.fromByte) },
      signal,
    });
    if (answer.status < 200 || answer.status >= 300) {
      const detail = await this.graph.describe(answer);
      if (answer.status === 404) return this.throwForMissingContent(recording, reference, detail, signal);
      throw this.graph.errorFor(answer, detail, reference.userId);
    }
    // The archive types the copy from its first bytes and this Content-Type (octet-stream MP4 is video/mp4).
    return downloadOf(answer);
  }

  /** Content 404: metadata gone too is expired or deleted; still there is processing (`contentWaitHours`). */
  private async throwForMissingContent(
    recording: SourceRecording,
    reference: RecordingReference & { userId: string },
    detail: string | undefined,
    signal?: AbortSignal,
  ): Promise<never> {
    const id = shortId(recording.recordingId);
    return judgeMissingContent({
      stillAtSource: async () => {
        const url = recordingUrl(this.config.graphUrl, reference);
        const metadata = await this.graph.get(url, { signal, userId: reference.userId });
        return metadata.status !== 404;
      },
      notReady: `Teams has no content yet for recording ${id} (${detail ?? 'HTTP 404'}); still processing`,
      gone:
        `Teams recording ${id} is gone at the source: its metadata and its content ` +
        `answer 404 (expired, by default 120 days after the meeting or call, or deleted)`,
      stillThere: () => {
        // Processing starts when the recording ends; a long meeting's creation time says little.
        const waitedMs = this.clock.now().getTime() - (recording.endedAt ?? recording.startedAt).getTime();
        if (waitedMs <= this.config.contentWaitHours * 3_600_000) return undefined;
        return new PermanentError(
          `Teams lists recording ${id} but has served no content for it in ` +
            `${this.config.contentWaitHours} hours (${detail ?? 'HTTP 404'})`,
        );
      },
    });
  }

  // ------------------------------------------------------------ retention

  async deleteRecording(recording: SourceRecording): Promise<'deleted' | 'already-gone'> {
    throw new PermanentError(
      `msteams source ${this.sourceId}: Graph offers no delete for Teams recordings through this API, so ` +
        `recording ${shortId(recording.recordingId)} stays at Teams until its own expiry ` +
        '(capabilities.delete is false; retention must skip this source)',
    );
  }

  // ------------------------------------------------------------ webhooks

  /** One tenant-wide `created` subscription per kind; none without a webhookSecret (its clientState). */
  async webhookSubscriptions(): Promise<WebhookSubscriptionPlan | undefined> {
    if (!this.webhookSecret) return undefined;
    return {
      api: this.subscriptionApi(),
      filters: teamsRecordingsSubscriptionFilters(this.config.recordings),
      secret: this.webhookSecret,
      address: (webhookUrl) => webhookUrl,
      renewBeforeMs: MSTEAMS_RENEW_BEFORE_MS,
    };
  }

  async handleWebhook(request: WebhookRequest): Promise<TeamsRecordingsWebhookOutcome> {
    return handleTeamsRecordingsWebhook(request, {
      sourceId: this.sourceId,
      webhookSecret: this.webhookSecret,
      tenantId: this.config.tenantId,
      clock: this.clock,
      log: this.log,
    });
  }
}

/** A log-friendly prefix of a Teams id (they run to ~270 characters). */
function shortId(id: string): string {
  return id.length > 40 ? `${id.slice(0, 40)}…` : id;
}

/** The reference a hint job carries (see `hintJobFor`); PermanentError when it is not one. */
export function referenceOfHint(job: HintJob): RecordingReference {
  const { kind, userId, callId, meetingId, recordingId } = job.hint;
  if (kind !== 'adhocCalls' && kind !== 'onlineMeetings') {
    throw new PermanentError(`Teams hint has an unknown kind "${String(kind).slice(0, 40)}"`);
  }
  const containerId = kind === 'adhocCalls' ? callId : meetingId;
  if (!containerId || !recordingId) {
    throw new InvalidInputError(
      `Teams hint lacks its ${kind === 'adhocCalls' ? 'callId' : 'meetingId'} or recordingId`,
    );
  }
  return { kind, containerId, recordingId, ...(userId ? { userId } : {}) };
}
