// Where a relaybox process's main thread spends its time, from a `node --cpu-prof` profile of the
// bundle (dist/relaybox.js): self time per function, grouped by module. The bundle is not minified
// and esbuild starts every module with a "// <path>" comment line, so a function's line number in
// the bundle tells which source file (src/... or node_modules/<package>/...) it came from.
//
//   node --import tsx scripts/bench/cpuprofile.ts <file.cpuprofile> [dist/relaybox.js] [messages]
import { readFileSync } from 'node:fs';
import * as path from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number; // 0-based
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[]; // microseconds
  startTime: number;
  endTime: number;
}

/** Line (0-based) where each bundled module starts, from esbuild's "// path" comments. */
export function bundleModules(bundleText: string): { line: number; file: string }[] {
  const out: { line: number; file: string }[] = [];
  const lines = bundleText.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^\/\/ ((?:src|node_modules)\/\S+\.(?:[cm]?js|ts|json))$/.exec(lines[i]);
    if (m) out.push({ line: i, file: m[1] });
  }
  return out;
}

function fileAt(modules: { line: number; file: string }[], line: number): string | undefined {
  let lo = 0;
  let hi = modules.length - 1;
  let found: string | undefined;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (modules[mid].line <= line) {
      found = modules[mid].file;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

/** The group a source file or URL belongs to: "relaybox src", a package name, "node internals" ... */
export function groupOf(file: string): string {
  if (file.startsWith('src/')) return 'relaybox src';
  const m = /^node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file);
  if (m) return m[1];
  if (file.startsWith('node:')) return 'node internals';
  return file;
}

const NATIVE = 'native (C++ bindings, V8 builtins: socket writes, fs calls ...)';

export interface ProfileReport {
  text: string;
  busyMs: number;
  totalMs: number;
  groups: { group: string; ms: number }[];
}

export function analyze(profile: CpuProfile, bundlePath: string, messages?: number, top = 25): ProfileReport {
  const bundleText = readFileSync(bundlePath, 'utf8');
  const modules = bundleModules(bundleText);
  const bundleName = path.basename(bundlePath);
  // The profile names the bundle by the path it ran from (dist/relaybox.js), which may be a copy.
  const isBundle = (url: string): boolean => !!url && (url.endsWith(`/${bundleName}`) || url.endsWith('/relaybox.js'));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // Start-up (loading the bundle, reading the options, opening the spool) is left out of the
  // figures: they start at the first sample with smtp-server's connection code on its stack.
  const servingCache = new Map<number, boolean>();
  const serving = (id: number): boolean => {
    const c = servingCache.get(id);
    if (c !== undefined) return c;
    const cf = byId.get(id)!.callFrame;
    const v =
      (isBundle(cf.url) && (fileAt(modules, cf.lineNumber) ?? '').startsWith('node_modules/smtp-server/')) || (parent.has(id) && serving(parent.get(id)!));
    servingCache.set(id, v);
    return v;
  };
  const isIdle = (id: number): boolean => !byId.get(id)!.callFrame.url && byId.get(id)!.callFrame.functionName === '(idle)';
  let first = profile.samples.findIndex(serving);
  if (first < 0) first = 0;
  let startupUs = 0;
  for (let i = 0; i < first; i++) if (!isIdle(profile.samples[i])) startupUs += profile.timeDeltas[i] ?? 0;
  for (let i = first; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  // Aggregate by function (name + where), not by call-tree node.
  const fns = new Map<string, { name: string; where: string; file: string; group: string; us: number }>();
  let totalUs = 0;
  let idleUs = 0;
  for (const [id, us] of selfUs) {
    totalUs += us;
    const cf = byId.get(id)!.callFrame;
    let file: string;
    let where: string;
    if (!cf.url) {
      // (garbage collector), (program), (idle), (root) and native builtins without a script
      file =
        cf.functionName === '(garbage collector)'
          ? 'GC'
          : cf.functionName === '(idle)'
            ? 'idle'
            : cf.functionName === '(program)'
              ? 'V8/native (program)'
              : NATIVE;
      where = '';
    } else if (isBundle(cf.url)) {
      file = fileAt(modules, cf.lineNumber) ?? 'bundle runtime (esbuild helpers)';
      where = `${file}, bundle line ${cf.lineNumber + 1}`;
    } else {
      file = cf.url.replace(/^file:\/\//, '');
      where = `${file}:${cf.lineNumber + 1}`;
    }
    if (file === 'idle') {
      idleUs += us;
      continue;
    }
    const group = file === 'GC' || file.startsWith('V8/') || file === NATIVE ? file : groupOf(file);
    const key = `${cf.functionName}|${where}`;
    const f = fns.get(key) ?? { name: cf.functionName || '(anonymous)', where, file, group, us: 0 };
    f.us += us;
    fns.set(key, f);
  }
  const busyUs = totalUs - idleUs;
  // Who is responsible: each sample goes to the nearest frame of the bundle on its stack (the
  // relaybox or package code that called into node internals and native code).
  const ownerCache = new Map<number, string>();
  const ownerOf = (id: number): string => {
    const cached = ownerCache.get(id);
    if (cached !== undefined) return cached;
    const cf = byId.get(id)!.callFrame;
    let owner: string;
    if (isBundle(cf.url)) owner = fileAt(modules, cf.lineNumber) ?? 'bundle runtime (esbuild helpers)';
    else if (!cf.url && cf.functionName === '(garbage collector)') owner = 'GC';
    else if (!cf.url && cf.functionName === '(program)') owner = 'V8/native (program)';
    else if (parent.has(id)) owner = ownerOf(parent.get(id)!);
    else owner = 'node internals with no bundled code on the stack (event loop, socket and stream callbacks)';
    ownerCache.set(id, owner);
    return owner;
  };
  const ownerGroups = new Map<string, number>();
  const ownerFiles = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const cf = byId.get(id)!.callFrame;
    if (!cf.url && cf.functionName === '(idle)') continue;
    const owner = ownerOf(id);
    const g = owner.startsWith('src/') || owner.startsWith('node_modules/') ? groupOf(owner) : owner;
    ownerGroups.set(g, (ownerGroups.get(g) ?? 0) + us);
    if (owner.startsWith('src/') || owner.startsWith('node_modules/')) ownerFiles.set(owner, (ownerFiles.get(owner) ?? 0) + us);
  }
  const pct = (us: number) => `${((100 * us) / busyUs).toFixed(1).padStart(5)}%`;
  const ms = (us: number) => `${(us / 1000).toFixed(0).padStart(7)} ms`;
  const groups = new Map<string, number>();
  const files = new Map<string, number>();
  for (const f of fns.values()) {
    groups.set(f.group, (groups.get(f.group) ?? 0) + f.us);
    if (f.group === 'relaybox src' || f.group === 'node internals') files.set(f.file, (files.get(f.file) ?? 0) + f.us);
  }
  const sortedGroups = [...groups].sort((a, b) => b[1] - a[1]);
  const lines: string[] = [];
  lines.push(
    `main thread, from the first SMTP connection on (start-up before it: ${(startupUs / 1000).toFixed(0)} ms busy): ${(totalUs / 1e6).toFixed(2)} s sampled, ${(busyUs / 1e6).toFixed(2)} s busy (${((100 * busyUs) / totalUs).toFixed(0)}%), ${(idleUs / 1e6).toFixed(2)} s idle` +
      (messages ? `; ${(busyUs / 1000 / messages).toFixed(2)} ms busy per message (${messages} messages)` : ''),
  );
  lines.push('', "self time by module group (share of busy time; GC is the main thread's part of it):");
  for (const [g, us] of sortedGroups) lines.push(`  ${pct(us)} ${ms(us)}  ${g}`);
  lines.push('', 'including what they call (node internals, native): each sample charged to the nearest bundled frame on its stack:');
  for (const [g, us] of [...ownerGroups].sort((a, b) => b[1] - a[1])) lines.push(`  ${pct(us)} ${ms(us)}  ${g}`);
  lines.push('', 'the same by file (top 15):');
  for (const [f, us] of [...ownerFiles].sort((a, b) => b[1] - a[1]).slice(0, 15)) lines.push(`  ${pct(us)} ${ms(us)}  ${f}`);
  lines.push('', 'self time of relaybox src and node internals by file:');
  for (const [f, us] of [...files].sort((a, b) => b[1] - a[1]).slice(0, 20)) lines.push(`  ${pct(us)} ${ms(us)}  ${f}`);
  lines.push('', `top ${top} functions by self time:`);
  for (const f of [...fns.values()].sort((a, b) => b.us - a.us).slice(0, top)) {
    lines.push(`  ${pct(f.us)} ${ms(f.us)}  ${f.name.padEnd(32)} [${f.group}] ${f.where}`);
  }
  return { text: lines.join('\n'), busyMs: busyUs / 1000, totalMs: totalUs / 1000, groups: sortedGroups.map(([group, us]) => ({ group, ms: us / 1000 })) };
}

if (require.main === module) {
  const [file, bundle = path.resolve(__dirname, '../../dist/relaybox.js'), messages] = process.argv.slice(2);
  if (!file) {
    console.error('usage: cpuprofile.ts <file.cpuprofile> [dist/relaybox.js] [messages]');
    process.exit(2);
  }
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  console.log(analyze(profile, bundle, messages ? Number(messages) : undefined).text);
}
