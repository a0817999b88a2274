/**
 * The resource paths of Teams change notifications, read segment by segment. The fixtures marked "docs"
 * are copied literally from Microsoft's page "Get change notifications for Teams recordings and
 * transcripts" (microsoft-graph-docs-contrib, concepts/teams-changenotifications-callrecording-and-calltranscript.md):
 * the current revision's payloads, and the tenant-wide form of an older revision.
 */
import { describe, expect, it } from 'vitest';
import {
  parseRecordingResource,
  readTeamsResource,
  sweepableUserId,
} from '../../../../functions/providers/teams-recordings/teams-recordings-resources';
import { handleTeamsRecordingsWebhook } from '../../../../functions/providers/teams-recordings/teams-recordings-webhook';
import { recordingLog, WEBHOOK_SECRET } from './teams-recordings-fixture';

const LONG_ADHOC_RECORDING =
  'MyMjMTk6ODA4MTExMTNiYWQzNDNhYzkzNGI2YTVmYzc1ZThmZGJAdGhyZWFkLnYyIyM1MTYwNzQ4MC1kM2FjLTRlZTQtOTQ3NS1lYjM2NTk5MjM4ZDYtMTc1MzM0NTA2OC1UcmFuc2NyaXB0VjI=';
const OLD_MEETING =
  'MSo5NzZmNGIzMS1mZDAxLTRlMGItOTE3OC0yOWNjNDBjMTQ0MzgqMCoqMTk6bWVldGluZ19NMk0zTlRReFkySXRaamsyWmkwME5UTTRMV0l4TTJFdE1EQmtPV1E1TW1Rek0yRXhAdGhyZWFkLnYy';
const OLD_RECORDING =
  'VjIjIzE5NzZmNGIzMS1mZDAxLTRlMGItOTE3OC0yOWNjNDBjMTQ0MzgyNDMyYjU3Yi0wYWJkLTQzZGItYWE3Yi0xNmVhZGQxMTVkMzQwNDAwMDAwMDgyMDBFMDAwNzRDNUI3MTAxQTgyRTAwODAwMDAwMDAwMDZhODllMWZkYmJlZDkwMTAwMDAwMDAwMDAwMDAwMDAxMDAwMDAwMDA5NzUzYzg5ZWI3MmJkNDJiYWZjMTVkZDA4NWNmNWJlIyNjZmNjNTBjMy0zODllLTQyOTUtOWRiNy1mMjkwYWY2NDJlNzI=';

/** Docs, current revision: every `resource` and `@odata.id` of a recording notification. */
const DOCS_RECORDINGS = [
  {
    what: 'meeting recording (resource and @odata.id)',
    path: "users/{organizer-id}/onlineMeetings('Mso...')/recordings('VjI...')",
    expected: {
      kind: 'onlineMeetings',
      userId: '{organizer-id}',
      containerId: 'Mso...',
      recordingId: 'VjI...',
    },
  },
  {
    what: 'ad hoc call recording with resource data (resource)',
    path: `users/{user-id}/adhoccalls('1c9ddbc9-82be-46b6-8edd-bf833fe33a03')/recordings('${LONG_ADHOC_RECORDING}')`,
    expected: {
      kind: 'adhocCalls',
      userId: '{user-id}',
      containerId: '1c9ddbc9-82be-46b6-8edd-bf833fe33a03',
      recordingId: LONG_ADHOC_RECORDING,
    },
  },
  {
    what: 'ad hoc call recording with resource data (@odata.id, key unquoted)',
    path: `users/{user-id}/adhoccalls('1c9ddbc9-82be-46b6-8edd-bf833fe33a03')/recordings(${LONG_ADHOC_RECORDING})`,
    expected: {
      kind: 'adhocCalls',
      userId: '{user-id}',
      containerId: '1c9ddbc9-82be-46b6-8edd-bf833fe33a03',
      recordingId: LONG_ADHOC_RECORDING,
    },
  },
  {
    what: 'ad hoc call recording without resource data (resource, collection doubled)',
    path: "users/{user-id}/adhoccalls/adhocCalls/1c9ddbc9-82be-46b6-8edd-bf833fe33a03/recordings('MyM...')",
    expected: {
      kind: 'adhocCalls',
      userId: '{user-id}',
      containerId: '1c9ddbc9-82be-46b6-8edd-bf833fe33a03',
      recordingId: 'MyM...',
    },
  },
  {
    what: 'ad hoc call recording without resource data (@odata.id)',
    path: "users/{user-id}/adhoccalls/1c9ddbc9-82be-46b6-8edd-bf833fe33a03/recordings('MyM...')",
    expected: {
      kind: 'adhocCalls',
      userId: '{user-id}',
      containerId: '1c9ddbc9-82be-46b6-8edd-bf833fe33a03',
      recordingId: 'MyM...',
    },
  },
  {
    what: 'meeting recording, older revision (tenant-wide, no user)',
    path: `communications/onlineMeetings('${OLD_MEETING}')/recordings('${OLD_RECORDING}')`,
    expected: { kind: 'onlineMeetings', containerId: OLD_MEETING, recordingId: OLD_RECORDING },
  },
] as const;

