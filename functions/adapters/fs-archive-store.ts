/**
 * The archive in a local folder that mirrors the bucket's keys: `{root}/{key}` and `{root}/{key}.json`.
 * What S3 keeps as object metadata and tags lives in `{root}/.callvault-meta/{key}.meta.json`.
 *
 * A recording is streamed into `{root}/.callvault-tmp/`, flushed to disk, then hard-linked to its key:
 * `link` fails when the key exists, so a finished recording is never overwritten and a half-written
 * one is never visible. Its metadata is journalled beside the temp file first and published only by
 * the writer whose link won, so a losing writer never touches the winner's metadata.
 *
 * One process per folder. Leftovers of a crashed process are dealt with when the store is created
 * (every operation waits for that): a journalled metadata file whose recording was linked is
 * published, everything else in the temp folder is removed.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { link, mkdir, open, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as z from 'zod';
import {
  AlreadyArchivedError,
  DeadlineError,
  InvalidInputError,
  PermanentError,
  TransientError,
} from '../core/errors';
import { sidecarKey } from '../core/keys';
import type { ArchivedCopy, ArchiveStore, Log, PutRecordingInput, StoredRecording } from '../core/ports';
import { silentLog } from '../core/ports';
import { parseSidecar, type Sidecar, serialiseSidecar } from '../core/sidecar';

export const TEMP_DIR = '.callvault-tmp';
export const META_DIR = '.callvault-meta';
const META_SUFFIX = '.meta.json';
const JOURNAL_SUFFIX = '.journal.json';

const objectMetaSchema = z.object({
  key: z.string(),
  size: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  sourceSize: z.number().int().nonnegative().optional(),
  contentType: z.string(),
  tags: z.record(z.string(), z.string()),
  /** Inode of the recording the metadata describes; a hard link keeps it, so a mismatch is detectable. */
  inode: z.number(),
});
type ObjectMeta = z.infer<typeof objectMetaSchema>;

export interface FsArchiveStoreOptions {
  root: string;
  log?: Log;
}

export class FsArchiveStore implements ArchiveStore {
  readonly root: string;
  private readonly log: Log;
  private readonly tempDir: string;
  /** Recovery of a previous run's leftovers; every operation waits for it. */
  private readonly ready: Promise<void>;

  constructor(options: FsArchiveStoreOptions) {
    this.root = resolve(options.root);
    this.tempDir = join(this.root, TEMP_DIR);
    this.log = options.log ?? silentLog;
    this.ready = this.recover();
    // Surfaced by the first operation that awaits it; never an unhandled rejection.
    this.ready.catch(() => {});
  }

  async putRecording(input: PutRecordingInput): Promise<StoredRecording> {
    const { key, body, signal } = input;
    await this.ready;
    const finalPath = this.pathOf(key);
    const id = randomUUID();
    const tempPath = join(this.tempDir, `${id}.part`);
    const journalPath = join(this.tempDir, `${id}${JOURNAL_SUFFIX}`);
    let linked = false;
    try {
      signal?.throwIfAborted();
      // `flush` fsyncs before close: the bytes are on disk before they can become the archived copy.
      await pipeline(body, createWriteStream(tempPath, { flags: 'wx', flush: true }), { signal });
      const summary = body.summary();
      const { ino, size } = await stat(tempPath);
      if (size !== summary.size)
        throw new TransientError(`wrote ${size} bytes but the verifier saw ${summary.size}`);
      const meta: ObjectMeta = {
        key,
        size,
        sha256: summary.sha256,
        ...(input.sourceSize !== undefined ? { sourceSize: input.sourceSize } : {}),
        contentType: input.contentType,
        tags: input.tags,
        inode: ino,
      };
      await writeDurably(journalPath, JSON.stringify(meta));
      signal?.throwIfAborted();
      await mkdir(dirname(finalPath), { recursive: true });
      try {
        await link(tempPath, finalPath);
      } catch (error) {
        if (errorCode(error) === 'EEXIST')
          throw new AlreadyArchivedError(`a recording already exists at ${key}`);
        throw error;
      }
      linked = true;
      await mkdir(dirname(this.metaPathOf(key)), { recursive: true });
      await rename(journalPath, this.metaPathOf(key));
      await syncDirectory(dirname(finalPath));
      await unlink(tempPath);
      // A folder verifies no checksum of its own on write; the SHA-256 in the metadata is the record.
      return { size: summary.size, sha256: summary.sha256 };
    } catch (error) {
      body.destroy();
      await Promise.all([
        rm(tempPath, { force: true }),
        linked ? undefined : rm(journalPath, { force: true }),
      ]);
      if (linked) {
        // The recording is in place; only publishing its metadata failed. The journal is kept for recovery.
        this.log.warn('recording stored but its metadata was not published', { key, error: String(error) });
      }
      if (signal?.aborted) throw new DeadlineError(`deadline reached while storing ${key}`, { cause: error });
      throw error;
    }
  }

