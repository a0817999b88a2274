import { createHash } from 'node:crypto';
import { type CallvaultError, CredentialsNotSetError, PermanentError, UnauthenticatedError } from './errors';
import type { Clock, Log, RecordingSource, WebhookRequest } from './ports';
import type { ProviderName } from './recording';

export interface RegisteredSource {
  provider: ProviderName;
  id: string;
  retentionClass?: string;
  /** The largest webhook body read for it, where its platform documents larger deliveries. */
  maxWebhookBodyBytes?: number;
}

/** Larger webhook bodies are refused before parsing: no provider's event comes near this. */
export const MAX_WEBHOOK_BODY_BYTES = 256 * 1024;

/** A source's secret values and where they were read (for messages; never the values themselves). */
export interface SourceCredentials {
  values: Readonly<Record<string, unknown>>;
  origin: string;
}

/**
 * While credentials work they are re-read this often: an operator's `put-secret-value` (the first
 * credentials after a deploy, a rotation) reaches warm containers within five minutes.
 */
export const CREDENTIALS_MAX_AGE_MS = 5 * 60_000;
/**
 * After a refusal (a job's UnauthenticatedError, a refused webhook) or a failed read, credentials are
 * re-read at once, but at most this often per source and container: forged webhooks cannot turn into a
 * flood of secret reads.
 */
export const CREDENTIALS_MIN_REREAD_MS = 30_000;

export interface SourceRegistryOptions {
  sources: ReadonlyArray<RegisteredSource>;
  loadCredentials(source: RegisteredSource): Promise<SourceCredentials>;
  /** Builds the adapter from credentials; throws when they lack what the provider needs. */
  createSource(
    source: RegisteredSource,
    credentials: SourceCredentials,
  ): RecordingSource | Promise<RecordingSource>;
  clock: Clock;
  log: Log;
  /** @default CREDENTIALS_MAX_AGE_MS */
  maxAgeMs?: number;
  /** @default CREDENTIALS_MIN_REREAD_MS */
  minRereadMs?: number;
}

interface Slot {
  source: RegisteredSource;
  adapter?: RecordingSource;
  /** SHA-256 of the values the adapter was built from. */
  fingerprint?: string;
  /** Why there is no adapter yet, rethrown until the next read is due. */
  failure?: unknown;
  /** Epoch ms of the last read attempt and of the next one due. */
  lastReadAt: number;
  nextReadAt: number;
  reading?: Promise<void>;
  /** What callers get: stable for the source's lifetime, whatever adapter is behind it. */
  view?: RecordingSource;
}

/**
 * Looks up the adapter for a (provider, source id) pair. One adapter per source and container, kept
 * across jobs: its token cache and per-client locks must outlive a single job.
 *
 * Its credentials are not kept forever, though. They are re-read every `maxAgeMs`, and at once (at most
 * every `minRereadMs`) when the platform refuses them or a webhook's secret does not match. The adapter is
 * rebuilt only when the values changed (compared by hash), so an unchanged secret keeps the token cache. A
 * re-read that fails keeps the adapter in use; a source that never had an adapter rethrows its failure
 * until the next read is due. Callers hold a stable view that always uses the current adapter and, on a
 * refusal that fresh credentials fix, retries the call once with them.
 */
export class SourceRegistry {
  private readonly slots = new Map<string, Slot>();
  private readonly maxAgeMs: number;
  private readonly minRereadMs: number;

  constructor(private readonly options: SourceRegistryOptions) {
    this.maxAgeMs = options.maxAgeMs ?? CREDENTIALS_MAX_AGE_MS;
    this.minRereadMs = options.minRereadMs ?? CREDENTIALS_MIN_REREAD_MS;
  }

  has(provider: string, sourceId: string): boolean {
    return this.find(provider, sourceId) !== undefined;
  }

  list(): ReadonlyArray<RegisteredSource> {
    return this.options.sources;
  }

  /** The `retention-class` tag for a source's objects. */
  /** The largest webhook body `receiveWebhook` reads for this source. */
  maxWebhookBodyBytes(provider: string, sourceId: string): number {
    return this.find(provider, sourceId)?.maxWebhookBodyBytes ?? MAX_WEBHOOK_BODY_BYTES;
  }

