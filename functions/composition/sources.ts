/** Builds the source registry from the configuration, a credentials loader and the provider registry. */
import {
  type CallvaultConfig,
  type CredentialsLoader,
  enabledSources,
  type ProviderDescriptors,
  retentionFor,
} from '../config';
import { InvalidInputError } from '../core/errors';
import { InProcessRateGateStore, InProcessTokenStore } from '../core/shared-state';
import { SourceRegistry } from '../core/source-registry';
import { createSource, descriptorOf, PROVIDER_DESCRIPTORS, type ProviderDependencies } from '../providers';

/**
 * One process's sessions and rate gates. Enough for the local host and for a stack without the shared
 * table; Lambda functions of providers with scarce logins or shared budgets use the DynamoDB store.
 */
export const processSharedState: ProviderDependencies['sharedState'] = {
  tokens: new InProcessTokenStore(),
  gates: new InProcessRateGateStore(),
};

/** Local mode: the secret values are the source's own fields in the config file. */
export const inlineCredentials: CredentialsLoader = async (source) => ({
  values: source,
  origin: `the config file's sources entry "${source.id}" (local mode reads credentials inline)`,
});

/**
 * One registry per container (or local process). It reads each source's credentials through
 * `loadCredentials` when first needed, again every few minutes and after a refusal, and rebuilds the
 * adapter only when they changed (see SourceRegistry).
 */
export function buildSourceRegistry(
  config: CallvaultConfig,
  loadCredentials: CredentialsLoader,
  deps: Pick<ProviderDependencies, 'clock' | 'log'> & {
    sharedState?: ProviderDependencies['sharedState'];
    /** The providers the sources may name; a test passes its own (test/support/toy-provider). */
    descriptors?: ProviderDescriptors;
  },
): SourceRegistry {
  const descriptors = deps.descriptors ?? PROVIDER_DESCRIPTORS;
  const sharedState = deps.sharedState ?? processSharedState;
  const sources = enabledSources(config);
  const configOf = (provider: string, sourceId: string) => {
    const source = sources.find((candidate) => candidate.provider === provider && candidate.id === sourceId);
    if (!source) throw new InvalidInputError(`unknown source ${provider}/${sourceId}`);
    return source;
  };
  return new SourceRegistry({
    sources: sources.map(({ provider, id, retentionClass }) => ({
      provider,
      id,
      retentionClass,
      maxWebhookBodyBytes: descriptorOf(provider, descriptors).webhook.maxBodyBytes,
    })),
    loadCredentials: async ({ provider, id }) => {
      const source = configOf(provider, id);
      return descriptorOf(provider, descriptors).credentials
        ? loadCredentials(source)
        : { values: {}, origin: 'no credentials needed' };
    },
    createSource: ({ provider, id }, credentials) => {
      const source = configOf(provider, id);
      return createSource(
        source,
        credentials,
        {
          clock: deps.clock,
          log: deps.log,
          sharedState,
          configIndex: config.sources.indexOf(source),
          deletesAtSource: retentionFor(config, source)?.dryRun === false,
        },
        descriptors,
      );
    },
    clock: deps.clock,
    log: deps.log,
  });
}
