import { describe, expect, it } from 'vitest';
import { PermanentError } from '../../../../functions/core/errors';
import { recordingKey } from '../../../../functions/core/keys';
import { parseTelphinRecord, recordClientId } from '../../../../functions/providers/telphin/telphin-records';
import {
  formatTelphinDateTime,
  splitTelphinWindow,
  violatesTelphinMonthRule,
} from '../../../../functions/providers/telphin/telphin-windows';

/** The first record of TGO `testdata/get_records_200.json`, verbatim. */
const TGO_RECORD = {
  flow: 'out',
  init_time_gmt: '2021-01-01 00:00:05.98',
  start_time_gmt: '2021-01-01 00:00:18',
  hangup_time_gmt: '2021-01-01 00:00:35',
  duration: 17,
  extension_id: 468944,
  extension_name: '01874*0541@sipproxy.telphin.ru',
  extension_type: 'phone',
  extension_group_owner_id: null,
  client_owner_id: 37649,
  result: 'answered',
  from_username: '01111*0541',
  from_domain: 'sipproxy.telphin.ru',
  source_number: null,
  source_domain: null,
  to_username: '+71112223344',
  to_domain: 'sipproxy.telphin.ru',
  dest_number: '+71112223344',
  dest_domain: 'sipproxy.telphin.ru',
  did_number: null,
  did_domain: null,
  from_screen_name: '01111*0541',
  hangup_cause: 'NORMAL_CLEARING',
  ext_number_reg: null,
  application: 'callback',
  call_uuid: 'C67CBFE9F86C48F9A473DF57FEA1AE65',
  hangup_disposition: 'caller_bye',
  ani_number: '74999610999',
  record_uuid: '468944-C7C3931362A5458580DF48AEFFECEF74',
  record_file_size: 34416,
  file_name: '2021-01-01-00-00-18-UTC_out_0541_ypgt.mp3',
  record_transfer: false,
};

describe('parseTelphinRecord', () => {
  it('normalises the documented record', () => {
    const recording = parseTelphinRecord(TGO_RECORD, 'main');
    expect(recording).toEqual({
      provider: 'telphin',
      sourceId: 'main',
      recordingId: '468944-C7C3931362A5458580DF48AEFFECEF74',
      callId: 'C67CBFE9F86C48F9A473DF57FEA1AE65',
      startedAt: new Date('2021-01-01T00:00:18Z'),
      endedAt: new Date('2021-01-01T00:00:35Z'),
      durationSeconds: 17,
      direction: 'outbound',
      from: { number: '01111*0541', name: '01111*0541', extensionId: '468944' },
      to: { number: '+71112223344' },
      extension: { id: '468944', name: '01874*0541@sipproxy.telphin.ru' },
      calleeStatus: 'answered',
      size: 34416,
      contentType: 'audio/mpeg',
      fileExtension: 'mp3',
      raw: TGO_RECORD,
    });
    expect(recordingKey(recording)).toBe(
      'recordings/telphin/main/2021/01/01/468944-C7C3931362A5458580DF48AEFFECEF74.mp3',
    );
  });

  it('accepts the seed spellings without _gmt and falls back to init time', () => {
    const { init_time_gmt, start_time_gmt, hangup_time_gmt, ...rest } = TGO_RECORD;
    const plain = parseTelphinRecord(
      { ...rest, init_time: init_time_gmt, hangup_time: hangup_time_gmt },
      'main',
    );
    expect(start_time_gmt).toBeDefined();
    expect(plain.startedAt.toISOString()).toBe('2021-01-01T00:00:05.980Z');
    expect(plain.endedAt?.toISOString()).toBe('2021-01-01T00:00:35.000Z');
  });

  it('reads inbound parties from the DID and marks the own extension', () => {
    const inbound = parseTelphinRecord(
      {
        ...TGO_RECORD,
        flow: 'in',
        from_username: '+79990001122',
        did_number: '+74951234567',
        dest_number: null,
      },
      'main',
    );
    expect(inbound.direction).toBe('inbound');
    expect(inbound.from).toEqual({ number: '+79990001122', name: '01111*0541' });
    expect(inbound.to).toEqual({ number: '+74951234567', extensionId: '468944' });
  });

  it.each([
    ['no record_uuid', { ...TGO_RECORD, record_uuid: null }],
    ['no usable time', { ...TGO_RECORD, start_time_gmt: 'yesterday', init_time_gmt: undefined }],
    ['a null size', { ...TGO_RECORD, record_file_size: null }],
    ['a negative size', { ...TGO_RECORD, record_file_size: -1 }],
    ['not an object', 'record'],
  ])('refuses a record with %s', (_name, record) => {
    expect(() => parseTelphinRecord(record, 'main')).toThrow(PermanentError);
  });

  it('uses the record owner as client, else the scope client, else @me', () => {
    const owned = parseTelphinRecord(TGO_RECORD, 'main');
    const unowned = parseTelphinRecord({ ...TGO_RECORD, client_owner_id: null }, 'main');
    expect(recordClientId(owned, '@me')).toBe('37649');
    expect(recordClientId(unowned, '123')).toBe('123');
    expect(recordClientId(unowned, undefined)).toBe('@me');
  });
});

describe('splitTelphinWindow', () => {
  it('splits at UTC month starts so no chunk breaks the month rule', () => {
    const chunks = splitTelphinWindow({
      from: new Date('2023-12-30T10:00:00.400Z'),
      to: new Date('2024-03-02T00:00:00.200Z'),
    });
    expect(chunks.map((c) => [formatTelphinDateTime(c.from), formatTelphinDateTime(c.to)])).toEqual([
      ['2023-12-30 10:00:00', '2024-01-01 00:00:00'],
      ['2024-01-01 00:00:00', '2024-02-01 00:00:00'],
      ['2024-02-01 00:00:00', '2024-03-01 00:00:00'],
      ['2024-03-01 00:00:00', '2024-03-02 00:00:01'],
    ]);
    for (const chunk of chunks) expect(violatesTelphinMonthRule(chunk.from, chunk.to)).toBe(false);
  });

  it('returns nothing for an empty window', () => {
    const at = new Date('2024-01-01T00:00:00Z');
    expect(splitTelphinWindow({ from: at, to: at })).toEqual([]);
  });

  it('knows the month rule the API enforces', () => {
    const start = new Date('2024-01-31T00:00:00Z');
    expect(violatesTelphinMonthRule(start, new Date('2024-02-29T23:59:59Z'))).toBe(false);
    expect(violatesTelphinMonthRule(start, new Date('2024-03-01T00:00:00Z'))).toBe(true);
  });
});
