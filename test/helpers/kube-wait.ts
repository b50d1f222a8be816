import type { BackoffOptions } from '../../src/backoff.js';

/** Quick retries so API-server-restart tests take well under a second per reconnect. */
export const testBackoff: BackoffOptions = { initialMs: 20, maxMs: 200, jitter: 0 };

/** Polls predicate until it holds or timeoutMs passes (then throws, naming what). */
export async function waitFor(what: string, predicate: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Collects values a subscription emits, for assertions in order. */
export class Recorder<T> {
  readonly values: T[] = [];
  readonly push = (value: T): void => {
    this.values.push(value);
  };

  get last(): T | undefined {
    return this.values[this.values.length - 1];
  }

  async next(what: string, predicate: (value: T) => boolean = () => true, timeoutMs = 5_000): Promise<T> {
    const start = this.values.length;
    let found: T | undefined;
    await waitFor(
      what,
      () => {
        found = this.values.slice(start).find(predicate);
        return found !== undefined;
      },
      timeoutMs,
    );
    return found as T;
  }
}
