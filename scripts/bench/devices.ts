// The office scenario of `make bench`: many devices, each connecting every few seconds to send one scan,
// while the upstream answers slowly. What it measures is the latency from receipt (the relay's 250 to
// the device) to delivery (the upstream's 250 for that message), per message: p50, p99, max.
//
// Both ends are here, in the harness: the devices are plain SMTP clients without pipelining, as a scanner
// is; the upstream is a sink that waits before each reply, as a provider's server across the internet
// does. Its greeting, EHLO lines and replies are Exchange Online's as test/fixtures/providers/
// m365-smtp.office365.com.json records them with their sources (greeting and EHLO from
// github.com/simonrob/email-oauth2-proxy issues 95 and 416), less STARTTLS, BINARYMIME and CHUNKING,
// which this sink does not do. Every wait is bounded.
import * as net from 'node:net';
import { performance } from 'node:perf_hooks';

const now = (): number => performance.now();

const EHLO_LINES = [
  '250-AM3PR05CA0094.outlook.office365.com Hello [127.0.0.1]',
  '250-SIZE 157286400',
  '250-PIPELINING',
  '250-DSN',
  '250-ENHANCEDSTATUSCODES',
  '250-8BITMIME',
  '250 SMTPUTF8',
];

/** An upstream that waits `delayMs` before each reply; records when each Message-ID arrived. */
export class SlowSink {
  readonly arrivals = new Map<string, number>();
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(private readonly delayMs: number) {
    this.server = net.createServer((socket) => this.session(socket));
  }

  listen(): Promise<number> {
    return new Promise((resolve) => this.server.listen(0, '127.0.0.1', () => resolve((this.server.address() as net.AddressInfo).port)));
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private session(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    // Replies go out in order, each delayMs after the previous one was due (a pipelined batch of N
    // commands takes N × delayMs, as a slow server's would).
    let replyChain = Promise.resolve();
    const reply = (text: string, then?: () => void) => {
      replyChain = replyChain.then(
        () =>
          new Promise<void>((resolve) =>
            setTimeout(() => {
              if (!socket.destroyed) socket.write(`${text}\r\n`);
              then?.();
              resolve();
            }, this.delayMs),
          ),
      );
    };
    let commands = '';
    let inData = false;
    let carry = ''; // the last 4 characters of DATA seen, to find "\r\n.\r\n" across chunks
    let header = ''; // the start of the message, until its blank line (at most 64 KiB)
    let headerDone = false;
    const onCommands = (text: string) => {
      commands += text;
      if (commands.length > 8192) return void socket.destroy();
      let nl: number;
      while (!inData && (nl = commands.indexOf('\r\n')) >= 0) {
        const line = commands.slice(0, nl);
        commands = commands.slice(nl + 2);
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO') reply(EHLO_LINES.join('\r\n'));
        else if (verb === 'HELO') reply('250 AM3PR05CA0094.outlook.office365.com Hello [127.0.0.1]');
        else if (verb === 'MAIL') reply('250 2.1.0 Sender OK');
        else if (verb === 'RCPT') reply('250 2.1.5 Recipient OK');
        else if (verb === 'RSET' || verb === 'NOOP') reply('250 2.0.0 OK');
        else if (verb === 'DATA') {
          reply('354 Start mail input; end with <CRLF>.<CRLF>');
          inData = true;
          carry = '\r\n';
          header = '';
          headerDone = false;
          const rest = commands;
          commands = '';
          if (rest) onData(rest);
        } else if (verb === 'QUIT') reply('221 2.0.0 outlook.office365.com Service closing transmission channel', () => socket.end());
        else reply(`500 5.3.3 Unrecognized command '${line.split(' ')[0]}'`);
      }
    };
    const onData = (chunk: string) => {
      if (!headerDone) {
        header += chunk;
        const blank = header.indexOf('\r\n\r\n');
        if (blank >= 0 || header.length > 65536) {
          headerDone = true;
          header = header.slice(0, blank >= 0 ? blank : 65536);
        }
      }
      const seen = carry + chunk;
      const end = seen.indexOf('\r\n.\r\n');
      if (end < 0) {
        carry = seen.slice(-4);
        return;
      }
      inData = false;
      const id = /^Message-ID:\s*(\S+)/im.exec(header)?.[1];
      reply('250 2.0.0 OK queued', () => {
        if (id && !this.arrivals.has(id)) this.arrivals.set(id, now());
      });
      const rest = seen.slice(end + 5);
      if (rest) onCommands(rest);
    };
    reply('220 AM3PR05CA0094.outlook.office365.com Microsoft ESMTP MAIL Service ready');
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (inData ? onData(chunk) : onCommands(chunk)));
  }
}

