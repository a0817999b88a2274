/**
 * Deterministic synthetic MP3 bytes for the provider sandboxes. A recording is a seed and a size; its
 * bytes are an ID3v2 header, one MPEG frame header, then an AES-128-CTR keystream keyed by the seed. Any
 * size (2 GiB included) is produced chunk by chunk with constant memory, and the same seed always yields
 * the same bytes, so tests can compute the expected SHA-256 without keeping a copy.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { Readable } from 'node:stream';

export const AUDIO_CHUNK_BYTES = 64 * 1024;

/** `ID3` v2.3, no flags, tag size 0; then an MPEG-1 Layer III frame header (128 kbit/s, 44.1 kHz). */
const PREAMBLE = Buffer.from([
  0x49, 0x44, 0x33, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xfb, 0x90, 0x64,
]);

/** Yields the recording's bytes in chunks of at most `chunkBytes`. */
export function* syntheticAudioChunks(
  seed: string,
  size: number,
  chunkBytes = AUDIO_CHUNK_BYTES,
): Generator<Buffer> {
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`invalid synthetic audio size ${size}`);
  const key = createHash('sha256').update(`callvault-sandbox-audio:${seed}`).digest();
  const cipher = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32));
  let produced = 0;
  while (produced < size) {
    const length = Math.min(chunkBytes, size - produced);
    const chunk = cipher.update(Buffer.alloc(length));
    // The first bytes are the preamble so the body starts like an MP3 file.
    if (produced < PREAMBLE.length) {
      PREAMBLE.copy(chunk, 0, produced, Math.min(PREAMBLE.length, produced + length));
    }
    produced += length;
    yield chunk;
  }
}

/** The bytes as a pull-based stream (only produced as fast as they are read). */
export function syntheticAudioStream(seed: string, size: number): Readable {
  return Readable.from(syntheticAudioChunks(seed, size), { objectMode: false });
}

/** SHA-256 (hex) of the bytes `syntheticAudioChunks(seed, size)` yields. */
export function syntheticAudioSha256(seed: string, size: number): string {
  const hash = createHash('sha256');
  for (const chunk of syntheticAudioChunks(seed, size)) hash.update(chunk);
  return hash.digest('hex');
}
