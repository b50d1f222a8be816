import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import * as abi from '../../src/bpf/abi.js';
import { BpfObject } from '../../src/bpf/object.js';
import { RUNG_PROGRAMS } from '../../src/collector/hook-ladder.js';
import { BUCKET_COUNT, MAX_TRACKED_US, bucketIndex } from '../../src/histogram/layout.js';
import { requireBpfObject } from '../helpers/kernel-collector.js';

/**
 * The kernel/user ABI: src/bpf/abi.ts against the compiled object (map key and value
 * sizes as libbpf reads them from BTF) and the C bucket index (bpf/scaler_abi.h, compiled
 * for the host) against src/histogram/layout.ts.
 */

test('map key/value sizes and limits in the object match src/bpf/abi.ts', () => {
  const object = BpfObject.open(requireBpfObject());
  try {
    object.loadOnly(RUNG_PROGRAMS.tp_btf);
    object.load();
    const expect: [string, number, number, number][] = [
      [abi.MAP_NAMES.watchPorts, abi.WATCH_KEY_BYTES, abi.SLOT_REF_BYTES, abi.MAX_WATCH_ENTRIES],
      [abi.MAP_NAMES.demandAddrs, abi.DEMAND_KEY_BYTES, abi.SLOT_REF_BYTES, abi.MAX_DEMAND_ENTRIES],
      [abi.MAP_NAMES.slotMeta, 4, abi.SLOT_META_BYTES, abi.MAX_TARGETS],
      [abi.MAP_NAMES.targetStats, 4, abi.TARGET_STATS_BYTES, abi.MAX_TARGETS],
      [abi.MAP_NAMES.health, 4, abi.HEALTH_BYTES, 1],
      [abi.MAP_NAMES.watchPortBits, 4, 8, abi.PORT_BITMAP_WORDS],
      [abi.MAP_NAMES.watchEpoch, 4, 4, 1],
    ];
    for (const [name, keySize, valueSize, maxEntries] of expect) {
      const map = object.map(name);
      assert.deepEqual([map.keySize, map.valueSize, map.maxEntries], [keySize, valueSize, maxEntries], name);
    }
  } finally {
    object.close();
  }
});

test('the kernel bucket index (C, shifts only) equals layout.ts for every boundary', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kes-abi-'));
  try {
    const values: number[] = [0, 1, 2, 31, 32, 33, MAX_TRACKED_US, MAX_TRACKED_US + 1, 2 ** 40];
    for (let e = 5; e <= 27; e++) for (const d of [-1, 0, 1]) values.push(2 ** e + d);
    for (let v = 1; v < 70_000_000; v = Math.ceil(v * 1.013) + 1) values.push(v);
    const src = path.join(dir, 'index.c');
    fs.writeFileSync(
      src,
      `#include <stdio.h>\n#include <stdlib.h>\n#include <linux/types.h>\n#include "scaler_abi.h"\n` +
        `int main(int argc, char **argv) { for (int i = 1; i < argc; i++) printf("%u\\n", scaler_bucket_index(strtoull(argv[i], 0, 10))); return 0; }\n`,
    );
    const bin = path.join(dir, 'index');
    execFileSync('clang', ['-O2', '-Wall', '-Werror', '-I', path.resolve('bpf'), src, '-o', bin]);
    const out = execFileSync(bin, values.map(String), { maxBuffer: 16 << 20 }).toString().trim().split('\n').map(Number);
    assert.equal(out.length, values.length);
    values.forEach((v, i) => assert.equal(out[i], bucketIndex(v), `value ${v} us`));
    assert.ok(Math.max(...out) === BUCKET_COUNT - 1);
    console.log(`abi: ${values.length} values, C and TypeScript bucket indices agree`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
