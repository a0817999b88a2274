import { describe, expect, it } from 'vitest';
import { PermanentError } from '../../../../functions/core/errors';
import {
  type DirectoryEntry,
  EMPTY_DIRECTORY,
  type ExtensionDirectory,
  extensionKeysOf,
  parseCallLogRecord,
} from '../../../../functions/providers/ringcentral/ringcentral-call-log';

/** Seed 001: a RingOut call log record (Detailed view), with the recording such calls carry. */
function ringOutRecord(): Record<string, unknown> {
  return {
    uri: 'https://platform.ringcentral.com/restapi/v1.0/account/727097016/extension/727097016/call-log/L6HbCN6tB1nyDUA?view=Detailed',
    id: 'L6HbCN6tB1nyDUA',
    sessionId: '575838550017',
    startTime: '2018-11-22T08:42:05.500Z',
    duration: 19,
    type: 'Voice',
    direction: 'Outbound',
    action: 'RingOut PC',
    result: 'Call connected',
    to: { phoneNumber: '+12125550111', name: 'Daenerys Targaryen' },
    from: { phoneNumber: '+16505550101', name: 'John Snow' },
    extension: {
      uri: 'https://platform.ringcentral.com/restapi/v1.0/account/727097016/extension/727097016',
      id: 727097016,
    },
    transport: 'PSTN',
    lastModifiedTime: '2018-11-22T08:42:30.007Z',
    billing: { costIncluded: 0.0, costPurchased: 0.0 },
    recording: {
      uri: 'https://platform.ringcentral.com/restapi/v1.0/account/727097016/recording/6011412004',
      id: 6011412004,
      type: 'Automatic',
      contentUri: 'https://media.ringcentral.com/restapi/v1.0/account/727097016/recording/6011412004/content',
    },
    legs: [
      {
        startTime: '2018-11-22T08:42:05.257Z',
        duration: 20,
        type: 'Voice',
        direction: 'Outbound',
        action: 'RingOut PC',
        result: 'Call connected',
        to: { phoneNumber: '+16505550101', name: 'John Snow' },
        from: { phoneNumber: '+12125550111', name: 'Daenerys Targaryen' },
        extension: {
          uri: 'https://platform.ringcentral.com/restapi/v1.0/account/727097016/extension/727097016',
          id: 727097016,
        },
        transport: 'PSTN',
        billing: { costIncluded: 0.0, costPurchased: 0.0 },
        legType: 'RingOutClientToSubscriber',
      },
      {
        startTime: '2018-11-22T08:42:05.500Z',
        duration: 19,
        type: 'Voice',
        direction: 'Outbound',
        action: 'RingOut PC',
        result: 'Call connected',
        to: { phoneNumber: '+12125550111', name: 'Daenerys Targaryen' },
        from: { phoneNumber: '+16505550101', name: 'John Snow' },
        extension: {
          uri: 'https://platform.ringcentral.com/restapi/v1.0/account/727097016/extension/727097016',
          id: 727097016,
        },
        transport: 'PSTN',
        legType: 'RingOutClientToCaller',
        master: true,
        recording: {
          uri: 'https://platform.ringcentral.com/restapi/v1.0/account/727097016/recording/6011412004',
          id: '6011412004',
          type: 'Automatic',
          contentUri:
            'https://media.ringcentral.com/restapi/v1.0/account/727097016/recording/6011412004/content',
        },
      },
    ],
  };
}

