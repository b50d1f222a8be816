import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { KubeConfig } from '@kubernetes/client-node';
import { durationSchema, hostPortSchema, optionalFileSchema } from '../config/flag-schemas.js';
import { UsageError, type FlagSpec, type FlagValues } from '../config/flags.js';
import type { CollectorAuthenticator } from '../ingest/auth/identity.js';
import { AnyPeerAuthenticator } from '../ingest/auth/any-peer.js';
import { TlsClientAuthenticator } from '../ingest/auth/tls-client.js';
import { TokenFileAuthenticator } from '../ingest/auth/token-file.js';
import { TokenReviewAuthenticator } from '../ingest/auth/token-review-auth.js';
import { DEFAULT_INGEST_LISTEN, type IngestListenerOptions } from '../ingest/listener.js';
import { DEFAULT_MAX_IN_FLIGHT, DEFAULT_MAX_RATE_PER_SECOND, type PlausibilityLimits } from '../ingest/plausibility.js';
import { DEFAULT_SLOW_READER_MS } from '../ingest/watch-set-sender.js';
import { monotonicClock } from '../clock.js';
import type { Logger } from '../log.js';
import { serverCredentials } from '../server/credentials.js';

/** The scaler's collector-ingest port: where it listens, who may report, what they may claim. */
export const ingestFlags = [
  {
    name: 'ingest-listen',
    env: 'KEDA_EBPF_INGEST_LISTEN',
    valueName: 'HOST:PORT',
    description: `Address of the collectors' port (CollectorIngest only; KEDA's port does not serve it). Default ${DEFAULT_INGEST_LISTEN}.`,
    schema: hostPortSchema.default(DEFAULT_INGEST_LISTEN),
  },
  {
    name: 'ingest-auth',
    env: 'KEDA_EBPF_INGEST_AUTH',
    valueName: 'auto|kubernetes|tls|token|none',
    description:
      'How collectors authenticate: kubernetes = projected ServiceAccount token checked with TokenReview; tls = client certificate of --ingest-tls-client-ca (CN = node name); ' +
      'token = --ingest-token-file; none = anyone (loopback --ingest-listen only). auto = kubernetes in Kubernetes mode, else tls or token by the flag given. Default auto.',
    schema: z.enum(['auto', 'kubernetes', 'tls', 'token', 'none']).default('auto'),
  },
  {
    name: 'ingest-token-file',
    env: 'KEDA_EBPF_INGEST_TOKEN_FILE',
    valueName: 'FILE',
    description: 'Collector tokens, one per line: "TOKEN" (may name any node) or "NODE_NAME TOKEN" (that node only); re-read when it changes.',
    schema: optionalFileSchema,
  },
  {
    name: 'ingest-tls-client-ca',
    env: 'KEDA_EBPF_INGEST_TLS_CLIENT_CA',
    valueName: 'FILE',
    description: 'PEM CA of collector client certificates (not the --tls-client-ca of KEDA); the ingest port then requires them. Needs --tls-cert and --tls-key.',
    schema: optionalFileSchema,
  },
  {
    name: 'ingest-service-account',
    env: 'KEDA_EBPF_INGEST_SERVICE_ACCOUNT',
    valueName: 'NAMESPACE:NAME',
    description: 'ingest-auth kubernetes: the collectors\' ServiceAccount; tokens of any other account are refused. Default keda-ebpf-scaler:keda-ebpf-collector.',
    schema: z
      .string()
      .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?:[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'expected NAMESPACE:NAME, e.g. keda-ebpf-scaler:keda-ebpf-collector')
      .default('keda-ebpf-scaler:keda-ebpf-collector'),
  },
  {
    name: 'ingest-audience',
    env: 'KEDA_EBPF_INGEST_AUDIENCE',
    valueName: 'AUDIENCE',
    description: 'ingest-auth kubernetes: the audience collector tokens must be issued for (the projected volume\'s audience). Default keda-ebpf-scaler.',
    schema: z.string().min(1).max(253).default('keda-ebpf-scaler'),
  },
  {
    name: 'ingest-max-rate',
    env: 'KEDA_EBPF_INGEST_MAX_RATE',
    valueName: 'N',
    description: `Most requests (or connections, demand attempts) per second one collector may report for one target; deltas above are refused as implausible. Default ${DEFAULT_MAX_RATE_PER_SECOND}.`,
    schema: z.coerce.number().int().min(1).max(1e9).default(DEFAULT_MAX_RATE_PER_SECOND),
  },
  {
    name: 'ingest-max-in-flight',
    env: 'KEDA_EBPF_INGEST_MAX_IN_FLIGHT',
    valueName: 'N',
    description: `Most in-flight requests one collector may report for one target. Default ${DEFAULT_MAX_IN_FLIGHT}.`,
    schema: z.coerce.number().int().min(1).max(1e9).default(DEFAULT_MAX_IN_FLIGHT),
  },
  {
    name: 'ingest-slow-reader',
    env: 'KEDA_EBPF_INGEST_SLOW_READER',
    valueName: 'DURATION',
    description: `Disconnect a collector that leaves the scaler's messages unread this long (bounded send queues). Default ${DEFAULT_SLOW_READER_MS / 1000}s.`,
    schema: durationSchema(`${DEFAULT_SLOW_READER_MS / 1000}s`, 1000),
  },
] as const satisfies readonly FlagSpec[];

