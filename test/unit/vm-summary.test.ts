import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { CHECK_LINE_PREFIX, PROBE_LINE_PREFIX, type CheckResult } from '../vm/report.js';

/**
 * The VM matrix's verdict (test/vm/summarize.ts) from guest output written here: it must
 * fail on a rung that differs from the expectation, on a rung the guest never reported
 * (crash, timeout) and on a wrong probe pick, and pass when all agree.
 */

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kes-vm-summary-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const ok = (rung: CheckResult['rung']): CheckResult => ({
  rung,
  connState: 'hash',
  result: 'ok',
  requests: { counted: 200, sent: 200 },
  p50: { kernelUs: 21000, serverLowUs: 20900, serverHighUs: 21900, errorPct: 0 },
  meanErrorPct: 0,
  keepalive: { counted: 2000, sent: 2000 },
  wakeupMs: 5,
  listenOverflow: { counted: 40, nstat: 40 },
  seconds: 10,
});
const refused = (rung: CheckResult['rung']): CheckResult => ({ rung, result: 'refused', reason: 'tp_btf: tracepoints absent', seconds: 0.1 });

const expectation61 = { probe: 'fentry', rungs: { tp_btf: 'refused', fentry: 'ok', kprobe: 'ok' }, listenOverflow: 'ok' };
const h2Timed = { counted: 160, sent: 160, streams: 8, maxInFlight: 8, p50: { kernelUs: 20780, serverUs: 20150, clientUs: 20984, errorPct: 0 } };

function runSummary(checks: readonly CheckResult[], probeRung: string | null, boot = 0, expectation: object = expectation61, attempts = 1): { status: number | null; stdout: string } {
  const logDir = fs.mkdtempSync(path.join(dir, 'logs-'));
  fs.writeFileSync(path.join(logDir, '6.1.meta'), `series=6.1\nkernel=6.1.0-57-cloud-amd64\nboot=${boot}\nguestExit=${boot === 0 ? 0 : ''}\nattempts=${attempts}\nseconds=50\n`);
  const probe = { exitCode: probeRung ? 0 : 1, report: { ok: probeRung !== null, kernelRelease: '6.1.0-57-cloud-amd64', rung: probeRung, error: probeRung ? null : 'no hook' }, seconds: 3 };
  const lines = [PROBE_LINE_PREFIX + JSON.stringify(probe), ...checks.map((c) => CHECK_LINE_PREFIX + JSON.stringify(c))];
  fs.writeFileSync(path.join(logDir, '6.1.stdout'), lines.join('\n') + '\n');
  const expected = path.join(dir, 'expected.json');
  fs.writeFileSync(expected, JSON.stringify({ '6.1': expectation }));
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'test/vm/summarize.ts', '--log-dir', logDir, '--expected', expected, '--series', '6.1'], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout };
}

test('every rung as expected: exit 0, one line per rung', () => {
  const r = runSummary([refused('tp_btf'), ok('fentry'), ok('kprobe')], 'fentry');
  assert.equal(r.status, 0, r.stdout);
  assert.match(r.stdout, /rung=fentry result=ok state=hash requests=200\/200 p50_error=0%/);
  assert.match(r.stdout, /rung=tp_btf result=refused reason="tp_btf: tracepoints absent"/);
});

test('a guest booted again after node died of SIGSEGV or SIGILL says how many boots it took', () => {
  const r = runSummary([refused('tp_btf'), ok('fentry'), ok('kprobe')], 'fentry', 0, expectation61, 3);
  assert.equal(r.status, 0, r.stdout);
  assert.match(r.stdout, /attempts=3 \(node died of SIGSEGV or SIGILL in the 2 guest\(s\) before; 6\.1\.crashed\*\.\* in the log dir\)/);
});

test('a refused rung that should be ok fails the matrix', () => {
  const r = runSummary([refused('tp_btf'), ok('fentry'), refused('kprobe')], 'fentry');
  assert.equal(r.status, 1);
  assert.match(r.stdout, /MISMATCH kernel=6.1.0-57-cloud-amd64 rung=kprobe: refused, expected ok/);
});

test('a rung the guest never reported fails the matrix', () => {
  const r = runSummary([refused('tp_btf'), ok('fentry')], 'fentry', 124);
  assert.equal(r.status, 1);
  assert.match(r.stdout, /rung=kprobe result=missing \(guest timed out\)/);
});

test('probe picking another rung fails the matrix', () => {
  const r = runSummary([refused('tp_btf'), ok('fentry'), ok('kprobe')], 'kprobe');
  assert.equal(r.status, 1);
  assert.match(r.stdout, /probe: picked kprobe, expected fentry/);
});

