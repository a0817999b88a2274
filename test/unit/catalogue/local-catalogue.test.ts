/**
 * The catalogue end to end on one machine: recordings archived from the Telphin sandbox into a folder
 * write their records, DuckDB answers the find questions over them, compaction keeps the answers, and
 * the SQL Athena runs (the named queries) gives the same rows over the same files.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CATALOGUE_TABLE_NAME } from '../../../functions/adapters/athena-catalogue';
import { FsCatalogueStorage } from '../../../functions/adapters/catalogue-storage';
import {
  CatalogueMissingError,
  DuckDbCatalogue,
  toFindRow,
} from '../../../functions/adapters/duckdb-catalogue';
import { FsArchiveStore } from '../../../functions/adapters/fs-archive-store';
import { telphinSourceSchema } from '../../../functions/providers/telphin/telphin-config';
import { archiveRecording } from '../../../functions/core/archive-recording';
import {
  type CatalogueRecord,
  type CatalogueWriter,
  catalogueKey,
  catalogueRecordFromGone,
  catalogueRecordFromSidecar,
} from '../../../functions/core/catalogue';
import { COMPACTED_NAME, compactClosedDays } from '../../../functions/core/catalogue-compaction';
import { findQuery, namedQuestions } from '../../../functions/core/catalogue-query';
import { recordingKey } from '../../../functions/core/keys';
import { silentLog, systemClock } from '../../../functions/core/ports';
import type { SourceRecording } from '../../../functions/core/recording';
import { TelphinSource } from '../../../functions/providers/telphin/telphin-source';
import { startTelphinSandbox, type TelphinSandbox } from '../../../functions/sandbox/telphin-sandbox';

describe('the local catalogue', () => {
  let root: string;
  let sandbox: TelphinSandbox;
  let listed: SourceRecording[];
  let store: FsArchiveStore;
  let catalogue: FsCatalogueStorage;
  let engine: DuckDbCatalogue;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'callvault-catalogue-'));
    sandbox = await startTelphinSandbox();
    // Calls on three fixed days, whatever today is.
    sandbox.generateRecordings({
      count: 6,
      from: new Date('2026-03-03T08:00:00Z'),
      to: new Date('2026-03-05T20:00:00Z'),
      size: 20_000,
    });
    const source = new TelphinSource({
      config: telphinSourceSchema.parse({
        provider: 'telphin',
        id: 'hq',
        apiUrl: sandbox.url,
        allowedDownloadHosts: [new URL(sandbox.url).hostname, new URL(sandbox.storageOrigin).hostname],
      }),
      credentials: { clientId: sandbox.clientId, clientSecret: sandbox.clientSecret },
    });
    listed = [];
    for await (const recording of source.listRecordings({
      from: new Date('2026-03-01T00:00:00Z'),
      to: new Date('2026-03-07T00:00:00Z'),
    }))
      listed.push(recording);
    store = new FsArchiveStore({ root });
    catalogue = new FsCatalogueStorage({ root });

    // The first recording's catalogue write fails once: the job fails, and its retry writes the record.
    const [first, ...rest] = listed;
    if (!first) throw new Error('the sandbox listed nothing');
    let failures = 1;
    const flaky: CatalogueWriter = {
      record: async (entry: CatalogueRecord) => {
        if (failures-- > 0) throw new Error('catalogue store unavailable');
        return catalogue.record(entry);
      },
    };
    const deps = { source, store, clock: systemClock, log: silentLog };
    await expect(archiveRecording(first, { ...deps, catalogue: flaky })).rejects.toThrow(/unavailable/);
    expect((await store.inspect(recordingKey(first)))?.hasSidecar).toBe(true);
    await expect(archiveRecording(first, { ...deps, catalogue: flaky })).resolves.toMatchObject({
      status: 'already-archived',
    });
    for (const recording of rest) await archiveRecording(recording, { ...deps, catalogue });
    // A redelivered job writes nothing twice.
    await archiveRecording(rest[0] as SourceRecording, { ...deps, catalogue });

    const gone = listed[1] as SourceRecording;
    await catalogue.record(
      catalogueRecordFromGone({
        v: 1,
        provider: 'telphin',
        sourceId: 'hq',
        recordingId: gone.recordingId,
        startedAt: gone.startedAt.toISOString(),
        objectKey: recordingKey(gone),
        detectedAt: '2026-03-06T00:00:00.000Z',
        reason: 'deleted behind our back',
        listed: { ...gone, startedAt: gone.startedAt.toISOString(), endedAt: undefined } as never,
      }),
    );
    engine = await DuckDbCatalogue.open(root);
  });

  afterAll(async () => {
    engine?.close();
    await sandbox?.close();
    await rm(root, { recursive: true, force: true });
  });

  const sorted = (rows: { object_key: string | null; status: string | null }[]) =>
    rows.map((row) => `${row.status} ${row.object_key}`).sort();

  it('writes one record per archived recording, at its partition', async () => {
    const keys: string[] = [];
    for await (const key of catalogue.listKeys('catalog/recordings/')) keys.push(key);
    expect(keys).toHaveLength(listed.length + 1);
    for (const recording of listed)
      expect(keys).toContain(
        catalogueKey({
          provider: 'telphin',
          source_id: 'hq',
          date: recording.startedAt.toISOString().slice(0, 10),
          recording_id: recording.recordingId,
          status: 'archived',
        }),
      );
  });

  it('finds by number, by date range, by status, and says where to play each hit', async () => {
    const target = listed[2] as SourceRecording;
    const number = target.from?.number ?? target.to?.number;
    expect(number).toBeTruthy();
    const byNumber = await engine.find({ number: number as string, from: '2026-03-01', to: '2026-03-31' });
    expect(byNumber.map((row) => row.recording_id)).toContain(target.recordingId);
    for (const row of byNumber) expect(row.status).toBe('archived');

    const day = target.startedAt.toISOString().slice(0, 10);
    const byDay = await engine.find({ from: day, to: day });
    expect(sorted(byDay).filter((line) => line.startsWith('archived'))).toEqual(
      listed
        .filter((recording) => recording.startedAt.toISOString().slice(0, 10) === day)
        .map((recording) => `archived ${recordingKey(recording)}`)
        .sort(),
    );

    const gone = await engine.find({ status: 'gone-at-source' });
    expect(gone.map((row) => row.recording_id)).toEqual([(listed[1] as SourceRecording).recordingId]);
    // Both outcomes of the gone recording appear in one question about it.
    const life = await engine.find({ sourceId: 'hq', provider: 'telphin' });
    expect(
      life
        .filter((row) => row.recording_id === listed[1]?.recordingId)
        .map((row) => row.status)
        .sort(),
    ).toEqual(['archived', 'gone-at-source']);
    expect(await engine.find({ from: '2027-01-01', to: '2027-01-31' })).toEqual([]);
  });

  it('answers the same after compaction, without counting a record twice, and compacts idempotently', async () => {
    const before = sorted(await engine.find({}));
    const report = await compactClosedDays(catalogue, { beforeDay: '2026-03-05', log: silentLog });
    expect(report.compacted).toBe(2);
    const folders = join(root, 'catalog', 'recordings', 'provider=telphin', 'source=hq');
    expect(await readdir(join(folders, 'date=2026-03-03'))).toEqual([COMPACTED_NAME]);
    // The open day keeps its per-recording records.
    expect((await readdir(join(folders, 'date=2026-03-05'))).every((name) => name !== COMPACTED_NAME)).toBe(
      true,
    );
    expect(sorted(await engine.find({}))).toEqual(before);

    // A record written again (a rebuild) sits beside the compacted file until the next compaction.
    const again = listed.find((recording) => recording.startedAt.toISOString().startsWith('2026-03-03'));
    const sidecar = again && (await store.readSidecar(recordingKey(again)));
    expect(sidecar).toBeDefined();
    expect(await catalogue.record(catalogueRecordFromSidecar(sidecar!))).toBe('written');
    expect(sorted(await engine.find({}))).toEqual(before);
    // With a limit (as npm run find asks), the first rows in order, each once.
    const all = await engine.find({});
    for (const limit of [1, 2, 3, all.length])
      expect(await engine.find({}, { limit })).toEqual(all.slice(0, limit));
    const second = await compactClosedDays(catalogue, { beforeDay: '2026-03-05', log: silentLog });
    expect(second).toMatchObject({ compacted: 1, recordsRemoved: 1 });
    expect(await readdir(join(folders, 'date=2026-03-03'))).toEqual([COMPACTED_NAME]);
    expect(sorted(await engine.find({}))).toEqual(before);
    expect(await compactClosedDays(catalogue, { beforeDay: '2026-03-05', log: silentLog })).toMatchObject({
      compacted: 0,
    });
  });

  it("runs Athena's SQL (the named queries) with the same answers over the same files", async () => {
    const athenaTable = `"callvault_catalog"."${CATALOGUE_TABLE_NAME}"`;
    const target = listed[3] as SourceRecording;
    const number = (target.from?.number ?? target.to?.number) as string;
    const person = target.extension?.id ?? (target.from?.extensionId as string);
    const values: Record<string, string[]> = {
      'callvault-by-number': findQuery({ from: '2026-03-01', to: '2026-03-31', number }, 'T').parameters,
      'callvault-by-person': ['2026-03-01', '2026-03-31', person, person, person],
      'callvault-by-date-range': ['2026-03-03', '2026-03-04'],
      'callvault-by-status': ['2026-03-01', '2026-03-31', 'gone-at-source'],
    };
    const local = {
      'callvault-by-number': await engine.find({ from: '2026-03-01', to: '2026-03-31', number }),
      'callvault-by-person': await engine.find({ from: '2026-03-01', to: '2026-03-31', person }),
      'callvault-by-date-range': await engine.find({ from: '2026-03-03', to: '2026-03-04' }),
      'callvault-by-status': await engine.find({
        from: '2026-03-01',
        to: '2026-03-31',
        status: 'gone-at-source',
      }),
    };
    for (const question of namedQuestions(athenaTable)) {
      expect(question.sql).toContain(`FROM ${athenaTable}`);
      const rows = await engine.run({
        sql: question.sql.replace(athenaTable, engine.table),
        parameters: values[question.name] as string[],
      });
      const expected = local[question.name as keyof typeof local];
      expect(expected.length).toBeGreaterThan(0);
      expect(rows.map(toFindRow)).toEqual(expected);
    }
  });

  it('prunes partitions outside the date range', async () => {
    const plan = await engine.explain(findQuery({ from: '2026-03-04', to: '2026-03-04' }, engine.table));
    const [, scanned, total] = /Scanning Files:[\s│]*(\d+)\/(\d+)/.exec(plan) ?? [];
    const day = join(root, 'catalog/recordings/provider=telphin/source=hq/date=2026-03-04');
    expect(Number(scanned)).toBe((await readdir(day)).length);
    expect(Number(total)).toBeGreaterThan(Number(scanned));
  });

  it('says when an archive has no catalogue, and how to build one', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'callvault-no-catalogue-'));
    await expect(DuckDbCatalogue.open(empty)).rejects.toThrow(CatalogueMissingError);
    await expect(DuckDbCatalogue.open(empty)).rejects.toThrow(/npm run catalog -- --rebuild/);
    await rm(empty, { recursive: true, force: true });
  });
});
