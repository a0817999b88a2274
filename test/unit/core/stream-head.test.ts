import { PassThrough, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { peekHead } from '../../../functions/core/stream-head';

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await pipeline(
    stream,
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        chunks.push(chunk);
        callback();
      },
    }),
  );
  return Buffer.concat(chunks);
}

describe('peekHead', () => {
  it('reads a head spread over several chunks and then yields every byte, the head included', async () => {
    const parts = [Buffer.from('ab'), Buffer.from('cdefg'), Buffer.alloc(100_000, 7), Buffer.from('end')];
    const source = Readable.from(parts, { objectMode: false });
    const { head, body } = await peekHead(source, 4);
    expect(head.toString()).toBe('abcd');
    expect((await collect(body)).equals(Buffer.concat(parts))).toBe(true);
  });

  it('returns the whole of a body shorter than the head, and that body again', async () => {
    const { head, body } = await peekHead(Readable.from([Buffer.from('xyz')], { objectMode: false }), 64);
    expect(head.toString()).toBe('xyz');
    expect((await collect(body)).toString()).toBe('xyz');
  });

  it('handles an empty body', async () => {
    const { head, body } = await peekHead(Readable.from([], { objectMode: false }), 64);
    expect(head.length).toBe(0);
    expect((await collect(body)).length).toBe(0);
  });

  it('rejects when the source fails before the head is complete', async () => {
    const source = new PassThrough();
    source.write(Buffer.from('ab'));
    setTimeout(() => source.destroy(new Error('connection reset')), 5);
    await expect(peekHead(source, 64)).rejects.toThrow('connection reset');
  });

  it('passes a later error of the source on to the returned stream', async () => {
    const source = new PassThrough();
    source.write(Buffer.alloc(128, 1));
    const { body } = await peekHead(source, 64);
    setTimeout(() => source.destroy(new Error('stalled')), 5);
    await expect(collect(body)).rejects.toThrow('stalled');
  });

  it('releases the source when the consumer gives up', async () => {
    const source = new PassThrough();
    source.write(Buffer.alloc(128, 1));
    const { body } = await peekHead(source, 64);
    body.destroy();
    expect(source.destroyed).toBe(true);
  });
});
