import { describe, expect, it } from 'vitest';
import {
  CATALOGUE_COLUMNS,
  catalogueKey,
  catalogueRecordFromDeletion,
  catalogueRecordFromGone,
  catalogueRecordFromSidecar,
  normaliseNumber,
  serialiseCatalogueRecord,
} from '../../../functions/core/catalogue';
import { FilterError, findQuery, parseFindFilters } from '../../../functions/core/catalogue-query';
import { recordingKey } from '../../../functions/core/keys';
import type { SourceRecording } from '../../../functions/core/recording';
import { buildSidecar } from '../../../functions/core/sidecar';

const recording: SourceRecording = {
  provider: 'ringcentral',
  sourceId: 'rc-main',
  recordingId: 'rec-1',
  callId: 'call-1',
  startedAt: new Date('2026-03-03T23:59:30Z'),
  endedAt: new Date('2026-03-04T00:01:00Z'),
  durationSeconds: 90,
  direction: 'inbound',
  from: { number: '+1 (650) 555-0101', name: 'Ada' },
  to: { number: '101', name: 'Desk', extensionId: '62', personId: '62' },
  extension: { id: '62', name: 'Desk' },
  parties: [
    { number: '+1 (650) 555-0101', name: 'Ada' },
    { number: '101', name: 'Desk', extensionId: '62', personId: '62' },
    { number: '0044 20 7946 0000', name: 'Transfer' },
  ],
  callResult: 'Call connected',
  size: 1234,
  fileExtension: 'mp3',
  raw: { secretish: 'never in the catalogue' },
};

const sidecar = buildSidecar(recording, {
  objectKey: recordingKey(recording),
  size: 1234,
  sha256: 'a'.repeat(64),
  contentType: 'audio/mpeg',
  archivedAt: new Date('2026-03-04T00:02:00Z'),
});

describe('catalogue records', () => {
  it('normalises numbers to E.164 where the input says the country, and keeps other forms', () => {
    expect(normaliseNumber('+1 (650) 555-0101')).toBe('+16505550101');
    expect(normaliseNumber('0044 20 7946 0000')).toBe('+442079460000');
    expect(normaliseNumber('tel:+16505550101')).toBe('+16505550101');
    expect(normaliseNumber('sip:+16505550101@pbx.example;user=phone')).toBe('+16505550101');
    expect(normaliseNumber('101')).toBe('101');
    expect(normaliseNumber('alice')).toBe('alice');
    expect(normaliseNumber('  ')).toBeNull();
    expect(normaliseNumber(undefined)).toBeNull();
  });

  it('flattens a sidecar into the columns, partitioned by the UTC day of the call start, without raw', () => {
    const record = catalogueRecordFromSidecar(sidecar);
    expect(record.date).toBe('2026-03-03');
    expect(record.party_numbers).toEqual(['+16505550101', '101', '+442079460000']);
    expect(record.party_person_ids).toEqual(['62']);
    expect(record.party_extension_ids).toEqual(['62']);
    expect(record.from_number).toBe('+16505550101');
    expect(record.sidecar_key).toBe(`${sidecar.objectKey}.json`);
    expect(record.record_id).toBe(`archived:${sidecar.objectKey}`);
    const line = serialiseCatalogueRecord(record);
    expect(line.endsWith('\n')).toBe(true);
    expect(line.trim()).not.toContain('\n');
    expect(line).not.toContain('secretish');
    expect(Object.keys(JSON.parse(line))).toEqual(CATALOGUE_COLUMNS.map(([name]) => name));
    expect(catalogueKey(record)).toBe(
      'catalog/recordings/provider=ringcentral/source=rc-main/date=2026-03-03/rec-1.json',
    );
  });

  it('keeps each outcome of one recording at its own key in the same partition', () => {
    const objectKey = recordingKey(recording);
    const gone = catalogueRecordFromGone({
      v: 1,
      provider: 'ringcentral',
      sourceId: 'rc-main',
      recordingId: 'rec-1',
      startedAt: recording.startedAt.toISOString(),
      objectKey,
      detectedAt: '2026-03-05T00:00:00.000Z',
      reason: '404',
      listed: { ...recording, startedAt: recording.startedAt.toISOString(), endedAt: undefined } as never,
    });
    const deleted = catalogueRecordFromDeletion(
      {
        runId: 'run-1',
        at: '2026-06-01T00:00:00.000Z',
        provider: 'ringcentral',
        sourceId: 'rc-main',
        recordingId: 'rec-1',
        startedAt: recording.startedAt.toISOString(),
        decision: 'deleted',
        dryRun: false,
        objectKey,
        size: 1234,
        sha256: 'a'.repeat(64),
      },
      'audit/retention/2026/06/01/run-1.jsonl',
    );
    expect(catalogueKey(gone)).toBe(
      'catalog/recordings/provider=ringcentral/source=rc-main/date=2026-03-03/rec-1.gone-at-source.json',
    );
    expect(catalogueKey(deleted)).toBe(
      'catalog/recordings/provider=ringcentral/source=rc-main/date=2026-03-03/rec-1.deleted-at-source.json',
    );
    expect(deleted.retention_run_id).toBe('run-1');
    expect(deleted.evidence_key).toBe('audit/retention/2026/06/01/run-1.jsonl');
    expect(gone.party_numbers).toContain('+16505550101');
  });
});

