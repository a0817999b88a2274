import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { detectMediaKind } from '../../../functions/core/media-signature';
import { RecordingVerifier } from '../../../functions/core/verify-stream';

const mp3 = (size: number) => {
  const bytes = Buffer.alloc(size, 7);
  bytes.write('ID3', 0, 'latin1');
  return bytes;
};

async function drain(source: Readable, verifier: RecordingVerifier): Promise<Buffer> {
  source.pipe(verifier);
  source.on('error', (error) => verifier.destroy(error));
  const chunks: Buffer[] = [];
  for await (const chunk of verifier) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Splits a buffer into small chunks so signature bytes arrive across chunk boundaries. */
const chunked = (bytes: Buffer, size: number) =>
  Readable.from(
    Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) =>
      bytes.subarray(i * size, (i + 1) * size),
    ),
  );

describe('RecordingVerifier', () => {
  it('passes bytes through unchanged and reports size, sha256 and the CRC32 of the whole stream', async () => {
    const body = mp3(100_000);
    const verifier = new RecordingVerifier({ sourceSize: body.length, contentLength: body.length });
    const out = await drain(chunked(body, 5), verifier);
    expect(out.equals(body)).toBe(true);
    expect(verifier.summary()).toEqual({
      size: body.length,
      sha256: createHash('sha256').update(body).digest('hex'),
      crc32: crc32(body),
    });
  });

  it('refuses an HTML error page served with status 200', async () => {
    const verifier = new RecordingVerifier({});
    await expect(
      drain(Readable.from([Buffer.from('<!DOCTYPE html><html>quota</html>')]), verifier),
    ).rejects.toThrow(/not audio or video: it starts like an HTML/);
  });

  it('refuses a JSON error body', async () => {
    const verifier = new RecordingVerifier({});
    await expect(drain(Readable.from([Buffer.from('{"error":"not found"}')]), verifier)).rejects.toThrow(
      /JSON/,
    );
  });

  it('refuses a body shorter than the source reports', async () => {
    const verifier = new RecordingVerifier({ sourceSize: 1000 });
    await expect(drain(Readable.from([mp3(999)]), verifier)).rejects.toThrow(/ended after 999 of 1000 bytes/);
  });

  it('refuses a body longer than announced as soon as it overruns', async () => {
    const verifier = new RecordingVerifier({ contentLength: 10 });
    await expect(drain(Readable.from([mp3(11)]), verifier)).rejects.toThrow(/ran past the expected 10 bytes/);
  });

  it('refuses up front when Content-Length and the source size disagree', () => {
    expect(() => new RecordingVerifier({ contentLength: 10, sourceSize: 11 })).toThrow(/announces 10 bytes/);
  });

  it('passes an upstream error through', async () => {
    const verifier = new RecordingVerifier({});
    const source = new Readable({
      read() {
        this.push(mp3(20));
        this.destroy(new Error('socket hang up'));
      },
    });
    await expect(drain(source, verifier)).rejects.toThrow(/socket hang up/);
  });

  it('never releases bytes before the signature was checked', async () => {
    const verifier = new RecordingVerifier({});
    const released: Buffer[] = [];
    verifier.on('data', (chunk: Buffer) => released.push(chunk));
    verifier.write(Buffer.from('<ht'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(released).toHaveLength(0);
    verifier.on('error', () => {});
    verifier.end(Buffer.from('ml>.........'));
  });
});

describe('detectMediaKind', () => {
  it.each([
    [
      'mp3 with ID3',
      Buffer.from('ID3\u0004\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000', 'latin1'),
      'mp3',
    ],
    ['mp3 frame sync', Buffer.from([0xff, 0xfb, 0x90, 0x64, 0, 0, 0, 0, 0, 0, 0, 0]), 'mp3'],
    ['wav', Buffer.from('RIFF\u0000\u0000\u0000\u0000WAVE', 'latin1'), 'wav'],
    ['mp4', Buffer.from('\u0000\u0000\u0000\u0018ftypmp42', 'latin1'), 'mp4'],
    ['ogg', Buffer.from('OggS\u0000\u0002\u0000\u0000\u0000\u0000\u0000\u0000', 'latin1'), 'ogg'],
  ])('recognises %s', (_name, head, kind) => {
    expect(detectMediaKind(head)).toBe(kind);
  });

  it('rejects text', () => {
    expect(detectMediaKind(Buffer.from('Quota exceeded'))).toBeUndefined();
  });
});