/** Seed 002: an inbound call through the Sales Queue with FindMe legs, recorded. */
function queueRecord(): Record<string, unknown> {
  const leg = (fields: Record<string, unknown>) => ({
    startTime: '2018-11-10T00:52:07.020Z',
    duration: 11,
    type: 'Voice',
    transport: 'PSTN',
    ...fields,
  });
  return {
    uri: 'https://platform.devtest.ringcentral.com/restapi/v1.0/account/11111111/call-log/abcdef0123456789?view=Detailed',
    id: 'abcdef0123456789',
    sessionId: '19923257004',
    startTime: '2018-11-10T00:52:07.020Z',
    duration: 11,
    type: 'Voice',
    direction: 'Inbound',
    action: 'Phone Call',
    result: 'Missed',
    to: { phoneNumber: '+16505550100' },
    from: { phoneNumber: '+12155550101', location: 'Philadelphia, PA' },
    transport: 'PSTN',
    lastModifiedTime: '2018-11-10T00:52:40.001Z',
    recording: {
      id: '7700001',
      type: 'Automatic',
      contentUri:
        'https://media.devtest.ringcentral.com/restapi/v1.0/account/11111111/recording/7700001/content',
    },
    legs: [
      leg({
        direction: 'Inbound',
        action: 'Phone Call',
        result: 'Missed',
        to: { phoneNumber: '+12675550100' },
        from: { phoneNumber: '+12155550101', location: 'Philadelphia, PA' },
        legType: 'Accept',
        master: true,
      }),
      leg({
        direction: 'Inbound',
        action: 'Phone Call',
        result: 'Missed',
        to: { phoneNumber: '+12679304030', name: 'Sales Queue' },
        from: { phoneNumber: '+12155550101', location: 'Philadelphia, PA' },
        extension: { uri: 'https://…/extension/22222222', id: 22222222 },
        legType: 'Accept',
      }),
      leg({
        direction: 'Outbound',
        action: 'FindMe',
        result: 'Accepted',
        to: { phoneNumber: '+16505550100', location: 'Redwood City, CA' },
        from: { phoneNumber: '+12675550100', name: 'Tiger RingForce' },
        extension: { uri: 'https://…/extension/33333333', id: 33333333 },
        legType: 'FindMe',
      }),
      leg({
        direction: 'Outbound',
        action: 'FindMe',
        result: 'Accepted',
        to: { phoneNumber: '+18185550100', location: 'North Hollywood, CA' },
        from: { phoneNumber: '+12675550100', name: 'Tiger RingForce' },
        extension: { uri: 'https://…/extension/130836004', id: 130836004 },
        legType: 'FindMe',
      }),
    ],
  };
}

function directoryOf(entries: DirectoryEntry[]): ExtensionDirectory {
  return {
    byId: (id) => entries.find((entry) => entry.id === id),
    byNumber: (number) => entries.find((entry) => entry.extensionNumber === number),
  };
}

const DIRECTORY = directoryOf([
  { id: '727097016', extensionNumber: '101', name: 'John Snow', type: 'User' },
  { id: '22222222', extensionNumber: '200', name: 'Sales Queue', type: 'Department' },
  { id: '33333333', extensionNumber: '103', name: 'Bran Stark', type: 'User' },
]);

const context = (directory = DIRECTORY) => ({
  sourceId: 'rc-main',
  recordingFormat: 'mp3' as const,
  directory,
});

