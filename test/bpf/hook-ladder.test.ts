import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { z } from 'zod';
import { MAP_NAMES } from '../../src/bpf/abi.js';
import { BpfError, EPERM } from '../../src/bpf/errors.js';
import { CollectorCore, CollectorUnavailableError } from '../../src/collector/core.js';
import { FRAMING_GROUPS, FRAMING_PROGRAMS } from '../../src/collector/framing.js';
import { RUNG_VARIANTS } from '../../src/collector/hook-ladder.js';
import { loadHooks, type OptionalGroup } from '../../src/collector/hook-loader.js';
import { createLogger } from '../../src/log.js';
import { requireBpfObject } from '../helpers/kernel-collector.js';

/**
 * The rungs against this kernel's verifier: rung 1 loads and attaches (the other tests use
 * it); rung 3's kprobe programs pass the verifier although kprobes cannot attach here;
 * rung 2 (fentry) loads where trampolines are allowed, and where they are not the kernel
 * refuses it with EPERM and the ladder records why and moves on.
 */

test('rung 1 (tp_btf) and rung 3 (kprobe) pass the verifier', () => {
  requireBpfObject();
  const [tpBtf] = RUNG_VARIANTS.tp_btf;
  const [kprobe] = RUNG_VARIANTS.kprobe;
  assert.deepEqual(CollectorCore.verifyRung('tp_btf'), tpBtf!.programs);
  assert.deepEqual(CollectorCore.verifyRung('kprobe'), kprobe!.programs);
  console.log(`hook ladder: verifier accepted rung 1 (${tpBtf!.programs.join(', ')}) and rung 3 (${kprobe!.programs.join(', ')})`);
});

test('rung 2 (fentry), both variants: loads, or the kernel refuses the load with EPERM (not a verifier refusal)', () => {
  requireBpfObject();
  for (const { connState, programs } of RUNG_VARIANTS.fentry) {
    try {
      CollectorCore.verifyRung('fentry', undefined, connState);
      console.log(`hook ladder: rung 2 (fentry, ${connState}) loads on this kernel`);
    } catch (err) {
      assert.ok(err instanceof BpfError, String(err));
      assert.equal(err.step, 'load', err.message);
      // EACCES or EINVAL would be the verifier refusing our programs: a bug, not this host.
      assert.equal(err.errno, EPERM, `fentry (${connState}) refused with errno ${err.errno}, not EPERM: ${err.message}`);
      assert.match(err.libbpfLog, new RegExp(`prog '${programs[0]}': BPF program load failed`), 'libbpf\'s log travels with the error');
      console.log(`hook ladder: rung 2 (fentry, ${connState}) refused here with EPERM: ${err.message}`);
    }
  }
});

test('without rung 1 the ladder tries every fentry variant, then kprobe, and says why each failed', () => {
  requireBpfObject();
  let core: CollectorCore | undefined;
  try {
    core = CollectorCore.open({ logger: createLogger('silent'), rungs: ['fentry', 'kprobe'] });
    // fentry worked on this kernel: then it is the chosen rung.
    assert.equal(core.hooks.rung, 'fentry');
  } catch (err) {
    assert.ok(err instanceof CollectorUnavailableError, String(err));
    assert.match(err.message, /^The collector cannot run here: hook rung fentry, kprobe cannot load on this kernel: /);
    assert.match(err.message, /fentry \(sk_storage\): tried and failed: load .* \(errno 1\)/);
    assert.match(err.message, /fentry \(hash\): tried and failed: load .* \(errno 1\)/);
    assert.match(err.message, /kprobe: (kprobes are not available|\(hash\): tried and failed)/);
    assert.doesNotMatch(err.message, /tp_btf/, 'the rung not asked for is not reported');
    console.log(`hook ladder without rung 1: ${err.message}`);
  } finally {
    core?.close();
  }
});

const progInfoSchema = z.looseObject({ map_ids: z.array(z.number()).optional() });
const mapInfoSchema = z.looseObject({ name: z.string(), max_entries: z.number(), btf_id: z.number().optional() });

function bpftoolJson(args: string[]): unknown {
  return JSON.parse(execFileSync('bpftool', ['-j', ...args]).toString());
}

