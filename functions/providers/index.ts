/**
 * The one place that maps a configured source to its adapter. Adding a provider means adding its
 * adapter folder, its config schema in `config.ts`, and one case here.
 */
import type { CallvaultConfig, SourceConfig } from '../config';
import { InvalidInputError } from '../core/errors';
import type { Clock, Log, RecordingSource } from '../core/ports';
import { SourceRegistry } from '../core/source-registry';
import { TelphinSource } from './telphin/telphin-source';

export interface SourceCredentials {
  clientId: string;
  clientSecret: string;
  webhookSecret?: string;
}

export type CredentialsLoader = (source: SourceConfig) => Promise<SourceCredentials>;

/** Local mode: credentials written inline in the config file. */
export const inlineCredentials: CredentialsLoader = async (source) => {
  if (!source.clientId || !source.clientSecret) {
    throw new InvalidInputError(
      `source "${source.id}" has no clientId/clientSecret in the config file (local mode reads them inline)`,
    );
  }
  return {
    clientId: source.clientId,
    clientSecret: source.clientSecret,
    webhookSecret: source.webhookSecret,
  };
};

export function createSource(
  source: SourceConfig,
  credentials: SourceCredentials,
  deps: { clock: Clock; log: Log; configIndex?: number },
): RecordingSource {
  switch (source.provider) {
    case 'telphin':
      return new TelphinSource({
        config: source,
        credentials,
        clock: deps.clock,
        log: deps.log,
        configIndex: deps.configIndex,
      });
  }
}

export function enabledSources(config: CallvaultConfig): SourceConfig[] {
  return config.sources.filter((source) => source.enabled);
}

export function buildSourceRegistry(
  config: CallvaultConfig,
  loadCredentials: CredentialsLoader,
  deps: { clock: Clock; log: Log },
): SourceRegistry {
  const sources = enabledSources(config);
  return new SourceRegistry(
    sources.map(({ provider, id, retentionClass }) => ({ provider, id, retentionClass })),
    async (provider, sourceId) => {
      const source = sources.find(
        (candidate) => candidate.provider === provider && candidate.id === sourceId,
      );
      if (!source) throw new InvalidInputError(`unknown source ${provider}/${sourceId}`);
      return createSource(source, await loadCredentials(source), {
        ...deps,
        configIndex: config.sources.indexOf(source),
      });
    },
  );
}
