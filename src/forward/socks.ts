// A connection to the next hop through a SOCKS proxy (E-MailRelay's host:port@socks-host:port is
// SOCKS4a). The target name goes to the proxy as a name and is resolved there, never here, so Tor
// can reach a .onion address.
import { SocksClient } from 'socks';
import type { Socket } from 'node:net';

export interface SocksProxy {
  host: string;
  port: number;
  version: 4 | 5;
  /** SOCKS5 user name and password (RFC 1929); Tor uses them to keep streams apart. */
  auth?: { user: string; password: string };
}

export async function connectViaSocks(proxy: SocksProxy, host: string, port: number, timeoutMs: number, localAddress?: string): Promise<Socket> {
  const { socket } = await SocksClient.createConnection({
    proxy: {
      host: proxy.host, port: proxy.port, type: proxy.version,
      ...(proxy.version === 4 ? { userId: '' } : proxy.auth ? { userId: proxy.auth.user, password: proxy.auth.password } : {}),
    },
    // A name that is not an IP address is sent as a name: SOCKS4a (0.0.0.1 + name) or SOCKS5 DOMAINNAME.
    destination: { host, port },
    command: 'connect',
    timeout: timeoutMs,
    // --client-interface: the connection to the proxy leaves from this address.
    ...(localAddress ? { socket_options: { host: proxy.host, port: proxy.port, localAddress } } : {}),
  });
  return socket;
}
