import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { requireBpfObject } from '../helpers/kernel-collector.js';

/**
 * Acceptance 6: without BPF rights `probe` (and the collector behind it) exits non-zero
 * with one sentence naming what is missing. Capabilities are dropped with capsh; a direct
 * load attempt under the same drop confirms the kernel really refuses.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function runDropped(drop: string | undefined, command: string): { status: number | null; stdout: string; stderr: string } {
  const args = drop ? [`--drop=${drop}`, '--', '-c', command] : ['--', '-c', command];
  const r = spawnSync('capsh', args, { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const PROBE = 'node --import tsx src/cli.ts probe';

test('probe with full rights: JSON, rung tp_btf, hooks attached, exit 0', () => {
  requireBpfObject();
  const r = runDropped(undefined, PROBE);
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { ok: boolean; rung: string; hooksAttached: string[]; btf: boolean; kernelRelease: string };
  console.log(`probe: ok ${report.ok}, kernel ${report.kernelRelease}, BTF ${report.btf}, rung ${report.rung}, ${report.hooksAttached.length} hooks`);
  assert.equal(report.ok, true);
  assert.equal(report.rung, 'tp_btf');
  assert.equal(report.hooksAttached.length, 4);
});

test('probe without CAP_BPF/CAP_SYS_ADMIN/CAP_PERFMON/CAP_NET_ADMIN: one sentence naming them, exit 1', () => {
  requireBpfObject();
  const r = runDropped('cap_bpf,cap_sys_admin,cap_perfmon,cap_net_admin', PROBE);
  console.log(`probe without capabilities: exit ${r.status}: ${r.stderr.trim()}`);
  assert.equal(r.status, 1);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, 'exactly one sentence');
  assert.match(lines[0]!, /^The collector cannot run here: this process lacks CAP_BPF and CAP_PERFMON \(grant .*\)\.$/);
  const report = JSON.parse(r.stdout) as { ok: boolean; missing: string[] };
  assert.equal(report.ok, false);
  assert.deepEqual(report.missing, ['CAP_BPF', 'CAP_PERFMON']);
});

test('probe with CAP_BPF but without CAP_PERFMON names only CAP_PERFMON', () => {
  requireBpfObject();
  const r = runDropped('cap_sys_admin,cap_perfmon', PROBE);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /lacks CAP_PERFMON \(/);
  assert.doesNotMatch(r.stderr, /lacks CAP_BPF/);
});

test('the kernel agrees: loading the programs under the same drop fails with EPERM', () => {
  requireBpfObject();
  const script =
    "import { BpfObject } from './src/bpf/object.ts'; const o = BpfObject.open('build/bpf/scaler.bpf.o'); " +
    'try { o.load(); console.log("loaded"); } catch (e) { console.log(e.errno); } finally { o.close(); }';
  const r = runDropped('cap_bpf,cap_sys_admin,cap_perfmon,cap_net_admin', `node --import tsx --input-type=module -e "${script}"`);
  assert.equal(r.stdout.trim(), '1', `expected errno 1 (EPERM), got ${r.stdout} ${r.stderr}`);
});
