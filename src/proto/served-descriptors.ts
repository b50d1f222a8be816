import { readFileSync } from 'node:fs';
import * as protoLoader from '@grpc/proto-loader';

/**
 * The FileDescriptorSet protoc built for everything the server serves (externalscaler,
 * the collector ingest service, grpc.health.v1, grpc.reflection), kept current by
 * `npm run check:proto` (src/proto/generate-descriptors.ts).
 */
export const servedDescriptorsFile = new URL('../../proto/served-descriptors.binpb', import.meta.url);

/** The encoded FileDescriptorProtos of a FileDescriptorSet, byte for byte as protoc wrote them. */
export function splitFileDescriptorSet(set: Buffer): Buffer[] {
  const files: Buffer[] = [];
  let at = 0;
  const varint = (): number => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = set[at++];
      if (byte === undefined || shift > 28) throw new Error('FileDescriptorSet: truncated or oversized varint');
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
  };
  while (at < set.length) {
    const tag = varint();
    // FileDescriptorSet has one field: `repeated FileDescriptorProto file = 1` (length-delimited).
    if (tag !== ((1 << 3) | 2)) throw new Error(`FileDescriptorSet: unexpected field tag ${tag}`);
    const length = varint();
    if (at + length > set.length) throw new Error('FileDescriptorSet: truncated file');
    files.push(set.subarray(at, at + length));
    at += length;
  }
  return files;
}

/**
 * A package definition for @grpc/reflection whose descriptors are protoc's own bytes.
 * proto-loader re-derives descriptors through protobufjs (relative type names, map entry
 * types without the `Entry` suffix), which Go and C++ descriptor pools reject; reflection
 * only reads `fileDescriptorProtos`, so those are swapped for the originals.
 */
export function servedPackageDefinition(options: protoLoader.Options): protoLoader.PackageDefinition {
  const set = readFileSync(servedDescriptorsFile);
  const files = splitFileDescriptorSet(set);
  const definition = protoLoader.loadFileDescriptorSetFromBuffer(set, options);
  for (const entry of Object.values(definition)) {
    if ('fileDescriptorProtos' in entry) (entry as { fileDescriptorProtos: Buffer[] }).fileDescriptorProtos = files;
  }
  return definition;
}
