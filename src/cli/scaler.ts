import { z } from 'zod';
import type { Command } from '../cli.js';
import { UsageError, parseFlags, type FlagSpec, type FlagValues } from '../config/flags.js';
import { durationSchema, hostPortSchema, logLevelFlag, optionalFileSchema } from '../config/flag-schemas.js';
import { createLogger, type Logger } from '../log.js';
import type { KubernetesScalerMode } from '../kubernetes/scaler-mode.js';
import type { TargetResolver } from '../scaler/resolver.js';
import { kubernetesEnabled, kubernetesFlags } from './kubernetes-mode.js';
import { shutdownSignal } from './signals.js';
import { DEFAULT_MAX_TARGETS, DEFAULT_TARGET_IDLE_EXPIRY_MS } from '../scaler/limits.js';
import { DEFAULT_COLLECTOR_INTERVAL_MS, DEFAULT_CONNECT_GRACE_MS } from '../keda/first-report-gate.js';
import { metricsEndpoint } from '../metrics/endpoint.js';
import { splitHostPort } from '../net/address.js';
import { metricsListenFlag } from '../metrics/flag.js';
import { ScalerMetrics } from '../metrics/scaler-metrics.js';
import { serverCredentials } from '../server/credentials.js';
import { DEFAULT_LISTEN, createScalerServer, type ScalerServer } from '../server/server.js';

const SUMMARY = 'Run the scaler: the gRPC service KEDA calls (externalscaler.ExternalScaler), fed by collector reports.';

export const scalerFlags = [
  { name: 'listen', env: 'KEDA_EBPF_LISTEN', valueName: 'HOST:PORT', description: `Address of the gRPC server (KEDA, collectors, reflection, health). Default ${DEFAULT_LISTEN}.`, schema: hostPortSchema.default(DEFAULT_LISTEN) },
  logLevelFlag('info'),
  {
    name: 'max-targets',
    env: 'KEDA_EBPF_MAX_TARGETS',
    valueName: 'N',
    description: `Most targets (distinct observed selections) kept; new ones beyond are refused with RESOURCE_EXHAUSTED. Default ${DEFAULT_MAX_TARGETS}.`,
    schema: z.coerce.number().int().min(1).max(1_000_000).default(DEFAULT_MAX_TARGETS),
  },
  {
    name: 'target-idle-expiry',
    env: 'KEDA_EBPF_TARGET_IDLE_EXPIRY',
    valueName: 'DURATION',
    description: `Forget a target no RPC or stream asked about for this long (e.g. 15m). Default ${DEFAULT_TARGET_IDLE_EXPIRY_MS / 60_000}m.`,
    schema: durationSchema(`${DEFAULT_TARGET_IDLE_EXPIRY_MS / 60_000}m`, 1000),
  },
  { name: 'tls-cert', env: 'KEDA_EBPF_TLS_CERT', valueName: 'FILE', description: 'PEM server certificate: serve TLS (needs --tls-key).', schema: optionalFileSchema },
  { name: 'tls-key', env: 'KEDA_EBPF_TLS_KEY', valueName: 'FILE', description: 'PEM private key of --tls-cert.', schema: optionalFileSchema },
  { name: 'tls-client-ca', env: 'KEDA_EBPF_TLS_CLIENT_CA', valueName: 'FILE', description: 'PEM CA: require client certificates signed by it (mTLS).', schema: optionalFileSchema },
  ...kubernetesFlags,
  {
    name: 'namespace',
    env: 'POD_NAMESPACE',
    valueName: 'NAME',
    description: 'Kubernetes mode: the scaler\'s own namespace, to recognise ScaledObjects whose scalerAddress names this scaler. Default keda-ebpf-scaler.',
    schema: z.string().min(1).default('keda-ebpf-scaler'),
  },
  {
    name: 'service-name',
    env: 'KEDA_EBPF_SERVICE_NAME',
    valueName: 'NAME',
    description: 'Kubernetes mode: the scaler\'s own Service name (see --namespace). Default keda-ebpf-scaler.',
    schema: z.string().min(1).default('keda-ebpf-scaler'),
  },
  metricsListenFlag,
] as const satisfies readonly FlagSpec[];

/** The scaler server as the scaler flags describe it (also used by standalone mode). */
type ServerFlagValues = Pick<FlagValues<typeof scalerFlags>, 'listen' | 'tls-cert' | 'tls-key' | 'tls-client-ca' | 'max-targets' | 'target-idle-expiry'>;

/** `collectorIntervalMs`: the collectors' --tick (standalone knows it; the scaler assumes the default). */
export function scalerServerFromFlags(
  values: ServerFlagValues,
  log: Logger,
  resolver?: TargetResolver,
  extra: { readonly collectorIntervalMs?: number; readonly metrics?: ScalerMetrics } = {},
): ScalerServer {
  let credentials;
  try {
    credentials = serverCredentials({
      ...(values['tls-cert'] !== undefined ? { certFile: values['tls-cert'] } : {}),
      ...(values['tls-key'] !== undefined ? { keyFile: values['tls-key'] } : {}),
      ...(values['tls-client-ca'] !== undefined ? { clientCaFile: values['tls-client-ca'] } : {}),
    });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err), { cause: err });
  }
  return createScalerServer({
    listen: values.listen,
    credentials,
    log,
    maxTargets: values['max-targets'],
    targetIdleExpiryMs: values['target-idle-expiry'],
    ...(resolver ? { resolver } : {}),
    firstReport: { connectGraceMs: DEFAULT_CONNECT_GRACE_MS, intervalMs: extra.collectorIntervalMs ?? DEFAULT_COLLECTOR_INTERVAL_MS },
    ...(extra.metrics ? { metrics: extra.metrics } : {}),
  });
}

export const scalerCommand: Command = {
  summary: SUMMARY,
  flags: scalerFlags,
  async run(argv, env) {
    const { values } = parseFlags(scalerFlags, argv, env);
    const log = createLogger(values['log-level']);
    let kubernetes: KubernetesScalerMode | undefined;
    if (kubernetesEnabled(values.kubernetes, values.kubeconfig, env, log)) {
      // Loaded only here: the Kubernetes client is ~60 MB of RSS outside Kubernetes mode.
      const { kubernetesScalerMode } = await import('../kubernetes/scaler-mode.js');
      const { loadKubeConfig } = await import('../kubernetes/kubeconfig.js');
      kubernetes = kubernetesScalerMode({
        kubeConfig: loadKubeConfig({ kubeconfigPath: values.kubeconfig }),
        identity: { serviceName: values['service-name'], namespace: values.namespace, port: splitHostPort(values.listen, { allowPortZero: true })?.port },
        logger: log,
      });
    }
    const metrics = metricsEndpoint(values['metrics-listen'], log);
    const server = scalerServerFromFlags(values, log, kubernetes?.resolver, { metrics: new ScalerMetrics(metrics.registry) });
    try {
      await server.start();
      await metrics.start();
    } catch (err) {
      log.fatal({ err }, 'scaler cannot start');
      await server.stop();
      await kubernetes?.close();
      return 1;
    }
    // Serving already: KEDA may call while the ScaledObjects are still being listed.
    void kubernetes?.attach(server.registry).catch((err: unknown) => log.error({ err }, 'ScaledObject pre-registration failed'));
    const signal = await shutdownSignal();
    log.info({ signal }, 'shutting down');
    await server.stop();
    await metrics.close();
    await kubernetes?.close();
    return 0;
  },
};
