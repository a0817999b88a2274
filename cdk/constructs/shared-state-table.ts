import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import { AttributeType, BillingMode, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { SHARED_STATE_TABLE } from '../../functions/adapters/dynamodb-shared-state';
import type { SourceConfig } from '../../functions/config';
import { descriptorOf } from '../../functions/providers';

/**
 * Whether the stack needs the shared-state table for these (enabled) sources: some provider's adapters
 * share sessions or rate gates across Lambda containers (`capabilities.sharedState` of its descriptor),
 * because logins are scarce, a refusal must stop every holder, or one budget serves all.
 */
export function needsSharedState(sources: readonly SourceConfig[]): boolean {
  return sources.some((source) => descriptorOf(source.provider).capabilities.sharedState);
}

export interface SharedStateTableProps {
  /**
   * What happens to the table when the stack is deleted. It holds sessions, rate gates and the record
   * of which webhook subscriptions we created; all of it can be rebuilt, at the cost of one login and
   * one round of subscription replacement per source.
   * @default RemovalPolicy.DESTROY
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The small table that every Lambda container of a source shares: provider sessions (logins are scarce:
 * one token for all), rate gates (one budget for all) and subscription records. On-demand, encrypted
 * with its own customer-managed key (it holds access tokens), point-in-time recovery on, items expire
 * through the `expiresAt` TTL attribute.
 */
export class SharedStateTable extends Construct {
  public readonly table: Table;
  public readonly key: Key;

  constructor(scope: Construct, id: string, props: SharedStateTableProps = {}) {
    super(scope, id);
    this.key = new Key(this, 'Key', {
      description: 'callvault shared state (provider sessions, rate gates, subscriptions)',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.table = new Table(this, 'Table', {
      partitionKey: { name: SHARED_STATE_TABLE.partitionKey, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      encryption: TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: this.key,
      timeToLiveAttribute: SHARED_STATE_TABLE.timeToLive,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy: props.removalPolicy ?? RemovalPolicy.DESTROY,
    });
  }

  /**
   * Item reads and conditional writes, nothing else (no scans, no table management), and the table key
   * for those only: named actions without wildcards (no re-encryption, no data keys without plaintext),
   * usable only through DynamoDB in this region (kms:ViaService), never to decrypt anything directly.
   */
  grantReadWrite(grantee: IGrantable): void {
    this.table.grant(
      grantee,
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
      'dynamodb:DeleteItem',
    );
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'],
        resources: [this.key.keyArn],
        conditions: {
          StringEquals: { 'kms:ViaService': `dynamodb.${Stack.of(this).region}.amazonaws.com` },
        },
      }),
    );
  }
}
