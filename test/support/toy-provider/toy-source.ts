/**
 * The toy provider's adapter, with its platform in memory: recordings one an hour back from `newest`,
 * each a few KiB of synthetic MP3. Enough for the sweep, the worker and webhooks to run it end to end.
 */
import { Readable } from 'node:stream';
import { GoneAtSourceError, UnauthenticatedError } from '../../../functions/core/errors';
import type {
  DownloadStream,
  RecordingSource,
  WebhookOutcome,
  WebhookRequest,
} from '../../../functions/core/ports';
import type { ProviderName, SourceRecording, TimeWindow } from '../../../functions/core/recording';
import { syntheticMp3 } from '../synthetic-media';
import type { ToyCredentials, ToySourceConfig } from './toy-config';

const HOUR_MS = 3_600_000;
export const TOY_RECORDING_BYTES = 4096;

export class ToySource implements RecordingSource {
  // Not one of the shipped names (see descriptor.ts), so the type is asserted here.
  readonly provider = 'toy' as ProviderName;
  readonly capabilities = { list: true, delete: true };
  readonly sourceId: string;
  private readonly deleted = new Set<string>();

  constructor(
    private readonly config: ToySourceConfig,
    private readonly credentials: ToyCredentials,
    private readonly newest: Date,
  ) {
    this.sourceId = config.id;
  }

  private all(): SourceRecording[] {
    return Array.from({ length: this.config.recordings }, (_, index) => ({
      provider: this.provider,
      sourceId: this.sourceId,
      recordingId: `toy-${index}`,
      startedAt: new Date(this.newest.getTime() - index * HOUR_MS),
      direction: 'inbound' as const,
      size: TOY_RECORDING_BYTES,
      contentType: 'audio/mpeg',
      fileExtension: 'mp3',
      raw: { index },
    })).filter((recording) => !this.deleted.has(recording.recordingId));
  }

  async *listRecordings(window: TimeWindow): AsyncIterable<SourceRecording> {
    yield* this.all().filter((one) => one.startedAt >= window.from && one.startedAt < window.to);
  }

  async resolveHint(): Promise<SourceRecording[]> {
    return [];
  }

  async openDownload(recording: SourceRecording): Promise<DownloadStream> {
    if (!this.all().some((one) => one.recordingId === recording.recordingId)) {
      throw new GoneAtSourceError(`${recording.recordingId} is gone`);
    }
    const index = Number(recording.recordingId.slice('toy-'.length));
    const bytes = syntheticMp3(TOY_RECORDING_BYTES, index + 1);
    return { body: Readable.from([bytes]), contentLength: bytes.length, contentType: 'audio/mpeg' };
  }

  async deleteRecording(recording: SourceRecording): Promise<'deleted' | 'already-gone'> {
    const had = this.all().some((one) => one.recordingId === recording.recordingId);
    this.deleted.add(recording.recordingId);
    return had ? 'deleted' : 'already-gone';
  }

  async handleWebhook(request: WebhookRequest): Promise<WebhookOutcome> {
    if (request.query.token !== this.credentials.token) throw new UnauthenticatedError('wrong token');
    return {
      response: { status: 202, contentType: 'application/json', body: '{}' },
      jobs: [],
      counts: { pings: 1 },
    };
  }
}
