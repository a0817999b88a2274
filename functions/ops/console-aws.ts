/**
 * The console over the deployed stack, with the operator's own AWS credentials: the find question
 * through Athena in the stack's workgroup (as `npm run find -- --aws` asks it), each copy played from a
 * presigned GET of at most an hour, sidecars read from the bucket.
 */
import { AthenaClient } from '@aws-sdk/client-athena';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { GetObjectCommand, NoSuchKey, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { AthenaCatalogue } from '../adapters/athena-catalogue';
import { S3HoldAuditLog, S3HoldStore } from '../adapters/s3-legal-hold';
import type { CallvaultConfig } from '../config';
import type { FindFilters } from '../core/catalogue-query';
import { systemClock } from '../core/ports';
import type { ProviderName } from '../core/recording';
import { consoleActor, consoleHold, heldKeysFrom } from './console-hold';
import type { ConsoleBackend, ConsoleHit, ConsoleHold } from './console-server';
import { awsHits } from './find';
import { readDeployedStack, requireCatalogueOutputs } from './stack-outputs';

export interface AwsConsoleBackendOptions {
  stackName: string;
  bucket: string;
  sources: readonly { id: string; provider: ProviderName }[];
  athena: Pick<AthenaCatalogue, 'find'>;
  /** A presigned GET of one key in the bucket. */
  presign: (key: string, expiresInSeconds: number) => Promise<string>;
  /** The bytes of one object in the bucket; undefined when there is none. */
  readObject: (key: string) => Promise<Buffer | undefined>;
  hold?: ConsoleHold;
  heldKeys?: (objectKeys: readonly string[]) => Promise<ReadonlySet<string>>;
  /** Where Athena's progress goes. */
  log?: (line: string) => void;
}

export class AwsConsoleBackend implements ConsoleBackend {
  readonly mode = 'aws' as const;
  readonly hold?: ConsoleHold;

  private constructor(
    private readonly options: AwsConsoleBackendOptions,
    readonly mediaOrigins: readonly string[],
  ) {
    this.hold = options.hold;
  }

  /** The presigned URLs' origin is allowed as a media source in the page's Content-Security-Policy. */
  static async create(options: AwsConsoleBackendOptions): Promise<AwsConsoleBackend> {
    const probe = new URL(await options.presign('recordings/probe', 60));
    return new AwsConsoleBackend(options, [probe.origin]);
  }

  get where(): string {
    return `stack ${this.options.stackName}, bucket ${this.options.bucket} (Athena)`;
  }

  get sources() {
    return this.options.sources;
  }

  async find(filters: FindFilters, limit: number): Promise<ConsoleHit[]> {
    const answer = await this.options.athena.find(filters, { limit });
    this.options.log?.(
      `console: Athena ${answer.queryExecutionId}, ${answer.bytesScanned ?? '?'} B scanned, ${answer.rows.length} rows`,
    );
    const hits = await awsHits(answer.rows, this.options.presign);
    const keys = hits.flatMap((hit) => (hit.object_key ? [hit.object_key] : []));
    const held = this.options.heldKeys ? await this.options.heldKeys(keys) : undefined;
    return hits.map((hit) => ({ ...hit, held: held && hit.object_key ? held.has(hit.object_key) : null }));
  }

  async sidecar(key: string): Promise<unknown> {
    if (!key.endsWith('.json')) return undefined;
    const bytes = await this.options.readObject(key);
    return bytes ? (JSON.parse(bytes.toString('utf8')) as unknown) : undefined;
  }
}

/** What the AWS clients are built with; tests point them at moto. */
export interface AwsClientSettings {
  /** Absent: the default chain's (AWS_REGION, the profile). */
  region?: string;
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  forcePathStyle?: boolean;
}

/**
 * The backend over a deployed stack, found by its CloudFormation outputs as `npm run find -- --aws` finds
 * it (BucketName, CatalogDatabase, CatalogWorkgroup), with the credentials of the default chain.
 */
export async function openAwsConsoleBackend(options: {
  config: CallvaultConfig;
  stackName: string;
  log: (line: string) => void;
  clients?: AwsClientSettings;
}): Promise<AwsConsoleBackend> {
  const settings: AwsClientSettings = options.clients ?? { region: options.config.aws.region };
  const { forcePathStyle, ...common } = settings;
  const stack = await readDeployedStack(new CloudFormationClient(common), options.stackName);
  const { database, workgroup } = requireCatalogueOutputs(stack);
  const athena = new AthenaCatalogue({
    client: new AthenaClient(common),
    database,
    workgroup,
    pollIntervalMs: settings.endpoint ? 50 : undefined,
  });
  const s3 = new S3Client({ ...common, forcePathStyle });
  const holds = new S3HoldStore({ client: s3, bucket: stack.bucket });
  return AwsConsoleBackend.create({
    hold: consoleHold(
      { store: holds, audit: new S3HoldAuditLog({ client: s3, bucket: stack.bucket }), clock: systemClock },
      `${consoleActor()}, AWS`,
    ),
    heldKeys: heldKeysFrom(holds),
    stackName: stack.stackName,
    bucket: stack.bucket,
    sources: options.config.sources,
    athena,
    presign: (key, expiresIn) =>
      getSignedUrl(s3, new GetObjectCommand({ Bucket: stack.bucket, Key: key }), { expiresIn }),
    readObject: async (key) => {
      try {
        const object = await s3.send(new GetObjectCommand({ Bucket: stack.bucket, Key: key }));
        return object.Body ? Buffer.from(await object.Body.transformToByteArray()) : undefined;
      } catch (error) {
        if (error instanceof NoSuchKey) return undefined;
        throw error;
      }
    },
    log: options.log,
  });
}
