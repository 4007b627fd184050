// The abuse suite's harness (test/abuse/abuse.test.ts): runs one attack against a live relay and,
// while it runs, samples the relay's resident memory (/proc/<pid>/status VmRSS), serves a normal
// client, and keeps count of every message the relay acknowledged with 250. Afterwards it checks
// that the relay is the same process and still answers, that the peak RSS stayed under the attack's
// bound, that the normal client was served, and that every acknowledged message can be found (in
// the spool or at the upstream). Each run becomes a row of the table written to test-output/abuse.md.
import { mkdirSync, openSync, readSync, closeSync, readdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { rssMb, type RelayProcess } from './relay';
import { RawSmtp, sendMessage } from './smtp-client';

/** The long run (`make abuse`) or the short one (`make test`). */
export const LONG = process.env.RELAYBOX_ABUSE_LONG === '1';

/** `short` in `make test`, `long` in `make abuse`. */
export function size<T>(short: T, long: T): T {
  return LONG ? long : short;
}

/** Samples a process's RSS every `everyMs` and keeps the peak. */
export class RssSampler {
  peak = 0;
  samples = 0;
  gone = false;
  private timer: NodeJS.Timeout;

  constructor(
    readonly pid: number,
    everyMs = 20,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
  }

  private sample(): void {
    const mb = rssMb(this.pid);
    if (mb === null) {
      this.gone = true;
      return;
    }
    this.samples++;
    if (mb > this.peak) this.peak = mb;
  }

  stop(): number {
    clearInterval(this.timer);
    this.sample();
    return this.peak;
  }
}

/** A message the relay acknowledged, and where to find it again: the tag is in its Subject. */
export interface Acked {
  tag: string;
}

/** Where acknowledged messages end up: the spool (ready, busy or failed) and, for relays that forward, an upstream. */
export interface Store {
  spool: string;
  /** Tags the upstream has received (checked after the spool, so a message moving on is never missed). */
  upstreamTags?: () => Set<string>;
}

const TAG = /^Subject: (abuse-[A-Za-z0-9._-]+)/im;

/** The tag of a message text (read from its first 16 KiB). */
export function tagOf(head: Buffer | string): string | undefined {
  return TAG.exec(typeof head === 'string' ? head : head.toString('latin1'))?.[1];
}

function spoolTags(dir: string): Set<string> {
  const tags = new Set<string>();
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return tags;
  }
  const head = Buffer.alloc(16 * 1024);
  for (const name of names.filter((n) => n.endsWith('.content'))) {
    let fd: number;
    try {
      fd = openSync(path.join(dir, name), 'r');
    } catch {
      continue; // delivered and removed meanwhile: the upstream has it
    }
    try {
      const n = readSync(fd, head, 0, head.length, 0);
      const tag = tagOf(head.subarray(0, n));
      if (tag) tags.add(tag);
    } finally {
      closeSync(fd);
    }
  }
  return tags;
}

/** Tags of acknowledged messages found nowhere. */
export function lostTags(acked: Acked[], store: Store): string[] {
  const found = spoolTags(store.spool);
  for (const t of store.upstreamTags?.() ?? []) found.add(t);
  return acked.map((a) => a.tag).filter((t) => !found.has(t));
}

let serial = 0;
export function newTag(what: string): string {
  return `abuse-${what}-${process.pid}-${++serial}`;
}

export function taggedMessage(tag: string, body = 'a normal message\r\n'): Buffer {
  return Buffer.from(`From: <normal@example.com>\r\nTo: <rcpt@example.net>\r\nSubject: ${tag}\r\nMessage-ID: <${tag}@relaybox.test>\r\n\r\n${body}`, 'latin1');
}

export interface NormalClientOptions {
  localAddress?: string;
  auth?: { user: string; pass: string };
  to?: string;
}

/**
 * A normal client: connect, EHLO, optional AUTH PLAIN, one message, QUIT; every reply as expected.
 * Returns the tag of the acknowledged message; throws (with the dialogue) on anything else.
 */
