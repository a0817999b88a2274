/**
 * The Graph side of `ensureSubscriptionsForSource`: tenant-wide `created` subscriptions on each kind's
 * `communications/…/getAllRecordings`, with the longest expiry Graph allows for callRecording. Microsoft's
 * "Get change notifications for Teams recordings and transcripts" creates the meetings one on `/v1.0` and
 * the ad hoc calls one on `/beta`: each is tried there first, then on the other version when Graph refuses
 * the resource (400 or 404). The rest stays on `/v1.0`: a subscription is one object on either version.
 */
import type { RemoteSubscription, SubscriptionApi } from '../../core/ensure-subscriptions-for-source';
import { PermanentError, TransientError } from '../../core/errors';
import type { Clock } from '../../core/ports';
import { type HttpTextResponse, parseJsonBody } from '../http';
import { expectDeleted } from '../shared/authorised-client';
import { jsonObject } from '../shared/json';
import { followPages } from '../shared/paging';
import { MSTEAMS_RECORDING_KINDS, type TeamsRecordingsRecordingKind } from './teams-recordings-config';
import { graphErrorDetail, graphPage, type TeamsRecordingsGraph } from './teams-recordings-graph';

/** The subscription resource of each recording kind. */
export const MSTEAMS_SUBSCRIPTION_RESOURCES: Record<TeamsRecordingsRecordingKind, string> = {
  adhocCalls: 'communications/adhocCalls/getAllRecordings',
  onlineMeetings: 'communications/onlineMeetings/getAllRecordings',
};

/** The API versions each subscription resource is created on, in order (see the file comment). */
const SUBSCRIPTION_VERSIONS: Record<TeamsRecordingsRecordingKind, readonly ('v1.0' | 'beta')[]> = {
  onlineMeetings: ['v1.0', 'beta'],
  adhocCalls: ['beta', 'v1.0'],
};

/** The kind whose subscription resource this is, whatever its case. */
function kindOf(resource: string): TeamsRecordingsRecordingKind | undefined {
  const wanted = resource.toLowerCase();
  return MSTEAMS_RECORDING_KINDS.find(
    (kind) => MSTEAMS_SUBSCRIPTION_RESOURCES[kind].toLowerCase() === wanted,
  );
}

/** Graph's maximum for callRecording (4,320 minutes) less a margin for our clock running ahead of Graph's. */
const SUBSCRIPTION_LIFETIME_MS = (4_320 - 10) * 60_000;
/** Renew with under 36 hours left (the default 3 days exceeds the lifetime): two 12-hourly runs fit. */
export const MSTEAMS_RENEW_BEFORE_MS = 36 * 3_600_000;

/** The filters to pass to ensureSubscriptionsForSource for the configured kinds. */
export function teamsRecordingsSubscriptionFilters(kinds: readonly TeamsRecordingsRecordingKind[]): string[] {
  return kinds.map((kind) => MSTEAMS_SUBSCRIPTION_RESOURCES[kind]);
}

export class TeamsRecordingsSubscriptionApi implements SubscriptionApi {
  constructor(
    private readonly graph: TeamsRecordingsGraph,
    private readonly clock: Clock,
  ) {}

  /** `{method} /{version}{path}` on the Graph host, the answer read whole. */
  private send(method: string, path: string, json: unknown, signal?: AbortSignal, version = 'v1.0') {
    return this.graph.send(method, new URL(`/${version}${path}`, this.graph.origin).href, json, signal);
  }

  /** The answer when it is 2xx; its typed error otherwise. */
  private ok(answer: HttpTextResponse): HttpTextResponse {
    if (answer.status < 200 || answer.status >= 300) throw this.graph.errorOf(answer);
    return answer;
  }

  private expiry(): string {
    return new Date(this.clock.now().getTime() + SUBSCRIPTION_LIFETIME_MS).toISOString();
  }

