/**
 * A fifth provider, for tests only (never shipped): what a new provider writes is this descriptor, its
 * config schema and its adapter (README, "Adding a provider").
 */
import { defineProvider } from '../../../functions/providers/descriptor';
import { type ToySourceConfig, toyCredentialsSchema, toySourceSchema } from './toy-config';

// A shipped provider also adds its name to core's `ProviderNames` (`declare module`, as the four do).
// The toy does not: the type would reach every exhaustive table over the shipped providers' names.

/** The newest recording of every toy source; a test sets it before composing. */
export const toyPlatform = { newest: new Date() };

export const toyProvider = defineProvider({
  name: 'toy',
  title: 'Toy recordings (a test fixture; never shipped)',
  configSchema: toySourceSchema,
  credentials: {
    schema: toyCredentialsSchema,
    operatorFields: ['token'],
    webhookSecretRole: 'token is the token in the webhook URL',
  },
  capabilities: {
    list: true,
    delete: true,
    grantCarryingJobs: false,
    sharedState: false,
    subscriptionsAt: (_source: ToySourceConfig) => undefined,
  },
  webhook: { auth: 'url-token' },
  worker: { batchSize: 2 },
  metrics: { webhookCounts: { pings: 'ToyWebhookPings' } },
  loadAdapter: async () => {
    const { ToySource } = await import('./toy-source');
    return (config, credentials) => new ToySource(config, credentials, toyPlatform.newest);
  },
});
