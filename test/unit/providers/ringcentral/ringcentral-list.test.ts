import { afterEach, describe, expect, it } from 'vitest';
import { TransientError } from '../../../../functions/core/errors';
import { collect, JAN_2024, JAN_WINDOW, type RingCentralHarness, startHarness } from './ringcentral-fixture';

describe('RingCentralSource.listRecordings', () => {
  let harness: RingCentralHarness | undefined;
  afterEach(async () => harness?.sandbox.close());

  it('pages through the Detailed call log with recordingType=All until nextPage is absent', async () => {
    // Prepare
    harness = await startHarness({ tuning: { perPage: 10 } });
    const calls = harness.sandbox.generateCalls({ count: 25, from: JAN_WINDOW.from, to: JAN_WINDOW.to });

    // Act
    const listed = await collect(harness.source.listRecordings(JAN_WINDOW));

    // Assess
    expect(listed.map((recording) => recording.recordingId).sort()).toEqual(
      calls.map((call) => call.recording?.id).sort(),
    );
    const pages = harness.sandbox.requestLog.filter((entry) => entry.route === 'call-log');
    expect(pages).toHaveLength(3);
    const first = new URLSearchParams(pages[0]?.query);
    expect(Object.fromEntries(first)).toMatchObject({
      view: 'Detailed',
      recordingType: 'All',
      perPage: '10',
      page: '1',
      dateFrom: JAN_WINDOW.from.toISOString(),
      dateTo: JAN_WINDOW.to.toISOString(),
    });
    // Deprecated in the call-log reference in favour of recordingType.
    expect(first.has('withRecording')).toBe(false);
    expect(pages.map((page) => new URLSearchParams(page.query).get('page'))).toEqual(['1', '2', '3']);
  });

  it('asks for up to 1000 records a page by default', async () => {
    // Prepare
    harness = await startHarness();
    harness.sandbox.generateCalls({ count: 3, from: JAN_WINDOW.from, to: JAN_WINDOW.to });

    // Act
    await collect(harness.source.listRecordings(JAN_WINDOW));

    // Assess
    const page = harness.sandbox.requestLog.find((entry) => entry.route === 'call-log');
    expect(new URLSearchParams(page?.query).get('perPage')).toBe('1000');
  });

  it('skips calls without a recording and lists a recording on several legs once', async () => {
    // Prepare: the internal call's recording is on the record and on both legs.
    harness = await startHarness();
    const internal = harness.sandbox.addCall({ kind: 'internal', startedAt: JAN_2024 });
    harness.sandbox.addCall({ startedAt: JAN_2024, recorded: false });
    harness.sandbox.addCall({ startedAt: JAN_2024, shortRecording: true });

    // Act
    const listed = await collect(harness.source.listRecordings(JAN_WINDOW));

    // Assess
    expect(listed.map((recording) => recording.recordingId)).toEqual([internal.recording?.id]);
    expect(listed[0]).toMatchObject({
      direction: 'internal',
      from: { number: '101', extensionId: '727097016', name: 'John Snow' },
      to: { number: '102', extensionId: '727097017', name: 'Arya Stark' },
    });
  });

  it('keeps recording ids sent as JSON numbers as strings', async () => {
    // Prepare
    harness = await startHarness();
    const call = harness.sandbox.addCall({ startedAt: JAN_2024, numericRecordingId: true });

    // Act
    const [recording] = await collect(harness.source.listRecordings(JAN_WINDOW));

    // Assess
    expect(recording?.recordingId).toBe(call.recording?.id);
    expect(typeof recording?.recordingId).toBe('string');
  });

  it('lists only calls that started inside the window', async () => {
    // Prepare
    harness = await startHarness();
    const inside = harness.sandbox.addCall({ startedAt: new Date(JAN_WINDOW.to.getTime() - 1) });
    harness.sandbox.addCall({ startedAt: JAN_WINDOW.to });
    harness.sandbox.addCall({ startedAt: new Date(JAN_WINDOW.from.getTime() - 1) });

    // Act
    const listed = await collect(harness.source.listRecordings(JAN_WINDOW));

    // Assess
    expect(listed.map((recording) => recording.recordingId)).toEqual([inside.recording?.id]);
  });

  it('with an extensions scope keeps only calls with one of them on a leg, by number or by id', async () => {
    // Prepare: 102 (Arya) appears only on the internal call; the queue 200 only on inbound calls.
    harness = await startHarness({ config: { scope: { extensions: ['102', '22222222'] } } });
    const internal = harness.sandbox.addCall({ kind: 'internal', startedAt: JAN_2024 });
    const inbound = harness.sandbox.addCall({ kind: 'inbound', startedAt: JAN_2024 });
    harness.sandbox.addCall({ kind: 'ringout', startedAt: JAN_2024 });
    harness.sandbox.addCall({ kind: 'outbound', startedAt: JAN_2024 });

    // Act
    const listed = await collect(harness.source.listRecordings(JAN_WINDOW));

    // Assess
    expect(listed.map((recording) => recording.recordingId).sort()).toEqual(
      [internal.recording?.id, inbound.recording?.id].sort(),
    );
  });

  it('resolves a scope of extension numbers through the directory for legs that name only the id', async () => {
    // Prepare: RingOut legs carry John's extension id only; the scope names his number 101.
    harness = await startHarness({ config: { scope: { extensions: ['101'] } } });
    const ringOut = harness.sandbox.addCall({ kind: 'ringout', startedAt: JAN_2024 });
    harness.sandbox.addCall({ kind: 'ringout', startedAt: JAN_2024, extensionId: 727097017 });

    // Act
    const listed = await collect(harness.source.listRecordings(JAN_WINDOW));

    // Assess
    expect(listed.map((recording) => recording.recordingId)).toEqual([ringOut.recording?.id]);
    expect(harness.sandbox.counters.directoryCalls).toBe(1);
  });

  it('fails loudly when the extensions scope cannot be resolved because the directory is unavailable', async () => {
    // Prepare
    harness = await startHarness({ config: { scope: { extensions: ['101'] } } });
    harness.sandbox.addCall({ startedAt: JAN_2024 });
    harness.sandbox.injectFault({ kind: 'server-error' }, { routes: 'directory' });

    // Act
    const failure = await collect(harness.source.listRecordings(JAN_WINDOW)).catch((error: unknown) => error);

    // Assess
    expect(failure).toBeInstanceOf(TransientError);
    expect((failure as Error).message).toMatch(/directory .* could not be loaded/);
    expect(harness.sandbox.counters.callLogCalls).toBe(0);
  });

  it('lists without extension names when the directory is unavailable and the scope does not need it', async () => {
    // Prepare
    harness = await startHarness();
    harness.sandbox.addCall({ startedAt: JAN_2024 });
    harness.sandbox.injectFault({ kind: 'server-error' }, { routes: 'directory' });

    // Act
    const listed = await collect(harness.source.listRecordings(JAN_WINDOW));
    await collect(harness.source.listRecordings(JAN_WINDOW));

    // Assess: names are missing, the recording is not; the directory is not asked again within the hour.
    expect(listed).toHaveLength(1);
    expect(listed[0]?.extension).toEqual({ id: '727097016' });
    expect(harness.sandbox.counters.directoryCalls).toBe(1);
    expect(harness.log.lines.some((line) => line.message.includes('directory unavailable'))).toBe(true);
  });

  it('loads the directory once a day, not per recording or per listing', async () => {
    // Prepare
    harness = await startHarness();
    harness.sandbox.generateCalls({ count: 5, from: JAN_WINDOW.from, to: JAN_WINDOW.to });

    // Act
    await collect(harness.source.listRecordings(JAN_WINDOW));
    await collect(harness.source.listRecordings(JAN_WINDOW));

    // Assess
    expect(harness.sandbox.counters.directoryCalls).toBe(1);
  });
});
