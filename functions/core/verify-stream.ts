import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { crc32 } from 'node:zlib';
import type { ResumableHash } from './continuation';
import { TransientError } from './errors';
import { describeNonMedia, detectMediaKind, SIGNATURE_BYTES } from './media-signature';

export interface VerifierExpectations {
  /** Content-Length as the download server announced it. */
  contentLength?: number;
  /** Size the source API reported for the recording. */
  sourceSize?: number;
  /** Refuse bodies that do not start like audio or video. Default true. */
  requireMedia?: boolean;
  /**
   * Hash with a savable SHA-256 and keep its state at every multiple of `partSizeBytes`, so an upload
   * stopped at a part boundary can be continued (core/continuation.ts). With `from`, the stream is the
   * rest of a file whose first `offset` bytes an earlier invocation verified (its head included).
   */
  resumable?: {
    hash: ResumableHash;
    partSizeBytes: number;
    from?: { offset: number; crc32: number };
  };
}

/** The running checksums after a part boundary. */
export interface VerifierSnapshot {
  sha256State: string;
  crc32: number;
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
  private readonly hash: Hash | undefined;
  private readonly resumableHash: ResumableHash | undefined;
  private readonly snapshotEvery: number | undefined;
  private readonly snapshots = new Map<number, VerifierSnapshot>();
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
    const { resumable } = expectations;
    this.resumableHash = resumable?.hash;
    this.snapshotEvery = resumable?.partSizeBytes;
    this.hash = resumable ? undefined : createHash('sha256');
    if (resumable?.from) {
      this.bytes = resumable.from.offset;
      this.crc = resumable.from.crc32;
      this.held = undefined;
    }
    // The starting point is a boundary too: an invocation that passes no whole part before its
    // checkpoint (a slow link, a loaded machine) must still be able to hand the same state on.
    if (resumable) this.snapshots.set(this.bytes, { sha256State: resumable.hash.save(), crc32: this.crc });
  }

  /** The checksums after exactly `offset` bytes, a multiple of the part size this stream has passed. */
  snapshotAt(offset: number): VerifierSnapshot | undefined {
    return this.snapshots.get(offset);
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
    this.digestChunk(chunk, this.bytes - chunk.length);
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
    const sha256 = this.hash ? this.hash.digest('hex') : (this.resumableHash as ResumableHash).digestHex();
    this.finished = { size: this.bytes, sha256, crc32: this.crc };
    callback();
  }

  /** Hashes a chunk that starts at byte `start`, saving the state at each part boundary inside it. */
  private digestChunk(chunk: Buffer, start: number): void {
    if (this.hash) {
      this.hash.update(chunk);
      this.crc = crc32(chunk, this.crc);
      return;
    }
    const every = this.snapshotEvery as number;
    const hash = this.resumableHash as ResumableHash;
    let from = 0;
    while (from < chunk.length) {
      const boundary = (Math.floor((start + from) / every) + 1) * every;
      const to = Math.min(chunk.length, boundary - start);
      const piece = chunk.subarray(from, to);
      hash.update(piece);
      this.crc = crc32(piece, this.crc);
      from = to;
      if (start + from === boundary)
        this.snapshots.set(boundary, { sha256State: hash.save(), crc32: this.crc });
    }
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
