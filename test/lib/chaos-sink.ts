// An upstream SMTP server that misbehaves on purpose, for fault tests: per transaction it may refuse
// the session with 421, answer 451 to MAIL or at the end of data, drop the connection in the middle
// of DATA, or take the message and then never answer (past the relay's --response-timeout).
// Recipients starting "reject" always get 550. The first connection gets 421 and the first
// transactions get each fault once; after that, choices come from a seeded generator.
import * as net from 'node:net';
import { seeded } from '../fuzz/random';

export type Fault = 'greeting-421' | 'mail-451' | 'drop-in-data' | 'data-451' | 'stall-after-data' | 'none';
type TransactionFault = Exclude<Fault, 'greeting-421'>;

export interface ChaosOptions {
  seed: number;
  /** Probability that a new connection is refused with 421. */
  greeting421: number;
  /** Probability of each fault per transaction (the rest: none). */
  weights: Partial<Record<TransactionFault, number>>;
}

export interface ChaosSink {
  port: number;
  /** Every message accepted with 250 (or taken before a stall), by its Subject. */
  delivered: Map<string, number>;
  faults: Map<Fault, number>;
  close(): Promise<void>;
}

export async function startChaosSink(opts: ChaosOptions): Promise<ChaosSink> {
  const random = seeded(opts.seed);
  const delivered = new Map<string, number>();
  const faults = new Map<Fault, number>();
  const sockets = new Set<net.Socket>();
  // Every fault once first (in this order), so that each run exercises all of them; then at random.
  const forced: TransactionFault[] = ['mail-451', 'drop-in-data', 'data-451', 'stall-after-data'];
  let connectionCount = 0;
  const pick = (): TransactionFault => {
    const next = forced.shift();
    if (next) return next;
    let r = random();
    for (const [fault, w] of Object.entries(opts.weights) as [TransactionFault, number][]) {
      if (r < w) return fault;
      r -= w;
    }
    return 'none';
  };
  const count = (f: Fault) => faults.set(f, (faults.get(f) ?? 0) + 1);

  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const send = (line: string) => {
      if (!socket.destroyed) socket.write(line + '\r\n');
    };
    connectionCount++;
    if (connectionCount === 1 || random() < opts.greeting421) {
      count('greeting-421');
      send('421 chaos.test too busy, try later');
      socket.end();
      return;
    }
    send('220 chaos.test ESMTP');
    let fault = pick();
    let buffer = Buffer.alloc(0);
    let inData = false;
    let rejectAll = false;
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        if (inData) {
          if (fault === 'drop-in-data' && buffer.length > 0) {
            count(fault);
            socket.destroy();
            return;
          }
          const end = buffer.indexOf('\r\n.\r\n');
          if (end < 0) return;
          const text = buffer.subarray(0, end).toString('latin1');
          buffer = buffer.subarray(end + 5);
          inData = false;
          const subject = /^Subject: (.*)$/m.exec(text)?.[1] ?? '?';
          if (fault === 'data-451' || rejectAll) {
            if (!rejectAll) count(fault);
            send('451 4.3.0 chaos: try again');
          } else if (fault === 'stall-after-data') {
            count(fault);
            delivered.set(subject, (delivered.get(subject) ?? 0) + 1);
            return; // never answers: the relay's response timeout fires
          } else {
            delivered.set(subject, (delivered.get(subject) ?? 0) + 1);
            send('250 2.0.0 chaos took it');
          }
          fault = pick();
          continue;
        }
        const nl = buffer.indexOf('\n');
        if (nl < 0) return;
        const line = buffer.subarray(0, nl).toString('latin1').replace(/\r$/, '');
        buffer = buffer.subarray(nl + 1);
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO' || verb === 'HELO') send('250 chaos.test');
        else if (verb === 'MAIL') {
          rejectAll = false;
          if (fault === 'mail-451') {
            count(fault);
            send('451 4.4.5 chaos: not now');
            fault = pick();
          } else send('250 ok');
        } else if (verb === 'RCPT') {
          if (/<reject/i.test(line)) {
            rejectAll = true;
            send('550 5.1.1 chaos: no such user');
          } else send('250 ok');
        } else if (verb === 'DATA') {
          inData = true;
          send('354 go ahead');
        } else if (verb === 'RSET' || verb === 'NOOP') send('250 ok');
        else if (verb === 'QUIT') {
          send('221 bye');
          socket.end();
          return;
        } else send('500 5.5.1 chaos: what?');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as net.AddressInfo).port,
    delivered,
    faults,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
