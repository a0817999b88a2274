/** A content 404 cannot tell "not written yet" from "deleted at the source": the source is asked again. */
import { GoneAtSourceError, NotReadyError } from '../../core/errors';

/** Always throws: NotReadyError while the source still has the recording, GoneAtSourceError once not. */
export async function judgeMissingContent(hooks: {
  /** Asks the source again whether it still has the recording. */
  stillAtSource(): Promise<boolean>;
  /** Why the content is missing while the source still has it (NotReadyError's message). */
  notReady: string;
  /** Why the recording is taken for gone (GoneAtSourceError's message). */
  gone: string;
  /** The 404 itself, kept as the cause. */
  cause?: unknown;
  /** A provider's own verdict on a recording still at the source (giving up after a wait, say). */
  stillThere?(): Error | undefined;
}): Promise<never> {
  const options = hooks.cause === undefined ? undefined : { cause: hooks.cause };
  if (await hooks.stillAtSource()) throw hooks.stillThere?.() ?? new NotReadyError(hooks.notReady, options);
  throw new GoneAtSourceError(hooks.gone, options);
}
