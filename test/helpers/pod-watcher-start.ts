import { loadKubeConfig } from '../../src/kubernetes/kubeconfig.js';
import { NetnsMapper } from '../../src/kubernetes/netns-mapper.js';
import { PodWatcher } from '../../src/kubernetes/pod-watcher.js';
import { createLogger } from '../../src/log.js';

/**
 * A process with nothing else to keep it alive: start a PodWatcher (kubeconfig file in
 * argv[2]) and await its first list, as any caller of start() may. Logs as JSON lines on
 * stdout, then "first list done", and exits 0.
 */
const kubeConfig = loadKubeConfig({ kubeconfigPath: process.argv[2]! });
const watcher = new PodWatcher({
  kubeConfig,
  nodeName: 'node-a',
  logger: createLogger('info'),
  mapper: new NetnsMapper({ procRoot: '/proc', cgroupRoot: '/sys/fs/cgroup' }),
  backoff: { initialMs: 50, maxMs: 200, jitter: 0 },
});
await watcher.start();
console.log(JSON.stringify({ msg: 'first list done' }));
await watcher.stop();
kubeConfig.close();
