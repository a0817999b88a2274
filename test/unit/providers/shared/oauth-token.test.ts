/**
 * The shared OAuth token (providers/shared/oauth-token.ts) against a real token endpoint on loopback: the
 * cache and its renewal margin, one renewal shared by every holder of a store, refusals and throttling
 * remembered for every holder, dropping a token an API refused, and refusal details free of secrets.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CallvaultError, RateLimitedError, TransientError } from '../../../../functions/core/errors';
import { InProcessTokenStore } from '../../../../functions/core/shared-state';
import {
  credentialsFingerprint,
  requestOAuthToken,
  SharedOAuthToken,
  type TokenRequestRefused,
} from '../../../../functions/providers/shared/oauth-token';
import {
  type LoopbackServer,
  manualClock,
  recordingLog,
  type SeenRequest,
  startLoopbackServer,
} from './loopback-server';

const CLIENT_SECRET = 'toy-client-secret-that-must-never-leak';
const KEY = 'toy/main';

class ToyCredentialsRefused extends CallvaultError {
  readonly code = 'UNAUTHENTICATED' as const;
  readonly retryable = false;
}

/** A token endpoint granting `token-1`, `token-2`, … (600 s, with a refresh token) to each request. */
function granting(request: SeenRequest, index: number) {
  const form = new URLSearchParams(request.body);
  return {
    status: 200,
    body: {
      access_token: `token-${index + 1}`,
      expires_in: 600,
      refresh_token: `refresh-${index + 1}`,
      refresh_token_expires_in: 3600,
      scope: form.get('grant_type') === 'refresh_token' ? 'ReadCallLog Refreshed' : 'ReadCallLog',
    },
  };
}

interface Setup {
  server: LoopbackServer;
  store: InProcessTokenStore;
  clock: ReturnType<typeof manualClock>;
  log: ReturnType<typeof recordingLog>;
  refusals: TokenRequestRefused[];
  /** A holder of the source's token, as one worker (one container) would build it. */
  holder(options?: { secret?: string; leaseWaitMs?: number }): SharedOAuthToken;
}

async function setUp(): Promise<Setup> {
  const server = await startLoopbackServer(granting);
  const store = new InProcessTokenStore();
  const clock = manualClock();
  const log = recordingLog();
  const refusals: TokenRequestRefused[] = [];
  const holder = (options: { secret?: string; leaseWaitMs?: number } = {}) => {
    const secret = options.secret ?? CLIENT_SECRET;
    return new SharedOAuthToken(
      {
        key: KEY,
        store,
        clock,
        log,
        pollMs: 5,
        refusalCooldownMs: 60_000,
        leaseWaitMs: options.leaseWaitMs,
      },
      {
        credentials: credentialsFingerprint(server.origin, 'toy-client', secret),
        what: 'the toy token',
        renewalCapSeconds: 60,
        droppedMessage: 'toy token refused by the API; the next request gets a new one',
        throttledName: 'Toy token endpoint',
        grant: (record, signal) =>
          requestOAuthToken({
            url: `${server.origin}/oauth/token`,
            form:
              record?.refreshToken && (record.refreshUsableUntilMs ?? 0) > clock.now().getTime()
                ? { grant_type: 'refresh_token', refresh_token: record.refreshToken }
                : { grant_type: 'client_credentials', client_id: 'toy-client', client_secret: secret },
            signal,
            provider: 'Toy',
            now: clock.now(),
          }),
        refusedError: (detail, until) =>
          new ToyCredentialsRefused(
            until
              ? `Toy refused the credentials (${detail}); no new request before ${until.toISOString()}`
              : `Toy refused the credentials (${detail})`,
          ),
        onRefused: (refusal) => refusals.push(refusal),
      },
    );
  };
  return { server, store, clock, log, refusals, holder };
}

