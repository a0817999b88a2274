/**
 * Cuts a byte stream into fixed-size parts with bounded memory. The stream is read into preallocated
 * part buffers (each chunk is copied once); a full buffer is handed to `uploadPart` and reading pauses
 * while `partsInFlight` parts are being uploaded, so at most `partsInFlight + 1` buffers ever exist,
 * whatever the stream's length. Storage-agnostic: the S3 store supplies the calls.
 */

export interface PartSink<P> {
  /** Called once, before the first part, when the stream turns out to be longer than one part. */
  begin(): Promise<void>;
  /** Uploads one part. `bytes` is only valid until the returned promise settles (the buffer is reused). */
  uploadPart(partNumber: number, bytes: Buffer): Promise<P>;
}

export interface PartPumpOptions {
  partSizeBytes: number;
  partsInFlight: number;
  /** Aborted on the first failure, so the sink can cancel the uploads still in flight. */
  cancel: AbortController;
  /**
   * Continues an upload whose parts before this one exist already (core/continuation.ts): `begin` is not
   * called, and the rest is sent as parts even when it is shorter than one.
   */
  firstPartNumber?: number;
  /**
   * Stops reading at the next part boundary once it fires (after at least one part was sent): the bytes
   * read past the last full part are dropped, the parts in flight finish, and `stopped` is returned.
   */
  stop?: AbortSignal;
}

export type PartPumpResult<P> =
  | { kind: 'single'; bytes: Buffer }
  | { kind: 'multipart'; parts: P[]; size: number; buffersAllocated: number }
  /** `stop` fired: `parts` (from `firstPartNumber`) hold exactly `size` bytes. */
  | { kind: 'stopped'; parts: P[]; size: number; buffersAllocated: number };

export async function pumpParts<P>(
  body: AsyncIterable<Buffer>,
  options: PartPumpOptions,
  sink: PartSink<P>,
): Promise<PartPumpResult<P>> {
  const { partSizeBytes, partsInFlight, cancel } = options;
  if (!Number.isInteger(partSizeBytes) || partSizeBytes < 1)
    throw new RangeError('partSizeBytes must be a positive integer');
  if (!Number.isInteger(partsInFlight) || partsInFlight < 1)
    throw new RangeError('partsInFlight must be a positive integer');

  const free: Buffer<ArrayBuffer>[] = [];
  let buffersAllocated = 1;
  let current = Buffer.allocUnsafe(partSizeBytes);
  let filled = 0;
  const firstPart = options.firstPartNumber ?? 1;
  const resuming = firstPart > 1;
  let partNumber = firstPart - 1;
  let size = 0;
  let begun = resuming;
  let stopped = false;
  const parts: P[] = [];
  const inFlight = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;

  const fail = (error: unknown) => {
    failure ??= { error };
    cancel.abort();
  };
  const throwIfFailed = () => {
    if (failure) throw failure.error;
  };

  /** Sends the current buffer as the next part and makes a free buffer current. */
  const dispatch = async () => {
    if (!begun) {
      await sink.begin();
      begun = true;
    }
    // Backpressure: the caller does not read further while every upload slot is busy.
    while (inFlight.size >= partsInFlight) await Promise.race(inFlight);
    throwIfFailed();
    const buffer = current;
    const number = ++partNumber;
    size += filled;
    const task: Promise<void> = sink
      .uploadPart(number, buffer.subarray(0, filled))
      .then((part) => {
        parts[number - firstPart] = part;
      }, fail)
      .finally(() => {
        inFlight.delete(task);
        free.push(buffer);
      });
    inFlight.add(task);
    const next = free.pop();
    if (next) {
      current = next;
    } else {
      current = Buffer.allocUnsafe(partSizeBytes);
      buffersAllocated += 1;
    }
    filled = 0;
  };

  try {
    for await (const chunk of body) {
      if (options.stop?.aborted && (resuming || partNumber > 0)) {
        // A full buffer is a whole part, and this chunk proves the file goes on past it.
        if (filled === partSizeBytes) await dispatch();
        stopped = true;
        break;
      }
      let offset = 0;
      while (offset < chunk.length) {
        // Dispatch lazily, only once more bytes arrive, so a body of exactly one part stays a single put.
        if (filled === partSizeBytes) await dispatch();
        const copied = chunk.copy(current, filled, offset);
        filled += copied;
        offset += copied;
      }
      throwIfFailed();
    }
    if (!stopped) {
      if (partNumber === 0) return { kind: 'single', bytes: current.subarray(0, filled) };
      await dispatch();
    }
  } catch (error) {
    fail(error);
  }
  // Never leave an upload running behind the caller's back: its AbortMultipartUpload would race it.
  await Promise.allSettled([...inFlight]);
  throwIfFailed();
  return { kind: stopped ? 'stopped' : 'multipart', parts, size, buffersAllocated };
}
