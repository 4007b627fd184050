// A SOCKS4a and SOCKS5 proxy for tests (one port, told apart by the first byte), with the delivery
// patterns that real proxies produce and that a client must cope with:
// - 'together': it connects to the target, waits for the target's first bytes (an SMTP server's 220
//   greeting) and sends its own reply and those bytes in ONE write, as Tor and fast proxies can;
// - 'bytewise': it sends its reply one byte per write, each after the previous one was flushed;
// - 'plain': reply, then relay (what microsocks does).
// Names are resolved from the proxy's own table, as Tor resolves a .onion name: nothing is looked up.
import * as net from 'node:net';

export type SocksDelivery = 'together' | 'bytewise' | 'plain';

export interface SocksRequest {
  version: 4 | 5;
  /** The destination as the client wrote it: a name (SOCKS4a, SOCKS5 ATYP 3) or an address. */
  host: string;
  port: number;
  /** SOCKS5 ATYP (1 IPv4, 3 name, 4 IPv6); 0 for SOCKS4a. */
  atyp: number;
  /** SOCKS5 RFC 1929 user name, SOCKS4 user id. */
  user: string;
  /** The client's address as the proxy sees it. */
  from: string;
}

export interface TestSocksProxy {
  port: number;
  requests: SocksRequest[];
  /** For 'together': how many replies went out in the same write as the target's first bytes. */
  combinedWrites: number;
  close(): Promise<void>;
}

export interface TestSocksOptions {
  /** "host:port" as the client names it -> a port on 127.0.0.1. */
  names: Map<string, number>;
  delivery: SocksDelivery;
  /** SOCKS5: require this user name and password (RFC 1929). */
  auth?: { user: string; password: string };
}

/** Reads exactly what the handshake needs from a socket, keeping the rest for later. */
class Reader {
  private buf = Buffer.alloc(0);
  private waiting?: () => void;
  constructor(private readonly socket: net.Socket) {
    socket.on('data', this.onData);
  }
  private readonly onData = (c: Buffer): void => {
    this.buf = Buffer.concat([this.buf, c]);
    this.waiting?.();
  };
  async take(n: number): Promise<Buffer> {
    while (this.buf.length < n) {
      if (this.socket.destroyed || this.socket.readableEnded) throw new Error('client went away');
      await new Promise<void>((resolve) => {
        this.waiting = resolve;
        this.socket.once('close', resolve);
      });
      this.waiting = undefined;
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }
  async until0(): Promise<Buffer> {
    const parts: Buffer[] = [];
    for (;;) {
      const b = await this.take(1);
      if (b[0] === 0) return Buffer.concat(parts);
      parts.push(b);
    }
  }
  /** Stop reading; what is left over goes to the target. */
  detach(): Buffer {
    this.socket.removeListener('data', this.onData);
    return this.buf;
  }
}

function writeFlushed(socket: net.Socket, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => socket.write(data, (e) => (e ? reject(e) : resolve())));
}

export async function startSocksProxy(opts: TestSocksOptions): Promise<TestSocksProxy> {
  const sockets = new Set<net.Socket>();
  const proxy: TestSocksProxy = { port: 0, requests: [], combinedWrites: 0, close: async () => undefined };

  const handshake = async (client: net.Socket): Promise<void> => {
    const r = new Reader(client);
    const [version] = await r.take(1);
    let req: SocksRequest;
    let ok: Buffer;
    let refuse: Buffer;
    if (version === 4) {
      const head = await r.take(7);
      const port = head.readUInt16BE(1);
      const ip = [...head.subarray(3, 7)];
      const user = (await r.until0()).toString('latin1');
      const host = ip[0] === 0 && ip[1] === 0 && ip[2] === 0 && ip[3] !== 0 ? (await r.until0()).toString('latin1') : ip.join('.');
      if (head[0] !== 1) throw new Error('SOCKS4: only CONNECT');
      req = { version: 4, host, port, atyp: 0, user, from: client.remoteAddress ?? '' };
      ok = Buffer.from([0, 0x5a, 0, 0, 0, 0, 0, 0]);
      refuse = Buffer.from([0, 0x5b, 0, 0, 0, 0, 0, 0]);
    } else if (version === 5) {
      const [n] = await r.take(1);
      const methods = [...(await r.take(n!))];
      let user = '';
      if (opts.auth) {
        if (!methods.includes(2)) {
          client.end(Buffer.from([5, 0xff]));
          return;
        }
        await writeFlushed(client, Buffer.from([5, 2]));
        const [, ulen] = await r.take(2);
        user = (await r.take(ulen!)).toString('utf8');
        const [plen] = await r.take(1);
        const password = (await r.take(plen!)).toString('utf8');
        const good = user === opts.auth.user && password === opts.auth.password;
        await writeFlushed(client, Buffer.from([1, good ? 0 : 1]));
        if (!good) {
          client.end();
          return;
        }
      } else {
        await writeFlushed(client, Buffer.from([5, 0]));
      }
      const [, cmd, , atyp] = await r.take(4);
      let host: string;
      if (atyp === 1) host = [...(await r.take(4))].join('.');
      else if (atyp === 3) host = (await r.take((await r.take(1))[0]!)).toString('latin1');
      else if (atyp === 4) host = (await r.take(16)).toString('hex').replace(/(.{4})(?!$)/g, '$1:');
      else throw new Error(`SOCKS5: address type ${atyp}`);
      const port = (await r.take(2)).readUInt16BE(0);
      if (cmd !== 1) throw new Error('SOCKS5: only CONNECT');
      req = { version: 5, host, port, atyp: atyp!, user, from: client.remoteAddress ?? '' };
      ok = Buffer.from([5, 0, 0, 1, 127, 0, 0, 1, 0, 0]);
      refuse = Buffer.from([5, 4, 0, 1, 0, 0, 0, 0, 0, 0]);
    } else {
      throw new Error(`not SOCKS: first byte ${version}`);
    }
    proxy.requests.push(req);
    const targetPort = opts.names.get(`${req.host}:${req.port}`);
    if (targetPort === undefined) {
      client.end(refuse);
      return;
    }
    const target = net.connect(targetPort, '127.0.0.1');
    sockets.add(target);
    target.on('error', () => client.destroy());
    client.on('error', () => target.destroy());
    await new Promise<void>((resolve, reject) => {
      target.once('connect', resolve);
      target.once('error', reject);
    });
    const early = r.detach();
    if (early.length) target.write(early);
    if (opts.delivery === 'together') {
      const first = await new Promise<Buffer>((resolve) => target.once('data', resolve));
      target.pause();
      await writeFlushed(client, Buffer.concat([ok, first]));
      proxy.combinedWrites++;
      target.resume();
    } else if (opts.delivery === 'bytewise') {
      target.pause();
      for (const byte of ok) await writeFlushed(client, Buffer.from([byte]));
    } else {
      await writeFlushed(client, ok);
    }
    target.pipe(client);
    client.pipe(target);
  };

  const server = net.createServer((client) => {
    sockets.add(client);
    client.setNoDelay(true);
    client.on('error', () => undefined);
    handshake(client).catch(() => client.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  proxy.port = (server.address() as net.AddressInfo).port;
  proxy.close = () => {
    for (const s of sockets) s.destroy();
    return new Promise((r) => server.close(() => r()));
  };
  return proxy;
}
