import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { detectMediaKind } from '../../../functions/core/media-signature';
import { syntheticAudioChunks, syntheticAudioSha256 } from '../../../sandbox/providers/synthetic-audio';
import {
  startTelphinSandbox,
  type TelphinSandbox,
  telphinHangupWebhookBody,
} from '../../../sandbox/providers/telphin-sandbox';

let sandbox: TelphinSandbox | undefined;
afterEach(async () => sandbox?.close());

async function token(target: TelphinSandbox): Promise<string> {
  const response = await fetch(`${target.url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: target.clientId,
      client_secret: target.clientSecret,
    }),
  });
  const body = (await response.json()) as { access_token: string; token_type: string; expires_in: number };
  expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 3600 });
  return body.access_token;
}

function api(target: TelphinSandbox, bearer: string, path: string, init: RequestInit = {}) {
  return fetch(`${target.url}/api/ver1.0${path}`, {
    ...init,
    headers: { authorization: `Bearer ${bearer}` },
  });
}

const q = (start: string, end: string) =>
  `?start_datetime=${encodeURIComponent(start)}&end_datetime=${encodeURIComponent(end)}`;

describe('Telphin sandbox API', () => {
  it('refuses wrong client credentials and unauthenticated API calls', async () => {
    // Prepare
    sandbox = await startTelphinSandbox();

    // Act
    const badToken = await fetch(`${sandbox.url}/oauth/token`, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: sandbox.clientId,
        client_secret: 'nope',
      }),
    });
    const anonymous = await fetch(`${sandbox.url}/api/ver1.0/user/`);

    // Assess
    expect(badToken.status).toBe(401);
    expect(anonymous.status).toBe(401);
    expect(sandbox.counters.unauthorizedRequests).toBe(1);
  });

  it('answers /user/ with the client id', async () => {
    sandbox = await startTelphinSandbox({ telphinClientId: 555 });
    const response = await api(sandbox, await token(sandbox), '/user/');
    expect(await response.json()).toMatchObject({ client_id: 555, timezone: expect.any(String) });
  });

  it.each([
    ['missing datetimes', '', /required/],
    ['a malformed datetime', q('2024-01-01T00:00:00Z', '2024-01-02 00:00:00'), /format/],
    ['an end before the start', q('2024-01-02 00:00:00', '2024-01-01 00:00:00'), /earlier/],
    ['an end past the end of the following month', q('2024-01-31 00:00:00', '2024-03-01 00:00:00'), /month/],
  ])('answers 400 to a list with %s, like the real API', async (_name, query, pattern) => {
    // Prepare
    sandbox = await startTelphinSandbox();
    const bearer = await token(sandbox);

    // Act
    const response = await api(sandbox, bearer, `/client/@me/record/${query}`);

    // Assess
    expect(response.status).toBe(400);
    expect(((await response.json()) as { message: string }).message).toMatch(pattern);
  });

  it('accepts an end on the last second of the following month', async () => {
    sandbox = await startTelphinSandbox();
    const response = await api(
      sandbox,
      await token(sandbox),
      `/client/@me/record/${q('2024-01-31 00:00:00', '2024-02-29 23:59:59')}`,
    );
    expect(response.status).toBe(200);
  });

  it('lists realistic records as a bare array, descending by default, and ascending on request', async () => {
    // Prepare
    sandbox = await startTelphinSandbox();
    const [first, second] = sandbox.generateRecordings({
      count: 2,
      from: new Date('2024-01-10T10:00:00Z'),
      to: new Date('2024-01-10T11:00:00Z'),
    });
    const bearer = await token(sandbox);
    const range = q('2024-01-10 00:00:00', '2024-01-11 00:00:00');

    // Act
    const descending = (await (await api(sandbox, bearer, `/client/@me/record/${range}`)).json()) as Record<
      string,
      unknown
    >[];
    const ascending = (await (
      await api(sandbox, bearer, `/client/@me/record/${range}&order=asc`)
    ).json()) as Record<string, unknown>[];

    // Assess
    expect(descending.map((r) => r.record_uuid)).toEqual([second!.recordUuid, first!.recordUuid]);
    expect(ascending.map((r) => r.record_uuid)).toEqual([first!.recordUuid, second!.recordUuid]);
    const record = ascending[0]!;
    expect(record.record_uuid).toMatch(/^468944-[0-9A-F]{32}$/);
    expect(record.file_name).toMatch(/^2024-01-10-10-00-00-UTC_out_8944_[a-z0-9]{4}\.mp3$/);
    expect(record.init_time_gmt).toMatch(/^2024-01-10 09:59:\d{2}\.\d{2}$/);
    expect(record).toMatchObject({
      start_time_gmt: '2024-01-10 10:00:00',
      record_file_size: first!.size,
      client_owner_id: 37649,
    });
  });

  it('serves stats, storage URLs on the storage host, files with the token, and single deletes', async () => {
    // Prepare
    sandbox = await startTelphinSandbox({ storageHost: 'localhost' });
    const recording = sandbox.addRecording({ startedAt: new Date('2024-01-10T10:00:00Z'), size: 70_000 });
    const bearer = await token(sandbox);
    const base = `/client/@me/record/${recording.recordUuid}/`;

    // Act
    const stats = await (
      await api(
        sandbox,
        bearer,
        `/client/@me/record/stats/${q('2024-01-10 00:00:00', '2024-01-11 00:00:00')}`,
      )
    ).json();
    const storage = (await (await api(sandbox, bearer, `${base}storage_url/`)).json()) as {
      record_url: string;
    };
    const stored = Buffer.from(await (await fetch(storage.record_url)).arrayBuffer());
    const direct = await api(sandbox, bearer, base);
    const directBytes = Buffer.from(await direct.arrayBuffer());
    const anonymousFile = await fetch(`${sandbox.url}/api/ver1.0${base}`);
    const deleted = await api(sandbox, bearer, base, { method: 'DELETE' });
    const again = await api(sandbox, bearer, base, { method: 'DELETE' });

    // Assess
    expect(stats).toEqual({ count: 1, size: 70_000 });
    expect(new URL(storage.record_url).hostname).toBe('localhost');
    expect(createHash('sha256').update(stored).digest('hex')).toBe(
      sandbox.expectedSha256(recording.recordUuid),
    );
    expect(directBytes.equals(stored)).toBe(true);
    expect(direct.headers.get('content-disposition')).toContain(recording.fileName);
    expect(anonymousFile.status).toBe(401);
    expect(deleted.status).toBe(200);
    expect(again.status).toBe(404);
    expect(await again.json()).toEqual({ message: 'Record not found' });
    expect(sandbox.deletedIds()).toEqual([recording.recordUuid]);
  });

  it('counts range deletes and refuses them', async () => {
    sandbox = await startTelphinSandbox();
    sandbox.addRecording({ startedAt: new Date('2024-01-10T10:00:00Z') });
    const response = await api(
      sandbox,
      await token(sandbox),
      `/client/@me/record/${q('2024-01-01 00:00:00', '2024-01-31 00:00:00')}`,
      { method: 'DELETE' },
    );
    expect(response.status).toBe(403);
    expect(sandbox.counters.rangeDeleteCalls).toBe(1);
    expect(sandbox.recordings()).toHaveLength(1);
  });

  it('refuses a concurrent stats request with 429 while another list is running', async () => {
    // Prepare
    // The list is slow enough to still run when the stats request arrives, on a loaded machine too.
    sandbox = await startTelphinSandbox({ listLatencyMs: 1_500 });
    const bearer = await token(sandbox);
    const range = q('2024-01-10 00:00:00', '2024-01-11 00:00:00');

    // Act: stats only once the sandbox has the list in flight, not after a guessed delay.
    const listing = api(sandbox, bearer, `/client/@me/record/${range}`);
    await vi.waitFor(() => expect(sandbox?.counters.maxConcurrentListCalls).toBe(1), { interval: 5 });
    const [list, stats] = await Promise.all([
      listing,
      api(sandbox, bearer, `/client/@me/record/stats/${range}`),
    ]);

    // Assess
    expect(list.status).toBe(200);
    expect(stats.status).toBe(429);
    expect(((await stats.json()) as { message: string }).message).toBe(
      'Stats request already exists, concurrent request not allowed',
    );
    expect(sandbox.counters.maxConcurrentListCalls).toBe(1);
  });
});

describe('Telphin sandbox faults', () => {
  it('serves the hourly quota 429 with rate-limit headers for the next N requests only', async () => {
    // Prepare
    sandbox = await startTelphinSandbox();
    const bearer = await token(sandbox);
    const handle = sandbox.injectFault({ kind: 'hourly-quota', resetSeconds: 321, limit: 100 }, { times: 2 });

    // Act
    const statuses = [];
    let limited: Response | undefined;
    for (let i = 0; i < 3; i++) {
      const response = await api(sandbox, bearer, '/user/');
      statuses.push(response.status);
      if (response.status === 429) limited = response;
    }

    // Assess
    expect(statuses).toEqual([429, 429, 200]);
    expect(limited?.headers.get('x-ratelimit-reset')).toBe('321');
    expect(limited?.headers.get('x-ratelimit-limit')).toBe('100');
    expect(limited?.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(handle.hits).toBe(2);
    expect(handle.remaining).toBe(0);
  });

  it('targets a fault at one recording', async () => {
    // Prepare
    sandbox = await startTelphinSandbox();
    const [a, b] = sandbox.generateRecordings({
      count: 2,
      from: new Date('2024-01-10T10:00:00Z'),
      to: new Date('2024-01-10T11:00:00Z'),
    });
    sandbox.injectFault({ kind: 'html-page' }, { recordUuid: b!.recordUuid, times: Infinity });

    // Act
    const okBody = Buffer.from(await (await fetch(sandbox.storageUrlFor(a!.recordUuid))).arrayBuffer());
    const page = await fetch(sandbox.storageUrlFor(b!.recordUuid));

    // Assess
    expect(detectMediaKind(okBody.subarray(0, 12))).toBe('mp3');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(await page.text()).toMatch(/<html>/);
  });

  it('revokes tokens and shortens token lifetimes on demand', async () => {
    // Prepare
    let now = Date.parse('2024-01-10T10:00:00Z');
    sandbox = await startTelphinSandbox({ clock: { now: () => new Date(now) } });
    const first = await token(sandbox);
    sandbox.revokeTokens();
    sandbox.setTokenTtl(5);

    // Act
    const revoked = await api(sandbox, first, '/user/');
    const short = (await (
      await fetch(`${sandbox.url}/oauth/token`, {
        method: 'POST',
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: sandbox.clientId,
          client_secret: sandbox.clientSecret,
        }),
      })
    ).json()) as { access_token: string; expires_in: number };
    const fresh = await api(sandbox, short.access_token, '/user/');
    now += 6000;
    const expired = await api(sandbox, short.access_token, '/user/');

    // Assess
    expect([revoked.status, fresh.status, expired.status]).toEqual([401, 200, 401]);
    expect(short.expires_in).toBe(5);
  });

  it('hides a "not listed yet" recording from lists and downloads until its time', async () => {
    // Prepare
    let now = Date.parse('2024-01-10T12:00:00Z');
    sandbox = await startTelphinSandbox({ clock: { now: () => new Date(now) } });
    const recording = sandbox.addRecording({
      startedAt: new Date('2024-01-10T10:00:00Z'),
      listedAt: new Date('2024-01-10T12:05:00Z'),
    });
    const bearer = await token(sandbox);
    const list = () =>
      api(sandbox!, bearer, `/client/@me/record/${q('2024-01-10 00:00:00', '2024-01-11 00:00:00')}`);

    // Act
    const before = (await (await list()).json()) as unknown[];
    const storageBefore = await api(
      sandbox,
      bearer,
      `/client/@me/record/${recording.recordUuid}/storage_url/`,
    );
    now += 10 * 60_000;
    const after = (await (await list()).json()) as unknown[];

    // Assess
    expect(before).toEqual([]);
    expect(storageBefore.status).toBe(404);
    expect(after).toHaveLength(1);
  });

  it('removes a recording behind the API: gone from lists and downloads, not counted as an API delete', async () => {
    // Prepare
    sandbox = await startTelphinSandbox();
    const recording = sandbox.addRecording({ startedAt: new Date('2024-01-10T10:00:00Z') });
    const bearer = await token(sandbox);
    const storageUrl = sandbox.storageUrlFor(recording.recordUuid);

    // Act
    sandbox.removeRecording(recording.recordUuid);
    const listed = (await (
      await api(sandbox, bearer, `/client/@me/record/${q('2024-01-10 00:00:00', '2024-01-11 00:00:00')}`)
    ).json()) as unknown[];
    const file = await api(sandbox, bearer, `/client/@me/record/${recording.recordUuid}/`);
    const storage = await fetch(storageUrl);

    // Assess
    expect(listed).toEqual([]);
    expect([file.status, storage.status]).toEqual([404, 404]);
    expect(sandbox.deletedIds()).toEqual([]);
    expect(sandbox.removedIds()).toEqual([recording.recordUuid]);
    expect(sandbox.expectedSha256(recording.recordUuid)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('answers 404 for a recording it still lists while a not-found fault lasts', async () => {
    // Prepare
    sandbox = await startTelphinSandbox();
    const recording = sandbox.addRecording({ startedAt: new Date('2024-01-10T10:00:00Z') });
    const bearer = await token(sandbox);
    sandbox.injectFault({ kind: 'not-found' }, { recordUuid: recording.recordUuid, routes: 'file' });
    const file = () => api(sandbox!, bearer, `/client/@me/record/${recording.recordUuid}/`);

    // Act
    const first = await file();
    const listed = (await (
      await api(sandbox, bearer, `/client/@me/record/${q('2024-01-10 00:00:00', '2024-01-11 00:00:00')}`)
    ).json()) as unknown[];
    const second = await file();

    // Assess
    expect(first.status).toBe(404);
    expect(listed).toHaveLength(1);
    expect(second.status).toBe(200);
  });

  it('hands out storage URLs on another origin when told to, serving nothing there', async () => {
    sandbox = await startTelphinSandbox({ storageOrigin: 'https://storage.partner.example/' });
    const recording = sandbox.addRecording({ startedAt: new Date('2024-01-10T10:00:00Z') });
    const answer = (await (
      await api(sandbox, await token(sandbox), `/client/@me/record/${recording.recordUuid}/storage_url/`)
    ).json()) as { record_url: string };
    expect(answer.record_url).toMatch(/^https:\/\/storage\.partner\.example\/storage\/\S+$/);
    expect(sandbox.storageOrigin).toBe('https://storage.partner.example');
  });

  it('serves the seed spelling of time fields when asked', async () => {
    sandbox = await startTelphinSandbox({ fieldSpelling: 'plain' });
    sandbox.addRecording({ startedAt: new Date('2024-01-10T10:00:00Z') });
    const [record] = (await (
      await api(
        sandbox,
        await token(sandbox),
        `/client/@me/record/${q('2024-01-10 00:00:00', '2024-01-11 00:00:00')}`,
      )
    ).json()) as Record<string, unknown>[];
    expect(record).toHaveProperty('start_time', '2024-01-10 10:00:00');
    expect(record).not.toHaveProperty('start_time_gmt');
  });
});

describe('synthetic audio and webhook helpers', () => {
  it('produces the same bytes for the same seed, chunk by chunk, starting like an MP3', () => {
    const whole = Buffer.concat([...syntheticAudioChunks('seed-1', 200_000)]);
    const small = Buffer.concat([...syntheticAudioChunks('seed-1', 200_000, 7)]);
    const other = Buffer.concat([...syntheticAudioChunks('seed-2', 200_000)]);
    expect(whole.length).toBe(200_000);
    expect(small.equals(whole)).toBe(true);
    expect(other.equals(whole)).toBe(false);
    expect(whole.subarray(0, 3).toString('latin1')).toBe('ID3');
    expect(syntheticAudioSha256('seed-1', 200_000)).toBe(createHash('sha256').update(whole).digest('hex'));
  });

  it('produces a 2 GiB recording lazily, chunk by chunk', () => {
    const chunks = syntheticAudioChunks('big', 2 * 1024 ** 3);
    const first = chunks.next();
    const second = chunks.next();
    expect(first.done).toBe(false);
    expect((first.value as Buffer).length).toBe(64 * 1024);
    expect(detectMediaKind((first.value as Buffer).subarray(0, 12))).toBe('mp3');
    expect((second.value as Buffer).length).toBe(64 * 1024);
  });

  it('builds a form-urlencoded hangup event with EventTime in microseconds', () => {
    const recording = {
      recordUuid: '468944-C7C3931362A5458580DF48AEFFECEF74',
      callUuid: 'C67CBFE9F86C48F9A473DF57FEA1AE65',
      extensionId: 468944,
      extensionName: '01874*0541@sipproxy.telphin.ru',
      flow: 'out' as const,
      hangupAt: new Date('2021-01-01T00:00:35.250Z'),
      durationSeconds: 17,
      fromNumber: '01874*0541',
      toNumber: '+71112223344',
    };
    const fields = new URLSearchParams(telphinHangupWebhookBody(recording as never));
    expect(fields.get('EventType')).toBe('hangup');
    expect(fields.get('EventTime')).toBe('1609459235250000');
    expect(fields.get('RecID')).toBe(recording.recordUuid);
    expect(fields.get('CallerExtensionID')).toBe('468944');
  });
});
