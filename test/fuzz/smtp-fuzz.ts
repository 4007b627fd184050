// SMTP dialogue fuzzing: sessions from the corpus, mutated (bytes inserted, lines dropped, doubled,
// swapped, cut or made huge, NUL and 8-bit bytes, bare CR and LF, broken dot-stuffing, DATA without
// an end, everything pipelined in random chunks), sent to a relay over raw TCP. Each session is
// bounded in time; the caller checks the relay afterwards.
import { readdirSync, readFileSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { seeded, type Random } from './random';

export const SMTP_CORPUS = path.join(__dirname, 'corpus', 'smtp');

export function loadCorpus(dir = SMTP_CORPUS): Buffer[] {
  return readdirSync(dir)
    .sort()
    .map((f) => readFileSync(path.join(dir, f)));
}

const NASTY = [
  '\0',
  '\r',
  '\n',
  '\r\n.\r\n',
  '.\r\n',
  '\xff',
  '\x80',
  '\x1b[0m',
  ':',
  '<',
  '>',
  '"',
  '\\',
  '@',
  ' ',
  '\t',
  '%s%n',
  'AUTH',
  'BODY=BINARYMIME',
  'SIZE=99999999999999999999',
];

function splitLines(b: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < b.length; i++)
    if (b[i] === 0x0a) {
      out.push(b.subarray(start, i + 1));
      start = i + 1;
    }
  if (start < b.length) out.push(b.subarray(start));
  return out;
}

export function mutate(seed: Buffer, r: Random): Buffer {
  let lines = splitLines(seed);
  const rounds = 1 + r.int(4);
  for (let k = 0; k < rounds; k++) {
    const i = r.int(Math.max(lines.length, 1));
    switch (r.int(10)) {
      case 0:
        lines.splice(i, 1);
        break;
      case 1:
        lines.splice(i, 0, lines[i] ?? Buffer.from('NOOP\r\n'));
        break;
      case 2: {
        const j = r.int(lines.length);
        [lines[i], lines[j]] = [lines[j]!, lines[i]!];
        break;
      }
      case 3: {
        // insert nasty bytes into a line
        const l = lines[i] ?? Buffer.alloc(0);
        const at = r.int(l.length + 1);
        lines[i] = Buffer.concat([l.subarray(0, at), Buffer.from(r.pick(NASTY), 'latin1'), l.subarray(at)]);
        break;
      }
      case 4:
        lines[i] = Buffer.concat([
          Buffer.from(r.pick(['MAIL FROM:<', 'RCPT TO:<', 'EHLO ', 'X', 'DATA ']), 'latin1'),
          Buffer.alloc(1000 + r.int(120000), r.pick([0x41, 0x00, 0xff, 0x2e])),
          Buffer.from('>\r\n'),
        ]);
        break;
      case 5:
        lines = lines.slice(0, i);
        break; // cut the session short (maybe inside DATA)
      case 6:
        lines[i] = Buffer.from((lines[i] ?? Buffer.alloc(0)).toString('latin1').replace(/\r\n$/, r.pick(['\n', '\r', '', '\r\r\n'])), 'latin1');
        break;
      case 7:
        lines.splice(i, 0, Buffer.from(r.pick(['.\r\n', '..\r\n', '. \r\n', '.x\r\n', 'DATA\r\n', 'RSET\r\n', 'QUIT\r\n']), 'latin1'));
        break;
      case 8: {
        const l = lines[i];
        if (l) lines[i] = Buffer.from(flipCase(l.toString('latin1'), r), 'latin1');
        break;
      }
      default: {
        const l = lines[i];
        if (l && l.length) {
          const c = Buffer.from(l);
          c[r.int(c.length)] = r.int(256);
          lines[i] = c;
        }
      }
    }
  }
  return Buffer.concat(lines.filter((l): l is Buffer => !!l));
}

function flipCase(s: string, r: Random): string {
  return [...s].map((c) => (r.chance(0.5) ? c.toUpperCase() : c.toLowerCase())).join('');
}

export interface FuzzStats {
  sessions: number;
  /** Sessions whose bytes were all written before the relay closed the connection. */
  completed: number;
  /** Replies seen, by first digit. */
  replies: Record<string, number>;
  seed: number;
}

/** One session: the bytes in random chunks (all pipelined), reading replies until close or the bound. */
function session(port: number, bytes: Buffer, r: Random, ms: number, stats: FuzzStats): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let got = '';
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      for (const m of got.matchAll(/^(\d)\d\d[ -]/gm)) stats.replies[m[1]!] = (stats.replies[m[1]!] ?? 0) + 1;
      resolve();
    };
    const timer = setTimeout(done, ms);
    socket.on('error', done);
    socket.on('close', done);
    socket.on('data', (d) => {
      if (got.length < 100000) got += d.toString('latin1');
    });
    socket.once('connect', async () => {
      let at = 0;
      while (at < bytes.length && !socket.destroyed) {
        const n = 1 + r.int(r.chance(0.2) ? 16 : 4096);
        socket.write(bytes.subarray(at, at + n));
        at += n;
        if (r.chance(0.05)) await new Promise((x) => setTimeout(x, r.int(20)));
      }
      if (!socket.destroyed) stats.completed++;
      if (r.chance(0.5)) socket.end(); // half the sessions hang up at once, the rest wait for the relay
    });
  });
}

export async function runSmtpFuzz(opts: { port: number; sessions: number; seed: number; concurrency?: number; sessionMs?: number }): Promise<FuzzStats> {
  const r = seeded(opts.seed);
  const corpus = loadCorpus();
  const stats: FuzzStats = { sessions: 0, completed: 0, replies: {}, seed: opts.seed };
  const concurrency = opts.concurrency ?? 8;
  let next = 0;
  const worker = async () => {
    while (next < opts.sessions) {
      next++;
      const bytes = mutate(r.pick(corpus), r);
      stats.sessions++;
      await session(opts.port, bytes, seeded(r.int(2 ** 31)), opts.sessionMs ?? 2000, stats);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return stats;
}
