// STATUS.txt on the boot partition: what a headless user needs to know, rewritten only when it
// changes. The import writes its part at boot; `relaybox-appliance status` adds the live part.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodeEnvelope, reasons } from '../spool/envelope';
import type { Section } from './boot-import';
import { forWindows } from './text';
import { writeIfChanged } from './fsutil';

export interface QueueSummary {
  waiting: number;
  failed: number;
  lastError?: string;
}

/** Count the spool's messages and find the newest delivery error recorded in an envelope. */
export function summariseSpool(spoolDir: string): QueueSummary {
  const q: QueueSummary = { waiting: 0, failed: 0 };
  let names: string[];
  try {
    names = fs.readdirSync(spoolDir);
  } catch {
    return q;
  }
  let newest = -1;
  for (const name of names) {
    const m = /\.envelope(\.busy|\.bad)?$/.exec(name);
    if (!m) continue;
    if (m[1] === '.bad') q.failed++;
    else q.waiting++;
    try {
      const file = path.join(spoolDir, name);
      const mtime = fs.statSync(file).mtimeMs;
      if (mtime <= newest) continue;
      const last = reasons(decodeEnvelope(fs.readFileSync(file))).at(-1);
      if (last) {
        newest = mtime;
        q.lastError = `${last.code ? `${last.code} ` : ''}${last.reason}`;
      }
    } catch {
      // a message being written or removed right now
    }
  }
  return q;
}

/** Connect and read the first line (an SMTP banner), or say why not. Bounded by timeoutMs. */
export function probe(host: string, port: number, timeoutMs: number): Promise<{ ok: boolean; text: string }> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    let buf = '';
    const done = (ok: boolean, text: string) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ ok, text });
    };
    const timer = setTimeout(() => done(false, `no answer within ${timeoutMs / 1000} s`), timeoutMs);
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) done(buf.startsWith('220'), buf.slice(0, nl).trim());
    });
    socket.on('error', (e) => done(false, e.message));
    socket.on('end', () => done(false, 'closed without a greeting'));
  });
}

export function lanAddresses(): string[] {
  return Object.entries(os.networkInterfaces()).flatMap(([nic, addrs]) =>
    (addrs ?? []).filter((a) => !a.internal && !a.address.startsWith('fe80')).map((a) => `${a.address} (${nic})`));
}

export function renderStatus(head: { version: string; bootedAt: string }, sections: Section[]): string {
  const problems = sections.filter((s) => !s.ok).map((s) => s.title);
  const out = [
    `relaybox appliance ${head.version}: STATUS`,
    `Boot: ${head.bootedAt}`,
    problems.length ? `PROBLEMS in: ${problems.join('; ')} (details below)` : 'Everything is in order.',
    '',
  ];
  for (const s of sections) {
    out.push(`== ${s.title}: ${s.ok ? 'OK' : 'PROBLEM'}`, ...s.lines.map((l) => `  ${l}`), '');
  }
  out.push('This file is written by the box after each start and whenever something here changes.', '');
  return out.join('\n');
}

/** Write STATUS.txt (CRLF) onto the boot partition when its content changed. */
export function writeStatus(bootDir: string, text: string): boolean {
  return writeIfChanged(path.join(bootDir, 'STATUS.txt'), forWindows(text));
}