describe('RingCentral call log → recordings', () => {
  it('RingOut with both legs: caller and callee status from the legs, ids as strings, one recording', () => {
    // Act: the recording appears on the record (numeric id) and on the caller leg (string id).
    const recordings = parseCallLogRecord(ringOutRecord(), context());

    // Assess
    expect(recordings).toHaveLength(1);
    expect(recordings[0]).toMatchObject({
      provider: 'ringcentral',
      sourceId: 'rc-main',
      recordingId: '6011412004',
      callId: '575838550017',
      startedAt: new Date('2018-11-22T08:42:05.500Z'),
      endedAt: new Date('2018-11-22T08:42:24.500Z'),
      durationSeconds: 19,
      direction: 'outbound',
      callerStatus: 'Call connected',
      calleeStatus: 'Call connected',
      callResult: 'Call connected',
      extension: { id: '727097016', name: 'John Snow' },
      from: { number: '+16505550101', name: 'John Snow' },
      to: { number: '+12125550111', name: 'Daenerys Targaryen' },
      fileExtension: 'mp3',
    });
    expect(recordings[0]?.parties).toEqual([
      { number: '+16505550101', name: 'John Snow', extensionId: '727097016', personId: '727097016' },
      { number: '+12125550111', name: 'Daenerys Targaryen' },
    ]);
  });

  it('a busy RingOut has only the caller leg: callee status stays empty', () => {
    // Prepare: the employee was busy, so the customer was never called (seed 001's note).
    const record = ringOutRecord();
    const legs = record.legs as Record<string, unknown>[];
    record.legs = [{ ...legs[1], result: 'Busy' }];
    record.result = 'Busy';

    // Act
    const [recording] = parseCallLogRecord(record, context());

    // Assess
    expect(recording?.callerStatus).toBe('Busy');
    expect(recording?.calleeStatus).toBeUndefined();
    expect(recording?.callResult).toBe('Busy');
  });

  it('an ordinary call keeps no RingOut statuses but the overall result, and every party of its legs', () => {
    // Act
    const [recording] = parseCallLogRecord(queueRecord(), context());

    // Assess
    expect(recording?.callerStatus).toBeUndefined();
    expect(recording?.calleeStatus).toBeUndefined();
    expect(recording?.callResult).toBe('Missed');
    expect(recording?.direction).toBe('inbound');
    expect(recording?.parties).toEqual([
      { number: '+12155550101' },
      { number: '+16505550100' },
      { number: '+12675550100', name: 'Tiger RingForce' },
      // A call queue is a company extension but no Team Messaging person; the directory name ties the
      // leg's extension to the party the leg calls "Sales Queue".
      { number: '+12679304030', name: 'Sales Queue', extensionId: '22222222' },
      { number: '+18185550100' },
      // The FindMe legs' extensions are parties of their own, named and numbered by the directory.
      { extensionId: '33333333', name: 'Bran Stark', number: '103', personId: '33333333' },
      { extensionId: '130836004', personId: '130836004' },
    ]);
  });

  it('without a directory, every company extension counts as a person and stays a party of its own', () => {
    // Act
    const [recording] = parseCallLogRecord(queueRecord(), context(EMPTY_DIRECTORY));

    // Assess
    expect(recording?.parties).toContainEqual({ number: '+12679304030', name: 'Sales Queue' });
    expect(recording?.parties).toContainEqual({ extensionId: '22222222', personId: '22222222' });
    expect(recording?.extension).toBeUndefined();
  });

  it('returns one recording per distinct id across the record and its legs', () => {
    // Prepare: a second recording on a FindMe leg (a transfer recorded separately).
    const record = queueRecord();
    const legs = record.legs as Record<string, unknown>[];
    legs[2] = {
      ...legs[2],
      recording: { id: 7700002, contentUri: 'https://media.ringcentral.com/x/7700002/content' },
    };
    legs[3] = { ...legs[3], recording: { id: '7700001' } };

    // Act
    const recordings = parseCallLogRecord(record, context());

    // Assess
    expect(recordings.map((recording) => recording.recordingId)).toEqual(['7700001', '7700002']);
    expect(recordings[1]?.callId).toBe('19923257004');
  });

  it('prefers the telephony session id as the call id, and takes the configured format as a hint only', () => {
    // Prepare
    const record = { ...ringOutRecord(), telephonySessionId: 's-a0d7e4c9a1b2' };

    // Act
    const [recording] = parseCallLogRecord(record, { ...context(), recordingFormat: 'wav' });

    // Assess
    expect(recording).toMatchObject({
      callId: 's-a0d7e4c9a1b2',
      fileExtension: 'wav',
    });
    // The call log names no content type; the download's Content-Type and first bytes will.
    expect(recording?.contentType).toBeUndefined();
  });

  it('skips records without a recording and refuses one without a start time', () => {
    // Prepare
    const unrecorded = ringOutRecord();
    delete unrecorded.recording;
    unrecorded.legs = [];
    const undated = ringOutRecord();
    delete undated.startTime;

    // Act / Assess
    expect(parseCallLogRecord(unrecorded, context())).toEqual([]);
    expect(() => parseCallLogRecord(undated, context())).toThrow(PermanentError);
  });

  it('collects the extension ids and numbers on the legs for the extensions scope', () => {
    // Act
    const keys = extensionKeysOf(queueRecord(), DIRECTORY);
    const internal = extensionKeysOf(
      { from: { extensionNumber: '101' }, to: { extensionNumber: '102', extensionId: '727097017' } },
      DIRECTORY,
    );

    // Assess
    expect([...keys].sort()).toEqual(['103', '130836004', '200', '22222222', '33333333']);
    expect([...internal].sort()).toEqual(['101', '102', '727097016', '727097017']);
  });
});