export const INGEST_FLAG_NAMES: ReadonlySet<string> = new Set(ingestFlags.map((f) => f.name));

type IngestValues = FlagValues<typeof ingestFlags> & { readonly 'tls-cert'?: string | undefined; readonly 'tls-key'?: string | undefined; readonly 'tls-client-ca'?: string | undefined };

export function plausibilityFromFlags(values: Pick<IngestValues, 'ingest-max-rate' | 'ingest-max-in-flight'>): PlausibilityLimits {
  return { maxRatePerSecond: values['ingest-max-rate'], maxInFlight: values['ingest-max-in-flight'] };
}

/** Per TokenReview call: an API server that never answers must not hold a collector's connect for long. */
const TOKEN_REVIEW_TIMEOUT_MS = 5000;

const isLoopbackListen = (listen: string): boolean => {
  const host = listen.slice(0, listen.lastIndexOf(':')).replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
};

/**
 * The ingest port as the flags describe it, or a UsageError naming the flag, the value and
 * the remedy. `kubeConfig` is given in Kubernetes mode (TokenReview).
 */
export async function ingestListenerFromFlags(values: IngestValues, kubeConfig: KubeConfig | undefined, log: Logger): Promise<IngestListenerOptions> {
  let mode = values['ingest-auth'];
  if (mode === 'auto') {
    if (kubeConfig) mode = 'kubernetes';
    else if (values['ingest-tls-client-ca'] !== undefined) mode = 'tls';
    else if (values['ingest-token-file'] !== undefined) mode = 'token';
    else {
      throw new UsageError(
        'collectors must authenticate on the ingest port: give --ingest-token-file FILE or --ingest-tls-client-ca FILE (or run in Kubernetes mode for TokenReview); --ingest-auth none accepts anyone on a loopback --ingest-listen',
      );
    }
  }
  let authenticator: CollectorAuthenticator;
  try {
    switch (mode) {
      case 'kubernetes': {
        if (!kubeConfig) throw new UsageError('--ingest-auth kubernetes needs Kubernetes mode (--kubernetes on, or a pod\'s service account); outside Kubernetes use --ingest-auth token or tls');
        const { apiTokenReviewer } = await import('../kubernetes/token-review.js');
        authenticator = new TokenReviewAuthenticator({
          review: apiTokenReviewer(kubeConfig, TOKEN_REVIEW_TIMEOUT_MS),
          audience: values['ingest-audience'],
          serviceAccount: values['ingest-service-account'],
          clock: monotonicClock,
        });
        break;
      }
      case 'tls':
        if (values['ingest-tls-client-ca'] === undefined) throw new UsageError('--ingest-auth tls needs --ingest-tls-client-ca FILE (the CA that signs collector certificates)');
        authenticator = new TlsClientAuthenticator();
        break;
      case 'token':
        if (values['ingest-token-file'] === undefined) throw new UsageError('--ingest-auth token needs --ingest-token-file FILE (one collector token per line)');
        authenticator = new TokenFileAuthenticator(values['ingest-token-file']);
        break;
      case 'none':
        if (!isLoopbackListen(values['ingest-listen'])) {
          throw new UsageError(`--ingest-auth none accepts any peer as a collector, so it needs a loopback --ingest-listen (127.0.0.1:PORT or [::1]:PORT), not ${values['ingest-listen']}`);
        }
        log.warn({ listen: values['ingest-listen'] }, 'collector ingest accepts unauthenticated collectors (--ingest-auth none)');
        authenticator = new AnyPeerAuthenticator();
        break;
    }
  } catch (err) {
    throw err instanceof UsageError ? err : new UsageError(err instanceof Error ? err.message : String(err), { cause: err });
  }
  const clientCa = values['ingest-tls-client-ca'];
  if (clientCa !== undefined && values['tls-client-ca'] !== undefined && sameFileContent(clientCa, values['tls-client-ca'])) {
    throw new UsageError(`--ingest-tls-client-ca ${clientCa} is the same CA as --tls-client-ca: use a CA of its own for collectors, or KEDA's client certificate could act as a collector`);
  }
  let credentials;
  try {
    credentials = serverCredentials({
      ...(values['tls-cert'] !== undefined ? { certFile: values['tls-cert'] } : {}),
      ...(values['tls-key'] !== undefined ? { keyFile: values['tls-key'] } : {}),
      ...(clientCa !== undefined ? { clientCaFile: clientCa } : {}),
    });
  } catch (err) {
    const message = err instanceof Error ? err.message.replace('--tls-client-ca', '--ingest-tls-client-ca') : String(err);
    throw new UsageError(message, { cause: err });
  }
  return { listen: values['ingest-listen'], credentials, authenticator, slowReaderMs: values['ingest-slow-reader'] };
}

function sameFileContent(a: string, b: string): boolean {
  try {
    return readFileSync(a).equals(readFileSync(b));
  } catch {
    return false;
  }
}
