/**
 * The account's extension directory (`GET /account/~/extension`, paged, Medium group), loaded at most
 * once a day per adapter and never per recording. It names extensions in sidecars, tells users (who
 * have a Team Messaging person id) from queues and IVRs, and maps the `extensions` scope's short
 * numbers to extension ids.
 */
import { TransientError } from '../../core/errors';
import type { Clock, Log } from '../../core/ports';
import { jsonObject } from '../shared/json';
import {
  type DirectoryEntry,
  EMPTY_DIRECTORY,
  type ExtensionDirectory,
  idText,
} from './ringcentral-call-log';

export type DirectoryLoader = () => Promise<DirectoryEntry[]>;

export interface DirectoryCacheOptions {
  load: DirectoryLoader;
  clock: Clock;
  log: Log;
  sourceId: string;
  /** A loaded directory is reused this long. Default 24 h. */
  ttlMs?: number;
  /** After a failed load (names only), the next attempt waits this long. Default 1 h. */
  retryAfterFailureMs?: number;
}

class MapDirectory implements ExtensionDirectory {
  private readonly ids = new Map<string, DirectoryEntry>();
  private readonly numbers = new Map<string, DirectoryEntry>();

  constructor(entries: readonly DirectoryEntry[]) {
    for (const entry of entries) {
      this.ids.set(entry.id, entry);
      if (entry.extensionNumber) this.numbers.set(entry.extensionNumber, entry);
    }
  }

  byId(id: string): DirectoryEntry | undefined {
    return this.ids.get(id);
  }

  byNumber(extensionNumber: string): DirectoryEntry | undefined {
    return this.numbers.get(extensionNumber);
  }

  get size(): number {
    return this.ids.size;
  }
}

/** One `records[]` item of the extension list. */
export function parseDirectoryEntry(raw: unknown): DirectoryEntry | undefined {
  const record = jsonObject(raw);
  const id = idText(record?.id);
  if (!record || !id) return undefined;
  const contact = jsonObject(record.contact) ?? {};
  const contactName = [idText(contact.firstName), idText(contact.lastName)].filter(Boolean).join(' ');
  return {
    id,
    extensionNumber: idText(record.extensionNumber),
    name: idText(record.name) ?? (contactName || undefined),
    type: idText(record.type),
  };
}

export class DirectoryCache {
  private loaded: { at: number; directory: MapDirectory } | undefined;
  private failedAt: number | undefined;
  private pending: Promise<MapDirectory> | undefined;

  constructor(private readonly options: DirectoryCacheOptions) {}

  private now(): number {
    return this.options.clock.now().getTime();
  }

  /**
   * The directory. With `required` (the `extensions` scope depends on it) a failed load throws, so a
   * sweep fails loudly instead of archiving nothing; otherwise names are simply left out for a while.
   */
  async get(required: boolean): Promise<ExtensionDirectory> {
    const ttlMs = this.options.ttlMs ?? 24 * 3_600_000;
    if (this.loaded && this.now() - this.loaded.at < ttlMs) return this.loaded.directory;
    const retryMs = this.options.retryAfterFailureMs ?? 3_600_000;
    if (!required && this.failedAt !== undefined && this.now() - this.failedAt < retryMs) {
      return this.loaded?.directory ?? EMPTY_DIRECTORY;
    }
    this.pending ??= this.load().finally(() => {
      this.pending = undefined;
    });
    try {
      return await this.pending;
    } catch (error) {
      this.failedAt = this.now();
      if (required) {
        throw new TransientError(
          `the RingCentral extension directory of source ${this.options.sourceId} could not be loaded, and the extensions scope needs it: ${(error as Error).message}`,
          { cause: error },
        );
      }
      this.options.log.warn(
        'ringcentral extension directory unavailable; sidecars go without extension names',
        {
          sourceId: this.options.sourceId,
          reason: (error as Error).message,
        },
      );
      return this.loaded?.directory ?? EMPTY_DIRECTORY;
    }
  }

  private async load(): Promise<MapDirectory> {
    const directory = new MapDirectory(await this.options.load());
    this.loaded = { at: this.now(), directory };
    this.failedAt = undefined;
    this.options.log.info('ringcentral extension directory loaded', {
      sourceId: this.options.sourceId,
      extensions: directory.size,
    });
    return directory;
  }
}
