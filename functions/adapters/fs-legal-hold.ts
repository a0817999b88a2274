/**
 * Holds in a local archive folder: callvault's own hold record per held recording at
 * `{root}/holds/{objectKey}.json` (the same key as in a bucket), and one audit file per hold or release at
 * `{root}/audit/holds/{yyyy}/{mm}/{dd}/{actionId}.jsonl`. A folder has no Object Lock and no lifecycle:
 * the record is the hold, and retention honours it.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import {
  HOLD_AUDIT_PREFIX,
  type HoldAuditEntry,
  type HoldAuditLog,
  type HoldProtection,
  type HoldRecord,
  type HoldRegistry,
  type HoldState,
  type HoldStore,
  type HoldTarget,
  holdAuditKey,
  holdRecordKey,
} from '../core/legal-hold';

/** A key as a path under the root; a key that would leave it is refused. */
function pathOf(root: string, key: string): string {
  const path = resolve(root, ...key.split('/'));
  const inside = relative(root, path);
  if (inside === '' || inside.startsWith('..') || inside.split(sep).includes('..'))
    throw new RangeError(`key outside the archive folder: ${JSON.stringify(key)}`);
  return path;
}

async function writeWhole(path: string, body: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.${randomUUID()}.tmp`;
  await writeFile(temporary, body, { flush: true });
  await rename(temporary, path);
}

const missing = (error: unknown) => (error as NodeJS.ErrnoException).code === 'ENOENT';

export class FsHoldStore implements HoldStore, HoldRegistry {
  private readonly root: string;

  constructor(options: { root: string }) {
    this.root = resolve(options.root);
  }

  async protection(): Promise<HoldProtection> {
    return 'callvault-hold-record';
  }

  private async record(objectKey: string): Promise<HoldRecord | undefined> {
    try {
      return JSON.parse(await readFile(pathOf(this.root, holdRecordKey(objectKey)), 'utf8')) as HoldRecord;
    } catch (error) {
      if (missing(error)) return undefined;
      throw error;
    }
  }

  async isHeld(objectKey: string): Promise<boolean> {
    return (await this.record(objectKey)) !== undefined;
  }

  async state(objectKey: string): Promise<HoldState> {
    const exists = await stat(pathOf(this.root, objectKey)).then(
      (info) => info.isFile(),
      (error) => {
        if (missing(error)) return false;
        throw error;
      },
    );
    const record = await this.record(objectKey);
    return { exists, held: record !== undefined, ...(record ? { record } : {}) };
  }

  async hold(target: HoldTarget, record: HoldRecord): Promise<void> {
    await writeWhole(
      pathOf(this.root, holdRecordKey(target.objectKey)),
      `${JSON.stringify(record, null, 2)}\n`,
    );
  }

  async release(target: HoldTarget): Promise<void> {
    await rm(pathOf(this.root, holdRecordKey(target.objectKey)), { force: true });
  }
}

export class FsHoldAuditLog implements HoldAuditLog {
  private readonly root: string;

  constructor(options: { root: string }) {
    this.root = resolve(options.root);
  }

  async write(actionId: string, at: Date, entries: readonly HoldAuditEntry[]): Promise<string> {
    const key = holdAuditKey(actionId, at);
    await writeWhole(pathOf(this.root, key), entries.map((entry) => `${JSON.stringify(entry)}\n`).join(''));
    return key;
  }

  async *entries(): AsyncIterable<HoldAuditEntry> {
    const base = pathOf(this.root, HOLD_AUDIT_PREFIX.slice(0, -1));
    let files: string[];
    try {
      files = (await readdir(base, { recursive: true })).filter((name) => name.endsWith('.jsonl')).sort();
    } catch (error) {
      if (missing(error)) return;
      throw error;
    }
    for (const file of files) {
      const text = await readFile(join(base, file), 'utf8');
      for (const line of text.split('\n')) if (line.trim()) yield JSON.parse(line) as HoldAuditEntry;
    }
  }
}
