// Reading a relay's spool directory from tests: message files, their envelopes, the Received line.
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { decodeEnvelope, type Envelope } from '../../src/spool/envelope';

/** Message files in the spool (the relay's own dot-files, such as its lock, left out). */
export function spoolFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((n) => !n.startsWith('.'))
    .sort();
}

/** Ids of committed messages (a ready `<id>.envelope`). */
export function readyIds(dir: string): string[] {
  return spoolFiles(dir)
    .filter((n) => n.endsWith('.envelope'))
    .map((n) => n.slice(0, -'.envelope'.length));
}

export interface SpooledMessage {
  id: string;
  content: Buffer;
  envelopeText: string;
  envelope: Envelope;
}

/** A message with its envelope ready, or `.busy` (being forwarded). */
export function readMessage(dir: string, id: string, state: '' | '.busy' = ''): SpooledMessage {
  const envelopeText = readFileSync(path.join(dir, `${id}.envelope${state}`), 'utf8');
  return { id, content: readFileSync(path.join(dir, `${id}.content`)), envelopeText, envelope: decodeEnvelope(envelopeText) };
}

export function readAll(dir: string): SpooledMessage[] {
  return readyIds(dir).map((id) => readMessage(dir, id));
}

/**
 * Every stored message, ready or being forwarded (`<id>.envelope.busy`): for a relay that forwards as
 * soon as it commits, while the upstream holds the message.
 */
export function readStored(dir: string): SpooledMessage[] {
  const ids = spoolFiles(dir).flatMap((n) => /^(.+)\.envelope(\.busy)?$/.exec(n)?.[1] ?? []);
  return ids.map((id) => {
    try {
      return readMessage(dir, id);
    } catch (e) {
      // Renamed to .busy since the listing (the only move while the upstream holds it).
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      return readMessage(dir, id, '.busy');
    }
  });
}

/** Poll (every 20 ms) until `check` returns a value other than undefined/false; reject after `ms`. */
export function pollUntil<T>(what: string, check: () => T | undefined | false, ms = 10000): Promise<T> {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const tick = () => {
      const v = check();
      if (v !== undefined && v !== false) return resolve(v);
      if (Date.now() > deadline) return reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
      setTimeout(tick, 20);
    };
    tick();
  });
}

const DAY = '(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)';
const MONTH = '(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';
/** E-MailRelay's Received line: from <helo> ([<ip>]) by <domain> with ESMTP[S][A][ tls <cipher>] ; <date>. */
export const RECEIVED = new RegExp(
  `^Received: from (\\S+) \\(\\[([0-9a-fA-F.:]+)\\]\\) by (\\S+) with (ESMTPS?A?)(?: tls (\\S+))? ; (${DAY}, \\d{1,2} ${MONTH} \\d{4} \\d\\d:\\d\\d:\\d\\d [+-]\\d{4})\\r\\n`,
);

export interface ReceivedLine {
  helo: string;
  address: string;
  domain: string;
  protocol: string;
  cipher?: string;
  date: Date;
  /** The content after the Received line, byte for byte. */
  rest: Buffer;
}

/** Parse the Received line the relay prepended; null if the content does not start with one. */
export function splitReceived(content: Buffer): ReceivedLine | null {
  const nl = content.indexOf('\r\n');
  if (nl < 0) return null;
  const first = content.subarray(0, nl + 2).toString('latin1');
  const m = RECEIVED.exec(first);
  if (!m) return null;
  return { helo: m[1], address: m[2], domain: m[3], protocol: m[4], cipher: m[5], date: new Date(m[6]), rest: content.subarray(nl + 2) };
}
