import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { recordingKey } from '../../../../functions/core/keys';
import { buildSidecar } from '../../../../functions/core/sidecar';
import {
  MSTEAMS_MEDIA_PERSISTENCE_README_SECTION,
  teamsRecordingsCredentialsSchema,
  teamsRecordingsDownloadHosts,
  teamsRecordingsSourceSchema,
} from '../../../../functions/providers/teams-recordings/teams-recordings-config';
import { MSTEAMS_ADMIN_README_SECTION } from '../../../../functions/providers/teams-recordings/teams-recordings-errors';
import { recordingFromCallRecording } from '../../../../functions/providers/teams-recordings/teams-recordings-resources';

const TENANT = '2432b57b-0abd-43db-aa7b-16eadd115d34';
const minimal = {
  provider: 'msteams',
  id: 'contoso-teams',
  tenantId: TENANT,
  users: 'all',
  mediaPersistenceApproved: true,
};

describe('msteams source configuration', () => {
  it('fills the documented defaults', () => {
    // Act
    const config = teamsRecordingsSourceSchema.parse(minimal);

    // Assess
    expect(config).toMatchObject({
      loginUrl: 'https://login.microsoftonline.com',
      graphUrl: 'https://graph.microsoft.com',
      recordings: ['adhocCalls', 'onlineMeetings'],
      users: 'all',
      contentWaitHours: 48,
      enabled: true,
    });
    expect(teamsRecordingsDownloadHosts(config)).toEqual([
      'graph.microsoft.com:443',
      'graph.microsoft.com',
      '*.sharepoint.com',
    ]);
  });

  it('refuses the source unless media persistence was approved, saying why', () => {
    // Act
    const result = teamsRecordingsSourceSchema.safeParse({ ...minimal, mediaPersistenceApproved: false });

    // Assess
    expect(result.success).toBe(false);
    expect(JSON.stringify(result.error?.issues)).toContain('legal review');
  });

  it('requires a user scope, accepts ids and UPNs, and refuses anything else', () => {
    // Act
    const { users: _users, ...withoutUsers } = minimal;
    const missing = teamsRecordingsSourceSchema.safeParse(withoutUsers);
    const listed = teamsRecordingsSourceSchema.safeParse({
      ...minimal,
      users: ['d4220f1b-4c12-436c-8a03-dc3e362f9d54', 'alice@contoso.com'],
    });
    const bad = teamsRecordingsSourceSchema.safeParse({ ...minimal, users: ['alice'] });
    const empty = teamsRecordingsSourceSchema.safeParse({ ...minimal, users: [] });

    // Assess
    expect(missing.success).toBe(false);
    expect(listed.success).toBe(true);
    expect(bad.success).toBe(false);
    expect(empty.success).toBe(false);
  });

  it('refuses plain http off loopback and URLs with paths, and unknown recording kinds', () => {
    // Act
    const results = [
      { ...minimal, graphUrl: 'http://graph.microsoft.com' },
      { ...minimal, loginUrl: 'https://login.microsoftonline.com/tenant' },
      { ...minimal, recordings: ['channelMeetings'] },
      { ...minimal, retention: { deleteFromSourceAfterDays: 30 } },
    ].map((input) => teamsRecordingsSourceSchema.safeParse(input).success);

    // Assess
    expect(results).toEqual([false, false, false, false]);
  });

  it('reads the secret as clientId, clientSecret and an optional webhookSecret', () => {
    // Act
    const parsed = teamsRecordingsCredentialsSchema.safeParse({ clientId: 'app', clientSecret: 's3cret' });
    const short = teamsRecordingsCredentialsSchema.safeParse({
      clientId: 'app',
      clientSecret: 's',
      webhookSecret: 'short',
    });

    // Assess
    expect(parsed.success).toBe(true);
    expect(short.success).toBe(false);
  });
});