export async function normalTransaction(port: number, o: NormalClientOptions = {}, ms = 15000): Promise<string> {
  const tag = newTag('normal');
  const deadline = new Promise<never>((_, reject) => {
    const t = setTimeout(() => reject(new Error(`normal client not served within ${ms} ms`)), ms);
    t.unref();
  });
  let smtp: RawSmtp | undefined;
  const run = async () => {
    const opened = await RawSmtp.open(port, '127.0.0.1', o.localAddress);
    smtp = opened.smtp;
    if (opened.greeting.code !== 220) throw new Error(`greeting: ${opened.greeting.text}`);
    const ehlo = await smtp.command('EHLO normal.test');
    if (ehlo.code !== 250) throw new Error(`EHLO: ${ehlo.text}`);
    if (o.auth) {
      const auth = await smtp.command(`AUTH PLAIN ${Buffer.from(`\0${o.auth.user}\0${o.auth.pass}`).toString('base64')}`);
      if (auth.code !== 235) throw new Error(`AUTH: ${auth.text}`);
    }
    const done = await sendMessage(smtp, 'normal@example.com', [o.to ?? 'rcpt@example.net'], taggedMessage(tag));
    if (done.code !== 250) throw new Error(`end of data: ${done.text}`);
    const quit = await smtp.command('QUIT');
    if (quit.code !== 221) throw new Error(`QUIT: ${quit.text}`);
    return tag;
  };
  try {
    return await Promise.race([run(), deadline]);
  } finally {
    smtp?.destroy();
  }
}

export interface AttackContext {
  relay: RelayProcess;
  /** Record a message the relay acknowledged with 250 (its tag is in its Subject). */
  acked(tag: string): void;
  /** Run the attack's normal client now (the harness runs it once more after the attack). */
  normalClient(): Promise<boolean>;
  /** A finding: the attack's own check failed. The attack goes on; the run fails at the end. */
  fail(what: string): void;
  note(text: string): void;
  /** True once the relay's RSS has passed the attack's bound: the run has failed, the attack may stop. */
  overBound(): boolean;
}

export interface AttackSpec {
  item: number;
  name: string;
  relay: RelayProcess;
  store: Store;
  /** RSS may grow by at most this much over the figure measured just before the attack. */
  rssBoundMb: number;
  /** Why this bound. */
  boundReason: string;
  /** A full transaction by a well-behaved client; resolves with the tags it got acknowledged. */
  normal: () => Promise<string[]>;
  attack: (ctx: AttackContext) => Promise<void>;
  /** The whole run, normal clients included, must end within this (default 60 s short, 600 s long). */
  timeoutMs?: number;
}

export interface AttackRow {
  item: number;
  name: string;
  baselineMb: number;
  peakMb: number;
  boundMb: number;
  boundReason: string;
  normalServed: boolean;
  ok: boolean;
  problems: string[];
  notes: string[];
  seconds: number;
  /** Why the attack could not run here. */
  skipped?: string;
}

export const rows: AttackRow[] = [];

