/**
 * `npm run console` in a real headless browser (Debian's Chromium through playwright-core), over an
 * archive the local pipeline wrote: a RingCentral sandbox account that records in WAV, swept by the local
 * host, its catalogue written by the worker. The page finds a call by number, plays it (the media element
 * loads, reports a finite duration and seeks through Range requests), shows the sidecar, holds and
 * releases it; requests without the token, from a foreign Host (a DNS-rebinding page), from another
 * origin, or for a path outside the archive are refused.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/config';
import { holdRecordKey } from '../../functions/core/legal-hold';
import { silentLog } from '../../functions/core/ports';
import { startLocalHost } from '../../functions/local/local-host';
import {
  type RingCentralSandbox,
  startRingCentralSandbox,
} from '../../sandbox/providers/ringcentral-sandbox';
import type { SandboxCall } from '../../sandbox/providers/ringcentral-sandbox-calls';
import { chromiumAvailable, launchChromium } from '../support/headless-chromium';

const REPO = resolve(import.meta.dirname, '../..');
const SOURCE_ID = 'rc-console';
const SOUGHT_NUMBER = '+16505550199';

/** The part of an HTMLMediaElement the test reads (the test compiles without the DOM library). */
interface MediaLike {
  duration: number;
  currentTime: number;
  pause(): void;
  addEventListener(type: string, listener: () => void, options: { once: boolean }): void;
}

interface RunningConsole {
  child: ChildProcess;
  url: string;
  origin: string;
  token: string;
  stderr: () => string;
}

/** Starts `scripts/console.ts` as the operator does and reads the address it prints. */
function startConsole(config: string, args: string[] = []): Promise<RunningConsole> {
  return new Promise((done, fail) => {
    const child = spawn(join(REPO, 'node_modules/.bin/tsx'), ['scripts/console.ts', ...args], {
      cwd: REPO,
      env: { ...process.env, CALLVAULT_CONFIG: config },
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const match = /console: open (http:\/\/\S+)\n/.exec(stdout);
      if (match?.[1]) {
        const url = new URL(match[1]);
        done({
          child,
          url: match[1],
          origin: url.origin,
          token: new URLSearchParams(url.hash.slice(1)).get('token') ?? '',
          stderr: () => stderr,
        });
      }
    });
    child.on('close', (code) => fail(new Error(`console exited ${code}: ${stdout}${stderr}`)));
  });
}

function runToEnd(config: string, args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(join(REPO, 'node_modules/.bin/tsx'), ['scripts/console.ts', ...args], {
      cwd: REPO,
      env: { ...process.env, CALLVAULT_CONFIG: config },
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('close', (code) => done({ code: code ?? -1, stderr }));
  });
}

/** A raw request, so the Host and Origin headers are exactly what a hostile page's browser would send. */
function rawRequest(
  origin: string,
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const url = new URL(origin);
  return new Promise((done, fail) => {
    const request = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        path,
        method: options.method ?? 'GET',
        headers: options.headers,
      },
      (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => {
          body += chunk.toString();
        });
        response.on('end', () => done({ status: response.statusCode ?? 0, headers: response.headers, body }));
      },
    );
    request.on('error', fail);
    request.end(options.body);
  });
}

