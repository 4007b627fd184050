// The Host header check of the status page: a browser that DNS rebinding points at the box sends the
// attacker's name in Host, so only the box's own names and addresses are answered.
import * as os from 'node:os';

/** The host part of a Host header value, lower case, without port, brackets or a final dot. */
export function hostOf(header: string): string {
  const h = header.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end < 0 ? h : h.slice(1, end);
  }
  return h.replace(/:\d*$/, '').replace(/\.$/, '');
}

/** localhost, the host name (and its .local mDNS name), the --domain, every interface address, and `extra`. */
export function ownHostNames(extra: readonly string[]): Set<string> {
  const names = new Set(['localhost', 'localhost.localdomain']);
  const host = os.hostname().toLowerCase();
  if (host) {
    names.add(host);
    names.add(`${host.split('.')[0]}.local`);
  }
  for (const n of extra) names.add(hostOf(n));
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) names.add(a.address.toLowerCase().replace(/%.*$/, ''));
  }
  return names;
}

/** True when `header` names this box. A missing Host (HTTP/1.0, never a browser) is let through. */
export function hostAllowed(header: string | undefined, extra: readonly string[]): boolean {
  if (header === undefined) return true;
  const host = hostOf(header);
  if (ownHostNames(extra).has(host)) return true;
  // An IPv4-mapped IPv6 literal names the IPv4 address.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(host);
  return !!mapped && ownHostNames(extra).has(mapped[1]!);
}
