// The hardware panel's facts, from systeminformation (the only file that imports it). The library is
// large (about 700 KiB of the bundle) and its calls start processes with execSync, blocking the event
// loop for 0.4 to 1.5 s here (reference packages.md section 6), so it is imported only when a panel is
// read, and the relay itself never reads it: it runs `relaybox hardware --json` (hardware-process.ts).
import * as os from 'node:os';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { readThrottling, type Throttling } from './throttling';

export interface DiskSpace {
  /** What the file system holds for the user: "spool" (the data partition on the box) or "system". */
  role: 'spool' | 'system';
  mount: string;
  device: string;
  sizeBytes: number;
  freeBytes: number;
  /** Mounted read-only (the appliance's root): it cannot fill up. */
  readOnly: boolean;
}

export interface NetworkInterface {
  name: string;
  addresses: string[];
  state: string;
  mac: string;
}

export interface Hardware {
  /** "Raspberry Pi 4 Model B Rev 1.4", a PC's DMI product name, or null when nothing says. */
  board: string | null;
  socTemperatureCelsius: number | null;
  throttling: Throttling | null;
  /** The whole card (or disk) the system runs from. */
  card: { device: string; sizeBytes: number } | null;
  disks: DiskSpace[];
  interfaces: NetworkInterface[];
  uptimeSeconds: number;
  /** When this was read (ms since the epoch) and how long the read took. */
  readAt: number;
  readMs: number;
}

type Si = typeof import('systeminformation');

let loaded: Promise<Si> | null = null;

/** Whether this process has imported systeminformation (the relay never should: see /metrics). */
export function hardwareLibraryLoaded(): boolean {
  return loaded !== null;
}

function library(): Promise<Si> {
  // A dynamic import: esbuild keeps the module in the bundle but evaluates it only on this first call.
  loaded ??= import('systeminformation');
  return loaded;
}

/** The device tree's model ("Raspberry Pi 3 Model B Rev 1.2"). On a board with a device tree it is the
 * exact name; si.system() finds a Pi only through /proc/cpuinfo lines that the Raspberry Pi kernel
 * writes and Debian's kernel does not. */
async function deviceTreeModel(): Promise<string | null> {
  try {
    return (await fsp.readFile('/proc/device-tree/model', 'latin1')).replace(/\0+$/, '').trim() || null;
  } catch {
    return null;
  }
}

async function board(si: Si): Promise<string | null> {
  const dt = await deviceTreeModel();
  if (dt) return dt;
  const s = await si.system();
  return (
    [s.manufacturer, s.model]
      .map((x) => x.trim())
      .filter((x) => x && x !== '-')
      .join(' ') || null
  );
}

/** mmcblk0p2 -> mmcblk0, nvme0n1p1 -> nvme0n1, sda2 -> sda, vda -> vda. */
export function parentDisk(partition: string): string {
  return /^(mmcblk|nvme|loop)/.test(partition) ? partition.replace(/p\d+$/, '') : partition.replace(/(?<=[a-z])\d+$/, '');
}

/** The mount holding `dir`: the longest mount point that is a prefix of it. */
export function mountOf<T extends { mount: string }>(mounts: readonly T[], dir: string): T | undefined {
  const inside = (m: string) => m === '/' || dir === m || dir.startsWith(m.endsWith('/') ? m : `${m}/`);
  return mounts.filter((m) => inside(m.mount)).sort((a, b) => b.mount.length - a.mount.length)[0];
}

async function disks(si: Si, spoolDir: string): Promise<{ card: Hardware['card']; disks: DiskSpace[] }> {
  const [fs, blocks] = await Promise.all([si.fsSize(), si.blockDevices()]);
  let spoolPath = spoolDir;
  try {
    spoolPath = await fsp.realpath(spoolDir);
  } catch {
    // not there (yet): its configured path still names the mount
  }
  const system = fs.find((f) => f.mount === '/');
  const spool = mountOf(fs, spoolPath);
  const out: DiskSpace[] = [];
  const add = (role: DiskSpace['role'], f: (typeof fs)[number] | undefined) => {
    if (f) out.push({ role, mount: f.mount, device: f.fs, sizeBytes: f.size, freeBytes: f.available, readOnly: f.rw === false });
  };
  add('spool', spool);
  if (system !== spool) add('system', system);
  // The disk holding the root partition, else the one holding the spool.
  const names = [system, spool].map((f) => parentDisk(path.basename(f?.fs ?? '')));
  const disk = names.map((n) => blocks.find((b) => b.type === 'disk' && b.name === n)).find(Boolean);
  return { card: disk ? { device: disk.device || `/dev/${disk.name}`, sizeBytes: disk.size } : null, disks: out };
}

async function interfaces(si: Si): Promise<NetworkInterface[]> {
  // Addresses from node itself: the library keeps only the first IPv4 and IPv6 address of each.
  const list = await si.networkInterfaces();
  return (Array.isArray(list) ? list : [list]).map((n) => ({
    name: n.iface,
    addresses: (os.networkInterfaces()[n.iface] ?? []).map((a) => a.address),
    state: n.operstate,
    mac: n.mac,
  }));
}

async function temperature(si: Si): Promise<number | null> {
  const t = await si.cpuTemperature();
  return typeof t.main === 'number' && Number.isFinite(t.main) ? t.main : null;
}

/** Read the panel's facts now, in this process. */
export async function readHardware(spoolDir: string): Promise<Hardware> {
  const started = performance.now();
  const si = await library();
  const [b, t, throttling, d, nics] = await Promise.all([board(si), temperature(si), readThrottling(), disks(si, spoolDir), interfaces(si)]);
  return {
    board: b,
    socTemperatureCelsius: t,
    throttling,
    card: d.card,
    disks: d.disks,
    interfaces: nics,
    // si.time().uptime is os.uptime(), but si.time() also runs `date` and `ls` in a shell.
    uptimeSeconds: os.uptime(),
    readAt: Date.now(),
    readMs: Math.round(performance.now() - started),
  };
}
