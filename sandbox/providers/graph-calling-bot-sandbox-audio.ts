/**
 * Deterministic synthetic WAV bytes for the Graph sandbox: a 44-byte RIFF/WAVE header (PCM, 16 kHz,
 * 16-bit, mono, sizes filled in) followed by an AES-128-CTR keystream keyed by the seed. Any size is
 * produced chunk by chunk, and the same seed always yields the same bytes.
 */
import { createCipheriv, createHash } from 'node:crypto';

export const WAV_HEADER_BYTES = 44;
const SAMPLE_RATE = 16_000;
const BITS_PER_SAMPLE = 16;
const CHANNELS = 1;

export function wavHeader(totalSize: number): Buffer {
  const header = Buffer.alloc(WAV_HEADER_BYTES);
  const blockAlign = (CHANNELS * BITS_PER_SAMPLE) / 8;
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(totalSize - 8, 4);
  header.write('WAVE', 8, 'ascii');
  header.write('fmt ', 12, 'ascii');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(CHANNELS, 22);
  header.writeUInt32LE(SAMPLE_RATE, 24);
  header.writeUInt32LE(SAMPLE_RATE * blockAlign, 28);
  header.writeUInt16LE(blockAlign, 32);
  header.writeUInt16LE(BITS_PER_SAMPLE, 34);
  header.write('data', 36, 'ascii');
  header.writeUInt32LE(totalSize - WAV_HEADER_BYTES, 40);
  return header;
}

/** Yields the recording's bytes in chunks of at most `chunkBytes`. */
export function* syntheticWavChunks(seed: string, size: number, chunkBytes = 16 * 1024): Generator<Buffer> {
  if (!Number.isSafeInteger(size) || size < WAV_HEADER_BYTES) {
    throw new RangeError(`a synthetic WAV needs at least ${WAV_HEADER_BYTES} bytes, not ${size}`);
  }
  const key = createHash('sha256').update(`callvault-msgraph-sandbox-wav:${seed}`).digest();
  const cipher = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32));
  const header = wavHeader(size);
  let produced = 0;
  while (produced < size) {
    const length = Math.min(chunkBytes, size - produced);
    const chunk = cipher.update(Buffer.alloc(length));
    if (produced < WAV_HEADER_BYTES) {
      header.copy(chunk, 0, produced, Math.min(WAV_HEADER_BYTES, produced + length));
    }
    produced += length;
    yield chunk;
  }
}

export function syntheticWavSha256(seed: string, size: number): string {
  const hash = createHash('sha256');
  for (const chunk of syntheticWavChunks(seed, size)) hash.update(chunk);
  return hash.digest('hex');
}
