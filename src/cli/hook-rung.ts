import { z } from 'zod';
import type { FlagSpec } from '../config/flags.js';
import { RUNGS, type Rung } from '../collector/hook-ladder.js';

/**
 * `--hook-rung` on probe, collector and standalone: let the hook ladder choose (auto), or
 * force one rung, e.g. to check a rung on a kernel that would pick a better one.
 */
export const HOOK_RUNG_CHOICES = ['auto', ...RUNGS] as const;
export type HookRungChoice = (typeof HOOK_RUNG_CHOICES)[number];

export const hookRungFlag = {
  name: 'hook-rung',
  env: 'KEDA_EBPF_HOOK_RUNG',
  valueName: 'RUNG',
  description:
    `Kernel hooks to use: ${HOOK_RUNG_CHOICES.join(', ')}. auto takes the best rung this kernel loads (tp_btf, then fentry, then kprobe); ` +
    'a named rung is used or the command fails saying why it cannot load here. Default auto.',
  schema: z.enum(HOOK_RUNG_CHOICES).default('auto'),
} as const satisfies FlagSpec;

/** The rungs the loader may try: all for auto, else just the forced one. */
export function allowedRungs(choice: HookRungChoice): readonly Rung[] | undefined {
  return choice === 'auto' ? undefined : [choice];
}

/** The one sentence for a forced rung that cannot load: the loader's reason plus the remedy. */
export function forcedRungSentence(choice: HookRungChoice, loaderMessage: string): string {
  if (choice === 'auto') return loaderMessage;
  return `${loaderMessage.replace(/\.$/, '')} (--hook-rung ${choice}; use --hook-rung auto to let the collector choose).`;
}