  async inspect(key: string): Promise<ArchivedCopy | undefined> {
    await this.ready;
    const stats = await statOrUndefined(this.pathOf(key));
    if (!stats) return undefined;
    const [meta, sidecar] = await Promise.all([
      this.readMeta(key),
      statOrUndefined(this.pathOf(sidecarKey(key))),
    ]);
    // Metadata describing another inode belongs to an earlier file at this key, not to this one.
    const own = meta && meta.inode === stats.ino && meta.size === stats.size ? meta : undefined;
    if (meta && !own) this.log.warn('ignoring metadata that does not describe the stored file', { key });
    return {
      key,
      size: stats.size,
      sha256: own?.sha256,
      sourceSize: own?.sourceSize,
      contentType: own?.contentType,
      lastModified: stats.mtime,
      hasSidecar: sidecar !== undefined,
      tags: own?.tags ?? {},
    };
  }

  /**
   * Written once, like the recording: linked into place, so an existing sidecar is never replaced
   * (AlreadyArchivedError). Tags matter to S3 lifecycle rules only; a local folder has none, so they are
   * not kept for sidecars.
   */
  async putSidecar(
    recordingObjectKey: string,
    sidecar: Sidecar,
    _tags?: Record<string, string>,
  ): Promise<void> {
    await this.ready;
    const target = this.pathOf(sidecarKey(recordingObjectKey));
    const temp = join(this.tempDir, `${randomUUID()}.sidecar`);
    try {
      await writeDurably(temp, serialiseSidecar(sidecar));
      await mkdir(dirname(target), { recursive: true });
      try {
        await link(temp, target);
      } catch (error) {
        if (errorCode(error) === 'EEXIST')
          throw new AlreadyArchivedError(`a sidecar already exists for ${recordingObjectKey}`);
        throw error;
      }
      await syncDirectory(dirname(target));
    } finally {
      await rm(temp, { force: true });
    }
  }

  /**
   * Here the SHA-256 is in the metadata published with the recording itself, so there is nothing to add;
   * a copy recorded with another SHA-256 is refused.
   */
  async recordSha256(key: string, sha256: string): Promise<void> {
    const copy = await this.inspect(key);
    if (!copy) throw new PermanentError(`no recording at ${key}`);
    if (copy.sha256 !== sha256) {
      throw new PermanentError(`${key} is recorded with SHA-256 ${copy.sha256 ?? '(none)'}, not ${sha256}`);
    }
  }

