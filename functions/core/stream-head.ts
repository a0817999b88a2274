import { Readable } from 'node:stream';

/**
 * The first `bytes` bytes of a stream, and a stream that yields everything (those bytes included).
 * Errors of the source reach the returned stream; destroying the returned stream releases the source.
 * The archive reads a download's head this way to name the copy by its content before storing it.
 */
export async function peekHead(body: Readable, bytes: number): Promise<{ head: Buffer; body: Readable }> {
  const iterator = body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const chunks: Buffer[] = [];
  let length = 0;
  let ended = false;
  try {
    while (length < bytes) {
      const next = await iterator.next();
      if (next.done) {
        ended = true;
        break;
      }
      chunks.push(next.value);
      length += next.value.length;
    }
  } catch (error) {
    body.destroy();
    throw error;
  }
  const head = Buffer.concat(chunks);
  // A generator that never started has no `finally` to run: the stream's close releases the source too.
  async function* replay(): AsyncGenerator<Buffer> {
    try {
      if (head.length > 0) yield head;
      while (!ended) {
        const next = await iterator.next();
        if (next.done) return;
        yield next.value;
      }
    } finally {
      // Reached on completion, on error and when the consumer gives up: the socket is released.
      body.destroy();
    }
  }
  const replayed = Readable.from(replay(), { objectMode: false });
  replayed.once('close', () => body.destroy());
  return { head: head.subarray(0, bytes), body: replayed };
}
