import { defineProvider } from '../descriptor';
import { msgraphSourceSchema } from './msgraph-config';

declare module '../../core/recording' {
  interface ProviderNames {
    msgraph: true;
  }
}

/** The Graph calling bot: a recording exists only as the grant in one notification. */
export const msGraphProvider = defineProvider({
  name: 'msgraph',
  configSchema: msgraphSourceSchema,
  // No secret: the notifications carry their own grant and are checked against Microsoft's public keys.
  capabilities: {
    list: false,
    delete: false,
    grantCarryingJobs: true,
    sharedState: false,
    subscriptionsAt: () => undefined,
  },
  // Graph batches call notifications; the adapter answers 413 only above 1 MiB.
  webhook: { maxBodyBytes: 1024 * 1024, auth: 'signed-token' },
  worker: {
    // One job per invocation, at once: its download token expires minutes after the call.
    batchSize: 1,
    ownWorker: {
      id: 'GraphWorker',
      description:
        'callvault Graph bot worker: fetches each recording at once, before its download token expires',
    },
  },
  metrics: {
    // Named for what an operator watches: failed recording operations, refused locations.
    webhookCounts: {
      recordingsEnqueued: 'GraphRecordingsEnqueued',
      failedOperations: 'GraphFailedRecordOperations',
      completedWithoutRecording: 'GraphCompletedWithoutRecording',
      refusedLocations: 'GraphRefusedRecordingLocations',
      malformedOperations: 'GraphMalformedRecordOperations',
      ignoredNotifications: 'GraphIgnoredNotifications',
      duplicateNotifications: 'GraphDuplicateNotifications',
    },
  },
  loadAdapter: async () => {
    const { MsGraphSource } = await import('./msgraph-source');
    return (config, _credentials, { clock, log }) => new MsGraphSource({ config, clock, log });
  },
});
