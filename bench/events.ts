/**
 * Events for downstream consumers: N recordings archived in local mode (Telphin sandbox, folder archive,
 * in-process queue, the sweep at start-up), each outcome published to the NDJSON file and POSTed to a
 * loopback HTTP receiver that refuses the first POST of every 10th event (503; the retry is accepted).
 * Counts events per destination, lost events (an archived recording without its event), duplicated ids,
 * retries and undelivered records. Target (issue 15): 1,000 recordings → 1,000 events, 0 lost, 0 duplicated.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../functions/config';
import { silentLog } from '../functions/core/ports';
import { startLocalHost } from '../functions/local/local-host';
import { startTelphinSandbox } from '../sandbox/providers/telphin-sandbox';
import { onCleanup } from './lib/processes';

export interface EventsBenchSummary {
  recordings: number;
  archived: number;
  fileEvents: number;
  httpEvents: number;
  /** Archived recordings with no event at a destination (the larger of the two). */
  lost: number;
  /** Event ids seen more than once at a destination (the larger of the two). */
  duplicatedIds: number;
  /** POSTs the receiver refused (every 10th event's first), each retried. */
  injectedFailures: number;
  httpRequests: number;
  undelivered: number;
  wallSeconds: number;
}

export async function measureEvents(
  options: { recordings: number },
  log: (line: string) => void,
): Promise<EventsBenchSummary> {
  const dir = await mkdtemp(join(tmpdir(), 'callvault-bench-events-'));
  const removeDir = onCleanup('events bench folder', () => rm(dir, { recursive: true, force: true }));
  let requests = 0;
  let injectedFailures = 0;
  const accepted: string[] = [];
  const firstSeen = new Set<string>();
  // Every 10th event's first POST is refused (503); its retry, and every other POST, is accepted.
  const receiver = http.createServer(async (request, response) => {
    for await (const _chunk of request);
    requests += 1;
    const id = String(request.headers['idempotency-key']);
    if (!firstSeen.has(id)) {
      firstSeen.add(id);
      if (firstSeen.size % 10 === 0) {
        injectedFailures += 1;
        return response.writeHead(503).end();
      }
    }
    accepted.push(id);
    response.writeHead(202).end();
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const removeReceiver = onCleanup(
    'events receiver',
    () => new Promise((resolve) => receiver.close(() => resolve())),
  );
  const sandbox = await startTelphinSandbox();
  const removeSandbox = onCleanup('telphin sandbox', () => sandbox.close());
  try {
    const recordings = sandbox.generateRecordings({
      count: options.recordings,
      from: new Date(Date.now() - 40 * 3_600_000),
      to: new Date(Date.now() - 3_600_000),
      size: 4096,
    });
    const config = parseConfig({
      sources: [
        {
          provider: 'telphin',
          id: 'bench',
          apiUrl: sandbox.url,
          clientId: sandbox.clientId,
          clientSecret: sandbox.clientSecret,
          allowedDownloadHosts: [new URL(sandbox.url).hostname, new URL(sandbox.storageOrigin).hostname],
        },
      ],
      local: { port: 0, archiveDir: join(dir, 'archive'), stateDir: join(dir, 'state') },
      worker: { concurrency: 4 },
      events: {
        enabled: true,
        http: { url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/events` },
        retry: { attempts: 3, baseDelayMs: 20, maxDelayMs: 200 },
      },
    });
    const started = performance.now();
    const host = await startLocalHost({ config, log: silentLog, scheduleRetention: false });
    const removeHost = onCleanup('local host', () => host.stop());
    try {
      await host.idle();
    } finally {
      await removeHost();
    }
    const wallSeconds = (performance.now() - started) / 1000;
    const lines = (await readFile(join(dir, 'state', 'events', 'outcome-events.ndjson'), 'utf8'))
      .trim()
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as { detail: { eventId: string; recordingId: string } });
    const fileIds = lines.map((line) => line.detail.eventId);
    const fileRecordings = new Set(lines.map((line) => line.detail.recordingId));
    const idToRecording = new Map(lines.map((line) => [line.detail.eventId, line.detail.recordingId]));
    const httpRecordings = new Set(accepted.map((id) => idToRecording.get(id)));
    const duplicates = (ids: string[]) => ids.length - new Set(ids).size;
    const missing = (seen: Set<string | undefined>) =>
      recordings.filter((recording) => !seen.has(recording.recordUuid)).length;
    const undelivered = (
      await Promise.all(
        ['file', 'http'].map((publisher) =>
          readdir(join(dir, 'state', 'events', 'undelivered', publisher)).catch(() => [] as string[]),
        ),
      )
    ).flat().length;
    const summary: EventsBenchSummary = {
      recordings: recordings.length,
      archived: host.progress().archived,
      fileEvents: lines.length,
      httpEvents: accepted.length,
      lost: Math.max(missing(fileRecordings), missing(httpRecordings)),
      duplicatedIds: Math.max(duplicates(fileIds), duplicates(accepted)),
      injectedFailures,
      httpRequests: requests,
      undelivered,
      wallSeconds: Math.round(wallSeconds * 10) / 10,
    };
    log(
      `events: ${summary.archived} archived → ${summary.fileEvents} in the file, ${summary.httpEvents} POSTed (${summary.injectedFailures} POSTs failed once and retried, ${summary.httpRequests} requests), ${summary.lost} lost, ${summary.duplicatedIds} duplicated ids, ${summary.undelivered} undelivered, ${summary.wallSeconds} s`,
    );
    return summary;
  } finally {
    await removeSandbox();
    await removeReceiver();
    await removeDir();
  }
}

/** Met when every archived recording has exactly one event at each destination. */
export function eventsTargetMet(summary: EventsBenchSummary): boolean {
  return (
    summary.archived === summary.recordings &&
    summary.fileEvents === summary.recordings &&
    summary.httpEvents === summary.recordings &&
    summary.lost === 0 &&
    summary.duplicatedIds === 0 &&
    summary.undelivered === 0 &&
    summary.injectedFailures === Math.floor(summary.recordings / 10)
  );
}