describe('msteams keys and sidecar', () => {
  // Teams ids of one organizer share long prefixes; these two differ only after 200 characters.
  const prefix = 'VjIjIzE5NzZmNGIzMS1mZDAxLTRlMGItOTE3OC0yOWNjNDBjMTQ0Mzgy'.repeat(4).slice(0, 200);
  const first = `${prefix}${'A'.repeat(68)}MTc1OTgyMTkyMS1SZWNvcmRpbmc=`;
  const second = `${prefix}${'A'.repeat(68)}MTc1OTgxODY3My1SZWNvcmRpbmc=`;

  function recordingOf(id: string) {
    return recordingFromCallRecording(
      {
        id,
        meetingId: 'MSoxYzkxNjVmZi1hZTkyLTQ5YWYtODliNC00MTU1NTRhMzZhNTEqMCoq',
        contentCorrelationId: '7cc3ae2a-0aa9-4e47-9d85-e98e607d1af2-20251007_072521',
        createdDateTime: '2025-10-07T23:59:59.9730833Z',
        endDateTime: '2025-10-08T00:25:52.4130833Z',
        meetingOrganizer: { user: { id: 'd4220f1b-4c12-436c-8a03-dc3e362f9d54', displayName: null } },
      },
      { sourceId: 'contoso-teams', kind: 'onlineMeetings', userId: 'd4220f1b-4c12-436c-8a03-dc3e362f9d54' },
    );
  }

  it('keys two ~270-character ids that share a 200-character prefix apart, within a bounded length', () => {
    // Act
    const keys = [first, second].map((id) => recordingKey(recordingOf(id)));

    // Assess
    expect(first.length).toBeGreaterThan(260);
    expect(first.slice(0, 200)).toBe(second.slice(0, 200));
    expect(keys[0]).not.toBe(keys[1]);
    for (const key of keys) {
      expect(key).toMatch(/^recordings\/msteams\/contoso-teams\/2025\/10\/07\/[A-Za-z0-9._-]+\.mp4$/);
      expect(key.split('/').at(-1)?.length).toBeLessThanOrEqual(124);
    }
  });

  it('keeps the full id, kind, meeting, organizer, correlation id, times and raw metadata in the sidecar', () => {
    // Prepare
    const recording = recordingOf(first);

    // Act
    const sidecar = buildSidecar(recording, {
      objectKey: recordingKey(recording),
      size: 1024,
      sha256: 'a'.repeat(64),
      contentType: 'video/mp4',
      archivedAt: new Date('2025-10-08T01:00:00Z'),
    });

    // Assess
    expect(sidecar).toMatchObject({
      provider: 'msteams',
      recordingId: first,
      callId: 'MSoxYzkxNjVmZi1hZTkyLTQ5YWYtODliNC00MTU1NTRhMzZhNTEqMCoq',
      startedAt: '2025-10-07T23:59:59.973Z',
      endedAt: '2025-10-08T00:25:52.413Z',
      raw: {
        kind: 'meeting',
        recordingId: first,
        meetingId: 'MSoxYzkxNjVmZi1hZTkyLTQ5YWYtODliNC00MTU1NTRhMzZhNTEqMCoq',
        callId: null,
        organizer: { id: 'd4220f1b-4c12-436c-8a03-dc3e362f9d54' },
        contentCorrelationId: '7cc3ae2a-0aa9-4e47-9d85-e98e607d1af2-20251007_072521',
        createdDateTime: '2025-10-07T23:59:59.973Z',
        endDateTime: '2025-10-08T00:25:52.413Z',
        metadata: expect.objectContaining({ id: first, createdDateTime: '2025-10-07T23:59:59.9730833Z' }),
      },
    });
  });
});

describe('the README sections the Teams messages name', () => {
  it('exist as headings, so an administrator following a message finds them', () => {
    const readme = readFileSync(join(__dirname, '../../../../README.md'), 'utf8');
    for (const section of [MSTEAMS_ADMIN_README_SECTION, MSTEAMS_MEDIA_PERSISTENCE_README_SECTION]) {
      expect(readme).toMatch(new RegExp(`^#+ ${section.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
    }
  });
});
