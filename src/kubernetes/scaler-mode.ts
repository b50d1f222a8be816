import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../log.js';
import { parseTriggerMetadata } from '../scaler/metadata.js';
import { metricName } from '../scaler/target.js';
import type { TargetRegistry } from '../scaler/registry.js';
import { discoverScaledObjects, type ScalerIdentity } from './scaledobject-discovery.js';
import { ServiceResolver } from './service-resolver.js';
import { KubernetesTargetResolver } from './target-resolver.js';

export interface KubernetesScalerMode {
  /** Give this to createScalerServer({ resolver }). */
  readonly resolver: KubernetesTargetResolver;
  /**
   * Connects the resolver to the registry (Service changes become new watch sets) and
   * pre-registers the targets of the ScaledObjects that point at this scaler, so a
   * restarted scaler has data before KEDA calls again. Returns how many were registered.
   */
  attach(registry: TargetRegistry): Promise<number>;
  close(): Promise<void>;
}

export function kubernetesScalerMode(options: { kubeConfig: KubeConfig; identity: ScalerIdentity; logger: Logger }): KubernetesScalerMode {
  const log = options.logger.child({ component: 'kubernetes' });
  const services = new ServiceResolver({ kubeConfig: options.kubeConfig, logger: log });
  const resolver = new KubernetesTargetResolver(services, log);
  return {
    resolver,
    async attach(registry) {
      resolver.onUpdate((id, resolved) => registry.update(id, resolved));
      registry.onChange((change) => change.removed.forEach((id) => resolver.forget(id)));
      const triggers = await discoverScaledObjects({ kubeConfig: options.kubeConfig, logger: log, identity: options.identity });
      let registered = 0;
      for (const trigger of triggers) {
        const where = { scaledObject: `${trigger.namespace}/${trigger.name}`, trigger: trigger.triggerIndex };
        try {
          const config = parseTriggerMetadata(trigger.metadata, trigger.namespace);
          const target = await registry.register(config.selection, Date.now(), `${trigger.namespace}/${trigger.name}`);
          // The same key KEDA's calls use (src/keda/trigger.ts), so they overwrite, not add.
          registry.holds.request(target.id, `${trigger.namespace}/${trigger.name}/${metricName(config)}`, config.holdAtZeroMs);
          registered++;
        } catch (err) {
          log.warn({ ...where, err: err instanceof Error ? err.message : String(err) }, 'ScaledObject trigger not pre-registered');
        }
      }
      log.info({ discovered: triggers.length, registered }, 'ScaledObjects pointing at this scaler pre-registered');
      return registered;
    },
    close: () => services.close(),
  };
}
