/**
 * Fetches a `recordResponse` recording: `GET recordingLocation` with `Authorization: Bearer
 * <recordingAccessToken>`. The reply is chunked, without Content-Length, typed
 * `application/octet-stream` (the `call: recordResponse` reference), so the first bytes decide the
 * extension and content type, and the verifier downstream refuses whatever is not audio. A refused or vanished grant (401, 403, 404,
 * 410) is permanent: the platform expired the token or discarded the file.
 */
import { Readable } from 'node:stream';
import { ExpiredBeforeFetchError } from '../../core/errors';
import type { DownloadGrant } from '../../core/jobs';
import { detectMediaKind, type MediaKind, SIGNATURE_BYTES } from '../../core/media-signature';
import type { GrantedDownload } from '../../core/ports';
import { describeUrl, httpStatusOf, openHttpDownload } from '../http';
import { assertAllowedRecordingLocation, exactDownloadHosts } from './msgraph-notifications';

/**
 * The extension a recording is announced with, before a byte is seen. Microsoft documents the download
 * only as `application/octet-stream` (`call: recordResponse`, "Retrieving the recording file"), not as
 * WAV: the first bytes decide the stored extension and content type (see openGrantedRecording).
 */
export const EXPECTED_RECORDING_EXTENSION = 'wav';

const EXPIRED_STATUSES = new Set([401, 403, 404, 410]);

const CONTENT_TYPES: Record<MediaKind, string> = {
  wav: 'audio/wav',
  mp3: 'audio/mpeg',
  ogg: 'audio/ogg',
  flac: 'audio/flac',
  mp4: 'audio/mp4',
  webm: 'audio/webm',
  amr: 'audio/amr',
  aiff: 'audio/aiff',
};

export interface GrantedFetchOptions {
  allowedDownloadHosts: readonly string[];
  signal?: AbortSignal;
  idleTimeoutMs?: number;
  connectTimeoutMs?: number;
}

/** Replaces the token wherever a message might have picked it up (an error body echoing the request). */
function scrubbed<T>(error: T, token: string): T {
  if (error instanceof Error && token && error.message.includes(token)) {
    error.message = error.message.split(token).join('[redacted]');
  }
  return error;
}

/**
 * The first `bytes` bytes of a stream, and a stream that yields everything (those bytes included).
 * Errors of the source reach the returned stream; destroying the returned stream releases the source.
 */
export async function peekHead(body: Readable, bytes: number): Promise<{ head: Buffer; body: Readable }> {
  const iterator = body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const chunks: Buffer[] = [];
  let length = 0;
  let ended = false;
  try {
    while (length < bytes) {
      const next = await iterator.next();
      if (next.done) {
        ended = true;
        break;
      }
      chunks.push(next.value);
      length += next.value.length;
    }
  } catch (error) {
    body.destroy();
    throw error;
  }
  const head = Buffer.concat(chunks);
  // A generator that never started has no `finally` to run: the stream's close releases the source too.
  async function* replay(): AsyncGenerator<Buffer> {
    try {
      if (head.length > 0) yield head;
      while (!ended) {
        const next = await iterator.next();
        if (next.done) return;
        yield next.value;
      }
    } finally {
      // Reached on completion, on error and when the consumer gives up: the socket is released.
      body.destroy();
    }
  }
  const replayed = Readable.from(replay(), { objectMode: false });
  replayed.once('close', () => body.destroy());
  return { head: head.subarray(0, bytes), body: replayed };
}

export async function openGrantedRecording(
  grant: DownloadGrant,
  options: GrantedFetchOptions,
): Promise<GrantedDownload> {
  // Checked again here: the configuration may have changed since the notification was accepted.
  const url = assertAllowedRecordingLocation(grant.url, options.allowedDownloadHosts);
  const where = describeUrl(url);
  let download: Awaited<ReturnType<typeof openHttpDownload>>;
  try {
    download = await openHttpDownload(url.href, {
      allowedHosts: exactDownloadHosts(options.allowedDownloadHosts, url.protocol),
      headers: { authorization: `Bearer ${grant.bearerToken}`, accept: '*/*' },
      signal: options.signal,
      idleTimeoutMs: options.idleTimeoutMs,
      connectTimeoutMs: options.connectTimeoutMs,
    });
  } catch (error) {
    const status = httpStatusOf(error);
    if (status !== undefined && EXPIRED_STATUSES.has(status)) {
      throw new ExpiredBeforeFetchError(
        `expired-before-fetch: ${where} answered ${status}; the access token expired or the file was discarded ` +
          `(notification received ${grant.receivedAt})`,
      );
    }
    throw scrubbed(error, grant.bearerToken);
  }
  let peeked: { head: Buffer; body: Readable };
  try {
    peeked = await peekHead(download.body, SIGNATURE_BYTES);
  } catch (error) {
    throw scrubbed(error, grant.bearerToken);
  }
  const kind = detectMediaKind(peeked.head);
  return {
    body: peeked.body,
    contentLength: download.contentLength,
    // Not media: the server's type is kept, and the verifier refuses the body with a clear reason.
    contentType: kind ? CONTENT_TYPES[kind] : download.contentType,
    fileExtension: kind ?? EXPECTED_RECORDING_EXTENSION,
  };
}
