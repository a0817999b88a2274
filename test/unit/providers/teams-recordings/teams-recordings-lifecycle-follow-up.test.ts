/** The hand-off from the webhook function to the subscriptions function, as it crosses Lambda. */
import { describe, expect, it } from 'vitest';
import {
  parseTeamsRecordingsLifecycleFollowUp,
  teamsRecordingsLifecycleFollowUpOf,
} from '../../../../functions/providers/teams-recordings/teams-recordings-lifecycle-follow-up';

describe('Teams lifecycle follow-up', () => {
  it('is read from an invocation event, with each action derived from its event, never trusted', () => {
    const parsed = parseTeamsRecordingsLifecycleFollowUp({
      sourceId: 'teams',
      lifecycle: [
        { event: 'subscriptionRemoved', subscriptionId: 's1', action: 'sweep-now' },
        { event: 'reauthorizationRequired', subscriptionId: 's2' },
      ],
    });
    expect(parsed).toEqual({
      sourceId: 'teams',
      lifecycle: [
        { event: 'subscriptionRemoved', subscriptionId: 's1', action: 'recreate-subscription-and-sweep' },
        { event: 'reauthorizationRequired', subscriptionId: 's2', action: 'reauthorize-subscription' },
      ],
    });
  });

  it('is absent from a scheduled run, and an event that claims to be one but is not is refused', () => {
    expect(parseTeamsRecordingsLifecycleFollowUp({})).toBeUndefined();
    expect(
      parseTeamsRecordingsLifecycleFollowUp({ source: 'aws.events', 'detail-type': 'Scheduled Event' }),
    ).toBe(undefined);
    expect(() =>
      parseTeamsRecordingsLifecycleFollowUp({
        sourceId: 'teams',
        lifecycle: [{ event: 'deleteAll', subscriptionId: 'x' }],
      }),
    ).toThrow();
    expect(() => parseTeamsRecordingsLifecycleFollowUp({ sourceId: 'teams', lifecycle: [] })).toThrow();
  });

  it('is asked for by Teams deliveries carrying lifecycle events only', () => {
    const lifecycle = [{ event: 'missed' as const, subscriptionId: 's1', action: 'sweep-now' as const }];
    const outcome = { response: { status: 202, body: '' }, jobs: [], lifecycle };
    expect(teamsRecordingsLifecycleFollowUpOf('msteams', 'teams', outcome)).toEqual({
      sourceId: 'teams',
      lifecycle,
    });
    const withoutEvents = { ...outcome, lifecycle: [] };
    expect(teamsRecordingsLifecycleFollowUpOf('msteams', 'teams', withoutEvents)).toBeUndefined();
    expect(teamsRecordingsLifecycleFollowUpOf('ringcentral', 'rc', outcome)).toBeUndefined();
  });
});