  retentionClassOf(provider: string, sourceId: string): string {
    return this.find(provider, sourceId)?.retentionClass ?? 'standard';
  }

  async get(provider: ProviderName, sourceId: string): Promise<RecordingSource> {
    const source = this.find(provider, sourceId);
    if (!source)
      throw new PermanentError(`no enabled ${provider} source with id "${sourceId}" is configured`);
    const key = `${provider}/${sourceId}`;
    let slot = this.slots.get(key);
    if (!slot) {
      slot = { source, lastReadAt: Number.NEGATIVE_INFINITY, nextReadAt: Number.NEGATIVE_INFINITY };
      this.slots.set(key, slot);
    }
    const adapter = await this.current(slot);
    slot.view ??= this.viewOf(slot, adapter);
    return slot.view;
  }

  private find(provider: string, sourceId: string): RegisteredSource | undefined {
    return this.options.sources.find((source) => source.provider === provider && source.id === sourceId);
  }

  private now(): number {
    return this.options.clock.now().getTime();
  }

  /** The adapter to use now, re-reading the credentials first when that is due. */
  private async current(slot: Slot): Promise<RecordingSource> {
    if (this.now() >= slot.nextReadAt) await this.read(slot);
    if (slot.adapter) return slot.adapter;
    throw slot.failure;
  }

  /** One read per source at a time; concurrent callers share it. */
  private read(slot: Slot): Promise<void> {
    slot.reading ??= this.reread(slot).finally(() => {
      slot.reading = undefined;
    });
    return slot.reading;
  }

  private async reread(slot: Slot): Promise<void> {
    const { source } = slot;
    const startedAt = this.now();
    slot.lastReadAt = startedAt;
    try {
      const credentials = await this.options.loadCredentials(source);
      const fingerprint = fingerprintOf(credentials.values);
      if (slot.adapter && fingerprint === slot.fingerprint) {
        slot.nextReadAt = startedAt + this.maxAgeMs;
        return;
      }
      const adapter = await this.options.createSource(source, credentials);
      const replaced = slot.adapter !== undefined;
      slot.adapter = adapter;
      slot.fingerprint = fingerprint;
      slot.failure = undefined;
      slot.nextReadAt = startedAt + this.maxAgeMs;
      if (replaced) {
        this.options.log.info('source credentials changed; the adapter now uses the new ones', {
          provider: source.provider,
          sourceId: source.id,
          origin: credentials.origin,
        });
      }
    } catch (error) {
      slot.nextReadAt = startedAt + this.minRereadMs;
      if (!slot.adapter) slot.failure = error;
      this.reportReadFailure(slot, error);
    }
  }

  private reportReadFailure(slot: Slot, error: unknown): void {
    const { provider, id: sourceId } = slot.source;
    const detail = error instanceof Error ? error.message : String(error);
    if (error instanceof CredentialsNotSetError) {
      // `errorCode` is what the CredentialsNotSet metric filter and alarm match on.
      this.options.log.error('credentials not set yet', {
        provider,
        sourceId,
        errorCode: error.code,
        detail,
      });
      return;
    }
    const code = (error as Partial<CallvaultError>).code ?? 'unexpected error';
    if (slot.adapter) {
      this.options.log.warn('could not re-read source credentials; keeping the ones in use', {
        provider,
        sourceId,
        code,
        detail,
      });
    } else {
      this.options.log.error('could not read source credentials', { provider, sourceId, code, detail });
    }
  }

  /**
   * After `refused` was refused: re-reads the credentials unless that happened less than `minRereadMs`
   * ago, and answers the adapter to retry with when the values have changed since `refused` was built.
   */
  private async renewAfterRefusal(
    slot: Slot,
    refused: RecordingSource,
  ): Promise<RecordingSource | undefined> {
    if (slot.adapter !== refused) return slot.adapter;
    if (slot.reading) await slot.reading;
    else if (this.now() - slot.lastReadAt >= this.minRereadMs) {
      this.options.log.info('credentials refused; reading them again', {
        provider: slot.source.provider,
        sourceId: slot.source.id,
      });
      await this.read(slot);
    }
    return slot.adapter !== refused ? slot.adapter : undefined;
  }

