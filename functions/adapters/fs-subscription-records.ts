import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SubscriptionRecord, SubscriptionRecords } from '../core/ensure-subscriptions-for-source';

/** Local mode: `{stateDir}/subscriptions/{sourceId}.json`, replaced atomically. */
export class FsSubscriptionRecords implements SubscriptionRecords {
  constructor(private readonly options: { stateDir: string }) {}

  private path(sourceId: string): string {
    return join(this.options.stateDir, 'subscriptions', `${sourceId}.json`);
  }

  async load(sourceId: string): Promise<SubscriptionRecord[]> {
    try {
      return JSON.parse(await readFile(this.path(sourceId), 'utf8')) as SubscriptionRecord[];
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  }

  async save(sourceId: string, records: SubscriptionRecord[]): Promise<void> {
    const path = this.path(sourceId);
    await mkdir(join(this.options.stateDir, 'subscriptions'), { recursive: true });
    await writeFile(`${path}.tmp`, JSON.stringify(records, null, 2));
    await rename(`${path}.tmp`, path);
  }
}
