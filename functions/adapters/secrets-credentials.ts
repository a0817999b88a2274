import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { CredentialsLoader } from '../config';
import { PermanentError, TransientError } from '../core/errors';

/**
 * Reads each source's secret (a JSON object) from Secrets Manager. Which fields it must hold is the
 * provider's business; values are never logged, and errors name the secret, not what it holds.
 */
export function secretsManagerCredentials(
  client: SecretsManagerClient,
  secretIdBySource: Partial<Record<string, string>>,
): CredentialsLoader {
  return async (source) => {
    const secretId = secretIdBySource[source.id];
    if (!secretId) throw new PermanentError(`no credentials secret is configured for source "${source.id}"`);
    let text: string | undefined;
    try {
      text = (await client.send(new GetSecretValueCommand({ SecretId: secretId }))).SecretString;
    } catch (error) {
      throw new TransientError(`could not read the credentials secret of source "${source.id}"`, {
        cause: error,
      });
    }
    let value: unknown;
    try {
      value = JSON.parse(text ?? '');
    } catch {
      throw new PermanentError(`the credentials secret of source "${source.id}" is not JSON`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new PermanentError(`the credentials secret of source "${source.id}" is not a JSON object`);
    }
    return { values: value as Record<string, unknown>, origin: `Secrets Manager secret ${secretId}` };
  };
}
