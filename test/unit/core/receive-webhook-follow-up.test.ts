/**
 * `afterAccepted`: the host's hook for work a delivery asks for beyond its jobs (Teams' lifecycle
 * events). It sees accepted deliveries only, and its failure never changes the answer.
 */
import { describe, expect, it } from 'vitest';
import type { ArchiveJob } from '../../../functions/core/jobs';
import type { RecordingSource, WebhookOutcome } from '../../../functions/core/ports';
import { receiveWebhook } from '../../../functions/core/receive-webhook';
import { fixedSourceRegistry } from '../../support/fixed-source-registry';
import { recordingLog } from '../providers/teams-recordings/teams-recordings-fixture';

const request = { method: 'POST', query: {}, headers: {}, body: '{}' };

function setUp(status: number) {
  const outcome: WebhookOutcome & { lifecycle: unknown[] } = {
    response: { status, body: '' },
    jobs: [],
    lifecycle: [{ event: 'missed', subscriptionId: 's1', action: 'sweep-now' }],
  };
  const source = { provider: 'msteams', sourceId: 'teams', handleWebhook: async () => outcome };
  const enqueued: ArchiveJob[] = [];
  const log = recordingLog();
  return {
    outcome,
    enqueued,
    log,
    deps: {
      sources: fixedSourceRegistry(
        [{ provider: 'msteams', id: 'teams' }],
        () => source as unknown as RecordingSource,
      ),
      queue: { enqueue: async (jobs: ArchiveJob[]) => void enqueued.push(...jobs) },
      log,
    },
  };
}

describe('receiveWebhook afterAccepted', () => {
  it('hands an accepted delivery on before answering', async () => {
    const { deps, outcome } = setUp(202);
    const seen: unknown[] = [];
    const response = await receiveWebhook('msteams', 'teams', request, {
      ...deps,
      afterAccepted: (provider, sourceId, accepted) => void seen.push({ provider, sourceId, accepted }),
    });
    expect(response.status).toBe(202);
    expect(seen).toEqual([{ provider: 'msteams', sourceId: 'teams', accepted: outcome }]);
  });

  it('does not hand on a delivery the source refused', async () => {
    const { deps } = setUp(403);
    const seen: unknown[] = [];
    const response = await receiveWebhook('msteams', 'teams', request, {
      ...deps,
      afterAccepted: () => void seen.push(1),
    });
    expect(response.status).toBe(403);
    expect(seen).toEqual([]);
  });

  it('keeps the answer when the hand-off fails, and logs it with an errorCode', async () => {
    const { deps, log } = setUp(202);
    const response = await receiveWebhook('msteams', 'teams', request, {
      ...deps,
      afterAccepted: async () => {
        throw new Error('Lambda throttled the invoke');
      },
    });
    expect(response.status).toBe(202);
    expect(log.lines).toContainEqual(
      expect.objectContaining({
        level: 'error',
        attributes: expect.objectContaining({ errorCode: 'WEBHOOK_FOLLOW_UP_FAILED' }),
      }),
    );
  });
});
