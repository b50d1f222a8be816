import type { CollectorCore } from '../../../src/collector/core.js';
import type { TestNetns } from '../../helpers/netns.js';
import type { CheckResult } from '../report.js';
import type { GuestArgs } from './args.js';

/** What every check of the guest gets: the rung's collector, the host namespace, the
 * command line, and the list its failures go to (a failed check adds a sentence). */
export interface GuestCheck {
  readonly core: CollectorCore;
  readonly host: TestNetns;
  readonly args: GuestArgs;
  readonly problems: string[];
}

export type OkResult = Extract<CheckResult, { result: 'ok' }>;

export const P50_TOLERANCE_PCT = 5;
/** Wake-up budget inside a guest (TCG is slow); the mechanism, not the speed, is checked. */
export const WAKEUP_BUDGET_MS = 1000;

/**
 * How far `valueUs` lies outside the server's bracket [before sendall(), after sendall()],
 * in percent of the nearest edge (0 inside: the send hook fires somewhere in sendall()).
 */
export function bracketErrorPct(valueUs: number, bracket: { lowUs: number; highUs: number }): number {
  if (valueUs < bracket.lowUs) return (100 * (valueUs - bracket.lowUs)) / bracket.lowUs;
  if (valueUs > bracket.highUs) return (100 * (valueUs - bracket.highUs)) / bracket.highUs;
  return 0;
}

export function round1(x: number): number {
  return Math.round(x * 10) / 10;
}
