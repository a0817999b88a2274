import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline, Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FsArchiveStore } from '../../../functions/adapters/fs-archive-store';
import { completeStems, findArchivedCopy } from '../../../functions/core/find-copy';
import type { Sidecar } from '../../../functions/core/sidecar';
import { RecordingVerifier } from '../../../functions/core/verify-stream';
import { syntheticMp3 } from '../../support/synthetic-media';

const STEM = 'recordings/ringcentral/rc/2026/03/31/abc';

function verified(bytes: Buffer): RecordingVerifier {
  const verifier = new RecordingVerifier({});
  pipeline(Readable.from([bytes]), verifier, () => {});
  return verifier;
}

function sidecarFor(key: string): Sidecar {
  return {
    schemaVersion: 1,
    provider: 'ringcentral',
    sourceId: 'rc',
    recordingId: 'abc',
    callId: null,
    startedAt: '2026-03-31T10:00:00.000Z',
    endedAt: null,
    durationSeconds: 1,
    direction: 'inbound',
    from: null,
    to: null,
    extension: null,
    callerStatus: null,
    calleeStatus: null,
    size: 1000,
    sourceReportedSize: null,
    sha256: 'b'.repeat(64),
    contentType: 'audio/wav',
    objectKey: key,
    archivedAt: '2026-03-31T10:06:00.000Z',
    raw: {},
  };
}

describe('findArchivedCopy', () => {
  let root: string;
  let store: FsArchiveStore;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'callvault-find-copy-'));
    store = new FsArchiveStore({ root });
  });
  afterEach(async () => rm(root, { recursive: true, force: true }));

  const put = async (key: string, withSidecar: boolean) => {
    await store.putRecording({ key, body: verified(syntheticMp3(1000)), contentType: 'audio/wav', tags: {} });
    if (withSidecar) await store.putSidecar(key, sidecarFor(key));
  };

  it('finds a copy whatever its extension, and nothing for a stem without one', async () => {
    await put(`${STEM}.mp3`, true);
    expect((await findArchivedCopy(store, STEM))?.key).toBe(`${STEM}.mp3`);
    expect(await findArchivedCopy(store, `${STEM}x`)).toBeUndefined();
  });

  it('ignores other recordings whose ids start alike, and sidecars', async () => {
    await put(`${STEM}.x.wav`, true);
    await put(`${STEM}x.wav`, true);
    expect(await findArchivedCopy(store, STEM)).toBeUndefined();
    await put(`${STEM}.wav`, false);
    expect(await findArchivedCopy(store, STEM)).toMatchObject({ key: `${STEM}.wav`, hasSidecar: false });
  });

  it('settles on the copy with a sidecar when two exist', async () => {
    await put(`${STEM}.mp3`, false);
    await put(`${STEM}.wav`, true);
    expect((await findArchivedCopy(store, STEM))?.key).toBe(`${STEM}.wav`);
  });
});

describe('completeStems', () => {
  it('names the stems holding a copy with its sidecar, whatever the extension', () => {
    const folder = 'recordings/p/s/2026/03/31/';
    const stems = completeStems([
      `${folder}a.mp3`,
      `${folder}a.mp3.json`,
      `${folder}b.wav`,
      `${folder}c.x.wav`,
      `${folder}c.x.wav.json`,
    ]);
    expect([...stems].sort()).toEqual([`${folder}a`, `${folder}c.x`]);
  });
});
