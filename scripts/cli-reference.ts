// Prints the README's CLI reference from the flag declarations (see src/cli/reference.ts).
import { cliReference } from '../src/cli/reference.js';

process.stdout.write(cliReference());
