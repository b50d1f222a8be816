import { randomBytes, randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';

/**
 * A stand-in Kubernetes API server: a real HTTP server on 127.0.0.1 that speaks the API's
 * JSON for the resources this project reads (list with metadata.resourceVersion, watch as
 * newline-delimited {"type","object"} events resumable from a resourceVersion, 410 Gone
 * when that resourceVersion is compacted, 403 Forbidden Status objects for denied RBAC,
 * field and equality label selectors) and for TokenReview (POST
 * /apis/authentication.k8s.io/v1/tokenreviews, 201 with the status a real API server gives
 * for the ServiceAccount tokens it issued with issueServiceAccountToken()). The real
 * @kubernetes/client-node talks to it.
 */

/** What the stand-in recorded when it issued a ServiceAccount token (the claims of a projected token). */
export interface IssuedToken {
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly audiences: readonly string[];
  /** Unix ms. */
  readonly expiresAtMs: number;
  /** Bound pod and node (a projected token); absent for a token not bound to a pod. */
  readonly podName?: string;
  readonly nodeName?: string;
}

/** The API server's own audience: what a TokenReview without spec.audiences checks against. */
export const API_SERVER_AUDIENCE = 'https://kubernetes.default.svc.cluster.local';

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; uid?: string; labels?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

interface ResourceType {
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly kind: string;
  readonly listKind: string;
}

const resourceTypes: readonly ResourceType[] = [
  { group: '', version: 'v1', plural: 'services', kind: 'Service', listKind: 'ServiceList' },
  { group: '', version: 'v1', plural: 'pods', kind: 'Pod', listKind: 'PodList' },
  { group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', kind: 'EndpointSlice', listKind: 'EndpointSliceList' },
  { group: 'keda.sh', version: 'v1alpha1', plural: 'scaledobjects', kind: 'ScaledObject', listKind: 'ScaledObjectList' },
];

interface HistoryEntry {
  readonly rv: number;
  readonly plural: string;
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly object: KubeObject;
  readonly previous: KubeObject | undefined;
}

interface OpenWatch {
  readonly plural: string;
  readonly namespace: string | undefined;
  readonly matches: (obj: KubeObject) => boolean;
  readonly res: ServerResponse;
}

export interface RequestRecord {
  readonly method: string;
  readonly path: string;
  readonly query: Record<string, string>;
  readonly status: number;
}

export class StandInApiServer {
  private server: Server | undefined;
  private port = 0;
  private rv = 1000;
  /** Oldest resourceVersion a watch may resume from; older ones get 410 Gone. */
  private compactedRv = 0;
  private readonly objects = new Map<string, KubeObject>();
  private readonly history: HistoryEntry[] = [];
  private readonly watches = new Set<OpenWatch>();
  /** "plural" or "plural/namespace" -> denied (403). */
  private readonly denied = new Set<string>();
  /** Resources whose API is not served (a CRD that is not installed): 404. */
  private readonly hidden = new Set<string>();
  readonly requests: RequestRecord[] = [];
  /** token -> claims: the stand-in's "signature check" is knowing the token it issued. */
  private readonly tokens = new Map<string, IssuedToken>();
  /** TokenReviews answered (any outcome). */
  tokenReviews = 0;

  /** Starts listening on 127.0.0.1 (a fresh port the first time, the same one after stop()). */
  async start(): Promise<void> {
    const server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Stops like a crashed API server: every connection (watches included) is cut. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const w of this.watches) w.res.destroy();
    this.watches.clear();
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The same as a kubeconfig file in `dir` (for processes: `--kubeconfig FILE`); returns its path. */
  writeKubeconfig(dir: string): string {
    const file = join(dir, 'kubeconfig');
    writeFileSync(
      file,
      [
        'apiVersion: v1',
        'kind: Config',
        `clusters: [{name: stand-in, cluster: {server: "${this.url}", insecure-skip-tls-verify: true}}]`,
        'users: [{name: stand-in, user: {token: stand-in-token}}]',
        'contexts: [{name: stand-in, context: {cluster: stand-in, user: stand-in}}]',
        'current-context: stand-in',
        '',
      ].join('\n'),
    );
    return file;
  }

  /** A KubeConfig pointing the real client at this server (plain http, bearer token). */
  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'stand-in', server: this.url, skipTLSVerify: true }],
      users: [{ name: 'stand-in', token: 'stand-in-token' }],
      contexts: [{ name: 'stand-in', cluster: 'stand-in', user: 'stand-in' }],
      currentContext: 'stand-in',
    });
    return kc;
  }

  /** Creates or replaces an object (bumps resourceVersion, notifies watches). */
  apply(object: KubeObject): KubeObject {
    const type = typeOfKind(object.kind);
    const key = this.key(type.plural, object.metadata.namespace, object.metadata.name);
    const previous = this.objects.get(key);
    const stored: KubeObject = structuredClone(object);
    stored.metadata.resourceVersion = String(++this.rv);
    stored.metadata.uid = previous?.metadata.uid ?? object.metadata.uid ?? randomUUID();
    stored.metadata.creationTimestamp = previous?.metadata.creationTimestamp ?? new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    this.objects.set(key, stored);
    this.record({ rv: this.rv, plural: type.plural, type: previous ? 'MODIFIED' : 'ADDED', object: stored, previous });
    return stored;
  }

  remove(kind: string, namespace: string | undefined, name: string): void {
    const type = typeOfKind(kind);
    const key = this.key(type.plural, namespace, name);
    const previous = this.objects.get(key);
    if (!previous) throw new Error(`stand-in: no ${kind} ${namespace}/${name}`);
    this.objects.delete(key);
    const object = structuredClone(previous);
    object.metadata.resourceVersion = String(++this.rv);
    this.record({ rv: this.rv, plural: type.plural, type: 'DELETED', object, previous });
  }

  get(kind: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const found = this.objects.get(this.key(typeOfKind(kind).plural, namespace, name));
    return found ? structuredClone(found) : undefined;
  }

  /** Forgets the watch history (like etcd compaction): resuming from an older resourceVersion gets 410 Gone. */
  compact(): void {
    this.compactedRv = this.rv;
    this.history.length = 0;
  }

  /** RBAC: answer 403 Forbidden for this resource (optionally only in one namespace). */
  deny(plural: string, namespace?: string): void {
    this.denied.add(namespace === undefined ? plural : `${plural}/${namespace}`);
  }

  /** Stop serving a resource type, as when its CRD is not installed (404). */
  hide(plural: string): void {
    this.hidden.add(plural);
  }

  allow(plural: string, namespace?: string): void {
    this.denied.delete(namespace === undefined ? plural : `${plural}/${namespace}`);
  }

  /**
   * Issues a ServiceAccount token as the kubelet's projected volume would get it from the
   * TokenRequest API: JWT-shaped (header.claims.signature, claims with iss/aud/exp/sub and the
   * kubernetes.io pod/node binding). Only this stand-in can review it.
   */
  issueServiceAccountToken(token: Partial<IssuedToken> & { namespace: string; serviceAccount: string }): string {
    const issued: IssuedToken = { audiences: ['keda-ebpf-scaler'], expiresAtMs: Date.now() + 600_000, ...token };
    const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
    const claims = {
      aud: issued.audiences,
      exp: Math.floor(issued.expiresAtMs / 1000),
      iat: Math.floor(Date.now() / 1000),
      iss: API_SERVER_AUDIENCE,
      jti: randomUUID(),
      sub: `system:serviceaccount:${issued.namespace}:${issued.serviceAccount}`,
      'kubernetes.io': {
        namespace: issued.namespace,
        serviceaccount: { name: issued.serviceAccount, uid: randomUUID() },
        ...(issued.podName ? { pod: { name: issued.podName, uid: randomUUID() } } : {}),
        ...(issued.nodeName ? { node: { name: issued.nodeName, uid: randomUUID() } } : {}),
      },
    };
    const jwt = `${b64({ alg: 'RS256', kid: 'stand-in' })}.${b64(claims)}.${randomBytes(32).toString('base64url')}`;
    this.tokens.set(jwt, issued);
    return jwt;
  }

  /** Sends a BOOKMARK with the current resourceVersion to every open watch. */
  bookmark(): void {
    for (const w of this.watches) {
      const type = resourceTypes.find((t) => t.plural === w.plural)!;
      writeEvent(w.res, 'BOOKMARK', { apiVersion: apiVersionOf(type), kind: type.kind, metadata: { resourceVersion: String(this.rv) } });
    }
  }

  openWatches(plural?: string): number {
    return [...this.watches].filter((w) => plural === undefined || w.plural === plural).length;
  }

  private tokenReview(req: IncomingMessage, reply: (status: number, body: unknown) => void): void {
    if (this.denied.has('tokenreviews')) {
      reply(403, status(403, 'Forbidden', 'tokenreviews.authentication.k8s.io is forbidden: User "system:serviceaccount:keda-ebpf-scaler:keda-ebpf-scaler" cannot create resource "tokenreviews" in API group "authentication.k8s.io" at the cluster scope', { kind: 'tokenreviews', group: 'authentication.k8s.io' }));
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body: TokenReviewBody;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as TokenReviewBody;
      } catch (err) {
        reply(400, status(400, 'BadRequest', `the body of the request was in an unknown format: ${(err as Error).message}`));
        return;
      }
      if (body.kind !== 'TokenReview' || body.apiVersion !== 'authentication.k8s.io/v1' || typeof body.spec?.token !== 'string' || body.spec.token === '') {
        reply(400, status(400, 'BadRequest', 'TokenReview.authentication.k8s.io "" is invalid: spec.token: Required value'));
        return;
      }
      this.tokenReviews++;
      reply(201, {
        kind: 'TokenReview',
        apiVersion: 'authentication.k8s.io/v1',
        metadata: { creationTimestamp: null },
        spec: body.spec,
        status: reviewStatus(this.tokens.get(body.spec.token), body.spec.audiences, Date.now()),
      });
    });
  }

  private key(plural: string, namespace: string | undefined, name: string): string {
    return `${plural}/${namespace ?? ''}/${name}`;
  }

  private record(entry: HistoryEntry): void {
    this.history.push(entry);
    for (const w of this.watches) this.deliver(w, entry);
  }

  /** Sends entry to a watch, translating selector transitions as the API server does. */
  private deliver(w: OpenWatch, entry: HistoryEntry): void {
    if (entry.plural !== w.plural) return;
    if (w.namespace !== undefined && entry.object.metadata.namespace !== w.namespace) return;
    const now = entry.type !== 'DELETED' && w.matches(entry.object);
    const before = entry.previous !== undefined && w.matches(entry.previous);
    if (entry.type === 'DELETED') {
      if (before) writeEvent(w.res, 'DELETED', entry.object);
    } else if (now && before) writeEvent(w.res, 'MODIFIED', entry.object);
    else if (now) writeEvent(w.res, 'ADDED', entry.object);
    else if (before) writeEvent(w.res, 'DELETED', entry.object);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const query = Object.fromEntries(url.searchParams.entries());
    const reply = (status: number, body: unknown): void => {
      this.requests.push({ method: req.method ?? 'GET', path: url.pathname, query, status });
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'POST' && url.pathname === '/apis/authentication.k8s.io/v1/tokenreviews') {
      this.tokenReview(req, reply);
      return;
    }
    const route = parsePath(url.pathname);
    if (req.method !== 'GET' || !route || this.hidden.has(route.type.plural)) {
      reply(404, status(404, 'NotFound', `the server could not find the requested resource (${req.method} ${url.pathname})`));
      return;
    }
    const { type, namespace } = route;
    const watch = query.watch === 'true' || query.watch === '1';
    const verb = watch ? 'watch' : 'list';
    if (this.denied.has(type.plural) || (namespace !== undefined && this.denied.has(`${type.plural}/${namespace}`))) {
      const scope = namespace === undefined ? 'at the cluster scope' : `in the namespace "${namespace}"`;
      reply(
        403,
        status(
          403,
          'Forbidden',
          `${type.plural}${type.group ? '.' + type.group : ''} is forbidden: User "system:serviceaccount:keda-ebpf-scaler:keda-ebpf-scaler" cannot ${verb} resource "${type.plural}" in API group "${type.group}" ${scope}`,
          { kind: type.plural, group: type.group },
        ),
      );
      return;
    }
    let matches: (obj: KubeObject) => boolean;
    try {
      matches = selectorMatcher(query.fieldSelector, query.labelSelector);
    } catch (err) {
      reply(400, status(400, 'BadRequest', (err as Error).message));
      return;
    }
    if (!watch) {
      const items = [...this.objects.entries()]
        .filter(([k]) => k.startsWith(`${type.plural}/`))
        .map(([, o]) => o)
        .filter((o) => (namespace === undefined || o.metadata.namespace === namespace) && matches(o));
      reply(200, { apiVersion: apiVersionOf(type), kind: type.listKind, metadata: { resourceVersion: String(this.rv) }, items });
      return;
    }
    const from = Number(query.resourceVersion ?? '0');
    this.requests.push({ method: 'GET', path: url.pathname, query, status: 200 });
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    // A real API server sends the headers at once; clients wait for them before reading events.
    res.flushHeaders();
    if (from !== 0 && from < this.compactedRv) {
      // What a real API server does: 200, one ERROR event carrying a 410 Status, end.
      writeEvent(res, 'ERROR', status(410, 'Expired', `too old resource version: ${from} (${this.compactedRv})`));
      res.end();
      return;
    }
    const w: OpenWatch = { plural: type.plural, namespace, matches, res };
    this.watches.add(w);
    res.on('close', () => this.watches.delete(w));
    // Without a resourceVersion a watch starts with ADDED for everything that exists.
    if (from === 0) {
      for (const [k, o] of this.objects) {
        if (k.startsWith(`${type.plural}/`) && (namespace === undefined || o.metadata.namespace === namespace) && matches(o)) writeEvent(res, 'ADDED', o);
      }
    } else {
      for (const entry of this.history) if (entry.rv > from) this.deliver(w, entry);
    }
  }
}

