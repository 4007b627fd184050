// --dnsbl (E-MailRelay section 9.7): ask DNS block lists about each connecting client before the
// greeting. Config: zone1,zone2,...[,threshold[,timeout[,dns-server]]]; the legacy order
// dns-server,timeout,threshold,zone... is also accepted. threshold (default 1) is how many zones must
// list the client for it to be refused (0: log only); timeout is in milliseconds ("s" suffix for
// seconds, default 5000), and a negative timeout means "refuse when still undecided at the timeout"
// (otherwise the client is let in). The DNS server (default: the first system nameserver, else
// 127.0.0.1:53) is the only server asked: queries go through a resolver of our own whose server list
// is exactly that one. An IPv4 client is looked up with an A query of d.c.b.a.<zone>, an IPv6 client
// with an AAAA query of its 32 reversed nibbles; any answer means "listed".
import { Resolver, getServers } from 'node:dns';
import { isIP } from 'node:net';
import { addressBytes } from '../net/address-range';
import { unmapAddress } from '../net/client-admission';

export interface DnsblConfig {
  zones: string[];
  threshold: number;
  timeoutMs: number;
  /** Refuse when undecided at the timeout (a negative timeout in the config). */
  refuseOnTimeout: boolean;
  /** host:port as node:dns takes it ("127.0.0.1:53", "[::1]:5353"). */
  server: string;
}

function isServerAddress(s: string): boolean {
  if (isIP(s)) return true;
  const m = /^\[(.+)\]:(\d+)$/.exec(s) ?? /^([^:]+):(\d+)$/.exec(s);
  return !!m && isIP(m[1]!) !== 0 && Number(m[2]) > 0 && Number(m[2]) < 65536;
}

function serverSpec(s: string): string {
  if (isIP(s) === 6) return `[${s}]:53`;
  if (isIP(s) === 4) return `${s}:53`;
  return s;
}

function parseTimeout(s: string): number | null {
  const m = /^(-?\d+)(ms|s)?$/.exec(s);
  if (!m) return null;
  return Number(m[1]) * (m[2] === 's' ? 1000 : 1);
}

const ZONE = /^(?=.*[a-z])[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?$/i;

/** Parse a --dnsbl value (the option's values joined with commas); throws with the reason. */
export function parseDnsblConfig(items: string[], defaultServer = systemNameserver()): DnsblConfig {
  const list = items.map((s) => s.trim()).filter(Boolean);
  if (list.length === 0) throw new Error('--dnsbl needs at least one zone, e.g. --dnsbl zen.spamhaus.org');
  let zones: string[];
  let threshold: string | undefined;
  let timeout: string | undefined;
  let server: string | undefined;
  if (isServerAddress(list[0]!)) {
    [server, timeout, threshold] = list;
    zones = list.slice(3);
  } else {
    const firstNumber = list.findIndex((s) => /^-?\d+(ms|s)?$/.test(s));
    zones = firstNumber < 0 ? list : list.slice(0, firstNumber);
    if (firstNumber >= 0) [threshold, timeout, server] = list.slice(firstNumber);
    if (firstNumber >= 0 && list.length > firstNumber + 3) throw new Error(`--dnsbl: unexpected "${list[firstNumber + 3]}" after the dns server`);
  }
  if (zones.length === 0) throw new Error('--dnsbl needs at least one zone');
  for (const z of zones) if (!ZONE.test(z)) throw new Error(`--dnsbl: "${z}" is not a DNS zone name`);
  const t = threshold === undefined ? 1 : Number(threshold);
  if (!/^\d+$/.test(threshold ?? '1')) throw new Error(`--dnsbl: threshold "${threshold}" must be a whole number (0: log only)`);
  const ms = timeout === undefined ? 5000 : parseTimeout(timeout);
  if (ms === null || ms === 0) throw new Error(`--dnsbl: timeout "${timeout}" must be a non-zero number of milliseconds (or seconds with an "s" suffix)`);
  if (server !== undefined && !isServerAddress(server)) throw new Error(`--dnsbl: dns server "${server}" must be an IP address, optionally with :port`);
  return {
    zones: zones.map((z) => z.replace(/\.$/, '')),
    threshold: t,
    timeoutMs: Math.abs(ms),
    refuseOnTimeout: ms < 0,
    server: serverSpec(server ?? defaultServer),
  };
}

function systemNameserver(): string {
  return getServers()[0] ?? '127.0.0.1:53';
}

/** The name to look up for an address in a zone; null for something that is not an IP address. */
export function dnsblName(address: string, zone: string): string | null {
  const a = unmapAddress(address);
  if (isIP(a) === 4) return `${a.split('.').reverse().join('.')}.${zone}`;
  const bytes = addressBytes(a);
  if (!bytes || isIP(a.replace(/%.*$/, '')) !== 6) return null;
  const nibbles = Buffer.from(bytes).toString('hex').split('').reverse().join('.');
  return `${nibbles}.${zone}`;
}

export interface DnsblVerdict {
  refuse: boolean;
  /** Zones that listed the address. */
  listedBy: string[];
  /** Zones that had not answered when the decision was made. */
  unanswered: string[];
  timedOut: boolean;
}

export async function checkDnsbl(cfg: DnsblConfig, address: string): Promise<DnsblVerdict> {
  const resolver = new Resolver({ timeout: cfg.timeoutMs, tries: 1 });
  resolver.setServers([cfg.server]);
  const v6 = isIP(unmapAddress(address)) === 6;
  const listedBy: string[] = [];
  const pending = new Set(cfg.zones);
  return new Promise<DnsblVerdict>((resolve) => {
    let done = false;
    const finish = (timedOut: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolver.cancel();
      const enough = cfg.threshold > 0 && listedBy.length >= cfg.threshold;
      const undecided = !enough && timedOut && pending.size > 0 && cfg.threshold > 0 && listedBy.length + pending.size >= cfg.threshold;
      resolve({ refuse: enough || (undecided && cfg.refuseOnTimeout), listedBy: [...listedBy], unanswered: [...pending], timedOut });
    };
    const timer = setTimeout(() => finish(true), cfg.timeoutMs);
    for (const zone of cfg.zones) {
      const name = dnsblName(address, zone);
      if (!name) {
        pending.delete(zone);
        continue;
      }
      const answered = (listed: boolean) => {
        if (done) return;
        pending.delete(zone);
        if (listed) listedBy.push(zone);
        if ((cfg.threshold > 0 && listedBy.length >= cfg.threshold) || pending.size === 0) finish(false);
      };
      const query = v6 ? resolver.resolve6.bind(resolver) : resolver.resolve4.bind(resolver);
      query(name, (err: NodeJS.ErrnoException | null, addrs: string[]) => {
        if (err && (err.code === 'ECANCELLED' || err.code === 'ETIMEOUT')) return; // stays pending
        answered(!err && addrs.length > 0);
      });
    }
    if (pending.size === 0) finish(false);
  });
}
