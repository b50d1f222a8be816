/**
 * Who gets a place in a full target table. Pure: the window store asks it which target to
 * give up (if any) for a newcomer, and acts on the answer.
 *
 * Every target belongs to the ScaledObject ("namespace/name") that asked for it last; the
 * owner "" (callers that know no ScaledObject, e.g. tests) has no cap of its own.
 * - A ScaledObject at its own cap (maxTargetsPerScaledObject) replaces its own least
 *   recently asked target: one ScaledObject churning its metadata never blocks another.
 * - When the table is full, a newcomer whose ScaledObject holds fewer targets than the
 *   largest holder takes that holder's least recently asked target: a flood from one
 *   ScaledObject (attack 8: 1000 IsActive calls in one second) gives way at once.
 * - Otherwise the least recently asked target idle for minIdleBeforeEvictionMs goes.
 * - Targets pinned by an open stream are never given up; if nothing else can go, refuse.
 */

export interface AdmissionCandidate {
  readonly id: string;
  readonly owner: string;
  readonly lastAskedMs: number;
  readonly pinned: boolean;
}

export interface AdmissionView {
  readonly size: number;
  readonly maxTargets: number;
  readonly maxTargetsPerOwner: number;
  readonly minIdleBeforeEvictionMs: number;
  /** Target ids per owner. */
  ownedBy(owner: string): ReadonlySet<string> | undefined;
  owners(): Iterable<[string, ReadonlySet<string>]>;
  candidate(id: string): AdmissionCandidate | undefined;
  all(): Iterable<AdmissionCandidate>;
}

export type AdmissionDecision =
  | { readonly kind: 'admit' }
  | { readonly kind: 'replace'; readonly evict: string; readonly reason: 'owner-cap' | 'fair-share' | 'idle' }
  | { readonly kind: 'refuse'; readonly reason: 'owner-cap' | 'full' };

function leastRecentlyAsked(view: AdmissionView, ids: Iterable<string>): AdmissionCandidate | undefined {
  let best: AdmissionCandidate | undefined;
  for (const id of ids) {
    const c = view.candidate(id);
    if (!c || c.pinned) continue;
    if (!best || c.lastAskedMs < best.lastAskedMs) best = c;
  }
  return best;
}

export function decideAdmission(view: AdmissionView, owner: string, now: number): AdmissionDecision {
  const own = view.ownedBy(owner);
  const ownCount = own?.size ?? 0;
  // "" is the store's own callers (no ScaledObject known): no per-owner cap for them.
  if (owner !== '' && ownCount >= view.maxTargetsPerOwner) {
    const victim = own ? leastRecentlyAsked(view, own) : undefined;
    return victim ? { kind: 'replace', evict: victim.id, reason: 'owner-cap' } : { kind: 'refuse', reason: 'owner-cap' };
  }
  if (view.size < view.maxTargets) return { kind: 'admit' };

  // Largest holders first: the first with an unpinned target and more than the newcomer would have.
  const holders = [...view.owners()].filter(([name, ids]) => name !== owner && ids.size > ownCount + 1).sort((a, b) => b[1].size - a[1].size);
  for (const [, ids] of holders) {
    const victim = leastRecentlyAsked(view, ids);
    if (victim) return { kind: 'replace', evict: victim.id, reason: 'fair-share' };
  }
  let idle: AdmissionCandidate | undefined;
  for (const c of view.all()) {
    if (c.pinned || now - c.lastAskedMs < view.minIdleBeforeEvictionMs) continue;
    if (!idle || c.lastAskedMs < idle.lastAskedMs) idle = c;
  }
  return idle ? { kind: 'replace', evict: idle.id, reason: 'idle' } : { kind: 'refuse', reason: 'full' };
}
