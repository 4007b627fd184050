// A connection to the next hop through a SOCKS proxy (E-MailRelay's host:port@socks-host:port is
// SOCKS4a; relaybox also speaks SOCKS5, RFC 1928, with RFC 1929 user name and password). The target
// name goes to the proxy as a name and is resolved there, never here, so Tor can reach a .onion
// address.
//
// Bytes that arrive after the proxy's reply belong to the SMTP session (a fast proxy or Tor may send
// the server's 220 greeting in the same segment as its reply): they are put back on the socket with
// unshift(), and the socket is handed over paused, so the SMTP client reads them first.
import * as net from 'node:net';

export interface SocksProxy {
  host: string;
  port: number;
  version: 4 | 5;
  /** SOCKS5 user name and password (RFC 1929); Tor uses them to keep streams apart. */
  auth?: { user: string; password: string };
}

/**
 * One step of the handshake: given the bytes received so far, undefined while more are needed, else
 * how many bytes the step consumed, what to send next, and which step comes next (default: the
 * following one); done when the proxy reported the connection made.
 */
type Step = (buffered: Buffer) => { used: number; send?: Buffer; next?: number; done?: boolean } | undefined;

const SOCKS4_REPLIES: Record<number, string> = {
  0x5b: 'the proxy refused or could not make the connection',
  0x5c: 'the proxy could not reach the identd service on this host',
  0x5d: "the proxy's identd check did not match the user id",
};

const SOCKS5_REPLIES: Record<number, string> = {
  1: 'general SOCKS server failure',
  2: "connection not allowed by the proxy's rules",
  3: 'network unreachable',
  4: 'host unreachable',
  5: 'connection refused by the destination',
  6: 'TTL expired',
  7: 'the proxy does not support CONNECT',
  8: 'the proxy does not support this address type',
};

class SocksError extends Error {}

function portBytes(port: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(port);
  return b;
}

/** SOCKS4a CONNECT: an IPv4 address as is, anything else as a name after the invalid address 0.0.0.1. */
function socks4Request(host: string, port: number): Buffer {
  const head = Buffer.from([4, 1]);
  if (net.isIPv4(host)) {
    return Buffer.concat([head, portBytes(port), Buffer.from(host.split('.').map(Number)), Buffer.from([0])]);
  }
  if (net.isIPv6(host)) throw new SocksError('SOCKS4a cannot carry an IPv6 address: use a host name, or a socks5:// proxy');
  return Buffer.concat([head, portBytes(port), Buffer.from([0, 0, 0, 1]), Buffer.from([0]), Buffer.from(host, 'latin1'), Buffer.from([0])]);
}

function socks4Steps(host: string, port: number): { first: Buffer; steps: Step[] } {
  const reply: Step = (b) => {
    if (b.length < 8) return undefined;
    if (b[0] !== 0) throw new SocksError(`not a SOCKS4 reply (first byte ${b[0]}): is this a SOCKS4a proxy?`);
    if (b[1] !== 0x5a) throw new SocksError(SOCKS4_REPLIES[b[1]!] ?? `the proxy answered with code 0x${b[1]!.toString(16)}`);
    return { used: 8, done: true };
  };
  return { first: socks4Request(host, port), steps: [reply] };
}

/** SOCKS5 CONNECT request: IPv4 (ATYP 1), IPv6 (ATYP 4) or a name (ATYP 3) for the proxy to resolve. */
function socks5Request(host: string, port: number): Buffer {
  let address: Buffer;
  if (net.isIPv4(host)) {
    address = Buffer.from([1, ...host.split('.').map(Number)]);
  } else if (net.isIPv6(host)) {
    address = Buffer.concat([Buffer.from([4]), ipv6Bytes(host)]);
  } else {
    const name = Buffer.from(host, 'latin1');
    if (name.length > 255) throw new SocksError('the host name is longer than SOCKS5 allows (255 bytes)');
    address = Buffer.concat([Buffer.from([3, name.length]), name]);
  }
  return Buffer.concat([Buffer.from([5, 1, 0]), address, portBytes(port)]);
}