export interface DeviceLoad {
  devices: number;
  /** Each device waits a random time in [minGapMs, maxGapMs] between its connections. */
  minGapMs: number;
  maxGapMs: number;
  /** New connections start until this long after the start. */
  durationMs: number;
  messageBytes: number;
  port: number;
}

export interface DeviceResult {
  /** Message-ID -> when the relay answered 250 to its DATA. */
  accepted: Map<string, number>;
  failures: string[];
  /** From the first connection to the last 250. */
  sendingMs: number;
}

/** A deterministic random sequence, so that every system sees the same schedule. */
function seeded(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

function scanBody(bytes: number, id: string): string {
  const line = 'JVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFIvRmlsdGVyIC9GbGF0ZURlY29kZT4+CnN0cmVh\r\n';
  const head =
    `From: scanner@office.bench.invalid\r\nTo: desk@example.com\r\nSubject: scan\r\nMessage-ID: ${id}\r\n` +
    'MIME-Version: 1.0\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n';
  return head + line.repeat(Math.max(1, Math.ceil((bytes - head.length) / line.length))) + '.\r\n';
}

/** One device session: no pipelining, each command waits for its reply. Resolves when 250 to DATA came. */
function sendOne(port: number, id: string, bytes: number, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const steps = [
      'EHLO scanner.office.bench.invalid',
      'MAIL FROM:<scanner@office.bench.invalid>',
      'RCPT TO:<desk@example.com>',
      'DATA',
      scanBody(bytes, id),
      'QUIT',
    ];
    const expect = [/^220 /m, /^250 /m, /^250 /m, /^250 /m, /^354 /m, /^250 /m, /^221 /m];
    let step = 0;
    let got = '';
    let acceptedAt = 0;
    const timer = setTimeout(() => fail(new Error(`no reply within ${timeoutMs / 1000} s at step ${step}`)), timeoutMs);
    const fail = (e: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(e);
    };
    socket.setEncoding('latin1');
    socket.on('error', fail);
    socket.on('data', (chunk: string) => {
      got += chunk;
      if (!/\r\n$/.test(got) || /(^|\n)\d{3}-[^\n]*\r\n$/.test(got)) return;
      const replyText = got;
      got = '';
      if (!expect[step]!.test(replyText)) return fail(new Error(`step ${step}: ${replyText.trim().slice(0, 120)}`));
      if (step === 5) acceptedAt = now();
      if (step === 6) {
        clearTimeout(timer);
        socket.end();
        return resolve(acceptedAt);
      }
      socket.write(step === 4 ? steps[4]! : `${steps[step]}\r\n`);
      step += 1;
    });
  });
}

export async function runDevices(load: DeviceLoad, seed = 7): Promise<DeviceResult> {
  const random = seeded(seed);
  const accepted = new Map<string, number>();
  const failures: string[] = [];
  const t0 = now();
  let last = t0;
  const device = async (n: number) => {
    // Devices do not start in step: the first connection is somewhere in the first gap.
    let wait = random() * load.maxGapMs;
    for (let k = 1; ; k++) {
      await new Promise((r) => setTimeout(r, wait));
      if (now() - t0 > load.durationMs) return;
      const id = `<scan-${n}-${k}@office.bench.invalid>`;
      try {
        accepted.set(id, await sendOne(load.port, id, load.messageBytes, 120_000));
        last = now();
      } catch (e) {
        if (failures.length < 20) failures.push(`device ${n}, scan ${k}: ${(e as Error).message}`);
      }
      wait = load.minGapMs + random() * (load.maxGapMs - load.minGapMs);
    }
  };
  await Promise.all(Array.from({ length: load.devices }, (_, n) => device(n)));
  return { accepted, failures, sendingMs: last - t0 };
}

/** Latencies (ms) from receipt to delivery of the messages that arrived, and how many did not. */
export function latencies(accepted: Map<string, number>, arrivals: Map<string, number>): { ms: number[]; missing: number } {
  const ms: number[] = [];
  let missing = 0;
  for (const [id, at] of accepted) {
    const arrived = arrivals.get(id);
    if (arrived === undefined) missing += 1;
    else ms.push(arrived - at);
  }
  return { ms: ms.sort((a, b) => a - b), missing };
}

export function percentile(sorted: number[], p: number): number | undefined {
  if (!sorted.length) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}
