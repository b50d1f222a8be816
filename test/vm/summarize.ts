import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { RUNGS, type Rung } from '../../src/collector/hook-ladder.js';
import {
  CHECK_LINE_PREFIX,
  PROBE_LINE_PREFIX,
  checkResultSchema,
  expectationsSchema,
  probeLineSchema,
  type CheckResult,
  type Expectations,
  type ProbeLine,
} from './report.js';

/**
 * The host half of the VM matrix (scripts/vm-test.sh): reads what each guest printed
 * (LOG_DIR/<series>.stdout and <series>.meta), prints one summary line per kernel and rung,
 * compares with test/vm/expected.json and exits 1 on any mismatch. A row the guest never
 * printed (crash, timeout) is a mismatch too.
 */

const metaSchema = z.object({
  series: z.string(),
  /** uname -r of the guest kernel. */
  kernel: z.string(),
  /** vm_boot's status: 0 the guest reported one, 124 timed out, 125 died. */
  boot: z.coerce.number(),
  guestExit: z.coerce.number().nullable(),
  /** Boots it took: 2 when the first guest's node died of SIGSEGV or SIGILL (scripts/vm-test.sh). */
  attempts: z.coerce.number().int().min(1).default(1),
  seconds: z.coerce.number(),
});
type Meta = z.infer<typeof metaSchema>;

const { values } = parseArgs({ options: { 'log-dir': { type: 'string' }, expected: { type: 'string' }, series: { type: 'string' } } });
const logDir = z.string().min(1).parse(values['log-dir']);
const expectedPath = z.string().min(1).parse(values.expected);
const seriesList = z
  .string()
  .min(1)
  .parse(values.series)
  .split(/[ ,]+/)
  .filter(Boolean);

let expectations: Expectations;
try {
  expectations = expectationsSchema.parse(JSON.parse(fs.readFileSync(expectedPath, 'utf8')));
} catch (err) {
  console.error(`vm-test: ${expectedPath} is not a valid expectation file: ${(err as Error).message}`);
  process.exit(2);
}