  /** Runs `call` on the current adapter; once more on renewed credentials if the first was refused. */
  private async withRenewal<T>(slot: Slot, call: (adapter: RecordingSource) => Promise<T>): Promise<T> {
    const adapter = await this.current(slot);
    try {
      return await call(adapter);
    } catch (error) {
      if (!(error instanceof UnauthenticatedError)) throw error;
      const renewed = await this.renewAfterRefusal(slot, adapter);
      if (!renewed) throw error;
      return call(renewed);
    }
  }

  private viewOf(slot: Slot, first: RecordingSource): RecordingSource {
    const registry = this;
    const view: RecordingSource = {
      provider: first.provider,
      sourceId: first.sourceId,
      capabilities: first.capabilities,
      listingConcurrency: first.listingConcurrency,
      async *listRecordings(window, signal, scope) {
        const adapter = await registry.current(slot);
        let listed = false;
        try {
          for await (const recording of adapter.listRecordings(window, signal, scope)) {
            listed = true;
            yield recording;
          }
          return;
        } catch (error) {
          // Once recordings were handed out a retry would repeat them; only a refusal up front is renewed.
          if (listed || !(error instanceof UnauthenticatedError)) throw error;
          const renewed = await registry.renewAfterRefusal(slot, adapter);
          if (!renewed) throw error;
          yield* renewed.listRecordings(window, signal, scope);
        }
      },
      resolveHint: (job, signal) => registry.withRenewal(slot, (adapter) => adapter.resolveHint(job, signal)),
      openDownload: (recording, signal, request) =>
        registry.withRenewal(slot, (adapter) => adapter.openDownload(recording, signal, request)),
      // A refused delete deleted nothing, so it may be tried once more with renewed credentials.
      deleteRecording: (recording, signal) =>
        registry.withRenewal(slot, (adapter) => adapter.deleteRecording(recording, signal)),
      // A webhook signed with a secret this container has not read yet (rotated since) is accepted once the
      // secret is re-read; forged ones cost at most one read per minRereadMs.
      handleWebhook: (request: WebhookRequest) =>
        registry.withRenewal(slot, (adapter) => adapter.handleWebhook(request)),
    };
    if (first.listingScopes) {
      view.listingScopes = (signal) =>
        registry.withRenewal(slot, async (adapter) => (await adapter.listingScopes?.(signal)) ?? []);
    }
    if (first.openGrantedDownload) {
      // A grant carries its own token, so the source's credentials play no part: no renewal here.
      view.openGrantedDownload = async (recording, grant, signal) => {
        const adapter = await registry.current(slot);
        if (!adapter.openGrantedDownload) {
          throw new PermanentError(`source "${slot.source.id}" no longer opens granted downloads`);
        }
        return adapter.openGrantedDownload(recording, grant, signal);
      };
    }
    if (first.webhookSubscriptions) {
      view.webhookSubscriptions = async () => (await registry.current(slot)).webhookSubscriptions?.();
    }
    if (first.reportedSize) {
      view.reportedSize = (recording, signal) =>
        registry.withRenewal(slot, (adapter) => {
          if (!adapter.reportedSize)
            throw new PermanentError(`source "${slot.source.id}" no longer reports sizes`);
          return adapter.reportedSize(recording, signal);
        });
    }
    if (first.setupProblems) {
      view.setupProblems = (signal) =>
        registry.withRenewal(slot, async (adapter) => (await adapter.setupProblems?.(signal)) ?? []);
    }
    if (first.stats) {
      view.stats = (window, signal) =>
        registry.withRenewal(slot, (adapter) => {
          if (!adapter.stats) throw new PermanentError(`source "${slot.source.id}" no longer offers stats`);
          return adapter.stats(window, signal);
        });
    }
    return view;
  }
}

/** Same values, same hash: key order does not matter, nested objects are compared whole. */
function fingerprintOf(values: Readonly<Record<string, unknown>>): string {
  return createHash('sha256').update(canonicalJson(values)).digest('hex');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, field]) => field !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, field]) => `${JSON.stringify(key)}:${canonicalJson(field)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
