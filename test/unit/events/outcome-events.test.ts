import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NdjsonFilePublisher } from '../../../functions/adapters/outcome-event-publishers';
import { FsUndeliveredEvents } from '../../../functions/adapters/undelivered-events';
import { parseConfig } from '../../../functions/config';
import {
  type CatalogueRecord,
  type CatalogueWriter,
  catalogueRecordFromGone,
  catalogueRecordFromSidecar,
} from '../../../functions/core/catalogue';
import { recordingJob } from '../../../functions/core/jobs';
import { recordingKey } from '../../../functions/core/keys';
import {
  type EventPublisher,
  eventRetryDelayMs,
  type OutcomeEvent,
  type OutcomeEventDependencies,
  outcomeEventFromCatalogueRecord,
  outcomeEventId,
  PublishingCatalogue,
  type PublishResult,
  publishOutcomeEvents,
  redriveUndeliveredEvents,
  type UndeliveredEvent,
  type UndeliveredEvents,
  withoutCredentials,
} from '../../../functions/core/outcome-events';
import { type Log, silentLog } from '../../../functions/core/ports';
import type { SourceRecording } from '../../../functions/core/recording';
import { buildSidecar } from '../../../functions/core/sidecar';

const recording: SourceRecording = {
  provider: 'ringcentral',
  sourceId: 'rc-main',
  recordingId: 'rec/1',
  callId: 'call-1',
  startedAt: new Date('2026-03-03T23:59:30Z'),
  endedAt: new Date('2026-03-04T00:01:00Z'),
  durationSeconds: 90,
  direction: 'inbound',
  from: { number: '+1 (650) 555-0101', name: 'Ada' },
  to: { number: '101', name: 'Desk', extensionId: '62', personId: '62' },
  extension: { id: '62', name: 'Desk' },
  size: 1234,
  fileExtension: 'mp3',
  raw: { access_token: 'RAW-SECRET-TOKEN', contentUri: 'https://media.example/r?token=RAW' },
};
const sidecar = buildSidecar(recording, {
  objectKey: recordingKey(recording),
  size: 1234,
  sha256: 'a'.repeat(64),
  contentType: 'audio/mpeg',
  archivedAt: new Date('2026-03-04T00:02:00Z'),
});
const archived = catalogueRecordFromSidecar(sidecar);
const clock = { now: () => new Date('2026-03-04T00:03:00Z') };

/** A publisher that answers from a script per call, recording what it was asked to publish. */
class ScriptedPublisher implements EventPublisher {
  calls: string[][] = [];
  constructor(
    readonly name: string,
    private readonly answer: (eventId: string, call: number) => PublishResult | 'throw',
  ) {}
  async publish(events: readonly OutcomeEvent[]): Promise<PublishResult[]> {
    const call = this.calls.length;
    this.calls.push(events.map((event) => event.eventId));
    const answers = events.map((event) => this.answer(event.eventId, call));
    if (answers.includes('throw')) throw new Error('connection reset');
    return answers as PublishResult[];
  }
}

function recordingLog(): Log & { errors: Record<string, unknown>[] } {
  const errors: Record<string, unknown>[] = [];
  return { ...silentLog, errors, error: (message, attributes) => errors.push({ message, ...attributes }) };
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'callvault-events-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function deps(publishers: EventPublisher[], extra: Partial<OutcomeEventDependencies> = {}) {
  return {
    publishers,
    undelivered: new FsUndeliveredEvents({ dir: join(dir, 'undelivered') }),
    clock,
    log: silentLog,
    retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 },
    ...extra,
  } satisfies OutcomeEventDependencies;
}

async function undeliveredIn(deps: { undelivered: UndeliveredEvents }): Promise<UndeliveredEvent[]> {
  const found: UndeliveredEvent[] = [];
  for await (const entry of deps.undelivered.list()) found.push(entry);
  return found;
}

