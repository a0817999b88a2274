/**
 * Outcome events in local mode, end to end: the Telphin sandbox as the platform, the folder archive, the
 * in-process queue, retention deleting at the source, and the events going to the NDJSON file and, by
 * HTTP POST, to a real HTTP server on loopback that fails the way endpoints do (5xx, a connection cut,
 * an outage). The archive never waits on them and no event is lost: what stays undelivered is redriven.
 */
import { mkdtemp, readdir, readFile, rm, utimes } from 'node:fs/promises';
import http, { type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/config';
import { silentLog } from '../../functions/core/ports';
import { redriveOutcomeEvents } from '../../functions/events-redrive';
import { type LocalHost, startLocalHost } from '../../functions/local/local-host';
import { startTelphinSandbox, type TelphinSandbox } from '../../sandbox/providers/telphin-sandbox';

const AUTH_ENV = 'CALLVAULT_TEST_EVENTS_AUTHORIZATION';
const AUTH_VALUE = 'Bearer local-events-test-secret';
const DAY_MS = 86_400_000;

interface Endpoint {
  url: string;
  /** Bodies answered 2xx, in arrival order. */
  accepted: { id: string; body: Record<string, unknown>; authorization?: string }[];
  requests: number;
  mode: 'faulty' | 'down' | 'up';
  close(): Promise<void>;
}

/** A receiver whose first POST of each event gets 503, and whose first retry of all is cut mid-way. */
async function startEndpoint(mode: Endpoint['mode']): Promise<Endpoint> {
  const seen = new Map<string, number>();
  let cut = false;
  const endpoint: Endpoint = { url: '', accepted: [], requests: 0, mode, close: async () => {} };
  const server: Server = http.createServer(async (request: IncomingMessage, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    endpoint.requests += 1;
    const id = String(request.headers['idempotency-key']);
    const attempt = (seen.get(id) ?? 0) + 1;
    seen.set(id, attempt);
    if (endpoint.mode === 'down') return response.writeHead(500).end('down');
    if (endpoint.mode === 'faulty' && attempt === 1) return response.writeHead(503).end('busy');
    if (endpoint.mode === 'faulty' && attempt === 2 && !cut) {
      cut = true;
      return request.socket.destroy();
    }
    endpoint.accepted.push({
      id,
      body: JSON.parse(Buffer.concat(chunks).toString('utf8')),
      authorization: request.headers.authorization,
    });
    response.writeHead(202).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/callvault`;
  endpoint.close = () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return endpoint;
}

describe('outcome events, local mode', () => {
  let sandbox: TelphinSandbox;
  let dir: string;
  let host: LocalHost | undefined;
  let endpoint: Endpoint | undefined;

  beforeEach(async () => {
    sandbox = await startTelphinSandbox();
    dir = await mkdtemp(join(tmpdir(), 'callvault-events-local-'));
    process.env[AUTH_ENV] = AUTH_VALUE;
  });

  afterEach(async () => {
    await host?.stop();
    host = undefined;
    await endpoint?.close();
    endpoint = undefined;
    await sandbox.close();
    await rm(dir, { recursive: true, force: true });
    delete process.env[AUTH_ENV];
  });

  const config = (url: string) =>
    parseConfig({
      sources: [
        {
          provider: 'telphin',
          id: 'office',
          apiUrl: sandbox.url,
          clientId: sandbox.clientId,
          clientSecret: sandbox.clientSecret,
          allowedDownloadHosts: [new URL(sandbox.url).hostname, new URL(sandbox.storageOrigin).hostname],
        },
      ],
      local: { port: 0, archiveDir: join(dir, 'archive'), stateDir: join(dir, 'state') },
      worker: { concurrency: 2 },
      retention: { deleteFromSourceAfterDays: 30, dryRun: false, gracePeriodHours: 0, scanBackDays: 60 },
      events: {
        enabled: true,
        http: { url, authorizationEnv: AUTH_ENV, timeoutSeconds: 2 },
        retry: { attempts: 4, baseDelayMs: 5, maxDelayMs: 20 },
      },
    });

  const fileEvents = async () =>
    (await readFile(join(dir, 'state', 'events', 'outcome-events.ndjson'), 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));

  const undeliveredFiles = async (publisher: string) =>
    readdir(join(dir, 'state', 'events', 'undelivered', publisher)).catch(() => [] as string[]);

  it('writes one event per outcome to the file and POSTs each once, through 503s and a cut connection', async () => {
    endpoint = await startEndpoint('faulty');
    const recent = sandbox.generateRecordings({
      count: 4,
      from: new Date(Date.now() - 20 * 3_600_000),
      to: new Date(Date.now() - 3_600_000),
    });
    const old = [45, 50].map((days) =>
      sandbox.addRecording({
        startedAt: new Date(Date.now() - days * DAY_MS),
        durationSeconds: 30,
        flow: 'in',
      }),
    );
    host = await startLocalHost({ config: config(endpoint.url), log: silentLog, scheduleRetention: false });
    await host.idle();
    await host.retentionNow(); // due but not archived: enqueued for archiving, never deleted
    await host.idle();
    // A folder copy's age is its mtime, which the kernel stamps; under libfaketime (the pinned-clock runs)
    // a pinned instant before today would make it look written in the future. Stamp the copies with the
    // clock this test shares, as a real machine would.
    const now = new Date();
    for (const entry of await readdir(join(dir, 'archive', 'recordings'), {
      recursive: true,
      withFileTypes: true,
    }))
      if (entry.isFile()) await utimes(join(entry.parentPath, entry.name), now, now);
    const [report] = await host.retentionNow();
    await host.idle();
    expect(report?.deleted).toBe(2);

    const lines = await fileEvents();
    const ids = lines.map((line) => line.detail.eventId);
    expect(new Set(ids).size).toBe(ids.length);
    const archived = lines.filter((line) => line['detail-type'] === 'Recording Archived');
    const deleted = lines.filter((line) => line['detail-type'] === 'Recording Deleted At Source');
    expect(archived.map((line) => line.detail.recordingId).sort()).toEqual(
      [...recent, ...old].map((recording) => recording.recordUuid).sort(),
    );
    for (const line of archived) {
      expect(line).toMatchObject({
        source: 'callvault',
        id: line.detail.eventId,
        time: line.detail.occurredAt,
      });
      expect(line.detail.sha256).toBe(sandbox.expectedSha256(line.detail.recordingId));
      expect(line.detail.objectKey).toMatch(/^recordings\/telphin\/office\//);
      expect(await readFile(join(dir, 'archive', line.detail.objectKey))).toBeTruthy();
    }
    expect(deleted.map((line) => line.detail.recordingId).sort()).toEqual(
      old.map((r) => r.recordUuid).sort(),
    );
    for (const line of deleted) expect(line.detail.retentionRunId).toEqual(expect.any(String));

    // Every event reached the endpoint exactly once, after its 503 (and one after a cut connection).
    expect(endpoint.accepted.map((entry) => entry.id).sort()).toEqual([...ids].sort());
    expect(endpoint.requests).toBe(2 * ids.length + 1);
    expect(endpoint.accepted.every((entry) => entry.authorization === AUTH_VALUE)).toBe(true);
    expect(endpoint.accepted.map((entry) => entry.body)).toEqual(
      expect.arrayContaining(
        lines.map((line) => expect.objectContaining({ id: line.id, detail: line.detail })),
      ),
    );
    const fileText = await readFile(join(dir, 'state', 'events', 'outcome-events.ndjson'), 'utf8');
    expect(fileText).not.toContain('local-events-test-secret');
    expect(fileText).not.toContain(sandbox.clientSecret);
    expect(await undeliveredFiles('http')).toEqual([]);
  });

  it('records what an endpoint that is down missed, keeps the archive, and redrives it once it is back', async () => {
    endpoint = await startEndpoint('down');
    sandbox.generateRecordings({
      count: 3,
      from: new Date(Date.now() - 10 * 3_600_000),
      to: new Date(Date.now() - 3_600_000),
    });
    const cfg = config(endpoint.url);
    host = await startLocalHost({ config: cfg, log: silentLog, scheduleRetention: false });
    await host.idle();
    expect(host.progress().archived).toBe(3);
    expect(endpoint.requests).toBe(3 * 4);
    expect(await undeliveredFiles('http')).toHaveLength(3);
    expect(await undeliveredFiles('file')).toEqual([]);
    const ids = (await fileEvents()).map((line) => line.detail.eventId);
    expect(ids).toHaveLength(3);
    await host.stop();
    host = undefined;

    expect(await redriveOutcomeEvents(cfg, { log: silentLog })).toMatchObject({
      found: 3,
      redelivered: 0,
      stillUndelivered: 3,
    });
    endpoint.mode = 'up';
    expect(await redriveOutcomeEvents(cfg, { log: silentLog })).toEqual({
      found: 3,
      redelivered: 3,
      stillUndelivered: 0,
      skipped: 0,
    });
    expect(endpoint.accepted.map((entry) => entry.id).sort()).toEqual([...ids].sort());
    expect(await undeliveredFiles('http')).toEqual([]);
  });
});
