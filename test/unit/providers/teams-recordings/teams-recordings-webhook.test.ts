import { afterEach, describe, expect, it } from 'vitest';
import {
  ensureSubscriptionsForSource,
  type SubscriptionRecords,
} from '../../../../functions/core/ensure-subscriptions-for-source';
import {
  MSTEAMS_RENEW_BEFORE_MS,
  teamsRecordingsSubscriptionFilters,
} from '../../../../functions/providers/teams-recordings/teams-recordings-subscriptions';
import { handleTeamsRecordingsWebhook } from '../../../../functions/providers/teams-recordings/teams-recordings-webhook';
import {
  DAY,
  recordingLog,
  startHarness,
  type TeamsHarness,
  WEBHOOK_SECRET,
} from './teams-recordings-fixture';

function memoryRecords(): SubscriptionRecords {
  const saved = new Map<string, Awaited<ReturnType<SubscriptionRecords['load']>>>();
  return {
    load: async (sourceId) => saved.get(sourceId) ?? [],
    save: async (sourceId, records) => void saved.set(sourceId, records),
  };
}

async function post(
  url: string,
  body: unknown,
): Promise<{ status: number; type: string | null; text: string }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
}

async function subscribe(harness: TeamsHarness) {
  return ensureSubscriptionsForSource(
    {
      sourceId: harness.config.id,
      address: harness.webhookUrl,
      filters: teamsRecordingsSubscriptionFilters(harness.config.recordings),
      secret: WEBHOOK_SECRET,
      renewBeforeMs: MSTEAMS_RENEW_BEFORE_MS,
    },
    {
      api: harness.source.subscriptionApi(),
      records: memoryRecords(),
      clock: { now: () => new Date() },
      log: harness.log,
    },
  );
}

const context = {
  sourceId: 'contoso-teams',
  webhookSecret: WEBHOOK_SECRET,
  tenantId: '2432b57b-0abd-43db-aa7b-16eadd115d34',
  clock: { now: () => new Date('2024-03-12T10:00:00Z') },
  log: recordingLog(),
};

