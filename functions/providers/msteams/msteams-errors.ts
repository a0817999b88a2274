/**
 * Failures only a Teams administrator can fix. Both are non-retryable: every retry would fail the same way
 * and hide the cause in a queue's retry count; the job is dead-lettered with a message that names the fix.
 */
import { CallvaultError } from '../../core/errors';

/** The README section both messages point to; keep them in step. */
export const MSTEAMS_ADMIN_README_SECTION = 'Microsoft Teams recordings: tenant set-up';

/**
 * Graph answered 403 "No application access policy found for this app": the app holds the permission,
 * but Teams only lets an app read a user's meeting artifacts once an administrator granted it an
 * application access policy for that user (or globally).
 */
export class ApplicationAccessPolicyError extends CallvaultError {
  readonly code = 'PERMANENT' as const;
  readonly retryable = false;

  constructor(
    readonly sourceId: string,
    readonly clientId: string,
    readonly userId: string | undefined,
    detail: string,
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
