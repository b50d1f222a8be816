import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chooseRung, RUNG_VARIANTS, rungVariant, type HookFacts, type LadderAttempts, type RungChoice } from '../../src/collector/hook-ladder.js';

/** The hook ladder's choice on simulated kernels (what probing would have found) and attempts. */

const kernel618: HookFacts = {
  btf: true,
  btfTracepoints: { sk_data_ready: true, sock_send_length: true, inet_sock_set_state: true },
  btfFunctions: { sock_def_readable: true, tcp_sendmsg_locked: true },
  kprobes: false,
};
const kernel515: HookFacts = {
  ...kernel618,
  btfTracepoints: { sk_data_ready: false, sock_send_length: false, inet_sock_set_state: true },
  kprobes: true,
};
const allPrograms = new Set(Object.values(RUNG_VARIANTS).flatMap((variants) => variants.flatMap((v) => v.programs)));
/** An object built before the *_hash programs existed. */
const withoutHash = new Set([...allPrograms].filter((p) => !p.endsWith('_hash')));

const rows: { name: string; facts: HookFacts; attempts?: LadderAttempts; rung: string | undefined; connState?: string; reason: RegExp }[] = [
  { name: '6.18 with BTF tracepoints', facts: kernel618, rung: 'tp_btf', connState: 'sk_storage', reason: /cheapest/ },
  {
    name: '5.15: no sk_data_ready tracepoint -> fentry with sk_storage',
    facts: kernel515,
    rung: 'fentry',
    connState: 'sk_storage',
    reason: /passed over: tp_btf: tracepoints sk_data_ready, sock_send_length absent/,
  },
  {
    name: '5.10: fentry with sk_storage refused -> fentry with the hash',
    facts: kernel515,
    attempts: { failed: [{ rung: 'fentry', connState: 'sk_storage', reason: 'tried and failed: unknown func bpf_sk_storage_get#107' }] },
    rung: 'fentry',
    connState: 'hash',
    reason: /LRU hash.*passed over: tp_btf: .*; fentry \(sk_storage\): tried and failed: unknown func bpf_sk_storage_get#107\)$/,
  },
  {
    name: 'both fentry variants failed -> kprobe',
    facts: kernel515,
    attempts: {
      failed: [
        { rung: 'fentry', connState: 'sk_storage', reason: 'tried and failed: EINVAL' },
        { rung: 'fentry', connState: 'hash', reason: 'tried and failed: EPERM' },
      ],
    },
    rung: 'kprobe',
    connState: 'hash',
    reason: /fentry \(sk_storage\): tried and failed: EINVAL; fentry \(hash\): tried and failed: EPERM/,
  },
  {
    name: 'an object without the hash variant: that variant is "not in this BPF object", not a crash',
    facts: kernel515,
    attempts: { objectPrograms: withoutHash, failed: [{ rung: 'fentry', connState: 'sk_storage', reason: 'tried and failed: EINVAL' }] },
    rung: 'kprobe',
    connState: 'hash',
    reason: /fentry \(hash\): not in this BPF object \(no program rt_arrival_fentry_hash, rt_send_fentry_hash, rt_state_tp_btf_hash\)/,
  },
  {
    name: 'fentry target function missing from BTF: the whole rung, once',
    facts: { ...kernel515, btfFunctions: { sock_def_readable: false, tcp_sendmsg_locked: true } },
    rung: 'kprobe',
    connState: 'hash',
    reason: /passed over: tp_btf: [^;]*; fentry: no BTF for sock_def_readable\)/,
  },
  {
    name: 'this CI machine when tp_btf failed: fentry EPERM, no kprobes',
    facts: kernel618,
    attempts: {
      failed: [
        { rung: 'tp_btf', connState: 'sk_storage', reason: 'tried and failed: x' },
        { rung: 'fentry', connState: 'sk_storage', reason: 'tried and failed: EPERM' },
        { rung: 'fentry', connState: 'hash', reason: 'tried and failed: EPERM' },
      ],
    },
    rung: undefined,
    reason: /^no usable kernel hook: tp_btf \(sk_storage\): tried and failed: x; fentry \(sk_storage\): .*; fentry \(hash\): .*; kprobe: kprobes are not available/,
  },
  {
    name: 'forced rung: the others are not allowed by configuration',
    facts: kernel618,
    attempts: { allowed: ['fentry'] },
    rung: 'fentry',
    connState: 'sk_storage',
    reason: /passed over: tp_btf: not allowed by configuration\)/,
  },
  {
    name: 'forced rung the kernel lacks',
    facts: kernel618,
    attempts: { allowed: ['kprobe'] },
    rung: undefined,
    reason: /tp_btf: not allowed by configuration; fentry: not allowed by configuration; kprobe: kprobes are not available/,
  },
  { name: 'no BTF at all', facts: { ...kernel515, btf: false }, rung: undefined, reason: /no kernel BTF/ },
];

