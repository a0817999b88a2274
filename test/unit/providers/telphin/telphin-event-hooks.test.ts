import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../../functions/config';
import { silentLog } from '../../../../functions/core/ports';
import { type LocalHost, startLocalHost } from '../../../../functions/local/local-host';
import {
  startTelphinSandbox,
  type TelphinSandbox,
  telphinHangupWebhookBody,
} from '../../../../sandbox/providers/telphin-sandbox';

const SECRET = 'telphin-hooks-secret-0123456789';

describe('Telphin manageWebhooks', () => {
  let sandbox: TelphinSandbox | undefined;
  let host: LocalHost | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await host?.stop();
    host = undefined;
    await sandbox?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function start(secret: string, stateDir: string, rc: TelphinSandbox, port: number) {
    return startLocalHost({
      config: parseConfig({
        sources: [
          {
            provider: 'telphin',
            id: 'office',
            apiUrl: rc.url,
            clientId: rc.clientId,
            clientSecret: rc.clientSecret,
            webhookSecret: secret,
            scope: { extensions: ['101', '102'] },
            manageWebhooks: true,
            allowedDownloadHosts: [new URL(rc.url).hostname, new URL(rc.storageOrigin).hostname],
          },
        ],
        local: { port, archiveDir: join(stateDir, 'archive'), stateDir },
      }),
      log: silentLog,
      publicUrl: 'server',
      scheduleSweep: false,
    });
  }

  it('keeps one POST hangup hook per extension at our URL with the token, and replaces them when the secret changes', async () => {
    // Prepare: an existing integration's hook, which must never be touched.
    sandbox = await startTelphinSandbox();
    dir = await mkdtemp(join(tmpdir(), 'callvault-telphin-hooks-'));
    const foreign = await fetch(`${sandbox.url}/api/ver1.0/extension/101/event/`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await tokenOf(sandbox)}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ url: 'https://crm.example.com/hook', method: 'GET', event_type: 'hangup' }),
    });
    expect(foreign.status).toBe(200);

    // Act: start-up check, a second check, then a new secret.
    host = await start(SECRET, dir, sandbox, 0);
    const port = Number(new URL(host.webhookUrl).port);
    await host.idle();
    const first = sandbox.eventHooks();
    const again = await host.subscriptionsNow();
    await host.stop();
    host = await start(`${SECRET}-rotated`, dir, sandbox, port);
    await host.idle();
    const rotated = sandbox.eventHooks();

    // Assess
    const ours = (hooks: typeof first) => hooks.filter((hook) => !hook.url.startsWith('https://crm.'));
    expect(ours(first).map((hook) => [hook.extension_id, hook.method, hook.event_type])).toEqual([
      [101, 'POST', 'hangup'],
      [102, 'POST', 'hangup'],
    ]);
    expect(ours(first).every((hook) => hook.url.endsWith(`/webhooks/telphin/office?token=${SECRET}`))).toBe(
      true,
    );
    expect(again?.reports[0]).toMatchObject({ created: [], deleted: [] });
    expect(again?.reports[0]?.kept).toHaveLength(2);
    expect(ours(rotated)).toHaveLength(2);
    expect(ours(rotated).every((hook) => hook.url.endsWith(`token=${SECRET}-rotated`))).toBe(true);
    expect(rotated.filter((hook) => hook.url.startsWith('https://crm.'))).toHaveLength(1);

    // What callvault recorded of them holds no token.
    const records = await readFile(join(dir, 'subscriptions', 'office.json'), 'utf8');
    expect(records).toContain('/webhooks/telphin/office');
    expect(records).not.toContain(SECRET);

    // The hook's URL is one our webhook accepts.
    const recording = sandbox.addRecording({ startedAt: new Date(Date.now() - 60_000), durationSeconds: 30 });
    const delivered = await fetch(ours(rotated)[0]?.url ?? '', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: telphinHangupWebhookBody(recording),
    });
    expect(delivered.status).toBe(200);
  });
});

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
