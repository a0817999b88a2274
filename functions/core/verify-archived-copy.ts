import { createHash } from 'node:crypto';
import { recordingKey } from './keys';
import type { ArchivedCopy, ArchiveStore } from './ports';
import type { SourceRecording } from './recording';

export type CopyProblem =
  | 'not-archived'
  | 'no-sidecar'
  | 'sidecar-unreadable'
  | 'source-size-unknown'
  | 'size-mismatch'
  | 'no-sha256'
  | 'sha256-mismatch'
  | 'legal-hold'
  | 'too-young'
  | 'deep-verify-failed';

export type CopyVerification =
  | { verified: true; copy: ArchivedCopy & { sha256: string }; deepVerified: boolean }
  | { verified: false; problem: CopyProblem; detail: string; copy?: ArchivedCopy };

export interface VerificationPolicy {
  now: Date;
  gracePeriodHours: number;
  /** Re-read the stored bytes and recompute SHA-256. */
  deep: boolean;
}

/**
 * Decides whether the archived copy of a recording vouches for deleting it at the source. Every check
 * must pass: the object exists at its deterministic key; its size equals what the source reports *now*;
 * the SHA-256 recorded at upload is in the object's metadata and in the sidecar and they agree; no
 * legal hold; the copy is older than the grace period; and, when asked, the bytes still hash to it.
 */
export async function verifyArchivedCopy(
  recording: SourceRecording,
  store: ArchiveStore,
  policy: VerificationPolicy,
): Promise<CopyVerification> {
  const key = recordingKey(recording);
  const copy = await store.inspect(key);
  const refuse = (problem: CopyProblem, detail: string): CopyVerification => ({
    verified: false,
    problem,
    detail,
    copy,
  });
  if (!copy) return refuse('not-archived', `no object at ${key}`);
  if (!copy.hasSidecar) return refuse('no-sidecar', `no sidecar beside ${key}`);
  if (copy.legalHold || copy.tags['legal-hold']?.toLowerCase() === 'true')
    return refuse('legal-hold', 'the copy is under legal hold');
  if (recording.size === undefined)
    return refuse('source-size-unknown', 'the source does not report a size to compare');
  if (copy.size !== recording.size) {
    return refuse('size-mismatch', `archived ${copy.size} bytes, the source reports ${recording.size}`);
  }
  if (!copy.sha256) return refuse('no-sha256', 'the object has no sha256 metadata');
  let sidecar: Awaited<ReturnType<ArchiveStore['readSidecar']>>;
  try {
    sidecar = await store.readSidecar(key);
  } catch (error) {
    return refuse('sidecar-unreadable', `the sidecar is not valid: ${(error as Error).message}`);
  }
  if (!sidecar) return refuse('no-sidecar', `no sidecar beside ${key}`);
  if (sidecar.sha256 !== copy.sha256 || sidecar.size !== copy.size) {
    return refuse(
      'sha256-mismatch',
      `object says ${copy.sha256}/${copy.size} B, sidecar says ${sidecar.sha256}/${sidecar.size} B`,
    );
  }
  const ageHours = (policy.now.getTime() - copy.lastModified.getTime()) / 3_600_000;
  if (ageHours < policy.gracePeriodHours) {
    return refuse(
      'too-young',
      `the copy is ${ageHours.toFixed(1)} h old; the grace period is ${policy.gracePeriodHours} h`,
    );
  }
  if (policy.deep) {
    const hash = createHash('sha256');
    let bytes = 0;
    try {
      for await (const chunk of await store.openRecording(key)) {
        hash.update(chunk as Buffer);
        bytes += (chunk as Buffer).length;
      }
    } catch (error) {
      // An unreadable copy (archived to Glacier, a network fault) vouches for nothing today.
      return refuse('deep-verify-failed', `the stored bytes could not be read: ${(error as Error).message}`);
    }
    const actual = hash.digest('hex');
    if (actual !== copy.sha256 || bytes !== copy.size) {
      return refuse(
        'deep-verify-failed',
        `stored bytes hash to ${actual} (${bytes} B), recorded ${copy.sha256}`,
      );
    }
  }
  return { verified: true, copy: { ...copy, sha256: copy.sha256 }, deepVerified: policy.deep };
}
