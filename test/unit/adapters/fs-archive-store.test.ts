import { createHash } from 'node:crypto';
import { link, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pipeline, Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FsArchiveStore, META_DIR, TEMP_DIR } from '../../../functions/adapters/fs-archive-store';
import {
  AlreadyArchivedError,
  DeadlineError,
  InvalidInputError,
  PermanentError,
} from '../../../functions/core/errors';
import type { Sidecar } from '../../../functions/core/sidecar';
import { RecordingVerifier } from '../../../functions/core/verify-stream';
import { syntheticMp3, syntheticMp3Stream } from '../../support/synthetic-media';

const MiB = 1024 * 1024;
const KEY = 'recordings/telphin/main/2024/05/17/rec-1.mp3';
const TAGS = { provider: 'telphin', source: 'main', 'retention-class': 'standard' };

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function verified(source: Readable | Buffer, sourceSize?: number): RecordingVerifier {
  const verifier = new RecordingVerifier({ sourceSize });
  pipeline(Buffer.isBuffer(source) ? Readable.from([source]) : source, verifier, () => {});
  return verifier;
}

const sidecar: Sidecar = {
  schemaVersion: 1,
  provider: 'telphin',
  sourceId: 'main',
  recordingId: 'rec-1',
  callId: null,
  startedAt: '2024-05-17T10:00:00.000Z',
  endedAt: null,
  durationSeconds: 42,
  direction: 'outbound',
  from: { number: '201' },
  to: { number: '+4930456' },
  extension: null,
  callerStatus: null,
  calleeStatus: null,
  size: 1000,
  sourceReportedSize: null,
  sha256: 'b'.repeat(64),
  contentType: 'audio/mpeg',
  objectKey: KEY,
  archivedAt: '2024-05-17T10:06:00.000Z',
  raw: { id: 'rec-1' },
};

