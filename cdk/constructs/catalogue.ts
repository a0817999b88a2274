import { CfnOutput, Duration, Stack, Validations } from 'aws-cdk-lib';
import { CfnNamedQuery, CfnWorkGroup } from 'aws-cdk-lib/aws-athena';
import { CfnDatabase, CfnTable } from 'aws-cdk-lib/aws-glue';
import { AccountRootPrincipal, type IGrantable, PolicyStatement, Role } from 'aws-cdk-lib/aws-iam';
import {
  BlockPublicAccess,
  Bucket,
  BucketEncryption,
  type CfnBucket,
  type IBucket,
  ObjectOwnership,
} from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { CATALOGUE_COLUMNS, CATALOGUE_PREFIX } from '../../functions/core/catalogue';
import { namedQuestions } from '../../functions/core/catalogue-query';
import { RECORDINGS_PREFIX } from '../../functions/core/keys';
import { PROVIDER_NAMES } from '../../functions/providers';

/** The Glue table's name; `npm run find -- --aws` queries `"{database}"."recordings"`. */
export const CATALOGUE_TABLE = 'recordings';
/** Where the workgroup writes query results, in its own bucket. */
const RESULTS_PREFIX = 'athena-results/';

export interface CatalogueProps {
  /** The archive bucket: the catalogue lives under `catalog/` beside the recordings. */
  readonly bucket: IBucket;
  /** Where the results bucket sends its server access logs (the archive's access-log bucket). */
  readonly accessLogBucket: IBucket;
  /** Every configured source id (disabled ones too: their recordings are still in the archive). */
  readonly sourceIds: readonly string[];
  /** The functions that write catalogue records: the archive workers and retention. */
  readonly writers: readonly IGrantable[];
  /**
   * Athena cancels a query that would scan more than this. A number + 14-day query over 1M recordings
   * scans about 10 MB (BENCHMARKS.md), a full year about 240 MB.
   * @default 1 GiB
   */
  readonly bytesScannedCutoffPerQuery?: number;
  /** @default Duration.days(7) */
  readonly resultsExpiry?: Duration;
  /** First day partition projection enumerates when a query gives no date range. @default '2015-01-01' */
  readonly firstDay?: string;
}

/**
 * The catalogue in Athena: a Glue database and one table over `catalog/recordings/` with partition
 * projection (partitions are computed from the query, so there is no crawler and no MSCK REPAIR), a
 * workgroup that enforces its own encrypted results location, a bytes-scanned cutoff and CloudWatch
 * metrics, the common questions as named queries (the SQL `npm run find` runs), and a reader role that
 * may query the catalogue and fetch recordings, nothing else.
 * https://docs.aws.amazon.com/athena/latest/ug/partition-projection.html
 */
export class Catalogue extends Construct {
  public readonly databaseName: string;
  public readonly workgroupName: string;
  public readonly resultsBucket: Bucket;
  public readonly readerRole: Role;
  public readonly workgroup: CfnWorkGroup;

