/**
 * The provider registry: the one place that maps a configured source to its adapter. Adding a provider
 * means its adapter folder, its source schema in the config, and one entry here.
 */
import { z } from 'zod';
import type { SourceConfig } from '../config';
import { PermanentError } from '../core/errors';
import type { Clock, Log, RecordingSource } from '../core/ports';
import type { RateGateStore, TokenStore } from '../core/shared-state';
import { MsGraphSource } from './msgraph/msgraph-source';
import { msTeamsCredentialsSchema } from './msteams/msteams-config';
import { MsTeamsSource } from './msteams/msteams-source';
import { ringCentralCredentialsSchema } from './ringcentral/ringcentral-config';
import { RingCentralSource } from './ringcentral/ringcentral-source';
import { telphinCredentialsSchema } from './telphin/telphin-credentials';
import { TelphinSource } from './telphin/telphin-source';

export interface ProviderDependencies {
  clock: Clock;
  log: Log;
  /** The source's position in the config's `sources`, so warnings can name `sources[i].field`. */
  configIndex?: number;
  /** Sessions and rate gates every worker of a source shares: in process locally, DynamoDB on AWS. */
  sharedState: { tokens: TokenStore; gates: RateGateStore };
  /** Retention deletes recordings at this source (its settings exist and are not a dry run). */
  deletesAtSource?: boolean;
}

interface ProviderEntry<Config extends SourceConfig, Credentials> {
  /** The secret values the adapter needs; missing or malformed fields are named in the error. */
  credentials: z.ZodType<Credentials>;
  create(config: Config, credentials: Credentials, deps: ProviderDependencies): RecordingSource;
}

type Registry = {
  [P in SourceConfig['provider']]: ProviderEntry<Extract<SourceConfig, { provider: P }>, never>;
};

function entry<Config extends SourceConfig, Credentials>(
  definition: ProviderEntry<Config, Credentials>,
): ProviderEntry<Config, never> {
  return definition as unknown as ProviderEntry<Config, never>;
}

export const PROVIDERS: Registry = {
  telphin: entry({
    credentials: telphinCredentialsSchema,
    create: (config, credentials, { clock, log, configIndex }) =>
      new TelphinSource({ config, credentials, clock, log, configIndex }),
  }),
  ringcentral: entry({
    credentials: ringCentralCredentialsSchema,
    create: (config, credentials, { clock, log, sharedState, deletesAtSource }) =>
      new RingCentralSource({
        config,
        credentials,
        clock,
        log,
        tokenStore: sharedState.tokens,
        rateGateStore: sharedState.gates,
        deletesAtSource,
      }),
  }),
  msteams: entry({
    credentials: msTeamsCredentialsSchema,
    create: (config, credentials, { clock, log, sharedState }) =>
      new MsTeamsSource({ config, credentials, clock, log, tokenStore: sharedState.tokens }),
  }),
  // The bot's notifications carry their own grant and are checked against Microsoft's public keys.
  msgraph: entry({
    credentials: z.object({}),
    create: (config, _credentials, { clock, log }) => new MsGraphSource({ config, clock, log }),
  }),
};

/** Validates a source's secret values against its provider's needs and builds the adapter. */
export function createSource(
  source: SourceConfig,
  secrets: { values: Readonly<Record<string, unknown>>; origin: string },
  deps: ProviderDependencies,
): RecordingSource {
  const provider = PROVIDERS[source.provider] as ProviderEntry<SourceConfig, unknown>;
  const parsed = provider.credentials.safeParse(secrets.values);
  if (!parsed.success) {
    const fields = [...new Set(parsed.error.issues.map((issue) => issue.path.join('.')))].join(', ');
    throw new PermanentError(
      `the credentials of source "${source.id}" are missing or invalid: ${fields} (read from ${secrets.origin})`,
    );
  }
  return provider.create(source, parsed.data, deps);
}
