// relaybox vs Postfix: store-and-forward throughput on loopback. Run by scripts/bench/run
// (`make bench`); see docs/benchmarks.md for the method. Every wait has a timeout; a run that
// fails is reported as failed, and the (system, scenario) is not retried in later rounds.
//
//   node --import tsx scripts/bench/bench.ts --work <empty dir> [--out docs/benchmarks.md]
//
// Environment: BENCH_RUNS (3), BENCH_SIZE (2048), message counts BENCH_CONN1_MESSAGES,
// BENCH_CONN10_MESSAGES, BENCH_REUSE_MESSAGES (5000 each), BENCH_BUDGET_SECONDS (540: no new run
// is started after that), BENCH_ONLY (comma list of scenario ids: conn1,conn10,reuse1,reuse10).
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, mkdirSync, openSync, readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fsyncProbe, type FsyncProbe } from './fsync-probe';
import { postfixVersion, queuedFiles, startPostfix, stopPostfix, type PostfixInstance } from './postfix';
import { CLK_TCK, MemorySampler, isListening, processTree, readStat, statusKb, treeCpuTicks } from './procfs';

const ROOT = path.resolve(__dirname, '../..');
const BUNDLE = path.join(ROOT, 'dist/relaybox.js');

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const WORK = arg('--work');
if (!WORK || !existsSync(WORK)) {
  console.error('usage: bench.ts --work <existing empty dir> [--out <markdown file>]');
  process.exit(2);
}
const OUT = arg('--out') ?? path.join(ROOT, 'docs/benchmarks.md');
const PIDS = path.join(WORK, 'pids'); // for scripts/bench/run's EXIT trap, should this process die

const env = (name: string, dflt: number): number => {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : dflt;
};
const RUNS = env('BENCH_RUNS', 3);
const SIZE = env('BENCH_SIZE', 2048);
const BUDGET_MS = env('BENCH_BUDGET_SECONDS', 540) * 1000;

interface Scenario {
  id: string;
  title: string;
  sessions: number;
  messages: number;
  /** smtp-source -d: each session sends its messages over one connection. */
  reuse: boolean;
}

const ALL_SCENARIOS: Scenario[] = [
  { id: 'conn1', title: '1 client, one connection per message', sessions: 1, messages: env('BENCH_CONN1_MESSAGES', 5000), reuse: false },
  { id: 'conn10', title: '10 clients, one connection per message', sessions: 10, messages: env('BENCH_CONN10_MESSAGES', 5000), reuse: false },
  { id: 'reuse1', title: '1 client, connection reused', sessions: 1, messages: env('BENCH_REUSE_MESSAGES', 5000), reuse: true },
  { id: 'reuse10', title: '10 clients, connections reused', sessions: 10, messages: env('BENCH_REUSE_MESSAGES', 5000), reuse: true },
];
const only = process.env.BENCH_ONLY?.split(',').map((s) => s.trim()).filter(Boolean);
const SCENARIOS = only?.length ? ALL_SCENARIOS.filter((s) => only.includes(s.id)) : ALL_SCENARIOS;

type System = 'relaybox' | 'postfix';
const SYSTEMS: System[] = ['relaybox', 'postfix'];

interface RunResult {
  system: System;
  scenario: string;
  round: number;
  ok: boolean;
  error?: string;
  acceptSec?: number;
  e2eSec?: number;
  cpuSec?: number;
  /** relaybox: VmHWM of its process; Postfix: peak of the sampled sum of VmRSS over its processes. */
  peakRssKb?: number;
  /** Peak of the sampled sum of Pss (smaps_rollup) over the system's processes. */
  peakPssKb?: number;
  peakProcesses?: number;
  sinkReceived?: number;
  leftInQueue?: number;
  notes: string[];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const now = (): number => performance.now();
const started = now();
const elapsed = (): string => `${((now() - started) / 1000).toFixed(0)}s`.padStart(5);
const say = (msg: string): void => console.log(`[bench ${elapsed()}] ${msg}`);

/** `n` distinct free ports on 127.0.0.1 (all held open at once, so they differ). */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: n }, () => new Promise<net.Server>((resolve) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => resolve(srv));
  })));
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  return ports;
}

