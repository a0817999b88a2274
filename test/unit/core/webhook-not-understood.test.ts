/**
 * An authenticated webhook event that cannot be interpreted is never dropped silently, for every
 * provider: the real adapters against their sandboxes, through the webhook use case. RingCentral and
 * Telphin can be listed, so the host is asked for a sweep of the source; the Graph calling bot cannot,
 * so the alarmed line says no sweep recovers it. A delivery that fails authentication asks for nothing.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { webhookFollowUpOf } from '../../../functions/composition/webhook-follow-up';
import type { JobQueue, Log, RecordingSource, WebhookOutcome } from '../../../functions/core/ports';
import {
  receiveWebhook,
  WEBHOOK_NOT_UNDERSTOOD_CODE,
  WEBHOOK_NOT_UNDERSTOOD_MESSAGE,
} from '../../../functions/core/receive-webhook';
import type { ProviderName } from '../../../functions/core/recording';
import { commsNotificationsBody } from '../../../sandbox/providers/graph-calling-bot-sandbox';
import { fixedSourceRegistry } from '../../support/fixed-source-registry';
import {
  notificationRequest,
  startGraphHarness,
} from '../providers/graph-calling-bot/graph-calling-bot-fixture';
import {
  WEBHOOK_SECRET as RC_SECRET,
  recordingLog,
  startHarness as startRingCentral,
} from '../providers/ringcentral/ringcentral-fixture';
import {
  startHarness as startTelphin,
  WEBHOOK_SECRET as TELPHIN_SECRET,
} from '../providers/telphin/telphin-fixture';

const queue: JobQueue = { enqueue: async () => {} } as unknown as JobQueue;

async function receive(
  provider: ProviderName,
  source: RecordingSource,
  request: Parameters<typeof receiveWebhook>[2],
) {
  const log = recordingLog();
  const handedOn: WebhookOutcome[] = [];
  const response = await receiveWebhook(provider, source.sourceId, request, {
    sources: fixedSourceRegistry([{ provider, id: source.sourceId }], () => source),
    queue,
    log: log as Log,
    afterAccepted: (_provider, _sourceId, outcome) => void handedOn.push(outcome),
  });
  const alarmed = log.lines.filter((line) => line.attributes?.errorCode === WEBHOOK_NOT_UNDERSTOOD_CODE);
  const followUps = handedOn
    .map((outcome) => webhookFollowUpOf(provider, source.sourceId, outcome))
    .filter((followUp) => followUp !== undefined);
  return { response, alarmed, followUps };
}

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

describe('authenticated webhook events not understood', () => {
  it('RingCentral: an authentic telephony-session event it cannot read is answered 400, alarmed and swept for', async () => {
    // Prepare
    const harness = await startRingCentral();
    closers.push(() => harness.sandbox.close());
    const unreadable = JSON.stringify({
      event: '/restapi/v1.0/account/~/telephony/sessions',
      body: { telephonySessionId: 's-1', parties: 'Disconnected', eventTime: '2024-01-10T10:00:00Z' },
    });
    const headers = { 'content-type': 'application/json', 'verification-token': RC_SECRET };

    // Act
    const authentic = await receive('ringcentral', harness.source, {
      method: 'POST',
      query: {},
      headers,
      body: unreadable,
    });
    const forged = await receive('ringcentral', harness.source, {
      method: 'POST',
      query: {},
      headers: { ...headers, 'verification-token': 'not-the-token-0000000000000000' },
      body: unreadable,
    });

    // Assess
    expect(authentic.response.status).toBe(400);
    expect(authentic.alarmed).toEqual([
      expect.objectContaining({
        level: 'error',
        message: WEBHOOK_NOT_UNDERSTOOD_MESSAGE,
        attributes: expect.objectContaining({ events: 1, recovery: 'sweep of the source' }),
      }),
    ]);
    expect(authentic.followUps).toEqual([
      { provider: 'ringcentral', sourceId: harness.source.sourceId, sweep: {} },
    ]);
    expect(forged.response.status).toBe(403);
    expect(forged.alarmed).toEqual([]);
    expect(forged.followUps).toEqual([]);
  });

  it('Telphin: an authentic event without a readable EventTime is answered 400, alarmed and swept for', async () => {
    // Prepare
    const harness = await startTelphin();
    closers.push(() => harness.sandbox.close());
    const body = 'EventType=hangup&CallID=abc&EventTime=yesterday';
    const request = (token: string) => ({
      method: 'POST',
      query: { token },
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body,
    });

    // Act
    const authentic = await receive('telphin', harness.source, request(TELPHIN_SECRET));
    const forged = await receive('telphin', harness.source, request(`${TELPHIN_SECRET}x`));

    // Assess
    expect(authentic.response.status).toBe(400);
    expect(authentic.alarmed).toHaveLength(1);
    expect(authentic.followUps).toEqual([
      { provider: 'telphin', sourceId: harness.source.sourceId, sweep: {} },
    ]);
    expect(forged.response.status).toBe(403);
    expect(forged.alarmed).toEqual([]);
    expect(forged.followUps).toEqual([]);
  });

  it('Graph calling bot: an authentic record operation it cannot read is alarmed as unrecoverable, with no sweep', async () => {
    // Prepare
    const harness = await startGraphHarness();
    closers.push(() => harness.sandbox.close());
    const body = commsNotificationsBody([
      {
        // No operation id anywhere: not in resourceData, nor as the last segment of a path.
        changeType: 'deleted',
        resourceData: { '@odata.type': '#microsoft.graph.recordOperation', status: 'completed' },
      },
    ]);

    // Act
    const authentic = await receive(
      'msgraph',
      harness.source,
      notificationRequest(body, await harness.sandbox.signNotificationToken()),
    );
    const notJson = await receive(
      'msgraph',
      harness.source,
      notificationRequest('{"value": [', await harness.sandbox.signNotificationToken()),
    );

    // Assess
    expect(authentic.response.status).toBe(400);
    expect(authentic.alarmed).toEqual([
      expect.objectContaining({
        attributes: expect.objectContaining({ events: 1, recovery: 'none: the source cannot be listed' }),
      }),
    ]);
    expect(authentic.followUps).toEqual([]);
    expect(notJson.response.status).toBe(400);
    expect(notJson.alarmed).toHaveLength(1);
    expect(notJson.followUps).toEqual([]);
  });
});