interface TokenReviewBody {
  apiVersion?: string;
  kind?: string;
  spec?: { token?: string; audiences?: string[] };
}

/**
 * TokenReview as kube-apiserver answers it: always 201 Created with the review echoed; the
 * outcome is in status (authenticated + user + audiences, or an error string and an empty
 * user). Error texts follow the API server's ("[invalid bearer token, ...]").
 */
function reviewStatus(issued: IssuedToken | undefined, requested: readonly string[] | undefined, now: number): Record<string, unknown> {
  const invalid = (why: string) => ({ user: {}, error: `[invalid bearer token, ${why}]` });
  if (!issued) return invalid('square/go-jose: error in cryptographic primitive');
  if (issued.expiresAtMs <= now) return invalid('service account token has expired');
  const audiences = requested && requested.length > 0 ? requested : [API_SERVER_AUDIENCE];
  const granted = audiences.filter((a) => issued.audiences.includes(a));
  if (granted.length === 0) return invalid(`token audiences ${JSON.stringify(issued.audiences)} is invalid for the target audiences ${JSON.stringify(audiences)}`);
  const extra: Record<string, string[]> = { 'authentication.kubernetes.io/credential-id': [`JTI=${randomUUID()}`] };
  if (issued.podName) {
    extra['authentication.kubernetes.io/pod-name'] = [issued.podName];
    extra['authentication.kubernetes.io/pod-uid'] = [randomUUID()];
  }
  if (issued.nodeName) {
    extra['authentication.kubernetes.io/node-name'] = [issued.nodeName];
    extra['authentication.kubernetes.io/node-uid'] = [randomUUID()];
  }
  return {
    authenticated: true,
    user: {
      username: `system:serviceaccount:${issued.namespace}:${issued.serviceAccount}`,
      uid: randomUUID(),
      groups: ['system:serviceaccounts', `system:serviceaccounts:${issued.namespace}`, 'system:authenticated'],
      extra,
    },
    audiences: granted,
  };
}