describe('find filters', () => {
  const sources = [{ id: 'rc-main', provider: 'ringcentral' as const }];
  const refused = (raw: Parameters<typeof parseFindFilters>[0]) => {
    try {
      parseFindFilters(raw, sources);
    } catch (error) {
      expect(error).toBeInstanceOf(FilterError);
      return (error as FilterError).message;
    }
    throw new Error('accepted');
  };

  it('names the flag of every filter it refuses', () => {
    expect(refused({ from: '2026-02-30' })).toMatch(/^--from "2026-02-30" is not a date/);
    expect(refused({ to: '17/03/2026' })).toMatch(/^--to /);
    expect(refused({ from: '2026-03-17', to: '2026-03-03' })).toMatch(/^--from 2026-03-17 is after --to/);
    expect(refused({ number: 'call me' })).toMatch(/^--number "call me" is not a phone number/);
    expect(refused({ source: 'nope' })).toMatch(
      /^--source "nope" is not a configured source \(configured: rc-main\)/,
    );
    expect(refused({ provider: 'skype' })).toMatch(/^--provider /);
    expect(refused({ status: 'lost' })).toMatch(/^--status /);
    expect(refused({ person: 'a b' })).toMatch(/^--person /);
  });

  it('normalises the number and fills the provider from the source', () => {
    expect(
      parseFindFilters(
        {
          number: '+1 650 555 0101',
          source: 'rc-main',
          status: 'deleted',
          from: '2026-03-03',
          to: '2026-03-17',
        },
        sources,
      ),
    ).toEqual({
      number: '+16505550101',
      sourceId: 'rc-main',
      provider: 'ringcentral',
      status: 'deleted-at-source',
      from: '2026-03-03',
      to: '2026-03-17',
    });
  });

  it('puts the partition predicates first and one value per placeholder', () => {
    const query = findQuery(
      {
        from: '2026-03-03',
        to: '2026-03-17',
        number: '+16505550101',
        person: '62',
        sourceId: 'rc-main',
        provider: 'ringcentral',
      },
      'T',
    );
    expect(query.sql.split('?').length - 1).toBe(query.parameters.length);
    expect(query.sql).toContain('WHERE "date" BETWEEN ? AND ?');
    expect(query.parameters).toEqual([
      '2026-03-03',
      '2026-03-17',
      'ringcentral',
      'rc-main',
      '+16505550101',
      '16505550101',
      '62',
      '62',
      '62',
    ]);
  });
});
