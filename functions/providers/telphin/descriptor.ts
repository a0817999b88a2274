import { defineProvider, WORKER_BATCH_SIZE } from '../descriptor';
import { type TelphinSourceConfig, telphinCredentialsSchema, telphinSourceSchema } from './telphin-config';

declare module '../../core/recording' {
  interface ProviderNames {
    telphin: true;
  }
}

export const telphinProvider = defineProvider({
  name: 'telphin',
  title: 'Telphin call recordings',
  configSchema: telphinSourceSchema,
  credentials: {
    schema: telphinCredentialsSchema,
    operatorFields: ['clientId', 'clientSecret'],
    webhookSecretRole: 'webhookSecret is the token in the webhook URL',
  },
  capabilities: {
    list: true,
    delete: true,
    grantCarryingJobs: false,
    sharedState: false,
    subscriptionsAt: (source: TelphinSourceConfig) => (source.manageWebhooks ? source.apiUrl : undefined),
  },
  webhook: { auth: 'url-token' },
  worker: { batchSize: WORKER_BATCH_SIZE },
  metrics: {},
  loadAdapter: async () => {
    const { TelphinSource } = await import('./telphin-source');
    return (config, credentials, { clock, log, configIndex }) =>
      new TelphinSource({ config, credentials, clock, log, configIndex });
  },
});
