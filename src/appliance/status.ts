// STATUS.txt on the boot partition: what a headless user needs to know, rewritten only when it
// changes. The import writes its part at boot; `relaybox-appliance status` adds the live part.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodeEnvelope, reasons } from '../spool/envelope';
import { contentName, parseSpoolName } from '../spool/names';
import type { Section } from './section';
import { forWindows } from './text';
import { writeIfChanged } from './fsutil';
import { deliveryAdvice } from './plain-words';
import type { LastDelivery } from '../health/last-delivery';

export interface QueueSummary {
  waiting: number;
  failed: number;
  /** The newest delivery error recorded in any envelope. */
  lastError?: string;
  /** The newest failed message's error. */
  failedError?: string;
  /** How long the oldest message that has been tried and is still waiting has waited (ms). */
  oldestDeferredMs?: number;
}

const errorText = (r: { code?: string | number; reason: string }) => `${r.code ? `${r.code} ` : ''}${r.reason}`;

/** Count the spool's messages and find the newest delivery errors recorded in the envelopes. */
export function summariseSpool(spoolDir: string, now = Date.now()): QueueSummary {
  const q: QueueSummary = { waiting: 0, failed: 0 };
  let names: string[];
  try {
    names = fs.readdirSync(spoolDir);
  } catch {
    return q;
  }
  let newest = -1;
  let newestFailed = -1;
  for (const name of names) {
    const parsed = parseSpoolName(name);
    if (parsed?.kind !== 'envelope' || parsed.state === 'new') continue;
    const bad = parsed.state === 'bad';
    if (bad) q.failed++;
    else q.waiting++;
    try {
      const file = path.join(spoolDir, name);
      const st = fs.statSync(file);
      const last = reasons(decodeEnvelope(fs.readFileSync(file))).at(-1);
      if (!last) continue;
      if (st.mtimeMs > newest) {
        newest = st.mtimeMs;
        q.lastError = errorText(last);
      }
      if (bad && st.mtimeMs > newestFailed) {
        newestFailed = st.mtimeMs;
        q.failedError = errorText(last);
      }
      if (!bad) {
        // The content file is written once, when the message arrives; the envelope at each attempt.
        const received = fs.statSync(path.join(spoolDir, contentName(parsed.id))).mtimeMs;
        q.oldestDeferredMs = Math.max(q.oldestDeferredMs ?? 0, now - received);
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
    (addrs ?? []).filter((a) => !a.internal && !a.address.startsWith('fe80')).map((a) => `${a.address} (${nic})`),
  );
}

/** What the relay is doing now, read by `relaybox-appliance status` (absent at boot, before it starts). */
export interface LiveState {
  answering: boolean;
  queue: QueueSummary;
  last?: LastDelivery;
  /** Mailboxes whose secrets line signs in from the box's page and that have not signed in. */
  notSignedIn: string[];
}

const LONG_DEFERRED_MS = 3600_000;
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** STATUS.txt's first line: OK only when the last delivery worked and nothing has failed. */
export function headline(sections: Section[], live?: LiveState): string {
  const attention: string[] = [];
  const bad = sections.filter((s) => !s.ok && s.title !== 'Relay' && s.title !== 'Hardware').map((s) => s.title);
  if (bad.length) attention.push(`the settings on the card: ${bad.join('; ')}`);
  const hardware = sections.find((s) => s.title === 'Hardware' && !s.ok);
  if (hardware) attention.push('the hardware (power supply, temperature or storage): see Hardware below');
  if (live) {
    if (!live.answering) attention.push('the relay does not answer on its SMTP port');
    for (const m of live.notSignedIn) attention.push(`${m} has not signed in yet: sign in from the box's page`);
    if (live.queue.failed) {
      attention.push(`${plural(live.queue.failed, 'message')} failed${live.queue.failedError ? `: ${deliveryAdvice(live.queue.failedError)}` : ''}`);
    } else if (live.last && live.last.outcome !== 'forwarded') {
      attention.push(
        `the last attempt to forward a message failed: ${deliveryAdvice(`${live.last.code ? `${live.last.code} ` : ''}${live.last.reason ?? 'no reason given'}`)}`,
      );
    }
    if ((live.queue.oldestDeferredMs ?? 0) > LONG_DEFERRED_MS) {
      attention.push(
        `messages have waited for over ${Math.floor(live.queue.oldestDeferredMs! / 3600_000)} hour(s)${live.queue.lastError ? `: ${deliveryAdvice(live.queue.lastError)}` : ''}`,
      );
    }
  } else if (sections.find((s) => s.title === 'Relay')?.ok === false) {
    attention.push('the relay is not running');
  }
  if (attention.length) return `PROBLEM: ${attention.join('. Also: ')} (details below)`;
  if (!live) return 'STARTING: the settings were accepted and the relay is starting; this file is written again within a few minutes';
  if (live.last?.outcome === 'forwarded') return `OK: the last message was forwarded at ${live.last.at.replace(/\.\d+Z$/, 'Z')} and nothing has failed`;
  return 'NOT TESTED YET: the settings were accepted and the relay runs, but no message has been forwarded yet: send one (scan to yourself) and look again';
}

export function renderStatus(head: { version: string; bootedAt: string }, sections: Section[], live?: LiveState): string {
  const out = [headline(sections, live), '', `relaybox appliance ${head.version}: STATUS`, `Boot: ${head.bootedAt}`, ''];
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
