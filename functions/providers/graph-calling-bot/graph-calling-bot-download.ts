/**
 * Fetches a `recordResponse` recording: `GET recordingLocation` with `Authorization: Bearer
 * <recordingAccessToken>`. The reply is chunked, without Content-Length, typed
 * `application/octet-stream` (the `call: recordResponse` reference), so the first bytes decide the
 * extension and content type, and the verifier downstream refuses whatever is not audio. A refused or vanished grant (401, 403, 404,
 * 410) is permanent: the platform expired the token or discarded the file.
 */
import type { Readable } from 'node:stream';
import { ExpiredBeforeFetchError } from '../../core/errors';
import type { DownloadGrant } from '../../core/jobs';
import { SIGNATURE_BYTES } from '../../core/media-signature';
import type { GrantedDownload } from '../../core/ports';
import { peekHead } from '../../core/stream-head';
import { describeUrl, httpStatusOf, openHttpDownload } from '../http';
import { pinDownloadHosts } from '../shared/download-hosts';
import { assertAllowedRecordingLocation } from './graph-calling-bot-notifications';

/**
 * The extension a recording is announced with, before a byte is seen. Microsoft documents the download
 * only as `application/octet-stream` (`call: recordResponse`, "Retrieving the recording file"), not as
 * WAV: the first bytes decide the stored extension and content type (see openGrantedRecording).
 */
export const EXPECTED_RECORDING_EXTENSION = 'wav';

const EXPIRED_STATUSES = new Set([401, 403, 404, 410]);

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
      allowedHosts: pinDownloadHosts(options.allowedDownloadHosts, url.protocol),
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
  // The first bytes are awaited here so that a failure of the first read is scrubbed of the token too.
  let peeked: { head: Buffer; body: Readable };
  try {
    peeked = await peekHead(download.body, SIGNATURE_BYTES);
  } catch (error) {
    throw scrubbed(error, grant.bearerToken);
  }
  // The archive names and types the copy from these bytes (`decideStoredFormat`); the verifier refuses
  // a body that is not audio.
  return { body: peeked.body, contentLength: download.contentLength, contentType: download.contentType };
}
