/** Wires `collectStatus` to a local installation or to a deployed stack. */
import { S3Client } from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { FsRunLedger, S3RunLedger } from '../adapters/run-ledgers';
import { rateBudgetOf } from '../composition/rate-budgets';
import { buildSourceRegistry, inlineCredentials } from '../composition/sources';
import { type CallvaultConfig, type CredentialsLoader, enabledSources } from '../config';
import { type Log, silentLog, systemClock } from '../core/ports';
import type { ProviderName } from '../core/recording';
import { FsArchiveListing, S3ArchiveListing } from './archive-listing';
import { localQueueDepths, sqsQueueDepths } from './queue-depths';
import type { StatusDependencies, StatusSource } from './status-report';

interface Common {
  config: CallvaultConfig;
  days: number;
  now?: Date;
  log?: Log;
}

function statusSources(config: CallvaultConfig, credentials: CredentialsLoader, log: Log): StatusSource[] {
  const registry = buildSourceRegistry(config, credentials, { clock: systemClock, log });
  return enabledSources(config).map((source) => {
    const budget = rateBudgetOf(config, source);
    return {
      provider: source.provider,
      sourceId: source.id,
      open: () => registry.get(source.provider, source.id),
      ...(budget ? { budget } : {}),
    };
  });
}

function providersOf(config: CallvaultConfig): ProviderName[] {
  return [...new Set(enabledSources(config).map((source) => source.provider))];
}

/** Local mode: the archive folder (or `storage.s3`), the local queue's state and dead-letter folder. */
export function localStatusDependencies(
  options: Common & { checkRunningHost?: boolean },
): StatusDependencies {
  const { config } = options;
  const log = options.log ?? silentLog;
  const target = config.storage.s3;
  const client = target
    ? new S3Client({
        region: target.region,
        endpoint: target.endpoint,
        forcePathStyle: target.forcePathStyle,
      })
    : undefined;
  const host = ['0.0.0.0', '::', ''].includes(config.local.host) ? '127.0.0.1' : config.local.host;
  return {
    mode: 'local',
    archiveLabel: target ? `s3://${target.bucket}` : config.local.archiveDir,
    sources: statusSources(config, inlineCredentials, log),
    archive:
      target && client
        ? new S3ArchiveListing({ client, bucket: target.bucket })
        : new FsArchiveListing(config.local.archiveDir),
    ledger:
      target && client
        ? new S3RunLedger({ client, bucket: target.bucket })
        : new FsRunLedger({ root: config.local.archiveDir }),
    queues: () =>
      localQueueDepths({
        stateDir: config.local.stateDir,
        providers: providersOf(config),
        healthUrl:
          options.checkRunningHost === false
            ? undefined
            : `http://${host.includes(':') ? `[${host}]` : host}:${config.local.port}/health`,
        now: options.now,
      }),
    now: options.now ?? new Date(),
    days: options.days,
  };
}

/** A deployment: its bucket and queues (from the stack outputs), sources with operator credentials. */
export function awsStatusDependencies(
  options: Common & {
    bucket: string;
    queueUrls: Partial<Record<ProviderName, string>>;
    deadLetterQueueUrls: Partial<Record<ProviderName, string>>;
    s3: S3Client;
    sqs: SQSClient;
    credentials: CredentialsLoader;
  },
): StatusDependencies {
  const { config } = options;
  return {
    mode: 'aws',
    archiveLabel: `s3://${options.bucket}`,
    sources: statusSources(config, options.credentials, options.log ?? silentLog),
    archive: new S3ArchiveListing({ client: options.s3, bucket: options.bucket }),
    ledger: new S3RunLedger({ client: options.s3, bucket: options.bucket }),
    queues: () =>
      sqsQueueDepths(options.sqs, options.queueUrls, options.deadLetterQueueUrls, providersOf(config)),
    now: options.now ?? new Date(),
    days: options.days,
  };
}
