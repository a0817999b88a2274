import { describe, expect, it } from 'vitest';
import type { StatusReport } from '../../../functions/ops/status-report';
import { formatStatus } from '../../../functions/ops/status-table';

describe('formatStatus', () => {
  it('shows listed against archived per user, flags a user short of copies, and the subscriptions', () => {
    const report: StatusReport = {
      generatedAt: '2026-11-30T12:00:00.000Z',
      mode: 'local',
      archive: './archive',
      days: ['2026-11-30'],
      queues: [],
      sources: [
        {
          provider: 'msteams',
          sourceId: 'contoso',
          webhookOnly: false,
          daysWithMissing: ['2026-11-30'],
          days: [
            {
              day: '2026-11-30',
              atSource: { count: 3, bytes: 0 },
              archived: { count: 2, bytes: 2048 },
              withoutSidecar: 0,
              missing: 1,
              deletedAtSource: 0,
              goneAtSource: 0,
              byUser: [
                { user: 'alice', listed: 2, archived: 2 },
                { user: 'bob', listed: 1, archived: 0 },
              ],
            },
          ],
          lastRuns: {
            subscriptions: {
              kind: 'subscriptions',
              sourceId: 'contoso',
              startedAt: '2026-11-30T11:00:00.000Z',
              endedAt: '2026-11-30T11:00:01.000Z',
              outcome: 'ok',
              summary: { active: [{ id: 's1', filter: 'calls', expiresAt: '2026-12-02T11:00:00.000Z' }] },
            },
          },
        },
      ],
    };

    const text = formatStatus(report);

    expect(text).toContain('  per user (listed / archived):');
    expect(text).toContain('    2026-11-30  alice 2/2, bob 1/0 !');
    expect(text).toContain(
      '  subscriptions:  1 active, next expiry 2026-12-02T11:00:00.000Z, checked 2026-11-30T11:00:01.000Z',
    );
  });
});
