/**
 * Cases 1 and 2 alone (kernel overhead and per-hook cost); the measuring code lives in
 * bench/cases/kernel-overhead.ts and also runs as part of `npm run bench`. Needs root.
 *   node --import tsx bench/kernel-overhead.ts [--quick]
 */
import { parseArgs } from 'node:util';
import { kernelOverhead } from './cases/kernel-overhead.js';

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false } } });
const result = await kernelOverhead({ quick: values.quick ?? false, log: (m) => console.error(m) });
console.log(JSON.stringify(result, null, 2));
