import { createHash } from 'node:crypto';
import type { ProviderName, SourceRecording } from './recording';

const MAX_SEGMENT_LENGTH = 120;
export const RECORDINGS_PREFIX = 'recordings/';
export const SIDECAR_SUFFIX = '.json';

/**
 * Makes an id safe as one path segment on S3 and on a local disk: no separators, no `..`, bounded
 * length. Distinct ids that sanitise alike keep distinct keys through a short hash of the original.
 */
export function sanitiseSegment(id: string): string {
  const cleaned = id
    .replace(/[^A-Za-z0-9._-]/g, '_')
    .replace(/\.{2,}/g, '_')
    .replace(/^\./, '_');
  if (cleaned === id && cleaned.length <= MAX_SEGMENT_LENGTH && cleaned.length > 0) return cleaned;
  const digest = createHash('sha256').update(id).digest('hex').slice(0, 12);
  return `${cleaned.slice(0, MAX_SEGMENT_LENGTH - 13) || 'id'}-${digest}`;
}

/** Lower-case `[a-z0-9]{1,8}`; anything else (and `json`, the sidecar's suffix) becomes `bin`. */
export function sanitiseExtension(extension: string): string {
  const cleaned = extension.toLowerCase().replace(/[^a-z0-9]/g, '');
  return cleaned.length > 0 && cleaned.length <= 8 && `.${cleaned}` !== SIDECAR_SUFFIX ? cleaned : 'bin';
}

type KeyFields = Pick<SourceRecording, 'provider' | 'sourceId' | 'recordingId' | 'startedAt'>;

/**
 * `recordings/{provider}/{sourceId}/{yyyy}/{mm}/{dd}/{recordingId}`, by the UTC call start: the one
 * deterministic, format-free name of a recording. Its copy is stored at `{stem}.{ext}`, the extension
 * being what the content turned out to be, so "is it archived?" asks for any copy under the stem
 * (`isCopyKeyOf`), whatever its extension.
 */
export function recordingStem(recording: KeyFields): string {
  const start = recording.startedAt;
  if (Number.isNaN(start.getTime()))
    throw new RangeError(`recording ${recording.recordingId} has no valid start time`);
  const yyyy = String(start.getUTCFullYear()).padStart(4, '0');
  const mm = String(start.getUTCMonth() + 1).padStart(2, '0');
  const dd = String(start.getUTCDate()).padStart(2, '0');
  return [
    'recordings',
    recording.provider,
    sanitiseSegment(recording.sourceId),
    yyyy,
    mm,
    dd,
    sanitiseSegment(recording.recordingId),
  ].join('/');
}

/** The key of a copy under its stem, with the extension its content decided. */
export function copyKey(stem: string, extension: string): string {
  return `${stem}.${sanitiseExtension(extension)}`;
}

/**
 * The key a recording would have with the extension its listing suggests (`fileExtension`). Only names
 * records about a recording that has no copy (gone at the source, expired before fetch); a stored
 * copy's extension comes from its content (see `recordingStem`).
 */
export function recordingKey(recording: KeyFields & Pick<SourceRecording, 'fileExtension'>): string {
  return copyKey(recordingStem(recording), recording.fileExtension);
}

/**
 * Whether `key` is a copy of the recording with this stem: exactly `{stem}.{ext}`. A prefix listing of
 * `{stem}.` also returns other ids that start alike (`{id}.x.mp3` for id `{id}.x`) and sidecars; neither
 * is a copy of this one.
 */
export function isCopyKeyOf(stem: string, key: string): boolean {
  if (!key.startsWith(`${stem}.`)) return false;
  const extension = key.slice(stem.length + 1);
  return /^[a-z0-9]{1,8}$/.test(extension) && `.${extension}` !== SIDECAR_SUFFIX;
}

