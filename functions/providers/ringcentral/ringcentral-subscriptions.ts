/** RingCentral's subscription API; a create is answered only after our endpoint passed the handshake. */
import type {
  RemoteSubscription,
  SubscriptionApi,
  SubscriptionStatus,
} from '../../core/ensure-subscriptions-for-source';
import { PermanentError, TransientError } from '../../core/errors';
import { expectDeleted } from '../shared/authorised-client';
import { jsonObject } from '../shared/json';
import type { RingCentralApi, RingCentralRequest } from './ringcentral-api';

/** RingCentral may spell a filter's account as its id or `~` (the same subscription): compared as `~`. */
export function normaliseEventFilter(filter: string): string {
  return filter.replace(/^(\/restapi\/v1\.0\/account\/)[^/]+(\/)/, '$1~$2');
}

const STATUSES: Record<string, SubscriptionStatus> = {
  Active: 'active',
  Blacklisted: 'blacklisted',
  Suspended: 'suspended',
};

/** `disabledFilters`, normalised: a filter the app lacks the permission for may be disabled, not refused. */
function disabledFiltersOf(raw: unknown): { filter: string; reason: string }[] {
  const record = jsonObject(raw);
  if (!record || !Array.isArray(record.disabledFilters)) return [];
  return record.disabledFilters.flatMap((entry) => {
    const disabled = jsonObject(entry);
    if (typeof disabled?.filter !== 'string') return [];
    const reason = typeof disabled.reason === 'string' ? disabled.reason.slice(0, 200) : 'no reason given';
    return [{ filter: normaliseEventFilter(disabled.filter), reason }];
  });
}

/** One listed subscription, or undefined for a record that is not a WebHook subscription. */
export function parseRingCentralSubscription(raw: unknown): RemoteSubscription | undefined {
  const record = jsonObject(raw);
  const mode = jsonObject(record?.deliveryMode);
  if (!record || typeof record.id !== 'string' || !mode) return undefined;
  if (mode.transportType !== 'WebHook' || typeof mode.address !== 'string') return undefined;
  const filters = Array.isArray(record.eventFilters)
    ? record.eventFilters.filter((filter): filter is string => typeof filter === 'string')
    : [];
  const expiresMs = typeof record.expirationTime === 'string' ? Date.parse(record.expirationTime) : NaN;
  // A subscription whose filter is disabled delivers nothing: never one to keep.
  const disabled = disabledFiltersOf(record).length > 0;
  return {
    id: record.id,
    address: mode.address,
    filter: filters.map(normaliseEventFilter).sort().join(','),
    status: disabled ? 'other' : (STATUSES[String(record.status)] ?? 'other'),
    expiresAt: Number.isNaN(expiresMs) ? undefined : new Date(expiresMs),
  };
}

export class RingCentralSubscriptionApi implements SubscriptionApi {
  constructor(private readonly api: RingCentralApi) {}

  async list(signal?: AbortSignal): Promise<RemoteSubscription[]> {
    const body = jsonObject(await this.api.json(this.request('GET', '/subscription', signal)));
    if (!body || !Array.isArray(body.records))
      throw new TransientError('RingCentral subscription list has no records array');
    return body.records.flatMap((raw) => parseRingCentralSubscription(raw) ?? []);
  }

  async create(
    wanted: { address: string; filter: string; secret: string },
    signal?: AbortSignal,
  ): Promise<RemoteSubscription> {
    const answer = await this.api.json(
      this.request('POST', '/subscription', signal, {
        eventFilters: [wanted.filter],
        deliveryMode: { transportType: 'WebHook', address: wanted.address, verificationToken: wanted.secret },
        // RingCentral's longest (10 years): renewal is a safety net, not a routine.
        expiresIn: 315_360_000,
      }),
    );
    const created = this.parsed(answer);
    const disabled = disabledFiltersOf(answer);
    if (disabled.length > 0) {
      // Created but deaf: removed again, and the run fails for this source, naming RingCentral's reason.
      await this.delete(created, signal);
      const reasons = disabled.map((entry) => `${entry.filter}: ${entry.reason}`).join('; ');
      throw new PermanentError(
        `RingCentral created the subscription with its event filter disabled (${reasons}); check the app's permissions (README, Configuration, RingCentral: App)`,
      );
    }
    return created;
  }

  /** `POST …/renew` keeps its lifetime; a PUT needs `eventFilters` again (UpdateSubscriptionRequest). */
  async renew(subscription: RemoteSubscription, signal?: AbortSignal): Promise<RemoteSubscription> {
    const path = `/subscription/${encodeURIComponent(subscription.id)}/renew`;
    return this.parsed(await this.api.json(this.request('POST', path, signal)));
  }

  async delete(subscription: RemoteSubscription, signal?: AbortSignal): Promise<void> {
    const path = `/subscription/${encodeURIComponent(subscription.id)}`;
    expectDeleted(await this.api.send(this.request('DELETE', path, signal)));
  }

  /** The subscription API is not in the Heavy group: its requests do not wait for the gate. */
  private request(method: string, path: string, signal?: AbortSignal, json?: unknown): RingCentralRequest {
    return { method, url: this.api.url(path), group: 'other', allowedHosts: this.api.apiHosts, json, signal };
  }

  private parsed(raw: unknown): RemoteSubscription {
    const subscription = parseRingCentralSubscription(raw);
    if (!subscription) throw new TransientError('RingCentral answered with no WebHook subscription');
    return subscription;
  }
}
