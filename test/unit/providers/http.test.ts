import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  NotReadyError,
  PermanentError,
  RateLimitedError,
  TransientError,
  UnauthenticatedError,
} from '../../../functions/core/errors';
import {
  assertAllowedUrl,
  DisallowedUrlError,
  openHttpDownload,
  requestJson,
  retryAfterSeconds,
} from '../../../functions/providers/http';
import { startTelphinSandbox, type TelphinSandbox } from '../../../sandbox/providers/telphin-sandbox';

describe('assertAllowedUrl', () => {
  it.each([
    ['https://storage.telphin.ru/abc', ['storage.telphin.ru']],
    ['https://STORAGE.telphin.ru:443/abc', ['storage.telphin.ru:443']],
    ['https://eu.media.example.com/x', ['*.example.com']],
    ['http://127.0.0.1:8080/x', ['127.0.0.1']],
    ['http://localhost:9/x', ['localhost:9']],
    ['http://[::1]:9/x', ['::1']],
    ['https://storage.telphin.ru/x', ['*.telphin.ru']],
    ['https://a.b.telphin.ru/x', ['*.telphin.ru']],
  ])('accepts %s for %j', (url, hosts) => {
    expect(assertAllowedUrl(url, hosts).href).toBe(new URL(url).href);
  });

  it.each([
    [
      'a host not on the list',
      'https://evil.example.net/x',
      ['storage.telphin.ru'],
      /not in the allowed hosts/,
    ],
    ['the apex of a wildcard', 'https://example.com/x', ['*.example.com'], /not in the allowed hosts/],
    [
      'a name that merely ends like the wildcard domain',
      'https://eviltelphin.ru/x',
      ['*.telphin.ru'],
      /not in the allowed hosts/,
    ],
    [
      'the wildcard domain inside a foreign name',
      'https://storage.telphin.ru.evil.net/x',
      ['*.telphin.ru'],
      /not in the allowed hosts/,
    ],
    [
      'a look-alike suffix',
      'https://storage.telphin.ru.evil.net/x',
      ['storage.telphin.ru'],
      /not in the allowed hosts/,
    ],
    [
      'another port',
      'https://storage.telphin.ru:8443/x',
      ['storage.telphin.ru:443'],
      /not in the allowed hosts/,
    ],
    ['plain http off loopback', 'http://storage.telphin.ru/x', ['storage.telphin.ru'], /https is required/],
    [
      'credentials in the URL',
      'https://user:pw@storage.telphin.ru/x',
      ['storage.telphin.ru'],
      /embedded credentials/,
    ],
    ['another scheme', 'file:///etc/passwd', ['storage.telphin.ru'], /only https/],
    ['garbage', 'not a url', ['storage.telphin.ru'], /malformed/],
  ])('refuses %s', (_name, url, hosts, pattern) => {
    const failure = (() => {
      try {
        assertAllowedUrl(url, hosts);
      } catch (error) {
        return error;
      }
    })();
    expect(failure).toBeInstanceOf(DisallowedUrlError);
    expect(failure).toBeInstanceOf(PermanentError);
    expect((failure as Error).message).toMatch(pattern);
    expect((failure as Error).message).not.toContain('pw@');
  });
});

describe('retryAfterSeconds', () => {
  it('reads Retry-After seconds, an HTTP date, and X-RateLimit-Reset countdowns', () => {
    const now = new Date('2024-01-10T10:00:00Z');
    expect(retryAfterSeconds({ 'retry-after': '120' }, now)).toBe(120);
    expect(retryAfterSeconds({ 'retry-after': 'Wed, 10 Jan 2024 10:01:30 GMT' }, now)).toBe(90);
    expect(retryAfterSeconds({ 'x-ratelimit-reset': '1800' }, now)).toBe(1800);
    expect(retryAfterSeconds({}, now)).toBeUndefined();
  });
});

/** A scripted loopback server for statuses and redirects the Telphin sandbox has no reason to produce. */
let server: http.Server;
let base: string;
const seenAuthorization: Record<string, string | undefined> = {};
const seenAccept: Record<string, string | undefined> = {};

