import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig, retentionFor, runtimeConfigForDeployment } from '../../../functions/config';

const telphin = { provider: 'telphin', id: 'main', clientId: 'id', clientSecret: 'secret', webhookSecret: 'x'.repeat(32) };

describe('config', () => {
  it('fills in documented defaults', () => {
    const config = parseConfig({ sources: [telphin] });
    expect(config.local).toEqual({ port: 8787, host: '127.0.0.1', archiveDir: './archive', stateDir: './.callvault' });
    expect(config.sweep).toEqual({ enabled: true, lookbackHours: 48, intervalSeconds: 300 });
    expect(config.sources[0]).toMatchObject({ apiUrl: 'https://apiproxy.telphin.ru', scope: { client: '@me' } });
  });

  it('names every offending field', () => {
    const attempt = () =>
      parseConfig({ sources: [{ ...telphin, id: 'bad id', scope: { client: '@me', extensions: ['1'] } }], sweep: { lookbackHours: 0 } });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(/sources\[0\]\.id/);
    expect(attempt).toThrow(/sources\[0\]\.scope: set exactly one/);
    expect(attempt).toThrow(/sweep\.lookbackHours/);
  });

  it('refuses unknown fields and duplicate source ids', () => {
    expect(() => parseConfig({ sources: [telphin], surprise: 1 })).toThrow(/surprise/);
    expect(() => parseConfig({ sources: [telphin, telphin] })).toThrow(/duplicate source id "main"/);
  });

  it('refuses inline secrets for a deployment', () => {
    expect(() => runtimeConfigForDeployment(parseConfig({ sources: [telphin] }))).toThrow(
      /sources\[0\]\.clientSecret: inline credentials are for local mode/,
    );
    const { clientId: _a, clientSecret: _b, webhookSecret: _c, ...withoutSecrets } = telphin;
    expect(runtimeConfigForDeployment(parseConfig({ sources: [withoutSecrets] })).sources).toHaveLength(1);
  });

  it('merges retention settings per source and keeps dry run on by default', () => {
    const config = parseConfig({
      sources: [telphin, { ...telphin, id: 'other', retention: false }],
      retention: { deleteFromSourceAfterDays: 30 },
    });
    const [first, second] = config.sources;
    expect(first && retentionFor(config, first)).toMatchObject({ deleteFromSourceAfterDays: 30, dryRun: true });
    expect(second && retentionFor(config, second)).toBeUndefined();
  });
});
