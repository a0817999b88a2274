import { PermanentError } from '../../core/errors';
import { type HttpTextResponse, statusError, summariseErrorBody } from '../http';

/** A recording DELETE's answer; only a 404 saying "not found" is gone already (a proxy's is no deletion). */
export function deleteOutcome(response: HttpTextResponse, what: string): 'deleted' | 'already-gone' {
  if (response.status >= 200 && response.status < 300) return 'deleted';
  if (response.status !== 404) throw statusError(response);
  if (/not found/i.test(summariseErrorBody(response.text) ?? '')) return 'already-gone';
  throw new PermanentError(`unexpected 404 deleting ${what} (${response.where})`);
}
