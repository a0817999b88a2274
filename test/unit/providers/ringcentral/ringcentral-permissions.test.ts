import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FsRunLedger } from '../../../../functions/adapters/run-ledgers';
import type { WebhookSubscriptionPlan } from '../../../../functions/core/ports';
import { FsArchiveListing } from '../../../../functions/ops/archive-listing';
import { collectStatus } from '../../../../functions/ops/status-report';
import { formatStatus } from '../../../../functions/ops/status-table';
import { parseRingCentralSubscription } from '../../../../functions/providers/ringcentral/ringcentral-subscriptions';
import { ALL_APP_PERMISSIONS } from '../../../../sandbox/providers/ringcentral-sandbox';
import { collect, JAN_2024, JAN_WINDOW, type RingCentralHarness, startHarness } from './ringcentral-fixture';

/** A receiver that passes RingCentral's handshake (echoes Validation-Token) and nothing else. */
async function startEchoServer(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      const token = request.headers['validation-token'];
      response
        .writeHead(200, {
          'content-type': 'application/json',
          ...(typeof token === 'string' ? { 'validation-token': token } : {}),
        })
        .end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const without = (...missing: string[]) => ALL_APP_PERMISSIONS.filter((name) => !missing.includes(name));

describe('RingCentral app permissions', () => {
  let harness: RingCentralHarness | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await harness?.sandbox.close();
    harness = undefined;
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('names a missing CallControl at login and in the set-up check; the sandbox refuses the telephony-sessions subscription without it', async () => {
    // Prepare: an app with every permission but CallControl (the README used to list none).
    harness = await startHarness({ sandbox: { appPermissions: without('CallControl') } });
    harness.sandbox.addCall({ startedAt: JAN_2024 });
    const plan = (await harness.source.webhookSubscriptions()) as WebhookSubscriptionPlan;

    // Act
    const problems = await harness.source.setupProblems();
    const listed = await collect(harness.source.listRecordings(JAN_WINDOW));
    const created = await plan.api
      .create({ address: 'http://127.0.0.1:9/hook', filter: plan.filters[0] ?? '', secret: plan.secret })
      .catch((error: unknown) => error as Error);

    // Assess: named once at login, reported by the check, and the rest of the work goes on.
    expect(problems).toEqual([
      {
        code: 'RINGCENTRAL_PERMISSION_MISSING',
        message: expect.stringContaining('lacks the CallControl permission'),
      },
    ]);
    const logged = harness.log.lines.filter(
      (line) => line.attributes?.errorCode === 'RINGCENTRAL_PERMISSION_MISSING',
    );
    expect(logged.map((line) => [line.level, line.attributes?.permission])).toEqual([
      ['error', 'CallControl'],
    ]);
    expect(listed).toHaveLength(1);
    expect(created).toBeInstanceOf(Error);
    expect((created as Error).message).toMatch(/HTTP 403.*\[CallControl\]/);
    expect(harness.sandbox.subscriptions()).toEqual([]);
    expect(harness.sandbox.counters.handshakes).toBe(0);
  });

  it('takes a subscription created with its telephony-sessions filter disabled for a failure, and removes it', async () => {
    // Prepare: the other way RingCentral might answer a filter the app lacks the permission for.
    harness = await startHarness({
      sandbox: { appPermissions: without('CallControl'), unpermittedFilter: 'disable' },
    });
    const hook = await startEchoServer();
    const plan = (await harness.source.webhookSubscriptions()) as WebhookSubscriptionPlan;

    // Act
    const created = await plan.api
      .create({ address: hook.url, filter: plan.filters[0] ?? '', secret: plan.secret })
      .catch((error: unknown) => error as Error)
      .finally(() => hook.close());

    // Assess
    expect(created).toBeInstanceOf(Error);
    expect((created as Error).message).toMatch(/event filter disabled.*\[CallControl\]/);
    expect(harness.sandbox.subscriptions()).toEqual([]);
    expect(
      parseRingCentralSubscription({
        id: 's',
        status: 'Active',
        eventFilters: ['/restapi/v1.0/account/~/telephony/sessions'],
        disabledFilters: [{ filter: '/restapi/v1.0/account/~/telephony/sessions', reason: 'x' }],
        deliveryMode: { transportType: 'WebHook', address: 'https://x.example/h' },
      })?.status,
    ).toBe('other');
  });

  it('asks only for what the source uses: webhooks need SubscriptionWebhook and CallControl, deletes EditCallLog', async () => {
    // Prepare: an app with only the read permissions.
    harness = await startHarness({
      sandbox: { appPermissions: ['ReadCallLog', 'ReadCallRecording', 'ReadAccounts'] },
      webhookSecret: null,
    });
    const reader = harness.source;
    const deleter = harness.sibling({ deletesAtSource: true });
    const call = harness.sandbox.addCall({ startedAt: JAN_2024 });

    // Act
    const readerProblems = await reader.setupProblems();
    const deleterProblems = await deleter.setupProblems();
    const [recording] = await collect(reader.listRecordings(JAN_WINDOW));
    const refusedDelete = await deleter.deleteRecording(recording!).catch((error: unknown) => error as Error);

    // Assess
    expect(readerProblems).toEqual([]);
    expect(deleterProblems.map((problem) => problem.message)).toEqual([
      expect.stringContaining('lacks the EditCallLog permission, needed for deleting recordings'),
    ]);
    expect((refusedDelete as Error).message).toMatch(/HTTP 403.*\[EditCallLog\]/);
    expect(harness.sandbox.deletedRecordingIds()).toEqual([]);
    expect(call.recording?.id).toBe(recording?.recordingId);
  });

  it('the sandbox enforces each endpoint permission and reports the granted ones as scope', async () => {
    // Prepare
    harness = await startHarness({ sandbox: { appPermissions: ['ReadAccounts', 'SubscriptionWebhook'] } });

    // Act
    const problems = await harness.source.setupProblems();
    const listing = await collect(harness.source.listRecordings(JAN_WINDOW)).catch(
      (error: unknown) => error as Error,
    );

    // Assess
    expect(problems.map((problem) => /lacks the (\w+)/.exec(problem.message)?.[1])).toEqual([
      'ReadCallLog',
      'ReadCallRecording',
      'CallControl',
    ]);
    expect((listing as Error).message).toMatch(/HTTP 403.*\[ReadCallLog\]/);
  });

  it('npm run status shows the missing permission under the source, with the fix', async () => {
    // Prepare
    harness = await startHarness({ sandbox: { appPermissions: without('CallControl', 'EditCallLog') } });
    dir = await mkdtemp(join(tmpdir(), 'callvault-rc-perm-'));
    const source = harness.source;

    // Act
    const report = await collectStatus({
      mode: 'local',
      archiveLabel: dir,
      sources: [{ provider: 'ringcentral', sourceId: source.sourceId, open: async () => source }],
      archive: new FsArchiveListing(dir),
      ledger: new FsRunLedger({ root: dir }),
      queues: async () => [],
      now: new Date(),
      days: 1,
    });
    const text = formatStatus(report);

    // Assess: EditCallLog is not asked for, since this source does not delete.
    expect(report.sources[0]?.setupProblems?.map((problem) => problem.code)).toEqual([
      'RINGCENTRAL_PERMISSION_MISSING',
    ]);
    expect(text).toContain('! RingCentral app of source rc-test lacks the CallControl permission');
    expect(text).toContain('RingCentral Developer Console');
  });
});
