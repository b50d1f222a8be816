import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { cliReference } from '../../src/cli/reference.js';

test('README documents every flag of every command exactly as declared (regenerate with npm run docs:cli)', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const start = readme.indexOf('<!-- cli-reference:start -->');
  const end = readme.indexOf('<!-- cli-reference:end -->');
  assert.ok(start >= 0 && end > start, 'README.md lacks the cli-reference markers');
  const documented = readme.slice(start + '<!-- cli-reference:start -->'.length, end).trim();
  assert.equal(documented, cliReference().trim());
});
