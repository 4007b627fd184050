// Where the admin and status listeners listen: --interface entries with an admin= qualifier or none
// (E-MailRelay's qualifiers); the status page listens where SMTP does. Default: every address.
import * as net from 'node:net';
import * as os from 'node:os';
import type { NetConfig } from '../net/config';
import { UsageError } from '../options/parse';

export function listenAddressesFor(cfg: Pick<NetConfig, 'interfaces'>, kind: 'smtp' | 'admin'): string[] {
  const out: string[] = [];
  for (const raw of cfg.interfaces) {
    const m = /^(?:(smtp|pop|admin)=)?(.+)$/.exec(raw)!;
    if (m[1] && m[1] !== kind) continue;
    const name = m[2]!;
    if (name.startsWith('/') || name.startsWith('fd#'))
      throw new UsageError(`--interface ${name}: unix-domain sockets and inherited sockets are not supported for the ${kind} listener`);
    if (name.startsWith('client=')) continue;
    const nic = /^(.+?)(?:-(ipv4|ipv6))?$/.exec(name)!;
    const addrs = os.networkInterfaces()[nic[1]!];
    if (addrs) {
      for (const a of addrs) if (!nic[2] || a.family.toLowerCase() === nic[2]) out.push(a.address);
    } else {
      out.push(name);
    }
  }
  return out.length ? out : ['::'];
}

export function listenOn(server: net.Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => reject(e);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.removeListener('error', onError);
      resolve();
    });
  });
}

export function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}
