import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../log.js';
import type { BackoffOptions } from '../backoff.js';
import type { KubernetesError } from './errors.js';
import { parseWith, podSchema, type Pod } from './objects.js';
import type { NetnsMapping, PodIdentity } from './netns-mapper.js';
import { Reflector } from './reflector.js';

/** Pods of one namespace whose labels include matchLabels (a Service's selector). */
export interface PodSelector {
  readonly namespace: string;
  readonly matchLabels: Readonly<Record<string, string>>;
}

/** A running pod on this node, selected by some PodSelector, with its network namespace. */
export interface NodePod {
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly hostNetwork: boolean;
  readonly netnsInode: number;
  /** Declared TCP container ports (what a hostNetwork pod listens on in the host netns). */
  readonly containerPorts: readonly number[];
}

export interface PodWatcherOptions {
  readonly kubeConfig: KubeConfig;
  /** This node's name (downward API spec.nodeName). */
  readonly nodeName: string;
  readonly logger: Logger;
  /** Maps a pod to its netns inode (NetnsMapper in production). */
  readonly mapper: { mapPod(pod: PodIdentity): NetnsMapping };
  readonly backoff?: BackoffOptions;
  /** How often pods whose netns could not be found yet are retried. */
  readonly retryIntervalMs?: number;
}

// A pod's status turns Running before its sandbox is always visible in /proc: retry
// soon, the BPF watch map should not wait long for a new replica.
const DEFAULT_RETRY_MS = 1_000;

/**
 * Collector side: watches the pods on its own node (field selector spec.nodeName), keeps
 * the running ones that match the current selectors mapped to network namespaces, and
 * calls onChange with the whole selected set whenever it changes (pod churn, label
 * changes, selector changes). Mappings are cached per pod uid + container ids.
 */
export class PodWatcher {
  private readonly reflector: Reflector<Pod>;
  private readonly logger: Logger;
  private selectors: readonly PodSelector[] = [];
  private readonly cache = new Map<string, { key: string; mapping: NetnsMapping }>();
  private readonly failing = new Map<string, string>();
  private readonly changeListeners = new Set<(pods: readonly NodePod[]) => void>();
  private readonly errorListeners = new Set<(error: KubernetesError) => void>();
  private selected: readonly NodePod[] = [];
  private lastEmitted = '[]';
  private listed = false;
  private listedWaiters: Array<() => void> = [];
  private retryTimer: NodeJS.Timeout | undefined;
  /** Held from start() to the first list; see start(). */
  private startupHold: NodeJS.Timeout | undefined;
  /** The last list/watch error logged, so a failure repeating on every retry is one line. */
  private lastError = '';

  constructor(private readonly options: PodWatcherOptions) {
    this.logger = options.logger.child({ component: 'pod-watcher', node: options.nodeName });
    const core = options.kubeConfig.makeApiClient(CoreV1Api);
    const fieldSelector = `spec.nodeName=${options.nodeName}`;
    this.reflector = new Reflector<Pod>({
      kubeConfig: options.kubeConfig,
      request: { group: '', resource: 'pods' },
      path: '/api/v1/pods',
      fieldSelector,
      list: async () => {
        const list = await core.listPodForAllNamespaces({ fieldSelector });
        return { items: list.items, resourceVersion: list.metadata?.resourceVersion ?? '' };
      },
      parse: (raw) => parseWith(podSchema, raw),
      logger: this.logger,
      ...(options.backoff ? { backoff: options.backoff } : {}),
      onUpdate: (_objects, cause) => {
        if (cause === 'list' && !this.listed) {
          this.listed = true;
          this.releaseStartup();
        }
        if (this.lastError !== '') {
          this.lastError = '';
          this.logger.info('pods of this node listed again');
        }
        this.recompute();
      },
      onError: (err) => {
        // Nothing else reports a list that fails (RBAC, an unreachable API server, a bad
        // kubeconfig), and until one succeeds no pod selector matches: say why, once per
        // distinct error.
        const line = `${err.code}: ${err.message}`;
        if (line !== this.lastError) {
          this.lastError = line;
          this.logger.warn({ code: err.code, err: err.message }, 'cannot list or watch the pods of this node, retrying');
        }
        for (const listener of [...this.errorListeners]) listener(err);
      },
    });
  }

  /** Starts watching; resolves after the first list (errors meanwhile go to onError, retried). */
  start(): Promise<void> {
    this.reflector.start();
    if (this.listed) return Promise.resolve();
    // The reflector's retry timers are unref'd (a backoff alone must not keep a process
    // alive), and until the first list this watcher may be all a process waits on: without
    // this handle, a first list that fails would let node exit 0 in silence.
    this.startupHold ??= setInterval(() => {}, 60_000);
    return new Promise((resolve) => this.listedWaiters.push(resolve));
  }

  async stop(): Promise<void> {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.releaseStartup();
    await this.reflector.stop();
  }

  private releaseStartup(): void {
    if (this.startupHold) clearInterval(this.startupHold);
    this.startupHold = undefined;
    for (const wake of this.listedWaiters.splice(0)) wake();
  }

  /** Replaces the selectors (the union of every watch set's pod selectors). */
  setSelectors(selectors: readonly PodSelector[]): void {
    this.selectors = selectors.map((s) => ({ namespace: s.namespace, matchLabels: { ...s.matchLabels } }));
    this.recompute();
  }

