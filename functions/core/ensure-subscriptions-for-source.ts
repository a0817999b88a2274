/**
 * Keeps a source's webhook subscriptions at the platform as they should be: exactly one per wanted
 * event filter, pointing at our address, created with the current webhook secret, active, and renewed
 * before it expires. Shared by every provider that has subscriptions (RingCentral, Microsoft Graph,
 * Telphin event hooks). Platforms never return a subscription's secret, so whether one was created with
 * the current secret is known only from our own record of what we created.
 */
import { createHash } from 'node:crypto';
import { asCallvaultError } from './errors';
import type { Clock, Log } from './ports';

export type SubscriptionStatus = 'active' | 'blacklisted' | 'suspended' | 'expired' | 'other';

/** A subscription as the platform lists it. */
export interface RemoteSubscription {
  id: string;
  /** Where the platform delivers. */
  address: string;
  /** What it delivers, normalised by the adapter (an event filter, a Graph resource, a Telphin hook). */
  filter: string;
  status: SubscriptionStatus;
  /** Undefined where subscriptions do not expire (Telphin). */
  expiresAt?: Date;
}

/** The platform side, implemented by each provider that has subscriptions. */
export interface SubscriptionApi {
  /** Every subscription of this app/account, ours or not. */
  list(signal?: AbortSignal): Promise<RemoteSubscription[]>;
  create(
    wanted: { address: string; filter: string; secret: string },
    signal?: AbortSignal,
  ): Promise<RemoteSubscription>;
  /** Extends the expiry; undefined where the platform has no renewal (then it is recreated). */
  renew?(subscription: RemoteSubscription, signal?: AbortSignal): Promise<RemoteSubscription>;
  /** Deletes it; resolves when it is already gone. */
  delete(subscription: RemoteSubscription, signal?: AbortSignal): Promise<void>;
}

/** What we created: the only proof that a listed subscription carries the current secret. */
export interface SubscriptionRecord {
  id: string;
  filter: string;
  /** Where it delivers, without the query (a token there is a secret). */
  address: string;
  /** SHA-256 of the secret it was created with; never the secret. */
  secretFingerprint: string;
  createdAt: string;
}

export interface SubscriptionRecords {
  load(sourceId: string): Promise<SubscriptionRecord[]>;
  save(sourceId: string, records: SubscriptionRecord[]): Promise<void>;
}

export interface EnsureSubscriptionsInput {
  sourceId: string;
  address: string;
  filters: readonly string[];
  secret: string;
  /** Renew when less than this is left (default 3 days). */
  renewBeforeMs?: number;
  /**
   * Whether a listed address is our endpoint; default: equal to `address`. Where the secret is part of
   * the address (Telphin's token), a hook at our endpoint with an older token is ours too, and replaced.
   */
  isOurs?: (address: string) => boolean;
}

export interface SubscriptionReport {
  sourceId: string;
  kept: string[];
  renewed: string[];
  created: string[];
  deleted: string[];
  /** Active subscriptions after the run, with their expiry: what status and alarms show. */
  active: { id: string; filter: string; expiresAt?: string }[];
  /**
   * Filters (one per extension for Telphin's hooks) that could not be put right this time; the others
   * were. Whatever existed for them is left in place.
   */
  failed: { filter: string; code: string; reason: string }[];
}

/** Failures no other filter of the same source would escape: they stop the source's check. */
const SOURCE_WIDE_CODES: ReadonlySet<string> = new Set([
  'UNAUTHENTICATED',
  'CREDENTIALS_NOT_SET',
  'RATE_LIMITED',
  'DEADLINE',
]);

const DEFAULT_RENEW_BEFORE_MS = 3 * 86_400_000;

