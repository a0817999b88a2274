/**
 * Where a backfill stands: `{stateDir}/backfill/{sourceId}-{from}-{to}.json` names the last day whose
 * recordings were all archived (local) or enqueued (AWS). A rerun with the same arguments continues
 * after it; days after a failed one are walked again, which costs one listing each and no downloads.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import * as z from 'zod';
import { InvalidInputError } from '../core/errors';

const CURSOR_VERSION = 1;

const countersSchema = z.object({
  /** Recordings listed at the source in completed days. */
  listed: z.number().int().nonnegative(),
  /** Already archived when listed: nothing downloaded or enqueued. */
  alreadyArchived: z.number().int().nonnegative(),
  /** Archived by this backfill (local) or enqueued for the deployed worker (AWS). */
  handled: z.number().int().nonnegative(),
  /** Bytes of the listed recordings, as the source reports them. */
  bytes: z.number().int().nonnegative(),
});
export type BackfillCounters = z.infer<typeof countersSchema>;

const cursorSchema = z.object({
  v: z.literal(CURSOR_VERSION),
  sourceId: z.string(),
  from: z.string(),
  to: z.string(),
  mode: z.enum(['local', 'aws']),
  /** The last day (YYYY-MM-DD) such that it and every day before it in the range are complete. */
  completedThrough: z.string().optional(),
  /** Days walked but not complete (a dead-lettered job, say), to be walked again on the next run. */
  incompleteDays: z.array(z.string()).default([]),
  counters: countersSchema,
  updatedAt: z.string(),
});
export type BackfillCursor = z.infer<typeof cursorSchema>;

export function emptyCounters(): BackfillCounters {
  return { listed: 0, alreadyArchived: 0, handled: 0, bytes: 0 };
}

export function cursorPath(stateDir: string, sourceId: string, from: string, to: string): string {
  return join(stateDir, 'backfill', `${sourceId}-${from}-${to}.json`);
}

export async function readCursor(path: string): Promise<BackfillCursor | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new InvalidInputError(`backfill cursor ${path} is not JSON; delete it or pass --restart`);
  }
  const parsed = cursorSchema.safeParse(value);
  if (!parsed.success) {
    throw new InvalidInputError(
      `backfill cursor ${path} is invalid (${z.prettifyError(parsed.error)}); delete it or pass --restart`,
    );
  }
  return parsed.data;
}

/** Readers see the old cursor or the new one, never half of one. */
export async function writeCursor(path: string, cursor: BackfillCursor): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`;
  try {
    await writeFile(temporary, `${JSON.stringify(cursor, null, 2)}\n`, 'utf8');
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}
