/**
 * Events for downstream consumers: one event per recording outcome that gets a catalogue record
 * (archived, gone at the source, expired before the fetch, deleted at the source), so a transcription or
 * analytics pipeline learns of a recording without scanning the bucket.
 *
 * Schema v1 (README "Events for downstream consumers"): ids, keys, times, parties, size and SHA-256, built
 * from the catalogue record, which already leaves out the platform's `raw` record. Never a secret, a token
 * or a URL with credentials: the only free text (`reason`) has URLs stripped of user info, query and
 * fragment, and token-looking parameters masked.
 *
 * Delivery is at least once: the same outcome can be published twice (a job repeated after a crash, a
 * webhook and the sweep asking for the same recording), always with the same `eventId`, so consumers
 * de-duplicate on it. Publishing never fails the archive job: a publish that still fails after its bounded
 * retries is recorded as undelivered (redriven later) and counted, and the recording stays archived.
 */
import { createHash } from 'node:crypto';
import type { CatalogueRecord, CatalogueStatus, CatalogueWriter } from './catalogue';
import { catalogueKey } from './catalogue';
import type { Clock, Log } from './ports';

export const OUTCOME_EVENT_SCHEMA_VERSION = 1;
/** EventBridge `source` of every event, and of the local file's envelopes. */
export const OUTCOME_EVENT_SOURCE = 'callvault';
/** Prefix of every event id: `cv1-` + hex SHA-256; bumps with the id's recipe, not with the schema. */
export const EVENT_ID_PREFIX = 'cv1-';

/** EventBridge `detail-type` per outcome: what a consumer's rule matches on. */
export const OUTCOME_DETAIL_TYPES: Readonly<Record<CatalogueStatus, string>> = {
  archived: 'Recording Archived',
  'gone-at-source': 'Recording Gone At Source',
  'expired-before-fetch': 'Recording Expired Before Fetch',
  'deleted-at-source': 'Recording Deleted At Source',
};

export interface OutcomeEventParty {
  number: string | null;
  name: string | null;
  extensionId: string | null;
  personId: string | null;
}

/** The event's `detail`, schema v1. Every field is always present; unknown values are null or empty. */
export interface OutcomeEvent {
  schemaVersion: 1;
  /** `cv1-` + SHA-256 of `{provider}/{sourceId}/{recordingId}/{outcome}`: equal for every delivery of one outcome. */
  eventId: string;
  outcome: CatalogueStatus;
  /** When the outcome happened (archived, found gone, found expired, deleted), ISO 8601 UTC. */
  occurredAt: string;
  provider: string;
  sourceId: string;
  recordingId: string;
  callId: string | null;
  startedAt: string;
  endedAt: string | null;
  durationSeconds: number | null;
  direction: string | null;
  from: OutcomeEventParty | null;
  to: OutcomeEventParty | null;
  extension: { id: string; name: string | null } | null;
  /** Every party of the call (from and to included), each list distinct; numbers normalised as in the catalogue. */
  parties: { numbers: string[]; names: string[]; extensionIds: string[]; personIds: string[] };
  callerStatus: string | null;
  calleeStatus: string | null;
  callResult: string | null;
  /** Bytes stored (archived, deleted-at-source), and what the platform reported. */
  size: number | null;
  sourceReportedSize: number | null;
  sha256: string | null;
  contentType: string | null;
  /** The bucket holding `objectKey`; null for a local folder archive (keys are then relative to it). */
  bucket: string | null;
  /** The recording's key: its copy (archived, deleted-at-source) or where it would have been. */
  objectKey: string;
  sidecarKey: string | null;
  catalogueKey: string;
  archivedAt: string | null;
  /** gone/expired: the platform's answer; deleted: `deleted` or `already-gone`. URLs carry no credentials. */
  reason: string | null;
  /** The evidence record behind an outcome (gone/expired record, retention audit file). */
  evidenceKey: string | null;
  retentionRunId: string | null;
}

/** The stable id of one outcome of one recording; consumers de-duplicate on it. */
export function outcomeEventId(
  outcome: Pick<OutcomeEvent, 'provider' | 'sourceId' | 'recordingId' | 'outcome'>,
): string {
  // provider, sourceId and outcome never contain '/', so the joined text is unambiguous.
  const text = `${outcome.provider}/${outcome.sourceId}/${outcome.recordingId}/${outcome.outcome}`;
  return `${EVENT_ID_PREFIX}${createHash('sha256').update(text).digest('hex')}`;
}

