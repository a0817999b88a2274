import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../functions/config';
import { RateLimitedError, TransientError } from '../../../functions/core/errors';
import { createBackfillProgress } from '../../../functions/ops/backfill-progress';
import { RateLimitWaitTooLongError, withRateLimitWaits } from '../../../functions/ops/rate-limit-wait';
import {
  estimateStorage,
  putRequestsPerRecording,
  storagePolicyFor,
} from '../../../functions/ops/storage-cost';
import { daysBetween, lastDays, parseUtcDate, utcMonths } from '../../../functions/ops/utc-days';

describe('utc days', () => {
  it('parses real dates only, naming the option', () => {
    expect(parseUtcDate('2024-02-29', '--from').toISOString()).toBe('2024-02-29T00:00:00.000Z');
    expect(() => parseUtcDate('2023-02-29', '--from')).toThrow('--from "2023-02-29" is not a valid date');
    expect(() => parseUtcDate('2024-3-1', '--to')).toThrow('--to "2024-3-1"');
    expect(() => parseUtcDate(undefined, '--to')).toThrow('--to is required');
  });

  it('walks days inclusively and splits months', () => {
    expect(
      daysBetween(new Date('2024-02-28T00:00:00Z'), new Date('2024-03-01T00:00:00Z')).map((d) =>
        d.toISOString().slice(0, 10),
      ),
    ).toEqual(['2024-02-28', '2024-02-29', '2024-03-01']);
    expect(lastDays(new Date('2024-03-01T13:00:00Z'), 2).map((d) => d.toISOString())).toEqual([
      '2024-02-29T00:00:00.000Z',
      '2024-03-01T00:00:00.000Z',
    ]);
    expect(
      utcMonths({ from: new Date('2024-01-20T00:00:00Z'), to: new Date('2024-03-02T00:00:00Z') }).map(
        (m) => m.label,
      ),
    ).toEqual(['2024-01', '2024-02', '2024-03']);
  });
});

describe('withRateLimitWaits', () => {
  it('waits the provider figure plus a second, then succeeds', async () => {
    const slept: number[] = [];
    let calls = 0;
    const result = await withRateLimitWaits(
      async () => {
        calls += 1;
        if (calls < 3) throw new RateLimitedError('429', 5);
        return 'ok';
      },
      { maxWaitSeconds: 60, sleep: async (ms) => void slept.push(ms) },
    );
    expect(result).toBe('ok');
    expect(slept).toEqual([6000, 6000]);
  });

  it('gives up when the wait exceeds the maximum, and never retries other errors', async () => {
    await expect(
      withRateLimitWaits(() => Promise.reject(new RateLimitedError('429', 7200)), {
        maxWaitSeconds: 3600,
        sleep: async () => {},
      }),
    ).rejects.toBeInstanceOf(RateLimitWaitTooLongError);
    let calls = 0;
    await expect(
      withRateLimitWaits(
        () => {
          calls += 1;
          return Promise.reject(new TransientError('boom'));
        },
        { maxWaitSeconds: 60, sleep: async () => {} },
      ),
    ).rejects.toThrow('boom');
    expect(calls).toBe(1);
  });
});

describe('storage estimate', () => {
  it('counts PUT-class requests as the S3 store makes them', () => {
    const part = 8 * 1024 * 1024;
    expect(putRequestsPerRecording(1_000_000, part)).toBe(2);
    // 20 MiB: create + 3 parts + complete, the SHA-256 tag, sidecar.
    expect(putRequestsPerRecording(20 * 1024 * 1024, part)).toBe(7);
    // 1 GiB: create + 128 parts + complete, tag, sidecar.
    expect(putRequestsPerRecording(1024 ** 3, part)).toBe(132);
  });

  it('prices Standard and the source class transitions', () => {
    const config = parseConfig({
      lifecycle: {
        transitions: [{ storageClass: 'GLACIER_IR', afterDays: 30 }],
        retentionClasses: { legal: { transitions: [{ storageClass: 'DEEP_ARCHIVE', afterDays: 0 }] } },
      },
    });
    const gib = 1024 ** 3;
    const standard = estimateStorage({ count: 1000, bytes: 100 * gib }, config, 'standard');
    expect(standard.standardUsdPerMonth).toBeCloseTo(2.3);
    expect(standard.transitions).toEqual([
      { storageClass: 'GLACIER_IR', afterDays: 30, usdPerMonth: 0.4, transitionCostUsd: 0.02 },
    ]);
    expect(standard.putRequests).toBe(1000 * putRequestsPerRecording((100 * gib) / 1000, 8 * 1024 * 1024));
    expect(storagePolicyFor(config, 'legal').transitions[0]?.storageClass).toBe('DEEP_ARCHIVE');
    expect(storagePolicyFor(config, 'unlisted').transitions).toEqual([]);
  });
});

describe('backfill progress', () => {
  it('prints plain lines with totals, rate and ETA off a TTY', () => {
    let clock = 0;
    const out: string[] = [];
    const progress = createBackfillProgress({
      tty: false,
      write: (text) => out.push(text),
      verb: 'archived',
      now: () => clock,
      plainIntervalMs: 0,
    });
    progress.start({ total: { count: 10, bytes: 10_000 }, done: { count: 2, bytes: 2_000 } });
    clock = 2_000;
    progress.handled(2_000);
    progress.handled(2_000);
    const last = out.at(-1) ?? '';
    expect(last).toContain('progress: 4/10 recordings (40%)');
    expect(last).toContain('2 archived');
    expect(last).toContain('2.0 KiB/s');
    // 4,000 bytes left (2,000 carried over + 4,000 now) at 2,000 bytes/s.
    expect(last).toContain('ETA 2s');
    expect(out.join('')).not.toContain('\r');
  });
});
