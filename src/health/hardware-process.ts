// The relay's view of the hardware panel: read by a short-lived `relaybox hardware --json` process, so
// that systeminformation's blocking calls and its memory never reach the relay's own process. The
// first read is waited for up to FIRST_WAIT_MS (a Pi takes seconds to start node and read); after
// that the page gets the last read at once, and a read older than FRESH_MS starts one new read in
// the background (a storm of page refreshes starts one process).
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import type { Hardware } from './hardware';
import { startAsUser } from '../privilege';

const FRESH_MS = 10_000;
const FIRST_WAIT_MS = 3000;
const READ_TIMEOUT_MS = 30_000;

/** The command that prints the panel as JSON: this same program (the bundle) with `hardware --json`. */
const SELF = [process.execPath, ...process.execArgv, path.resolve(process.argv[1] ?? '')];

let last: { hardware: Hardware | null; at: number } | null = null;
let running: Promise<Hardware | null> | null = null;
let reads = 0;

/** Processes started to read the panel (0: systeminformation has not run for this relay). */
export function hardwareReadCount(): number {
  return reads;
}

/** One read by `<command> hardware --json <spoolDir>`; null when it failed. */
export function readHardwareInChild(spoolDir: string, command: readonly string[]): Promise<Hardware | null> {
  reads++;
  return new Promise((resolve) => {
    startAsUser((ids) =>
      execFile(
        command[0]!,
        [...command.slice(1), 'hardware', '--json', spoolDir],
        { timeout: READ_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 1 << 20, encoding: 'utf8', ...ids },
        (err, stdout) => {
          if (err) return resolve(null);
          try {
            resolve(JSON.parse(stdout) as Hardware);
          } catch {
            resolve(null);
          }
        },
      ),
    );
  });
}

function refresh(spoolDir: string, command: readonly string[]): Promise<Hardware | null> {
  running ??= readHardwareInChild(spoolDir, command).then((hardware) => {
    // A failed read keeps showing the last good one until the next try.
    last = { hardware: hardware ?? last?.hardware ?? null, at: Date.now() };
    running = null;
    return last.hardware;
  });
  return running;
}

/** The panel for the status page: null when it could not be read, 'reading' while the first read runs. */
export async function hardwarePanel(spoolDir: string, command: readonly string[] = SELF): Promise<Hardware | null | 'reading'> {
  if (!last) {
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<'reading'>((resolve) => {
      timer = setTimeout(() => resolve('reading'), FIRST_WAIT_MS);
    });
    return Promise.race([refresh(spoolDir, command), waited]).finally(() => clearTimeout(timer));
  }
  if (Date.now() - last.at >= FRESH_MS) void refresh(spoolDir, command);
  return last.hardware;
}
