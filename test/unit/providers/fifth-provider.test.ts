/**
 * A fifth provider is one descriptor: registering the toy provider (test/support/toy-provider, not
 * shipped) is all it takes for the configuration to accept its sources and for the local pipeline to
 * sweep, archive and answer its webhooks. Nothing in config, core or composition names it.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLocalPipeline } from '../../../functions/composition/local-pipeline';
import { deletesAtSource, parseConfig } from '../../../functions/config';
import { silentLog, systemClock } from '../../../functions/core/ports';
import { receiveWebhook } from '../../../functions/core/receive-webhook';
import { sweepAllSources } from '../../../functions/core/sweep-all-sources';
import { webhookCountMetricName } from '../../../functions/observability/names';
import { PROVIDER_DESCRIPTORS } from '../../../functions/providers';
import { toyPlatform, toyProvider } from '../../support/toy-provider/descriptor';
import { TOY_RECORDING_BYTES } from '../../support/toy-provider/toy-source';

const DESCRIPTORS = [...PROVIDER_DESCRIPTORS, toyProvider];
const TOKEN = 'toy-token-0123456789';

describe('a fifth provider, registered by its descriptor alone', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  const configFile = (root: string) => ({
    sources: [{ provider: 'toy', id: 'toy-main', recordings: 3, token: TOKEN }],
    local: { archiveDir: join(root, 'archive'), stateDir: join(root, 'state') },
  });

  it('is configured: its sources parse with the descriptor, and are refused without it', () => {
    const config = parseConfig(configFile('/tmp/x'), 'the toy config', DESCRIPTORS);
    expect(config.sources).toEqual([
      expect.objectContaining({ provider: 'toy', id: 'toy-main', enabled: true }),
    ]);
    expect(() => parseConfig(configFile('/tmp/x'))).toThrow(/sources\[0\]/);
  });

  it('is composed and run through the local pipeline: swept, archived, and its webhooks answered', async () => {
    dir = await mkdtemp(join(tmpdir(), 'callvault-toy-'));
    toyPlatform.newest = new Date(systemClock.now().getTime() - 3_600_000);
    const config = parseConfig(configFile(dir), 'the toy config', DESCRIPTORS);
    const pipeline = await createLocalPipeline(config, { log: silentLog, descriptors: DESCRIPTORS });
    const { sources, store, queue, ledger } = pipeline;
    queue.start();
    try {
      const swept = await sweepAllSources(48, {
        sources,
        store,
        queue,
        ledger,
        clock: systemClock,
        log: silentLog,
      });
      await queue.idle();

      expect(swept.failed).toEqual([]);
      const files = (await readdir(join(dir, 'archive'), { recursive: true })).filter((name) =>
        name.endsWith('.mp3'),
      );
      expect(files).toHaveLength(3);
      expect(files.every((name) => name.startsWith(join('recordings', 'toy', 'toy-main')))).toBe(true);
      expect(queue.stats()).toMatchObject({ deadLettered: 0 });

      const counts: Record<string, number>[] = [];
      const webhook = (token: string) =>
        receiveWebhook(
          'toy',
          'toy-main',
          { method: 'POST', query: { token }, headers: {}, body: '{}' },
          { sources, queue, log: silentLog, recordCounts: (_provider, named) => counts.push({ ...named }) },
        );
      expect((await webhook(TOKEN)).status).toBe(202);
      expect((await webhook('not-the-token')).status).toBeGreaterThanOrEqual(400);
      expect(counts).toEqual([{ pings: 1 }]);
      expect(webhookCountMetricName('toy', 'pings', toyProvider.metrics.webhookCounts)).toBe(
        'ToyWebhookPings',
      );
      expect(sources.maxWebhookBodyBytes('toy', 'toy-main')).toBe(256 * 1024);
      expect(TOY_RECORDING_BYTES).toBeGreaterThan(0);
    } finally {
      await queue.stop();
    }
  });

  it('is known to no shipped helper: the shipped list stays four providers', () => {
    expect(PROVIDER_DESCRIPTORS.map((descriptor) => descriptor.name)).not.toContain('toy');
    expect(() => deletesAtSource({ provider: 'toy' as never })).toThrow(/unknown provider "toy"/);
  });
});