  constructor(scope: Construct, id: string, props: CatalogueProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const slug = stack.stackName.toLowerCase().replace(/[^a-z0-9]+/g, '_');
    this.databaseName = `callvault_${slug}`;
    this.workgroupName = `callvault-${stack.stackName}`;
    const location = `s3://${props.bucket.bucketName}/${CATALOGUE_PREFIX}`;

    this.resultsBucket = new Bucket(this, 'Results', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      encryption: BucketEncryption.S3_MANAGED,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: props.accessLogBucket,
      serverAccessLogsPrefix: 'athena-results/',
      // Results are copies of catalogue rows: kept long enough to page through, then gone.
      lifecycleRules: [
        { id: 'expire-query-results', expiration: props.resultsExpiry ?? Duration.days(7) },
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
    });

    const database = new CfnDatabase(this, 'Database', {
      catalogId: stack.account,
      databaseInput: {
        name: this.databaseName,
        description: 'callvault: the catalogue of archived recordings and their outcomes',
      },
    });

    const sourceIds = [...new Set(props.sourceIds)];
    const table = new CfnTable(this, 'Table', {
      catalogId: stack.account,
      databaseName: this.databaseName,
      tableInput: {
        name: CATALOGUE_TABLE,
        description:
          'One row per archived, gone-at-source, expired-before-fetch or deleted-at-source recording',
        tableType: 'EXTERNAL_TABLE',
        parameters: {
          classification: 'json',
          'projection.enabled': 'true',
          'projection.provider.type': 'enum',
          'projection.provider.values': PROVIDER_NAMES.join(','),
          'projection.source.type': 'enum',
          'projection.source.values': sourceIds.join(','),
          'projection.date.type': 'date',
          'projection.date.format': 'yyyy-MM-dd',
          'projection.date.range': `${props.firstDay ?? '2015-01-01'},NOW`,
          'projection.date.interval': '1',
          'projection.date.interval.unit': 'DAYS',
          'storage.location.template': `${location}provider=\${provider}/source=\${source}/date=\${date}/`,
        },
        partitionKeys: [
          { name: 'provider', type: 'string' },
          { name: 'source', type: 'string' },
          { name: 'date', type: 'string' },
        ],
        storageDescriptor: {
          location,
          columns: CATALOGUE_COLUMNS.map(([name, type]) => ({ name, type })),
          inputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
          outputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
          serdeInfo: { serializationLibrary: 'org.openx.data.jsonserde.JsonSerDe' },
        },
      },
    });
    table.node.addDependency(database);

    this.workgroup = new CfnWorkGroup(this, 'WorkGroup', {
      name: this.workgroupName,
      description: 'callvault: queries over the catalogue; results encrypted and expired',
      state: 'ENABLED',
      recursiveDeleteOption: true,
      workGroupConfiguration: {
        // Clients cannot send results elsewhere, unencrypted, or without the cutoff.
        enforceWorkGroupConfiguration: true,
        publishCloudWatchMetricsEnabled: true,
        bytesScannedCutoffPerQuery: props.bytesScannedCutoffPerQuery ?? 1024 ** 3,
        engineVersion: { selectedEngineVersion: 'Athena engine version 3' },
        resultConfiguration: {
          outputLocation: `s3://${this.resultsBucket.bucketName}/${RESULTS_PREFIX}`,
          encryptionConfiguration: { encryptionOption: 'SSE_S3' },
        },
      },
    });

    const tableRef = `"${this.databaseName}"."${CATALOGUE_TABLE}"`;
    for (const question of namedQuestions(tableRef)) {
      const named = new CfnNamedQuery(this, `Query-${question.name}`, {
        name: question.name,
        description: question.description,
        database: this.databaseName,
        workGroup: this.workgroupName,
        queryString: question.sql,
      });
      named.node.addDependency(this.workgroup, table);
    }

    for (const writer of props.writers) this.grantWrite(writer, props.bucket);

    this.readerRole = new Role(this, 'ReaderRole', {
      assumedBy: new AccountRootPrincipal(),
      description: 'callvault reader: query the catalogue in Athena and fetch recordings; nothing else',
      maxSessionDuration: Duration.hours(1),
    });
    this.grantRead(this.readerRole, props.bucket);

    new CfnOutput(stack, 'CatalogDatabase', { value: this.databaseName });
    new CfnOutput(stack, 'CatalogWorkgroup', { value: this.workgroupName });
    new CfnOutput(stack, 'CatalogReaderRoleArn', {
      description: 'Assume to run npm run find -- --aws with query-and-fetch rights only',
      value: this.readerRole.roleArn,
    });
  }

