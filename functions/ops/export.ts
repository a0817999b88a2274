/**
 * `npm run export`: the recordings a find question matches, produced for a regulator or a court. Into a
 * folder (or an S3 prefix) go each recording and its sidecar under their archive keys, then:
 *
 *   index.csv          one row per recording: when, who, what happened to it, its files, hold and lock state
 *   manifest.json      every file with its size and SHA-256, verified after the copy; the question; who, when
 *   SHA256SUMS         the same hashes in the form `sha256sum -c` checks
 *   audit-trail.jsonl  each recording's life: archived, verified, held, released, deleted at the source
 *   export-progress.jsonl  the files already copied and verified; a rerun skips them
 *
 * Every file is streamed (source → target while hashing, then the target re-read and hashed), so memory
 * does not grow with a recording's size. A recording whose bytes do not hash to its sidecar's SHA-256 is
 * reported and fails the export.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { Transform } from 'node:stream';
import { auditKey } from '../core/apply-retention-to-source';
import type { FindFilters, FindRow } from '../core/catalogue-query';
import type { HoldAuditLog, HoldState, HoldStore } from '../core/legal-hold';
import type { ArchiveStore, AuditEntry } from '../core/ports';

/** Where an export is written: a folder or an S3 prefix. Paths are relative, `/`-separated. */
export interface ExportTarget {
  readonly description: string;
  /** The size of an existing file, or undefined. */
  sizeOf(path: string): Promise<number | undefined>;
  /** Streams a file in (replacing any); `size` where known (S3 wants it for a streamed PutObject). */
  write(path: string, body: Readable, size?: number): Promise<void>;
  read(path: string): Promise<Readable>;
  readText(path: string): Promise<string | undefined>;
  writeText(path: string, text: string): Promise<void>;
}

export interface ExportSources {
  store: ArchiveStore;
  holds: HoldStore;
  holdAudit: HoldAuditLog;
  /** Reads a small object of the archive (a retention audit file), or undefined. */
  readObject(key: string): Promise<Buffer | undefined>;
}

export interface ExportRequest {
  rows: readonly FindRow[];
  filters: FindFilters;
  actor: string;
  where: string;
  now: () => Date;
  progress: (line: string) => void;
}

export interface ManifestFile {
  path: string;
  kind: 'recording' | 'sidecar';
  objectKey: string;
  size: number;
  sha256: string;
  /** For a recording: the sidecar's recorded SHA-256, and whether the copy matches it. */
  expectedSha256?: string;
  verified: boolean;
  problem?: string;
}

export interface ExportReport {
  recordings: number;
  files: number;
  copied: number;
  skipped: number;
  bytes: number;
  problems: string[];
}

export const PROGRESS_FILE = 'export-progress.jsonl';

interface ProgressLine {
  path: string;
  size: number;
  sha256: string;
  verifiedAt: string;
}

/** The trail of one recording, oldest first. */
export interface TrailEvent {
  objectKey: string;
  at: string | null;
  event:
    | 'archived'
    | 'verified-on-write'
    | 'verified-by-retention'
    | 'held'
    | 'released'
    | 'deleted-at-source'
    | 'already-gone-at-source'
    | 'verified-at-export';
  by: string | null;
  detail: string | null;
}

function hashing(): { transform: Transform; digest: () => { sha256: string; size: number } } {
  const hash = createHash('sha256');
  let size = 0;
  const transform = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      size += chunk.length;
      done(null, chunk);
    },
  });
  return { transform, digest: () => ({ sha256: hash.digest('hex'), size }) };
}

async function hashStream(stream: Readable): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), size };
}

/** The recordings of an answer, one per archived copy, with every catalogue row about it. */
function recordingsOf(rows: readonly FindRow[]): Map<string, FindRow[]> {
  const byKey = new Map<string, FindRow[]>();
  for (const row of rows) {
    if (!row.object_key) continue;
    byKey.set(row.object_key, [...(byKey.get(row.object_key) ?? []), row]);
  }
  for (const [key, group] of byKey)
    if (!group.some((row) => row.status === 'archived' || row.status === 'deleted-at-source'))
      byKey.delete(key);
  return byKey;
}

/**
 * The retention audit file that vouched for a delete: a run id starts with the instant the run started
 * (`newRunId`), and the file is keyed by that day (`auditKey`).
 */
function retentionAuditKeyOf(row: FindRow): string | undefined {
  const match = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z-/.exec(row.retention_run_id ?? '');
  if (!match || !row.retention_run_id) return undefined;
  const [, year, month, day, hour, minute, second] = match;
  return auditKey(row.retention_run_id, new Date(`${year}-${month}-${day}T${hour}:${minute}:${second}Z`));
}

const csvCell = (value: string | number | boolean | null | undefined) => {
  if (value === null || value === undefined) return '';
  const text = String(value);
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
};