for (const row of rows) {
  test(`hook ladder: ${row.name}`, () => {
    const choice: RungChoice = chooseRung(row.facts, row.attempts);
    assert.equal(choice.rung, row.rung);
    assert.match(choice.reason, row.reason);
    if (choice.rung !== undefined) {
      assert.equal(choice.variant.connState, row.connState);
      assert.deepEqual(choice.variant, rungVariant(choice.rung, choice.variant.connState));
    }
  });
}

test('hook ladder: rejected rungs and variants are listed best first, variants named by their state', () => {
  const choice = chooseRung(kernel515, {
    failed: [
      { rung: 'fentry', connState: 'hash', reason: 'tried and failed: b' },
      { rung: 'fentry', connState: 'sk_storage', reason: 'tried and failed: a' },
    ],
  });
  assert.deepEqual(choice.rejected, [
    { rung: 'tp_btf', reason: 'tracepoints sk_data_ready, sock_send_length absent (they arrived in kernel 6.3)' },
    { rung: 'fentry', connState: 'sk_storage', reason: 'tried and failed: a' },
    { rung: 'fentry', connState: 'hash', reason: 'tried and failed: b' },
  ]);
});

test('hook ladder: a failure of one variant does not rule out the same state on another rung', () => {
  const choice = chooseRung(kernel618, { failed: [{ rung: 'tp_btf', connState: 'sk_storage', reason: 'tried and failed: x' }] });
  assert.equal(choice.rung, 'fentry');
  assert.equal(choice.rung && choice.variant.connState, 'sk_storage');
});

test('hook ladder: sk_storage is tried before the hash wherever a rung has both', () => {
  for (const variants of Object.values(RUNG_VARIANTS)) {
    const states = variants.map((v) => v.connState);
    assert.equal(new Set(states).size, states.length, 'one variant per state');
    if (states.includes('hash') && states.includes('sk_storage')) assert.ok(states.indexOf('sk_storage') < states.indexOf('hash'));
  }
  assert.deepEqual(
    RUNG_VARIANTS.fentry.map((v) => v.connState),
    ['sk_storage', 'hash'],
  );
  assert.throws(() => rungVariant('kprobe', 'sk_storage'), /hook rung kprobe has no sk_storage variant/);
});

test('hook ladder: a variant tried only when forced is no fallback, and forcing the hash picks it first', () => {
  const failed: LadderAttempts['failed'] = [{ rung: 'tp_btf', connState: 'sk_storage', reason: 'tried and failed: EINVAL' }];
  const fallback = chooseRung(kernel618, { failed });
  assert.equal(fallback.rung, 'fentry', 'tp_btf (hash) is not a fallback');
  assert.ok(!fallback.rejected.some((r) => r.rung === 'tp_btf' && r.connState === 'hash'), 'and is not listed as passed over');
  const forced = chooseRung(kernel618, { connStates: ['hash'] });
  assert.equal(forced.rung, 'tp_btf');
  assert.equal(forced.rung && forced.variant.connState, 'hash');
  assert.deepEqual(forced.rejected, [{ rung: 'tp_btf', connState: 'sk_storage', reason: 'not allowed by configuration' }]);
});

test('hook ladder: every variant times arrival, sends and state changes, and counts demand', () => {
  for (const variants of Object.values(RUNG_VARIANTS)) {
    for (const { programs } of variants) {
      assert.equal(programs.length, 4);
      assert.ok(programs.some((p) => p.startsWith('rt_arrival_')));
      assert.ok(programs.some((p) => p.startsWith('rt_send_')));
      assert.ok(programs.some((p) => p.startsWith('rt_state_')));
      assert.ok(programs.some((p) => p.startsWith('demand_state_')));
    }
  }
});
