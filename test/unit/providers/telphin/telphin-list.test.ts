import { afterEach, describe, expect, it } from 'vitest';
import { RateLimitedError } from '../../../../functions/core/errors';
import {
  parseTelphinQueryDateTime,
  violatesTelphinMonthRule,
} from '../../../../functions/providers/telphin/telphin-windows';
import { collect, JAN_2024, startHarness, type TelphinHarness } from './telphin-fixture';

describe('TelphinSource.listRecordings', () => {
  let harness: TelphinHarness | undefined;
  afterEach(async () => harness?.sandbox.close());

  it('lists a five-month window in chunks the API accepts, keeping only calls started inside', async () => {
    // Prepare: recordings across months, one just before and one at the window's end.
    harness = await startHarness();
    const from = new Date('2023-11-15T12:00:00Z');
    const to = new Date('2024-04-02T00:00:00Z');
    const inside = harness.sandbox.generateRecordings({ count: 40, from, to });
    harness.sandbox.addRecording({ startedAt: new Date(from.getTime() - 1000) });
    harness.sandbox.addRecording({ startedAt: to });

    // Act
    const listed = await collect(harness.source.listRecordings({ from, to }));

    // Assess
    expect(listed.map((r) => r.recordingId).sort()).toEqual(inside.map((r) => r.recordUuid).sort());
    expect(harness.sandbox.counters.badWindowRequests).toBe(0);
    expect(harness.sandbox.listQueries.length).toBeGreaterThanOrEqual(6);
    for (const query of harness.sandbox.listQueries) {
      const start = parseTelphinQueryDateTime(query.start);
      const end = parseTelphinQueryDateTime(query.end);
      expect(start && end && !violatesTelphinMonthRule(start, end)).toBe(true);
    }
  });

  it('asks for ascending order with UTC datetimes', async () => {
    // Prepare
    harness = await startHarness();

    // Act
    await collect(harness.source.listRecordings({ from: JAN_2024, to: new Date('2024-01-10T11:00:00Z') }));

    // Assess: the query starts an hour early (calls ring before they start).
    expect(harness.sandbox.listQueries).toEqual([
      {
        route: 'list',
        path: '/api/ver1.0/client/@me/record/',
        start: '2024-01-10 09:00:00',
        end: '2024-01-10 11:00:00',
      },
    ]);
  });

  it('normalises a listed record into a SourceRecording', async () => {
    // Prepare
    harness = await startHarness();
    const added = harness.sandbox.addRecording({
      startedAt: JAN_2024,
      flow: 'in',
      durationSeconds: 42,
      extensionId: 468953,
    });

    // Act
    const [recording] = await collect(
      harness.source.listRecordings({ from: JAN_2024, to: new Date('2024-01-11T00:00:00Z') }),
    );

    // Assess
    expect(recording).toMatchObject({
      provider: 'telphin',
      sourceId: 'telphin-test',
      recordingId: added.recordUuid,
      callId: added.callUuid,
      startedAt: JAN_2024,
      endedAt: new Date(JAN_2024.getTime() + 42_000),
      durationSeconds: 42,
      direction: 'inbound',
      size: added.size,
      fileExtension: 'mp3',
      contentType: 'audio/mpeg',
      extension: { id: '468953', name: added.extensionName },
      to: { extensionId: '468953' },
    });
    expect((recording?.raw as Record<string, unknown> | undefined)?.record_uuid).toBe(added.recordUuid);
  });

  it.each(['gmt', 'plain'] as const)('reads the %s spelling of the time fields', async (spelling) => {
    // Prepare
    harness = await startHarness({ sandbox: { fieldSpelling: spelling } });
    const added = harness.sandbox.addRecording({ startedAt: JAN_2024 });

    // Act
    const listed = await collect(
      harness.source.listRecordings({ from: JAN_2024, to: new Date('2024-01-11T00:00:00Z') }),
    );

    // Assess
    expect(listed.map((r) => [r.recordingId, r.startedAt.toISOString()])).toEqual([
      [added.recordUuid, JAN_2024.toISOString()],
    ]);
    expect(Object.keys(listed[0]?.raw as object)).toContain(
      spelling === 'gmt' ? 'start_time_gmt' : 'start_time',
    );
  });

  it('lists each extension group and each extension and dedupes across scopes', async () => {
    // Prepare: extension 500 belongs to group 7; extension 600 to group 8; 700 to none.
    harness = await startHarness({ config: { scope: { extensions: ['500', '600', '500'] } } });
    const window = { from: JAN_2024, to: new Date('2024-01-11T00:00:00Z') };
    const [a, b] = harness.sandbox.generateRecordings({
      count: 2,
      from: JAN_2024,
      to: new Date('2024-01-10T12:00:00Z'),
      extensions: [
        { id: 500, groupId: 7 },
        { id: 600, groupId: 8 },
      ],
    });
    harness.sandbox.addRecording({ startedAt: JAN_2024, extensionId: 700 });

    // Act
    const byExtension = await collect(harness.source.listRecordings(window));
    await harness.sandbox.close();
    harness = await startHarness({ config: { scope: { extensionGroups: ['7', '8'] } } });
    const groupRecordings = harness.sandbox.generateRecordings({
      count: 3,
      from: JAN_2024,
      to: new Date('2024-01-10T12:00:00Z'),
      extensions: [
        { id: 500, groupId: 7 },
        { id: 600, groupId: 8 },
        { id: 700, groupId: null },
      ],
    });
    const byGroup = await collect(harness.source.listRecordings(window));

    // Assess
    expect(byExtension.map((r) => r.recordingId).sort()).toEqual([a!.recordUuid, b!.recordUuid].sort());
    expect(byGroup.map((r) => r.recordingId).sort()).toEqual(
      [groupRecordings[0]!.recordUuid, groupRecordings[1]!.recordUuid].sort(),
    );
    expect(harness.sandbox.listQueries.map((q) => q.path)).toEqual([
      '/api/ver1.0/extension_group/7/record/',
      '/api/ver1.0/extension_group/8/record/',
    ]);
  });

  it('lists a numeric client id scope', async () => {
    // Prepare
    harness = await startHarness({ config: { scope: { client: '37649' } } });
    const added = harness.sandbox.addRecording({ startedAt: JAN_2024 });

    // Act
    const listed = await collect(
      harness.source.listRecordings({ from: JAN_2024, to: new Date('2024-01-11T00:00:00Z') }),
    );

    // Assess
    expect(listed.map((r) => r.recordingId)).toEqual([added.recordUuid]);
    expect(harness.sandbox.listQueries[0]?.path).toBe('/api/ver1.0/client/37649/record/');
  });

  it('dedupes a record returned by two month chunks', async () => {
    // Prepare: a call that rang in January and was answered in February sits in both chunks' reach.
    harness = await startHarness();
    const added = harness.sandbox.addRecording({ startedAt: new Date('2024-02-01T00:00:00Z') });

    // Act
    const listed = await collect(
      harness.source.listRecordings({
        from: new Date('2024-01-31T23:00:00Z'),
        to: new Date('2024-02-01T01:00:00Z'),
      }),
    );

    // Assess
    expect(listed.map((r) => r.recordingId)).toEqual([added.recordUuid]);
    expect(harness.sandbox.listQueries).toHaveLength(2);
  });

  it('surfaces the hourly quota 429 at once with the reset seconds', async () => {
    // Prepare
    harness = await startHarness();
    harness.sandbox.injectFault(
      { kind: 'hourly-quota', resetSeconds: 1234 },
      { routes: 'list', times: Infinity },
    );

    // Act
    const failure = await collect(
      harness.source.listRecordings({ from: JAN_2024, to: new Date('2024-01-11T00:00:00Z') }),
    ).catch((error: unknown) => error);

    // Assess
    expect(failure).toBeInstanceOf(RateLimitedError);
    expect((failure as RateLimitedError).retryAfterSeconds).toBe(1234);
    expect(harness.sandbox.counters.listCalls).toBe(1);
  });

  it('waits out a few concurrent-request 429s, then surfaces RateLimitedError if they persist', async () => {
    // Prepare
    harness = await startHarness();
    const added = harness.sandbox.addRecording({ startedAt: JAN_2024 });
    const window = { from: JAN_2024, to: new Date('2024-01-11T00:00:00Z') };
    harness.sandbox.injectFault({ kind: 'concurrent-stats' }, { times: 2 });

    // Act
    const listed = await collect(harness.source.listRecordings(window));
    harness.sandbox.injectFault({ kind: 'concurrent-stats' }, { times: Infinity });
    const failure = await harness.source.stats(window).catch((error: unknown) => error);

    // Assess
    expect(listed.map((r) => r.recordingId)).toEqual([added.recordUuid]);
    expect(harness.sandbox.counters.listCalls).toBe(3);
    expect(failure).toBeInstanceOf(RateLimitedError);
    expect(harness.sandbox.counters.statsCalls).toBe(5);
  });

  it('never overlaps list and stats calls, even when called concurrently', async () => {
    // Prepare: every answer takes 30 ms, so overlapping calls would be seen.
    harness = await startHarness({
      sandbox: { listLatencyMs: 30 },
      config: { scope: { extensions: ['1', '2', '3'] } },
    });
    const window = { from: new Date('2023-12-20T00:00:00Z'), to: new Date('2024-01-10T00:00:00Z') };

    // Act
    await Promise.all([
      collect(harness.source.listRecordings(window)),
      collect(harness.source.listRecordings(window)),
      harness.source.stats(window),
      harness.source.stats(window),
    ]);

    // Assess
    expect(harness.sandbox.counters.listCalls + harness.sandbox.counters.statsCalls).toBe(2 * 6 + 2 * 6);
    expect(harness.sandbox.counters.maxConcurrentListCalls).toBe(1);
    expect(harness.sandbox.counters.concurrentRejections).toBe(0);
  });

  it('sums stats over scopes and month chunks', async () => {
    // Prepare
    harness = await startHarness({ config: { scope: { extensions: ['500', '600'] } } });
    const from = new Date('2024-01-20T00:00:00Z');
    const to = new Date('2024-02-10T00:00:00Z');
    // Stats count by the API's own selection (init time); keep every call well inside the window.
    const added = harness.sandbox.generateRecordings({
      count: 6,
      from: new Date('2024-01-20T01:00:00Z'),
      to: new Date('2024-02-09T00:00:00Z'),
      extensions: [{ id: 500 }, { id: 600 }, { id: 700 }],
    });
    const counted = added.filter((r) => r.extensionId !== 700);

    // Act
    const stats = await harness.source.stats({ from, to });

    // Assess
    expect(stats).toEqual({ count: counted.length, bytes: counted.reduce((sum, r) => sum + r.size, 0) });
    expect(harness.sandbox.counters.statsCalls).toBe(4);
  });

  it('skips a malformed record with a warning and keeps the rest', async () => {
    // Prepare: a record whose size is missing (the API documents it as never null).
    harness = await startHarness();
    const good = harness.sandbox.addRecording({ startedAt: JAN_2024 });
    const bad = harness.sandbox.addRecording({ startedAt: JAN_2024, size: Number.NaN });

    // Act
    const listed = await collect(
      harness.source.listRecordings({ from: JAN_2024, to: new Date('2024-01-11T00:00:00Z') }),
    );

    // Assess
    expect(listed.map((r) => r.recordingId)).toEqual([good.recordUuid]);
    expect(harness.log.lines).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        attributes: expect.objectContaining({ recordUuid: bad.recordUuid }),
      }),
    );
  });
});
