/** Picks the configured source an operator command names, with errors that say what exists. */

import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { secretsManagerCredentials } from '../adapters/secrets-credentials';
import { inlineCredentials } from '../composition/sources';
import { type CallvaultConfig, type CredentialsLoader, needsCredentials, type SourceConfig } from '../config';
import { InvalidInputError } from '../core/errors';

export function selectSource(config: CallvaultConfig, sourceId: string | undefined): SourceConfig {
  const known = config.sources.map((source) => source.id);
  if (!sourceId) {
    throw new InvalidInputError(`--source is required; configured sources: ${known.join(', ') || '(none)'}`);
  }
  const source = config.sources.find((candidate) => candidate.id === sourceId);
  if (!source) {
    throw new InvalidInputError(
      `unknown source id "${sourceId}"; configured sources: ${known.join(', ') || '(none: add one under "sources" in the config file)'}`,
    );
  }
  if (!source.enabled)
    throw new InvalidInputError(
      `source "${sourceId}" is disabled in the config ("enabled": false); enable it first`,
    );
  return source;
}

/**
 * Credentials for an operator command run against a deployment: inline ones from the config file when
 * present (local mode style), else the source's Secrets Manager secret (the config's
 * `credentialsSecretName`, or the one the stack created, named in its outputs).
 */
export function operatorCredentials(
  secrets: () => SecretsManagerClient,
  secretNameFor: (sourceId: string) => string | undefined,
): CredentialsLoader {
  return async (source) => {
    if (!needsCredentials(source)) return inlineCredentials(source);
    if (source.clientId && source.clientSecret) return inlineCredentials(source);
    const secretName = source.credentialsSecretName ?? secretNameFor(source.id);
    if (!secretName) {
      throw new InvalidInputError(
        `source "${source.id}" has no inline credentials and no credentials secret (credentialsSecretName, or the stack output for it)`,
      );
    }
    return secretsManagerCredentials(secrets(), { [source.id]: secretName })(source);
  };
}