function writeEvent(res: ServerResponse, type: string, object: unknown): void {
  res.write(`${JSON.stringify({ type, object })}\n`);
}

function status(code: number, reason: string, message: string, details?: Record<string, string>): unknown {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code };
}

function apiVersionOf(type: ResourceType): string {
  return type.group === '' ? type.version : `${type.group}/${type.version}`;
}

function typeOfKind(kind: string): ResourceType {
  const type = resourceTypes.find((t) => t.kind === kind);
  if (!type) throw new Error(`stand-in: unsupported kind ${kind}`);
  return type;
}

/** /api/v1[/namespaces/NS]/PLURAL or /apis/GROUP/VERSION[/namespaces/NS]/PLURAL */
function parsePath(path: string): { type: ResourceType; namespace: string | undefined } | undefined {
  const parts = path.split('/').filter((p) => p !== '');
  let group = '';
  let rest: string[];
  if (parts[0] === 'api' && parts[1] === 'v1') rest = parts.slice(2);
  else if (parts[0] === 'apis' && parts.length >= 3) {
    group = parts[1]!;
    rest = parts.slice(3);
  } else return undefined;
  const version = parts[0] === 'api' ? 'v1' : parts[2]!;
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length === 3) {
    namespace = decodeURIComponent(rest[1]!);
    rest = rest.slice(2);
  }
  if (rest.length !== 1) return undefined;
  const type = resourceTypes.find((t) => t.group === group && t.version === version && t.plural === rest[0]);
  return type ? { type, namespace } : undefined;
}

