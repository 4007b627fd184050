// Address ranges of `server none <range> <keyword>` trust lines, matched with real CIDR arithmetic.
//
// Accepted forms (E-MailRelay's, section 6.1): an address (IPv4 or IPv6), <address>/<bits>, and the
// IPv4 wildcards a.b.c.*, a.b.*.*, a.*.*.* and *.*.*.*. E-MailRelay matches by comparing the text
// with forms generated from the peer address, and generates its /21 form with the /22 mask (a bug);
// here the range is parsed once and the peer address is masked with the range's own prefix length.
// An IPv4 peer also matches the IPv4-mapped IPv6 form of its address (::ffff:a.b.c.d/bits, bits >= 96)
// and an IPv4-mapped peer (::ffff:a.b.c.d, as a dual-stack socket reports it) matches IPv4 ranges.
import { isIPv4, isIPv6 } from 'node:net';

export interface AddressRange {
  /** Both families are held as 16 bytes: IPv4 as its IPv4-mapped IPv6 form. */
  readonly bytes: Uint8Array;
  /** Prefix length over the 128-bit form (an IPv4 /24 is 120 here). */
  readonly bits: number;
  /** The range as written. */
  readonly text: string;
  /** Host bits were set in the written network address (192.168.1.5/24): still matched as the /24. */
  readonly hostBitsSet: boolean;
}

const MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

function ipv4Bytes(text: string): number[] | null {
  if (!isIPv4(text)) return null;
  return text.split('.').map(Number);
}

/** 16 bytes of an IPv6 (or IPv4, as ::ffff:a.b.c.d) address; null if it is neither. Zone ids are dropped. */
export function addressBytes(address: string): Uint8Array | null {
  const text = address.replace(/%.*$/, '');
  const v4 = ipv4Bytes(text);
  if (v4) return Uint8Array.from([...MAPPED_PREFIX, ...v4]);
  if (!isIPv6(text)) return null;
  let head = text;
  let tailV4: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    const v4tail = ipv4Bytes(text.slice(lastColon + 1));
    if (!v4tail) return null;
    tailV4 = v4tail;
    head = text.slice(0, lastColon + 1) + '0:0';
  }
  const [left, right] = head.includes('::') ? head.split('::') : [head, undefined];
  const words = (s: string | undefined) => (s ? s.split(':').map((w) => parseInt(w, 16)) : []);
  const l = words(left);
  const r = words(right);
  const fill = right === undefined ? 0 : 8 - l.length - r.length;
  const all = [...l, ...new Array<number>(fill).fill(0), ...r];
  if (all.length !== 8) return null;
  const out = new Uint8Array(16);
  all.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  if (tailV4.length) out.set(tailV4, 12);
  return out;
}

function isMapped(bytes: Uint8Array): boolean {
  return MAPPED_PREFIX.every((b, i) => bytes[i] === b);
}

function hostBitsSet(bytes: Uint8Array, bits: number): boolean {
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, bits - 8 * i));
    const mask = keep === 0 ? 0 : (0xff << (8 - keep)) & 0xff;
    if ((bytes[i]! & ~mask & 0xff) !== 0) return true;
  }
  return false;
}

const WILDCARD_V4 = /^(?:(\d{1,3})\.(?:(\d{1,3})\.(?:(\d{1,3})\.\*|\*\.\*)|\*\.\*\.\*)|\*\.\*\.\*\.\*)$/;

/** Parse a trust-line range; a message saying what is wrong if it is not one. */
export function parseAddressRange(text: string): AddressRange | { error: string } {
  const wild = WILDCARD_V4.exec(text);
  if (wild) {
    const octets = [wild[1], wild[2], wild[3]].filter((o): o is string => o !== undefined).map(Number);
    if (octets.some((o) => o > 255)) return { error: `invalid address range "${text}"` };
    const v4 = [...octets, 0, 0, 0, 0].slice(0, 4);
    return { bytes: Uint8Array.from([...MAPPED_PREFIX, ...v4]), bits: 96 + 8 * octets.length, text, hostBitsSet: false };
  }
  const slash = text.indexOf('/');
  const addr = slash < 0 ? text : text.slice(0, slash);
  const bytes = addressBytes(addr);
  if (!bytes || addr.includes('%')) return { error: `invalid address range "${text}": expected an IP address, address/bits or a.b.c.*` };
  const v4 = isIPv4(addr);
  const max = v4 ? 32 : 128;
  let written = max;
  if (slash >= 0) {
    const b = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(b) || Number(b) > max) return { error: `invalid prefix length in "${text}": expected 0 to ${max}` };
    written = Number(b);
  }
  if (!v4 && isMapped(bytes) && written < 96) {
    return { error: `invalid address range "${text}": an IPv4-mapped range needs a prefix length of 96 or more` };
  }
  const bits = v4 ? 96 + written : written;
  return { bytes, bits, text, hostBitsSet: hostBitsSet(bytes, bits) };
}

/** Is `address` (as a socket reports it) inside the range? */
export function rangeContains(range: AddressRange, address: string): boolean {
  const peer = addressBytes(address);
  if (!peer) return false;
  // An IPv4 range of /0 ("*.*.*.*", 0.0.0.0/0) is every IPv4 address, not every address.
  const bits = range.bits;
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, bits - 8 * i));
    if (keep === 0) break;
    const mask = (0xff << (8 - keep)) & 0xff;
    if ((peer[i]! & mask) !== (range.bytes[i]! & mask)) return false;
  }
  return true;
}

/** The most specific range (longest prefix) containing the address; the first in the list on a tie. */
export function bestMatch<T extends { readonly range: AddressRange }>(items: readonly T[], address: string): T | undefined {
  let best: T | undefined;
  for (const item of items) {
    if (rangeContains(item.range, address) && (best === undefined || item.range.bits > best.range.bits)) best = item;
  }
  return best;
}
