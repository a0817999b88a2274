import { afterEach, describe, expect, it } from 'vitest';
import { InvalidInputError, NotReadyError, UnauthenticatedError } from '../../../../functions/core/errors';
import { archiveJobSchema, type HintJob } from '../../../../functions/core/jobs';
import type { WebhookRequest } from '../../../../functions/core/ports';
import { telphinHangupWebhookBody } from '../../../../sandbox/providers/telphin-sandbox';
import { JAN_2024, manualClock, startHarness, type TelphinHarness, WEBHOOK_SECRET } from './telphin-fixture';

function delivery(
  body: string,
  query: Record<string, string | undefined> = { token: WEBHOOK_SECRET },
  contentType = 'application/x-www-form-urlencoded',
): WebhookRequest {
  return { method: 'POST', query, headers: { 'content-type': contentType }, body };
}

describe('TelphinSource.handleWebhook', () => {
  let harness: TelphinHarness | undefined;
  afterEach(async () => harness?.sandbox.close());

  it('turns an authenticated hangup into one hint job with EventTime read as microseconds', async () => {
    // Prepare
    harness = await startHarness();
    const recording = harness.sandbox.addRecording({ startedAt: JAN_2024, durationSeconds: 75 });
    const body = telphinHangupWebhookBody(recording, { EventTime: '1704881475123456' });

    // Act
    const outcome = await harness.source.handleWebhook(delivery(body));

    // Assess
    expect(outcome.response).toMatchObject({ status: 200, contentType: 'application/json' });
    expect(JSON.parse(outcome.response.body)).toEqual({ accepted: true, jobs: 1 });
    expect(outcome.jobs).toHaveLength(1);
    const job = outcome.jobs[0] as HintJob;
    expect(archiveJobSchema.parse(job)).toEqual(job);
    expect(job).toMatchObject({
      type: 'hint',
      provider: 'telphin',
      sourceId: 'telphin-test',
      eventTime: '2024-01-10T10:11:15.123Z',
      hint: {
        eventType: 'hangup',
        callId: recording.callUuid,
        recId: recording.recordUuid,
        callerExtensionId: String(recording.extensionId),
        duration: '75',
        callStatus: 'ANSWER',
      },
    });
    expect(JSON.stringify(job)).not.toContain(WEBHOOK_SECRET);
  });

  it('reads field names case-insensitively and tolerates a JSON body', async () => {
    // Prepare
    harness = await startHarness();
    const form = 'eventtype=hangup&CALLID=abc&recid=468944-00FF&eventTIME=1704881475000000';
    const json = JSON.stringify({ EventType: 'hangup', callId: 'abc', EventTime: 1704881475000000 });

    // Act
    const fromForm = await harness.source.handleWebhook(delivery(form));
    const fromJson = await harness.source.handleWebhook(delivery(json, undefined, 'application/json'));

    // Assess
    expect((fromForm.jobs[0] as HintJob).hint).toMatchObject({
      eventType: 'hangup',
      callId: 'abc',
      recId: '468944-00FF',
    });
    expect((fromJson.jobs[0] as HintJob).hint).toMatchObject({ eventType: 'hangup', callId: 'abc' });
    expect((fromJson.jobs[0] as HintJob).eventTime).toBe('2024-01-10T10:11:15.000Z');
  });

  it('acknowledges other event types without jobs', async () => {
    // Prepare
    harness = await startHarness();

    // Act
    const outcome = await harness.source.handleWebhook(
      delivery('EventType=dial-in&CallID=abc&EventTime=1704881475000000'),
    );

    // Assess
    expect(outcome.jobs).toEqual([]);
    expect(outcome.response.status).toBe(200);
    expect(JSON.parse(outcome.response.body)).toEqual({ accepted: true, jobs: 0 });
  });

  it.each([
    ['no token', {}, 401],
    ['an empty token', { token: '' }, 401],
    ['a wrong token', { token: 'not-the-secret-at-all' }, 403],
    ['a prefix of the token', { token: WEBHOOK_SECRET.slice(0, -1) }, 403],
  ])('refuses a delivery with %s', async (_name, query, status) => {
    // Prepare
    harness = await startHarness();
    const body = 'EventType=hangup&CallID=abc&EventTime=1704881475000000';

    // Act
    const failure = await harness.source
      .handleWebhook(delivery(body, query))
      .catch((error: unknown) => error);

    // Assess
    expect(failure).toBeInstanceOf(UnauthenticatedError);
    expect((failure as { status?: number }).status).toBe(status);
    expect((failure as Error).message).not.toContain(WEBHOOK_SECRET);
  });

  it('refuses every delivery when no webhook secret is configured', async () => {
    // Prepare
    harness = await startHarness({ webhookSecret: null });

    // Act
    const failure = await harness.source
      .handleWebhook(delivery('EventType=hangup&EventTime=1704881475000000', { token: 'anything' }))
      .catch((error: unknown) => error);

    // Assess
    expect(failure).toBeInstanceOf(UnauthenticatedError);
    expect((failure as { status?: number }).status).toBe(403);
  });

  it.each([
    ['a body that is not JSON', '{"EventType": "hangup",', /not valid JSON/],
    ['a JSON array', '[1, 2]', /JSON object/],
    ['no EventType', 'CallID=abc&EventTime=1704881475000000', /EventType/],
    ['no EventTime', 'EventType=hangup&CallID=abc', /EventTime/],
    ['a non-numeric EventTime', 'EventType=hangup&EventTime=2024-01-10T10:00:00Z', /EventTime/],
    ['EventTime in seconds', 'EventType=hangup&EventTime=1704881475', /EventTime/],
    ['an empty body', '', /EventType/],
  ])('refuses %s as invalid input', async (_name, body, pattern) => {
    // Prepare
    harness = await startHarness();

    // Act
    const failure = await harness.source.handleWebhook(delivery(body)).catch((error: unknown) => error);

    // Assess
    expect(failure).toBeInstanceOf(InvalidInputError);
    expect((failure as Error).message).toMatch(pattern);
  });
});

