// relaybox vs Postfix vs the machine's own limits: store-and-forward throughput on loopback. Run
// by scripts/bench/run (`make bench`, `make profile`); see docs/benchmarks.md for the method.
// Every wait has a timeout; a run that fails is reported as failed, and the (system, scenario) is
// not retried in later rounds.
//
//   node --import tsx scripts/bench/bench.ts --work <empty dir> [--out docs/benchmarks.md]
//
// Environment (all optional):
//   BENCH_RUNS (3)                 rounds; every cell is the median of its rounds
//   BENCH_BUDGET_SECONDS (2700)    no new run is started after this (45 min; a full run takes ~25-35)
//   BENCH_ONLY                     comma list of scenario ids (conn1,conn10,conn50,reuse1,reuse10,
//                                  reuse50,big1,big10)
//   BENCH_SYSTEMS                  comma list of relaybox,postfix,haraka,direct (all four)
//   BENCH_SIZE (2048), BENCH_BIG_SIZE (1048576)       message body sizes
//   BENCH_MESSAGES                 messages per 2 KB scenario, overriding the next four
//   BENCH_CONN1_MESSAGES, BENCH_CONN10_MESSAGES, BENCH_CONN50_MESSAGES, BENCH_REUSE_MESSAGES (5000)
//   BENCH_BIG_MESSAGES (200)       messages per 1 MB scenario
//   BENCH_PROBE_SECONDS (2)        length of each raw write+fsync+rename measurement
//   BENCH_OUT (docs/benchmarks.md) where scripts/bench/run has the report written (the chart beside it)
//   BENCH_NO_PROFILE=1             skip the profiled relaybox run at the end of the benchmark
//   BENCH_RELAYBOX_FORWARDING      relaybox's forwarding options (default "--forward-on-commit --forward-connections 20")
//   BENCH_RELAYBOX_PROCESSES (1)   relaybox's --processes: relay processes sharing the port and the spool
//   BENCH_RELAY_CPUS               pin every relay to these CPUs (taskset list: "0" is one core), to
//                                  compare 1 core with 2; the load generator and sink are not pinned
//   BENCH_OFFICE=0                 skip the office scenario (below); BENCH_OFFICE_DEVICES (200),
//   BENCH_OFFICE_SECONDS (60)      how long devices keep sending, BENCH_OFFICE_DELAY_MS (100) the
//   BENCH_OFFICE_DRAIN_SECONDS (120) upstream's wait before each reply, the most waited for delivery
//                                  after the last scan; run once per system, after round 1
//   BENCH_PROFILE=1                instead of the benchmark: one relaybox run of BENCH_PROFILE_SCENARIO
//                                  (conn10) with BENCH_PROFILE_MESSAGES (5000) under `node --cpu-prof`,
//                                  and a report of where its main thread's time goes (`make profile`)
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, copyFileSync, mkdirSync, openSync, readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { analyze } from './cpuprofile';
import { fsyncFilesPerSec } from './fsync-probe';
import { postfixVersion, queuedFiles, startPostfix, stopPostfix, type PostfixInstance } from './postfix';
import { ensureHaraka, harakaQueued, startHaraka } from './haraka';
import { SlowSink, latencies, percentile, runDevices } from './devices';
import { CLK_TCK, MemorySampler, isListening, processTree, pssKb, readStat, statusKb, treeCpuTicks } from './procfs';
import { throughputChart, type Series } from './svg-chart';

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
const SVG = OUT.replace(/\.md$/, '') + '.svg';
const PIDS = path.join(WORK, 'pids'); // for scripts/bench/run's EXIT trap, should this process die

const env = (name: string, dflt: number): number => {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : dflt;
};
const RUNS = env('BENCH_RUNS', 3);
const SMALL = env('BENCH_SIZE', 2048);
const BIG = env('BENCH_BIG_SIZE', 1048576);
const DEFAULT_BUDGET_SECONDS = 2700;
const BUDGET_MS = env('BENCH_BUDGET_SECONDS', DEFAULT_BUDGET_SECONDS) * 1000;
const PROBE_SECONDS = env('BENCH_PROBE_SECONDS', 2);
const PROFILE = process.env.BENCH_PROFILE === '1';

interface Scenario {
  id: string;
  title: string;
  sessions: number;
  messages: number;
  /** Message body size in bytes (smtp-source -l). */
  size: number;
  /** smtp-source -d: each session sends its messages over one connection. */
  reuse: boolean;
}

const small = (name: string): number => env('BENCH_MESSAGES', env(name, 5000));
const ALL_SCENARIOS: Scenario[] = [
  { id: 'conn1', title: '1 client, one connection per message', sessions: 1, messages: small('BENCH_CONN1_MESSAGES'), size: SMALL, reuse: false },
  { id: 'conn10', title: '10 clients, one connection per message', sessions: 10, messages: small('BENCH_CONN10_MESSAGES'), size: SMALL, reuse: false },
  { id: 'conn50', title: '50 clients, one connection per message', sessions: 50, messages: small('BENCH_CONN50_MESSAGES'), size: SMALL, reuse: false },
  { id: 'reuse1', title: '1 client, connection reused', sessions: 1, messages: small('BENCH_REUSE_MESSAGES'), size: SMALL, reuse: true },
  { id: 'reuse10', title: '10 clients, connections reused', sessions: 10, messages: small('BENCH_REUSE_MESSAGES'), size: SMALL, reuse: true },
  { id: 'reuse50', title: '50 clients, connections reused', sessions: 50, messages: small('BENCH_REUSE_MESSAGES'), size: SMALL, reuse: true },
  { id: 'big1', title: '1 client, one connection per message', sessions: 1, messages: env('BENCH_BIG_MESSAGES', 200), size: BIG, reuse: false },
  { id: 'big10', title: '10 clients, one connection per message', sessions: 10, messages: env('BENCH_BIG_MESSAGES', 200), size: BIG, reuse: false },
];
const only = process.env.BENCH_ONLY?.split(',')
  .map((s) => s.trim())
  .filter(Boolean);
for (const id of only ?? []) {
  if (!ALL_SCENARIOS.some((s) => s.id === id)) {
    console.error(`BENCH_ONLY: no scenario "${id}" (there are ${ALL_SCENARIOS.map((s) => s.id).join(', ')})`);
    process.exit(2);
  }
}
const SCENARIOS = only?.length ? ALL_SCENARIOS.filter((s) => only.includes(s.id)) : ALL_SCENARIOS;

type System = 'relaybox' | 'postfix' | 'haraka' | 'direct';
const ALL_SYSTEMS: System[] = ['relaybox', 'postfix', 'haraka', 'direct'];
const onlySystems = process.env.BENCH_SYSTEMS?.split(',')
  .map((s) => s.trim())
  .filter(Boolean);
for (const s of onlySystems ?? []) {
  if (!ALL_SYSTEMS.includes(s as System)) {
    console.error(`BENCH_SYSTEMS: no system "${s}" (there are ${ALL_SYSTEMS.join(', ')})`);
    process.exit(2);
  }
}
const SYSTEMS = onlySystems?.length ? ALL_SYSTEMS.filter((s) => onlySystems.includes(s)) : ALL_SYSTEMS;
const SYSTEM_NAME: Record<System, string> = { relaybox: 'relaybox', postfix: 'Postfix', haraka: 'Haraka', direct: 'direct (smtp-source → smtp-sink)' };

interface RunResult {
  system: System;
  scenario: string;
  round: number;
  ok: boolean;
  error?: string;
  acceptSec?: number;
  e2eSec?: number;
  cpuSec?: number;
  /** Sum of VmRSS / Pss over the system's processes after start-up, just before the load starts. */
  idleRssKb?: number;
  idlePssKb?: number;
  /** relaybox: VmHWM of its process; Postfix: peak of the sampled sum of VmRSS over its processes. */
  peakRssKb?: number;
  /** Peak of the sampled sum of Pss (smaps_rollup) over the system's processes. */
  peakPssKb?: number;
  peakProcesses?: number;
  sinkReceived?: number;
  leftInQueue?: number;
  notes: string[];
}

