// Rewrites the option reference in README.md from the option table.
import { readFileSync, writeFileSync } from 'node:fs';
import { markdownReference } from '../src/options/help';

const file = new URL('../README.md', import.meta.url);
const text = readFileSync(file, 'utf8');
const begin = '<!-- options:begin -->';
const end = '<!-- options:end -->';
const [head, rest] = text.split(begin);
const tail = rest.split(end)[1];
const updated = `${head}${begin}\n${markdownReference()}${end}${tail}`;
if (process.argv.includes('--check')) {
  if (updated !== text) {
    console.error('README.md option reference is out of date: run make readme-options');
    process.exit(1);
  }
} else {
  writeFileSync(file, updated);
}