async function waitFor(what: string, cond: () => boolean, ms: number, poll = 20): Promise<void> {
  const deadline = now() + ms;
  while (!cond()) {
    if (now() > deadline) throw new Error(`timed out after ${ms / 1000} s waiting for ${what}`);
    await sleep(poll);
  }
}

const activeRelays = new Set<Relay>();

/** Children we spawned, for cleanup (here and, via the pids file, by the run script's trap). */
const children = new Set<ChildProcess>();
function track(child: ChildProcess, what: string): ChildProcess {
  children.add(child);
  if (child.pid) appendFileSync(PIDS, `${child.pid} ${what}\n`);
  child.once('exit', () => children.delete(child));
  return child;
}
function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((r) => child.once('exit', (code) => r(code)));
}
async function terminate(child: ChildProcess, ms = 10000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), ms);
  await exited(child);
  clearTimeout(t);
}

/** Postfix's smtp-sink on loopback; `count` is the number of "." it has received so far. */
class Sink {
  count = 0;
  reachedAt = 0;
  lastProgressAt = now();
  private target = Infinity;
  private stderr = '';
  readonly proc: ChildProcess;

  constructor(readonly port: number) {
    // -c: counters on stdout, updated at every "."; -u: required when run as root.
    this.proc = track(spawn('smtp-sink', ['-u', 'nobody', '-c', `127.0.0.1:${port}`, '1024'], { stdio: ['ignore', 'pipe', 'pipe'] }), 'smtp-sink');
    let buf = '';
    this.proc.stdout!.setEncoding('utf8');
    this.proc.stdout!.on('data', (chunk: string) => {
      buf += chunk;
      const last = buf.lastIndexOf('mesg=');
      if (last < 0) return;
      const m = /^mesg=(\d+)/.exec(buf.slice(last));
      buf = buf.slice(buf.lastIndexOf('\r') + 1);
      if (!m) return;
      const n = Number(m[1]);
      if (n > this.count) this.lastProgressAt = now();
      this.count = n;
      if (!this.reachedAt && n >= this.target) this.reachedAt = now();
    });
    this.proc.stderr!.setEncoding('utf8');
    this.proc.stderr!.on('data', (c: string) => { this.stderr += c; });
  }

  expect(n: number): void {
    this.target = n;
    this.reachedAt = this.count >= n ? now() : 0;
  }

  async ready(): Promise<void> {
    await waitFor(`smtp-sink on port ${this.port}`, () => {
      if (this.proc.exitCode !== null) throw new Error(`smtp-sink exited: ${this.stderr.trim()}`);
      return isListening(this.port);
    }, 10000);
  }

  stop(): Promise<void> {
    return terminate(this.proc, 3000);
  }
}

interface Relay {
  /** Root of the process tree whose CPU and memory are counted. */
  pid: number;
  pids(): number[];
  queued(): number;
  /** Peak RSS in kB; relaybox: VmHWM (exact); Postfix: from the sampler. */
  hwmKb(): number | undefined;
  stop(): Promise<void>;
  notes(): string[];
}

