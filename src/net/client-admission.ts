// Without --remote-clients only loopback, private and link-local peers may connect (E-MailRelay 1.3),
// and those of relaybox's --allow-clients.
import { BlockList, isIPv4 } from 'node:net';
import { networkInterfaces } from 'node:os';
import { parseAddressRange, rangeContains, type AddressRange } from './address-range';

const localRanges = new BlockList();
localRanges.addSubnet('127.0.0.0', 8, 'ipv4');
localRanges.addSubnet('10.0.0.0', 8, 'ipv4');
localRanges.addSubnet('172.16.0.0', 12, 'ipv4');
localRanges.addSubnet('192.168.0.0', 16, 'ipv4');
localRanges.addSubnet('169.254.0.0', 16, 'ipv4');
localRanges.addAddress('::1', 'ipv6');
localRanges.addSubnet('fe80::', 10, 'ipv6');
localRanges.addSubnet('fc00::', 7, 'ipv6');

/** The IPv4 address inside an IPv4-mapped IPv6 address (::ffff:a.b.c.d), or the address itself. */
export function unmapAddress(address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m ? m[1]! : address;
}

export function isLocalAddress(address: string): boolean {
  let local = knownLocal.get(address);
  if (local === undefined) {
    local = checkLocal(address);
    // Each check builds a SocketAddress; a LAN's few addresses are remembered (bounded: a flood of new ones only empties it).
    if (knownLocal.size >= KNOWN_LOCAL_MAX) knownLocal.clear();
    knownLocal.set(address, local);
  }
  return local;
}

const KNOWN_LOCAL_MAX = 1024;
const knownLocal = new Map<string, boolean>();

function checkLocal(address: string): boolean {
  const a = unmapAddress(address.replace(/%.*$/, ''));
  try {
    return localRanges.check(a, isIPv4(a) ? 'ipv4' : 'ipv6');
  } catch {
    return false;
  }
}

/**
 * Who may connect to a listener (SMTP, POP, admin, status page): loopback, private and link-local
 * peers always; with --allow-clients also the ranges named there ("on-link": the networks of the
 * machine's own interfaces, which covers LAN devices with global IPv6 addresses); with
 * --remote-clients everyone.
 */
export interface ClientAdmission {
  remoteClients: boolean;
  ranges: readonly AddressRange[];
  onLink: boolean;
}

export function admitsClient(admission: ClientAdmission, address: string): boolean {
  if (admission.remoteClients || isLocalAddress(address)) return true;
  if (admission.ranges.some((r) => rangeContains(r, address))) return true;
  return admission.onLink && onLinkNetworks().some((r) => rangeContains(r, address));
}

/** The reason a refused peer's log line gives, with what would admit it. */
export const NOT_ADMITTED =
  'not a local, private or --allow-clients address (name its range in --allow-clients, or "on-link" for the LAN; --remote-clients admits everyone)';

let onLinkCache: { at: number; ranges: AddressRange[] } | undefined;
/** Interfaces change (DHCP, SLAAC): the list is looked at again after this long. */
const ON_LINK_REFRESH_MS = 10_000;

/** The networks of the machine's non-loopback interfaces (address/prefix of each). */
export function onLinkNetworks(now = Date.now()): AddressRange[] {
  if (onLinkCache && now - onLinkCache.at < ON_LINK_REFRESH_MS) return onLinkCache.ranges;
  const ranges: AddressRange[] = [];
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (a.internal || !a.cidr) continue;
      const r = parseAddressRange(a.cidr);
      if (!('error' in r)) ranges.push(r);
    }
  }
  onLinkCache = { at: now, ranges };
  return ranges;
}
