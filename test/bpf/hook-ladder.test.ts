import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BpfError } from '../../src/bpf/errors.js';
import { CollectorCore, CollectorUnavailableError } from '../../src/collector/core.js';
import { RUNG_PROGRAMS } from '../../src/collector/hook-ladder.js';
import { createLogger } from '../../src/log.js';
import { requireBpfObject } from '../helpers/kernel-collector.js';

/**
 * The rungs against this kernel's verifier: rung 1 loads and attaches (the other tests use
 * it); rung 3's kprobe programs pass the verifier although kprobes cannot attach here;
 * rung 2 (fentry) loads where trampolines are allowed, and where they are not the ladder
 * records why and moves on.
 */

test('rung 1 (tp_btf) and rung 3 (kprobe) pass the verifier', () => {
  requireBpfObject();
  assert.deepEqual(CollectorCore.verifyRung('tp_btf'), RUNG_PROGRAMS.tp_btf);
  assert.deepEqual(CollectorCore.verifyRung('kprobe'), RUNG_PROGRAMS.kprobe);
  console.log(`hook ladder: verifier accepted rung 1 (${RUNG_PROGRAMS.tp_btf.join(', ')}) and rung 3 (${RUNG_PROGRAMS.kprobe.join(', ')})`);
});

test('rung 2 (fentry) loads or fails at the load step with an errno', () => {
  requireBpfObject();
  try {
    CollectorCore.verifyRung('fentry');
    console.log('hook ladder: rung 2 (fentry) loads on this kernel');
  } catch (err) {
    assert.ok(err instanceof BpfError, String(err));
    assert.equal(err.step, 'load');
    console.log(`hook ladder: rung 2 (fentry) does not load here: ${err.message}`);
  }
});

test('without rung 1 the ladder tries the others and says why each failed', () => {
  requireBpfObject();
  let core: CollectorCore | undefined;
  try {
    core = CollectorCore.open({ logger: createLogger('silent'), rungs: ['fentry', 'kprobe'] });
    // fentry worked on this kernel: then it is the chosen rung.
    assert.equal(core.hooks.rung, 'fentry');
  } catch (err) {
    assert.ok(err instanceof CollectorUnavailableError, String(err));
    assert.match(err.message, /^The collector cannot run here: no usable kernel hook: /);
    assert.match(err.message, /tp_btf: not allowed by configuration/);
    assert.match(err.message, /kprobe: (kprobes are not available|tried and failed)/);
    console.log(`hook ladder without rung 1: ${err.message}`);
  } finally {
    core?.close();
  }
});
