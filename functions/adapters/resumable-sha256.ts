/**
 * SHA-256 whose state can be saved into a message and loaded by another invocation, from hash-wasm
 * (`save()`/`load()`, https://github.com/Daninet/hash-wasm#resumable-hashing). Node's OpenSSL hash
 * cannot export its state, so a download that continues in a later invocation is hashed with this one.
 */
import { createSHA256 } from 'hash-wasm';
import type { ResumableHash, ResumableHashFactory } from '../core/continuation';

export const resumableSha256: ResumableHashFactory = {
  async create(savedState?: string): Promise<ResumableHash> {
    const hasher = await createSHA256();
    hasher.init();
    if (savedState !== undefined) hasher.load(Buffer.from(savedState, 'base64'));
    return {
      update: (chunk) => {
        hasher.update(chunk);
      },
      save: () => Buffer.from(hasher.save()).toString('base64'),
      digestHex: () => hasher.digest('hex'),
    };
  },
};
