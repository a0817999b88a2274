/**
 * Recognises audio/video containers by their first bytes. An error page served with status 200 (HTML,
 * JSON, XML) is a real failure mode of recording hosts; archiving it would pass every size-less check
 * and lose the recording, so the stream is refused unless it starts like media.
 */
export const SIGNATURE_BYTES = 12;

export type MediaKind = 'mp3' | 'wav' | 'ogg' | 'flac' | 'mp4' | 'webm' | 'amr' | 'aiff';

export function detectMediaKind(head: Uint8Array): MediaKind | undefined {
  const ascii = (start: number, end: number) => String.fromCharCode(...head.subarray(start, end));
  if (head.length >= 3 && ascii(0, 3) === 'ID3') return 'mp3';
  // MPEG audio frame sync: 11 set bits.
  if (head.length >= 2 && head[0] === 0xff && ((head[1] ?? 0) & 0xe0) === 0xe0) return 'mp3';
  if (head.length >= 12 && ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WAVE') return 'wav';
  if (head.length >= 12 && ascii(0, 4) === 'FORM' && ascii(8, 11) === 'AIF') return 'aiff';
  if (head.length >= 4 && ascii(0, 4) === 'OggS') return 'ogg';
  if (head.length >= 4 && ascii(0, 4) === 'fLaC') return 'flac';
  if (head.length >= 8 && ascii(4, 8) === 'ftyp') return 'mp4';
  if (head.length >= 4 && head[0] === 0x1a && head[1] === 0x45 && head[2] === 0xdf && head[3] === 0xa3) {
    return 'webm';
  }
  if (head.length >= 5 && ascii(0, 5) === '#!AMR') return 'amr';
  return undefined;
}

/** A short, log-safe description of what a refused body looked like. */
export function describeNonMedia(head: Uint8Array): string {
  const text = Buffer.from(head).toString('latin1');
  if (/^\s*</.test(text)) return 'an HTML/XML document';
  if (/^\s*[[{]/.test(text)) return 'a JSON document';
  if (head.length === 0) return 'an empty body';
  return `unrecognised bytes (${Buffer.from(head.subarray(0, 4)).toString('hex')})`;
}
