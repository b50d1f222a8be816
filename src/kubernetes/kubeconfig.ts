import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import type { Agent as HttpAgent } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';

/**
 * The API server connection: an explicit kubeconfig file when given, else $KUBECONFIG,
 * ~/.kube/config, or the in-cluster service account (what the scaler and collector pods
 * use). Unlike the library's loadFromDefault, finding none of them is an error, not a
 * silent http://localhost:8080.
 *
 * Every typed API call gets a deadline (requestTimeoutMs), and close() cuts whatever is
 * still open (watches included, by destroying their connections), so an API server that
 * accepts and never answers can neither hang a caller nor delay shutdown (attack 10).
 */

/** Deadline of one API call (list, get, create); watches are long-lived and have none. */
export const DEFAULT_API_REQUEST_TIMEOUT_MS = 10_000;

const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

export class KubeConfigError extends Error {
  override readonly name = 'KubeConfigError';
}

interface RequestContextLike {
  setSignal?(signal: AbortSignal): void;
}

type AnyAgent = HttpAgent | HttpsAgent;

/** A KubeConfig whose requests time out and can all be cut at once. */
export class BoundedKubeConfig extends KubeConfig {
  private readonly closing = new AbortController();
  private readonly agents = new Set<AnyAgent>();

  constructor(readonly requestTimeoutMs = DEFAULT_API_REQUEST_TIMEOUT_MS) {
    super();
    // createAgent is private in the library's typings; every request (watches too) gets a
    // fresh agent from it: remember them, to destroy their connections on close.
    const self = this as unknown as { createAgent: (...args: unknown[]) => AnyAgent };
    const create = self.createAgent.bind(this);
    self.createAgent = (...args: unknown[]): AnyAgent => {
      const agent = create(...args);
      for (const known of this.agents) if (Object.keys(known.sockets).length === 0 && Object.keys(known.requests).length === 0) this.agents.delete(known);
      this.agents.add(agent);
      if (this.closing.signal.aborted) agent.destroy();
      return agent;
    };
  }

  /** Controllers of requests younger than the deadline (each dropped when its deadline passes). */
  private readonly live = new Set<AbortController>();

  /**
   * Called by the generated clients before every request: add the deadline. A plain timer
   * and controller, not AbortSignal.any(AbortSignal.timeout()): Node 20 may collect such a
   * composite's timeout signal before it fires (seen here as a list that never ended).
   */
  override async applySecurityAuthentication(context: Parameters<KubeConfig['applySecurityAuthentication']>[0]): Promise<void> {
    await super.applySecurityAuthentication(context);
    const controller = new AbortController();
    if (this.closing.signal.aborted) controller.abort(this.closing.signal.reason);
    this.live.add(controller);
    const timer = setTimeout(() => {
      this.live.delete(controller);
      controller.abort(new Error(`no answer from the Kubernetes API server within ${this.requestTimeoutMs} ms`));
    }, this.requestTimeoutMs);
    timer.unref();
    (context as unknown as RequestContextLike).setSignal?.(controller.signal);
  }

  /** Aborts every request still open and refuses new ones. */
  close(): void {
    this.closing.abort(new Error('shutting down'));
    for (const controller of this.live) controller.abort(this.closing.signal.reason);
    this.live.clear();
    for (const agent of this.agents) agent.destroy();
    this.agents.clear();
  }
}

export interface LoadKubeConfigOptions {
  readonly kubeconfigPath?: string | undefined;
  /** Defaults to process.env; $KUBECONFIG and $KUBERNETES_SERVICE_HOST are read from it. */
  readonly env?: NodeJS.ProcessEnv;
  readonly requestTimeoutMs?: number;
}

export function loadKubeConfig(options: LoadKubeConfigOptions = {}): BoundedKubeConfig {
  const env = options.env ?? process.env;
  const kc = new BoundedKubeConfig(options.requestTimeoutMs);
  const file = options.kubeconfigPath ?? (env['KUBECONFIG'] ? env['KUBECONFIG'].split(path.delimiter).find((f) => f !== '') : undefined);
  const flag = options.kubeconfigPath !== undefined ? '--kubeconfig' : '$KUBECONFIG';
  if (file !== undefined) {
    loadFile(kc, file, flag);
  } else if (existsSync(path.join(os.homedir(), '.kube', 'config'))) {
    loadFile(kc, path.join(os.homedir(), '.kube', 'config'), '~/.kube/config');
  } else if (env['KUBERNETES_SERVICE_HOST'] && existsSync(SERVICE_ACCOUNT_TOKEN)) {
    kc.loadFromCluster();
  } else {
    throw new KubeConfigError(
      'Kubernetes mode is on but no API server is configured (no --kubeconfig, $KUBECONFIG or ~/.kube/config, and not running in a pod): give --kubeconfig FILE, or --kubernetes off',
    );
  }
  return kc;
}

function loadFile(kc: KubeConfig, file: string, flag: string): void {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new KubeConfigError(`${flag} ${file}: cannot read it (${code}); give a readable kubeconfig file, or --kubernetes off`, { cause: err });
  }
  try {
    kc.loadFromString(text);
    // Resolves relative certificate paths the way loadFromFile does.
    kc.makePathsAbsolute(path.dirname(path.resolve(file)));
  } catch (err) {
    throw new KubeConfigError(`${flag} ${file}: not a kubeconfig (${firstLine(err)}); give a kubeconfig with clusters, users and a current-context`, { cause: err });
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster?.server) throw new KubeConfigError(`${flag} ${file}: its current-context names no cluster with a server; set current-context or give another kubeconfig`);
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!.slice(0, 200);
}
