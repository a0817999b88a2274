/**
 * The Graph calling bot's whole path in local mode (`npm start`): the webhook server, the in-process
 * queue, the archive folder. A signed notification ends as a verified copy, a forged one is refused, an
 * expired grant ends as a dead-letter file without the token and a record status counts, and status
 * shows the source as webhook-only.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/config';
import type { Log } from '../../functions/core/ports';
import { type LocalHost, startLocalHost } from '../../functions/local/local-host';
import { localStatusDependencies } from '../../functions/ops/status-dependencies';
import { collectStatus } from '../../functions/ops/status-report';
import { formatStatus } from '../../functions/ops/status-table';
import { type GraphSandbox, startGraphSandbox } from '../../sandbox/providers/graph-calling-bot-sandbox';

const SOURCE_ID = 'teams-bot';

function collectingLog(): Log & { text(): string } {
  const lines: string[] = [];
  const at = (level: string) => (message: string, attributes?: Record<string, unknown>) =>
    void lines.push(JSON.stringify({ level, message, ...attributes }));
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    text: () => lines.join('\n'),
  };
}

async function filesUnder(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name).slice(root.length + 1))
    .sort();
}

describe('msgraph in local mode', () => {
  let dir: string;
  let sandbox: GraphSandbox;
  let host: LocalHost | undefined;
  let log: ReturnType<typeof collectingLog>;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'callvault-msgraph-local-'));
    sandbox = await startGraphSandbox({ host: '127.0.0.1' });
    log = collectingLog();
  });
  afterEach(async () => {
    await host?.stop();
    host = undefined;
    await sandbox.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** `bothSigners`: the sandbox's Bot Framework and Entra signers, as the default lists Microsoft's two. */
  const config = (options: { bothSigners?: boolean } = {}) =>
    parseConfig({
      sources: [
        {
          provider: 'msgraph',
          id: SOURCE_ID,
          botAppId: sandbox.botAppId,
          tenantId: sandbox.tenantId,
          ...(options.bothSigners
            ? { notificationSigners: sandbox.notificationSigners }
            : { openIdConfigurationUrl: sandbox.openIdConfigurationUrl }),
          allowedDownloadHosts: [sandbox.recordingHostPort],
          mediaPersistenceApproved: true,
        },
      ],
      local: { port: 0, archiveDir: join(dir, 'archive'), stateDir: join(dir, 'state') },
      worker: { concurrency: 2 },
    });

  async function post(body: string, token: string): Promise<number> {
    if (!host) throw new Error('no host');
    const response = await fetch(`${host.webhookUrl}/webhooks/msgraph/${SOURCE_ID}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body,
    });
    await response.arrayBuffer();
    return response.status;
  }

  it('archives a signed notification, refuses a forged one, dead-letters an expired grant without its token, and status shows all three', async () => {
    // Prepare
    host = await startLocalHost({ config: config(), log });
    const [kept, forgedOne, lost] = [0, 1, 2].map(() => sandbox.addRecording({ size: 500_000 }));
    if (!kept || !forgedOne || !lost) throw new Error('no recordings');
    const token = await sandbox.signNotificationToken();

    // Act
    const accepted = await post(sandbox.completedNotification(kept), token);
    const forged = await post(
      sandbox.completedNotification(forgedOne),
      await sandbox.signNotificationToken({ fault: 'wrong-tenant' }),
    );
    await host.idle();
    sandbox.discard(lost.operationId);
    const acceptedLost = await post(sandbox.completedNotification(lost), token);
    await host.idle();
    await host.stop();
    host = undefined;

    // Assess: one verified copy with its sidecar, nothing else under recordings/.
    expect([accepted, forged, acceptedLost]).toEqual([202, 403, 202]);
    const archived = await filesUnder(join(dir, 'archive', 'recordings'));
    expect(archived).toHaveLength(2);
    expect(archived[0]).toMatch(
      new RegExp(`^msgraph/${SOURCE_ID}/\\d{4}/\\d{2}/\\d{2}/${kept.operationId}\\.wav$`),
    );
    const sidecar = await readFile(join(dir, 'archive', 'recordings', `${archived[0]}.json`), 'utf8');
    expect(JSON.parse(sidecar)).toMatchObject({ sha256: kept.sha256 });
    // The expired grant: a dead-letter file and an audit record, neither holding the token.
    const letters = await filesUnder(join(dir, 'state', 'dead-letter'));
    expect(letters).toHaveLength(1);
    const letter = await readFile(join(dir, 'state', 'dead-letter', letters[0] ?? ''), 'utf8');
    expect(JSON.parse(letter)).toMatchObject({ code: 'EXPIRED_BEFORE_FETCH', attempts: 1 });
    const records = await filesUnder(join(dir, 'archive', 'audit', 'expired-before-fetch'));
    expect(records).toEqual([expect.stringMatching(new RegExp(`/${lost.operationId}\\.wav\\.json$`))]);
    const record = await readFile(
      join(dir, 'archive', 'audit', 'expired-before-fetch', records[0] ?? ''),
      'utf8',
    );
    for (const text of [sidecar, letter, record, log.text()]) {
      for (const recording of [kept, forgedOne, lost])
        expect(text).not.toContain(recording.recordingAccessToken);
    }
    // Nothing was saved for a later run.
    expect(await filesUnder(join(dir, 'state'))).not.toContain('pending-jobs.json');
    expect(log.text()).toContain('sweep skips a webhook-only source');

    // Status: webhook-only, per day received, archived and expired-before-fetch.
    const report = await collectStatus(
      localStatusDependencies({ config: config(), days: 2, checkRunningHost: false }),
    );
    const [source] = report.sources;
    expect(source).toMatchObject({
      provider: 'msgraph',
      sourceId: SOURCE_ID,
      webhookOnly: true,
      daysWithMissing: [],
    });
    const total = (pick: (day: NonNullable<typeof source>['days'][number]) => number | undefined) =>
      (source?.days ?? []).reduce((sum, day) => sum + (pick(day) ?? 0), 0);
    expect(total((day) => day.received)).toBe(2);
    expect(total((day) => day.archived.count)).toBe(1);
    expect(total((day) => day.expiredBeforeFetch)).toBe(1);
    expect(source?.days.every((day) => day.atSource === undefined)).toBe(true);
    const table = formatStatus(report);
    expect(table).toContain('webhook-only source');
    expect(table).toContain('expired-before-fetch');
    for (const recording of [kept, forgedOne, lost])
      expect(table).not.toContain(recording.recordingAccessToken);
  });

  it('archives an Entra-signed notification in the older form (no resourceData.id, `resource`) under the usual key', async () => {
    // Prepare
    host = await startLocalHost({ config: config({ bothSigners: true }), log });
    const recording = sandbox.addRecording({ size: 300_000 });
    const body = sandbox.completedNotification(recording, undefined, 'older');
    expect(body).not.toContain('"resourceUrl"');

    // Act
    const status = await post(body, await sandbox.signNotificationToken({ signer: 'azure-ad' }));
    await host.idle();

    // Assess
    expect(status).toBe(202);
    const archived = await filesUnder(join(dir, 'archive', 'recordings'));
    expect(archived).toEqual([
      expect.stringMatching(new RegExp(`/${recording.operationId}\\.wav$`)),
      expect.stringMatching(new RegExp(`/${recording.operationId}\\.wav\\.json$`)),
    ]);
    const sidecar = await readFile(join(dir, 'archive', 'recordings', `${archived[0]}.json`), 'utf8');
    expect(JSON.parse(sidecar)).toMatchObject({ sha256: recording.sha256 });
    expect(sandbox.counters.azureAdKeyRequests).toBe(2);
  });

  it('ends a granted job saved by a stopped host as EXPIRED_BEFORE_FETCH on the next start, never saving its token', async () => {
    // Prepare: the host stops before its worker could take the job.
    const first = await startLocalHost({
      config: { ...config(), worker: { ...config().worker, concurrency: 1 } },
      log,
    });
    host = first;
    const blocker = sandbox.addRecording({ size: 2_000_000 });
    const recording = sandbox.addRecording();
    sandbox.injectFault({ kind: 'slow-body', bytesPerSecond: 200_000 }, { routes: ['recording'], times: 1 });
    const token = await sandbox.signNotificationToken();
    await post(sandbox.completedNotification(blocker), token);
    await post(sandbox.completedNotification(recording), token);

    // Act
    await first.stop();
    host = undefined;
    const saved = await readFile(join(dir, 'state', 'pending-jobs.json'), 'utf8');
    host = await startLocalHost({ config: config(), log });
    await host.idle();

    // Assess
    expect(saved).not.toContain(recording.recordingAccessToken);
    expect(saved).not.toContain(blocker.recordingAccessToken);
    const letters = await filesUnder(join(dir, 'state', 'dead-letter'));
    const codes = await Promise.all(
      letters.map(
        async (name) => JSON.parse(await readFile(join(dir, 'state', 'dead-letter', name), 'utf8')).code,
      ),
    );
    expect(codes).toContain('EXPIRED_BEFORE_FETCH');
    expect(codes.every((code) => code === 'EXPIRED_BEFORE_FETCH')).toBe(true);
  });
});
