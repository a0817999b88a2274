/**
 * Whole-object checksums as S3 keeps them: an algorithm, how the value was formed, and the base64 of the
 * big-endian digest. callvault writes CRC32 (multipart uploads, combined by S3 into a FULL_OBJECT value)
 * and SHA-256 (single puts); it reads whatever S3 reports for copies written by anyone else.
 */
import { createHash, type Hash } from 'node:crypto';
import { crc32 } from 'node:zlib';

export const CHECKSUM_ALGORITHMS = ['CRC32', 'CRC32C', 'CRC64NVME', 'SHA1', 'SHA256'] as const;
export type ChecksumAlgorithm = (typeof CHECKSUM_ALGORITHMS)[number];
export const CHECKSUM_TYPES = ['FULL_OBJECT', 'COMPOSITE'] as const;
export type ChecksumType = (typeof CHECKSUM_TYPES)[number];

export interface ObjectChecksum {
  algorithm: ChecksumAlgorithm;
  /** FULL_OBJECT: the checksum of the whole object. COMPOSITE: a checksum of the parts' checksums. */
  type: ChecksumType;
  /** Base64 of the big-endian digest, as S3 reports it (a COMPOSITE value ends in `-{parts}`). */
  value: string;
}

export function crc32Base64(value: number): string {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(value >>> 0);
  return bytes.toString('base64');
}

/** The FULL_OBJECT CRC32 of bytes whose running CRC32 (zlib's, from 0) is `value`. */
export function fullObjectCrc32(value: number): ObjectChecksum {
  return { algorithm: 'CRC32', type: 'FULL_OBJECT', value: crc32Base64(value) };
}

export function sameChecksum(a: ObjectChecksum, b: ObjectChecksum): boolean {
  return a.algorithm === b.algorithm && a.type === b.type && a.value === b.value;
}

export function describeChecksum(checksum: ObjectChecksum | undefined | null): string {
  return checksum ? `${checksum.algorithm} ${checksum.type} ${checksum.value}` : 'none';
}

/**
 * Recomputes a FULL_OBJECT checksum over a byte stream, for the algorithms callvault can compute here
 * (CRC32 with zlib, SHA-256 with OpenSSL); undefined for any other.
 */
export function checksumAccumulator(
  like: ObjectChecksum,
): { update(chunk: Buffer): void; digest(): ObjectChecksum } | undefined {
  if (like.type !== 'FULL_OBJECT') return undefined;
  if (like.algorithm === 'CRC32') {
    let value = 0;
    return {
      update: (chunk) => {
        value = crc32(chunk, value);
      },
      digest: () => fullObjectCrc32(value),
    };
  }
  if (like.algorithm === 'SHA256') {
    const hash: Hash = createHash('sha256');
    return {
      update: (chunk) => {
        hash.update(chunk);
      },
      digest: () => ({ algorithm: 'SHA256', type: 'FULL_OBJECT', value: hash.digest('base64') }),
    };
  }
  return undefined;
}