describe('outcome event schema v1', () => {
  it('carries a stable id: cv1- and the SHA-256 of provider/source/recording/outcome', () => {
    const event = outcomeEventFromCatalogueRecord(archived, { bucket: 'vault' });
    const expected = createHash('sha256').update('ringcentral/rc-main/rec/1/archived').digest('hex');
    expect(event.eventId).toBe(`cv1-${expected}`);
    expect(outcomeEventFromCatalogueRecord({ ...archived }).eventId).toBe(event.eventId);
    expect(outcomeEventId({ ...event, outcome: 'deleted-at-source' })).not.toBe(event.eventId);
  });

  it('holds ids, keys, times, parties, size and sha256, and nothing of the raw record', () => {
    const event = outcomeEventFromCatalogueRecord(archived, { bucket: 'vault' });
    expect(event).toMatchObject({
      schemaVersion: 1,
      outcome: 'archived',
      occurredAt: '2026-03-04T00:02:00.000Z',
      provider: 'ringcentral',
      sourceId: 'rc-main',
      recordingId: 'rec/1',
      callId: 'call-1',
      startedAt: '2026-03-03T23:59:30.000Z',
      durationSeconds: 90,
      from: { number: '+16505550101', name: 'Ada', extensionId: null, personId: null },
      to: { number: '101', name: 'Desk', extensionId: '62', personId: '62' },
      size: 1234,
      sha256: 'a'.repeat(64),
      bucket: 'vault',
      objectKey: sidecar.objectKey,
      sidecarKey: `${sidecar.objectKey}.json`,
    });
    expect(event.catalogueKey).toMatch(
      /^catalog\/recordings\/provider=ringcentral\/source=rc-main\/date=2026-03-03\//,
    );
    expect(event.parties.numbers).toEqual(['+16505550101', '101']);
    const text = JSON.stringify(event);
    expect(text).not.toContain('RAW');
    expect(text).not.toContain('token');
  });

  it('strips credentials from the free-text reason of an outcome', () => {
    const gone = catalogueRecordFromGone({
      v: 1,
      provider: 'msgraph',
      sourceId: 'bot',
      recordingId: 'op-1',
      startedAt: '2026-03-03T10:00:00.000Z',
      objectKey: 'recordings/msgraph/bot/2026/03/03/op-1.wav',
      detectedAt: '2026-03-03T10:05:00.000Z',
      listed: recordingJob({ ...recording, provider: 'msgraph', sourceId: 'bot', recordingId: 'op-1' })
        .recording,
      reason:
        'GET https://user:pw@media.example/rec/1?token=SECRET123&sig=abc answered 404; header Bearer eyJabc.def',
    });
    const event = outcomeEventFromCatalogueRecord(gone);
    expect(event.reason).toBe('GET https://media.example/rec/1 answered 404; header Bearer [redacted]');
    expect(withoutCredentials('retry with access_token=XYZ later')).toBe(
      'retry with access_token=[redacted] later',
    );
    expect(event.outcome).toBe('gone-at-source');
    expect(JSON.stringify(event)).not.toContain('RAW');
    expect(event.bucket).toBeNull();
  });

  it('backs off exponentially with jitter, capped', () => {
    const policy = { attempts: 5, baseDelayMs: 200, maxDelayMs: 1000 };
    expect(eventRetryDelayMs(policy, 1, () => 1)).toBe(200);
    expect(eventRetryDelayMs(policy, 2, () => 0)).toBe(200);
    expect(eventRetryDelayMs(policy, 3, () => 1)).toBe(800);
    expect(eventRetryDelayMs(policy, 6, () => 1)).toBe(1000);
  });

  it('is off by default in the configuration, and refuses credentials in the HTTP URL', () => {
    expect(parseConfig({}).events.enabled).toBe(false);
    expect(() =>
      parseConfig({ events: { enabled: true, http: { url: 'https://u:p@hooks.example/in' } } }),
    ).toThrow(/events\.http\.url: no credentials in the URL/);
  });
});

