/**
 * The adapter inside callvault's own use cases: a notification through the webhook server becomes a hint
 * job, which survives the queue's serialisation, is resolved by the worker into a recording job, and is
 * archived to a local folder store with its sidecar. Nothing here is wired into the configuration.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FsArchiveStore } from '../../../../functions/adapters/fs-archive-store';
import {
  FsExpiredBeforeFetchLog,
  FsGoneAtSourceLog,
} from '../../../../functions/adapters/gone-at-source-logs';
import { ensureSubscriptionsForSource } from '../../../../functions/core/ensure-subscriptions-for-source';
import { handleArchiveJob, type JobDependencies } from '../../../../functions/core/handle-job';
import { type ArchiveJob, parseJob, serialiseJob } from '../../../../functions/core/jobs';
import { sweepSource } from '../../../../functions/core/sweep-source';
import {
  MSTEAMS_RENEW_BEFORE_MS,
  teamsRecordingsSubscriptionFilters,
} from '../../../../functions/providers/teams-recordings/teams-recordings-subscriptions';
import { fixedSourceRegistry } from '../../../support/fixed-source-registry';
import {
  capturingQueue,
  DAY,
  DAY_WINDOW,
  SOURCE_ID,
  startHarness,
  type TeamsHarness,
  WEBHOOK_SECRET,
} from './teams-recordings-fixture';

describe('Teams recordings through the pipeline', () => {
  let harness: TeamsHarness | undefined;
  let root: string | undefined;
  afterEach(async () => {
    await harness?.close();
    harness = undefined;
    if (root) await rm(root, { recursive: true, force: true });
    root = undefined;
  });

  async function worker(h: TeamsHarness) {
    root = await mkdtemp(join(tmpdir(), 'callvault-msteams-'));
    const queue = capturingQueue();
    const deps: JobDependencies = {
      sources: fixedSourceRegistry([{ provider: 'msteams', id: SOURCE_ID }], () => h.source),
      store: new FsArchiveStore({ root: join(root, 'archive') }),
      queue,
      goneAtSource: new FsGoneAtSourceLog({ root: join(root, 'archive') }),
      expiredBeforeFetch: new FsExpiredBeforeFetchLog({ root: join(root, 'archive') }),
      clock: { now: () => new Date() },
      log: h.log,
    };
    /** Runs every job, and every job they enqueue, as the worker would. */
    const drain = async (jobs: ArchiveJob[]) => {
      const outcomes = [];
      const pending = [...jobs];
      while (pending.length > 0) {
        const job = parseJob(serialiseJob(pending.shift() as ArchiveJob));
        queue.jobs.length = 0;
        outcomes.push(await handleArchiveJob(job, deps));
        pending.push(...queue.jobs);
      }
      return outcomes;
    };
    return { deps, drain, queue };
  }

  it('archives a notified meeting recording under its createdDateTime with a sidecar holding the full id', async () => {
    // Prepare
    harness = await startHarness();
    await ensureSubscriptionsForSource(
      {
        sourceId: SOURCE_ID,
        address: harness.webhookUrl,
        filters: teamsRecordingsSubscriptionFilters(harness.config.recordings),
        secret: WEBHOOK_SECRET,
        renewBeforeMs: MSTEAMS_RENEW_BEFORE_MS,
      },
      {
        api: harness.source.subscriptionApi(),
        records: { load: async () => [], save: async () => {} },
        clock: { now: () => new Date() },
        log: harness.log,
      },
    );
    const meeting = harness.sandbox.addRecording({
      organizerId: harness.bob.id,
      createdAt: DAY,
      size: 700_000,
    });
    await harness.sandbox.notifyRecording(meeting.id);
    const { deps, drain } = await worker(harness);

    // Act
    const outcomes = await drain(harness.queue.jobs);
    const again = await drain(harness.queue.jobs);

    // Assess
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['hint-resolved', 'archived']);
    expect(again.map((outcome) => outcome.status)).toEqual(['hint-resolved']);
    const key = (outcomes[1] as { key: string }).key;
    expect(key).toMatch(/^recordings\/msteams\/contoso-teams\/2024\/03\/12\/[A-Za-z0-9._-]+\.mp4$/);
    const copy = await deps.store.inspect(key);
    expect(copy).toMatchObject({
      size: 700_000,
      hasSidecar: true,
      sha256: harness.sandbox.expectedSha256(meeting.id),
    });
    const sidecar = await deps.store.readSidecar(key);
    expect(sidecar).toMatchObject({
      provider: 'msteams',
      recordingId: meeting.id,
      contentType: 'video/mp4',
      raw: {
        kind: 'meeting',
        meetingId: meeting.containerId,
        contentCorrelationId: meeting.contentCorrelationId,
      },
    });
  });

  it('records an expired recording the sweep listed as gone at the source, without failing the job', async () => {
    // Prepare
    harness = await startHarness();
    const call = harness.sandbox.addRecording({
      kind: 'adhocCalls',
      organizerId: harness.alice.id,
      createdAt: DAY,
    });
    const { deps, drain } = await worker(harness);
    const sweepQueue = capturingQueue();
    const swept = await sweepSource(harness.source, DAY_WINDOW, { ...deps, queue: sweepQueue });
    harness.sandbox.expire(call.id);

    // Act
    const outcomes = await drain(sweepQueue.jobs);

    // Assess
    expect(swept).toMatchObject({ listed: 1, enqueued: 1 });
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['gone-at-source']);
  });
});