describe('FsArchiveStore', () => {
  let root: string;
  let store: FsArchiveStore;

  /** Files outside our own bookkeeping folders, relative to the root. */
  async function archiveFiles(): Promise<string[]> {
    const entries = await readdir(root, { recursive: true, withFileTypes: true });
    return entries
      .filter((entry) => entry.isFile())
      .map((entry) => join(entry.parentPath, entry.name).slice(root.length + 1))
      .filter((path) => !path.startsWith(TEMP_DIR) && !path.startsWith(META_DIR))
      .sort();
  }

  async function tempFiles(): Promise<string[]> {
    return readdir(join(root, TEMP_DIR)).catch(() => []);
  }

  async function expectNothingLeft(): Promise<void> {
    expect(await archiveFiles()).toEqual([]);
    expect(await tempFiles()).toEqual([]);
    expect(await store.inspect(KEY)).toBeUndefined();
  }

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'callvault-fs-store-'));
    store = new FsArchiveStore({ root });
  });

  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('stores exact bytes at the key with metadata, and reports them in inspect', async () => {
    // Prepare
    const size = 3 * MiB + 17;
    const bytes = syntheticMp3(size, 1);

    // Act
    const stored = await store.putRecording({
      key: KEY,
      body: verified(syntheticMp3Stream(size, 1), size),
      contentType: 'audio/mpeg',
      sourceSize: size,
      tags: TAGS,
    });

    // Assess
    expect(stored).toEqual({ size, sha256: sha256(bytes) });
    expect((await readFile(join(root, KEY))).equals(bytes)).toBe(true);
    expect(await store.inspect(KEY)).toEqual({
      key: KEY,
      size,
      sha256: sha256(bytes),
      sourceSize: size,
      contentType: 'audio/mpeg',
      lastModified: (await stat(join(root, KEY))).mtime,
      hasSidecar: false,
      tags: TAGS,
    });
    expect(await archiveFiles()).toEqual([KEY]);
    expect(await tempFiles()).toEqual([]);
  });

  it.each([
    [
      'ends short of the reported size',
      () => verified(syntheticMp3Stream(2 * MiB, 2), 3 * MiB),
      /ended after/,
    ],
    ['runs past the reported size', () => verified(syntheticMp3Stream(3 * MiB, 3), 2 * MiB), /ran past/],
    [
      'is an HTML error page',
      () => verified(Buffer.from('<!DOCTYPE html><html>oops</html>')),
      /not audio or video/,
    ],
  ])('leaves nothing when the body %s', async (_case, body, message) => {
    await expect(
      store.putRecording({ key: KEY, body: body(), contentType: 'audio/mpeg', tags: TAGS }),
    ).rejects.toThrow(message);
    await expectNothingLeft();
  });

  it('stops at the deadline mid-stream with a DeadlineError and leaves nothing', async () => {
    let sent = false;
    const stalled = new Readable({
      read() {
        if (!sent) this.push(syntheticMp3(MiB, 4));
        sent = true;
      },
    });
    const deadline = new AbortController();
    setTimeout(() => deadline.abort(), 100);

    await expect(
      store.putRecording({
        key: KEY,
        body: verified(stalled, 5 * MiB),
        contentType: 'audio/mpeg',
        tags: TAGS,
        signal: deadline.signal,
      }),
    ).rejects.toBeInstanceOf(DeadlineError);

    await expectNothingLeft();
  });

  it('refuses a second put to the same key and keeps the first recording and its metadata', async () => {
    const first = syntheticMp3(100_000, 5);
    await store.putRecording({ key: KEY, body: verified(first), contentType: 'audio/mpeg', tags: TAGS });

    await expect(
      store.putRecording({
        key: KEY,
        body: verified(syntheticMp3(100_000, 6)),
        contentType: 'audio/wav',
        tags: {},
      }),
    ).rejects.toBeInstanceOf(AlreadyArchivedError);

    expect((await readFile(join(root, KEY))).equals(first)).toBe(true);
    expect(await store.inspect(KEY)).toMatchObject({
      sha256: sha256(first),
      contentType: 'audio/mpeg',
      tags: TAGS,
    });
    expect(await tempFiles()).toEqual([]);
  });

  it('lets exactly one of two concurrent puts win, with the winner’s metadata', async () => {
    const bodies = [syntheticMp3(2 * MiB, 7), syntheticMp3(2 * MiB, 8)];

    const results = await Promise.allSettled(
      bodies.map((bytes) =>
        store.putRecording({ key: KEY, body: verified(bytes), contentType: 'audio/mpeg', tags: TAGS }),
      ),
    );

    const winners = results.filter((result) => result.status === 'fulfilled');
    const losers = results.filter((result) => result.status === 'rejected');
    expect(winners).toHaveLength(1);
    expect((losers[0] as PromiseRejectedResult | undefined)?.reason).toBeInstanceOf(AlreadyArchivedError);
    const winner = (winners[0] as PromiseFulfilledResult<{ sha256: string }>).value;
    expect(sha256(await readFile(join(root, KEY)))).toBe(winner.sha256);
    expect((await store.inspect(KEY))?.sha256).toBe(winner.sha256);
    expect(await tempFiles()).toEqual([]);
  });

  it('round-trips a sidecar next to the recording', async () => {
    await store.putRecording({
      key: KEY,
      body: verified(syntheticMp3(1000, 9)),
      contentType: 'audio/mpeg',
      tags: TAGS,
    });
    expect(await store.readSidecar(KEY)).toBeUndefined();

    await store.putSidecar(KEY, sidecar);

    expect(await store.readSidecar(KEY)).toEqual(sidecar);
    expect((await store.inspect(KEY))?.hasSidecar).toBe(true);
    expect(await archiveFiles()).toEqual([KEY, `${KEY}.json`]);
    expect(await tempFiles()).toEqual([]);
  });

  it('writes a sidecar once: a second write is refused and the first one stands', async () => {
    await store.putSidecar(KEY, sidecar);

    await expect(store.putSidecar(KEY, { ...sidecar, sha256: 'c'.repeat(64) })).rejects.toBeInstanceOf(
      AlreadyArchivedError,
    );

    expect(await store.readSidecar(KEY)).toEqual(sidecar);
    expect(await tempFiles()).toEqual([]);
  });

  it('refuses an invalid sidecar', async () => {
    await mkdir(dirname(join(root, KEY)), { recursive: true });
    await writeFile(join(root, `${KEY}.json`), '{"schemaVersion": 2}');

    await expect(store.readSidecar(KEY)).rejects.toBeInstanceOf(PermanentError);
  });

  it('streams a stored recording back, and refuses a missing one', async () => {
    const bytes = syntheticMp3(2 * MiB, 10);
    await store.putRecording({ key: KEY, body: verified(bytes), contentType: 'audio/mpeg', tags: TAGS });

    const chunks: Buffer[] = [];
    for await (const chunk of await store.openRecording(KEY)) chunks.push(chunk as Buffer);

    expect(Buffer.concat(chunks).equals(bytes)).toBe(true);
    await expect(store.openRecording(`${KEY}.missing`)).rejects.toBeInstanceOf(PermanentError);
  });

  it.each(['../outside.mp3', '/etc/passwd', `${TEMP_DIR}/x.part`, `${META_DIR}/x`, ''])(
    'refuses the key %j that would leave the archive or touch its bookkeeping',
    async (key) => {
      await expect(store.inspect(key)).rejects.toBeInstanceOf(InvalidInputError);
      await expect(
        store.putRecording({
          key,
          body: verified(syntheticMp3(1000, 11)),
          contentType: 'audio/mpeg',
          tags: {},
        }),
      ).rejects.toBeInstanceOf(InvalidInputError);
    },
  );

  it('lists keys under a prefix without its bookkeeping files', async () => {
    await store.putRecording({
      key: KEY,
      body: verified(syntheticMp3(1000, 12)),
      contentType: 'audio/mpeg',
      tags: TAGS,
    });
    await store.putSidecar(KEY, sidecar);

    const keys: string[] = [];
    for await (const key of store.listKeys('recordings/telphin/')) keys.push(key);

    expect(keys).toEqual([KEY, `${KEY}.json`]);
  });

  it('recovers from a crash: publishes journalled metadata of a linked recording, removes the rest', async () => {
    // Prepare: what a process killed between link and publishing would leave, plus a partial download.
    const bytes = syntheticMp3(1000, 13);
    const temp = join(root, TEMP_DIR);
    await mkdir(temp, { recursive: true });
    await writeFile(join(temp, 'a.part'), bytes);
    await mkdir(dirname(join(root, KEY)), { recursive: true });
    await link(join(temp, 'a.part'), join(root, KEY));
    const meta = {
      key: KEY,
      size: bytes.length,
      sha256: sha256(bytes),
      contentType: 'audio/mpeg',
      tags: TAGS,
      inode: (await stat(join(root, KEY))).ino,
    };
    await writeFile(join(temp, 'a.journal.json'), JSON.stringify(meta));
    await writeFile(join(temp, 'b.part'), 'partial');
    await writeFile(join(temp, 'b.journal.json'), JSON.stringify({ ...meta, key: `${KEY}.never-linked` }));

    // Act
    const recovered = new FsArchiveStore({ root });

    // Assess
    expect(await recovered.inspect(KEY)).toMatchObject({
      sha256: sha256(bytes),
      tags: TAGS,
      size: bytes.length,
    });
    expect(await recovered.inspect(`${KEY}.never-linked`)).toBeUndefined();
    expect(await tempFiles()).toEqual([]);
    expect(await archiveFiles()).toEqual([KEY]);
  });

  it('ignores metadata that describes another file at the key', async () => {
    await store.putRecording({
      key: KEY,
      body: verified(syntheticMp3(1000, 14)),
      contentType: 'audio/mpeg',
      tags: TAGS,
    });
    // Someone replaced the file by hand: the metadata no longer vouches for it.
    await writeFile(join(root, 'replacement.mp3'), syntheticMp3(1000, 15));
    await rename(join(root, 'replacement.mp3'), join(root, KEY));

    const copy = await store.inspect(KEY);

    expect(copy?.size).toBe(1000);
    expect(copy?.sha256).toBeUndefined();
  });
});
