/**
 * Telphin reached through a host of its own (a partner or white-label installation; here the sandbox on
 * loopback) with `allowedDownloadHosts` left to its defaults, run the way `npm start` runs it: the sweep
 * lists, the in-process queue downloads, the archive folder stores. Storage links on the API host are
 * fetched; storage links on any other host are never contacted and the file comes from the API instead.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/config';
import { recordingKey } from '../../functions/core/keys';
import type { Clock, Log } from '../../functions/core/ports';
import { type LocalHost, startLocalHost } from '../../functions/local/local-host';
import {
  type SandboxRecording,
  startTelphinSandbox,
  type TelphinSandbox,
  type TelphinSandboxOptions,
} from '../../sandbox/providers/telphin-sandbox';

/** A pinned instant: the sweep's windows and the sandbox's calls do not depend on today's date. */
const NOW = new Date('2024-03-15T12:00:00Z');
const clock: Clock = { now: () => NOW };
const RECORDINGS = 25;

interface LogLine {
  level: string;
  message: string;
}

function collectingLog(): Log & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at = (level: string) => (message: string) => void lines.push({ level, message });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** Another host: answers anything with audio-looking bytes and records every request it receives. */
async function startForeignHost(): Promise<{ origin: string; requests: string[]; close(): Promise<void> }> {
  const requests: string[] = [];
  const server = http.createServer((request, response) => {
    requests.push(`${request.method} ${request.url}`);
    response.writeHead(200, { 'content-type': 'audio/mpeg' });
    response.end(Buffer.from('ID3 not the recording'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

describe('Telphin on its own API host, allowed download hosts left to the defaults', () => {
  let dir: string;
  let sandbox: TelphinSandbox | undefined;
  let host: LocalHost | undefined;
  let foreign: Awaited<ReturnType<typeof startForeignHost>> | undefined;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'callvault-hosts-'));
  });

  afterEach(async () => {
    await host?.stop();
    await sandbox?.close();
    await foreign?.close();
    host = sandbox = foreign = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  async function archiveDay(sandboxOptions: TelphinSandboxOptions) {
    sandbox = await startTelphinSandbox({ clock, ...sandboxOptions });
    const recordings = sandbox.generateRecordings({
      count: RECORDINGS,
      from: new Date(NOW.getTime() - 20 * 3_600_000),
      to: new Date(NOW.getTime() - 3_600_000),
    });
    const config = parseConfig({
      sources: [
        {
          provider: 'telphin',
          id: 'partner',
          apiUrl: sandbox.url,
          clientId: sandbox.clientId,
          clientSecret: sandbox.clientSecret,
        },
      ],
      local: { port: 0, archiveDir: join(dir, 'archive'), stateDir: join(dir, 'state') },
      worker: { concurrency: 4 },
    });
    const log = collectingLog();
    host = await startLocalHost({
      config,
      log,
      clock,
      serveWebhooks: false,
      retryPolicy: { transientBaseSeconds: 0, notReadyBaseSeconds: 0 },
    });
    await host.idle();
    return { recordings, config, log };
  }

  const sha256Of = async (recording: SandboxRecording) =>
    createHash('sha256')
      .update(
        await readFile(
          join(
            dir,
            'archive',
            recordingKey({
              provider: 'telphin',
              sourceId: 'partner',
              recordingId: recording.recordUuid,
              startedAt: new Date(Math.floor(recording.startedAt.getTime() / 1000) * 1000),
              fileExtension: 'mp3',
            }),
          ),
        ),
      )
      .digest('hex');

  async function deadLetters(): Promise<string[]> {
    return readdir(join(dir, 'state', 'dead-letter')).catch(() => []);
  }

  it('archives every recording through storage links on the apiUrl host', async () => {
    // Prepare + Act: storage links on the API's own host and port.
    const { recordings, config } = await archiveDay({ storageHost: '127.0.0.1' });

    // Assess
    expect(config.sources[0]?.allowedDownloadHosts).toEqual([new URL(sandbox!.url).host, '*.telphin.ru']);
    for (const recording of recordings)
      expect(await sha256Of(recording)).toBe(sandbox!.expectedSha256(recording.recordUuid));
    expect(host!.progress().archived).toBe(RECORDINGS);
    expect(sandbox!.counters).toMatchObject({ storageDownloads: RECORDINGS, fileDownloads: 0 });
    expect(await deadLetters()).toEqual([]);
  });

  it('downloads directly when storage links point at a foreign host, which is never contacted', async () => {
    // Prepare: the API hands out storage links on another host (same loopback address, other port).
    foreign = await startForeignHost();

    // Act
    const { recordings, log } = await archiveDay({ storageOrigin: foreign.origin });

    // Assess: everything archived, byte for byte, from the API host; nothing dead-lettered.
    for (const recording of recordings)
      expect(await sha256Of(recording)).toBe(sandbox!.expectedSha256(recording.recordUuid));
    expect(host!.progress().archived).toBe(RECORDINGS);
    expect(sandbox!.counters).toMatchObject({
      storageUrlRequests: RECORDINGS,
      storageDownloads: 0,
      fileDownloads: RECORDINGS,
    });
    expect(await deadLetters()).toEqual([]);
    // The refused host was never contacted...
    expect(foreign.requests).toEqual([]);
    // ...one warning says which host was refused and which field would allow it.
    const foreignHost = new URL(foreign.origin).host;
    const warnings = log.lines.filter((line) => line.level === 'warn');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.message).toContain(foreignHost);
    expect(warnings[0]?.message).toContain('sources[0].allowedDownloadHosts');
    // The foreign host does record requests: the zero above is not a server that cannot count.
    await fetch(`${foreign.origin}/probe`);
    expect(foreign.requests).toEqual(['GET /probe']);
  });
});
