import { createHash } from 'node:crypto';
import http from 'node:http';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { detectMediaKind } from '../../../functions/core/media-signature';
import {
  type GraphSandbox,
  SANDBOX_BOT_APP_ID,
  SANDBOX_TENANT_ID,
  startGraphSandbox,
} from '../../../sandbox/providers/graph-calling-bot-sandbox';
import { manualClock } from '../providers/graph-calling-bot/graph-calling-bot-fixture';

interface RawReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

function get(url: string, headers: Record<string, string> = {}): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: Buffer.concat(chunks),
          }),
        );
        response.on('error', reject);
      })
      .on('error', reject);
  });
}

async function getJson(url: string): Promise<Record<string, unknown>> {
  return JSON.parse((await get(url)).body.toString('utf8')) as Record<string, unknown>;
}

describe('Graph sandbox', () => {
  let sandbox: GraphSandbox | undefined;
  afterEach(async () => sandbox?.close());

  it('publishes an OpenID configuration whose jwks_uri verifies the tokens it signs, counting key requests', async () => {
    // Prepare
    const clock = manualClock();
    sandbox = await startGraphSandbox({ clock });

    // Act
    const configuration = await getJson(sandbox.openIdConfigurationUrl);
    const jwks = await getJson(String(configuration.jwks_uri));
    const token = await sandbox.signNotificationToken();
    const verified = await jwtVerify(token, createLocalJWKSet(jwks as never), {
      algorithms: ['RS256'],
      currentDate: clock.now(),
    });

    // Assess
    expect(configuration.jwks_uri).toBe(`${sandbox.url}/v1/keys`);
    expect(verified.protectedHeader).toMatchObject({ alg: 'RS256', kid: sandbox.keys.currentKid });
    expect(verified.payload).toMatchObject({
      iss: 'https://graph.microsoft.com',
      aud: SANDBOX_BOT_APP_ID,
      tid: SANDBOX_TENANT_ID,
      nbf: Math.floor(clock.now().getTime() / 1000),
    });
    expect(sandbox.counters).toMatchObject({ openIdConfigurationRequests: 1, keySetRequests: 1 });
  });

  it('rotates keys: the new kid is published beside the old one, or alone when the old is retired', async () => {
    sandbox = await startGraphSandbox();
    const first = sandbox.keys.currentKid;
    const second = await sandbox.rotateKeys();
    const keysAfterOverlap = ((await getJson(`${sandbox.url}/v1/keys`)).keys as { kid: string }[]).map(
      (k) => k.kid,
    );
    const third = await sandbox.rotateKeys({ retirePrevious: true });
    const keysAfterRetire = ((await getJson(`${sandbox.url}/v1/keys`)).keys as { kid: string }[]).map(
      (k) => k.kid,
    );

    expect(keysAfterOverlap).toEqual([first, second]);
    expect(keysAfterRetire).toEqual([third]);
    expect(decodeProtectedHeader(await sandbox.signNotificationToken()).kid).toBe(third);
    expect(sandbox.counters.keySetRequests).toBe(2);
  });

  it('produces the faulty tokens it promises', async () => {
    const clock = manualClock();
    sandbox = await startGraphSandbox({ clock });
    const now = Math.floor(clock.now().getTime() / 1000);

    expect(decodeProtectedHeader(await sandbox.signNotificationToken({ fault: 'alg-none' })).alg).toBe(
      'none',
    );
    expect(
      decodeProtectedHeader(await sandbox.signNotificationToken({ fault: 'hs256-public-key' })).alg,
    ).toBe('HS256');
    expect(decodeProtectedHeader(await sandbox.signNotificationToken({ fault: 'unknown-kid' })).kid).not.toBe(
      sandbox.keys.currentKid,
    );
    expect(decodeJwt(await sandbox.signNotificationToken({ fault: 'expired' })).exp).toBe(now - 600);
    expect(decodeJwt(await sandbox.signNotificationToken({ fault: 'not-yet-valid' })).nbf).toBe(now + 600);
    expect(decodeJwt(await sandbox.signNotificationToken({ fault: 'wrong-audience' })).aud).not.toBe(
      SANDBOX_BOT_APP_ID,
    );
    expect(decodeJwt(await sandbox.signNotificationToken({ fault: 'wrong-tenant' })).tid).not.toBe(
      SANDBOX_TENANT_ID,
    );
    expect(decodeJwt(await sandbox.signNotificationToken({ fault: 'wrong-issuer' })).iss).not.toMatch(
      /microsoft\.com|botframework/,
    );
  });

  it('serves a recording chunked, as octet-stream WAV without Content-Length, only with its token', async () => {
    // Prepare
    sandbox = await startGraphSandbox();
    const recording = sandbox.addRecording({ size: 100_000 });

    // Act
    const withToken = await get(recording.recordingLocation, {
      authorization: `Bearer ${recording.recordingAccessToken}`,
    });
    const withoutToken = await get(recording.recordingLocation);
    const wrongToken = await get(recording.recordingLocation, { authorization: 'Bearer rat.forged' });

    // Assess
    expect(withToken.status).toBe(200);
    expect(withToken.headers['content-type']).toBe('application/octet-stream');
    expect(withToken.headers['content-length']).toBeUndefined();
    expect(withToken.headers['transfer-encoding']).toBe('chunked');
    expect(withToken.body.length).toBe(100_000);
    expect(detectMediaKind(withToken.body.subarray(0, 12))).toBe('wav');
    expect(withToken.body.readUInt32LE(4)).toBe(100_000 - 8);
    expect(createHash('sha256').update(withToken.body).digest('hex')).toBe(recording.sha256);
    expect(withoutToken.status).toBe(401);
    expect(wrongToken.status).toBe(401);
    expect(sandbox.counters).toMatchObject({
      recordingRequests: 3,
      unauthorizedRecordingRequests: 2,
      completedDownloads: 1,
    });
  });

  it('expires the token after its lifetime and discards the file later', async () => {
    const clock = manualClock();
    sandbox = await startGraphSandbox({ clock, recordingTokenTtlSeconds: 60, discardAfterSeconds: 300 });
    const recording = sandbox.addRecording();
    const auth = { authorization: `Bearer ${recording.recordingAccessToken}` };

    clock.advance(59_000);
    const beforeExpiry = await get(recording.recordingLocation, auth);
    clock.advance(1_000);
    const expired = await get(recording.recordingLocation, auth);

    expect(beforeExpiry.status).toBe(200);
    expect(expired.status).toBe(401);
    expect(expired.body.toString()).toContain('expired');
    expect(sandbox.counters.expiredTokenRequests).toBe(1);

    const later = sandbox.addRecording({ tokenTtlSeconds: 3600, discardAfterSeconds: 30 });
    clock.advance(30_000);
    const discarded = await get(later.recordingLocation, {
      authorization: `Bearer ${later.recordingAccessToken}`,
    });
    expect(discarded.status).toBe(404);
    expect(sandbox.counters.discardedRecordingRequests).toBe(1);
  });

  it('serves an HTML page with 200 and a 503 from the key endpoint when told to', async () => {
    sandbox = await startGraphSandbox();
    const recording = sandbox.addRecording();
    sandbox.injectFault({ kind: 'html-page' });
    sandbox.injectFault({ kind: 'server-error', status: 503 }, { routes: ['keys'] });

    const page = await get(recording.recordingLocation, {
      authorization: `Bearer ${recording.recordingAccessToken}`,
    });
    const keys = await get(`${sandbox.url}/v1/keys`);
    const keysAgain = await get(`${sandbox.url}/v1/keys`);

    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(keys.status).toBe(503);
    expect(keysAgain.status).toBe(200);
  });

  it('builds the completed notification of seed 003', async () => {
    sandbox = await startGraphSandbox();
    const recording = sandbox.addRecording();
    const body = JSON.parse(sandbox.completedNotification(recording));
    expect(body).toMatchObject({
      '@odata.type': '#microsoft.graph.commsNotifications',
      value: [
        {
          '@odata.type': '#microsoft.graph.commsNotification',
          changeType: 'deleted',
          resourceData: {
            '@odata.type': '#microsoft.graph.recordOperation',
            id: recording.operationId,
            status: 'completed',
            resultInfo: { code: 200, subcode: 8515 },
            recordingLocation: recording.recordingLocation,
            recordingAccessToken: recording.recordingAccessToken,
          },
        },
      ],
    });
    expect(body.value[0].resourceUrl).toMatch(
      /^\/communications\/calls\/[0-9A-F]{32}\/operations\/[0-9A-F]{32}$/,
    );
  });
});
