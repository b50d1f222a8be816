import { ScaledObject, TriggerAuthentication } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { DaemonSet, Deployment } from 'kubernetes-models/apps/v1';
import { ClusterRole, ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { Namespace, Service, ServiceAccount } from 'kubernetes-models/v1';

/**
 * Schema validation of rendered manifests with registry packages: kubernetes-models (the
 * Kubernetes OpenAPI schemas) for built-in kinds and @kubernetes-models/keda (KEDA's CRD
 * schemas) for ScaledObject and TriggerAuthentication. Both check types, required fields
 * and enums the schemas declare; neither rejects unknown fields.
 */

interface Validating {
  validate(): void;
}
type ModelClass = new (data: never) => Validating;

const models: Record<string, ModelClass> = {
  'v1/Namespace': Namespace,
  'v1/ServiceAccount': ServiceAccount,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'apps/v1/DaemonSet': DaemonSet,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
  'keda.sh/v1alpha1/ScaledObject': ScaledObject,
  'keda.sh/v1alpha1/TriggerAuthentication': TriggerAuthentication,
};

export function hasModel(apiVersion: string, kind: string): boolean {
  return `${apiVersion}/${kind}` in models;
}

/** undefined when `obj` validates against its kind's schema, else the validation error. */
export function validationError(obj: { apiVersion: string; kind: string }): string | undefined {
  const Model = models[`${obj.apiVersion}/${obj.kind}`];
  if (!Model) return `no model for ${obj.apiVersion}/${obj.kind}`;
  try {
    new Model(structuredClone(obj) as never).validate();
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}
