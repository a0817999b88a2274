/** The provider registry: a new provider is its folder and one entry below (README, "Adding a provider"). */
import { PermanentError } from '../core/errors';
import type { RecordingSource } from '../core/ports';
import { MAX_WEBHOOK_BODY_BYTES } from '../core/source-registry';
import type { ProviderDependencies, ProviderDescriptor, SourceConfigBase } from './descriptor';
import { graphCallingBotProvider } from './graph-calling-bot/descriptor';
import { ringCentralProvider } from './ringcentral/descriptor';
import { teamsRecordingsProvider } from './teams-recordings/descriptor';
import { telphinProvider } from './telphin/descriptor';

export type { ProviderDependencies, ProviderDescriptor } from './descriptor';

export const PROVIDER_DESCRIPTORS = [
  telphinProvider,
  ringCentralProvider,
  graphCallingBotProvider,
  teamsRecordingsProvider,
] as const;

/** The names of the shipped providers, in the order above. */
export const PROVIDER_NAMES = PROVIDER_DESCRIPTORS.map((descriptor) => descriptor.name);

// biome-ignore lint/suspicious/noExplicitAny: descriptors differ in their config and credential types
type AnyDescriptor = ProviderDescriptor<any, any>;

/** A descriptor by provider name; the list may be another one (a test's toy provider). */
export function descriptorOf(
  provider: string,
  descriptors: readonly AnyDescriptor[] = PROVIDER_DESCRIPTORS,
): AnyDescriptor {
  const found = descriptors.find((descriptor) => descriptor.name === provider);
  if (!found) throw new PermanentError(`unknown provider "${provider}"`);
  return found;
}

/** The largest webhook body read for this provider; the local server and the webhook function share it. */
export function maxWebhookBodyBytes(provider: string): number {
  const descriptor = PROVIDER_DESCRIPTORS.find((candidate) => candidate.name === provider);
  return descriptor?.webhook.maxBodyBytes ?? MAX_WEBHOOK_BODY_BYTES;
}

/** Validates a source's secret values against its provider's needs and builds the adapter. */
export async function createSource(
  source: SourceConfigBase,
  secrets: { values: Readonly<Record<string, unknown>>; origin: string },
  deps: ProviderDependencies,
  descriptors: readonly AnyDescriptor[] = PROVIDER_DESCRIPTORS,
): Promise<RecordingSource> {
  const descriptor = descriptorOf(source.provider, descriptors);
  let credentials: unknown = {};
  if (descriptor.credentials) {
    const parsed = descriptor.credentials.schema.safeParse(secrets.values);
    if (!parsed.success) {
      const fields = [...new Set(parsed.error.issues.map((issue) => issue.path.join('.')))].join(', ');
      throw new PermanentError(
        `the credentials of source "${source.id}" are missing or invalid: ${fields} (read from ${secrets.origin})`,
      );
    }
    credentials = parsed.data;
  }
  return (await descriptor.loadAdapter())(source, credentials, deps);
}
