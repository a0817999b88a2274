/**
 * Deterministic synthetic MP4 bytes for the Teams sandbox: an `ftyp` box first (so the body starts like
 * the video/mp4 Teams serves), an `mdat` box header sized to the rest (64-bit size when it needs it),
 * then an AES-128-CTR keystream keyed by the seed. Any size, gigabytes included, is produced chunk by
 * chunk with constant memory, and the same seed always yields the same bytes, so tests compute the
 * expected SHA-256 without keeping a copy.
 */
import { createCipheriv, createHash } from 'node:crypto';

export const MP4_CHUNK_BYTES = 64 * 1024;
const FTYP_BYTES = 24;
/** ftyp + the largest mdat header (size 1 + 64-bit largesize). */
export const MIN_MP4_BYTES = FTYP_BYTES + 16;

/** The file's first bytes: `ftyp` (isom, minor 0x200, compatible isom and mp42) and the `mdat` header. */
export function mp4Header(totalSize: number): Buffer {
  const ftyp = Buffer.alloc(FTYP_BYTES);
  ftyp.writeUInt32BE(FTYP_BYTES, 0);
  ftyp.write('ftyp', 4, 'latin1');
  ftyp.write('isom', 8, 'latin1');
  ftyp.writeUInt32BE(0x200, 12);
  ftyp.write('isom', 16, 'latin1');
  ftyp.write('mp42', 20, 'latin1');
  const mdatSize = totalSize - FTYP_BYTES;
  if (mdatSize <= 0xffffffff) {
    const mdat = Buffer.alloc(8);
    mdat.writeUInt32BE(mdatSize, 0);
    mdat.write('mdat', 4, 'latin1');
    return Buffer.concat([ftyp, mdat]);
  }
  const mdat = Buffer.alloc(16);
  mdat.writeUInt32BE(1, 0);
  mdat.write('mdat', 4, 'latin1');
  mdat.writeBigUInt64BE(BigInt(mdatSize), 8);
  return Buffer.concat([ftyp, mdat]);
}

/** Yields the recording's bytes (or those from `offset` on) in chunks of at most `chunkBytes`. */
export function* syntheticMp4Chunks(
  seed: string,
  size: number,
  chunkBytes = MP4_CHUNK_BYTES,
): Generator<Buffer> {
  if (!Number.isSafeInteger(size) || size < MIN_MP4_BYTES) {
    throw new RangeError(`a synthetic MP4 needs at least ${MIN_MP4_BYTES} bytes, not ${size}`);
  }
  const key = createHash('sha256').update(`callvault-msteams-sandbox-mp4:${seed}`).digest();
  const cipher = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32));
  const header = mp4Header(size);
  let produced = 0;
  while (produced < size) {
    const length = Math.min(chunkBytes, size - produced);
    const chunk = cipher.update(Buffer.alloc(length));
    if (produced < header.length) header.copy(chunk, 0, produced, Math.min(header.length, produced + length));
    produced += length;
    yield chunk;
  }
}

/** SHA-256 (hex) of the bytes `syntheticMp4Chunks(seed, size)` yields, computed by streaming them. */
export function syntheticMp4Sha256(seed: string, size: number): string {
  const hash = createHash('sha256');
  for (const chunk of syntheticMp4Chunks(seed, size)) hash.update(chunk);
  return hash.digest('hex');
}
