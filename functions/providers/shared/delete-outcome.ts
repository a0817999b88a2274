import { PermanentError } from '../../core/errors';
import { type HttpTextResponse, statusError, summariseErrorBody } from '../http';

/**
 * What a single-recording DELETE answered: 2xx deleted, a 404 that says "not found" already gone. Any
 * other 404 (a wrong path, a proxy) is not taken for a deletion: retention must not count it as one.
 */
export function deleteOutcome(response: HttpTextResponse, what: string): 'deleted' | 'already-gone' {
  if (response.status >= 200 && response.status < 300) return 'deleted';
  if (response.status !== 404) throw statusError(response);
  if (/not found/i.test(summariseErrorBody(response.text) ?? '')) return 'already-gone';
  throw new PermanentError(`unexpected 404 deleting ${what} (${response.where})`);
}
