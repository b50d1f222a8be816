import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import * as abi from '../../src/bpf/abi.js';
import { BpfObject } from '../../src/bpf/object.js';
import { z } from 'zod';
import { RUNG_VARIANTS } from '../../src/collector/hook-ladder.js';
import { BUCKET_COUNT, MAX_TRACKED_US, bucketIndex } from '../../src/histogram/layout.js';
import { requireBpfObject } from '../helpers/kernel-collector.js';

/**
 * The kernel/user ABI: src/bpf/abi.ts against the compiled object (every struct member's
 * offset from its BTF, map key and value sizes as libbpf reads them) and the C bucket index
 * (bpf/scaler_abi.h, compiled for the host) against src/histogram/layout.ts.
 */

interface BtfStruct {
  readonly size: number;
  /** Member name -> byte offset. */
  readonly members: ReadonlyMap<string, number>;
}

const btfDumpSchema = z.object({
  types: z.array(
    z.looseObject({
      kind: z.string(),
      name: z.string(),
      size: z.number().optional(),
      members: z.array(z.looseObject({ name: z.string(), bits_offset: z.number() })).optional(),
    }),
  ),
});

/** The scaler_* structs of an object file's BTF (bpftool's JSON dump; offsets there are in bits). */
function btfStructs(objectPath: string): Map<string, BtfStruct> {
  const dump = btfDumpSchema.parse(JSON.parse(execFileSync('bpftool', ['-j', 'btf', 'dump', 'file', objectPath, 'format', 'raw']).toString()));
  const structs = new Map<string, BtfStruct>();
  for (const t of dump.types) {
    if (t.kind !== 'STRUCT' || !t.name.startsWith('scaler_') || t.size === undefined) continue;
    const members = new Map<string, number>();
    for (const m of t.members ?? []) {
      assert.equal(m.bits_offset % 8, 0, `${t.name}.${m.name} is a bit field`);
      members.set(m.name, m.bits_offset / 8);
    }
    structs.set(t.name, { size: t.size, members });
  }
  return structs;
}

/** bpf/scaler_abi.h alone compiled with BTF: every struct, including those no map names. */
function headerBtfStructs(dir: string): Map<string, BtfStruct> {
  const src = path.join(dir, 'abi-btf.c');
  fs.writeFileSync(
    src,
    `#include <linux/types.h>\n#include "scaler_abi.h"\n` + abi.ABI_STRUCTS.map((s, i) => `struct ${s.struct} *abi_struct_${i};\n`).join(''),
  );
  const obj = path.join(dir, 'abi-btf.o');
  execFileSync('clang', ['-g', '-O2', '-target', 'bpf', '-Wall', '-Werror', '-I', path.resolve('bpf'), '-I', `/usr/include/${os.arch() === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`, '-c', src, '-o', obj]);
  return btfStructs(obj);
}

/** Every field abi.ts encodes or decodes sits where the C struct has it; every other C member is padding. */
function assertLayout(layout: abi.StructLayout<string>, btf: BtfStruct | undefined, where: string): void {
  assert.ok(btf, `struct ${layout.struct} is not in ${where}`);
  assert.equal(btf.size, layout.bytes, `sizeof(struct ${layout.struct}) in ${where}`);
  for (const [field, offset] of Object.entries(layout.offsets)) {
    assert.equal(btf.members.get(field), offset, `offsetof(struct ${layout.struct}, ${field}) in ${where}`);
  }
  for (const member of btf.members.keys()) {
    assert.ok(member in layout.offsets || /^(pad|reserved)/.test(member), `struct ${layout.struct}.${member} is not in src/bpf/abi.ts`);
  }
}

test('every field offset abi.ts uses equals the BTF of the header and of the shipped object', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kes-abi-'));
  try {
    const header = headerBtfStructs(dir);
    const shipped = btfStructs(requireBpfObject());
    let fields = 0;
    for (const layout of abi.ABI_STRUCTS) {
      assertLayout(layout, header.get(layout.struct), 'bpf/scaler_abi.h');
      // The ring buffer's record type is not named by any map, so the object need not carry it.
      if (layout !== abi.WAKEUP_EVENT) assertLayout(layout, shipped.get(layout.struct), 'build/bpf/scaler.bpf.o');
      fields += Object.keys(layout.offsets).length;
    }
    console.log(`abi: ${abi.ABI_STRUCTS.length} structs, ${fields} field offsets agree with BTF`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('map key/value sizes and limits in the object match src/bpf/abi.ts', () => {
  const object = BpfObject.open(requireBpfObject());
  try {
    object.loadOnly(RUNG_VARIANTS.tp_btf[0]!.programs);
    object.load();
    const expect: [string, number, number, number][] = [
      [abi.MAP_NAMES.watchPorts, abi.WATCH_KEY.bytes, abi.SLOT_REF.bytes, abi.MAX_WATCH_ENTRIES],
      [abi.MAP_NAMES.demandAddrs, abi.DEMAND_KEY.bytes, abi.SLOT_REF.bytes, abi.MAX_DEMAND_ENTRIES],
      [abi.MAP_NAMES.slotMeta, abi.ARRAY_KEY_BYTES, abi.SLOT_META.bytes, abi.MAX_TARGETS],
      [abi.MAP_NAMES.targetStats, abi.ARRAY_KEY_BYTES, abi.TARGET_STATS.bytes, abi.MAX_TARGETS],
      [abi.MAP_NAMES.health, abi.ARRAY_KEY_BYTES, abi.HEALTH.bytes, 1],
      [abi.MAP_NAMES.watchPortBits, abi.ARRAY_KEY_BYTES, abi.PORT_BITMAP_WORD_BYTES, abi.PORT_BITMAP_WORDS],
      [abi.MAP_NAMES.watchEpoch, abi.ARRAY_KEY_BYTES, abi.WATCH_EPOCH_BYTES, 1],
      [abi.MAP_NAMES.holdConfig, abi.ARRAY_KEY_BYTES, abi.HOLD_CONFIG.bytes, abi.MAX_TARGETS],
      [abi.MAP_NAMES.holdStats, abi.ARRAY_KEY_BYTES, abi.HOLD_STATS.bytes, abi.MAX_TARGETS],
      [abi.MAP_NAMES.holdConns, 4, abi.HOLD_CONN_BYTES, 0],
      [abi.MAP_NAMES.connectMarks, abi.ARRAY_KEY_BYTES, abi.CONNECT_MARK_BYTES, abi.CONNECT_MARKS],
      [abi.MAP_NAMES.listenStats, abi.ARRAY_KEY_BYTES, abi.LISTEN_STATS.bytes, abi.MAX_TARGETS],
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
