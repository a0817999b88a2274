import { afterEach, describe, expect, it } from 'vitest';
import {
  collect,
  consumeVerified,
  JAN_2024,
  JAN_WINDOW,
  type RingCentralHarness,
  startHarness,
} from './ringcentral-fixture';

describe('RingCentral media requests', () => {
  let harness: RingCentralHarness | undefined;
  afterEach(async () => harness?.sandbox.close());

  it('asks the media host for any media type (Accept */*) on download, HEAD and range, and the API for JSON', async () => {
    // Prepare: the media host refuses HEAD, so the size comes from a one-byte range.
    harness = await startHarness({ sandbox: { contentHeadAllowed: false } });
    harness.sandbox.addCall({ startedAt: JAN_2024, size: 40_000 });
    const [recording] = await collect(harness.source.listRecordings(JAN_WINDOW));

    // Act
    await consumeVerified(await harness.source.openDownload(recording!));
    const size = await harness.source.reportedSize(recording!);

    // Assess
    expect(size).toBe(40_000);
    const media = harness.sandbox.requestLog.filter((entry) => entry.server === 'media');
    expect(media.map((entry) => [entry.method, entry.accept])).toEqual([
      ['GET', '*/*'],
      ['HEAD', '*/*'],
      ['GET', '*/*'],
    ]);
    const api = harness.sandbox.requestLog.filter(
      (entry) => entry.server === 'api' && entry.route !== 'token',
    );
    expect(api.length).toBeGreaterThan(0);
    expect(api.every((entry) => entry.accept === 'application/json')).toBe(true);
  });
});
