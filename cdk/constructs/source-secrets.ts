import { Validations } from 'aws-cdk-lib';
import type { IGrantable } from 'aws-cdk-lib/aws-iam';
import { type ISecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { SourceConfig } from '../../functions/config';

/** Placeholder the operator replaces with the platform's API credentials after the first deploy. */
export const CREDENTIAL_PLACEHOLDER = 'REPLACE_ME';

export interface SourceSecretsProps {
  /** Used in the names of created secrets: `callvault/{stackName}/{sourceId}`. */
  readonly stackName: string;
  /** Enabled sources only. */
  readonly sources: readonly SourceConfig[];
}

/**
 * One Secrets Manager secret per source, holding `{clientId, clientSecret, webhookSecret}`. An existing
 * secret is used when the source names one (`credentialsSecretName`); otherwise one is created with a random
 * webhook secret and placeholders for the API credentials, which only the operator can obtain.
 */
export class SourceSecrets extends Construct {
  /** Source id → secret. */
  public readonly secrets: ReadonlyMap<string, ISecret>;
  /** Source id → what the functions pass to GetSecretValue (ARN of created secrets, name of imported ones). */
  public readonly references: Readonly<Record<string, string>>;

  constructor(scope: Construct, id: string, props: SourceSecretsProps) {
    super(scope, id);
    const secrets = new Map<string, ISecret>();
    const references: Record<string, string> = {};

    for (const source of props.sources) {
      if (source.credentialsSecretName) {
        const secret = Secret.fromSecretNameV2(this, source.id, source.credentialsSecretName);
        secrets.set(source.id, secret);
        references[source.id] = source.credentialsSecretName;
        continue;
      }
      const secret = new Secret(this, source.id, {
        secretName: `callvault/${props.stackName}/${source.id}`,
        description: `callvault ${source.provider} source "${source.id}": fill in clientId and clientSecret; webhookSecret is the token in the webhook URL`,
        generateSecretString: {
          secretStringTemplate: JSON.stringify({
            clientId: CREDENTIAL_PLACEHOLDER,
            clientSecret: CREDENTIAL_PLACEHOLDER,
          }),
          generateStringKey: 'webhookSecret',
          passwordLength: 48,
          // It travels in a URL query string.
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
  }

  /** Read access to every source's secret (GetSecretValue, DescribeSecret on those secrets only). */
  grantRead(grantee: IGrantable): void {
    for (const secret of this.secrets.values()) secret.grantRead(grantee);
  }
}