/** Equality-based selectors ("a=b,c==d,e!=f"), as fieldSelector and labelSelector use them. */
function selectorMatcher(fieldSelector: string | undefined, labelSelector: string | undefined): (obj: KubeObject) => boolean {
  const fields = parseSelector(fieldSelector);
  const labels = parseSelector(labelSelector);
  for (const f of fields) {
    if (!['metadata.name', 'metadata.namespace', 'spec.nodeName'].includes(f.key)) throw new Error(`field label not supported: ${f.key}`);
  }
  return (obj) =>
    fields.every((f) => (fieldValue(obj, f.key) === f.value) === f.equal) &&
    labels.every((l) => (obj.metadata.labels?.[l.key] === l.value) === l.equal);
}

function parseSelector(selector: string | undefined): { key: string; value: string; equal: boolean }[] {
  if (!selector) return [];
  return selector.split(',').map((term) => {
    const m = /^([^!=]+)(!=|==|=)(.*)$/.exec(term.trim());
    if (!m) throw new Error(`unable to parse requirement: ${term}`);
    return { key: m[1]!, value: m[3]!, equal: m[2] !== '!=' };
  });
}

function fieldValue(obj: KubeObject, key: string): string | undefined {
  if (key === 'metadata.name') return obj.metadata.name;
  if (key === 'metadata.namespace') return obj.metadata.namespace;
  const spec = obj.spec as { nodeName?: string } | undefined;
  return spec?.nodeName ?? '';
}
