/**
 * The composition root of the catalogue compaction function: the archive bucket's catalogue, its run
 * lease and the logger. Nothing else: the function reads no secret, no source and no queue.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { S3CatalogueStorage } from '../adapters/catalogue-storage';
import { powertoolsLog } from '../adapters/logger';
import { S3RunLeases } from '../adapters/s3-run-leases';
import { ENV } from '../config';
import type { CatalogueStorage } from '../core/catalogue-compaction';
import { type Clock, type Log, systemClock } from '../core/ports';
import type { RunLeases } from '../core/run-lease';

export interface CatalogueCompactionRuntime {
  storage: CatalogueStorage;
  leases: RunLeases;
  clock: Clock;
  log: Log;
}

export function createCatalogueCompactionRuntime(
  bucket: string,
  options: { s3?: S3Client; clock?: Clock } = {},
): CatalogueCompactionRuntime {
  const client = options.s3 ?? new S3Client({});
  return {
    storage: new S3CatalogueStorage({ client, bucket }),
    leases: new S3RunLeases({ client, bucket }),
    clock: options.clock ?? systemClock,
    log: powertoolsLog(),
  };
}

let runtime: CatalogueCompactionRuntime | undefined;

export function catalogueCompactionRuntime(): CatalogueCompactionRuntime {
  const bucket = process.env[ENV.bucket];
  if (!bucket) throw new Error(`${ENV.bucket} is not set`);
  runtime ??= createCatalogueCompactionRuntime(bucket);
  return runtime;
}
