// The import direction of src/ (issue 17): options → events → net → {process, spool, auth} →
// {filters, verifiers} → {smtp, forward, pop} → {health, check} → admin → config → {cli, appliance} → main.
// Each component reads its own config slice (net/config.ts, smtp/config.ts, …); config.ts only puts the
// slices together, so it sits above every component it reads for.
// A module imports only from its own folder or from a lower layer, so no cycle can come back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { folderOf, readImportGraph, stronglyConnected } from '../lib/import-graph';

const LAYER: Record<string, number> = {
  // Below the log: the effective-uid switch (the log file is opened as root) and the log's E-MailRelay wording.
  privilege: -1,
  'log-wording': -1,
  options: 0,
  log: 0,
  format: 0,
  events: 1,
  net: 2,
  process: 3,
  spool: 3,
  auth: 3,
  'tls-files': 3,
  filters: 4,
  verifiers: 4,
  smtp: 5,
  forward: 5,
  pop: 5,
  submit: 5,
  policy: 5,
  health: 6,
  check: 6,
  admin: 7,
  config: 8,
  cli: 9,
  appliance: 9,
  main: 10,
};

const graph = readImportGraph();

test('every folder of src/ has a layer', () => {
  const unknown = [...new Set([...graph.keys()].map(folderOf))].filter((f) => LAYER[f] === undefined);
  assert.deepEqual(unknown, [], 'give each new folder its place in LAYER');
});

test('imports go down the layers (or stay in their folder)', () => {
  const wrongWay: string[] = [];
  for (const [file, deps] of graph) {
    for (const dep of deps) {
      const from = folderOf(file);
      const to = folderOf(dep);
      if (from !== to && !(LAYER[from]! > LAYER[to]!)) wrongWay.push(`${file} -> ${dep}`);
    }
  }
  assert.deepEqual(wrongWay, [], 'imports against the layers');
});

test('no import cycle between files', () => {
  assert.deepEqual(
    stronglyConnected(graph).filter((c) => c.length > 1),
    [],
  );
});

test('the graph reader sees the imports it should', () => {
  // A reader that missed imports would pass everything above.
  assert.ok(graph.get('main.ts')!.size >= 20, 'main.ts imports most of the components');
  assert.ok(graph.get('smtp/server.ts')!.has('net/client-admission.ts'));
  assert.deepEqual(
    stronglyConnected(
      new Map([
        ['a', new Set(['b'])],
        ['b', new Set(['a'])],
        ['c', new Set<string>()],
      ]),
    )
      .filter((c) => c.length > 1)
      .map((c) => c.sort()),
    [['a', 'b']],
  );
});
