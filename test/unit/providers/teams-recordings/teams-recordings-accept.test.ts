import { afterEach, describe, expect, it } from 'vitest';
import { collect, consumeVerified, startHarness, type TeamsHarness } from './teams-recordings-fixture';

describe('TeamsRecordingsSource media requests', () => {
  let harness: TeamsHarness | undefined;
  afterEach(async () => {
    await harness?.close();
    harness = undefined;
  });

  it('asks for any media type (Accept */*) for content and its redirect, JSON for the API', async () => {
    // Prepare
    harness = await startHarness();
    const createdAt = new Date('2024-03-12T09:30:00Z');
    const added = harness.sandbox.addRecording({ organizerId: harness.alice.id, createdAt, size: 50_000 });
    const [recording] = await collect(
      harness.source.listRecordings({
        from: new Date(createdAt.getTime() - 1),
        to: new Date(createdAt.getTime() + 1),
      }),
    );

    // Act
    await consumeVerified(await harness.source.openDownload(recording!));

    // Assess
    const log = harness.sandbox.requestLog;
    const media = log.filter((entry) => entry.route === 'content' || entry.route === 'download');
    expect(recording?.recordingId).toBe(added.id);
    expect(media.map((entry) => [entry.server, entry.accept])).toEqual([
      ['graph', '*/*'],
      ['content', '*/*'],
    ]);
    const api = log.filter((entry) => entry.server === 'graph' && entry.route !== 'content');
    expect(api.length).toBeGreaterThan(0);
    expect(api.every((entry) => entry.accept === 'application/json' || entry.route === 'token')).toBe(true);
  });
});
