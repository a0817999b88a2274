import { afterEach, describe, expect, it } from 'vitest';
import { NotReadyError, PermanentError, RateLimitedError } from '../../../../functions/core/errors';
import { type HintJob, JOB_VERSION } from '../../../../functions/core/jobs';
import { collect, DAY, DAY_WINDOW, startHarness, type TeamsHarness } from './teams-recordings-fixture';

function hint(values: Record<string, string>, eventTime = new Date().toISOString()): HintJob {
  return {
    v: JOB_VERSION,
    type: 'hint',
    provider: 'msteams',
    sourceId: 'contoso-teams',
    eventTime,
    hint: values,
  };
}

const at = (hours: number) => new Date(DAY_WINDOW.from.getTime() + hours * 3_600_000);

describe('TeamsRecordingsSource.listRecordings', () => {
  let harness: TeamsHarness | undefined;
  afterEach(async () => {
    await harness?.close();
    harness = undefined;
  });

  it('lists both kinds for several users, following @odata.nextLink, with the documented function parameters', async () => {
    // Prepare: page size 2, so each user's 3 meetings and 3 calls take two pages each.
    harness = await startHarness();
    const { sandbox, alice, bob } = harness;
    const expected: string[] = [];
    for (const user of [alice, bob]) {
      for (const kind of ['onlineMeetings', 'adhocCalls'] as const) {
        for (let i = 0; i < 3; i++)
          expected.push(sandbox.addRecording({ kind, organizerId: user.id, createdAt: at(2 + i) }).id);
      }
    }
    sandbox.addRecording({ organizerId: alice.id, createdAt: at(-1) });
    sandbox.addRecording({ organizerId: bob.id, createdAt: at(24) });

    // Act
    const listed = await collect(harness.source.listRecordings(DAY_WINDOW));

    // Assess
    expect(listed.map((recording) => recording.recordingId).sort()).toEqual([...expected].sort());
    expect(sandbox.counters.listRequests).toBe(8);
    const lists = sandbox.requestLog.filter((entry) => entry.route === 'list');
    expect(lists.every((entry) => entry.status === 200 && entry.authorization === 'Bearer')).toBe(true);
    const first = decodeURIComponent(lists[0]?.path ?? '');
    expect(first).toBe(
      `/v1.0/users/${alice.id}/adhocCalls/getAllRecordings(userId='${alice.id}',` +
        'startDateTime=2024-03-12T00:00:00.000Z,endDateTime=2024-03-13T00:00:00.000Z)',
    );
    expect(decodeURIComponent(lists[2]?.path ?? '')).toMatch(
      /\/onlineMeetings\/getAllRecordings\(meetingOrganizerUserId='/,
    );
    // bob is configured by UPN: resolved to his object id once.
    expect(sandbox.counters.userRequests).toBe(1);
  });

  it('maps a callRecording to a recording dated by createdDateTime, with the Teams facts for the sidecar', async () => {
    // Prepare
    harness = await startHarness();
    const meeting = harness.sandbox.addRecording({
      kind: 'onlineMeetings',
      organizerId: harness.alice.id,
      createdAt: DAY,
      durationSeconds: 1800,
    });

    // Act
    const [recording] = await collect(harness.source.listRecordings(DAY_WINDOW));

    // Assess
    expect(recording).toMatchObject({
      provider: 'msteams',
      sourceId: 'contoso-teams',
      recordingId: meeting.id,
      callId: meeting.containerId,
      startedAt: DAY,
      endedAt: new Date(DAY.getTime() + 1_800_000),
      durationSeconds: 1800,
      fileExtension: 'mp4',
      contentType: 'video/mp4',
      from: { name: 'Alice', personId: harness.alice.id },
      raw: {
        kind: 'meeting',
        recordingId: meeting.id,
        userId: harness.alice.id,
        callId: null,
        meetingId: meeting.containerId,
        organizer: { id: harness.alice.id, displayName: 'Alice', userIdentityType: 'aadUser' },
        contentCorrelationId: meeting.contentCorrelationId,
        createdDateTime: DAY.toISOString(),
        endDateTime: meeting.endDateTime,
        metadata: expect.objectContaining({ id: meeting.id, meetingId: meeting.containerId }),
      },
    });
  });

  it('pages /users when users is "all", and lists only the configured kinds', async () => {
    // Prepare
    harness = await startHarness({ config: { users: 'all', recordings: ['adhocCalls'] } });
    const { sandbox } = harness;
    const carol = sandbox.addUser({ userPrincipalName: 'carol@contoso.example' });
    const calls = [harness.alice, harness.bob, carol].map(
      (user, i) =>
        sandbox.addRecording({ kind: 'adhocCalls', organizerId: user.id, createdAt: at(3 + i) }).id,
    );
    sandbox.addRecording({ kind: 'onlineMeetings', organizerId: carol.id, createdAt: at(3) });

    // Act
    const listed = await collect(harness.source.listRecordings(DAY_WINDOW));

    // Assess: three users over two /users pages, one adhocCalls listing each.
    expect(listed.map((recording) => recording.recordingId).sort()).toEqual([...calls].sort());
    expect(sandbox.counters.userRequests).toBe(2);
    expect(sandbox.counters.listRequests).toBe(3);
  });

  it('waits out a 429 storm for the Retry-After Graph sends, then completes the listing', async () => {
    // Prepare
    harness = await startHarness();
    harness.sandbox.addRecording({ organizerId: harness.alice.id, createdAt: at(5) });
    const storm = harness.sandbox.injectFault(
      { kind: 'throttle', retryAfterSeconds: 1 },
      { routes: 'list', times: 2 },
    );

    // Act
    const started = Date.now();
    const listed = await collect(harness.source.listRecordings(DAY_WINDOW));
    const elapsedMs = Date.now() - started;

    // Assess
    expect(listed).toHaveLength(1);
    expect(storm.hits).toBe(2);
    expect(elapsedMs).toBeGreaterThanOrEqual(2_000);
    expect(harness.source.graph.stats.throttled).toBe(2);
  });

  it('hands a long Retry-After to the queue as RateLimitedError with Graph figure', async () => {
    // Prepare
    harness = await startHarness();
    harness.sandbox.injectFault({ kind: 'throttle', retryAfterSeconds: 120 }, { routes: 'list' });

    // Act
    const error = await collect(harness.source.listRecordings(DAY_WINDOW)).catch((caught: unknown) => caught);

    // Assess
    expect(error).toBeInstanceOf(RateLimitedError);
    expect((error as RateLimitedError).retryAfterSeconds).toBe(120);
  });

  it('retries a 503 with Retry-After like a 429', async () => {
    // Prepare
    harness = await startHarness();
    harness.sandbox.addRecording({ organizerId: harness.bob.id, createdAt: at(5) });
    harness.sandbox.injectFault({ kind: 'throttle', status: 503, retryAfterSeconds: 1 }, { routes: 'list' });

    // Act
    const listed = await collect(harness.source.listRecordings(DAY_WINDOW));

    // Assess
    expect(listed).toHaveLength(1);
    expect(harness.source.graph.stats.unavailable).toBe(1);
  });

  it('fails loudly when a configured user does not exist', async () => {
    // Prepare
    harness = await startHarness({ config: { users: ['nobody@contoso.example'] } });

    // Act
    const error = await collect(harness.source.listRecordings(DAY_WINDOW)).catch((caught: unknown) => caught);

    // Assess
    expect(error).toBeInstanceOf(PermanentError);
    expect(String(error)).toContain('nobody@contoso.example');
  });
});

describe('TeamsRecordingsSource.resolveHint', () => {
  let harness: TeamsHarness | undefined;
  afterEach(async () => {
    await harness?.close();
    harness = undefined;
  });

  it('resolves a hint naming no user by listing the users in scope around it, never through communications/', async () => {
    // Prepare: the notification came an hour after the recording started.
    harness = await startHarness();
    const meeting = harness.sandbox.addRecording({ organizerId: harness.bob.id, createdAt: DAY });
    const notifiedAt = new Date(DAY.getTime() + 3_600_000).toISOString();

    // Act
    const found = await harness.source.resolveHint(
      hint({ kind: 'onlineMeetings', meetingId: meeting.containerId, recordingId: meeting.id }, notifiedAt),
    );

    // Assess
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({
      recordingId: meeting.id,
      startedAt: DAY,
      raw: { userId: harness.bob.id },
    });
    expect(harness.sandbox.requestLog.filter((entry) => entry.path.includes('/communications/'))).toEqual([]);
    expect(harness.sandbox.requestLog.filter((entry) => entry.route === 'metadata')).toEqual([]);
    expect(harness.sandbox.counters.listRequests).toBeGreaterThan(0);
  });

  it('keeps a hint naming no user not ready while the listings do not show it yet', async () => {
    // Prepare: a notification of now, for a recording Graph does not list yet.
    harness = await startHarness();

    // Act
    const resolving = harness.source.resolveHint(
      hint({ kind: 'onlineMeetings', meetingId: 'MSo-not-yet', recordingId: 'VjI-not-yet' }),
    );

    // Assess
    await expect(resolving).rejects.toBeInstanceOf(NotReadyError);
  });

  it('resolves a hint with the user through the user path', async () => {
    // Prepare
    harness = await startHarness();
    const call = harness.sandbox.addRecording({
      kind: 'adhocCalls',
      organizerId: harness.alice.id,
      createdAt: DAY,
    });

    // Act
    const found = await harness.source.resolveHint(
      hint({ kind: 'adhocCalls', callId: call.containerId, recordingId: call.id, userId: harness.alice.id }),
    );

    // Assess
    expect(found.map((recording) => recording.callId)).toEqual([call.containerId]);
    expect(harness.sandbox.requestLog.find((entry) => entry.route === 'metadata')?.path).toContain(
      `/v1.0/users/${harness.alice.id}/adhocCalls/`,
    );
  });

  it('resolves any organizer without paging the directory when users is "all"', async () => {
    // Prepare
    harness = await startHarness({ config: { users: 'all' } });
    const newcomer = harness.sandbox.addUser({ userPrincipalName: 'frank@contoso.example' });
    const meeting = harness.sandbox.addRecording({ organizerId: newcomer.id, createdAt: DAY });

    // Act
    const found = await harness.source.resolveHint(
      hint({
        kind: 'onlineMeetings',
        meetingId: meeting.containerId,
        recordingId: meeting.id,
        userId: newcomer.id,
      }),
    );

    // Assess
    expect(found.map((recording) => recording.recordingId)).toEqual([meeting.id]);
    expect(harness.sandbox.counters.userRequests).toBe(0);
  });

  it('resolves to nothing for an organizer outside the configured users', async () => {
    // Prepare
    harness = await startHarness();
    const outsider = harness.sandbox.addUser({ userPrincipalName: 'mallory@contoso.example' });
    const meeting = harness.sandbox.addRecording({ organizerId: outsider.id, createdAt: DAY });
    const notifiedAt = new Date(DAY.getTime() + 3_600_000).toISOString();

    // Act: named with its user, and without (then only the users in scope are listed).
    const found = await harness.source.resolveHint(
      hint(
        {
          kind: 'onlineMeetings',
          meetingId: meeting.containerId,
          recordingId: meeting.id,
          userId: outsider.id,
        },
        notifiedAt,
      ),
    );
    const foundByListing = await harness.source.resolveHint(
      hint({ kind: 'onlineMeetings', meetingId: meeting.containerId, recordingId: meeting.id }, notifiedAt),
    );

    // Assess
    expect(found).toEqual([]);
    expect(foundByListing).toEqual([]);
  });
});