  private remote(value: unknown): RemoteSubscription {
    const body = jsonObject(value) ?? {};
    const id = typeof body.id === 'string' ? body.id : undefined;
    if (!id) throw new TransientError('Graph subscription answer has no id');
    const expiresAt =
      typeof body.expirationDateTime === 'string' ? new Date(body.expirationDateTime) : undefined;
    const valid = expiresAt && !Number.isNaN(expiresAt.getTime()) ? expiresAt : undefined;
    const expired = valid !== undefined && valid.getTime() <= this.clock.now().getTime();
    // The listed resource as our filter: no leading slash, the documented spelling when it is one of ours.
    const resource = (typeof body.resource === 'string' ? body.resource : '').trim().replace(/^\/+/, '');
    const kind = kindOf(resource);
    return {
      id,
      address: typeof body.notificationUrl === 'string' ? body.notificationUrl : '',
      filter: kind ? MSTEAMS_SUBSCRIPTION_RESOURCES[kind] : resource,
      // Graph has no status field: a subscription it still lists delivers until it expires.
      status: expired ? 'expired' : 'active',
      expiresAt: valid,
    };
  }

  async list(signal?: AbortSignal): Promise<RemoteSubscription[]> {
    const found: RemoteSubscription[] = [];
    const fetchPage = async (url: string) =>
      graphPage(this.ok(await this.graph.send('GET', url, undefined, signal)), 'Graph subscription list');
    const first = new URL('/v1.0/subscriptions', this.graph.origin).href;
    for await (const item of followPages(first, fetchPage, 'Graph subscription'))
      found.push(this.remote(item));
    return found;
  }

  async create(
    wanted: { address: string; filter: string; secret: string },
    signal?: AbortSignal,
  ): Promise<RemoteSubscription> {
    const refusals: string[] = [];
    const kind = kindOf(wanted.filter);
    for (const version of kind ? SUBSCRIPTION_VERSIONS[kind] : ['v1.0']) {
      const subscription = {
        changeType: 'created',
        notificationUrl: wanted.address,
        // Above an hour's lifetime Graph requires it; both URLs are our one webhook route.
        lifecycleNotificationUrl: wanted.address,
        resource: wanted.filter,
        expirationDateTime: this.expiry(),
        clientState: wanted.secret,
      };
      const answer = await this.send('POST', '/subscriptions', subscription, signal, version);
      if (answer.status >= 200 && answer.status < 300) return this.remote(parseJsonBody(answer));
      // 400/404: this version does not offer the resource. A failed validation handshake is not about
      // the version (another would repeat it), nor is anything else.
      if (answer.status !== 400 && answer.status !== 404) this.ok(answer);
      const detail = graphErrorDetail(answer.text) ?? `HTTP ${answer.status}`;
      refusals.push(`${version}: ${detail}`);
      if (/^ValidationError\b/.test(detail)) break;
    }
    // No retry fixes it: the resource is refused everywhere, or the validation handshake failed.
    throw new PermanentError(`Graph refused the subscription on ${wanted.filter} (${refusals.join('; ')})`);
  }

  async renew(subscription: RemoteSubscription, signal?: AbortSignal): Promise<RemoteSubscription> {
    const path = `/subscriptions/${encodeURIComponent(subscription.id)}`;
    const answer = await this.send('PATCH', path, { expirationDateTime: this.expiry() }, signal);
    return this.remote(parseJsonBody(this.ok(answer)));
  }

  /** After `reauthorizationRequired`: resumes delivery without changing the expiry. */
  async reauthorize(subscriptionId: string, signal?: AbortSignal): Promise<'reauthorized' | 'gone'> {
    const path = `/subscriptions/${encodeURIComponent(subscriptionId)}/reauthorize`;
    const answer = await this.send('POST', path, {}, signal);
    if (answer.status === 404) return 'gone';
    this.ok(answer);
    return 'reauthorized';
  }

  async delete(subscription: RemoteSubscription, signal?: AbortSignal): Promise<void> {
    const path = `/subscriptions/${encodeURIComponent(subscription.id)}`;
    expectDeleted(await this.send('DELETE', path, undefined, signal), graphErrorDetail);
  }
}
