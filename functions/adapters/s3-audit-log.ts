import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { auditKey } from '../core/apply-retention-to-source';
import type { AuditEntry, AuditLog, AuditTrail } from '../core/ports';

/** Batched entries are written at the latest after this many, so a crash loses little of a dry run. */
const BATCH_ENTRIES = 200;

/**
 * The retention audit trail in the archive bucket: one JSON-lines object per run. S3 cannot append, so
 * each durable write replaces the run's object with everything recorded so far; deletes are capped per
 * run, which bounds how often that happens.
 */
export class S3AuditLog implements AuditLog {
  constructor(private readonly options: { client: S3Client; bucket: string }) {}

  open(runId: string, runStartedAt: Date): AuditTrail {
    const key = auditKey(runId, runStartedAt);
    const lines: string[] = [];
    let written = 0;
    const write = async () => {
      if (written === lines.length) return;
      const count = lines.length;
      await this.options.client.send(
        new PutObjectCommand({
          Bucket: this.options.bucket,
          Key: key,
          Body: lines.join(''),
          ContentType: 'application/x-ndjson',
        }),
      );
      written = count;
    };
    return {
      async record(entry: AuditEntry, options = {}) {
        lines.push(`${JSON.stringify(entry)}\n`);
        if (options.durable || lines.length - written >= BATCH_ENTRIES) await write();
      },
      close: write,
    };
  }
}
