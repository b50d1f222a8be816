import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

/**
 * Attack 11 (issue 10): start-up failures printed raw stack traces (the collector's only
 * after attaching eBPF). Now each is one sentence naming the flag, the value and the remedy,
 * before any kernel or network I/O, and a stack only with --log-level debug.
 */

const cwd = new URL('../../', import.meta.url).pathname;
const run = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { cwd, env: { ...process.env, KUBECONFIG: '', ...env }, encoding: 'utf8', timeout: 30_000 });

const STACK_LINE = /\n\s+at .+:\d+/;

describe('start-up failures are one sentence (attack 11)', () => {
  let dir: string;
  const file = (name: string) => path.join(dir, name);
  let busy: net.Server;
  let busyPort = 0;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kes-cli-'));
    for (const who of ['a', 'b']) {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', file(`${who}.key`), '-out', file(`${who}.pem`), '-days', '1', '-subj', `/CN=${who}`], { stdio: 'ignore' });
    }
    fs.writeFileSync(file('garbage.yaml'), '{{{: [');
    fs.writeFileSync(file('garbage.o'), 'not an object file at all, just text');
    busy = net.createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    busyPort = (busy.address() as net.AddressInfo).port;
  });
  after(() => {
    busy.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const cases: { name: string; args: () => string[]; status: number; says: RegExp }[] = [
    { name: 'collector --scaler with port 99999', args: () => ['collector', '--scaler', '127.0.0.1:99999'], status: 2, says: /--scaler 127\.0\.0\.1:99999: .*port 1-65535.*give HOST:PORT/ },
    { name: 'collector --kubeconfig /nonexistent', args: () => ['collector', '--scaler', '127.0.0.1:9090', '--kubernetes', 'on', '--kubeconfig', '/nonexistent'], status: 2, says: /--kubeconfig \/nonexistent: cannot read it \(ENOENT\); give a readable kubeconfig/ },
    { name: 'scaler --kubeconfig garbage', args: () => ['scaler', '--kubernetes', 'on', '--kubeconfig', file('garbage.yaml')], status: 2, says: /--kubeconfig .*garbage\.yaml: not a kubeconfig/ },
    { name: 'collector --bpf-object garbage', args: () => ['collector', '--scaler', '127.0.0.1:9090', '--bpf-object', file('garbage.o')], status: 2, says: /--bpf-object .*garbage\.o: not an ELF object file; build it with `npm run build:bpf`/ },
    { name: 'collector --bpf-object of another machine', args: () => ['collector', '--scaler', '127.0.0.1:9090', '--bpf-object', process.execPath], status: 2, says: /--bpf-object .*: an ELF object for machine \d+, not eBPF \(247\)/ },
    { name: 'scaler --listen with port 99999', args: () => ['scaler', '--listen', '127.0.0.1:99999'], status: 2, says: /--listen \(or \$KEDA_EBPF_LISTEN\): port 99999 in "127\.0\.0\.1:99999" is out of range/ },
    { name: 'scaler with a mismatched TLS key', args: () => ['scaler', '--listen', '127.0.0.1:0', '--ingest-listen', '127.0.0.1:0', '--ingest-auth', 'none', '--tls-cert', file('a.pem'), '--tls-key', file('b.key')], status: 2, says: /--tls-key .*b\.key is not the private key of --tls-cert .*a\.pem \(.*key values mismatch\); give the key/ },
    { name: 'scaler --listen on a busy port', args: () => ['scaler', '--listen', `127.0.0.1:${busyPort}`, '--ingest-listen', '127.0.0.1:0', '--ingest-auth', 'none'], status: 1, says: /cannot listen on 127\.0\.0\.1:\d+.*give --listen a free local HOST:PORT/ },
  ];

  for (const c of cases) {
    it(c.name, () => {
      const r = run(c.args());
      assert.equal(r.status, c.status, r.stderr);
      assert.match(r.stderr, c.says);
      assert.doesNotMatch(r.stderr, STACK_LINE, 'no stack trace on stderr');
      assert.doesNotMatch(r.stdout, /"stack"|\\n\s+at /, 'no stack trace in the logs');
      assert.doesNotMatch(r.stdout, /kernel hooks attached/, 'no eBPF attached before the flags were checked');
      // The sentence itself is one line (the second line, if any, points at --help).
      const lines = r.stderr.trim().split('\n');
      assert.ok(lines.length <= 2 && (lines.length === 1 || /--help/.test(lines[1]!)), r.stderr);
    });
  }

  it('a directory as --bpf-object is one sentence too', () => {
    const quiet = run(['collector', '--scaler', '127.0.0.1:9090', '--bpf-object', dir]);
    assert.equal(quiet.status, 2);
    assert.match(quiet.stderr, /--bpf-object .*: cannot read it \(EISDIR\)/);
    assert.doesNotMatch(quiet.stderr, STACK_LINE);
  });
});
