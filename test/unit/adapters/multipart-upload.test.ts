import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { pumpParts } from '../../../functions/adapters/multipart-upload';
import { syntheticMp3, syntheticMp3Stream } from '../../support/synthetic-media';

const KiB = 1024;

/** A sink that records what it receives and takes `delayMs` per part. */
function recordingSink(delayMs = 0, failOnPart?: number) {
  const received: Buffer[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let begun = 0;
  return {
    received,
    get maxInFlight() {
      return maxInFlight;
    },
    get begun() {
      return begun;
    },
    sink: {
      async begin() {
        begun += 1;
      },
      async uploadPart(partNumber: number, bytes: Buffer) {
        inFlight += 1;
        maxInFlight = Math.max(maxInFlight, inFlight);
        const copy = Buffer.from(bytes);
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        inFlight -= 1;
        if (partNumber === failOnPart) throw new Error(`part ${partNumber} failed`);
        received[partNumber - 1] = copy;
        return partNumber;
      },
    },
  };
}

describe('pumpParts', () => {
  it('returns a body of at most one part as a single buffer without starting an upload', async () => {
    const sink = recordingSink();

    const result = await pumpParts(
      syntheticMp3Stream(256 * KiB, 1, 10_000),
      { partSizeBytes: 256 * KiB, partsInFlight: 2, cancel: new AbortController() },
      sink.sink,
    );

    expect(result.kind).toBe('single');
    expect(result.kind === 'single' && result.bytes.equals(syntheticMp3(256 * KiB, 1))).toBe(true);
    expect(sink.begun).toBe(0);
  });

  it('cuts a long body into parts in order, bounded in flight and in buffers', async () => {
    const size = 2 * 1024 * KiB + 7;
    const sink = recordingSink(5);

    const result = await pumpParts(
      syntheticMp3Stream(size, 2, 3_000),
      { partSizeBytes: 100 * KiB, partsInFlight: 3, cancel: new AbortController() },
      sink.sink,
    );

    expect(result.kind).toBe('multipart');
    if (result.kind !== 'multipart') return;
    expect(result.parts).toEqual(Array.from({ length: 21 }, (_, i) => i + 1));
    expect(result.size).toBe(size);
    expect(Buffer.concat(sink.received).equals(syntheticMp3(size, 2))).toBe(true);
    expect(sink.received.slice(0, -1).every((part) => part.length === 100 * KiB)).toBe(true);
    expect(sink.maxInFlight).toBe(3);
    expect(result.buffersAllocated).toBe(4);
    expect(sink.begun).toBe(1);
  });

  it('stops reading, waits for parts in flight and rethrows when a part fails', async () => {
    const sink = recordingSink(5, 2);
    const cancel = new AbortController();
    const source = syntheticMp3Stream(10 * 1024 * KiB, 3);

    await expect(
      pumpParts(source, { partSizeBytes: 100 * KiB, partsInFlight: 2, cancel }, sink.sink),
    ).rejects.toThrow('part 2 failed');

    expect(cancel.signal.aborted).toBe(true);
    expect(sink.received.length).toBeLessThan(10);
    expect(source.destroyed).toBe(true);
  });
});

describe('pumpParts with the body length known up front', () => {
  it('reads a body up to singlePutMaxBytes into one buffer of exactly its size, starting no upload', async () => {
    const size = 250 * KiB + 3;
    const sink = recordingSink();

    const result = await pumpParts(
      syntheticMp3Stream(size, 4, 7_000),
      {
        partSizeBytes: 100 * KiB,
        partsInFlight: 3,
        cancel: new AbortController(),
        expectedBytes: size,
        singlePutMaxBytes: 300 * KiB,
      },
      sink.sink,
    );

    expect(result.kind).toBe('single');
    if (result.kind !== 'single') return;
    expect(result.bytes.equals(syntheticMp3(size, 4))).toBe(true);
    expect(result.bytes.buffer.byteLength).toBeLessThanOrEqual(size + 8 * KiB);
    expect(sink.begun).toBe(0);
  });

  it('refuses a body for a single put that runs past the length it was announced with', async () => {
    await expect(
      pumpParts(
        syntheticMp3Stream(200 * KiB, 5),
        {
          partSizeBytes: 100 * KiB,
          partsInFlight: 2,
          cancel: new AbortController(),
          expectedBytes: 150 * KiB,
          singlePutMaxBytes: 300 * KiB,
        },
        recordingSink().sink,
      ),
    ).rejects.toThrow(/ran past its expected/);
  });

  it('begins the upload of a longer body before its first part is read, and sends even a short one as parts', async () => {
    const size = 1024 * KiB;
    let bytesReadAtBegin: number | undefined;
    let bytesRead = 0;
    const source = syntheticMp3Stream(size, 6, 10_000);
    source.on('data', (chunk: Buffer) => {
      bytesRead += chunk.length;
    });
    const sink = recordingSink();
    const begin = sink.sink.begin;
    sink.sink.begin = async () => {
      bytesReadAtBegin = bytesRead;
      await begin();
    };

    const result = await pumpParts(
      source,
      { partSizeBytes: 300 * KiB, partsInFlight: 2, cancel: new AbortController(), expectedBytes: size },
      sink.sink,
    );

    expect(bytesReadAtBegin).toBeLessThan(300 * KiB);
    expect(result.kind === 'multipart' && result.parts).toEqual([1, 2, 3, 4]);
    expect(Buffer.concat(sink.received).equals(syntheticMp3(size, 6))).toBe(true);
  });

  it('waits for an upload still being begun before it rethrows a failure of the body', async () => {
    let created = false;
    const sink = recordingSink();
    sink.sink.begin = async () => {
      await new Promise((resolve) => setTimeout(resolve, 100));
      created = true;
    };
    const failing = (async function* () {
      yield syntheticMp3(10 * KiB, 7);
      throw new Error('download broke');
    })();

    await expect(
      pumpParts(
        failing,
        {
          partSizeBytes: 100 * KiB,
          partsInFlight: 2,
          cancel: new AbortController(),
          expectedBytes: 500 * KiB,
        },
        sink.sink,
      ),
    ).rejects.toThrow('download broke');

    // The caller learns the upload's id before it aborts, so no upload is left open.
    expect(created).toBe(true);
  });
});

describe('pumpParts stopping and continuing at a part boundary (core/continuation.ts)', () => {
  it('stops at the next part boundary once asked, after an upload begun at once', async () => {
    const size = 2 * 1024 * KiB;
    const stop = new AbortController();
    const sink = recordingSink();
    const upload = sink.sink.uploadPart;
    sink.sink.uploadPart = async (partNumber, bytes) => {
      // Asked to stop while part 3 is being sent: what was read past part 3 is dropped.
      if (partNumber === 3) stop.abort();
      return upload(partNumber, bytes);
    };

    const result = await pumpParts(
      syntheticMp3Stream(size, 8, 10_000),
      {
        partSizeBytes: 100 * KiB,
        partsInFlight: 2,
        cancel: new AbortController(),
        expectedBytes: size,
        stop: stop.signal,
      },
      sink.sink,
    );

    expect(result.kind).toBe('stopped');
    if (result.kind !== 'stopped') return;
    expect(sink.begun).toBe(1);
    expect(result.parts.length).toBeGreaterThanOrEqual(3);
    expect(result.parts).toEqual(Array.from({ length: result.parts.length }, (_, i) => i + 1));
    // Whole parts only, and exactly the file's first bytes.
    expect(result.size).toBe(result.parts.length * 100 * KiB);
    expect(result.size).toBeLessThan(size);
    expect(Buffer.concat(sink.received).equals(syntheticMp3(size, 8).subarray(0, result.size))).toBe(true);
  });

  it('continues an upload from firstPartNumber without beginning one, even when the rest is shorter than a single put', async () => {
    const size = 350 * KiB;
    const sink = recordingSink();
    const file = syntheticMp3(size, 9);
    const rest = file.subarray(200 * KiB);

    const result = await pumpParts(
      Readable.from([rest.subarray(0, 70 * KiB), rest.subarray(70 * KiB)]),
      {
        partSizeBytes: 100 * KiB,
        partsInFlight: 2,
        cancel: new AbortController(),
        // The whole file's length, which the verifier knows: a continued upload exists already.
        expectedBytes: size,
        singlePutMaxBytes: 1024 * KiB,
        firstPartNumber: 3,
      },
      sink.sink,
    );

    expect(sink.begun).toBe(0);
    expect(result.kind).toBe('multipart');
    if (result.kind !== 'multipart') return;
    expect(result.parts).toEqual([3, 4]);
    expect(result.size).toBe(150 * KiB);
    expect(Buffer.concat(sink.received.slice(2)).equals(rest)).toBe(true);
  });

  it('refuses a part number S3 could not take', async () => {
    await expect(
      pumpParts(
        syntheticMp3Stream(10 * KiB, 10),
        { partSizeBytes: 100 * KiB, partsInFlight: 2, cancel: new AbortController(), firstPartNumber: 0 },
        recordingSink().sink,
      ),
    ).rejects.toThrow(/firstPartNumber/);
  });
});
