/**
 * A continuation plan (core/continuation.ts) for one invocation, or one local job: its downloads
 * checkpoint `untilCheckpointMs` from now, hash resumably when they may not finish before that, and a
 * chain older than the bucket's abort-incomplete-uploads rule allows starts over instead.
 */
import { resumableSha256 } from '../adapters/resumable-sha256';
import { type ContinuationPlan, maxUploadAgeMs, resumableThreshold } from '../core/continuation';

export function continuationPlan(
  untilCheckpointMs: number,
  abortIncompleteMultipartUploadsAfterDays: number,
): ContinuationPlan {
  return {
    checkpoint: AbortSignal.timeout(untilCheckpointMs),
    hashes: resumableSha256,
    resumableAboveBytes: resumableThreshold(untilCheckpointMs),
    maxUploadAgeMs: maxUploadAgeMs(abortIncompleteMultipartUploadsAfterDays),
  };
}