async function startRelaybox(dir: string, port: number, sinkPort: number): Promise<Relay> {
  const spool = path.join(dir, 'spool');
  mkdirSync(spool, { recursive: true });
  const logFile = path.join(dir, 'relaybox.log');
  const fd = openSync(logFile, 'w');
  // No --log: only warnings and errors are written (to the log file here).
  const args = [BUNDLE, '--no-daemon', '--user', 'root', '--port', String(port), '--interface', '127.0.0.1',
    '--spool-dir', spool, '--forward-to', `127.0.0.1:${sinkPort}`, '--forward-on-disconnect'];
  const proc = track(spawn(process.execPath, args, { stdio: ['ignore', fd, fd] }), 'node');
  closeSync(fd);
  const pid = proc.pid!;
  await waitFor(`relaybox on port ${port}`, () => {
    if (proc.exitCode !== null) throw new Error(`relaybox exited with ${proc.exitCode}: ${readFileSync(logFile, 'utf8').slice(0, 500)}`);
    return isListening(port);
  }, 15000);
  return {
    pid,
    pids: () => [pid],
    queued: () => {
      try {
        // message files only (.content, .envelope[.new|.busy|.bad]), not the .relaybox.lock dotfile
        return readdirSync(spool).filter((n) => !n.startsWith('.')).length;
      } catch {
        return -1;
      }
    },
    hwmKb: () => statusKb(pid, 'VmHWM'),
    stop: () => terminate(proc),
    notes: () => {
      const lines = readFileSync(logFile, 'utf8').split('\n').filter(Boolean);
      if (!lines.length) return [];
      const kinds = new Map<string, number>();
      for (const l of lines) {
        let key = l.slice(0, 80);
        try {
          const j = JSON.parse(l) as { level?: number; msg?: string; reason?: string; err?: string | { code?: string; message?: string } };
          const detail = typeof j.err === 'string' ? j.err : j.err?.code ?? j.reason ?? '';
          key = `level ${j.level}: ${(j.msg ?? '').replace(/^[0-9a-z]{16} /, '').replace(/emailrelay\.[0-9.]+/g, '<id>').slice(0, 70)}${detail ? ` (${String(detail).slice(0, 80)})` : ''}`.replace(/\s+/g, ' ');
        } catch {
          /* not JSON */
        }
        kinds.set(key, (kinds.get(key) ?? 0) + 1);
      }
      return [`relaybox wrote ${lines.length} log lines (warnings/errors): ${[...kinds].sort((a, b) => b[1] - a[1]).slice(0, 4).map(([k, n]) => `${n}× "${k}"`).join(', ')}`];
    },
  };
}

async function startPostfixRelay(dir: string, port: number, sinkPort: number): Promise<Relay> {
  const pf: PostfixInstance = await startPostfix(dir, port, sinkPort);
  appendFileSync(PIDS, `${pf.masterPid} master ${pf.configDir}\n`);
  await waitFor(`postfix smtpd on port ${port}`, () => isListening(port), 15000);
  return {
    pid: pf.masterPid,
    pids: () => processTree(pf.masterPid).map((s) => s.pid),
    queued: () => queuedFiles(pf),
    hwmKb: () => undefined,
    stop: () => stopPostfix(pf),
    notes: () => [],
  };
}

