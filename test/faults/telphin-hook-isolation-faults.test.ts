/**
 * One Telphin extension whose event hook cannot be created (its hook limit is taken by other integrations)
 * must not cost the other extensions theirs: the others get their hook and archive by webhook, the run
 * is recorded as partial with the extension and the reason, and `npm run status` names it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FsRunLedger } from '../../functions/adapters/run-ledgers';
import { type CallvaultConfig, parseConfig } from '../../functions/config';
import { silentLog } from '../../functions/core/ports';
import { consoleLog } from '../../functions/local/console-log';
import { type LocalHost, startLocalHost } from '../../functions/local/local-host';
import { localStatusDependencies } from '../../functions/ops/status-dependencies';
import { collectStatus } from '../../functions/ops/status-report';
import { formatStatus } from '../../functions/ops/status-table';
import {
  startTelphinSandbox,
  type TelphinSandbox,
  telphinHangupWebhookBody,
} from '../../sandbox/providers/telphin-sandbox';

const SECRET = 'telphin-isolation-secret-0123456789';

async function tokenOf(sandbox: TelphinSandbox): Promise<string> {
  const response = await fetch(`${sandbox.url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: sandbox.clientId,
      client_secret: sandbox.clientSecret,
    }).toString(),
  });
  return ((await response.json()) as { access_token: string }).access_token;
}

describe('Telphin: one extension whose hook fails', () => {
  let sandbox: TelphinSandbox | undefined;
  let host: LocalHost | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await host?.stop();
    host = undefined;
    await sandbox?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the other extensions get their hook and archive by webhook; the refused one is recorded and shown', async () => {
    // Prepare: extension 101 already holds as many hooks as Telphin allows, all another integration's.
    const telphin = await startTelphinSandbox();
    sandbox = telphin;
    const root = await mkdtemp(join(tmpdir(), 'callvault-telphin-isolation-'));
    dir = root;
    const token = await tokenOf(telphin);
    for (let i = 0; i < 10; i += 1) {
      const taken = await fetch(`${telphin.url}/api/ver1.0/extension/101/event/`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          url: `https://crm.example.com/hook/${i}`,
          method: 'GET',
          event_type: 'hangup',
        }),
      });
      expect(taken.status).toBe(200);
    }
    const config: CallvaultConfig = parseConfig({
      sources: [
        {
          provider: 'telphin',
          id: 'office',
          apiUrl: telphin.url,
          clientId: telphin.clientId,
          clientSecret: telphin.clientSecret,
          webhookSecret: SECRET,
          scope: { extensions: ['101', '102', '103'] },
          manageWebhooks: true,
          allowedDownloadHosts: [new URL(telphin.url).hostname, new URL(telphin.storageOrigin).hostname],
        },
      ],
      local: { port: 0, archiveDir: join(root, 'archive'), stateDir: root },
    });

    // Act: the start-up check, then a call on an extension that has its hook.
    host = await startLocalHost({
      config,
      log: process.env.FAULTS_VERBOSE ? consoleLog({ level: 'debug' }) : silentLog,
      publicUrl: 'server',
      scheduleSweep: false,
      retryPolicy: {
        notReadyBaseSeconds: 1,
        notReadyMaxSeconds: 1,
        transientBaseSeconds: 1,
        transientMaxSeconds: 1,
      },
    });
    await host.idle();
    const ours = telphin.eventHooks().filter((hook) => !hook.url.startsWith('https://crm.'));
    const recording = telphin.addRecording({
      startedAt: new Date(Date.now() - 60_000),
      durationSeconds: 30,
      extensionId: 102,
    });
    const delivered = await fetch(ours[0]?.url ?? '', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: telphinHangupWebhookBody(recording),
    });
    await host.idle();

    // Assess: 102 and 103 have their hook, 101 none of ours, and the foreign hooks are untouched.
    expect(ours.map((hook) => hook.extension_id).sort()).toEqual([102, 103]);
    expect(telphin.eventHooks().filter((hook) => hook.url.startsWith('https://crm.'))).toHaveLength(10);
    expect(delivered.status).toBe(200);
    expect(host.progress().archived).toBe(1);
    const run = await new FsRunLedger({ root: join(root, 'archive') }).last('subscriptions', 'office');
    expect(run?.outcome).toBe('partial');
    expect(run?.summary.failed).toEqual([
      expect.objectContaining({
        filter: 'hangup@101',
        reason: expect.stringContaining('Event limit exceeded'),
      }),
    ]);
    expect(run?.summary.active).toHaveLength(2);
    const text = formatStatus(await collectStatus(localStatusDependencies({ config, days: 1 })));
    expect(text).toMatch(/subscriptions: +2 active, .*! not put right: hangup@101 \(.*Event limit exceeded/);
  }, 60_000);
});
