import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { detectMediaKind } from '../../../functions/core/media-signature';
import {
  JWT_GRANT,
  type RingCentralSandbox,
  type RingCentralSandboxOptions,
  startRingCentralSandbox,
  TELEPHONY_SESSIONS_FILTER,
} from '../../../sandbox/providers/ringcentral-sandbox';

let sandbox: RingCentralSandbox | undefined;
let receiver: Server | undefined;
afterEach(async () => {
  await sandbox?.close();
  sandbox = undefined;
  if (receiver) await new Promise((resolve) => receiver?.close(resolve));
  receiver = undefined;
});

async function start(options: RingCentralSandboxOptions = {}): Promise<RingCentralSandbox> {
  sandbox = await startRingCentralSandbox(options);
  return sandbox;
}

function basic(target: RingCentralSandbox, secret = target.clientSecret): string {
  return `Basic ${Buffer.from(`${target.clientId}:${secret}`).toString('base64')}`;
}

async function tokenRequest(target: RingCentralSandbox, form: Record<string, string>, secret?: string) {
  const response = await fetch(`${target.url}/restapi/oauth/token`, {
    method: 'POST',
    headers: { authorization: basic(target, secret), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form),
  });
  return {
    status: response.status,
    headers: response.headers,
    body: (await response.json()) as Record<string, unknown>,
  };
}

async function login(target: RingCentralSandbox): Promise<{ access: string; refresh: string }> {
  const { body } = await tokenRequest(target, { grant_type: JWT_GRANT, assertion: target.jwt });
  return { access: body.access_token as string, refresh: body.refresh_token as string };
}

function api(
  target: RingCentralSandbox,
  token: string,
  path: string,
  init: RequestInit = {},
  origin = target.url,
) {
  return fetch(`${origin}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${token}`, ...(init.headers as Record<string, string>) },
  });
}

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

