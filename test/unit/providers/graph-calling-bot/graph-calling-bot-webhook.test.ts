import { afterEach, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../../../functions/core/errors';
import {
  type ArchiveJob,
  archiveJobSchema,
  type FetchNowJob,
  parseJob,
  serialiseJob,
} from '../../../../functions/core/jobs';
import { recordingKey } from '../../../../functions/core/keys';
import type { JobQueue } from '../../../../functions/core/ports';
import { receiveWebhook } from '../../../../functions/core/receive-webhook';
import { MAX_NOTIFICATION_BODY_BYTES } from '../../../../functions/providers/graph-calling-bot/descriptor';
import {
  callStateNotification,
  commsNotificationsBody,
  type GraphSandboxRecording,
  recordOperationNotification,
} from '../../../../sandbox/providers/graph-calling-bot-sandbox';
import { fixedSourceRegistry } from '../../../support/fixed-source-registry';
import {
  type GraphHarness,
  notificationRequest,
  recordingLog,
  SOURCE_ID,
  startGraphHarness,
} from './graph-calling-bot-fixture';

function completed(recording: GraphSandboxRecording, overrides: Record<string, unknown> = {}) {
  return recordOperationNotification({
    callId: recording.callId,
    operationId: recording.operationId,
    clientContext: recording.clientContext,
    status: 'completed',
    resultInfo: { code: 200, subcode: 8515, message: 'Action completed, max record duration reached.' },
    recordingLocation: recording.recordingLocation,
    recordingAccessToken: recording.recordingAccessToken,
    ...overrides,
  });
}

describe('GraphCallingBotSource.handleWebhook', () => {
  let harness: GraphHarness | undefined;
  afterEach(async () => harness?.sandbox.close());

  async function deliver(body: string) {
    if (!harness) throw new Error('no harness');
    return harness.source.handleWebhook(
      notificationRequest(body, await harness.sandbox.signNotificationToken()),
    );
  }

  it('turns a completed recordOperation into one fetch-now job dated by arrival', async () => {
    // Prepare
    harness = await startGraphHarness();
    const recording = harness.sandbox.addRecording();

    // Act
    const outcome = await deliver(harness.sandbox.completedNotification(recording));

    // Assess
    expect(outcome.response.status).toBe(202);
    expect(outcome.counts).toMatchObject({ recordingsEnqueued: 1, failedOperations: 0, refusedLocations: 0 });
    expect(outcome.jobs).toHaveLength(1);
    const job = outcome.jobs[0] as FetchNowJob;
    expect(archiveJobSchema.parse(job)).toEqual(job);
    expect(parseJob(serialiseJob(job))).toEqual(job);
    expect(job).toMatchObject({
      type: 'fetch-now',
      recording: {
        provider: 'msgraph',
        sourceId: SOURCE_ID,
        recordingId: recording.operationId,
        startedAt: '2026-03-31T23:59:00.000Z',
        fileExtension: 'wav',
        direction: 'unknown',
      },
      grant: {
        url: recording.recordingLocation,
        bearerToken: recording.recordingAccessToken,
        receivedAt: '2026-03-31T23:59:00.000Z',
      },
    });
    const raw = job.recording.raw as Record<string, unknown>;
    expect(raw).toMatchObject({
      operationId: recording.operationId,
      clientContext: recording.clientContext,
      resultInfo: { code: 200, subcode: 8515, message: 'Action completed, max record duration reached.' },
    });
    // resourceUrl spells the call id as Graph does (upper case, no dashes): kept as given.
    expect(job.recording.callId).toBe(recording.callId.replaceAll('-', '').toUpperCase());
    expect(JSON.stringify(job.recording)).not.toContain(recording.recordingAccessToken);
    expect(
      recordingKey({
        ...job.recording,
        startedAt: new Date(job.recording.startedAt),
      }),
    ).toBe(`recordings/msgraph/${SOURCE_ID}/2026/03/31/${recording.operationId}.wav`);
  });

  it('dates the key by the UTC arrival time, on the far side of a month boundary too', async () => {
    // Prepare
    harness = await startGraphHarness();
    const recording = harness.sandbox.addRecording();
    harness.clock.advance(60_000);

    // Act
    const outcome = await deliver(harness.sandbox.completedNotification(recording));

    // Assess
    const job = outcome.jobs[0] as FetchNowJob;
    expect(job.recording.startedAt).toBe('2026-04-01T00:00:00.000Z');
  });

  it('counts and logs a failed operation with its resultInfo, and enqueues nothing', async () => {
    // Prepare
    harness = await startGraphHarness();
    const body = commsNotificationsBody([
      recordOperationNotification({
        callId: 'b0b0b0b0-0000-4000-8000-000000000001',
        operationId: 'f00df00d-0000-4000-8000-000000000002',
        status: 'failed',
        resultInfo: { code: 400, subcode: 8508, message: 'Action failed, the operation was cancelled.' },
      }),
    ]);

    // Act
    const outcome = await deliver(body);

    // Assess
    expect(outcome.response.status).toBe(202);
    expect(outcome.jobs).toEqual([]);
    expect(outcome.counts).toMatchObject({ failedOperations: 1, recordingsEnqueued: 0 });
    const line = harness.log.lines.find((entry) => /without a recording/.test(entry.message));
    expect(line?.attributes).toMatchObject({
      outcome: 'failed',
      operationId: 'f00df00d-0000-4000-8000-000000000002',
      resultCode: 400,
      resultSubcode: 8508,
      resultMessage: 'Action failed, the operation was cancelled.',
    });
  });

  it('counts a completed operation without a recording, with its completionReason', async () => {
    harness = await startGraphHarness();
    const body = commsNotificationsBody([
      recordOperationNotification({
        callId: 'b0b0b0b0-0000-4000-8000-000000000001',
        operationId: 'f00df00d-0000-4000-8000-000000000003',
        status: 'completed',
        resultInfo: {
          code: 200,
          subcode: 8510,
          message: 'Action completed, initial silence timeout reached.',
        },
        completionReason: 'initialSilenceTimeout',
      }),
    ]);

    const outcome = await deliver(body);

    expect(outcome.response.status).toBe(202);
    expect(outcome.jobs).toEqual([]);
    expect(outcome.counts).toMatchObject({ completedWithoutRecording: 1 });
    const line = harness.log.lines.find((entry) => /without a recording/.test(entry.message));
    expect(line?.attributes).toMatchObject({
      outcome: 'completed-without-recording',
      resultSubcode: 8510,
      completionReason: 'initialSilenceTimeout',
    });
  });

  it('answers 202 and enqueues nothing for call state changes and running operations', async () => {
    harness = await startGraphHarness();
    const body = commsNotificationsBody([
      callStateNotification('c4117a7e-0000-4000-8000-000000000004', 'established'),
      recordOperationNotification({
        callId: 'c4117a7e-0000-4000-8000-000000000004',
        operationId: '0e0e0e0e-0000-4000-8000-000000000005',
        status: 'running',
      }),
      {
        '@odata.type': '#microsoft.graph.commsNotification',
        changeType: 'updated',
        resourceUrl: '/communications/calls/C4117A7E/participants',
        resourceData: [{ '@odata.type': '#microsoft.graph.participant', id: 'p1' }],
      },
    ]);

    const outcome = await deliver(body);

    expect(outcome.response.status).toBe(202);
    expect(outcome.jobs).toEqual([]);
    expect(outcome.counts).toMatchObject({ ignoredNotifications: 3 });
  });

  describe('the SSRF guard on recordingLocation', () => {
    it.each([
      ['a foreign host', 'https://evil.example.net/17e3b46c'],
      ['plain http on a host that is not loopback', 'http://file.location/17e3b46c'],
      ['an allowed host on another port', 'https://file.location:8443/17e3b46c'],
      ['credentials in the URL', 'https://user:pw@file.location/17e3b46c'],
      ['a malformed URL', 'not a url'],
    ])('refuses %s with 400 when nothing else is acceptable', async (_name, location) => {
      // Prepare
      harness = await startGraphHarness({ config: { allowedDownloadHosts: ['file.location'] } });
      const recording = harness.sandbox.addRecording();
      const body = commsNotificationsBody([completed(recording, { recordingLocation: location })]);

      // Act
      const outcome = await deliver(body);

      // Assess
      expect(outcome.response.status).toBe(400);
      expect(outcome.jobs).toEqual([]);
      expect(outcome.counts).toMatchObject({ refusedLocations: 1, recordingsEnqueued: 0 });
      const line = harness.log.lines.find((entry) => /refused; nothing will be fetched/.test(entry.message));
      expect(line?.attributes).toMatchObject({
        why: 'location-not-allowed',
        operationId: recording.operationId,
      });
      expect(harness.log.text()).not.toContain(recording.recordingAccessToken);
    });

    it('refuses a loopback location on another port than the allowed one', async () => {
      harness = await startGraphHarness();
      const recording = harness.sandbox.addRecording();
      const [host, port] = harness.sandbox.recordingHostPort.split(':');
      const location = recording.recordingLocation.replace(`${host}:${port}`, `${host}:${Number(port) + 1}`);

      const outcome = await deliver(
        commsNotificationsBody([completed(recording, { recordingLocation: location })]),
      );

      expect(outcome.response.status).toBe(400);
      expect(outcome.counts).toMatchObject({ refusedLocations: 1 });
    });

    it('accepts https on an allowed host at its default port', async () => {
      harness = await startGraphHarness({ config: { allowedDownloadHosts: ['file.location'] } });
      const recording = harness.sandbox.addRecording();
      const body = commsNotificationsBody([
        completed(recording, {
          recordingLocation: 'https://file.location/17e3b46c-f61d-4f4d-9635-c626ef18e6ad',
        }),
      ]);

      const outcome = await deliver(body);

      expect(outcome.response.status).toBe(202);
      expect(outcome.jobs).toHaveLength(1);
    });

    it('enqueues the acceptable notifications of a mixed delivery and answers 202', async () => {
      harness = await startGraphHarness();
      const good = harness.sandbox.addRecording();
      const bad = harness.sandbox.addRecording();
      const body = commsNotificationsBody([
        completed(bad, { recordingLocation: 'https://169.254.169.254/latest/meta-data/' }),
        completed(good),
      ]);

      const outcome = await deliver(body);

      expect(outcome.response.status).toBe(202);
      expect(outcome.jobs.map((job) => (job as FetchNowJob).recording.recordingId)).toEqual([
        good.operationId,
      ]);
      expect(outcome.counts).toMatchObject({ recordingsEnqueued: 1, refusedLocations: 1 });
    });
  });

  it('enqueues one job for an operation repeated within a delivery', async () => {
    harness = await startGraphHarness();
    const recording = harness.sandbox.addRecording();
    const outcome = await deliver(commsNotificationsBody([completed(recording), completed(recording)]));
    expect(outcome.jobs).toHaveLength(1);
    expect(outcome.counts).toMatchObject({ recordingsEnqueued: 1, duplicateNotifications: 1 });
  });

  it('refuses a body over 1 MiB with 413 before looking at the token', async () => {
    harness = await startGraphHarness();
    const padding = 'x'.repeat(MAX_NOTIFICATION_BODY_BYTES);
    const body = commsNotificationsBody([callStateNotification('c1', `established${padding}`)]);

    const outcome = await harness.source.handleWebhook(notificationRequest(body));

    expect(outcome.response.status).toBe(413);
    expect(outcome.jobs).toEqual([]);
    expect(harness.sandbox.counters.keySetRequests).toBe(0);
  });

  it.each([
    ['not JSON', '{"value": ['],
    ['no value array', JSON.stringify({ '@odata.type': '#microsoft.graph.commsNotifications' })],
    [
      'another document type',
      JSON.stringify({ '@odata.type': '#microsoft.graph.changeNotificationCollection', value: [{}] }),
    ],
    ['an empty value array', commsNotificationsBody([])],
  ])('refuses a body that is %s with InvalidInputError (400)', async (_name, body) => {
    harness = await startGraphHarness();
    await expect(deliver(body)).rejects.toBeInstanceOf(InvalidInputError);
  });

  it('refuses with 400 a delivery whose only record operation is too malformed to name', async () => {
    harness = await startGraphHarness();
    const recording = harness.sandbox.addRecording();
    const notification = completed(recording) as Record<string, unknown> & {
      resourceData: Record<string, unknown>;
    };
    // No id, and no path that names the operation either.
    delete notification.resourceData.id;
    delete notification.resourceData['@odata.id'];
    notification.resourceUrl = `/communications/calls/${recording.callId}`;
    const outcome = await deliver(commsNotificationsBody([notification]));
    expect(outcome.response.status).toBe(400);
    expect(outcome.counts).toMatchObject({ malformedOperations: 1 });
  });

  describe('variants without resourceData.id (the bot has no sweep: a refusal would lose the recording)', () => {
    it.each([
      ['the current form, with resourceData.id', 'current'],
      ['no resourceData.id: the last segment of resourceUrl', 'no-id'],
      ['no resourceData.id and `resource` instead of `resourceUrl`', 'older'],
    ] as const)('archives %s under the same key', async (_name, variant) => {
      // Prepare
      harness = await startGraphHarness();
      const recording = harness.sandbox.addRecording();

      // Act
      const outcome = await deliver(harness.sandbox.completedNotification(recording, undefined, variant));

      // Assess: the path spells the GUID in upper case without dashes; the key uses resourceData.id's form.
      expect(outcome.response.status).toBe(202);
      expect(outcome.jobs).toHaveLength(1);
      const job = outcome.jobs[0] as FetchNowJob;
      expect(job.recording).toMatchObject({
        recordingId: recording.operationId,
        callId: recording.callId.replaceAll('-', '').toUpperCase(),
      });
      expect(recordingKey({ ...job.recording, startedAt: new Date(job.recording.startedAt) })).toBe(
        `recordings/msgraph/${SOURCE_ID}/2026/03/31/${recording.operationId}.wav`,
      );
    });

    it('falls back to resourceData @odata.id when the notification names no resource', async () => {
      harness = await startGraphHarness();
      const recording = harness.sandbox.addRecording();
      const notification = completed(recording) as Record<string, unknown> & {
        resourceData: Record<string, unknown>;
      };
      delete notification.resourceData.id;
      delete notification.resourceUrl;
      const outcome = await deliver(commsNotificationsBody([notification]));
      expect(outcome.jobs.map((job) => (job as FetchNowJob).recording.recordingId)).toEqual([
        recording.operationId,
      ]);
    });

    it('keeps an id that is not a GUID as given', async () => {
      harness = await startGraphHarness();
      const recording = harness.sandbox.addRecording();
      const notification = completed(recording) as Record<string, unknown> & {
        resourceData: Record<string, unknown>;
      };
      delete notification.resourceData.id;
      notification.resourceUrl = `/communications/calls/C1/operations/op-7%20b`;
      const outcome = await deliver(commsNotificationsBody([notification]));
      expect(outcome.jobs.map((job) => (job as FetchNowJob).recording.recordingId)).toEqual(['op-7 b']);
    });
  });

  it('never logs the recording token or the bearer token through the webhook entry', async () => {
    // Prepare
    harness = await startGraphHarness();
    const source = harness.source;
    const recording = harness.sandbox.addRecording();
    const refused = harness.sandbox.addRecording();
    const bearer = await harness.sandbox.signNotificationToken();
    const log = recordingLog();
    const jobs: ArchiveJob[] = [];
    const queue: JobQueue = { enqueue: async (batch) => void jobs.push(...batch) };
    const sources = fixedSourceRegistry([{ provider: 'msgraph', id: SOURCE_ID }], () => source);
    const body = commsNotificationsBody([
      completed(recording),
      completed(refused, { recordingLocation: 'https://evil.example.net/x' }),
      recordOperationNotification({
        callId: recording.callId,
        operationId: 'failed-op',
        status: 'failed',
        resultInfo: { code: 500, subcode: 8500, message: 'failed' },
        recordingAccessToken: 'stray-token-on-a-failed-operation',
      }),
    ]);

    // Act
    const response = await receiveWebhook('msgraph', SOURCE_ID, notificationRequest(body, bearer), {
      sources,
      queue,
      log,
    });

    // Assess
    expect(response.status).toBe(202);
    expect(jobs).toHaveLength(1);
    for (const text of [log.text(), harness.log.text(), response.body]) {
      expect(text).not.toContain(recording.recordingAccessToken);
      expect(text).not.toContain(refused.recordingAccessToken);
      expect(text).not.toContain('stray-token-on-a-failed-operation');
      expect(text).not.toContain(bearer);
    }
  });
});
