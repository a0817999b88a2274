import { PermanentError } from '../../core/errors';
import { errorForStatus, type HttpTextResponse, summariseErrorBody } from '../http';

/**
 * What a single-recording DELETE answered: 2xx deleted, a 404 that says "not found" already gone. Any
 * other 404 (a wrong path, a proxy) is not taken for a deletion: retention must not count it as one.
 */
export function deleteOutcome(response: HttpTextResponse, what: string): 'deleted' | 'already-gone' {
  const { status, headers, where } = response;
  if (status >= 200 && status < 300) return 'deleted';
  const detail = summariseErrorBody(response.text);
  if (status !== 404) throw errorForStatus(status, headers, where, detail);
  if (/not found/i.test(detail ?? '')) return 'already-gone';
  throw new PermanentError(`unexpected 404 deleting ${what} (${where})`);
}