/** Docs, current revision: transcripts. Known resources, not recordings. */
const DOCS_TRANSCRIPTS = [
  `users/{user-id}/adhocCalls/1c9ddbc9-82be-46b6-8edd-bf833fe33a03/transcripts/${LONG_ADHOC_RECORDING}`,
  "users/{user-id}/adhoccalls/1c9ddbc9-82be-46b6-8edd-bf833fe33a03/transcripts('MyM...')",
  "users/f2e8e111-3887-4936-87f8-639292c70d34/adhoccalls/5f3640e7-a59c-4bec-82ca-e66251f795b7/transcripts('MyM...')",
  "users/{organizer-id}/onlineMeetings('Mso...')/transcripts('MSM...')",
  "communications/onlineMeetings('MSo5NzZm')/transcripts('MSMjMCMjOGIz')",
];

const USER = '976f4b31-fd01-4e0b-9178-29cc40c14438';

describe('readTeamsResource', () => {
  it.each(DOCS_RECORDINGS)('reads the docs spelling: $what', ({ path, expected }) => {
    expect(readTeamsResource(path)).toEqual({ type: 'recording', reference: expected });
    expect(parseRecordingResource(path)).toEqual(expected);
  });

  it.each(DOCS_TRANSCRIPTS)('knows a transcript is not a recording: %s', (path) => {
    expect(readTeamsResource(path)).toMatchObject({ type: 'not-a-recording', what: 'transcripts' });
    expect(parseRecordingResource(path)).toBeUndefined();
  });

  it.each([
    [`/users/${USER}/onlineMeetings('m-1')/recordings('r-1')`, 'a leading slash'],
    [`v1.0/users/${USER}/onlineMeetings('m-1')/recordings('r-1')`, 'v1.0/'],
    [`/beta/users/${USER}/onlineMeetings('m-1')/recordings('r-1')`, '/beta/'],
    [
      `https://graph.microsoft.com/v1.0/users/${USER}/onlineMeetings('m-1')/recordings('r-1')`,
      'an absolute URL',
    ],
    [`users('${USER}')/onlineMeetings('m-1')/recordings('r-1')`, "users('id')"],
    [`users(${USER})/onlineMeetings(m-1)/recordings(r-1)`, 'unquoted keys everywhere'],
    [`users/${USER}/onlineMeetings/m-1/recordings/r-1`, 'keys as segments'],
    [`users/${USER}/onlinemeetings/onlineMeetings/m-1/recordings/r-1`, 'the collection doubled, as segments'],
    [`users/${USER}/onlinemeetings/onlineMeetings('m-1')/recordings('r-1')`, 'the collection doubled, keyed'],
    [`USERS/${USER}/ONLINEMEETINGS('m-1')/RECORDINGS('r-1')`, 'upper case names'],
    [`users/${USER}/onlineMeetings('m-1')/recordings('r-1')`, 'the plain form'],
  ])('reads %s (%s)', (path) => {
    expect(parseRecordingResource(path)).toEqual({
      kind: 'onlineMeetings',
      userId: USER,
      containerId: 'm-1',
      recordingId: 'r-1',
    });
  });

  it('keeps keys whole: doubled quotes, slashes and parentheses inside quotes, percent-encoding', () => {
    expect(parseRecordingResource("communications/adhocCalls('c-''2')/recordings('r/2)=')")).toEqual({
      kind: 'adhocCalls',
      containerId: "c-'2",
      recordingId: 'r/2)=',
    });
    expect(parseRecordingResource(`users/${USER}/adhocCalls/c%2F3/recordings/r%2B3%3D`)).toEqual({
      kind: 'adhocCalls',
      userId: USER,
      containerId: 'c/3',
      recordingId: 'r+3=',
    });
    // An unquoted base64 key may hold `/`: it runs to its `)`.
    expect(parseRecordingResource(`users/${USER}/adhoccalls('c-4')/recordings(ab/cd+ef=)`)).toEqual({
      kind: 'adhocCalls',
      userId: USER,
      containerId: 'c-4',
      recordingId: 'ab/cd+ef=',
    });
  });

  it.each([
    [`users/${USER}/chats('19:abc')/messages('1')`, USER],
    [`users/${USER}/onlineMeetings('m-1')/recordings`, USER],
    [`users/${USER}/onlineMeetings('m-1')/recordings('r-1')/content`, USER],
    [`users('${USER}')/onlineMeetings('m-1')/recordingArtifacts('r-1')`, USER],
    ["communications/callRecords('x')", undefined],
    ["onlineMeetings('m-1')/recordings('r-1')", undefined],
    ["users/onlineMeetings('m-1')/recordings('r-1')", undefined],
    ["users('unterminated/onlineMeetings('m')/recordings('r')", undefined],
    ['', undefined],
    ['////', undefined],
  ])('reads %s as unrecognised, keeping the user it names (%s)', (path, userId) => {
    const reading = readTeamsResource(path);
    expect(reading.type).toBe('unrecognised');
    expect(reading.type === 'unrecognised' ? reading.userId : 'n/a').toBe(userId);
  });

  it('sweeps by a user only when the path names one by object id', () => {
    expect(sweepableUserId(USER.toUpperCase())).toBe(USER);
    expect(sweepableUserId('{user-id}')).toBeUndefined();
    expect(sweepableUserId('alice@contoso.example')).toBeUndefined();
    expect(sweepableUserId(undefined)).toBeUndefined();
  });
});