describe('Teams webhook', () => {
  let harness: TeamsHarness | undefined;
  afterEach(async () => {
    await harness?.close();
    harness = undefined;
  });

  it('passes Graph validation of both the notification and the lifecycle URL when subscriptions are created', async () => {
    // Prepare
    harness = await startHarness();

    // Act
    const report = await subscribe(harness);

    // Assess: one subscription per kind, each validated twice (notificationUrl and lifecycleNotificationUrl).
    expect(report.created).toHaveLength(2);
    expect(harness.sandbox.counters.validations).toBe(4);
    const subscriptions = harness.sandbox.subscriptions();
    expect(subscriptions.map((subscription) => subscription.resource).sort()).toEqual([
      'communications/adhocCalls/getAllRecordings',
      'communications/onlineMeetings/getAllRecordings',
    ]);
    for (const subscription of subscriptions) {
      expect(subscription).toMatchObject({
        changeType: 'created',
        notificationUrl: harness.webhookUrl,
        lifecycleNotificationUrl: harness.webhookUrl,
        clientState: WEBHOOK_SECRET,
      });
      const minutesAhead = (Date.parse(subscription.expirationDateTime) - Date.now()) / 60_000;
      expect(minutesAhead).toBeGreaterThan(4_300);
      expect(minutesAhead).toBeLessThanOrEqual(4_320);
    }
    expect(harness.queue.jobs).toEqual([]);
  });

  it('echoes the URL-decoded validationToken as text/plain, 200', async () => {
    // Prepare
    harness = await startHarness();
    const token =
      'Validation: Testing client application reachability for subscription Request-Id: 3b3f9821-ce3f';

    // Act
    const response = await fetch(`${harness.webhookUrl}?validationToken=${encodeURIComponent(token)}`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain; charset=utf-8' },
    });

    // Assess
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await response.text()).toBe(token);
  });

  it('turns created notifications, with and without the user in the resource, into hint jobs over HTTP', async () => {
    // Prepare
    harness = await startHarness();
    await subscribe(harness);
    const meeting = harness.sandbox.addRecording({
      kind: 'onlineMeetings',
      organizerId: harness.alice.id,
      createdAt: DAY,
    });
    const call = harness.sandbox.addRecording({
      kind: 'adhocCalls',
      organizerId: harness.alice.id,
      createdAt: DAY,
    });

    // Act
    const tenantWide = await harness.sandbox.notifyRecording(meeting.id, { spelling: 'tenant-wide' });
    const withUser = await harness.sandbox.notifyRecording(call.id, { withUser: true });

    // Assess
    expect([...tenantWide, ...withUser].map((delivery) => delivery.status)).toEqual([202, 202]);
    expect(harness.queue.jobs).toEqual([
      expect.objectContaining({
        type: 'hint',
        provider: 'msteams',
        sourceId: 'contoso-teams',
        hint: { kind: 'onlineMeetings', meetingId: meeting.containerId, recordingId: meeting.id },
      }),
      expect.objectContaining({
        type: 'hint',
        hint: {
          kind: 'adhocCalls',
          callId: call.containerId,
          recordingId: call.id,
          userId: harness.alice.id,
        },
      }),
    ]);
  });

  it('refuses a delivery whose clientState is wrong with 403 and enqueues nothing', async () => {
    // Prepare
    harness = await startHarness();
    const forged = {
      value: [
        {
          subscriptionId: 'c0ffee00-0000-4000-8000-000000000000',
          changeType: 'created',
          clientState: 'not-the-secret-at-all',
          resource: "communications/onlineMeetings('MSoxYz')/recordings('VjIjIz')",
        },
      ],
    };

    // Act
    const response = await post(harness.webhookUrl, forged);

    // Assess
    expect(response.status).toBe(403);
    expect(harness.queue.jobs).toEqual([]);
    expect(harness.log.lines).toContainEqual(
      expect.objectContaining({ level: 'warn', message: 'teams notifications dropped: wrong clientState' }),
    );
  });

  it('drops and counts the notifications of a mixed batch that fail clientState or name another tenant, and hints the valid ones', () => {
    // Prepare
    const body = JSON.stringify({
      value: [
        {
          changeType: 'created',
          clientState: WEBHOOK_SECRET,
          resource: "users('u-1')/adhocCalls('call-1')/recordings('rec-1')",
        },
        {
          changeType: 'created',
          clientState: `${WEBHOOK_SECRET}x`,
          resource: "users('u-1')/adhocCalls('call-2')/recordings('rec-2')",
        },
        { changeType: 'created', resource: "users('u-1')/adhocCalls('call-3')/recordings('rec-3')" },
        {
          changeType: 'created',
          clientState: WEBHOOK_SECRET,
          resource: "users('u-1')/adhocCalls('call-1')/recordings('rec-1')",
        },
        { changeType: 'created', clientState: WEBHOOK_SECRET, resource: 'users/u-1/events/e-1' },
        {
          changeType: 'created',
          clientState: WEBHOOK_SECRET,
          tenantId: '11111111-2222-4333-8444-555555555555',
          resource: "users('u-1')/adhocCalls('call-4')/recordings('rec-4')",
        },
      ],
    });

    // Act
    const outcome = handleTeamsRecordingsWebhook({ method: 'POST', query: {}, headers: {}, body }, context);

    // Assess
    expect(outcome.response.status).toBe(202);
    expect(outcome.jobs).toHaveLength(1);
    expect(outcome.counts).toMatchObject({
      recordingsHinted: 1,
      wrongClientState: 2,
      wrongTenant: 1,
      duplicateNotifications: 1,
      unrecognisedResources: 1,
    });
  });

  it('accepts the slash form of the resource and the @odata.id when the resource is missing', () => {
    // Prepare
    const body = JSON.stringify({
      value: [
        {
          changeType: 'created',
          clientState: WEBHOOK_SECRET,
          resource: '/users/u-2/onlineMeetings/m%2F1/recordings/r-1',
        },
        {
          changeType: 'created',
          clientState: WEBHOOK_SECRET,
          resourceData: { id: 'r-2', '@odata.id': "communications/adhocCalls('c-''2')/recordings('r-2')" },
        },
      ],
    });

    // Act
    const outcome = handleTeamsRecordingsWebhook({ method: 'POST', query: {}, headers: {}, body }, context);

    // Assess
    expect(outcome.jobs.map((job) => (job.type === 'hint' ? job.hint : undefined))).toEqual([
      { kind: 'onlineMeetings', meetingId: 'm/1', recordingId: 'r-1', userId: 'u-2' },
      { kind: 'adhocCalls', callId: "c-'2", recordingId: 'r-2' },
    ]);
  });

  it('reports lifecycle events with the action the wiring takes, enqueuing nothing', async () => {
    // Prepare
    harness = await startHarness();
    await subscribe(harness);
    const [first, second] = harness.sandbox.subscriptions();

    // Act
    const missed = await harness.sandbox.sendLifecycleEvent(first?.id ?? '', 'missed');
    const reauthorize = await harness.sandbox.sendLifecycleEvent(second?.id ?? '', 'reauthorizationRequired');
    const outcome = await harness.source.handleWebhook({
      method: 'POST',
      query: {},
      headers: {},
      body: JSON.stringify({
        value: [
          { subscriptionId: first?.id, clientState: WEBHOOK_SECRET, lifecycleEvent: 'subscriptionRemoved' },
          { subscriptionId: second?.id, clientState: WEBHOOK_SECRET, lifecycleEvent: 'missed' },
          { subscriptionId: second?.id, clientState: 'wrong', lifecycleEvent: 'missed' },
        ],
      }),
    });

    // Assess
    expect([missed.status, reauthorize.status]).toEqual([202, 202]);
    expect(harness.queue.jobs).toEqual([]);
    expect(outcome.response.status).toBe(202);
    expect(outcome.jobs).toEqual([]);
    expect(outcome.lifecycle).toEqual([
      { event: 'subscriptionRemoved', subscriptionId: first?.id, action: 'recreate-subscription-and-sweep' },
      { event: 'missed', subscriptionId: second?.id, action: 'sweep-now' },
    ]);
    expect(outcome.counts).toMatchObject({
      lifecycleSubscriptionRemoved: 1,
      lifecycleMissed: 1,
      wrongClientState: 1,
    });
  });

  it('refuses a body that is not a notification collection with 400', async () => {
    // Prepare
    harness = await startHarness();

    // Act
    const response = await post(harness.webhookUrl, { hello: 'world' });

    // Assess
    expect(response.status).toBe(400);
    expect(harness.queue.jobs).toEqual([]);
  });
});
