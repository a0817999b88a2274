import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { NotReadyError } from '../../../../functions/core/errors';
import {
  type ArchiveJob,
  archiveJobSchema,
  type HintJob,
  JOB_VERSION,
} from '../../../../functions/core/jobs';
import type { JobQueue, WebhookRequest } from '../../../../functions/core/ports';
import { receiveWebhook } from '../../../../functions/core/receive-webhook';
import type { SourceRegistry } from '../../../../functions/core/source-registry';
import { startWebhookServer, type WebhookServer } from '../../../../functions/local/webhook-server';
import type { RingCentralSource } from '../../../../functions/providers/ringcentral/ringcentral-source';
import {
  JWT_GRANT,
  type RingCentralSandbox,
  TELEPHONY_SESSIONS_FILTER,
} from '../../../../sandbox/providers/ringcentral-sandbox';
import { fixedSourceRegistry } from '../../../support/fixed-source-registry';
import {
  JAN_2024,
  manualClock,
  type RingCentralHarness,
  recordingLog,
  startHarness,
  WEBHOOK_SECRET,
} from './ringcentral-fixture';

class CollectingQueue implements JobQueue {
  readonly jobs: ArchiveJob[] = [];
  async enqueue(jobs: readonly ArchiveJob[]): Promise<void> {
    this.jobs.push(...jobs);
  }
}

function registryOf(source: RingCentralSource): SourceRegistry {
  return fixedSourceRegistry([{ provider: 'ringcentral', id: source.sourceId }], () => source);
}

function event(body: Record<string, unknown>, envelope: Record<string, unknown> = {}): string {
  return JSON.stringify({
    uuid: '837270960869181944',
    event: '/restapi/v1.0/account/37439510/telephony/sessions',
    timestamp: '2024-01-10T10:01:00.181Z',
    subscriptionId: '5c37f936-fa66-4b4b-95af-1e94b51a748d',
    ownerId: '727097016',
    body: {
      sequence: 5,
      sessionId: '402936341008',
      telephonySessionId: 's-a0d7e4c9a1b2c3d4',
      serverId: '10.62.25.111.TAM',
      eventTime: '2024-01-10T10:01:00.147Z',
      origin: { type: 'Call' },
      ...body,
    },
    ...envelope,
  });
}

const party = (code: string, recordings?: { id: string | number; active: boolean }[]) => ({
  extensionId: '727097016',
  id: 'cs171841903434018384-2',
  direction: 'Outbound',
  to: { phoneNumber: '+12125550111' },
  from: { phoneNumber: '+16505550101', name: 'John Snow', extensionId: '727097016' },
  status: { code },
  ...(recordings ? { recordings } : {}),
  missedCall: false,
  standAlone: false,
  muted: false,
});

function delivery(body: string, headers: Record<string, string | undefined> = {}): WebhookRequest {
  return {
    method: 'POST',
    query: {},
    headers: { 'content-type': 'application/json', 'verification-token': WEBHOOK_SECRET, ...headers },
    body,
  };
}

