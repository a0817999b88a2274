import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { crc32 } from 'node:zlib';
import { TransientError } from './errors';
import { describeNonMedia, detectMediaKind, SIGNATURE_BYTES } from './media-signature';

export interface VerifierExpectations {
  /** Content-Length as the download server announced it. */
  contentLength?: number;
  /** Size the source API reported for the recording. */
  sourceSize?: number;
  /** Refuse bodies that do not start like audio or video. Default true. */
  requireMedia?: boolean;
}

export interface StreamSummary {
  size: number;
  sha256: string;
  /**
   * CRC32 (zlib's, as an unsigned integer) of the same bytes. Computed here, on the stream, rather than
   * from the parts a store cuts it into: S3 checks it against the parts it received, which also checks
   * that they were assembled in the right order.
   */
  crc32: number;
}

/**
 * Passes bytes through unchanged while counting them, hashing them (SHA-256 and CRC32) and checking the first
 * bytes look like media. It errors, and so fails whatever consumes it, when the body is not media, runs
 * past the expected size, or ends short of it. Stores complete an upload only after this stream ended
 * cleanly, so a broken body never becomes an archived object.
 */
export class RecordingVerifier extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private crc = 0;
  private readonly expectedSize: number | undefined;
  /** Chunks held back until the media signature is complete, so nothing unchecked reaches storage. */
  private held: Buffer[] | undefined;
  private heldLength = 0;
  private bytes = 0;
  private finished: StreamSummary | undefined;

  constructor(expectations: VerifierExpectations) {
    super();
    const { contentLength, sourceSize } = expectations;
    if (contentLength !== undefined && sourceSize !== undefined && contentLength !== sourceSize) {
      // Fail fast: no byte of a download that announces the wrong size is worth sending to storage.
      throw new TransientError(
        `download announces ${contentLength} bytes but the source reports ${sourceSize}`,
      );
    }
    this.expectedSize = sourceSize ?? contentLength;
    this.held = expectations.requireMedia === false ? undefined : [];
  }

  /** Size and hash of everything that passed; only after the stream ended without error. */
  summary(): StreamSummary {
    if (!this.finished) throw new Error('RecordingVerifier.summary() called before the stream ended');
    return this.finished;
  }

  get bytesSeen(): number {
    return this.bytes;
  }

  get expectedBytes(): number | undefined {
    return this.expectedSize;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.expectedSize !== undefined && this.bytes > this.expectedSize) {
      callback(new TransientError(`download ran past the expected ${this.expectedSize} bytes`));
      return;
    }
    this.hash.update(chunk);
    this.crc = crc32(chunk, this.crc);
    if (!this.held) {
      callback(null, chunk);
      return;
    }
    this.held.push(chunk);
    this.heldLength += chunk.length;
    if (this.heldLength < SIGNATURE_BYTES) {
      callback();
      return;
    }
    callback(this.releaseHeld());
  }

  override _flush(callback: TransformCallback): void {
    if (this.held) {
      const refusal = this.releaseHeld();
      if (refusal) {
        callback(refusal);
        return;
      }
    }
    if (this.expectedSize !== undefined && this.bytes !== this.expectedSize) {
      callback(new TransientError(`download ended after ${this.bytes} of ${this.expectedSize} bytes`));
      return;
    }
    this.finished = { size: this.bytes, sha256: this.hash.digest('hex'), crc32: this.crc };
    callback();
  }

  /** Checks the signature over the held bytes; pushes them on success, returns the refusal otherwise. */
  private releaseHeld(): TransientError | undefined {
    const held = Buffer.concat(this.held ?? []);
    this.held = undefined;
    const head = held.subarray(0, SIGNATURE_BYTES);
    if (!detectMediaKind(head)) {
      return new TransientError(`download is not audio or video: it starts like ${describeNonMedia(head)}`);
    }
    if (held.length > 0) this.push(held);
    return undefined;
  }
}
