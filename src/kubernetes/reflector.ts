import { Watch, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../log.js';
import { Backoff, type BackoffOptions } from '../backoff.js';
import { InterruptibleSleep, defaultBackoff } from './backoff.js';
import { classifyApiError, describeRequest, httpStatusOf, type KubernetesError, type ResourceRequest } from './errors.js';
import { objectKey } from './objects.js';

/** A list response reduced to what a reflector needs. */
export interface ListResult {
  readonly items: readonly unknown[];
  readonly resourceVersion: string;
}

export interface ReflectorOptions<T extends { metadata: { name: string; namespace?: string | undefined } }> {
  readonly kubeConfig: KubeConfig;
  /** What is listed and watched, for error messages ("forbidden to watch pods cluster-wide"). */
  readonly request: Omit<ResourceRequest, 'verb'>;
  /** Collection path, e.g. /api/v1/namespaces/default/services. */
  readonly path: string;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  /** Lists the collection with the same selectors (a typed client call). */
  readonly list: () => Promise<ListResult>;
  /** Parses one object; undefined = malformed (skipped, logged). */
  readonly parse: (raw: unknown) => T | undefined;
  readonly logger: Logger;
  readonly backoff?: BackoffOptions;
  /** Called after every list and every applied watch event with the whole current set. */
  readonly onUpdate: (objects: ReadonlyMap<string, T>, cause: 'list' | 'watch') => void;
  /** Called when a list or watch fails (the reflector keeps retrying with backoff). */
  readonly onError: (err: KubernetesError) => void;
}

interface WatchOutcome {
  readonly err?: unknown;
  /** The resourceVersion is too old (410 Gone): relist. */
  readonly gone: boolean;
  readonly events: number;
}

// A watch that ends sooner than this without any event did not really work; back off
// before the next one instead of reconnecting in a tight loop.
const MIN_HEALTHY_WATCH_MS = 1_000;
const STOP_WAIT_MS = 1_000;
// client-go's reflector picks 5-10 minutes at random so watches do not reconnect in step.
const WATCH_TIMEOUT_MIN_S = 300;

/**
 * List, then watch from the list's resourceVersion, forever: the client-go reflector
 * pattern. Resumes after stream errors and API server restarts (re-watch from the last
 * seen resourceVersion with backoff) and relists on 410 Gone. The library's own informer
 * stops for good on the first error, which is why this exists.
 */
export class Reflector<T extends { metadata: { name: string; namespace?: string | undefined } }> {
  private readonly objects = new Map<string, T>();
  private resourceVersion: string | undefined;
  private stopped = false;
  private abort: AbortController | undefined;
  private readonly sleeper = new InterruptibleSleep();
  private readonly backoff: Backoff;
  private loop: Promise<void> | undefined;

  constructor(private readonly options: ReflectorOptions<T>) {
    this.backoff = new Backoff(options.backoff ?? defaultBackoff);
  }

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort?.abort();
    this.sleeper.interrupt();
    // A watch still waiting for response headers cannot be aborted yet (the client hands
    // out its AbortController only then; it is aborted on arrival), so do not wait forever.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.loop, new Promise<void>((resolve) => (timer = setTimeout(resolve, STOP_WAIT_MS)))]);
    clearTimeout(timer);
  }

  current(): ReadonlyMap<string, T> {
    return this.objects;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      if (this.resourceVersion === undefined) {
        try {
          const list = await this.options.list();
          if (this.stopped) return;
          this.replace(list);
          this.backoff.reset();
        } catch (err) {
          if (this.stopped) return;
          this.options.onError(classifyApiError(err, { ...this.options.request, verb: 'list' }));
          await this.sleeper.sleep(this.backoff.nextDelayMs());
          continue;
        }
      }
      const started = Date.now();
      const outcome = await this.watchOnce(this.resourceVersion ?? '');
      if (this.stopped) return;
      if (outcome.gone) {
        this.options.logger.info({ resource: describeRequest({ ...this.options.request, verb: 'watch' }) }, 'watch history expired (410 Gone), relisting');
        this.resourceVersion = undefined;
        continue;
      }
      const timedOut = outcome.err instanceof Error && outcome.err.name === 'TimeoutError';
      if (outcome.err !== undefined && outcome.err !== null && !timedOut) {
        const error = classifyApiError(outcome.err, { ...this.options.request, verb: 'watch' });
        this.options.logger.warn({ err: error.message }, 'watch failed, retrying');
        this.options.onError(error);
        await this.sleeper.sleep(this.backoff.nextDelayMs());
        continue;
      }
      if (outcome.events > 0 || Date.now() - started >= MIN_HEALTHY_WATCH_MS) {
        this.backoff.reset();
      } else {
        await this.sleeper.sleep(this.backoff.nextDelayMs());
      }
    }
  }

  private replace(list: ListResult): void {
    this.objects.clear();
    for (const raw of list.items) {
      const obj = this.parseLogged(raw);
      if (obj) this.objects.set(objectKey(obj.metadata), obj);
    }
    this.resourceVersion = list.resourceVersion;
    this.options.onUpdate(this.objects, 'list');
  }

  private parseLogged(raw: unknown): T | undefined {
    const obj = this.options.parse(raw);
    if (!obj) this.options.logger.warn({ resource: this.options.request.resource }, 'skipping malformed object from the API server');
    return obj;
  }

  private watchOnce(resourceVersion: string): Promise<WatchOutcome> {
    return new Promise((resolve) => {
      let gone = false;
      let events = 0;
      let settled = false;
      const finish = (err: unknown): void => {
        if (settled) return;
        settled = true;
        if (httpStatusOf(err) === 410) gone = true;
        resolve({ err: gone ? undefined : err, gone, events });
      };
      const query: Record<string, string | number | boolean | undefined> = {
        resourceVersion,
        allowWatchBookmarks: true,
        // The server ends each watch after this long and we re-watch from the last
        // resourceVersion: a connection that silently died is replaced within minutes.
        timeoutSeconds: WATCH_TIMEOUT_MIN_S + Math.floor(Math.random() * WATCH_TIMEOUT_MIN_S),
        labelSelector: this.options.labelSelector,
        fieldSelector: this.options.fieldSelector,
      };
      const onEvent = (type: string, object: unknown): void => {
        if (type === 'ERROR') {
          // A Status object; 410 means our resourceVersion fell out of the watch cache.
          // Any other code: relist too, it is the only safe way to get consistent again.
          gone = true;
          this.abort?.abort();
          finish(undefined);
          return;
        }
        const rv = resourceVersionOf(object);
        if (type === 'BOOKMARK') {
          if (rv) this.resourceVersion = rv;
          return;
        }
        const obj = this.parseLogged(object);
        if (!obj) return;
        if (type === 'DELETED') this.objects.delete(objectKey(obj.metadata));
        else if (type === 'ADDED' || type === 'MODIFIED') this.objects.set(objectKey(obj.metadata), obj);
        else return;
        if (rv) this.resourceVersion = rv;
        events++;
        this.options.onUpdate(this.objects, 'watch');
      };
      new Watch(this.options.kubeConfig).watch(this.options.path, query, onEvent, finish).then(
        (controller) => {
          this.abort = controller;
          if (this.stopped || settled) controller.abort();
        },
        (err: unknown) => finish(err),
      );
    });
  }
}

function resourceVersionOf(object: unknown): string | undefined {
  if (typeof object !== 'object' || object === null) return undefined;
  const meta = (object as { metadata?: { resourceVersion?: unknown } }).metadata;
  return typeof meta?.resourceVersion === 'string' ? meta.resourceVersion : undefined;
}
