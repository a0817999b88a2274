import { describe, expect, it } from 'vitest';
import {
  decideStoredFormat,
  extensionContradictsType,
  kindOfContentType,
} from '../../../functions/core/media-format';

const RIFF = Buffer.from('RIFF\x24\x00\x00\x00WAVEfmt ', 'latin1');
const ID3 = Buffer.from('ID3\x04\x00\x00\x00\x00\x00\x00\x00\x00', 'latin1');
const M4A = Buffer.from('\x00\x00\x00\x20ftypM4A ', 'latin1');
const HTML = Buffer.from('<!doctype html>', 'latin1');

describe('decideStoredFormat', () => {
  it('names WAV bytes .wav whatever the configured hint says', () => {
    expect(decideStoredFormat({ head: RIFF, served: 'audio/wav', hint: 'mp3' })).toEqual({
      extension: 'wav',
      contentType: 'audio/wav',
      decidedBy: 'bytes',
    });
  });

  it('lets the bytes win over a generic application/octet-stream, and types the copy from them', () => {
    expect(decideStoredFormat({ head: RIFF, served: 'application/octet-stream' })).toEqual({
      extension: 'wav',
      contentType: 'audio/wav',
      decidedBy: 'bytes',
    });
    expect(decideStoredFormat({ head: M4A, served: 'binary/octet-stream' })).toMatchObject({
      extension: 'mp4',
      contentType: 'video/mp4',
    });
  });

  it('keeps a served type that names the same container, parameters and case aside', () => {
    expect(decideStoredFormat({ head: RIFF, served: 'Audio/X-WAV; codec=1' })).toMatchObject({
      extension: 'wav',
      contentType: 'audio/x-wav',
    });
    expect(decideStoredFormat({ head: M4A, served: 'audio/mp4' })).toMatchObject({
      extension: 'mp4',
      contentType: 'audio/mp4',
    });
  });

  it('uses the listed type when the response is generic and the listing names the container', () => {
    expect(
      decideStoredFormat({ head: ID3, served: 'application/octet-stream', listed: 'audio/mp3' }),
    ).toMatchObject({ extension: 'mp3', contentType: 'audio/mp3' });
  });

  it('trusts the bytes over a specific type that names another container, and reports the disagreement', () => {
    const format = decideStoredFormat({ head: RIFF, served: 'audio/mpeg', listed: 'audio/mpeg' });
    expect(format).toMatchObject({ extension: 'wav', contentType: 'audio/wav', decidedBy: 'bytes' });
    expect(format.disagreement).toMatch(/audio\/mpeg.*wav/);
  });

  it('falls back to the served type, the listed type, the hint, then bin when the bytes say nothing', () => {
    expect(decideStoredFormat({ head: HTML, served: 'audio/wav', hint: 'mp3' })).toMatchObject({
      extension: 'wav',
      decidedBy: 'served-type',
    });
    expect(
      decideStoredFormat({ head: HTML, served: 'application/octet-stream', listed: 'audio/ogg' }),
    ).toMatchObject({ extension: 'ogg', decidedBy: 'listed-type' });
    expect(decideStoredFormat({ head: HTML, hint: 'MP3' })).toMatchObject({
      extension: 'mp3',
      contentType: 'audio/mpeg',
      decidedBy: 'hint',
    });
    expect(decideStoredFormat({ head: HTML, served: 'text/html' })).toEqual({
      extension: 'bin',
      contentType: 'text/html',
      decidedBy: 'none',
    });
  });
});

describe('extensionContradictsType', () => {
  it('flags an .mp3 copy typed audio/wav, and accepts every extension of the same container', () => {
    expect(extensionContradictsType('mp3', 'audio/wav')).toBe(true);
    expect(extensionContradictsType('wav', 'audio/x-wav')).toBe(false);
    expect(extensionContradictsType('m4a', 'video/mp4')).toBe(false);
    expect(extensionContradictsType('mp4', 'audio/mpeg')).toBe(true);
  });

  it('cannot judge a generic or unknown type', () => {
    expect(extensionContradictsType('mp3', 'application/octet-stream')).toBe(false);
    expect(extensionContradictsType('mp3', undefined)).toBe(false);
    expect(kindOfContentType('application/octet-stream')).toBeUndefined();
  });
});
