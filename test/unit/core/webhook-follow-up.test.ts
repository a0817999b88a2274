import { describe, expect, it } from 'vitest';
import {
  mergeFollowUps,
  parseWebhookFollowUp,
  webhookFollowUpOf,
} from '../../../functions/composition/webhook-follow-up';
import type { WebhookOutcome } from '../../../functions/core/ports';

const accepted = (extra: Partial<WebhookOutcome> & Record<string, unknown> = {}): WebhookOutcome => ({
  response: { status: 202, body: '' },
  jobs: [],
  ...extra,
});

describe('webhook follow-ups', () => {
  it('asks for nothing when every event was understood', () => {
    expect(webhookFollowUpOf('msteams', 'teams-1', accepted())).toBeUndefined();
    expect(
      webhookFollowUpOf('ringcentral', 'rc-1', accepted({ notUnderstood: { events: 0 } })),
    ).toBeUndefined();
  });

  it('asks for a sweep of the users named, or of the source, beside any Teams lifecycle events', () => {
    expect(
      webhookFollowUpOf('msteams', 'teams-1', accepted({ notUnderstood: { events: 2, subjects: ['u-1'] } })),
    ).toEqual({ provider: 'msteams', sourceId: 'teams-1', sweep: { subjects: ['u-1'] } });
    const lifecycle = [{ event: 'missed', subscriptionId: 's-1', action: 'sweep-now' }];
    expect(
      webhookFollowUpOf(
        'msteams',
        'teams-1',
        accepted({ lifecycle, notUnderstood: { events: 1, subjects: [] } }),
      ),
    ).toEqual({ provider: 'msteams', sourceId: 'teams-1', lifecycle, sweep: {} });
  });

  it('merges waiting follow-ups of one source into the wider sweep', () => {
    const of = (subjects?: string[]) => ({
      provider: 'msteams' as const,
      sourceId: 't',
      sweep: subjects ? { subjects } : {},
    });
    expect(mergeFollowUps(of(['a', 'b']), of(['b', 'c'])).sweep).toEqual({ subjects: ['a', 'b', 'c'] });
    expect(mergeFollowUps(of(['a']), of()).sweep).toEqual({});
  });

  it('reads what the webhook function hands on, re-deriving lifecycle actions and refusing anything else', () => {
    expect(parseWebhookFollowUp({ provider: 'telphin', sourceId: 'tp-1', sweep: {} })).toEqual({
      provider: 'telphin',
      sourceId: 'tp-1',
      sweep: {},
    });
    // The form Teams lifecycle hand-offs had before: no provider, lifecycle only.
    expect(
      parseWebhookFollowUp({
        sourceId: 'teams-1',
        lifecycle: [{ event: 'missed', subscriptionId: 's-1', action: 'x' }],
      }),
    ).toEqual({
      provider: 'msteams',
      sourceId: 'teams-1',
      lifecycle: [{ event: 'missed', subscriptionId: 's-1', action: 'sweep-now' }],
    });
    expect(parseWebhookFollowUp({})).toBeUndefined();
    expect(parseWebhookFollowUp(undefined)).toBeUndefined();
    expect(() => parseWebhookFollowUp({ provider: 'fax', sourceId: 'x', sweep: {} })).toThrow();
    expect(() => parseWebhookFollowUp({ sourceId: 'x', sweep: { subjects: 'all' } })).toThrow();
  });
});