/** What a record keeps of an address: never its query, which may carry the secret (Telphin's token). */
function withoutQuery(address: string): string {
  const at = address.search(/[?#]/);
  return at < 0 ? address : address.slice(0, at);
}

export function secretFingerprint(secret: string): string {
  return createHash('sha256').update(`callvault-webhook-secret:${secret}`).digest('hex');
}

/** What a check logs (level error, `errorCode: SUBSCRIPTION_FAILED`) per filter it could not put right. */
export const SUBSCRIPTION_PART_FAILED_MESSAGE =
  'subscription for part of a source could not be put right; the others were';

/**
 * One pass: create what is missing, renew what expires soon, replace what is blacklisted, suspended or
 * was created with another secret, and delete our strays (same address, a filter we no longer want, or
 * a duplicate). The new subscription is created before the old one is deleted, so no event falls in
 * between. Subscriptions at other addresses are never touched.
 */
export async function ensureSubscriptionsForSource(
  input: EnsureSubscriptionsInput,
  deps: { api: SubscriptionApi; records: SubscriptionRecords; clock: Clock; log: Log },
  signal?: AbortSignal,
): Promise<SubscriptionReport> {
  const { api, records, clock, log } = deps;
  const now = clock.now();
  const fingerprint = secretFingerprint(input.secret);
  const renewBeforeMs = input.renewBeforeMs ?? DEFAULT_RENEW_BEFORE_MS;
  const report: SubscriptionReport = {
    sourceId: input.sourceId,
    kept: [],
    renewed: [],
    created: [],
    deleted: [],
    active: [],
    failed: [],
  };

  const isOurs = input.isOurs ?? ((address: string) => address === input.address);
  const ours = (await api.list(signal)).filter((subscription) => isOurs(subscription.address));
  const known = new Map((await records.load(input.sourceId)).map((record) => [record.id, record]));
  const nextRecords: SubscriptionRecord[] = [];
  const toDelete: RemoteSubscription[] = [];
  let firstFailure: unknown;

  for (const filter of input.filters) {
    const candidates = ours.filter((subscription) => subscription.filter === filter);
    // A subscription we can vouch for: created by us with the current secret, and still delivering.
    const usable = candidates.find((subscription) => {
      const record = known.get(subscription.id);
      const expired =
        subscription.expiresAt !== undefined && subscription.expiresAt.getTime() <= now.getTime();
      return record?.secretFingerprint === fingerprint && subscription.status === 'active' && !expired;
    });
    let kept = usable;
    if (kept?.expiresAt && kept.expiresAt.getTime() - now.getTime() < renewBeforeMs) {
      if (api.renew) {
        try {
          kept = await api.renew(kept, signal);
          report.renewed.push(kept.id);
        } catch (error) {
          log.warn('subscription renewal failed; creating a new one', {
            sourceId: input.sourceId,
            subscriptionId: kept.id,
            error: String(error),
          });
          kept = undefined;
        }
      } else {
        kept = undefined;
      }
    } else if (kept) {
      report.kept.push(kept.id);
    }
    if (!kept) {
      try {
        kept = await api.create({ address: input.address, filter, secret: input.secret }, signal);
      } catch (thrown) {
        // One extension refusing its hook (limit reached, extension gone) must not cost the others theirs.
        const error = asCallvaultError(thrown);
        if (signal?.aborted || SOURCE_WIDE_CODES.has(error.code)) throw thrown;
        firstFailure ??= thrown;
        report.failed.push({ filter, code: error.code, reason: error.message.slice(0, 600) });
        log.error(SUBSCRIPTION_PART_FAILED_MESSAGE, {
          sourceId: input.sourceId,
          filter,
          errorCode: 'SUBSCRIPTION_FAILED',
          code: error.code,
          detail: error.message,
        });
        // What exists for the filter stays: a working older hook is better than none.
        for (const candidate of candidates) {
          const record = known.get(candidate.id);
          if (record) nextRecords.push(record);
        }
        continue;
      }
      report.created.push(kept.id);
      log.info('subscription created', { sourceId: input.sourceId, subscriptionId: kept.id, filter });
    }
    const record = known.get(kept.id);
    nextRecords.push(
      record?.secretFingerprint === fingerprint
        ? record
        : {
            id: kept.id,
            filter,
            address: withoutQuery(input.address),
            secretFingerprint: fingerprint,
            createdAt: now.toISOString(),
          },
    );
    report.active.push({ id: kept.id, filter, expiresAt: kept.expiresAt?.toISOString() });
    const keptId = kept.id;
    toDelete.push(...candidates.filter((subscription) => subscription.id !== keptId));
  }
  // Every filter failing is the source failing (its API down, the webhook URL refused): said as such.
  if (firstFailure !== undefined && report.failed.length === input.filters.length) throw firstFailure;
  // Ours, at our address, for a filter we no longer want.
  toDelete.push(...ours.filter((subscription) => !input.filters.includes(subscription.filter)));

  // Record what we created before deleting anything: a crash in between leaves strays, never an
  // unrecorded subscription that the next run could not vouch for.
  await records.save(input.sourceId, nextRecords);
  for (const subscription of toDelete) {
    await api.delete(subscription, signal);
    report.deleted.push(subscription.id);
    log.info('subscription deleted', {
      sourceId: input.sourceId,
      subscriptionId: subscription.id,
      status: subscription.status,
      filter: subscription.filter,
    });
  }
  return report;
}
