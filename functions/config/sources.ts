/**
 * The `sources[]` entries: each provider's schema comes from its descriptor (functions/providers), so this
 * module names no provider. What a source can do is asked of its descriptor too.
 */
import * as z from 'zod';
import { descriptorOf, PROVIDER_DESCRIPTORS } from '../providers';
import type { ProviderDescriptor } from '../providers/descriptor';
import type { CallvaultConfig } from './schema';

// biome-ignore lint/suspicious/noExplicitAny: descriptors differ in their config and credential types
type AnyDescriptor = ProviderDescriptor<any, any>;
/** The providers a configuration may name: the shipped ones, or a test's list. */
export type ProviderDescriptors = readonly AnyDescriptor[];

type ConfigOf<D> = D extends ProviderDescriptor<infer Config, infer _Credentials> ? Config : never;
/** One entry of `sources`: the config schema of the provider it names (its descriptor's). */
export type SourceConfig = ConfigOf<(typeof PROVIDER_DESCRIPTORS)[number]>;

/** The `sources[]` entry schema of these providers, discriminated by `provider`. */
export function sourceSchemaFor(descriptors: ProviderDescriptors): z.ZodType<SourceConfig> {
  const schemas = descriptors.map((descriptor) => descriptor.configSchema);
  const union = z.discriminatedUnion('provider', schemas as never);
  return z.preprocess(
    (entry) => withCanonicalProvider(entry, descriptors),
    union,
  ) as unknown as z.ZodType<SourceConfig>;
}

/** A `provider` given by one of its descriptor's aliases reads as the descriptor's name. */
function withCanonicalProvider(entry: unknown, descriptors: ProviderDescriptors): unknown {
  if (typeof entry !== 'object' || entry === null || !('provider' in entry)) return entry;
  const named = (entry as { provider: unknown }).provider;
  const owner = descriptors.find((descriptor) => descriptor.aliases?.includes(named as string));
  return owner ? { ...entry, provider: owner.name } : entry;
}

export const sourceSchema = sourceSchemaFor(PROVIDER_DESCRIPTORS);

/** The platform URL of a source whose subscriptions callvault manages, if it manages any. */
export function subscribingPlatformUrl(
  source: SourceConfig,
  descriptors: ProviderDescriptors,
): string | undefined {
  return descriptorOf(source.provider, descriptors).capabilities.subscriptionsAt(source);
}

/** Sources whose adapter needs credentials from a secret: their descriptor names a credentials schema. */
export type CredentialedSourceConfig = Extract<SourceConfig, { credentialsSecretName?: string }>;

export function needsCredentials(source: SourceConfig): source is CredentialedSourceConfig {
  return descriptorOf(source.provider).credentials !== undefined;
}

export function enabledSources(config: CallvaultConfig): SourceConfig[] {
  return config.sources.filter((source) => source.enabled);
}

/**
 * Sources whose platform offers no listing (a recording exists only as the grant in one notification).
 * Their adapters say the same through `capabilities` (test/unit/core/config.test.ts holds the two
 * together); the descriptor answers without building one.
 */
export function isWebhookOnly(source: Pick<SourceConfig, 'provider'>): boolean {
  return !descriptorOf(source.provider).capabilities.list;
}

/** Whether the platform keeps recordings retention may delete; matches each adapter's `capabilities.delete`. */
export function deletesAtSource(source: Pick<SourceConfig, 'provider'>): boolean {
  return descriptorOf(source.provider).capabilities.delete;
}

/**
 * Reads one source's secret values: the config file's inline fields in local mode, its Secrets Manager
 * secret on AWS. The values are not validated here: each provider's registry entry names the fields it
 * needs. `origin` says where they came from, for error messages (never the values themselves).
 */
export type CredentialsLoader = (
  source: SourceConfig,
) => Promise<{ values: Readonly<Record<string, unknown>>; origin: string }>;