/** One raw write+fsync+rename measurement: `writers` concurrent writers of `size`-byte files. */
interface ProbeResult {
  key: string;
  size: number;
  writers: number;
  round: number;
  filesPerSec: number;
}
const probeKey = (sc: Scenario): string => `${sc.size}/${sc.sessions}`;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const now = (): number => performance.now();
const started = now();
const elapsed = (): string => `${((now() - started) / 1000).toFixed(0)}s`.padStart(5);
const say = (msg: string): void => console.log(`[bench ${elapsed()}] ${msg}`);

/** `n` distinct free ports on 127.0.0.1 (all held open at once, so they differ). */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<net.Server>((resolve) => {
          const srv = net.createServer();
          srv.listen(0, '127.0.0.1', () => resolve(srv));
        }),
    ),
  );
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
    this.proc.stderr!.on('data', (c: string) => {
      this.stderr += c;
    });
  }

  expect(n: number): void {
    this.target = n;
    this.reachedAt = this.count >= n ? now() : 0;
  }

  async ready(): Promise<void> {
    await waitFor(
      `smtp-sink on port ${this.port}`,
      () => {
        if (this.proc.exitCode !== null) throw new Error(`smtp-sink exited: ${this.stderr.trim()}`);
        return isListening(this.port);
      },
      10000,
    );
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

/**
 * How relaybox forwards in the benchmark: each message as soon as it is stored, over up to 20 sessions
 * (Postfix's default_destination_concurrency_limit). BENCH_RELAYBOX_FORWARDING overrides it, e.g.
 * "--forward-on-disconnect" for E-MailRelay's way (one session, a run at each disconnect).
 */
const RELAYBOX_FORWARDING = (process.env.BENCH_RELAYBOX_FORWARDING ?? '--forward-on-commit --forward-connections 20').split(/\s+/).filter(Boolean);

/** BENCH_RELAYBOX_PROCESSES: relaybox's --processes (default 1: one process). */
const RELAYBOX_PROCESSES = env('BENCH_RELAYBOX_PROCESSES', 1);

async function startRelaybox(dir: string, port: number, sinkPort: number, nodeArgs: string[] = []): Promise<Relay> {
  const spool = path.join(dir, 'spool');
  mkdirSync(spool, { recursive: true });
  const logFile = path.join(dir, 'relaybox.log');
  const fd = openSync(logFile, 'w');
  // No --log: only warnings and errors are written (to the log file here). No per-address
  // connection limit (default 20): all the clients come from 127.0.0.1, as Postfix's mynetworks
  // are exempt from its own limit.
  const args = [
    ...nodeArgs,
    BUNDLE,
    '--no-daemon',
    '--user',
    'root',
    '--port',
    String(port),
    '--interface',
    '127.0.0.1',
    '--spool-dir',
    spool,
    '--forward-to',
    `127.0.0.1:${sinkPort}`,
    ...RELAYBOX_FORWARDING,
    ...(RELAYBOX_PROCESSES > 1 ? ['--processes', String(RELAYBOX_PROCESSES)] : []),
    '--max-connections-per-address',
    '0',
  ];
  const proc = track(spawn(process.execPath, args, { stdio: ['ignore', fd, fd] }), 'node');
  closeSync(fd);
  const pid = proc.pid!;
  await waitFor(
    `relaybox on port ${port}`,
    () => {
      if (proc.exitCode !== null) throw new Error(`relaybox exited with ${proc.exitCode}: ${readFileSync(logFile, 'utf8').slice(0, 500)}`);
      return isListening(port);
    },
    15000,
  );
  return {
    pid,
    pids: () => (RELAYBOX_PROCESSES > 1 ? processTree(pid).map((s) => s.pid) : [pid]),
    queued: () => {
      try {
        // message files only (.content, .envelope[.new|.busy|.bad]), not the .relaybox.lock dotfile
        return readdirSync(spool).filter((n) => !n.startsWith('.')).length;
      } catch {
        return -1;
      }
    },
    // With --processes, the sampler's sum over the supervisor and its relay processes.
    hwmKb: () => (RELAYBOX_PROCESSES > 1 ? undefined : statusKb(pid, 'VmHWM')),
    stop: () => terminate(proc),
    notes: () => {
      const lines = readFileSync(logFile, 'utf8').split('\n').filter(Boolean);
      if (!lines.length) return [];
      const kinds = new Map<string, number>();
      for (const l of lines) {
        let key = l.slice(0, 80);
        try {
          const j = JSON.parse(l) as { level?: number; msg?: string; reason?: string; err?: string | { code?: string; message?: string } };
          const detail = typeof j.err === 'string' ? j.err : (j.err?.code ?? j.reason ?? '');
          key = `level ${j.level}: ${(j.msg ?? '')
            .replace(/^[0-9a-z]{16} /, '')
            .replace(/emailrelay\.[0-9.]+/g, '<id>')
            .slice(0, 70)}${detail ? ` (${String(detail).slice(0, 80)})` : ''}`.replace(/\s+/g, ' ');
        } catch {
          /* not JSON */
        }
        kinds.set(key, (kinds.get(key) ?? 0) + 1);
      }
      return [
        `relaybox wrote ${lines.length} log lines (warnings/errors): ${[...kinds]
          .sort((a, b) => b[1] - a[1])
          .slice(0, 4)
          .map(([k, n]) => `${n}× "${k}"`)
          .join(', ')}`,
      ];
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

async function startHarakaRelay(dir: string, port: number, sinkPort: number): Promise<Relay> {
  const logFile = path.join(dir, 'haraka.log');
  const fd = openSync(logFile, 'w');
  const h = startHaraka(dir, port, sinkPort, fd);
  closeSync(fd);
  const proc = track(h.proc, 'node');
  await waitFor(
    `Haraka on port ${port}`,
    () => {
      if (proc.exitCode !== null) throw new Error(`Haraka exited with ${proc.exitCode}: ${readFileSync(logFile, 'utf8').slice(-500)}`);
      return isListening(port);
    },
    30000,
  );
  const pid = proc.pid!;
  return {
    pid,
    pids: () => processTree(pid).map((s) => s.pid),
    queued: () => harakaQueued(h),
    hwmKb: () => undefined,
    stop: () => terminate(proc),
    notes: () => {
      // Haraka's core looks for a TLS key and certificate at start even with TLS unused: not a fault here.
      const errors = readFileSync(logFile, 'utf8')
        .split('\n')
        .filter((l) => /\[(ERROR|CRIT)\]/.test(l) && !/tls (key|cert) .* could not be loaded/.test(l));
      return errors.length ? [`Haraka logged ${errors.length} ERROR/CRIT lines, the first: ${errors[0]!.slice(0, 200)}`] : [];
    },
  };
}

/** BENCH_RELAY_CPUS: the CPUs every relay is pinned to (taskset's list, e.g. "0" for one core); unset: all. */
const RELAY_CPUS = process.env.BENCH_RELAY_CPUS;

/** Starts a relay, pinned to BENCH_RELAY_CPUS when that is set (its later child processes inherit it). */
async function startRelay(system: Exclude<System, 'direct'>, dir: string, port: number, sinkPort: number, nodeArgs: string[] = []): Promise<Relay> {
  const relay =
    system === 'relaybox'
      ? await startRelaybox(dir, port, sinkPort, nodeArgs)
      : system === 'postfix'
        ? await startPostfixRelay(dir, port, sinkPort)
        : await startHarakaRelay(dir, port, sinkPort);
  activeRelays.add(relay);
  if (RELAY_CPUS) {
    for (const pid of relay.pids()) execFileSync('taskset', ['-a', '-c', '-p', RELAY_CPUS, String(pid)], { stdio: 'ignore' });
  }
  return relay;
}

/** The "direct" system: nothing between smtp-source and the sink. */
function directRelay(): Relay {
  return { pid: 0, pids: () => [], queued: () => 0, hwmKb: () => undefined, stop: async () => undefined, notes: () => [] };
}

function memoryOf(pids: number[]): { rssKb: number; pssKb: number } {
  let rssKb = 0;
  let pssKb_ = 0;
  for (const pid of pids) {
    rssKb += statusKb(pid, 'VmRSS');
    pssKb_ += pssKb(pid);
  }
  return { rssKb, pssKb: pssKb_ };
}

/**
 * Memory after start-up: once the set of processes and their summed RSS have stayed the same for
 * 3 polls 100 ms apart (Postfix's master starts qmgr and pickup after it is listening), at most 3 s.
 */
async function idleMemory(r: Relay): Promise<{ rssKb: number; pssKb: number }> {
  const deadline = now() + 3000;
  let last = '';
  let same = 0;
  for (;;) {
    const pids = r.pids();
    const m = memoryOf(pids);
    const key = `${pids.join(',')}:${m.rssKb}`;
    same = key === last ? same + 1 : 0;
    last = key;
    if (same >= 2 || now() > deadline) return m;
    await sleep(100);
  }
}

/** Stops a relay after a run, keeping what it logged (and any trouble stopping it) in `notes`. */
async function stopRelay(relay: Relay, notes: string[]): Promise<void> {
  notes.push(...relay.notes());
  await relay.stop().catch((e: Error) => notes.push(`stopping: ${e.message}`));
  activeRelays.delete(relay);
}

async function runOnce(system: System, sc: Scenario, round: number, relayNodeArgs: string[] = []): Promise<RunResult> {
  const result: RunResult = { system, scenario: sc.id, round, ok: false, notes: [] };
  const dir = path.join(WORK!, `${sc.id}-${system}-${round}`);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const [sinkPort, port] = await freePorts(2);
  const sink = new Sink(sinkPort);
  let relay: Relay | null = null;
  let sampler: MemorySampler | null = null;
  let source: ChildProcess | null = null;
  const acceptTimeoutMs = (30 + sc.messages / 20 + (sc.messages * sc.size) / 1e6) * 1000;
  // No progress at the sink for this long fails the run. Longer than relaybox's default retry
  // interval (60 s), so that one failed upstream connection shows as a slow run, not a failed one.
  const stallMs = 75000;
  try {
    await sink.ready();
    // "direct": smtp-source straight to the sink, no relay between: the load generator's and
    // the sink's own limit on this machine.
    relay = system === 'direct' ? directRelay() : await startRelay(system, dir, port!, sinkPort!, relayNodeArgs);
    const r = relay;
    const idle = await idleMemory(r);
    result.idleRssKb = idle.rssKb;
    result.idlePssKb = idle.pssKb;
    sampler = new MemorySampler(() => r.pids(), 200);
    sampler.start();
    sink.expect(sc.messages);
    const cpu0 = treeCpuTicks(r.pid);
    const t0 = now();
    const target = system === 'direct' ? sinkPort : port;
    const args = [
      '-s',
      String(sc.sessions),
      '-m',
      String(sc.messages),
      '-l',
      String(sc.size),
      '-M',
      'client.bench.invalid',
      '-f',
      'a@example.com',
      '-t',
      'b@example.com',
      ...(sc.reuse ? ['-d'] : []),
      `127.0.0.1:${target}`,
    ];
    source = track(spawn('smtp-source', args, { stdio: ['ignore', 'ignore', 'pipe'] }), 'smtp-source');
    let sourceErr = '';
    source.stderr!.setEncoding('utf8');
    source.stderr!.on('data', (c: string) => {
      sourceErr += c;
    });
    const src = source;
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([
      exited(src),
      new Promise<'timeout'>((r) => {
        timer = setTimeout(() => r('timeout'), acceptTimeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (code === 'timeout') {
      throw new Error(`smtp-source did not finish within ${acceptTimeoutMs / 1000} s (sink had ${sink.count})`);
    }
    const tAccept = now();
    if (code !== 0) throw new Error(`smtp-source exited with ${code}: ${sourceErr.trim().split('\n').slice(-2).join(' ')}`);
    result.acceptSec = (tAccept - t0) / 1000;
    // End to end: until the sink has seen every message; fail if it makes no progress for stallMs.
    sink.lastProgressAt = Math.max(sink.lastProgressAt, tAccept);
    await waitFor(
      `the sink to receive ${sc.messages}`,
      () => {
        if (sink.reachedAt) return true;
        if (now() - sink.lastProgressAt > stallMs) {
          throw new Error(`end to end: sink stalled at ${sink.count}/${sc.messages} for ${stallMs / 1000} s (${r.queued()} files left in the queue)`);
        }
        return false;
      },
      acceptTimeoutMs,
      10,
    );
    result.e2eSec = (sink.reachedAt - t0) / 1000;
    // Let the relay finish its bookkeeping (removing spool/queue files), then read the CPU.
    await waitFor('the queue to drain', () => r.queued() === 0, 10000, 20).catch(() => undefined);
    result.leftInQueue = r.queued();
    sampler.stop();
    if (system !== 'direct') {
      result.cpuSec = (treeCpuTicks(r.pid) - cpu0) / CLK_TCK;
      result.peakRssKb = r.hwmKb() ?? sampler.peakRssKb;
      result.peakPssKb = sampler.peakPssKb;
      result.peakProcesses = sampler.peakProcesses;
    } else {
      result.idleRssKb = result.idlePssKb = undefined;
    }
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
    if (relay) await stopRelay(relay, result.notes);
    await sink.stop();
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// The office scenario: many devices, each sending a scan every few seconds, and a slow upstream.

const OFFICE = {
  devices: env('BENCH_OFFICE_DEVICES', 200),
  seconds: env('BENCH_OFFICE_SECONDS', 60),
  delayMs: env('BENCH_OFFICE_DELAY_MS', 100),
  drainSeconds: env('BENCH_OFFICE_DRAIN_SECONDS', 120),
  bytes: 50_000,
  minGapMs: 2000,
  maxGapMs: 8000,
};
const OFFICE_ON = process.env.BENCH_OFFICE !== '0';

interface OfficeResult {
  system: System;
  ok: boolean;
  error?: string;
  accepted?: number;
  delivered?: number;
  failedSends?: number;
  p50?: number;
  p99?: number;
  max?: number;
  cpuSec?: number;
  peakRssKb?: number;
  notes: string[];
}

async function runOffice(system: Exclude<System, 'direct'>): Promise<OfficeResult> {
  const result: OfficeResult = { system, ok: false, notes: [] };
  const dir = path.join(WORK!, `office-${system}`);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const sink = new SlowSink(OFFICE.delayMs);
  const sinkPort = await sink.listen();
  const [port] = await freePorts(1);
  let relay: Relay | null = null;
  let sampler: MemorySampler | null = null;
  try {
    relay = await startRelay(system, dir, port!, sinkPort);
    const r = relay;
    sampler = new MemorySampler(() => r.pids(), 200);
    sampler.start();
    const cpu0 = treeCpuTicks(r.pid);
    const sent = await runDevices({
      devices: OFFICE.devices,
      minGapMs: OFFICE.minGapMs,
      maxGapMs: OFFICE.maxGapMs,
      durationMs: OFFICE.seconds * 1000,
      messageBytes: OFFICE.bytes,
      port: port!,
    });
    const lastAccept = now();
    await waitFor(
      'every accepted scan at the upstream',
      () => [...sent.accepted.keys()].every((id) => sink.arrivals.has(id)),
      OFFICE.drainSeconds * 1000,
      100,
    ).catch(() => undefined);
    sampler.stop();
    result.cpuSec = (treeCpuTicks(r.pid) - cpu0) / CLK_TCK;
    result.peakRssKb = r.hwmKb() ?? sampler.peakRssKb;
    const l = latencies(sent.accepted, sink.arrivals);
    result.accepted = sent.accepted.size;
    result.delivered = l.ms.length;
    result.failedSends = sent.failures.length;
    [result.p50, result.p99, result.max] = [percentile(l.ms, 50), percentile(l.ms, 99), l.ms[l.ms.length - 1]];
    if (l.missing) result.notes.push(`${l.missing} scans not at the upstream ${((now() - lastAccept) / 1000).toFixed(0)} s after the last was accepted`);
    if (sent.failures.length) result.notes.push(`device errors: ${sent.failures.slice(0, 3).join('; ')}`);
    result.ok = true;
  } catch (e) {
    result.error = (e as Error).message;
  } finally {
    sampler?.stop();
    if (relay) await stopRelay(relay, result.notes);
    await sink.close();
  }
  return result;
}

/** RSS a relay's processes gain per connection that has had its greeting and EHLO and then sits idle. */
interface IdleConnections {
  system: System;
  connections: number;
  kbPerConnection: number;
  pssKbPerConnection: number;
}
const idleConnections: IdleConnections[] = [];

async function measureIdleConnections(system: Exclude<System, 'direct'>, connections: number): Promise<IdleConnections | string> {
  const dir = path.join(WORK!, `idle-${system}`);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const [sinkPort, port] = await freePorts(2);
  const sink = new Sink(sinkPort!);
  const sockets: net.Socket[] = [];
  let relay: Relay | null = null;
  const notes: string[] = [];
  try {
    await sink.ready();
    relay = await startRelay(system, dir, port!, sinkPort!);
    const r = relay;
    // Warm-up: WARM_UP sessions opened to their EHLO reply and closed, so that what the first
    // connections load once (relaybox: V8's optimising compiler, 3.7 MB of the node binary) is not
    // counted per connection.
    const warm: net.Socket[] = [];
    for (let i = 0; i < WARM_UP; i++) warm.push(await idleSession(port!, i));
    for (const s of warm) s.destroy();
    const before = await idleMemory(r);
    // One at a time, each to its EHLO reply, so that every connection is a live, idle session.
    for (let i = 0; i < connections; i++) sockets.push(await idleSession(port!, i));
    const after = await idleMemory(r);
    return { system, connections, kbPerConnection: (after.rssKb - before.rssKb) / connections, pssKbPerConnection: (after.pssKb - before.pssKb) / connections };
  } catch (e) {
    return (e as Error).message;
  } finally {
    for (const s of sockets) s.destroy();
    if (relay) await stopRelay(relay, notes);
    await sink.stop();
  }
}

/** Sessions opened and closed before the idle measurement's baseline. */
const WARM_UP = 50;

/** A connection to the relay that has had its greeting and its EHLO reply. */
async function idleSession(port: number, i: number): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  let seen = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`connection ${i + 1}: no EHLO reply within 10 s`)), 10_000);
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      const had = seen;
      seen += chunk;
      if (!/^220[ ]/m.test(had) && /^220[ ]/m.test(seen)) socket.write('EHLO idle.bench.invalid\r\n');
      if (/^250[ ]/m.test(seen)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return socket;
}

function idleConnectionTable(): string {
  if (!idleConnections.length) return '(no figures)';
  const rows = idleConnections.map((c) => `| ${SYSTEM_NAME[c.system]} | ${c.connections} | ${fmt(c.kbPerConnection, 1)} | ${fmt(c.pssKbPerConnection, 1)} |`);
  return ['| system | connections | RSS KB per connection | ΣPSS KB per connection |', '|---|---|---|---|', ...rows].join('\n');
}

async function idleConnectionRound(skipped: string[]): Promise<void> {
  // Below each one's default limit: relaybox's --max-connections (200), Postfix's 100 smtpd processes.
  const count: Record<Exclude<System, 'direct'>, number> = { relaybox: 190, haraka: 500, postfix: 90 };
  for (const system of SYSTEMS) {
    if (system === 'direct') continue;
    const r = await measureIdleConnections(system, count[system]);
    if (typeof r === 'string') {
      skipped.push(`${system}, idle connections: ${r}`);
      say(`idle connections ${system.padEnd(8)}: FAILED: ${r}`);
    } else {
      idleConnections.push(r);
      say(
        `idle connections ${system.padEnd(8)}: ${r.connections} connections, RSS ${fmt(r.kbPerConnection, 1)} KB, ΣPSS ${fmt(r.pssKbPerConnection, 1)} KB each`,
      );
    }
  }
}

async function officeRound(office: OfficeResult[], skipped: string[]): Promise<void> {
  if (!OFFICE_ON) return;
  for (const system of SYSTEMS) {
    if (system === 'direct') continue;
    if (now() - started > BUDGET_MS) {
      skipped.push(`${system}, office: time budget (BENCH_BUDGET_SECONDS=${BUDGET_MS / 1000}) used up`);
      continue;
    }
    const r = await runOffice(system);
    office.push(r);
    say(
      `office ${system.padEnd(8)}: ${r.ok ? `${r.delivered}/${r.accepted} delivered, p50 ${fmt((r.p50 ?? NaN) / 1000, 2)} s, p99 ${fmt((r.p99 ?? NaN) / 1000, 2)} s, max ${fmt((r.max ?? NaN) / 1000, 2)} s, CPU ${fmt(r.cpuSec, 1)} s` : `FAILED: ${r.error}`}${r.notes.length ? ` (${r.notes.join('; ')})` : ''}`,
    );
  }
}

function officeTable(results: OfficeResult[]): string {
  if (!results.length) return '(not run: BENCH_OFFICE=0)';
  const s = (ms: number | undefined) => (ms === undefined ? '–' : (ms / 1000).toFixed(ms < 10_000 ? 2 : 0));
  const rows = [
    '| system | scans accepted | delivered | receipt → delivery p50 s | p99 s | max s | CPU s | peak RSS MB | notes |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    rows.push(
      r.ok
        ? `| ${SYSTEM_NAME[r.system]} | ${r.accepted} | ${r.delivered} | ${s(r.p50)} | ${s(r.p99)} | ${s(r.max)} | ${fmt(r.cpuSec, 1)} | ${fmt((r.peakRssKb ?? 0) / 1024, 1)} | ${r.notes.join('; ').replace(/\|/g, '/')} |`
        : `| ${SYSTEM_NAME[r.system]} | FAILED: ${r.error} | | | | | | | ${r.notes.join('; ').replace(/\|/g, '/')} |`,
    );
  }
  return rows.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Reporting

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const med = (xs: number[] | undefined): number | undefined => (xs?.length ? median(xs) : undefined);
const defined = (xs: (number | undefined)[]): number[] => xs.filter((x): x is number => x !== undefined && Number.isFinite(x));

interface Summary {
  ok: number;
  total: number;
  accept?: number[];
  e2e?: number[];
  cpuPer1000?: number;
  idleRssMb?: number;
  rssMb?: number;
  idlePssMb?: number;
  pssMb?: number;
  processes?: number;
  errors: string[];
}

function summarize(results: RunResult[], sc: Scenario, system: System): Summary {
  const rs = results.filter((r) => r.scenario === sc.id && r.system === system);
  const ok = rs.filter((r) => r.ok);
  const s: Summary = { ok: ok.length, total: rs.length, errors: rs.filter((r) => !r.ok).map((r) => `round ${r.round}: ${r.error}`) };
  if (!ok.length) return s;
  const mb = (kbs: (number | undefined)[]): number | undefined => med(defined(kbs).map((kb) => kb / 1024));
  s.accept = ok.map((r) => sc.messages / r.acceptSec!);
  s.e2e = ok.map((r) => sc.messages / r.e2eSec!);
  s.cpuPer1000 = med(defined(ok.map((r) => (r.cpuSec === undefined ? undefined : (r.cpuSec / sc.messages) * 1000))));
  s.idleRssMb = mb(ok.map((r) => r.idleRssKb));
  s.rssMb = mb(ok.map((r) => r.peakRssKb));
  s.idlePssMb = mb(ok.map((r) => r.idlePssKb));
  s.pssMb = mb(ok.map((r) => r.peakPssKb));
  const procs = defined(ok.map((r) => r.peakProcesses));
  s.processes = procs.length ? Math.max(...procs) : undefined;
  return s;
}

const probesOf = (probes: ProbeResult[], sc: Scenario): number[] => probes.filter((p) => p.key === probeKey(sc)).map((p) => p.filesPerSec);

const fmt = (x: number | undefined, digits = 0): string => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(digits));
const rate = (xs: number[] | undefined, digits = 0): string =>
  !xs?.length ? '–' : xs.length === 1 ? fmt(xs[0], digits) : `${fmt(median(xs), digits)} (${fmt(Math.min(...xs), digits)}–${fmt(Math.max(...xs), digits)})`;
const ratio = (a: number | undefined, b: number | undefined, digits = 2): string =>
  a === undefined || b === undefined || !b ? '–' : `${(a / b).toFixed(digits)}×`;
const percent = (a: number | undefined, b: number | undefined): string => (a === undefined || b === undefined || !b ? '–' : `${((100 * a) / b).toFixed(0)}%`);
const sizeLabel = (bytes: number): string =>
  bytes >= 1048576 && bytes % 1048576 === 0 ? `${bytes / 1048576} MB` : bytes % 1024 === 0 ? `${bytes / 1024} KB` : `${bytes} B`;
const scenarioLabel = (sc: Scenario): string => `${sc.id}: ${sc.messages} × ${sizeLabel(sc.size)}, ${sc.title}`;
const msgDigits = (sc: Scenario): number => (sc.size >= 100000 ? 1 : 0);

function table(results: RunResult[], probes: ProbeResult[]): string {
  const head =
    '| scenario | system | runs ok | accepted msg/s | end-to-end msg/s | accepted, % of raw fsync | idle RSS MB | peak RSS MB | idle ΣPSS MB | peak ΣPSS MB | CPU s / 1000 msgs |';
  const rule = '|---|---|---|---|---|---|---|---|---|---|---|';
  const rows: string[] = [head, rule];
  for (const sc of SCENARIOS) {
    const label = scenarioLabel(sc);
    const d = msgDigits(sc);
    const raw = probesOf(probes, sc);
    const sums = new Map(SYSTEMS.map((s) => [s, summarize(results, sc, s)] as const));
    for (const system of SYSTEMS) {
      const s = sums.get(system)!;
      const runs = s.total ? `${s.ok}/${s.total}` : 'skipped';
      const failed = s.ok === 0 && s.total > 0 ? ' **FAILED**' : '';
      const ofRaw = system === 'direct' ? '' : percent(med(s.accept), med(raw));
      rows.push(
        `| ${label} | ${SYSTEM_NAME[system]}${failed} | ${runs} | ${rate(s.accept, d)} | ${rate(s.e2e, d)} | ${ofRaw} | ${fmt(s.idleRssMb, 1)} | ${fmt(s.rssMb, 1)} | ${fmt(s.idlePssMb, 1)} | ${fmt(s.pssMb, 1)} | ${fmt(s.cpuPer1000, 2)} |`,
      );
    }
    rows.push(
      `| ${label} | raw write+fsync+rename, ${sc.sessions} writer${sc.sessions > 1 ? 's' : ''} (files/s) | ${raw.length} | ${rate(raw, d)} | | | | | | | |`,
    );
    const rb = sums.get('relaybox');
    const pf = sums.get('postfix');
    for (const [other, name] of [
      [pf, 'Postfix'],
      [sums.get('haraka'), 'Haraka'],
    ] as const) {
      if (!rb || !other) continue;
      const e2e = ratio(med(rb.e2e), med(other.e2e));
      rows.push(
        `| ${label} | **relaybox / ${name}** | | ${ratio(med(rb.accept), med(other.accept))} | ${name === 'Postfix' ? `**${e2e}**` : e2e} | | ${ratio(rb.idleRssMb, other.idleRssMb)} | ${ratio(rb.rssMb, other.rssMb)} | ${ratio(rb.idlePssMb, other.idlePssMb)} | ${ratio(rb.pssMb, other.pssMb)} | ${ratio(rb.cpuPer1000, other.cpuPer1000)} |`,
      );
    }
  }
  return rows.join('\n');
}

/** The issue's targets, met or missed, from the medians. */
const ratioOf = (a: number | undefined, b: number | undefined): number | undefined => (a !== undefined && b ? a / b : undefined);

function targets(results: RunResult[], probes: ProbeResult[]): string {
  const lines: string[] = [];
  const verdict = (ok: boolean | undefined): string => (ok === undefined ? 'no figure' : ok ? 'met' : '**missed**');
  if (SYSTEMS.includes('relaybox') && SYSTEMS.includes('postfix')) {
    const at = SCENARIOS.filter((sc) => sc.size === SMALL && sc.sessions >= 10);
    const parts = at.map((sc) => {
      const r = med(summarize(results, sc, 'relaybox').e2e);
      const p = med(summarize(results, sc, 'postfix').e2e);
      const x = r !== undefined && p ? r / p : undefined;
      return `${sc.id} ${x === undefined ? '–' : `${x.toFixed(2)}×`} (${verdict(x === undefined ? undefined : x >= 2)})`;
    });
    if (parts.length) lines.push(`- End to end at least 2× Postfix at 10 and 50 clients (${sizeLabel(SMALL)}): ${parts.join(', ')}.`);
  }
  if (SYSTEMS.includes('relaybox')) {
    const parts = SCENARIOS.map((sc) => {
      const a = med(summarize(results, sc, 'relaybox').accept);
      const raw = med(probesOf(probes, sc));
      const x = a !== undefined && raw ? a / raw : undefined;
      return `${sc.id} ${x === undefined ? '–' : `${(100 * x).toFixed(0)}%`} (${verdict(x === undefined ? undefined : x >= 0.6)})`;
    });
    lines.push(`- relaybox's accepted rate at least 60% of the raw write+fsync+rename files/s with as many writers as clients: ${parts.join(', ')}.`);
    if (SYSTEMS.includes('postfix')) {
      const big = SCENARIOS.filter((sc) => sc.size === BIG);
      const e2e = big.map((sc) => {
        const x = ratioOf(med(summarize(results, sc, 'relaybox').e2e), med(summarize(results, sc, 'postfix').e2e));
        return `${sc.id} ${x === undefined ? '–' : `${x.toFixed(2)}×`} (${verdict(x === undefined ? undefined : x >= 1.5)})`;
      });
      const cpu = big.map((sc) => {
        const x = ratioOf(summarize(results, sc, 'relaybox').cpuPer1000, summarize(results, sc, 'postfix').cpuPer1000);
        return `${sc.id} ${x === undefined ? '–' : `${x.toFixed(2)}×`} Postfix's (${verdict(x === undefined ? undefined : x <= 1)})`;
      });
      if (big.length)
        lines.push(
          `- ${sizeLabel(BIG)} messages at least 1.5× Postfix end to end: ${e2e.join(', ')}; CPU per message no more than Postfix's: ${cpu.join(', ')}.`,
        );
    }
    const rss = SCENARIOS.map((sc) => ({ sc, mb: summarize(results, sc, 'relaybox').rssMb })).filter((x) => x.mb !== undefined);
    if (rss.length) {
      const worst = rss.reduce((a, b) => (b.mb! > a.mb! ? b : a));
      const idle = defined(SCENARIOS.map((sc) => summarize(results, sc, 'relaybox').idleRssMb));
      lines.push(
        `- Peak RSS at most 80 MB: highest median peak ${fmt(worst.mb, 1)} MB (${worst.sc.id}) (${verdict(worst.mb! <= 80)}); ` +
          `per scenario ${rss.map((x) => `${x.sc.id} ${fmt(x.mb, 0)}`).join(', ')} MB.`,
      );
      lines.push(`- Idle RSS after start-up at most 45 MB: ${idle.length ? `${fmt(median(idle), 1)} MB (${verdict(median(idle) <= 45)})` : 'no figure'}.`);
    }
    if (idleConnections.length) {
      const rb = idleConnections.find((c) => c.system === 'relaybox');
      lines.push(
        `- Memory per idle connection at most 10 KB: ${rb ? `${fmt(rb.kbPerConnection, 1)} KB (${verdict(rb.kbPerConnection <= 10)})` : 'no figure'}.`,
      );
    }
  }
  return lines.join('\n');
}

function chart(results: RunResult[], probes: ProbeResult[]): string | null {
  const clients = [1, 10, 50];
  const panels = ([false, true] as const).map((reuse) => {
    const scs = clients.map((n) => SCENARIOS.find((sc) => sc.size === SMALL && sc.sessions === n && sc.reuse === reuse));
    const point = (xs: number[] | undefined) => (xs?.length ? { y: median(xs), lo: Math.min(...xs), hi: Math.max(...xs) } : undefined);
    const colors: Record<System, string> = { relaybox: '#d62728', postfix: '#1f77b4', haraka: '#9467bd', direct: '#2ca02c' };
    const series: Series[] = SYSTEMS.map((system) => ({
      name: `${SYSTEM_NAME[system]}, end to end`,
      color: colors[system],
      points: scs.map((sc) => (sc ? point(summarize(results, sc, system).e2e) : undefined)),
    }));
    series.push({
      name: 'raw write+fsync+rename files/s, as many writers as clients',
      color: '#7f7f7f',
      dashed: true,
      points: scs.map((sc) => (sc ? point(probesOf(probes, sc)) : undefined)),
    });
    return { title: reuse ? 'connection reused' : 'one connection per message', series, used: scs.some(Boolean) };
  });
  if (!panels.some((p) => p.used)) return null;
  return throughputChart({
    title: `Store-and-forward throughput, ${sizeLabel(SMALL)} messages, loopback`,
    subtitle: `medians of up to ${RUNS} runs (bars: min–max); log scale`,
    xLabels: clients.map(String),
    xTitle: 'concurrent clients',
    yTitle: 'messages/s (end to end)',
    panels: panels.filter((p) => p.used).map(({ title, series }) => ({ title, series })),
  });
}

function rawTable(results: RunResult[]): string {
  const rows = [
    '| round | scenario | system | accept s | end-to-end s | CPU s | CPU s / end-to-end s | idle RSS MB | peak RSS MB | peak ΣPSS MB | max processes | result |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  const mb = (kb: number | undefined) => fmt(kb !== undefined ? kb / 1024 : undefined, 1);
  for (const r of results) {
    rows.push(
      `| ${r.round} | ${r.scenario} | ${r.system} | ${fmt(r.acceptSec, 2)} | ${fmt(r.e2eSec, 2)} | ${fmt(r.cpuSec, 2)} | ${r.cpuSec !== undefined && r.e2eSec ? fmt(r.cpuSec / r.e2eSec, 2) : '–'} | ${mb(r.idleRssKb)} | ${mb(r.peakRssKb)} | ${mb(r.peakPssKb)} | ${r.peakProcesses ?? '–'} | ${r.ok ? 'ok' : `FAILED: ${r.error}`}${r.notes.length ? `; ${r.notes.join('; ')}` : ''} |`.replace(
        /\n/g,
        ' ',
      ),
    );
  }
  return rows.join('\n');
}

function probeTable(probes: ProbeResult[]): string {
  const rows = ['| round | file size | writers | files/s |', '|---|---|---|---|'];
  for (const p of probes) rows.push(`| ${p.round} | ${sizeLabel(p.size)} | ${p.writers} | ${fmt(p.filesPerSec)} |`);
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
    ...(SYSTEMS.includes('haraka') ? { haraka: `${ensureHaraka()} (npm, in /var/cache/relaybox-bench/haraka)` } : {}),
    relaybox: (() => {
      try {
        return `${JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version} (git ${sh('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'])}${sh('git', ['-C', ROOT, 'status', '--porcelain', '--', 'src']) ? ', src modified' : ''})`;
      } catch {
        return 'unknown';
      }
    })(),
    filesystem: `${fs[1] ?? '?'} on ${fs[0] ?? '?'} (mounted at ${fs[6] ?? '?'}), work dir ${path.dirname(WORK!)}`,
  };
}

function commandLine(): string {
  const vars = Object.keys(process.env)
    .filter((k) => k.startsWith('BENCH_'))
    .sort()
    .map((k) => `${k}=${process.env[k]}`);
  return [...vars, 'make bench'].join(' ');
}

function report(
  results: RunResult[],
  probes: ProbeResult[],
  office: OfficeResult[],
  info: Record<string, string>,
  date: string,
  totalSec: number,
  skipped: string[],
  load: { start: string; end: string },
  svgName: string | null,
  profileText: string | null,
): string {
  const failures = results.filter((r) => !r.ok);
  const notes = results.filter((r) => r.notes.length);
  return `# Benchmarks: relaybox vs Postfix and Haraka vs the machine's limits

Generated by \`${commandLine()}\` (\`scripts/bench/run\`) on ${date}, in ${totalSec.toFixed(0)} s.
Load average before / after: ${load.start} / ${load.end}. If the machine was shared with other work, figures are noisy:
compare the ratios within one run more than absolute values across runs.

## Targets

${targets(results, probes) || '(no figures)'}

${svgName ? `![throughput against concurrency](${svgName})\n` : ''}
## Results

Medians of ${RUNS} run${RUNS === 1 ? '' : 's'} per cell (min–max in brackets). In every round each scenario runs the raw fsync measurement and then
every system, relaybox, Postfix, Haraka and direct interleaved (the order rotates from round to round), then round 2 ...

${table(results, probes)}

- **accepted msg/s**: messages / time from starting \`smtp-source\` until it exits (all messages answered 250 by the relay).
- **end-to-end msg/s**: messages / time from starting \`smtp-source\` until the sink has received all of them.
- **direct (smtp-source → smtp-sink)**: the same client sending straight to the same sink, no relay in between: the most
  the load generator and the sink manage on this machine. A relay can at best approach it.
- **raw write+fsync+rename**: files/s that this filesystem makes durable (create a file of the message size, write,
  fsync, close, rename, fsync the directory: scripts/bench/fsync-probe.ts, ${PROBE_SECONDS} s) with as many concurrent
  writers as the scenario has clients; measured in the same round just before the scenario's runs. **accepted, % of raw
  fsync** is the relay's accepted msg/s as a share of it. A relaybox commit costs two file fsyncs (content, envelope) plus a
  directory fsync shared by concurrent commits; Postfix's cleanup fsyncs one queue file per message.
- **idle RSS / idle ΣPSS**: the relay's processes after start-up, just before the load starts (relaybox: its one process;
  Postfix: master, qmgr, pickup ... at that moment).
- **peak RSS**: relaybox: \`VmHWM\` of its one process (/proc/<pid>/status, exact peak). Postfix: the largest sum of
  \`VmRSS\` over all its processes (master and everything below it), sampled every 200 ms: misses short peaks, and
  counts shared pages (libraries) once per process, so it overstates Postfix's real footprint.
- **peak ΣPSS**: the same 200 ms sampling for both, of \`Pss\` from /proc/<pid>/smaps_rollup (shared pages divided
  among the processes sharing them): the fairer memory comparison.
- **CPU s / 1000 msgs**: utime+stime from /proc/<pid>/stat, from just before \`smtp-source\` starts until the queue
  is empty after the sink has everything (start-up excluded). relaybox: its one process (all its threads). Postfix:
  the master's process tree, i.e. master utime+stime plus its cutime+cstime (the smtpd, cleanup, smtp ... processes
  that exited and were reaped during the run) plus utime+stime+cutime+cstime of every live process below the master.
  The client (smtp-source), the sink and the harness are not counted.

${
  profileText
    ? `## Where relaybox's time goes

After the rounds, one more relaybox run (${env('BENCH_PROFILE_MESSAGES', 5000)} messages of the ${process.env.BENCH_PROFILE_SCENARIO ?? 'conn10'} scenario)
under \`node --cpu-prof\` (the profiler itself costs a little; \`make profile\` repeats this alone). Self time is the
function itself; "including what they call" charges node internals and native code (socket writes, fs calls) to the nearest
relaybox or package function on the stack; callbacks from the event loop with none on their stack stay with node.

\`\`\`
${profileText.trim()}
\`\`\`

`
    : ''
}## Machine

| | |
|---|---|
${Object.entries(info)
  .map(([k, v]) => `| ${k} | ${v} |`)
  .join('\n')}

## Workload and fairness

- Client: Postfix's \`smtp-source -s <clients> -m <messages> -l <size> -M client.bench.invalid -f a@example.com -t b@example.com
  [-d] 127.0.0.1:<port>\`: one recipient per message, <size> bytes of body plus smtp-source's few header lines. No pipelining
  (smtp-source does not pipeline). With \`-d\` ("connection reused") each session sends message after message over one
  connection; without it every message is a connection of its own (connect, EHLO, MAIL, RCPT, DATA, QUIT).
- Sink: Postfix's \`smtp-sink -c\` on 127.0.0.1 (C, discards messages, announces PIPELINING): the same for every system,
  a fresh one per run; its \`mesg=\` counter (updated at every ".") tells when everything has arrived.
- Same machine, loopback only, same filesystem for the relaybox spool, the Postfix queue and the raw fsync measurement, a
  fresh spool/queue and fresh relay process(es) for every run. Both relays answer 250 only after the message is on disk and
  fsync'd.
- relaybox: \`node dist/relaybox.js --no-daemon --user root --port P --interface 127.0.0.1 --spool-dir <fresh dir>
  --forward-to 127.0.0.1:<sink> ${RELAYBOX_FORWARDING.join(' ')} --max-connections-per-address 0\` (no --log: only warnings/errors are
  logged, to a file; no per-address connection limit, since every client is 127.0.0.1 and the default of 20 would turn
  clients away at 50, while Postfix exempts its mynetworks from its own limit). ${RELAYBOX_PROCESSES > 1 ? `\`--processes ${RELAYBOX_PROCESSES}\`: a supervisor and ${RELAYBOX_PROCESSES} relay processes sharing the port and the spool, each with its own event loop and libuv thread pool; CPU and memory are summed over all of them.` : "One process (one event loop plus libuv's thread pool, 16 threads, for file system calls)."} ${
    RELAYBOX_FORWARDING.includes('--forward-on-commit')
      ? 'Each message joins the forwarding run as soon as it is committed (`--forward-on-commit`); the run opens another upstream session while messages wait, up to `--forward-connections`.'
      : 'It forwards when a client disconnects (so with reused connections forwarding starts when the sessions end).'
  }
- Postfix: a private instance (own config_directory, queue_directory, data_directory in the work dir; \`postfix -c <dir>
  start\`), an smtpd on 127.0.0.1:<port>, \`relayhost = [127.0.0.1]:<sink>\`, \`mydestination =\` (no local delivery),
  \`mynetworks = 127.0.0.0/8\`, no DNS (\`smtp_dns_support_level = disabled\`, \`disable_dns_lookups = yes\`, \`smtp_host_lookup
  = native\`), \`smtpd_peername_lookup = no\` (relaybox does no reverse lookups either), no chroot. Everything else is
  Postfix's default: queue files fsync'd, delivery starts as soon as a message is queued, up to 20 parallel deliveries
  to the relayhost with connection caching, smtpd flow control (in_flow_delay 1 s), one process per smtpd session
  (up to 100), so Postfix can use both cores. Postfix logs every message to syslog (${
    existsSync('/dev/log') ? '/dev/log exists here, a syslog daemon receives them' : 'this machine has no /dev/log, so its log lines are formatted and dropped'
  }).
- Haraka (the other Node.js MTA; version in the machine table, installed from npm outside the tree on first use): a private
  configuration in the work dir (scripts/bench/haraka.ts), Haraka's defaults (one process; \`smtp.ini\` nodes unset) plus
  \`listen=127.0.0.1:<port>\`, the relay plugin with \`acl=true\` and \`relay_acl_allow = 127.0.0.0/8\`, and a plugin of ours that
  answers \`lookup_rdns\` (no reverse DNS, as the others) and \`get_mx\` (every message to the sink, no DNS). Relayed mail goes
  into Haraka's outbound queue on disk and is delivered from there (outbound's default concurrency, up to 100). **Haraka does
  not fsync its queue files** (write and rename only), so its 250 is not durable as relaybox's and Postfix's are, and its
  accepted rate is not bounded by the disk. Its peak RSS is the sampled sum over its processes, as for Postfix.
- The harness (node), smtp-source and smtp-sink run on the same ${info.nproc} cores and compete with the relay for CPU.
- Scenarios (BENCH_ONLY picks some): ${ALL_SCENARIOS.map((s) => `${s.id} (${s.messages} × ${sizeLabel(s.size)}, ${s.title})`).join('; ')}.
  Message counts: BENCH_MESSAGES (all 2 KB scenarios), or BENCH_CONN1_MESSAGES, BENCH_CONN10_MESSAGES, BENCH_CONN50_MESSAGES,
  BENCH_REUSE_MESSAGES (5000 each); BENCH_BIG_MESSAGES (200); sizes BENCH_SIZE (2048), BENCH_BIG_SIZE (1048576); BENCH_RUNS
  rounds (3); BENCH_SYSTEMS a subset of relaybox,postfix,haraka,direct.
- Time bound: no run is started once BENCH_BUDGET_SECONDS (default ${DEFAULT_BUDGET_SECONDS}) have passed; a full run takes
  about 25 to 35 minutes on a quiet 2-core machine, so the budget only cuts a slow one short, and then the last round's remaining
  cells have fewer runs (listed under Skipped); each run has its own timeout as well.
- \`make profile\` runs one relaybox scenario (10 clients, one connection per message) under \`node --cpu-prof\` and prints where
  its main thread's time goes, grouped by module (scripts/bench/cpuprofile.ts).

## Per run

"CPU s / end-to-end s" is the number of cores the relay kept busy on average (relaybox: 1.0 means one core's worth, its
event loop plus file system threads; it cannot use much more than one core for JavaScript).

${rawTable(results)}

## Office: ${OFFICE.devices} devices and a slow upstream

Each of ${OFFICE.devices} devices connects every ${OFFICE.minGapMs / 1000}–${OFFICE.maxGapMs / 1000} s (a fixed pseudo-random schedule, the same for
every system) and sends one ${OFFICE.bytes / 1000} KB scan without pipelining, for ${OFFICE.seconds} s. The upstream (scripts/bench/devices.ts, in the
harness) waits ${OFFICE.delayMs} ms before each of its replies, as a provider's server across the internet does, and advertises
PIPELINING. Latency is per message, from the relay's 250 to the device until the upstream's 250 for that message; a
message not delivered ${OFFICE.drainSeconds} s after the last scan was accepted is counted as not delivered. Once per system,
after round 1.

${officeTable(office)}

## Idle connections

Connections opened one after another, each taken to its EHLO reply and then left idle; the RSS the relay's processes gain
(sum of VmRSS, after it has settled), divided by the number of connections. Once per system, after round 1. Before the
baseline, ${WARM_UP} sessions are opened to their EHLO reply and closed, so that what a relay loads once (relaybox: V8's
optimising compiler, about 3.7 MB of the node binary's pages) is not counted per connection.

${idleConnectionTable()}

Raw write+fsync+rename:

${probeTable(probes)}
${failures.length ? `\n### Failures\n\n${failures.map((r) => `- ${r.system}, ${r.scenario}, round ${r.round}: ${r.error}`).join('\n')}\n` : ''}${skipped.length ? `\n### Skipped\n\n${skipped.map((s) => `- ${s}`).join('\n')}\n` : ''}${notes.length ? `\n### Notes\n\n${notes.map((r) => `- ${r.system}, ${r.scenario}, round ${r.round}: ${r.notes.join('; ')}`).join('\n')}\n` : ''}`;
}

function checkSystemPostfix(): void {
  const pfMaster = '/var/spool/postfix/pid/master.pid';
  if (existsSync(pfMaster)) {
    const pid = Number(readFileSync(pfMaster, 'utf8').trim());
    const st = pid ? readStat(pid) : null;
    if (st && st.comm === 'master' && st.state !== 'Z') {
      say(`note: the system-wide Postfix is running (master pid ${pid}); it is not measured: only the private instance's process tree and port are`);
    }
  }
}

const loadavg = (): string =>
  os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

/**
 * `make profile`, and the last step of `make bench`: one relaybox run under `node --cpu-prof`, and
 * where its main thread's time went. Returns the report (also kept in var/profile/ with the profile).
 */
async function profile(): Promise<string> {
  const id = process.env.BENCH_PROFILE_SCENARIO ?? 'conn10';
  const base = ALL_SCENARIOS.find((s) => s.id === id);
  if (!base) throw new Error(`BENCH_PROFILE_SCENARIO: no scenario "${id}"`);
  const sc: Scenario = { ...base, messages: env('BENCH_PROFILE_MESSAGES', 5000) };
  const profDir = path.join(WORK!, 'cpuprofile');
  mkdirSync(profDir, { recursive: true });
  say(`profiling relaybox: ${scenarioLabel(sc)}, under node --cpu-prof (load average ${loadavg()})`);
  const r = await runOnce('relaybox', sc, 1, ['--cpu-prof', '--cpu-prof-dir', profDir]);
  if (!r.ok) throw new Error(`the profiled run failed: ${r.error}`);
  say(
    `accept ${fmt(sc.messages / r.acceptSec!)}/s, end-to-end ${fmt(sc.messages / r.e2eSec!)}/s, CPU ${fmt(r.cpuSec, 2)} s ` +
      `(${fmt((r.cpuSec! / sc.messages) * 1000, 2)} ms per message, all threads), peak RSS ${fmt(r.peakRssKb! / 1024, 1)} MB${r.notes.length ? ` (${r.notes.join('; ')})` : ''}`,
  );
  const files = readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile'));
  if (files.length !== 1) throw new Error(`expected one .cpuprofile in ${profDir}, found ${files.length} (did relaybox exit cleanly?)`);
  const file = path.join(profDir, files[0]);
  const keepDir = path.join(ROOT, 'var/profile');
  mkdirSync(keepDir, { recursive: true });
  const stamp = new Date()
    .toISOString()
    .replace(/[:.]/g, '-')
    .replace(/-\d+Z$/, 'Z');
  const kept = path.join(keepDir, `relaybox-${sc.id}-${stamp}.cpuprofile`);
  copyFileSync(file, kept);
  copyFileSync(BUNDLE, kept.replace(/\.cpuprofile$/, '.bundle.js')); // the line numbers refer to this build
  const rep = analyze(JSON.parse(readFileSync(file, 'utf8')), BUNDLE, sc.messages);
  const text =
    `relaybox CPU profile: ${scenarioLabel(sc)}; ${new Date().toISOString()}; load average ${loadavg()} at the end\n` +
    `relay process: ${fmt(r.cpuSec, 2)} s CPU (all threads), ${fmt((r.cpuSec! / sc.messages) * 1000, 2)} ms per message; ` +
    `accepted ${fmt(sc.messages / r.acceptSec!)}/s, end to end ${fmt(sc.messages / r.e2eSec!)}/s (with the profiler on)\n${rep.text}\n`;
  writeFileSync(kept.replace(/\.cpuprofile$/, '.txt'), text);
  console.log(`\n${text}`);
  console.log(
    `profile kept: ${path.relative(process.cwd(), kept)} (open it in Chrome DevTools > Performance, or:\n` +
      `  node --import tsx scripts/bench/cpuprofile.ts ${path.relative(process.cwd(), kept)} ${path.relative(process.cwd(), kept.replace(/\.cpuprofile$/, '.bundle.js'))} ${sc.messages})`,
  );
  return text;
}

async function main(): Promise<void> {
  const date = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const loadStart = loadavg();
  checkSystemPostfix();
  if (PROFILE) {
    await profile();
    return;
  }
  const info = machine();
  say(`machine: ${info.nproc} cores, ${info.cpu}, ${info.kernel}, node ${info.node}, postfix ${info.postfix}; load average ${loadStart}`);
  say(
    `work dir ${WORK}; ${RUNS} rounds of: ${SCENARIOS.map((s) => `${s.id} (${s.messages} × ${sizeLabel(s.size)})`).join(', ')}; systems ${SYSTEMS.join(', ')}; budget ${BUDGET_MS / 1000} s`,
  );

  const results: RunResult[] = [];
  const probes: ProbeResult[] = [];
  const skipped: string[] = [];
  const dead = new Set<string>();
  const office: OfficeResult[] = [];
  for (let round = 1; round <= RUNS; round++) {
    if (round === 2) {
      await officeRound(office, skipped);
      await idleConnectionRound(skipped);
    }
    const probedThisRound = new Set<string>();
    // Rotate the order of the systems from round to round, so none always runs first or last.
    const order = SYSTEMS.map((_, i) => SYSTEMS[(i + round - 1) % SYSTEMS.length]);
    for (const sc of SCENARIOS) {
      if (now() - started > BUDGET_MS) {
        skipped.push(`${sc.id}, round ${round}: time budget (BENCH_BUDGET_SECONDS=${BUDGET_MS / 1000}) used up`);
        continue;
      }
      const key = probeKey(sc);
      if (!probedThisRound.has(key)) {
        probedThisRound.add(key);
        const filesPerSec = await fsyncFilesPerSec(WORK!, PROBE_SECONDS, sc.size, sc.sessions);
        probes.push({ key, size: sc.size, writers: sc.sessions, round, filesPerSec });
        say(`round ${round} raw write+fsync+rename, ${sizeLabel(sc.size)}, ${sc.sessions} writers: ${fmt(filesPerSec)} files/s`);
      }
      for (const system of order) {
        const k = `${system}/${sc.id}`;
        if (dead.has(k)) {
          skipped.push(`${system}, ${sc.id}, round ${round}: an earlier run failed`);
          continue;
        }
        if (now() - started > BUDGET_MS) {
          skipped.push(`${system}, ${sc.id}, round ${round}: time budget (BENCH_BUDGET_SECONDS=${BUDGET_MS / 1000}) used up`);
          continue;
        }
        const r = await runOnce(system, sc, round);
        results.push(r);
        const d = msgDigits(sc);
        if (r.ok) {
          say(
            `round ${round} ${sc.id.padEnd(7)} ${system.padEnd(8)}: accept ${fmt(sc.messages / r.acceptSec!, d)}/s, end-to-end ${fmt(sc.messages / r.e2eSec!, d)}/s` +
              (system === 'direct'
                ? ''
                : `, CPU ${fmt(r.cpuSec, 2)} s, idle RSS ${fmt(r.idleRssKb! / 1024, 1)} MB, peak RSS ${fmt(r.peakRssKb! / 1024, 1)} MB, ΣPSS ${fmt(r.peakPssKb! / 1024, 1)} MB`) +
              (r.notes.length ? ` (${r.notes.join('; ')})` : ''),
          );
        } else {
          dead.add(k);
          say(`round ${round} ${sc.id.padEnd(7)} ${system.padEnd(8)}: FAILED: ${r.error}${r.notes.length ? ` (${r.notes.join('; ')})` : ''}`);
        }
      }
    }
  }
  if (RUNS === 1) {
    await officeRound(office, skipped);
    await idleConnectionRound(skipped);
  }
  // Where relaybox's time goes, for the note on any missed target (BENCH_NO_PROFILE=1 skips it).
  let profileText: string | null = null;
  if (SYSTEMS.includes('relaybox') && process.env.BENCH_NO_PROFILE !== '1') {
    profileText = await profile().catch((e: Error) => `(the profiled run failed: ${e.message})`);
  }
  const svg = chart(results, probes);
  mkdirSync(path.dirname(OUT), { recursive: true });
  if (svg) writeFileSync(SVG, svg);
  const md = report(
    results,
    probes,
    office,
    info,
    date,
    (now() - started) / 1000,
    skipped,
    { start: loadStart, end: loadavg() },
    svg ? path.basename(SVG) : null,
    profileText,
  );
  writeFileSync(OUT, md);
  console.log(`\n${table(results, probes)}\n\n${officeTable(office)}\n\n${idleConnectionTable()}\n\n${targets(results, probes)}\n`);
  console.log(
    `method, fairness notes and per-run figures: ${path.relative(process.cwd(), OUT) || OUT}${svg ? `; chart: ${path.relative(process.cwd(), SVG) || SVG}` : ''}`,
  );
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
