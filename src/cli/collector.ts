import os from 'node:os';
import { z } from 'zod';
import type { Command } from '../cli.js';
import { durationSchema, logLevelFlag, optionalFileSchema } from '../config/flag-schemas.js';
import { parseFlags, type FlagSpec } from '../config/flags.js';
import { CollectorUnavailableError, DEFAULT_BPF_OBJECT } from '../collector/core.js';
import { COLLECTOR_CAPABILITIES, openCollectorRuntime, type CollectorRuntime } from '../collector/runtime.js';
import { createLogger, type Logger } from '../log.js';
import { clientCredentials } from '../stream/credentials.js';
import { CollectorStreamClient } from '../stream/collector-client.js';
import { tokenFileMetadata } from '../stream/token-file.js';
import { VERSION } from '../version.js';
import type { NodeNamespaces } from '../collector/watch-resolution.js';
import type { KubernetesCollectorMode } from '../kubernetes/collector-mode.js';
import { kubernetesEnabled, kubernetesFlags } from './kubernetes-mode.js';
import { allowedRungs, forcedRungSentence, hookRungFlag, type HookRungChoice } from './hook-rung.js';
import { CollectorMetrics } from '../metrics/collector-metrics.js';
import { metricsEndpoint } from '../metrics/endpoint.js';
import { metricsListenFlag } from '../metrics/flag.js';
import { shutdownSignal } from './signals.js';
import { checkBpfObject, checkScalerList } from './startup-checks.js';

const SUMMARY =
  'Run the node collector: load the eBPF programs, time the requests the scalers ask about, and stream deltas to every scaler.';

/** Flags shared by `collector` and `standalone`: how the kernel side runs. */
export const kernelFlags = [
  {
    name: 'tick',
    env: 'KEDA_EBPF_TICK',
    valueName: 'DURATION',
    description: 'How often deltas are read from the kernel and reported (demand wake-ups report at once). Default 1s.',
    schema: durationSchema('1s', 100),
  },
  { name: 'bpf-object', env: 'KEDA_EBPF_BPF_OBJECT', valueName: 'FILE', description: `Compiled BPF object. Default ${DEFAULT_BPF_OBJECT}.`, schema: z.string().min(1).default(DEFAULT_BPF_OBJECT) },
  hookRungFlag,
] as const satisfies readonly FlagSpec[];

export const collectorFlags = [
  {
    name: 'scaler',
    env: 'KEDA_EBPF_SCALER',
    valueName: 'HOST:PORT[,HOST:PORT...]',
    description: 'Scaler replicas\' ingest ports (their --ingest-listen, 9091 by default) to report to; a DNS name resolving to several addresses (a headless Service) counts as several. Required.',
    schema: z.string({ error: 'required: where the scalers\' ingest ports listen, e.g. keda-ebpf-scaler.keda-ebpf-scaler.svc:9091' }).min(1),
  },
  { name: 'node', env: 'NODE_NAME', valueName: 'NAME', description: 'This node\'s name (Kubernetes: spec.nodeName via the downward API). Default: the host name.', schema: z.string().min(1).default(os.hostname()) },
  ...kernelFlags,
  logLevelFlag('info'),
  { name: 'tls-ca', env: 'KEDA_EBPF_TLS_CA', valueName: 'FILE', description: 'PEM CA that signed the scalers\' certificates: dial with TLS.', schema: optionalFileSchema },
  { name: 'tls-cert', env: 'KEDA_EBPF_TLS_CERT', valueName: 'FILE', description: 'PEM client certificate for mTLS (needs --tls-key).', schema: optionalFileSchema },
  { name: 'tls-key', env: 'KEDA_EBPF_TLS_KEY', valueName: 'FILE', description: 'PEM private key of --tls-cert.', schema: optionalFileSchema },
  {
    name: 'token-file',
    env: 'KEDA_EBPF_TOKEN_FILE',
    valueName: 'FILE',
    description: 'Bearer token for the scalers\' ingest port, read again on every connect (Kubernetes: the projected ServiceAccount token; else a token of --ingest-token-file).',
    schema: optionalFileSchema,
  },
  ...kubernetesFlags,
  { name: 'proc-root', env: 'KEDA_EBPF_PROC_ROOT', valueName: 'DIR', description: 'Kubernetes mode: the host\'s procfs (the DaemonSet mounts it at /host/proc). Default /proc.', schema: z.string().min(1).default('/proc') },
  {
    name: 'cgroup-root',
    env: 'KEDA_EBPF_CGROUP_ROOT',
    valueName: 'DIR',
    description:
      'The host\'s cgroup fs (the DaemonSet mounts it at /host/sys/fs/cgroup): Kubernetes mode maps pods through it, and holdAtZero attaches to its cgroup v2 root (DIR or DIR/unified). Default /sys/fs/cgroup.',
    schema: z.string().min(1).default('/sys/fs/cgroup'),
  },
  metricsListenFlag,
] as const satisfies readonly FlagSpec[];

