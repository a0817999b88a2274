import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  deletesAtSource,
  isWebhookOnly,
  parseConfig,
  retentionFor,
  retentionTargets,
  runtimeConfigForDeployment,
} from '../../../functions/config';
import { GraphCallingBotSource } from '../../../functions/providers/graph-calling-bot/graph-calling-bot-source';
import { MSTEAMS_CAPABILITIES } from '../../../functions/providers/teams-recordings/teams-recordings-source';

const telphin = {
  provider: 'telphin',
  id: 'main',
  clientId: 'id',
  clientSecret: 'secret',
  webhookSecret: 'x'.repeat(32),
};

describe('config', () => {
  it('fills in documented defaults', () => {
    const config = parseConfig({ sources: [telphin] });
    expect(config.local).toEqual({
      port: 8787,
      host: '127.0.0.1',
      archiveDir: './archive',
      stateDir: './.callvault',
    });
    expect(config.sweep).toEqual({
      enabled: true,
      lookbackHours: 48,
      intervalSeconds: 300,
      deepEveryHours: 24,
      pendingMarkerHours: 6,
    });
    expect(config.sources[0]).toMatchObject({
      apiUrl: 'https://apiproxy.telphin.ru',
      scope: { client: '@me' },
    });
  });

  it('names every offending field', () => {
    const attempt = () =>
      parseConfig({
        sources: [{ ...telphin, id: 'bad id', scope: { client: '@me', extensions: ['1'] } }],
        sweep: { lookbackHours: 0 },
      });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(/sources\[0\]\.id/);
    expect(attempt).toThrow(/sources\[0\]\.scope: set exactly one/);
    expect(attempt).toThrow(/sweep\.lookbackHours/);
  });

  it('refuses a recent sweep window that leaves hours unlisted', () => {
    const sweep = (fields: Record<string, number>) => () =>
      parseConfig({ sources: [telphin], sweep: { lookbackHours: 48, intervalSeconds: 3_600, ...fields } });
    expect(sweep({ recentLookbackHours: 6 })().sweep).toMatchObject({
      recentLookbackHours: 6,
      deepEveryHours: 24,
    });
    // Two hourly intervals are two hours: a shorter window misses what a late run should have listed.
    expect(sweep({ recentLookbackHours: 1 })).toThrow(
      /sweep\.recentLookbackHours: must cover at least two sweep intervals \(2 h\)/,
    );
    expect(sweep({ recentLookbackHours: 48 })).toThrow(
      /sweep\.recentLookbackHours: must be below sweep\.lookbackHours \(48\)/,
    );
    expect(sweep({ recentLookbackHours: 6, deepEveryHours: 72 })).toThrow(
      /sweep\.deepEveryHours: must not exceed/,
    );
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
    expect(first && retentionFor(config, first)).toMatchObject({
      deleteFromSourceAfterDays: 30,
      dryRun: true,
    });
    expect(second && retentionFor(config, second)).toBeUndefined();
  });
});

describe('Telphin download hosts', () => {
  const { clientId: _a, clientSecret: _b, webhookSecret: _c, ...bare } = telphin;

  it("defaults to the apiUrl host and Telphin's own domain", () => {
    const config = parseConfig({
      sources: [bare, { ...bare, id: 'partner', apiUrl: 'https://api.partner.example:8443/telphin' }],
    });
    expect(config.sources.map((source) => source.allowedDownloadHosts)).toEqual([
      ['apiproxy.telphin.ru', '*.telphin.ru'],
      ['api.partner.example:8443', '*.telphin.ru'],
    ]);
  });

  it('keeps the defaults valid through a deployment round trip, loopback IPv6 included', () => {
    const config = parseConfig({ sources: [{ ...bare, apiUrl: 'http://[::1]:8080' }] });
    const shipped = runtimeConfigForDeployment(config);
    expect(parseConfig(shipped).sources[0]?.allowedDownloadHosts).toEqual(['[::1]:8080', '*.telphin.ru']);
  });

  it('refuses a host list that does not allow the apiUrl host, naming the field', () => {
    const attempt = () =>
      parseConfig({
        sources: [
          bare,
          {
            ...bare,
            id: 'partner',
            apiUrl: 'https://api.partner.example',
            allowedDownloadHosts: ['*.telphin.ru'],
          },
        ],
      });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(
      /sources\[1\]\.allowedDownloadHosts: does not allow the apiUrl host api\.partner\.example/,
    );
  });

  it.each([
    [
      'plain http off loopback',
      { apiUrl: 'http://apiproxy.telphin.ru' },
      /sources\[0\]\.apiUrl: must use https/,
    ],
    ['another scheme', { apiUrl: 'ftp://apiproxy.telphin.ru' }, /sources\[0\]\.apiUrl/],
    [
      'credentials in the apiUrl',
      { apiUrl: 'https://u:p@apiproxy.telphin.ru' },
      /sources\[0\]\.apiUrl: must not carry credentials/,
    ],
    [
      'a wildcard over a whole top-level domain',
      { allowedDownloadHosts: ['apiproxy.telphin.ru', '*.ru'] },
      /sources\[0\]\.allowedDownloadHosts\[1\]: a wildcard needs/,
    ],
    [
      'a URL instead of a host',
      { allowedDownloadHosts: ['https://storage.telphin.ru/'] },
      /sources\[0\]\.allowedDownloadHosts\[0\]: expected a host name/,
    ],
  ])('refuses %s', (_name, fields, pattern) => {
    expect(() => parseConfig({ sources: [{ ...bare, ...fields }] })).toThrow(pattern);
  });

  it('accepts plain http on loopback, where the sandboxes run', () => {
    const config = parseConfig({ sources: [{ ...bare, apiUrl: 'http://127.0.0.1:4010' }] });
    expect(config.sources[0]?.allowedDownloadHosts).toEqual(['127.0.0.1:4010', '*.telphin.ru']);
  });
});

