/**
 * Microsoft Graph calling-bot source (seed 003): `recordResponse` recordings, announced by a
 * JWT-authenticated notification that carries the recording's location and a short-lived token. The
 * platform offers no listing and keeps nothing to delete, so this source is webhook-only and says so:
 * `capabilities` is `{ list: false, delete: false }`, the sweep's listing is empty by design, and
 * `deleteRecording` refuses loudly instead of pretending.
 */
import { PermanentError } from '../../core/errors';
import type { DownloadGrant, HintJob } from '../../core/jobs';
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
import { type GraphCallingBotSourceConfig, notificationSignersOf } from './graph-calling-bot-config';
import { openGrantedRecording } from './graph-calling-bot-download';
import { NotificationTokenVerifier } from './graph-calling-bot-token';
import { handleGraphCallingBotWebhook } from './graph-calling-bot-webhook';
import { OpenIdKeySet } from './openid-key-set';

export interface GraphCallingBotTuning {
  /** How long a fetched key set is used before it is fetched again. Default 2 h. */
  keyRefreshIntervalMs: number;
  /** Least time between two key fetches caused by unknown `kid`s (or failed fetches). Default 60 s. */
  unknownKeyCooldownMs: number;
  /** Recording downloads: longest silence before headers or between chunks. Default 30 s. */
  idleTimeoutMs: number;
  connectTimeoutMs: number;
}

export const DEFAULT_MSGRAPH_TUNING: GraphCallingBotTuning = {
  keyRefreshIntervalMs: 2 * 60 * 60 * 1000,
  unknownKeyCooldownMs: 60 * 1000,
  idleTimeoutMs: 30_000,
  connectTimeoutMs: 10_000,
};

export interface GraphCallingBotSourceOptions {
  config: GraphCallingBotSourceConfig;
  clock?: Clock;
  log?: Log;
  tuning?: Partial<GraphCallingBotTuning>;
}

export const MSGRAPH_CAPABILITIES: SourceCapabilities = { list: false, delete: false };

export class GraphCallingBotSource implements RecordingSource {
  readonly provider = 'msgraph' as const;
  readonly sourceId: string;
  readonly capabilities = MSGRAPH_CAPABILITIES;
  /** The notification signing keys, one set per signer; exposed for tests and metrics (fetch counts). */
  readonly keySets: readonly OpenIdKeySet[];
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
    this.tuning = { ...DEFAULT_MSGRAPH_TUNING, ...options.tuning };
    const signers = notificationSignersOf(options.config).map((signer) => ({
      issuers: signer.issuers,
      keys: new OpenIdKeySet({
        openIdConfigurationUrl: signer.openIdConfigurationUrl,
        clock: this.clock,
        log: this.log,
        refreshIntervalMs: this.tuning.keyRefreshIntervalMs,
        unknownKeyCooldownMs: this.tuning.unknownKeyCooldownMs,
      }),
    }));
    this.keySets = signers.map((signer) => signer.keys);
    this.verifier = new NotificationTokenVerifier(
      { botAppId: options.config.botAppId, tenantId: options.config.tenantId },
      signers,
      this.clock,
    );
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

  async openGrantedDownload(
    _recording: SourceRecording,
    grant: DownloadGrant,
    signal?: AbortSignal,
  ): Promise<GrantedDownload> {
    return openGrantedRecording(grant, {
      allowedDownloadHosts: this.config.allowedDownloadHosts,
      signal,
      idleTimeoutMs: this.tuning.idleTimeoutMs,
      connectTimeoutMs: this.tuning.connectTimeoutMs,
    });
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