/** The stem of a recording copy's key (the key without its extension); undefined for a sidecar or no key. */
export function stemOfCopyKey(key: string): string | undefined {
  if (!key.startsWith(RECORDINGS_PREFIX) || isSidecarKey(key)) return undefined;
  const name = key.slice(key.lastIndexOf('/') + 1);
  const dot = name.lastIndexOf('.');
  if (dot <= 0) return undefined;
  const stem = key.slice(0, key.length - name.length + dot);
  return isCopyKeyOf(stem, key) ? stem : undefined;
}

/** The extension of a recording copy's key, lower case; undefined for anything else. */
export function extensionOfCopyKey(key: string): string | undefined {
  const stem = stemOfCopyKey(key);
  return stem === undefined ? undefined : key.slice(stem.length + 1);
}

export function sidecarKey(recordingObjectKey: string): string {
  return `${recordingObjectKey}${SIDECAR_SUFFIX}`;
}

export function isSidecarKey(key: string): boolean {
  return key.endsWith(SIDECAR_SUFFIX);
}

/** The prefix holding every recording of one source, for listings and status. */
export function sourcePrefix(provider: ProviderName, sourceId: string): string {
  return `${RECORDINGS_PREFIX}${provider}/${sanitiseSegment(sourceId)}/`;
}

/**
 * Where the worker records a recording that was gone at the source before it could be copied:
 * `audit/gone-at-source/{provider}/{sourceId}/{yyyy}/{mm}/{dd}/{recordingId}.{ext}.json`, the recording's
 * own key moved under the audit prefix. Deterministic, so a redelivered job rewrites the same record, and
 * grouped by the call's UTC day, as status counts it.
 */
export const GONE_AT_SOURCE_PREFIX = 'audit/gone-at-source/';

export function goneAtSourceKey(recordingObjectKey: string): string {
  if (!recordingObjectKey.startsWith(RECORDINGS_PREFIX))
    throw new RangeError(`${recordingObjectKey} is not a recording key`);
  return `${GONE_AT_SOURCE_PREFIX}${recordingObjectKey.slice(RECORDINGS_PREFIX.length)}${SIDECAR_SUFFIX}`;
}

/** The recording key a gone-at-source record stands for; undefined for any other key. */
export function recordingKeyOfGoneRecord(key: string): string | undefined {
  if (!key.startsWith(GONE_AT_SOURCE_PREFIX) || !key.endsWith(SIDECAR_SUFFIX)) return undefined;
  return `${RECORDINGS_PREFIX}${key.slice(GONE_AT_SOURCE_PREFIX.length, -SIDECAR_SUFFIX.length)}`;
}

/**
 * Where the worker records a granted recording (Graph `fetch-now`) whose token expired, or whose file the
 * platform discarded, before the fetch: `audit/expired-before-fetch/{provider}/{sourceId}/{yyyy}/{mm}/{dd}/
 * {recordingId}.{ext}.json`, dated like the recording's key. Such a recording is lost; status counts these.
 */
export const EXPIRED_BEFORE_FETCH_PREFIX = 'audit/expired-before-fetch/';

export function expiredBeforeFetchKey(recordingObjectKey: string): string {
  if (!recordingObjectKey.startsWith(RECORDINGS_PREFIX))
    throw new RangeError(`${recordingObjectKey} is not a recording key`);
  return `${EXPIRED_BEFORE_FETCH_PREFIX}${recordingObjectKey.slice(RECORDINGS_PREFIX.length)}${SIDECAR_SUFFIX}`;
}

/** The prefix of one source's expired-before-fetch records. */
export function expiredBeforeFetchPrefix(provider: ProviderName, sourceId: string): string {
  return `${EXPIRED_BEFORE_FETCH_PREFIX}${provider}/${sanitiseSegment(sourceId)}/`;
}

/** The prefix of one source's gone-at-source records. */
export function goneAtSourcePrefix(provider: ProviderName, sourceId: string): string {
  return `${GONE_AT_SOURCE_PREFIX}${provider}/${sanitiseSegment(sourceId)}/`;
}
