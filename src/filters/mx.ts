// mx: (section 4.6), a routing filter: the envelope's ForwardTo domain is looked up (MX, then the
// exchanger's A record; A of the domain itself when it has no MX) and the result written to
// ForwardToAddress. Name servers come from the filter's parameters, else the system's.
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Filter, FilterContext } from './filter';
import { readEnvelopeFile, writeEnvelopeFile } from '../spool/store';
import { specParams } from '../options/spec-params';
import { fail, ok } from './result';

export interface MxOptions {
  nameservers: string[];
  perServerTimeoutMs: number;
  overallTimeoutMs: number;
}

/** "127.0.0.1:5353", "::1", "[::1]:5353" -> the form the resolver takes. */
function nameserver(text: string): string {
  if (isIP(text)) return text;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracket && isIP(bracket[1]!) === 6) return bracket[2] ? `[${bracket[1]}]:${bracket[2]}` : bracket[1]!;
  const m = /^([\d.]+):(\d+)$/.exec(text);
  if (m && isIP(m[1]!) === 4) return text;
  throw new Error(`mx: "${text}" is not a name server address (give ip or ip:port)`);
}

export function parseMxParams(params: string, filterTimeoutMs: number): MxOptions {
  const { words, values } = specParams(params);
  const seconds = (name: string, def: number) => {
    const v = values.get(name);
    if (v === undefined) return def * 1000;
    if (!/^\d+(\.\d+)?$/.test(v)) throw new Error(`mx: ${name}= needs a number of seconds, not "${v}"`);
    return Number(v) * 1000;
  };
  return {
    nameservers: [...words].map(nameserver),
    perServerTimeoutMs: seconds('nst', 1),
    overallTimeoutMs: Math.min(seconds('rt', 15), filterTimeoutMs),
  };
}

type Lookup = { address: string } | { error: string; fatal: boolean };

function dnsError(e: unknown, name: string): { error: string; fatal: boolean } {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOTFOUND') return { error: `${name}: no such domain`, fatal: true };
  return { error: `${name}: ${code ?? (e as Error).message}`, fatal: false };
}

export async function lookupMx(domain: string, opts: MxOptions): Promise<Lookup> {
  const resolver = new Resolver({ timeout: opts.perServerTimeoutMs, tries: 1 });
  if (opts.nameservers.length) resolver.setServers(opts.nameservers);
  let host = domain;
  try {
    const mx = await resolver.resolveMx(domain);
    if (mx.length) host = mx.sort((a, b) => a.priority - b.priority)[0]!.exchange;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENODATA') return dnsError(e, domain);
  }
  if (isIP(host) === 4) return { address: host };
  try {
    const a = await resolver.resolve4(host);
    if (!a.length) return { error: `${host}: no address record`, fatal: false };
    return { address: a[0]! };
  } catch (e) {
    return dnsError(e, host);
  }
}

/** The domain and port of a ForwardTo value: "user@" ignored, ":port" optional (default 25). */
export function forwardToDomain(forwardTo: string): { domain: string; port: number } {
  let t = forwardTo.slice(forwardTo.lastIndexOf('@') + 1).trim();
  let port = 25;
  const m = /^(.*\]|[^:]*):(\d+)$/.exec(t);
  if (m) {
    t = m[1]!;
    port = Number(m[2]);
  }
  return { domain: t, port };
}

function literalAddress(domain: string, port: number): string | null {
  const m = /^\[(?:IPv6:)?([^\]]+)\]$/i.exec(domain);
  if (!m || !isIP(m[1]!)) return null;
  return isIP(m[1]!) === 6 ? `[${m[1]}]:${port}` : `${m[1]}:${port}`;
}

export function mxFilter(params: string, ctx: FilterContext): Filter {
  const opts = parseMxParams(params, ctx.timeoutMs);
  return {
    name: `mx:${params}`,
    async run(input) {
      const env = await readEnvelopeFile(input.envelopePath);
      if (!env.forwardTo) return ok();
      const { domain, port } = forwardToDomain(env.forwardTo);
      let address = literalAddress(domain, port);
      if (!address) {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<Lookup>((resolve) => {
          timer = setTimeout(() => resolve({ error: `${domain}: timeout`, fatal: false }), opts.overallTimeoutMs);
        });
        const found = await Promise.race([lookupMx(domain, opts), timeout]);
        clearTimeout(timer);
        if ('error' in found) return fail('routing filter failed', `mx: ${found.error}`);
        address = `${found.address}:${port}`;
      }
      const forwardToAddress = address.startsWith('0.0.0.0:') ? '' : address;
      await writeEnvelopeFile(input.envelopePath, { ...env, forwardToAddress });
      ctx.log.info({ id: input.id, forwardTo: env.forwardTo, forwardToAddress }, 'mx: routed');
      return ok();
    },
  };
}