describe('TelphinSource.resolveHint', () => {
  let harness: TelphinHarness | undefined;
  afterEach(async () => harness?.sandbox.close());

  async function hintFor(body: string): Promise<HintJob> {
    const outcome = await harness!.source.handleWebhook(delivery(body));
    return outcome.jobs[0] as HintJob;
  }

  it('is NotReady until the hinted recording is listed, then returns it', async () => {
    // Prepare
    harness = await startHarness();
    const recording = harness.sandbox.addRecording({
      startedAt: JAN_2024,
      durationSeconds: 120,
      listedAt: new Date(Date.now() + 3_600_000),
    });
    harness.sandbox.addRecording({ startedAt: new Date(JAN_2024.getTime() + 30_000) });
    const job = await hintFor(telphinHangupWebhookBody(recording));

    // Act
    const early = await harness.source.resolveHint(job).catch((error: unknown) => error);
    harness.sandbox.setListedAt(recording.recordUuid, undefined);
    const later = await harness.source.resolveHint(job);

    // Assess
    expect(early).toBeInstanceOf(NotReadyError);
    expect(later.map((r) => r.recordingId)).toEqual([recording.recordUuid]);
  });

  it('matches the hex part of record_uuid and the call id', async () => {
    // Prepare
    harness = await startHarness();
    const [a, b] = harness.sandbox.generateRecordings({
      count: 2,
      from: JAN_2024,
      to: new Date(JAN_2024.getTime() + 60_000),
    });
    const bySuffix = await hintFor(
      telphinHangupWebhookBody(a!, { RecID: a!.recordUuid.split('-')[1]!.toLowerCase() }),
    );
    const byCall = await hintFor(telphinHangupWebhookBody(b!, { RecID: '' }));

    // Act
    const first = await harness.source.resolveHint(bySuffix);
    const second = await harness.source.resolveHint(byCall);

    // Assess
    expect(first.map((r) => r.recordingId)).toEqual([a!.recordUuid]);
    expect(second.map((r) => r.recordingId)).toEqual([b!.recordUuid]);
  });

  it("without ids returns the hinted extension's recordings in the window", async () => {
    // Prepare
    harness = await startHarness();
    const mine = harness.sandbox.addRecording({ startedAt: JAN_2024, extensionId: 111, durationSeconds: 60 });
    harness.sandbox.addRecording({ startedAt: JAN_2024, extensionId: 222 });
    harness.sandbox.addRecording({
      startedAt: new Date(JAN_2024.getTime() - 3 * 3_600_000),
      extensionId: 111,
    });
    const job = await hintFor(telphinHangupWebhookBody(mine, { RecID: '', CallID: 'unknown-call' }));

    // Act
    const resolved = await harness.source.resolveHint(job);

    // Assess
    expect(resolved.map((r) => r.recordingId)).toEqual([mine.recordUuid]);
  });

  // Pinned clocks: a listing is one list call per UTC month it touches, so a listing that reaches back
  // over a month start costs two calls, and is still shared by the whole burst.
  it.each([
    { where: 'mid-month', at: '2024-01-10T10:30:00Z', callsPerListing: 1 },
    { where: 'just after a UTC month began', at: '2024-03-01T00:10:00Z', callsPerListing: 2 },
  ])(
    'lets a burst of hints share one listing, and lists again for a recording the listing lacks ($where)',
    async ({ at, callsPerListing }) => {
      // Prepare
      const clock = manualClock(new Date(at));
      harness = await startHarness({ clock, sandbox: { clock } });
      const now = clock.now().getTime();
      const burst = harness.sandbox.generateRecordings({
        count: 5,
        from: new Date(now - 25 * 60_000),
        to: new Date(now - 5 * 60_000),
      });
      const jobs = await Promise.all(burst.map((recording) => hintFor(telphinHangupWebhookBody(recording))));

      // Act
      const before = harness.sandbox.counters.listCalls;
      const resolved = [];
      for (const job of jobs) resolved.push(await harness.source.resolveHint(job));
      const afterBurst = harness.sandbox.counters.listCalls;
      const late = harness.sandbox.addRecording({
        startedAt: new Date(now - 3 * 60_000),
        durationSeconds: 60,
      });
      const lateResolved = await harness.source.resolveHint(await hintFor(telphinHangupWebhookBody(late)));

      // Assess
      expect(resolved.map((found) => found.map((r) => r.recordingId))).toEqual(
        burst.map((r) => [r.recordUuid]),
      );
      expect(afterBurst - before).toBe(callsPerListing);
      expect(lateResolved.map((r) => r.recordingId)).toEqual([late.recordUuid]);
      expect(harness.sandbox.counters.listCalls - afterBurst).toBe(callsPerListing);
    },
  );
});
