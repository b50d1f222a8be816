import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { BpfError, EACCES } from '../../src/bpf/errors.js';
import { LIBBPF_LOG_KEEP_CHARS } from '../../src/bpf/libbpf.js';
import { BpfObject } from '../../src/bpf/object.js';
import { requireRoot } from '../helpers/netns.js';

/**
 * libbpf's output reaches the user: a load the verifier refuses raises a BpfError whose
 * message carries the verifier's verdict and whose libbpfLog carries the log's tail. The
 * refused programs are compiled here from C, so the verdict is known in advance.
 */

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kes-load-errors-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const PROLOGUE = `#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");
char LICENSE[] SEC("license") = "GPL";
`;

function compile(name: string, body: string): string {
  const src = path.join(dir, `${name}.bpf.c`);
  fs.writeFileSync(src, PROLOGUE + body);
  const obj = path.join(dir, `${name}.bpf.o`);
  execFileSync('clang', ['-O2', '-g', '-target', 'bpf', '-Wall', '-Werror', `-I/usr/include/${os.arch() === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`, '-c', src, '-o', obj]);
  return obj;
}

function loadError(objectPath: string): BpfError {
  const object = BpfObject.open(objectPath);
  try {
    object.load();
  } catch (err) {
    assert.ok(err instanceof BpfError, String(err));
    return err;
  } finally {
    object.close();
  }
  assert.fail(`${objectPath} loaded although the verifier must refuse it`);
}

test('a program the verifier refuses: the BpfError names the program and quotes the verdict', () => {
  requireRoot();
  const obj = compile(
    'unchecked',
    `SEC("socket")
int unchecked_lookup(struct __sk_buff *skb)
{
	__u32 key = 0;
	__u64 *value = bpf_map_lookup_elem(&counts, &key);
	return *value; /* no NULL check */
}
`,
  );
  const err = loadError(obj);
  assert.equal(err.step, 'load');
  assert.equal(err.errno, EACCES);
  assert.match(err.message, /prog 'unchecked_lookup': BPF program load failed/);
  assert.match(err.message, /R0 invalid mem access 'map_value_or_null'/);
  assert.match(err.libbpfLog, /-- BEGIN PROG LOAD LOG --[\s\S]*call bpf_map_lookup_elem[\s\S]*-- END PROG LOAD LOG --/);
  console.log(`load errors: ${err.message}`);
});

test('a verifier log longer than what is kept: its tail, with the verdict, reaches the error', () => {
  requireRoot();
  const obj = compile(
    'long',
    `SEC("socket")
int long_then_unchecked(struct __sk_buff *skb)
{
	__u64 sum = skb->len;
	__u32 key = 0;
	__u64 *value;
#pragma clang loop unroll(full)
	for (int i = 0; i < 6000; i++) {
		sum += i;
		asm volatile("" : "+r"(sum)); /* one instruction, one log line, per step */
	}
	value = bpf_map_lookup_elem(&counts, &key);
	return *value + sum;
}
`,
  );
  const err = loadError(obj);
  assert.equal(err.errno, EACCES);
  assert.match(err.message, /R0 invalid mem access 'map_value_or_null'/);
  assert.ok(err.libbpfLog.length <= LIBBPF_LOG_KEEP_CHARS, `${err.libbpfLog.length} characters kept`);
  assert.ok(err.libbpfLog.length > LIBBPF_LOG_KEEP_CHARS / 2, 'the log filled what is kept');
  assert.doesNotMatch(err.libbpfLog, /BEGIN PROG LOAD LOG/, 'the head was dropped');
  assert.match(err.libbpfLog, /R0 invalid mem access 'map_value_or_null'\nprocessed \d+ insns[^\n]*\n-- END PROG LOAD LOG --/);
  console.log(`load errors: a ${err.libbpfLog.length}-character tail of the verifier log kept, verdict included`);
});