async function runOnce(system: System, sc: Scenario, round: number): Promise<RunResult> {
  const result: RunResult = { system, scenario: sc.id, round, ok: false, notes: [] };
  const dir = path.join(WORK!, `${sc.id}-${system}-${round}`);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const [sinkPort, port] = await freePorts(2);
  const sink = new Sink(sinkPort);
  let relay: Relay | null = null;
  let sampler: MemorySampler | null = null;
  let source: ChildProcess | null = null;
  const acceptTimeoutMs = (30 + sc.messages / 20) * 1000;
  // No progress at the sink for this long fails the run. Longer than relaybox's default retry
  // interval (60 s), so that one failed upstream connection shows as a slow run, not a failed one.
  const stallMs = 75000;
  try {
    await sink.ready();
    relay = system === 'relaybox' ? await startRelaybox(dir, port, sinkPort) : await startPostfixRelay(dir, port, sinkPort);
    activeRelays.add(relay);
    const r = relay;
    sampler = new MemorySampler(() => r.pids(), 200);
    sampler.start();
    sink.expect(sc.messages);
    const cpu0 = treeCpuTicks(r.pid);
    const t0 = now();
    const args = ['-s', String(sc.sessions), '-m', String(sc.messages), '-l', String(SIZE), '-M', 'client.bench.invalid',
      '-f', 'a@example.com', '-t', 'b@example.com', ...(sc.reuse ? ['-d'] : []), `127.0.0.1:${port}`];
    source = track(spawn('smtp-source', args, { stdio: ['ignore', 'ignore', 'pipe'] }), 'smtp-source');
    let sourceErr = '';
    source.stderr!.setEncoding('utf8');
    source.stderr!.on('data', (c: string) => { sourceErr += c; });
    const src = source;
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([exited(src), new Promise<'timeout'>((r) => { timer = setTimeout(() => r('timeout'), acceptTimeoutMs); })]);
    clearTimeout(timer);
    if (code === 'timeout') {
      throw new Error(`smtp-source did not finish within ${acceptTimeoutMs / 1000} s (sink had ${sink.count})`);
    }
    const tAccept = now();
    if (code !== 0) throw new Error(`smtp-source exited with ${code}: ${sourceErr.trim().split('\n').slice(-2).join(' ')}`);
    result.acceptSec = (tAccept - t0) / 1000;
    // End to end: until the sink has seen every message; fail if it makes no progress for stallMs.
    sink.lastProgressAt = Math.max(sink.lastProgressAt, tAccept);
    await waitFor(`the sink to receive ${sc.messages}`, () => {
      if (sink.reachedAt) return true;
      if (now() - sink.lastProgressAt > stallMs) {
        throw new Error(`end to end: sink stalled at ${sink.count}/${sc.messages} for ${stallMs / 1000} s (${r.queued()} files left in the queue)`);
      }
      return false;
    }, acceptTimeoutMs, 10);
    result.e2eSec = (sink.reachedAt - t0) / 1000;
    // Let the relay finish its bookkeeping (removing spool/queue files), then read the CPU.
    await waitFor('the queue to drain', () => r.queued() === 0, 10000, 20).catch(() => undefined);
    result.leftInQueue = r.queued();
    result.cpuSec = (treeCpuTicks(r.pid) - cpu0) / CLK_TCK;
    sampler.stop();
    result.peakRssKb = r.hwmKb() ?? sampler.peakRssKb;
    result.peakPssKb = sampler.peakPssKb;
    result.peakProcesses = sampler.peakProcesses;
    await sleep(300);
    result.sinkReceived = sink.count;
    if (sink.count !== sc.messages) result.notes.push(`sink received ${sink.count} messages for ${sc.messages} sent (duplicates?)`);
    if (result.leftInQueue) result.notes.push(`${result.leftInQueue} files still in the queue/spool 10 s after the sink had everything`);
    result.ok = true;
  } catch (e) {
    result.error = (e as Error).message;
  } finally {
    sampler?.stop();
    if (source) await terminate(source, 2000);
    if (relay) {
      result.notes.push(...relay.notes());
      await relay.stop().catch((e: Error) => result.notes.push(`stopping: ${e.message}`));
      activeRelays.delete(relay);
    }
    await sink.stop();
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Reporting

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

interface Summary {
  ok: number;
  total: number;
  accept?: number[];
  e2e?: number[];
  cpuPer1000?: number;
  rssMb?: number;
  pssMb?: number;
  processes?: number;
  errors: string[];
}

function summarize(results: RunResult[], sc: Scenario, system: System): Summary {
  const rs = results.filter((r) => r.scenario === sc.id && r.system === system);
  const ok = rs.filter((r) => r.ok);
  const s: Summary = { ok: ok.length, total: rs.length, errors: rs.filter((r) => !r.ok).map((r) => `round ${r.round}: ${r.error}`) };
  if (!ok.length) return s;
  s.accept = ok.map((r) => sc.messages / r.acceptSec!);
  s.e2e = ok.map((r) => sc.messages / r.e2eSec!);
  s.cpuPer1000 = median(ok.map((r) => (r.cpuSec! / sc.messages) * 1000));
  s.rssMb = median(ok.map((r) => r.peakRssKb! / 1024));
  s.pssMb = median(ok.map((r) => r.peakPssKb! / 1024));
  s.processes = Math.max(...ok.map((r) => r.peakProcesses!));
  return s;
}

const fmt = (x: number | undefined, digits = 0): string => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(digits));
const rate = (xs: number[] | undefined): string =>
  !xs?.length ? '–' : xs.length === 1 ? fmt(xs[0]) : `${fmt(median(xs))} (${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))})`;
const ratio = (a: number | undefined, b: number | undefined, digits = 2): string =>
  a === undefined || b === undefined || !b ? '–' : `${(a / b).toFixed(digits)}×`;

function table(results: RunResult[]): string {
  const head = '| scenario | system | runs ok | accepted msg/s | end-to-end msg/s | peak RSS MB | peak ΣPSS MB | CPU s / 1000 msgs |';
  const rule = '|---|---|---|---|---|---|---|---|';
  const rows: string[] = [head, rule];
  for (const sc of SCENARIOS) {
    const label = `${sc.messages} × ${SIZE} B, ${sc.title}`;
    const rb = summarize(results, sc, 'relaybox');
    const pf = summarize(results, sc, 'postfix');
    for (const [name, s] of [['relaybox', rb], ['Postfix', pf]] as const) {
      const runs = s.total ? `${s.ok}/${s.total}` : 'skipped';
      const failed = s.ok === 0 && s.total > 0 ? ' **FAILED**' : '';
      rows.push(`| ${label} | ${name}${failed} | ${runs} | ${rate(s.accept)} | ${rate(s.e2e)} | ${fmt(s.rssMb, 1)} | ${fmt(s.pssMb, 1)} | ${fmt(s.cpuPer1000, 2)} |`);
    }
    const m = (xs?: number[]) => (xs?.length ? median(xs) : undefined);
    rows.push(`| ${label} | **relaybox / Postfix** | | ${ratio(m(rb.accept), m(pf.accept))} | ${ratio(m(rb.e2e), m(pf.e2e))} | ${ratio(rb.rssMb, pf.rssMb)} | ${ratio(rb.pssMb, pf.pssMb)} | ${ratio(rb.cpuPer1000, pf.cpuPer1000)} |`);
  }
  return rows.join('\n');
}

function rawTable(results: RunResult[]): string {
  const rows = ['| round | scenario | system | accept s | end-to-end s | CPU s | CPU s / end-to-end s | peak RSS MB | peak ΣPSS MB | max processes | result |', '|---|---|---|---|---|---|---|---|---|---|---|'];
  for (const r of results) {
    rows.push(`| ${r.round} | ${r.scenario} | ${r.system} | ${fmt(r.acceptSec, 2)} | ${fmt(r.e2eSec, 2)} | ${fmt(r.cpuSec, 2)} | ${r.cpuSec !== undefined && r.e2eSec ? fmt(r.cpuSec / r.e2eSec, 2) : '–'} | ${fmt(r.peakRssKb !== undefined ? r.peakRssKb / 1024 : undefined, 1)} | ${fmt(r.peakPssKb !== undefined ? r.peakPssKb / 1024 : undefined, 1)} | ${r.peakProcesses ?? '–'} | ${r.ok ? 'ok' : `FAILED: ${r.error}`}${r.notes.length ? `; ${r.notes.join('; ')}` : ''} |`.replace(/\n/g, ' '));
  }
  return rows.join('\n');
}

function machine(): Record<string, string> {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? 'unknown';
  const sh = (cmd: string, args: string[]): string => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8' }).trim();
    } catch {
      return 'unknown';
    }
  };
  const fs = sh('df', ['-PT', WORK!]).split('\n')[1]?.split(/\s+/) ?? [];
  return {
    nproc: sh('nproc', []),
    cpu: model,
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    postfix: postfixVersion(),
    relaybox: (() => {
      try {
        return `${JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version} (git ${sh('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'])}${sh('git', ['-C', ROOT, 'status', '--porcelain', '--', 'src']) ? ', src modified' : ''})`;
      } catch {
        return 'unknown';
      }
    })(),
    filesystem: `${fs[1] ?? '?'} on ${fs[0] ?? '?'} (mounted at ${fs[6] ?? '?'}), work dir ${path.dirname(WORK!)}`,
    load: os.loadavg().map((x) => x.toFixed(2)).join(' '),
  };
}

