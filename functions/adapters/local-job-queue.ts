/**
 * The in-process JobQueue behind `npm start`, with the same semantics as SQS + the archive worker: at most
 * `concurrency` jobs at once, retries delayed as `decideRetry` says (an error that settles the job, such as
 * gone at the source, counts as done), and after `maxReceiveCount` attempts or a permanent failure a dead
 * letter (a JSON file per job in `deadLetterDir`, the job with its secrets redacted) instead of a DLQ.
 *
 * `stop()` aborts in-flight jobs through their AbortSignal, waits for them, and saves whatever is left to
 * `stateFile`, which the next queue loads: a Ctrl-C loses nothing. A crash (kill -9) loses the in-memory
 * backlog; the sweep, which enqueues whatever S3 still lacks, is what recovers from that.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import * as z from 'zod';
import { asCallvaultError, InvalidInputError, TransientError } from '../core/errors';
import {
  type ArchiveJob,
  archiveJobSchema,
  describeJob,
  jobTarget,
  redactJobSecrets,
  retryPolicyForJob,
} from '../core/jobs';
import { type JobQueue, type Log, silentLog } from '../core/ports';
import { DEFAULT_RETRY_POLICY, decideRetry, type RetryPolicy } from '../core/retry-policy';

export interface LocalJobQueueOptions {
  /** Jobs processed at once. */
  concurrency: number;
  /** Attempts before a job that keeps failing is dead-lettered. */
  maxReceiveCount: number;
  /** Where dead letters are written, one JSON file per job. */
  deadLetterDir: string;
  handleJob(job: ArchiveJob, signal: AbortSignal): Promise<void>;
  /** For recording and hint jobs; `fetch-now` jobs race their token and use FETCH_NOW_RETRY_POLICY. */
  retryPolicy?: RetryPolicy;
  log?: Log;
  /** Pending and delayed jobs are saved here on stop() and loaded by the constructor. */
  stateFile?: string;
  /**
   * Multiplies every retry delay; tests use e.g. 0.01 so a 10 s backoff takes 100 ms.
   * @default 1
   */
  delayScale?: number;
  /** For decideRetry's jitter; tests pass a fixed value. */
  random?: () => number;
}

export interface LocalJobQueueStats {
  pending: number;
  inFlight: number;
  delayed: number;
  succeeded: number;
  retried: number;
  deadLettered: number;
}

/** What a dead-letter file holds. */
export interface LocalDeadLetter {
  job: ArchiveJob;
  description: string;
  code: string;
  reason: string;
  attempts: number;
  failedAt: string;
}

interface Entry {
  job: ArchiveJob;
  /** Deliveries that have ended in failure so far. */
  attempts: number;
  /** Dedupe key for recording jobs. */
  key: string | undefined;
}

interface Delayed {
  entry: Entry;
  dueAt: number;
  timer: NodeJS.Timeout | undefined;
}

const STATE_VERSION = 1;
const stateSchema = z.object({
  v: z.literal(STATE_VERSION),
  savedAt: z.string(),
  jobs: z.array(
    z.object({
      job: archiveJobSchema,
      attempts: z.number().int().nonnegative(),
      /** Epoch milliseconds before which a delayed retry must not run. */
      notBefore: z.number().optional(),
    }),
  ),
});
type SavedState = z.infer<typeof stateSchema>;

/** When writing a dead letter fails (disk full?), try again after this long rather than drop the job. */
const DEAD_LETTER_WRITE_RETRY_SECONDS = 60;

export class LocalJobQueue implements JobQueue {
  private readonly options: LocalJobQueueOptions;
  private readonly log: Log;
  private readonly delayScale: number;
  private readonly pending: Entry[] = [];
  private readonly delayed = new Set<Delayed>();
  private readonly inFlight = new Map<Entry, { controller: AbortController; done: Promise<void> }>();
  private readonly counters = { succeeded: 0, retried: 0, deadLettered: 0 };
  private readonly idleWaiters: { resolve: () => void; reject: (error: Error) => void }[] = [];
  private state: 'created' | 'running' | 'stopping' | 'stopped' = 'created';

  constructor(options: LocalJobQueueOptions) {
    if (!Number.isInteger(options.concurrency) || options.concurrency < 1) {
      throw new InvalidInputError(`concurrency must be a positive integer, got ${options.concurrency}`);
    }
    if (!Number.isInteger(options.maxReceiveCount) || options.maxReceiveCount < 1) {
      throw new InvalidInputError(
        `maxReceiveCount must be a positive integer, got ${options.maxReceiveCount}`,
      );
    }
    this.options = options;
    this.log = options.log ?? silentLog;
    this.delayScale = options.delayScale ?? 1;
    if (options.stateFile) this.load(options.stateFile);
  }

