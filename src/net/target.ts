// Next-hop addresses as E-MailRelay writes them: host:port, [ipv6]:port, host:port@socks-host:port
// (SOCKS4a), or an absolute path (unix-domain socket). relaybox also takes host:port@socks5://h:port
// and host:port@socks4a://h:port, and graph: or graph:<base-url> for Microsoft Graph.
import { domainToASCII } from 'node:url';
import { isIP } from 'node:net';

import type { SocksProxy } from './socks';

export const GRAPH_BASE_URL = 'https://graph.microsoft.com';

export type ForwardTarget =
  | { kind: 'tcp'; host: string; port: number; text: string; socks?: SocksProxy }
  | { kind: 'unix'; path: string; text: string }
  | { kind: 'graph'; baseUrl: string; text: string };

function parsePort(p: string, text: string): number {
  if (!/^\d{1,5}$/.test(p) || Number(p) < 1 || Number(p) > 65535) {
    throw new Error(`"${text}": the port must be a number from 1 to 65535`);
  }
  return Number(p);
}

function splitHostPort(text: string, whole: string): { host: string; port: number } {
  const bracket = /^\[([^\]]+)\]:(\d+)$/.exec(text);
  if (bracket) {
    if (isIP(bracket[1]!) !== 6) throw new Error(`"${whole}": "${bracket[1]}" is not an IPv6 address`);
    return { host: bracket[1]!, port: parsePort(bracket[2]!, whole) };
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
  if (/^graph(:|$)/i.test(t)) {
    const rest = t.slice('graph'.length).replace(/^:/, '');
    if (!rest) return { kind: 'graph', baseUrl: GRAPH_BASE_URL, text: t };
    let url: URL;
    try {
      url = new URL(rest);
    } catch {
      throw new Error(`"${t}": after graph: give the Graph base URL (for example graph:https://graph.microsoft.us), or write just graph`);
    }
    if (url.protocol !== 'https:') throw new Error(`"${t}": the Graph base URL must be https`);
    return { kind: 'graph', baseUrl: url.origin, text: t };
  }
  // relaybox's scheme form, which may carry SOCKS5 credentials: far:port@socks5://[user:password@]proxy:port
  const schemed = /^(.*?)@(socks4a|socks5):\/\/(.*)$/i.exec(t);
  if (schemed) {
    const version = schemed[2]!.toLowerCase() === 'socks5' ? 5 : 4;
    const creds = schemed[3]!.lastIndexOf('@');
    const proxyText = schemed[3]!.slice(creds + 1);
    let auth: SocksProxy['auth'];
    let shown = t;
    if (creds >= 0) {
      if (version !== 5) throw new Error(`"${t}": only SOCKS5 takes a user name and password`);
      const userPass = schemed[3]!.slice(0, creds);
      const colon = userPass.indexOf(':');
      auth = {
        user: decodeURIComponent(colon < 0 ? userPass : userPass.slice(0, colon)),
        password: colon < 0 ? '' : decodeURIComponent(userPass.slice(colon + 1)),
      };
      // The password never shows in messages or logs.
      shown = `${schemed[1]}@socks5://${encodeURIComponent(auth.user)}:****@${proxyText}`;
    }
    const far = splitHostPort(schemed[1]!, shown);
    const proxy = splitHostPort(proxyText, shown);
    return { kind: 'tcp', ...far, text: shown, socks: { ...proxy, version, ...(auth ? { auth } : {}) } };
  }
  const at = t.lastIndexOf('@');
  if (at >= 0) {
    const proxyText = t.slice(at + 1);
    if (/^[a-z0-9]+:\/\//i.test(proxyText)) {
      throw new Error(`"${t}": the proxy can be written host:port (SOCKS4a, as E-MailRelay), socks4a://host:port or socks5://[user:password@]host:port`);
    }
    return { kind: 'tcp', ...splitHostPort(t.slice(0, at), t), text: t, socks: { ...splitHostPort(proxyText, t), version: 4 } };
  }
  return { kind: 'tcp', ...splitHostPort(t, t), text: t };
}

export type NetAddress = Extract<ForwardTarget, { kind: 'unix' }> | { kind: 'tcp'; host: string; port: number; text: string };

/** A net:/spam: filter or net: verifier address: host:port or a socket path; no SOCKS (as E-MailRelay). */
export function parseNetAddress(text: string): NetAddress {
  const t = parseForwardTarget(text);
  if (t.kind === 'graph') throw new Error(`"${text}": graph: is only for --forward-to`);
  if (t.kind === 'tcp' && t.socks) throw new Error(`"${text}": a SOCKS proxy cannot be used here, only for forwarding`);
  return t;
}
