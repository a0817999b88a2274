/**
 * The interfaces the use cases need from the outside world. Adapters (S3, SQS, local folder, in-process
 * queue, provider APIs) implement them; tests pass real adapters against moto and the sandboxes.
 */
import type { Readable } from 'node:stream';
import type { ObjectChecksum } from './checksums';
import type { UploadedPart } from './continuation';
import type { SubscriptionApi } from './ensure-subscriptions-for-source';
import type { ArchiveJob, DownloadGrant, HintJob, RecordingJob } from './jobs';
import type { ProviderName, SourceRecording, TimeWindow } from './recording';
import type { Sidecar } from './sidecar';
import type { RecordingVerifier } from './verify-stream';

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

// ---------------------------------------------------------------- sources

export interface DownloadStream {
  body: Readable;
  /** The Content-Length header, when the server sent one. */
  contentLength?: number;
  /** The response's Content-Type as served; the archive weighs it against the first bytes. */
  contentType?: string;
  /** `Accept-Ranges: bytes` was served: a later continuation may ask for the rest (core/continuation.ts). */
  acceptRanges?: boolean;
  etag?: string;
  lastModified?: string;
  /** A 206 answer's Content-Range; absent for a 200 (the whole file). */
  contentRange?: { start: number; end: number; total?: number };
}

/** How to open a download: whole, or from a byte onwards (`Range: bytes={fromByte}-`). */
export interface DownloadRequest {
  fromByte?: number;
}

/** A webhook delivery in transport-neutral form (API Gateway event or local HTTP request). */
export interface WebhookRequest {
  method: string;
  /** Query string parameters, already URL-decoded. */
  query: Record<string, string | undefined>;
  /** Header names in lower case. */
  headers: Record<string, string | undefined>;
  /** The raw body as received (decoded from base64 if the transport encoded it). */
  body: string;
}

export interface WebhookResponse {
  status: number;
  contentType?: string;
  body: string;
  headers?: Record<string, string>;
}

export interface WebhookOutcome {
  response: WebhookResponse;
  /** Jobs to enqueue before the response is sent; enqueue failure turns the response into a 5xx. */
  jobs: ArchiveJob[];
  /** Named counts for metrics (e.g. failed operations, refused locations); never identifiers or secrets. */
  counts?: Readonly<Record<string, number>>;
  /**
   * Authenticated events the adapter could not interpret: never dropped silently. The host logs them
   * (alarmed) and, where the source can list, sweeps it at once: only `subjects` (the users or
   * extensions the events named) when every event named one, else the whole source.
   */
  notUnderstood?: NotUnderstoodEvents;
}

export interface NotUnderstoodEvents {
  events: number;
  subjects?: readonly string[];
}

/** A download opened with a grant (the archive names the copy from its first bytes, as for any download). */
export type GrantedDownload = DownloadStream;
/** A set-up fault of one source: an `errorCode` for alarms and a message that names the fix. */
export interface SourceProblem {
  code: string;
  message: string;
}

/** What a source supports beyond webhooks. Absent means everything (list and delete). */
export interface SourceCapabilities {
  /** The platform can list recordings: the sweep, backfill and status may ask it. */
  readonly list: boolean;
  /** The platform keeps recordings that retention may delete once archived. */
  readonly delete: boolean;
}

export interface SourceStats {
  count: number;
  bytes: number;
}

/**
 * A source whose platform delivers webhooks only to subscriptions someone creates (RingCentral,
 * Telphin event hooks): what the subscriptions use case needs to keep them as they should be.
 */
export interface WebhookSubscriptionPlan {
  api: SubscriptionApi;
  /** Exactly one subscription is kept per filter, in the form `SubscriptionApi.list` reports it. */
  filters: readonly string[];
  /** What the subscriptions are created with (RingCentral's verificationToken, Telphin's URL token). */
  secret: string;
  /** Where the platform should deliver, given this source's public webhook URL (`…/webhooks/{provider}/{sourceId}`). */
  address(webhookUrl: string): string;
  /** Whether a listed address is this endpoint (default: equal to `address(webhookUrl)`). */
  isOurs?(listedAddress: string, webhookUrl: string): boolean;
  /** Renew once less than this is left (ensureSubscriptionsForSource' default suits multi-day lifetimes only). */
  renewBeforeMs?: number;
}

/**
 * One part of a source that is listed on its own (a Teams user and recording kind, a RingCentral
 * extension). A refusal of one part is recorded against it and the other parts are listed all the same
 * (core/listing-scopes.ts).
 */
