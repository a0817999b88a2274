/**
 * Cuts a byte stream into fixed-size parts with bounded memory. The stream is read into preallocated
 * part buffers (each chunk is copied once); a full buffer is handed to `uploadPart` and reading pauses
 * while `partsInFlight` parts are being uploaded, so at most `partsInFlight + 1` buffers ever exist,
 * whatever the stream's length. Storage-agnostic: the S3 store supplies the calls.
 *
 * When the stream's length is known up front (`expectedBytes`), nothing waits to find it out: a body of at
 * most `singlePutMaxBytes` is read into one buffer of exactly its size for a single put, and a longer one
 * calls `begin` at once, so the upload is created while the first part is still downloading.
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
   * The body's exact length, where known (the verifier refuses a body of any other length, so a body that
   * differs fails before it is stored). Ignored when continuing (`firstPartNumber` > 1): the upload exists.
   */
  expectedBytes?: number;
  /** With `expectedBytes`: the largest body sent as a single put; defaults to one part. */
  singlePutMaxBytes?: number;
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
  const firstPart = options.firstPartNumber ?? 1;
  if (!Number.isSafeInteger(firstPart) || firstPart < 1)
    throw new RangeError('firstPartNumber must be a positive integer');
  const resuming = firstPart > 1;
  // A continued upload exists already, and its rest is never a single put.
  const expectedBytes = resuming ? undefined : options.expectedBytes;
  if (expectedBytes !== undefined && !(Number.isSafeInteger(expectedBytes) && expectedBytes >= 0))
    throw new RangeError('expectedBytes must be a non-negative integer');
  if (expectedBytes !== undefined && expectedBytes <= (options.singlePutMaxBytes ?? partSizeBytes))
    return { kind: 'single', bytes: await readExactly(body, expectedBytes) };

  const free: Buffer<ArrayBuffer>[] = [];
  let buffersAllocated = 1;
  let current = Buffer.allocUnsafe(partSizeBytes);
  let filled = 0;
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
  // A body known to be longer than a single put starts its upload now, beside the first part's download.
  let beginning: Promise<void> | undefined;
  if (expectedBytes !== undefined) {
    beginning = sink.begin();
    beginning.catch(fail);
  }

  /** Sends the current buffer as the next part and makes a free buffer current. */
  const dispatch = async () => {
    if (beginning) {
      await beginning;
      begun = true;
    }
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
        throwIfFailed();
        const copied = chunk.copy(current, filled, offset);
        filled += copied;
        offset += copied;
      }
      throwIfFailed();
    }
    if (!stopped) {
      // An upload begun at once (or continued) takes even a short body as its one (last) part.
      if (partNumber === 0 && !beginning) return { kind: 'single', bytes: current.subarray(0, filled) };
      await dispatch();
    }
  } catch (error) {
    fail(error);
  }
  // Never leave an upload running behind the caller's back: its AbortMultipartUpload would race it, and
  // an upload still being created must be known to the caller before it can be aborted.
  await Promise.allSettled([...inFlight, ...(beginning ? [beginning] : [])]);
  throwIfFailed();
  return { kind: stopped ? 'stopped' : 'multipart', parts, size, buffersAllocated };
}

/**
 * Reads a body of a known length into one buffer of that length. A body that runs past it fails here
 * rather than overflowing (the verifier normally fails it first).
 */
async function readExactly(body: AsyncIterable<Buffer>, length: number): Promise<Buffer> {
  const bytes = Buffer.allocUnsafe(length);
  let filled = 0;
  for await (const chunk of body) {
    if (filled + chunk.length > length)
      throw new RangeError(`the body ran past its expected ${length} bytes`);
    chunk.copy(bytes, filled);
    filled += chunk.length;
  }
  return bytes.subarray(0, filled);
}
