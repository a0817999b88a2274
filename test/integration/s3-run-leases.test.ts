/**
 * The run lease that keeps retention runs (and subscriptions runs) from overlapping, now that neither
 * function reserves concurrency: S3 conditional writes on moto, raced the way overlapping Lambda
 * invocations would race.
 */
import { CreateBucketCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3RunLeases } from '../../functions/adapters/s3-run-leases';
import type { Clock } from '../../functions/core/ports';
import { runExclusively, runLeaseKey } from '../../functions/core/run-lease';
import { type MotoServer, motoAvailable, startMoto } from '../support/moto';

const BUCKET = 'callvault-leases';
/** A pinned instant: the lease compares expiries only, never calendars. */
const T0 = Date.UTC(2026, 10, 30, 12, 0, 0);

describe.skipIf(!motoAvailable())('run leases in the bucket (S3 conditional writes)', () => {
  let moto: MotoServer;
  let leases: S3RunLeases;

  beforeAll(async () => {
    moto = await startMoto();
    await moto.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    leases = new S3RunLeases({ client: moto.s3, bucket: BUCKET });
  });
  afterAll(async () => {
    await moto?.stop();
  });

  it('gives the lease to exactly one of many racing holders, and to nobody else until it expires or is given back', async () => {
    // Act: eight invocations start together.
    const holders = Array.from({ length: 8 }, (_, index) => `run-${index}`);
    const won = await Promise.all(holders.map((holder) => leases.acquire('retention', holder, 60_000, T0)));

    // Assess
    expect(won.filter(Boolean)).toHaveLength(1);
    const winner = holders[won.indexOf(true)] ?? '';
    const loser = holders.find((holder) => holder !== winner) ?? '';
    expect(await leases.acquire('retention', loser, 60_000, T0 + 59_000)).toBe(false);
    expect(await leases.acquire('retention', winner, 60_000, T0 + 1_000)).toBe(true); // its own, renewed
    // Another kind of run has its own lease.
    expect(await leases.acquire('subscriptions', loser, 60_000, T0)).toBe(true);
    // A loser's release changes nothing.
    await leases.release('retention', loser);
    expect(await leases.acquire('retention', loser, 60_000, T0 + 2_000)).toBe(false);
    // Given back: the next run takes it at once.
    await leases.release('retention', winner);
    expect(await leases.acquire('retention', loser, 60_000, T0 + 2_000)).toBe(true);
    // The holder dies: the lease expires and one of the next runs takes it over.
    const takeover = await Promise.all(
      ['late-a', 'late-b', 'late-c'].map((holder) =>
        leases.acquire('retention', holder, 60_000, T0 + 62_001),
      ),
    );
    expect(takeover.filter(Boolean)).toHaveLength(1);
    const object = await moto.s3.send(
      new GetObjectCommand({ Bucket: BUCKET, Key: runLeaseKey('retention') }),
    );
    expect(JSON.parse(await object.Body!.transformToString())).toMatchObject({
      expiresAtMs: T0 + 62_001 + 60_000,
    });
  });

  it('runs one of two overlapping runs; a run that waits goes after the first one ends', async () => {
    // Prepare: a real clock (the wait is real), and a run that takes 500 ms.
    const clock: Clock = { now: () => new Date() };
    let running = 0;
    let most = 0;
    const run = async () => {
      running++;
      most = Math.max(most, running);
      await new Promise((resolve) => setTimeout(resolve, 500));
      running--;
      return 'done';
    };
    const options = (holder: string, waitMs = 0) => ({ holder, ttlMs: 60_000, clock, waitMs, pollMs: 100 });

    // Act
    const [first, second] = await Promise.all([
      runExclusively(leases, 'backfill', options('a'), run),
      runExclusively(leases, 'backfill', options('b'), run),
    ]);
    const [third, fourth] = await Promise.all([
      runExclusively(leases, 'backfill', options('c', 5_000), run),
      runExclusively(leases, 'backfill', options('d', 5_000), run),
    ]);

    // Assess: never two at once; without waiting one stands down, with waiting both run in turn.
    expect([first.ran, second.ran].sort()).toEqual([false, true]);
    expect([third, fourth]).toEqual([
      { ran: true, result: 'done' },
      { ran: true, result: 'done' },
    ]);
    expect(most).toBe(1);
  });
});