  /** The currently selected, mapped, running pods on this node. */
  current(): readonly NodePod[] {
    return this.selected;
  }

  /** Of the current pods, those one selector matches. */
  select(selector: PodSelector): NodePod[] {
    return this.selected.filter((p) => matchesSelector(p.namespace, p.labels, selector));
  }

  /**
   * Netns inodes of the running pods here that match (unique, sorted): the collector's
   * NodeNamespaces.podNetns (src/collector/watch-resolution.ts). A selector not seen before
   * is added to the selector set, so pulling is enough; setSelectors() prunes.
   */
  podNetns(namespace: string, matchLabels: Readonly<Record<string, string>>): number[] {
    const selector: PodSelector = { namespace, matchLabels };
    const key = selectorKey(selector);
    if (!this.selectors.some((s) => selectorKey(s) === key)) {
      this.selectors = [...this.selectors, { namespace, matchLabels: { ...matchLabels } }];
      this.recompute();
    }
    return [...new Set(this.select(selector).map((p) => p.netnsInode))].sort((a, b) => a - b);
  }

  onChange(listener: (pods: readonly NodePod[]) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  onError(listener: (error: KubernetesError) => void): () => void {
    this.errorListeners.add(listener);
    return () => this.errorListeners.delete(listener);
  }

  private recompute(): void {
    const pods: NodePod[] = [];
    const seen = new Set<string>();
    let unmapped = 0;
    for (const pod of this.reflector.current().values()) {
      const uid = pod.metadata.uid ?? '';
      const namespace = pod.metadata.namespace ?? '';
      const labels = pod.metadata.labels ?? {};
      if (uid === '' || !isRunning(pod)) continue;
      if (!this.selectors.some((s) => matchesSelector(namespace, labels, s))) continue;
      seen.add(uid);
      const mapping = this.map(pod, uid);
      if (!mapping) {
        unmapped++;
        continue;
      }
      pods.push({
        uid,
        namespace,
        name: pod.metadata.name,
        labels: { ...labels },
        hostNetwork: pod.spec?.hostNetwork === true,
        netnsInode: mapping.netnsInode,
        containerPorts: containerPorts(pod),
      });
    }
    // Forget pods that are gone so the cache stays bounded by the node's pods.
    for (const uid of [...this.cache.keys()]) if (!seen.has(uid)) this.cache.delete(uid);
    for (const uid of [...this.failing.keys()]) if (!seen.has(uid)) this.failing.delete(uid);
    pods.sort((a, b) => (a.uid < b.uid ? -1 : a.uid > b.uid ? 1 : 0));
    this.selected = pods;
    const text = JSON.stringify(pods);
    if (text !== this.lastEmitted) {
      this.lastEmitted = text;
      for (const listener of [...this.changeListeners]) listener(pods);
    }
    this.scheduleRetry(unmapped > 0);
  }

  private map(pod: Pod, uid: string): NetnsMapping | undefined {
    const containerIds = (pod.status?.containerStatuses ?? []).filter((c) => c.state?.running).map((c) => c.containerID ?? '');
    const key = `${pod.spec?.hostNetwork === true}|${containerIds.join(',')}`;
    const cached = this.cache.get(uid);
    if (cached?.key === key) return cached.mapping;
    try {
      const mapping = this.options.mapper.mapPod({ uid, qosClass: pod.status?.qosClass ?? undefined, hostNetwork: pod.spec?.hostNetwork === true, containerIds });
      this.cache.set(uid, { key, mapping });
      if (this.failing.delete(uid)) this.logger.info({ pod: `${pod.metadata.namespace}/${pod.metadata.name}` }, 'pod network namespace found');
      return mapping;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      // One line per pod and distinct reason, not one per retry.
      if (this.failing.get(uid) !== message) {
        this.failing.set(uid, message);
        this.logger.warn({ pod: `${pod.metadata.namespace}/${pod.metadata.name}`, err: message }, 'pod network namespace not found yet, retrying');
      }
      return undefined;
    }
  }

  private scheduleRetry(needed: boolean): void {
    if (!needed || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.recompute();
    }, this.options.retryIntervalMs ?? DEFAULT_RETRY_MS);
    this.retryTimer.unref();
  }
}

export function matchesSelector(namespace: string, labels: Readonly<Record<string, string>>, selector: PodSelector): boolean {
  const entries = Object.entries(selector.matchLabels);
  // An empty selector selects nothing (as a Service without selector manages no endpoints).
  return namespace === selector.namespace && entries.length > 0 && entries.every(([k, v]) => labels[k] === v);
}

function selectorKey(selector: PodSelector): string {
  return JSON.stringify([selector.namespace, Object.entries(selector.matchLabels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))]);
}

function isRunning(pod: Pod): boolean {
  return pod.status?.phase === 'Running' && (pod.status.containerStatuses ?? []).some((c) => c.state?.running && c.containerID);
}

function containerPorts(pod: Pod): number[] {
  const ports = new Set<number>();
  for (const c of pod.spec?.containers ?? []) {
    for (const p of c.ports ?? []) if ((p.protocol ?? 'TCP') === 'TCP') ports.add(p.containerPort);
  }
  return [...ports].sort((a, b) => a - b);
}
