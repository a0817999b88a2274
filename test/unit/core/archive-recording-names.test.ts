/**
 * archiveRecording names a copy from the content it downloads, on the local folder store: the listing's
 * extension is only a hint, a copy under another extension counts as archived, and two jobs with
 * different hints racing for one recording leave one copy.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FsArchiveStore } from '../../../functions/adapters/fs-archive-store';
import { archiveRecording } from '../../../functions/core/archive-recording';
import { copyKey, recordingStem } from '../../../functions/core/keys';
import { type DownloadStream, silentLog } from '../../../functions/core/ports';
import type { SourceRecording } from '../../../functions/core/recording';

function wavBytes(size: number): Buffer {
  const bytes = Buffer.alloc(size, 7);
  bytes.write('RIFF', 0, 'ascii');
  bytes.writeUInt32LE(size - 8, 4);
  bytes.write('WAVEfmt ', 8, 'ascii');
  return bytes;
}

const WAV = wavBytes(50_000);

const recording: SourceRecording = {
  provider: 'ringcentral',
  sourceId: 'rc',
  recordingId: '5512',
  startedAt: new Date('2026-02-27T23:30:00Z'),
  direction: 'inbound',
  size: WAV.length,
  fileExtension: 'mp3',
  raw: {},
};

/** Serves the WAV body in small chunks, slowly enough for two downloads to overlap. */
function servedWav(contentType: string, opened: { count: number }) {
  return {
    openDownload: async (): Promise<DownloadStream> => {
      opened.count += 1;
      async function* chunks() {
        for (let offset = 0; offset < WAV.length; offset += 5_000) {
          await new Promise((resolve) => setTimeout(resolve, 2));
          yield WAV.subarray(offset, offset + 5_000);
        }
      }
      return { body: Readable.from(chunks()), contentLength: WAV.length, contentType };
    },
  };
}

describe('archiveRecording names the copy from its content', () => {
  let root: string;
  let store: FsArchiveStore;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'callvault-names-'));
    store = new FsArchiveStore({ root });
  });
  afterEach(async () => rm(root, { recursive: true, force: true }));

  const deps = (contentType: string, opened: { count: number }) => ({
    source: servedWav(contentType, opened),
    store,
    clock: { now: () => new Date('2026-03-01T00:00:00Z') },
    log: silentLog,
  });

  const keys = async () => {
    const listed: string[] = [];
    for await (const key of store.listKeys('recordings/')) listed.push(key);
    return listed.sort();
  };

  it('stores WAV bytes as .wav whatever the hint, typed from the bytes over a generic type', async () => {
    const opened = { count: 0 };
    const outcome = await archiveRecording(recording, deps('application/octet-stream', opened));
    const key = copyKey(recordingStem(recording), 'wav');
    expect(outcome).toMatchObject({
      status: 'archived',
      key,
      sha256: createHash('sha256').update(WAV).digest('hex'),
    });
    expect(await store.readSidecar(key)).toMatchObject({ contentType: 'audio/wav', objectKey: key });
    expect(await keys()).toEqual([key, `${key}.json`]);
  });

  it('leaves one copy when two jobs with different hints race for the same recording', async () => {
    const opened = { count: 0 };
    const outcomes = await Promise.all([
      archiveRecording(recording, deps('audio/wav', opened)),
      archiveRecording({ ...recording, fileExtension: 'wav' }, deps('audio/wav', opened)),
    ]);
    const key = copyKey(recordingStem(recording), 'wav');
    expect(opened.count).toBe(2);
    // Which of them writes the sidecar depends on timing; either way both settle on the one copy.
    expect(outcomes.every((outcome) => outcome.key === key)).toBe(true);
    expect(await keys()).toEqual([key, `${key}.json`]);
  });

  it('finds a copy stored under another extension and downloads nothing', async () => {
    const opened = { count: 0 };
    await archiveRecording(recording, deps('audio/wav', opened));
    const again = await archiveRecording({ ...recording, fileExtension: 'ogg' }, deps('audio/wav', opened));
    expect(again).toMatchObject({
      status: 'already-archived',
      key: copyKey(recordingStem(recording), 'wav'),
    });
    expect(opened.count).toBe(1);
  });
});