test('rung 1 keeps connection state in socket storage and shrinks the LRU hash to one entry', () => {
  requireBpfObject();
  const core = CollectorCore.open({ logger: createLogger('silent') });
  try {
    assert.equal(core.hooks.rung, 'tp_btf');
    assert.equal(core.hooks.connState, 'sk_storage');
    assert.deepEqual(core.hooks.attached, RUNG_VARIANTS.tp_btf[0]!.programs);
    const mapIds = new Set<number>();
    for (const id of Object.values(core.programIds())) {
      for (const mapId of progInfoSchema.parse(bpftoolJson(['prog', 'show', 'id', String(id)])).map_ids ?? []) mapIds.add(mapId);
    }
    // The LRU hash is unused by rung 1's programs; it is the map of the same object (same BTF) with its name.
    const ours = [...mapIds].map((id) => mapInfoSchema.parse(bpftoolJson(['map', 'show', 'id', String(id)])));
    const btfId = ours.find((m) => m.name === MAP_NAMES.watchPorts)?.btf_id;
    assert.ok(btfId !== undefined, 'watch_ports carries the object\'s BTF');
    const all = z.array(mapInfoSchema).parse(bpftoolJson(['map', 'show']));
    // The kernel keeps 15 characters of a map's name (BPF_OBJ_NAME_LEN).
    const bySk = all.filter((m) => m.btf_id === btfId && m.name === MAP_NAMES.connStateBySk.slice(0, 15));
    assert.equal(bySk.length, 1, `one ${MAP_NAMES.connStateBySk} beside this object's watch_ports`);
    assert.equal(bySk[0]!.max_entries, 1);
  } finally {
    core.close();
  }
});

test('an optional group that does not load with the variant is replaced by its fallback (framing compat build beside sk_storage)', () => {
  requireBpfObject();
  // A build whose program is missing from the object fails to configure like one the verifier refuses.
  const broken: OptionalGroup = { name: 'protocol framing', programs: ['framing_needs_a_newer_kernel'], fallback: FRAMING_GROUPS[0]!.fallback! };
  const { object, report, optionalLoaded } = loadHooks({ logger: createLogger('silent'), optionalGroups: [broken] });
  try {
    assert.equal(report.connState, 'sk_storage');
    const loaded = optionalLoaded.get('protocol framing')?.programs ?? [];
    assert.ok(FRAMING_PROGRAMS.compat.every((p) => loaded.includes(p)), `the compat build loaded in its place: ${loaded.join(', ')}`);
  } finally {
    object.close();
  }
});

const probeReportSchema = z.looseObject({
  ok: z.boolean(),
  rung: z.string().nullable(),
  connState: z.string().nullable(),
  rejectedRungs: z.array(z.looseObject({ rung: z.string(), connState: z.string().optional(), reason: z.string() })),
  error: z.string().nullable(),
});

function probe(hookRung: string): { status: number | null; report: z.infer<typeof probeReportSchema>; stderr: string } {
  const r = spawnSync('node', ['--import', 'tsx', 'src/cli.ts', 'probe', '--hook-rung', hookRung], { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, report: probeReportSchema.parse(JSON.parse(r.stdout)), stderr: r.stderr };
}

test('probe --hook-rung: a rung that loads is reported with its state; one that cannot is one sentence with the remedy', () => {
  requireBpfObject();
  const good = probe('tp_btf');
  assert.equal(good.status, 0, good.stderr);
  assert.deepEqual([good.report.ok, good.report.rung, good.report.connState], [true, 'tp_btf', 'sk_storage']);

  const bad = probe('fentry');
  if (bad.status === 0) {
    assert.equal(bad.report.rung, 'fentry', 'fentry loads on this kernel');
    return;
  }
  assert.equal(bad.status, 1);
  assert.equal(bad.report.ok, false);
  assert.match(bad.report.error ?? '', /^The collector cannot run here: hook rung fentry cannot load on this kernel: fentry \(sk_storage\): .*; fentry \(hash\): .* \(--hook-rung fentry; use --hook-rung auto to let the collector choose\)\.$/);
  assert.equal(bad.stderr.trim().split('\n').at(-1), bad.report.error, 'the same sentence closes stderr');
  assert.deepEqual(
    bad.report.rejectedRungs.filter((r) => r.rung === 'fentry').map((r) => r.connState),
    ['sk_storage', 'hash'],
  );
  console.log(`probe --hook-rung fentry: exit ${bad.status}: ${bad.report.error}`);
});