test('a listen-queue overflow program that did not load where expected fails the matrix', () => {
  const r = runSummary([refused('tp_btf'), ok('fentry'), { ...ok('kprobe'), listenOverflow: null } as CheckResult], 'fentry');
  assert.equal(r.status, 1);
  assert.match(r.stdout, /rung=fentry .*listen_overflow=40\/40/);
  assert.match(r.stdout, /MISMATCH kernel=6.1.0-57-cloud-amd64 rung=kprobe: listen-queue overflow unavailable, expected ok/);
});

test('HTTP/2 timed by framing where expected and absent where expected: exit 0, the h2 figures printed', () => {
  const checks = [refused('tp_btf'), { ...ok('fentry'), framing: true, h2: h2Timed }, { ...ok('kprobe'), framing: false, h2: null }];
  const r = runSummary(checks, 'fentry', 0, { ...expectation61, framing: { fentry: 'timed', kprobe: 'absent' } });
  assert.equal(r.status, 0, r.stdout);
  assert.match(r.stdout, /rung=fentry .*framing=attached h2=160\/160 h2_p50_error=0% \(kernel 20\.78 ms, server 20\.15 ms, client 20\.98 ms\) h2_in_flight_max=8 \(server 8\)/);
  assert.match(r.stdout, /rung=kprobe .*framing=absent h2=absent/);
});

test('the 100-continue figures are printed for an ok rung that has them', () => {
  const continued = { counted: 100, sent: 100, interim: 100, p50: { kernelUs: 21400, serverUs: 21000, clientUs: 22600, errorPct: 0 } };
  const r = runSummary([refused('tp_btf'), { ...ok('fentry'), expectContinue: continued } as CheckResult, ok('kprobe')], 'fentry');
  assert.equal(r.status, 0, r.stdout);
  assert.match(r.stdout, /rung=fentry .*continue=100\/100 interim=100 continue_p50_error=0% \(kernel 21\.40 ms, nginx 21\.00 ms, client 22\.60 ms\)/);
  assert.doesNotMatch(r.stdout, /rung=kprobe .*continue=/);
});

test('holdAtZero: its figures printed; unavailable where expected ok fails the matrix', () => {
  const held = { held: 3, released: 3, listeners: 1, wakeupMs: 4.2 };
  const good = runSummary([refused('tp_btf'), { ...ok('fentry'), hold: held } as CheckResult, { ...ok('kprobe'), hold: held } as CheckResult], 'fentry', 0, { ...expectation61, hold: 'ok' });
  assert.equal(good.status, 0, good.stdout);
  assert.match(good.stdout, /rung=fentry .*hold=3\/3 released hold_listeners=1 hold_wakeup_ms=4\.2/);
  const bad = runSummary([refused('tp_btf'), { ...ok('fentry'), hold: held } as CheckResult, { ...ok('kprobe'), hold: null } as CheckResult], 'fentry', 0, { ...expectation61, hold: 'ok' });
  assert.equal(bad.status, 1);
  assert.match(bad.stdout, /rung=kprobe .*hold=unavailable/);
  assert.match(bad.stdout, /MISMATCH kernel=6\.1\.0-57-cloud-amd64 rung=kprobe: holdAtZero unavailable, expected ok/);
});

test('framing absent where HTTP/2 should be timed, or timed where absent is expected, fails the matrix', () => {
  const checks = [refused('tp_btf'), { ...ok('fentry'), framing: false, h2: null }, { ...ok('kprobe'), framing: true, h2: h2Timed }];
  const r = runSummary(checks, 'fentry', 0, { ...expectation61, framing: { fentry: 'timed', kprobe: 'absent' } });
  assert.equal(r.status, 1);
  assert.match(r.stdout, /MISMATCH kernel=6.1.0-57-cloud-amd64 rung=fentry: protocol framing absent for HTTP\/2, expected timed/);
  assert.match(r.stdout, /MISMATCH kernel=6.1.0-57-cloud-amd64 rung=kprobe: protocol framing timed for HTTP\/2, expected absent/);
});

test('a guest older than the HTTP/2 check: framing=false reads as absent, framing=true without h2 as unreported', () => {
  const checks = [refused('tp_btf'), { ...ok('fentry'), framing: true }, { ...ok('kprobe'), framing: false }];
  const r = runSummary(checks, 'fentry', 0, { ...expectation61, framing: { fentry: 'timed', kprobe: 'absent' } });
  assert.equal(r.status, 1);
  assert.match(r.stdout, /MISMATCH kernel=6.1.0-57-cloud-amd64 rung=fentry: protocol framing unreported for HTTP\/2, expected timed/);
  assert.doesNotMatch(r.stdout, /rung=kprobe: protocol framing/);
});