/** Opens the kernel side, or logs the one sentence saying why this host cannot run it. */
export function openRuntimeOrExplain(
  log: Logger,
  kernel: { readonly tick: number; readonly 'bpf-object': string; readonly 'hook-rung': HookRungChoice },
  node?: NodeNamespaces,
  cgroupRoot?: string,
): CollectorRuntime | undefined {
  const rungs = allowedRungs(kernel['hook-rung']);
  try {
    return openCollectorRuntime({
      logger: log,
      tickMs: kernel.tick,
      objectPath: kernel['bpf-object'],
      ...(rungs ? { rungs } : {}),
      ...(node ? { node } : {}),
      ...(cgroupRoot ? { cgroupPaths: [cgroupRoot, `${cgroupRoot}/unified`] } : {}),
    });
  } catch (err) {
    if (err instanceof CollectorUnavailableError) {
      const sentence = err.missing.includes('hook') ? forcedRungSentence(kernel['hook-rung'], err.message) : err.message;
      log.fatal({ missing: err.missing }, sentence);
      console.error(sentence);
      return undefined;
    }
    throw err;
  }
}

export const collectorCommand: Command = {
  summary: SUMMARY,
  flags: collectorFlags,
  async run(argv, env) {
    const { values } = parseFlags(collectorFlags, argv, env);
    // Every flag checked before any kernel or network I/O.
    checkScalerList(values.scaler);
    checkBpfObject(values['bpf-object']);
    const log = createLogger(values['log-level']);
    const credentials = clientCredentials({ caFile: values['tls-ca'], certFile: values['tls-cert'], keyFile: values['tls-key'] });
    const metadata = values['token-file'] !== undefined ? tokenFileMetadata(values['token-file'], log) : undefined;
    if (!metadata && values['tls-cert'] === undefined) {
      log.warn('no --token-file and no --tls-cert: scalers accept this collector only with --ingest-auth none (loopback)');
    }
    let kubernetes: KubernetesCollectorMode | undefined;
    let kubeConfig: { close(): void } | undefined;
    if (kubernetesEnabled(values.kubernetes, values.kubeconfig, env, log)) {
      // Loaded only here: the Kubernetes client is ~60 MB of RSS a standalone collector never needs.
      const { kubernetesCollectorMode } = await import('../kubernetes/collector-mode.js');
      const { kubeConfigFromFlags } = await import('./kubeconfig-flags.js');
      const loaded = kubeConfigFromFlags(values.kubeconfig, env);
      kubeConfig = loaded;
      kubernetes = kubernetesCollectorMode({
        kubeConfig: loaded,
        nodeName: values.node,
        logger: log,
        procRoot: values['proc-root'],
        cgroupRoot: values['cgroup-root'],
      });
    }
    const runtime = openRuntimeOrExplain(log, values, kubernetes?.namespaces, values['cgroup-root']);
    if (!runtime) return 1;
    if (kubernetes) {
      kubernetes.onPodsChanged(() => runtime.refresh());
      // Not awaited: until the node's pods are listed, pod selectors match nothing, but a
      // demand address (a Service's ClusterIP) needs no pod, so wake-ups from zero work
      // while the API server is unreachable or RBAC is missing (the watcher says which,
      // and retries). The first list re-resolves the watch set through onPodsChanged.
      void kubernetes.start();
    }
    const client = new CollectorStreamClient({
      scalers: values.scaler,
      nodeName: values.node,
      version: VERSION,
      hookRung: runtime.hooks.rung,
      capabilities: COLLECTOR_CAPABILITIES,
      logger: log,
      credentials,
      ...(metadata ? { metadata } : {}),
      onWatchSet: (targets) => {
        kubernetes?.setWatchTargets(targets);
        runtime.setWatchTargets(targets);
      },
    });
    const metrics = metricsEndpoint(values['metrics-listen'], log);
    const collectorMetrics = new CollectorMetrics(metrics.registry, { runtime, scalers: () => client.scalers() });
    try {
      await metrics.start();
    } catch (err) {
      log.fatal({ err }, 'collector cannot start');
      runtime.close();
      await kubernetes?.stop();
      return 1;
    }
    runtime.start(collectorMetrics.measuredUplink(client));
    await client.start();
    log.info({ scalers: values.scaler, node: values.node, rung: runtime.hooks.rung, connState: runtime.hooks.connState, tickMs: values.tick }, 'collector running');
    const signal = await shutdownSignal();
    log.info({ signal }, 'shutting down');
    kubeConfig?.close();
    await client.close();
    runtime.close();
    await metrics.close();
    await kubernetes?.stop();
    return 0;
  },
};
