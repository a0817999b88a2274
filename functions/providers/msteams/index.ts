/**
 * What the wiring of the Teams recordings source needs, in one place: the config schema for the
 * `sources` union, the credentials schema and the adapter for the provider registry, the subscription
 * filters and renewal margin for ensureSubscriptions, and the lifecycle handling for the webhook host.
 */

export {
  MSTEAMS_DEFAULT_DOWNLOAD_HOSTS,
  MSTEAMS_MEDIA_PERSISTENCE_README_SECTION,
  MSTEAMS_RECORDING_KINDS,
  type MsTeamsCredentials,
  type MsTeamsRecordingKind,
  type MsTeamsSourceConfig,
  msTeamsCredentialsSchema,
  msTeamsDownloadHosts,
  msTeamsSourceSchema,
  msTeamsSourceShape,
} from './msteams-config';
export {
  AppCredentialsRefusedError,
  ApplicationAccessPolicyError,
  MSTEAMS_ADMIN_README_SECTION,
} from './msteams-errors';
export {
  actOnMsTeamsLifecycle,
  type MsTeamsLifecycleHandlers,
  type MsTeamsLifecycleResult,
} from './msteams-lifecycle';
export {
  createMsTeamsSource,
  MSTEAMS_CAPABILITIES,
  MsTeamsSource,
  type MsTeamsSourceOptions,
  type MsTeamsTuning,
} from './msteams-source';
export {
  MSTEAMS_MAX_SUBSCRIPTION_MINUTES,
  MSTEAMS_RENEW_BEFORE_MS,
  MSTEAMS_SUBSCRIPTION_RESOURCES,
  MsTeamsSubscriptionApi,
  msTeamsSubscriptionFilters,
} from './msteams-subscriptions';
export {
  MSTEAMS_LIFECYCLE_ACTIONS,
  MSTEAMS_WEBHOOK_COUNTS,
  type MsTeamsLifecycleEvent,
  type MsTeamsWebhookCounts,
  type MsTeamsWebhookOutcome,
} from './msteams-webhook';
