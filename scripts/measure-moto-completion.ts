/**
 * How long moto takes to complete one multipart upload, by the checksum it was created with: FULL_OBJECT
 * CRC32 (callvault), COMPOSITE CRC32 (lib-storage's default), none (moto's CRC64NVME default), and
 * FULL_OBJECT without the size or the If-None-Match. 100 MiB in 8 MiB parts (PART=5 for 5 MiB), 2 rounds.
 *
 *   npx tsx scripts/measure-moto-completion.ts
 */

import { crc32 } from 'node:zlib';
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { crc32Base64, fullObjectCrc32 } from '../functions/core/checksums';
import { startMoto } from '../test/support/moto';

const MiB = 1 << 20;
async function main() {
  const moto = await startMoto();
  const s3 = moto.s3;
  await s3.send(new CreateBucketCommand({ Bucket: 'mtest-bucket' }));
  const partSize = Number(process.env.PART ?? 8) * MiB;
  const total = 100 * MiB;
  const buf = Buffer.alloc(partSize, 9);
  for (let round = 0; round < 2; round++)
    for (const variant of ['full', 'composite', 'none', 'full-nosize', 'full-noifnm']) {
      const Key = `k-${variant}-${round}`;
      const create = await s3.send(
        new CreateMultipartUploadCommand({
          Bucket: 'mtest-bucket',
          Key,
          ...(variant.startsWith('full')
            ? { ChecksumAlgorithm: 'CRC32', ChecksumType: 'FULL_OBJECT' }
            : variant === 'composite'
              ? { ChecksumAlgorithm: 'CRC32' }
              : {}),
        }),
      );
      const parts = [];
      let crc = 0;
      let sent = 0;
      for (let n = 1; sent < total; n++) {
        const body = buf.subarray(0, Math.min(partSize, total - sent));
        const c = crc32Base64(crc32(body));
        crc = crc32(body, crc);
        sent += body.length;
        const r = await s3.send(
          new UploadPartCommand({
            Bucket: 'mtest-bucket',
            Key,
            UploadId: create.UploadId,
            PartNumber: n,
            Body: body,
            ContentLength: body.length,
            ...(variant === 'none' ? {} : { ChecksumAlgorithm: 'CRC32', ChecksumCRC32: c }),
          }),
        );
        parts.push({ PartNumber: n, ETag: r.ETag, ...(variant === 'none' ? {} : { ChecksumCRC32: c }) });
      }
      const t = performance.now();
      await s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: 'mtest-bucket',
          Key,
          UploadId: create.UploadId,
          MultipartUpload: { Parts: parts },
          ...(variant.startsWith('full')
            ? { ChecksumCRC32: fullObjectCrc32(crc).value, ChecksumType: 'FULL_OBJECT' }
            : {}),
          ...(variant === 'full' || variant === 'full-noifnm' ? { MpuObjectSize: total } : {}),
          ...(variant === 'full-noifnm' ? {} : { IfNoneMatch: '*' }),
        }),
      );
      console.log(variant, 'complete ms', (performance.now() - t).toFixed(0));
      await s3.send(new DeleteObjectCommand({ Bucket: 'mtest-bucket', Key }));
    }
  await moto.stop();
}
main();
