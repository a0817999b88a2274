import { Stack, Validations } from 'aws-cdk-lib';
import { type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { type ISecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { CREDENTIAL_PLACEHOLDER } from '../../functions/adapters/secrets-credentials';
import {
  ConfigError,
  type CredentialedSourceConfig,
  needsCredentials,
  type SourceConfig,
} from '../../functions/config';

export interface SourceSecretsProps {
  /** Used in the names of created secrets: `callvault/{stackName}/{sourceId}`. */
  readonly stackName: string;
  /** Enabled sources only. */
  readonly sources: readonly SourceConfig[];
}

/**
 * The fields of a created secret that only the operator can fill in, per provider; each starts as the
 * placeholder, which the functions recognise (CredentialsNotSetError) instead of sending it anywhere.
 */
export const OPERATOR_SECRET_FIELDS: Readonly<
  Record<CredentialedSourceConfig['provider'], readonly string[]>
> = {
  telphin: ['clientId', 'clientSecret'],
  // The JWT credential of the user the app acts as (JWT grant).
  ringcentral: ['clientId', 'clientSecret', 'jwt'],
  // The Entra app registration's client credentials.
  msteams: ['clientId', 'clientSecret'],
};

/** What the generated webhookSecret is for, in the secret's description. */
const WEBHOOK_SECRET_ROLE: Readonly<Record<CredentialedSourceConfig['provider'], string>> = {
  telphin: 'webhookSecret is the token in the webhook URL',
  ringcentral: "webhookSecret is the subscription's verificationToken",
  msteams: "webhookSecret is the Graph subscriptions' clientState",
};

/**
 * One Secrets Manager secret per source that needs credentials (not the Graph calling bot), holding
 * `{clientId, clientSecret, webhookSecret}` (RingCentral: also `jwt`). An existing
 * secret is used when the source names one (`credentialsSecretName`); otherwise one is created with a random
 * webhook secret and placeholders for the API credentials, which only the operator can obtain.
 *
 * An existing secret may be encrypted with a customer-managed KMS key (`credentialsKmsKeyArn`): reading it
 * then also needs kms:Decrypt on that key, which the AWS-managed key of created secrets never does.
 */
export class SourceSecrets extends Construct {
  /** Source id → secret. */
  public readonly secrets: ReadonlyMap<string, ISecret>;
  /** Source id → what the functions pass to GetSecretValue (ARN of created secrets, name of imported ones). */
  public readonly references: Readonly<Record<string, string>>;
  /** Customer-managed keys of imported secrets, each read only through Secrets Manager. */
  public readonly keyArns: readonly string[];

  constructor(scope: Construct, id: string, props: SourceSecretsProps) {
    super(scope, id);
    const secrets = new Map<string, ISecret>();
    const references: Record<string, string> = {};
    const keyArns = new Set<string>();

    for (const source of props.sources.filter(needsCredentials)) {
      if (source.credentialsKmsKeyArn && !source.credentialsSecretName) {
        throw new ConfigError(
          `invalid configuration for deployment:\n  - sources[id=${source.id}].credentialsKmsKeyArn: only applies to an existing secret; set credentialsSecretName too (secrets the stack creates use the AWS-managed key)`,
        );
      }
      if (source.credentialsSecretName) {
        const secret = Secret.fromSecretNameV2(this, source.id, source.credentialsSecretName);
        secrets.set(source.id, secret);
        references[source.id] = source.credentialsSecretName;
        if (source.credentialsKmsKeyArn) keyArns.add(source.credentialsKmsKeyArn);
        continue;
      }
      const operatorFields = OPERATOR_SECRET_FIELDS[source.provider];
      const secret = new Secret(this, source.id, {
        secretName: `callvault/${props.stackName}/${source.id}`,
        description: `callvault ${source.provider} source "${source.id}": fill in ${operatorFields.join(', ')}; ${WEBHOOK_SECRET_ROLE[source.provider]}`,
        generateSecretString: {
          secretStringTemplate: JSON.stringify(
            Object.fromEntries(operatorFields.map((field) => [field, CREDENTIAL_PLACEHOLDER])),
          ),
          generateStringKey: 'webhookSecret',
          passwordLength: 48,
          // It travels in a URL query string (Telphin) or a header (RingCentral's verificationToken).
          excludePunctuation: true,
          includeSpace: false,
        },
      });
      Validations.of(secret).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason:
          'Holds credentials issued by a third-party telephony platform, which Secrets Manager cannot rotate there; the webhook secret changes only together with the subscription URL registered at the platform.',
      });
      secrets.set(source.id, secret);
      references[source.id] = secret.secretArn;
    }

    this.secrets = secrets;
    this.references = references;
    this.keyArns = [...keyArns];
  }

  /**
   * Read access to every source's secret (GetSecretValue, DescribeSecret on those secrets only), and
   * kms:Decrypt on the customer-managed keys of imported ones, usable only by Secrets Manager on the
   * function's behalf (kms:ViaService), never to decrypt anything else directly.
   */
  grantRead(grantee: IGrantable): void {
    for (const secret of this.secrets.values()) secret.grantRead(grantee);
    if (this.keyArns.length === 0) return;
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['kms:Decrypt'],
        resources: [...this.keyArns],
        conditions: {
          StringEquals: { 'kms:ViaService': `secretsmanager.${Stack.of(this).region}.amazonaws.com` },
        },
      }),
    );
  }
}
