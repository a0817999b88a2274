/**
 * Microsoft Graph calling-bot source (seed 003): `recordResponse` recordings, announced by a signed
 * notification carrying the location and a short-lived token. Graph offers no listing and keeps nothing
 * to delete, so this source is webhook-only: its listing is empty and `deleteRecording` refuses loudly.
 */
import { ExpiredBeforeFetchError, PermanentError } from '../../core/errors';
import type { DownloadGrant, HintJob } from '../../core/jobs';
import { SIGNATURE_BYTES } from '../../core/media-signature';
import type {
  Clock,
  DownloadStream,
  GrantedDownload,
  Log,
  RecordingSource,
  SourceCapabilities,
  WebhookOutcome,
  WebhookRequest,
} from '../../core/ports';
import { silentLog, systemClock } from '../../core/ports';
import type { SourceRecording, TimeWindow } from '../../core/recording';
import { peekHead } from '../../core/stream-head';
import { describeUrl, httpStatusOf, openHttpDownload } from '../http';
import { assertPinnedUrl, pinDownloadHosts } from '../shared/download-hosts';
import { type GraphCallingBotSourceConfig, notificationSignersOf } from './graph-calling-bot-config';
import { NotificationTokenVerifier } from './graph-calling-bot-token';
import { handleGraphCallingBotWebhook } from './graph-calling-bot-webhook';
import { DEFAULT_UNKNOWN_KEY_COOLDOWN_MS, OpenIdKeySet } from './openid-key-set';

export interface GraphCallingBotTuning {
  /** How long a fetched key set is used before it is fetched again. Default 2 h. */
  keyRefreshIntervalMs: number;
  /** Least time between two key fetches caused by unknown `kid`s (or failed fetches). Default 60 s. */
  unknownKeyCooldownMs: number;
  /** Recording downloads: longest silence before headers or between chunks. Default 30 s. */
  idleTimeoutMs: number;
  connectTimeoutMs: number;
}

const DEFAULT_TUNING: GraphCallingBotTuning = {
  keyRefreshIntervalMs: 2 * 60 * 60 * 1000,
  unknownKeyCooldownMs: DEFAULT_UNKNOWN_KEY_COOLDOWN_MS,
  idleTimeoutMs: 30_000,
  connectTimeoutMs: 10_000,
};

/** A refused or vanished grant is permanent: the platform expired the token or discarded the file. */
const EXPIRED_STATUSES = new Set([401, 403, 404, 410]);

/** Replaces the token wherever a message might have picked it up (an error body echoing the request). */
function scrubbed<T>(error: T, token: string): T {
  if (error instanceof Error && token && error.message.includes(token)) {
    error.message = error.message.split(token).join('[redacted]');
  }
  return error;
}

export interface GraphCallingBotSourceOptions {
  config: GraphCallingBotSourceConfig;
  clock?: Clock;
  log?: Log;
  tuning?: Partial<GraphCallingBotTuning>;
}

export class GraphCallingBotSource implements RecordingSource {
  readonly provider = 'msgraph' as const;
  readonly sourceId: string;
  readonly capabilities: SourceCapabilities = { list: false, delete: false };
  private readonly config: GraphCallingBotSourceConfig;
  private readonly verifier: NotificationTokenVerifier;
  private readonly clock: Clock;
  private readonly log: Log;
  private readonly tuning: GraphCallingBotTuning;

  constructor(options: GraphCallingBotSourceOptions) {
    if (options.config.mediaPersistenceApproved !== true) {
      // The schema already refuses this; a hand-built config must not slip past it.
      throw new PermanentError(`msgraph source ${options.config.id}: mediaPersistenceApproved must be true`);
    }
    this.config = options.config;
    this.sourceId = options.config.id;
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? silentLog;
    this.tuning = { ...DEFAULT_TUNING, ...options.tuning };
    const { clock, log } = this;
    // The notification signing keys, one set per signer.
    const signers = notificationSignersOf(options.config).map(({ issuers, openIdConfigurationUrl }) => ({
      issuers,
      keys: new OpenIdKeySet({ ...this.tuning, openIdConfigurationUrl, clock, log }),
    }));
    this.verifier = new NotificationTokenVerifier(options.config, signers, clock);
  }

  /** Graph offers no listing of recordResponse recordings: nothing to sweep, by design (capabilities.list). */
  // biome-ignore lint/correctness/useYield: the empty listing is the point.
  async *listRecordings(_window: TimeWindow, _signal?: AbortSignal): AsyncIterable<SourceRecording> {
    return;
  }

  async resolveHint(job: HintJob): Promise<SourceRecording[]> {
    throw new PermanentError(
      `msgraph source ${this.sourceId} makes no hint jobs (got one for ${job.eventTime}); its notifications carry the recording`,
    );
  }

  /** Recordings are only reachable with the token of their notification: see openGrantedDownload. */
  async openDownload(recording: SourceRecording): Promise<DownloadStream> {
    throw new PermanentError(
      `msgraph recording ${recording.recordingId} can only be fetched with its notification's access token (a fetch-now job)`,
    );
  }

  /**
   * `GET recordingLocation` with the `recordingAccessToken`. The reply is chunked `application/octet-stream`
   * (`call: recordResponse` reference): the archive types the copy from its first bytes, refusing non-audio.
   */
  async openGrantedDownload(
    _recording: SourceRecording,
    grant: DownloadGrant,
    signal?: AbortSignal,
  ): Promise<GrantedDownload> {
    const { allowedDownloadHosts } = this.config;
    // Checked again here: the configuration may have changed since the notification was accepted.
    const url = assertPinnedUrl(grant.url, allowedDownloadHosts);
    try {
      const download = await openHttpDownload(url.href, {
        allowedHosts: pinDownloadHosts(allowedDownloadHosts, url.protocol),
        headers: { authorization: `Bearer ${grant.bearerToken}` },
        signal,
        idleTimeoutMs: this.tuning.idleTimeoutMs,
        connectTimeoutMs: this.tuning.connectTimeoutMs,
      });
      // The first bytes are awaited here so that a failure of the first read is scrubbed of the token too.
      const { body } = await peekHead(download.body, SIGNATURE_BYTES);
      return { body, contentLength: download.contentLength, contentType: download.contentType };
    } catch (error) {
      const status = httpStatusOf(error);
      if (status !== undefined && EXPIRED_STATUSES.has(status)) {
        throw new ExpiredBeforeFetchError(
          `expired-before-fetch: ${describeUrl(url)} answered ${status}; the access token expired or the file was discarded ` +
            `(notification received ${grant.receivedAt})`,
        );
      }
      throw scrubbed(error, grant.bearerToken);
    }
  }

  /** The platform discards recordings itself, soon after the call; retention must skip this source. */
  async deleteRecording(recording: SourceRecording): Promise<'deleted' | 'already-gone'> {
    throw new PermanentError(
      `msgraph source ${this.sourceId} cannot delete recording ${recording.recordingId}: Microsoft Graph keeps ` +
        'no recordResponse recording to delete (capabilities.delete is false; retention must skip this source)',
    );
  }

  handleWebhook(request: WebhookRequest): Promise<WebhookOutcome> {
    return handleGraphCallingBotWebhook(request, {
      sourceId: this.sourceId,
      allowedDownloadHosts: this.config.allowedDownloadHosts,
      verifier: this.verifier,
      clock: this.clock,
      log: this.log,
    });
  }
}
