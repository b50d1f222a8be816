import type { FlagSpec } from '../config/flags.js';
import { collectorFlags } from './collector.js';
import { demoCommandFlags } from './demo.js';
import { probeFlags } from './probe.js';
import { queryFlags } from './query.js';
import { scalerFlags } from './scaler.js';
import { standaloneFlags } from './standalone.js';

/**
 * The README's CLI reference, generated from the flag declarations so the two cannot drift
 * (test/unit/readme-cli.test.ts compares them; `npm run docs:cli` prints it).
 */
const COMMANDS: readonly { readonly name: string; readonly flags: readonly FlagSpec[] }[] = [
  { name: 'scaler', flags: scalerFlags },
  { name: 'collector', flags: collectorFlags },
  { name: 'standalone', flags: standaloneFlags },
  { name: 'probe', flags: probeFlags },
  { name: 'query', flags: queryFlags },
  { name: 'demo', flags: demoCommandFlags },
];

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\/\S*\/build\/bpf\/scaler\.bpf\.o/, '<package>/build/bpf/scaler.bpf.o');
}

export function cliReference(): string {
  const out: string[] = [];
  for (const command of COMMANDS) {
    out.push(`### \`keda-ebpf-scaler ${command.name}\``, '', '| flag | env | meaning |', '|---|---|---|');
    for (const flag of command.flags) {
      const form = flag.isSwitch ? '' : ` ${flag.valueName ?? 'VALUE'}`;
      out.push(`| ${cell(`\`--${flag.name}${form}\``)} | ${flag.env ? `\`${flag.env}\`` : ''} | ${cell(flag.description)} |`);
    }
    out.push('');
  }
  return out.join('\n');
}
