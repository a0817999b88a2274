import { Readable } from 'node:stream';

/**
 * The first `bytes` bytes of a stream, and a stream that yields everything (those bytes included).
 * Errors of the source reach the returned stream; destroying the returned stream releases the source.
 * The archive reads a download's head this way to name the copy by its content before storing it.
 *
 * The head is read with `read()` and put back with `unshift()`, so the returned stream is the source
 * itself: no extra stream (and no per-chunk async hop) sits between the download and the verifier for
 * the rest of a recording that may be gigabytes long.
 */
export async function peekHead(body: Readable, bytes: number): Promise<{ head: Buffer; body: Readable }> {
  const chunks: Buffer[] = [];
  let length = 0;
  let ended = false;
  try {
    while (length < bytes) {
      const chunk = body.read() as Buffer | null;
      if (chunk !== null) {
        chunks.push(chunk);
        length += chunk.length;
        continue;
      }
      if ((await nextReadable(body)) === 'end') {
        ended = true;
        break;
      }
    }
  } catch (error) {
    body.destroy();
    throw error;
  }
  const head = Buffer.concat(chunks);
  if (ended) {
    // An ended stream takes nothing back: the (short) head alone is the whole body.
    body.destroy();
    return { head, body: Readable.from(head.length > 0 ? [head] : [], { objectMode: false }) };
  }
  body.unshift(head);
  return { head: head.subarray(0, bytes), body };
}

/** Waits until the stream has data to read or has ended; rejects on its error or a close before the end. */
function nextReadable(body: Readable): Promise<'readable' | 'end'> {
  if (body.readableEnded) return Promise.resolve('end');
  if (body.errored) return Promise.reject(body.errored);
  if (body.destroyed) return Promise.reject(new Error('stream closed before its end'));
  return new Promise((resolve, reject) => {
    const settle = (outcome: () => void) => {
      body.off('readable', onReadable);
      body.off('end', onEnd);
      body.off('error', onError);
      body.off('close', onClose);
      outcome();
    };
    const onReadable = () => settle(() => resolve('readable'));
    const onEnd = () => settle(() => resolve('end'));
    const onError = (error: Error) => settle(() => reject(error));
    const onClose = () =>
      settle(() =>
        body.readableEnded
          ? resolve('end')
          : reject(body.errored ?? new Error('stream closed before its end')),
      );
    body.on('readable', onReadable);
    body.on('end', onEnd);
    body.on('error', onError);
    body.on('close', onClose);
  });
}
