import { Stack, Validations } from 'aws-cdk-lib';
import { type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { type ISecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { CREDENTIAL_PLACEHOLDER } from '../../functions/adapters/secrets-credentials';
import { ConfigError, type SourceConfig } from '../../functions/config';
import { descriptorOf } from '../../functions/providers';

export interface SourceSecretsProps {
  /** Used in the names of created secrets: `callvault/{stackName}/{sourceId}`. */
  readonly stackName: string;
  /** Enabled sources only. */
  readonly sources: readonly SourceConfig[];
}

/** Where a source keeps its credentials, for the providers that read any. */
interface CredentialsLocation {
  readonly credentialsSecretName?: string;
  readonly credentialsKmsKeyArn?: string;
}

/**
 * One Secrets Manager secret per source whose provider reads credentials (its descriptor's `credentials`),
 * holding the operator's fields (`credentials.operatorFields`) and a `webhookSecret`. An existing
 * secret is used when the source names one (`credentialsSecretName`); otherwise one is created with a random
 * webhook secret and placeholders for the operator's fields, which only the operator can obtain: the
 * functions recognise the placeholder (CredentialsNotSetError) instead of sending it anywhere.
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

    for (const source of props.sources) {
      const credentials = descriptorOf(source.provider).credentials;
      if (!credentials) continue;
      const location = source as CredentialsLocation;
      if (location.credentialsKmsKeyArn && !location.credentialsSecretName) {
        throw new ConfigError(
          `invalid configuration for deployment:\n  - sources[id=${source.id}].credentialsKmsKeyArn: only applies to an existing secret; set credentialsSecretName too (secrets the stack creates use the AWS-managed key)`,
        );
      }
      if (location.credentialsSecretName) {
        const secret = Secret.fromSecretNameV2(this, source.id, location.credentialsSecretName);
        secrets.set(source.id, secret);
        references[source.id] = location.credentialsSecretName;
        if (location.credentialsKmsKeyArn) keyArns.add(location.credentialsKmsKeyArn);
        continue;
      }
      const { operatorFields, webhookSecretRole } = credentials;
      const secret = new Secret(this, source.id, {
        secretName: `callvault/${props.stackName}/${source.id}`,
        description: `callvault ${source.provider} source "${source.id}": fill in ${operatorFields.join(', ')}; ${webhookSecretRole}`,
        generateSecretString: {
          secretStringTemplate: JSON.stringify(
            Object.fromEntries(operatorFields.map((field) => [field, CREDENTIAL_PLACEHOLDER])),
          ),
          generateStringKey: 'webhookSecret',
          passwordLength: 48,
          // It may travel in a URL query string or a header (the descriptors' `webhook.auth`).
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