beforeAll(async () => {
  server = http.createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://x');
    seenAuthorization[url.pathname] = request.headers.authorization;
    seenAccept[url.pathname] = request.headers.accept;
    const port = (server.address() as AddressInfo).port;
    const routes: Record<string, () => void> = {
      '/429-date': () => {
        response.writeHead(429, { 'retry-after': new Date(Date.now() + 61_000).toUTCString() });
        response.end('slow down');
      },
      '/429-seconds': () => response.writeHead(429, { 'retry-after': '7' }).end(),
      '/401': () => response.writeHead(401).end(),
      '/403': () => response.writeHead(403).end(),
      '/404': () =>
        response.writeHead(404, { 'content-type': 'application/json' }).end('{"message":"Record not found"}'),
      '/408': () => response.writeHead(408).end(),
      '/410': () => response.writeHead(410).end(),
      '/502': () => response.writeHead(502, { 'content-type': 'text/html' }).end('<html>bad gateway</html>'),
      '/redirect-same': () => response.writeHead(302, { location: '/ok' }).end(),
      '/redirect-cross': () =>
        response.writeHead(302, { location: `http://localhost:${port}/ok-cross` }).end(),
      '/redirect-evil': () => response.writeHead(302, { location: 'https://evil.example.net/steal' }).end(),
      '/redirect-loop': () => response.writeHead(302, { location: '/redirect-loop' }).end(),
      '/ok': () => response.writeHead(200, { 'content-type': 'audio/mpeg' }).end(Buffer.from('ID3 ok')),
      '/ok-cross': () => response.writeHead(200).end(Buffer.from('ID3 cross')),
      '/not-json': () =>
        response.writeHead(200, { 'content-type': 'text/html' }).end('<!DOCTYPE html><p>oops</p>'),
      '/json': () => response.writeHead(200, { 'content-type': 'application/json' }).end('{"a":1}'),
      '/hang': () => undefined,
      '/trickle': () => {
        response.writeHead(200, { 'content-length': '1000' });
        response.write('ID3');
      },
      '/reset-early': () => {
        response.writeHead(200, { 'content-length': '1000' });
        response.write('ID3 part', () => response.socket?.destroy());
      },
    };
    (routes[url.pathname] ?? (() => response.writeHead(500).end()))();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const allowed = ['127.0.0.1', 'localhost'];

async function failureOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => new Error('expected a failure'),
    (error: unknown) => error,
  );
}

describe('openHttpDownload status mapping', () => {
  it.each([
    ['/429-seconds', RateLimitedError],
    ['/401', UnauthenticatedError],
    ['/403', UnauthenticatedError],
    ['/404', NotReadyError],
    ['/408', TransientError],
    ['/410', PermanentError],
    ['/502', TransientError],
  ])('maps %s to its typed error', async (path, type) => {
    const failure = await failureOf(
      openHttpDownload(`${base}${path}?access_token=SECRET123`, { allowedHosts: allowed }),
    );
    expect(failure).toBeInstanceOf(type);
    expect((failure as Error).message).toContain(`127.0.0.1:${new URL(base).port}${path}`);
    expect((failure as Error).message).not.toContain('SECRET123');
  });

  it('reads an HTTP-date Retry-After into seconds', async () => {
    const failure = await failureOf(openHttpDownload(`${base}/429-date`, { allowedHosts: allowed }));
    expect(failure).toBeInstanceOf(RateLimitedError);
    expect((failure as RateLimitedError).retryAfterSeconds).toBeGreaterThanOrEqual(59);
    expect((failure as RateLimitedError).retryAfterSeconds).toBeLessThanOrEqual(62);
  });
});

describe('openHttpDownload redirects', () => {
  it('follows a same-host redirect keeping the Authorization header', async () => {
    const download = await openHttpDownload(`${base}/redirect-same`, {
      allowedHosts: allowed,
      headers: { authorization: 'Bearer t1' },
    });
    download.body.resume();
    expect(seenAuthorization['/ok']).toBe('Bearer t1');
  });

  it('drops the Authorization header on a cross-host redirect', async () => {
    const download = await openHttpDownload(`${base}/redirect-cross`, {
      allowedHosts: allowed,
      headers: { authorization: 'Bearer t2' },
    });
    download.body.resume();
    expect(seenAuthorization['/ok-cross']).toBeUndefined();
  });

  it('asks content hosts for any media type (Accept */*), across redirects, unless the caller says otherwise', async () => {
    const direct = await openHttpDownload(`${base}/ok`, { allowedHosts: allowed });
    direct.body.resume();
    const directAccept = seenAccept['/ok'];
    const redirected = await openHttpDownload(`${base}/redirect-cross`, { allowedHosts: allowed });
    redirected.body.resume();
    const chosen = await openHttpDownload(`${base}/ok`, {
      allowedHosts: allowed,
      headers: { accept: 'audio/mpeg' },
    });
    chosen.body.resume();

    expect(directAccept).toBe('*/*');
    expect(seenAccept['/ok-cross']).toBe('*/*');
    expect(seenAccept['/ok']).toBe('audio/mpeg');
  });

  it('refuses a redirect to a host off the allow-list', async () => {
    const failure = await failureOf(openHttpDownload(`${base}/redirect-evil`, { allowedHosts: allowed }));
    expect(failure).toBeInstanceOf(DisallowedUrlError);
  });

  it('gives up after maxRedirects hops', async () => {
    const failure = await failureOf(
      openHttpDownload(`${base}/redirect-loop`, { allowedHosts: allowed, maxRedirects: 3 }),
    );
    expect(failure).toBeInstanceOf(TransientError);
    expect((failure as Error).message).toMatch(/too many redirects/);
  });

  it('refuses the first URL itself when its host is not allowed', async () => {
    const failure = await failureOf(openHttpDownload(`${base}/ok`, { allowedHosts: ['storage.telphin.ru'] }));
    expect(failure).toBeInstanceOf(DisallowedUrlError);
  });
});