  async readSidecar(recordingObjectKey: string): Promise<Sidecar | undefined> {
    await this.ready;
    const path = this.pathOf(sidecarKey(recordingObjectKey));
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return undefined;
      throw error;
    }
    try {
      return parseSidecar(text);
    } catch (error) {
      throw new PermanentError(`${sidecarKey(recordingObjectKey)} is not a valid callvault sidecar`, {
        cause: error,
      });
    }
  }

  async openRecording(key: string): Promise<Readable> {
    await this.ready;
    // Open first, so a missing file fails here rather than as a stream error later.
    const handle = await open(this.pathOf(key), 'r').catch((error: unknown) => {
      if (errorCode(error) === 'ENOENT') throw new PermanentError(`no recording at ${key}`, { cause: error });
      throw error;
    });
    return handle.createReadStream();
  }

  async *listKeys(prefix: string): AsyncIterable<string> {
    await this.ready;
    // Only the prefix's own folder is walked: the archive asks for one recording's `{stem}.` per job.
    const folderKey = prefix.slice(0, prefix.lastIndexOf('/') + 1);
    const folder = folderKey ? this.pathOf(folderKey) : this.root;
    const entries = await readdir(folder, { recursive: true, withFileTypes: true }).catch(
      (error: unknown) => {
        if (errorCode(error) === 'ENOENT' || errorCode(error) === 'ENOTDIR') return [];
        throw error;
      },
    );
    const keys: string[] = [];
    for (const entry of entries) {
      if (!entry.isFile()) continue;
      const key = relative(this.root, join(entry.parentPath, entry.name)).split(sep).join('/');
      if (key.startsWith(`${TEMP_DIR}/`) || key.startsWith(`${META_DIR}/`)) continue;
      if (key.startsWith(prefix)) keys.push(key);
    }
    yield* keys.sort();
  }

  // ------------------------------------------------------------------ internals

  /** Maps a key into the root; keys that would escape it, or touch our own folders, are refused. */
  private pathOf(key: string): string {
    const path = resolve(this.root, key);
    const inside = relative(this.root, path);
    const first = inside.split(sep)[0];
    if (
      !key ||
      isAbsolute(key) ||
      inside.startsWith('..') ||
      isAbsolute(inside) ||
      first === TEMP_DIR ||
      first === META_DIR
    ) {
      throw new InvalidInputError(`object key ${JSON.stringify(key)} is not a valid archive key`);
    }
    return path;
  }

  private metaPathOf(key: string): string {
    this.pathOf(key);
    return join(this.root, META_DIR, `${key}${META_SUFFIX}`);
  }

  private async readMeta(key: string): Promise<ObjectMeta | undefined> {
    try {
      return objectMetaSchema.parse(JSON.parse(await readFile(this.metaPathOf(key), 'utf8')));
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return undefined;
      this.log.warn('unreadable object metadata', { key, error: String(error) });
      return undefined;
    }
  }

  /**
   * Runs once per store: publishes journalled metadata whose recording was linked before a crash and
   * removes every other leftover (partial recordings, unpublished metadata, sidecar temp files).
   */
  private async recover(): Promise<void> {
    await mkdir(this.tempDir, { recursive: true });
    for (const name of await readdir(this.tempDir)) {
      const path = join(this.tempDir, name);
      if (name.endsWith(JOURNAL_SUFFIX)) {
        const meta = await readFile(path, 'utf8')
          .then((text) => objectMetaSchema.parse(JSON.parse(text)))
          .catch(() => undefined);
        const stored = meta && (await statOrUndefined(this.pathOf(meta.key)));
        if (meta && stored?.ino === meta.inode) {
          await mkdir(dirname(this.metaPathOf(meta.key)), { recursive: true });
          await rename(path, this.metaPathOf(meta.key));
          this.log.info('published metadata left behind by an interrupted write', { key: meta.key });
          continue;
        }
      }
      await rm(path, { force: true, recursive: true });
    }
  }
}

async function writeDurably(path: string, text: string): Promise<void> {
  await writeFile(path, text, { flag: 'wx', flush: true });
}

/** Makes a new directory entry (the link) survive a power cut. Not every platform can fsync a directory. */
async function syncDirectory(path: string): Promise<void> {
  const handle = await open(path, 'r').catch(() => undefined);
  if (!handle) return;
  try {
    await handle.sync();
  } catch {
    // EISDIR / EPERM on some platforms: the data itself was already flushed.
  } finally {
    await handle.close();
  }
}

async function statOrUndefined(path: string) {
  try {
    return await stat(path);
  } catch (error) {
    if (errorCode(error) === 'ENOENT' || errorCode(error) === 'ENOTDIR') return undefined;
    throw error;
  }
}

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}