function readMeta(series: string): Meta {
  const text = fs.readFileSync(path.join(logDir, `${series}.meta`), 'utf8');
  const fields = Object.fromEntries(text.split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  return metaSchema.parse({ ...fields, guestExit: fields.guestExit === '' ? null : fields.guestExit });
}

function readGuest(series: string): { probe?: ProbeLine; checks: Map<Rung, CheckResult>; garbled: string[] } {
  const file = path.join(logDir, `${series}.stdout`);
  const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  const checks = new Map<Rung, CheckResult>();
  const garbled: string[] = [];
  let probe: ProbeLine | undefined;
  for (const line of text.split('\n')) {
    try {
      if (line.startsWith(PROBE_LINE_PREFIX)) probe = probeLineSchema.parse(JSON.parse(line.slice(PROBE_LINE_PREFIX.length)));
      if (line.startsWith(CHECK_LINE_PREFIX)) {
        const r = checkResultSchema.parse(JSON.parse(line.slice(CHECK_LINE_PREFIX.length)));
        checks.set(r.rung, r);
      }
    } catch (err) {
      garbled.push(`${line.slice(0, 80)}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  return { probe, checks, garbled };
}

/** What a guest that did not finish cleanly left behind: its last words and the kernel's complaints. */
function printEvidence(series: string): void {
  const tail = (name: string, n: number, filter: (l: string) => boolean = () => true): string[] => {
    const file = path.join(logDir, `${series}.${name}`);
    return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(filter).slice(-n) : [];
  };
  for (const l of tail('stderr', 5, (l) => l.trim() !== '')) console.log(`vm-test   stderr: ${l}`);
  for (const l of tail('console', 5, (l) => /segfault at|Oops|BUG:|Kernel panic|Out of memory|vm-init:/.test(l))) console.log(`vm-test   console: ${l}`);
}

const quote = (s: string): string => `"${s.replace(/"/g, "'")}"`;

function describe(r: CheckResult): string {
  switch (r.result) {
    case 'ok':
      return (
        `result=ok state=${r.connState} requests=${r.requests.counted}/${r.requests.sent} p50_error=${r.p50.errorPct}% ` +
        `(kernel ${(r.p50.kernelUs / 1000).toFixed(2)} ms, server ${(r.p50.serverLowUs / 1000).toFixed(2)}-${(r.p50.serverHighUs / 1000).toFixed(2)} ms, mean_error=${r.meanErrorPct}%) ` +
        `keepalive=${r.keepalive.counted}/${r.keepalive.sent} wakeup_ms=${r.wakeupMs} ` +
        `listen_overflow=${r.listenOverflow ? `${r.listenOverflow.counted}/${r.listenOverflow.nstat}` : 'unavailable'}` +
        `${r.framing === undefined ? '' : ` framing=${r.framing ? 'attached' : 'absent'}`}${describeH2(r.h2)}${describeContinue(r.expectContinue)}${describeHold(r.hold)}${describeHalfClose(r.halfClose)} seconds=${r.seconds}`
      );
    case 'failed':
      return `result=failed state=${r.connState} problems=${quote(r.problems.join('; '))} seconds=${r.seconds}`;
    case 'refused':
      return `result=refused reason=${quote(r.reason)}`;
  }
}

type OkResult = Extract<CheckResult, { result: 'ok' }>;

function describeH2(h2: OkResult['h2']): string {
  if (h2 === undefined) return '';
  if (h2 === null) return ' h2=absent';
  return (
    ` h2=${h2.counted}/${h2.sent} h2_p50_error=${h2.p50.errorPct}% (kernel ${(h2.p50.kernelUs / 1000).toFixed(2)} ms, ` +
    `server ${(h2.p50.serverUs / 1000).toFixed(2)} ms, client ${(h2.p50.clientUs / 1000).toFixed(2)} ms) h2_in_flight_max=${h2.maxInFlight} (server ${h2.streams})`
  );
}

function describeContinue(c: OkResult['expectContinue']): string {
  if (c === undefined) return '';
  return (
    ` continue=${c.counted}/${c.sent} interim=${c.interim} continue_p50_error=${c.p50.errorPct}% (kernel ${(c.p50.kernelUs / 1000).toFixed(2)} ms, ` +
    `nginx ${(c.p50.serverUs / 1000).toFixed(2)} ms, client ${(c.p50.clientUs / 1000).toFixed(2)} ms)`
  );
}

function describeHalfClose(h: OkResult['halfClose']): string {
  if (h === undefined) return '';
  const unread = h.unreadBodyAborted === undefined ? '' : ` ${h.unreadBodyAborted}/${h.sent} aborted (unread body, then FIN)`;
  return ` half_close=${h.oneSegment}/${h.sent} (FIN with the request) ${h.finAfter}/${h.sent} (FIN after)${unread}`;
}

function describeHold(h: OkResult['hold']): string {
  if (h === undefined) return '';
  if (h === null) return ' hold=unavailable';
  return ` hold=${h.released}/${h.held} released hold_listeners=${h.listeners} hold_wakeup_ms=${h.wakeupMs}`;
}

/** Whether framing timed HTTP/2 on an ok rung; a guest older than the h2 check says so through `framing` when it was absent. */
function framingState(r: OkResult): 'timed' | 'absent' | 'unreported' {
  if (r.h2 !== undefined) return r.h2 ? 'timed' : 'absent';
  return r.framing === false ? 'absent' : 'unreported';
}

let mismatches = 0;
const mismatch = (what: string): void => {
  mismatches++;
  console.log(`vm-test MISMATCH ${what}`);
};

for (const series of seriesList) {
  const expected = expectations[series];
  if (!expected) {
    mismatch(`series ${series}: no expectation in ${expectedPath}`);
    continue;
  }
  let meta: Meta;
  try {
    meta = readMeta(series);
  } catch {
    mismatch(`series ${series}: the guest never ran (no ${series}.meta in ${logDir})`);
    continue;
  }
  const { probe, checks, garbled } = readGuest(series);
  const boot = meta.boot === 124 ? 'timed out' : meta.boot === 125 ? 'died without a status' : `exited ${meta.guestExit}`;
  const retried = meta.attempts > 1 ? ` attempts=${meta.attempts} (node died of SIGSEGV or SIGILL in the ${meta.attempts - 1} guest(s) before; ${series}.crashed*.* in the log dir)` : '';
  console.log(`vm-test kernel=${meta.kernel} series=${series} guest=${quote(boot)} seconds=${meta.seconds}${retried}`);
  for (const g of garbled) mismatch(`kernel=${meta.kernel} unreadable guest line: ${g}`);
  if (meta.boot !== 0 || meta.guestExit !== 0) printEvidence(series);

  const probeRung = probe?.report?.ok ? (probe.report.rung ?? 'refused') : 'refused';
  if (probe) {
    const detail = probe.report?.ok ? `rung=${probe.report.rung}` : `result=refused reason=${quote(probe.report?.error ?? `exit ${probe.exitCode}, no report`)}`;
    console.log(`vm-test kernel=${meta.kernel} probe ${detail} seconds=${probe.seconds}`);
  }
  if (!probe) mismatch(`kernel=${meta.kernel} probe: no result (guest ${boot})`);
  else if (probeRung !== expected.probe) mismatch(`kernel=${meta.kernel} probe: picked ${probeRung}, expected ${expected.probe}`);

  for (const rung of RUNGS) {
    const want = expected.rungs[rung];
    const got = checks.get(rung);
    if (!got) {
      console.log(`vm-test kernel=${meta.kernel} rung=${rung} result=missing (guest ${boot})`);
      if (want) mismatch(`kernel=${meta.kernel} rung=${rung}: no result, expected ${want}`);
      continue;
    }
    console.log(`vm-test kernel=${meta.kernel} rung=${rung} ${describe(got)}`);
    if (want && got.result !== want) mismatch(`kernel=${meta.kernel} rung=${rung}: ${got.result}, expected ${want}`);
    if (got.result === 'ok' && (got.listenOverflow ? 'ok' : 'unavailable') !== expected.listenOverflow) {
      mismatch(`kernel=${meta.kernel} rung=${rung}: listen-queue overflow ${got.listenOverflow ? 'counted' : 'unavailable'}, expected ${expected.listenOverflow}`);
    }
    if (got.result === 'ok' && expected.hold && got.hold !== undefined && (got.hold ? 'ok' : 'unavailable') !== expected.hold) {
      mismatch(`kernel=${meta.kernel} rung=${rung}: holdAtZero ${got.hold ? 'attached' : 'unavailable'}, expected ${expected.hold}`);
    }
    const wantFraming = expected.framing?.[rung];
    if (got.result === 'ok' && wantFraming && framingState(got) !== wantFraming) {
      mismatch(`kernel=${meta.kernel} rung=${rung}: protocol framing ${framingState(got)} for HTTP/2, expected ${wantFraming}`);
    }
  }
}

if (mismatches) {
  console.log(`vm-test: ${mismatches} mismatch(es) against ${expectedPath}`);
  process.exit(1);
}
console.log(`vm-test: every kernel and rung as ${path.basename(expectedPath)} expects`);
