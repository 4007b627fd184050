// The box's own health, from node's own calls that neither block the event loop for long nor start
// processes (reference packages.md section 6): statfs of the spool, /proc/meminfo, the load average,
// the first thermal zone (a Pi has one; many PCs and VMs have none) and the uptimes.
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';

export interface Health {
  spool: { path: string; freeBytes: number; totalBytes: number; freePercent: number } | null;
  memory: { totalBytes: number; availableBytes: number; processRssBytes: number; processHeapUsedBytes: number };
  load: [number, number, number];
  cpuTemperatureCelsius: number | null;
  systemUptimeSeconds: number;
  processUptimeSeconds: number;
}

export async function spoolSpace(dir: string): Promise<Health['spool']> {
  try {
    const s = await fsp.statfs(dir);
    const totalBytes = s.blocks * s.bsize;
    const freeBytes = s.bavail * s.bsize;
    return { path: dir, freeBytes, totalBytes, freePercent: totalBytes ? (100 * freeBytes) / totalBytes : 0 };
  } catch {
    return null;
  }
}

/** MemAvailable counts reclaimable cache, which os.freemem() does not; os.freemem() where there is no /proc. */
async function availableMemory(): Promise<number> {
  try {
    const m = /^MemAvailable:\s+(\d+) kB/m.exec(await fsp.readFile('/proc/meminfo', 'latin1'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  return os.freemem();
}

async function cpuTemperature(): Promise<number | null> {
  try {
    const milli = Number((await fsp.readFile('/sys/class/thermal/thermal_zone0/temp', 'latin1')).trim());
    return Number.isFinite(milli) ? milli / 1000 : null;
  } catch {
    return null;
  }
}

export async function readHealth(spoolDir: string): Promise<Health> {
  const mem = process.memoryUsage();
  const [spool, available, temperature] = await Promise.all([spoolSpace(spoolDir), availableMemory(), cpuTemperature()]);
  const load = os.loadavg();
  return {
    spool,
    memory: { totalBytes: os.totalmem(), availableBytes: available, processRssBytes: mem.rss, processHeapUsedBytes: mem.heapUsed },
    load: [load[0]!, load[1]!, load[2]!],
    cpuTemperatureCelsius: temperature,
    systemUptimeSeconds: os.uptime(),
    processUptimeSeconds: process.uptime(),
  };
}
