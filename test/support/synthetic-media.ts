/**
 * Deterministic synthetic "MP3" bodies of any size: an `ID3` start (so the verifier accepts them as
 * media) followed by pseudo-random bytes. Built from 1 MiB blocks, each stamped with its index and
 * the seed, so bodies of different seeds or offsets never share content and gigabytes stream fast.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';

const BLOCK_BYTES = 1024 * 1024;

function baseBlock(seed: number): Buffer {
  const block = Buffer.allocUnsafe(BLOCK_BYTES);
  // xorshift32: cheap, deterministic, incompressible enough for transfer tests.
  let state = (seed * 2654435761 + 1) >>> 0 || 1;
  for (let i = 0; i < BLOCK_BYTES; i += 4) {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    block.writeUInt32LE(state, i);
  }
  return block;
}

class BlockSource {
  private readonly base: Buffer;
  private readonly block = Buffer.allocUnsafe(BLOCK_BYTES);
  private blockIndex = -1;

  constructor(private readonly seed: number) {
    this.base = baseBlock(seed);
  }

  /** The bytes of block `index`, valid until the next call. */
  get(index: number): Buffer {
    if (index !== this.blockIndex) {
      this.base.copy(this.block);
      this.block.writeUInt32LE(index, 4);
      this.block.writeUInt32LE(this.seed, 8);
      if (index === 0) this.block.write('ID3', 0, 'latin1');
      this.blockIndex = index;
    }
    return this.block;
  }
}

/** A stream of `size` synthetic bytes in `chunkBytes` chunks (each a fresh Buffer). */
export function syntheticMp3Stream(size: number, seed = 1, chunkBytes = 64 * 1024): Readable {
  const source = new BlockSource(seed);
  let offset = 0;
  return new Readable({
    read() {
      if (offset >= size) {
        this.push(null);
        return;
      }
      const index = Math.floor(offset / BLOCK_BYTES);
      const within = offset - index * BLOCK_BYTES;
      const length = Math.min(chunkBytes, BLOCK_BYTES - within, size - offset);
      const chunk = Buffer.from(source.get(index).subarray(within, within + length));
      offset += length;
      this.push(chunk);
    },
  });
}

/** The same bytes as one Buffer (for sizes that fit comfortably in a test). */
export function syntheticMp3(size: number, seed = 1): Buffer {
  const source = new BlockSource(seed);
  const out = Buffer.allocUnsafe(size);
  for (let offset = 0; offset < size; offset += BLOCK_BYTES) {
    source.get(offset / BLOCK_BYTES).copy(out, offset, 0, Math.min(BLOCK_BYTES, size - offset));
  }
  return out;
}

/** SHA-256 (hex) of a synthetic body, computed without holding it in memory. */
export function syntheticMp3Sha256(size: number, seed = 1): string {
  const source = new BlockSource(seed);
  const hash = createHash('sha256');
  for (let offset = 0; offset < size; offset += BLOCK_BYTES) {
    hash.update(source.get(offset / BLOCK_BYTES).subarray(0, Math.min(BLOCK_BYTES, size - offset)));
  }
  return hash.digest('hex');
}