const TOKEN_PARAMETER =
  /\b(access_token|token|sig|signature|key|secret|password|code|tempauth)=([^\s&"']+)/gi;
const URL_IN_TEXT = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#@]*@)?([^\s?#"']*)([?#][^\s"']*)?/gi;

/** Free text without credentials: URLs lose user info, query and fragment; token-like parameters are masked. */
export function withoutCredentials(text: string | null): string | null {
  if (text === null) return null;
  return text
    .replace(URL_IN_TEXT, (_match, scheme: string, _user, rest: string) => `${scheme}${rest}`)
    .replace(TOKEN_PARAMETER, (_match, name: string) => `${name}=[redacted]`)
    .replace(/\bbearer\s+[A-Za-z0-9._~+/=-]+/gi, 'Bearer [redacted]');
}

function party(
  number: string | null,
  name: string | null,
  extensionId: string | null,
  personId: string | null,
): OutcomeEventParty | null {
  if (number === null && name === null && extensionId === null && personId === null) return null;
  return { number, name, extensionId, personId };
}

/** The event of one catalogue record: the same facts, camel-cased, with the stable id. */
export function outcomeEventFromCatalogueRecord(
  record: CatalogueRecord,
  location: { bucket?: string } = {},
): OutcomeEvent {
  const base = {
    provider: record.provider,
    sourceId: record.source_id,
    recordingId: record.recording_id,
    outcome: record.status,
  };
  return {
    schemaVersion: OUTCOME_EVENT_SCHEMA_VERSION,
    eventId: outcomeEventId(base),
    outcome: record.status,
    occurredAt: record.event_at ?? record.archived_at ?? record.started_at,
    provider: record.provider,
    sourceId: record.source_id,
    recordingId: record.recording_id,
    callId: record.call_id,
    startedAt: record.started_at,
    endedAt: record.ended_at,
    durationSeconds: record.duration_seconds,
    direction: record.direction,
    from: party(record.from_number, record.from_name, record.from_extension_id, record.from_person_id),
    to: party(record.to_number, record.to_name, record.to_extension_id, record.to_person_id),
    extension: record.extension_id ? { id: record.extension_id, name: record.extension_name } : null,
    parties: {
      numbers: record.party_numbers,
      names: record.party_names,
      extensionIds: record.party_extension_ids,
      personIds: record.party_person_ids,
    },
    callerStatus: record.caller_status,
    calleeStatus: record.callee_status,
    callResult: record.call_result,
    size: record.size,
    sourceReportedSize: record.source_reported_size,
    sha256: record.sha256,
    contentType: record.content_type,
    bucket: location.bucket ?? null,
    objectKey: record.object_key,
    sidecarKey: record.sidecar_key,
    catalogueKey: catalogueKey(record),
    archivedAt: record.archived_at,
    reason: withoutCredentials(record.reason),
    evidenceKey: record.evidence_key,
    retentionRunId: record.retention_run_id,
  };
}

/**
 * The EventBridge-shaped envelope the local file and the HTTP POST carry, so a consumer written for one
 * reads the other: `source`, `detail-type`, `time` and the event as `detail` (EventBridge adds its own
 * `id`; ours is `detail.eventId`, also given here as `id`).
 */
export function outcomeEventEnvelope(event: OutcomeEvent) {
  return {
    version: '0',
    id: event.eventId,
    source: OUTCOME_EVENT_SOURCE,
    'detail-type': OUTCOME_DETAIL_TYPES[event.outcome],
    time: event.occurredAt,
    detail: event,
  };
}

// ---------------------------------------------------------------- ports

export type PublishResult =
  | { delivered: true }
  /** `retryable`: worth another attempt (throttling, 5xx, a network error); otherwise recorded at once. */
  | { delivered: false; retryable: boolean; reason: string };

/** Where events go: EventBridge, a local file, an HTTP endpoint. One result per event, in order. */
export interface EventPublisher {
  /** Names the destination in logs and in undelivered records (`eventbridge`, `file`, `http`). */
  readonly name: string;
  publish(events: readonly OutcomeEvent[]): Promise<PublishResult[]>;
}

/** An event a publisher could not deliver, kept for a later redrive. */
export interface UndeliveredEvent {
  v: 1;
  publisher: string;
  event: OutcomeEvent;
  attempts: number;
  failedAt: string;
  reason: string;
}

/** Undelivered events, one per publisher and event id (recording one again replaces it). */
export interface UndeliveredEvents {
  record(entry: UndeliveredEvent): Promise<void>;
  list(): AsyncIterable<UndeliveredEvent>;
  remove(entry: Pick<UndeliveredEvent, 'publisher' | 'event'>): Promise<void>;
}

export interface EventRetryPolicy {
  /** Attempts per publisher and event, the first included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_EVENT_RETRY_POLICY: EventRetryPolicy = {
  attempts: 3,
  baseDelayMs: 200,
  maxDelayMs: 2_000,
};

export interface OutcomeEventDependencies {
  publishers: readonly EventPublisher[];
  undelivered: UndeliveredEvents;
  clock: Clock;
  log: Log;
  retry?: EventRetryPolicy;
  /** Counts events recorded as undelivered (a metric on AWS); never throws. */
  countUndelivered?: (publisher: string, count: number) => void;
  sleep?: (ms: number) => Promise<void>;
}

export interface PublishReport {
  delivered: number;
  undelivered: number;
  /** Undelivered and not even recorded (the store failed too): logged at error level with the ids. */
  lost: number;
}

/** Exponential backoff with half jitter: 50–100 % of `base × 2^(attempt-1)`, at most `maxDelayMs`. */
export function eventRetryDelayMs(policy: EventRetryPolicy, attempt: number, random = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.round(ceiling * (0.5 + random() / 2));
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function attemptPublish(
  publisher: EventPublisher,
  events: readonly OutcomeEvent[],
): Promise<PublishResult[]> {
  try {
    const results = await publisher.publish(events);
    if (results.length !== events.length)
      throw new Error(
        `publisher ${publisher.name} answered ${results.length} results for ${events.length} events`,
      );
    return results;
  } catch (error) {
    const reason = (error as Error).message ?? String(error);
    return events.map(() => ({ delivered: false as const, retryable: true, reason }));
  }
}

async function publishTo(
  publisher: EventPublisher,
  events: readonly OutcomeEvent[],
  deps: OutcomeEventDependencies,
): Promise<PublishReport> {
  const policy = deps.retry ?? DEFAULT_EVENT_RETRY_POLICY;
  const sleep = deps.sleep ?? defaultSleep;
  const failed: { event: OutcomeEvent; reason: string; attempts: number }[] = [];
  let pending = [...events];
  let delivered = 0;
  for (let attempt = 1; pending.length > 0; attempt++) {
    const results = await attemptPublish(publisher, pending);
    const retry: OutcomeEvent[] = [];
    results.forEach((result, index) => {
      const event = pending[index] as OutcomeEvent;
      if (result.delivered) delivered += 1;
      else if (result.retryable && attempt < policy.attempts) retry.push(event);
      else failed.push({ event, reason: result.reason, attempts: attempt });
    });
    pending = retry;
    if (pending.length > 0) await sleep(eventRetryDelayMs(policy, attempt));
  }
  let lost = 0;
  for (const { event, reason, attempts } of failed) {
    const ids = { publisher: publisher.name, eventId: event.eventId, outcome: event.outcome };
    const where = { provider: event.provider, sourceId: event.sourceId, recordingId: event.recordingId };
    try {
      await deps.undelivered.record({
        v: 1,
        publisher: publisher.name,
        event,
        attempts,
        failedAt: deps.clock.now().toISOString(),
        reason: withoutCredentials(reason) ?? '',
      });
      deps.log.error('outcome event not delivered; recorded for a redrive (the recording is archived)', {
        errorCode: OUTCOME_EVENT_UNDELIVERED_CODE,
        ...ids,
        ...where,
        attempts,
        reason: withoutCredentials(reason),
      });
    } catch (error) {
      lost += 1;
      deps.log.error('outcome event not delivered and not recorded; rebuild it from the catalogue', {
        errorCode: OUTCOME_EVENT_UNDELIVERED_CODE,
        ...ids,
        ...where,
        attempts,
        reason: withoutCredentials(reason),
        recordError: (error as Error).message,
      });
    }
  }
  if (failed.length > 0) {
    try {
      deps.countUndelivered?.(publisher.name, failed.length);
    } catch {
      // A metric that cannot be counted must not fail the job; the log line above is the record.
    }
  }
  return { delivered, undelivered: failed.length - lost, lost };
}

/** The `errorCode` of the log line per undelivered event (the alarm's metric counts the same). */
export const OUTCOME_EVENT_UNDELIVERED_CODE = 'OUTCOME_EVENT_UNDELIVERED';

/**
 * Publishes to every publisher (at once; each with its own retries) and records what stays undelivered.
 * Never throws: the archive is done before this is called, and an event is never worth a retried job.
 */
export async function publishOutcomeEvents(
  events: readonly OutcomeEvent[],
  deps: OutcomeEventDependencies,
): Promise<PublishReport> {
  const reports = await Promise.all(
    deps.publishers.map((publisher) =>
      publishTo(publisher, events, deps).catch((error: unknown) => {
        deps.log.error('outcome event publishing failed unexpectedly', {
          errorCode: OUTCOME_EVENT_UNDELIVERED_CODE,
          publisher: publisher.name,
          eventIds: events.map((event) => event.eventId),
          error: String(error),
        });
        return { delivered: 0, undelivered: 0, lost: events.length };
      }),
    ),
  );
  return reports.reduce(
    (sum, report) => ({
      delivered: sum.delivered + report.delivered,
      undelivered: sum.undelivered + report.undelivered,
      lost: sum.lost + report.lost,
    }),
    { delivered: 0, undelivered: 0, lost: 0 },
  );
}

/**
 * A catalogue writer that publishes each outcome's event once its record is on file: written now, or
 * already there (a repeated job: at least once, same id). A failed catalogue write fails as before and
 * publishes nothing; the job's retry writes the record and publishes then.
 */
export class PublishingCatalogue implements CatalogueWriter {
  constructor(
    private readonly inner: CatalogueWriter,
    private readonly deps: OutcomeEventDependencies & { bucket?: string },
  ) {}

  async record(entry: CatalogueRecord): Promise<'written' | 'exists'> {
    const outcome = await this.inner.record(entry);
    let event: OutcomeEvent;
    try {
      event = outcomeEventFromCatalogueRecord(entry, { bucket: this.deps.bucket });
    } catch (error) {
      this.deps.log.error('outcome event could not be built; the catalogue record stands', {
        errorCode: OUTCOME_EVENT_UNDELIVERED_CODE,
        recordingId: entry.recording_id,
        error: String(error),
      });
      return outcome;
    }
    await publishOutcomeEvents([event], this.deps);
    return outcome;
  }
}

export interface RedriveReport {
  found: number;
  redelivered: number;
  stillUndelivered: number;
  /** Undelivered records naming a publisher this run does not have (left in place). */
  skipped: number;
}

/**
 * Publishes every recorded undelivered event again to the publisher that missed it (in batches), and
 * removes the record once delivered. Still failing: recorded again with the new attempt, left for the
 * next redrive. `dryRun` only counts.
 */
export async function redriveUndeliveredEvents(
  deps: OutcomeEventDependencies & { batchSize?: number; dryRun?: boolean },
): Promise<RedriveReport> {
  const byName = new Map(deps.publishers.map((publisher) => [publisher.name, publisher]));
  const report: RedriveReport = { found: 0, redelivered: 0, stillUndelivered: 0, skipped: 0 };
  const waiting = new Map<string, UndeliveredEvent[]>();
  for await (const entry of deps.undelivered.list()) {
    report.found += 1;
    if (!byName.has(entry.publisher)) {
      report.skipped += 1;
      continue;
    }
    waiting.set(entry.publisher, [...(waiting.get(entry.publisher) ?? []), entry]);
  }
  if (deps.dryRun) return report;
  const batchSize = deps.batchSize ?? 10;
  for (const [name, entries] of waiting) {
    const publisher = byName.get(name) as EventPublisher;
    for (let start = 0; start < entries.length; start += batchSize) {
      const batch = entries.slice(start, start + batchSize);
      const results = await attemptPublish(
        publisher,
        batch.map((entry) => entry.event),
      );
      for (const [index, result] of results.entries()) {
        const entry = batch[index] as UndeliveredEvent;
        if (result.delivered) {
          await deps.undelivered.remove(entry);
          report.redelivered += 1;
        } else {
          await deps.undelivered.record({
            ...entry,
            attempts: entry.attempts + 1,
            failedAt: deps.clock.now().toISOString(),
            reason: withoutCredentials(result.reason) ?? '',
          });
          report.stillUndelivered += 1;
        }
      }
    }
  }
  return report;
}