export interface ListingScope {
  /** Stable across runs: the run ledger keeps failures under it (`{userId}/onlineMeetings`). */
  readonly id: string;
  /** The user or extension the part belongs to: what "sweep this user" names. */
  readonly subject: string;
  /** What status shows (`alice@contoso.com meeting recordings`). */
  readonly label: string;
}

/** One configured account at one platform. One adapter per provider implements this. */
export interface RecordingSource {
  readonly provider: ProviderName;
  readonly sourceId: string;
  /** Absent: list and delete are both supported. Webhook-only sources say `{ list: false, delete: false }`. */
  readonly capabilities?: SourceCapabilities;
  /**
   * Every recording whose call started inside the window. The adapter splits the window and pages as
   * the provider requires, and serialises its list calls where the provider demands it. With `scope`
   * (one of `listingScopes()`), only that part's recordings.
   */
  listRecordings(
    window: TimeWindow,
    signal?: AbortSignal,
    scope?: ListingScope,
  ): AsyncIterable<SourceRecording>;
  /**
   * The parts the source is listed by, where a platform can refuse one part and serve the others (Teams:
   * the application access policy is granted per user). Absent: the source is listed whole.
   */
  listingScopes?(signal?: AbortSignal): Promise<ListingScope[]>;
  /**
   * How many parts may be listed at once (core/listing-scopes.ts); absent or 1: one after another. A
   * source that says more bounds its own requests in flight (Teams: Graph `$batch`, a few at a time).
   */
  readonly listingConcurrency?: number;
  /**
   * The recordings the API holds for a webhook hint. Throws NotReadyError while the hinted recording is
   * not yet listed (webhooks are hints; the API is the truth).
   */
  resolveHint(job: HintJob, signal?: AbortSignal): Promise<SourceRecording[]>;
  /** Opens the recording's bytes through the provider's preferred route; hosts are checked first. */
  openDownload(
    recording: SourceRecording,
    signal?: AbortSignal,
    request?: DownloadRequest,
  ): Promise<DownloadStream>;
  /**
   * Opens a recording a notification granted (`fetch-now` jobs): the grant's URL with its bearer token.
   * Hosts are checked first; a refused or vanished grant throws ExpiredBeforeFetchError.
   */
  openGrantedDownload?(
    recording: SourceRecording,
    grant: DownloadGrant,
    signal?: AbortSignal,
  ): Promise<GrantedDownload>;
  /**
   * The size of the recording's content as the source reports it now, for platforms whose listing gives
   * none (RingCentral's call log): what vouches for a copy at retention. `'gone'` when the content no
   * longer exists, undefined when the platform reports no size (the copy is then never deleted).
   */
  reportedSize?(recording: SourceRecording, signal?: AbortSignal): Promise<number | 'gone' | undefined>;
  /** Deletes exactly this one recording at the source. Never a range. */
  deleteRecording(recording: SourceRecording, signal?: AbortSignal): Promise<'deleted' | 'already-gone'>;
  /**
   * The subscriptions this source wants, where the platform has them; undefined when it wants none now
   * (no webhook secret configured, or the option is off).
   */
  webhookSubscriptions?(): Promise<WebhookSubscriptionPlan | undefined>;
  /** Totals for a window, where the provider offers them. */
  stats?(window: TimeWindow, signal?: AbortSignal): Promise<SourceStats>;
  /**
   * What in the source's set-up stops part of the work (a permission the app lacks), found without
   * spending more than a login; empty when nothing is known to be wrong. Checked at start-up and by
   * `npm run status`.
   */
  setupProblems?(signal?: AbortSignal): Promise<SourceProblem[]>;
  /**
   * Authenticates and parses one webhook delivery. Throws UnauthenticatedError (refused with 401/403)
   * or InvalidInputError (400); never enqueues on either.
   */
  handleWebhook(request: WebhookRequest): Promise<WebhookOutcome>;
}

// ---------------------------------------------------------------- storage

export interface ArchivedCopy {
  key: string;
  /** Bytes stored. */
  size: number;
  /**
   * SHA-256 (hex) in the object's own metadata, fixed when it was written: single-put copies, and every
   * copy archived before the sidecar's schema 2. A multipart upload cannot carry it (metadata is set when
   * the upload starts, the hash is known only at its end).
   */
  sha256?: string;
  /**
   * SHA-256 (hex) in the object's `sha256` tag, set when it was written. Whoever may tag objects can
   * change it, so it only cross-checks the sidecar, which is written once and locked.
   */
  taggedSha256?: string;
  /** The whole-object checksum the store verified when the object was written, as it reports it now. */
  checksum?: ObjectChecksum;
  /** Size the source reported at upload, from the object's metadata. */
  sourceSize?: number;
  contentType?: string;
  lastModified: Date;
  hasSidecar: boolean;
  /** The object's tags, the `sha256` tag excepted (see `taggedSha256`). */
  tags: Record<string, string>;
  /** An S3 Object Lock legal hold is on (or the `legal-hold` tag says so). */
  legalHold?: boolean;
}

