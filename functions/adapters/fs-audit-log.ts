import { appendFile, mkdir, open } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { auditKey } from '../core/apply-retention-to-source';
import type { AuditEntry, AuditLog, AuditTrail } from '../core/ports';

/** Local mode: the same `audit/retention/…/{runId}.jsonl` under the archive folder, appended and fsynced. */
export class FsAuditLog implements AuditLog {
  constructor(private readonly options: { root: string }) {}

  open(runId: string, runStartedAt: Date): AuditTrail {
    const path = join(this.options.root, auditKey(runId, runStartedAt));
    let pending: string[] = [];
    const write = async (sync: boolean) => {
      if (pending.length === 0) return;
      const text = pending.join('');
      pending = [];
      await mkdir(dirname(path), { recursive: true });
      await appendFile(path, text);
      if (sync) {
        const handle = await open(path, 'r');
        try {
          await handle.sync();
        } finally {
          await handle.close();
        }
      }
    };
    return {
      async record(entry: AuditEntry, options = {}) {
        pending.push(`${JSON.stringify(entry)}\n`);
        if (options.durable || pending.length >= 200) await write(Boolean(options.durable));
      },
      close: () => write(true),
    };
  }
}
