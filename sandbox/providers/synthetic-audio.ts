/**
 * Deterministic synthetic MP3 bytes for the provider sandboxes. A recording is a seed and a size; its
 * bytes are an empty ID3v2 tag, then MPEG-1 Layer III frames (128 kbit/s, 44.1 kHz, 417 bytes each) whose
 * side information is all zero (no main data: a decoder plays silence) and whose remaining bytes, ancillary
 * data that decoders skip, are an AES-128-CTR keystream keyed by the seed. So every recording is distinct
 * and plays in a browser (the console). Any size (2 GiB included) is produced chunk by chunk with constant
 * memory, and the same seed always yields the same bytes, so tests can compute the expected SHA-256
 * without keeping a copy.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { Readable } from 'node:stream';

export const AUDIO_CHUNK_BYTES = 64 * 1024;

/** `ID3` v2.3, no flags, tag size 0. */
const ID3_HEADER = Buffer.from([0x49, 0x44, 0x33, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]);
/**
 * One frame's header (MPEG-1 Layer III, no CRC, 128 kbit/s, 44.1 kHz, no padding, joint stereo) and its
 * 32 bytes of stereo side information, all zero: `main_data_begin` 0 and `part2_3_length` 0, silence.
 */
const FRAME_START = Buffer.concat([Buffer.from([0xff, 0xfb, 0x90, 0x64]), Buffer.alloc(32)]);
/** 144 × 128,000 / 44,100, rounded down (no padding bit). */
const FRAME_BYTES = 417;

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
    overlay(chunk, produced, ID3_HEADER, 0);
    // Each frame that starts in, or spills its header into, this chunk.
    const firstFrame = Math.max(0, Math.floor((produced - ID3_HEADER.length) / FRAME_BYTES));
    for (let frame = firstFrame; ; frame += 1) {
      const frameStart = ID3_HEADER.length + frame * FRAME_BYTES;
      if (frameStart >= produced + length) break;
      overlay(chunk, produced, FRAME_START, frameStart);
    }
    produced += length;
    yield chunk;
  }
}

/** Copies `bytes`, which sit at stream offset `at`, into the part of them that falls in `chunk`. */
function overlay(chunk: Buffer, chunkOffset: number, bytes: Buffer, at: number): void {
  const from = Math.max(at, chunkOffset);
  const to = Math.min(at + bytes.length, chunkOffset + chunk.length);
  if (from < to) bytes.copy(chunk, from - chunkOffset, from - at, to - at);
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
