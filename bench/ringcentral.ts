/**
 * RingCentral figures on the local pipeline against the RingCentral sandbox:
 * - logins per 100 archived recordings (one token shared by every worker of the process);
 * - 429s received per 100 downloads at the default Heavy budget (sandbox and config both 10 a minute);
 * - archived recordings per minute against that budget (1 Heavy request per download, plus the listing);
 * - time from hang-up to a verified copy, with the sandbox serving 404 for `notReadyMs` after hang-up and
 *   the default retry policy.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../functions/config';
import { recordingKey } from '../functions/core/keys';
import { silentLog } from '../functions/core/ports';
import { startLocalHost } from '../functions/local/local-host';
import { DEFAULT_HEAVY_PER_MINUTE } from '../functions/providers/ringcentral/ringcentral-config';
import { type SandboxCall, startRingCentralSandbox } from '../sandbox/providers/ringcentral-sandbox';
import { summarise } from './lib/stats';

export interface RingCentralBenchOptions {
  /** Recordings archived by the sweep at the default budget. */
  recordings: number;
  /** Calls hung up for the hang-up → copy figure. */
  hangUps: number;
  notReadyMs: number;
}

export interface RingCentralBenchSummary {
  heavyPerMinute: number;
  archived: number;
  logins: number;
  loginsPer100: number;
  downloads: number;
  throttled: number;
  throttledPer100Downloads: number;
  heavyRequests: number;
  elapsedSeconds: number;
  archivedPerMinute: number;
  budgetShare: number;
  notReadyMs: number;
  hangUpToCopySeconds: ReturnType<typeof summarise>;
}

function sourceConfig(sandbox: Awaited<ReturnType<typeof startRingCentralSandbox>>, heavyPerMinute: number) {
  return {
    provider: 'ringcentral',
    id: 'bench-rc',
    serverUrl: sandbox.url,
    mediaUrl: sandbox.mediaUrl,
    clientId: sandbox.clientId,
    clientSecret: sandbox.clientSecret,
    jwt: sandbox.jwt,
    webhookSecret: 'bench-ringcentral-verification-token',
    rateLimits: { heavyPerMinute },
  };
}

export async function measureRingCentral(
  options: RingCentralBenchOptions,
  log: (line: string) => void,
): Promise<{ summary: RingCentralBenchSummary; samples: Record<string, unknown> }> {
  const dir = await mkdtemp(join(tmpdir(), 'callvault-bench-rc-'));
  try {
    // 1. The sweep at the default budget.
    const budget = DEFAULT_HEAVY_PER_MINUTE;
    const sandbox = await startRingCentralSandbox({
      rateLimits: { heavy: { limit: budget, windowSeconds: 60 } },
    });
    const now = Date.now();
    sandbox.generateCalls({
      count: options.recordings,
      from: new Date(now - 20 * 3_600_000),
      to: new Date(now - 600_000),
    });
    log(`ringcentral: sweeping ${options.recordings} recordings at Heavy ${budget}/min (sandbox and config)`);
    const startedAt = Date.now();
    const host = await startLocalHost({
      config: parseConfig({
        sources: [{ ...sourceConfig(sandbox, budget), id: 'bench-rc-sweep' }],
        local: { port: 0, archiveDir: join(dir, 'sweep', 'archive'), stateDir: join(dir, 'sweep', 'state') },
        worker: { concurrency: 4 },
      }),
      log: silentLog,
      scheduleRetention: false,
    });
    await host.idle();
    const elapsedSeconds = (Date.now() - startedAt) / 1000;
    const archived = host.progress().archived;
    await host.stop();
    const heavy = sandbox.requestLog.filter((entry) => entry.group === 'heavy');
    const downloads = sandbox.requestLog.filter(
      (entry) => entry.route === 'content' && entry.method === 'GET',
    ).length;
    const throttled = sandbox.counters.throttled.heavy;
    const logins = sandbox.counters.logins;
    await sandbox.close();
    const archivedPerMinute = archived / (elapsedSeconds / 60);
    log(
      `ringcentral: ${archived} archived in ${elapsedSeconds.toFixed(1)} s (${archivedPerMinute.toFixed(2)}/min), ${heavy.length} Heavy requests, ${throttled} 429s, ${logins} logins`,
    );

    // 2. Hang-up → verified copy, content not ready for `notReadyMs`.
    const quick = await startRingCentralSandbox({
      recordingReadyDelayMs: options.notReadyMs,
      rateLimits: { heavy: { limit: 600, windowSeconds: 60 } },
    });
    const live = await startLocalHost({
      config: parseConfig({
        sources: [sourceConfig(quick, 600)],
        local: { port: 0, archiveDir: join(dir, 'live', 'archive'), stateDir: join(dir, 'live', 'state') },
        worker: { concurrency: 4 },
      }),
      log: silentLog,
      publicUrl: 'server',
      scheduleSweep: false,
      scheduleRetention: false,
    });
    await live.subscriptionsNow();
    log(
      `ringcentral: ${options.hangUps} calls hung up; content not ready for ${options.notReadyMs / 1000} s`,
    );
    const waits = await Promise.all(
      Array.from({ length: options.hangUps }, async (_, index) => {
        await new Promise((resolve) => setTimeout(resolve, index * 500));
        const call: SandboxCall = quick.startCall({ kind: 'inbound', durationSeconds: 40 });
        const hungUpAt = Date.now();
        await quick.hangUp(call.telephonySessionId);
        const key = recordingKey({
          provider: 'ringcentral',
          sourceId: 'bench-rc',
          recordingId: call.recording?.id ?? '',
          startedAt: call.startedAt,
          fileExtension: call.recording?.format ?? 'mp3',
        });
        for (;;) {
          const sidecar = await live.store.readSidecar(key).catch(() => undefined);
          if (sidecar?.sha256 === quick.expectedSha256(call.recording?.id ?? ''))
            return (Date.now() - hungUpAt) / 1000;
          if (Date.now() - hungUpAt > 15 * 60_000) throw new Error('no verified copy within 15 minutes');
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }),
    );
    await live.stop();
    await quick.close();
    const hangUpToCopySeconds = summarise(waits);
    log(`ringcentral: hang-up → verified copy p50 ${hangUpToCopySeconds.median.toFixed(1)} s`);

    return {
      summary: {
        heavyPerMinute: budget,
        archived,
        logins,
        loginsPer100: (logins / Math.max(1, archived)) * 100,
        downloads,
        throttled,
        throttledPer100Downloads: (throttled / Math.max(1, downloads)) * 100,
        heavyRequests: heavy.length,
        elapsedSeconds,
        archivedPerMinute,
        budgetShare: archivedPerMinute / budget,
        notReadyMs: options.notReadyMs,
        hangUpToCopySeconds,
      },
      samples: { hangUpToCopySeconds: waits },
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
