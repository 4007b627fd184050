// Prints the architecture figures issue 17 asks for, from the source itself: the largest functions,
// the files outside src/admin that import it, the import cycles (between files and between folders),
// and the files that spell queue file names. Run: node --import tsx scripts/arch-figures.ts [folder/]
// With a folder (or file) prefix, the largest functions are those under it, e.g. smtp/.
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { folderOf, readImportGraph, SRC, stronglyConnected } from '../test/lib/import-graph';

interface FunctionSize {
  file: string;
  name: string;
  lines: number;
}

function functionSizes(file: string): FunctionSize[] {
  const text = fs.readFileSync(path.join(SRC, file), 'utf8');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
  const sizes: FunctionSize[] = [];
  const visit = (node: ts.Node, owner: string) => {
    let name = owner;
    if (ts.isFunctionDeclaration(node) || ts.isMethodDeclaration(node)) name = node.name?.getText(source) ?? owner;
    else if (ts.isVariableDeclaration(node) && node.initializer && (ts.isArrowFunction(node.initializer) || ts.isFunctionExpression(node.initializer)))
      name = node.name.getText(source);
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const start = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const end = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      sizes.push({ file, name: name || '(anonymous)', lines: end - start + 1 });
    }
    ts.forEachChild(node, (child) => visit(child, name));
  };
  visit(source, '');
  return sizes;
}

// A queue file suffix as code spells it: '.envelope', `${id}.content`, /\.busy$/ (not in prose).
const QUEUE_NAME = /['"`}]\.(envelope|content|busy|bad|new)\b|\\\.(envelope|content|busy|bad|new)\b/;

function main(): void {
  const graph = readImportGraph();
  const files = [...graph.keys()].sort();

  const under = process.argv[2] ?? '';
  const sizes = files
    .filter((f) => f.startsWith(under))
    .flatMap(functionSizes)
    .sort((a, b) => b.lines - a.lines);
  console.log(`## Largest functions${under ? ` in ${under}` : ''} (lines, outermost named)`);
  const seen = new Set<string>();
  for (const s of sizes) {
    const key = `${s.file}:${s.name}`;
    if (seen.has(key)) continue;
    seen.add(key);
    console.log(`- ${s.lines} ${s.file} ${s.name}`);
    if (seen.size === 8) break;
  }

  const adminImporters = files.filter((f) => folderOf(f) !== 'admin' && [...(graph.get(f) ?? [])].some((d) => folderOf(d) === 'admin'));
  console.log(`\n## Files outside admin/ that import admin/ (${adminImporters.length})`);
  for (const f of adminImporters) console.log(`- ${f}`);

  const fileCycles = stronglyConnected(graph).filter((c) => c.length > 1);
  console.log(`\n## File import cycles (${fileCycles.length})`);
  for (const c of fileCycles) console.log(`- ${c.sort().join(' ↔ ')}`);

  const folders = new Map<string, Set<string>>();
  for (const [f, deps] of graph) {
    const from = folderOf(f);
    const set = folders.get(from) ?? new Set<string>();
    for (const d of deps) if (folderOf(d) !== from) set.add(folderOf(d));
    folders.set(from, set);
  }
  const folderCycles = stronglyConnected(folders).filter((c) => c.length > 1);
  console.log(`\n## Folder import cycles (${folderCycles.length})`);
  for (const c of folderCycles) console.log(`- ${c.sort().join(' ↔ ')}`);

  const queueFiles = files.filter((f) =>
    fs
      .readFileSync(path.join(SRC, f), 'utf8')
      .split('\n')
      .some((l) => QUEUE_NAME.test(l) && !/^\s*(\/\/|\*)/.test(l)),
  );
  console.log(`\n## Files that spell queue file names (${queueFiles.length})`);
  for (const f of queueFiles) console.log(`- ${f}`);
}

main();