  /** Writing catalogue records (conditional PutObject under `catalog/recordings/`) and nothing else there. */
  private grantWrite(grantee: IGrantable, bucket: IBucket): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['s3:PutObject'],
        resources: [bucket.arnForObjects(`${CATALOGUE_PREFIX}*`)],
      }),
    );
    this.acknowledgeWildcards(grantee, bucket, [
      [
        `${CATALOGUE_PREFIX}*`,
        'Catalogue records have deterministic keys under catalog/recordings/, one per recording outcome; the write grant is scoped to that prefix, the narrowest ARN that names records not yet written.',
      ],
    ]);
  }

  /**
   * The reader: run queries in this workgroup only, read the table's metadata, read the catalogue and the
   * recordings (to play them through presigned GETs), and read and write the workgroup's results.
   */
  private grantRead(role: Role, bucket: IBucket): void {
    const stack = Stack.of(this);
    const workgroupArn = stack.formatArn({
      service: 'athena',
      resource: 'workgroup',
      resourceName: this.workgroupName,
    });
    role.addToPolicy(
      new PolicyStatement({
        actions: [
          'athena:StartQueryExecution',
          'athena:GetQueryExecution',
          'athena:GetQueryResults',
          'athena:StopQueryExecution',
          'athena:GetWorkGroup',
          'athena:ListNamedQueries',
          'athena:GetNamedQuery',
          'athena:BatchGetNamedQuery',
        ],
        resources: [workgroupArn],
      }),
    );
    role.addToPolicy(
      new PolicyStatement({
        actions: ['glue:GetDatabase', 'glue:GetTable', 'glue:GetPartitions', 'glue:GetPartition'],
        resources: [
          stack.formatArn({ service: 'glue', resource: 'catalog' }),
          stack.formatArn({ service: 'glue', resource: 'database', resourceName: this.databaseName }),
          stack.formatArn({
            service: 'glue',
            resource: 'table',
            resourceName: `${this.databaseName}/${CATALOGUE_TABLE}`,
          }),
        ],
      }),
    );
    role.addToPolicy(
      new PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [
          bucket.arnForObjects(`${CATALOGUE_PREFIX}*`),
          bucket.arnForObjects(`${RECORDINGS_PREFIX}*`),
        ],
      }),
    );
    role.addToPolicy(
      new PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${CATALOGUE_PREFIX}*`] } },
      }),
    );
    role.addToPolicy(
      new PolicyStatement({ actions: ['s3:GetBucketLocation'], resources: [bucket.bucketArn] }),
    );
    role.addToPolicy(
      new PolicyStatement({
        actions: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
        resources: [this.resultsBucket.arnForObjects(`${RESULTS_PREFIX}*`)],
      }),
    );
    role.addToPolicy(
      new PolicyStatement({
        actions: ['s3:ListBucket', 's3:GetBucketLocation', 's3:ListBucketMultipartUploads'],
        resources: [this.resultsBucket.bucketArn],
      }),
    );
    this.acknowledgeWildcards(role, bucket, [
      [
        `${CATALOGUE_PREFIX}*`,
        'Athena reads every catalogue object in the partitions a query selects; the grant is limited to the catalog/recordings/ prefix, which holds no audio and no raw platform records.',
      ],
      [
        `${RECORDINGS_PREFIX}*`,
        'The reader plays what a query found through presigned GETs of recordings/ keys chosen at query time; reading, not listing or writing, and only under that prefix.',
      ],
    ]);
    const resultsId = stack.getLogicalId(this.resultsBucket.node.defaultChild as CfnBucket);
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${resultsId}.Arn>/${RESULTS_PREFIX}*]`,
      reason:
        'Athena writes each query result under a new key chosen per query execution in the workgroup results prefix; the reader needs to read back the results of its own queries there.',
    });
  }

  private acknowledgeWildcards(grantee: IGrantable, bucket: IBucket, prefixes: [string, string][]): void {
    const principal: unknown = grantee.grantPrincipal;
    if (!Construct.isConstruct(principal)) return;
    const bucketChild = bucket.node.defaultChild as CfnBucket | undefined;
    if (!bucketChild) return;
    const bucketId = Stack.of(this).getLogicalId(bucketChild);
    for (const [prefix, reason] of prefixes)
      Validations.of(principal).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${prefix}]`,
        reason,
      });
  }
}