  async enqueue(jobs: readonly ArchiveJob[]): Promise<void> {
    if (this.state === 'stopping' || this.state === 'stopped') {
      // The caller (a webhook) answers 5xx and the platform redelivers to the next run.
      throw new TransientError('the local queue is stopping');
    }
    let added = 0;
    for (const job of jobs) {
      const key = dedupeKey(job);
      // A continuation is queued by the very job it continues, still in flight (core/continuation.ts).
      const continuing = job.type === 'recording' && job.continuation !== undefined;
      if (key !== undefined && this.holds(key, { inFlight: !continuing })) {
        this.log.debug('job already queued; skipped', { job: describeJob(job) });
        continue;
      }
      this.pending.push({ job, attempts: 0, key });
      added++;
    }
    if (added > 0) this.log.debug('jobs enqueued', { added, skipped: jobs.length - added });
    this.pump();
  }

  /** Begins consuming; jobs enqueued (or loaded) before now start at once. */
  start(): void {
    if (this.state !== 'created') return;
    this.state = 'running';
    for (const delayed of this.delayed) this.arm(delayed);
    this.pump();
  }

  /** Resolves when nothing is pending, delayed or in flight; rejects if the queue stops first. */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    if (this.state === 'stopping' || this.state === 'stopped') {
      return Promise.reject(new Error('the local queue was stopped before it ran out of work'));
    }
    return new Promise((resolve, reject) => this.idleWaiters.push({ resolve, reject }));
  }

  /**
   * Takes no more work, aborts in-flight jobs through their signal, waits for them to settle, and saves
   * pending and delayed jobs to the state file. Interrupted jobs are saved without counting the attempt:
   * being stopped is not the job's fault.
   */
  async stop(): Promise<void> {
    if (this.state === 'stopping' || this.state === 'stopped') return;
    this.state = 'stopping';
    for (const delayed of this.delayed) {
      if (delayed.timer) clearTimeout(delayed.timer);
      delayed.timer = undefined;
    }
    const running = [...this.inFlight.values()];
    for (const { controller } of running) controller.abort(new Error('the local queue is stopping'));
    await Promise.all(running.map(({ done }) => done));
    if (this.options.stateFile) await this.save(this.options.stateFile);
    this.state = 'stopped';
    const left = this.pending.length + this.delayed.size;
    for (const waiter of this.idleWaiters.splice(0)) {
      if (left === 0) waiter.resolve();
      else waiter.reject(new Error(`the local queue was stopped with ${left} jobs left`));
    }
    this.log.info('local queue stopped', { saved: left, stateFile: this.options.stateFile });
  }

  stats(): LocalJobQueueStats {
    return {
      pending: this.pending.length,
      inFlight: this.inFlight.size,
      delayed: this.delayed.size,
      ...this.counters,
    };
  }

  // ------------------------------------------------------------------ internals

  private holds(key: string, among: { inFlight: boolean }): boolean {
    if (this.pending.some((entry) => entry.key === key)) return true;
    for (const delayed of this.delayed) if (delayed.entry.key === key) return true;
    if (!among.inFlight) return false;
    for (const entry of this.inFlight.keys()) if (entry.key === key) return true;
    return false;
  }

  private isIdle(): boolean {
    return this.pending.length === 0 && this.delayed.size === 0 && this.inFlight.size === 0;
  }

  private pump(): void {
    while (this.state === 'running' && this.inFlight.size < this.options.concurrency) {
      const entry = this.pending.shift();
      if (!entry) break;
      this.run(entry);
    }
    if (this.isIdle()) for (const waiter of this.idleWaiters.splice(0)) waiter.resolve();
  }

  private run(entry: Entry): void {
    const controller = new AbortController();
    const done = this.execute(entry, controller.signal).finally(() => {
      this.inFlight.delete(entry);
      this.pump();
    });
    this.inFlight.set(entry, { controller, done });
  }

  private async execute(entry: Entry, signal: AbortSignal): Promise<void> {
    const description = describeJob(entry.job);
    try {
      // Promise.resolve().then turns a synchronous throw into a rejection like any other failure.
      await Promise.resolve().then(() => this.options.handleJob(entry.job, signal));
      this.counters.succeeded++;
      this.log.debug('job done', { job: description });
      return;
    } catch (thrown) {
      if (this.state === 'stopping' && signal.aborted) {
        // Interrupted by stop(): back to the front of the line, to be saved with the rest.
        this.pending.unshift(entry);
        return;
      }
      const error = asCallvaultError(thrown);
      const policy = retryPolicyForJob(entry.job, this.options.retryPolicy ?? DEFAULT_RETRY_POLICY);
      const decision = decideRetry(error, entry.attempts + 1, policy, this.options.random);
      if (decision.action === 'settled') {
        this.counters.succeeded++;
        this.log.info('job settled without a copy', { job: description, code: error.code });
        return;
      }
      entry.attempts++;
      if (decision.action === 'dead-letter' || entry.attempts >= this.options.maxReceiveCount) {
        try {
          const file = await this.writeDeadLetter(entry, error.code, decision.reason);
          this.counters.deadLettered++;
          this.log.error('job dead-lettered', {
            job: description,
            attempts: entry.attempts,
            code: error.code,
            reason: decision.reason,
            file,
          });
          return;
        } catch (writeError) {
          this.log.error('could not write dead letter; will try again', {
            job: description,
            error: writeError instanceof Error ? writeError.message : String(writeError),
          });
          this.delay(entry, DEAD_LETTER_WRITE_RETRY_SECONDS);
          return;
        }
      }
      this.counters.retried++;
      this.log.warn('job failed; retrying later', {
        job: description,
        attempt: entry.attempts,
        code: error.code,
        reason: decision.reason,
        delaySeconds: decision.delaySeconds,
      });
      this.delay(entry, decision.delaySeconds);
    }
  }

  private delay(entry: Entry, seconds: number): void {
    const delayed: Delayed = {
      entry,
      dueAt: Date.now() + seconds * 1000 * this.delayScale,
      timer: undefined,
    };
    this.delayed.add(delayed);
    if (this.state === 'running') this.arm(delayed);
  }

  private arm(delayed: Delayed): void {
    delayed.timer = setTimeout(
      () => {
        this.delayed.delete(delayed);
        this.pending.push(delayed.entry);
        this.pump();
      },
      Math.max(0, delayed.dueAt - Date.now()),
    );
  }

  private async writeDeadLetter(entry: Entry, code: string, reason: string): Promise<string> {
    const failedAt = new Date();
    const { provider } = jobTarget(entry.job);
    // Colons are not allowed in Windows file names; the time stays sortable without them.
    const stamp = failedAt.toISOString().replaceAll(':', '-');
    const file = join(this.options.deadLetterDir, `${stamp}-${provider}-${randomUUID().slice(0, 8)}.json`);
    const letter: LocalDeadLetter = {
      // A file on disk is not the queue: a granted download's token is never written in clear.
      job: redactJobSecrets(entry.job),
      description: describeJob(entry.job),
      code,
      reason,
      attempts: entry.attempts,
      failedAt: failedAt.toISOString(),
    };
    await writeFileAtomically(file, `${JSON.stringify(letter, null, 2)}\n`);
    return file;
  }

  private async save(stateFile: string): Promise<void> {
    // Tokens are not saved: a granted job resumed after a restart ends as EXPIRED_BEFORE_FETCH, which is
    // what minutes of downtime make of it anyway.
    const jobs: SavedState['jobs'] = [
      ...this.pending.map((entry) => ({ job: redactJobSecrets(entry.job), attempts: entry.attempts })),
      ...[...this.delayed].map(({ entry, dueAt }) => ({
        job: redactJobSecrets(entry.job),
        attempts: entry.attempts,
        notBefore: dueAt,
      })),
    ];
    if (jobs.length === 0) {
      // Nothing to resume: an old file must not resurrect jobs that have since been done.
      await rm(stateFile, { force: true });
      return;
    }
    const state: SavedState = { v: STATE_VERSION, savedAt: new Date().toISOString(), jobs };
    await writeFileAtomically(stateFile, `${JSON.stringify(state)}\n`);
  }

  private load(stateFile: string): void {
    let text: string;
    try {
      text = readFileSync(stateFile, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new InvalidInputError(
        `queue state file ${stateFile} is not JSON; move it aside to start afresh`,
        { cause: error },
      );
    }
    const parsed = stateSchema.safeParse(value);
    if (!parsed.success) {
      // Refuse rather than ignore: silently starting empty would drop the saved jobs.
      throw new InvalidInputError(
        `queue state file ${stateFile} is invalid: ${z.prettifyError(parsed.error)}`,
      );
    }
    const now = Date.now();
    for (const saved of parsed.data.jobs) {
      const entry: Entry = { job: saved.job, attempts: saved.attempts, key: dedupeKey(saved.job) };
      if (saved.notBefore !== undefined && saved.notBefore > now) {
        this.delayed.add({ entry, dueAt: saved.notBefore, timer: undefined });
      } else {
        this.pending.push(entry);
      }
    }
    this.log.info('local queue state loaded', { stateFile, jobs: parsed.data.jobs.length });
  }
}

/** Recording jobs name exactly one recording; hints are events and are not merged. */
function dedupeKey(job: ArchiveJob): string | undefined {
  if (job.type !== 'recording') return undefined;
  const { provider, sourceId, recordingId } = job.recording;
  return JSON.stringify([provider, sourceId, recordingId]);
}

/** Readers see the old file or the new one, never half of one. */
async function writeFileAtomically(file: string, content: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`;
  try {
    await writeFile(temporary, content, { encoding: 'utf8', flag: 'wx' });
    await rename(temporary, file);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}
