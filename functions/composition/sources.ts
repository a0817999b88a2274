/** Builds the source registry from the configuration, a credentials loader and the provider registry. */
import { type CallvaultConfig, type CredentialsLoader, enabledSources } from '../config';
import { InvalidInputError } from '../core/errors';
import { SourceRegistry } from '../core/source-registry';
import { createSource, type ProviderDependencies } from '../providers';

/** Local mode: the secret values are the source's own fields in the config file. */
export const inlineCredentials: CredentialsLoader = async (source) => ({
  values: source,
  origin: `the config file's sources entry "${source.id}" (local mode reads credentials inline)`,
});

export function buildSourceRegistry(
  config: CallvaultConfig,
  loadCredentials: CredentialsLoader,
  deps: ProviderDependencies,
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
