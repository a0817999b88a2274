/**
 * The app permissions (OAuth scopes) a RingCentral source needs, and which of them a token lacks.
 * RingCentral lists the app's permissions in the token answer's `scope` (space-separated; "Call Log
 * Access Control" in the developer guide reads it the same way), so a missing one is known at login,
 * before any request fails with `InsufficientPermissions` (CMN-401).
 *
 * - ReadCallLog: the company call log (listing, hints, gone checks).
 * - ReadCallRecording: recording content.
 * - ReadAccounts: the extension directory (`GET /account/~/extension`).
 * - SubscriptionWebhook: creating the WebHook subscription (only with a webhookSecret).
 * - CallControl: the account telephony-sessions event filter the subscription uses (event filter page
 *   "Account Telephony Sessions Event", Required Permissions).
 * - EditCallLog: deleting recordings at the source (only when retention deletes).
 */

export interface PermissionNeed {
  permission: string;
  /** What fails without it, for the operator. */
  neededFor: string;
}

export interface PermissionUse {
  /** A webhook subscription is wanted (the source has a webhookSecret). */
  webhooks: boolean;
  /** Retention deletes recordings at this source (settings present and not a dry run). */
  deletes: boolean;
}

export const PERMISSION_MISSING_CODE = 'RINGCENTRAL_PERMISSION_MISSING';

export function requiredPermissions(use: PermissionUse): PermissionNeed[] {
  return [
    { permission: 'ReadCallLog', neededFor: 'the call log: listing, webhook hints and gone checks' },
    { permission: 'ReadCallRecording', neededFor: 'downloading recording content' },
    { permission: 'ReadAccounts', neededFor: 'the extension directory (parties, extensions scope)' },
    ...(use.webhooks
      ? [
          { permission: 'SubscriptionWebhook', neededFor: 'creating the webhook subscription' },
          {
            permission: 'CallControl',
            neededFor: 'the account telephony-sessions event filter of the webhook subscription',
          },
        ]
      : []),
    ...(use.deletes
      ? [{ permission: 'EditCallLog', neededFor: 'deleting recordings at the source (retention)' }]
      : []),
  ];
}

/** The permissions in a token answer's `scope`; undefined when the answer carried none. */
export function grantedPermissions(scope: string | undefined): Set<string> | undefined {
  if (scope === undefined) return undefined;
  return new Set(scope.split(/\s+/).filter((permission) => permission !== ''));
}

/** The needs the scope does not grant; none when the token answer reported no scope (nothing to judge). */
export function missingPermissions(
  scope: string | undefined,
  needs: readonly PermissionNeed[],
): PermissionNeed[] {
  const granted = grantedPermissions(scope);
  if (!granted) return [];
  return needs.filter((need) => !granted.has(need.permission));
}

/** One line per missing permission, naming it, what fails, and the fix (README: RingCentral, App). */
export function describeMissingPermission(sourceId: string, need: PermissionNeed): string {
  return (
    `RingCentral app of source ${sourceId} lacks the ${need.permission} permission, needed for ${need.neededFor}: ` +
    'add it to the app in the RingCentral Developer Console (README, Configuration, RingCentral: App)'
  );
}
