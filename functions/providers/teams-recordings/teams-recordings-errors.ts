/**
 * Failures only a Teams administrator can fix. Refused access policies and credentials are not retried
 * (each retry fails alike and hides the cause): the job is dead-lettered naming the fix. A metered API
 * refused for want of billing waits instead (one step in Azure; the recordings are still there).
 */
import { CallvaultError } from '../../core/errors';

/** The README section both messages point to; keep them in step. */
export const MSTEAMS_ADMIN_README_SECTION = 'Microsoft Teams recordings: tenant set-up';

/**
 * Graph's 403 "No application access policy found for this app": Teams lets an app read a user's meeting
 * artifacts only once an administrator granted it an application access policy (per user or global).
 */
export class ApplicationAccessPolicyError extends CallvaultError {
  readonly code = 'PERMANENT' as const;
  readonly retryable = false;

  constructor(
    readonly sourceId: string,
    readonly clientId: string,
    readonly userId: string | undefined,
    detail = 'no application access policy',
  ) {
    super(
      `Microsoft Graph refused source ${sourceId}: ${detail}. A Teams administrator must allow the app ` +
        `(client id ${clientId}) with an application access policy, in Teams PowerShell: ` +
        `New-CsApplicationAccessPolicy -Identity callvault-recordings -AppIds "${clientId}", then ` +
        `Grant-CsApplicationAccessPolicy -PolicyName callvault-recordings -Global (or -Identity <user> for ` +
        `${userId ? `user ${userId} and ` : ''}every user in scope). Changes can take up to 30 minutes to apply. ` +
        `See the README section "${MSTEAMS_ADMIN_README_SECTION}".`,
    );
  }
}

/** Entra refused the app's client id or secret (wrong, expired or deleted secret; app not in the tenant). */
export class AppCredentialsRefusedError extends CallvaultError {
  readonly code = 'UNAUTHENTICATED' as const;
  readonly retryable = false;
}

/** A 403 that names the missing application access policy (Graph's wording, matched loosely). */
export function isAccessPolicyRefusal(status: number, detail: string | undefined): boolean {
  return status === 403 && /application access policy/i.test(detail ?? '');
}

/** The admin error a metered-API refusal is logged and dead-lettered under (README, alarms, status). */
export const TEAMS_METERED_API_BILLING = 'TEAMS_METERED_API_BILLING';

/**
 * Graph refused metered meeting-recording content (`callRecording: get`): beyond the evaluation quota an
 * Azure subscription must be linked to the app (Microsoft Graph "Enable metered APIs and services").
 * Retryable on the slow schedule, so once billing is linked the waiting jobs go through without a redrive.
 */
export class TeamsMeteredApiError extends CallvaultError {
  readonly code = 'BILLING_REQUIRED' as const;
  readonly retryable = true;
  readonly adminError = TEAMS_METERED_API_BILLING;

  constructor(
    readonly sourceId: string,
    readonly clientId: string,
    readonly status: number,
    detail: string,
  ) {
    super(
      `${TEAMS_METERED_API_BILLING}: Microsoft Graph refused source ${sourceId} a metered Teams API ` +
        `(HTTP ${status}: ${detail}). Meeting-recording content is metered: link an Azure subscription to the ` +
        `app (client id ${clientId}) for Microsoft Graph metered APIs (Azure CLI: az resource create ` +
        `--resource-group <group> --name <name> --resource-type Microsoft.GraphServices/accounts ` +
        `--properties '{"appId": "${clientId}"}' --location Global). The jobs wait and retry meanwhile. ` +
        `See the README section "${MSTEAMS_ADMIN_README_SECTION}".`,
    );
  }
}

/** A metered-API refusal: 402, or a 403/429 naming payment, billing or evaluation quota (loosely). */
export function isMeteredApiRefusal(status: number, detail: string | undefined): boolean {
  const named = /payment ?required|billing|metered|evaluation (mode|quota|capacity)/i.test(detail ?? '');
  return status === 402 || ((status === 403 || status === 429) && named);
}
