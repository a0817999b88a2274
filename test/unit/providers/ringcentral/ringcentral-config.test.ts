import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { retentionSettingsSchema } from '../../../../functions/config';
import {
  type RingCentralSourceConfig,
  ringCentralDownloadHosts,
  ringCentralSourceSchema,
  ringCentralSourceShape,
} from '../../../../functions/providers/ringcentral/ringcentral-config';

function issues(value: unknown): string[] {
  const parsed = ringCentralSourceSchema.safeParse(value);
  if (parsed.success) return [];
  return parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
}

const minimal = { provider: 'ringcentral', id: 'rc-main' };

describe('RingCentral source configuration', () => {
  it('fills the documented defaults', () => {
    // Act
    const config = ringCentralSourceSchema.parse(minimal);

    // Assess
    expect(config).toEqual({
      provider: 'ringcentral',
      id: 'rc-main',
      enabled: true,
      serverUrl: 'https://platform.ringcentral.com',
      mediaUrl: 'https://media.ringcentral.com',
      scope: { account: '~' },
      rateLimits: { heavyPerMinute: 10 },
      recordingFormat: 'mp3',
      retentionClass: 'standard',
    });
    expect(ringCentralDownloadHosts(config)).toEqual(['platform.ringcentral.com', 'media.ringcentral.com']);
  });

  it('accepts the issue example, and explicit download hosts replace the default', () => {
    // Act
    const config = ringCentralSourceSchema.parse({
      ...minimal,
      clientId: 'client-id',
      clientSecret: 'client-secret',
      jwt: 'eyJhbGciOiJSUzI1NiJ9.e30.sig',
      webhookSecret: 'verification-token-0123',
      scope: { extensions: ['101', '102'] },
      allowedDownloadHosts: ['media.ringcentral.com', '*.ringcentral.biz'],
      rateLimits: { heavyPerMinute: 20 },
      retentionClass: 'calls-7y',
      retention: { deleteFromSourceAfterDays: 60 },
    });

    // Assess
    expect(config.scope).toEqual({ account: '~', extensions: ['101', '102'] });
    expect(ringCentralDownloadHosts(config)).toEqual(['media.ringcentral.com', '*.ringcentral.biz']);
  });

  it('names the offending field in every error', () => {
    // Act / Assess
    expect(issues({ ...minimal, serverUrl: 'http://platform.ringcentral.com' })).toEqual([
      'serverUrl: use https (plain http only on loopback, for the sandbox)',
    ]);
    expect(issues({ ...minimal, mediaUrl: 'https://media.ringcentral.com/restapi' })).toEqual([
      'mediaUrl: give the origin only, like https://platform.ringcentral.com',
    ]);
    expect(issues({ ...minimal, scope: { extensions: ['101', 'sales'] } })).toEqual([
      'scope.extensions.1: extension numbers and ids are numeric',
    ]);
    expect(issues({ ...minimal, scope: { account: 'me' } })[0]).toMatch(/^scope\.account: /);
    expect(issues({ ...minimal, webhookSecret: 'short' })).toEqual([
      'webhookSecret: use at least 16 characters',
    ]);
    expect(issues({ ...minimal, rateLimits: { heavyPerMinute: 0 } })[0]).toMatch(
      /^rateLimits\.heavyPerMinute: /,
    );
    expect(issues({ ...minimal, recordingFormat: 'ogg' })[0]).toMatch(/^recordingFormat: /);
    expect(issues({ ...minimal, allowedDownloadHosts: ['https://media.ringcentral.com'] })[0]).toMatch(
      /^allowedDownloadHosts\.0: /,
    );
    expect(issues({ ...minimal, id: 'rc main' })[0]).toMatch(/^id: /);
    expect(issues({ ...minimal, password: 'x' })[0]).toMatch(/password/);
  });

  it('takes plain http on loopback only (the sandbox)', () => {
    // Act / Assess
    expect(
      issues({ ...minimal, serverUrl: 'http://127.0.0.1:4100', mediaUrl: 'http://localhost:4101' }),
    ).toEqual([]);
  });

  it('composes with the shared retention schema the way config.ts will', () => {
    // Prepare
    const composed = z
      .object({
        ...ringCentralSourceShape,
        retention: z.union([retentionSettingsSchema.partial(), z.literal(false)]).optional(),
      })
      .strict();

    // Act
    const parsed = composed.safeParse({ ...minimal, retention: { deleteFromSourceAfterDays: 0 } });
    const config: RingCentralSourceConfig = composed.parse({ ...minimal, retention: false });

    // Assess
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.path).toEqual(['retention', 'deleteFromSourceAfterDays']);
    expect(config.id).toBe('rc-main');
  });
});