export function skippedRow(item: number, name: string, why: string): void {
  rows.push({
    item,
    name,
    baselineMb: 0,
    peakMb: 0,
    boundMb: 0,
    boundReason: '',
    normalServed: false,
    ok: true,
    problems: [],
    notes: [],
    seconds: 0,
    skipped: why,
  });
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: not finished within ${ms} ms`)), ms);
    }),
  ]);
}

/** Resolves once `cond` holds (checked every 50 ms), false after `ms`. */
async function eventually(cond: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (cond()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Runs the attack with its checks; returns the row (also added to `rows`). Never throws: see row.ok. */
export async function runAttack(spec: AttackSpec): Promise<AttackRow> {
  const started = Date.now();
  const { relay } = spec;
  const pid = relay.proc.pid!;
  const problems: string[] = [];
  const notes: string[] = [];
  const acked: Acked[] = [];
  let normalServed = true;
  const normalRuns: string[] = [];
  let duringAsked = false;

  const runNormal = async (when: string): Promise<boolean> => {
    try {
      for (const tag of await spec.normal()) acked.push({ tag });
      normalRuns.push(`${when}: served`);
      return true;
    } catch (e) {
      normalServed = false;
      problems.push(`normal client ${when}: ${(e as Error).message.split('\n')[0]}`);
      return false;
    }
  };

  // One transaction before measuring, so that the baseline includes the code paths a normal client warms up.
  await runNormal('before the attack');
  const baselineMb = rssMb(pid) ?? 0;
  const sampler = new RssSampler(pid);
  const ctx: AttackContext = {
    relay,
    acked: (tag) => void acked.push({ tag }),
    normalClient: () => {
      duringAsked = true;
      return runNormal('during the attack');
    },
    fail: (what) => void problems.push(what),
    note: (text) => void notes.push(text),
    overBound: () => sampler.peak > baselineMb + spec.rssBoundMb || sampler.gone,
  };
  try {
    await withTimeout(spec.attack(ctx), spec.timeoutMs ?? size(60_000, 600_000), 'the attack');
  } catch (e) {
    problems.push(`attack: ${(e as Error).message.split('\n').slice(0, 3).join(' / ')}`);
  }
  if (!duringAsked) problems.push('the attack never ran the normal client while it was under way (a fault of the test)');
  const alive = relay.proc.exitCode === null && relay.proc.signalCode === null && !sampler.gone;
  if (alive) await runNormal('after the attack');
  const peakMb = sampler.stop();
  if (!alive || relay.proc.exitCode !== null || relay.proc.signalCode !== null) {
    problems.unshift(
      `the relay (pid ${pid}) died: exit ${relay.proc.exitCode ?? relay.proc.signalCode}; ${relay.stderr.split('\n').filter(Boolean).slice(-2).join(' / ')}`,
    );
    normalServed = false;
  } else if (relay.proc.pid !== pid) {
    problems.unshift(`the relay's pid changed (${pid} -> ${relay.proc.pid})`);
  }
  const boundMb = baselineMb + spec.rssBoundMb;
  if (peakMb > boundMb)
    problems.push(`peak RSS ${peakMb.toFixed(0)} MB over the bound ${boundMb.toFixed(0)} MB (${baselineMb.toFixed(0)} + ${spec.rssBoundMb})`);
  let lost: string[] = [];
  await eventually(() => (lost = lostTags(acked, spec.store)).length === 0, 10_000);
  if (lost.length) problems.push(`${lost.length} of ${acked.length} acknowledged messages lost: ${lost.slice(0, 3).join(' ')}`);
  notes.push(`${acked.length} acknowledged, all found` + (lost.length ? ' (not)' : ''));
  const row: AttackRow = {
    item: spec.item,
    name: spec.name,
    baselineMb,
    peakMb,
    boundMb,
    boundReason: spec.boundReason,
    normalServed,
    ok: problems.length === 0,
    problems,
    notes,
    seconds: (Date.now() - started) / 1000,
  };
  rows.push(row);
  return row;
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function tableMarkdown(): string {
  const sorted = [...rows].sort((a, b) => a.item - b.item);
  const lines = [
    `# Abuse suite (${LONG ? 'make abuse: long run' : 'make test: short run'})`,
    '',
    `Node ${process.version}, ${new Date().toISOString()}. RSS is the relay's VmRSS, sampled every 20 ms; the bound is`,
    'the RSS measured just before the attack plus the allowance given.',
    '',
    '| # | attack | baseline MB | peak RSS MB | bound MB | normal client served | result | s |',
    '|---|---|---|---|---|---|---|---|',
    ...sorted.map((r) =>
      r.skipped
        ? `| ${r.item} | ${cell(r.name)} | - | - | - | - | skipped | - |`
        : `| ${r.item} | ${cell(r.name)} | ${r.baselineMb.toFixed(0)} | ${r.peakMb.toFixed(0)} | ${r.boundMb.toFixed(0)} (+${(r.boundMb - r.baselineMb).toFixed(0)}) | ${r.normalServed ? 'yes' : 'no'} | ${r.ok ? 'pass' : 'FAIL'} | ${r.seconds.toFixed(1)} |`,
    ),
    '',
    '## Bounds',
    '',
    ...sorted.filter((r) => !r.skipped).map((r) => `- ${r.item}. ${cell(r.name)}: +${(r.boundMb - r.baselineMb).toFixed(0)} MB. ${r.boundReason}`),
    '',
    '## Findings',
    '',
    ...sorted.map(
      (r) => `- ${r.item}. ${r.skipped ? `skipped: ${cell(r.skipped)}` : `${r.ok ? 'pass' : 'FAIL'}: ${[...r.problems, ...r.notes].map(cell).join('; ')}`}`,
    ),
    '',
  ];
  return lines.join('\n');
}

export function writeTable(file = path.resolve(__dirname, '../../test-output/abuse.md')): string {
  const text = tableMarkdown();
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  return text;
}
