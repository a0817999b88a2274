import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../../functions/core/errors';
import { parseJob, recordingFromJob, recordingJob, serialiseJob } from '../../../functions/core/jobs';
import type { SourceRecording } from '../../../functions/core/recording';
import {
  buildSidecar,
  parseSidecar,
  serialiseSidecar,
  sidecarChecksum,
} from '../../../functions/core/sidecar';

const recording: SourceRecording = {
  provider: 'telphin',
  sourceId: 'main',
  recordingId: '3388-56c14ba2a8a44d3cb2ed4ad6e1a2c4f0',
  callId: 'c0ffee',
  startedAt: new Date('2026-11-20T10:00:00.000Z'),
  endedAt: new Date('2026-11-20T10:05:00.000Z'),
  durationSeconds: 300,
  direction: 'inbound',
  from: { number: '+74950000001' },
  to: { number: '0541', extensionId: '3388' },
  extension: { id: '3388', name: '01874*0541@sipproxy.telphin.ru' },
  size: 1234,
  contentType: 'audio/mpeg',
  fileExtension: 'mp3',
  raw: { record_uuid: '3388-56c14ba2a8a44d3cb2ed4ad6e1a2c4f0', flow: 'in' },
};

describe('jobs', () => {
  it('round-trips a recording through a queue message', () => {
    const body = serialiseJob(recordingJob(recording));
    const job = parseJob(body);
    expect(job.type).toBe('recording');
    if (job.type !== 'recording') return;
    expect(recordingFromJob(job)).toEqual(recording);
  });

  it('refuses bodies that are not JSON or not a known job version', () => {
    expect(() => parseJob('{oops')).toThrow(InvalidInputError);
    expect(() => parseJob(JSON.stringify({ ...recordingJob(recording), v: 2 }))).toThrow(/schema v1/);
    expect(() => parseJob(JSON.stringify({ v: 1, type: 'hint', provider: 'telphin' }))).toThrow(
      InvalidInputError,
    );
  });
});

describe('sidecar', () => {
  it('holds the normalised fields, the storage facts and the raw record', () => {
    const sidecar = buildSidecar(recording, {
      objectKey: 'recordings/telphin/main/2026/11/20/x.mp3',
      size: 1234,
      sha256: 'a'.repeat(64),
      checksum: { algorithm: 'CRC32', type: 'FULL_OBJECT', value: 'AAECAw==' },
      contentType: 'audio/mpeg',
      archivedAt: new Date('2026-11-20T10:06:00Z'),
    });
    expect(sidecar).toMatchObject({
      schemaVersion: 2,
      provider: 'telphin',
      sourceId: 'main',
      recordingId: recording.recordingId,
      callId: 'c0ffee',
      startedAt: '2026-11-20T10:00:00.000Z',
      endedAt: '2026-11-20T10:05:00.000Z',
      durationSeconds: 300,
      direction: 'inbound',
      size: 1234,
      sourceReportedSize: 1234,
      sha256: 'a'.repeat(64),
      checksum: { algorithm: 'CRC32', type: 'FULL_OBJECT', value: 'AAECAw==' },
      archivedAt: '2026-11-20T10:06:00.000Z',
      // Platforms without leg data get their from/to as the parties.
      callResult: null,
      parties: [{ number: '+74950000001' }, { number: '0541', extensionId: '3388' }],
      raw: recording.raw,
    });
    expect(parseSidecar(serialiseSidecar(sidecar))).toEqual(sidecar);
    expect(sidecarChecksum(sidecar)).toEqual({ algorithm: 'CRC32', type: 'FULL_OBJECT', value: 'AAECAw==' });
  });

  it('reads schema-1 sidecars (no checksum field) and records a store without checksums as null', () => {
    const current = buildSidecar(recording, {
      objectKey: 'recordings/telphin/main/2026/11/20/x.mp3',
      size: 1234,
      sha256: 'a'.repeat(64),
      contentType: 'audio/mpeg',
      archivedAt: new Date('2026-11-20T10:06:00Z'),
    });
    expect(current.checksum).toBeNull();
    expect(sidecarChecksum(current)).toBeUndefined();
    const { checksum: _none, ...fields } = current;
    const legacy = parseSidecar(JSON.stringify({ ...fields, schemaVersion: 1 }));
    expect(legacy.schemaVersion).toBe(1);
    expect(sidecarChecksum(legacy)).toBeUndefined();
    // A schema-2 sidecar must say whether there is a checksum; an unknown version is refused.
    expect(() => parseSidecar(JSON.stringify({ ...fields, schemaVersion: 2 }))).toThrow();
    expect(() => parseSidecar(JSON.stringify({ ...current, schemaVersion: 3 }))).toThrow();
  });

  it('still reads version-1 sidecars, which lack checksum, parties and callResult', () => {
    const sidecar = buildSidecar(recording, {
      objectKey: 'recordings/telphin/main/2026/11/20/x.mp3',
      size: 1234,
      sha256: 'a'.repeat(64),
      contentType: 'audio/mpeg',
      archivedAt: new Date('2026-11-20T10:06:00Z'),
    });
    const {
      parties: _parties,
      callResult: _callResult,
      checksum: _checksum,
      ...v1
    } = { ...sidecar, schemaVersion: 1 };
    expect(parseSidecar(JSON.stringify(v1))).toEqual(v1);
  });

  it('refuses a sidecar without a valid sha256', () => {
    expect(() => parseSidecar(JSON.stringify({ schemaVersion: 1, sha256: 'xyz' }))).toThrow();
  });
});