describe('openHttpDownload timeouts and aborts', () => {
  it('fails with TransientError when no response arrives within the idle timeout', async () => {
    const failure = await failureOf(
      openHttpDownload(`${base}/hang`, { allowedHosts: allowed, idleTimeoutMs: 150 }),
    );
    expect(failure).toBeInstanceOf(TransientError);
    expect((failure as Error).message).toMatch(/no response/);
  });

  it('errors the body with TransientError when the server stops sending', async () => {
    const download = await openHttpDownload(`${base}/trickle`, { allowedHosts: allowed, idleTimeoutMs: 150 });
    const failure = await failureOf(download.body.toArray());
    expect(failure).toBeInstanceOf(TransientError);
    expect((failure as Error).message).toMatch(/stalled/);
  });

  it('errors the body with TransientError when the signal aborts mid-body', async () => {
    const controller = new AbortController();
    const download = await openHttpDownload(`${base}/trickle`, {
      allowedHosts: allowed,
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(), 50);
    const failure = await failureOf(download.body.toArray());
    expect(failure).toBeInstanceOf(TransientError);
    expect((failure as Error).message).toMatch(/aborted/);
  });

  it('keeps a break that comes before anyone reads for the first reader, throwing nothing uncaught', async () => {
    // A granted download is opened before the archive looks for an existing copy, so its body may break
    // while no one listens; an 'error' with no listener would crash the process.
    const download = await openHttpDownload(`${base}/reset-early`, { allowedHosts: allowed });
    await new Promise((resolve) => download.body.once('close', resolve));

    const failure = await failureOf(download.body.toArray());

    expect(failure).toBeInstanceOf(TransientError);
    expect((failure as Error).message).toMatch(/closed mid-body/);
  });

  it('refuses to start when the signal is already aborted', async () => {
    const failure = await failureOf(
      openHttpDownload(`${base}/ok`, { allowedHosts: allowed, signal: AbortSignal.abort() }),
    );
    expect(failure).toBeInstanceOf(TransientError);
  });
});

describe('requestJson', () => {
  it('parses JSON and maps a 200 HTML page to TransientError', async () => {
    expect(await requestJson(`${base}/json`, { allowedHosts: allowed })).toEqual({ a: 1 });
    const failure = await failureOf(requestJson(`${base}/not-json`, { allowedHosts: allowed }));
    expect(failure).toBeInstanceOf(TransientError);
    expect((failure as Error).message).toMatch(/not JSON/);
  });

  it('maps statuses like downloads do', async () => {
    expect(await failureOf(requestJson(`${base}/404`, { allowedHosts: allowed }))).toBeInstanceOf(
      NotReadyError,
    );
    expect(await failureOf(requestJson(`${base}/502`, { allowedHosts: allowed }))).toBeInstanceOf(
      TransientError,
    );
  });
});

describe('openHttpDownload against the Telphin sandbox storage host', () => {
  let sandbox: TelphinSandbox;
  beforeAll(async () => {
    sandbox = await startTelphinSandbox({ storageHost: '127.0.0.1' });
  });
  afterAll(async () => sandbox.close());

  it('streams a large body with its Content-Length and exact bytes', async () => {
    const recording = sandbox.addRecording({
      startedAt: new Date('2024-01-10T10:00:00Z'),
      size: 5 * 1024 * 1024 + 17,
    });
    const download = await openHttpDownload(sandbox.storageUrlFor(recording.recordUuid), {
      allowedHosts: allowed,
    });
    const { createHash } = await import('node:crypto');
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of download.body) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
    expect(download.contentLength).toBe(recording.size);
    expect(size).toBe(recording.size);
    expect(hash.digest('hex')).toBe(sandbox.expectedSha256(recording.recordUuid));
  });

  it.each([
    ['reset-mid-body', { kind: 'reset-mid-body', afterBytes: 200_000 } as const],
    ['short-body', { kind: 'short-body', afterBytes: 200_000 } as const],
  ])('errors the body with TransientError on %s', async (_name, fault) => {
    const recording = sandbox.addRecording({ startedAt: new Date('2024-01-10T10:00:00Z'), size: 1_000_000 });
    sandbox.injectFault(fault, { recordUuid: recording.recordUuid });
    const download = await openHttpDownload(sandbox.storageUrlFor(recording.recordUuid), {
      allowedHosts: allowed,
    });
    const failure = await failureOf(download.body.toArray());
    expect(failure).toBeInstanceOf(TransientError);
  });
});
