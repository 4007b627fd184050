// A real DNS server for tests: dnsmasq on a loopback port, answering only for the names it is
// given and authoritative (NXDOMAIN) for their domains. It never forwards a query anywhere.
import { spawn } from 'node:child_process';
import { freePort } from './relay';
import { RawSmtp } from './smtp-client';

export interface DnsServer {
  port: number;
  /** "127.0.0.1:<port>", as mx: takes it. */
  address: string;
  stop(): Promise<void>;
}

export interface DnsRecords {
  /** domain -> [exchanger, preference] */
  mx?: [string, string, number][];
  /** host -> IPv4 address */
  a?: [string, string][];
  /** Domains answered authoritatively (anything not listed is NXDOMAIN). */
  local: string[];
}

export async function startDns(records: DnsRecords): Promise<DnsServer> {
  const port = await freePort();
  const args = [
    '--keep-in-foreground',
    '--conf-file=/dev/null',
    '--no-resolv',
    '--no-hosts',
    '--no-poll',
    `--port=${port}`,
    '--listen-address=127.0.0.1',
    '--bind-interfaces',
    '--log-facility=-',
    '--user=root',
  ];
  for (const d of records.local) args.push(`--local=/${d}/`);
  for (const [domain, host, pref] of records.mx ?? []) args.push(`--mx-host=${domain},${host},${pref}`);
  for (const [host, ip] of records.a ?? []) args.push(`--host-record=${host},${ip}`);
  const proc = spawn('dnsmasq', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  // dnsmasq listens on TCP as well as UDP: a TCP connect says it is ready.
  const deadline = Date.now() + 10000;
  for (;;) {
    const ok = await RawSmtp.connect(port, '127.0.0.1', 500).then(
      (c) => {
        c.socket.destroy();
        return true;
      },
      () => false,
    );
    if (ok) break;
    if (proc.exitCode !== null || Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`dnsmasq did not start: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    address: `127.0.0.1:${port}`,
    async stop() {
      proc.kill('SIGTERM');
      await exited;
    },
  };
}
