import { PermanentError } from './errors';
import type { RecordingSource } from './ports';
import type { ProviderName } from './recording';

export interface RegisteredSource {
  provider: ProviderName;
  id: string;
  retentionClass?: string;
}

/**
 * Looks up the adapter for a (provider, source id) pair. Adapters are built lazily, once, and kept:
 * their token caches and per-client locks must outlive a single job.
 */
export class SourceRegistry {
  private readonly built = new Map<string, Promise<RecordingSource>>();

  constructor(
    private readonly known: ReadonlyArray<RegisteredSource>,
    private readonly build: (provider: ProviderName, sourceId: string) => Promise<RecordingSource>,
  ) {}

  has(provider: string, sourceId: string): boolean {
    return this.known.some((source) => source.provider === provider && source.id === sourceId);
  }

  list(): ReadonlyArray<RegisteredSource> {
    return this.known;
  }

  /** The `retention-class` tag for a source's objects. */
  retentionClassOf(provider: string, sourceId: string): string {
    return (
      this.known.find((source) => source.provider === provider && source.id === sourceId)?.retentionClass ??
      'standard'
    );
  }

  async get(provider: ProviderName, sourceId: string): Promise<RecordingSource> {
    if (!this.has(provider, sourceId)) {
      throw new PermanentError(`no enabled ${provider} source with id "${sourceId}" is configured`);
    }
    const id = `${provider}/${sourceId}`;
    let source = this.built.get(id);
    if (!source) {
      source = this.build(provider, sourceId);
      this.built.set(id, source);
      // A failed build (say, the secret could not be read) must not be cached forever.
      source.catch(() => this.built.delete(id));
    }
    return source;
  }
}
