import { DEFAULT_RETRY_POLICY, type RetryPolicy } from '../../core/retry-policy';
import { defineProvider } from '../descriptor';
import { type MsTeamsSourceConfig, msTeamsCredentialsSchema, msTeamsSourceSchema } from './msteams-config';

declare module '../../core/recording' {
  interface ProviderNames {
    msteams: true;
  }
}

/**
 * Receives a Teams recording job spends while Graph still answers 404 for its content (Teams processes a
 * recording for up to `contentWaitHours`): not-ready retries double from `notReadyBaseSeconds` to an hour,
 * and the receive at which the wait is over is the one where the worker dead-letters the job itself.
 */
export function receivesWhileNotReady(
  contentWaitHours: number,
  policy: RetryPolicy = DEFAULT_RETRY_POLICY,
): number {
  const waitSeconds = contentWaitHours * 3600;
  let elapsed = 0;
  let receives = 1;
  while (elapsed < waitSeconds) {
    elapsed += Math.min(policy.notReadyBaseSeconds * 2 ** (receives - 1), policy.notReadyMaxSeconds);
    receives += 1;
  }
  return receives;
}

export const msTeamsProvider = defineProvider({
  name: 'msteams',
  configSchema: msTeamsSourceSchema,
  credentials: {
    schema: msTeamsCredentialsSchema,
    // The Entra app registration's client credentials.
    operatorFields: ['clientId', 'clientSecret'],
    webhookSecretRole: "webhookSecret is the Graph subscriptions' clientState",
  },
  capabilities: {
    list: true,
    // Graph offers no delete for Teams recordings: retention never targets these sources.
    delete: false,
    grantCarryingJobs: false,
    // One Entra app token for all containers; a refusal of the app credentials stops every holder.
    sharedState: true,
    // Graph validates both subscription URLs over https before it creates anything.
    subscriptionsAt: (source: MsTeamsSourceConfig) => source.graphUrl,
  },
  webhook: { auth: 'client-state' },
  worker: {
    // One multi-GB recording per invocation: a second in the batch would start with the deadline half spent.
    batchSize: 1,
    // The longest content wait of its sources, plus `worker.maxReceiveCount` for transient faults on the way.
    maxReceiveCount: (configured, sources) =>
      receivesWhileNotReady(Math.max(0, ...sources.map((source) => source.contentWaitHours))) + configured,
    // Sized from the bench (BENCHMARKS.md): a 4 GiB stream in one invocation, one full vCPU, 64 MiB parts.
    ownWorker: { id: 'TeamsWorker', timeoutSeconds: 900, memoryMiB: 1769, partSizeMiB: 64 },
  },
  metrics: {},
  loadAdapter: async () => {
    const { MsTeamsSource } = await import('./msteams-source');
    return (config, credentials, { clock, log, sharedState }) =>
      new MsTeamsSource({ config, credentials, clock, log, tokenStore: sharedState.tokens });
  },
});