export async function runExport(
  request: ExportRequest,
  sources: ExportSources,
  target: ExportTarget,
): Promise<ExportReport> {
  const recordings = recordingsOf(request.rows);
  const report: ExportReport = {
    recordings: recordings.size,
    files: 0,
    copied: 0,
    skipped: 0,
    bytes: 0,
    problems: [],
  };
  const done = new Map<string, ProgressLine>();
  for (const line of ((await target.readText(PROGRESS_FILE)) ?? '').split('\n'))
    if (line.trim()) {
      const entry = JSON.parse(line) as ProgressLine;
      done.set(entry.path, entry);
    }
  let progressText = [...done.values()].map((entry) => `${JSON.stringify(entry)}\n`).join('');
  request.progress(
    `${recordings.size} recording${recordings.size === 1 ? '' : 's'} from the ${request.where} → ${target.description}${done.size > 0 ? ` (resuming: ${done.size} files already verified)` : ''}`,
  );

  const holdEntries: TrailEvent[] = [];
  for await (const entry of sources.holdAudit.entries())
    if (
      entry.type === 'recording' &&
      (entry.outcome === 'held' || entry.outcome === 'released') &&
      recordings.has(entry.objectKey)
    )
      holdEntries.push({
        objectKey: entry.objectKey,
        at: entry.at,
        event: entry.outcome,
        by: entry.actor,
        detail: `action ${entry.actionId}`,
      });

  const files: ManifestFile[] = [];
  const trail: TrailEvent[] = [];
  const indexRows: string[][] = [];
  let index = 0;
  for (const [objectKey, group] of recordings) {
    index += 1;
    const first = group[0] as FindRow;
    const sidecarKey = first.sidecar_key ?? `${objectKey}.json`;
    const sidecar = await sources.store.readSidecar(objectKey).catch(() => undefined);
    const hold: HoldState = await sources.holds.state(objectKey);
    // The stored size, not the sidecar's, is what S3 must be told the stream holds (a copy that no
    // longer matches its sidecar is reported, not sent with a wrong length).
    const stored = await sources.store.inspect(objectKey);
    const recordingFile = stored
      ? await copyOne(objectKey, 'recording', {
          sha256: sidecar?.sha256,
          size: sidecar?.size,
          stored: stored.size,
        })
      : missing(objectKey, 'recording', 'no copy in the archive at this key');
    const sidecarFile = sidecar
      ? await copyOne(sidecarKey, 'sidecar', {})
      : missing(sidecarKey, 'sidecar', 'no readable sidecar beside the recording');

    // The trail: archived (and checked on write), verified by retention, held/released, deleted at source.
    if (sidecar) {
      trail.push({
        objectKey,
        at: sidecar.archivedAt,
        event: 'archived',
        by: 'callvault',
        detail: `${sidecar.size} B, sha256 ${sidecar.sha256}`,
      });
      const checksum = sidecar.schemaVersion === 2 ? sidecar.checksum : null;
      trail.push({
        objectKey,
        at: sidecar.archivedAt,
        event: 'verified-on-write',
        by: 'callvault',
        detail: checksum
          ? `${checksum.algorithm} ${checksum.type} ${checksum.value}, verified by the store on write; sha256 of the stream ${sidecar.sha256}`
          : `sha256 of the stream ${sidecar.sha256}`,
      });
    }
    for (const row of group.filter((candidate) => candidate.status === 'deleted-at-source')) {
      for (const entry of await retentionEntries(row)) {
        if (entry.decision === 'deleting' || entry.decision === 'would-delete')
          trail.push({
            objectKey,
            at: entry.at,
            event: 'verified-by-retention',
            by: `retention run ${entry.runId}`,
            detail: `size ${entry.size} B, sha256 ${entry.sha256}, source size ${entry.sourceSize}`,
          });
      }
      trail.push({
        objectKey,
        at: row.event_at,
        event: row.reason === 'already-gone' ? 'already-gone-at-source' : 'deleted-at-source',
        by: `retention run ${row.retention_run_id}`,
        detail: retentionAuditKeyOf(row) ? `evidence ${retentionAuditKeyOf(row)}` : null,
      });
    }
    trail.push(...holdEntries.filter((entry) => entry.objectKey === objectKey));
    trail.push({
      objectKey,
      at: request.now().toISOString(),
      event: 'verified-at-export',
      by: request.actor,
      detail: recordingFile.verified
        ? `sha256 ${recordingFile.sha256} equals the sidecar's`
        : `NOT VERIFIED: ${recordingFile.problem}`,
    });

    const statuses = [...new Set(group.map((row) => row.status))].join(' ');
    indexRows.push([
      first.recording_id ?? '',
      first.provider ?? '',
      first.source ?? '',
      first.started_at ?? '',
      first.duration_seconds ?? '',
      first.direction ?? '',
      [first.from_number, first.from_name].filter(Boolean).join(' '),
      [first.to_number, first.to_name].filter(Boolean).join(' '),
      statuses,
      String(recordingFile.size),
      recordingFile.sha256,
      recordingFile.verified ? 'yes' : `NO: ${recordingFile.problem}`,
      hold.held
        ? `held${hold.record ? ` since ${hold.record.heldAt} by ${hold.record.heldBy}` : ''}`
        : 'not held',
      hold.objectLockLegalHold === undefined
        ? 'no Object Lock'
        : `legal hold ${hold.objectLockLegalHold ? 'ON' : 'OFF'}`,
      hold.retention ? `${hold.retention.mode} until ${hold.retention.retainUntil}` : '',
      recordingFile.path,
      sidecarFile.path,
    ]);
    request.progress(
      `${index}/${recordings.size} ${objectKey} ${recordingFile.verified ? 'verified' : 'NOT VERIFIED'} (${report.copied} copied, ${report.skipped} already verified, ${report.bytes} B)`,
    );
  }

  trail.sort((a, b) => a.objectKey.localeCompare(b.objectKey) || (a.at ?? '').localeCompare(b.at ?? ''));
  const header = [
    'recording_id',
    'provider',
    'source',
    'started_at',
    'duration_seconds',
    'direction',
    'from',
    'to',
    'status',
    'size',
    'sha256',
    'verified',
    'hold',
    'object_lock_legal_hold',
    'object_lock_retention',
    'file',
    'sidecar',
  ];
  await target.writeText(
    'index.csv',
    `${[header, ...indexRows].map((row) => row.map(csvCell).join(',')).join('\n')}\n`,
  );
  await target.writeText('audit-trail.jsonl', trail.map((event) => `${JSON.stringify(event)}\n`).join(''));
  await target.writeText('SHA256SUMS', files.map((file) => `${file.sha256}  ${file.path}\n`).join(''));
  await target.writeText(
    'manifest.json',
    `${JSON.stringify(
      {
        exportedAt: request.now().toISOString(),
        exportedBy: request.actor,
        from: request.where,
        query: request.filters,
        recordings: recordings.size,
        files,
        problems: report.problems,
      },
      null,
      2,
    )}\n`,
  );
  report.files = files.length;
  return report;

  async function retentionEntries(row: FindRow): Promise<AuditEntry[]> {
    const key = retentionAuditKeyOf(row);
    if (!key) return [];
    const body = await sources.readObject(key).catch(() => undefined);
    if (!body) return [];
    return body
      .toString('utf8')
      .split('\n')
      .filter((line) => line.trim())
      .map((line) => JSON.parse(line) as AuditEntry)
      .filter((entry) => entry.objectKey === row.object_key);
  }

  function missing(key: string, kind: ManifestFile['kind'], problem: string): ManifestFile {
    const entry: ManifestFile = {
      path: key,
      kind,
      objectKey: key,
      size: 0,
      sha256: '',
      verified: false,
      problem,
    };
    files.push(entry);
    report.problems.push(`${key}: ${problem}`);
    return entry;
  }

  async function copyOne(
    key: string,
    kind: ManifestFile['kind'],
    expected: { sha256?: string; size?: number; stored?: number },
  ): Promise<ManifestFile> {
    const { sha256: expectedSha256, size: expectedSize } = expected;
    const path = key;
    const previous = done.get(path);
    const file = (sha256: string, size: number, problem?: string): ManifestFile => {
      const entry: ManifestFile = {
        path,
        kind,
        objectKey: key,
        size,
        sha256,
        ...(expectedSha256 ? { expectedSha256 } : {}),
        verified: problem === undefined,
        ...(problem ? { problem } : {}),
      };
      files.push(entry);
      if (problem) report.problems.push(`${path}: ${problem}`);
      return entry;
    };
    if (previous && (await target.sizeOf(path)) === previous.size) {
      report.skipped += 1;
      if (expectedSha256 && previous.sha256 !== expectedSha256)
        return file(
          previous.sha256,
          previous.size,
          `sha256 ${previous.sha256} differs from the sidecar's ${expectedSha256}`,
        );
      return file(previous.sha256, previous.size);
    }
    const body = await sources.store.openRecording(key);
    const hasher = hashing();
    body.once('error', (error) => hasher.transform.destroy(error));
    await target.write(path, body.pipe(hasher.transform), expected.stored);
    const read = hasher.digest();
    const written = await hashStream(await target.read(path));
    report.copied += 1;
    report.bytes += written.size;
    let problem: string | undefined;
    if (written.sha256 !== read.sha256 || written.size !== read.size)
      problem = `the copy (${written.size} B, sha256 ${written.sha256}) differs from what was read (${read.size} B, sha256 ${read.sha256})`;
    else if (expectedSha256 && written.sha256 !== expectedSha256)
      problem = `sha256 ${written.sha256} differs from the sidecar's ${expectedSha256}: the archived copy does not match its record`;
    else if (expectedSize !== undefined && written.size !== expectedSize)
      problem = `${written.size} B, the sidecar recorded ${expectedSize} B`;
    if (!problem) {
      const line: ProgressLine = {
        path,
        size: written.size,
        sha256: written.sha256,
        verifiedAt: request.now().toISOString(),
      };
      done.set(path, line);
      progressText += `${JSON.stringify(line)}\n`;
      // Rewritten whole after each verified file: on S3 there is no append; the file stays small.
      await target.writeText(PROGRESS_FILE, progressText);
    }
    return file(written.sha256, written.size, problem);
  }
}
