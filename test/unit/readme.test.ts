import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { markdownReference } from '../../src/options/help';

test('README option reference is generated from the option table (make readme-options)', () => {
  const readme = readFileSync(path.join(__dirname, '../../README.md'), 'utf8');
  const section = readme.split('<!-- options:begin -->\n')[1]?.split('<!-- options:end -->')[0];
  assert.equal(section, markdownReference());
});
