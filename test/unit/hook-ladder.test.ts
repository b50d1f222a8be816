import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chooseRung, RUNG_PROGRAMS, type HookFacts } from '../../src/collector/hook-ladder.js';

/** The hook ladder's choice on simulated kernels (what probing would have found). */

const kernel618: HookFacts = {
  btf: true,
  btfTracepoints: { sk_data_ready: true, sock_send_length: true, inet_sock_set_state: true },
  btfFunctions: { sock_def_readable: true, tcp_sendmsg_locked: true },
  kprobes: false,
  failed: {},
};
const kernel515: HookFacts = {
  ...kernel618,
  btfTracepoints: { sk_data_ready: false, sock_send_length: false, inet_sock_set_state: true },
  kprobes: true,
};

const rows: { name: string; facts: HookFacts; rung: string | undefined; reason: RegExp }[] = [
  { name: '6.18 with BTF tracepoints', facts: kernel618, rung: 'tp_btf', reason: /cheapest/ },
  { name: '5.15: no sk_data_ready tracepoint -> fentry', facts: kernel515, rung: 'fentry', reason: /passed over: tp_btf: tracepoints sk_data_ready, sock_send_length absent/ },
  { name: '5.15 where fentry failed to load -> kprobe', facts: { ...kernel515, failed: { fentry: 'tried and failed: EPERM' } }, rung: 'kprobe', reason: /fentry: tried and failed: EPERM/ },
  { name: 'fentry target function missing from BTF', facts: { ...kernel515, btfFunctions: { sock_def_readable: false, tcp_sendmsg_locked: true } }, rung: 'kprobe', reason: /no BTF for sock_def_readable/ },
  { name: 'this CI machine when tp_btf failed: fentry EPERM, no kprobes', facts: { ...kernel618, failed: { tp_btf: 'tried and failed: x', fentry: 'tried and failed: EPERM' } }, rung: undefined, reason: /kprobe: kprobes are not available/ },
  { name: 'no BTF at all', facts: { ...kernel515, btf: false }, rung: undefined, reason: /no kernel BTF/ },
];

for (const row of rows) {
  test(`hook ladder: ${row.name}`, () => {
    const choice = chooseRung(row.facts);
    assert.equal(choice.rung, row.rung);
    assert.match(choice.reason, row.reason);
    if (choice.rung !== undefined) assert.deepEqual(choice.programs, RUNG_PROGRAMS[choice.rung]);
  });
}

test('hook ladder: rejected rungs are listed best first', () => {
  const choice = chooseRung({ ...kernel515, failed: { fentry: 'tried and failed: EPERM' } });
  assert.deepEqual(
    choice.rejected.map((r) => r.rung),
    ['tp_btf', 'fentry'],
  );
});

test('hook ladder: every rung times arrival, sends and state changes, and counts demand', () => {
  for (const programs of Object.values(RUNG_PROGRAMS)) {
    assert.equal(programs.length, 4);
    assert.ok(programs.some((p) => p.startsWith('rt_arrival_')));
    assert.ok(programs.some((p) => p.startsWith('rt_send_')));
    assert.ok(programs.some((p) => p.startsWith('rt_state_')));
    assert.ok(programs.some((p) => p.startsWith('demand_state_')));
  }
});
