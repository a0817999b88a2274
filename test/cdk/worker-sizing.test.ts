/** The archive workers the descriptors ask for: which queues each consumes, and how each is sized. */
import { describe, expect, it } from 'vitest';
import { ARCHIVE_WORKER_ID, consumerTimeout, workerPlans } from '../../cdk/worker-sizing';
import { parseConfig } from '../../functions/config';
import { graphCallingBotProvider } from '../../functions/providers/graph-calling-bot/descriptor';
import { teamsRecordingsProvider } from '../../functions/providers/teams-recordings/descriptor';

describe('workerPlans', () => {
  it('shares one worker among the providers without one of their own, and gives the others theirs', () => {
    const config = parseConfig({ sources: [{ provider: 'telphin', id: 'hq' }] });
    const plans = workerPlans(config, ['msteams', 'telphin', 'msgraph', 'ringcentral']);
    expect(plans.map((plan) => [plan.id, plan.providers])).toEqual([
      [ARCHIVE_WORKER_ID, ['telphin', 'ringcentral']],
      [teamsRecordingsProvider.worker.ownWorker?.id, ['msteams']],
      [graphCallingBotProvider.worker.ownWorker?.id, ['msgraph']],
    ]);
    expect(plans.map((plan) => plan.serviceName)).toEqual([
      'callvault-archive-worker',
      'callvault-teams-worker',
      'callvault-graph-worker',
    ]);
  });

  it('builds the shared worker even with no queue to consume; it reads secrets (no grant-carrying jobs)', () => {
    const config = parseConfig({ sources: [{ provider: 'telphin', id: 'hq' }] });
    const [shared, graph] = workerPlans(config, ['msgraph']);
    expect(shared).toMatchObject({ id: ARCHIVE_WORKER_ID, providers: [], grantCarryingJobs: false });
    expect(graph).toMatchObject({
      providers: ['msgraph'],
      grantCarryingJobs: true,
      recordsAdminErrors: false,
    });
  });

  it('sizes an own worker from its descriptor, keeping a config figure that asks for more', () => {
    const own = teamsRecordingsProvider.worker.ownWorker;
    const teamsPlan = (worker: object) => {
      const plan = workerPlans(parseConfig({ sources: [{ provider: 'telphin', id: 'hq' }], worker }), [
        'msteams',
      ])[1];
      if (!plan) throw new Error('expected the Teams worker');
      return plan;
    };
    expect(teamsPlan({})).toMatchObject({
      memoryMiB: own?.memoryMiB,
      partSizeMiB: own?.partSizeMiB,
      recordsAdminErrors: true,
    });
    expect(teamsPlan({}).timeout.toSeconds()).toBe(own?.timeoutSeconds);
    expect(teamsPlan({ memoryMiB: 4096, partSizeMiB: 128, timeoutSeconds: 300 })).toMatchObject({
      memoryMiB: 4096,
      partSizeMiB: 128,
    });
    // The timeout is the descriptor's, whatever worker.timeoutSeconds says: a 4 GiB stream needs it.
    expect(teamsPlan({ timeoutSeconds: 300 }).timeout.toSeconds()).toBe(own?.timeoutSeconds);
  });

  it('gives each queue the timeout of the worker consuming it', () => {
    const config = parseConfig({
      sources: [{ provider: 'telphin', id: 'hq' }],
      worker: { timeoutSeconds: 120 },
    });
    const plans = workerPlans(config, ['telphin', 'msteams']);
    expect(consumerTimeout(plans, 'telphin').toSeconds()).toBe(120);
    expect(consumerTimeout(plans, 'msteams').toSeconds()).toBe(900);
    expect(() => consumerTimeout(plans, 'ringcentral')).toThrow(/no worker consumes the ringcentral queue/);
  });
});
