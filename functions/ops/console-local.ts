/**
 * The console over the local archive folder: the find question in DuckDB (as `npm run find` asks it),
 * recordings streamed by the console itself, sidecars read from the folder. Every file it opens is
 * resolved to its real path first and must lie inside the archive's real path: a key with `..`, or a
 * symbolic link that leads out of the archive, is refused.
 */
import { readFile, realpath, stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import { DuckDbCatalogue } from '../adapters/duckdb-catalogue';
import type { FindFilters } from '../core/catalogue-query';
import type { ProviderName } from '../core/recording';
import type { ConsoleBackend, ConsoleHit, ConsoleHold, MediaFile } from './console-server';
import { recordingsKey } from './console-server';
import { localHits } from './find';

const MEDIA_TYPES: Record<string, string> = {
  '.mp3': 'audio/mpeg',
  '.wav': 'audio/wav',
  '.m4a': 'audio/mp4',
  '.mp4': 'video/mp4',
  '.ogg': 'audio/ogg',
  '.opus': 'audio/ogg',
  '.webm': 'video/webm',
  '.json': 'application/json',
};

/**
 * The real path of a regular file at `key` inside `archiveDir`, or undefined when there is no such
 * file or it resolves (through `..` or a symbolic link) to somewhere outside the archive.
 */
export async function archiveFile(archiveDir: string, key: string): Promise<string | undefined> {
  let root: string;
  let path: string;
  try {
    root = await realpath(resolve(archiveDir));
    path = await realpath(join(root, ...recordingsKey(key).split('/')));
  } catch {
    return undefined;
  }
  if (!path.startsWith(`${root}${sep}`)) return undefined;
  const stats = await stat(path).catch(() => undefined);
  return stats?.isFile() ? path : undefined;
}

export interface LocalConsoleBackendOptions {
  archiveDir: string;
  sources: readonly { id: string; provider: ProviderName }[];
  /** Sets or releases a hold (callvault's own hold record locally); absent: no hold action. */
  hold?: ConsoleHold;
  /** Which of these recordings are held; absent: the page cannot say. */
  heldKeys?: (objectKeys: readonly string[]) => Promise<ReadonlySet<string>>;
}

export class LocalConsoleBackend implements ConsoleBackend {
  readonly mode = 'local' as const;
  readonly mediaOrigins: readonly string[] = [];
  readonly hold?: ConsoleHold;

  constructor(private readonly options: LocalConsoleBackendOptions) {
    this.hold = options.hold;
  }

  get where(): string {
    return `local archive ${resolve(this.options.archiveDir)}`;
  }

  get sources() {
    return this.options.sources;
  }

  async find(filters: FindFilters, limit: number): Promise<ConsoleHit[]> {
    // Opened per question: the catalogue may appear (or be compacted) while the console runs.
    const engine = await DuckDbCatalogue.open(this.options.archiveDir);
    let hits: ReturnType<typeof localHits>;
    try {
      hits = localHits(await engine.find(filters, { limit }), this.options.archiveDir);
    } finally {
      engine.close();
    }
    const keys = hits.flatMap((hit) => (hit.object_key ? [hit.object_key] : []));
    const held = this.options.heldKeys ? await this.options.heldKeys(keys) : undefined;
    return hits.map((hit) => ({
      ...hit,
      // The console streams the file itself; the page never sees a path on this machine.
      play: hit.play && hit.object_key ? `/media?key=${encodeURIComponent(hit.object_key)}` : null,
      held: held && hit.object_key ? held.has(hit.object_key) : null,
    }));
  }

  async sidecar(key: string): Promise<unknown> {
    const path = await archiveFile(this.options.archiveDir, key);
    // Only sidecars: the media route serves the recordings themselves.
    if (path === undefined || extname(path) !== '.json') return undefined;
    return JSON.parse(await readFile(path, 'utf8')) as unknown;
  }

  async mediaFile(key: string): Promise<MediaFile | undefined> {
    const path = await archiveFile(this.options.archiveDir, key);
    if (!path || path.endsWith('.json')) return undefined;
    const { size } = await stat(path);
    return {
      path,
      size,
      contentType: MEDIA_TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream',
    };
  }
}
