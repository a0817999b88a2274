/**
 * The authorised client (providers/shared/authorised-client.ts) against a real server on loopback: the
 * Bearer token in the header only, one retry after a 401 with a renewed token and then the 401 itself,
 * the rate-gate and throttle hooks, and short error details that carry no token.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { NotReadyError, RateLimitedError, UnauthenticatedError } from '../../../../functions/core/errors';
import {
  AuthorisedClient,
  type AuthorisedClientOptions,
  type AuthorisedRequest,
  type BearerTokenSource,
} from '../../../../functions/providers/shared/authorised-client';
import {
  type LoopbackServer,
  type Responder,
  recordingLog,
  type SeenRequest,
  startLoopbackServer,
} from './loopback-server';

/** Hands out `bearer-1`, `bearer-2`, …: a new one after each rejection, as a token cache would. */
class CountingTokens implements BearerTokenSource {
  issued = 1;
  readonly rejected: string[] = [];

  async accessToken(): Promise<string> {
    return `bearer-${this.issued}`;
  }

  rejectAccessToken(token: string): void {
    this.rejected.push(token);
    if (token === `bearer-${this.issued}`) this.issued += 1;
  }
}

/** 401 unless the request carries one of `accepted`; otherwise `answer`. */
function acceptingOnly(accepted: string[], answer: Responder = () => ({ status: 200, body: { ok: true } })) {
  return (request: SeenRequest, index: number) =>
    accepted.some((token) => request.headers.authorization === `Bearer ${token}`)
      ? answer(request, index)
      : { status: 401, body: { message: 'token expired' } };
}

interface Setup {
  server: LoopbackServer;
  tokens: CountingTokens;
  log: ReturnType<typeof recordingLog>;
  retriesAfter401: number;
  client: AuthorisedClient;
  request(path: string, extra?: Partial<AuthorisedRequest>): AuthorisedRequest;
}

async function setUp(
  responder: Responder,
  options: Partial<AuthorisedClientOptions<AuthorisedRequest>> = {},
): Promise<Setup> {
  const server = await startLoopbackServer(responder);
  const tokens = new CountingTokens();
  const log = recordingLog();
  const setup: Setup = {
    server,
    tokens,
    log,
    retriesAfter401: 0,
    client: new AuthorisedClient({
      token: tokens,
      log,
      retryMessage: 'toy answered 401; renewing the token once',
      sourceId: 'toy-main',
      onRetryAfter401: () => {
        setup.retriesAfter401 += 1;
      },
      ...options,
    }),
    request: (path, extra = {}) => ({
      method: 'GET',
      url: `${server.origin}${path}`,
      allowedHosts: [server.host],
      ...extra,
    }),
  };
  return setup;
}