function report(results: RunResult[], probes: FsyncProbe[], info: Record<string, string>, date: string, totalSec: number, skipped: string[]): string {
  const probe = (k: keyof FsyncProbe) => probes.map((p) => fmt(p[k])).join(' / ');
  const failures = results.filter((r) => !r.ok);
  const notes = results.filter((r) => r.notes.length);
  return `# Benchmarks: relaybox vs Postfix

Generated by \`make bench\` (\`scripts/bench/run\`) on ${date}, in ${totalSec.toFixed(0)} s. The machine is shared,
so figures are noisy: compare the relaybox/Postfix ratios of one run more than absolute values across runs.

## Machine

| | |
|---|---|
${Object.entries(info).map(([k, v]) => `| ${k} | ${v} |`).join('\n')}
| durable small files (machine limit, start / end of the run) | ${probe('sequentialPerSec')} files/s with 1 writer; ${probe('concurrent10PerSec')} files/s with 10 concurrent writers |

The machine limit: create a ${SIZE}-byte file, write, fsync, close, rename, fsync the directory, in a
fresh directory on the same filesystem as the spools (scripts/bench/fsync-probe.ts, 2 s each).
A relaybox commit costs two file fsyncs (content, envelope) plus a directory fsync shared by
concurrent commits; Postfix's cleanup fsyncs one queue file per message.

## Results

Medians of ${RUNS} runs per cell (min–max in brackets), relaybox and Postfix interleaved
(round 1: relaybox, Postfix, relaybox, Postfix ... for every scenario; then round 2 ...).

${table(results)}

- **accepted msg/s**: messages / time from starting \`smtp-source\` until it exits (all messages answered 250 by the relay).
- **end-to-end msg/s**: messages / time from starting \`smtp-source\` until the sink has received all of them.
- **peak RSS**: relaybox: \`VmHWM\` of its one process (/proc/<pid>/status, exact peak). Postfix: the largest sum of
  \`VmRSS\` over all its processes (master and everything below it), sampled every 200 ms: misses short peaks, and
  counts shared pages (libraries, Postfix's shared libs) once per process, so it overstates Postfix's real footprint.
- **peak ΣPSS**: the same 200 ms sampling for both, of \`Pss\` from /proc/<pid>/smaps_rollup (shared pages divided
  among the processes sharing them): the fairer memory comparison.
- **CPU s / 1000 msgs**: utime+stime from /proc/<pid>/stat, from just before \`smtp-source\` starts until the queue
  is empty after the sink has everything (start-up excluded). relaybox: its one process (all its threads). Postfix:
  the master's process tree, i.e. master utime+stime plus its cutime+cstime (the smtpd, cleanup, smtp ... processes
  that exited and were reaped during the run) plus utime+stime+cutime+cstime of every live process below the master.
  The client (smtp-source), the sink and the harness are not counted.

## Workload and fairness

- Client: Postfix's \`smtp-source -s <sessions> -m <messages> -l ${SIZE} -M client.bench.invalid -f a@example.com -t b@example.com
  [-d] 127.0.0.1:<port>\`: one recipient per message, ${SIZE} bytes of body plus smtp-source's few header lines. No pipelining
  (smtp-source does not pipeline). With \`-d\` ("connection reused") each session sends message after message over one
  connection; without it every message is a connection of its own (connect, EHLO, MAIL, RCPT, DATA, QUIT).
- Sink: Postfix's \`smtp-sink -c\` on 127.0.0.1 (C, discards messages, announces PIPELINING): the same for both systems,
  a fresh one per run; its \`mesg=\` counter (updated at every ".") tells when everything has arrived.
- Same machine, loopback only, same filesystem for the relaybox spool and the Postfix queue, a fresh spool/queue and a
  fresh relay process(es) for every run. Both answer 250 only after the message is on disk and fsync'd.
- relaybox: \`node dist/relaybox.js --no-daemon --user root --port P --interface 127.0.0.1 --spool-dir <fresh dir>
  --forward-to 127.0.0.1:<sink> --forward-on-disconnect\` (no --log: only warnings/errors are logged, to a file).
  One process (one event loop plus libuv's thread pool for file system calls). It forwards only when a client
  disconnects (so with reused connections forwarding starts when the sessions end), over \`--forward-connections\`
  (default 2) connections per forwarding run.
- Postfix: a private instance (own config_directory, queue_directory, data_directory in the work dir; \`postfix -c <dir>
  start\`), an smtpd on 127.0.0.1:<port>, \`relayhost = [127.0.0.1]:<sink>\`, \`mydestination =\` (no local delivery),
  \`mynetworks = 127.0.0.0/8\`, no DNS (\`smtp_dns_support_level = disabled\`, \`disable_dns_lookups = yes\`, \`smtp_host_lookup
  = native\`), \`smtpd_peername_lookup = no\` (relaybox does no reverse lookups either), no chroot. Everything else is
  Postfix's default: queue files fsync'd, delivery starts as soon as a message is queued, up to 20 parallel deliveries
  to the relayhost with connection caching, smtpd flow control (in_flow_delay 1 s), one process per smtpd session
  (up to 100), so Postfix can use both cores. Postfix logs every message to syslog (${existsSync('/dev/log') ? '/dev/log exists here, a syslog daemon receives them' :
  'this machine has no /dev/log, so its log lines are formatted and dropped'}).
- The harness (node), smtp-source and smtp-sink run on the same ${info.nproc} cores and compete with the relay for CPU.
- Message counts: BENCH_CONN1_MESSAGES, BENCH_CONN10_MESSAGES, BENCH_REUSE_MESSAGES (5000 each); BENCH_RUNS sets the
  number of rounds, BENCH_ONLY=conn1,conn10,reuse1,reuse10 a subset of the scenarios. No run is started once
  BENCH_BUDGET_SECONDS (540) have passed, to keep \`make bench\` at about 10 minutes; skipped runs are listed.

## Per run

"CPU s / end-to-end s" is the number of cores the relay kept busy on average (relaybox: 1.0 means one core's worth, its
event loop plus file system threads; it cannot use much more than one core for JavaScript).

${rawTable(results)}
${failures.length ? `\n### Failures\n\n${failures.map((r) => `- ${r.system}, ${r.scenario}, round ${r.round}: ${r.error}`).join('\n')}\n` : ''}${skipped.length ? `\n### Skipped\n\n${skipped.map((s) => `- ${s}`).join('\n')}\n` : ''}${notes.length ? `\n### Notes\n\n${notes.map((r) => `- ${r.system}, ${r.scenario}, round ${r.round}: ${r.notes.join('; ')}`).join('\n')}\n` : ''}`;
}

