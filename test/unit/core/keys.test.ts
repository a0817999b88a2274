import { describe, expect, it } from 'vitest';
import {
  copyKey,
  extensionOfCopyKey,
  goneAtSourceKey,
  goneAtSourcePrefix,
  isCopyKeyOf,
  recordingKey,
  recordingKeyOfGoneRecord,
  recordingStem,
  sanitiseSegment,
  sidecarKey,
  stemOfCopyKey,
} from '../../../functions/core/keys';

const base = {
  provider: 'telphin' as const,
  sourceId: 'main-office',
  recordingId: '3388-56c14ba2a8a44d3cb2ed4ad6e1a2c4f0',
  startedAt: new Date('2026-03-31T23:59:59.500Z'),
  fileExtension: 'mp3',
};

describe('recordingKey', () => {
  it('derives the documented layout from the UTC call start', () => {
    expect(recordingKey(base)).toBe(
      'recordings/telphin/main-office/2026/03/31/3388-56c14ba2a8a44d3cb2ed4ad6e1a2c4f0.mp3',
    );
  });

  it('uses the UTC date even when the local date would differ', () => {
    const key = recordingKey({ ...base, startedAt: new Date('2026-04-01T01:30:00+03:00') });
    expect(key).toContain('/2026/03/31/');
  });

  it('cannot be steered out of its folder by hostile ids', () => {
    const key = recordingKey({ ...base, recordingId: '../../etc/passwd', sourceId: 'a/b' });
    expect(key.split('/')).toHaveLength(7);
    expect(key).not.toContain('..');
  });

  it('keeps distinct ids distinct after sanitising', () => {
    expect(sanitiseSegment('a b')).not.toBe(sanitiseSegment('a_b'));
    expect(sanitiseSegment('a_b')).toBe('a_b');
  });

  it('bounds the length of very long ids', () => {
    expect(sanitiseSegment('x'.repeat(1000)).length).toBeLessThanOrEqual(120);
  });

  it('refuses an invalid start time', () => {
    expect(() => recordingKey({ ...base, startedAt: new Date('nope') })).toThrow(/no valid start time/);
  });

  it('puts the sidecar beside the recording', () => {
    expect(sidecarKey('recordings/x/y.mp3')).toBe('recordings/x/y.mp3.json');
  });
});

describe('recordingStem', () => {
  it('is the key without its extension, so one recording has one name whatever its content', () => {
    const stem = recordingStem(base);
    expect(stem).toBe('recordings/telphin/main-office/2026/03/31/3388-56c14ba2a8a44d3cb2ed4ad6e1a2c4f0');
    expect(copyKey(stem, 'WAV')).toBe(`${stem}.wav`);
    expect(recordingKey(base)).toBe(copyKey(stem, base.fileExtension));
  });

  it('never names a copy .json, the sidecar suffix', () => {
    expect(copyKey('recordings/x/a', 'json')).toBe('recordings/x/a.bin');
  });

  it('tells a copy of this recording from sidecars and from ids that merely start alike', () => {
    const stem = 'recordings/ringcentral/rc/2026/03/31/abc';
    expect(isCopyKeyOf(stem, `${stem}.mp3`)).toBe(true);
    expect(isCopyKeyOf(stem, `${stem}.wav`)).toBe(true);
    expect(isCopyKeyOf(stem, `${stem}.mp3.json`)).toBe(false);
    expect(isCopyKeyOf(stem, `${stem}.x.mp3`)).toBe(false);
    expect(isCopyKeyOf(stem, `${stem}x.mp3`)).toBe(false);
    expect(isCopyKeyOf(`${stem}.mp3`, `${stem}.mp3.json`)).toBe(false);
  });

  it('finds the stem and extension back from a copy key, ids with dots included', () => {
    expect(stemOfCopyKey('recordings/p/s/2026/03/31/a.b.wav')).toBe('recordings/p/s/2026/03/31/a.b');
    expect(extensionOfCopyKey('recordings/p/s/2026/03/31/a.b.wav')).toBe('wav');
    expect(stemOfCopyKey('recordings/p/s/2026/03/31/a.b.wav.json')).toBeUndefined();
    expect(stemOfCopyKey('audit/gone-at-source/p/s/2026/03/31/a.wav')).toBeUndefined();
  });
});

describe('goneAtSourceKey', () => {
  it('moves the recording key under the audit prefix, by the call UTC day, and back', () => {
    const key = recordingKey(base);
    const record = goneAtSourceKey(key);
    expect(record).toBe(`audit/gone-at-source/telphin/main-office/2026/03/31/${base.recordingId}.mp3.json`);
    expect(record.startsWith(goneAtSourcePrefix('telphin', 'main-office'))).toBe(true);
    expect(recordingKeyOfGoneRecord(record)).toBe(key);
  });

  it('accepts only recording keys, and maps back only its own records', () => {
    expect(() => goneAtSourceKey('audit/retention/x.jsonl')).toThrow(/not a recording key/);
    expect(recordingKeyOfGoneRecord('audit/retention/2026/03/31/run.jsonl')).toBeUndefined();
  });
});
