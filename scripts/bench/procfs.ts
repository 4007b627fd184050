// /proc readers for the benchmark: CPU ticks, memory and process trees, and "is this port listening"
// (read from /proc/net/tcp, so that waiting for a server never opens a connection to it).
import { readFileSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

export const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

export interface Stat {
  pid: number;
  ppid: number;
  comm: string;
  state: string;
  /** utime+stime of the process itself, in clock ticks. */
  self: number;
  /** cutime+cstime: children it has waited for, in clock ticks. */
  children: number;
}

export function readStat(pid: number): Stat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  const f = text.slice(close + 2).split(' ');
  // f[0] is field 3 (state): field n is f[n - 3].
  return {
    pid,
    comm: text.slice(open + 1, close),
    state: f[0],
    ppid: Number(f[1]),
    self: Number(f[11]) + Number(f[12]),
    children: Number(f[13]) + Number(f[14]),
  };
}

export function allPids(): number[] {
  return readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .map(Number);
}

/** `root` and every process below it (one scan of /proc). */
export function processTree(root: number): Stat[] {
  const stats = allPids()
    .map(readStat)
    .filter((s): s is Stat => s !== null);
  const kids = new Map<number, Stat[]>();
  for (const s of stats) {
    const list = kids.get(s.ppid) ?? [];
    list.push(s);
    kids.set(s.ppid, list);
  }
  const rootStat = stats.find((s) => s.pid === root);
  if (!rootStat) return [];
  const out: Stat[] = [rootStat];
  for (let i = 0; i < out.length; i++) out.push(...(kids.get(out[i].pid) ?? []));
  return out;
}

/**
 * CPU ticks used so far by a process tree: every live process's own utime+stime plus the
 * cutime+cstime of each (the children it has already reaped: for Postfix, the smtpd, cleanup,
 * smtp ... processes that exited during the run are accounted to the master this way).
 */
export function treeCpuTicks(root: number): number {
  return processTree(root).reduce((sum, s) => sum + s.self + s.children, 0);
}

/** A field of /proc/<pid>/status in kB (VmRSS, VmHWM ...); 0 if the process is gone. */
export function statusKb(pid: number, field: string): number {
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Proportional set size in kB (shared pages divided among the processes sharing them). */
export function pssKb(pid: number): number {
  try {
    const m = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8').match(/^Pss:\s+(\d+) kB/m);
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** True if something listens on 127.0.0.1:port (TCP, IPv4). */
export function isListening(port: number): boolean {
  const want = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const any = `00000000:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let text: string;
  try {
    text = readFileSync('/proc/net/tcp', 'utf8');
  } catch {
    return false;
  }
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length > 3 && (f[1] === want || f[1] === any) && f[3] === '0A') return true;
  }
  return false;
}

/** Samples memory of a process set every `ms`: peak of the summed RSS and PSS, and of the count. */
export class MemorySampler {
  peakRssKb = 0;
  peakPssKb = 0;
  peakProcesses = 0;
  samples = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly pids: () => number[],
    private readonly ms = 200,
  ) {}

  sample(): void {
    let rss = 0;
    let pss = 0;
    const pids = this.pids();
    for (const pid of pids) {
      rss += statusKb(pid, 'VmRSS');
      pss += pssKb(pid);
    }
    this.samples++;
    this.peakRssKb = Math.max(this.peakRssKb, rss);
    this.peakPssKb = Math.max(this.peakPssKb, pss);
    this.peakProcesses = Math.max(this.peakProcesses, pids.length);
  }

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.ms);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.sample();
  }
}
