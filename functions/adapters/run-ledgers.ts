import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { GetObjectCommand, NoSuchKey, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { type RunKind, type RunLedger, type RunRecord, runLedgerKey } from '../core/ports';

/** Last runs in the bucket, beside what they produced. */
export class S3RunLedger implements RunLedger {
  constructor(private readonly options: { client: S3Client; bucket: string }) {}

  async record(run: RunRecord): Promise<void> {
    await this.options.client.send(
      new PutObjectCommand({
        Bucket: this.options.bucket,
        Key: runLedgerKey(run.kind, run.sourceId),
        Body: JSON.stringify(run),
        ContentType: 'application/json',
      }),
    );
  }

  async last(kind: RunKind, sourceId: string): Promise<RunRecord | undefined> {
    try {
      const object = await this.options.client.send(
        new GetObjectCommand({ Bucket: this.options.bucket, Key: runLedgerKey(kind, sourceId) }),
      );
      return JSON.parse((await object.Body?.transformToString()) ?? 'null') ?? undefined;
    } catch (error) {
      if (error instanceof NoSuchKey || (error as { name?: string }).name === 'NoSuchKey') return undefined;
      throw error;
    }
  }
}

/** Local mode: the same keys under a folder. */
export class FsRunLedger implements RunLedger {
  constructor(private readonly options: { root: string }) {}

  async record(run: RunRecord): Promise<void> {
    const path = join(this.options.root, runLedgerKey(run.kind, run.sourceId));
    await mkdir(dirname(path), { recursive: true });
    await writeFile(`${path}.tmp`, JSON.stringify(run, null, 2));
    await rename(`${path}.tmp`, path);
  }

  async last(kind: RunKind, sourceId: string): Promise<RunRecord | undefined> {
    try {
      return JSON.parse(await readFile(join(this.options.root, runLedgerKey(kind, sourceId)), 'utf8'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }
}