describe('lifecycle validation against S3 rules', () => {
  const withLifecycle = (lifecycle: unknown) => () => parseConfig({ sources: [telphin], lifecycle });

  it('accepts a sensible waterfall', () => {
    const config = withLifecycle({
      transitions: [
        { storageClass: 'GLACIER_IR', afterDays: 30 },
        { storageClass: 'DEEP_ARCHIVE', afterDays: 180 },
      ],
      expireAfterDays: 2555,
    })();
    expect(config.lifecycle.transitions).toHaveLength(2);
  });

  it('refuses Standard-IA before 30 days', () => {
    expect(withLifecycle({ transitions: [{ storageClass: 'STANDARD_IA', afterDays: 10 }] })).toThrow(
      /lifecycle\.transitions\[0\]\.afterDays: S3 moves objects to STANDARD_IA after 30 days at the earliest/,
    );
  });

  it('refuses leaving a class before its minimum storage duration', () => {
    expect(
      withLifecycle({
        transitions: [
          { storageClass: 'GLACIER_IR', afterDays: 30 },
          { storageClass: 'DEEP_ARCHIVE', afterDays: 60 },
        ],
      }),
    ).toThrow(/transitions\[1\]\.afterDays: must be at least 120/);
  });

  it('refuses moving back up the waterfall', () => {
    expect(
      withLifecycle({
        transitions: [
          { storageClass: 'DEEP_ARCHIVE', afterDays: 30 },
          { storageClass: 'GLACIER_IR', afterDays: 300 },
        ],
      }),
    ).toThrow(/cannot move objects from DEEP_ARCHIVE back up to GLACIER_IR/);
  });

  it('refuses expiry before the last class minimum or before the Object Lock period', () => {
    expect(
      withLifecycle({ transitions: [{ storageClass: 'DEEP_ARCHIVE', afterDays: 30 }], expireAfterDays: 100 }),
    ).toThrow(/expireAfterDays: must be at least 210/);
    expect(withLifecycle({ expireAfterDays: 365, objectLock: { mode: 'COMPLIANCE', years: 7 } })).toThrow(
      /before the Object Lock retention of 2555 days ends/,
    );
    expect(withLifecycle({ objectLock: { mode: 'GOVERNANCE', days: 10, years: 1 } })).toThrow(
      /exactly one of days or years/,
    );
  });

  it('checks each retention class too', () => {
    expect(
      withLifecycle({
        retentionClasses: { short: { transitions: [{ storageClass: 'ONEZONE_IA', afterDays: 5 }] } },
      }),
    ).toThrow(/lifecycle\.retentionClasses\.short\.transitions\[0\]\.afterDays/);
  });

  it('leaves the webhook-only Graph bot out of retention, as its adapter declares', () => {
    const bot = {
      provider: 'msgraph',
      id: 'bot',
      botAppId: '7a6c3f52-1f1e-4d0c-9a53-2f8d9e4b6c10',
      tenantId: '3f0b9c1e-8d4a-4e7b-b2a6-5c9d1e0f7a24',
      allowedDownloadHosts: ['file.location'],
      mediaPersistenceApproved: true,
    };
    const config = parseConfig({ sources: [telphin, bot], retention: { deleteFromSourceAfterDays: 30 } });
    const [, botConfig] = config.sources;
    if (botConfig?.provider !== 'msgraph') throw new Error('expected the bot second');

    expect(retentionTargets(config).map((target) => target.sourceId)).toEqual(['main']);
    expect(isWebhookOnly(botConfig)).toBe(true);
    expect(new GraphCallingBotSource({ config: botConfig }).capabilities).toEqual({
      list: false,
      delete: false,
    });
    expect(isWebhookOnly({ provider: 'telphin' })).toBe(false);
    expect(isWebhookOnly({ provider: 'ringcentral' })).toBe(false);
    // The config's own answer agrees with each adapter's capabilities.
    expect(deletesAtSource(botConfig)).toBe(false);
    expect(deletesAtSource({ provider: 'msteams' })).toBe(MSTEAMS_CAPABILITIES.delete);
    expect(deletesAtSource({ provider: 'telphin' })).toBe(true);
  });
});