export interface PutRecordingInput {
  key: string;
  /** The verified byte stream; `body.summary()` is valid once it has ended without error. */
  body: RecordingVerifier;
  contentType: string;
  sourceSize?: number;
  tags: Record<string, string>;
  /** Fires shortly before the invocation's deadline; the store aborts and leaves nothing behind. */
  signal?: AbortSignal;
}

export interface StoredRecording {
  size: number;
  sha256: string;
  /** The whole-object checksum the store had verified on write, where it keeps one. */
  checksum?: ObjectChecksum;
}

/** Where a continued upload stands: the store's parts 1..n, holding `offset` bytes. */
export interface UploadResumePoint {
  uploadId: string;
  parts: readonly UploadedPart[];
  offset: number;
}

export interface ResumableUploadInput extends PutRecordingInput {
  /** Fires when the upload should stop at the next part boundary and hand back where it stands. */
  checkpoint: AbortSignal;
  /** An open upload to continue (already checked against the store's parts); absent: a new one. */
  resume?: UploadResumePoint;
}

export type ResumableUploadResult =
  | { kind: 'stored'; stored: StoredRecording }
  | { kind: 'checkpoint'; uploadId: string; offset: number; parts: UploadedPart[] };

/**
 * Multipart uploads that can stop at a part boundary and be continued by another process
 * (core/continuation.ts). Only stores with such uploads offer it (S3); others archive in one go.
 */
export interface ResumableUploads {
  /** The part size: checkpoints fall on its multiples. */
  readonly partSizeBytes: number;
  /**
   * As putRecording, but when `checkpoint` fires after at least one part the upload is left open and
   * its state returned. Any failure aborts the upload, continued or not: nothing doubtful is kept.
   */
  putResumable(input: ResumableUploadInput): Promise<ResumableUploadResult>;
  /** The parts of an open upload in order, as the store reports them; undefined when it is gone. */
  listUploadedParts(key: string, uploadId: string): Promise<UploadedPart[] | undefined>;
  /** Aborts an open upload; one already gone is fine. */
  abandonUpload(key: string, uploadId: string): Promise<void>;
}

export interface ArchiveStore {
  /** Present where uploads can outlive an invocation. */
  readonly resumable?: ResumableUploads;
  /** What is stored at a recording key, or undefined when nothing is. */
  inspect(key: string): Promise<ArchivedCopy | undefined>;
  /**
   * Streams a recording in and completes only if the verifier accepted every byte and no object exists
   * at the key yet (throws AlreadyArchivedError then). On any failure nothing is left behind.
   */
  putRecording(input: PutRecordingInput): Promise<StoredRecording>;
  /**
   * Writes the sidecar with the recording's tags, so per-class lifecycle rules move and expire both alike.
   * Only if there is none yet: throws AlreadyArchivedError when a sidecar exists.
   */
  putSidecar(recordingObjectKey: string, sidecar: Sidecar, tags?: Record<string, string>): Promise<void>;
  /**
   * Records a copy's SHA-256 beside it where the object itself cannot hold it (S3: the `sha256` tag, beside
   * the copy's other tags). Finishes a copy whose writer stopped after storing it.
   */
  recordSha256(key: string, sha256: string): Promise<void>;
  readSidecar(recordingObjectKey: string): Promise<Sidecar | undefined>;
  /** Streams the stored bytes back (deep verification, restores). */
  openRecording(key: string): Promise<Readable>;
  /**
   * Every key that starts with a prefix (a folder, or a recording's `{stem}.`). Finds a recording's copy
   * whatever its extension, and lets the sweep learn what a day holds with one listing.
   */
  listKeys(prefix: string): AsyncIterable<string>;
}

// ---------------------------------------------------------------- retention

/** One line of the retention audit trail (`audit/retention/{yyyy}/{mm}/{dd}/{runId}.jsonl`). */
export interface AuditEntry {
  runId: string;
  at: string;
  provider: ProviderName;
  sourceId: string;
  recordingId: string;
  startedAt: string;
  /** `deleting` is the intent, recorded durably before the delete call; its outcome follows. */
  decision: 'deleting' | 'deleted' | 'already-gone' | 'would-delete' | 'skipped' | 'failed' | 'stopped';
  /** Why a recording was skipped or the run stopped (e.g. `size-mismatch`, `kill-switch`). */
  reason?: string;
  detail?: string;
  dryRun: boolean;
  /** The archived copy that vouched for the delete. */
  objectKey?: string;
  size?: number;
  sha256?: string;
  sourceSize?: number;
}

