import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { CredentialsLoader } from '../config';
import { CredentialsNotSetError, PermanentError, TransientError } from '../core/errors';

/**
 * What the stack writes into a source's new secret where only the operator can supply the value (the
 * platform's API credentials). cdk/constructs/source-secrets.ts writes it; reading it back means the
 * operator has not done the first step of the README yet.
 */
export const CREDENTIAL_PLACEHOLDER = 'REPLACE_ME';

/**
 * Reads each source's secret (a JSON object) from Secrets Manager. Which fields it must hold is the
 * provider's business; values are never logged, and errors name the secret, not what it holds. A secret
 * still holding the stack's placeholders fails with CredentialsNotSetError, never as a refusal by the
 * platform: the placeholders are not sent anywhere.
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
    const values = value as Record<string, unknown>;
    const placeholders = Object.keys(values).filter((field) => values[field] === CREDENTIAL_PLACEHOLDER);
    if (placeholders.length > 0) {
      throw new CredentialsNotSetError(
        `credentials not set yet: put the real values in secret ${secretId} (source "${source.id}"; ${placeholders.join(', ')} still hold the placeholder ${CREDENTIAL_PLACEHOLDER})`,
      );
    }
    return { values, origin: `Secrets Manager secret ${secretId}` };
  };
}