describe.skipIf(!chromiumAvailable())('npm run console in a headless browser', () => {
  let dir: string;
  let archiveDir: string;
  let config: string;
  let sandbox: RingCentralSandbox | undefined;
  let browser: Browser | undefined;
  let consoleRun: RunningConsole | undefined;
  let sought: SandboxCall;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'callvault-console-'));
    archiveDir = join(dir, 'archive');
    sandbox = await startRingCentralSandbox({
      recordingFormat: 'wav',
      rateLimits: { heavy: { limit: 600, windowSeconds: 60 } },
    });
    const now = Date.now();
    sought = sandbox.addCall({
      kind: 'ringout',
      startedAt: new Date(now - 5 * 3_600_000),
      durationSeconds: 40,
      externalNumber: SOUGHT_NUMBER,
      externalName: 'Sansa Stark',
    });
    sandbox.addCall({ kind: 'outbound', startedAt: new Date(now - 3 * 3_600_000), durationSeconds: 20 });
    sandbox.addCall({ kind: 'ringout', startedAt: new Date(now - 2 * 3_600_000), durationSeconds: 30 });
    const source = {
      provider: 'ringcentral',
      id: SOURCE_ID,
      serverUrl: sandbox.url,
      mediaUrl: sandbox.mediaUrl,
      clientId: sandbox.clientId,
      clientSecret: sandbox.clientSecret,
      jwt: sandbox.jwt,
      rateLimits: { heavyPerMinute: 600 },
    };
    const settings = {
      sources: [source],
      local: { port: 0, archiveDir, stateDir: join(dir, 'state') },
      worker: { concurrency: 2 },
    };
    // Archive with the local pipeline: one sweep, the worker writes copies, sidecars and the catalogue.
    const host = await startLocalHost({
      config: parseConfig(settings),
      log: silentLog,
      serveWebhooks: false,
      scheduleSweep: false,
      scheduleRetention: false,
    });
    const [sweep] = await host.sweepNow();
    await host.idle();
    await host.stop();
    expect(sweep).toMatchObject({ listed: 3, enqueued: 3 });
    await sandbox.close();
    sandbox = undefined;

    config = join(dir, 'callvault.config.json');
    await writeFile(config, JSON.stringify(settings));
    consoleRun = await startConsole(config);
    browser = await launchChromium({ hostMap: ['rebind.attacker.test'] });
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    consoleRun?.child.kill('SIGTERM');
    await sandbox?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function openPage(): Promise<Page> {
    if (!browser || !consoleRun) throw new Error('not started');
    const page = await browser.newPage();
    await page.goto(consoleRun.url);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
    return page;
  }

  it('finds a call by number, plays it with a finite duration, seeks, shows the sidecar, holds and releases it', async () => {
    const page = await openPage();
    const mediaStatuses: number[] = [];
    page.on('response', (response) => {
      if (new URL(response.url()).pathname === '/media') mediaStatuses.push(response.status());
    });

    // Search by number: the one call with that caller, with names and ids.
    await page.getByLabel('Number').fill(SOUGHT_NUMBER);
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForSelector('#results[aria-busy="false"]', { timeout: 60_000 });
    expect(await page.locator('#message').textContent()).toMatch(/^1 hit in \d+ ms$/);
    const row = page.locator('#results tbody tr');
    await expect.poll(() => row.count()).toBe(1);
    const recordingId = sought.recording?.id ?? '';
    expect(await row.getAttribute('data-recording-id')).toBe(recordingId);
    const text = (await row.innerText()).replace(/\s+/g, ' ');
    expect(text).toContain(SOUGHT_NUMBER);
    expect(text).toContain('Sansa Stark');
    expect(text).toContain('John Snow');
    expect(text).toContain('outbound');
    expect(text).toContain(`ringcentral/${SOURCE_ID}`);
    expect(text).toContain('archived');
    const objectKey = (await row.getAttribute('data-key')) ?? '';
    expect(objectKey).toMatch(new RegExp(`^recordings/ringcentral/${SOURCE_ID}/.*\\.wav$`));

    // Play: the console streams the WAV copy; the element reports its duration, and seeks (Range).
    await page.getByRole('button', { name: `Play ${recordingId}` }).click();
    const player = page.locator('#player audio');
    await expect
      .poll(() => player.evaluate((media) => (media as unknown as MediaLike).duration), { timeout: 30_000 })
      .toBeGreaterThan(0);
    const duration = await player.evaluate((media) => (media as unknown as MediaLike).duration);
    expect(Number.isFinite(duration)).toBe(true);
    // 8 kHz 16-bit mono: the sandbox's 2000 bytes per second of call are an eighth of a second of sound each.
    const { size } = await stat(join(archiveDir, objectKey));
    expect(duration).toBeCloseTo((size - 44) / 16_000, 1);
    // Seeking asks the console for a byte range (206).
    await player.evaluate(
      (element) =>
        new Promise<void>((seeked) => {
          const media = element as unknown as MediaLike;
          media.pause();
          media.addEventListener('seeked', () => seeked(), { once: true });
          media.currentTime = media.duration * 0.75;
        }),
    );
    expect(mediaStatuses).toContain(206);
    await expect
      .poll(() => page.locator('#sidecar').textContent(), { timeout: 30_000 })
      .toContain(`"recordingId": "${recordingId}"`);

    // Hold: the row is marked, and a hold record is in the archive, audited as the console's.
    await page.getByRole('button', { name: `Hold ${recordingId}` }).click();
    await expect.poll(() => row.getAttribute('class'), { timeout: 30_000 }).toContain('held');
    expect(await row.locator('.badge').textContent()).toBe('held');
    const record = JSON.parse(await readFile(join(archiveDir, holdRecordKey(objectKey)), 'utf8'));
    expect(record).toMatchObject({ objectKey, heldBy: expect.stringContaining('npm run console') });
    expect(record.query).toMatchObject({ number: SOUGHT_NUMBER, via: 'console' });

    // A fresh search still shows it held: the mark comes from the hold record, not the page.
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForSelector('#results[aria-busy="false"]', { timeout: 30_000 });
    expect(await row.locator('.badge').count()).toBe(1);

    // Release: the mark and the record are gone.
    await page.getByRole('button', { name: `Release the hold on ${recordingId}` }).click();
    await expect
      .poll(() => page.locator('#message').textContent(), { timeout: 30_000 })
      .toMatch(new RegExp(`^Released ${recordingId}`));
    expect(await row.locator('.badge').count()).toBe(0);
    await expect(stat(join(archiveDir, holdRecordKey(objectKey)))).rejects.toMatchObject({ code: 'ENOENT' });
    await page.close();
  }, 180_000);

  it('shows a bad filter as one line naming the flag, and finds nothing for it', async () => {
    const page = await openPage();
    await page.getByLabel('Number').fill('not-a-number');
    await page.getByRole('button', { name: 'Search' }).click();
    await expect
      .poll(() => page.locator('#message').textContent(), { timeout: 30_000 })
      .toMatch(/^--number "not-a-number" is not a phone number/);
    expect(await page.locator('#results tbody tr').count()).toBe(0);
    await page.close();
  }, 60_000);

  it('refuses a page reached through another name (DNS rebinding) in the browser itself', async () => {
    if (!browser || !consoleRun) throw new Error('not started');
    const port = new URL(consoleRun.origin).port;
    const page = await browser.newPage();
    const response = await page.goto(`http://rebind.attacker.test:${port}/`);
    expect(response?.status()).toBe(421);
    const api = await page.evaluate(
      async ([token]) =>
        (await fetch('/api/session', { headers: { 'x-callvault-token': token ?? '' } })).status,
      [consoleRun.token],
    );
    expect(api).toBe(421);
    await page.close();
  }, 60_000);

  it('refuses requests without the token, from a foreign Host or Origin, and keys outside the archive', async () => {
    if (!consoleRun) throw new Error('not started');
    const { origin, token } = consoleRun;
    const host = new URL(origin).host;
    const withToken = { host, 'x-callvault-token': token };
    // The page itself carries its policy and no CORS grant.
    const page = await rawRequest(origin, '/', { headers: { host } });
    expect(page.status).toBe(200);
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect(page.headers['referrer-policy']).toBe('no-referrer');
    expect(page.headers['access-control-allow-origin']).toBeUndefined();

    expect((await rawRequest(origin, '/api/session', { headers: { host } })).status).toBe(403);
    expect(
      (await rawRequest(origin, '/api/session', { headers: { host, 'x-callvault-token': `${token}x` } }))
        .status,
    ).toBe(403);
    expect((await rawRequest(origin, '/api/session', { headers: withToken })).status).toBe(200);
    expect(
      (
        await rawRequest(origin, '/api/session', {
          headers: { ...withToken, host: `rebind.attacker.test:${new URL(origin).port}` },
        })
      ).status,
    ).toBe(421);
    // A hold without the token, or from another origin, changes nothing.
    const holdBody = JSON.stringify({ objectKey: 'recordings/x/y.wav' });
    expect(
      (
        await rawRequest(origin, '/api/hold', {
          method: 'POST',
          headers: { host, 'content-type': 'application/json' },
          body: holdBody,
        })
      ).status,
    ).toBe(403);
    expect(
      (
        await rawRequest(origin, '/api/hold', {
          method: 'POST',
          headers: { ...withToken, 'content-type': 'application/json', origin: 'https://evil.example' },
          body: holdBody,
        })
      ).status,
    ).toBe(403);
    // A CORS preflight gets no grant.
    const preflight = await rawRequest(origin, '/api/hold', {
      method: 'OPTIONS',
      headers: { host, origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(preflight.headers['access-control-allow-origin']).toBeUndefined();

    // Media without the token, traversal out of the archive, and a symbolic link that leads out.
    expect((await rawRequest(origin, '/media?key=recordings/a.wav', { headers: { host } })).status).toBe(403);
    const media = (key: string) =>
      rawRequest(origin, `/media?token=${token}&key=${encodeURIComponent(key)}`, { headers: { host } });
    await writeFile(join(dir, 'secret.txt'), 'not for the browser');
    for (const key of [
      'recordings/../../secret.txt',
      '../secret.txt',
      '/etc/passwd',
      'recordings/ringcentral/%2e%2e/%2e%2e/%2e%2e/secret.txt',
    ]) {
      const answer = await media(key);
      expect([400, 404], key).toContain(answer.status);
      expect(answer.body).not.toContain('not for the browser');
    }
    const raw = await rawRequest(origin, `/media?token=${token}&key=recordings/..%2F..%2Fsecret.txt`, {
      headers: { host },
    });
    expect(raw.status).toBe(400);
    await symlink(join(dir, 'secret.txt'), join(archiveDir, 'recordings', 'leak.wav'));
    const leak = await media('recordings/leak.wav');
    expect(leak.status).toBe(404);
    expect(leak.body).not.toContain('not for the browser');
    const sidecarLeak = await rawRequest(
      origin,
      `/api/sidecar?key=${encodeURIComponent('recordings/../../secret.txt')}`,
      {
        headers: withToken,
      },
    );
    expect(sidecarLeak.status).toBe(400);
  }, 60_000);

  it('refuses to bind anything but loopback, with exit code 2', async () => {
    const answer = await runToEnd(config, ['--host', '0.0.0.0']);
    expect(answer.code).toBe(2);
    expect(answer.stderr).toMatch(/^console: --host 0\.0\.0\.0: the console listens on loopback only/);
    expect(answer.stderr.trim().split('\n')).toHaveLength(1);
  }, 60_000);
});