/** The 16 bytes of an IPv6 address (net.isIPv6 holds), including the ::ffff:1.2.3.4 forms. */
function ipv6Bytes(address: string): Buffer {
  const groups = (s: string): string[] => {
    if (!s) return [];
    const parts = s.split(':');
    const last = parts.at(-1)!;
    if (!last.includes('.')) return parts;
    const [a, b, c, d] = last.split('.').map(Number);
    return [...parts.slice(0, -1), ((a! << 8) | b!).toString(16), ((c! << 8) | d!).toString(16)];
  };
  const [head, tail] = address.split('::');
  const h = groups(head!);
  const t = tail === undefined ? [] : groups(tail);
  const all = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  all.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

function socks5Steps(host: string, port: number, auth: SocksProxy['auth']): { first: Buffer; steps: Step[] } {
  const request = socks5Request(host, port);
  const methods = auth ? [0x00, 0x02] : [0x00];
  const steps: Step[] = [];
  steps.push((b) => {
    if (b.length < 2) return undefined;
    if (b[0] !== 5) throw new SocksError(`not a SOCKS5 reply (first byte ${b[0]}): is this a SOCKS5 proxy?`);
    if (b[1] === 0x00) return { used: 2, send: request, next: 2 };
    if (b[1] === 0x02 && auth) {
      const user = Buffer.from(auth.user, 'utf8');
      const pass = Buffer.from(auth.password, 'utf8');
      if (user.length > 255 || pass.length > 255) throw new SocksError('the SOCKS5 user name and password may have at most 255 bytes each');
      return { used: 2, send: Buffer.concat([Buffer.from([1, user.length]), user, Buffer.from([pass.length]), pass]) };
    }
    if (b[1] === 0x02) throw new SocksError('the proxy asks for a user name and password: write the proxy as socks5://user:password@host:port');
    throw new SocksError(`the proxy accepts none of the offered authentication methods (${auth ? 'none, user name and password' : 'none'})`);
  });
  steps.push((b) => {
    if (b.length < 2) return undefined;
    if (b[1] !== 0) throw new SocksError('Authentication failed: the proxy refused the user name and password');
    return { used: 2, send: request };
  });
  steps.push((b) => {
    if (b.length < 5) return undefined;
    if (b[0] !== 5) throw new SocksError(`not a SOCKS5 reply (first byte ${b[0]})`);
    if (b[1] !== 0) throw new SocksError(SOCKS5_REPLIES[b[1]!] ?? `the proxy answered with code ${b[1]}`);
    const atyp = b[3];
    const addressLength = atyp === 1 ? 4 : atyp === 4 ? 16 : atyp === 3 ? 1 + b[4]! : -1;
    if (addressLength < 0) throw new SocksError(`the proxy's reply has an unknown address type ${atyp}`);
    const length = 4 + addressLength + 2;
    return b.length < length ? undefined : { used: length, done: true };
  });
  return { first: Buffer.from([5, methods.length, ...methods]), steps };
}

/**
 * Connect to host:port through the proxy. Resolves with the socket, paused, once the proxy reports
 * the connection made; anything the proxy sent after its reply is the first thing read from it.
 */
export function connectViaSocks(proxy: SocksProxy, host: string, port: number, timeoutMs: number, localAddress?: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    let plan: { first: Buffer; steps: Step[] };
    try {
      plan = proxy.version === 4 ? socks4Steps(host, port) : socks5Steps(host, port, proxy.auth);
    } catch (e) {
      reject(e);
      return;
    }
    const socket = net.connect({ host: proxy.host, port: proxy.port, ...(localAddress ? { localAddress } : {}) });
    let connected = false;
    let buffered: Buffer = Buffer.alloc(0);
    let step = 0;
    const finish = (error?: Error): void => {
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('error', onError);
      socket.removeListener('close', onClose);
      socket.removeListener('connect', onConnect);
      if (error) {
        socket.destroy();
        reject(error);
        return;
      }
      socket.pause();
      if (buffered.length) socket.unshift(buffered);
      resolve(socket);
    };
    const onConnect = (): void => {
      connected = true;
      socket.write(plan.first);
    };
    const onData = (chunk: Buffer): void => {
      buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
      try {
        for (;;) {
          const r = plan.steps[step]!(buffered);
          if (!r) return;
          buffered = buffered.subarray(r.used);
          step = r.next ?? step + 1;
          if (r.send) socket.write(r.send);
          if (r.done) {
            finish();
            return;
          }
        }
      } catch (e) {
        finish(e instanceof Error ? e : new Error(String(e)));
      }
    };
    const onError = (e: Error): void => finish(new Error(connected ? `lost the connection to the proxy: ${e.message}` : e.message));
    const onClose = (): void => finish(new SocksError('the proxy closed the connection before it replied'));
    const timer = setTimeout(() => {
      finish(
        new SocksError(
          connected
            ? `the proxy did not complete the connection within ${Math.round(timeoutMs / 1000)} s`
            : `could not reach the proxy within ${Math.round(timeoutMs / 1000)} s`,
        ),
      );
    }, timeoutMs);
    socket.once('connect', onConnect);
    socket.on('data', onData);
    socket.once('error', onError);
    socket.once('close', onClose);
  });
}
