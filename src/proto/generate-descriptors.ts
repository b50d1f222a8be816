/**
 * Builds proto/served-descriptors.binpb, the FileDescriptorSet that server reflection serves
 * (npm run gen:proto), or with --check rebuilds it into a temp dir and fails when the
 * committed set differs (npm run check:proto, part of lint).
 *
 * protoc (Debian's protobuf-compiler, installed by scripts/setup.sh) writes the descriptors,
 * so reflection clients (grpcurl, buf curl, protobuf descriptor pools) get exactly what they
 * would get from the .proto files: fully qualified type names and `...Entry` map entry
 * types, which protobufjs's own descriptor export gets wrong. Health and reflection protos
 * come from their npm packages, placed under their canonical grpc/... file names.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const committed = join(root, 'proto/served-descriptors.binpb');

/** Canonical file name -> where the npm package keeps it. */
const thirdParty: Record<string, string> = {
  'grpc/health/v1/health.proto': 'node_modules/grpc-health-check/proto/health/v1/health.proto',
  'grpc/reflection/v1/reflection.proto': 'node_modules/@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto',
  'grpc/reflection/v1alpha/reflection.proto': 'node_modules/@grpc/reflection/build/proto/grpc/reflection/v1alpha/reflection.proto',
};
const ownFiles = ['externalscaler.proto', 'collector.proto'];

function build(outFile: string): void {
  const includeDir = mkdtempSync(join(tmpdir(), 'proto-include-'));
  try {
    for (const [name, source] of Object.entries(thirdParty)) {
      mkdirSync(dirname(join(includeDir, name)), { recursive: true });
      copyFileSync(join(root, source), join(includeDir, name));
    }
    try {
      execFileSync(
        'protoc',
        ['-I', join(root, 'proto'), '-I', includeDir, '--include_imports', `--descriptor_set_out=${outFile}`, ...ownFiles, ...Object.keys(thirdParty)],
        { stdio: ['ignore', 'ignore', 'inherit'] },
      );
    } catch (err) {
      throw new Error('protoc failed to build the served descriptors; install it with `apt-get install protobuf-compiler` (scripts/setup.sh does)', { cause: err });
    }
  } finally {
    rmSync(includeDir, { recursive: true, force: true });
  }
}

if (process.argv.includes('--check')) {
  const temp = mkdtempSync(join(tmpdir(), 'descriptor-check-'));
  try {
    const fresh = join(temp, 'served-descriptors.binpb');
    build(fresh);
    if (!readFileSync(fresh).equals(readFileSync(committed))) {
      console.error('proto/served-descriptors.binpb is out of date with the protos; run npm run gen:proto');
      process.exitCode = 1;
    }
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
} else {
  build(committed);
}