describe('SharedOAuthToken', () => {
  let setup: Setup | undefined;
  afterEach(async () => setup?.server.close());

  it('reuses its token until the renewal margin, then renews it once (with the refresh token)', async () => {
    // Prepare
    setup = await setUp();
    const { server, clock, holder } = setup;
    const token = holder();

    // Act
    const first = await token.accessToken();
    const again = await token.accessToken();
    clock.advance(539_000); // 600 s less the 60 s margin: still usable
    const beforeMargin = await token.accessToken();
    const requestsBeforeMargin = server.requests.length;
    clock.advance(2_000);
    const renewed = await token.accessToken();

    // Assess
    expect([first, again, beforeMargin]).toEqual(['token-1', 'token-1', 'token-1']);
    expect(requestsBeforeMargin).toBe(1);
    expect(renewed).toBe('token-2');
    expect(server.requests).toHaveLength(2);
    const [login, refresh] = server.requests as [SeenRequest, SeenRequest];
    expect(login).toMatchObject({ method: 'POST', url: '/oauth/token' });
    expect(login.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(new URLSearchParams(login.body).get('grant_type')).toBe('client_credentials');
    expect(Object.fromEntries(new URLSearchParams(refresh.body))).toEqual({
      grant_type: 'refresh_token',
      refresh_token: 'refresh-1',
    });
    expect(await token.grantedScope()).toBe('ReadCallLog Refreshed');
  });

  it('makes one token request for concurrent callers and for a second holder of the same store', async () => {
    // Prepare: a slow endpoint, so that the second holder finds the lease taken.
    setup = await setUp();
    const { server, holder } = setup;
    server.respond((request, index) => ({ ...granting(request, index), delayMs: 150 }));
    const first = holder();
    const second = holder();

    // Act
    const tokens = await Promise.all([first.accessToken(), second.accessToken(), first.accessToken()]);
    const third = await holder().accessToken();

    // Assess
    expect(tokens).toEqual(['token-1', 'token-1', 'token-1']);
    expect(third).toBe('token-1');
    expect(server.requests).toHaveLength(1);
  });

  it('gives up waiting for another holder that keeps the lease (TransientError), asking nothing', async () => {
    // Prepare: a holder elsewhere has the lease and has not stored a token.
    setup = await setUp();
    const { server, store, clock, holder } = setup;
    await store.tryLease(KEY, 'another-container', 30_000, clock.now().getTime());

    // Act
    const waiting = holder({ leaseWaitMs: 0 }).accessToken();

    // Assess
    await expect(waiting).rejects.toThrow(
      new TransientError('another worker is obtaining the toy token and has not finished'),
    );
    expect(server.requests).toHaveLength(0);
  });

  it('remembers a refusal for every holder until the cooldown ends, with a reason free of secrets', async () => {
    // Prepare: the endpoint refuses, echoing what it was sent (as some do) beside its OAuth reason.
    setup = await setUp();
    const { server, store, clock, refusals, holder } = setup;
    server.respond((request) => ({
      status: 401,
      body: {
        error: 'invalid_client',
        error_description: 'Invalid client secret provided.\nTrace ID: 1234',
        request: request.body,
      },
    }));
    const first = holder();
    const second = holder();

    // Act
    const refused = await first.accessToken().catch((error: unknown) => error);
    const blocked = await second.accessToken().catch((error: unknown) => error);
    const requestsWhileBlocked = server.requests.length;
    server.respond(granting);
    clock.advance(60_001);
    const afterCooldown = await second.accessToken();

    // Assess
    expect(refused).toBeInstanceOf(ToyCredentialsRefused);
    expect((refused as Error).message).toBe(
      'Toy refused the credentials (HTTP 401: invalid_client: Invalid client secret provided.)',
    );
    expect(refusals.map((refusal) => [refusal.status, refusal.detail])).toEqual([
      [401, 'invalid_client: Invalid client secret provided.'],
    ]);
    expect(blocked).toBeInstanceOf(ToyCredentialsRefused);
    expect((blocked as Error).message).toMatch(/no new request before 2026-03-10T12:01:00\.000Z$/);
    expect(requestsWhileBlocked).toBe(1);
    expect(afterCooldown).toBe('token-2');
    for (const text of [(refused as Error).message, (blocked as Error).message]) {
      expect(text).not.toContain(CLIENT_SECRET);
    }
    expect(JSON.stringify(await store.get(KEY))).not.toContain(CLIENT_SECRET);
  });

  it("holds every holder back for the endpoint's Retry-After when it throttles", async () => {
    // Prepare
    setup = await setUp();
    const { server, clock, holder } = setup;
    server.respond(() => ({ status: 429, headers: { 'retry-after': '120' }, body: 'slow down' }));
    const first = holder();
    const second = holder();

    // Act
    const throttled = await first.accessToken().catch((error: unknown) => error);
    clock.advance(30_000);
    const blocked = await second.accessToken().catch((error: unknown) => error);
    const requestsWhileBlocked = server.requests.length;
    server.respond(granting);
    clock.advance(90_000);
    const afterwards = await second.accessToken();

    // Assess
    expect(throttled).toBeInstanceOf(RateLimitedError);
    expect(throttled).toMatchObject({
      message: `Toy token endpoint throttled source ${KEY}`,
      retryAfterSeconds: 120,
    });
    expect(blocked).toBeInstanceOf(RateLimitedError);
    expect((blocked as RateLimitedError).retryAfterSeconds).toBe(90);
    expect(requestsWhileBlocked).toBe(1);
    expect(afterwards).toBe('token-2');
  });

  it('drops a token an API refused, for every holder, but never a newer one stored meanwhile', async () => {
    // Prepare
    setup = await setUp();
    const { server, log, holder } = setup;
    const first = holder();
    const second = holder();
    await first.accessToken();
    await second.accessToken();

    // Act: the first holder's request answers 401; it drops token-1 and obtains token-2. The second
    // holder's request with token-1 answers 401 afterwards: token-2 in the store must survive that.
    await first.rejectAccessToken('token-1');
    const renewed = await first.accessToken();
    await second.rejectAccessToken('token-1');
    const secondRenewed = await second.accessToken();

    // Assess
    expect(renewed).toBe('token-2');
    expect(secondRenewed).toBe('token-2');
    expect(server.requests).toHaveLength(2);
    expect(log.lines.filter((line) => line.message.startsWith('toy token refused by the API'))).toEqual([
      {
        level: 'info',
        message: 'toy token refused by the API; the next request gets a new one',
        attributes: { source: KEY },
      },
    ]);
  });

  it('ignores a stored token obtained with other credentials (a rotated secret starts afresh)', async () => {
    // Prepare
    setup = await setUp();
    const { server, holder } = setup;
    await holder().accessToken();

    // Act
    const rotated = await holder({ secret: 'the-rotated-client-secret' }).accessToken();

    // Assess
    expect(rotated).toBe('token-2');
    expect(new URLSearchParams(server.requests[1]?.body).get('client_secret')).toBe(
      'the-rotated-client-secret',
    );
  });
});

describe('requestOAuthToken', () => {
  let server: LoopbackServer | undefined;
  afterEach(async () => server?.close());

  it('refuses an answer without expires_in unless the provider names a default lifetime', async () => {
    // Prepare
    server = await startLoopbackServer(() => ({ status: 200, body: { access_token: 'no-lifetime' } }));
    const request = { url: `${server.origin}/token`, form: { grant_type: 'client_credentials' } };

    // Act
    const refused = await requestOAuthToken({ ...request, provider: 'Toy' }).catch((error: unknown) => error);
    const defaulted = await requestOAuthToken({ ...request, provider: 'Toy', defaultExpiresIn: 3600 });

    // Assess
    expect(refused).toEqual(new TransientError('Toy token answer lacks access_token or expires_in'));
    expect(defaulted).toMatchObject({ accessToken: 'no-lifetime', expiresIn: 3600 });
  });

  it('keeps only a short first line of a refusal that is not OAuth JSON, and types a 5xx as transient', async () => {
    // Prepare
    server = await startLoopbackServer((_request, index) =>
      index === 0
        ? { status: 400, body: `bad request\nclient_secret=${CLIENT_SECRET}` }
        : { status: 503, body: 'down for maintenance' },
    );
    const request = {
      url: `${server.origin}/token`,
      form: { client_secret: CLIENT_SECRET },
      provider: 'Toy',
    };

    // Act
    const refused = await requestOAuthToken(request).catch((error: unknown) => error);
    const unavailable = await requestOAuthToken(request).catch((error: unknown) => error);

    // Assess
    expect(refused).toMatchObject({ status: 400, detail: 'bad request' });
    expect(unavailable).toBeInstanceOf(TransientError);
    expect((unavailable as Error).message).toBe(`HTTP 503 from ${server.host}/token: down for maintenance`);
  });
});
