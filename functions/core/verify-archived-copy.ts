import { createHash } from 'node:crypto';
import { describeChecksum, sameChecksum } from './checksums';
import { findArchivedCopy } from './find-copy';
import { recordingStem } from './keys';
import type { ArchivedCopy, ArchiveStore } from './ports';
import type { SourceRecording } from './recording';
import { type Sidecar, sidecarChecksum } from './sidecar';

export type CopyProblem =
  | 'not-archived'
  | 'no-sidecar'
  | 'sidecar-unreadable'
  | 'source-size-unknown'
  | 'gone-at-source'
  | 'size-mismatch'
  | 'no-sha256'
  | 'sha256-mismatch'
  | 'no-checksum'
  | 'checksum-mismatch'
  | 'legal-hold'
  | 'too-young'
  | 'deep-verify-failed';

export type CopyVerification =
  | {
      verified: true;
      copy: ArchivedCopy & { sha256: string };
      deepVerified: boolean;
      /** What the source reported, from its listing or asked for it (the size that vouched). */
      sourceSize: number;
    }
  | { verified: false; problem: CopyProblem; detail: string; copy?: ArchivedCopy };

export interface VerificationPolicy {
  now: Date;
  gracePeriodHours: number;
  /** Re-read the stored bytes and recompute SHA-256. */
  deep: boolean;
  /**
   * Asks the source for the content's size when its listing gave none (`RecordingSource.reportedSize`).
   * Asked only once the cheap checks passed, since it may cost a rate-limited request.
   */
  reportedSize?: () => Promise<number | 'gone' | undefined>;
}

/**
 * Decides whether the archived copy of a recording vouches for deleting it at the source. Every check
 * must pass: a copy exists under the recording's deterministic stem (whatever its extension: older
 * versions named some from a configured format); its size equals what the source reports *now*
 * and what the sidecar recorded; the SHA-256 the object carries (metadata, tag, or both) equals the
 * sidecar's; the checksum the store verified on write equals the one the sidecar recorded (sidecars
 * without one, from before schema 2 or from a store that keeps none, need the SHA-256 in the object's
 * own metadata instead, since a tag alone can be changed); no legal hold; the copy is older than the
 * grace period; and, when asked, the bytes still hash to the sidecar's SHA-256.
 */
export async function verifyArchivedCopy(
  recording: SourceRecording,
  store: ArchiveStore,
  policy: VerificationPolicy,
): Promise<CopyVerification> {
  const stem = recordingStem(recording);
  const copy = await findArchivedCopy(store, stem);
  const refuse = (problem: CopyProblem, detail: string): CopyVerification => ({
    verified: false,
    problem,
    detail,
    copy,
  });
  if (!copy) return refuse('not-archived', `no copy at ${stem}.*`);
  const { key } = copy;
  if (!copy.hasSidecar) return refuse('no-sidecar', `no sidecar beside ${key}`);
  if (copy.legalHold || copy.tags['legal-hold']?.toLowerCase() === 'true')
    return refuse('legal-hold', 'the copy is under legal hold');
  let sourceSize = recording.size;
  if (sourceSize === undefined && policy.reportedSize) {
    let reported: number | 'gone' | undefined;
    try {
      reported = await policy.reportedSize();
    } catch (error) {
      return refuse(
        'source-size-unknown',
        `the source's size could not be obtained: ${(error as Error).message}`,
      );
    }
    if (reported === 'gone')
      return refuse('gone-at-source', 'the source no longer serves the content; nothing to delete');
    sourceSize = reported;
  }
  if (sourceSize === undefined)
    return refuse('source-size-unknown', 'the source does not report a size to compare');
  if (copy.size !== sourceSize) {
    return refuse('size-mismatch', `archived ${copy.size} bytes, the source reports ${sourceSize}`);
  }
  if (!copy.sha256 && !copy.taggedSha256)
    return refuse('no-sha256', 'the object carries no SHA-256 (metadata or tag)');
  let sidecar: Sidecar | undefined;
  try {
    sidecar = await store.readSidecar(key);
  } catch (error) {
    return refuse('sidecar-unreadable', `the sidecar is not valid: ${(error as Error).message}`);
  }
  if (!sidecar) return refuse('no-sidecar', `no sidecar beside ${key}`);
  const carried = [copy.sha256, copy.taggedSha256].filter((value) => value !== undefined);
  if (carried.some((sha256) => sha256 !== sidecar.sha256) || sidecar.size !== copy.size) {
    return refuse(
      'sha256-mismatch',
      `object says ${carried.join(' and ')}/${copy.size} B, sidecar says ${sidecar.sha256}/${sidecar.size} B`,
    );
  }
  const recordedChecksum = sidecarChecksum(sidecar);
  if (recordedChecksum) {
    if (!copy.checksum)
      return refuse(
        'no-checksum',
        `the store reports no checksum; the sidecar recorded ${describeChecksum(recordedChecksum)}`,
      );
    if (!sameChecksum(copy.checksum, recordedChecksum)) {
      return refuse(
        'checksum-mismatch',
        `the store reports ${describeChecksum(copy.checksum)}, the sidecar recorded ${describeChecksum(recordedChecksum)}`,
      );
    }
  } else if (!copy.sha256) {
    return refuse(
      'no-sha256',
      'neither a recorded checksum nor a SHA-256 in the object metadata; a tag alone does not vouch',
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
    if (actual !== sidecar.sha256 || bytes !== copy.size) {
      return refuse(
        'deep-verify-failed',
        `stored bytes hash to ${actual} (${bytes} B), recorded ${sidecar.sha256}`,
      );
    }
  }
  return {
    verified: true,
    copy: { ...copy, sha256: sidecar.sha256 },
    deepVerified: policy.deep,
    sourceSize,
  };
}