export interface AuditLog {
  /** The trail of one retention run: one JSON-lines file per run. */
  open(runId: string, runStartedAt: Date): AuditTrail;
}

export interface AuditTrail {
  /**
   * Adds an entry. With `durable` it is stored, with everything before it, when this resolves: a delete
   * is attempted only after its intent was recorded so. Other entries may be batched until then.
   */
  record(entry: AuditEntry, options?: { durable?: boolean }): Promise<void>;
  /** Stores whatever is still batched. */
  close(): Promise<void>;
}

export interface KillSwitch {
  /** True when deletes must stop. Answers true when the switch cannot be read: fail safe. */
  engaged(): Promise<boolean>;
}

// ---------------------------------------------------------------- gone at the source

/**
 * A recording the source listed and then no longer held when the worker came to copy it. Kept as
 * evidence (what was listed, when it was found gone) at `goneAtSourceKey(objectKey)`.
 */
export interface GoneAtSourceRecord {
  v: 1;
  provider: ProviderName;
  sourceId: string;
  recordingId: string;
  /** Call start, ISO 8601 UTC. */
  startedAt: string;
  /** The key the recording would have had in the archive. */
  objectKey: string;
  detectedAt: string;
  /** How the source showed it was gone (the adapter's message). */
  reason: string;
  /** The recording as the source last listed it, raw record included. */
  listed: RecordingJob['recording'];
}

export interface GoneAtSourceLog {
  /** Stores the record durably; recording the same recording twice keeps one record. */
  record(entry: GoneAtSourceRecord): Promise<void>;
}

/**
 * A granted recording (a `fetch-now` job) the platform no longer served when the worker came to fetch it:
 * the token expired or the file was discarded. The recording is lost; the record is what operators and
 * `status` see, at `expiredBeforeFetchKey(objectKey)`. It never holds the token.
 */
export interface ExpiredBeforeFetchRecord {
  v: 1;
  provider: ProviderName;
  sourceId: string;
  recordingId: string;
  /** The recording's date as its key has it, ISO 8601 UTC. */
  startedAt: string;
  /** The key the recording would have had in the archive. */
  objectKey: string;
  /** When the notification carrying the grant arrived. */
  receivedAt: string;
  detectedAt: string;
  /** What the platform answered (the adapter's message). */
  reason: string;
  /** What the notification said about the recording (the token is not part of it). */
  notified: RecordingJob['recording'];
}

export interface ExpiredBeforeFetchLog {
  /** Stores the record durably; recording the same recording twice keeps one record. */
  record(entry: ExpiredBeforeFetchRecord): Promise<void>;
}

// ---------------------------------------------------------------- run ledger

/** `admin`: the last error only an administrator can lift that keeps a source's jobs waiting (core/admin-errors.ts). */
export type RunKind = 'sweep' | 'retention' | 'backfill' | 'subscriptions' | 'admin' | 'catalogue-compaction';

/** When a scheduled job last ended for a source, and what it did (read by `npm run status`). */
export interface RunRecord {
  kind: RunKind;
  sourceId: string;
  runId?: string;
  startedAt: string;
  endedAt: string;
  /** `partial`: the run went through, but some parts of the source failed (`summary.notCovered`). */
  outcome: 'ok' | 'partial' | 'failed';
  summary: Record<string, unknown>;
}

export interface RunLedger {
  record(run: RunRecord): Promise<void>;
  last(kind: RunKind, sourceId: string): Promise<RunRecord | undefined>;
}

/** `state/runs/{kind}/{sourceId}.json`: the same key in the bucket and under the local archive folder. */
export function runLedgerKey(kind: RunKind, sourceId: string): string {
  return `state/runs/${kind}/${sourceId}.json`;
}

// ---------------------------------------------------------------- queue

export interface JobQueue {
  /** Enqueues jobs on their provider's queue; resolves once every job is durably accepted. */
  enqueue(jobs: readonly ArchiveJob[]): Promise<void>;
}

// ---------------------------------------------------------------- logging

/**
 * Structured logging as the use cases need it. Powertools' Logger satisfies it on Lambda; the local
 * runner prints progress lines. Attributes must never carry secrets or download URLs with tokens.
 */
export interface Log {
  debug(message: string, attributes?: Record<string, unknown>): void;
  info(message: string, attributes?: Record<string, unknown>): void;
  warn(message: string, attributes?: Record<string, unknown>): void;
  error(message: string, attributes?: Record<string, unknown>): void;
}

export const silentLog: Log = { debug() {}, info() {}, warn() {}, error() {} };