async function main(): Promise<void> {
  const date = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const info = machine();
  const pfMaster = '/var/spool/postfix/pid/master.pid';
  if (existsSync(pfMaster)) {
    const pid = Number(readFileSync(pfMaster, 'utf8').trim());
    const st = pid ? readStat(pid) : null;
    if (st && st.comm === 'master' && st.state !== 'Z') {
      say(`note: the system-wide Postfix is running (master pid ${pid}); it is not measured: only the private instance's process tree and port are`);
    }
  }
  say(`machine: ${info.nproc} cores, ${info.cpu}, ${info.kernel}, node ${info.node}, postfix ${info.postfix}`);
  say(`work dir ${WORK}; ${RUNS} rounds of: ${SCENARIOS.map((s) => `${s.id} (${s.messages} msgs)`).join(', ')}`);
  const probes: FsyncProbe[] = [];
  probes.push(await fsyncProbe(WORK!, 2));
  say(`durable 2 KB files: ${fmt(probes[0].sequentialPerSec)}/s with 1 writer, ${fmt(probes[0].concurrent10PerSec)}/s with 10 writers`);

  const results: RunResult[] = [];
  const skipped: string[] = [];
  const dead = new Set<string>();
  for (let round = 1; round <= RUNS; round++) {
    for (const sc of SCENARIOS) {
      for (const system of SYSTEMS) {
        const key = `${system}/${sc.id}`;
        if (dead.has(key)) {
          skipped.push(`${system}, ${sc.id}, round ${round}: an earlier run failed`);
          continue;
        }
        if (now() - started > BUDGET_MS) {
          skipped.push(`${system}, ${sc.id}, round ${round}: time budget (BENCH_BUDGET_SECONDS=${BUDGET_MS / 1000}) used up`);
          continue;
        }
        const r = await runOnce(system, sc, round);
        results.push(r);
        if (r.ok) {
          say(`round ${round} ${sc.id.padEnd(7)} ${system.padEnd(8)}: accept ${fmt(sc.messages / r.acceptSec!)}/s, end-to-end ${fmt(sc.messages / r.e2eSec!)}/s, ` +
            `CPU ${fmt(r.cpuSec, 2)} s, peak RSS ${fmt(r.peakRssKb! / 1024, 1)} MB, ΣPSS ${fmt(r.peakPssKb! / 1024, 1)} MB${r.notes.length ? ` (${r.notes.join('; ')})` : ''}`);
        } else {
          dead.add(key);
          say(`round ${round} ${sc.id.padEnd(7)} ${system.padEnd(8)}: FAILED: ${r.error}${r.notes.length ? ` (${r.notes.join('; ')})` : ''}`);
        }
      }
    }
  }
  probes.push(await fsyncProbe(WORK!, 2));
  say(`durable 2 KB files at the end: ${fmt(probes[1].sequentialPerSec)}/s with 1 writer, ${fmt(probes[1].concurrent10PerSec)}/s with 10 writers`);
  const md = report(results, probes, info, date, (now() - started) / 1000, skipped);
  mkdirSync(path.dirname(OUT), { recursive: true });
  writeFileSync(OUT, md);
  console.log(`\n${table(results)}\n`);
  console.log(`durable 2 KB files (write+fsync+rename+dir fsync): ${probes.map((p) => `${fmt(p.sequentialPerSec)}/s (1 writer), ${fmt(p.concurrent10PerSec)}/s (10 writers)`).join(' at start; ')} at end`);
  console.log(`method, fairness notes and per-run figures: ${path.relative(process.cwd(), OUT) || OUT}`);
}

let cleaning = false;
async function cleanup(): Promise<void> {
  if (cleaning) return;
  cleaning = true;
  await Promise.all([...activeRelays].map((r) => r.stop().catch(() => undefined)));
  await Promise.all([...children].map((c) => terminate(c, 3000)));
}
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(sig, () => {
    say(`${sig}: stopping`);
    void cleanup().then(() => process.exit(130));
  });
}

main().then(
  async () => {
    await cleanup();
    process.exit(0);
  },
  async (e: Error) => {
    console.error(`bench failed: ${e.stack ?? e.message}`);
    await cleanup();
    process.exit(1);
  },
);