async function bearer(sandbox: RingCentralSandbox): Promise<string> {
  const response = await fetch(`${sandbox.url}/restapi/oauth/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${sandbox.clientId}:${sandbox.clientSecret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: JWT_GRANT, assertion: sandbox.jwt }),
  });
  return ((await response.json()) as { access_token: string }).access_token;
}

async function subscribe(sandbox: RingCentralSandbox, address: string, verificationToken = WEBHOOK_SECRET) {
  const response = await fetch(`${sandbox.url}/restapi/v1.0/subscription`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await bearer(sandbox)}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      eventFilters: [TELEPHONY_SESSIONS_FILTER],
      deliveryMode: { transportType: 'WebHook', address, verificationToken },
      expiresIn: 315_360_000,
    }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('RingCentralSource.handleWebhook', () => {
  let harness: RingCentralHarness | undefined;
  let server: WebhookServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
    await harness?.sandbox.close();
  });

  it('echoes a Validation-Token with 200, Content-Type application/json and a tiny reply, even unconfigured', async () => {
    // Prepare: no verification token configured yet, no Verification-Token sent.
    harness = await startHarness({ webhookSecret: null });

    // Act
    const outcome = await harness.source.handleWebhook({
      method: 'POST',
      query: {},
      headers: { 'validation-token': '3f2a7c1e-5b9d-4e8f-a6c2-0d1b2e3f4a5b' },
      body: '',
    });

    // Assess
    expect(outcome).toEqual({
      response: {
        status: 200,
        contentType: 'application/json',
        body: '',
        headers: { 'Validation-Token': '3f2a7c1e-5b9d-4e8f-a6c2-0d1b2e3f4a5b' },
      },
      jobs: [],
    });
  });

  it('takes a Validation-Token request with a body as a delivery: authenticated by either header, counted, never swallowed', async () => {
    // Prepare: the "Receiving webhooks" page since December 2023 puts the secret in Validation-Token.
    harness = await startHarness();
    const queue = new CollectingQueue();
    const deps = { sources: registryOf(harness.source), queue, log: recordingLog() };
    const finished = event({ parties: [party('Disconnected', [{ id: '6011412004', active: false }])] });
    const newerForm = { 'verification-token': undefined, 'validation-token': WEBHOOK_SECRET };

    // Act
    const outcome = await harness.source.handleWebhook(delivery(finished, newerForm));
    const received = await receiveWebhook('ringcentral', 'rc-test', delivery(finished, newerForm), deps);
    const forged = await receiveWebhook(
      'ringcentral',
      'rc-test',
      delivery(finished, { 'verification-token': undefined, 'validation-token': `${WEBHOOK_SECRET}x` }),
      deps,
    );
    const olderForm = await harness.source.handleWebhook(delivery(finished));
    const handshake = await harness.source.handleWebhook(
      delivery('', { 'verification-token': undefined, 'validation-token': 'a1b2c3' }),
    );

    // Assess
    expect(outcome.jobs).toHaveLength(1);
    expect(outcome.jobs[0]).toMatchObject({ hint: { status: 'Disconnected', recordingIds: '6011412004' } });
    expect(outcome.counts).toEqual({ handshakeWithBody: 1 });
    expect(outcome.response.headers).toBeUndefined();
    expect(received.status).toBe(200);
    expect(forged.status).toBe(403);
    expect(queue.jobs).toHaveLength(1);
    expect(olderForm.counts).toEqual({ handshakeWithBody: 0 });
    expect(handshake).toMatchObject({ response: { status: 200, body: '' }, jobs: [] });
    expect(handshake.response.headers).toEqual({ 'Validation-Token': 'a1b2c3' });
    const logged = harness.log.lines.filter(
      (line) => line.attributes?.event === 'RINGCENTRAL_HANDSHAKE_WITH_BODY',
    );
    expect(logged).toHaveLength(3);
    expect(JSON.stringify(harness.log.lines)).not.toContain(WEBHOOK_SECRET);
  });

  it('passes the real handshake and receives the hang-up through the local webhook server', async () => {
    // Prepare
    harness = await startHarness();
    const queue = new CollectingQueue();
    server = await startWebhookServer({
      host: '127.0.0.1',
      port: 0,
      deps: { sources: registryOf(harness.source), queue, log: recordingLog() },
      log: recordingLog(),
    });
    const call = harness.sandbox.startCall({ startedAt: new Date(Date.now() - 90_000) });

    // Act
    const created = await subscribe(harness.sandbox, `${server.url}/webhooks/ringcentral/rc-test`);
    const deliveries = await harness.sandbox.hangUp(call.telephonySessionId);
    const recordings = await harness.source.resolveHint(queue.jobs[0] as HintJob);

    // Assess
    expect(created).toMatchObject({ status: 200, body: { status: 'Active' } });
    expect(harness.sandbox.counters.handshakes).toBe(1);
    expect(deliveries).toEqual([expect.objectContaining({ status: 200, blacklisted: false })]);
    expect(queue.jobs).toHaveLength(1);
    expect(archiveJobSchema.parse(queue.jobs[0])).toEqual(queue.jobs[0]);
    expect(queue.jobs[0]).toMatchObject({
      type: 'hint',
      provider: 'ringcentral',
      sourceId: 'rc-test',
      hint: {
        eventType: 'telephony-session',
        status: 'Disconnected',
        telephonySessionId: call.telephonySessionId,
        sessionId: call.sessionId,
        recordingIds: call.recording?.id,
        sequence: '1',
      },
    });
    expect(JSON.stringify(queue.jobs)).not.toContain(WEBHOOK_SECRET);
    expect(recordings.map((recording) => recording.recordingId)).toEqual([call.recording?.id]);
  });

  it('gets the subscription refused (SUB-525) when the address does not echo the token', async () => {
    // Prepare: a receiver that answers 200 without the header.
    harness = await startHarness();
    const mute = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('{}');
    });
    await new Promise<void>((resolve) => mute.listen(0, '127.0.0.1', resolve));
    const address = `http://127.0.0.1:${(mute.address() as AddressInfo).port}/hook`;

    // Act
    const refused = await subscribe(harness.sandbox, address).finally(
      () => new Promise((resolve) => mute.close(resolve)),
    );

    // Assess
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ errorCode: 'SUB-525' });
    expect(harness.sandbox.subscriptions()).toEqual([]);
  });

  it('refuses deliveries without the Verification-Token (401) or with a wrong one (403) and enqueues nothing', async () => {
    // Prepare
    harness = await startHarness();
    const queue = new CollectingQueue();
    const deps = { sources: registryOf(harness.source), queue, log: recordingLog() };
    const finished = event({ parties: [party('Disconnected', [{ id: '6011412004', active: false }])] });
    const wrongTokens = [
      'x'.repeat(WEBHOOK_SECRET.length),
      WEBHOOK_SECRET.slice(0, -1),
      `${WEBHOOK_SECRET}0`,
      WEBHOOK_SECRET.toUpperCase(),
    ];

    // Act
    const missing = await receiveWebhook(
      'ringcentral',
      'rc-test',
      delivery(finished, { 'verification-token': undefined }),
      deps,
    );
    const wrong = await Promise.all(
      wrongTokens.map((token) =>
        receiveWebhook('ringcentral', 'rc-test', delivery(finished, { 'verification-token': token }), deps),
      ),
    );
    const right = await receiveWebhook('ringcentral', 'rc-test', delivery(finished), deps);

    // Assess
    expect(missing.status).toBe(401);
    expect(wrong.map((response) => response.status)).toEqual([403, 403, 403, 403]);
    expect(right.status).toBe(200);
    expect(queue.jobs).toHaveLength(1);
  });

  it('refuses every delivery with 403 while no webhookSecret is configured', async () => {
    // Prepare
    harness = await startHarness({ webhookSecret: null });
    const queue = new CollectingQueue();

    // Act
    const response = await receiveWebhook(
      'ringcentral',
      'rc-test',
      delivery(event({ parties: [party('Disconnected')] })),
      { sources: registryOf(harness.source), queue, log: recordingLog() },
    );

    // Assess
    expect(response.status).toBe(403);
    expect(queue.jobs).toEqual([]);
  });

  it('answers 400 to malformed bodies and enqueues nothing', async () => {
    // Prepare
    harness = await startHarness();
    const queue = new CollectingQueue();
    const deps = { sources: registryOf(harness.source), queue, log: recordingLog() };
    const bodies = [
      '{"event": "/restapi/v1.0/account/~/telephony/sessions", "body":',
      '[1, 2, 3]',
      JSON.stringify({ event: '/restapi/v1.0/account/~/telephony/sessions' }),
      event({ telephonySessionId: undefined, sessionId: undefined, parties: [party('Disconnected')] }),
      event({ parties: { code: 'Disconnected' } }),
      event({ parties: ['Disconnected'] }),
      event({ eventTime: 'yesterday', parties: [party('Disconnected')] }),
      event({ parties: [{ ...party('Disconnected'), recordings: 'all' }] }),
    ];

    // Act
    const responses = await Promise.all(
      bodies.map((body) => receiveWebhook('ringcentral', 'rc-test', delivery(body), deps)),
    );

    // Assess
    expect(responses.map((response) => response.status)).toEqual(bodies.map(() => 400));
    expect(queue.jobs).toEqual([]);
  });

  it('acknowledges events of calls still going on, and other event types, without jobs', async () => {
    // Prepare
    harness = await startHarness();
    const bodies = [
      event({ parties: [party('Setup')] }),
      event({ parties: [party('Proceeding')] }),
      event({ parties: [party('Answered', [{ id: '6011412004', active: true }])] }),
      event({ parties: [party('Hold', [{ id: '6011412004', active: true }])] }),
      event({ parties: [] }),
      // A subscription renewal reminder.
      JSON.stringify({
        event: '/restapi/v1.0/subscription/~?threshold=86400&interval=3600',
        body: { expiresIn: 80000 },
      }),
    ];

    // Act
    const outcomes = await Promise.all(bodies.map((body) => harness!.source.handleWebhook(delivery(body))));

    // Assess
    for (const outcome of outcomes) {
      expect(outcome.response.status).toBe(200);
      expect(outcome.jobs).toEqual([]);
    }
  });

  it('turns a finished call into one deterministic hint per event; a recording inactive on a live call (paused) makes none', async () => {
    // Prepare
    harness = await startHarness();
    const hungUp = event({
      parties: [
        party('Disconnected', [{ id: 6011412004, active: false }]),
        { ...party('Disconnected'), id: 'p-2', extensionId: '727097017' },
      ],
    });
    // Pause and resume toggle `active`: inactive while the call goes on is not "stopped for good".
    const paused = event({
      sequence: 7,
      parties: [party('Answered', [{ id: '6011412005', active: false }])],
    });
    const pausedOnHold = event({
      sequence: 8,
      parties: [party('Hold', [{ id: '6011412005', active: false }])],
    });

    // Act
    const first = await harness.source.handleWebhook(delivery(hungUp));
    const redelivered = await harness.source.handleWebhook(delivery(hungUp));
    const whilePaused = await Promise.all(
      [paused, pausedOnHold].map((body) => harness!.source.handleWebhook(delivery(body))),
    );

    // Assess
    expect(first.jobs).toEqual([
      {
        v: JOB_VERSION,
        type: 'hint',
        provider: 'ringcentral',
        sourceId: 'rc-test',
        eventTime: '2024-01-10T10:01:00.147Z',
        hint: {
          eventType: 'telephony-session',
          status: 'Disconnected',
          telephonySessionId: 's-a0d7e4c9a1b2c3d4',
          sessionId: '402936341008',
          sequence: '5',
          recordingIds: '6011412004',
        },
      },
    ]);
    expect(redelivered).toEqual(first);
    expect(whilePaused.map((outcome) => [outcome.response.status, outcome.jobs.length])).toEqual([
      [200, 0],
      [200, 0],
    ]);
  });
});