/** A webhook receiver; `reply` decides each answer (default: a correct handshake, 200 for events). */
async function startReceiver(
  reply: (request: Received) => { status: number; headers?: Record<string, string>; body?: string } = (
    request,
  ) =>
    request.headers['validation-token']
      ? {
          status: 200,
          headers: {
            'validation-token': String(request.headers['validation-token']),
            'content-type': 'application/json',
          },
        }
      : { status: 200 },
): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  receiver = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const entry = { headers: request.headers, body: Buffer.concat(chunks).toString('utf8') };
      received.push(entry);
      const answer = reply(entry);
      response.writeHead(answer.status, answer.headers ?? {});
      response.end(answer.body ?? '');
    });
  });
  await new Promise<void>((resolve) => receiver?.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`, received };
}

async function subscribe(
  target: RingCentralSandbox,
  token: string,
  address: string,
  filters = [TELEPHONY_SESSIONS_FILTER],
) {
  const response = await api(target, token, '/restapi/v1.0/subscription', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      eventFilters: filters,
      deliveryMode: { transportType: 'WebHook', address, verificationToken: 'verify-me-0123456789' },
    }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('RingCentral sandbox: token endpoint', () => {
  it('issues tokens for the JWT grant with the app credentials and refuses wrong ones', async () => {
    // Prepare
    const target = await start();

    // Act
    const good = await tokenRequest(target, { grant_type: JWT_GRANT, assertion: target.jwt });
    const badClient = await tokenRequest(target, { grant_type: JWT_GRANT, assertion: target.jwt }, 'nope');
    const badJwt = await tokenRequest(target, { grant_type: JWT_GRANT, assertion: 'eyJ.forged.sig' });
    const password = await tokenRequest(target, { grant_type: 'password', username: 'x', password: 'y' });

    // Assess
    expect(good.status).toBe(200);
    expect(good.body).toMatchObject({
      token_type: 'bearer',
      expires_in: 3600,
      refresh_token_expires_in: 604800,
    });
    expect(badClient).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    expect(badJwt).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect(password).toMatchObject({ status: 400, body: { error: 'unsupported_grant_type' } });
    expect(target.counters).toMatchObject({ logins: 1, refusedLogins: 1 });
  });

  it('makes refresh tokens single-use and ends the old access token on refresh', async () => {
    // Prepare
    const target = await start();
    const first = await login(target);

    // Act
    const refreshed = await tokenRequest(target, {
      grant_type: 'refresh_token',
      refresh_token: first.refresh,
    });
    const reused = await tokenRequest(target, { grant_type: 'refresh_token', refresh_token: first.refresh });
    const oldToken = await api(target, first.access, '/restapi/v1.0/account/~/call-log');
    const newToken = await api(
      target,
      refreshed.body.access_token as string,
      '/restapi/v1.0/account/~/call-log',
    );

    // Assess
    expect(refreshed.status).toBe(200);
    expect(reused).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect(oldToken.status).toBe(401);
    expect(newToken.status).toBe(200);
  });

  it('throttles the Auth group with 429 and Retry-After', async () => {
    // Prepare
    const target = await start({ rateLimits: { auth: { limit: 2, windowSeconds: 60 } } });

    // Act
    const answers = [];
    for (let index = 0; index < 3; index++)
      answers.push(await tokenRequest(target, { grant_type: JWT_GRANT, assertion: target.jwt }));

    // Assess
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 429]);
    expect(Number(answers[2]?.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(answers[2]?.headers.get('x-rate-limit-group')).toBe('auth');
  });

  it('ends the oldest session when the user exceeds the parallel-session limit', async () => {
    // Prepare
    const target = await start({ sessionLimit: 2 });
    const oldest = await login(target);
    await login(target);

    // Act
    const newest = await login(target);

    // Assess
    expect((await api(target, oldest.access, '/restapi/v1.0/account/~/call-log')).status).toBe(401);
    expect((await api(target, newest.access, '/restapi/v1.0/account/~/call-log')).status).toBe(200);
    expect(target.counters.sessionsEvicted).toBe(1);
  });
});

describe('RingCentral sandbox: call log, content, delete', () => {
  it('serves the Detailed call log with legs shaped like the seeds, and pages it', async () => {
    // Prepare
    const target = await start();
    const from = new Date('2024-01-10T00:00:00Z');
    target.addCall({ kind: 'ringout', startedAt: new Date('2024-01-10T10:00:00Z') });
    target.addCall({ kind: 'ringout-busy', startedAt: new Date('2024-01-10T11:00:00Z') });
    target.addCall({ kind: 'inbound', startedAt: new Date('2024-01-10T12:00:00Z') });
    const { access } = await login(target);
    const query = `dateFrom=${from.toISOString()}&dateTo=2024-01-11T00:00:00Z&perPage=2`;

    // Act
    const page1 = (await (
      await api(target, access, `/restapi/v1.0/account/~/call-log?view=Detailed&${query}`)
    ).json()) as {
      records: Record<string, unknown>[];
      navigation: { nextPage?: { uri: string } };
    };
    const page2 = (await (
      await fetch(page1.navigation.nextPage!.uri, { headers: { authorization: `Bearer ${access}` } })
    ).json()) as typeof page1;
    const simple = (await (
      await api(target, access, `/restapi/v1.0/account/~/call-log?${query}`)
    ).json()) as typeof page1;
    const tooBig = await api(target, access, '/restapi/v1.0/account/~/call-log?perPage=1001');

    // Assess
    const legTypes = [...page1.records, ...page2.records].map((record) =>
      (record.legs as { legType: string }[]).map((leg) => leg.legType),
    );
    expect(legTypes).toEqual([
      ['Accept', 'Accept', 'FindMe'],
      ['RingOutClientToCaller'],
      ['RingOutClientToSubscriber', 'RingOutClientToCaller'],
    ]);
    expect(page2.navigation.nextPage).toBeUndefined();
    expect(page1.records[0]).toMatchObject({ type: 'Voice', direction: 'Inbound', action: 'Phone Call' });
    expect(page2.records[0]).toMatchObject({ result: 'Call connected', extension: { id: 727097016 } });
    expect(simple.records[0]?.legs).toBeUndefined();
    expect(tooBig.status).toBe(400);
  });

  it('hides a call from the log until hang-up plus the lag, and its content until it is ready', async () => {
    // Prepare
    let now = Date.parse('2024-01-10T10:05:00Z');
    const clock = { now: () => new Date(now) };
    const target = await start({ clock, callLogLagMs: 60_000, recordingReadyDelayMs: 120_000 });
    const call = target.startCall({ startedAt: new Date('2024-01-10T10:00:00Z') });
    const { access } = await login(target);
    const count = async () =>
      (
        (await (
          await api(target, access, '/restapi/v1.0/account/~/call-log?dateFrom=2024-01-10T00:00:00Z')
        ).json()) as {
          records: unknown[];
        }
      ).records.length;
    const contentPath = `/restapi/v1.0/account/~/recording/${call.recording?.id}/content`;

    // Act / Assess
    expect(await count()).toBe(0);
    await target.hangUp(call.telephonySessionId);
    expect(await count()).toBe(0);
    now += 61_000;
    expect(await count()).toBe(1);
    expect((await api(target, access, contentPath, {}, target.mediaUrl)).status).toBe(404);
    now += 60_000;
    expect((await api(target, access, contentPath, {}, target.mediaUrl)).status).toBe(200);
  });

  it('serves MP3 and WAV content with HEAD and Range from the media host only', async () => {
    // Prepare
    const target = await start();
    const mp3 = target.addCall({ size: 10_000 });
    const wav = target.addCall({ size: 10_044, format: 'wav' });
    const { access } = await login(target);
    const path = (id: string | undefined) => `/restapi/v1.0/account/~/recording/${id}/content`;

    // Act
    const mp3Body = Buffer.from(
      await (await api(target, access, path(mp3.recording?.id), {}, target.mediaUrl)).arrayBuffer(),
    );
    const wavAnswer = await api(target, access, path(wav.recording?.id), {}, target.mediaUrl);
    const wavBody = Buffer.from(await wavAnswer.arrayBuffer());
    const head = await api(target, access, path(mp3.recording?.id), { method: 'HEAD' }, target.mediaUrl);
    const range = await api(
      target,
      access,
      path(mp3.recording?.id),
      { headers: { range: 'bytes=0-0' } },
      target.mediaUrl,
    );
    const onApiHost = await api(target, access, path(mp3.recording?.id));
    const anonymous = await fetch(`${target.mediaUrl}${path(mp3.recording?.id)}`);

    // Assess
    expect(detectMediaKind(mp3Body.subarray(0, 12))).toBe('mp3');
    expect(createHash('sha256').update(mp3Body).digest('hex')).toBe(target.expectedSha256(mp3.recording!.id));
    expect(wavAnswer.headers.get('content-type')).toBe('audio/wav');
    expect(detectMediaKind(wavBody.subarray(0, 12))).toBe('wav');
    expect(wavBody.readUInt32LE(4)).toBe(10_044 - 8);
    expect(createHash('sha256').update(wavBody).digest('hex')).toBe(target.expectedSha256(wav.recording!.id));
    expect(head.headers.get('content-length')).toBe('10000');
    expect(range.status).toBe(206);
    expect(range.headers.get('content-range')).toBe('bytes 0-0/10000');
    expect(onApiHost.status).toBe(404);
    expect(anonymous.status).toBe(401);
  });

  it('throttles the Heavy group with 429, Retry-After and the X-Rate-Limit headers', async () => {
    // Prepare
    const target = await start({ rateLimits: { heavy: { limit: 2, windowSeconds: 60 } } });
    const { access } = await login(target);

    // Act
    const answers = [];
    for (let index = 0; index < 3; index++)
      answers.push(await api(target, access, '/restapi/v1.0/account/~/call-log'));

    // Assess
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 429]);
    expect(answers[0]?.headers.get('x-rate-limit-remaining')).toBe('1');
    expect(answers[2]?.headers.get('x-rate-limit-limit')).toBe('2');
    expect(answers[2]?.headers.get('x-rate-limit-window')).toBe('60');
    expect(Number(answers[2]?.headers.get('retry-after'))).toBeGreaterThan(55);
    expect(await answers[2]?.json()).toMatchObject({ errorCode: 'CMN-301' });
  });

  it('deletes recording files by id (204, then 404) and refuses call-log deletes', async () => {
    // Prepare
    const target = await start();
    const call = target.addCall();
    const { access } = await login(target);
    const remove = () =>
      api(target, access, '/restapi/v1.0/account/~/call-recordings', {
        method: 'DELETE',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ records: [call.recording?.id] }),
      });

    // Act
    const first = await remove();
    const second = await remove();
    const logDelete = await api(
      target,
      access,
      '/restapi/v1.0/account/~/extension/~/call-log?dateTo=2024-01-01T00:00:00Z',
      {
        method: 'DELETE',
      },
    );

    // Assess
    expect(first.status).toBe(204);
    expect(second.status).toBe(404);
    expect(await second.json()).toMatchObject({ errorCode: 'CMN-102' });
    expect(logDelete.status).toBe(403);
    expect(target.counters.callLogDeletes).toBe(1);
    expect(target.deletedRecordingIds()).toEqual([call.recording?.id]);
  });
});

describe('RingCentral sandbox: subscriptions and deliveries', () => {
  it('creates an Active subscription after a correct handshake, lists, renews and deletes it', async () => {
    // Prepare
    const target = await start();
    const { url, received } = await startReceiver();
    const { access } = await login(target);

    // Act
    const created = await subscribe(target, access, url);
    const id = created.body.id as string;
    const listed = (await (await api(target, access, '/restapi/v1.0/subscription')).json()) as {
      records: unknown[];
    };
    // UpdateSubscriptionRequest requires eventFilters; the renew endpoint takes no body.
    const putWithoutFilters = await api(target, access, `/restapi/v1.0/subscription/${id}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ expiresIn: 3600 }),
    });
    const renewed = await api(target, access, `/restapi/v1.0/subscription/${id}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ eventFilters: [TELEPHONY_SESSIONS_FILTER], expiresIn: 3600 }),
    });
    const renewedByEndpoint = await api(target, access, `/restapi/v1.0/subscription/${id}/renew`, {
      method: 'POST',
    });
    const deleted = await api(target, access, `/restapi/v1.0/subscription/${id}`, { method: 'DELETE' });

    // Assess
    expect(created).toMatchObject({
      status: 200,
      body: {
        status: 'Active',
        eventFilters: [TELEPHONY_SESSIONS_FILTER],
        deliveryMode: { transportType: 'WebHook', address: url },
      },
    });
    expect(received[0]?.headers['validation-token']).toBeTruthy();
    expect(listed.records).toHaveLength(1);
    expect(putWithoutFilters.status).toBe(400);
    expect(((await renewed.json()) as { expiresIn: number }).expiresIn).toBe(3600);
    expect(renewedByEndpoint.status).toBe(200);
    expect(((await renewedByEndpoint.json()) as { expiresIn: number }).expiresIn).toBe(3600);
    expect(deleted.status).toBe(204);
    expect(target.subscriptions()).toEqual([]);
  });

  it.each([
    ['no echo', { status: 200, headers: { 'content-type': 'application/json' } }],
    ['no JSON content type', { status: 200, headers: {} as Record<string, string>, echo: true }],
    ['a non-200 status', { status: 204, headers: { 'content-type': 'application/json' }, echo: true }],
    [
      'a reply over 1 KB',
      { status: 200, headers: { 'content-type': 'application/json' }, echo: true, body: 'x'.repeat(1100) },
    ],
  ])('refuses the subscription with SUB-525 for %s', async (_name, answer) => {
    // Prepare
    const target = await start();
    const { url } = await startReceiver((request) => ({
      status: answer.status,
      headers: {
        ...answer.headers,
        ...('echo' in answer && answer.echo
          ? { 'validation-token': String(request.headers['validation-token']) }
          : {}),
      },
      body: 'body' in answer ? answer.body : '',
    }));
    const { access } = await login(target);

    // Act
    const refused = await subscribe(target, access, url);

    // Assess
    expect(refused).toMatchObject({ status: 400, body: { errorCode: 'SUB-525' } });
    expect(target.subscriptions()).toEqual([]);
  });

  it('delivers telephony-session events with the Verification-Token, honouring statusCode filters', async () => {
    // Prepare
    const target = await start();
    const { url, received } = await startReceiver();
    const { access } = await login(target);
    await subscribe(target, access, url, [`${TELEPHONY_SESSIONS_FILTER}?statusCode=Disconnected`]);
    const call = target.startCall();

    // Act
    await target.deliverEvent(call.telephonySessionId, { statusCode: 'Answered' });
    await target.hangUp(call.telephonySessionId);

    // Assess
    const events = received.slice(1);
    expect(events).toHaveLength(1);
    expect(events[0]?.headers['verification-token']).toBe('verify-me-0123456789');
    expect(JSON.parse(events[0]?.body ?? '{}')).toMatchObject({
      event: `/restapi/v1.0/account/${target.accountId}/telephony/sessions?statusCode=Disconnected`,
      body: {
        sequence: 2,
        telephonySessionId: call.telephonySessionId,
        sessionId: call.sessionId,
        parties: [
          { status: { code: 'Disconnected' }, recordings: [{ id: call.recording?.id, active: false }] },
        ],
      },
    });
  });

  it('blacklists a subscription after repeated failed deliveries and stops delivering; Suspended gets nothing', async () => {
    // Prepare
    const target = await start({ blacklistAfterFailures: 3 });
    const { url, received } = await startReceiver((request) =>
      request.headers['validation-token']
        ? {
            status: 200,
            headers: {
              'validation-token': String(request.headers['validation-token']),
              'content-type': 'application/json',
            },
          }
        : { status: 500 },
    );
    const { access } = await login(target);
    const { body } = await subscribe(target, access, url);
    const call = target.startCall();

    // Act
    const results = [];
    for (let index = 0; index < 4; index++) {
      results.push(await target.deliverEvent(call.telephonySessionId, { statusCode: 'Answered' }));
    }
    const renew = await api(target, access, `/restapi/v1.0/subscription/${body.id}/renew`, {
      method: 'POST',
    });

    // Assess
    expect(results.map((result) => result.length)).toEqual([1, 1, 1, 0]);
    expect(results[2]?.[0]).toMatchObject({ status: 500, blacklisted: true });
    expect(target.subscriptions()[0]?.status).toBe('Blacklisted');
    expect(received).toHaveLength(4);
    expect(renew.status).toBe(403);

    const second = await subscribe(target, access, url);
    target.setSubscriptionStatus(second.body.id as string, 'Suspended');
    expect(await target.deliverEvent(call.telephonySessionId, { statusCode: 'Answered' })).toEqual([]);
  });
});
