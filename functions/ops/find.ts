/**
 * `npm run find`: one question, answered from the local catalogue (DuckDB over the archive folder) or
 * from the deployed stack's (Athena), and printed with a way to play each hit: the file's path, or a
 * presigned GET of at most an hour.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { FindColumn, FindRow } from '../core/catalogue-query';

export interface FindHit extends FindRow {
  /** A local path or a presigned URL; null when there is no copy to play (gone, expired). */
  play: string | null;
}

/** Presigned GETs are valid for at most this long. */
export const PRESIGN_SECONDS = 3600;

/** Local hits: the archived file's path under the archive folder, where it exists. */
export function localHits(rows: readonly FindRow[], archiveDir: string): FindHit[] {
  const root = resolve(archiveDir);
  return rows.map((row) => {
    const path = row.object_key ? join(root, ...row.object_key.split('/')) : undefined;
    return {
      ...row,
      play:
        row.status !== 'gone-at-source' && row.status !== 'expired-before-fetch' && path && existsSync(path)
          ? path
          : null,
    };
  });
}

/** AWS hits: a presigned GET for every archived copy (`presign` signs one key). */
export async function awsHits(
  rows: readonly FindRow[],
  presign: (key: string, expiresInSeconds: number) => Promise<string>,
): Promise<FindHit[]> {
  const hits: FindHit[] = [];
  for (const row of rows) {
    const playable = row.object_key && (row.status === 'archived' || row.status === 'deleted-at-source');
    hits.push({
      ...row,
      play: playable && row.object_key ? await presign(row.object_key, PRESIGN_SECONDS) : null,
    });
  }
  return hits;
}

const CSV_COLUMNS: readonly (FindColumn | 'play')[] = [
  'status',
  'provider',
  'source',
  'date',
  'recording_id',
  'started_at',
  'duration_seconds',
  'direction',
  'from_number',
  'from_name',
  'from_person_id',
  'to_number',
  'to_name',
  'to_person_id',
  'extension_id',
  'size',
  'sha256',
  'content_type',
  'object_key',
  'sidecar_key',
  'event_at',
  'reason',
  'retention_run_id',
  'play',
];

function csvCell(value: string | null): string {
  if (value === null) return '';
  return /[",\n\r]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

export function formatCsv(hits: readonly FindHit[]): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const hit of hits) lines.push(CSV_COLUMNS.map((column) => csvCell(hit[column])).join(','));
  return `${lines.join('\n')}\n`;
}

export function formatJson(hits: readonly FindHit[]): string {
  return `${JSON.stringify(hits, null, 2)}\n`;
}

const party = (number: string | null, name: string | null) =>
  [number, name ? `(${name})` : null].filter(Boolean).join(' ') || '?';

/** One block per hit: when, what happened, who, the key, and how to play it. */
export function formatText(hits: readonly FindHit[], summary: string): string {
  const lines: string[] = [];
  for (const hit of hits) {
    const duration = hit.duration_seconds !== null ? ` ${Math.round(Number(hit.duration_seconds))} s` : '';
    lines.push(
      `${hit.started_at}  ${hit.status}  ${hit.provider}/${hit.source}  ${hit.direction ?? 'unknown'}${duration}  ${party(hit.from_number, hit.from_name)} → ${party(hit.to_number, hit.to_name)}`,
    );
    lines.push(`  key   ${hit.object_key}`);
    if (hit.status === 'deleted-at-source')
      lines.push(`  deleted at the source ${hit.event_at} by retention run ${hit.retention_run_id}`);
    else if (hit.status !== 'archived') lines.push(`  ${hit.status} ${hit.event_at}: ${hit.reason ?? ''}`);
    if (hit.play) lines.push(`  play  ${hit.play}`);
  }
  lines.push(summary);
  return `${lines.join('\n')}\n`;
}