const context = {
  sourceId: 'contoso-teams',
  webhookSecret: WEBHOOK_SECRET,
  tenantId: '2432b57b-0abd-43db-aa7b-16eadd115d34',
  clock: { now: () => new Date('2024-03-12T10:00:00Z') },
};

function deliver(notifications: Record<string, unknown>[]) {
  const log = recordingLog();
  const outcome = handleTeamsRecordingsWebhook(
    {
      method: 'POST',
      query: {},
      headers: {},
      body: JSON.stringify({
        value: notifications.map((notification) => ({
          subscriptionId: '871b5d27-6f77-4100-b78d-bc443873324e',
          changeType: 'created',
          clientState: WEBHOOK_SECRET,
          tenantId: context.tenantId,
          ...notification,
        })),
      }),
    },
    { ...context, log },
  );
  return { outcome, log };
}

describe('the Teams webhook with the docs payloads', () => {
  it('hints every docs recording notification and ignores every transcript, dropping nothing', () => {
    // Act
    const { outcome } = deliver([
      ...DOCS_RECORDINGS.map(({ path }) => ({
        resource: path,
        resourceData: { id: 'x', '@odata.type': '#Microsoft.Graph.callRecording', '@odata.id': path },
      })),
      ...DOCS_TRANSCRIPTS.map((path) => ({
        resource: path,
        resourceData: { '@odata.type': '#Microsoft.Graph.callTranscript', '@odata.id': path },
      })),
    ]);

    // Assess: each ad hoc pair (resource and @odata.id of one docs payload) names one recording: one job.
    expect(outcome.response.status).toBe(202);
    expect(outcome.counts).toMatchObject({
      recordingsHinted: 4,
      duplicateNotifications: 2,
      nonRecordingResources: DOCS_TRANSCRIPTS.length,
      unrecognisedResources: 0,
    });
    expect(outcome.notUnderstood).toBeUndefined();
    expect(outcome.jobs.map((job) => job.type === 'hint' && job.hint)).toContainEqual({
      kind: 'adhocCalls',
      userId: '{user-id}',
      callId: '1c9ddbc9-82be-46b6-8edd-bf833fe33a03',
      recordingId: LONG_ADHOC_RECORDING,
    });
  });

  it("takes the recording from @odata.id when the resource is unreadable (the docs' ad hoc call pair)", () => {
    const { outcome } = deliver([
      {
        resource: `users/{user-id}/adhoccalls('1c9ddbc9-82be-46b6-8edd-bf833fe33a03')/recordingsV2('x')`,
        resourceData: {
          '@odata.id': `users/{user-id}/adhoccalls('1c9ddbc9-82be-46b6-8edd-bf833fe33a03')/recordings(${LONG_ADHOC_RECORDING})`,
        },
      },
    ]);
    expect(outcome.counts.recordingsHinted).toBe(1);
    expect(outcome.notUnderstood).toBeUndefined();
  });

  it('never drops an unreadable resource: logged with its text, counted, and a sweep of its user asked for', () => {
    // Act
    const { outcome, log } = deliver([
      { resource: `users/${USER}/onlineMeetings('m-1')/recordingArtifacts('r-1')` },
      { resource: `Users('${USER.toUpperCase()}')/someNewCollection('z')` },
    ]);

    // Assess
    expect(outcome.response.status).toBe(202);
    expect(outcome.jobs).toEqual([]);
    expect(outcome.counts.unrecognisedResources).toBe(2);
    expect(outcome.notUnderstood).toEqual({ events: 2, subjects: [USER] });
    const lines = log.lines.filter((line) => line.message.startsWith('teams notification names a resource'));
    expect(lines.map((line) => line.attributes)).toEqual([
      expect.objectContaining({
        resource: `users/${USER}/onlineMeetings('m-1')/recordingArtifacts('r-1')`,
        sweep: 'user',
        userId: USER,
      }),
      expect.objectContaining({
        resource: `Users('${USER.toUpperCase()}')/someNewCollection('z')`,
        sweep: 'user',
      }),
    ]);
  });

  it('asks for a sweep of the whole source when an unreadable resource names no user it can sweep by', () => {
    const { outcome } = deliver([
      { resource: `users/${USER}/onlineMeetings('m-1')/recordingArtifacts('r-1')` },
      { resource: "users/{user-id}/adhoccalls('c')/transcriptsV9('t')" },
      { resourceData: { id: 'r-9' } },
    ]);
    expect(outcome.notUnderstood).toEqual({ events: 3 });
  });

  it('refuses a delivery whose only notification has a wrong clientState, asking for no sweep', () => {
    const { outcome } = deliver([{ clientState: 'not-ours', resource: 'garbage' }]);
    expect(outcome.response.status).toBe(403);
    expect(outcome.notUnderstood).toBeUndefined();
  });
});
