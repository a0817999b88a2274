/**
 * A minimal FIFO async mutex. Telphin answers a second concurrent stats request with 429, so each
 * source instance runs its list and stats calls one at a time through one of these.
 */
export class AsyncMutex {
  private tail: Promise<void> = Promise.resolve();

  /** Runs `task` once every earlier task has settled; a failing task does not block later ones. */
  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task);
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}
