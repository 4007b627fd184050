// Next-hop addresses as E-MailRelay writes them: host:port, [ipv6]:port, host:port@socks-host:port,
// or an absolute path (unix-domain socket).
import { domainToASCII } from 'node:url';
import { isIP } from 'node:net';

export type ForwardTarget =
  | { kind: 'tcp'; host: string; port: number; text: string }
  | { kind: 'unix'; path: string; text: string };

function parsePort(p: string, text: string): number {
  if (!/^\d{1,5}$/.test(p) || Number(p) < 1 || Number(p) > 65535) {
    throw new Error(`"${text}": the port must be a number from 1 to 65535`);
  }
  return Number(p);
}

function splitHostPort(text: string, whole: string): { host: string; port: number } {
  const bracket = /^\[([^\]]+)\]:(\d+)$/.exec(text);
  if (bracket) {
    if (isIP(bracket[1]) !== 6) throw new Error(`"${whole}": "${bracket[1]}" is not an IPv6 address`);
    return { host: bracket[1], port: parsePort(bracket[2], whole) };
  }
  const colon = text.lastIndexOf(':');
  if (colon <= 0) throw new Error(`"${whole}": give the server as host:port (for example smtp.office365.com:587)`);
  const host = text.slice(0, colon);
  if (host.includes(':')) throw new Error(`"${whole}": write an IPv6 address in brackets, as [${host}]:${text.slice(colon + 1)}`);
  const ascii = isIP(host) ? host : domainToASCII(host);
  if (!ascii) throw new Error(`"${whole}": "${host}" is not a valid host name`);
  return { host: ascii, port: parsePort(text.slice(colon + 1), whole) };
}

export function parseForwardTarget(text: string): ForwardTarget {
  const t = text.trim();
  if (t.startsWith('/')) return { kind: 'unix', path: t, text: t };
  if (t.includes('@')) {
    throw new Error(`"${t}": forwarding through a SOCKS proxy (host:port@socks-host:port) is not supported yet (planned, issue 6)`);
  }
  return { kind: 'tcp', ...splitHostPort(t, t), text: t };
}
