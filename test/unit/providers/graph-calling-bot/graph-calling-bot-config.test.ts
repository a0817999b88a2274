import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import {
  MEDIA_PERSISTENCE_README_SECTION,
  MSGRAPH_ISSUERS,
  MSGRAPH_OPENID_CONFIGURATION_URL,
  msgraphSourceSchema,
  notificationSignersOf,
} from '../../../../functions/providers/graph-calling-bot/graph-calling-bot-config';
import { GraphCallingBotSource } from '../../../../functions/providers/graph-calling-bot/graph-calling-bot-source';

const minimal = {
  provider: 'msgraph',
  id: 'teams-bot',
  botAppId: '7a6c3f52-1f1e-4d0c-9a53-2f8d9e4b6c10',
  tenantId: '3F0B9C1E-8D4A-4E7B-B2A6-5C9D1E0F7A24',
  allowedDownloadHosts: ['file.location'],
  mediaPersistenceApproved: true,
};

/** Each issue as `path: message`, the way the configuration loader reports them. */
function issues(value: unknown): string[] {
  const parsed = msgraphSourceSchema.safeParse(value);
  if (parsed.success) return [];
  return parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
}

describe('msgraph source configuration', () => {
  it('fills the documented defaults', () => {
    expect(msgraphSourceSchema.parse(minimal)).toEqual({
      ...minimal,
      enabled: true,
      retentionClass: 'standard',
    });
    expect(MSGRAPH_OPENID_CONFIGURATION_URL).toBe(
      'https://api.aps.skype.com/v1/.well-known/OpenIdConfiguration',
    );
    expect(MSGRAPH_ISSUERS).toEqual(['https://graph.microsoft.com', 'https://api.botframework.com']);
  });

  describe('notification signers', () => {
    const tenant = '3f0b9c1e-8d4a-4e7b-b2a6-5c9d1e0f7a24';
    const entra = {
      openIdConfigurationUrl: `https://login.microsoftonline.com/${tenant}/.well-known/openid-configuration`,
      issuers: [`https://sts.windows.net/${tenant}/`],
    };

    it('accepts the Bot Framework and the Entra (Azure AD) signers by default, for the source tenant', () => {
      expect(notificationSignersOf(msgraphSourceSchema.parse(minimal))).toEqual([
        { openIdConfigurationUrl: MSGRAPH_OPENID_CONFIGURATION_URL, issuers: [...MSGRAPH_ISSUERS] },
        entra,
      ]);
    });

    it('keeps openIdConfigurationUrl and allowedIssuers as the Bot Framework signer, beside Entra', () => {
      const config = msgraphSourceSchema.parse({
        ...minimal,
        openIdConfigurationUrl: 'http://127.0.0.1:8080/v1/.well-known/OpenIdConfiguration',
        allowedIssuers: ['https://api.botframework.com'],
      });
      expect(notificationSignersOf(config)).toEqual([
        {
          openIdConfigurationUrl: 'http://127.0.0.1:8080/v1/.well-known/OpenIdConfiguration',
          issuers: ['https://api.botframework.com'],
        },
        entra,
      ]);
    });

    it('takes a configured list as it is, with {tenantId} filled in', () => {
      const config = msgraphSourceSchema.parse({
        ...minimal,
        notificationSigners: [
          {
            openIdConfigurationUrl:
              'https://login.microsoftonline.com/{tenantId}/.well-known/openid-configuration',
            issuers: ['https://sts.windows.net/{tenantId}/'],
          },
        ],
      });
      expect(notificationSignersOf(config)).toEqual([entra]);
    });

    it.each([
      [
        'with openIdConfigurationUrl',
        {
          notificationSigners: [{ openIdConfigurationUrl: MSGRAPH_OPENID_CONFIGURATION_URL, issuers: ['a'] }],
          openIdConfigurationUrl: MSGRAPH_OPENID_CONFIGURATION_URL,
        },
        /not both/,
      ],
      [
        'naming one issuer twice',
        {
          notificationSigners: [
            { openIdConfigurationUrl: MSGRAPH_OPENID_CONFIGURATION_URL, issuers: ['https://x.example'] },
            { openIdConfigurationUrl: 'https://login.microsoftonline.com/x', issuers: ['https://x.example'] },
          ],
        },
        /named by two signers/,
      ],
      ['empty', { notificationSigners: [] }, /notificationSigners/],
      [
        'over plain http',
        {
          notificationSigners: [
            { openIdConfigurationUrl: 'http://login.microsoftonline.com/x', issuers: ['i'] },
          ],
        },
        /https/,
      ],
    ])('refuses notificationSigners %s', (_name, fields, message) => {
      const [problem, ...others] = issues({ ...minimal, ...fields });
      expect(others).toEqual([]);
      expect(problem).toMatch(/^notificationSigners/);
      expect(problem).toMatch(message);
    });
  });

  it.each([
    ['missing', undefined],
    ['false', false],
    ['the string "true"', 'true'],
  ])(
    'refuses the source when mediaPersistenceApproved is %s, naming the field, the reason and the README section',
    (_name, value) => {
      const [problem, ...others] = issues({ ...minimal, mediaPersistenceApproved: value });
      expect(others).toEqual([]);
      expect(problem).toMatch(/^mediaPersistenceApproved: must be true/);
      expect(problem).toContain('may not record or persist media');
      expect(problem).toContain(`"${MEDIA_PERSISTENCE_README_SECTION}"`);
      expect(MEDIA_PERSISTENCE_README_SECTION).toBe('Microsoft Graph calling bot: media persistence');
    },
  );

  it('requires allowedDownloadHosts, with no default', () => {
    const { allowedDownloadHosts: _hosts, ...withoutHosts } = minimal;
    expect(issues(withoutHosts)).toEqual([expect.stringMatching(/^allowedDownloadHosts: /)]);
    expect(issues({ ...minimal, allowedDownloadHosts: [] })).toEqual([
      'allowedDownloadHosts: list at least one host',
    ]);
    expect(issues({ ...minimal, allowedDownloadHosts: ['https://file.location/'] })).toEqual([
      expect.stringMatching(/^allowedDownloadHosts\.0: expected a host name/),
    ]);
  });

  it.each([
    ['botAppId', 'my-bot'],
    ['tenantId', 'contoso.onmicrosoft.com'],
    ['openIdConfigurationUrl', 'http://api.aps.skype.com/v1/.well-known/OpenIdConfiguration'],
    ['allowedIssuers', []],
    ['retention', { deleteFromSourceAfterDays: 30 }],
  ])('refuses an invalid %s', (field, value) => {
    expect(issues({ ...minimal, [field]: value })).toEqual([expect.stringMatching(new RegExp(`^${field}`))]);
  });

  it('accepts a loopback http key endpoint (sandboxes)', () => {
    expect(
      issues({
        ...minimal,
        openIdConfigurationUrl: 'http://127.0.0.1:8080/v1/.well-known/OpenIdConfiguration',
      }),
    ).toEqual([]);
  });

  it('refuses unknown fields', () => {
    expect(issues({ ...minimal, clientSecret: 'x' })).toEqual([expect.stringMatching(/clientSecret/)]);
  });

  it('will not build a source from a hand-made config that skips the approval', () => {
    const config = { ...msgraphSourceSchema.parse(minimal), mediaPersistenceApproved: false };
    expect(
      () => new GraphCallingBotSource({ config: config as unknown as z.infer<typeof msgraphSourceSchema> }),
    ).toThrow(/mediaPersistenceApproved must be true/);
  });
});