describe('publishing', () => {
  const event = outcomeEventFromCatalogueRecord(archived);

  it('retries a retryable failure and delivers once', async () => {
    const publisher = new ScriptedPublisher('p', (_id, call) =>
      call === 0 ? { delivered: false, retryable: true, reason: 'throttled' } : { delivered: true },
    );
    const d = deps([publisher]);
    expect(await publishOutcomeEvents([event], d)).toEqual({ delivered: 1, undelivered: 0, lost: 0 });
    expect(publisher.calls).toHaveLength(2);
    expect(await undeliveredIn(d)).toEqual([]);
  });

  it('records an event still failing after its attempts, counts it, and never throws', async () => {
    const publisher = new ScriptedPublisher('p', () => 'throw');
    const counted: [string, number][] = [];
    const log = recordingLog();
    const d = deps([publisher], { log, countUndelivered: (name, count) => counted.push([name, count]) });
    expect(await publishOutcomeEvents([event], d)).toEqual({ delivered: 0, undelivered: 1, lost: 0 });
    expect(publisher.calls).toHaveLength(3);
    const [entry] = await undeliveredIn(d);
    expect(entry).toMatchObject({ publisher: 'p', attempts: 3, reason: 'connection reset', event });
    expect(counted).toEqual([['p', 1]]);
    expect(log.errors[0]).toMatchObject({ errorCode: 'OUTCOME_EVENT_UNDELIVERED', eventId: event.eventId });
  });

  it('records a refusal that cannot succeed at once, without retrying it', async () => {
    const publisher = new ScriptedPublisher('p', () => ({
      delivered: false,
      retryable: false,
      reason: 'malformed',
    }));
    const d = deps([publisher]);
    await publishOutcomeEvents([event], d);
    expect(publisher.calls).toHaveLength(1);
    expect((await undeliveredIn(d))[0]).toMatchObject({ attempts: 1, reason: 'malformed' });
  });

  it('counts an event it could neither deliver nor record as lost, and still does not throw', async () => {
    const log = recordingLog();
    const d = deps([new ScriptedPublisher('p', () => 'throw')], {
      log,
      undelivered: {
        record: async () => {
          throw new Error('disk full');
        },
        list: async function* () {},
        remove: async () => {},
      },
    });
    expect(await publishOutcomeEvents([event], d)).toEqual({ delivered: 0, undelivered: 0, lost: 1 });
    expect(log.errors[0]).toMatchObject({ recordError: 'disk full', eventId: event.eventId });
  });

  it('delivers to each destination on its own: one failing leaves the other delivered', async () => {
    const file = new NdjsonFilePublisher({ path: join(dir, 'events.ndjson') });
    const broken = new ScriptedPublisher('http', () => ({
      delivered: false,
      retryable: true,
      reason: '503',
    }));
    const d = deps([file, broken]);
    expect(await publishOutcomeEvents([event], d)).toEqual({ delivered: 1, undelivered: 1, lost: 0 });
    const lines = (await readFile(join(dir, 'events.ndjson'), 'utf8')).trim().split('\n');
    expect(lines.map((line) => JSON.parse(line).detail.eventId)).toEqual([event.eventId]);
    expect((await undeliveredIn(d)).map((entry) => entry.publisher)).toEqual(['http']);
  });

  it('redrives undelivered events to the destination that missed them and removes them once delivered', async () => {
    let healthy = false;
    const publisher = new ScriptedPublisher('p', () =>
      healthy ? { delivered: true } : { delivered: false, retryable: true, reason: 'down' },
    );
    const d = deps([publisher]);
    const other = outcomeEventFromCatalogueRecord({ ...archived, recording_id: 'rec-2' });
    await publishOutcomeEvents([event, other], d);
    expect(await undeliveredIn(d)).toHaveLength(2);
    expect(await redriveUndeliveredEvents({ ...d, dryRun: true })).toMatchObject({
      found: 2,
      redelivered: 0,
    });
    const stillDown = await redriveUndeliveredEvents(d);
    expect(stillDown).toMatchObject({ found: 2, stillUndelivered: 2 });
    expect((await undeliveredIn(d)).map((entry) => entry.attempts)).toEqual([4, 4]);
    healthy = true;
    publisher.calls = [];
    expect(await redriveUndeliveredEvents(d)).toEqual({
      found: 2,
      redelivered: 2,
      stillUndelivered: 0,
      skipped: 0,
    });
    expect(publisher.calls).toHaveLength(1);
    expect(publisher.calls[0]).toHaveLength(2);
    expect(await undeliveredIn(d)).toEqual([]);
  });
});

describe('the publishing catalogue', () => {
  class MemoryCatalogue implements CatalogueWriter {
    records = new Map<string, CatalogueRecord>();
    failNext = false;
    async record(entry: CatalogueRecord): Promise<'written' | 'exists'> {
      if (this.failNext) {
        this.failNext = false;
        throw new Error('S3 503');
      }
      if (this.records.has(entry.record_id)) return 'exists';
      this.records.set(entry.record_id, entry);
      return 'written';
    }
  }

  it('publishes once the record is on file, again (same id) for a repeated job, and not when the record fails', async () => {
    const inner = new MemoryCatalogue();
    const file = new NdjsonFilePublisher({ path: join(dir, 'events.ndjson') });
    const catalogue = new PublishingCatalogue(inner, { ...deps([file]), bucket: 'vault' });
    inner.failNext = true;
    await expect(catalogue.record(archived)).rejects.toThrow('S3 503');
    await expect(readFile(join(dir, 'events.ndjson'), 'utf8')).rejects.toThrow(/ENOENT/);
    expect(await catalogue.record(archived)).toBe('written');
    expect(await catalogue.record(archived)).toBe('exists');
    const ids = (await readFile(join(dir, 'events.ndjson'), 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(ids).toHaveLength(2);
    expect(new Set(ids.map((line) => line.detail.eventId)).size).toBe(1);
    expect(ids[0]).toMatchObject({
      source: 'callvault',
      'detail-type': 'Recording Archived',
      id: ids[0].detail.eventId,
    });
  });

  it('keeps the archive job successful when every publish fails', async () => {
    const inner = new MemoryCatalogue();
    const catalogue = new PublishingCatalogue(inner, deps([new ScriptedPublisher('p', () => 'throw')]));
    expect(await catalogue.record(archived)).toBe('written');
    expect(inner.records.size).toBe(1);
  });
});
