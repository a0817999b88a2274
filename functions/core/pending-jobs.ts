import { randomUUID } from 'node:crypto';
import type { Log } from './ports';
import type { TokenStore } from './shared-state';

/** The lease operations a pending marker needs: a conditional write that expires on its own. */
export type PendingLeaseStore = Pick<TokenStore, 'tryLease' | 'releaseLease'>;

/**
 * How sweeps remember what they already queued. A recording waiting at its source (a Teams recording
 * still processing, a RingCentral backlog behind its Heavy budget) stays unarchived for hours, and every
 * sweep in between would queue it again: duplicate jobs that spend the platform's budget and the worker's
 * time. A marker per recording, taken with a conditional write, stops that; it expires after `holdMs` on
 * its own, so a job that was lost (a dead letter never redriven, a queue purged) is queued again by the
 * first sweep after that, and nothing becomes unrecoverable.
 */
export interface PendingJobsSettings {
  leases: PendingLeaseStore;
  /** How long a marker holds; 0 turns markers off. */
  holdMs: number;
}

const KEY_PREFIX = 'pending#';

/**
 * The markers one sweep run takes. Its holder name is new per run, so a later run (even in the same
 * container) never counts as the holder of an earlier run's marker.
 */
export class PendingJobMarkers {
  private readonly holder = `sweep-${randomUUID()}`;

  constructor(
    private readonly settings: PendingJobsSettings,
    private readonly log: Log,
  ) {}

  /**
   * True when this run may queue the recording: no unexpired marker existed and this run now holds one.
   * When the store cannot answer, the recording is queued anyway: a duplicate job is harmless (the
   * archive write is conditional), a job not queued would be a recording left behind.
   */
  async claim(stem: string, nowMs: number): Promise<boolean> {
    if (this.settings.holdMs <= 0) return true;
    try {
      return await this.settings.leases.tryLease(KEY_PREFIX + stem, this.holder, this.settings.holdMs, nowMs);
    } catch (error) {
      this.log.warn('could not check whether a recording is already queued; queueing it anyway', {
        recording: stem,
        error: String(error),
      });
      return true;
    }
  }

  /** Gives markers back when queueing their jobs failed, so the next sweep tries them again at once. */
  async release(stems: readonly string[]): Promise<void> {
    if (this.settings.holdMs <= 0) return;
    await Promise.all(
      stems.map((stem) =>
        this.settings.leases.releaseLease(KEY_PREFIX + stem, this.holder).catch((error) => {
          this.log.warn('could not release a pending marker; it expires on its own', {
            recording: stem,
            error: String(error),
          });
        }),
      ),
    );
  }
}
