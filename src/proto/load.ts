import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { servedPackageDefinition } from './served-descriptors.js';
import type { ProtoGrpcType as CollectorProto } from './generated/collector.js';
import type { ProtoGrpcType as ExternalScalerProto } from './generated/externalscaler.js';

/**
 * Loads the protos at run time with the same options the generated types were made with
 * (src/proto/generate.ts): keep field case, 64-bit ints as JS numbers, enums as strings,
 * defaults filled in, oneof names as virtual fields.
 */
export const loaderOptions = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
} as const satisfies protoLoader.Options;

/** proto/ at the repository root: ../../proto from both src/proto and dist/proto. */
export const protoDir = fileURLToPath(new URL('../../proto/', import.meta.url));

export const externalScalerProtoFile = 'externalscaler.proto';
export const collectorProtoFile = 'collector.proto';

function load(files: string[]): protoLoader.PackageDefinition {
  return protoLoader.loadSync(files, { ...loaderOptions, includeDirs: [protoDir] });
}

export function loadExternalScaler(): ExternalScalerProto {
  return grpc.loadPackageDefinition(load([externalScalerProtoFile])) as unknown as ExternalScalerProto;
}

export function loadCollector(): CollectorProto {
  return grpc.loadPackageDefinition(load([collectorProtoFile])) as unknown as CollectorProto;
}

/** Everything this server serves, for reflection (grpcurl list/describe without proto files). */
export function reflectionPackageDefinition(): protoLoader.PackageDefinition {
  return servedPackageDefinition(loaderOptions);
}
