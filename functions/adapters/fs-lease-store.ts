/**
 * Leases in a local folder, one small file each, for processes that share a state folder (`npm start`
 * and a backfill started beside it). Taking a free lease is `open(…, 'wx')`, which only one process can
 * win. An expired lease is renamed away first; two processes doing that in the same instant can both end
 * up holding it. For what these leases guard (not queueing a recording twice) that costs one duplicate
 * job, which the archive's conditional write makes harmless, and never a job left unqueued.
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PendingLeaseStore } from '../core/pending-jobs';

interface LeaseFile {
  holder: string;
  expiresAtMs: number;
}

export class FsLeaseStore implements PendingLeaseStore {
  constructor(private readonly options: { dir: string }) {}

  private pathOf(key: string): string {
    // Keys hold slashes and other characters a file name cannot; the hash keeps one flat folder.
    return join(this.options.dir, `${createHash('sha256').update(key).digest('hex')}.json`);
  }

  async tryLease(key: string, holder: string, ttlMs: number, nowMs: number): Promise<boolean> {
    await mkdir(this.options.dir, { recursive: true });
    const path = this.pathOf(key);
    const lease: LeaseFile = { holder, expiresAtMs: nowMs + ttlMs };
    const current = await readLease(path);
    if (current && current.holder !== holder && current.expiresAtMs > nowMs) return false;
    if (current) {
      const stale = `${path}.${randomUUID()}.stale`;
      try {
        await rename(path, stale);
        await rm(stale, { force: true });
      } catch (error) {
        // Another process moved it first and is taking the lease now; the write below says who won.
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
    try {
      await writeFile(path, JSON.stringify(lease), { flag: 'wx' });
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw error;
    }
  }

  async releaseLease(key: string, holder: string): Promise<void> {
    const path = this.pathOf(key);
    if ((await readLease(path))?.holder === holder) await rm(path, { force: true });
  }
}

async function readLease(path: string): Promise<LeaseFile | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as LeaseFile;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    // A file cut short (a crash mid-write) holds nothing: treat it as expired.
    if (error instanceof SyntaxError) return { holder: '', expiresAtMs: 0 };
    throw error;
  }
}
