/**
 * What a stored recording is called and typed as, decided from what the platform served, never from
 * configuration. Precedence (README, "Storage layout"):
 * 1. the first bytes: a recognised container signature decides the extension, whatever the headers say;
 * 2. the content type: the response's `Content-Type`, else the type the listing reported, is kept when it
 *    names the same container as the bytes (it may say more, e.g. `audio/x-wav`), else the container's
 *    usual type is stored; a generic type (`application/octet-stream`, none) never decides anything;
 * 3. only when the bytes match no known signature (the verifier refuses such a body unless told not to
 *    check): a specific served type, then the listed type, then the listing's extension hint, else `bin`.
 */
import { detectMediaKind, type MediaKind } from './media-signature';

interface KindFormat {
  extension: string;
  /** The usual type, stored when no served or listed type names this container. */
  contentType: string;
  /** Every type that names this container (lower case, no parameters). */
  types: readonly string[];
  /** Every extension a copy of this container may carry without lying (the first is ours). */
  extensions: readonly string[];
}

const FORMATS: Record<MediaKind, KindFormat> = {
  mp3: {
    extension: 'mp3',
    contentType: 'audio/mpeg',
    types: ['audio/mpeg', 'audio/mp3', 'audio/mpeg3', 'audio/x-mpeg', 'audio/x-mpeg-3', 'audio/x-mp3'],
    extensions: ['mp3'],
  },
  wav: {
    extension: 'wav',
    contentType: 'audio/wav',
    types: ['audio/wav', 'audio/x-wav', 'audio/wave', 'audio/vnd.wave', 'audio/x-pn-wav'],
    extensions: ['wav', 'wave'],
  },
  ogg: {
    extension: 'ogg',
    contentType: 'audio/ogg',
    types: ['audio/ogg', 'application/ogg', 'audio/opus', 'video/ogg'],
    extensions: ['ogg', 'oga', 'opus', 'ogv'],
  },
  flac: {
    extension: 'flac',
    contentType: 'audio/flac',
    types: ['audio/flac', 'audio/x-flac'],
    extensions: ['flac'],
  },
  mp4: {
    extension: 'mp4',
    contentType: 'video/mp4',
    types: ['video/mp4', 'audio/mp4', 'audio/x-m4a', 'audio/m4a', 'application/mp4', 'video/quicktime'],
    extensions: ['mp4', 'm4a', 'mov'],
  },
  webm: {
    extension: 'webm',
    contentType: 'audio/webm',
    types: ['audio/webm', 'video/webm', 'video/x-matroska', 'audio/x-matroska'],
    extensions: ['webm', 'mkv', 'mka'],
  },
  amr: { extension: 'amr', contentType: 'audio/amr', types: ['audio/amr'], extensions: ['amr'] },
  aiff: {
    extension: 'aiff',
    contentType: 'audio/aiff',
    types: ['audio/aiff', 'audio/x-aiff'],
    extensions: ['aiff', 'aif'],
  },
};

const KIND_OF_TYPE = new Map<string, MediaKind>(
  Object.entries(FORMATS).flatMap(([kind, format]) => format.types.map((type) => [type, kind as MediaKind])),
);
const KIND_OF_EXTENSION = new Map<string, MediaKind>(
  Object.entries(FORMATS).flatMap(([kind, format]) =>
    format.extensions.map((extension) => [extension, kind as MediaKind]),
  ),
);

/** `Audio/X-WAV; codec=1` → `audio/x-wav`; undefined for none. */
export function normaliseContentType(type: string | undefined): string | undefined {
  const bare = type?.split(';')[0]?.trim().toLowerCase();
  return bare ? bare : undefined;
}

/** The container a content type names; undefined for generic (`application/octet-stream`) or unknown types. */
export function kindOfContentType(type: string | undefined): MediaKind | undefined {
  const bare = normaliseContentType(type);
  return bare === undefined ? undefined : KIND_OF_TYPE.get(bare);
}

/** The container an extension names (`wav`, `m4a` …); undefined for unknown ones. */
export function kindOfExtension(extension: string | undefined): MediaKind | undefined {
  return extension === undefined ? undefined : KIND_OF_EXTENSION.get(extension.toLowerCase());
}

/**
 * Whether a stored copy's extension disagrees with the content type recorded for it (its sidecar's),
 * e.g. `.mp3` holding `audio/wav`. A generic or unknown type cannot disagree with anything.
 */
export function extensionContradictsType(extension: string, contentType: string | undefined): boolean {
  const kind = kindOfContentType(contentType);
  return kind !== undefined && !FORMATS[kind].extensions.includes(extension.toLowerCase());
}

export interface ServedContent {
  /** The first bytes of the body (at least `SIGNATURE_BYTES` when the body is that long). */
  head: Uint8Array;
  /** The response's `Content-Type`. */
  served?: string;
  /** The content type the platform's listing or metadata reported for the recording. */
  listed?: string;
  /** The extension the listing suggested (its file name, or a configured hint). */
  hint?: string;
}

export interface StoredFormat {
  extension: string;
  contentType: string;
  /** What decided the extension. */
  decidedBy: 'bytes' | 'served-type' | 'listed-type' | 'hint' | 'none';
  /** Set when a specific served or listed type names another container than the bytes: worth a log line. */
  disagreement?: string;
}

export function decideStoredFormat(content: ServedContent): StoredFormat {
  const served = normaliseContentType(content.served);
  const listed = normaliseContentType(content.listed);
  const kind = detectMediaKind(content.head);
  if (kind) {
    const format = FORMATS[kind];
    const naming = [served, listed].find((type) => type !== undefined && KIND_OF_TYPE.get(type) === kind);
    const contradicting = [served, listed].filter(
      (type) => type !== undefined && KIND_OF_TYPE.has(type) && KIND_OF_TYPE.get(type) !== kind,
    );
    return {
      extension: format.extension,
      contentType: naming ?? format.contentType,
      decidedBy: 'bytes',
      ...(contradicting.length > 0
        ? { disagreement: `typed ${contradicting.join(' and ')} but the bytes are ${kind}` }
        : {}),
    };
  }
  for (const [type, decidedBy] of [
    [served, 'served-type'],
    [listed, 'listed-type'],
  ] as const) {
    const typed = type === undefined ? undefined : KIND_OF_TYPE.get(type);
    if (type && typed) return { extension: FORMATS[typed].extension, contentType: type, decidedBy };
  }
  const hinted = kindOfExtension(content.hint);
  if (hinted) {
    return {
      extension: FORMATS[hinted].extension,
      contentType: served ?? listed ?? FORMATS[hinted].contentType,
      decidedBy: 'hint',
    };
  }
  return { extension: 'bin', contentType: served ?? listed ?? 'application/octet-stream', decidedBy: 'none' };
}
