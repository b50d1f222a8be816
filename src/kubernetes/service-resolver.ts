import { CoreV1Api, DiscoveryV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../log.js';
import type { BackoffOptions } from '../backoff.js';
import { KubernetesError } from './errors.js';
import { endpointSliceSchema, parseWith, serviceSchema, type EndpointSlice, type Service } from './objects.js';
import { Reflector } from './reflector.js';
import { resolveService, sameResolution, type ServiceRef, type ServiceResolution } from './service-resolution.js';

export type { ServiceRef, ServiceResolution } from './service-resolution.js';

export interface ServiceResolverOptions {
  readonly kubeConfig: KubeConfig;
  readonly logger: Logger;
  readonly backoff?: BackoffOptions;
  /** How long watch() waits for the first list before failing with API_UNAVAILABLE. */
  readonly firstSyncTimeoutMs?: number;
}

/** A live resolution of one ServiceRef; follows the Service and its EndpointSlices. */
export interface ServiceWatch {
  readonly ref: ServiceRef;
  /** The latest resolution; undefined while the Service is missing or unsuitable. */
  current(): ServiceResolution | undefined;
  /** Called with each new resolution (only when it differs from the previous one). */
  onChange(listener: (resolution: ServiceResolution) => void): () => void;
  /** Called when the Service disappears, loses the port, or the API refuses (RBAC). */
  onError(listener: (error: KubernetesError) => void): () => void;
  close(): Promise<void>;
}

// KEDA gives GetMetricSpec a 3 s budget on the HPA path; answer well within it.
const DEFAULT_FIRST_SYNC_TIMEOUT_MS = 2_500;

/**
 * Resolves trigger metadata `service`/`servicePort` to demand addresses, target ports and
 * the pod selector, and keeps the answer current. One Service watch (field selector
 * metadata.name) and one EndpointSlice watch (label kubernetes.io/service-name) per Service,
 * shared by every ServiceRef naming it.
 */
export class ServiceResolver {
  private readonly sources = new Map<string, ServiceSource>();
  private readonly core: CoreV1Api;
  private readonly discovery: DiscoveryV1Api;

  constructor(private readonly options: ServiceResolverOptions) {
    this.core = options.kubeConfig.makeApiClient(CoreV1Api);
    this.discovery = options.kubeConfig.makeApiClient(DiscoveryV1Api);
  }

  /**
   * Starts following ref. Resolves once the Service and its EndpointSlices were listed;
   * rejects with a KubernetesError (SERVICE_NOT_FOUND, SERVICE_PORT_NOT_FOUND, FORBIDDEN,
   * API_UNAVAILABLE, ...) and then holds no watch.
   */
  async watch(ref: ServiceRef): Promise<ServiceWatch> {
    const key = `${ref.namespace}/${ref.service}`;
    let source = this.sources.get(key);
    if (!source) {
      source = new ServiceSource(ref.namespace, ref.service, this.options, this.core, this.discovery, () => this.sources.delete(key));
      this.sources.set(key, source);
    }
    const subscription = new Subscription(ref, source);
    try {
      await source.synced(this.options.firstSyncTimeoutMs ?? DEFAULT_FIRST_SYNC_TIMEOUT_MS);
      const state = subscription.evaluate();
      if (state instanceof KubernetesError) throw state;
      subscription.update();
      return subscription;
    } catch (err) {
      await subscription.close();
      throw err;
    }
  }

  /** One-shot resolution (watch + close). */
  async resolve(ref: ServiceRef): Promise<ServiceResolution> {
    const watch = await this.watch(ref);
    const resolution = watch.current();
    await watch.close();
    if (!resolution) throw new KubernetesError('API_ERROR', `no resolution for Service "${ref.service}"`);
    return resolution;
  }

  async close(): Promise<void> {
    await Promise.all([...this.sources.values()].map((s) => s.stop()));
    this.sources.clear();
  }
}

/** The two reflectors of one Service plus the subscriptions that read them. */
class ServiceSource {
  readonly subscriptions = new Set<Subscription>();
  service: Service | undefined;
  slices: EndpointSlice[] = [];
  private serviceListed = false;
  private slicesListed = false;
  private firstError: KubernetesError | undefined;
  private waiters: Array<(err?: KubernetesError) => void> = [];
  private readonly serviceReflector: Reflector<Service>;
  private readonly sliceReflector: Reflector<EndpointSlice>;

  constructor(
    readonly namespace: string,
    readonly name: string,
    options: ServiceResolverOptions,
    core: CoreV1Api,
    discovery: DiscoveryV1Api,
    private readonly onEmpty: () => void,
  ) {
    const logger = options.logger.child({ component: 'service-resolver', namespace, service: name });
    const fieldSelector = `metadata.name=${name}`;
    const labelSelector = `kubernetes.io/service-name=${name}`;
    this.serviceReflector = new Reflector<Service>({
      kubeConfig: options.kubeConfig,
      request: { group: '', resource: 'services', namespace },
      path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/services`,
      fieldSelector,
      list: async () => {
        const list = await core.listNamespacedService({ namespace, fieldSelector });
        return { items: list.items, resourceVersion: list.metadata?.resourceVersion ?? '' };
      },
      parse: (raw) => parseWith(serviceSchema, raw),
      logger,
      ...(options.backoff ? { backoff: options.backoff } : {}),
      onUpdate: (objects, cause) => {
        this.service = objects.values().next().value;
        if (cause === 'list') this.serviceListed = true;
        this.changed();
      },
      onError: (err) => this.failed(err),
    });
    this.sliceReflector = new Reflector<EndpointSlice>({
      kubeConfig: options.kubeConfig,
      request: { group: 'discovery.k8s.io', resource: 'endpointslices', namespace },
      path: `/apis/discovery.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/endpointslices`,
      labelSelector,
      list: async () => {
        const list = await discovery.listNamespacedEndpointSlice({ namespace, labelSelector });
        return { items: list.items, resourceVersion: list.metadata?.resourceVersion ?? '' };
      },
      parse: (raw) => parseWith(endpointSliceSchema, raw),
      logger,
      ...(options.backoff ? { backoff: options.backoff } : {}),
      onUpdate: (objects, cause) => {
        this.slices = [...objects.values()];
        if (cause === 'list') this.slicesListed = true;
        this.changed();
      },
      onError: (err) => this.failed(err),
    });
    this.serviceReflector.start();
    this.sliceReflector.start();
  }

  get isSynced(): boolean {
    return this.serviceListed && this.slicesListed;
  }

  synced(timeoutMs: number): Promise<void> {
    if (this.isSynced) return Promise.resolve();
    if (this.firstError) return Promise.reject(this.firstError);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        done(new KubernetesError('API_UNAVAILABLE', `Kubernetes API server did not answer within ${timeoutMs} ms listing Service "${this.name}" in namespace "${this.namespace}"`));
      }, timeoutMs);
      const done = (err?: KubernetesError): void => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== done);
        if (err) reject(err);
        else resolve();
      };
      this.waiters.push(done);
    });
  }

  private failed(err: KubernetesError): void {
    if (!this.isSynced) {
      // Before the first complete list, an error is the answer to watch().
      this.firstError = err;
      for (const waiter of [...this.waiters]) waiter(err);
      return;
    }
    for (const s of this.subscriptions) s.emitError(err);
  }

  private changed(): void {
    if (!this.isSynced) return;
    this.firstError = undefined;
    for (const waiter of [...this.waiters]) waiter();
    for (const s of this.subscriptions) s.update();
  }

  async release(subscription: Subscription): Promise<void> {
    this.subscriptions.delete(subscription);
    if (this.subscriptions.size === 0) await this.stop();
  }

  async stop(): Promise<void> {
    this.onEmpty();
    await Promise.all([this.serviceReflector.stop(), this.sliceReflector.stop()]);
  }
}

class Subscription implements ServiceWatch {
  private resolution: ServiceResolution | undefined;
  private lastError: string | undefined;
  private readonly changeListeners = new Set<(resolution: ServiceResolution) => void>();
  private readonly errorListeners = new Set<(error: KubernetesError) => void>();
  private closed = false;

  constructor(
    readonly ref: ServiceRef,
    private readonly source: ServiceSource,
  ) {
    source.subscriptions.add(this);
  }

  current(): ServiceResolution | undefined {
    return this.resolution;
  }

  onChange(listener: (resolution: ServiceResolution) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  onError(listener: (error: KubernetesError) => void): () => void {
    this.errorListeners.add(listener);
    return () => this.errorListeners.delete(listener);
  }

  /** Recomputes from the source; returns the resolution or the error it ran into. */
  evaluate(): ServiceResolution | KubernetesError {
    try {
      return resolveService(this.ref, this.source.service, this.source.slices);
    } catch (err) {
      if (err instanceof KubernetesError) return err;
      throw err;
    }
  }

  update(): void {
    if (this.closed) return;
    const next = this.evaluate();
    if (next instanceof KubernetesError) {
      this.resolution = undefined;
      this.emitError(next);
      return;
    }
    this.lastError = undefined;
    if (sameResolution(this.resolution, next)) return;
    this.resolution = next;
    for (const listener of [...this.changeListeners]) listener(next);
  }

  emitError(error: KubernetesError): void {
    // The same error on every event would flood: report each distinct error once.
    if (this.lastError === error.message) return;
    this.lastError = error.message;
    for (const listener of [...this.errorListeners]) listener(error);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.changeListeners.clear();
    this.errorListeners.clear();
    await this.source.release(this);
  }
}