describe('AuthorisedClient', () => {
  let setup: Setup | undefined;
  afterEach(async () => setup?.server.close());

  it('sends the Bearer token in the Authorization header only, and JSON with its length', async () => {
    // Prepare
    setup = await setUp(() => ({ status: 204 }));

    // Act: a DELETE with a JSON body, whose framing Node leaves to an explicit length.
    const answer = await setup.client.send(
      setup.request('/records?page=1', { method: 'DELETE', json: { records: ['r-1'] } }),
    );

    // Assess
    expect(answer.status).toBe(204);
    const [seen] = setup.server.requests as [SeenRequest];
    expect(seen).toMatchObject({ method: 'DELETE', url: '/records?page=1', body: '{"records":["r-1"]}' });
    expect(seen.headers).toMatchObject({
      authorization: 'Bearer bearer-1',
      accept: 'application/json',
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength('{"records":["r-1"]}')),
    });
    expect(seen.url).not.toContain('bearer');
  });

  it('after a 401, rejects that token and retries once with a new one', async () => {
    // Prepare: bearer-1 was revoked at the platform; bearer-2 is good.
    setup = await setUp(acceptingOnly(['bearer-2']));

    // Act
    const answer = await setup.client.send(setup.request('/calls'));

    // Assess
    expect(answer).toMatchObject({ status: 200, text: '{"ok":true}' });
    expect(setup.server.requests.map((request) => request.headers.authorization)).toEqual([
      'Bearer bearer-1',
      'Bearer bearer-2',
    ]);
    expect(setup.tokens.rejected).toEqual(['bearer-1']);
    expect(setup.retriesAfter401).toBe(1);
    expect(setup.log.lines).toEqual([
      {
        level: 'info',
        message: 'toy answered 401; renewing the token once',
        attributes: { source: 'toy-main', where: `${setup.server.host}/calls` },
      },
    ]);
  });

  it('gives up after the one retry: a second 401 is handed back, and a download throws it typed', async () => {
    // Prepare: no token is ever accepted.
    setup = await setUp(acceptingOnly([]));

    // Act
    const answer = await setup.client.send(setup.request('/calls'));
    const requestsForSend = setup.server.requests.length;
    const download = await setup.client.download(setup.request('/media/1')).catch((error: unknown) => error);

    // Assess
    expect(answer.status).toBe(401);
    expect(requestsForSend).toBe(2);
    expect(setup.server.requests).toHaveLength(4);
    expect(setup.tokens.rejected).toEqual(['bearer-1', 'bearer-2']);
    expect(download).toBeInstanceOf(UnauthenticatedError);
    expect((download as Error).message).toBe(`HTTP 401 from ${setup.server.host}/media/1: token expired`);
  });

  it('waits for the rate gate before every attempt, the retry after a 401 included', async () => {
    // Prepare
    const order: string[] = [];
    setup = await setUp(
      acceptingOnly(['bearer-2'], (request) => {
        order.push(`served ${request.headers.authorization}`);
        return { status: 200, body: [] };
      }),
      {
        beforeSend: async (request) => {
          order.push(`slot for ${new URL(request.url).pathname}`);
        },
      },
    );

    // Act
    await setup.client.send(setup.request('/calls'));

    // Assess
    expect(order).toEqual(['slot for /calls', 'slot for /calls', 'served Bearer bearer-2']);
  });

  it("lets the throttle hook send again (counting its retries) or give up with the hook's error", async () => {
    // Prepare: two 429s, then the answer; the hook waits out at most two of them.
    const seenRetries: number[] = [];
    setup = await setUp(
      (_request, index) =>
        index < 2
          ? { status: 429, headers: { 'retry-after': '1' }, body: 'throttled' }
          : { status: 200, body: { ok: true } },
      {
        throttle: async (answer, _request, retries) => {
          if (answer.status !== 429) return false;
          seenRetries.push(retries);
          answer.body.destroy();
          if (retries >= 2) throw new RateLimitedError('toy throttled source toy-main', 1);
          return true;
        },
      },
    );

    // Act
    const answer = await setup.client.send(setup.request('/calls'));
    setup.server.respond(() => ({ status: 429, headers: { 'retry-after': '1' }, body: 'throttled' }));
    const givenUp = await setup.client.send(setup.request('/calls')).catch((error: unknown) => error);

    // Assess
    expect(answer.status).toBe(200);
    expect(givenUp).toBeInstanceOf(RateLimitedError);
    expect(seenRetries).toEqual([0, 1, 0, 1, 2]);
    expect(setup.server.requests).toHaveLength(6);
  });

  it('streams a 2xx download with its announced length and type', async () => {
    // Prepare
    const audio = Buffer.from('ID3 toy audio bytes');
    setup = await setUp(() => ({
      status: 200,
      headers: { 'content-type': 'audio/mpeg' },
      body: audio.toString('utf8'),
    }));

    // Act
    const download = await setup.client.download(setup.request('/media/1'));
    const chunks: Buffer[] = [];
    for await (const chunk of download.body) chunks.push(chunk as Buffer);

    // Assess
    expect(download.contentLength).toBe(audio.length);
    expect(download.contentType).toBe('audio/mpeg');
    expect(Buffer.concat(chunks).equals(audio)).toBe(true);
    expect(setup.server.requests[0]?.headers.accept).not.toBe('application/json');
  });

  it("names the platform's short reason in a failed download's error, never the token it was sent", async () => {
    // Prepare: the platform's 404 body echoes the request, Authorization header included.
    setup = await setUp((request) => ({
      status: 404,
      body: {
        message: 'Recording not found',
        request: { headers: { authorization: request.headers.authorization } },
      },
    }));

    // Act
    const failure = await setup.client.download(setup.request('/media/9')).catch((error: unknown) => error);

    // Assess
    expect(failure).toBeInstanceOf(NotReadyError);
    expect((failure as Error).message).toBe(
      `HTTP 404 from ${setup.server.host}/media/9: Recording not found`,
    );
    expect((failure as Error).message).not.toContain('bearer-1');
  });
});