describe('local.publicUrl', () => {
  const ringCentral = (serverUrl?: string) => ({
    provider: 'ringcentral',
    id: 'rc',
    ...(serverUrl ? { serverUrl, mediaUrl: serverUrl } : {}),
  });

  it('refuses plain http when a real platform would have to deliver to it', () => {
    expect(() =>
      parseConfig({ sources: [ringCentral()], local: { publicUrl: 'http://callvault.example.com' } }),
    ).toThrow(/local\.publicUrl.*must use https: sources\[0\] \("rc"\) at platform\.ringcentral\.com/s);
    expect(() =>
      parseConfig({
        sources: [{ ...telphin, manageWebhooks: true, scope: { extensions: ['101'] } }],
        local: { publicUrl: 'http://callvault.example.com' },
      }),
    ).toThrow(/must use https/);
    expect(() => parseConfig({ sources: [{ ...telphin, manageWebhooks: true }] })).toThrow(
      /manageWebhooks: needs scope\.extensions/,
    );
  });

  it('refuses plain http for a Teams source at the real Graph, not for one at a loopback sandbox', () => {
    const teams = (graphUrl?: string) => ({
      provider: 'msteams',
      id: 'teams',
      tenantId: '2432b57b-0abd-43db-aa7b-16eadd115d34',
      users: 'all',
      mediaPersistenceApproved: true,
      ...(graphUrl ? { graphUrl, loginUrl: graphUrl } : {}),
    });
    expect(() =>
      parseConfig({ sources: [teams()], local: { publicUrl: 'http://callvault.example.com' } }),
    ).toThrow(/local\.publicUrl.*must use https: sources\[0\] \("teams"\) at graph\.microsoft\.com/s);
    expect(
      parseConfig({ sources: [teams()], local: { publicUrl: 'https://hooks.example.com' } }).local.publicUrl,
    ).toBe('https://hooks.example.com');
    expect(
      parseConfig({
        sources: [teams('http://127.0.0.1:8790')],
        local: { publicUrl: 'http://127.0.0.1:8787' },
      }).local.publicUrl,
    ).toBe('http://127.0.0.1:8787');
  });

  it('accepts https, and plain http for sandboxes on loopback or sources that manage no hooks', () => {
    expect(
      parseConfig({ sources: [ringCentral()], local: { publicUrl: 'https://hooks.example.com/cv' } }).local
        .publicUrl,
    ).toBe('https://hooks.example.com/cv');
    expect(() =>
      parseConfig({
        sources: [ringCentral('http://127.0.0.1:8790')],
        local: { publicUrl: 'http://127.0.0.1:8787' },
      }),
    ).not.toThrow();
    expect(() =>
      parseConfig({ sources: [telphin], local: { publicUrl: 'http://127.0.0.1:8787' } }),
    ).not.toThrow();
    expect(parseConfig({ sources: [telphin] }).sources[0]).toMatchObject({ manageWebhooks: false });
  });
});

describe('provider names and their aliases', () => {
  it('reads a source named by its descriptive alias exactly as one named by its stored id', async () => {
    const { readFile } = await import('node:fs/promises');
    const example = JSON.parse(
      await readFile(
        new URL('../../../examples/callvault.config.aws-all-providers.json', import.meta.url),
        'utf8',
      ),
    ) as { sources: { provider: string }[] };
    const aliased = {
      ...example,
      sources: example.sources.map((source) => ({
        ...source,
        provider:
          { msgraph: 'graph-calling-bot', msteams: 'teams-recordings' }[source.provider] ?? source.provider,
      })),
    };
    expect(aliased.sources.map((source) => source.provider)).toContain('teams-recordings');
    expect(parseConfig(aliased)).toEqual(parseConfig(example));
  });

  it('gives every provider a title, and no alias names two providers or shadows a stored id', async () => {
    const { PROVIDER_DESCRIPTORS } = await import('../../../functions/providers');
    const names = PROVIDER_DESCRIPTORS.flatMap((descriptor) => [
      descriptor.name,
      ...(descriptor.aliases ?? []),
    ]);
    expect(new Set(names).size).toBe(names.length);
    for (const descriptor of PROVIDER_DESCRIPTORS) expect(descriptor.title.length).toBeGreaterThan(10);
  });

  it('still refuses a provider nobody knows, naming the field', () => {
    expect(() => parseConfig({ sources: [{ ...telphin, provider: 'teams' }] })).toThrow(
      /sources\[0\]\.provider/,
    );
  });
});

describe('local.jobDeadlineSeconds', () => {
  it('is unset by default, so a local download runs to its end', () => {
    expect(parseConfig({}).local.jobDeadlineSeconds).toBeUndefined();
  });

  it('takes whole seconds from 1, and refuses anything else', () => {
    expect(parseConfig({ local: { jobDeadlineSeconds: 600 } }).local.jobDeadlineSeconds).toBe(600);
    expect(() => parseConfig({ local: { jobDeadlineSeconds: 0 } })).toThrow(/jobDeadlineSeconds/);
    expect(() => parseConfig({ local: { jobDeadlineSeconds: 1.5 } })).toThrow(/jobDeadlineSeconds/);
  });
});