describe('RingCentralSource.resolveHint', () => {
  let harness: RingCentralHarness | undefined;
  afterEach(async () => harness?.sandbox.close());

  const hintFor = (hint: Record<string, string>, eventTime = new Date()): HintJob => ({
    v: JOB_VERSION,
    type: 'hint',
    provider: 'ringcentral',
    sourceId: 'rc-test',
    eventTime: eventTime.toISOString(),
    hint,
  });

  it('is not ready while the call is not in the call log yet, then resolves it by telephony session', async () => {
    // Prepare: the call log lags two minutes behind the hang-up.
    const clock = manualClock();
    harness = await startHarness({ clock, sandbox: { clock, callLogLagMs: 120_000 } });
    const call = harness.sandbox.startCall({ startedAt: new Date(clock.now().getTime() - 60_000) });
    await harness.sandbox.hangUp(call.telephonySessionId, { deliver: false });
    const job = hintFor(
      { telephonySessionId: call.telephonySessionId, recordingIds: call.recording!.id },
      clock.now(),
    );

    // Act
    const early = await harness.source.resolveHint(job).catch((error: unknown) => error);
    clock.advance(121_000);
    const resolved = await harness.source.resolveHint(job);

    // Assess
    expect(early).toBeInstanceOf(NotReadyError);
    expect(resolved.map((recording) => recording.recordingId)).toEqual([call.recording?.id]);
    const lookup = harness.sandbox.requestLog.filter((entry) => entry.route === 'call-log').at(-1);
    expect(Object.fromEntries(new URLSearchParams(lookup?.query))).toMatchObject({
      view: 'Detailed',
      telephonySessionId: call.telephonySessionId,
    });
  });

  it('falls back to the legacy session id and resolves calls without recordings to nothing', async () => {
    // Prepare
    harness = await startHarness();
    const unrecorded = harness.sandbox.addCall({
      startedAt: new Date(Date.now() - 120_000),
      recorded: false,
    });

    // Act
    const resolved = await harness.source.resolveHint(hintFor({ sessionId: unrecorded.sessionId }));

    // Assess
    expect(resolved).toEqual([]);
    const lookup = harness.sandbox.requestLog.filter((entry) => entry.route === 'call-log').at(-1);
    expect(new URLSearchParams(lookup?.query).get('sessionId')).toBe(unrecorded.sessionId);
  });

  it('gives up on a hinted recording the call log marks as too short to keep', async () => {
    // Prepare
    harness = await startHarness();
    const call = harness.sandbox.addCall({ startedAt: new Date(Date.now() - 120_000), shortRecording: true });

    // Act
    const resolved = await harness.source.resolveHint(
      hintFor({ telephonySessionId: call.telephonySessionId, recordingIds: '990000001' }),
    );

    // Assess
    expect(resolved).toEqual([]);
  });

  it('settles a hinted recording a leg marks as too short to keep, as it does for the call record', async () => {
    // Prepare: the Detailed view's leg, not the record, carries shortRecording.
    harness = await startHarness();
    const call = harness.sandbox.addCall({
      startedAt: new Date(Date.now() - 120_000),
      shortRecording: true,
      shortRecordingOn: 'leg',
    });

    // Act
    const resolved = await harness.source.resolveHint(
      hintFor({ telephonySessionId: call.telephonySessionId, recordingIds: '990000002' }),
    );

    // Assess
    expect(resolved).toEqual([]);
    expect(harness.log.lines.map((line) => line.message)).toContain(
      'ringcentral recording too short to be kept',
    );
  });

  it('resolves a call outside the extensions scope to nothing instead of waiting for it', async () => {
    // Prepare
    harness = await startHarness({ config: { scope: { extensions: ['102'] } } });
    const call = harness.sandbox.addCall({ startedAt: JAN_2024 });

    // Act
    const resolved = await harness.source.resolveHint(
      hintFor({ telephonySessionId: call.telephonySessionId, recordingIds: call.recording!.id }, JAN_2024),
    );

    // Assess
    expect(resolved).toEqual([]);
  });
});
