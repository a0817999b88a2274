/**
 * The sandbox registry: for every provider, how to start its simulator on free loopback ports and the
 * source config and secret values that point callvault at it. The contract suite (test/contract/) starts
 * each provider through this table, so a new provider adds one entry here (and its contract file) and is
 * held to the same contract as the others. Nothing here ships: Lambdas never reach sandbox/ (README,
 * "Development").
 */
import { type SourceConfig, sourceSchema } from '../../functions/config';
import type { ProviderName } from '../../functions/core/recording';
import { type GraphSandbox, graphBotSourceFields, startGraphSandbox } from './graph-calling-bot-sandbox';
import { type RingCentralSandbox, startRingCentralSandbox } from './ringcentral-sandbox';
import { startTeamsSandbox, type TeamsSandbox, type TeamsSandboxUser } from './teams-recordings-sandbox';
import { startTelphinSandbox, type TelphinSandbox } from './telphin-sandbox';

export interface ProviderSandboxEntry<Running extends { close(): Promise<void> }> {
  readonly provider: ProviderName;
  /** The webhook secret the credentials carry (Telphin's URL token, RingCentral's verificationToken, Teams' clientState). */
  readonly webhookSecret?: string;
  /** Starts the simulator on free loopback ports. */
  start(): Promise<Running>;
  /** A validated source config pointing at the running simulator; `overrides` replace top-level fields. */
  sourceConfig(running: Running, sourceId: string, overrides?: Record<string, unknown>): SourceConfig;
  /** The secret values the provider's credentials schema asks for. */
  credentials(running: Running): Record<string, unknown>;
  /** An `allowedDownloadHosts` that leaves out the host the recording bytes are served from. */
  offListDownloadHosts(running: Running): string[];
}

export interface RunningTelphin {
  sandbox: TelphinSandbox;
  close(): Promise<void>;
}
export interface RunningRingCentral {
  sandbox: RingCentralSandbox;
  close(): Promise<void>;
}
export interface RunningTeams {
  sandbox: TeamsSandbox;
  /** The one user the source archives (an application access policy covers them). */
  user: TeamsSandboxUser;
  close(): Promise<void>;
}
export interface RunningGraphBot {
  sandbox: GraphSandbox;
  close(): Promise<void>;
}

const config = (fields: Record<string, unknown>, overrides: Record<string, unknown> = {}): SourceConfig =>
  sourceSchema.parse({ ...fields, ...overrides });

const telphin: ProviderSandboxEntry<RunningTelphin> = {
  provider: 'telphin',
  webhookSecret: 'contract-telphin-token-0123456789',
  async start() {
    const sandbox = await startTelphinSandbox();
    return { sandbox, close: () => sandbox.close() };
  },
  sourceConfig: ({ sandbox }, id, overrides) =>
    config(
      // The API answers on 127.0.0.1, storage links on localhost: both are this machine.
      { provider: 'telphin', id, apiUrl: sandbox.url, allowedDownloadHosts: ['127.0.0.1', 'localhost'] },
      overrides,
    ),
  credentials: ({ sandbox }) => ({
    clientId: sandbox.clientId,
    clientSecret: sandbox.clientSecret,
    webhookSecret: telphin.webhookSecret,
  }),
  offListDownloadHosts: () => ['127.0.0.1'],
};

const ringcentral: ProviderSandboxEntry<RunningRingCentral> = {
  provider: 'ringcentral',
  webhookSecret: 'contract-rc-verification-0123456789',
  async start() {
    // A generous Heavy budget: the contract is not about pacing (the adapter tests are).
    const sandbox = await startRingCentralSandbox({
      rateLimits: { heavy: { limit: 1000, windowSeconds: 60 } },
    });
    return { sandbox, close: () => sandbox.close() };
  },
  sourceConfig: ({ sandbox }, id, overrides) =>
    config(
      {
        provider: 'ringcentral',
        id,
        serverUrl: sandbox.url,
        mediaUrl: sandbox.mediaUrl,
        rateLimits: { heavyPerMinute: 600 },
      },
      overrides,
    ),
  credentials: ({ sandbox }) => ({
    clientId: sandbox.clientId,
    clientSecret: sandbox.clientSecret,
    jwt: sandbox.jwt,
    webhookSecret: ringcentral.webhookSecret,
  }),
  offListDownloadHosts: () => ['media.ringcentral.com'],
};

const msteams: ProviderSandboxEntry<RunningTeams> = {
  provider: 'msteams',
  webhookSecret: 'contract-teams-client-state-0123456789',
  async start() {
    const sandbox = await startTeamsSandbox();
    const user = sandbox.addUser({ userPrincipalName: 'alice@contoso.example', displayName: 'Alice' });
    return { sandbox, user, close: () => sandbox.close() };
  },
  sourceConfig: ({ sandbox, user }, id, overrides) =>
    config(
      {
        provider: 'msteams',
        id,
        tenantId: sandbox.tenantId,
        loginUrl: sandbox.url,
        graphUrl: sandbox.url,
        users: [user.id],
        allowedDownloadHosts: [new URL(sandbox.contentUrl).host],
        mediaPersistenceApproved: true,
      },
      overrides,
    ),
  credentials: ({ sandbox }) => ({
    clientId: sandbox.clientId,
    clientSecret: sandbox.clientSecret,
    webhookSecret: msteams.webhookSecret,
  }),
  offListDownloadHosts: () => ['graph.microsoft.com'],
};

const msgraph: ProviderSandboxEntry<RunningGraphBot> = {
  provider: 'msgraph',
  async start() {
    const sandbox = await startGraphSandbox();
    return { sandbox, close: () => sandbox.close() };
  },
  sourceConfig: ({ sandbox }, id, overrides) => config(graphBotSourceFields(sandbox, id), overrides),
  // Notifications are checked against Microsoft's published keys and carry their own download token.
  credentials: () => ({}),
  offListDownloadHosts: () => ['graph.microsoft.com'],
};

/** One entry per provider; the type makes a provider without a sandbox a compile error. */
export const PROVIDER_SANDBOXES = { telphin, ringcentral, msteams, msgraph } satisfies Record<
  ProviderName,
  { provider: ProviderName }
>;
