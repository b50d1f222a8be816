import type { Logger } from 'pino';
import type { ScaledObjectRef__Output } from '../proto/generated/externalscaler/ScaledObjectRef.js';
import { parseTriggerMetadata, type TriggerConfig } from '../scaler/metadata.js';
import type { RegisteredTarget, TargetRegistry } from '../scaler/registry.js';
import { metricName } from '../scaler/target.js';

/** A ScaledObjectRef made sense of: its trigger, its (registered) target and metric name. */
export interface PreparedTrigger {
  readonly trigger: TriggerConfig;
  readonly target: RegisteredTarget;
  readonly metricName: string;
  readonly log: Logger;
}

/**
 * Parses the metadata and registers the target (every call counts as "asked about").
 * Throws ScalerError: INVALID_METADATA, SERVICE_NEEDS_KUBERNETES, TARGET_LIMIT, ...
 */
export async function prepareTrigger(ref: ScaledObjectRef__Output | null | undefined, registry: TargetRegistry, now: number, log: Logger): Promise<PreparedTrigger> {
  const namespace = ref?.namespace ?? '';
  const trigger = parseTriggerMetadata(ref?.scalerMetadata ?? {}, namespace);
  const target = await registry.register(trigger.selection, now);
  registry.store.ensureHistory(target.id, Math.max(trigger.windowMs, trigger.activationWindowMs));
  const name = metricName(trigger);
  registry.holds.request(target.id, `${namespace}/${ref?.name ?? ''}/${name}`, trigger.holdAtZeroMs);
  return {
    trigger,
    target,
    metricName: name,
    log: log.child({ namespace, scaledObject: ref?.name ?? '', targetId: target.id }),
  };
}
