import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { detectMediaKind } from '../../../functions/core/media-signature';
import { RecordingVerifier } from '../../../functions/core/verify-stream';
import {
  ACCESS_POLICY_MESSAGE,
  startTeamsSandbox,
  type TeamsSandbox,
} from '../../../sandbox/providers/teams-recordings-sandbox';
import {
  MP4_CHUNK_BYTES,
  mp4Header,
  syntheticMp4Chunks,
  syntheticMp4Sha256,
} from '../../../sandbox/providers/teams-recordings-sandbox-media';

async function token(sandbox: TeamsSandbox, secret = sandbox.clientSecret): Promise<Response> {
  return fetch(`${sandbox.url}/${sandbox.tenantId}/oauth2/v2.0/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      client_id: sandbox.clientId,
      client_secret: secret,
      scope: `${sandbox.url}/.default`,
      grant_type: 'client_credentials',
    }),
  });
}

async function bearer(sandbox: TeamsSandbox): Promise<Record<string, string>> {
  const body = (await (await token(sandbox)).json()) as { access_token: string };
  return { authorization: `Bearer ${body.access_token}` };
}

describe('synthetic MP4 bytes', () => {
  it('start with an ftyp box the verifier accepts as MP4, and are the same for the same seed', async () => {
    // Prepare
    const size = 1_000_003;

    // Act
    const verifier = new RecordingVerifier({ contentLength: size });
    await pipeline(
      Readable.from(syntheticMp4Chunks('seed-1', size)),
      verifier,
      new Writable({ write: (_chunk, _encoding, done) => done() }),
    );
    const [head] = syntheticMp4Chunks('seed-1', size);

    // Assess
    expect(head?.subarray(4, 8).toString('latin1')).toBe('ftyp');
    expect(head?.subarray(28, 32).toString('latin1')).toBe('mdat');
    expect(detectMediaKind(head?.subarray(0, 12) ?? Buffer.alloc(0))).toBe('mp4');
    expect(verifier.summary()).toMatchObject({ size, sha256: syntheticMp4Sha256('seed-1', size) });
    expect(syntheticMp4Sha256('seed-2', size)).not.toBe(verifier.summary().sha256);
  });

  it('produces multi-gigabyte files lazily, chunk by chunk, with a 64-bit mdat size', () => {
    // Prepare
    const size = 5 * 1024 ** 3;

    // Act: only the first two chunks are ever produced.
    const chunks = syntheticMp4Chunks('big', size);
    const first = chunks.next().value as Buffer;
    const second = chunks.next().value as Buffer;
    const header = mp4Header(size);

    // Assess
    expect(first.length).toBe(MP4_CHUNK_BYTES);
    expect(second.length).toBe(MP4_CHUNK_BYTES);
    expect(header.readUInt32BE(24)).toBe(1);
    expect(header.subarray(28, 32).toString('latin1')).toBe('mdat');
    expect(header.readBigUInt64BE(32)).toBe(BigInt(size - 24));
    expect(first.subarray(0, header.length).equals(header)).toBe(true);
  });
});

describe('Teams sandbox', () => {
  let sandbox: TeamsSandbox | undefined;
  let receiver: http.Server | undefined;
  afterEach(async () => {
    await sandbox?.close();
    sandbox = undefined;
    receiver?.closeAllConnections();
    await new Promise<void>((resolve) => (receiver ? receiver.close(() => resolve()) : resolve()));
    receiver = undefined;
  });

  it('issues client-credentials tokens and refuses a wrong secret like Entra does', async () => {
    // Prepare
    sandbox = await startTeamsSandbox();

    // Act
    const good = await token(sandbox);
    const bad = await token(sandbox, 'nope');

    // Assess
    expect(good.status).toBe(200);
    expect(await good.json()).toMatchObject({ token_type: 'Bearer', expires_in: 3599 });
    expect(bad.status).toBe(401);
    expect(await bad.json()).toMatchObject({ error: 'invalid_client' });
    expect(sandbox.counters.tokenRequests).toBe(2);
  });

  it('redirects content to the separate content host, refuses unauthenticated Graph calls, and applies the access policy', async () => {
    // Prepare
    sandbox = await startTeamsSandbox();
    const user = sandbox.addUser({ userPrincipalName: 'dana@contoso.example' });
    const recording = sandbox.addRecording({
      organizerId: user.id,
      createdAt: new Date('2024-03-12T10:00:00Z'),
    });
    const path = `/v1.0/users/${user.id}/onlineMeetings/${encodeURIComponent(recording.containerId)}/recordings/${encodeURIComponent(recording.id)}/content`;
    const headers = await bearer(sandbox);

    // Act
    const anonymous = await fetch(`${sandbox.url}${path}`, { redirect: 'manual' });
    const redirected = await fetch(`${sandbox.url}${path}`, { headers, redirect: 'manual' });
    const location = redirected.headers.get('location') ?? '';
    const download = await fetch(location);
    const bytes = Buffer.from(await download.arrayBuffer());
    sandbox.setPolicyGranted(user.id, false);
    const refused = await fetch(`${sandbox.url}${path}`, { headers, redirect: 'manual' });

    // Assess
    expect(anonymous.status).toBe(401);
    expect(redirected.status).toBe(302);
    expect(new URL(location).host).toBe(new URL(sandbox.contentUrl).host);
    expect(new URL(location).host).not.toBe(new URL(sandbox.url).host);
    expect(download.headers.get('content-type')).toBe('video/mp4');
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(sandbox.expectedSha256(recording.id));
    expect(refused.status).toBe(403);
    expect(JSON.stringify(await refused.json())).toContain(ACCESS_POLICY_MESSAGE);
  });

  it('refuses a subscription whose endpoint fails the validation handshake, or that lacks a lifecycle URL', async () => {
    // Prepare: a receiver that answers 202 JSON instead of echoing the token.
    sandbox = await startTeamsSandbox();
    receiver = http.createServer((_request, response) => {
      response.writeHead(202, { 'content-type': 'application/json' });
      response.end('{}');
    });
    await new Promise<void>((resolve) => receiver?.listen(0, '127.0.0.1', () => resolve()));
    const address = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    const headers = { ...(await bearer(sandbox)), 'content-type': 'application/json' };
    const subscription = {
      changeType: 'created',
      resource: 'communications/adhocCalls/getAllRecordings',
      notificationUrl: address,
      expirationDateTime: new Date(Date.now() + 2 * 86_400_000).toISOString(),
      clientState: 'secret-client-state-value',
    };

    // Act
    const withoutLifecycle = await fetch(`${sandbox.url}/v1.0/subscriptions`, {
      method: 'POST',
      headers,
      body: JSON.stringify(subscription),
    });
    const unvalidated = await fetch(`${sandbox.url}/v1.0/subscriptions`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ ...subscription, lifecycleNotificationUrl: address }),
    });
    const tooLong = await fetch(`${sandbox.url}/v1.0/subscriptions`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        ...subscription,
        lifecycleNotificationUrl: address,
        expirationDateTime: new Date(Date.now() + 4 * 86_400_000).toISOString(),
      }),
    });

    // Assess
    expect(withoutLifecycle.status).toBe(400);
    expect(JSON.stringify(await withoutLifecycle.json())).toContain('lifecycleNotificationUrl is required');
    expect(unvalidated.status).toBe(400);
    expect(JSON.stringify(await unvalidated.json())).toContain('ValidationError');
    expect(tooLong.status).toBe(400);
    expect(sandbox.subscriptions()).toEqual([]);
  });

  it('hides expired recordings from listings and answers 404 for their metadata', async () => {
    // Prepare
    sandbox = await startTeamsSandbox();
    const user = sandbox.addUser({ userPrincipalName: 'erin@contoso.example' });
    const kept = sandbox.addRecording({
      kind: 'adhocCalls',
      organizerId: user.id,
      createdAt: new Date('2024-03-12T10:00:00Z'),
    });
    const gone = sandbox.addRecording({
      kind: 'adhocCalls',
      organizerId: user.id,
      createdAt: new Date('2024-03-12T11:00:00Z'),
    });
    sandbox.expire(gone.id);
    const headers = await bearer(sandbox);

    // Act
    const list = await fetch(
      `${sandbox.url}/v1.0/users/${user.id}/adhocCalls/getAllRecordings(userId='${user.id}',startDateTime=2024-03-12T00:00:00Z,endDateTime=2024-03-13T00:00:00Z)`,
      { headers },
    );
    const metadata = await fetch(
      `${sandbox.url}/v1.0/users/${user.id}/adhocCalls/${gone.containerId}/recordings/${encodeURIComponent(gone.id)}`,
      { headers },
    );

    // Assess
    const body = (await list.json()) as { value: { id: string; callId: string }[] };
    expect(body.value.map((item) => item.id)).toEqual([kept.id]);
    expect(body.value[0]?.callId).toBe(kept.containerId);
    expect(metadata.status).toBe(404);
  });
});

describe('Teams sandbox: $batch and generated tenants', () => {
  let sandbox: TeamsSandbox | undefined;
  afterEach(async () => {
    await sandbox?.close();
    sandbox = undefined;
  });

  it('answers each request of a batch on its own (429 with its own Retry-After, 403), in another order, and refuses more than 20', async () => {
    const now = new Date('2024-03-13T06:00:00Z');
    sandbox = await startTeamsSandbox({ clock: { now: () => now } });
    sandbox.generateTenant({ users: 30, recordingsPerDay: 60 });
    sandbox.setPolicyGranted(sandbox.generatedUserId(2), false);
    sandbox.injectFault({ kind: 'throttle', retryAfterSeconds: 7 }, { routes: 'list', times: 1 });
    const headers = { ...(await bearer(sandbox)), 'content-type': 'application/json' };
    const read = (index: number) => {
      const id = sandbox?.generatedUserId(index) ?? '';
      return `/users/${id}/adhocCalls/getAllRecordings(userId='${id}',startDateTime=2024-03-12T00:00:00Z,endDateTime=2024-03-13T00:00:00Z)`;
    };
    const requests = [0, 1, 2].map((index) => ({ id: String(index + 1), method: 'GET', url: read(index) }));

    const answer = await fetch(`${sandbox.url}/v1.0/$batch`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ requests }),
    });
    const tooMany = await fetch(`${sandbox.url}/v1.0/$batch`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        requests: Array.from({ length: 21 }, (_, i) => ({ id: String(i), method: 'GET', url: read(i) })),
      }),
    });

    expect(answer.status).toBe(200);
    const { responses } = (await answer.json()) as {
      responses: {
        id: string;
        status: number;
        headers: Record<string, string>;
        body: { value?: unknown[] };
      }[];
    };
    expect(responses.map((response) => response.id)).not.toEqual(['1', '2', '3']);
    const byId = new Map(responses.map((response) => [response.id, response]));
    expect(byId.get('1')?.status).toBe(429);
    expect(byId.get('1')?.headers['Retry-After']).toBe('7');
    expect(byId.get('2')?.status).toBe(200);
    expect(byId.get('2')?.body.value?.length).toBeGreaterThan(0);
    expect(byId.get('3')?.status).toBe(403);
    expect(tooMany.status).toBe(400);
    expect(sandbox.counters.batchRequests).toBe(2);
    expect(sandbox.counters.batchedRequests).toBe(3);
  });
});
