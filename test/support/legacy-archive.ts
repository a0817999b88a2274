/**
 * Writes a copy the way callvault archived recordings before uploads went straight to their key (sidecar
 * schema 1): a multipart upload to `staging/{uuid}` with per-part SHA-256, completed; a server-side copy
 * into the final key (UploadPartCopy) created with the SHA-256 and source size in its metadata and the
 * recording's tags, completed conditionally; the staging object deleted; then a schema-1 sidecar, whose
 * SHA-256 only the object's metadata vouches for. Buckets archived by earlier versions hold such copies.
 */
import { createHash, randomUUID } from 'node:crypto';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { sidecarKey } from '../../functions/core/keys';
import type { SourceRecording } from '../../functions/core/recording';
import { buildSidecar, type Sidecar, serialiseSidecar } from '../../functions/core/sidecar';

const PART_BYTES = 5 * 1024 * 1024;

export interface LegacyCopy {
  key: string;
  bytes: Buffer;
  contentType: string;
  tags: Record<string, string>;
  /** Write the schema-1 sidecar too (an old worker that stopped before it did not). Default true. */
  withSidecar?: boolean;
}

export async function archiveTheOldWay(
  s3: S3Client,
  bucket: string,
  recording: SourceRecording,
  copy: LegacyCopy,
): Promise<Sidecar> {
  const sha256 = createHash('sha256').update(copy.bytes).digest('hex');
  const metadata: Record<string, string> = { sha256 };
  if (recording.size !== undefined) metadata['source-size'] = String(recording.size);
  const tagging = new URLSearchParams(copy.tags).toString();

  if (copy.bytes.length <= PART_BYTES) {
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: copy.key,
        Body: copy.bytes,
        ContentType: copy.contentType,
        Metadata: metadata,
        Tagging: tagging,
        ChecksumAlgorithm: 'SHA256',
        ChecksumSHA256: createHash('sha256').update(copy.bytes).digest('base64'),
        IfNoneMatch: '*',
      }),
    );
  } else {
    const staging = `staging/${randomUUID()}`;
    const upload = await s3.send(
      new CreateMultipartUploadCommand({
        Bucket: bucket,
        Key: staging,
        ContentType: copy.contentType,
        ChecksumAlgorithm: 'SHA256',
      }),
    );
    const parts = [];
    for (let first = 0, number = 1; first < copy.bytes.length; first += PART_BYTES, number++) {
      const body = copy.bytes.subarray(first, first + PART_BYTES);
      const checksum = createHash('sha256').update(body).digest('base64');
      const part = await s3.send(
        new UploadPartCommand({
          Bucket: bucket,
          Key: staging,
          UploadId: upload.UploadId,
          PartNumber: number,
          Body: body,
          ChecksumSHA256: checksum,
        }),
      );
      parts.push({ PartNumber: number, ETag: part.ETag, ChecksumSHA256: checksum });
    }
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: staging,
        UploadId: upload.UploadId,
        MultipartUpload: { Parts: parts },
      }),
    );
    const final = await s3.send(
      new CreateMultipartUploadCommand({
        Bucket: bucket,
        Key: copy.key,
        ContentType: copy.contentType,
        Metadata: metadata,
        Tagging: tagging,
      }),
    );
    const copied = await s3.send(
      new UploadPartCopyCommand({
        Bucket: bucket,
        Key: copy.key,
        UploadId: final.UploadId,
        PartNumber: 1,
        CopySource: `${bucket}/${staging}`,
        CopySourceRange: `bytes=0-${copy.bytes.length - 1}`,
      }),
    );
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: copy.key,
        UploadId: final.UploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: copied.CopyPartResult?.ETag }] },
        IfNoneMatch: '*',
      }),
    );
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: staging }));
  }

  const { checksum: _none, ...fields } = buildSidecar(recording, {
    objectKey: copy.key,
    size: copy.bytes.length,
    sha256,
    contentType: copy.contentType,
    archivedAt: new Date(),
  });
  const sidecar: Sidecar = { ...fields, schemaVersion: 1 };
  if (copy.withSidecar !== false) {
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: sidecarKey(copy.key),
        Body: serialiseSidecar(sidecar),
        ContentType: 'application/json',
        Tagging: tagging,
      }),
    );
  }
  return sidecar;
}
